//! Linear classifiers `s = x·W + b`: the parameters, the model, and mini-batch SGD.
//!
//! Objective (CS231n, "Linear classification"): `J = (1/N) Σ_i L_i(s_i, y_i) + λ Σ W²` with a
//! data loss from [`crate::loss`] (hinge, squared hinge, one-vs-rest squared hinge, softmax);
//! the bias is not regularised. [`LinearModel::fit_grid`] trains by mini-batch SGD with
//! momentum (`v ← μ v − η ∇`, `W ← W + v`), a per-epoch learning-rate decay and optional
//! Polyak–Ruppert averaging of each epoch's iterates, or hands the grid to the full-batch
//! L-BFGS of [`crate::full_batch`] ([`Solver::Lbfgs`]).

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rows::Rows;
use crate::{ClassWeight, LinearError, LossKind, Real};

/// Hyper-parameters of a linear classifier; validated once by [`LinearParams::check`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearParams {
    /// `Hinge`, `SquaredHinge`, `OvrSquaredHinge` (the SVMs) or `Softmax`.
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
    /// Evaluate and keep the average of the weights over each epoch's steps instead of the
    /// last iterate (Polyak–Ruppert averaging, as in Bottou's averaged SGD for SVMs): it
    /// removes most of SGD's noise around the optimum at no extra matrix products.
    pub average: bool,
    pub seed: u64,
    /// Mini-batch SGD (the lecture's) or full-batch L-BFGS (the exact objective, stopped at its
    /// gradient or function tolerance, after `iterations`, or, with a validation set, after
    /// `full_batch::PATIENCE` iterations without a better validation accuracy).
    pub solver: Solver,
    /// L-BFGS: maximum iterations (each one pass over the training set, plus line-search
    /// passes; with a validation set a solve stops after `full_batch::PATIENCE` = 50 iterations
    /// without a better validation accuracy, keeping the best iterate). SGD ignores it and uses
    /// `epochs`.
    pub iterations: usize,
    /// Per-class weights on each sample's loss and gradient ([`ClassWeight::Balanced`]:
    /// scikit-learn's `n / (C · n_c)` from the training labels), for imbalanced classes.
    #[serde(default)]
    pub class_weight: ClassWeight,
}

/// How the weights are optimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Solver {
    /// Mini-batch SGD with momentum, learning-rate decay and per-epoch averaging.
    Sgd,
    /// Full-batch L-BFGS on the exact objective (needs a differentiable loss: softmax or a
    /// squared hinge). Learning rate, momentum, batch size and epochs do not apply.
    Lbfgs,
}

impl Solver {
    pub fn name(self) -> &'static str {
        match self {
            Solver::Sgd => "sgd",
            Solver::Lbfgs => "lbfgs",
        }
    }
}

