//! Data losses on a score matrix, shared by the linear classifiers and the MLP.
//!
//! Each takes scores `S` (N x C) and integer labels `y`, returns the mean data loss
//! `L = (1/N) Σ_i L_i` and writes `∂L/∂S` (already divided by N) into `dscores`.
//! No Jacobian is built: the gradient is formed directly per score.

use ndarray::{Array2, ArrayView2, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::Real;

/// Which data loss to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Multiclass SVM (Weston–Watkins, CS231n): `L_i = Σ_{j≠y_i} max(0, s_j − s_{y_i} + Δ)`, Δ = 1.
    Hinge,
    /// Softmax cross-entropy: `L_i = −log(e^{s_{y_i}} / Σ_j e^{s_j})`.
    Softmax,
    /// Squared error against one-hot targets: `L_i = ½ Σ_j (s_j − [j = y_i])²`.
    Squared,
    /// Multiclass squared hinge ("L2-SVM", CS231n's variant of the SVM loss):
    /// `L_i = Σ_{j≠y_i} max(0, s_j − s_{y_i} + Δ)²`. Differentiable, so it suits L-BFGS.
    SquaredHinge,
    /// One-vs-rest squared hinge, the L2-SVM of Coates, Lee & Ng (2011): each class is its own
    /// binary SVM with targets `t_j = +1` for `j = y_i` and `−1` otherwise,
    /// `L_i = Σ_j max(0, 1 − t_j s_j)²`.
    OvrSquaredHinge,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Hinge => "svm",
            LossKind::Softmax => "softmax",
            LossKind::Squared => "squared",
            LossKind::SquaredHinge => "squared-hinge",
            LossKind::OvrSquaredHinge => "ovr-squared-hinge",
        }
    }

    /// Parses a loss name as written on the command line (`svm` and `hinge` are the same loss).
    pub fn parse(name: &str) -> Option<LossKind> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "svm" | "hinge" => LossKind::Hinge,
            "softmax" => LossKind::Softmax,
            "squared" => LossKind::Squared,
            "squared-hinge" | "l2-svm" => LossKind::SquaredHinge,
            "ovr-squared-hinge" => LossKind::OvrSquaredHinge,
            _ => return None,
        })
    }

    /// Whether this is one of the SVM (margin) losses.
    pub fn is_svm(self) -> bool {
        matches!(
            self,
            LossKind::Hinge | LossKind::SquaredHinge | LossKind::OvrSquaredHinge
        )
    }

    /// Mean data loss of `scores` against `labels`; writes `∂L/∂scores` into `dscores`.
    pub fn loss_and_grad<F: Real>(
        self,
        scores: ArrayView2<'_, F>,
        labels: &[usize],
        dscores: &mut Array2<F>,
    ) -> F {
        match self {
            LossKind::Hinge => hinge(scores, labels, F::one(), dscores),
            LossKind::Softmax => softmax_cross_entropy(scores, labels, dscores),
            LossKind::Squared => squared_error(scores, labels, dscores),
            LossKind::SquaredHinge => squared_hinge(scores, labels, F::one(), dscores),
            LossKind::OvrSquaredHinge => ovr_squared_hinge(scores, labels, dscores),
        }
    }
}

/// The margin Δ of the multiclass hinge loss (CS231n: Δ = 1; its scale is absorbed by λ).
pub const HINGE_DELTA: f64 = 1.0;

fn check_shapes<F>(scores: &ArrayView2<'_, F>, labels: &[usize], dscores: &mut Array2<F>)
where
    F: Real,
{
    assert_eq!(scores.nrows(), labels.len(), "one label per score row");
    if dscores.dim() != scores.dim() {
        *dscores = Array2::zeros(scores.dim());
    }
}

/// Multiclass hinge loss `L_i = Σ_{j≠y_i} max(0, s_j − s_{y_i} + Δ)`.
/// Gradient: `∂L_i/∂s_j = 1[margin_j > 0]` for j ≠ y_i, `∂L_i/∂s_{y_i} = −Σ_j 1[margin_j > 0]`.
pub fn hinge<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    delta: F,
    dscores: &mut Array2<F>,
) -> F {
    check_shapes(&scores, labels, dscores);
    let n = F::of(scores.nrows().max(1) as f64);
    let inv_n = F::one() / n;
    let mut total = F::zero();
    Zip::from(scores.rows())
        .and(dscores.rows_mut())
        .and(labels)
        .for_each(|s, mut d, &y| {
            let sy = s[y];
            let mut positive = 0usize;
            for (j, (&sj, dj)) in s.iter().zip(d.iter_mut()).enumerate() {
                if j == y {
                    *dj = F::zero();
                    continue;
                }
                let margin = sj - sy + delta;
                if margin > F::zero() {
                    total += margin;
                    positive += 1;
                    *dj = inv_n;
                } else {
                    *dj = F::zero();
                }
            }
            d[y] = -F::of(positive as f64) * inv_n;
        });
    total * inv_n
}

