//! The PNGs of `pipeline compare`, drawn with the `image` crate and the built-in bitmap font.
//!
//! - [`accuracy_bars`]: test accuracy of every cell, grouped by model, one colour per feature set;
//! - [`learning_curve`]: an MLP's training and validation accuracy per epoch;
//! - [`confusion`]: a confusion matrix (rows: true class, columns: predicted), row-normalised;
//! - [`templates`]: weight vectors over raw pixels shown as images — the "visual viewpoint" of
//!   a linear classifier in CS231n's linear-classification notes (one template per class), and
//!   the MLP's first layer (one template per hidden unit: "100 templates instead of 10").

use image::{Rgb, RgbImage};

use crate::font::{draw_text, text_width, HEIGHT};
use crate::palette::colour;
use crate::report::ClassReport;
use crate::train::CurvePoint;

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const GRID: Rgb<u8> = Rgb([220, 220, 220]);
const AXIS: Rgb<u8> = Rgb([90, 90, 90]);

fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, c: Rgb<u8>) {
    let (x0, y0) = (x.max(0), y.max(0));
    let x1 = (x + w).min(img.width() as i64);
    let y1 = (y + h).min(img.height() as i64);
    for py in y0..y1 {
        for px in x0..x1 {
            img.put_pixel(px as u32, py as u32, c);
        }
    }
}

/// A line `thick` pixels wide (a square brush stepped along the longer axis).
fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), thick: i64, c: Rgb<u8>) {
    let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
        fill_rect(
            img,
            x.round() as i64 - thick / 2,
            y.round() as i64 - thick / 2,
            thick,
            thick,
            c,
        );
    }
}

/// A plot area with a 0..1 vertical axis: gridlines and labels every 0.1.
struct Frame {
    left: i64,
    top: i64,
    width: i64,
    height: i64,
}

impl Frame {
    fn y(&self, v: f64) -> f64 {
        self.top as f64 + (1.0 - v.clamp(0.0, 1.0)) * self.height as f64
    }

    fn draw_axes(&self, img: &mut RgbImage) {
        for k in 0..=10 {
            let v = k as f64 / 10.0;
            let y = self.y(v).round() as i64;
            fill_rect(img, self.left, y, self.width, 1, GRID);
            let label = format!("{v:.1}");
            draw_text(
                img,
                self.left - 6 - text_width(&label, 2) as i64,
                y - HEIGHT as i64,
                &label,
                2,
                AXIS,
            );
        }
        fill_rect(img, self.left, self.top, 1, self.height + 1, AXIS);
        fill_rect(img, self.left, self.top + self.height, self.width, 1, AXIS);
    }
}

/// Test accuracy per feature set (bars, one colour each), grouped by model, with a legend.
/// `accuracy[f][m]` is feature set `f` with model `m` (`None`: not run).
pub fn accuracy_bars(
    title: &str,
    feature_sets: &[String],
    models: &[String],
    accuracy: &[Vec<Option<f64>>],
) -> RgbImage {
    let (bar, gap) = (26i64, 40i64);
    let group = bar * feature_sets.len() as i64;
    let frame = Frame {
        left: 80,
        top: 60,
        width: gap + models.len() as i64 * (group + gap),
        height: 400,
    };
    let legend_w = feature_sets
        .iter()
        .map(|f| text_width(f, 2) as i64)
        .max()
        .unwrap_or(0)
        + 50;
    let w = (frame.left + frame.width + 30 + legend_w).max(text_width(title, 3) as i64 + 40);
    let h = frame.top + frame.height + 60;
    let mut img = RgbImage::from_pixel(w as u32, h as u32, WHITE);
    draw_text(&mut img, 20, 15, title, 3, BLACK);
    frame.draw_axes(&mut img);
    for (m, name) in models.iter().enumerate() {
        let x0 = frame.left + gap + m as i64 * (group + gap);
        for (f, row) in accuracy.iter().enumerate() {
            let Some(a) = row.get(m).copied().flatten() else {
                continue;
            };
            let y = frame.y(a).round() as i64;
            let x = x0 + f as i64 * bar;
            fill_rect(
                &mut img,
                x + 2,
                y,
                bar - 4,
                frame.top + frame.height - y,
                colour(f),
            );
        }
        let tw = text_width(name, 2) as i64;
        draw_text(
            &mut img,
            x0 + (group - tw) / 2,
            frame.top + frame.height + 14,
            name,
            2,
            BLACK,
        );
    }
    let lx = frame.left + frame.width + 30;
    for (f, name) in feature_sets.iter().enumerate() {
        let y = frame.top + 10 + f as i64 * 26;
        fill_rect(&mut img, lx, y, 16, 16, colour(f));
        draw_text(&mut img, lx + 24, y + 1, name, 2, BLACK);
    }
    img
}

