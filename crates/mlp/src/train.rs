//! Mini-batch training: shuffling, the update rules, the schedule, early stopping.

use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::augment::BatchAugment;
use crate::model::Mlp;
use crate::net::Network;
use crate::optim::Optimizer;
use crate::params::{MlpError, MlpParams};

/// What happened in one epoch (also what the `progress` callback receives).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    /// Mean over the epoch's mini-batches of `data loss + λ Σ W²` (training mode, dropout on).
    pub loss: f64,
    /// Accuracy on a fixed subset of `train_eval_samples` training examples, evaluation mode.
    pub train_accuracy: f64,
    pub val_accuracy: Option<f64>,
    pub learning_rate: f64,
    /// Wall time of the optimisation steps alone.
    pub train_seconds: f64,
    /// Fastest and median wall time of one optimisation step (mini-batch) in the epoch. On a
    /// machine shared with other work, `fastest_step_seconds × steps` estimates what the epoch
    /// takes on idle cores: short steps are often not interrupted, whole epochs rarely.
    #[serde(default)]
    pub fastest_step_seconds: f64,
    #[serde(default)]
    pub median_step_seconds: f64,
    /// Wall time of the whole epoch, evaluation included.
    pub seconds: f64,
}

/// Per-epoch history plus how training ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<EpochStats>,
    /// Epoch (1-based) whose weights the returned model has.
    pub best_epoch: usize,
    pub best_val_accuracy: Option<f64>,
    pub stopped_early: bool,
    pub seconds: f64,
}

/// Copies the rows `indices` of `x` into the first rows of `buf`, the rows split between the rayon
/// threads. The source rows are scattered over the whole training set, so the copy waits on memory;
/// on one thread it took ≈ 0.17 s of a 4.5 s CIFAR-10 epoch, on two ≈ 0.11–0.15 s (BENCH.md).
/// A pure copy, so the split cannot change any number.
pub(crate) fn gather(x: &ArrayView2<'_, f32>, indices: &[usize], buf: &mut Array2<f32>) {
    const ROWS_PER_TASK: usize = 16;
    let d = buf.ncols();
    let dst = buf
        .as_slice_mut()
        .expect("gather buffer is standard layout");
    let src = x.as_slice().expect("training matrix is standard layout");
    dst[..indices.len() * d]
        .par_chunks_mut(ROWS_PER_TASK * d)
        .zip(indices.par_chunks(ROWS_PER_TASK))
        .for_each(|(rows, idx)| {
            for (row, &i) in rows.chunks_exact_mut(d).zip(idx) {
                row.copy_from_slice(&src[i * d..(i + 1) * d]);
            }
        });
}

/// Fills each mini-batch: the rows gathered by index, augmented when [`MlpParams::augment`] is
/// set (gathered into a scratch batch first; the draws come from stream 2 of the seed, so
/// they do not shift the shuffling).
pub(crate) struct Batcher {
    augment: Option<BatchAugment>,
    scratch: Array2<f32>,
    rng: ChaCha8Rng,
}

impl Batcher {
    /// Checks the augmentation against rows of `d` values.
    pub(crate) fn new(params: &MlpParams, batch: usize, d: usize) -> Result<Self, MlpError> {
        if let Some(a) = &params.augment {
            a.check(d)?;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        rng.set_stream(2);
        let rows = if params.augment.is_some() { batch } else { 0 };
        Ok(Batcher {
            augment: params.augment,
            scratch: Array2::zeros((rows, d)),
            rng,
        })
    }

    /// The rows `indices` of `x` into the first rows of `xb`.
    pub(crate) fn fill(
        &mut self,
        x: &ArrayView2<'_, f32>,
        indices: &[usize],
        xb: &mut Array2<f32>,
    ) {
        let Some(augment) = &self.augment else {
            return gather(x, indices, xb);
        };
        gather(x, indices, &mut self.scratch);
        let values = indices.len() * x.ncols();
        let src = self.scratch.as_slice().expect("standard layout");
        let dst = xb.as_slice_mut().expect("standard layout");
        augment.apply(&src[..values], &mut dst[..values], &mut self.rng);
    }
}

/// Predicted class per row, evaluated in chunks with the network's own buffers.
pub(crate) fn predict_into(net: &mut Network<f32>, x: ArrayView2<'_, f32>, out: &mut Vec<usize>) {
    out.clear();
    const EVAL_BATCH: usize = 1000;
    let mut start = 0;
    while start < x.nrows() {
        let end = (start + EVAL_BATCH).min(x.nrows());
        net.forward(x.slice(ndarray::s![start..end, ..]), false);
        for row in net.scores().rows() {
            out.push(argmax(row.iter().copied()));
        }
        start = end;
    }
}

pub(crate) fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, v) in values.enumerate() {
        if v > best_v || (i == 0 && v.is_nan()) {
            best = i;
            best_v = v;
        }
    }
    best
}

