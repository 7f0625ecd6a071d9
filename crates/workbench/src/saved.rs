//! A trained model saved with everything needed to apply it to new images.
//!
//! A run saved with `--out DIR` writes `DIR/model/`:
//! - MLP: `mlp.safetensors` + `mlp.json` ([`wb_mlp::Mlp::save`]); the preprocessing below is
//!   the `extra` field of `mlp.json`.
//! - Linear (svm / softmax): `linear.safetensors` (f32 tensors `weight`, D x C, and `bias`, C;
//!   scores are `x·W + b`) + `model.json` ([`LinearMeta`], with the preprocessing inside).
//!
//! The preprocessing ([`Preprocessing`]) is the feature list with every extractor parameter, the
//! fitted k-means dictionary if any, the standardiser fitted on the training features, the image
//! shape, the resize mode new images are fitted with, the class names and the dataset name. Every file is written to a temporary name and
//! renamed, weights first, so the JSON that points at them never refers to a half-written file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use wb_data::ResizeMode;
use wb_features::kmeans::Dictionary;
use wb_features::{FeatureSpec, FittedFeatures, Scaler};
use wb_linear::{LinearModel, LossKind};

use crate::train::Classifier;

/// Metadata file of a saved linear model.
pub const LINEAR_META: &str = "model.json";
/// Weights file of a saved linear model.
pub const LINEAR_WEIGHTS: &str = "linear.safetensors";
/// Bumped when a saved linear model can no longer be read the old way; newer files are refused.
pub const FORMAT_VERSION: u32 = 1;

/// How raw images become the model's input rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Preprocessing {
    pub dataset: String,
    /// Height, width, channels of the training images; new images are converted to it.
    pub image_shape: [usize; 3],
    /// How an image of another size is fitted to `image_shape`: the mode the training folder
    /// was loaded with. Models saved before it was recorded load as `crop` (the folder
    /// loader's default then and now).
    #[serde(default)]
    pub resize: ResizeMode,
    pub class_names: Vec<String>,
    pub features: FeatureSpec,
    /// `(x − mean) · inv_std` per feature column, fitted on the training split.
    pub scaler: Scaler,
    #[serde(default)]
    pub kmeans_dictionary: Option<Dictionary>,
}

impl Preprocessing {
    pub fn new(
        dataset: String,
        image_shape: [usize; 3],
        resize: ResizeMode,
        class_names: Vec<String>,
        fitted: &FittedFeatures,
        scaler: &Scaler,
    ) -> Preprocessing {
        Preprocessing {
            dataset,
            image_shape,
            resize,
            class_names,
            features: fitted.spec().clone(),
            scaler: scaler.clone(),
            kmeans_dictionary: fitted.kmeans_dictionary().cloned(),
        }
    }

    pub fn shape(&self) -> wb_data::ImageShape {
        let [h, w, c] = self.image_shape;
        wb_data::ImageShape::new(h, w, c)
    }

    /// Rebuilds the extractors with the saved dictionary (nothing is re-fitted).
    pub fn fitted_features(&self) -> Result<FittedFeatures> {
        Ok(self
            .features
            .with_dictionary(self.shape(), self.kmeans_dictionary.clone())?)
    }
}

/// `model.json` of a linear model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearMeta {
    /// Always `wb-linear`.
    pub format: String,
    pub format_version: u32,
    pub loss: LossKind,
    pub n_features: usize,
    pub n_classes: usize,
    pub weights_file: String,
    pub preprocessing: Preprocessing,
}

/// A model read back from disk, with the file to name in errors about it.
pub struct Loaded {
    pub model: Classifier,
    pub preprocessing: Preprocessing,
    pub meta_path: PathBuf,
}

impl Loaded {
    pub fn input_dim(&self) -> usize {
        match &self.model {
            Classifier::Linear(m) => m.weights.nrows(),
            Classifier::Mlp(m) => m.input_dim(),
        }
    }

    pub fn n_classes(&self) -> usize {
        match &self.model {
            Classifier::Linear(m) => m.n_classes(),
            Classifier::Mlp(m) => m.n_classes(),
        }
    }

    /// The loss the model was trained with (what its scores mean).
    pub fn loss(&self) -> LossKind {
        match &self.model {
            Classifier::Linear(m) => m.loss,
            Classifier::Mlp(m) => m.loss(),
        }
    }

    /// Class scores, N x C.
    pub fn scores(&self, x: ndarray::ArrayView2<'_, f32>) -> Array2<f32> {
        match &self.model {
            Classifier::Linear(m) => m.scores(x),
            Classifier::Mlp(m) => m.scores(x),
        }
    }
}