/// Training and validation accuracy per epoch of one model (legend: train, val).
pub fn learning_curve(title: &str, curve: &[CurvePoint]) -> RgbImage {
    let frame = Frame {
        left: 80,
        top: 60,
        width: 600,
        height: 360,
    };
    let w = (frame.left + frame.width + 40).max(text_width(title, 3) as i64 + 40);
    let h = frame.top + frame.height + 70;
    let mut img = RgbImage::from_pixel(w as u32, h as u32, WHITE);
    draw_text(&mut img, 20, 15, title, 3, BLACK);
    frame.draw_axes(&mut img);
    let epochs = curve.iter().map(|p| p.epoch).max().unwrap_or(1).max(2);
    let x = |e: usize| {
        frame.left as f64 + (e.saturating_sub(1)) as f64 / (epochs - 1) as f64 * frame.width as f64
    };
    for e in 1..=epochs {
        if epochs <= 20 || e % 5 == 0 || e == 1 {
            let label = e.to_string();
            draw_text(
                &mut img,
                x(e).round() as i64 - text_width(&label, 2) as i64 / 2,
                frame.top + frame.height + 8,
                &label,
                2,
                AXIS,
            );
        }
    }
    draw_text(
        &mut img,
        frame.left + frame.width / 2 - 30,
        frame.top + frame.height + 32,
        "epoch",
        2,
        AXIS,
    );
    let series: [(&str, Vec<(usize, f64)>); 2] = [
        (
            "train",
            curve.iter().map(|p| (p.epoch, p.train_accuracy)).collect(),
        ),
        (
            "val",
            curve
                .iter()
                .filter_map(|p| p.val_accuracy.map(|v| (p.epoch, v)))
                .collect(),
        ),
    ];
    for (k, (name, points)) in series.iter().enumerate() {
        for pair in points.windows(2) {
            line(
                &mut img,
                (x(pair[0].0), frame.y(pair[0].1)),
                (x(pair[1].0), frame.y(pair[1].1)),
                3,
                colour(k),
            );
        }
        for &(e, v) in points {
            fill_rect(
                &mut img,
                x(e).round() as i64 - 3,
                frame.y(v).round() as i64 - 3,
                7,
                7,
                colour(k),
            );
        }
        let ly = frame.top + frame.height - 60 + k as i64 * 24;
        fill_rect(
            &mut img,
            frame.left + frame.width - 110,
            ly,
            16,
            16,
            colour(k),
        );
        draw_text(
            &mut img,
            frame.left + frame.width - 86,
            ly + 1,
            name,
            2,
            BLACK,
        );
    }
    img
}

/// The confusion matrix, each row normalised by its class's test count (dark = many), the
/// count written in each cell, class names on the left and class indices on top.
pub fn confusion(title: &str, report: &ClassReport) -> RgbImage {
    let n = report.class_names.len() as i64;
    let cell = 44i64;
    let names_w = report
        .class_names
        .iter()
        .enumerate()
        .map(|(i, name)| text_width(&format!("{i} {name}"), 2) as i64)
        .max()
        .unwrap_or(0);
    let left = names_w + 30;
    let top = 90;
    let w = (left + n * cell + 30).max(text_width(title, 3) as i64 + 40);
    let h = top + n * cell + 50;
    let mut img = RgbImage::from_pixel(w as u32, h as u32, WHITE);
    draw_text(&mut img, 20, 15, title, 3, BLACK);
    draw_text(&mut img, left, top - 50, "predicted", 2, AXIS);
    for (i, row) in report.confusion.iter().enumerate() {
        let total: usize = row.iter().sum();
        let y = top + i as i64 * cell;
        let label = format!("{i} {}", report.class_names[i]);
        draw_text(
            &mut img,
            left - 10 - text_width(&label, 2) as i64,
            y + cell / 2 - HEIGHT as i64,
            &label,
            2,
            BLACK,
        );
        for (j, &count) in row.iter().enumerate() {
            let frac = if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            };
            // White to dark blue.
            let shade = |lo: f64, hi: f64| (lo + frac * (hi - lo)).round() as u8;
            let c = Rgb([shade(255.0, 8.0), shade(255.0, 48.0), shade(255.0, 107.0)]);
            let x = left + j as i64 * cell;
            fill_rect(&mut img, x, y, cell - 1, cell - 1, c);
            let text = count.to_string();
            let tc = if frac > 0.5 { WHITE } else { BLACK };
            let scale = if text.len() > 3 { 1 } else { 2 };
            draw_text(
                &mut img,
                x + (cell - text_width(&text, scale) as i64) / 2,
                y + (cell - (HEIGHT * scale) as i64) / 2,
                &text,
                scale,
                tc,
            );
        }
    }
    for j in 0..n {
        let text = j.to_string();
        draw_text(
            &mut img,
            left + j * cell + (cell - text_width(&text, 2) as i64) / 2,
            top - 24,
            &text,
            2,
            AXIS,
        );
    }
    img
}

