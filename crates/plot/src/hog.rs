//! HOG glyphs: a picture beside its histograms of oriented gradients, one star of strokes per
//! cell (Dalal & Triggs 2005, Fig. 6; skimage's `hog(visualize=True)`).

use std::f64::consts::PI;
use std::path::Path;

use plotters::element::PathElement;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::{Color, RGBColor};

use crate::canvas::{prepare, Canvas};
use crate::draw::{self, blit, outline, put, LABEL, MARGIN};
use crate::palette::INK;
use crate::{text, PlotError};

/// An 8-bit picture, `height x width x channels`, row-major with channels last (1: grey,
/// 3: RGB).
#[derive(Debug, Clone, Copy)]
pub struct Picture<'a> {
    pub pixels: &'a [u8],
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

/// A picture and its per-cell orientation histograms.
#[derive(Debug, Clone, Copy)]
pub struct HogGlyphs<'a> {
    /// First line bold; lines after a `\n` smaller, as a subtitle.
    pub title: &'a str,
    pub image: Picture<'a>,
    /// Cell side in image pixels; cells start at the top-left corner.
    pub cell_size: usize,
    pub cell_rows: usize,
    pub cell_cols: usize,
    pub orientations: usize,
    /// `cell_rows x cell_cols x orientations`, row-major, non-negative. Bin `b` holds
    /// gradients whose direction (cos θ, sin θ) in image coordinates (x right, y down) has θ
    /// in `[b π / n, (b + 1) π / n)` (unsigned, skimage's convention); its stroke is drawn
    /// across the gradient at the bin centre, i.e. along the edge.
    pub histograms: &'a [f32],
}

/// Largest side of each of the two panels, pixels.
const PANEL: usize = 512;
const GAP: i32 = 32;

/// Draws the picture (left) and, on a dimmed grey copy of it, each cell's histogram as strokes
/// through the cell centre whose brightness is the bin's value over the largest bin of the
/// picture (right), with captions, and writes them to `file` as PNG.
pub fn hog_glyphs(file: &Path, hog: &HogGlyphs<'_>) -> Result<(), PlotError> {
    check(file, hog)?;
    prepare(file)?;
    let image = &hog.image;
    let scale = (PANEL / image.height.max(image.width)).max(1);
    let (pw, ph) = ((image.width * scale) as i32, (image.height * scale) as i32);
    let caption_style = text::regular(LABEL);
    let left_caption = format!("image, {}x{} pixels", image.width, image.height);
    let right_caption = format!(
        "hog: {}x{} cells of {}x{} pixels, {} orientations",
        hog.cell_cols, hog.cell_rows, hog.cell_size, hog.cell_size, hog.orientations
    );
    let caption_w = draw::width(&right_caption, &caption_style);
    let title_h = draw::title_height(hog.title);
    let top = MARGIN + title_h + 14;
    let panel_w = pw.max(caption_w.min(2 * pw));
    let width = (2 * MARGIN + 2 * panel_w + GAP).max(draw::title_width(hog.title) + 2 * MARGIN);
    let height = top + ph + 14 + draw::line_height(LABEL) + MARGIN;

    let rgb = |dim: bool| -> Vec<u8> {
        let mut out = Vec::with_capacity((3 * pw * ph) as usize);
        for y in 0..ph as usize {
            for x in 0..pw as usize {
                let at = ((y / scale) * image.width + x / scale) * image.channels;
                let px = &image.pixels[at..at + image.channels];
                let [r, g, b] = if image.channels == 3 {
                    [px[0], px[1], px[2]]
                } else {
                    [px[0]; 3]
                };
                if dim {
                    // skimage's rgb2gray weights, at 45 % brightness under the strokes.
                    let grey =
                        0.2125 * f32::from(r) + 0.7154 * f32::from(g) + 0.0721 * f32::from(b);
                    let v = (0.45 * grey).round() as u8;
                    out.extend([v, v, v]);
                } else {
                    out.extend([r, g, b]);
                }
            }
        }
        out
    };

    let mut canvas = Canvas::new(file, width as u32, height as u32)?;
    canvas.draw(file, |root| {
        draw::title_block(root, hog.title, (MARGIN, MARGIN))?;
        let lx = MARGIN + (panel_w - pw) / 2;
        let rx = MARGIN + panel_w + GAP + (panel_w - pw) / 2;
        blit(root, (lx, top), (pw as u32, ph as u32), rgb(false))?;
        blit(root, (rx, top), (pw as u32, ph as u32), rgb(true))?;
        for x in [lx, rx] {
            outline(
                root,
                (x - 1, top - 1),
                (x + pw, top + ph),
                INK.mix(0.4).into(),
            )?;
        }
        let max = hog.histograms.iter().copied().fold(0.0f32, f32::max);
        let cell_px = (hog.cell_size * scale) as f64;
        let radius = 0.45 * cell_px;
        let stroke = (cell_px / 24.0).round().clamp(1.0, 4.0) as u32;
        for r in 0..hog.cell_rows {
            for c in 0..hog.cell_cols {
                let centre = (
                    f64::from(rx) + (c as f64 + 0.5) * cell_px,
                    f64::from(top) + (r as f64 + 0.5) * cell_px,
                );
                let at = (r * hog.cell_cols + c) * hog.orientations;
                for (bin, &v) in hog.histograms[at..at + hog.orientations].iter().enumerate() {
                    if max <= 0.0 || v <= 0.0 {
                        continue;
                    }
                    let theta = (bin as f64 + 0.5) * PI / hog.orientations as f64;
                    let (dx, dy) = (-theta.sin() * radius, theta.cos() * radius);
                    let ends = vec![
                        (
                            (centre.0 - dx).round() as i32,
                            (centre.1 - dy).round() as i32,
                        ),
                        (
                            (centre.0 + dx).round() as i32,
                            (centre.1 + dy).round() as i32,
                        ),
                    ];
                    let strength = f64::from(v / max);
                    root.draw(&PathElement::new(
                        ends,
                        RGBColor(255, 232, 120).mix(strength).stroke_width(stroke),
                    ))?;
                }
            }
        }
        put(
            root,
            &left_caption,
            (MARGIN + panel_w / 2, top + ph + 14),
            (HPos::Center, VPos::Top),
            &caption_style,
            false,
        )?;
        put(
            root,
            &right_caption,
            (MARGIN + panel_w + GAP + panel_w / 2, top + ph + 14),
            (HPos::Center, VPos::Top),
            &caption_style,
            false,
        )?;
        Ok(())
    })?;
    canvas.save(file)
}

