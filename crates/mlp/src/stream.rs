//! Training an MLP from rows streamed in blocks ([`wb_linear::stream::BlockSource`]), for
//! feature sets larger than memory: [`fit`](crate::fit)'s mini-batch backpropagation, with the
//! rows of each block shuffled by the trainer's seeded generator and the blocks visited in an
//! order the source draws from each epoch's seed.
//!
//! With a single block holding every row ([`wb_linear::stream::InMemory`]) and the monitoring
//! subset of [`monitor_rows`], this is exactly [`fit`](crate::fit): same initial weights, same
//! mini-batches, same numbers (a test checks it).

use std::time::Instant;

use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use wb_linear::stream::{block_order_seed, BlockSource, SourceError};
use wb_linear::Labeled;

use crate::model::Mlp;
use crate::net::Network;
use crate::optim::Optimizer;
use crate::params::{MlpError, MlpParams};
use crate::train::{accuracy, check_data, predict_into, Batcher};
use crate::{EpochStats, History};

/// Rows (sorted) of the training-accuracy subset [`fit`](crate::fit) draws for `n` training
/// rows: `params.train_eval_samples` rows chosen by the shuffling generator.
pub fn monitor_rows(params: &MlpParams, n: usize) -> Vec<usize> {
    let mut rng = shuffle_rng(params.seed);
    draw_monitor(params, n, &mut rng)
}

/// Stream 0 of the seed drew the initial weights; shuffling uses its own stream.
fn shuffle_rng(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    rng
}

/// The draw `fit` makes first with its shuffling generator (a shuffle of all row indices), so
/// that the generator is in the same state for the epochs that follow.
fn draw_monitor(params: &MlpParams, n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    idx.truncate(params.train_eval_samples.clamp(1, n.max(1)));
    idx.sort_unstable();
    idx
}

fn from_source(e: SourceError) -> MlpError {
    match e.downcast::<MlpError>() {
        Ok(own) => *own,
        Err(other) => MlpError::Source(other),
    }
}

/// Accuracy over every row of `source`, block by block, in evaluation mode.
fn stream_accuracy(
    net: &mut Network<f32>,
    source: &mut dyn BlockSource,
    n_classes: usize,
    pred: &mut Vec<usize>,
) -> Result<f64, MlpError> {
    let mut correct = 0usize;
    source
        .for_each_block(None, &mut |block| {
            check_data(&block.x, block.y, n_classes, "validation block")?;
            predict_into(net, block.x, pred);
            correct += pred.iter().zip(block.y).filter(|(p, y)| p == y).count();
            Ok(())
        })
        .map_err(from_source)?;
    Ok(correct as f64 / source.rows().max(1) as f64)
}

