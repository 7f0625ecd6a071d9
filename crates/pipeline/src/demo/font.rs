//! A tiny built-in 5x7 bitmap font for panel labels.
//!
//! plotters is built without its font backends (no system fonts on the machines this runs on),
//! so the demo pictures draw their labels from this table: digits, `.`, `=`, `-`, space and the
//! letters A-Z (lower case is drawn as upper case). A character without a
//! glyph is drawn as a hollow box, so a missing glyph shows instead of vanishing.

use image::{Rgb, RgbImage};

/// Glyph width and height in font pixels; one blank column separates characters.
pub const GLYPH_WIDTH: u32 = 5;
pub const GLYPH_HEIGHT: u32 = 7;
const ADVANCE: u32 = GLYPH_WIDTH + 1;

/// Rows top to bottom; bit 4 is the leftmost pixel.
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c.to_ascii_uppercase() {
        ' ' => [0; 7],
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
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
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
        'Y' => [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        _ => return None,
    })
}

/// True when every character of `text` has a glyph.
pub fn can_draw(text: &str) -> bool {
    text.chars().all(|c| glyph(c).is_some())
}

/// Width in image pixels of `text` drawn at `scale` image pixels per font pixel.
pub fn text_width(text: &str, scale: u32) -> u32 {
    let n = text.chars().count() as u32;
    (n * ADVANCE).saturating_sub(1) * scale
}

/// Height in image pixels of one line at `scale`.
pub fn text_height(scale: u32) -> u32 {
    GLYPH_HEIGHT * scale
}

/// Draws `text` with its top-left corner at `(x, y)`; pixels outside the image are skipped.
pub fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32, color: Rgb<u8>) {
    const MISSING: [u8; 7] = [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F];
    for (i, c) in text.chars().enumerate() {
        let rows = glyph(c).unwrap_or(MISSING);
        let left = x + i as u32 * ADVANCE * scale;
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..GLYPH_WIDTH {
                if bits & (1 << (GLYPH_WIDTH - 1 - col)) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (left + col * scale + dx, y + row as u32 * scale + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, color);
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
    fn lower_case_is_drawn_as_upper_case_and_unknown_characters_are_reported() {
        assert!(can_draw("hidden lambda train test"));
        assert!(!can_draw("λ"));
        // Clipped at the border instead of panicking.
        let mut img = RgbImage::new(4, 4);
        draw_text(&mut img, 2, 2, "H", 3, Rgb([255, 0, 0]));
        assert_eq!(*img.get_pixel(3, 3), Rgb([255, 0, 0]));
    }
}
