//! Data losses on a score matrix, shared by the linear classifiers and the MLP.
//!
//! Each takes scores `S` (N x C) and integer labels `y`, returns the mean data loss
//! `L = (1/N) Σ_i L_i` and writes `∂L/∂S` (already divided by N) into `dscores`.
//! No Jacobian is built: the gradient is formed directly per score. With class weights
//! ([`ClassWeight`], [`LossKind::weighted_loss_and_grad`]) the mean is `(1/N) Σ_i w_{y_i} L_i`.

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
        self.weighted_loss_and_grad(scores, labels, None, dscores)
    }

    /// The class-weighted mean data loss `L = (1/N) Σ_i w_{y_i} L_i` (scikit-learn's
    /// `class_weight`: each sample's loss and gradient multiplied by its class's weight; see
    /// [`ClassWeight::weights`]) with `∂L/∂scores` in `dscores`. `None` weighs every sample 1,
    /// exactly [`LossKind::loss_and_grad`]. `class_weights` has one entry per score column.
    pub fn weighted_loss_and_grad<F: Real>(
        self,
        scores: ArrayView2<'_, F>,
        labels: &[usize],
        class_weights: Option<&[f64]>,
        dscores: &mut Array2<F>,
    ) -> F {
        let w = class_weights;
        match self {
            LossKind::Hinge => hinge_weighted(scores, labels, F::one(), w, dscores),
            LossKind::Softmax => softmax_weighted(scores, labels, w, dscores),
            LossKind::Squared => squared_error_weighted(scores, labels, w, dscores),
            LossKind::SquaredHinge => squared_hinge_weighted(scores, labels, F::one(), w, dscores),
            LossKind::OvrSquaredHinge => ovr_squared_hinge_weighted(scores, labels, w, dscores),
        }
    }
}

/// How each training sample's loss is weighted by its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    /// Every sample weighs 1.
    #[default]
    None,
    /// scikit-learn's `class_weight="balanced"`: `w_c = n / (C · n_c)`, so every class
    /// contributes the same total weight to the loss (King & Zeng, 2001).
    Balanced,
}

impl ClassWeight {
    pub const ALL: [ClassWeight; 2] = [ClassWeight::None, ClassWeight::Balanced];

    pub fn name(self) -> &'static str {
        match self {
            ClassWeight::None => "none",
            ClassWeight::Balanced => "balanced",
        }
    }

    /// The weight of each of `n_classes` classes for the training `labels`, or `None` when every
    /// sample weighs 1.
    ///
    /// Balanced: `w_c = n / (C · n_c)` with `n` the number of labels, `n_c` those of class `c`
    /// and `C` the number of classes present (scikit-learn's `compute_class_weight`, which
    /// counts the classes of `y`); the weights average 1 over the samples (`Σ_i w_{y_i} = n`),
    /// so the loss keeps its scale and the learning rates and L2 strengths keep their meaning.
    /// A class without labels gets weight 0 (it has no samples to weigh). Labels must be below
    /// `n_classes`.
    pub fn weights(self, labels: &[usize], n_classes: usize) -> Option<Vec<f64>> {
        match self {
            ClassWeight::None => None,
            ClassWeight::Balanced => {
                let mut counts = vec![0usize; n_classes];
                for &y in labels {
                    if let Some(c) = counts.get_mut(y) {
                        *c += 1;
                    }
                }
                let present = counts.iter().filter(|&&c| c > 0).count().max(1);
                let n = labels.len() as f64;
                Some(
                    counts
                        .iter()
                        .map(|&c| {
                            if c == 0 {
                                0.0
                            } else {
                                n / (present as f64 * c as f64)
                            }
                        })
                        .collect(),
                )
            }
        }
    }
}

impl std::str::FromStr for ClassWeight {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|w| w.name() == norm)
            .ok_or_else(|| format!("unknown class weight `{s}` (valid: none, balanced)"))
    }
}

/// The weight of a sample of class `y` (1 without class weights).
fn row_weight<F: Real>(weights: Option<&[f64]>, y: usize) -> F {
    weights.map_or(F::one(), |w| F::of(w[y]))
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
    hinge_weighted(scores, labels, delta, None, dscores)
}

fn hinge_weighted<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    delta: F,
    weights: Option<&[f64]>,
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
            let w = row_weight::<F>(weights, y);
            let scale = w * inv_n;
            let mut positive = 0usize;
            for (j, (&sj, dj)) in s.iter().zip(d.iter_mut()).enumerate() {
                if j == y {
                    *dj = F::zero();
                    continue;
                }
                let margin = sj - sy + delta;
                if margin > F::zero() {
                    total += w * margin;
                    positive += 1;
                    *dj = scale;
                } else {
                    *dj = F::zero();
                }
            }
            d[y] = -F::of(positive as f64) * scale;
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
    squared_hinge_weighted(scores, labels, delta, None, dscores)
}

fn squared_hinge_weighted<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    delta: F,
    weights: Option<&[f64]>,
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
            let w = row_weight::<F>(weights, y);
            let scale = w * inv_n;
            let mut dy = F::zero();
            for (j, (&sj, dj)) in s.iter().zip(d.iter_mut()).enumerate() {
                let margin = sj - sy + delta;
                if j == y || margin <= F::zero() {
                    *dj = F::zero();
                    continue;
                }
                total += w * margin * margin;
                *dj = two * margin * scale;
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
    ovr_squared_hinge_weighted(scores, labels, None, dscores)
}

fn ovr_squared_hinge_weighted<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    weights: Option<&[f64]>,
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
            let w = row_weight::<F>(weights, y);
            let scale = w * inv_n;
            for (j, (&sj, dj)) in s.iter().zip(d.iter_mut()).enumerate() {
                let t = if j == y { F::one() } else { -F::one() };
                let slack = F::one() - t * sj;
                if slack > F::zero() {
                    total += w * slack * slack;
                    *dj = -two * t * slack * scale;
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
    softmax_weighted(scores, labels, None, dscores)
}

fn softmax_weighted<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    weights: Option<&[f64]>,
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
            let w = row_weight::<F>(weights, y);
            let scale = w * inv_n;
            // log p_y = s_y − max − log Σ e^{s_j − max}
            total += w * (sum.ln() - (s[y] - max));
            let inv_sum = F::one() / sum;
            for dj in d.iter_mut() {
                *dj = *dj * inv_sum * scale;
            }
            d[y] -= scale;
        });
    total * inv_n
}

/// Squared error against one-hot targets, `L_i = ½ Σ_j (s_j − [j = y_i])²`; gradient `s − t`.
pub fn squared_error<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    dscores: &mut Array2<F>,
) -> F {
    squared_error_weighted(scores, labels, None, dscores)
}

fn squared_error_weighted<F: Real>(
    scores: ArrayView2<'_, F>,
    labels: &[usize],
    weights: Option<&[f64]>,
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
            let w = row_weight::<F>(weights, y);
            let scale = w * inv_n;
            for (j, (&sj, dj)) in s.iter().zip(d.iter_mut()).enumerate() {
                let t = if j == y { F::one() } else { F::zero() };
                let r = sj - t;
                total += w * half * r * r;
                *dj = r * scale;
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