impl std::str::FromStr for Solver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sgd" => Ok(Solver::Sgd),
            "lbfgs" | "l-bfgs" => Ok(Solver::Lbfgs),
            other => Err(format!("unknown solver `{other}` (valid: sgd, lbfgs)")),
        }
    }
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
            average: true,
            seed: 0,
            solver: Solver::Sgd,
            iterations: 300,
            class_weight: ClassWeight::None,
        }
    }

    /// Rejects settings that cannot train, naming the parameter.
    pub fn check(&self) -> Result<(), LinearError> {
        let bad = |param, reason: String| Err(LinearError::InvalidParam { param, reason });
        if self.loss == LossKind::Squared {
            return bad("loss", "linear classifiers use `svm` or `softmax`".into());
        }
        if self.solver == Solver::Lbfgs && self.loss == LossKind::Hinge {
            return bad(
                "solver",
                "L-BFGS needs a differentiable loss; the hinge has kinks (use squared-hinge, \
                 ovr-squared-hinge or softmax, or the sgd solver)"
                    .into(),
            );
        }
        if self.solver == Solver::Lbfgs && self.iterations == 0 {
            return bad("iterations", "must be at least 1".into());
        }
        if self.solver == Solver::Sgd
            && !(self.learning_rate.is_finite() && self.learning_rate > 0.0)
        {
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

/// A trained model with its per-epoch history.
pub type Fit = (LinearModel, Vec<EpochStats>);

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
        let mut s = Array2::<f32>::zeros((x.nrows(), self.weights.ncols()));
        let bias = self.bias.as_slice().expect("contiguous bias");
        f32::gemm(
            1.0,
            &x,
            &self.weights.view(),
            0.0,
            &mut s.view_mut(),
            Some(bias),
            false,
        );
        s
    }

    /// Predicted class per row.
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Vec<usize> {
        argmax_rows(self.scores(x).view())
    }

    /// Predicted class per row of `x`, read block by block when the rows are decoded.
    pub fn predict_rows(&self, x: Rows<'_>) -> Vec<usize> {
        x.map_blocks(&mut |block| self.predict(block))
    }

    /// Trains on `train`, monitoring `val` when given; the weights of the epoch with the best
    /// validation accuracy are kept (early stopping on validation, never on test).
    pub fn fit(
        params: &LinearParams,
        train: Labeled<'_>,
        val: Option<Labeled<'_>>,
        n_classes: usize,
        on_epoch: &mut dyn FnMut(&EpochStats),
    ) -> Result<Fit, LinearError> {
        let mut fits = Self::fit_grid(
            std::slice::from_ref(params),
            train,
            val,
            n_classes,
            &mut |_, s| on_epoch(s),
        )?;
        fits.pop().expect("one fit per parameter set")
    }

    /// Trains one model per entry of `grid` in a single pass over the data.
    ///
    /// The entries may differ in learning rate, L2 strength, momentum and decay, and must share
    /// the loss, epochs, batch size and seed. Every model then sees the same initial weights and
    /// the same mini-batches, exactly as separate runs with that seed would, so the results equal
    /// separate [`LinearModel::fit`] calls; but the models' weights sit side by side in one
    /// D x (G·C) matrix, so each mini-batch costs two wide matrix products instead of 2G thin
    /// ones. An entry whose loss becomes NaN/inf is reported as [`LinearError::Diverged`] in its
    /// slot while the others go on.
    pub fn fit_grid(
        grid: &[LinearParams],
        train: Labeled<'_>,
        val: Option<Labeled<'_>>,
        n_classes: usize,
        on_epoch: &mut dyn FnMut(usize, &EpochStats),
    ) -> Result<Vec<Result<Fit, LinearError>>, LinearError> {
        Self::fit_grid_rows(
            grid,
            Rows::Dense(train.x),
            train.y,
            val,
            n_classes,
            on_epoch,
        )
    }

    /// [`LinearModel::fit_grid`] on training rows `x` (labels `y`) that may be decoded as they
    /// are read ([`Rows::Source`]): full-batch L-BFGS reads them so; mini-batch SGD needs a
    /// dense matrix and refuses a source.
    pub fn fit_grid_rows<'a>(
        grid: &[LinearParams],
        x: Rows<'a>,
        y: &'a [usize],
        val: Option<Labeled<'_>>,
        n_classes: usize,
        on_epoch: &mut dyn FnMut(usize, &EpochStats),
    ) -> Result<Vec<Result<Fit, LinearError>>, LinearError> {
        let Some(first) = grid.first() else {
            return Ok(Vec::new());
        };
        for p in grid {
            p.check()?;
            if (
                p.loss,
                p.epochs,
                p.batch_size,
                p.seed,
                p.average,
                p.solver,
                p.class_weight,
            ) != (
                first.loss,
                first.epochs,
                first.batch_size,
                first.seed,
                first.average,
                first.solver,
                first.class_weight,
            ) {
                return Err(LinearError::InvalidParam {
                    param: "grid",
                    reason: "a search grid shares loss, epochs, batch size, seed, averaging, \
                             solver and class weights"
                        .into(),
                });
            }
        }
        let (n, d) = (x.nrows(), x.ncols());
        if n == 0 || n != y.len() {
            return Err(LinearError::InvalidData(format!(
                "{n} training rows for {} labels",
                y.len()
            )));
        }
        if let Some(&bad) = y.iter().find(|&&y| y >= n_classes) {
            return Err(LinearError::InvalidData(format!(
                "label {bad} out of range for {n_classes} classes"
            )));
        }
        if let Some(v) = &val {
            if v.x.nrows() != v.y.len() || v.x.ncols() != d {
                return Err(LinearError::InvalidData(format!(
                    "validation set of {} x {} for {} labels and {d} features",
                    v.x.nrows(),
                    v.x.ncols(),
                    v.y.len()
                )));
            }
        }
        let class_weights = first.class_weight.weights(y, n_classes);
        let class_weights = class_weights.as_deref();
        if first.solver == Solver::Lbfgs {
            return Ok(crate::full_batch::fit_grid(
                grid,
                x.as_source(),
                y,
                val,
                n_classes,
                class_weights,
                on_epoch,
            ));
        }
        let Some(x) = x.dense() else {
            return Err(LinearError::InvalidParam {
                param: "solver",
                reason: "mini-batch SGD gathers its batches from an f32 matrix in memory; rows \
                         decoded as they are read train with L-BFGS"
                    .into(),
            });
        };
        let train = Labeled { x, y };
        let g = grid.len();
        let c = n_classes;
        let mut rng = ChaCha8Rng::seed_from_u64(first.seed);
        // Small random weights break the hinge loss's symmetry (CS231n: 0.001 · randn); every
        // model starts from the same draw, as a separate run with this seed would.
        let init = Array2::from_shape_fn((d, c), |_| 1e-3 * normal(&mut rng));
        // Weights are held transposed, (G·C) x D: row k·C + j is class j of model k, so the
        // fused kernel reads each class's weights contiguously.
        let kc = g * c;
        let mut wt = Array2::<f32>::zeros((kc, d));
        for k in 0..g {
            wt.slice_mut(s![k * c..(k + 1) * c, ..]).assign(&init.t());
        }
        let mut bias = Array1::<f32>::zeros(kc);
        let mut avg_w = Array2::<f32>::zeros((kc, d));
        let mut avg_b = Array1::<f32>::zeros(kc);
        let mut velocity_w = Array2::<f32>::zeros((kc, d));
        let mut velocity_b = Array1::<f32>::zeros(kc);
        let mut dwt = Array2::<f32>::zeros((kc, d));
        let mut db = Array1::<f32>::zeros(kc);
        let batch = first.batch_size.min(n);
        let mut step = BatchStep::new(batch, d, kc);
        let mut order: Vec<usize> = (0..n).collect();
        let monitor: Vec<usize> = (0..n).step_by(n.div_ceil(5000).max(1)).collect();
        let x_monitor = train.x.select(Axis(0), &monitor);
        let y_monitor: Vec<usize> = monitor.iter().map(|&i| train.y[i]).collect();

        let mut lr: Vec<f64> = grid.iter().map(|p| p.learning_rate).collect();
        let mut histories: Vec<Vec<EpochStats>> = vec![Vec::with_capacity(first.epochs); g];
        let mut best: Vec<Option<(f64, LinearModel)>> = vec![None; g];
        let mut diverged: Vec<Option<LinearError>> = (0..g).map(|_| None).collect();
        // Models already diverged: their rows are held at zero, not updated.
        let mut diverged_now = vec![false; g];
        let mut square_sums = vec![0f64; g];
        for epoch in 1..=first.epochs {
            let start = std::time::Instant::now();
            order.shuffle(&mut rng);
            let mut loss_sum = vec![0.0f64; g];
            let mut batches = 0usize;
            for chunk in order.chunks(batch) {
                let data = step.run(
                    first.loss,
                    class_weights,
                    train.x,
                    train.y,
                    chunk,
                    c,
                    &wt,
                    &bias,
                    &mut dwt,
                    &mut db,
                );
                // Each model's weights are c consecutive rows of `wt`: one contiguous run of
                // c·d values, updated in parallel, model by model.
                let cd = c * d;
                let wt_s = wt.as_slice_mut().expect("standard layout");
                let vel_s = velocity_w.as_slice_mut().expect("standard layout");
                let dwt_s = dwt.as_slice().expect("standard layout");
                let avg_s = avg_w.as_slice_mut().expect("standard layout");
                let t = 1.0 / (batches + 1) as f32;
                let average = first.average;
                wt_s.par_chunks_mut(cd)
                    .zip(vel_s.par_chunks_mut(cd))
                    .zip(dwt_s.par_chunks(cd))
                    .zip(avg_s.par_chunks_mut(cd))
                    .zip(square_sums.par_iter_mut())
                    .enumerate()
                    .for_each(|(k, ((((w, v), gw), a), sq))| {
                        // L2 of the weights this step's scores used (before the update).
                        *sq = sum_of_squares(w);
                        if diverged_now[k] || !data[k].is_finite() {
                            return;
                        }
                        let (mu, step) = (grid[k].momentum as f32, lr[k] as f32);
                        let two_reg = 2.0 * grid[k].reg as f32;
                        for (((w, v), &gw), a) in w.iter_mut().zip(v).zip(gw).zip(a) {
                            *v = mu * *v - step * (gw + two_reg * *w);
                            *w += *v;
                            if average {
                                // Running mean of this epoch's iterates: a ← a + (w − a) / t.
                                *a += (*w - *a) * t;
                            }
                        }
                    });
                for k in 0..g {
                    let loss = data[k] + grid[k].reg * square_sums[k];
                    if !loss.is_finite() && diverged[k].is_none() {
                        diverged[k] = Some(LinearError::Diverged {
                            epoch,
                            loss,
                            lr: lr[k],
                        });
                    }
                    loss_sum[k] += loss;
                }
                batches += 1;
                for k in 0..g {
                    let brows = s![k * c..(k + 1) * c];
                    if diverged[k].is_some() {
                        // Keep a diverged model's NaNs out of the shared buffers.
                        wt.slice_mut(s![k * c..(k + 1) * c, ..]).fill(0.0);
                        velocity_w.slice_mut(s![k * c..(k + 1) * c, ..]).fill(0.0);
                        bias.slice_mut(brows).fill(0.0);
                        diverged_now[k] = true;
                        continue;
                    }
                    let (mu, step) = (grid[k].momentum as f32, lr[k] as f32);
                    Zip::from(velocity_b.slice_mut(brows))
                        .and(db.slice(brows))
                        .and(bias.slice_mut(brows))
                        .for_each(|v, &gb, b| {
                            *v = mu * *v - step * gb;
                            *b += *v;
                        });
                }
                if first.average {
                    let t = 1.0 / batches as f32;
                    Zip::from(&mut avg_b)
                        .and(&bias)
                        .for_each(|a, &b| *a += (b - *a) * t);
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            let (eval_w, eval_b) = if first.average {
                for (k, _) in diverged.iter().enumerate().filter(|(_, d)| d.is_some()) {
                    avg_w.slice_mut(s![k * c..(k + 1) * c, ..]).fill(0.0);
                    avg_b.slice_mut(s![k * c..(k + 1) * c]).fill(0.0);
                }
                (&avg_w, &avg_b)
            } else {
                (&wt, &bias)
            };
            let train_pred = predict_blocks(x_monitor.view(), eval_w, eval_b, g, c);
            let val_pred = val
                .as_ref()
                .map(|v| predict_blocks(v.x, eval_w, eval_b, g, c));
            for k in 0..g {
                if diverged[k].is_some() {
                    continue;
                }
                let val_accuracy = val
                    .as_ref()
                    .zip(val_pred.as_ref())
                    .map(|(v, p)| accuracy(&p[k], v.y));
                let stats = EpochStats {
                    epoch,
                    loss: loss_sum[k] / batches.max(1) as f64,
                    learning_rate: lr[k],
                    train_accuracy: accuracy(&train_pred[k], &y_monitor),
                    val_accuracy,
                    seconds: seconds / g as f64,
                };
                on_epoch(k, &stats);
                histories[k].push(stats);
                let is_best = match (val_accuracy, &best[k]) {
                    (None, _) => true,
                    (Some(_), None) => true,
                    (Some(acc), Some((b, _))) => acc > *b,
                };
                if is_best {
                    let model = LinearModel {
                        loss: first.loss,
                        weights: eval_w.slice(s![k * c..(k + 1) * c, ..]).t().to_owned(),
                        bias: eval_b.slice(s![k * c..(k + 1) * c]).to_owned(),
                    };
                    best[k] = Some((val_accuracy.unwrap_or(0.0), model));
                }
                lr[k] *= grid[k].lr_decay;
            }
        }
        Ok(best
            .into_iter()
            .zip(histories)
            .zip(diverged)
            .map(|((best, history), diverged)| match (diverged, best) {
                (Some(e), _) => Err(e),
                (None, Some((_, model))) => Ok((model, history)),
                (None, None) => Err(LinearError::InvalidData("no epoch was trained".into())),
            })
            .collect())
    }
}

/// `Σ w²` in f64, in eight independent lanes (a single running sum would not vectorise).
fn sum_of_squares(w: &[f32]) -> f64 {
    let mut acc = [0f32; 8];
    let mut chunks = w.chunks_exact(8);
    let mut total = 0f64;
    // f32 lanes, flushed to f64 every 4,096 values so the partial sums stay short.
    for (i, ch) in chunks.by_ref().enumerate() {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += v * v;
        }
        if i % 512 == 511 {
            total += acc.iter().map(|&a| a as f64).sum::<f64>();
            acc = [0.0; 8];
        }
    }
    total += acc.iter().map(|&a| a as f64).sum::<f64>();
    total
        + chunks
            .remainder()
            .iter()
            .map(|&v| (v * v) as f64)
            .sum::<f64>()
}

