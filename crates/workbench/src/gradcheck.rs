//! Numerical gradient check of a model's backward pass, in `f64`.
//!
//! For the MLP this runs [`wb_mlp::gradcheck()`] (every tensor and `∂J/∂x`). For the linear
//! classifiers it checks [`wb_linear::loss_and_gradients`] the same way: centred differences
//! `(J(θ+h) − J(θ−h)) / 2h` against the analytic gradient, relative error
//! `|a − n| / max(|a|, |n|, floor)` (CS231n "Gradient checks"), skipping steps that cross a hinge
//! kink (the set of active margins changes) because there the derivative does not exist.

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

/// Checks every tensor; returns a title describing the model and one row per tensor.
pub fn gradcheck(args: &GradcheckParams) -> Result<(String, Vec<TensorCheck>)> {
    Ok(match args.model {
        ModelKind::Mlp => {
            let base = &args.mlp;
            let checks =
                wb_mlp::gradcheck(base, args.input_dim, args.classes, args.samples, args.seed)?;
            let hidden: Vec<String> = base.hidden.iter().map(|h| h.to_string()).collect();
            (
                format!(
                    "mlp: hidden [{}], {}, loss {}, dropout {}, reg {}",
                    hidden.join(","),
                    base.activation,
                    base.loss.name(),
                    base.dropout,
                    base.reg
                ),
                checks,
            )
        }
        ModelKind::Svm | ModelKind::Softmax => {
            let loss = if args.model == ModelKind::Svm {
                LossKind::Hinge
            } else {
                LossKind::Softmax
            };
            let checks = check_linear(loss, args)?;
            (
                format!("{} (linear), reg {}", args.model.name(), args.reg),
                checks,
            )
        }
    })
}

/// A tensor passes when at least one element was compared and the worst error is in tolerance.
pub fn passes(c: &TensorCheck) -> bool {
    c.checked > 0 && c.max_rel_error <= TOLERANCE
}

/// The checks as a text table, one row per tensor.
pub fn table(checks: &[TensorCheck]) -> String {
    let width = checks
        .iter()
        .map(|c| c.name.len())
        .chain(["tensor".len()])
        .max()
        .unwrap_or(6);
    let mut out = format!(
        "{:<width$}  {:>8}  {:>8}  {:>13}  {:>13}  result\n",
        "tensor", "elements", "checked", "kinks skipped", "max rel error"
    );
    for c in checks {
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

/// Which hinge margins are positive (empty for smooth losses): a step that changes this set
/// crosses a kink.
fn active_margins(
    loss: LossKind,
    w: &Array2<f64>,
    b: &Array1<f64>,
    x: &Array2<f64>,
    y: &[usize],
) -> Vec<bool> {
    if loss != LossKind::Hinge {
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
                .map(|(j, &s)| j != label && s - correct + wb_linear::loss::HINGE_DELTA > 0.0)
                .collect::<Vec<_>>()
        })
        .collect()
}
