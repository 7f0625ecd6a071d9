//! The run's report: a table for people, `results.json` for scripts.

use serde::{Deserialize, Serialize};

use crate::data::DataInfo;
use crate::train::{CrossValidation, GridPoint};

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

/// Test classes are called imbalanced, and the report shows the balanced accuracy and the
/// per-class table, when the largest class has more than this times the smallest's images.
pub const IMBALANCE_RATIO: f64 = 1.5;

/// Test-set figures per class and the confusion matrix (rows: true class, columns: predicted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    pub class_names: Vec<String>,
    /// Recall of each class: the fraction of its test images predicted as it (0 when absent).
    pub accuracy: Vec<f64>,
    pub confusion: Vec<Vec<usize>>,
    /// Of the test images predicted as each class, the fraction that are (0 when none is).
    #[serde(default)]
    pub precision: Vec<f64>,
    /// Test images of each class.
    #[serde(default)]
    pub count: Vec<usize>,
    /// Mean recall over the classes present in the test split (scikit-learn's
    /// `balanced_accuracy_score`; Brodersen et al., 2010): chance level is 1/C whatever the
    /// class sizes, where plain accuracy rewards always predicting the largest class.
    #[serde(default)]
    pub balanced_accuracy: f64,
    /// Largest over smallest test-class count (classes present); above [`IMBALANCE_RATIO`] the
    /// report shows the balanced accuracy and the per-class table.
    #[serde(default)]
    pub imbalance: f64,
}

impl ClassReport {
    pub fn new(pred: &[usize], truth: &[usize], class_names: &[String]) -> ClassReport {
        let c = class_names.len();
        let mut confusion = vec![vec![0usize; c]; c];
        for (&p, &t) in pred.iter().zip(truth) {
            confusion[t][p] += 1;
        }
        let ratio = |num: usize, den: usize| {
            if den == 0 {
                0.0
            } else {
                num as f64 / den as f64
            }
        };
        let count: Vec<usize> = confusion.iter().map(|row| row.iter().sum()).collect();
        let accuracy: Vec<f64> = (0..c).map(|i| ratio(confusion[i][i], count[i])).collect();
        let precision = (0..c)
            .map(|j| ratio(confusion[j][j], confusion.iter().map(|row| row[j]).sum()))
            .collect();
        let present: Vec<usize> = (0..c).filter(|&i| count[i] > 0).collect();
        let balanced_accuracy = if present.is_empty() {
            0.0
        } else {
            present.iter().map(|&i| accuracy[i]).sum::<f64>() / present.len() as f64
        };
        let largest = present.iter().map(|&i| count[i]).max().unwrap_or(0);
        let smallest = present.iter().map(|&i| count[i]).min().unwrap_or(0);
        ClassReport {
            class_names: class_names.to_vec(),
            accuracy,
            confusion,
            precision,
            count,
            balanced_accuracy,
            imbalance: ratio(largest, smallest),
        }
    }

    /// True images of each class (the confusion matrix's row sums).
    pub fn counts(&self) -> Vec<usize> {
        self.count.clone()
    }

    /// Images counted, and how many of them were predicted correctly (the diagonal).
    pub fn correct_of_total(&self) -> (usize, usize) {
        let correct = (0..self.confusion.len())
            .map(|i| self.confusion[i][i])
            .sum();
        (correct, self.counts().iter().sum())
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

    /// Whether the test classes are imbalanced enough for the report to show the balanced
    /// accuracy and the per-class table.
    pub fn is_imbalanced(&self) -> bool {
        self.imbalance > IMBALANCE_RATIO
    }

    /// The per-class table: precision, recall and count of each class.
    pub fn table(&self) -> String {
        let width = self
            .class_names
            .iter()
            .map(|n| n.len())
            .max()
            .unwrap_or(0)
            .max("class".len());
        let mut out = format!(
            "{:<width$}  {:>9}  {:>6}  {:>6}\n",
            "class", "precision", "recall", "count"
        );
        for (i, name) in self.class_names.iter().enumerate() {
            out.push_str(&format!(
                "{name:<width$}  {:>9.4}  {:>6.4}  {:>6}\n",
                self.precision.get(i).copied().unwrap_or(0.0),
                self.accuracy[i],
                self.count.get(i).copied().unwrap_or(0)
            ));
        }
        out
    }
}

/// The CPU and the instruction-set paths a run took: they decide its speed, and on a CPU
/// with AVX512_VNNI the k-means triangle encoder's product precision (int8), so the same
/// settings give slightly different numbers on another machine.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `model name` of /proc/cpuinfo (`unknown` elsewhere).
    pub cpu: String,
    pub threads: usize,
    /// The GEMM path of the MLP and linear models (`WB_SIMD` forces one).
    pub gemm: &'static str,
    /// The feature extractors' level (`WB_SIMD`).
    pub features_simd: &'static str,
    /// With k-means features only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kmeans: Option<KmeansPath>,
}