/// Weight vectors over raw pixels drawn as images, `columns` per row, each upscaled `scale`
/// times with its label (if any) underneath.
///
/// Each template is the weight row multiplied by the scaler's `inv_std` (the weights act on
/// standardised/centred features, so `w_j · inv_std_j` is what multiplies pixel `j`), then
/// min-max normalised to 0..255 on its own, as in CS231n's notebooks: only the pattern is
/// shown, not the magnitude. `shape` is `[height, width, channels]` (pixels in H x W x C order).
pub fn templates(
    title: &str,
    weights: &[Vec<f32>],
    inv_std: &[f32],
    shape: [usize; 3],
    labels: Option<&[String]>,
    columns: usize,
    scale: usize,
) -> RgbImage {
    let [ih, iw, ch] = shape;
    let columns = columns.max(1);
    let rows = weights.len().div_ceil(columns);
    let label_h = if labels.is_some() { 24 } else { 0 };
    let label_w = labels
        .map(|l| l.iter().map(|s| text_width(s, 2)).max().unwrap_or(0) as usize)
        .unwrap_or(0);
    let tile_w = (iw * scale).max(label_w) + 8;
    let tile_h = ih * scale + label_h + 8;
    let top = 50;
    let w = (columns * tile_w + 16).max(text_width(title, 3) as usize + 40);
    let h = top + rows * tile_h + 8;
    let mut img = RgbImage::from_pixel(w as u32, h as u32, WHITE);
    draw_text(&mut img, 16, 12, title, 3, BLACK);
    for (k, wrow) in weights.iter().enumerate() {
        let pix: Vec<f32> = wrow.iter().zip(inv_std).map(|(&w, &s)| w * s).collect();
        let (lo, hi) = pix
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let range = (hi - lo).max(1e-12);
        let (tx, ty) = (8 + (k % columns) * tile_w, top + (k / columns) * tile_h);
        let ox = tx + (tile_w - 8 - iw * scale) / 2;
        for r in 0..ih {
            for c in 0..iw {
                let at = (r * iw + c) * ch;
                let v = |i: usize| (255.0 * (pix[at + i.min(ch - 1)] - lo) / range).round() as u8;
                let colour = Rgb([v(0), v(1), v(2)]);
                fill_rect(
                    &mut img,
                    (ox + c * scale) as i64,
                    (ty + r * scale) as i64,
                    scale as i64,
                    scale as i64,
                    colour,
                );
            }
        }
        if let Some(name) = labels.and_then(|l| l.get(k)) {
            let tw = text_width(name, 2) as usize;
            draw_text(
                &mut img,
                (tx + (tile_w - 8).saturating_sub(tw) / 2) as i64,
                (ty + ih * scale + 6) as i64,
                name,
                2,
                BLACK,
            );
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_min_max_scaled_after_undoing_the_feature_scaling() {
        // 1x2 gray image: weights (1, 3) on features scaled by (2, 0.5) act on pixels as (2, 1.5).
        let img = templates("t", &[vec![1.0, 3.0]], &[2.0, 0.5], [1, 2, 1], None, 1, 1);
        // One tile of width 2 + 8 at x = 8, its image centred in it, from y = 50.
        let (a, b) = (img.get_pixel(8, 50), img.get_pixel(9, 50));
        assert_eq!(a.0, [255; 3], "the larger pixel weight is white");
        assert_eq!(b.0, [0; 3], "the smaller pixel weight is black");
    }

    #[test]
    fn bars_are_as_high_as_the_accuracy() {
        let img = accuracy_bars(
            "t",
            &["raw".into(), "hog".into()],
            &["svm".into()],
            &[vec![Some(0.5)], vec![Some(1.0)]],
        );
        // Bar f of model 0 starts at x = left + gap + f * bar + 2 and ends at the axis.
        let column_height = |x: u32| {
            (60..460)
                .filter(|&y| img.get_pixel(x, y) == &colour(((x - 120) / 26) as usize))
                .count()
        };
        let (half, full) = (column_height(130), column_height(156));
        assert!(
            (full as f64 / half as f64 - 2.0).abs() < 0.02,
            "{half} {full}"
        );
    }
}
