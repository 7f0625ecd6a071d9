//! `pipeline predict --model DIR image.png ...`: applies a saved model to image files.
//!
//! Each image is decoded, converted to the training images' channel count (RGB or gray) and
//! size (triangle filter, as the folder loader does; with a warning), passed through the saved
//! extractors and standardiser, and scored. Probabilities are the softmax of the scores,
//! `p_j = e^{s_j} / Σ_k e^{s_k}`: calibrated for softmax-trained models, only a monotone
//! squashing of the scores for SVM / squared-loss ones.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use image::imageops::FilterType;
use wb_data::Images;

use crate::saved;

#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// Folder of a saved model (`run --out DIR` writes DIR/model/; DIR itself is accepted too).
    #[arg(long = "model", value_name = "DIR")]
    pub model_dir: PathBuf,
    /// Classes listed per image, most probable first.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Image files (any format the `image` crate decodes: PNG, JPEG, BMP, GIF, TIFF, WebP).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}

/// Predicts every image and prints its class and the top classes with probabilities.
pub fn predict(args: &PredictArgs) -> Result<()> {
    if args.top == 0 {
        bail!("--top must be at least 1");
    }
    let loaded = saved::load(&args.model_dir)?;
    let prep = &loaded.preprocessing;
    let fitted = prep
        .fitted_features()
        .with_context(|| format!("{}: invalid feature settings", loaded.meta_path.display()))?;
    let (dim, scaler_dim, model_dim) = (fitted.dim(), prep.scaler.mean.len(), loaded.input_dim());
    if dim != model_dim || scaler_dim != model_dim || prep.scaler.inv_std.len() != model_dim {
        bail!(
            "{}: the feature settings `{}` give {dim} dimensions and the standardiser has {scaler_dim}, \
             but the weights expect {model_dim}",
            loaded.meta_path.display(),
            prep.features.label()
        );
    }
    if prep.class_names.len() != loaded.n_classes() {
        bail!(
            "{}: {} class names for a model with {} classes",
            loaded.meta_path.display(),
            prep.class_names.len(),
            loaded.n_classes()
        );
    }

    let shape = prep.shape();
    let mut images = Images::empty(shape);
    for path in &args.images {
        images.push(&decode(path, shape)?);
    }
    let mut x = fitted.transform(&images, &|_| {})?;
    prep.scaler.transform_inplace(&mut x);
    let probs = wb_linear::loss::softmax_rows(loaded.scores(x.view()).view());
    let top = args.top.min(prep.class_names.len());
    let width = prep.class_names.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (path, row) in args.images.iter().zip(probs.rows()) {
        let mut order: Vec<usize> = (0..row.len()).collect();
        // Ties keep the lower class index first, as the models' argmax does.
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        let best = order[0];
        out += &format!(
            "{}: {} ({:.4})\n",
            path.display(),
            prep.class_names[best],
            row[best]
        );
        for &j in &order[..top] {
            out += &format!("    {:<width$}  {:.4}\n", prep.class_names[j], row[j]);
        }
    }
    print!("{out}");
    Ok(())
}

/// Decodes `path` into `shape` (H x W x C interleaved u8), converting channels and size.
fn decode(path: &std::path::Path, shape: wb_data::ImageShape) -> Result<Vec<u8>> {
    let img = image::open(path).with_context(|| format!("cannot decode {}", path.display()))?;
    let (w, h) = (shape.width as u32, shape.height as u32);
    if img.width() != w || img.height() != h {
        eprintln!(
            "warning: {} is {}x{}, resized to the training size {}x{}",
            path.display(),
            img.width(),
            img.height(),
            w,
            h
        );
    }
    // Channels first, then size: the order the folder loader uses, so the same file gives the
    // same pixels here as in training.
    let pixels = match shape.channels {
        3 => {
            let rgb = img.to_rgb8();
            if rgb.dimensions() == (w, h) {
                rgb.into_raw()
            } else {
                image::imageops::resize(&rgb, w, h, FilterType::Triangle).into_raw()
            }
        }
        1 => {
            let gray = img.to_luma8();
            if gray.dimensions() == (w, h) {
                gray.into_raw()
            } else {
                image::imageops::resize(&gray, w, h, FilterType::Triangle).into_raw()
            }
        }
        c => bail!(
            "the model was trained on {c}-channel images; only 1 (gray) and 3 (RGB) are supported"
        ),
    };
    Ok(pixels)
}
