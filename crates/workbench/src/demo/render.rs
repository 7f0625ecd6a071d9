//! Decision-region pictures (as in CS231n's and ConvNetJS's 2-D demos): every pixel of a square
//! window around the data is coloured by the class the classifier predicts there (light
//! colours), the training points are drawn on top (strong colours), and a label sits in the
//! top-left corner.

use image::{Rgb, RgbImage};
use ndarray::Array2;
use wb_data::toy2d::Points2d;

use crate::font;

/// The strong colour of `class` (the shared tab10 palette).
pub fn class_color(class: usize) -> Rgb<u8> {
    crate::palette::colour(class)
}

/// The light region colour of `class`: the strong colour blended 70 % towards white.
pub fn region_color(class: usize) -> Rgb<u8> {
    let Rgb(c) = class_color(class);
    Rgb(c.map(|v| (0.3 * v as f32 + 0.7 * 255.0).round() as u8))
}

/// A square window of the plane drawn as a `size` x `size` picture (y up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub x_min: f32,
    pub y_min: f32,
    /// Side length of the window in data units.
    pub side: f32,
}

impl View {
    /// The bounding box of `sets` padded by 10 % of its larger side on every side, widened to a
    /// square so circles stay round.
    pub fn around(sets: &[&Points2d]) -> View {
        let (mut x0, mut x1, mut y0, mut y1) = (
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        );
        for set in sets.iter().filter(|s| !s.is_empty()) {
            let (a, b, c, d) = set.bounds();
            (x0, x1, y0, y1) = (x0.min(a), x1.max(b), y0.min(c), y1.max(d));
        }
        if !(x0.is_finite() && x1.is_finite() && y0.is_finite() && y1.is_finite()) {
            (x0, x1, y0, y1) = (-1.0, 1.0, -1.0, 1.0);
        }
        let span = (x1 - x0).max(y1 - y0).max(1e-3);
        let side = 1.2 * span;
        View {
            x_min: 0.5 * (x0 + x1) - 0.5 * side,
            y_min: 0.5 * (y0 + y1) - 0.5 * side,
            side,
        }
    }

    /// The plane coordinates of every pixel centre of a `size` x `size` picture, one row per
    /// pixel in row-major order (top image row first, i.e. the largest y first).
    pub fn pixel_centres(&self, size: u32) -> Array2<f32> {
        let step = self.side / size as f32;
        let n = size as usize;
        Array2::from_shape_fn((n * n, 2), |(i, axis)| {
            let (row, col) = (i / n, i % n);
            if axis == 0 {
                self.x_min + (col as f32 + 0.5) * step
            } else {
                self.y_min + self.side - (row as f32 + 0.5) * step
            }
        })
    }

    /// Image coordinates (x right, y down, in pixels) of the plane point `p`.
    fn to_image(self, p: [f32; 2], size: u32) -> (f32, f32) {
        let scale = size as f32 / self.side;
        (
            (p[0] - self.x_min) * scale,
            (self.y_min + self.side - p[1]) * scale,
        )
    }
}

/// The decision-region picture: `predicted` holds one class per pixel of
/// [`View::pixel_centres`]`(size)`; `points` are drawn on top; `label` lines in the corner.
pub fn decision_regions(
    view: View,
    size: u32,
    predicted: &[usize],
    points: &Points2d,
    label: &[String],
) -> RgbImage {
    debug_assert_eq!(predicted.len(), (size as usize).pow(2));
    let mut img = RgbImage::from_fn(size, size, |x, y| {
        region_color(predicted[(y * size + x) as usize])
    });
    // Points: a disc in the class colour with a dark rim, radius ~1 % of the picture.
    let radius = (size as f32 / 110.0).max(2.0);
    let rim = Rgb([40, 40, 40]);
    for (&p, &class) in points.points.iter().zip(&points.labels) {
        let (cx, cy) = view.to_image(p, size);
        fill_disc(&mut img, cx, cy, radius + 1.0, rim);
        fill_disc(&mut img, cx, cy, radius, class_color(class));
    }
    draw_label(&mut img, label);
    img
}

fn fill_disc(img: &mut RgbImage, cx: f32, cy: f32, radius: f32, color: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (x0, x1) = ((cx - radius).floor() as i64, (cx + radius).ceil() as i64);
    let (y0, y1) = ((cy - radius).floor() as i64, (cy + radius).ceil() as i64);
    for y in y0.max(0)..=y1.min(h - 1) {
        for x in x0.max(0)..=x1.min(w - 1) {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            if dx * dx + dy * dy <= radius * radius {
                img.put_pixel(x as u32, y as u32, color);
            }
        }
    }
}

