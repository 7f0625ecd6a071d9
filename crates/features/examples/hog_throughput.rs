//! Throughput of the HOG variants and colour histograms over the CIFAR-10 binaries (u8 RGB in,
//! feature vector out, grayscale conversion included), on 1 and 2 threads.
//!
//! ```text
//! cargo run --release -p wb-features --example hog_throughput -- \
//!     /work/shared/datasets/cifar-10-batches-bin [--reps 3] [--limit 60000] [--only hog|color]
//!     [--filter TEXT] [--simd avx512|avx2|portable]
//! ```
//!
//! Prints images/s per variant and thread count, best of `--reps` runs (the machine is shared),
//! and the best 500-image block of the one-thread runs. HOG runs at the best instruction set of
//! the CPU, or the one given by `--simd` (or `WB_SIMD`).

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use wb_data::{ImageShape, Images};
use wb_features::color::{self, ColorHistogram};
use wb_features::hog::{self, Binning, BlockNorm, ChannelMode, Hog, Preset};
use wb_features::Extractor;

/// CIFAR-10 binary batches: records of 1 label byte + 1024 R + 1024 G + 1024 B (row-major),
/// converted to interleaved H x W x C.
fn read_cifar(dir: &Path, limit: usize) -> Result<Images, String> {
    let shape = ImageShape::new(32, 32, 3);
    let mut pixels = Vec::with_capacity(limit.min(60_000) * 3072);
    let files = (1..=5)
        .map(|i| format!("data_batch_{i}.bin"))
        .chain(std::iter::once("test_batch.bin".to_string()));
    let mut count = 0;
    for name in files {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if bytes.len() % 3073 != 0 {
            return Err(format!("{}: not a CIFAR-10 batch", path.display()));
        }
        for rec in bytes.chunks_exact(3073) {
            if count == limit {
                break;
            }
            let planes = &rec[1..];
            for i in 0..1024 {
                pixels.extend_from_slice(&[planes[i], planes[1024 + i], planes[2048 + i]]);
            }
            count += 1;
        }
    }
    Images::new(shape, pixels).ok_or_else(|| "no images".to_string())
}

/// CPU time of the calling thread (ns on a CPU, /proc/thread-self/schedstat), to tell the work
/// done from the waiting for a core on a shared machine.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(stat.split_whitespace().next()?.parse::<u64>().ok()? as f64 * 1e-9)
}

/// CPU time of the whole process (user + system, clock ticks of 10 ms, /proc/self/stat).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn extract_all(extractor: &dyn Extractor, images: &Images, out: &mut [f32], dim: usize) {
    out.par_chunks_mut(256 * dim)
        .enumerate()
        .for_each(|(chunk, rows)| {
            for (r, row) in rows.chunks_mut(dim).enumerate() {
                extractor.extract(images.get(chunk * 256 + r), row);
            }
        });
}

/// Images in a timing block of the one-thread runs.
const BLOCK: usize = 500;

