//! ZCA eigen-decomposition: hand-written cyclic Jacobi vs nalgebra's and faer's symmetric
//! eigen solvers on the 108x108 covariance of normalised CIFAR-10 patches: time, eigenvalues,
//! the ZCA matrix and the reconstruction residual.
//! Usage: cargo run --release --manifest-path bench/zca-eigen/Cargo.toml -- CIFAR_DIR [PATCHES]
mod jacobi;
use std::time::Instant;

fn covariance(dir: &str, n: usize) -> Vec<f64> {
    let bytes = std::fs::read(format!("{dir}/data_batch_1.bin")).expect("batch");
    let images: Vec<&[u8]> = bytes.chunks_exact(3073).map(|r| &r[1..]).collect();
    let d = 108;
    let mut state = 12345u64;
    let mut next = || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (state >> 33) as usize };
    let mut sum = vec![0f64; d];
    let mut outer = vec![0f64; d * d];
    let mut x = vec![0f64; d];
    for i in 0..n {
        let img = images[i % images.len()];
        let (y0, x0) = (next() % 27, next() % 27);
        let mut t = 0;
        for dy in 0..6 { for dx in 0..6 { for c in 0..3 {
            x[t] = img[c * 1024 + (y0 + dy) * 32 + x0 + dx] as f64; t += 1;
        }}}
        let mean = x.iter().sum::<f64>() / d as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (d - 1) as f64;
        for v in x.iter_mut() { *v = (*v - mean) / (var + 10.0).sqrt(); }
        for a in 0..d { sum[a] += x[a]; for b in 0..d { outer[a * d + b] += x[a] * x[b]; } }
    }
    let nf = n as f64;
    (0..d * d).map(|i| { let (a, b) = (i / d, i % d); (outer[i] - sum[a] * sum[b] / nf) / (nf - 1.0) }).collect()
}

fn whitening(values: &[f64], vectors: &dyn Fn(usize, usize) -> f64, n: usize) -> Vec<f64> {
    let s: Vec<f64> = values.iter().map(|&l| 1.0 / (l.max(0.0) + 0.1).sqrt()).collect();
    let mut w = vec![0.0; n * n];
    for i in 0..n { for j in 0..n { w[i * n + j] = (0..n).map(|k| vectors(i, k) * s[k] * vectors(j, k)).sum(); } }
    w
}

fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps { let t = Instant::now(); let r = f(); best = best.min(t.elapsed().as_secs_f64()); out = Some(r); }
    (out.unwrap(), best)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("CIFAR dir");
    let n: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(100_000);
    let d = 108;
    let cov = covariance(&dir, n);
    let (jac, tj) = time(3, || jacobi::symmetric_eigen(&cov, d).unwrap());
    let (nal, tn) = time(3, || nalgebra::SymmetricEigen::new(nalgebra::DMatrix::from_row_slice(d, d, &cov)));
    let (fa, tf) = time(3, || {
        let m = faer::Mat::<f64>::from_fn(d, d, |i, j| cov[i * d + j]);
        m.self_adjoint_eigen(faer::Side::Lower).unwrap()
    });
    println!("108x108 covariance of {n} normalised CIFAR-10 patches; best of 3 wall seconds:");
    println!("jacobi {tj:.4} s, nalgebra {tn:.4} s, faer {tf:.4} s");
    // Sort nalgebra's eigenpairs ascending (faer's are ascending already).
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| nal.eigenvalues[a].total_cmp(&nal.eigenvalues[b]));
    let nal_values: Vec<f64> = order.iter().map(|&i| nal.eigenvalues[i]).collect();
    let fa_values: Vec<f64> = (0..d).map(|i| fa.S()[i]).collect();
    let max_rel = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs() / x.abs().max(1e-3)).fold(0.0, f64::max);
    println!("eigenvalues: min {:.3e} max {:.3e}; max rel diff vs jacobi (|λ| ≥ 1e-3 scale): nalgebra {:.2e}, faer {:.2e}",
        jac.values[0], jac.values[d - 1], max_rel(&jac.values, &nal_values), max_rel(&jac.values, &fa_values));
    let wj = whitening(&jac.values, &|i, k| jac.vectors[i * d + k], d);
    let wn = whitening(&nal_values, &|i, k| nal.eigenvectors[(i, order[k])], d);
    let fu = fa.U();
    let wf = whitening(&fa_values, &|i, k| fu[(i, k)], d);
    let max_abs = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let scale = wj.iter().fold(0f64, |m, v| m.max(v.abs()));
    println!("ZCA matrix W = V (Λ + 0.1)^-1/2 Vᵀ: max |W| {scale:.3}; max |W_jacobi − W_nalgebra| {:.2e}, max |W_jacobi − W_faer| {:.2e}",
        max_abs(&wj, &wn), max_abs(&wj, &wf));
    // Reconstruction residual ‖A − V Λ Vᵀ‖_max for each.
    let recon = |values: &[f64], v: &dyn Fn(usize, usize) -> f64| {
        let mut m = 0f64;
        for i in 0..d { for j in 0..d { let s: f64 = (0..d).map(|k| v(i, k) * values[k] * v(j, k)).sum(); m = m.max((s - cov[i * d + j]).abs()); } }
        m
    };
    println!("residual max |A − V Λ Vᵀ|: jacobi {:.2e}, nalgebra {:.2e}, faer {:.2e}",
        recon(&jac.values, &|i, k| jac.vectors[i * d + k]),
        recon(&nal_values, &|i, k| nal.eigenvectors[(i, order[k])]),
        recon(&fa_values, &|i, k| fu[(i, k)]));
}
