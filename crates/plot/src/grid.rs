//! A grid of small images with captions: a linear classifier's class templates, an MLP's
//! first-layer weights, k-means atoms, a Gabor filter bank.

use std::path::Path;

use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::Color;

use crate::canvas::{prepare, Canvas};
use crate::draw::{self, blit, outline, put, LABEL, MARGIN};
use crate::palette::INK;
use crate::{text, PlotError};

/// One image of a grid: `height x width x channels` values, row-major with channels last
/// (1 channel: grey; 3: RGB), mapped to shades by the grid's [`Scaling`].
#[derive(Debug, Clone, Copy)]
pub struct Tile<'a> {
    pub values: &'a [f32],
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Drawn under the tile; empty for none.
    pub caption: &'a str,
}

/// How a tile's values become shades from black (0) to white (1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling {
    /// Each tile stretched on its own from its smallest value (black) to its largest (white),
    /// all channels together: only the pattern shows, not the magnitude (CS231n's template
    /// pictures). A constant tile is mid-grey.
    MinMax,
    /// Each tile on its own with 0 as mid-grey and ± its largest |value| as white / black
    /// (signed filters such as Gabor kernels).
    Symmetric,
    /// Every tile on the same scale: `lo` black, `hi` white, values outside clamped (e.g.
    /// 0..255 for pixels).
    Range { lo: f32, hi: f32 },
}

/// Tiles laid out `columns` per row, left to right then top to bottom.
#[derive(Debug, Clone, Copy)]
pub struct ImageGrid<'a> {
    /// First line bold; lines after a `\n` smaller, as a subtitle.
    pub title: &'a str,
    pub tiles: &'a [Tile<'a>],
    pub columns: usize,
    pub scaling: Scaling,
    /// Empty, or one label per row, drawn left of the row (e.g. a Gabor frequency).
    pub row_labels: &'a [String],
    /// Empty, or one label per column, drawn above it (e.g. a Gabor orientation).
    pub column_labels: &'a [String],
}

/// The width the grid aims at, pixels (wider only when captions need it).
const TARGET_WIDTH: i32 = 1200;
/// Largest tile side in a grid of four or more columns, pixels: a 3x3 kernel is not blown up
/// to fill a column. Fewer columns allow 512 pixels shared among them (one picture: 512).
const MAX_TILE: i32 = 160;
const GAP: i32 = 12;
const CAPTION_SIZE: f64 = 18.0;

/// Draws the tiles, each enlarged by the same whole factor with nearest-neighbour sampling (so
/// image pixels stay visible; tiles smaller than the largest are stretched to its size), with
/// captions and labels, and writes the grid to `file` as PNG.
pub fn image_grid(file: &Path, grid: &ImageGrid<'_>) -> Result<(), PlotError> {
    check(file, grid)?;
    prepare(file)?;
    let columns = grid.columns.min(grid.tiles.len());
    let rows = grid.tiles.len().div_ceil(columns);
    let label_style = text::regular(LABEL);
    let caption_style = text::regular(CAPTION_SIZE);
    let row_label_w = grid
        .row_labels
        .iter()
        .map(|s| draw::width(s, &label_style) + 16)
        .max()
        .unwrap_or(0);
    let max_h = grid.tiles.iter().map(|t| t.height).max().unwrap_or(1) as i32;
    let max_w = grid.tiles.iter().map(|t| t.width).max().unwrap_or(1) as i32;
    let max_tile = (512 / columns as i32).max(MAX_TILE);
    let budget = ((TARGET_WIDTH - 2 * MARGIN - row_label_w) / columns as i32 - GAP).min(max_tile);
    // A whole enlargement factor when the largest tile fits the column, else a shrink.
    let factor = f64::from(budget) / f64::from(max_h.max(max_w));
    let factor = if factor >= 1.0 {
        factor.floor()
    } else {
        factor
    };
    let tile_w = ((f64::from(max_w) * factor).round() as i32).max(1);
    let tile_h = ((f64::from(max_h) * factor).round() as i32).max(1);
    let caption_w = grid
        .tiles
        .iter()
        .map(|t| draw::width(t.caption, &caption_style))
        .chain(
            grid.column_labels
                .iter()
                .map(|s| draw::width(s, &label_style)),
        )
        .max()
        .unwrap_or(0);
    let column_w = tile_w.max(caption_w) + GAP;
    let has_captions = grid.tiles.iter().any(|t| !t.caption.is_empty());
    let caption_h = if has_captions {
        draw::line_height(CAPTION_SIZE) + 8
    } else {
        0
    };
    let row_h = tile_h + caption_h + GAP;
    let title_h = draw::title_height(grid.title);
    let column_labels_h = if grid.column_labels.is_empty() {
        0
    } else {
        draw::line_height(LABEL) + 10
    };
    let left = MARGIN + row_label_w;
    let top = MARGIN + title_h + 12 + column_labels_h;
    let width = (left + columns as i32 * column_w + MARGIN - GAP)
        .max(draw::title_width(grid.title) + 2 * MARGIN);
    let height = top + rows as i32 * row_h - GAP + MARGIN;

    let mut canvas = Canvas::new(file, width as u32, height as u32)?;
    canvas.draw(file, |root| {
        draw::title_block(root, grid.title, (MARGIN, MARGIN))?;
        for (c, label) in grid.column_labels.iter().enumerate() {
            let cx = left + c as i32 * column_w + (column_w - GAP) / 2;
            put(
                root,
                label,
                (cx, top - 8),
                (HPos::Center, VPos::Bottom),
                &label_style,
                false,
            )?;
        }
        for (r, label) in grid.row_labels.iter().enumerate() {
            let cy = top + r as i32 * row_h + tile_h / 2;
            put(
                root,
                label,
                (left - 16, cy),
                (HPos::Right, VPos::Center),
                &label_style,
                false,
            )?;
        }
        for (k, tile) in grid.tiles.iter().enumerate() {
            let (r, c) = ((k / columns) as i32, (k % columns) as i32);
            let x = left + c * column_w + (column_w - GAP - tile_w) / 2;
            let y = top + r * row_h;
            blit(
                root,
                (x, y),
                (tile_w as u32, tile_h as u32),
                shades(tile, grid.scaling, (tile_w, tile_h)),
            )?;
            outline(
                root,
                (x - 1, y - 1),
                (x + tile_w, y + tile_h),
                INK.mix(0.25).into(),
            )?;
            let cx = left + c * column_w + (column_w - GAP) / 2;
            put(
                root,
                tile.caption,
                (cx, y + tile_h + 8),
                (HPos::Center, VPos::Top),
                &caption_style,
                false,
            )?;
        }
        Ok(())
    })?;
    canvas.save(file)
}