/// Dark text on a white box in the top-left corner, at 2 image pixels per font pixel when the
/// box fits in the width, else 1.
fn draw_label(img: &mut RgbImage, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    debug_assert!(
        lines.iter().all(|l| font::can_draw(l)),
        "a label has characters without a glyph: {lines:?}"
    );
    let widest = |scale| {
        lines
            .iter()
            .map(|l| font::text_width(l, scale))
            .max()
            .unwrap_or(0)
    };
    const MARGIN: u32 = 4;
    // Padding inside the box: 3 font pixels.
    let scale = if widest(2) + 2 * 6 + 2 * MARGIN <= img.width() {
        2
    } else {
        1
    };
    let line_height = font::text_height(scale) + 2 * scale;
    let (pad, margin) = (3 * scale, MARGIN);
    let box_w = (widest(scale) + 2 * pad).min(img.width().saturating_sub(margin));
    let box_h = (lines.len() as u32 * line_height + 2 * pad - 2 * scale)
        .min(img.height().saturating_sub(margin));
    for y in margin..margin + box_h {
        for x in margin..margin + box_w {
            img.put_pixel(x, y, Rgb([255, 255, 255]));
        }
    }
    for (i, line) in lines.iter().enumerate() {
        font::draw_text(
            img,
            i64::from(margin + pad),
            i64::from(margin + pad + i as u32 * line_height),
            line,
            scale,
            Rgb([20, 20, 20]),
        );
    }
}

/// Grey space between the panels of a [`grid`], in pixels.
pub const PANEL_GAP: u32 = 6;

/// Equal-sized `panels` laid out `columns` per row, left to right then top to bottom, with
/// [`PANEL_GAP`] pixels of grey around and between them.
pub fn grid(panels: &[RgbImage], columns: usize) -> RgbImage {
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns);
    let (pw, ph) = panels.first().map_or((0, 0), |p| (p.width(), p.height()));
    let width = columns as u32 * pw + (columns as u32 + 1) * PANEL_GAP;
    let height = rows as u32 * ph + (rows as u32 + 1) * PANEL_GAP;
    let mut out = RgbImage::from_pixel(width, height, Rgb([200, 200, 200]));
    for (i, panel) in panels.iter().enumerate() {
        let (row, col) = ((i / columns) as u32, (i % columns) as u32);
        let left = PANEL_GAP + col * (pw + PANEL_GAP);
        let top = PANEL_GAP + row * (ph + PANEL_GAP);
        image::imageops::replace(&mut out, panel, left as i64, top as i64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_points() -> Points2d {
        Points2d {
            points: vec![[-1.0, 0.0], [1.0, 2.0]],
            labels: vec![0, 1],
            n_classes: 2,
        }
    }

    #[test]
    fn the_view_is_a_padded_square_around_the_data() {
        let view = View::around(&[&two_points()]);
        // Larger span 2 (both axes), padded to 2.4, centred on (0, 1).
        assert!((view.side - 2.4).abs() < 1e-6);
        assert!((view.x_min + 1.2).abs() < 1e-6 && (view.y_min + 0.2).abs() < 1e-6);
        let centres = view.pixel_centres(4);
        assert_eq!(centres.dim(), (16, 2));
        // Top-left pixel: smallest x, largest y; bottom-right: largest x, smallest y.
        assert!((centres[[0, 0]] - (-1.2 + 0.3)).abs() < 1e-6);
        assert!((centres[[0, 1]] - (2.2 - 0.3)).abs() < 1e-6);
        assert!((centres[[15, 0]] - (1.2 - 0.3)).abs() < 1e-6);
        assert!((centres[[15, 1]] - (-0.2 + 0.3)).abs() < 1e-6);
    }

    #[test]
    fn regions_take_the_predicted_class_colour_and_points_the_strong_colour() {
        let data = two_points();
        let view = View::around(&[&data]);
        let size = 100;
        // Left half class 0, right half class 1.
        let predicted: Vec<usize> = (0..size * size)
            .map(|i| usize::from(i % size >= 50))
            .collect();
        let img = decision_regions(view, size as u32, &predicted, &data, &[]);
        assert_eq!(*img.get_pixel(30, 70), region_color(0));
        assert_eq!(*img.get_pixel(70, 70), region_color(1));
        // Point (1, 2) sits at x = (1 + 1.2) / 2.4 · 100 ≈ 91.7, y = (2.2 − 2) / 2.4 · 100 ≈ 8.3;
        // point (−1, 0) at (8.3, 91.7).
        assert_eq!(*img.get_pixel(91, 8), class_color(1));
        assert_eq!(*img.get_pixel(8, 91), class_color(0));
        assert_ne!(class_color(0), region_color(0));
    }

    #[test]
    fn the_grid_places_panels_row_by_row_with_gaps() {
        let panels: Vec<RgbImage> = (0..6)
            .map(|k| RgbImage::from_pixel(10, 10, class_color(k)))
            .collect();
        let out = grid(&panels, 3);
        assert_eq!(
            out.dimensions(),
            (3 * 10 + 4 * PANEL_GAP, 2 * 10 + 3 * PANEL_GAP)
        );
        let at = |row: u32, col: u32| {
            *out.get_pixel(
                PANEL_GAP + col * (10 + PANEL_GAP) + 5,
                PANEL_GAP + row * (10 + PANEL_GAP) + 5,
            )
        };
        assert_eq!(at(0, 0), class_color(0));
        assert_eq!(at(0, 2), class_color(2));
        assert_eq!(at(1, 0), class_color(3));
        assert_eq!(at(1, 2), class_color(5));
    }

    #[test]
    fn pngs_are_written_whole_and_decode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        let img = RgbImage::from_pixel(7, 5, Rgb([1, 2, 3]));
        crate::png::save_png(&img, &path).unwrap();
        let back = image::open(&path).unwrap().to_rgb8();
        assert_eq!(back, img);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
