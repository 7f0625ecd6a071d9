//! The full-batch objective `L(W, b) = (1/N) Σ_i L_i(x_i·W + b, y_i) + λ Σ W²` and its gradient,
//! computed in one pass over `X` (for L-BFGS).
//!
//! Why not two `ndarray` products (`S = X·W`, then `∂W = Xᵀ·∂S`)? With C ≈ 10 output columns
//! the products are memory-bound and `matrixmultiply` copies (packs) all of `X` for each of
//! them; here each block of four rows is read once from memory, scored against every class
//! and immediately folded into `∂W` while it sits in cache. Measured on CIFAR-10 k-means
//! features (49,000 x 6,400, C = 10, 2 threads): see BENCHMARKS.md.
//!
//! Deterministic: the rows are split into one contiguous part per thread and the partial
//! gradients are summed in part order, so the result depends only on the thread count.

use std::time::Instant;

use ndarray::{Array1, Array2};
use rayon::prelude::*;

use crate::lbfgs::{self, Settings};
use crate::model::{accuracy, EpochStats, Fit, Labeled, LinearModel, LinearParams};
use crate::rows::RowSource;
use crate::{LinearError, LossKind};

/// Iterations without a better validation accuracy after which an L2 strength's solve stops.
///
/// The iterate with the best validation accuracy is what is kept, so iterating on after it
/// only matters if a better one comes later. On CIFAR-10 raw pixels (98,000 x 3,072, λ = 1e-3,
/// 300 iterations, `crates/linear/BENCH.md`) validation accuracy peaked at iteration 111
/// (0.426) and reached at most 0.425 in the remaining 189 iterations; the longest run without
/// a new best before the peak was 38 iterations (73 → 111), within this patience.
pub const PATIENCE: usize = 50;

/// Trains one model per entry of `grid` (which may differ only in `reg` and `iterations`) by
/// L-BFGS on the exact objective, and keeps for each the iterate with the best validation
/// accuracy (the last one when there is no validation set). With a validation set, a solve
/// also stops after [`PATIENCE`] iterations without a better validation accuracy.
///
/// The entries are solved from the strongest L2 to the weakest, each starting from the previous
/// solution (a warm-started regularisation path, as liblinear and glmnet do): the objective is
/// strictly convex for λ > 0, so the start changes how many iterations are needed, not where
/// they lead; with the iteration cap reached, a point can differ slightly from a cold start.
pub(crate) fn fit_grid(
    grid: &[LinearParams],
    train_x: &dyn RowSource,
    train_y: &[usize],
    val: Option<Labeled<'_>>,
    n_classes: usize,
    class_weights: Option<&[f64]>,
    on_epoch: &mut dyn FnMut(usize, &EpochStats),
) -> Vec<Result<Fit, LinearError>> {
    let (n, d) = (train_x.nrows(), train_x.ncols());
    let c = n_classes;
    let mut order: Vec<usize> = (0..grid.len()).collect();
    order.sort_by(|&a, &b| grid[b].reg.total_cmp(&grid[a].reg));
    let mut theta = vec![0f64; c * d + c];
    let mut wt = Array2::<f32>::zeros((c, d));
    let mut bias = vec![0f32; c];
    let mut results: Vec<Option<Result<Fit, LinearError>>> =
        (0..grid.len()).map(|_| None).collect();
    for &k in &order {
        let params = &grid[k];
        let reg = params.reg;
        // Training accuracy at the last point evaluated, which is the accepted iterate when
        // `on_iteration` runs: the full training set, at no extra cost.
        let last_correct = std::cell::Cell::new(0usize);
        let mut objective = |th: &[f64], grad: &mut [f64]| -> f64 {
            for (dst, &v) in wt.iter_mut().zip(&th[..c * d]) {
                *dst = v as f32;
            }
            for (dst, &v) in bias.iter_mut().zip(&th[c * d..]) {
                *dst = v as f32;
            }
            let (grad_w, grad_b) = grad.split_at_mut(c * d);
            let (data, correct) = data_loss_and_grad(
                params.loss,
                class_weights,
                train_x,
                train_y,
                &wt,
                &bias,
                grad_w,
                grad_b,
            );
            last_correct.set(correct);
            let mut l2 = 0.0;
            for (g, &w) in grad_w.iter_mut().zip(&th[..c * d]) {
                *g += 2.0 * reg * w;
                l2 += w * w;
            }
            data + reg * l2
        };
        let mut history = Vec::new();
        let mut best: Option<(f64, LinearModel)> = None;
        let mut best_iteration = 0;
        let mut last = Instant::now();
        let mut on_iteration = |iteration: usize, fx: f64, th: &[f64]| -> bool {
            let model = model_from(params.loss, th, c, d);
            let val_accuracy = val.as_ref().map(|v| accuracy(&model.predict(v.x), v.y));
            let stats = EpochStats {
                epoch: iteration,
                loss: fx,
                learning_rate: 0.0,
                train_accuracy: last_correct.get() as f64 / n.max(1) as f64,
                val_accuracy,
                seconds: last.elapsed().as_secs_f64(),
            };
            last = Instant::now();
            on_epoch(k, &stats);
            history.push(stats);
            let better = match (val_accuracy, &best) {
                (None, _) | (_, None) => true,
                (Some(acc), Some((b, _))) => acc > *b,
            };
            if better {
                best = Some((val_accuracy.unwrap_or(0.0), model));
                best_iteration = iteration;
            }
            val_accuracy.is_none() || iteration - best_iteration < PATIENCE
        };
        let settings = Settings {
            memory: 20,
            max_iterations: params.iterations,
            gradient_tolerance: 1e-6,
            function_tolerance: 1e-10,
        };
        let outcome = lbfgs::minimize(&mut theta, &mut objective, settings, &mut on_iteration);
        results[k] = Some(match (outcome, best) {
            (Err(f), _) => {
                theta.iter_mut().for_each(|t| *t = 0.0);
                Err(LinearError::NonFiniteObjective(f))
            }
            (Ok(_), Some((_, model))) => Ok((model, history)),
            // Converged before the first iteration (e.g. a zero gradient at the start).
            (Ok(_), None) => Ok((model_from(params.loss, &theta, c, d), history)),
        });
    }
    results
        .into_iter()
        .map(|r| r.expect("every grid entry solved"))
        .collect()
}

