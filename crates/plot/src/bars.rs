//! Grouped bars: test accuracy of feature sets (one colour each) grouped by model.

use std::path::Path;

use plotters::chart::{ChartBuilder, LabelAreaPosition};
use plotters::element::Rectangle;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::{Color, TRANSPARENT};

use crate::canvas::{prepare, Canvas, Chart, DrawFailure};
use crate::draw::{self, describe, put, Legend, Mark, AXIS_TITLE, LABEL, MARGIN, SMALL};
use crate::palette::{colour, rgb, GRID_LINE, INK, MUTED};
use crate::{text, PlotError};

/// Values in `0..=1` (accuracies) for every pair of a series (a colour, e.g. a feature set)
/// and a group (a cluster of bars on the horizontal axis, e.g. a model).
#[derive(Debug, Clone, Copy)]
pub struct GroupedBars<'a> {
    /// First line bold; lines after a `\n` smaller, as a subtitle.
    pub title: &'a str,
    /// Names of the clusters along the horizontal axis (e.g. models).
    pub groups: &'a [String],
    /// Names of the bars within each cluster, one colour each, in the legend (e.g. feature
    /// sets).
    pub series: &'a [String],
    /// `values[s][g]`: series `s` in group `g`, in `0..=1`; `None`: not measured (drawn as a
    /// gap marked "not run").
    pub values: &'a [Vec<Option<f64>>],
    /// Title of the horizontal axis (e.g. "model").
    pub group_axis: &'a str,
    /// Title of the vertical axis (e.g. "test accuracy").
    pub value_axis: &'a str,
}

/// Narrowest bar, pixels; the picture widens rather than go below it.
const MIN_BAR: i32 = 20;
const Y_AXIS_AREA: i32 = 110;
/// Fraction of a group's slot its bars take; the rest is the gap between groups.
const GROUP_FILL: f64 = 0.8;

