//! Training from data that does not fit in memory: mini-batch SGD over a [`BlockSource`], which
//! hands the training rows over one in-memory block at a time (e.g. a few feature shards read
//! from disk), so memory is bounded by the largest block, not by the data set.
//!
//! Each epoch the source visits its blocks in an order drawn from the epoch's seed (for feature
//! shards: the shard order is shuffled), and the trainer shuffles the rows within each block with
//! its own seeded generator before cutting mini-batches — the "shuffle buffer" of streaming data
//! loaders. With a single block holding every row ([`InMemory`]) this is exactly
//! [`LinearModel::fit_grid`]'s SGD: the same initial weights, the same mini-batches, the same
//! numbers (a test checks it), so the two entry points share one definition of the method.
//!
//! L-BFGS needs the exact full-batch objective at every iteration and line-search step, i.e.
//! hundreds of passes over the data; it is refused here (train with [`Solver::Sgd`]).

use ndarray::{s, Array1, Array2, Zip};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::model::normal;
use crate::model::{accuracy, predict_blocks, BatchStep};
use crate::{
    ClassWeight, EpochStats, Fit, Labeled, LinearError, LinearModel, LinearParams, Solver,
};

/// An error of a [`BlockSource`] (reading a file, a damaged shard, ...), passed on unchanged.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Labelled rows delivered as a sequence of in-memory blocks.
pub trait BlockSource {
    /// Feature columns of every block.
    fn dim(&self) -> usize;
    /// Rows over all blocks (one epoch).
    fn rows(&self) -> usize;
    /// Calls `visit` with every row exactly once, in blocks. `shuffle`: `None` visits the
    /// blocks in their stored order; `Some(seed)` in an order drawn from `seed` (the same seed
    /// gives the same order). The block borrowed by `visit` is only valid during the call. An
    /// error from `visit` stops the visit and is returned.
    fn for_each_block(
        &mut self,
        shuffle: Option<u64>,
        visit: &mut dyn FnMut(Labeled<'_>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError>;
}

/// Rows already in memory, as one block.
pub struct InMemory<'a> {
    pub data: Labeled<'a>,
}

impl BlockSource for InMemory<'_> {
    fn dim(&self) -> usize {
        self.data.x.ncols()
    }

    fn rows(&self) -> usize {
        self.data.x.nrows()
    }

    fn for_each_block(
        &mut self,
        _shuffle: Option<u64>,
        visit: &mut dyn FnMut(Labeled<'_>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        visit(Labeled {
            x: self.data.x,
            y: self.data.y,
        })
    }
}

/// The seed of epoch `epoch`'s block order: SplitMix64 of the training seed and the epoch, so
/// that block orders are independent of the generator that shuffles rows.
pub fn block_order_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d4_9bb1_1331_11eb);
    z ^ (z >> 31)
}

/// Checks a block against the training set's shape and labels.
fn check_block(block: &Labeled<'_>, d: usize, n_classes: usize) -> Result<(), LinearError> {
    if block.x.ncols() != d || block.x.nrows() != block.y.len() {
        return Err(LinearError::InvalidData(format!(
            "a block of {} x {} rows for {} labels, expected {d} features",
            block.x.nrows(),
            block.x.ncols(),
            block.y.len()
        )));
    }
    if let Some(&bad) = block.y.iter().find(|&&y| y >= n_classes) {
        return Err(LinearError::InvalidData(format!(
            "label {bad} out of range for {n_classes} classes"
        )));
    }
    Ok(())
}

/// A source's error, or the trainer's own error that travelled through it.
fn from_source(e: SourceError) -> LinearError {
    match e.downcast::<LinearError>() {
        Ok(own) => *own,
        Err(other) => LinearError::Source(other),
    }
}

/// Correct predictions of each of the `g` stacked models on every row of `source`.
fn count_correct(
    source: &mut dyn BlockSource,
    wt: &Array2<f32>,
    bias: &Array1<f32>,
    g: usize,
    c: usize,
) -> Result<Vec<usize>, LinearError> {
    let d = wt.ncols();
    let mut correct = vec![0usize; g];
    source
        .for_each_block(None, &mut |block| {
            check_block(&block, d, c)?;
            let pred = predict_blocks(block.x, wt, bias, g, c);
            for (k, p) in pred.iter().enumerate() {
                correct[k] += p.iter().zip(block.y).filter(|(a, b)| a == b).count();
            }
            Ok(())
        })
        .map_err(from_source)?;
    Ok(correct)
}