/// The model whose parameters `θ = [Wᵀ (C x D, row-major); b (C)]`.
fn model_from(loss: LossKind, theta: &[f64], c: usize, d: usize) -> LinearModel {
    let weights = Array2::from_shape_fn((d, c), |(j, k)| theta[k * d + j] as f32);
    let bias = Array1::from_shape_fn(c, |k| theta[c * d + k] as f32);
    LinearModel {
        loss,
        weights,
        bias,
    }
}

/// Rows scored together (their four rows stay in L1/L2 while every class is visited).
const ROWS: usize = 4;

/// Blocks of rows whose gradient is summed in `f32` before it is added to the `f64` total
/// (1,024 rows: the `f32` partial sums stay short, and the flush costs 0.1 % of the work).
const FLUSH_BLOCKS: usize = 256;

/// Data loss `(1/N) Σ L_i` at weights `wt` (C x D, row k = class k) and `bias`, and how many
/// rows the scores classify correctly (free: the scores are at hand); the gradient of the data
/// loss goes into `grad_wt` (C·D, row-major) and `grad_b` (C). The L2 term is the caller's.
/// Losses and the gradient are accumulated in `f64`. With `class_weights` each row's loss
/// and gradient are multiplied by its class's weight (`(1/N) Σ_i w_{y_i} L_i`).
#[allow(clippy::too_many_arguments)]
pub fn data_loss_and_grad(
    loss: LossKind,
    class_weights: Option<&[f64]>,
    x: &dyn RowSource,
    y: &[usize],
    wt: &Array2<f32>,
    bias: &[f32],
    grad_wt: &mut [f64],
    grad_b: &mut [f64],
) -> (f64, usize) {
    let rows: Vec<usize> = (0..x.nrows()).collect();
    let c = bias.len();
    let (losses, correct) = grouped_loss_and_grad(
        loss,
        class_weights,
        x,
        &rows,
        y,
        c,
        wt,
        bias,
        grad_wt,
        grad_b,
    );
    (losses[0], correct[0])
}

