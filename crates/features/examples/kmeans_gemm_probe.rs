//! Reference point for the encoding speed: how fast is a plain `ndarray` (matrixmultiply)
//! f32 product of the encoding's shape on this machine, right now?
//! `(images x 729) x 108 · 108 x K`, timed in wall and CPU seconds, with matrixmultiply's own
//! threads (one big product) and with rayon over per-image products (single-threaded GEMM).
//!
//! ```text
//! cargo run --release -p wb-features --example kmeans_gemm_probe -- [images 500] [K 1600]
//! ```

use std::time::Instant;

use ndarray::Array2;
use rayon::prelude::*;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let images: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(500);
    let k: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(1600);
    let d = 108;
    let rows = 729;
    let a = Array2::from_shape_fn((rows * 16, d), |(i, j)| ((i * 7 + j * 3) % 17) as f32 * 0.1);
    let b = Array2::from_shape_fn((d, k), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.1);
    let flops = |n: usize| (n * rows * k * d * 2) as f64;

    // One 16-image product at a time, threaded inside matrixmultiply.
    let (t, c) = (Instant::now(), cpu_seconds());
    let mut checksum = 0f32;
    for _ in 0..images / 16 {
        let prod = a.dot(&b);
        checksum += prod[[0, 0]];
    }
    let n = images / 16 * 16;
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    println!(
        "threaded matrixmultiply, 16 images per product: {:.1} GFLOP/s wall, {:.1} per CPU-second ({checksum})",
        flops(n) / wall / 1e9,
        flops(n) / cpu / 1e9
    );

    // Rayon over images, one single-image product each (matrixmultiply threads would
    // oversubscribe here; its pool is bypassed only if MATMUL_NUM_THREADS=1).
    let one = a.slice(ndarray::s![0..rows, ..]).to_owned();
    let (t, c) = (Instant::now(), cpu_seconds());
    let sum: f32 = (0..images)
        .into_par_iter()
        .map(|_| one.dot(&b)[[0, 0]])
        .sum();
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    println!(
        "rayon over single-image products: {:.1} GFLOP/s wall, {:.1} per CPU-second ({sum})",
        flops(images) / wall / 1e9,
        flops(images) / cpu / 1e9
    );
}