/// Predictions of each of the `g` models whose transposed weights are stacked in `wt`.
pub(crate) fn predict_blocks(
    x: ArrayView2<'_, f32>,
    wt: &Array2<f32>,
    bias: &Array1<f32>,
    g: usize,
    c: usize,
) -> Vec<Vec<usize>> {
    let mut scores = Array2::<f32>::zeros((x.nrows(), wt.nrows()));
    let bias = bias.as_slice().expect("contiguous bias");
    f32::gemm(
        1.0,
        &x,
        &wt.t(),
        0.0,
        &mut scores.view_mut(),
        Some(bias),
        false,
    );
    (0..g)
        .map(|k| argmax_rows(scores.slice(s![.., k * c..(k + 1) * c])))
        .collect()
}

/// Above this many score columns (models x classes) a mini-batch step uses two packed matrix
/// products; at or below it, the fused one-pass kernel of [`crate::full_batch`], which reads
/// each row once and skips the gather and the packing that dominate thin products.
/// Measured on CIFAR-10 raw pixels: see BENCHMARKS.md.
const FUSED_MAX_COLUMNS: usize = 20;

/// Buffers of one mini-batch step (reused across steps: no allocation in the loop).
pub(crate) struct BatchStep {
    /// The fused kernel's gradient (accumulated in f64).
    fused_gw: Vec<f64>,
    fused_gb: Vec<f64>,
    xb: Array2<f32>,
    yb: Vec<usize>,
    scores: Array2<f32>,
    dscores: Array2<f32>,
    block_grad: Array2<f32>,
}

