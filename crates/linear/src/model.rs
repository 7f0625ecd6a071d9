//! Linear classifiers `s = x·W + b`, trained by mini-batch SGD with momentum.
//!
//! Objective (CS231n, "Linear classification"): `L = (1/N) Σ_i L_i(s_i, y_i) + λ Σ W²`
//! with the multiclass hinge (SVM) or softmax data loss from [`crate::loss`]. The bias is not
//! regularised.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr_free::normal;
use serde::{Deserialize, Serialize};

use crate::{LinearError, LossKind, Real};

/// Hyper-parameters of a linear classifier; validated once by [`LinearParams::check`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearParams {
    /// `Hinge` (multiclass SVM) or `Softmax`.
    pub loss: LossKind,
    /// Initial SGD step size.
    pub learning_rate: f64,
    /// L2 strength λ in `λ Σ W²`.
    pub reg: f64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Momentum μ (0 = plain SGD): `v ← μ v − lr ∇`, `W ← W + v`.
    pub momentum: f64,
    /// Learning rate multiplier applied after every epoch.
    pub lr_decay: f64,
    pub seed: u64,
}

impl LinearParams {
    /// Defaults for the given loss (chosen on CIFAR-10 raw pixels; see BENCHMARKS.md).
    pub fn new(loss: LossKind) -> Self {
        LinearParams {
            loss,
            learning_rate: 1e-3,
            reg: 1e-3,
            epochs: 10,
            batch_size: 200,
            momentum: 0.9,
            lr_decay: 0.9,
            seed: 0,
        }
    }

    /// Rejects settings that cannot train, naming the parameter.
    pub fn check(&self) -> Result<(), LinearError> {
        let bad = |param, reason: String| Err(LinearError::InvalidParam { param, reason });
        if self.loss == LossKind::Squared {
            return bad("loss", "linear classifiers use `svm` or `softmax`".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("lr", format!("{} must be positive", self.learning_rate));
        }
        if !(self.reg.is_finite() && self.reg >= 0.0) {
            return bad("reg", format!("{} must be zero or positive", self.reg));
        }
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch-size", "must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", format!("{} must be in [0, 1)", self.momentum));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return bad("lr-decay", format!("{} must be in (0, 1]", self.lr_decay));
        }
        Ok(())
    }
}

/// One epoch of training, as reported to the caller and kept in the history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    /// Mean of the mini-batch objectives (data loss + L2) over the epoch.
    pub loss: f64,
    pub learning_rate: f64,
    /// Accuracy on the training subset used for monitoring (at most 5,000 samples).
    pub train_accuracy: f64,
    /// Validation accuracy, when a validation set was given.
    pub val_accuracy: Option<f64>,
    pub seconds: f64,
}

/// A trained linear classifier: scores `x·W + b`.
#[derive(Debug, Clone)]
pub struct LinearModel {
    pub loss: LossKind,
    /// D x C weights.
    pub weights: Array2<f32>,
    /// C biases.
    pub bias: Array1<f32>,
}

/// Data for training: features (N x D) and labels.
pub struct Labeled<'a> {
    pub x: ArrayView2<'a, f32>,
    pub y: &'a [usize],
}

impl LinearModel {
    pub fn n_classes(&self) -> usize {
        self.bias.len()
    }

    /// Class scores, N x C.
    pub fn scores(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut s = x.dot(&self.weights);
        s += &self.bias;
        s
    }

    /// Predicted class per row.
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Vec<usize> {
        argmax_rows(self.scores(x).view())
    }

