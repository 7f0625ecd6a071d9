//! Mini-batch training: shuffling, the update rules, the schedule, early stopping.

use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use wb_linear::Real;

use crate::model::Mlp;
use crate::net::Network;
use crate::params::{MlpError, MlpParams, OptimizerKind};

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

/// Optimiser state for one tensor.
struct Slot<F> {
    first: Vec<F>,
    second: Vec<F>,
}

/// Elements per parallel chunk: large enough to amortise scheduling, fixed so the reduction order
/// (and so every number) does not depend on how rayon splits the work.
const CHUNK: usize = 1 << 15;

pub(crate) struct Optimizer<F: Real> {
    kind: OptimizerKind,
    momentum: F,
    beta1: F,
    beta2: F,
    epsilon: F,
    step: i32,
    slots: Vec<Slot<F>>,
    partial_sums: Vec<f64>,
}

impl<F: Real> Optimizer<F> {
    pub(crate) fn new(params: &MlpParams, net: &mut Network<F>) -> Self {
        let mut slots = Vec::new();
        // Both moments are allocated whatever the rule, so every rule shares one chunked sweep.
        net.visit_params(&mut |_, p| {
            let n = p.value.len();
            slots.push(Slot {
                first: vec![F::zero(); n],
                second: vec![F::zero(); n],
            });
        });
        Optimizer {
            kind: params.optimizer,
            momentum: F::of(params.momentum),
            beta1: F::of(params.adam_beta1),
            beta2: F::of(params.adam_beta2),
            epsilon: F::of(params.adam_epsilon),
            step: 0,
            slots,
            partial_sums: Vec::new(),
        }
    }

    /// One update of every tensor with gradient `g + 2λW` (the L2 term only on weights).
    /// Returns `Σ W²` of the weights *before* the update (the ones the forward pass used), computed
    /// in the same sweep so the L2 loss costs no extra pass over memory.
    pub(crate) fn update(&mut self, net: &mut Network<F>, lr: f64, reg: f64) -> f64 {
        self.step += 1;
        let kind = self.kind;
        let lr = F::of(lr);
        let mu = self.momentum;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.epsilon);
        // Bias corrections of Adam folded into the step size.
        let t = self.step;
        let c1 = F::one() - b1.powi(t);
        let c2 = F::one() - b2.powi(t);
        let adam_lr = lr * c2.sqrt() / c1;
        let mut index = 0;
        let mut square_sum = 0.0;
        let slots = &mut self.slots;
        let partial = &mut self.partial_sums;
        net.visit_params(&mut |_, p| {
            let slot = &mut slots[index];
            index += 1;
            let two_reg = F::of(if p.decay { 2.0 * reg } else { 0.0 });
            let decay = p.decay;
            let n = p.value.len();
            let chunks = n.div_ceil(CHUNK);
            let first = &mut slot.first;
            let second = &mut slot.second;
            let kernel = |w: &mut [F], g: &[F], m: &mut [F], v: &mut [F]| -> f64 {
                match kind {
                    OptimizerKind::Sgd => sweep(w, g, m, v, |w, g, _, _| {
                        *w -= lr * (g + two_reg * *w);
                    }),
                    OptimizerKind::Momentum => sweep(w, g, m, v, |w, g, m, _| {
                        *m = mu * *m - lr * (g + two_reg * *w);
                        *w += *m;
                    }),
                    OptimizerKind::Nesterov => sweep(w, g, m, v, |w, g, m, _| {
                        let prev = *m;
                        *m = mu * *m - lr * (g + two_reg * *w);
                        *w += (F::one() + mu) * *m - mu * prev;
                    }),
                    OptimizerKind::Adam => sweep(w, g, m, v, |w, g, m, v| {
                        let g = g + two_reg * *w;
                        *m = b1 * *m + (F::one() - b1) * g;
                        *v = b2 * *v + (F::one() - b2) * g * g;
                        *w -= adam_lr * *m / (v.sqrt() + eps);
                    }),
                }
            };
            let sum = if chunks <= 1 {
                kernel(p.value, p.grad, first, second)
            } else {
                p.value
                    .par_chunks_mut(CHUNK)
                    .zip(p.grad.par_chunks(CHUNK))
                    .zip(first.par_chunks_mut(CHUNK))
                    .zip(second.par_chunks_mut(CHUNK))
                    .map(|(((w, g), m), v)| kernel(w, g, m, v))
                    .collect_into_vec(partial);
                partial.iter().sum()
            };
            if decay {
                square_sum += sum;
            }
        });
        square_sum
    }
}

/// Applies `update(w, g, m, v)` to every element and returns `Σ w²` of the values before the
/// update. The sum runs in `LANES` independent accumulators: a single running sum is a serial
/// dependency that keeps the compiler from vectorising the whole loop.
#[inline(always)]
fn sweep<F: Real>(
    w: &mut [F],
    g: &[F],
    m: &mut [F],
    v: &mut [F],
    update: impl Fn(&mut F, F, &mut F, &mut F),
) -> f64 {
    const LANES: usize = 8;
    let full = w.len() / LANES * LANES;
    let mut acc = [F::zero(); LANES];
    let (w_body, w_tail) = w.split_at_mut(full);
    let (m_body, m_tail) = m.split_at_mut(full);
    let (v_body, v_tail) = v.split_at_mut(full);
    for (((wc, gc), mc), vc) in w_body
        .chunks_exact_mut(LANES)
        .zip(g[..full].chunks_exact(LANES))
        .zip(m_body.chunks_exact_mut(LANES))
        .zip(v_body.chunks_exact_mut(LANES))
    {
        for k in 0..LANES {
            acc[k] += wc[k] * wc[k];
            update(&mut wc[k], gc[k], &mut mc[k], &mut vc[k]);
        }
    }
    let mut total: f64 = acc.iter().map(|a| a.to_f64().unwrap_or(f64::NAN)).sum();
    for (((w, &g), m), v) in w_tail.iter_mut().zip(&g[full..]).zip(m_tail).zip(v_tail) {
        total += (*w * *w).to_f64().unwrap_or(f64::NAN);
        update(w, g, m, v);
    }
    total
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
        for chunk in order.chunks(batch) {
            let m = chunk.len();
            gather(&x_train, chunk, &mut xb);
            for (dst, &i) in yb.iter_mut().zip(chunk) {
                *dst = y_train[i];
            }
            let dscores = if m == batch {
                &mut dscores_full
            } else {
                &mut dscores_tail
            };
            let xv = xb.slice(ndarray::s![..m, ..]);
            let data_loss =
                net.forward_backward(xv, &yb[..m], params.loss, dscores, true, false) as f64;
            let square_sum = optimizer.update(&mut net, lr, params.reg);
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
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();

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
