//! Learning curves: training loss, and training and validation accuracy, per epoch, for one or
//! more runs (one colour per run).

use std::path::Path;

use plotters::chart::{ChartBuilder, LabelAreaPosition};
use plotters::element::Circle;
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::{Color, TRANSPARENT, WHITE};

use crate::canvas::{prepare, Area, Canvas, Chart, DrawFailure};
use crate::draw::{self, describe, Legend, Mark, AXIS_TITLE, LABEL, MARGIN};
use crate::palette::{colour, rgb, GRID_LINE, INK};
use crate::{text, PlotError};

/// One epoch of a training run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochPoint {
    /// 1-based epoch number; increasing along a run.
    pub epoch: usize,
    /// Mean training loss over the epoch (finite).
    pub loss: f64,
    /// Accuracy on the training set, in `0..=1`.
    pub train_accuracy: f64,
    /// Accuracy on the validation set, in `0..=1`, if one was measured.
    pub val_accuracy: Option<f64>,
}

/// The epochs of one run and its name in the legend.
#[derive(Debug, Clone, Copy)]
pub struct CurveRun<'a> {
    pub label: &'a str,
    pub points: &'a [EpochPoint],
}

/// Several runs drawn together.
#[derive(Debug, Clone, Copy)]
pub struct LearningCurves<'a> {
    /// First line bold; lines after a `\n` smaller, as a subtitle.
    pub title: &'a str,
    pub runs: &'a [CurveRun<'a>],
    /// Title of the horizontal axis: what [`EpochPoint::epoch`] counts (e.g. "epoch", or
    /// "iteration" for an L-BFGS run).
    pub step_axis: &'a str,
}

const PANEL_W: i32 = 660;
const PANEL_H: i32 = 500;
const GAP: i32 = 40;
const Y_AXIS_AREA: i32 = 100;
const X_AXIS_AREA: i32 = 70;
/// Runs longer than this are drawn as lines without a marker per epoch.
const MAX_MARKED_EPOCHS: usize = 20;

/// Draws two charts side by side — training loss per epoch (left) and accuracy per epoch
/// (right: training solid, validation dashed) — with one colour per run and a legend, and
/// writes them to `file` as PNG.
pub fn learning_curves(file: &Path, curves: &LearningCurves<'_>) -> Result<(), PlotError> {
    check(file, curves)?;
    prepare(file)?;
    let width = 2 * MARGIN + 2 * PANEL_W + GAP;
    let has_val = curves
        .runs
        .iter()
        .any(|r| r.points.iter().any(|p| p.val_accuracy.is_some()));
    let mut entries: Vec<(Mark, String)> = curves
        .runs
        .iter()
        .enumerate()
        .map(|(k, run)| {
            (
                Mark::Line {
                    colour: colour(k),
                    dashed: false,
                },
                run.label.to_string(),
            )
        })
        .collect();
    let key = [0x50, 0x50, 0x50];
    entries.push((
        Mark::Line {
            colour: key,
            dashed: false,
        },
        "training".to_string(),
    ));
    if has_val {
        entries.push((
            Mark::Line {
                colour: key,
                dashed: true,
            },
            "validation".to_string(),
        ));
    }
    let legend = Legend::new(entries, width - 2 * MARGIN - Y_AXIS_AREA);
    let title_h = draw::title_height(curves.title);
    let top = MARGIN + title_h + 10 + legend.height() + 16;
    let height = top + PANEL_H + MARGIN;
    let width = width.max(draw::title_width(curves.title) + 2 * MARGIN);

    let points = || curves.runs.iter().flat_map(|r| r.points.iter());
    let first = points().map(|p| p.epoch).min().unwrap_or(1);
    let last = points().map(|p| p.epoch).max().unwrap_or(1);
    let epochs = if first == last {
        first as f64 - 0.5..last as f64 + 0.5
    } else {
        first as f64..last as f64
    };
    let max_loss = points().map(|p| p.loss).fold(0.0f64, f64::max);
    let loss_top = if max_loss > 0.0 { max_loss * 1.08 } else { 1.0 };
    let accuracies = points().flat_map(|p| std::iter::once(p.train_accuracy).chain(p.val_accuracy));
    let (lo, hi) = accuracies.fold((1.0f64, 0.0f64), |(lo, hi), a| (lo.min(a), hi.max(a)));
    // Whole tenths around the data, so the lines fill the panel but the ticks stay round.
    let acc_range =
        ((lo - 0.02) * 10.0).floor().max(0.0) / 10.0..((hi + 0.02) * 10.0).ceil().min(10.0) / 10.0;

    let mut canvas = Canvas::new(file, width as u32, height as u32)?;
    canvas.draw(file, |root| {
        draw::title_block(root, curves.title, (MARGIN, MARGIN))?;
        legend.draw(root, (MARGIN + Y_AXIS_AREA, MARGIN + title_h + 10))?;
        let panel = |x: i32| {
            root.clone()
                .shrink((x, top), (PANEL_W as u32, PANEL_H as u32))
        };
        let mut loss = chart(
            &panel(MARGIN),
            (epochs.clone(), curves.step_axis),
            (0.0..loss_top, "training loss"),
            last - first,
        )?;
        let mut accuracy = chart(
            &panel(MARGIN + PANEL_W + GAP),
            (epochs.clone(), curves.step_axis),
            (acc_range.clone(), "accuracy"),
            last - first,
        )?;
        for (k, run) in curves.runs.iter().enumerate() {
            let style = rgb(colour(k)).stroke_width(3);
            let line = |f: &dyn Fn(&EpochPoint) -> Option<f64>| -> Vec<(f64, f64)> {
                run.points
                    .iter()
                    .filter_map(|p| f(p).map(|v| (p.epoch as f64, v)))
                    .collect()
            };
            let losses = line(&|p| Some(p.loss));
            let train = line(&|p| Some(p.train_accuracy));
            let val = line(&|p| p.val_accuracy);
            // Markers only while they stay apart; a validation marker is hollow.
            let marked = run.points.len() <= MAX_MARKED_EPOCHS;
            loss.draw_series(LineSeries::new(losses.clone(), style))?;
            accuracy.draw_series(LineSeries::new(train.clone(), style))?;
            accuracy.draw_series(DashedLineSeries::new(val.clone(), 12, 8, style))?;
            if marked || run.points.len() == 1 {
                markers(&mut loss, &losses, colour(k), true)?;
                markers(&mut accuracy, &train, colour(k), true)?;
                markers(&mut accuracy, &val, colour(k), false)?;
            }
        }
        Ok(())
    })?;
    canvas.save(file)
}

