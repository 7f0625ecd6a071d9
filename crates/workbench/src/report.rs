//! The run's report: a table for people, `results.json` for scripts.

use serde::{Deserialize, Serialize};

use crate::data::DataInfo;
use crate::train::GridPoint;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub train: f64,
    pub val: f64,
    pub test: f64,
}

/// Seconds per stage. Scripts depend on these keys.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    pub load: f64,
    pub features: f64,
    pub train: f64,
    pub evaluate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturePart {
    pub name: String,
    pub dim: usize,
    pub normalization: String,
}

/// Test-set accuracy per class and the confusion matrix (rows: true class, columns: predicted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    pub class_names: Vec<String>,
    pub accuracy: Vec<f64>,
    pub confusion: Vec<Vec<usize>>,
}

impl ClassReport {
    pub fn new(pred: &[usize], truth: &[usize], class_names: &[String]) -> ClassReport {
        let c = class_names.len();
        let mut confusion = vec![vec![0usize; c]; c];
        for (&p, &t) in pred.iter().zip(truth) {
            confusion[t][p] += 1;
        }
        let accuracy = confusion
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: usize = row.iter().sum();
                if n == 0 {
                    0.0
                } else {
                    row[i] as f64 / n as f64
                }
            })
            .collect();
        ClassReport {
            class_names: class_names.to_vec(),
            accuracy,
            confusion,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub settings: serde_json::Value,
    pub data: DataInfo,
    pub features: Vec<FeaturePart>,
    pub model: String,
    pub chosen: GridPoint,
    pub search: Vec<GridPoint>,
    /// The chosen model's per-epoch history.
    pub history: serde_json::Value,
    pub accuracy: Accuracy,
    pub timings_s: Timings,
    pub per_class: ClassReport,
}

impl RunReport {
    /// The short table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let d = &self.data;
        rows.push((
            "dataset".into(),
            format!(
                "{} ({}x{}x{}, {} classes)",
                d.dataset, d.image_shape[0], d.image_shape[1], d.image_shape[2], d.n_classes
            ),
        ));
        rows.push((
            "splits".into(),
            format!(
                "train {}{} / val {} / test {}",
                d.train,
                d.augment_note(),
                d.val,
                d.test
            ),
        ));
        let dims: Vec<String> = self
            .features
            .iter()
            .map(|p| format!("{} {}", p.name, p.dim))
            .collect();
        let total: usize = self.features.iter().map(|p| p.dim).sum();
        rows.push((
            "features".into(),
            format!("{} = {total} dims", dims.join(" + ")),
        ));
        rows.push(("model".into(), self.model.clone()));
        rows.push((
            "chosen".into(),
            format!(
                "lr {} reg {} (best of {} on validation)",
                show_lr(self.chosen.lr),
                self.chosen.reg,
                self.search.len()
            ),
        ));
        let diverged: Vec<String> = self
            .search
            .iter()
            .filter_map(|p| {
                let d = p.diverged.as_ref()?;
                Some(format!(
                    "lr {} reg {} (epoch {}, loss {})",
                    show_lr(p.lr),
                    p.reg,
                    d.epoch,
                    d.loss
                ))
            })
            .collect();
        if !diverged.is_empty() {
            rows.push((
                "diverged".into(),
                format!(
                    "{} of {} points, skipped: {}",
                    diverged.len(),
                    self.search.len(),
                    diverged.join("; ")
                ),
            ));
        }
        let a = &self.accuracy;
        rows.push((
            "accuracy".into(),
            format!("train {:.4}  val {:.4}  test {:.4}", a.train, a.val, a.test),
        ));
        let t = &self.timings_s;
        rows.push((
            "time (s)".into(),
            format!(
                "load {:.2}  features {:.2}  train {:.2}  evaluate {:.2}",
                t.load, t.features, t.train, t.evaluate
            ),
        ));
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<width$}  {v}\n"))
            .collect()
    }
}

/// A learning rate for a CSV field: empty for solvers that have none (L-BFGS, recorded as 0).
pub fn lr_field(lr: f64) -> String {
    if lr == 0.0 {
        String::new()
    } else {
        lr.to_string()
    }
}

/// A learning rate for a table: `-` for solvers that have none (L-BFGS, recorded as 0).
pub fn show_lr(lr: f64) -> String {
    if lr == 0.0 {
        "-".into()
    } else {
        lr.to_string()
    }
}
