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

/// matplotlib's "Blues" at five stops: white for 0, dark blue for 1.
const BLUES: [[f64; 3]; 5] = [
    [247.0, 251.0, 255.0],
    [198.0, 219.0, 239.0],
    [107.0, 174.0, 214.0],
    [33.0, 113.0, 181.0],
    [8.0, 48.0, 107.0],
];

/// The shade of a share in `0..=1` on matplotlib's sequential "Blues" scale (linear between
/// its five stops; values outside are clamped): the confusion matrix's cells.
pub fn blues(share: f64) -> [u8; 3] {
    let t = share.clamp(0.0, 1.0) * (BLUES.len() - 1) as f64;
    let i = (t.floor() as usize).min(BLUES.len() - 2);
    let u = t - i as f64;
    std::array::from_fn(|k| (BLUES[i][k] + u * (BLUES[i + 1][k] - BLUES[i][k])).round() as u8)
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

    #[test]
    fn blues_runs_from_white_to_dark_blue_and_darkens_monotonically() {
        assert_eq!(blues(0.0), [247, 251, 255]);
        assert_eq!(blues(1.0), [8, 48, 107]);
        assert_eq!(blues(-3.0), blues(0.0));
        assert_eq!(blues(7.0), blues(1.0));
        let sum = |c: [u8; 3]| c.iter().map(|&v| u32::from(v)).sum::<u32>();
        for k in 0..100 {
            assert!(sum(blues(k as f64 / 100.0)) >= sum(blues((k + 1) as f64 / 100.0)));
        }
    }
}
