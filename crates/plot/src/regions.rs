//! Decision regions of 2-D classifiers (as in CS231n's and ConvNetJS's 2-D demos): every
//! cell of a grid over the plane shaded by the class predicted there, the training points on
//! top, several panels in rows.

use std::path::Path;

use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::Color;

use crate::canvas::{prepare, Area, Canvas, DrawFailure};
use crate::draw::{self, blit, disc, outline, put, Legend, Mark, MARGIN, SUBTITLE};
use crate::palette::{colour, light, INK, MUTED};
use crate::{text, PlotError};

/// A rectangle of the plane, `x` to the right and `y` up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub x_min: f32,
    pub x_max: f32,
    pub y_min: f32,
    pub y_max: f32,
}

impl Window {
    /// The bounding box of `points` padded by 10 % of its larger side on every side and
    /// widened to a square, so circles stay round; `-1..1` squared when there are no finite
    /// points.
    pub fn around(points: &[[f32; 2]]) -> Window {
        let (mut x0, mut x1, mut y0, mut y1) = (
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        );
        for p in points
            .iter()
            .filter(|p| p[0].is_finite() && p[1].is_finite())
        {
            (x0, x1, y0, y1) = (x0.min(p[0]), x1.max(p[0]), y0.min(p[1]), y1.max(p[1]));
        }
        if !(x0.is_finite() && x1.is_finite()) {
            (x0, x1, y0, y1) = (-1.0, 1.0, -1.0, 1.0);
        }
        let half = 0.6 * (x1 - x0).max(y1 - y0).max(1e-3);
        let (cx, cy) = (0.5 * (x0 + x1), 0.5 * (y0 + y1));
        Window {
            x_min: cx - half,
            x_max: cx + half,
            y_min: cy - half,
            y_max: cy + half,
        }
    }

    /// The centres of a `columns x rows` grid of equal cells over the window, row-major from
    /// the top row (largest y) down, left to right: the points a classifier is asked about
    /// for [`RegionPanel::predicted`].
    pub fn cell_centres(&self, columns: usize, rows: usize) -> Vec<[f32; 2]> {
        let (dx, dy) = (
            (self.x_max - self.x_min) / columns as f32,
            (self.y_max - self.y_min) / rows as f32,
        );
        (0..rows)
            .flat_map(|r| {
                (0..columns).map(move |c| {
                    [
                        self.x_min + (c as f32 + 0.5) * dx,
                        self.y_max - (r as f32 + 0.5) * dy,
                    ]
                })
            })
            .collect()
    }

    fn is_valid(&self) -> bool {
        [self.x_min, self.x_max, self.y_min, self.y_max]
            .iter()
            .all(|v| v.is_finite())
            && self.x_max > self.x_min
            && self.y_max > self.y_min
    }
}

/// One classifier's picture.
#[derive(Debug, Clone, Copy)]
pub struct RegionPanel<'a> {
    /// Above the panel: first line bold, further lines (after `\n`) regular, e.g. the model
    /// and "train 0.99, test 0.97".
    pub title: &'a str,
    pub window: Window,
    pub grid_columns: usize,
    pub grid_rows: usize,
    /// The class predicted at each of [`Window::cell_centres`]`(grid_columns, grid_rows)`.
    pub predicted: &'a [usize],
    /// Points drawn on top (e.g. the training set), coloured by `labels`.
    pub points: &'a [[f32; 2]],
    pub labels: &'a [usize],
}

/// A row of panels under an optional heading.
#[derive(Debug, Clone, Copy)]
pub struct RegionRow<'a> {
    /// Drawn above the row; empty for none.
    pub heading: &'a str,
    pub panels: &'a [RegionPanel<'a>],
}

/// The whole picture.
#[derive(Debug, Clone, Copy)]
pub struct DecisionRegions<'a> {
    /// First line bold; lines after a `\n` smaller, as a subtitle.
    pub title: &'a str,
    pub rows: &'a [RegionRow<'a>],
    /// Side of each panel, pixels (64..=2048).
    pub panel_size: u32,
    /// Empty, or one name per class for a legend (then every label and prediction must be
    /// below its length).
    pub class_names: &'a [String],
}

const GAP: i32 = 28;
const PANEL_TITLE: f64 = 22.0;

