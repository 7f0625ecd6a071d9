//! The colours of every picture: matplotlib's "tab10", which CS231n's figures use and which
//! stays distinct in print and for most colour-blind readers.

use plotters::style::RGBColor;

/// tab10, in matplotlib's order (blue, orange, green, red, purple, brown, pink, grey, olive,
/// cyan).
pub const TAB10: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// Colour `i` of the palette (it repeats after ten).
pub fn colour(i: usize) -> [u8; 3] {
    TAB10[i % TAB10.len()]
}

/// Colour `i` blended 70 % towards white: the background shade of class `i` in decision-region
/// pictures, light enough that points in [`colour`] stand out on it.
pub fn light(i: usize) -> [u8; 3] {
    colour(i).map(|v| (0.3 * f32::from(v) + 0.7 * 255.0).round() as u8)
}

pub(crate) fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

/// Text and axis colours.
pub(crate) const INK: RGBColor = RGBColor(30, 30, 30);
pub(crate) const MUTED: RGBColor = RGBColor(90, 90, 90);
pub(crate) const GRID_LINE: RGBColor = RGBColor(225, 225, 225);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_palette_repeats_after_ten_and_light_shades_are_lighter() {
        assert_eq!(colour(0), colour(10));
        assert_ne!(colour(0), colour(1));
        for i in 0..10 {
            let (c, l) = (colour(i), light(i));
            assert!(c.iter().zip(&l).all(|(c, l)| l >= c), "{c:?} {l:?}");
            assert_ne!(c, l);
        }
    }
}
