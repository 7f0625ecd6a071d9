//! One thread count for rayon (features, products) and matrixmultiply (GEMM), so that a run is
//! reproducible: same seed and same thread count give the same numbers.

use anyhow::Result;

/// Sets the process's thread count (default: all cores) and returns it. Call once per process,
/// before any parallel work (rayon's global pool cannot be rebuilt: a second call is an error).
pub fn init(threads: Option<usize>) -> Result<usize> {
    let n = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if n == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    // matrixmultiply reads this once, at its first product.
    std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| anyhow::anyhow!("cannot start {n} threads: {e}"))?;
    Ok(n)
}
