//! Numerical gradient check of a model's backward pass, in `f64`.
//!
//! For the MLP this runs [`wb_mlp::gradcheck()`] (every tensor and `∂J/∂x`) with its chosen
//! loss. For the linear classifiers it checks [`wb_linear::loss_and_gradients`] for every loss
//! `run` can train that model with ([`linear_losses`]: the SVM's one-vs-rest squared hinge,
//! multiclass squared hinge and hinge; softmax), one row per loss: centred differences
//! `(J(θ+h) − J(θ−h)) / 2h` against the analytic gradient, relative error
//! `|a − n| / max(|a|, |n|, floor)` (CS231n "Gradient checks"), skipping steps that cross a
//! margin's kink (the set of active margins changes): there the hinge has no derivative and the
//! squared hinge no second derivative, so a centred difference is off by O(h).

use anyhow::{bail, Result};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use wb_linear::LossKind;
use wb_mlp::gradcheck::{FLOOR, STEP};
use wb_mlp::TensorCheck;

use crate::train::ModelKind;

/// A tensor passes when its largest relative error is below this (CS231n: < 1e-7 is fine in
/// double precision; kinks and O(h²) truncation can bring it up towards 1e-7).
pub const TOLERANCE: f64 = 1e-6;

/// What to check.
#[derive(Debug, Clone)]
pub struct GradcheckParams {
    pub model: ModelKind,
    /// The MLP's architecture and loss (`model` = mlp); its `reg` is the checked λ.
    pub mlp: wb_mlp::MlpParams,
    /// L2 strength λ included in the checked objective.
    pub reg: f64,
    /// Random examples in the batch.
    pub samples: usize,
    pub input_dim: usize,
    pub classes: usize,
    /// Seed for the weights, inputs and labels.
    pub seed: u64,
}

/// The MLP of a check: small enough to check every element in well under a second.
pub fn default_mlp(seed: u64, reg: f64) -> wb_mlp::MlpParams {
    wb_mlp::MlpParams {
        seed,
        reg,
        hidden: vec![20, 10],
        ..wb_mlp::MlpParams::default()
    }
}

/// What a check found: a title describing the model, and its rows (one per tensor of the MLP,
/// one per loss of a linear model).
#[derive(Debug, Clone)]
pub struct Gradcheck {
    pub title: String,
    /// What a row is: `tensor` or `loss`.
    pub row_kind: &'static str,
    pub rows: Vec<TensorCheck>,
}

impl Gradcheck {
    /// What the rows are, in the plural (`tensors`, `losses`).
    pub fn rows_name(&self) -> &'static str {
        match self.row_kind {
            "loss" => "losses",
            _ => "tensors",
        }
    }

    /// The closing line when every row passes; otherwise an error naming the rows that failed.
    pub fn verdict(&self) -> anyhow::Result<String> {
        let failed: Vec<&str> = self
            .rows
            .iter()
            .filter(|c| !passes(c))
            .map(|c| c.name.as_str())
            .collect();
        if !failed.is_empty() {
            anyhow::bail!(
                "gradient check failed for {} (max relative error above {TOLERANCE:e}, or no \
                 element could be checked)",
                failed.join(", ")
            );
        }
        Ok(format!(
            "all {} {} PASS (tolerance {TOLERANCE:e})",
            self.rows.len(),
            self.rows_name()
        ))
    }
}

/// The losses `run` can train a linear model with, its default first.
pub fn linear_losses(model: ModelKind) -> &'static [LossKind] {
    match model {
        ModelKind::Svm => &[
            LossKind::OvrSquaredHinge,
            LossKind::SquaredHinge,
            LossKind::Hinge,
        ],
        ModelKind::Softmax | ModelKind::Mlp => &[LossKind::Softmax],
    }
}