pub(crate) fn check_picture(file: &Path, what: &str, p: &Picture<'_>) -> Result<(), PlotError> {
    let invalid = |problem: String| Err(PlotError::invalid(file, problem));
    if p.height == 0 || p.width == 0 {
        return invalid(format!("{what} is {}x{} pixels", p.height, p.width));
    }
    if p.channels != 1 && p.channels != 3 {
        return invalid(format!(
            "{what} has {} channels; 1 (grey) or 3 (RGB) are drawn",
            p.channels
        ));
    }
    let expected = p
        .height
        .checked_mul(p.width)
        .and_then(|n| n.checked_mul(p.channels));
    if expected != Some(p.pixels.len()) {
        return invalid(format!(
            "{what} has {} bytes for {}x{}x{}",
            p.pixels.len(),
            p.height,
            p.width,
            p.channels
        ));
    }
    Ok(())
}

fn check(file: &Path, hog: &HogGlyphs<'_>) -> Result<(), PlotError> {
    let invalid = |problem: String| Err(PlotError::invalid(file, problem));
    check_picture(file, "the image", &hog.image)?;
    if hog.cell_size == 0 || hog.orientations == 0 || hog.cell_rows == 0 || hog.cell_cols == 0 {
        return invalid(format!(
            "cell size {}, {}x{} cells, {} orientations: each must be at least 1",
            hog.cell_size, hog.cell_cols, hog.cell_rows, hog.orientations
        ));
    }
    if hog.cell_rows.saturating_mul(hog.cell_size) > hog.image.height
        || hog.cell_cols.saturating_mul(hog.cell_size) > hog.image.width
    {
        return invalid(format!(
            "{}x{} cells of {} pixels do not fit a {}x{} image",
            hog.cell_cols, hog.cell_rows, hog.cell_size, hog.image.width, hog.image.height
        ));
    }
    let expected = hog.cell_rows * hog.cell_cols * hog.orientations;
    if hog.histograms.len() != expected {
        return invalid(format!(
            "{} histogram values for {}x{} cells x {} orientations = {expected}",
            hog.histograms.len(),
            hog.cell_cols,
            hog.cell_rows,
            hog.orientations
        ));
    }
    if let Some(i) = hog
        .histograms
        .iter()
        .position(|v| !(v.is_finite() && *v >= 0.0))
    {
        return invalid(format!(
            "histogram value {i} is {}; values must be finite and non-negative",
            hog.histograms[i]
        ));
    }
    Ok(())
}