pub(crate) fn accuracy(pred: &[usize], labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    pred.iter().zip(labels).filter(|(p, y)| p == y).count() as f64 / labels.len() as f64
}

pub(crate) fn check_data(
    x: &ArrayView2<'_, f32>,
    y: &[usize],
    n_classes: usize,
    what: &str,
) -> Result<(), MlpError> {
    if x.nrows() != y.len() {
        return Err(MlpError::Data(format!(
            "{what}: {} rows but {} labels",
            x.nrows(),
            y.len()
        )));
    }
    if let Some(&bad) = y.iter().find(|&&c| c >= n_classes) {
        return Err(MlpError::Data(format!(
            "{what}: label {bad} is not below n_classes = {n_classes}"
        )));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(MlpError::Data(format!(
            "{what}: features contain NaN or infinity"
        )));
    }
    Ok(())
}

/// Trains an MLP by mini-batch backpropagation.
///
/// Each epoch shuffles the training set (ChaCha8 seeded from `params.seed`), takes the learning
/// rate from the schedule, and runs forward → loss → backward → update per mini-batch. With `val`
/// given, it tracks the best validation accuracy, stops after `patience` epochs without
/// improvement and returns the best epoch's weights. A NaN or infinite loss stops training with
/// [`MlpError::Diverged`]. `progress` is called after every epoch.
pub fn fit(
    params: &MlpParams,
    x_train: ArrayView2<'_, f32>,
    y_train: &[usize],
    n_classes: usize,
    val: Option<(ArrayView2<'_, f32>, &[usize])>,
    progress: &mut dyn FnMut(EpochStats),
) -> Result<(Mlp, History), MlpError> {
    params.check()?;
    if n_classes < 2 {
        return Err(MlpError::invalid(
            "n_classes",
            format!("need at least 2 classes, got {n_classes}"),
        ));
    }
    if x_train.nrows() == 0 || x_train.ncols() == 0 {
        return Err(MlpError::Data(format!(
            "training set is empty ({} x {})",
            x_train.nrows(),
            x_train.ncols()
        )));
    }
    check_data(&x_train, y_train, n_classes, "training set")?;
    if let Some((xv, yv)) = &val {
        check_data(xv, yv, n_classes, "validation set")?;
        if xv.ncols() != x_train.ncols() {
            return Err(MlpError::Data(format!(
                "validation set has {} features, training set {}",
                xv.ncols(),
                x_train.ncols()
            )));
        }
    }
    // Rows must be contiguous for the gather; a non-standard view is copied once here.
    let owned = x_train.as_standard_layout();
    let x_train = owned.view();

    let started = Instant::now();
    // Weighted by the whole training set's class counts (scikit-learn's `class_weight`), the
    // same in every mini-batch.
    let class_weights = params.class_weight.weights(y_train, n_classes);
    let n = x_train.nrows();
    let d = x_train.ncols();
    let specs = params.architecture(d, n_classes);
    let mut net = Network::<f32>::init(d, specs, params.init, params.seed);
    let mut optimizer = Optimizer::new(params, &mut net);
    // Stream 0 of this seed drew the initial weights; shuffling uses its own stream.
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    rng.set_stream(1);

    let batch = params.batch_size.min(n);
    let mut order: Vec<usize> = (0..n).collect();
    let mut xb = Array2::<f32>::zeros((batch, d));
    let mut batcher = Batcher::new(params, batch, d)?;
    let mut yb = vec![0usize; batch];
    // The loss helper sizes `dscores` to the batch, so the short last batch gets its own buffer.
    let mut dscores_full = Array2::<f32>::zeros((batch, n_classes));
    let mut dscores_tail = Array2::<f32>::zeros((n % batch, n_classes));

    // A fixed subset for the training accuracy, so the curve is comparable across epochs.
    let mut eval_idx: Vec<usize> = (0..n).collect();
    eval_idx.shuffle(&mut rng);
    eval_idx.truncate(params.train_eval_samples.clamp(1, n));
    eval_idx.sort_unstable();
    let x_eval = x_train.select(Axis(0), &eval_idx);
    let y_eval: Vec<usize> = eval_idx.iter().map(|&i| y_train[i]).collect();
    let mut pred = Vec::new();
    let mut step_times: Vec<f64> = Vec::with_capacity(n.div_ceil(batch));

    let mut history = History {
        epochs: Vec::new(),
        best_epoch: 0,
        best_val_accuracy: None,
        stopped_early: false,
        seconds: 0.0,
    };
    let mut best: Option<(f64, Vec<Vec<f32>>)> = None;
    let mut since_best = 0;

    for epoch in 0..params.epochs {
        let epoch_start = Instant::now();
        let lr = params
            .schedule
            .learning_rate(params.learning_rate, epoch, params.epochs);
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        let mut batches = 0usize;
        step_times.clear();
        for chunk in order.chunks(batch) {
            let step_start = Instant::now();
            let m = chunk.len();
            batcher.fill(&x_train, chunk, &mut xb);
            for (dst, &i) in yb.iter_mut().zip(chunk) {
                *dst = y_train[i];
            }
            let dscores = if m == batch {
                &mut dscores_full
            } else {
                &mut dscores_tail
            };
            let xv = xb.slice(ndarray::s![..m, ..]);
            net.forward(xv, true);
            let data_loss = params.loss.weighted_loss_and_grad(
                net.scores(),
                &yb[..m],
                class_weights.as_deref(),
                dscores,
            ) as f64;
            let mut updater = optimizer.step(lr, params.reg);
            net.backward_update(xv, dscores.view(), &mut updater);
            let square_sum = updater.square_sum();
            let loss = data_loss + params.reg * square_sum;
            if !loss.is_finite() {
                return Err(MlpError::Diverged {
                    epoch: epoch + 1,
                    loss,
                    learning_rate: lr,
                });
            }
            loss_sum += loss;
            batches += 1;
            step_times.push(step_start.elapsed().as_secs_f64());
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        step_times.sort_unstable_by(f64::total_cmp);
        let fastest_step_seconds = step_times.first().copied().unwrap_or(0.0);
        let median_step_seconds = step_times.get(step_times.len() / 2).copied().unwrap_or(0.0);

        predict_into(&mut net, x_eval.view(), &mut pred);
        let train_accuracy = accuracy(&pred, &y_eval);
        let val_accuracy = val.as_ref().map(|(xv, yv)| {
            predict_into(&mut net, xv.view(), &mut pred);
            accuracy(&pred, yv)
        });
        let stats = EpochStats {
            epoch: epoch + 1,
            loss: loss_sum / batches.max(1) as f64,
            train_accuracy,
            val_accuracy,
            learning_rate: lr,
            train_seconds,
            fastest_step_seconds,
            median_step_seconds,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        history.epochs.push(stats.clone());
        progress(stats);

        match val_accuracy {
            Some(acc) => {
                if best.as_ref().is_none_or(|(b, _)| acc > *b) {
                    best = Some((acc, net.snapshot()));
                    history.best_epoch = epoch + 1;
                    history.best_val_accuracy = Some(acc);
                    since_best = 0;
                } else {
                    since_best += 1;
                    if params.patience.is_some_and(|p| since_best >= p) {
                        history.stopped_early = epoch + 1 < params.epochs;
                        break;
                    }
                }
            }
            None => history.best_epoch = epoch + 1,
        }
    }
    if let Some((_, weights)) = &best {
        net.restore(weights);
    }
    history.seconds = started.elapsed().as_secs_f64();
    Ok((Mlp::from_network(net, params.loss), history))
}
