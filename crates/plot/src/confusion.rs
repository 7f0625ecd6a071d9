//! The confusion matrix as a heatmap: rows are true classes, columns predicted classes, each
//! cell shaded by its share of the true class (so the diagonal reads as per-class recall)
//! and labelled with its count and that share.

use std::path::Path;

use plotters::element::Rectangle;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::{Color, WHITE};

use crate::canvas::{prepare, Area, Canvas, DrawFailure};
use crate::draw::{self, put, AXIS_TITLE, LABEL, MARGIN, SMALL};
use crate::palette::{blues, rgb, INK, MUTED};
use crate::{text, PlotError};

/// Test counts per (true class, predicted class).
#[derive(Debug, Clone, Copy)]
pub struct ConfusionMatrix<'a> {
    /// First line bold; lines after a `\n` smaller, as a subtitle.
    pub title: &'a str,
    /// One name per class, in label order.
    pub class_names: &'a [String],
    /// `counts[t][p]`: test examples of true class `t` predicted as `p`; `n x n` for `n`
    /// class names.
    pub counts: &'a [Vec<usize>],
}

/// Draws the matrix with class names on both axes (predicted names upwards under the
/// columns), counts and row shares in the cells while they fit, a colour scale and axis
/// titles, and writes it to `file` as PNG. Cells are 80 pixels for up to 10 classes and
/// shrink to 14 for 59 or more.
pub fn confusion_matrix(file: &Path, matrix: &ConfusionMatrix<'_>) -> Result<(), PlotError> {
    check(file, matrix)?;
    prepare(file)?;
    let n = matrix.class_names.len();
    let cell = (820 / n as i32).clamp(14, 80);
    let name_size = (f64::from(cell) * 0.42).clamp(12.0, LABEL);
    let name_style = text::regular(name_size);
    let names_w = matrix
        .class_names
        .iter()
        .map(|s| draw::width(s, &name_style))
        .max()
        .unwrap_or(0);
    let axis_h = draw::line_height(AXIS_TITLE);
    let title_h = draw::title_height(matrix.title);
    let side = n as i32 * cell;
    let left = MARGIN + axis_h + 12 + names_w + 12;
    let top = MARGIN + title_h + 20;
    let bar_x = left + side + 30;
    let bar_h = side.clamp(160, 420);
    let scale_style = text::regular(SMALL);
    let scale_w = 24 + 8 + draw::width("100%", &scale_style) + 12 + axis_h;
    let width = (bar_x + scale_w + MARGIN).max(draw::title_width(matrix.title) + 2 * MARGIN);
    let height =
        (top + side.max(bar_h) + 12 + names_w + 12 + axis_h + MARGIN).max(top + bar_h + MARGIN);

    let mut canvas = Canvas::new(file, width as u32, height as u32)?;
    canvas.draw(file, |root| {
        draw::title_block(root, matrix.title, (MARGIN, MARGIN))?;
        for (t, row) in matrix.counts.iter().enumerate() {
            let total: usize = row.iter().sum();
            let y = top + t as i32 * cell;
            put(
                root,
                &matrix.class_names[t],
                (left - 12, y + cell / 2),
                (HPos::Right, VPos::Center),
                &name_style,
                false,
            )?;
            for (p, &count) in row.iter().enumerate() {
                let share = if total == 0 {
                    0.0
                } else {
                    count as f64 / total as f64
                };
                let x = left + p as i32 * cell;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell - 1, y + cell - 1)],
                    rgb(blues(share)).filled(),
                ))?;
                cell_text(root, (x, y), cell, count, share)?;
            }
        }
        for (p, name) in matrix.class_names.iter().enumerate() {
            let x = left + p as i32 * cell + cell / 2;
            put(
                root,
                name,
                (x, top + side + 12),
                (HPos::Right, VPos::Center),
                &name_style,
                true,
            )?;
        }
        let axis_style = text::regular(AXIS_TITLE);
        put(
            root,
            "predicted class",
            (left + side / 2, top + side + 12 + names_w + 12),
            (HPos::Center, VPos::Top),
            &axis_style,
            false,
        )?;
        put(
            root,
            "true class",
            (MARGIN, top + side / 2),
            (HPos::Center, VPos::Top),
            &axis_style,
            true,
        )?;
        // The colour scale: the share of the true class, 0 at the bottom.
        for k in 0..bar_h {
            let share = 1.0 - f64::from(k) / f64::from(bar_h - 1);
            root.draw(&Rectangle::new(
                [(bar_x, top + k), (bar_x + 24, top + k + 1)],
                rgb(blues(share)).filled(),
            ))?;
        }
        root.draw(&Rectangle::new(
            [(bar_x, top), (bar_x + 24, top + bar_h)],
            INK.mix(0.5),
        ))?;
        for (share, label) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
            let y = top + ((1.0 - share) * f64::from(bar_h - 1)).round() as i32;
            root.draw(&plotters::element::PathElement::new(
                vec![(bar_x + 24, y), (bar_x + 30, y)],
                INK,
            ))?;
            put(
                root,
                label,
                (bar_x + 32, y),
                (HPos::Left, VPos::Center),
                &scale_style,
                false,
            )?;
        }
        let scale_title_x = bar_x + 32 + draw::width("100%", &scale_style) + 12;
        put(
            root,
            "share of the true class",
            (scale_title_x, top + bar_h / 2),
            (HPos::Center, VPos::Top),
            &text::regular(SMALL),
            true,
        )?;
        Ok(())
    })?;
    canvas.save(file)
}

