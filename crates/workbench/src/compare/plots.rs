//! The grid's pictures, drawn by `wb_plot`: test accuracy by model, MLP learning curves, the
//! best cell's confusion matrix, and what a model trained on raw pixels learned.

use std::path::Path;

use anyhow::Result;

use crate::report::ClassReport;
use crate::train::CurvePoint;

/// Test accuracy per feature set (bar colour) and model (group); `accuracy[feature_set][model]`.
pub fn accuracy_bars(
    path: &Path,
    title: &str,
    feature_sets: &[String],
    models: &[String],
    accuracy: &[Vec<Option<f64>>],
) -> Result<()> {
    Ok(wb_plot::accuracy_bars(
        path,
        &wb_plot::GroupedBars {
            title,
            groups: models,
            series: feature_sets,
            values: accuracy,
            group_axis: "model",
            value_axis: "test accuracy",
        },
    )?)
}

/// Loss and training / validation accuracy per epoch (or per L-BFGS iteration) of one model.
pub fn learning_curve(path: &Path, title: &str, label: &str, curve: &[CurvePoint]) -> Result<()> {
    let points: Vec<wb_plot::EpochPoint> = curve
        .iter()
        .map(|p| wb_plot::EpochPoint {
            epoch: p.epoch,
            loss: p.loss,
            train_accuracy: p.train_accuracy,
            val_accuracy: p.val_accuracy,
        })
        .collect();
    Ok(wb_plot::learning_curves(
        path,
        &wb_plot::LearningCurves {
            title,
            runs: &[wb_plot::CurveRun {
                label,
                points: &points,
            }],
            step_axis: "epoch",
        },
    )?)
}

/// The test confusion matrix with class names.
pub fn confusion(path: &Path, title: &str, report: &ClassReport) -> Result<()> {
    Ok(wb_plot::confusion_matrix(
        path,
        &wb_plot::ConfusionMatrix {
            title,
            class_names: &report.class_names,
            counts: &report.confusion,
        },
    )?)
}

/// Weight vectors over raw pixels drawn as images, `columns` per row, captioned with `labels`
/// (if any).
///
/// Each template is the weight row multiplied by the scaler's `inv_std` (the weights act on
/// standardised/centred features, so `w_j · inv_std_j` is what multiplies pixel `j`), then
/// min-max normalised on its own, as in CS231n's notebooks: only the pattern is shown, not the
/// magnitude. `shape` is `[height, width, channels]` (pixels in H x W x C order).
pub fn templates(
    path: &Path,
    title: &str,
    weights: &[Vec<f32>],
    inv_std: &[f32],
    shape: [usize; 3],
    labels: Option<&[String]>,
    columns: usize,
) -> Result<()> {
    let [height, width, channels] = shape;
    let pixels: Vec<Vec<f32>> = weights
        .iter()
        .map(|w| w.iter().zip(inv_std).map(|(&w, &s)| w * s).collect())
        .collect();
    let tiles: Vec<wb_plot::Tile<'_>> = pixels
        .iter()
        .enumerate()
        .map(|(k, values)| wb_plot::Tile {
            values,
            height,
            width,
            channels,
            caption: labels.and_then(|l| l.get(k)).map_or("", String::as_str),
        })
        .collect();
    Ok(wb_plot::image_grid(
        path,
        &wb_plot::ImageGrid {
            title,
            tiles: &tiles,
            columns: columns.max(1),
            scaling: wb_plot::Scaling::MinMax,
            row_labels: &[],
            column_labels: &[],
        },
    )?)
}