/// As [`data_loss_and_grad`] for the rows `rows` of `x` (labels `y[rows[i]]`), and for `G`
/// models side by side: `wt` is (G·C) x D and the loss is applied to each block of `c` score
/// columns separately; returns each model's mean data loss and count of correctly classified
/// rows (first maximum wins, as in `argmax_rows`). Rows stored as contiguous `f32` are read in
/// place (no gather); others are read into a buffer of four rows.
///
/// Each block of four rows is read from memory once: it is scored against up to five classes
/// per sweep (AVX-512: 20 accumulators; AVX2: two classes, 8 accumulators), the loss gradient
/// of its scores computed, and folded into `∂W` in the same way while the rows are in cache.
/// The kernel family follows `wb_gemm::active()` (so `WB_SIMD` forces it here too).
#[allow(clippy::too_many_arguments)]
pub fn grouped_loss_and_grad(
    loss: LossKind,
    class_weights: Option<&[f64]>,
    x: &dyn RowSource,
    rows: &[usize],
    y: &[usize],
    c: usize,
    wt: &Array2<f32>,
    bias: &[f32],
    grad_wt: &mut [f64],
    grad_b: &mut [f64],
) -> (Vec<f64>, Vec<usize>) {
    let simd = kernels::Family::of(wb_gemm::active());
    grouped_with(
        simd,
        loss,
        class_weights,
        x,
        rows,
        y,
        c,
        wt,
        bias,
        grad_wt,
        grad_b,
    )
}

/// [`grouped_loss_and_grad`] with the kernel family given (tests run every one).
#[allow(clippy::too_many_arguments)]
fn grouped_with(
    simd: kernels::Family,
    loss: LossKind,
    class_weights: Option<&[f64]>,
    x: &dyn RowSource,
    rows: &[usize],
    y: &[usize],
    c: usize,
    wt: &Array2<f32>,
    bias: &[f32],
    grad_wt: &mut [f64],
    grad_b: &mut [f64],
) -> (Vec<f64>, Vec<usize>) {
    let n = rows.len();
    let d = x.ncols();
    let k_all = bias.len();
    let groups = k_all / c.max(1);
    debug_assert_eq!(wt.dim(), (k_all, d));
    debug_assert_eq!(grad_wt.len(), k_all * d);
    let threads = rayon::current_num_threads().max(1);
    // Parts of whole 4-row blocks, at least 32 rows each so tiny batches stay on one thread.
    let part = n.div_ceil(threads).max(32).div_ceil(ROWS) * ROWS;
    let parts: Vec<&[usize]> = rows.chunks(part.max(ROWS)).collect();
    let wt = wt.as_standard_layout();
    let wt = wt.as_slice().expect("standard layout");
    let inv_n = 1.0 / n.max(1) as f64;
    type Partial = (Vec<f64>, Vec<usize>, Vec<f64>, Vec<f64>);
    let partials: Vec<Partial> = parts
        .par_iter()
        .map(|part_rows| {
            let mut gw = vec![0f32; k_all * d];
            let mut gw64 = vec![0f64; k_all * d];
            let mut gb = vec![0f64; k_all];
            let mut scores = Array2::<f64>::zeros((ROWS, c));
            let mut dscores = Array2::<f64>::zeros((ROWS, c));
            let mut block_scores = vec![[0f32; ROWS]; k_all];
            let mut dall = vec![[0f32; ROWS]; k_all];
            let mut totals = vec![0f64; groups];
            let mut correct = vec![0usize; groups];
            let mut copies: Vec<Vec<f32>> = vec![vec![0f32; d]; ROWS];
            let mut labels = [0usize; ROWS];
            for (b, block) in part_rows.chunks(ROWS).enumerate() {
                let m = block.len();
                // Rows stored in place are borrowed; others are read into `copies` once.
                let mut in_place: [Option<&[f32]>; ROWS] = [None; ROWS];
                for (slot, &i) in in_place.iter_mut().zip(block) {
                    *slot = x.row_in_place(i);
                }
                for ((buf, &i), slot) in copies.iter_mut().zip(block).zip(&in_place) {
                    if slot.is_none() {
                        x.read_row(i, buf);
                    }
                }
                let mut views: [&[f32]; ROWS] = [&[]; ROWS];
                for (r, view) in views.iter_mut().enumerate() {
                    let src = r.min(m - 1);
                    *view = in_place[src].unwrap_or(&copies[src]);
                }
                for (r, &i) in block.iter().enumerate() {
                    labels[r] = y[i];
                }
                kernels::scores(simd, wt, d, views, &mut block_scores);
                for gi in 0..groups {
                    for r in 0..m {
                        for k in 0..c {
                            let kk = gi * c + k;
                            scores[[r, k]] = (block_scores[kk][r] + bias[kk]) as f64;
                        }
                    }
                    for (r, &label) in labels.iter().enumerate().take(m) {
                        let row = scores.row(r);
                        let top = (0..c).fold(0, |b, j| if row[j] > row[b] { j } else { b });
                        correct[gi] += usize::from(top == label);
                    }
                    // In f64: the block's losses are summed exactly enough that the objective
                    // L-BFGS compares between line-search trials is not f32 noise.
                    let mean = loss.weighted_loss_and_grad(
                        scores.slice(ndarray::s![..m, ..]),
                        &labels[..m],
                        class_weights,
                        &mut dscores,
                    );
                    totals[gi] += mean * m as f64;
                    // loss_and_grad divides by the block's m rows; rescale to 1/n.
                    let scale = m as f64 * inv_n;
                    for k in 0..c {
                        let g = &mut dall[gi * c + k];
                        for (r, gr) in g.iter_mut().enumerate() {
                            *gr = if r < m {
                                (dscores[[r, k]] * scale) as f32
                            } else {
                                0.0
                            };
                        }
                    }
                    if dscores.nrows() != ROWS {
                        dscores = Array2::zeros((ROWS, c));
                    }
                }
                for (kk, g) in dall.iter().enumerate() {
                    gb[kk] += g.iter().map(|&v| v as f64).sum::<f64>();
                }
                kernels::accumulate(simd, &mut gw, d, &dall, views);
                if (b + 1) % FLUSH_BLOCKS == 0 {
                    flush(&mut gw, &mut gw64);
                }
            }
            flush(&mut gw, &mut gw64);
            (totals, correct, gw64, gb)
        })
        .collect();
    grad_wt.iter_mut().for_each(|g| *g = 0.0);
    grad_b.iter_mut().for_each(|g| *g = 0.0);
    let mut totals = vec![0f64; groups];
    let mut correct = vec![0usize; groups];
    for (t, right, gw, gb) in partials {
        totals.iter_mut().zip(&t).for_each(|(a, b)| *a += b);
        correct.iter_mut().zip(&right).for_each(|(a, b)| *a += b);
        grad_wt.iter_mut().zip(&gw).for_each(|(o, v)| *o += v);
        grad_b.iter_mut().zip(&gb).for_each(|(o, v)| *o += v);
    }
    (totals.iter().map(|t| t * inv_n).collect(), correct)
}

