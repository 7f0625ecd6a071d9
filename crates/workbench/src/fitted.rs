//! The fitted part of a feature set, saved once (`pipeline fit-features`) and read by every
//! extraction shard (`pipeline extract --shard I/N --fitted FILE`), so that shards extracted on
//! different machines use exactly the same k-means dictionary and whitening.
//!
//! The file is JSON ([`FittedFile`]): the format and its version, the data it was fitted on
//! (dataset, split settings, seed, image shape, class names, training images), the feature
//! list with every extractor parameter, the fitted k-means dictionary (only when `kmeans` is one
//! of the parts: HOG, colour histograms, Gabor banks and raw pixels learn nothing), and a
//! `checksum`: 64-bit FNV-1a over the feature parameters, the image shape and every value of the
//! dictionary, recomputed on reading so that a damaged or hand-edited file is refused.
//!
//! Fitting is what `pipeline extract` does before extracting (`FeatureSpec::fit` on the
//! training split with the seed), so a fitted file and a plain extraction with the same options
//! give bit-identical features.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use wb_features::kmeans::Dictionary;
use wb_features::{FeatureSpec, FittedFeatures};
use wb_io::Fnv64;

use crate::data::{load_announced, DataParams};
use crate::extract::data_settings;
use crate::feature_options;
use crate::progress::Reporter;

/// `format` of a fitted file.
pub const FITTED_FORMAT: &str = "wb-workbench fitted features";
/// Bumped when a fitted file can no longer be read the old way; newer files are refused.
pub const FITTED_VERSION: u32 = 1;

/// What to fit and where to save it.
#[derive(Debug, Clone)]
pub struct FitParams {
    pub data: DataParams,
    pub features: FeatureSpec,
    /// The JSON file to write (replaced atomically).
    pub out: PathBuf,
}

/// The saved fitted features.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FittedFile {
    pub format: String,
    pub format_version: u32,
    pub dataset: String,
    /// Split settings of the data fitted on (as the features file's `data` metadata).
    pub data: serde_json::Value,
    pub seed: u64,
    pub image_shape: [usize; 3],
    pub class_names: Vec<String>,
    /// Training images (augmented copies included) the extractors were fitted on.
    pub train_images: usize,
    pub features: FeatureSpec,
    /// Present exactly when the features include `kmeans`.
    #[serde(default)]
    pub kmeans_dictionary: Option<Dictionary>,
    /// FNV-1a of the content (see the module docs), 16 hex digits.
    pub checksum: String,
}

impl FittedFile {
    /// The checksum of the content: the feature parameters (as JSON), the image shape, and the
    /// dictionary's parameters, mean, whitening matrix and centroids.
    pub fn content_checksum(&self) -> Result<String> {
        let mut h = Fnv64::new();
        h.add_bytes(serde_json::to_string(&self.features)?.as_bytes());
        for &s in &self.image_shape {
            h.add_word(s as u64);
        }
        if let Some(d) = &self.kmeans_dictionary {
            h.add_bytes(serde_json::to_string(d.params())?.as_bytes());
            h.add_word(d.channels() as u64);
            h.add_f32s(d.mean());
            h.add_f32s(d.whitening());
            h.add_f32s(d.centroids());
        }
        Ok(h.hex())
    }

    /// The extractors, ready to transform images (nothing is re-fitted).
    pub fn fitted_features(&self) -> Result<FittedFeatures> {
        let [h, w, c] = self.image_shape;
        Ok(self.features.with_dictionary(
            wb_data::ImageShape::new(h, w, c),
            self.kmeans_dictionary.clone(),
        )?)
    }
}

/// What was saved, for the summary line.
pub struct FitSummary {
    pub path: PathBuf,
    pub checksum: String,
    pub dim: usize,
    pub train_images: usize,
    pub seconds: f64,
}

/// Fits the feature set's learned parts on the training split and saves them.
pub fn fit_features(params: &FitParams, reporter: &dyn Reporter) -> Result<FitSummary> {
    if params.out.is_dir() {
        bail!(
            "--out {} is a folder; give a file name such as fitted.json",
            params.out.display()
        );
    }
    let (splits, info, _) = load_announced(&params.data, reporter)?;
    feature_options::check(&params.features, splits.train.images.shape())?;
    let t = Instant::now();
    let fitted = params
        .features
        .fit(&splits.train.images, params.data.seed)?;
    let seconds = t.elapsed().as_secs_f64();
    let mut file = FittedFile {
        format: FITTED_FORMAT.into(),
        format_version: FITTED_VERSION,
        dataset: info.dataset.to_string(),
        data: data_settings(&params.data),
        seed: params.data.seed,
        image_shape: info.image_shape,
        class_names: info.class_names.clone(),
        train_images: info.train,
        features: params.features.clone(),
        kmeans_dictionary: fitted.kmeans_dictionary().cloned(),
        checksum: String::new(),
    };
    file.checksum = file.content_checksum()?;
    wb_io::write_json(&params.out, &file)?;
    Ok(FitSummary {
        path: params.out.clone(),
        checksum: file.checksum,
        dim: fitted.dim(),
        train_images: info.train,
        seconds,
    })
}

/// Reads a fitted file, refusing a newer format, another kind of file, or content whose
/// checksum does not match (the error names the file).
pub fn read_fitted(path: &Path) -> Result<FittedFile> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let probe: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{}: not valid JSON (truncated or damaged?)", path.display()))?;
    if probe.get("format").and_then(|f| f.as_str()) != Some(FITTED_FORMAT) {
        bail!(
            "{}: not a fitted-features file (written by `pipeline fit-features`)",
            path.display()
        );
    }
    match probe.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v > u64::from(FITTED_VERSION) => bail!(
            "{}: format version {v} is newer than this build reads ({FITTED_VERSION}); \
             upgrade the workbench",
            path.display()
        ),
        Some(_) => {}
        None => bail!("{}: no `format_version` field", path.display()),
    }
    let file: FittedFile = serde_json::from_value(probe)
        .with_context(|| format!("{}: invalid fitted-features file", path.display()))?;
    let actual = file.content_checksum()?;
    if actual != file.checksum {
        bail!(
            "{}: its checksum {} does not match its content ({actual}): the file is damaged \
             or was edited; fit it again with `pipeline fit-features`",
            path.display(),
            file.checksum
        );
    }
    Ok(file)
}
