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

use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;

use crate::lbfgs::{self, Settings};
use crate::model::{accuracy, EpochStats, Fit, Labeled, LinearModel, LinearParams};
use crate::{LinearError, LossKind};

/// Trains one model per entry of `grid` (which may differ only in `reg` and `iterations`) by
/// L-BFGS on the exact objective, and keeps for each the iterate with the best validation
/// accuracy (the last one when there is no validation set).
///
/// The entries are solved from the strongest L2 to the weakest, each starting from the previous
/// solution (a warm-started regularisation path, as liblinear and glmnet do): the objective is
/// strictly convex for λ > 0, so the start changes how many iterations are needed, not where
/// they lead; with the iteration cap reached, a point can differ slightly from a cold start.
pub(crate) fn fit_grid(
    grid: &[LinearParams],
    train: Labeled<'_>,
    val: Option<Labeled<'_>>,
    n_classes: usize,
    on_epoch: &mut dyn FnMut(usize, &EpochStats),
) -> Vec<Result<Fit, LinearError>> {
    let (n, d) = train.x.dim();
    let c = n_classes;
    let mut order: Vec<usize> = (0..grid.len()).collect();
    order.sort_by(|&a, &b| grid[b].reg.total_cmp(&grid[a].reg));
    let mut theta = vec![0f64; c * d + c];
    let mut wt = Array2::<f32>::zeros((c, d));
    let mut grad_wt = Array2::<f32>::zeros((c, d));
    let mut bias = vec![0f32; c];
    let mut grad_b = vec![0f32; c];
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
            let (data, correct) = data_loss_and_grad(
                params.loss,
                train.x,
                train.y,
                &wt,
                &bias,
                &mut grad_wt,
                &mut grad_b,
            );
            last_correct.set(correct);
            let mut l2 = 0.0;
            for ((g, &gw), &w) in grad[..c * d]
                .iter_mut()
                .zip(grad_wt.iter())
                .zip(&th[..c * d])
            {
                *g = gw as f64 + 2.0 * reg * w;
                l2 += w * w;
            }
            for (g, &gb) in grad[c * d..].iter_mut().zip(&grad_b) {
                *g = gb as f64;
            }
            data + reg * l2
        };
        let mut history = Vec::new();
        let mut best: Option<(f64, LinearModel)> = None;
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
            }
            true
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

/// Data loss `(1/N) Σ L_i` at weights `wt` (C x D, row k = class k) and `bias`, and how many
/// rows the scores classify correctly (free: the scores are at hand); the gradient of the data
/// loss goes into `grad_wt` (C x D) and `grad_b` (C). The L2 term is the caller's.
pub fn data_loss_and_grad(
    loss: LossKind,
    x: ArrayView2<'_, f32>,
    y: &[usize],
    wt: &Array2<f32>,
    bias: &[f32],
    grad_wt: &mut Array2<f32>,
    grad_b: &mut [f32],
) -> (f64, usize) {
    let rows: Vec<usize> = (0..x.nrows()).collect();
    let c = bias.len();
    let (losses, correct) = grouped_loss_and_grad(loss, x, &rows, y, c, wt, bias, grad_wt, grad_b);
    (losses[0], correct[0])
}