/// Saves `model` with its preprocessing into `dir` (created), removing a stale model of the
/// other kind so `dir` always holds exactly one.
pub fn save(dir: &Path, model: &mut Classifier, preprocessing: &Preprocessing) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stale: &[&str] = match model {
        Classifier::Mlp(m) => {
            m.set_extra(serde_json::to_value(preprocessing)?);
            m.save(dir)?;
            &[LINEAR_META, LINEAR_WEIGHTS]
        }
        Classifier::Linear(m) => {
            save_linear(dir, m, preprocessing)?;
            &[wb_mlp::META_FILE, wb_mlp::WEIGHTS_FILE]
        }
    };
    for name in stale {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the stale {}", path.display()))?;
        }
    }
    Ok(())
}

fn save_linear(dir: &Path, m: &LinearModel, preprocessing: &Preprocessing) -> Result<()> {
    let weights_path = dir.join(LINEAR_WEIGHTS);
    let le =
        |v: &mut dyn Iterator<Item = f32>| -> Vec<u8> { v.flat_map(f32::to_le_bytes).collect() };
    // Row-major D x C regardless of the array's memory layout.
    let w_bytes = le(&mut m.weights.iter().copied());
    let b_bytes = le(&mut m.bias.iter().copied());
    let (d, c) = m.weights.dim();
    let views = [
        ("weight", TensorView::new(Dtype::F32, vec![d, c], &w_bytes)),
        ("bias", TensorView::new(Dtype::F32, vec![c], &b_bytes)),
    ]
    .into_iter()
    .map(|(name, v)| v.map(|v| (name.to_string(), v)))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| anyhow::anyhow!("{}: cannot build tensor: {e:?}", weights_path.display()))?;
    let bytes = safetensors::serialize(views, &None)
        .map_err(|e| anyhow::anyhow!("{}: cannot serialise: {e:?}", weights_path.display()))?;
    wb_io::write_bytes(&weights_path, &bytes)?;
    let meta = LinearMeta {
        format: "wb-linear".into(),
        format_version: FORMAT_VERSION,
        loss: m.loss,
        n_features: d,
        n_classes: c,
        weights_file: LINEAR_WEIGHTS.into(),
        preprocessing: preprocessing.clone(),
    };
    let mut json = serde_json::to_vec_pretty(&meta)?;
    json.push(b'\n');
    Ok(wb_io::write_bytes(&dir.join(LINEAR_META), &json)?)
}

/// Loads the model saved in `dir` (or in `dir/model/`, the layout `run --out DIR` writes).
pub fn load(dir: &Path) -> Result<Loaded> {
    let has_model = |d: &Path| d.join(wb_mlp::META_FILE).exists() || d.join(LINEAR_META).exists();
    let dir = if !has_model(dir) && has_model(&dir.join("model")) {
        dir.join("model")
    } else {
        dir.to_path_buf()
    };
    if dir.join(wb_mlp::META_FILE).exists() {
        let meta_path = dir.join(wb_mlp::META_FILE);
        let mlp = wb_mlp::Mlp::load(&dir)?;
        let preprocessing: Preprocessing = serde_json::from_value(mlp.extra().clone())
            .with_context(|| {
                format!(
                    "{}: the `extra` field does not hold the pipeline's preprocessing \
                     (was the model saved by `pipeline run --out`?)",
                    meta_path.display()
                )
            })?;
        check_preprocessing(&meta_path, &preprocessing, mlp.input_dim(), mlp.n_classes())?;
        return Ok(Loaded {
            model: Classifier::Mlp(mlp),
            preprocessing,
            meta_path,
        });
    }
    if dir.join(LINEAR_META).exists() {
        return load_linear(&dir);
    }
    bail!(
        "{} holds no saved model (expected {} or {}; `pipeline run --out DIR` writes DIR/model/)",
        dir.display(),
        wb_mlp::META_FILE,
        LINEAR_META
    )
}