/// [`LinearModel::fit_grid`] on rows streamed from `train`: every entry of `grid` trained by
/// mini-batch SGD in one pass over the data per epoch. `monitor` is the small in-memory subset
/// on which training accuracy is reported (`fit_grid` uses every ⌈N/5000⌉-th training row);
/// validation accuracy, which chooses each entry's best epoch, is computed over every row of
/// `val`, block by block.
pub fn fit_grid_stream(
    grid: &[LinearParams],
    train: &mut dyn BlockSource,
    monitor: Labeled<'_>,
    mut val: Option<&mut dyn BlockSource>,
    n_classes: usize,
    on_epoch: &mut dyn FnMut(usize, &EpochStats),
) -> Result<Vec<Result<Fit, LinearError>>, LinearError> {
    let Some(first) = grid.first() else {
        return Ok(Vec::new());
    };
    for p in grid {
        p.check()?;
        if (p.loss, p.epochs, p.batch_size, p.seed, p.average, p.solver)
            != (
                first.loss,
                first.epochs,
                first.batch_size,
                first.seed,
                first.average,
                first.solver,
            )
        {
            return Err(LinearError::InvalidParam {
                param: "grid",
                reason: "a search grid shares loss, epochs, batch size, seed, averaging and solver"
                    .into(),
            });
        }
    }
    if first.class_weight != ClassWeight::None {
        // The weights come from the class counts of the whole training set, which a stream
        // only knows after a full pass; in-memory training (`fit_grid`) supports them.
        return Err(LinearError::InvalidParam {
            param: "class-weight",
            reason: "class weights are not supported when training from streamed blocks \
                     (train in memory, or use --class-weight none)"
                .into(),
        });
    }
    if first.solver == Solver::Lbfgs {
        return Err(LinearError::InvalidParam {
            param: "solver",
            reason: "L-BFGS needs the full-batch objective at every iteration and line-search \
                     step; training from streamed blocks uses the sgd solver (--solver sgd)"
                .into(),
        });
    }
    let (n, d) = (train.rows(), train.dim());
    if n == 0 {
        return Err(LinearError::InvalidData(
            "the training source has no rows".into(),
        ));
    }
    check_block(&monitor, d, n_classes)?;
    if let Some(v) = &val {
        if v.dim() != d {
            return Err(LinearError::InvalidData(format!(
                "validation rows have {} features, training rows {d}",
                v.dim()
            )));
        }
    }
    let g = grid.len();
    let c = n_classes;
    let mut rng = ChaCha8Rng::seed_from_u64(first.seed);
    // As fit_grid: one draw of small random weights (CS231n: 0.001 · randn) shared by every
    // model, held transposed, (G·C) x D.
    let init = Array2::from_shape_fn((d, c), |_| 1e-3 * normal(&mut rng));
    let kc = g * c;
    let mut state = SgdState {
        wt: Array2::zeros((kc, d)),
        bias: Array1::zeros(kc),
        avg_w: Array2::zeros((kc, d)),
        avg_b: Array1::zeros(kc),
        velocity_w: Array2::zeros((kc, d)),
        velocity_b: Array1::zeros(kc),
        dwt: Array2::zeros((kc, d)),
        db: Array1::zeros(kc),
        lr: grid.iter().map(|p| p.learning_rate).collect(),
        diverged: (0..g).map(|_| None).collect(),
    };
    for k in 0..g {
        state
            .wt
            .slice_mut(s![k * c..(k + 1) * c, ..])
            .assign(&init.t());
    }
    let batch = first.batch_size.min(n);
    let mut step = BatchStep::new(batch, d, kc);
    // The row order within a block, shuffled in place each time: kept between blocks of the
    // same size (a shuffle of any permutation is uniform), so that a single block reproduces
    // fit_grid's order exactly.
    let mut order: Vec<usize> = Vec::new();
    let mut histories: Vec<Vec<EpochStats>> = vec![Vec::with_capacity(first.epochs); g];
    let mut best: Vec<Option<(f64, LinearModel)>> = vec![None; g];
    for epoch in 1..=first.epochs {
        let start = std::time::Instant::now();
        let mut loss_sum = vec![0.0f64; g];
        let mut batches = 0usize;
        let mut seen = 0usize;
        train
            .for_each_block(Some(block_order_seed(first.seed, epoch)), &mut |block| {
                check_block(&block, d, c)?;
                let m = block.x.nrows();
                seen += m;
                if order.len() != m {
                    order = (0..m).collect();
                }
                order.shuffle(&mut rng);
                for chunk in order.chunks(batch) {
                    let data = step.run(
                        first.loss,
                        None,
                        block.x,
                        block.y,
                        chunk,
                        c,
                        &state.wt,
                        &state.bias,
                        &mut state.dwt,
                        &mut state.db,
                    );
                    batches += 1;
                    state.update(grid, &data, c, epoch, batches, first.average, &mut loss_sum);
                }
                Ok(())
            })
            .map_err(from_source)?;
        if seen != n {
            return Err(LinearError::InvalidData(format!(
                "the training source delivered {seen} rows in epoch {epoch}, expected {n}"
            )));
        }
        let seconds = start.elapsed().as_secs_f64();
        if first.average {
            for (k, _) in state
                .diverged
                .iter()
                .enumerate()
                .filter(|(_, d)| d.is_some())
            {
                state.avg_w.slice_mut(s![k * c..(k + 1) * c, ..]).fill(0.0);
                state.avg_b.slice_mut(s![k * c..(k + 1) * c]).fill(0.0);
            }
        }
        let (eval_w, eval_b) = if first.average {
            (&state.avg_w, &state.avg_b)
        } else {
            (&state.wt, &state.bias)
        };
        let train_pred = predict_blocks(monitor.x, eval_w, eval_b, g, c);
        let val_correct = match val.as_deref_mut() {
            Some(v) => Some((count_correct(v, eval_w, eval_b, g, c)?, v.rows())),
            None => None,
        };
        for k in 0..g {
            if state.diverged[k].is_some() {
                continue;
            }
            let val_accuracy = val_correct
                .as_ref()
                .map(|(correct, rows)| correct[k] as f64 / (*rows).max(1) as f64);
            let stats = EpochStats {
                epoch,
                loss: loss_sum[k] / batches.max(1) as f64,
                learning_rate: state.lr[k],
                train_accuracy: accuracy(&train_pred[k], monitor.y),
                val_accuracy,
                seconds: seconds / g as f64,
            };
            on_epoch(k, &stats);
            histories[k].push(stats);
            let is_best = match (val_accuracy, &best[k]) {
                (None, _) | (Some(_), None) => true,
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
            state.lr[k] *= grid[k].lr_decay;
        }
    }
    Ok(best
        .into_iter()
        .zip(histories)
        .zip(state.diverged)
        .map(|((best, history), diverged)| match (diverged, best) {
            (Some(e), _) => Err(e),
            (None, Some((_, model))) => Ok((model, history)),
            (None, None) => Err(LinearError::InvalidData("no epoch was trained".into())),
        })
        .collect())
}

/// The weights of the G stacked models and their optimiser state.
struct SgdState {
    wt: Array2<f32>,
    bias: Array1<f32>,
    avg_w: Array2<f32>,
    avg_b: Array1<f32>,
    velocity_w: Array2<f32>,
    velocity_b: Array1<f32>,
    dwt: Array2<f32>,
    db: Array1<f32>,
    lr: Vec<f64>,
    diverged: Vec<Option<LinearError>>,
}

impl SgdState {
    /// After a mini-batch whose data gradients are in `dwt`, `db` and whose data losses are
    /// `data`: records each model's objective (data + λ Σ W²), marks a non-finite one as
    /// diverged, applies momentum SGD `v ← μ v − lr (∇ + 2λW)`, `W ← W + v` (bias without L2)
    /// and updates the running mean of this epoch's iterates `a ← a + (w − a) / t`.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        grid: &[LinearParams],
        data: &[f64],
        c: usize,
        epoch: usize,
        batches: usize,
        average: bool,
        loss_sum: &mut [f64],
    ) {
        for (k, params) in grid.iter().enumerate() {
            let rows = s![k * c..(k + 1) * c, ..];
            let reg = params.reg as f32;
            let l2 = if reg > 0.0 {
                reg * self.wt.slice(rows).iter().map(|w| w * w).sum::<f32>()
            } else {
                0.0
            };
            let loss = data[k] as f32 + l2;
            if !loss.is_finite() && self.diverged[k].is_none() {
                self.diverged[k] = Some(LinearError::Diverged {
                    epoch,
                    loss: loss as f64,
                    lr: self.lr[k],
                });
            }
            loss_sum[k] += loss as f64;
        }
        for (k, params) in grid.iter().enumerate() {
            let rows = s![k * c..(k + 1) * c, ..];
            let brows = s![k * c..(k + 1) * c];
            if self.diverged[k].is_some() {
                // Keep a diverged model's NaNs out of the shared buffers.
                self.wt.slice_mut(rows).fill(0.0);
                self.bias.slice_mut(brows).fill(0.0);
                continue;
            }
            let (mu, step) = (params.momentum as f32, self.lr[k] as f32);
            let two_reg = 2.0 * params.reg as f32;
            Zip::from(self.velocity_w.slice_mut(rows))
                .and(self.dwt.slice(rows))
                .and(self.wt.slice_mut(rows))
                .for_each(|v, &gw, w| {
                    *v = mu * *v - step * (gw + two_reg * *w);
                    *w += *v;
                });
            Zip::from(self.velocity_b.slice_mut(brows))
                .and(self.db.slice(brows))
                .and(self.bias.slice_mut(brows))
                .for_each(|v, &gb, b| {
                    *v = mu * *v - step * gb;
                    *b += *v;
                });
        }
        if average {
            let t = 1.0 / batches as f32;
            Zip::from(&mut self.avg_w)
                .and(&self.wt)
                .for_each(|a, &w| *a += (w - *a) * t);
            Zip::from(&mut self.avg_b)
                .and(&self.bias)
                .for_each(|a, &b| *a += (b - *a) * t);
        }
    }
}