/// Draws the panels row by row — shaded regions in light class colours (tab10 blended 70 %
/// to white), points as discs in the strong colours, a title over each panel, a heading over
/// each row, a legend of the classes — and writes them to `file` as PNG.
pub fn decision_regions(file: &Path, regions: &DecisionRegions<'_>) -> Result<(), PlotError> {
    check(file, regions)?;
    prepare(file)?;
    let size = regions.panel_size as i32;
    let columns = regions
        .rows
        .iter()
        .map(|r| r.panels.len())
        .max()
        .unwrap_or(1) as i32;
    let content_w = columns * size + (columns - 1) * GAP;
    let legend = Legend::new(
        regions
            .class_names
            .iter()
            .enumerate()
            .map(|(k, name)| (Mark::Dot(colour(k)), name.clone()))
            .collect(),
        content_w.max(600),
    );
    let panel_title_h = regions
        .rows
        .iter()
        .flat_map(|r| r.panels.iter())
        .map(|p| p.title.lines().filter(|l| !l.trim().is_empty()).count() as i32)
        .max()
        .unwrap_or(0)
        * draw::line_height(PANEL_TITLE)
        + 8;
    let heading_h = |row: &RegionRow<'_>| {
        if row.heading.is_empty() {
            0
        } else {
            draw::line_height(SUBTITLE) + 10
        }
    };
    let title_h = draw::title_height(regions.title);
    let legend_h = if legend.height() > 0 {
        legend.height() + 8
    } else {
        0
    };
    let top = MARGIN + title_h + 10 + legend_h;
    let rows_h: i32 = regions
        .rows
        .iter()
        .map(|r| heading_h(r) + panel_title_h + size + GAP)
        .sum::<i32>()
        - GAP;
    let title_w = draw::title_width(regions.title).max(legend.width());
    let width = (2 * MARGIN + content_w).max(title_w + 2 * MARGIN);
    let height = top + rows_h + MARGIN;

    let mut canvas = Canvas::new(file, width as u32, height as u32)?;
    canvas.draw(file, |root| {
        draw::title_block(root, regions.title, (MARGIN, MARGIN))?;
        legend.draw(root, (MARGIN, MARGIN + title_h + 10))?;
        let mut y = top;
        for row in regions.rows {
            if !row.heading.is_empty() {
                put(
                    root,
                    row.heading,
                    (MARGIN, y),
                    (HPos::Left, VPos::Top),
                    &text::bold(SUBTITLE),
                    false,
                )?;
                y += heading_h(row);
            }
            for (c, panel) in row.panels.iter().enumerate() {
                let x = MARGIN + c as i32 * (size + GAP);
                for (i, line) in panel
                    .title
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .enumerate()
                {
                    let style = if i == 0 {
                        text::bold(PANEL_TITLE)
                    } else {
                        text::regular(PANEL_TITLE).color(&MUTED)
                    };
                    put(
                        root,
                        line,
                        (x, y + i as i32 * draw::line_height(PANEL_TITLE)),
                        (HPos::Left, VPos::Top),
                        &style,
                        false,
                    )?;
                }
                draw_panel(root, panel, (x, y + panel_title_h), size)?;
            }
            y += panel_title_h + size + GAP;
        }
        Ok(())
    })?;
    canvas.save(file)
}

fn draw_panel(
    root: &Area<'_>,
    panel: &RegionPanel<'_>,
    (x, y): (i32, i32),
    size: i32,
) -> Result<(), DrawFailure> {
    let n = size as usize;
    let mut shade = Vec::with_capacity(3 * n * n);
    for py in 0..n {
        let r = py * panel.grid_rows / n;
        for px in 0..n {
            let c = px * panel.grid_columns / n;
            shade.extend(light(panel.predicted[r * panel.grid_columns + c]));
        }
    }
    blit(root, (x, y), (n as u32, n as u32), shade)?;
    let w = panel.window;
    let radius = (size / 90).max(3);
    for (p, &label) in panel.points.iter().zip(panel.labels) {
        let u = (p[0] - w.x_min) / (w.x_max - w.x_min);
        let v = (w.y_max - p[1]) / (w.y_max - w.y_min);
        if !((0.0..=1.0).contains(&u) && (0.0..=1.0).contains(&v)) {
            continue;
        }
        let centre = (
            x + (u * size as f32).round() as i32,
            y + (v * size as f32).round() as i32,
        );
        disc(root, centre, radius, colour(label))?;
    }
    outline(
        root,
        (x - 1, y - 1),
        (x + size, y + size),
        INK.mix(0.5).into(),
    )?;
    Ok(())
}

fn check(file: &Path, regions: &DecisionRegions<'_>) -> Result<(), PlotError> {
    let invalid = |problem: String| Err(PlotError::invalid(file, problem));
    if !(64..=2048).contains(&regions.panel_size) {
        return invalid(format!(
            "panel size {} is not in 64..=2048 pixels",
            regions.panel_size
        ));
    }
    if regions.rows.iter().all(|r| r.panels.is_empty()) {
        return invalid("there are no panels to draw".into());
    }
    let classes = regions.class_names.len();
    for (r, row) in regions.rows.iter().enumerate() {
        for (c, panel) in row.panels.iter().enumerate() {
            let first_line = panel.title.lines().next().unwrap_or("");
            let name = format!("{}, row {r}", draw::describe("panel", c, first_line));
            if !panel.window.is_valid() {
                return invalid(format!(
                    "{name}: the window {:?} is not a finite, non-empty rectangle",
                    panel.window
                ));
            }
            if panel.grid_columns == 0 || panel.grid_rows == 0 {
                return invalid(format!(
                    "{name}: the grid is {}x{} cells",
                    panel.grid_columns, panel.grid_rows
                ));
            }
            let cells = panel.grid_columns.checked_mul(panel.grid_rows);
            if cells != Some(panel.predicted.len()) {
                return invalid(format!(
                    "{name}: {} predictions for a {}x{} grid",
                    panel.predicted.len(),
                    panel.grid_columns,
                    panel.grid_rows
                ));
            }
            if panel.points.len() != panel.labels.len() {
                return invalid(format!(
                    "{name}: {} points but {} labels",
                    panel.points.len(),
                    panel.labels.len()
                ));
            }
            if classes > 0 {
                let beyond = |v: &[usize]| v.iter().copied().find(|&k| k >= classes);
                if let Some(k) = beyond(panel.predicted).or_else(|| beyond(panel.labels)) {
                    return invalid(format!(
                        "{name}: class {k} has no name ({classes} class names)"
                    ));
                }
            }
        }
    }
    Ok(())
}