/// As [`data_loss_and_grad`] for the rows `rows` of `x` (labels `y[rows[i]]`), and for `G`
/// models side by side: `wt` is (G·C) x D and the loss is applied to each block of `c` score
/// columns separately; returns each model's mean data loss and count of correctly classified
/// rows (first maximum wins, as in `argmax_rows`). Rows are read in place (no gather).
#[allow(clippy::too_many_arguments)]
pub fn grouped_loss_and_grad(
    loss: LossKind,
    x: ArrayView2<'_, f32>,
    rows: &[usize],
    y: &[usize],
    c: usize,
    wt: &Array2<f32>,
    bias: &[f32],
    grad_wt: &mut Array2<f32>,
    grad_b: &mut [f32],
) -> (Vec<f64>, Vec<usize>) {
    let n = rows.len();
    let d = x.ncols();
    let k_all = bias.len();
    let groups = k_all / c.max(1);
    debug_assert_eq!(wt.dim(), (k_all, d));
    let threads = rayon::current_num_threads().max(1);
    // Parts of whole 4-row blocks, at least 32 rows each so tiny batches stay on one thread.
    let part = n.div_ceil(threads).max(32).div_ceil(ROWS) * ROWS;
    let parts: Vec<&[usize]> = rows.chunks(part.max(ROWS)).collect();
    let wt = wt.as_standard_layout();
    let wt = wt.as_slice().expect("standard layout");
    let inv_n = 1.0 / n.max(1) as f32;
    type Partial = (Vec<f64>, Vec<usize>, Vec<f32>, Vec<f32>);
    let partials: Vec<Partial> = parts
        .par_iter()
        .map(|part_rows| {
            let mut gw = vec![0f32; k_all * d];
            let mut gb = vec![0f32; k_all];
            let mut scores = Array2::<f32>::zeros((ROWS, c));
            let mut dscores = Array2::<f32>::zeros((ROWS, c));
            let mut dall = vec![[0f32; ROWS]; k_all];
            let mut totals = vec![0f64; groups];
            let mut correct = vec![0usize; groups];
            let mut copies: Vec<Vec<f32>> = vec![vec![0f32; d]; ROWS];
            let mut labels = [0usize; ROWS];
            for block in part_rows.chunks(ROWS) {
                let m = block.len();
                // Rows of a non-contiguous view are copied once; contiguous ones are borrowed.
                let contiguous = block.iter().all(|&i| x.row(i).as_slice().is_some());
                if !contiguous {
                    for (buf, &i) in copies.iter_mut().zip(block) {
                        buf.iter_mut().zip(x.row(i)).for_each(|(d, &v)| *d = v);
                    }
                }
                let mut views: [&[f32]; ROWS] = [&[]; ROWS];
                for (r, view) in views.iter_mut().enumerate() {
                    let src = r.min(m - 1);
                    *view = if contiguous {
                        x.row(block[src]).to_slice().expect("contiguous row")
                    } else {
                        &copies[src]
                    };
                }
                for (r, &i) in block.iter().enumerate() {
                    labels[r] = y[i];
                }
                for gi in 0..groups {
                    // Two classes per pass: each load of the four rows feeds eight FMAs.
                    let mut k = 0;
                    while k < c {
                        let kk = gi * c + k;
                        if k + 1 < c {
                            let (a, b) = kernels::dot4x2(
                                &wt[kk * d..(kk + 1) * d],
                                &wt[(kk + 1) * d..(kk + 2) * d],
                                views,
                            );
                            for r in 0..ROWS {
                                scores[[r, k]] = a[r] + bias[kk];
                                scores[[r, k + 1]] = b[r] + bias[kk + 1];
                            }
                            k += 2;
                        } else {
                            let dots = kernels::dot4(&wt[kk * d..(kk + 1) * d], views);
                            for r in 0..ROWS {
                                scores[[r, k]] = dots[r] + bias[kk];
                            }
                            k += 1;
                        }
                    }
                    for (r, &label) in labels.iter().enumerate().take(m) {
                        let row = scores.row(r);
                        let top = (0..c).fold(0, |b, j| if row[j] > row[b] { j } else { b });
                        correct[gi] += usize::from(top == label);
                    }
                    let mean = loss.loss_and_grad(
                        scores.slice(ndarray::s![..m, ..]),
                        &labels[..m],
                        &mut dscores,
                    );
                    totals[gi] += mean as f64 * m as f64;
                    // loss_and_grad divides by the block's m rows; rescale to 1/n.
                    let scale = m as f32 * inv_n;
                    for k in 0..c {
                        let g = &mut dall[gi * c + k];
                        for (r, gr) in g.iter_mut().enumerate() {
                            *gr = if r < m { dscores[[r, k]] * scale } else { 0.0 };
                        }
                    }
                    if dscores.nrows() != ROWS {
                        dscores = Array2::zeros((ROWS, c));
                    }
                }
                for (kk, g) in dall.iter().enumerate() {
                    gb[kk] += g.iter().sum::<f32>();
                }
                let nonzero = |g: &[f32; ROWS]| g.iter().any(|&v| v != 0.0);
                let mut kk = 0;
                while kk < k_all {
                    let (ga, a_live) = (dall[kk], nonzero(&dall[kk]));
                    if kk + 1 < k_all && a_live && nonzero(&dall[kk + 1]) {
                        let (wa, wb) = gw[kk * d..(kk + 2) * d].split_at_mut(d);
                        kernels::axpy4x2(wa, wb, ga, dall[kk + 1], views);
                        kk += 2;
                        continue;
                    }
                    if a_live {
                        kernels::axpy4(&mut gw[kk * d..(kk + 1) * d], ga, views);
                    }
                    kk += 1;
                }
            }
            (totals, correct, gw, gb)
        })
        .collect();
    grad_wt.fill(0.0);
    grad_b.iter_mut().for_each(|g| *g = 0.0);
    let mut totals = vec![0f64; groups];
    let mut correct = vec![0usize; groups];
    let gw_out = grad_wt.as_slice_mut().expect("standard layout");
    for (t, right, gw, gb) in partials {
        totals.iter_mut().zip(&t).for_each(|(a, b)| *a += b);
        correct.iter_mut().zip(&right).for_each(|(a, b)| *a += b);
        gw_out.iter_mut().zip(&gw).for_each(|(o, v)| *o += v);
        grad_b.iter_mut().zip(&gb).for_each(|(o, v)| *o += v);
    }
    (
        totals.iter().map(|t| t / n.max(1) as f64).collect(),
        correct,
    )
}

