//! linfa-clustering's KMeans, `KMeansInit::Random` (the default k-means++ initialisation
//! alone is K passes over the data), one run, a fixed number of Lloyd passes (tolerance
//! 1e-12 so it never stops early), K = 1600, on ROWS x 108 standard-normal f32 rows (the
//! whitened-patch shape). Prints wall and CPU seconds per pass, to compare with the
//! workbench's own assignment + update pass (`kmeans_bench`'s fit).
//!
//! ```text
//! cargo run --release --manifest-path bench/linfa-kmeans/Cargo.toml -- [ROWS=40000] [PASSES=2]
//! ```

use std::time::Instant;

use linfa::prelude::*;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(40_000);
    let passes: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(2);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = Array2::<f32>::from_shape_fn((rows, 108), |_| StandardNormal.sample(&mut rng));
    let data = DatasetBase::from(x);
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let model = KMeans::params_with_rng(1600, ChaCha8Rng::seed_from_u64(1))
        .n_runs(1)
        .init_method(KMeansInit::Random)
        .max_n_iterations(passes)
        .tolerance(1e-12)
        .fit(&data)
        .expect("kmeans fit");
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    println!(
        "linfa-clustering KMeans, {rows} x 108, K = 1600, {passes} passes: {wall:.2} s wall, \
         {cpu:.2} CPU-s ({:.2} CPU-s per pass; {} centroids)",
        cpu / passes as f64,
        model.centroids().nrows()
    );
}
