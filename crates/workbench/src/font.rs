//! A built-in 5x7 bitmap font for the labels of the PNGs of `pipeline compare` and
//! `pipeline demo`.
//!
//! The workbench draws its pictures with the `image` crate alone (no system fonts, no font
//! files), so text is drawn from these glyphs: upper-case letters (lower case is drawn upper
//! case), digits and the punctuation that axis labels, class names and titles need. A character
//! without a glyph is drawn as `?`.

use image::{Rgb, RgbImage};

/// Glyph width and height in font pixels; characters advance by `WIDTH + 1`.
pub const WIDTH: u32 = 5;
pub const HEIGHT: u32 = 7;

/// Drawn for characters without a glyph.
const QUESTION_MARK: [u8; 7] = [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04];

/// Each glyph is 7 rows of 5 bits, the leftmost pixel in bit 4.
fn glyph(c: char) -> [u8; 7] {
    lookup(c).unwrap_or(QUESTION_MARK)
}

fn lookup(c: char) -> Option<[u8; 7]> {
    Some(match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ' ' => [0; 7],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '*' => [0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0],
        _ => return None,
    })
}

/// True when every character of `text` has a glyph (others are drawn as `?`).
pub fn can_draw(text: &str) -> bool {
    text.chars().all(|c| lookup(c).is_some())
}

/// Height in image pixels of one line at `scale`.
pub fn text_height(scale: u32) -> u32 {
    HEIGHT * scale
}

/// Width in image pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u32) -> u32 {
    let n = text.chars().count() as u32;
    (n * (WIDTH + 1)).saturating_sub(1) * scale
}

/// Draws `text` with its top-left corner at (x, y), each font pixel a `scale` x `scale` square;
/// pixels outside the image are skipped.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, color: Rgb<u8>) {
    let s = scale as i64;
    for (i, c) in text.chars().enumerate() {
        let x0 = x + i as i64 * (WIDTH as i64 + 1) * s;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..WIDTH as i64 {
                if bits & (1 << (WIDTH as i64 - 1 - col)) == 0 {
                    continue;
                }
                for dy in 0..s {
                    for dx in 0..s {
                        let (px, py) = (x0 + col * s + dx, y + row as i64 * s + dy);
                        if px >= 0
                            && py >= 0
                            && (px as u32) < img.width()
                            && (py as u32) < img.height()
                        {
                            img.put_pixel(px as u32, py as u32, color);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_inside_its_width_and_lower_case_looks_like_upper_case() {
        let draw = |t: &str| {
            let mut img = RgbImage::new(100, 20);
            draw_text(&mut img, 2, 3, t, 2, Rgb([255, 255, 255]));
            img
        };
        let img = draw("ab1");
        let lit: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] > 0)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert!(!lit.is_empty());
        let w = text_width("ab1", 2);
        assert!(lit
            .iter()
            .all(|&(x, y)| x >= 2 && x < 2 + w && (3..3 + 14).contains(&y)));
        assert_eq!(draw("ab1"), draw("AB1"));
        assert_ne!(draw("A"), draw("B"));
    }

    #[test]
    fn text_is_drawn_inside_its_box_and_nowhere_else() {
        let white = Rgb([255, 255, 255]);
        let mut img = RgbImage::from_pixel(60, 20, white);
        let text = "H=0.5";
        assert!(can_draw(text));
        draw_text(&mut img, 3, 4, text, 2, Rgb([0, 0, 0]));
        let (w, h) = (text_width(text, 2), text_height(2));
        assert_eq!((w, h), ((5 * 6 - 1) * 2, 14));
        let mut inked = 0;
        for (x, y, p) in img.enumerate_pixels() {
            let inside = (3..3 + w).contains(&x) && (4..4 + h).contains(&y);
            if *p != white {
                assert!(inside, "ink at ({x}, {y}) outside the text box");
                inked += 1;
            }
        }
        assert!(inked > 40, "only {inked} pixels drawn");
    }

    #[test]
    fn unknown_characters_are_reported_and_drawing_clips_at_the_border() {
        assert!(can_draw("hidden lambda train test"));
        assert!(!can_draw("λ"));
        let mut img = RgbImage::new(4, 4);
        draw_text(&mut img, 2, 2, "H", 3, Rgb([255, 0, 0]));
        assert_eq!(*img.get_pixel(3, 3), Rgb([255, 0, 0]));
    }
}