impl BatchStep {
    pub(crate) fn new(batch: usize, d: usize, kc: usize) -> Self {
        if kc <= FUSED_MAX_COLUMNS {
            return BatchStep {
                fused_gw: vec![0.0; kc * d],
                fused_gb: vec![0.0; kc],
                xb: Array2::zeros((0, d)),
                yb: Vec::new(),
                scores: Array2::zeros((0, kc)),
                dscores: Array2::zeros((0, kc)),
                block_grad: Array2::zeros((0, 0)),
            };
        }
        BatchStep {
            fused_gw: Vec::new(),
            fused_gb: Vec::new(),
            xb: Array2::zeros((batch, d)),
            yb: vec![0; batch],
            scores: Array2::zeros((batch, kc)),
            dscores: Array2::zeros((batch, kc)),
            block_grad: Array2::zeros((0, 0)),
        }
    }

    /// Mean data loss of each of the models stacked in `wt` on the rows `chunk` (weighted by
    /// `class_weights` when given), with the data gradients in `dwt` and `db`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        &mut self,
        loss: LossKind,
        class_weights: Option<&[f64]>,
        x: ArrayView2<'_, f32>,
        y: &[usize],
        chunk: &[usize],
        c: usize,
        wt: &Array2<f32>,
        bias: &Array1<f32>,
        dwt: &mut Array2<f32>,
        db: &mut Array1<f32>,
    ) -> Vec<f64> {
        let kc = bias.len();
        if kc <= FUSED_MAX_COLUMNS {
            let d = x.ncols();
            self.fused_gw.resize(kc * d, 0.0);
            self.fused_gb.resize(kc, 0.0);
            let losses = crate::full_batch::grouped_loss_and_grad(
                loss,
                class_weights,
                &x,
                chunk,
                y,
                c,
                wt,
                bias.as_slice().expect("contiguous bias"),
                &mut self.fused_gw,
                &mut self.fused_gb,
            )
            .0;
            for (o, &g) in dwt.iter_mut().zip(&self.fused_gw) {
                *o = g as f32;
            }
            for (o, &g) in db.iter_mut().zip(&self.fused_gb) {
                *o = g as f32;
            }
            return losses;
        }
        let m = chunk.len();
        gather_rows(x, chunk, &mut self.xb);
        for (dst, &i) in self.yb.iter_mut().zip(chunk) {
            *dst = y[i];
        }
        let xm = self.xb.slice(s![..m, ..]);
        let mut sm = self.scores.slice_mut(s![..m, ..]);
        let bias = bias.as_slice().expect("contiguous bias");
        f32::gemm(1.0, &xm, &wt.t(), 0.0, &mut sm, Some(bias), false);
        let mut losses = Vec::with_capacity(kc / c);
        for k in 0..kc / c {
            let cols = s![..m, k * c..(k + 1) * c];
            let data = loss.weighted_loss_and_grad(
                self.scores.slice(cols),
                &self.yb[..m],
                class_weights,
                &mut self.block_grad,
            );
            self.dscores.slice_mut(cols).assign(&self.block_grad);
            losses.push(data as f64);
        }
        let ds = self.dscores.slice(s![..m, ..]);
        // dWᵀ = dSᵀ·X
        f32::gemm(1.0, &ds.t(), &xm, 0.0, &mut dwt.view_mut(), None, false);
        db.fill(0.0);
        for row in ds.rows() {
            Zip::from(&mut *db).and(&row).for_each(|b, &g| *b += g);
        }
        losses
    }
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
    weighted_loss_and_gradients(loss, None, weights, bias, x, y, reg)
}

