//! A colour histogram as bars, each bar in the colour of its bin (e.g. hue bins in their hue).

use std::path::Path;

use plotters::chart::{ChartBuilder, LabelAreaPosition};
use plotters::element::{PathElement, Rectangle};
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::Color;

use crate::bars::value_mesh;
use crate::canvas::{prepare, Canvas};
use crate::draw::{self, put, LABEL, MARGIN};
use crate::palette::{rgb, INK};
use crate::{text, PlotError};

/// Bins drawn side by side under one label (e.g. "hue"), one colour per bin.
#[derive(Debug, Clone, Copy)]
pub struct HistogramGroup<'a> {
    pub label: &'a str,
    /// Non-negative, finite.
    pub values: &'a [f32],
    /// One colour per value.
    pub colours: &'a [[u8; 3]],
}

/// Groups of bins on one vertical scale, a gap between groups.
#[derive(Debug, Clone, Copy)]
pub struct ColourHistogram<'a> {
    /// First line bold; lines after a `\n` smaller, as a subtitle.
    pub title: &'a str,
    pub groups: &'a [HistogramGroup<'a>],
    /// Title of the vertical axis (e.g. "share of pixels").
    pub value_axis: &'a str,
}

const Y_AXIS_AREA: i32 = 110;
/// Narrowest bar, pixels; the picture widens rather than go below it.
const MIN_BAR: i32 = 3;
const PLOT_H: i32 = 460;

/// Draws every group's bins as bars in their colours (with a thin dark outline, so white and
/// light bins show), the group labels under them, a vertical axis from 0 and its title, and
/// writes it to `file` as PNG.
pub fn colour_histogram(file: &Path, histogram: &ColourHistogram<'_>) -> Result<(), PlotError> {
    check(file, histogram)?;
    prepare(file)?;
    let bins: usize = histogram.groups.iter().map(|g| g.values.len()).sum();
    // One empty slot between groups.
    let slots = bins + histogram.groups.len() - 1;
    let plot_w = (1200 - 2 * MARGIN - Y_AXIS_AREA).max(slots as i32 * MIN_BAR);
    let width =
        (plot_w + 2 * MARGIN + Y_AXIS_AREA).max(draw::title_width(histogram.title) + 2 * MARGIN);
    let title_h = draw::title_height(histogram.title);
    let top = MARGIN + title_h + 24;
    let labels_h = draw::line_height(LABEL) + 14;
    let height = top + PLOT_H + labels_h + MARGIN;
    let max = histogram
        .groups
        .iter()
        .flat_map(|g| g.values.iter())
        .copied()
        .fold(0.0f32, f32::max);
    let y_top = if max > 0.0 { f64::from(max) * 1.1 } else { 1.0 };

    let mut canvas = Canvas::new(file, width as u32, height as u32)?;
    canvas.draw(file, |root| {
        draw::title_block(root, histogram.title, (MARGIN, MARGIN))?;
        let area = root.clone().shrink(
            (MARGIN, top),
            ((Y_AXIS_AREA + plot_w) as u32, PLOT_H as u32),
        );
        let mut chart = ChartBuilder::on(&area)
            .set_label_area_size(LabelAreaPosition::Left, Y_AXIS_AREA)
            .build_cartesian_2d(0f64..slots as f64, 0f64..y_top)?;
        value_mesh(&mut chart, histogram.value_axis, 8)?;
        let bar_px = f64::from(plot_w) / slots as f64;
        let inset = if bar_px >= 6.0 { 0.1 } else { 0.0 };
        let mut slot = 0usize;
        for group in histogram.groups {
            let first = slot;
            for (&v, &c) in group.values.iter().zip(group.colours) {
                let (l, r) = (slot as f64 + inset, slot as f64 + 1.0 - inset);
                let v = f64::from(v);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(l, 0.0), (r, v)],
                    rgb(c).filled(),
                )))?;
                if bar_px >= 6.0 && v > 0.0 {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(l, 0.0), (r, v)],
                        INK.mix(0.6),
                    )))?;
                }
                slot += 1;
            }
            let (cx, base) = chart.backend_coord(&((first + slot) as f64 / 2.0, 0.0));
            put(
                root,
                group.label,
                (cx, base + 14),
                (HPos::Center, VPos::Top),
                &text::regular(LABEL),
                false,
            )?;
            slot += 1;
        }
        let (x0, base) = chart.backend_coord(&(0.0, 0.0));
        let (x1, _) = chart.backend_coord(&(slots as f64, 0.0));
        root.draw(&PathElement::new(
            vec![(x0, base), (x1, base)],
            INK.stroke_width(2),
        ))?;
        Ok(())
    })?;
    canvas.save(file)
}

fn check(file: &Path, histogram: &ColourHistogram<'_>) -> Result<(), PlotError> {
    let invalid = |problem: String| Err(PlotError::invalid(file, problem));
    if histogram.groups.is_empty() || histogram.groups.iter().all(|g| g.values.is_empty()) {
        return invalid("there are no bins to draw".into());
    }
    for (k, group) in histogram.groups.iter().enumerate() {
        let name = draw::describe("group", k, group.label);
        if group.values.is_empty() {
            return invalid(format!("{name} has no bins"));
        }
        if group.colours.len() != group.values.len() {
            return invalid(format!(
                "{name} has {} values but {} colours",
                group.values.len(),
                group.colours.len()
            ));
        }
        if let Some(i) = group
            .values
            .iter()
            .position(|v| !(v.is_finite() && *v >= 0.0))
        {
            return invalid(format!(
                "{name}: bin {i} is {}; values must be finite and non-negative",
                group.values[i]
            ));
        }
    }
    Ok(())
}