/// Trains an MLP on the rows of `train`, reporting training accuracy on `monitor` (a small
/// in-memory subset of the training rows; [`monitor_rows`] gives `fit`'s) and choosing the
/// best epoch, with early stopping, on every row of `val`. `progress` is called after every
/// epoch. Errors: as [`fit`](crate::fit), and [`MlpError::Source`] for the source's own.
pub fn fit_stream(
    params: &MlpParams,
    train: &mut dyn BlockSource,
    monitor: Labeled<'_>,
    mut val: Option<&mut dyn BlockSource>,
    n_classes: usize,
    progress: &mut dyn FnMut(EpochStats),
) -> Result<(Mlp, History), MlpError> {
    params.check()?;
    if params.class_weight != wb_linear::ClassWeight::None {
        // The weights come from the whole training set's class counts, which a stream only
        // knows after a full pass; in-memory `fit` supports them.
        return Err(MlpError::invalid(
            "class-weight",
            "class weights are not supported when training from streamed blocks (train in \
             memory, or use --class-weight none)",
        ));
    }
    if n_classes < 2 {
        return Err(MlpError::invalid(
            "n_classes",
            format!("need at least 2 classes, got {n_classes}"),
        ));
    }
    let (n, d) = (train.rows(), train.dim());
    if n == 0 || d == 0 {
        return Err(MlpError::Data(format!("training set is empty ({n} x {d})")));
    }
    check_data(&monitor.x, monitor.y, n_classes, "monitoring subset")?;
    if monitor.x.ncols() != d || val.as_ref().is_some_and(|v| v.dim() != d) {
        return Err(MlpError::Data(format!(
            "the monitoring or validation rows do not have the training set's {d} features"
        )));
    }
    let started = Instant::now();
    let specs = params.architecture(d, n_classes);
    let mut net = Network::<f32>::init(d, specs, params.init, params.seed);
    let mut optimizer = Optimizer::new(params, &mut net);
    let mut rng = shuffle_rng(params.seed);
    draw_monitor(params, n, &mut rng);

    let batch = params.batch_size.min(n);
    let mut xb = Array2::<f32>::zeros((batch, d));
    let mut batcher = Batcher::new(params, batch, d)?;
    let mut yb = vec![0usize; batch];
    // The loss helper sizes `dscores` to the batch: a block's short last batch gets its own.
    let mut dscores_full = Array2::<f32>::zeros((batch, n_classes));
    let mut dscores_tail = Array2::<f32>::zeros((0, n_classes));
    // Kept between blocks of the same size, as in wb_linear::stream (one block = fit's order).
    let mut order: Vec<usize> = Vec::new();
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
        let mut loss_sum = 0.0;
        let mut batches = 0usize;
        let mut seen = 0usize;
        let mut step_times: Vec<f64> = Vec::new();
        train
            .for_each_block(
                Some(block_order_seed(params.seed, epoch + 1)),
                &mut |block| {
                    check_data(&block.x, block.y, n_classes, "training block")?;
                    if block.x.ncols() != d {
                        return Err(Box::new(MlpError::Data(format!(
                            "a training block has {} features, expected {d}",
                            block.x.ncols()
                        ))));
                    }
                    let owned = block.x.as_standard_layout();
                    let x = owned.view();
                    let m_block = x.nrows();
                    seen += m_block;
                    if order.len() != m_block {
                        order = (0..m_block).collect();
                    }
                    order.shuffle(&mut rng);
                    for chunk in order.chunks(batch) {
                        let step_start = Instant::now();
                        let m = chunk.len();
                        batcher.fill(&x, chunk, &mut xb);
                        for (dst, &i) in yb.iter_mut().zip(chunk) {
                            *dst = block.y[i];
                        }
                        let dscores = if m == batch {
                            &mut dscores_full
                        } else {
                            if dscores_tail.nrows() != m {
                                dscores_tail = Array2::zeros((m, n_classes));
                            }
                            &mut dscores_tail
                        };
                        let xv = xb.slice(ndarray::s![..m, ..]);
                        net.forward(xv, true);
                        let data_loss =
                            params.loss.loss_and_grad(net.scores(), &yb[..m], dscores) as f64;
                        let mut updater = optimizer.step(lr, params.reg);
                        net.backward_update(xv, dscores.view(), &mut updater);
                        let square_sum = updater.square_sum();
                        let loss = data_loss + params.reg * square_sum;
                        if !loss.is_finite() {
                            return Err(Box::new(MlpError::Diverged {
                                epoch: epoch + 1,
                                loss,
                                learning_rate: lr,
                            }));
                        }
                        loss_sum += loss;
                        batches += 1;
                        step_times.push(step_start.elapsed().as_secs_f64());
                    }
                    Ok(())
                },
            )
            .map_err(from_source)?;
        if seen != n {
            return Err(MlpError::Data(format!(
                "the training source delivered {seen} rows in epoch {}, expected {n}",
                epoch + 1
            )));
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        step_times.sort_unstable_by(f64::total_cmp);
        let fastest_step_seconds = step_times.first().copied().unwrap_or(0.0);
        let median_step_seconds = step_times.get(step_times.len() / 2).copied().unwrap_or(0.0);

        predict_into(&mut net, monitor.x, &mut pred);
        let train_accuracy = accuracy(&pred, monitor.y);
        let val_accuracy = match val.as_deref_mut() {
            Some(v) => Some(stream_accuracy(&mut net, v, n_classes, &mut pred)?),
            None => None,
        };
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

/// Bytes the training state of an MLP for `d` inputs and `n_classes` outputs holds: every
/// tensor four times (values, gradients, two optimiser moments) plus the best epoch's copy,
/// and the activations and their gradients of one mini-batch (three buffers per layer output,
/// a conservative count) and the gathered batch itself.
pub fn training_bytes(params: &MlpParams, d: usize, n_classes: usize) -> u64 {
    let mut weights = 0u64;
    let mut activations = 0u64;
    let mut width = d as u64;
    let pieces = if params.activation == crate::ActivationKind::Maxout {
        params.maxout_pieces.max(1)
    } else {
        1
    };
    let mut outputs: Vec<u64> = params.hidden.iter().map(|&h| (h * pieces) as u64).collect();
    outputs.push(n_classes as u64);
    for (i, &out) in outputs.iter().enumerate() {
        weights += width * out + out;
        activations += 3 * out;
        width = if i + 1 < outputs.len() {
            params.hidden[i] as u64
        } else {
            out
        };
    }
    let batch = params.batch_size as u64;
    4 * (5 * weights + batch * (activations + d as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wb_linear::stream::InMemory;

    fn blobs(n: usize, d: usize, c: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let y: Vec<usize> = (0..n).map(|i| i % c).collect();
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            use rand::Rng;
            rng.gen_range(-1.0f32..1.0) + if j % c == y[i] { 1.0 } else { 0.0 }
        });
        (x, y)
    }

    fn params() -> MlpParams {
        MlpParams {
            hidden: vec![16],
            epochs: 5,
            batch_size: 32,
            train_eval_samples: 100,
            ..MlpParams::default()
        }
    }

    #[test]
    fn one_block_reproduces_fit_exactly() {
        let (x, y) = blobs(300, 8, 3, 1);
        let (xv, yv) = blobs(90, 8, 3, 2);
        let p = params();
        let (fitted, h1) =
            crate::fit(&p, x.view(), &y, 3, Some((xv.view(), &yv)), &mut |_| {}).unwrap();
        let rows = monitor_rows(&p, x.nrows());
        let xm = x.select(ndarray::Axis(0), &rows);
        let ym: Vec<usize> = rows.iter().map(|&i| y[i]).collect();
        let (streamed, h2) = fit_stream(
            &p,
            &mut InMemory {
                data: Labeled { x: x.view(), y: &y },
            },
            Labeled {
                x: xm.view(),
                y: &ym,
            },
            Some(&mut InMemory {
                data: Labeled {
                    x: xv.view(),
                    y: &yv,
                },
            }),
            3,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(fitted.scores(xv.view()), streamed.scores(xv.view()));
        let curve = |h: &History| -> Vec<_> {
            h.epochs
                .iter()
                .map(|e| (e.loss, e.train_accuracy, e.val_accuracy))
                .collect()
        };
        assert_eq!(curve(&h1), curve(&h2));
    }

    #[test]
    fn the_state_estimate_counts_weights_and_batch_buffers() {
        let p = MlpParams {
            hidden: vec![1000],
            batch_size: 200,
            ..MlpParams::default()
        };
        let bytes = training_bytes(&p, 3072, 10);
        let weights = (3072 * 1000 + 1000 + 1000 * 10 + 10) as u64;
        assert!(bytes >= 4 * 5 * weights, "{bytes}");
        assert!(
            bytes < 4 * 5 * weights + 4 * 200 * (3 * 1010 + 3072) + 1,
            "{bytes}"
        );
    }
}