/// The monitoring subset `fit_grid` uses: every ⌈N/5000⌉-th row of `n` (at most 5,000 rows).
pub fn monitor_rows(n: usize) -> Vec<usize> {
    (0..n).step_by(n.div_ceil(5000).max(1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LossKind;
    use ndarray::{ArrayView2, Axis};

    fn blobs(n: usize, d: usize, c: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let y: Vec<usize> = (0..n).map(|i| i % c).collect();
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            normal(&mut rng) + if j % c == y[i] { 1.5 } else { 0.0 }
        });
        (x, y)
    }

    /// Blocks of `size` consecutive rows, visited in an order drawn from the seed.
    struct Chunked<'a> {
        x: ArrayView2<'a, f32>,
        y: &'a [usize],
        size: usize,
        orders: Vec<Vec<usize>>,
    }

    impl BlockSource for Chunked<'_> {
        fn dim(&self) -> usize {
            self.x.ncols()
        }
        fn rows(&self) -> usize {
            self.x.nrows()
        }
        fn for_each_block(
            &mut self,
            shuffle: Option<u64>,
            visit: &mut dyn FnMut(Labeled<'_>) -> Result<(), SourceError>,
        ) -> Result<(), SourceError> {
            let blocks = self.x.nrows().div_ceil(self.size);
            let mut order: Vec<usize> = (0..blocks).collect();
            if let Some(seed) = shuffle {
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
                self.orders.push(order.clone());
            }
            for b in order {
                let r = b * self.size..((b + 1) * self.size).min(self.x.nrows());
                visit(Labeled {
                    x: self.x.slice(s![r.clone(), ..]),
                    y: &self.y[r],
                })?;
            }
            Ok(())
        }
    }

    fn grid(loss: LossKind) -> Vec<LinearParams> {
        [(0.01, 1e-4), (0.03, 1e-3)]
            .iter()
            .map(|&(lr, reg)| LinearParams {
                learning_rate: lr,
                reg,
                epochs: 4,
                batch_size: 50,
                ..LinearParams::new(loss)
            })
            .collect()
    }

    #[test]
    fn one_block_reproduces_fit_grid_exactly() {
        let (x, y) = blobs(600, 12, 3, 1);
        let (xv, yv) = blobs(200, 12, 3, 2);
        for loss in [LossKind::Softmax, LossKind::Hinge] {
            let grid = grid(loss);
            let memory = LinearModel::fit_grid(
                &grid,
                Labeled { x: x.view(), y: &y },
                Some(Labeled {
                    x: xv.view(),
                    y: &yv,
                }),
                3,
                &mut |_, _| {},
            )
            .unwrap();
            let monitor = monitor_rows(x.nrows());
            let xm = x.select(Axis(0), &monitor);
            let ym: Vec<usize> = monitor.iter().map(|&i| y[i]).collect();
            let streamed = fit_grid_stream(
                &grid,
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
                &mut |_, _| {},
            )
            .unwrap();
            for (a, b) in memory.iter().zip(&streamed) {
                let ((ma, ha), (mb, hb)) = (a.as_ref().unwrap(), b.as_ref().unwrap());
                assert_eq!(ma.weights, mb.weights, "{loss:?}");
                assert_eq!(ma.bias, mb.bias);
                // Same weights, same accuracies; the reported loss's Σ W² is summed in another
                // order by the two paths (8-lane f32 partial sums in memory), so it agrees to
                // about 1e-8 relative, not bit for bit.
                assert_eq!(ha.len(), hb.len());
                for (ea, eb) in ha.iter().zip(hb.iter()) {
                    assert_eq!(ea.val_accuracy, eb.val_accuracy, "{loss:?}");
                    assert!(
                        (ea.loss - eb.loss).abs() <= 1e-6 * ea.loss.abs().max(1.0),
                        "{loss:?}: loss {} against {}",
                        ea.loss,
                        eb.loss
                    );
                }
            }
        }
    }

    #[test]
    fn shuffled_blocks_train_as_well_and_visit_blocks_in_seeded_orders() {
        let (x, y) = blobs(1200, 10, 4, 3);
        let (xv, yv) = blobs(400, 10, 4, 4);
        let grid = grid(LossKind::Softmax);
        let monitor = monitor_rows(x.nrows());
        let xm = x.select(Axis(0), &monitor);
        let ym: Vec<usize> = monitor.iter().map(|&i| y[i]).collect();
        let run = |size: usize| {
            let mut source = Chunked {
                x: x.view(),
                y: &y,
                size,
                orders: Vec::new(),
            };
            let fits = fit_grid_stream(
                &grid,
                &mut source,
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
                4,
                &mut |_, _| {},
            )
            .unwrap();
            let model = &fits[0].as_ref().unwrap().0;
            (accuracy(&model.predict(xv.view()), &yv), source.orders)
        };
        let (whole, _) = run(1200);
        let (blocked, orders) = run(150);
        assert!(whole > 0.8, "the data are separable: {whole}");
        assert!((whole - blocked).abs() < 0.03, "{whole} vs {blocked}");
        assert_eq!(orders.len(), 4, "one shuffled visit per epoch");
        assert!(orders.windows(2).any(|w| w[0] != w[1]), "{orders:?}");
        let (again, orders_again) = run(150);
        assert_eq!(blocked, again);
        assert_eq!(orders, orders_again);
    }

    #[test]
    fn lbfgs_is_refused_with_the_option_to_use() {
        let (x, y) = blobs(50, 4, 2, 5);
        let params = LinearParams {
            solver: Solver::Lbfgs,
            ..LinearParams::new(LossKind::Softmax)
        };
        let err = fit_grid_stream(
            &[params],
            &mut InMemory {
                data: Labeled { x: x.view(), y: &y },
            },
            Labeled { x: x.view(), y: &y },
            None,
            2,
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("--solver sgd"), "{err}");
    }

    #[test]
    fn a_source_error_is_passed_on() {
        struct Broken;
        impl BlockSource for Broken {
            fn dim(&self) -> usize {
                3
            }
            fn rows(&self) -> usize {
                10
            }
            fn for_each_block(
                &mut self,
                _: Option<u64>,
                _: &mut dyn FnMut(Labeled<'_>) -> Result<(), SourceError>,
            ) -> Result<(), SourceError> {
                Err("shard 2 is damaged".into())
            }
        }
        let x = Array2::<f32>::zeros((2, 3));
        let err = fit_grid_stream(
            &[LinearParams::new(LossKind::Softmax)],
            &mut Broken,
            Labeled {
                x: x.view(),
                y: &[0, 1],
            },
            None,
            2,
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(matches!(err, LinearError::Source(_)));
        assert!(err.to_string().contains("shard 2 is damaged"), "{err}");
    }
}