/// The preprocessing agrees with the model it feeds: one class name per output, a scaler
/// column per input, finite scaler values, an image shape without a zero side. Otherwise an
/// edited or mismatched file would fail later, while predicting (an index out of range).
fn check_preprocessing(
    meta_path: &Path,
    p: &Preprocessing,
    input_dim: usize,
    n_classes: usize,
) -> Result<()> {
    let bad = |why: String| anyhow::anyhow!("{}: {why}", meta_path.display());
    if p.class_names.len() != n_classes {
        return Err(bad(format!(
            "{} class names for a model of {n_classes} classes",
            p.class_names.len()
        )));
    }
    let (mean, inv_std) = (p.scaler.mean.len(), p.scaler.inv_std.len());
    if mean != input_dim || inv_std != input_dim {
        return Err(bad(format!(
            "the scaler has {mean} means and {inv_std} inverse deviations for a model of \
             {input_dim} inputs"
        )));
    }
    if p.scaler
        .mean
        .iter()
        .chain(&p.scaler.inv_std)
        .any(|v| !v.is_finite())
    {
        return Err(bad("the scaler holds NaN or infinity".into()));
    }
    if p.image_shape.contains(&0) {
        return Err(bad(format!(
            "image shape {:?} has a zero side",
            p.image_shape
        )));
    }
    Ok(())
}

fn load_linear(dir: &Path) -> Result<Loaded> {
    let meta_path = dir.join(LINEAR_META);
    let text = std::fs::read(&meta_path)
        .with_context(|| format!("cannot read {}", meta_path.display()))?;
    let probe: serde_json::Value = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{}: not valid JSON (truncated or corrupt?)",
            meta_path.display()
        )
    })?;
    // The version first, so a file from a newer build gets the helpful message.
    match probe.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v > u64::from(FORMAT_VERSION) => bail!(
            "{}: format version {v} is newer than this build reads ({FORMAT_VERSION}); upgrade the workbench",
            meta_path.display()
        ),
        Some(_) => {}
        None => bail!(
            "{}: no `format_version` field: not a saved wb-linear model",
            meta_path.display()
        ),
    }
    let meta: LinearMeta = serde_json::from_value(probe)
        .with_context(|| format!("{}: invalid model metadata", meta_path.display()))?;
    if meta.format != "wb-linear" {
        bail!(
            "{}: format is `{}`, expected `wb-linear`",
            meta_path.display(),
            meta.format
        );
    }
    // The weights must lie inside the model folder (no `..`, absolute path or link out).
    let weights_path = wb_io::confined(dir, &meta.weights_file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", meta_path.display()))?;
    let (d, c) = (meta.n_features, meta.n_classes);
    if d == 0 || c < 2 {
        bail!(
            "{}: a model of {d} features and {c} classes cannot classify anything",
            meta_path.display()
        );
    }
    // The file must hold the D x C weights and C biases: checked on its length (with checked
    // arithmetic) before it is read, so absurd sizes in model.json cost nothing.
    let needed = d
        .checked_mul(c)
        .and_then(|n| n.checked_add(c))
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: {d} features x {c} classes are more weights than can be counted",
                meta_path.display()
            )
        })?;
    let on_disk = std::fs::metadata(&weights_path)
        .with_context(|| format!("cannot read {}", weights_path.display()))?
        .len();
    if on_disk < needed as u64 {
        bail!(
            "{}: holds {on_disk} bytes but {LINEAR_META} needs {d} x {c} weights and {c} biases \
             ({needed} bytes of f32): truncated or from another model",
            weights_path.display()
        );
    }
    let bytes = std::fs::read(&weights_path)
        .with_context(|| format!("cannot read {}", weights_path.display()))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a valid safetensors file (truncated or corrupt?): {e:?}",
            weights_path.display()
        )
    })?;
    if st.len() != 2 {
        let mut extra: Vec<&String> = st
            .names()
            .into_iter()
            .filter(|n| *n != "weight" && *n != "bias")
            .collect();
        extra.sort();
        bail!(
            "{}: tensors {extra:?} are not part of a linear model (expected `weight` and `bias`)",
            weights_path.display()
        );
    }
    let tensor = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
        let t = st.tensor(name).map_err(|_| {
            anyhow::anyhow!("{}: tensor `{name}` is missing", weights_path.display())
        })?;
        if t.dtype() != Dtype::F32 || t.shape() != shape {
            bail!(
                "{}: tensor `{name}` is {:?} {:?}, but {LINEAR_META} needs F32 {:?}",
                weights_path.display(),
                t.dtype(),
                t.shape(),
                shape
            );
        }
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            bail!(
                "{}: tensor `{name}` contains NaN or infinity",
                weights_path.display()
            );
        }
        Ok(v)
    };
    let weights = Array2::from_shape_vec((d, c), tensor("weight", &[d, c])?)?;
    let bias = Array1::from(tensor("bias", &[c])?);
    check_preprocessing(&meta_path, &meta.preprocessing, d, c)?;
    Ok(Loaded {
        model: Classifier::Linear(LinearModel {
            loss: meta.loss,
            weights,
            bias,
        }),
        preprocessing: meta.preprocessing,
        meta_path,
    })
}
