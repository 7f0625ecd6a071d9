//! Pictures of what the extractors see, for people (`pipeline show`).
//!
//! Writes into `out`: `image.png` (training image `index`, upscaled), and for the
//! extractors named in the feature set: `hog.png` (HOG glyphs over that image),
//! `color_histogram.png` (its colour histogram), `gabor_bank.png` (the filter bank's kernels)
//! and `kmeans_atoms.png` (the dictionary learned from the training split).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use image::RgbImage;
use wb_data::ImageView;
use wb_features::{color, gabor, hog, kmeans, FeatureKind, FeatureSpec};

use crate::data::{load, DataParams};
use crate::feature_options::{self, name_option};
use crate::png::save_png;
use crate::progress::Reporter;

/// What to draw.
#[derive(Debug, Clone)]
pub struct ShowParams {
    pub data: DataParams,
    /// The extractors to picture (k-means fits a dictionary on the training split).
    pub features: FeatureSpec,
    /// Folder to write the PNGs into (created if missing).
    pub out: PathBuf,
    /// Which training image to draw (0-based).
    pub index: usize,
    /// Screen pixels per image pixel for image.png and hog.png, 1 to 64.
    pub scale: usize,
}

/// Draws the pictures; returns the files written.
pub fn show(args: &ShowParams, reporter: &dyn Reporter) -> Result<Vec<PathBuf>> {
    let spec = &args.features;
    if args.scale == 0 || args.scale > 64 {
        bail!("--scale {} is not in 1..=64", args.scale);
    }
    let (splits, info) = load(&args.data)?;
    for w in &info.warnings {
        reporter.line(&format!("warning: {w}"));
    }
    let train = &splits.train;
    feature_options::check(spec, train.images.shape())?;
    if args.index >= train.len() {
        bail!(
            "--index {} is past the training split's {} images",
            args.index,
            train.len()
        );
    }
    let image = train.images.get(args.index);
    let class = train
        .class_names
        .get(train.labels[args.index])
        .map_or("?", String::as_str);
    reporter.line(&format!(
        "drawing training image {} of {} (class {class})",
        args.index, info.dataset
    ));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;

    let mut written = Vec::new();
    let mut save = |name: &str, img: RgbImage| -> Result<()> {
        let path = args.out.join(name);
        save_png(&img, &path)?;
        reporter.line(&format!(
            "  {} ({}x{})",
            path.display(),
            img.width(),
            img.height()
        ));
        written.push(path);
        Ok(())
    };

    save("image.png", upscaled(image, args.scale))?;
    let named = |kind| spec.parts.contains(&kind);
    if named(FeatureKind::Hog) {
        save(
            "hog.png",
            hog::render_glyphs(image, &spec.hog, args.scale).map_err(name_option)?,
        )?;
    }
    if named(FeatureKind::Color) {
        // Wide enough for two pixels per bar, whatever the mode.
        let width = (2 * spec.color.dim() as u32 + 2).clamp(480, 16_384);
        save(
            "color_histogram.png",
            color::render_histogram(image, &spec.color, width, 240).map_err(name_option)?,
        )?;
    }
    if named(FeatureKind::Gabor) {
        save(
            "gabor_bank.png",
            gabor::render_bank(&spec.gabor, 64).map_err(name_option)?,
        )?;
    }
    if named(FeatureKind::Kmeans) {
        let t = Instant::now();
        let dict = kmeans::Dictionary::fit(&train.images, &spec.kmeans, args.data.seed)
            .map_err(name_option)?;
        reporter.line(&format!(
            "fitted {} atoms on {} patches of {} training images{} in {:.1}s",
            dict.num_centroids(),
            spec.kmeans.patches,
            train.len(),
            info.augment_note(),
            t.elapsed().as_secs_f64()
        ));
        save("kmeans_atoms.png", kmeans::render_atoms(&dict, 6))?;
    }
    Ok(written)
}

/// The image as RGB, `scale` screen pixels per image pixel (nearest neighbour, so pixels stay
/// visible); one-channel images in gray.
fn upscaled(image: ImageView<'_>, scale: usize) -> RgbImage {
    let s = image.shape;
    let (w, h) = ((s.width * scale) as u32, (s.height * scale) as u32);
    RgbImage::from_fn(w, h, |x, y| {
        let (r, c) = (y as usize / scale, x as usize / scale);
        let at = (r * s.width + c) * s.channels;
        let px = &image.pixels[at..at + s.channels];
        image::Rgb(if s.channels >= 3 {
            [px[0], px[1], px[2]]
        } else {
            [px[0]; 3]
        })
    })
}