/// The k-means encoder's product path.
#[derive(Debug, Clone, Serialize)]
pub struct KmeansPath {
    /// The product kernel (`WB_KMEANS_KERNEL`, capped by `WB_SIMD`).
    pub kernel: &'static str,
    /// `int8` or `f32`: the precision of the triangle encoder's patch · centroid products.
    pub products: &'static str,
}

impl Machine {
    /// This process's machine and paths, for a run on the features `parts`.
    pub fn current(parts: &[FeaturePart]) -> Machine {
        let kmeans = parts.iter().any(|p| p.name == "kmeans");
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string());
        Machine {
            cpu,
            threads: rayon::current_num_threads(),
            gemm: wb_gemm::active().name(),
            features_simd: wb_features::SimdLevel::active().name(),
            kmeans: kmeans.then(|| KmeansPath {
                kernel: wb_features::kmeans::kernel_name(),
                products: if wb_features::kmeans::int8_products() {
                    "int8"
                } else {
                    "f32"
                },
            }),
        }
    }

    /// One line for the run's table.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{}, {} threads; gemm {}, features {}",
            self.cpu, self.threads, self.gemm, self.features_simd
        );
        if let Some(k) = &self.kmeans {
            line.push_str(&format!(", k-means {} ({} products)", k.kernel, k.products));
        }
        line
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub settings: serde_json::Value,
    pub machine: Machine,
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
    /// With cross-validation: the folds and the refit (every fold accuracy of every point is
    /// in `search`). `accuracy.val` is then the chosen point's mean held-out fold accuracy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CrossValidation>,
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
        rows.push(("validation".into(), d.validation.summary()));
        let (chosen_by, val_name) = match &self.cross_validation {
            Some(cv) => (format!("best mean of {} folds", cv.folds), "cv"),
            None => ("best on validation".to_string(), "val"),
        };
        rows.push((
            "chosen".into(),
            format!(
                "lr {} reg {} ({chosen_by} of {})",
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
        if let Some(cv) = &self.cross_validation {
            let folds: Vec<String> = self
                .chosen
                .fold_val_accuracy
                .iter()
                .map(|a| format!("{a:.4}"))
                .collect();
            rows.push(("folds".into(), folds.join(" ")));
            rows.push((
                "refit".into(),
                format!("all training images, {} {}", cv.refit_epochs, cv.refit_unit),
            ));
        }
        let a = &self.accuracy;
        rows.push((
            "accuracy".into(),
            format!(
                "train {:.4}  {val_name} {:.4}  test {:.4}",
                a.train, a.val, a.test
            ),
        ));
        let per_class = &self.per_class;
        if per_class.is_imbalanced() {
            rows.push((
                "balanced acc".into(),
                format!(
                    "test {:.4} (mean per-class recall; test classes {:.1}:1)",
                    per_class.balanced_accuracy, per_class.imbalance
                ),
            ));
        }
        rows.push(("machine".into(), self.machine.summary()));
        let t = &self.timings_s;
        rows.push((
            "time (s)".into(),
            format!(
                "load {:.2}  features {:.2}  train {:.2}  evaluate {:.2}",
                t.load, t.features, t.train, t.evaluate
            ),
        ));
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out: String = rows
            .iter()
            .map(|(k, v)| format!("{k:<width$}  {v}\n"))
            .collect();
        if per_class.is_imbalanced() {
            out.push('\n');
            out.push_str(&per_class.table());
        }
        out
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
        assert!((report.balanced_accuracy - (0.75 + 0.5) / 2.0).abs() < 1e-12);
        let empty = ClassReport::new(&[], &[], &names(2));
        assert_eq!(empty.balanced_accuracy, 0.0);
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