/// Adds the `f32` partial gradient into the `f64` one and clears it.
fn flush(gw: &mut [f32], gw64: &mut [f64]) {
    for (a, g) in gw64.iter_mut().zip(gw.iter_mut()) {
        *a += *g as f64;
        *g = 0.0;
    }
}

/// The two sweeps over a block of four rows: scores `w_k · x_r` for every class `k`, and
/// `∂w_k += Σ_r g_kr x_r`. Several classes share each load of the rows.
mod kernels {
    use super::ROWS;

    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Family {
        #[cfg(target_arch = "x86_64")]
        Avx512,
        #[cfg(target_arch = "x86_64")]
        Avx2,
        Portable,
    }

    impl Family {
        /// The kernels matching a wb-gemm family (which is only ever a supported one).
        pub fn of(simd: wb_gemm::Simd) -> Family {
            match simd {
                #[cfg(target_arch = "x86_64")]
                wb_gemm::Simd::Avx512 => Family::Avx512,
                #[cfg(target_arch = "x86_64")]
                wb_gemm::Simd::Avx2 => Family::Avx2,
                _ => Family::Portable,
            }
        }
    }

    /// `out[k][r] = w_k · x_r` for every row `k` of `w` (k_all x d, row-major).
    pub fn scores(f: Family, w: &[f32], d: usize, x: [&[f32]; ROWS], out: &mut [[f32; ROWS]]) {
        let k_all = out.len();
        let mut k = 0;
        while k < k_all {
            let q = match f {
                #[cfg(target_arch = "x86_64")]
                Family::Avx512 => (k_all - k).min(5),
                #[cfg(target_arch = "x86_64")]
                Family::Avx2 => (k_all - k).min(2),
                Family::Portable => 1,
            };
            let rows = &w[k * d..(k + q) * d];
            let dst = &mut out[k..k + q];
            match f {
                // SAFETY: the family was detected (wb_gemm::active only picks supported ones).
                #[cfg(target_arch = "x86_64")]
                Family::Avx512 => unsafe {
                    match q {
                        5 => avx512::dot::<5>(rows, d, x, dst),
                        4 => avx512::dot::<4>(rows, d, x, dst),
                        3 => avx512::dot::<3>(rows, d, x, dst),
                        2 => avx512::dot::<2>(rows, d, x, dst),
                        _ => avx512::dot::<1>(rows, d, x, dst),
                    }
                },
                #[cfg(target_arch = "x86_64")]
                Family::Avx2 => unsafe {
                    match q {
                        2 => avx2::dot::<2>(rows, d, x, dst),
                        _ => avx2::dot::<1>(rows, d, x, dst),
                    }
                },
                Family::Portable => {
                    for (r, o) in dst[0].iter_mut().enumerate() {
                        *o = rows.iter().zip(x[r]).map(|(a, b)| a * b).sum();
                    }
                }
            }
            k += q;
        }
    }

