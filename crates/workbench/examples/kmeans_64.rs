//! Images per second of k-means encoding (Coates et al.'s K = 1,600 dictionary of 6x6
//! patches, the workbench's defaults) on 64x64 images, for the README's ImageNet-at-64x64
//! arithmetic: CIFAR-10 images upsampled 2x (nearest neighbour; the cost of encoding does not
//! depend on the pixels), encoded through `FittedFeatures::transform` (the path `pipeline
//! extract` takes) on 1 thread and on every core, and 32x32 for comparison.
//!
//! ```text
//! cargo run --release -p wb-workbench --example kmeans_64 -- DATA_DIR/cifar-10-batches-bin [IMAGES]
//! ```

use std::path::Path;
use std::time::Instant;

use wb_data::{ImageShape, Images};
use wb_features::FeatureSpec;

fn upsample(images: &Images, factor: usize) -> Images {
    let s = images.shape();
    let shape = ImageShape::new(s.height * factor, s.width * factor, s.channels);
    let mut out = Images::empty(shape);
    let mut pixels = vec![0u8; shape.len()];
    for image in images.iter() {
        for y in 0..shape.height {
            for x in 0..shape.width {
                for c in 0..s.channels {
                    pixels[(y * shape.width + x) * s.channels + c] =
                        image.get(y / factor, x / factor, c);
                }
            }
        }
        out.push(&pixels);
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: kmeans_64 CIFAR_DIR [IMAGES]")?;
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let data = wb_data::cifar::load_cifar10(Path::new(&dir))?;
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    let fit_rows: Vec<usize> = (0..10_000).collect();
    let encode_rows: Vec<usize> = (10_000..10_000 + n).collect();
    for factor in [2, 1] {
        let fit_on = upsample(&data.train.images.select(&fit_rows), factor);
        let encode = upsample(&data.train.images.select(&encode_rows), factor);
        let mut spec = FeatureSpec::parse("kmeans")?;
        spec.kmeans.patches = 100_000;
        spec.kmeans.iterations = 3;
        let fitted = spec.fit(&fit_on, 0)?;
        let side = encode.shape().height;
        for threads in [1, cores] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?;
            let t = Instant::now();
            let x = pool.install(|| fitted.transform(&encode, &|_| {}))?;
            let s = t.elapsed().as_secs_f64();
            println!(
                "{side}x{side}: {} images x {} features in {s:.2}s on {threads} thread(s): \
                 {:.0} images/s, {:.0} images/s per core",
                x.nrows(),
                x.ncols(),
                n as f64 / s,
                n as f64 / s / threads as f64
            );
        }
    }
    Ok(())
}