/// A chart of `y` against the step (`x`), each with its axis title, with whole-number step
/// ticks (`span`: last step minus first).
fn chart<'a>(
    area: &Area<'a>,
    (x, x_title): (std::ops::Range<f64>, &str),
    (y, y_title): (std::ops::Range<f64>, &str),
    span: usize,
) -> Result<Chart<'a>, DrawFailure> {
    let mut chart = ChartBuilder::on(area)
        .set_label_area_size(LabelAreaPosition::Left, Y_AXIS_AREA)
        .set_label_area_size(LabelAreaPosition::Bottom, X_AXIS_AREA)
        .margin_right(16)
        .build_cartesian_2d(x, y)?;
    let whole = |v: &f64| {
        if (v - v.round()).abs() < 1e-6 {
            format!("{}", v.round())
        } else {
            String::new()
        }
    };
    let tick_size = LABEL;
    chart
        .configure_mesh()
        .x_labels((span + 1).min(12))
        .y_labels(8)
        .x_label_formatter(&whole)
        .max_light_lines(0)
        .bold_line_style(GRID_LINE)
        .light_line_style(TRANSPARENT)
        .axis_style(INK.stroke_width(2))
        .label_style(text::regular(tick_size))
        .y_label_offset((0.21 * tick_size).round() as i32)
        .x_desc(x_title)
        .y_desc(y_title)
        .axis_desc_style(text::regular(AXIS_TITLE))
        .draw()?;
    Ok(chart)
}

fn markers(
    chart: &mut Chart<'_>,
    points: &[(f64, f64)],
    c: [u8; 3],
    filled: bool,
) -> Result<(), DrawFailure> {
    if filled {
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, rgb(c).filled())))?;
    } else {
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, WHITE.filled())))?;
        chart.draw_series(
            points
                .iter()
                .map(|&p| Circle::new(p, 5, rgb(c).stroke_width(2))),
        )?;
    }
    Ok(())
}

fn check(file: &Path, curves: &LearningCurves<'_>) -> Result<(), PlotError> {
    let invalid = |problem: String| Err(PlotError::invalid(file, problem));
    if curves.runs.is_empty() {
        return invalid("there are no runs to draw".into());
    }
    for (k, run) in curves.runs.iter().enumerate() {
        let name = describe("run", k, run.label);
        if run.points.is_empty() {
            return invalid(format!("{name} has no epochs"));
        }
        for (i, p) in run.points.iter().enumerate() {
            if i > 0 && p.epoch <= run.points[i - 1].epoch {
                return invalid(format!(
                    "{name}: epoch {} follows epoch {}; epochs must increase",
                    p.epoch,
                    run.points[i - 1].epoch
                ));
            }
            if !p.loss.is_finite() {
                return invalid(format!(
                    "{name}: the loss at epoch {} is {} (the run diverged; leave it out or \
                     lower its learning rate)",
                    p.epoch, p.loss
                ));
            }
            for (what, a) in [
                ("training", Some(p.train_accuracy)),
                ("validation", p.val_accuracy),
            ] {
                if let Some(a) = a {
                    if !(0.0..=1.0).contains(&a) {
                        return invalid(format!(
                            "{name}: the {what} accuracy at epoch {} is {a}, outside 0..=1",
                            p.epoch
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