    /// `gw_k += Σ_r g[k][r] x_r` for every class `k` whose four coefficients are not all zero
    /// (a hinge loss leaves most classes of most rows at zero).
    pub fn accumulate(f: Family, gw: &mut [f32], d: usize, g: &[[f32; ROWS]], x: [&[f32]; ROWS]) {
        let live = |k: usize| g[k].iter().any(|&v| v != 0.0);
        let k_all = g.len();
        let max_q = match f {
            #[cfg(target_arch = "x86_64")]
            Family::Avx512 => 5,
            #[cfg(target_arch = "x86_64")]
            Family::Avx2 => 2,
            Family::Portable => 1,
        };
        let mut k = 0;
        while k < k_all {
            if !live(k) {
                k += 1;
                continue;
            }
            // A run of live classes, at most max_q long.
            let mut q = 1;
            while q < max_q && k + q < k_all && live(k + q) {
                q += 1;
            }
            let dst = &mut gw[k * d..(k + q) * d];
            let coef = &g[k..k + q];
            match f {
                // SAFETY: as in `scores`.
                #[cfg(target_arch = "x86_64")]
                Family::Avx512 => unsafe {
                    match q {
                        5 => avx512::axpy::<5>(dst, d, coef, x),
                        4 => avx512::axpy::<4>(dst, d, coef, x),
                        3 => avx512::axpy::<3>(dst, d, coef, x),
                        2 => avx512::axpy::<2>(dst, d, coef, x),
                        _ => avx512::axpy::<1>(dst, d, coef, x),
                    }
                },
                #[cfg(target_arch = "x86_64")]
                Family::Avx2 => unsafe {
                    match q {
                        2 => avx2::axpy::<2>(dst, d, coef, x),
                        _ => avx2::axpy::<1>(dst, d, coef, x),
                    }
                },
                Family::Portable => {
                    let c = coef[0];
                    for (j, o) in dst.iter_mut().enumerate() {
                        *o += c[0] * x[0][j] + c[1] * x[1][j] + c[2] * x[2][j] + c[3] * x[3][j];
                    }
                }
            }
            k += q;
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod avx512 {
        use super::ROWS;
        use std::arch::x86_64::*;

        /// `out[q][r] = w_q · x_r` for `Q` consecutive rows of `w` (each `d` long).
        #[target_feature(enable = "avx512f")]
        pub unsafe fn dot<const Q: usize>(
            w: &[f32],
            d: usize,
            x: [&[f32]; ROWS],
            out: &mut [[f32; ROWS]],
        ) {
            let body = d / 16 * 16;
            let mut acc = [[_mm512_setzero_ps(); ROWS]; Q];
            let wp = w.as_ptr();
            let xp = [x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr()];
            let mut j = 0;
            while j < body {
                let xv = [
                    _mm512_loadu_ps(xp[0].add(j)),
                    _mm512_loadu_ps(xp[1].add(j)),
                    _mm512_loadu_ps(xp[2].add(j)),
                    _mm512_loadu_ps(xp[3].add(j)),
                ];
                for (q, aq) in acc.iter_mut().enumerate() {
                    let wv = _mm512_loadu_ps(wp.add(q * d + j));
                    for r in 0..ROWS {
                        aq[r] = _mm512_fmadd_ps(wv, xv[r], aq[r]);
                    }
                }
                j += 16;
            }
            for q in 0..Q {
                for r in 0..ROWS {
                    let mut s = _mm512_reduce_add_ps(acc[q][r]);
                    for t in body..d {
                        s += w[q * d + t] * x[r][t];
                    }
                    out[q][r] = s;
                }
            }
        }

        /// `dst_q += Σ_r g[q][r] x_r` for `Q` consecutive rows of `dst` (each `d` long).
        #[target_feature(enable = "avx512f")]
        pub unsafe fn axpy<const Q: usize>(
            dst: &mut [f32],
            d: usize,
            g: &[[f32; ROWS]],
            x: [&[f32]; ROWS],
        ) {
            let body = d / 16 * 16;
            let mut gv = [[_mm512_setzero_ps(); ROWS]; Q];
            for q in 0..Q {
                for r in 0..ROWS {
                    gv[q][r] = _mm512_set1_ps(g[q][r]);
                }
            }
            let dp = dst.as_mut_ptr();
            let xp = [x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr()];
            let mut j = 0;
            while j < body {
                let xv = [
                    _mm512_loadu_ps(xp[0].add(j)),
                    _mm512_loadu_ps(xp[1].add(j)),
                    _mm512_loadu_ps(xp[2].add(j)),
                    _mm512_loadu_ps(xp[3].add(j)),
                ];
                for (q, gq) in gv.iter().enumerate() {
                    let p = dp.add(q * d + j);
                    let mut v = _mm512_loadu_ps(p);
                    for r in 0..ROWS {
                        v = _mm512_fmadd_ps(gq[r], xv[r], v);
                    }
                    _mm512_storeu_ps(p, v);
                }
                j += 16;
            }
            for q in 0..Q {
                for t in body..d {
                    dst[q * d + t] += g[q][0] * x[0][t]
                        + g[q][1] * x[1][t]
                        + g[q][2] * x[2][t]
                        + g[q][3] * x[3][t];
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        use super::ROWS;
        use std::arch::x86_64::*;

        #[target_feature(enable = "avx2,fma")]
        unsafe fn hsum(v: __m256) -> f32 {
            let lo = _mm256_castps256_ps128(v);
            let hi = _mm256_extractf128_ps(v, 1);
            let s = _mm_add_ps(lo, hi);
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            _mm_cvtss_f32(s)
        }

        /// As the AVX-512 `dot`, 8 lanes.
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn dot<const Q: usize>(
            w: &[f32],
            d: usize,
            x: [&[f32]; ROWS],
            out: &mut [[f32; ROWS]],
        ) {
            let body = d / 8 * 8;
            let mut acc = [[_mm256_setzero_ps(); ROWS]; Q];
            let wp = w.as_ptr();
            let xp = [x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr()];
            let mut j = 0;
            while j < body {
                for (q, aq) in acc.iter_mut().enumerate() {
                    let wv = _mm256_loadu_ps(wp.add(q * d + j));
                    for r in 0..ROWS {
                        aq[r] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xp[r].add(j)), aq[r]);
                    }
                }
                j += 8;
            }
            for q in 0..Q {
                for r in 0..ROWS {
                    let mut s = hsum(acc[q][r]);
                    for t in body..d {
                        s += w[q * d + t] * x[r][t];
                    }
                    out[q][r] = s;
                }
            }
        }

        /// As the AVX-512 `axpy`, 8 lanes.
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn axpy<const Q: usize>(
            dst: &mut [f32],
            d: usize,
            g: &[[f32; ROWS]],
            x: [&[f32]; ROWS],
        ) {
            let body = d / 8 * 8;
            let mut gv = [[_mm256_setzero_ps(); ROWS]; Q];
            for q in 0..Q {
                for r in 0..ROWS {
                    gv[q][r] = _mm256_set1_ps(g[q][r]);
                }
            }
            let dp = dst.as_mut_ptr();
            let xp = [x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr()];
            let mut j = 0;
            while j < body {
                for (q, gq) in gv.iter().enumerate() {
                    let p = dp.add(q * d + j);
                    let mut v = _mm256_loadu_ps(p);
                    for r in 0..ROWS {
                        v = _mm256_fmadd_ps(gq[r], _mm256_loadu_ps(xp[r].add(j)), v);
                    }
                    _mm256_storeu_ps(p, v);
                }
                j += 8;
            }
            for q in 0..Q {
                for t in body..d {
                    dst[q * d + t] += g[q][0] * x[0][t]
                        + g[q][1] * x[1][t]
                        + g[q][2] * x[2][t]
                        + g[q][3] * x[3][t];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused pass equals the two-product reference `S = XW + b`, `∂W = Xᵀ ∂S`, for every
    /// kernel family this CPU has, and class counts that exercise each sweep width.
    #[test]
    fn fused_pass_matches_matrix_products() {
        for simd in [
            wb_gemm::Simd::Avx512,
            wb_gemm::Simd::Avx2,
            wb_gemm::Simd::Scalar,
        ] {
            if simd.supported() {
                for (n, d, c) in [(23, 37, 5), (9, 48, 10), (41, 19, 3), (5, 64, 2)] {
                    fused_pass_case(kernels::Family::of(simd), n, d, c);
                }
            }
        }
    }

    fn fused_pass_case(simd: kernels::Family, n: usize, d: usize, c: usize) {
        let x = Array2::from_shape_fn((n, d), |(i, j)| ((i * 31 + j * 17) % 13) as f32 / 7.0 - 0.9);
        let w = Array2::from_shape_fn((d, c), |(j, k)| ((j * 5 + k * 11) % 9) as f32 / 20.0 - 0.2);
        let b = Array1::from_shape_fn(c, |k| k as f32 * 0.1 - 0.2);
        let y: Vec<usize> = (0..n).map(|i| (i * 7) % c).collect();
        // Unweighted, and with uneven class weights (the weighted loss's fused path).
        let uneven: Vec<f64> = (0..c).map(|k| 0.5 + k as f64 * 0.75).collect();
        for (loss, class_weights) in [
            LossKind::Hinge,
            LossKind::Softmax,
            LossKind::SquaredHinge,
            LossKind::OvrSquaredHinge,
        ]
        .into_iter()
        .flat_map(|l| [(l, None), (l, Some(uneven.as_slice()))])
        {
            let mut s = x.dot(&w);
            s += &b;
            let mut ds = Array2::zeros(s.dim());
            let want = loss.weighted_loss_and_grad(s.view(), &y, class_weights, &mut ds) as f64;
            let want_gw = x.t().dot(&ds);
            let want_gb = ds.sum_axis(ndarray::Axis(0));

            let mut gw = Array2::<f64>::zeros((c, d));
            let mut gb = vec![0f64; c];
            let wt = w.t().to_owned();
            let want_correct = crate::argmax_rows(s.view())
                .iter()
                .zip(&y)
                .filter(|(p, t)| p == t)
                .count();
            let rows: Vec<usize> = (0..n).collect();
            let (got, correct) = grouped_with(
                simd,
                loss,
                class_weights,
                &x.view(),
                &rows,
                &y,
                c,
                &wt.as_standard_layout().to_owned(),
                b.as_slice().unwrap(),
                gw.as_slice_mut().unwrap(),
                &mut gb,
            );
            let (got, correct) = (got[0], correct[0]);
            assert!((got - want).abs() < 1e-5 * want.abs().max(1.0), "{loss:?}");
            assert_eq!(correct, want_correct, "{loss:?}");
            for (a, &b) in gw.t().iter().zip(want_gw.iter()) {
                assert!((a - b as f64).abs() < 1e-5, "{loss:?}: {a} vs {b}");
            }
            for (a, &b) in gb.iter().zip(want_gb.iter()) {
                assert!((a - b as f64).abs() < 1e-5, "{loss:?}: {a} vs {b}");
            }
        }
    }
}