/// The count (and, in large cells, the row share) centred in a cell, shrunk to fit; none in
/// cells under 34 pixels.
fn cell_text(
    root: &Area<'_>,
    (x, y): (i32, i32),
    cell: i32,
    count: usize,
    share: f64,
) -> Result<(), DrawFailure> {
    if cell < 34 {
        return Ok(());
    }
    let on_dark = share > 0.5;
    let ink = if on_dark {
        WHITE
    } else if count == 0 {
        MUTED
    } else {
        INK
    };
    let fit = |s: &str, size: f64| {
        let w = draw::width(s, &text::regular(size));
        let room = f64::from(cell) * 0.88;
        if f64::from(w) > room {
            size * room / f64::from(w)
        } else {
            size
        }
    };
    let count = count.to_string();
    let cx = x + cell / 2;
    if cell >= 60 {
        // Empty cells show just their muted 0; a few stray predictions read "<1%", not "0%".
        let rounded = (100.0 * share).round();
        let percent = match (count == "0", rounded == 0.0) {
            (true, _) => String::new(),
            (false, true) => "<1%".to_string(),
            (false, false) => format!("{rounded:.0}%"),
        };
        let size = fit(&count, f64::from(cell) * 0.3);
        put(
            root,
            &count,
            (cx, y + (f64::from(cell) * 0.38) as i32),
            (HPos::Center, VPos::Center),
            &text::regular(size).color(&ink),
            false,
        )?;
        let size = fit(&percent, f64::from(cell) * 0.21).min(f64::from(cell) * 0.21);
        put(
            root,
            &percent,
            (cx, y + (f64::from(cell) * 0.70) as i32),
            (HPos::Center, VPos::Center),
            &text::regular(size).color(&ink),
            false,
        )?;
    } else {
        let size = fit(&count, f64::from(cell) * 0.34);
        put(
            root,
            &count,
            (cx, y + cell / 2),
            (HPos::Center, VPos::Center),
            &text::regular(size).color(&ink),
            false,
        )?;
    }
    Ok(())
}

fn check(file: &Path, matrix: &ConfusionMatrix<'_>) -> Result<(), PlotError> {
    let invalid = |problem: String| Err(PlotError::invalid(file, problem));
    let n = matrix.class_names.len();
    if n == 0 {
        return invalid("there are no classes to draw".into());
    }
    if matrix.counts.len() != n {
        return invalid(format!(
            "{n} class names but {} rows of counts",
            matrix.counts.len()
        ));
    }
    for (t, row) in matrix.counts.iter().enumerate() {
        if row.len() != n {
            return invalid(format!(
                "row {t} ('{}') has {} counts for {n} classes",
                matrix.class_names[t],
                row.len()
            ));
        }
    }
    Ok(())
}