/// Multiclass squared hinge `L_i = Σ_{j≠y_i} max(0, m_j)²` with `m_j = s_j − s_{y_i} + Δ`.
/// Gradient: `∂L_i/∂s_j = 2 max(0, m_j)` for j ≠ y_i, `∂L_i/∂s_{y_i} = −Σ_j 2 max(0, m_j)`.
pub fn squared_hinge<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    delta: F,
    dscores: &mut Array2<F>,
) -> F {
    check_shapes(&scores, labels, dscores);
    let inv_n = F::one() / F::of(scores.nrows().max(1) as f64);
    let two = F::of(2.0);
    let mut total = F::zero();
    Zip::from(scores.rows())
        .and(dscores.rows_mut())
        .and(labels)
        .for_each(|s, mut d, &y| {
            let sy = s[y];
            let mut dy = F::zero();
            for (j, (&sj, dj)) in s.iter().zip(d.iter_mut()).enumerate() {
                let margin = sj - sy + delta;
                if j == y || margin <= F::zero() {
                    *dj = F::zero();
                    continue;
                }
                total += margin * margin;
                *dj = two * margin * inv_n;
                dy -= *dj;
            }
            d[y] = dy;
        });
    total * inv_n
}

/// One-vs-rest squared hinge `L_i = Σ_j max(0, 1 − t_j s_j)²`, `t_j = ±1`.
/// Gradient: `∂L_i/∂s_j = −2 t_j max(0, 1 − t_j s_j)`.
pub fn ovr_squared_hinge<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    dscores: &mut Array2<F>,
) -> F {
    check_shapes(&scores, labels, dscores);
    let inv_n = F::one() / F::of(scores.nrows().max(1) as f64);
    let two = F::of(2.0);
    let mut total = F::zero();
    Zip::from(scores.rows())
        .and(dscores.rows_mut())
        .and(labels)
        .for_each(|s, mut d, &y| {
            for (j, (&sj, dj)) in s.iter().zip(d.iter_mut()).enumerate() {
                let t = if j == y { F::one() } else { -F::one() };
                let slack = F::one() - t * sj;
                if slack > F::zero() {
                    total += slack * slack;
                    *dj = -two * t * slack * inv_n;
                } else {
                    *dj = F::zero();
                }
            }
        });
    total * inv_n
}

/// Softmax cross-entropy, computed with the max-shift for stability.
/// Gradient: `∂L_i/∂s_j = p_j − [j = y_i]`.
pub fn softmax_cross_entropy<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    dscores: &mut Array2<F>,
) -> F {
    check_shapes(&scores, labels, dscores);
    let n = F::of(scores.nrows().max(1) as f64);
    let inv_n = F::one() / n;
    let mut total = F::zero();
    Zip::from(scores.rows())
        .and(dscores.rows_mut())
        .and(labels)
        .for_each(|s, mut d, &y| {
            let max = s.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
            let mut sum = F::zero();
            for (&sj, dj) in s.iter().zip(d.iter_mut()) {
                let e = (sj - max).exp();
                *dj = e;
                sum += e;
            }
            // log p_y = s_y − max − log Σ e^{s_j − max}
            total += sum.ln() - (s[y] - max);
            let inv_sum = F::one() / sum;
            for dj in d.iter_mut() {
                *dj = *dj * inv_sum * inv_n;
            }
            d[y] -= inv_n;
        });
    total * inv_n
}

/// Squared error against one-hot targets, `L_i = ½ Σ_j (s_j − [j = y_i])²`; gradient `s − t`.
pub fn squared_error<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    dscores: &mut Array2<F>,
) -> F {
    check_shapes(&scores, labels, dscores);
    let n = F::of(scores.nrows().max(1) as f64);
    let inv_n = F::one() / n;
    let half = F::of(0.5);
    let mut total = F::zero();
    Zip::from(scores.rows())
        .and(dscores.rows_mut())
        .and(labels)
        .for_each(|s, mut d, &y| {
            for (j, (&sj, dj)) in s.iter().zip(d.iter_mut()).enumerate() {
                let t = if j == y { F::one() } else { F::zero() };
                let r = sj - t;
                total += half * r * r;
                *dj = r * inv_n;
            }
        });
    total * inv_n
}

/// Row-wise softmax probabilities (for reporting class probabilities).
pub fn softmax_rows<F: Real>(scores: ArrayView2<'_, F>) -> Array2<F> {
    let mut p = scores.to_owned();
    for mut row in p.axis_iter_mut(Axis(0)) {
        let max = row.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
        let mut sum = F::zero();
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v = *v / sum;
        }
    }
    p
}