/// Checks every tensor of the MLP, or every loss of a linear model.
pub fn gradcheck(args: &GradcheckParams) -> Result<Gradcheck> {
    Ok(match args.model {
        ModelKind::Mlp => {
            let base = &args.mlp;
            let rows =
                wb_mlp::gradcheck(base, args.input_dim, args.classes, args.samples, args.seed)?;
            let hidden: Vec<String> = base.hidden.iter().map(|h| h.to_string()).collect();
            Gradcheck {
                title: format!(
                    "mlp: hidden [{}], {}{}, loss {}, dropout {}, reg {}",
                    hidden.join(","),
                    base.activation,
                    if base.batch_norm { ", batch norm" } else { "" },
                    base.loss.name(),
                    base.dropout,
                    base.reg
                ),
                row_kind: "tensor",
                rows,
            }
        }
        ModelKind::Svm | ModelKind::Softmax => {
            let losses = linear_losses(args.model);
            let mut rows = Vec::new();
            for &loss in losses {
                // One row per loss: its weights and biases together.
                let tensors = check_linear(loss, args)?;
                // `svm` is the hinge's name as an MLP loss; among the SVM's losses, `hinge`.
                let name = match loss {
                    LossKind::Hinge => "hinge",
                    other => other.name(),
                };
                rows.push(TensorCheck {
                    name: name.into(),
                    elements: tensors.iter().map(|t| t.elements).sum(),
                    checked: tensors.iter().map(|t| t.checked).sum(),
                    kinks_skipped: tensors.iter().map(|t| t.kinks_skipped).sum(),
                    max_rel_error: tensors.iter().map(|t| t.max_rel_error).fold(0.0, f64::max),
                });
            }
            let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
            Gradcheck {
                title: format!(
                    "{} (linear), every loss `run` trains it with ({}), weights and biases, reg {}",
                    args.model.name(),
                    names.join(", "),
                    args.reg
                ),
                row_kind: "loss",
                rows,
            }
        }
    })
}

/// A tensor passes when at least one element was compared and the worst error is in tolerance.
pub fn passes(c: &TensorCheck) -> bool {
    c.checked > 0 && c.max_rel_error <= TOLERANCE
}

/// The checks as a text table, one row per tensor or loss.
pub fn table(check: &Gradcheck) -> String {
    let width = check
        .rows
        .iter()
        .map(|c| c.name.len())
        .chain([check.row_kind.len()])
        .max()
        .unwrap_or(6);
    let mut out = format!(
        "{:<width$}  {:>8}  {:>8}  {:>13}  {:>13}  result\n",
        check.row_kind, "elements", "checked", "kinks skipped", "max rel error"
    );
    for c in &check.rows {
        out += &format!(
            "{:<width$}  {:>8}  {:>8}  {:>13}  {:>13.3e}  {}\n",
            c.name,
            c.elements,
            c.checked,
            c.kinks_skipped,
            c.max_rel_error,
            if passes(c) { "PASS" } else { "FAIL" }
        );
    }
    out
}

