//! Applies a saved model to image files (`pipeline predict --model DIR image.png ...`).
//!
//! Each image is decoded, converted to the training images' channel count (RGB or gray) and
//! size (triangle filter, as the folder loader does; with a warning), passed through the saved
//! extractors and standardiser, and scored. Probabilities are the softmax of the scores,
//! `p_j = e^{s_j} / Σ_k e^{s_k}`: calibrated for softmax-trained models, only a monotone
//! squashing of the scores for SVM / squared-loss ones.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image::imageops::FilterType;
use wb_data::Images;
use wb_features::FittedFeatures;

use crate::progress::Reporter;
use crate::saved::{self, Loaded};

/// A saved model ready to apply: the classifier and its rebuilt preprocessing, checked to fit
/// each other.
pub struct Predictor {
    loaded: Loaded,
    fitted: FittedFeatures,
}

/// One image's class probabilities, in the model's class order.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub path: PathBuf,
    pub probabilities: Vec<f32>,
}

impl Prediction {
    /// Class indices, most probable first (ties: the lower index first, as the models' argmax).
    pub fn ranked(&self) -> Vec<usize> {
        let p = &self.probabilities;
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        order
    }
}

impl Predictor {
    /// Loads the model saved in `dir` (or `dir/model/`) and checks that its feature settings,
    /// standardiser, weights and class names agree.
    pub fn load(dir: &Path) -> Result<Predictor> {
        let loaded = saved::load(dir)?;
        let prep = &loaded.preprocessing;
        let fitted = prep
            .fitted_features()
            .with_context(|| format!("{}: invalid feature settings", loaded.meta_path.display()))?;
        let (dim, scaler_dim, model_dim) =
            (fitted.dim(), prep.scaler.mean.len(), loaded.input_dim());
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
        Ok(Predictor { loaded, fitted })
    }

    pub fn class_names(&self) -> &[String] {
        &self.loaded.preprocessing.class_names
    }

    /// Decodes each file into the training images' shape (resizing is told to `reporter`),
    /// extracts and standardises its features and returns the softmax of the scores.
    pub fn predict_files(
        &self,
        paths: &[PathBuf],
        reporter: &dyn Reporter,
    ) -> Result<Vec<Prediction>> {
        let prep = &self.loaded.preprocessing;
        let shape = prep.shape();
        let mut images = Images::empty(shape);
        for path in paths {
            images.push(&decode(path, shape, reporter)?);
        }
        let mut x = self.fitted.transform(&images, &|_| {})?;
        prep.scaler.transform_inplace(&mut x);
        let probs = wb_linear::loss::softmax_rows(self.loaded.scores(x.view()).view());
        Ok(paths
            .iter()
            .zip(probs.rows())
            .map(|(path, row)| Prediction {
                path: path.clone(),
                probabilities: row.to_vec(),
            })
            .collect())
    }
}

/// Each prediction as `path: class (p)` and its `top` classes with probabilities.
pub fn format_predictions(
    predictions: &[Prediction],
    class_names: &[String],
    top: usize,
) -> String {
    let top = top.min(class_names.len());
    let width = class_names.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut out = String::new();
    for p in predictions {
        let order = p.ranked();
        let best = order[0];
        out += &format!(
            "{}: {} ({:.4})\n",
            p.path.display(),
            class_names[best],
            p.probabilities[best]
        );
        for &j in &order[..top] {
            out += &format!(
                "    {:<width$}  {:.4}\n",
                class_names[j], p.probabilities[j]
            );
        }
    }
    out
}

/// Decodes `path` into `shape` (H x W x C interleaved u8), converting channels and size.
fn decode(path: &Path, shape: wb_data::ImageShape, reporter: &dyn Reporter) -> Result<Vec<u8>> {
    let img = image::open(path).with_context(|| format!("cannot decode {}", path.display()))?;
    let (w, h) = (shape.width as u32, shape.height as u32);
    if img.width() != w || img.height() != h {
        reporter.line(&format!(
            "warning: {} is {}x{}, resized to the training size {}x{}",
            path.display(),
            img.width(),
            img.height(),
            w,
            h
        ));
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