/// Best (wall-clock images/s, images per CPU-second, best `BLOCK`-image block's wall-clock
/// images/s) over `reps` runs of extracting every image. One thread runs on the calling thread
/// itself (its own CPU clock, and blocks timed one by one: on a shared machine the least
/// disturbed block is the closest to an idle core); more threads on a rayon pool.
fn measure(
    extractor: &dyn Extractor,
    images: &Images,
    threads: usize,
    reps: usize,
) -> (f64, f64, f64) {
    let dim = extractor.dim(images.shape());
    let mut out = vec![0f32; images.len() * dim];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let (mut best, mut best_cpu, mut best_block) = (0f64, 0f64, 0f64);
    for _ in 0..reps {
        let cpu = if threads == 1 {
            thread_cpu_seconds
        } else {
            process_cpu_seconds
        };
        let cpu0 = cpu();
        let start = Instant::now();
        if threads == 1 {
            for (b, rows) in out.chunks_mut(BLOCK * dim).enumerate() {
                let t = Instant::now();
                for (r, row) in rows.chunks_mut(dim).enumerate() {
                    extractor.extract(images.get(b * BLOCK + r), row);
                }
                if rows.len() == BLOCK * dim {
                    best_block = best_block.max(BLOCK as f64 / t.elapsed().as_secs_f64());
                }
            }
        } else {
            pool.install(|| extract_all(extractor, images, &mut out, dim));
        }
        let secs = start.elapsed().as_secs_f64();
        best = best.max(images.len() as f64 / secs);
        if let (Some(a), Some(b)) = (cpu0, cpu()) {
            if b > a {
                best_cpu = best_cpu.max(images.len() as f64 / (b - a) * threads as f64);
            }
        }
    }
    // Keep the work observable.
    let checksum: f64 = out.iter().step_by(97).map(|&v| v as f64).sum();
    assert!(checksum.is_finite());
    (best, best_cpu, best_block)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: hog_throughput <cifar-10-batches-bin dir> [--reps N] [--limit N] [--only hog|color] [--filter TEXT]");
        std::process::exit(2);
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let reps: usize = flag("--reps").and_then(|v| v.parse().ok()).unwrap_or(3);
    let limit: usize = flag("--limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000);
    let only = flag("--only");
    let simd = match flag("--simd") {
        None => wb_features::SimdLevel::active(),
        Some(name) => match wb_features::SimdLevel::ALL
            .iter()
            .find(|l| l.name() == name)
        {
            Some(&level) => level,
            None => {
                eprintln!("error: --simd {name}: not one of avx512, avx2, portable");
                std::process::exit(2);
            }
        },
    };
    let images = match read_cifar(Path::new(dir), limit) {
        Ok(im) => im,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let shape = images.shape();
    println!(
        "{} images {}x{}x{}, best of {reps} runs",
        images.len(),
        shape.height,
        shape.width,
        shape.channels
    );

    let mut variants: Vec<(String, Box<dyn Extractor>)> = Vec::new();
    if only.as_deref() != Some("color") {
        let opencv_like = hog::Params {
            binning: Binning::Hard,
            ..hog::Params::default()
        };
        let hog_variants = [
            (
                "hog default (interpolated, 2x2 L2-Hys, gray)",
                hog::Params::default(),
            ),
            (
                "hog hard 2x2 L2-Hys gray (= OpenCV layout)",
                opencv_like.clone(),
            ),
            (
                "hog hard, no blocks, gray",
                hog::Params {
                    block_norm: BlockNorm::None,
                    ..opencv_like.clone()
                },
            ),
            (
                "hog interpolated, no blocks, gray",
                hog::Params {
                    block_norm: BlockNorm::None,
                    ..hog::Params::default()
                },
            ),
            (
                "hog preset skimage (3x3 L2-Hys, hard)",
                hog::Params::preset(Preset::Skimage),
            ),
            ("hog preset cs231n", hog::Params::preset(Preset::Cs231n)),
            (
                "hog hard 2x2 L2-Hys max-gradient",
                hog::Params {
                    channel_mode: ChannelMode::MaxGradient,
                    ..opencv_like
                },
            ),
            (
                "hog preset dalal-triggs (interp, max-gradient)",
                hog::Params::preset(Preset::DalalTriggs),
            ),
        ];
        for (name, p) in hog_variants {
            let hog = match Hog::new(p, shape)
                .expect("valid HOG parameters")
                .with_simd(simd)
            {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            };
            variants.push((format!("{name} [{}]", hog.dim(shape)), Box::new(hog)));
        }
    }
    if only.as_deref() != Some("hog") {
        for (name, p) in [
            ("color hue 10 bins (CS231n)", color::Params::default()),
            (
                "color per-channel hsv 10 bins",
                color::Params {
                    mode: color::Mode::PerChannelHsv,
                    bins: 10,
                },
            ),
            (
                "color joint hsv 8 bins",
                color::Params {
                    mode: color::Mode::JointHsv,
                    bins: 8,
                },
            ),
        ] {
            let c = ColorHistogram::new(p, shape).expect("valid colour parameters");
            variants.push((format!("{name} [{}]", c.dim(shape)), Box::new(c)));
        }
    }

    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average before: {}", load.trim());
    }
    if let Some(filter) = flag("--filter") {
        variants.retain(|(name, _)| name.contains(&filter));
    }
    println!("HOG kernels: {simd}");
    println!(
        "wall clock images/s; 'cpu' = images per second of CPU time actually received; \
         'block' = best {BLOCK}-image block on 1 thread"
    );
    println!(
        "{:<58} {:>11} {:>11} {:>7} | {:>11} {:>11} | {:>11}",
        "variant [dim]",
        "1 thread",
        "2 threads",
        "scaling",
        "1 thr cpu",
        "2 thr cpu",
        "1 thr block"
    );
    for (name, extractor) in &variants {
        let (one, one_cpu, block) = measure(extractor.as_ref(), &images, 1, reps);
        let (two, two_cpu, _) = measure(extractor.as_ref(), &images, 2, reps);
        println!(
            "{name:<58} {one:>9.0}/s {two:>9.0}/s {:>6.2}x | {one_cpu:>9.0}/s {two_cpu:>9.0}/s | {block:>9.0}/s",
            two / one
        );
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average after: {}", load.trim());
    }
}