/// `w · x_r` for four rows, and `dst += Σ_r g_r x_r`: AVX2+FMA when the CPU has them.
mod kernels {
    use super::ROWS;

    pub fn dot4(w: &[f32], x: [&[f32]; ROWS]) -> [f32; ROWS] {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { avx2::dot4(w, x) };
        }
        let mut out = [0f32; ROWS];
        for (r, o) in out.iter_mut().enumerate() {
            *o = w.iter().zip(x[r]).map(|(a, b)| a * b).sum();
        }
        out
    }

    /// `(wa · x_r, wb · x_r)` for four rows.
    pub fn dot4x2(wa: &[f32], wb: &[f32], x: [&[f32]; ROWS]) -> ([f32; ROWS], [f32; ROWS]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { avx2::dot4x2(wa, wb, x) };
        }
        (dot4(wa, x), dot4(wb, x))
    }

    /// `da += Σ_r ga_r x_r` and `db += Σ_r gb_r x_r`.
    pub fn axpy4x2(
        da: &mut [f32],
        db: &mut [f32],
        ga: [f32; ROWS],
        gb: [f32; ROWS],
        x: [&[f32]; ROWS],
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { avx2::axpy4x2(da, db, ga, gb, x) };
        }
        axpy4(da, ga, x);
        axpy4(db, gb, x);
    }

    pub fn axpy4(dst: &mut [f32], g: [f32; ROWS], x: [&[f32]; ROWS]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { avx2::axpy4(dst, g, x) };
        }
        for (j, o) in dst.iter_mut().enumerate() {
            *o += g[0] * x[0][j] + g[1] * x[1][j] + g[2] * x[2][j] + g[3] * x[3][j];
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

        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn dot4(w: &[f32], x: [&[f32]; ROWS]) -> [f32; ROWS] {
            let d = w.len();
            let body = d / 8 * 8;
            let (mut a0, mut a1, mut a2, mut a3) = (
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
            );
            let wp = w.as_ptr();
            let (p0, p1, p2, p3) = (x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr());
            let mut j = 0;
            while j < body {
                let wv = _mm256_loadu_ps(wp.add(j));
                a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p0.add(j)), a0);
                a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p1.add(j)), a1);
                a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p2.add(j)), a2);
                a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p3.add(j)), a3);
                j += 8;
            }
            let mut out = [hsum(a0), hsum(a1), hsum(a2), hsum(a3)];
            for j in body..d {
                for (r, o) in out.iter_mut().enumerate() {
                    *o += w[j] * x[r][j];
                }
            }
            out
        }

        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn dot4x2(
            wa: &[f32],
            wb: &[f32],
            x: [&[f32]; ROWS],
        ) -> ([f32; ROWS], [f32; ROWS]) {
            let d = wa.len();
            let body = d / 8 * 8;
            let z = _mm256_setzero_ps();
            let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
            let (mut b0, mut b1, mut b2, mut b3) = (z, z, z, z);
            let (pa, pb) = (wa.as_ptr(), wb.as_ptr());
            let (p0, p1, p2, p3) = (x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr());
            let mut j = 0;
            while j < body {
                let (va, vb) = (_mm256_loadu_ps(pa.add(j)), _mm256_loadu_ps(pb.add(j)));
                let x0 = _mm256_loadu_ps(p0.add(j));
                a0 = _mm256_fmadd_ps(va, x0, a0);
                b0 = _mm256_fmadd_ps(vb, x0, b0);
                let x1 = _mm256_loadu_ps(p1.add(j));
                a1 = _mm256_fmadd_ps(va, x1, a1);
                b1 = _mm256_fmadd_ps(vb, x1, b1);
                let x2 = _mm256_loadu_ps(p2.add(j));
                a2 = _mm256_fmadd_ps(va, x2, a2);
                b2 = _mm256_fmadd_ps(vb, x2, b2);
                let x3 = _mm256_loadu_ps(p3.add(j));
                a3 = _mm256_fmadd_ps(va, x3, a3);
                b3 = _mm256_fmadd_ps(vb, x3, b3);
                j += 8;
            }
            let mut a = [hsum(a0), hsum(a1), hsum(a2), hsum(a3)];
            let mut b = [hsum(b0), hsum(b1), hsum(b2), hsum(b3)];
            for j in body..d {
                for r in 0..ROWS {
                    a[r] += wa[j] * x[r][j];
                    b[r] += wb[j] * x[r][j];
                }
            }
            (a, b)
        }

        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn axpy4x2(
            da: &mut [f32],
            db: &mut [f32],
            ga: [f32; ROWS],
            gb: [f32; ROWS],
            x: [&[f32]; ROWS],
        ) {
            let d = da.len();
            let body = d / 8 * 8;
            let s = |v: f32| _mm256_set1_ps(v);
            let (ga0, ga1, ga2, ga3) = (s(ga[0]), s(ga[1]), s(ga[2]), s(ga[3]));
            let (gb0, gb1, gb2, gb3) = (s(gb[0]), s(gb[1]), s(gb[2]), s(gb[3]));
            let (qa, qb) = (da.as_mut_ptr(), db.as_mut_ptr());
            let (p0, p1, p2, p3) = (x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr());
            let mut j = 0;
            while j < body {
                let mut va = _mm256_loadu_ps(qa.add(j));
                let mut vb = _mm256_loadu_ps(qb.add(j));
                let x0 = _mm256_loadu_ps(p0.add(j));
                va = _mm256_fmadd_ps(ga0, x0, va);
                vb = _mm256_fmadd_ps(gb0, x0, vb);
                let x1 = _mm256_loadu_ps(p1.add(j));
                va = _mm256_fmadd_ps(ga1, x1, va);
                vb = _mm256_fmadd_ps(gb1, x1, vb);
                let x2 = _mm256_loadu_ps(p2.add(j));
                va = _mm256_fmadd_ps(ga2, x2, va);
                vb = _mm256_fmadd_ps(gb2, x2, vb);
                let x3 = _mm256_loadu_ps(p3.add(j));
                va = _mm256_fmadd_ps(ga3, x3, va);
                vb = _mm256_fmadd_ps(gb3, x3, vb);
                _mm256_storeu_ps(qa.add(j), va);
                _mm256_storeu_ps(qb.add(j), vb);
                j += 8;
            }
            for j in body..d {
                for r in 0..ROWS {
                    da[j] += ga[r] * x[r][j];
                    db[j] += gb[r] * x[r][j];
                }
            }
        }

        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn axpy4(dst: &mut [f32], g: [f32; ROWS], x: [&[f32]; ROWS]) {
            let d = dst.len();
            let body = d / 8 * 8;
            let (g0, g1, g2, g3) = (
                _mm256_set1_ps(g[0]),
                _mm256_set1_ps(g[1]),
                _mm256_set1_ps(g[2]),
                _mm256_set1_ps(g[3]),
            );
            let dp = dst.as_mut_ptr();
            let (p0, p1, p2, p3) = (x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr());
            let mut j = 0;
            while j < body {
                let mut v = _mm256_loadu_ps(dp.add(j));
                v = _mm256_fmadd_ps(g0, _mm256_loadu_ps(p0.add(j)), v);
                v = _mm256_fmadd_ps(g1, _mm256_loadu_ps(p1.add(j)), v);
                v = _mm256_fmadd_ps(g2, _mm256_loadu_ps(p2.add(j)), v);
                v = _mm256_fmadd_ps(g3, _mm256_loadu_ps(p3.add(j)), v);
                _mm256_storeu_ps(dp.add(j), v);
                j += 8;
            }
            for j in body..d {
                dst[j] += g[0] * x[0][j] + g[1] * x[1][j] + g[2] * x[2][j] + g[3] * x[3][j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused pass equals the two-product reference `S = XW + b`, `∂W = Xᵀ ∂S`.
    #[test]
    fn fused_pass_matches_matrix_products() {
        let (n, d, c) = (23, 37, 5);
        let x = Array2::from_shape_fn((n, d), |(i, j)| ((i * 31 + j * 17) % 13) as f32 / 7.0 - 0.9);
        let w = Array2::from_shape_fn((d, c), |(j, k)| ((j * 5 + k * 11) % 9) as f32 / 20.0 - 0.2);
        let b = Array1::from_shape_fn(c, |k| k as f32 * 0.1 - 0.2);
        let y: Vec<usize> = (0..n).map(|i| (i * 7) % c).collect();
        for loss in [
            LossKind::Hinge,
            LossKind::Softmax,
            LossKind::SquaredHinge,
            LossKind::OvrSquaredHinge,
        ] {
            let mut s = x.dot(&w);
            s += &b;
            let mut ds = Array2::zeros(s.dim());
            let want = loss.loss_and_grad(s.view(), &y, &mut ds) as f64;
            let want_gw = x.t().dot(&ds);
            let want_gb = ds.sum_axis(ndarray::Axis(0));

            let mut gw = Array2::zeros((c, d));
            let mut gb = vec![0f32; c];
            let wt = w.t().to_owned();
            let want_correct = crate::argmax_rows(s.view())
                .iter()
                .zip(&y)
                .filter(|(p, t)| p == t)
                .count();
            let (got, correct) = data_loss_and_grad(
                loss,
                x.view(),
                &y,
                &wt.as_standard_layout().to_owned(),
                b.as_slice().unwrap(),
                &mut gw,
                &mut gb,
            );
            assert!((got - want).abs() < 1e-5 * want.abs().max(1.0), "{loss:?}");
            assert_eq!(correct, want_correct, "{loss:?}");
            for (a, b) in gw.t().iter().zip(want_gw.iter()) {
                assert!((a - b).abs() < 1e-5, "{loss:?}: {a} vs {b}");
            }
            for (a, b) in gb.iter().zip(want_gb.iter()) {
                assert!((a - b).abs() < 1e-5, "{loss:?}: {a} vs {b}");
            }
        }
    }
}