    /// Trains on `train`, monitoring `val` when given; the weights of the epoch with the best
    /// validation accuracy are kept (early stopping on validation, never on test).
    pub fn fit(
        params: &LinearParams,
        train: Labeled<'_>,
        val: Option<Labeled<'_>>,
        n_classes: usize,
        on_epoch: &mut dyn FnMut(&EpochStats),
    ) -> Result<(LinearModel, Vec<EpochStats>), LinearError> {
        params.check()?;
        let (n, d) = train.x.dim();
        if n == 0 || n != train.y.len() {
            return Err(LinearError::InvalidData(format!(
                "{n} training rows for {} labels",
                train.y.len()
            )));
        }
        if let Some(&bad) = train.y.iter().find(|&&y| y >= n_classes) {
            return Err(LinearError::InvalidData(format!(
                "label {bad} out of range for {n_classes} classes"
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        // Small random weights break the hinge loss's symmetry (CS231n: 0.001 · randn).
        let mut model = LinearModel {
            loss: params.loss,
            weights: Array2::from_shape_fn((d, n_classes), |_| 1e-3 * normal(&mut rng)),
            bias: Array1::zeros(n_classes),
        };
        let mut velocity_w = Array2::<f32>::zeros((d, n_classes));
        let mut velocity_b = Array1::<f32>::zeros(n_classes);
        let mut grads = Grads::new(d, n_classes);
        let batch = params.batch_size.min(n);
        let mut xb = Array2::<f32>::zeros((batch, d));
        let mut yb = vec![0usize; batch];
        let mut order: Vec<usize> = (0..n).collect();
        let monitor: Vec<usize> = (0..n).step_by(n.div_ceil(5000).max(1)).collect();
        let x_monitor = train.x.select(Axis(0), &monitor);
        let y_monitor: Vec<usize> = monitor.iter().map(|&i| train.y[i]).collect();

        let mut lr = params.learning_rate;
        let mut history = Vec::with_capacity(params.epochs);
        let mut best: Option<(f64, LinearModel)> = None;
        for epoch in 1..=params.epochs {
            let start = std::time::Instant::now();
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0;
            let mut batches = 0usize;
            for chunk in order.chunks(batch) {
                let m = chunk.len();
                gather_rows(train.x, chunk, &mut xb);
                for (dst, &i) in yb.iter_mut().zip(chunk) {
                    *dst = train.y[i];
                }
                let loss = objective(
                    &model,
                    xb.slice(s![..m, ..]),
                    &yb[..m],
                    params.reg as f32,
                    &mut grads,
                );
                if !loss.is_finite() {
                    return Err(LinearError::Diverged {
                        epoch,
                        loss: loss as f64,
                        lr,
                    });
                }
                loss_sum += loss as f64;
                batches += 1;
                let (mu, step) = (params.momentum as f32, lr as f32);
                Zip::from(&mut velocity_w)
                    .and(&grads.dw)
                    .and(&mut model.weights)
                    .for_each(|v, &g, w| {
                        *v = mu * *v - step * g;
                        *w += *v;
                    });
                Zip::from(&mut velocity_b)
                    .and(&grads.db)
                    .and(&mut model.bias)
                    .for_each(|v, &g, b| {
                        *v = mu * *v - step * g;
                        *b += *v;
                    });
            }
            let train_accuracy = accuracy(&model.predict(x_monitor.view()), &y_monitor);
            let val_accuracy = val.as_ref().map(|v| accuracy(&model.predict(v.x), v.y));
            let stats = EpochStats {
                epoch,
                loss: loss_sum / batches.max(1) as f64,
                learning_rate: lr,
                train_accuracy,
                val_accuracy,
                seconds: start.elapsed().as_secs_f64(),
            };
            on_epoch(&stats);
            history.push(stats);
            if let Some(acc) = val_accuracy {
                if best.as_ref().is_none_or(|(b, _)| acc > *b) {
                    best = Some((acc, model.clone()));
                }
            }
            lr *= params.lr_decay;
        }
        let model = best.map(|(_, m)| m).unwrap_or(model);
        Ok((model, history))
    }
}

/// Reused gradient buffers.
struct Grads {
    scores: Array2<f32>,
    dscores: Array2<f32>,
    dw: Array2<f32>,
    db: Array1<f32>,
}

impl Grads {
    fn new(d: usize, c: usize) -> Self {
        Grads {
            scores: Array2::zeros((0, c)),
            dscores: Array2::zeros((0, c)),
            dw: Array2::zeros((d, c)),
            db: Array1::zeros(c),
        }
    }
}

/// Objective on one mini-batch; fills `grads.dw`, `grads.db`.
fn objective(
    model: &LinearModel,
    x: ArrayView2<'_, f32>,
    y: &[usize],
    reg: f32,
    grads: &mut Grads,
) -> f32 {
    let m = x.nrows();
    let c = model.n_classes();
    if grads.scores.nrows() != m {
        grads.scores = Array2::zeros((m, c));
        grads.dscores = Array2::zeros((m, c));
    }
    general_mat_mul(1.0, &x, &model.weights, 0.0, &mut grads.scores);
    grads.scores += &model.bias;
    let data_loss = model
        .loss
        .loss_and_grad(grads.scores.view(), y, &mut grads.dscores);
    // dW = Xᵀ·dS + 2λW
    grads.dw.assign(&model.weights);
    general_mat_mul(1.0, &x.t(), &grads.dscores, 2.0 * reg, &mut grads.dw);
    grads.db = grads.dscores.sum_axis(Axis(0));
    data_loss + reg * model.weights.iter().map(|w| w * w).sum::<f32>()
}

/// Full objective and gradients in any precision, for gradient checks:
/// returns `(L, ∂L/∂W, ∂L/∂b)`.
pub fn loss_and_gradients<F: Real>(
    loss: LossKind,
    weights: ArrayView2<'_, F>,
    bias: ArrayView1<'_, F>,
    x: ArrayView2<'_, F>,
    y: &[usize],
    reg: F,
) -> (F, Array2<F>, Array1<F>) {
    let mut scores = x.dot(&weights);
    scores += &bias;
    let mut dscores = Array2::zeros(scores.dim());
    let data = loss.loss_and_grad(scores.view(), y, &mut dscores);
    let two = F::one() + F::one();
    let dw = x.t().dot(&dscores) + &weights.mapv(|w| two * reg * w);
    let db = dscores.sum_axis(Axis(0));
    let l2 = weights.iter().map(|&w| w * w).sum::<F>();
    (data + reg * l2, dw, db)
}

/// Copies the rows `idx` of `x` into the first rows of `out`.
pub fn gather_rows(x: ArrayView2<'_, f32>, idx: &[usize], out: &mut Array2<f32>) {
    for (mut dst, &i) in out.rows_mut().into_iter().zip(idx) {
        dst.assign(&x.row(i));
    }
}

/// Index of the largest value in each row (first on ties).
pub fn argmax_rows(scores: ArrayView2<'_, f32>) -> Vec<usize> {
    scores
        .rows()
        .into_iter()
        .map(|r| {
            let mut best = 0;
            for (j, &v) in r.iter().enumerate() {
                if v > r[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// Fraction of `pred` equal to `truth`.
pub fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
}

mod rand_distr_free {
    use rand::Rng;

    /// A standard normal sample (Box–Muller), so this crate needs no extra dependency.
    pub fn normal(rng: &mut impl Rng) -> f32 {
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}