/// Checks `∂J/∂W` and `∂J/∂b` of a linear classifier with random weights, inputs and labels.
fn check_linear(loss: LossKind, args: &GradcheckParams) -> Result<Vec<TensorCheck>> {
    let (n, d, c) = (args.samples, args.input_dim, args.classes);
    if n == 0 || d == 0 || c < 2 {
        bail!(
            "gradcheck needs --samples ≥ 1, --input-dim ≥ 1 and --classes ≥ 2 (got {n}, {d}, {c})"
        );
    }
    if d * c > 200_000 {
        bail!(
            "--input-dim x --classes = {} parameters is too many to check numerically (max 200000)",
            d * c
        );
    }
    if !(args.reg.is_finite() && args.reg >= 0.0) {
        bail!(
            "--reg must be a non-negative finite number, got {}",
            args.reg
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut normal = |scale: f64| {
        let z: f64 = StandardNormal.sample(&mut rng);
        scale * z
    };
    let x = Array2::from_shape_fn((n, d), |_| normal(1.0));
    // Scores of order 1 keep the softmax away from saturation and margins on both sides of 0.
    let mut w = Array2::from_shape_fn((d, c), |_| normal(0.3));
    let mut b = Array1::from_shape_fn(c, |_| normal(0.1));
    let y: Vec<usize> = (0..n).map(|_| rng.gen_range(0..c)).collect();
    let reg = args.reg;

    let objective = |w: &Array2<f64>, b: &Array1<f64>| {
        let (j, _, _) = wb_linear::loss_and_gradients(loss, w.view(), b.view(), x.view(), &y, reg);
        (j, active_margins(loss, w, b, &x, &y))
    };
    let (_, dw, db) = wb_linear::loss_and_gradients(loss, w.view(), b.view(), x.view(), &y, reg);
    let (_, base) = objective(&w, &b);

    let mut checks = Vec::new();
    for tensor in ["weight", "bias"] {
        let analytic: Vec<f64> = if tensor == "weight" {
            dw.iter().copied().collect()
        } else {
            db.to_vec()
        };
        let mut check = TensorCheck {
            name: tensor.into(),
            elements: analytic.len(),
            checked: 0,
            kinks_skipped: 0,
            max_rel_error: 0.0,
        };
        for (e, &a) in analytic.iter().enumerate() {
            let mut eval = |delta: f64| {
                let slot = if tensor == "weight" {
                    &mut w.as_slice_mut().expect("standard layout")[e]
                } else {
                    &mut b[e]
                };
                let orig = *slot;
                *slot = orig + delta;
                let r = objective(&w, &b);
                let slot = if tensor == "weight" {
                    &mut w.as_slice_mut().expect("standard layout")[e]
                } else {
                    &mut b[e]
                };
                *slot = orig;
                r
            };
            let (plus, sig_plus) = eval(STEP);
            let (minus, sig_minus) = eval(-STEP);
            if sig_plus != base || sig_minus != base {
                check.kinks_skipped += 1;
                continue;
            }
            let numeric = (plus - minus) / (2.0 * STEP);
            check.checked += 1;
            let err = (a - numeric).abs() / a.abs().max(numeric.abs()).max(FLOOR);
            check.max_rel_error = check.max_rel_error.max(err);
        }
        checks.push(check);
    }
    Ok(checks)
}

/// Which margins are active (empty for softmax): a step that changes this set crosses a kink.
/// Multiclass hinges: `s_j − s_y + Δ > 0` for `j ≠ y`; one-vs-rest: `1 − t_j s_j > 0`.
fn active_margins(
    loss: LossKind,
    w: &Array2<f64>,
    b: &Array1<f64>,
    x: &Array2<f64>,
    y: &[usize],
) -> Vec<bool> {
    if !loss.is_svm() {
        return Vec::new();
    }
    let scores = x.dot(w) + b;
    scores
        .rows()
        .into_iter()
        .zip(y)
        .flat_map(|(row, &label)| {
            let correct = row[label];
            row.iter()
                .enumerate()
                .map(|(j, &s)| match loss {
                    LossKind::OvrSquaredHinge => {
                        let t = if j == label { 1.0 } else { -1.0 };
                        1.0 - t * s > 0.0
                    }
                    _ => j != label && s - correct + wb_linear::loss::HINGE_DELTA > 0.0,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svm_check_covers_every_loss_run_trains_and_passes() {
        let params = GradcheckParams {
            model: ModelKind::Svm,
            mlp: default_mlp(0, 0.01),
            reg: 0.01,
            samples: 8,
            input_dim: 15,
            classes: 5,
            seed: 0,
        };
        let check = gradcheck(&params).unwrap();
        let names: Vec<&str> = check.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ovr-squared-hinge", "squared-hinge", "hinge"]);
        // `run`'s default SVM loss is among them (first).
        assert_eq!(
            crate::train::LinearMethod::default_for(ModelKind::Svm).loss,
            LossKind::OvrSquaredHinge
        );
        for row in &check.rows {
            assert_eq!(row.elements, 15 * 5 + 5, "{}", row.name);
            assert!(row.checked > row.elements / 2, "{row:?}");
            assert!(passes(row), "{row:?}");
        }
        let table = table(&check);
        assert_eq!(table.lines().count(), 4, "{table}");
        assert!(table.starts_with("loss "), "{table}");

        let softmax = gradcheck(&GradcheckParams {
            model: ModelKind::Softmax,
            ..params
        })
        .unwrap();
        assert_eq!(softmax.rows.len(), 1);
        assert_eq!(softmax.rows[0].name, "softmax");
        assert_eq!(softmax.rows[0].kinks_skipped, 0);
        assert!(passes(&softmax.rows[0]));
    }
}