/// Draws grouped bars with each value printed on its bar, a legend of the series, axis titles
/// and a 0..1 vertical axis, and writes them to `file` as PNG.
pub fn accuracy_bars(file: &Path, bars: &GroupedBars<'_>) -> Result<(), PlotError> {
    check(file, bars)?;
    prepare(file)?;
    let (n_groups, n_series) = (bars.groups.len(), bars.series.len());
    let value_style = text::regular(SMALL);
    // Values are printed across their bar: bars are made wide enough for that, the picture
    // widening past 1200 pixels up to 1800; beyond that they are printed upwards.
    let widest_value = bars
        .values
        .iter()
        .flatten()
        .flatten()
        .map(|v| draw::width(&format!("{v:.3}"), &value_style))
        .max()
        .unwrap_or(0);
    let fits = |bar: i32| (n_groups * n_series) as f64 * f64::from(bar) / GROUP_FILL;
    let wanted_bar = (widest_value + 10).max(MIN_BAR);
    let upright = fits(wanted_bar) > f64::from(1800 - 2 * MARGIN - Y_AXIS_AREA);
    let bar_min = if upright { MIN_BAR } else { wanted_bar };
    let plot_w = (1200 - 2 * MARGIN - Y_AXIS_AREA).max(fits(bar_min).ceil() as i32);
    let width = plot_w + 2 * MARGIN + Y_AXIS_AREA;
    let headroom = if upright { widest_value + 16 } else { 36 };
    let legend = Legend::new(
        bars.series
            .iter()
            .enumerate()
            .map(|(s, name)| (Mark::Square(colour(s)), name.clone()))
            .collect(),
        width - 2 * MARGIN,
    );
    let title_h = draw::title_height(bars.title);
    let top = MARGIN + title_h + 10 + legend.height() + 4;
    let plot_h = 520;
    let group_names_h = draw::line_height(LABEL) + 16;
    let axis_title_h = draw::line_height(AXIS_TITLE) + 10;
    let height = top + headroom + plot_h + group_names_h + axis_title_h + MARGIN;
    let width = width.max(draw::title_width(bars.title) + 2 * MARGIN);

    let mut canvas = Canvas::new(file, width as u32, height as u32)?;
    canvas.draw(file, |root| {
        draw::title_block(root, bars.title, (MARGIN, MARGIN))?;
        legend.draw(root, (MARGIN + Y_AXIS_AREA, MARGIN + title_h + 10))?;
        let chart_area = root.clone().shrink(
            (MARGIN, top + headroom),
            ((Y_AXIS_AREA + plot_w) as u32, plot_h as u32),
        );
        let mut chart = ChartBuilder::on(&chart_area)
            .set_label_area_size(LabelAreaPosition::Left, Y_AXIS_AREA)
            .build_cartesian_2d(0f64..n_groups as f64, 0f64..1f64)?;
        value_mesh(&mut chart, bars.value_axis, 11)?;
        let bar_w = GROUP_FILL / n_series as f64;
        for (s, row) in bars.values.iter().enumerate() {
            for (g, value) in row.iter().enumerate() {
                let x0 = g as f64 + (1.0 - GROUP_FILL) / 2.0 + s as f64 * bar_w;
                let (l, r) = (x0 + 0.06 * bar_w, x0 + 0.94 * bar_w);
                let centre = chart.backend_coord(&(x0 + bar_w / 2.0, 0.0));
                let Some(v) = *value else {
                    put(
                        root,
                        "not run",
                        (centre.0, centre.1 - 8),
                        (HPos::Left, VPos::Center),
                        &text::regular(SMALL).color(&MUTED),
                        true,
                    )?;
                    continue;
                };
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(l, 0.0), (r, v)],
                    rgb(colour(s)).filled(),
                )))?;
                let (cx, top_y) = chart.backend_coord(&(x0 + bar_w / 2.0, v));
                let label = format!("{v:.3}");
                if upright {
                    put(
                        root,
                        &label,
                        (cx, top_y - 8),
                        (HPos::Left, VPos::Center),
                        &value_style,
                        true,
                    )?;
                } else {
                    put(
                        root,
                        &label,
                        (cx, top_y - 8),
                        (HPos::Center, VPos::Bottom),
                        &value_style,
                        false,
                    )?;
                }
            }
        }
        // The baseline, then group names under their clusters and the axis title.
        let (x_left, base) = chart.backend_coord(&(0.0, 0.0));
        let (x_right, _) = chart.backend_coord(&(n_groups as f64, 0.0));
        root.draw(&plotters::element::PathElement::new(
            vec![(x_left, base), (x_right, base)],
            INK.stroke_width(2),
        ))?;
        for (g, name) in bars.groups.iter().enumerate() {
            let (cx, _) = chart.backend_coord(&(g as f64 + 0.5, 0.0));
            put(
                root,
                name,
                (cx, base + 14),
                (HPos::Center, VPos::Top),
                &text::regular(LABEL),
                false,
            )?;
        }
        put(
            root,
            bars.group_axis,
            ((x_left + x_right) / 2, base + group_names_h + 6),
            (HPos::Center, VPos::Top),
            &text::regular(AXIS_TITLE),
            false,
        )?;
        Ok(())
    })?;
    canvas.save(file)
}

/// The vertical axis of a bar or curve chart: ticks, light horizontal grid lines, the title.
pub(crate) fn value_mesh(
    chart: &mut Chart<'_>,
    title: &str,
    labels: usize,
) -> Result<(), DrawFailure> {
    let label_size = LABEL;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(labels)
        .max_light_lines(0)
        .bold_line_style(GRID_LINE)
        .light_line_style(TRANSPARENT)
        .axis_style(INK.stroke_width(2))
        .label_style(text::regular(label_size))
        .y_label_offset((0.21 * label_size).round() as i32)
        .y_desc(title)
        .axis_desc_style(text::regular(AXIS_TITLE))
        .draw()?;
    Ok(())
}

fn check(file: &Path, bars: &GroupedBars<'_>) -> Result<(), PlotError> {
    let invalid = |problem: String| Err(PlotError::invalid(file, problem));
    if bars.groups.is_empty() {
        return invalid("there are no groups (models) to draw".into());
    }
    if bars.series.is_empty() {
        return invalid("there are no series (feature sets) to draw".into());
    }
    if bars.values.len() != bars.series.len() {
        return invalid(format!(
            "{} series but {} rows of values",
            bars.series.len(),
            bars.values.len()
        ));
    }
    for (s, row) in bars.values.iter().enumerate() {
        let name = describe("series", s, &bars.series[s]);
        if row.len() != bars.groups.len() {
            return invalid(format!(
                "{name} has {} values for {} groups",
                row.len(),
                bars.groups.len()
            ));
        }
        for (g, v) in row.iter().enumerate() {
            if let Some(v) = *v {
                if !(0.0..=1.0).contains(&v) {
                    return invalid(format!(
                        "{name} in {} is {v}, outside 0..=1",
                        describe("group", g, &bars.groups[g])
                    ));
                }
            }
        }
    }
    Ok(())
}
