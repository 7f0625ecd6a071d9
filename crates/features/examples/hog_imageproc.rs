//! imageproc's `hog` (0.25) as a speed and output reference for the workbench's HOG, on CIFAR-10.
//!
//! ```text
//! cargo run --release -p wb-features --example hog_imageproc -- \
//!     /work/shared/datasets/cifar-10-batches-bin [--images 10000] [--reps 3]
//! ```
//!
//! Both sides start from the u8 RGB image and convert it to gray inside the timing (imageproc
//! through `image::imageops::grayscale`, Rec. 709 rounded to u8; the workbench in `f64`), on one
//! thread, 9 unsigned bins, 8x8 cells, 2x2 blocks with a one-cell stride (324 values).
//!
//! imageproc computes a different HOG variant, so the outputs are compared, not asserted equal:
//! it takes 3x3 Sobel gradients with replicated borders (the workbench: `[-1, 0, 1]`, zero on the
//! border), puts cell and bin centres on multiples of the cell side and of 180/n degrees (the
//! workbench, as Dalal & Triggs, OpenCV and skimage: half a cell and half a bin further), and
//! divides each block by its plain L2 norm (no epsilon, no clipping). The closest workbench
//! variant is `block_norm: l2` on the same u8 gray image; the example prints the mean Pearson
//! correlation and the largest difference between the two descriptors.

use std::path::Path;
use std::time::Instant;

use image::{GrayImage, RgbImage};
use imageproc::hog::{hog, HogOptions};
use wb_data::{ImageShape, ImageView};
use wb_features::hog::{BlockNorm, Hog, Params};
use wb_features::Extractor;

/// The first `limit` CIFAR-10 images (training batches, then the test batch) as interleaved
/// RGB, 3,072 bytes each.
fn read_cifar(dir: &Path, limit: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::with_capacity(limit.min(60_000));
    let files = (1..=5)
        .map(|i| format!("data_batch_{i}.bin"))
        .chain(std::iter::once("test_batch.bin".to_string()));
    for name in files {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if bytes.len() % 3073 != 0 {
            return Err(format!("{}: not a CIFAR-10 batch", path.display()));
        }
        for rec in bytes.chunks_exact(3073) {
            if out.len() == limit {
                return Ok(out);
            }
            let planes = &rec[1..];
            let mut px = Vec::with_capacity(3072);
            for i in 0..1024 {
                px.extend_from_slice(&[planes[i], planes[1024 + i], planes[2048 + i]]);
            }
            out.push(px);
        }
    }
    Ok(out)
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&v| v as f64).sum::<f64>() / n,
        b.iter().map(|&v| v as f64).sum::<f64>() / n,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt().max(f64::MIN_POSITIVE)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: hog_imageproc <cifar-10-batches-bin dir> [--images N] [--reps N]");
        std::process::exit(2);
    };
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse::<usize>().unwrap_or_else(|_| {
                    eprintln!("error: {name} {v}: not a number");
                    std::process::exit(2)
                })
            })
            .unwrap_or(default)
    };
    let (limit, reps) = (flag("--images", 10_000), flag("--reps", 3).max(1));
    let images = match read_cifar(Path::new(dir), limit) {
        Ok(im) if !im.is_empty() => im,
        Ok(_) => {
            eprintln!("error: no images read");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let n = images.len();
    let rgb = ImageShape::new(32, 32, 3);
    let gray = ImageShape::new(32, 32, 1);
    let options = HogOptions {
        orientations: 9,
        signed: false,
        cell_side: 8,
        block_side: 2,
        block_stride: 1,
    };
    let ours = Hog::new(Params::default(), rgb).expect("default HOG parameters");
    let closest = Hog::new(
        Params {
            block_norm: BlockNorm::L2,
            ..Params::default()
        },
        gray,
    )
    .expect("L2 HOG parameters");
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average before: {}", load.trim());
    }
    println!(
        "{n} CIFAR-10 images, 1 thread, best of {reps} runs; HOG kernels: {}",
        ours.simd()
    );

    let mut out = vec![0f32; ours.dim(rgb)];
    let mut best_ours = 0f64;
    let mut best_ip = 0f64;
    let mut checksum = 0f64;
    for _ in 0..reps {
        let t = Instant::now();
        for px in &images {
            ours.extract(ImageView::new(rgb, px).expect("32x32x3"), &mut out);
            checksum += out[0] as f64;
        }
        best_ours = best_ours.max(n as f64 / t.elapsed().as_secs_f64());

        let t = Instant::now();
        for px in &images {
            let image = RgbImage::from_raw(32, 32, px.clone()).expect("32x32 RGB");
            let g: GrayImage = image::imageops::grayscale(&image);
            let d = hog(&g, options).expect("valid imageproc options");
            checksum += d[0] as f64;
        }
        best_ip = best_ip.max(n as f64 / t.elapsed().as_secs_f64());
    }
    assert!(checksum.is_finite());
    println!("workbench hog (default: interpolated, L2-Hys): {best_ours:>9.0} images/s");
    println!("imageproc::hog::hog (Sobel, L2):               {best_ip:>9.0} images/s");
    println!("ratio workbench / imageproc: {:.1}x", best_ours / best_ip);

    // Output relation on the same u8 gray image.
    let compare = n.min(1000);
    let (mut r_sum, mut worst) = (0f64, 0f32);
    let mut ours_l2 = vec![0f32; closest.dim(gray)];
    for px in &images[..compare] {
        let image = RgbImage::from_raw(32, 32, px.clone()).expect("32x32 RGB");
        let g: GrayImage = image::imageops::grayscale(&image);
        let theirs = hog(&g, options).expect("valid imageproc options");
        closest.extract(
            ImageView::new(gray, g.as_raw()).expect("32x32x1"),
            &mut ours_l2,
        );
        assert_eq!(theirs.len(), ours_l2.len(), "descriptor lengths");
        r_sum += pearson(&theirs, &ours_l2);
        for (a, b) in theirs.iter().zip(&ours_l2) {
            worst = worst.max((a - b).abs());
        }
    }
    println!(
        "imageproc vs workbench (block_norm l2, same u8 gray) on {compare} images: mean \
         correlation {:.3}, max |difference| {worst:.3} (both blocks have unit L2 norm)",
        r_sum / compare as f64
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average after: {}", load.trim());
    }
}