/// [`loss_and_gradients`] of the class-weighted objective
/// `L = (1/N) Σ_i w_{y_i} L_i + λ Σ W²` (`class_weights`: one weight per class, see
/// [`ClassWeight::weights`]; `None` weighs every sample 1).
pub fn weighted_loss_and_gradients<F: Real>(
    loss: LossKind,
    class_weights: Option<&[f64]>,
    weights: ArrayView2<'_, F>,
    bias: ArrayView1<'_, F>,
    x: ArrayView2<'_, F>,
    y: &[usize],
    reg: F,
) -> (F, Array2<F>, Array1<F>) {
    let mut scores = x.dot(&weights);
    scores += &bias;
    let mut dscores = Array2::zeros(scores.dim());
    let data = loss.weighted_loss_and_grad(scores.view(), y, class_weights, &mut dscores);
    let two = F::one() + F::one();
    let dw = x.t().dot(&dscores) + &weights.mapv(|w| two * reg * w);
    let db = dscores.sum_axis(Axis(0));
    let l2 = weights.iter().map(|&w| w * w).sum::<F>();
    (data + reg * l2, dw, db)
}

/// Copies the rows `idx` of `x` into the first rows of `out`, in parallel blocks of rows (the
/// rows are scattered over the whole training set, so the copy waits on memory).
pub fn gather_rows(x: ArrayView2<'_, f32>, idx: &[usize], out: &mut Array2<f32>) {
    const ROWS_PER_TASK: usize = 16;
    let n = idx.len().min(out.nrows());
    out.slice_mut(s![..n, ..])
        .axis_chunks_iter_mut(Axis(0), ROWS_PER_TASK)
        .into_par_iter()
        .zip(idx[..n].par_chunks(ROWS_PER_TASK))
        .for_each(|(mut rows, ids)| {
            for (mut dst, &i) in rows.rows_mut().into_iter().zip(ids) {
                dst.assign(&x.row(i));
            }
        });
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

/// A standard normal sample (rand_distr's ziggurat), for the small random initial weights.
pub(crate) fn normal(rng: &mut impl rand::Rng) -> f32 {
    rng.sample(rand_distr::StandardNormal)
}
