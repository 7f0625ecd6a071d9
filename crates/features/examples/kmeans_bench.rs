//! Times the k-means patch dictionary on CIFAR-10: fit on the 50,000 training images, then
//! encode all 60,000 images through `FittedFeatures::transform` (the pipeline's path).
//!
//! ```text
//! cargo run --release -p wb-features --example kmeans_bench -- /work/shared/datasets/cifar-10-batches-bin \
//!     [--centroids 1600] [--patches 400000] [--iterations 10] [--images 60000] [--seed 0]
//!     [--encoder triangle|soft|omp1] [--dictionary kmeans|patches] [--pool quadrants|3x3|pyramid]
//!     [--alpha 0.25] [--threads N]
//! ```
//! `--images N` encodes only the first N images (quick runs); the fit always uses all
//! 50,000 training images. `WB_KMEANS_KERNEL=avx512vnni|avx512|avx2|portable` forces a kernel (`avx512`: f32 products).

use std::path::Path;
use std::time::Instant;

use wb_data::{ImageShape, Images};
use wb_features::{kmeans, FeatureSpec};

fn read_batch(path: &Path, out: &mut Vec<u8>) -> Result<usize, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 3073 != 0 {
        return Err(format!("{}: not a CIFAR-10 batch", path.display()));
    }
    for record in bytes.chunks_exact(3073) {
        let planes = &record[1..];
        for i in 0..1024 {
            out.extend_from_slice(&[planes[i], planes[1024 + i], planes[2048 + i]]);
        }
    }
    Ok(bytes.len() / 3073)
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// User + system CPU seconds of this process so far (all threads), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
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

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: kmeans_bench CIFAR_DIR [--centroids K] [--patches N] [--iterations I] [--images N] [--seed S]")?;
    let mut params = kmeans::Params::default();
    let mut limit = 60_000usize;
    let mut seed = 0u64;
    let mut threads = 0usize;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let named = |e: wb_features::FeatureError| format!("{flag}: {e}");
        match flag.as_str() {
            "--encoder" => {
                params.encoder = value.parse().map_err(named)?;
                continue;
            }
            "--dictionary" => {
                params.dictionary = value.parse().map_err(named)?;
                continue;
            }
            "--pool" => {
                params.pool = value.parse().map_err(named)?;
                continue;
            }
            "--alpha" => {
                params.alpha = value
                    .parse()
                    .map_err(|_| format!("--alpha: `{value}` is not a number"))?;
                continue;
            }
            _ => {}
        }
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: `{value}` is not a number"))?;
        match flag.as_str() {
            "--centroids" => params.centroids = number as usize,
            "--patches" => params.patches = number as usize,
            "--iterations" => params.iterations = number as usize,
            "--images" => limit = number as usize,
            "--seed" => seed = number,
            "--threads" => threads = number as usize,
            _ => return Err(format!("unknown option {flag}")),
        }
    }

    if threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    let shape = ImageShape::new(32, 32, 3);
    let mut train_pixels = Vec::new();
    for b in 1..=5 {
        read_batch(
            &Path::new(&dir).join(format!("data_batch_{b}.bin")),
            &mut train_pixels,
        )?;
    }
    let mut test_pixels = Vec::new();
    read_batch(&Path::new(&dir).join("test_batch.bin"), &mut test_pixels)?;
    let train = Images::new(shape, train_pixels).ok_or("bad train batch")?;
    let test = Images::new(shape, test_pixels).ok_or("bad test batch")?;
    let (mut encode_train, mut encode_test) = (train.clone(), test);
    if limit < train.len() + encode_test.len() {
        let n_train = limit.min(train.len());
        encode_train = train.select(&(0..n_train).collect::<Vec<_>>());
        encode_test = encode_test.select(&(0..limit - n_train).collect::<Vec<_>>());
    }
    println!(
        "threads {}, kernel {}, train {} images, encode {} images, K {}, patches {}, iterations {}, \
         encoder {}, dictionary {}, pool {}, alpha {}",
        rayon::current_num_threads(),
        kmeans::kernel_name(),
        train.len(),
        encode_train.len() + encode_test.len(),
        params.centroids,
        params.patches,
        params.iterations,
        params.encoder,
        params.dictionary,
        params.pool,
        params.alpha
    );

    let mut spec = FeatureSpec::parse("kmeans").map_err(|e| e.to_string())?;
    spec.kmeans = params.clone();
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let fitted = spec.fit(&train, seed).map_err(|e| e.to_string())?;
    let fit_s = start.elapsed().as_secs_f64();
    let dict = fitted.kmeans_dictionary().ok_or("no dictionary")?;
    println!(
        "fit {fit_s:.2} s (CPU {:.2} s); inertia per pass {:?}",
        cpu_seconds() - cpu0,
        dict.inertia()
    );

    let none = |_| {};
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let f_train = fitted
        .transform(&encode_train, &none)
        .map_err(|e| e.to_string())?;
    let f_test = fitted
        .transform(&encode_test, &none)
        .map_err(|e| e.to_string())?;
    let encode_s = start.elapsed().as_secs_f64();
    let encode_cpu = cpu_seconds() - cpu0;
    let n = (encode_train.len() + encode_test.len()) as f64;
    let flops = n * 729.0 * params.centroids as f64 * 108.0 * 2.0;
    println!(
        "encode {encode_s:.2} s (CPU {encode_cpu:.2} s) = {:.0} images/s ({:.1} GFLOP/s in the x·c products, {:.1} per CPU-second); features {}x{} + {}x{}",
        n / encode_s,
        flops / encode_s / 1e9,
        flops / encode_cpu / 1e9,
        f_train.nrows(),
        f_train.ncols(),
        f_test.nrows(),
        f_test.ncols()
    );
    let finite = f_train.iter().chain(f_test.iter()).all(|v| v.is_finite());
    println!(
        "total {:.2} s; all finite {finite}; peak RSS {:.0} MiB",
        fit_s + encode_s,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}
