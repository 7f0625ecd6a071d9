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

    /// True images of each class (the confusion matrix's row sums).
    pub fn counts(&self) -> Vec<usize> {
        self.confusion.iter().map(|row| row.iter().sum()).collect()
    }

    /// Images counted, and how many of them were predicted correctly (the diagonal).
    pub fn correct_of_total(&self) -> (usize, usize) {
        let correct = (0..self.confusion.len())
            .map(|i| self.confusion[i][i])
            .sum();
        (correct, self.counts().iter().sum())
    }

    /// Balanced accuracy: the mean recall over the classes that have at least one true image,
    /// `(1/|K|) Σ_{c∈K} M_cc / Σ_j M_cj` (Brodersen et al., "The balanced accuracy and its
    /// posterior distribution", ICPR 2010; scikit-learn's `balanced_accuracy_score`). Equal to
    /// the accuracy when every class has the same count; 0 when no image was counted.
    pub fn balanced_accuracy(&self) -> f64 {
        let recalls: Vec<f64> = self
            .counts()
            .iter()
            .zip(&self.accuracy)
            .filter(|(&n, _)| n > 0)
            .map(|(_, &recall)| recall)
            .collect();
        if recalls.is_empty() {
            0.0
        } else {
            recalls.iter().sum::<f64>() / recalls.len() as f64
        }
    }

    /// The confusion matrix as a text table: one row per true class, one column per predicted
    /// class (both by name), then the row's image count and recall (`-` without images).
    pub fn confusion_table(&self) -> String {
        let names = &self.class_names;
        let counts = self.counts();
        let widest_count = self
            .confusion
            .iter()
            .flatten()
            .chain(&counts)
            .max()
            .map_or(1, |n| n.to_string().len());
        let name_width = names.iter().map(|n| n.len()).max().unwrap_or(0).max(10);
        let cell = |name: &str| name.len().max(widest_count);
        let mut out = format!("{:<name_width$}", "true \\ pred");
        for name in names {
            out += &format!("  {name:>w$}", w = cell(name));
        }
        out += &format!("  {:>w$}  recall\n", "images", w = widest_count.max(6));
        for (i, row) in self.confusion.iter().enumerate() {
            out += &format!("{:<name_width$}", names[i]);
            for (j, n) in row.iter().enumerate() {
                out += &format!("  {n:>w$}", w = cell(&names[j]));
            }
            let recall = if counts[i] > 0 {
                format!("{:.4}", self.accuracy[i])
            } else {
                "-".into()
            };
            out += &format!("  {:>w$}  {recall}\n", counts[i], w = widest_count.max(6));
        }
        out
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

#[cfg(test)]
mod tests {
    use super::ClassReport;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("class{i}")).collect()
    }

    #[test]
    fn balanced_accuracy_averages_the_recall_of_present_classes() {
        // Class 0: 3 of 4 right; class 1: 1 of 2; class 2: no true images (predicted once).
        let truth = [0, 0, 0, 0, 1, 1];
        let pred = [0, 0, 0, 2, 1, 0];
        let report = ClassReport::new(&pred, &truth, &names(3));
        assert_eq!(report.counts(), vec![4, 2, 0]);
        assert_eq!(report.correct_of_total(), (4, 6));
        assert!((report.balanced_accuracy() - (0.75 + 0.5) / 2.0).abs() < 1e-12);
        let empty = ClassReport::new(&[], &[], &names(2));
        assert_eq!(empty.balanced_accuracy(), 0.0);
    }

    #[test]
    fn confusion_table_names_rows_and_columns() {
        let report = ClassReport::new(&[0, 1, 1], &[0, 0, 1], &names(2));
        let rows: Vec<Vec<String>> = report
            .confusion_table()
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect();
        assert_eq!(
            rows[0],
            ["true", "\\", "pred", "class0", "class1", "images", "recall"]
        );
        assert_eq!(rows[1], ["class0", "1", "1", "2", "0.5000"]);
        assert_eq!(rows[2], ["class1", "0", "1", "1", "1.0000"]);
    }
}