/// The tile as `w x h` RGB pixels (nearest-neighbour), mapped by `scaling`.
fn shades(tile: &Tile<'_>, scaling: Scaling, (w, h): (i32, i32)) -> Vec<u8> {
    let (lo, hi) = tile
        .values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let shade = |v: f32| -> f32 {
        match scaling {
            Scaling::MinMax if hi - lo > 0.0 => (v - lo) / (hi - lo),
            Scaling::MinMax => 0.5,
            Scaling::Symmetric => {
                let peak = lo.abs().max(hi.abs());
                if peak > 0.0 {
                    0.5 + 0.5 * v / peak
                } else {
                    0.5
                }
            }
            Scaling::Range { lo, hi } => (v - lo) / (hi - lo),
        }
    };
    let to_u8 = |v: f32| (shade(v).clamp(0.0, 1.0) * 255.0).round() as u8;
    let (w, h) = (w as usize, h as usize);
    let mut out = Vec::with_capacity(3 * w * h);
    for py in 0..h {
        let r = py * tile.height / h;
        for px in 0..w {
            let c = px * tile.width / w;
            let at = (r * tile.width + c) * tile.channels;
            if tile.channels == 3 {
                out.extend(tile.values[at..at + 3].iter().map(|&v| to_u8(v)));
            } else {
                let g = to_u8(tile.values[at]);
                out.extend([g, g, g]);
            }
        }
    }
    out
}

fn check(file: &Path, grid: &ImageGrid<'_>) -> Result<(), PlotError> {
    let invalid = |problem: String| Err(PlotError::invalid(file, problem));
    if grid.tiles.is_empty() {
        return invalid("there are no tiles to draw".into());
    }
    if grid.columns == 0 {
        return invalid("columns is 0; a grid needs at least one column".into());
    }
    if let Scaling::Range { lo, hi } = grid.scaling {
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            return invalid(format!(
                "the shade range {lo}..{hi} is not an increasing finite range"
            ));
        }
    }
    let columns = grid.columns.min(grid.tiles.len());
    let rows = grid.tiles.len().div_ceil(columns);
    if !grid.row_labels.is_empty() && grid.row_labels.len() != rows {
        return invalid(format!(
            "{} row labels for {rows} rows",
            grid.row_labels.len()
        ));
    }
    if !grid.column_labels.is_empty() && grid.column_labels.len() != columns {
        return invalid(format!(
            "{} column labels for {columns} columns",
            grid.column_labels.len()
        ));
    }
    for (k, tile) in grid.tiles.iter().enumerate() {
        let name = draw::describe("tile", k, tile.caption);
        if tile.height == 0 || tile.width == 0 {
            return invalid(format!("{name} is {}x{} pixels", tile.height, tile.width));
        }
        if tile.channels != 1 && tile.channels != 3 {
            return invalid(format!(
                "{name} has {} channels; 1 (grey) or 3 (RGB) are drawn",
                tile.channels
            ));
        }
        let expected = tile
            .height
            .checked_mul(tile.width)
            .and_then(|n| n.checked_mul(tile.channels));
        if expected != Some(tile.values.len()) {
            return invalid(format!(
                "{name} has {} values for {}x{}x{}",
                tile.values.len(),
                tile.height,
                tile.width,
                tile.channels
            ));
        }
        if let Some(i) = tile.values.iter().position(|v| !v.is_finite()) {
            return invalid(format!("{name}: value {i} is {}", tile.values[i]));
        }
    }
    Ok(())
}
