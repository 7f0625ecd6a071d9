//! `pipeline extract`: the features of every split, saved as one safetensors file for use
//! outside the workbench (NumPy, PyTorch, ...).
//!
//! Tensors (row `i` of `S.x` is image `i` of split `S`, labelled `S.y[i]`):
//!
//! | name | dtype | shape |
//! |---|---|---|
//! | `train.x`, `val.x`, `test.x` | F32 | N x D, the extractors' raw outputs, **unscaled** |
//! | `train.y`, `val.y`, `test.y` | I64 | N, class indices into `class_names` |
//! | `scaler.mean`, `scaler.inv_std` | F32 | D |
//!
//! The scaler is the one `pipeline run` fits on the training features (after mirroring, if
//! the training split was augmented): the classifiers see `(x - scaler.mean) * scaler.inv_std`.
//! `inv_std` is 0 for columns constant on the training split and 1 for centred-only parts.
//!
//! Metadata (string to string; JSON where marked): `features` (JSON `FeatureSpec`: every
//! extractor's parameters), `parts` (JSON list of `{name, dim, offset, normalization}` in column
//! order), `dataset`, `seed`, `split_sizes` (JSON), `image_shape` (JSON `[h, w, c]`),
//! `class_names` (JSON), `train_mirrored`, `data` (JSON split settings), `scaling`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use ndarray::Array2;
use safetensors::tensor::{Dtype, View};
use wb_features::FeatureSpec;

use crate::cli::DataArgs;
use crate::feature_args::{self, FeatureArgs};
use crate::load::{load_announced, DataInfo};
use crate::run;

#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Feature extractors, comma separated and concatenated in order (e.g. hog,color).
    #[arg(long, default_value = "raw")]
    pub features: String,
    #[command(flatten)]
    pub feature_options: FeatureArgs,
    /// The safetensors file to write (replaced atomically if it exists).
    #[arg(long)]
    pub out: PathBuf,
}

/// What was written, for the summary line.
pub struct Extracted {
    pub path: PathBuf,
    pub images: usize,
    pub dim: usize,
    pub seconds: f64,
    pub bytes: u64,
}

impl Extracted {
    /// Extraction rate: images of all splits over the seconds spent fitting and extracting.
    pub fn images_per_second(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }
}

/// Runs `pipeline extract`.
pub fn extract(args: &ExtractArgs) -> Result<Extracted> {
    let mut spec = FeatureSpec::parse(&args.features)?;
    args.feature_options.apply(&mut spec)?;
    if args.out.is_dir() {
        bail!(
            "--out {} is a folder; give a file name such as feats.safetensors",
            args.out.display()
        );
    }

    let (splits, info, _) = load_announced(&args.data)?;
    feature_args::check(&spec, splits.train.images.shape())?;

    let t = Instant::now();
    let feats = run::extract_unscaled(&spec, &splits, args.data.seed)?;
    let seconds = t.elapsed().as_secs_f64();
    let images = splits.train.len() + splits.val.len() + splits.test.len();

    let metadata = metadata(args, &feats.fitted, &info)?;
    let y = |labels: &[usize]| labels.iter().map(|&l| l as i64).collect::<Vec<_>>();
    let (y_train, y_val, y_test) = (
        y(&splits.train.labels),
        y(&splits.val.labels),
        y(&splits.test.labels),
    );
    let d = feats.fitted.dim();
    let tensors = vec![
        ("train.x", Tensor::matrix(&feats.train)?),
        ("train.y", Tensor::labels(&y_train)),
        ("val.x", Tensor::matrix(&feats.val)?),
        ("val.y", Tensor::labels(&y_val)),
        ("test.x", Tensor::matrix(&feats.test)?),
        ("test.y", Tensor::labels(&y_test)),
        ("scaler.mean", Tensor::vector(&feats.scaler.mean)),
        ("scaler.inv_std", Tensor::vector(&feats.scaler.inv_std)),
    ];
    write_atomic(&args.out, tensors, metadata)?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    Ok(Extracted {
        path: args.out.clone(),
        images,
        dim: d,
        seconds,
        bytes,
    })
}

fn metadata(
    args: &ExtractArgs,
    fitted: &wb_features::FittedFeatures,
    info: &DataInfo,
) -> Result<HashMap<String, String>> {
    let mut offset = 0;
    let parts: Vec<_> = fitted
        .parts()
        .into_iter()
        .map(|(name, dim, norm)| {
            let part = serde_json::json!({
                "name": name,
                "dim": dim,
                "offset": offset,
                "normalization": format!("{norm:?}").to_lowercase(),
            });
            offset += dim;
            part
        })
        .collect();
    let json = |v: serde_json::Value| v.to_string();
    Ok(HashMap::from([
        ("format".to_string(), "wb-pipeline features 1".to_string()),
        ("features".into(), serde_json::to_string(fitted.spec())?),
        ("parts".into(), json(serde_json::json!(parts))),
        ("dataset".into(), info.dataset.to_string()),
        ("seed".into(), args.data.seed.to_string()),
        (
            "split_sizes".into(),
            json(serde_json::json!({"train": info.train, "val": info.val, "test": info.test})),
        ),
        (
            "image_shape".into(),
            json(serde_json::json!(info.image_shape)),
        ),
        (
            "class_names".into(),
            json(serde_json::json!(info.class_names)),
        ),
        ("train_mirrored".into(), info.flipped.to_string()),
        (
            "data".into(),
            json(serde_json::json!({
                "val_size": args.data.val_size,
                "train_limit": args.data.train_limit,
                "test_limit": args.data.test_limit,
                "augment": format!("{:?}", args.data.augment).to_lowercase(),
                "label": format!("{:?}", args.data.label).to_lowercase(),
                "image_size": args.data.image_size,
            })),
        ),
        (
            "scaling".into(),
            "x holds unscaled features; models see (x - scaler.mean) * scaler.inv_std, \
             fitted on train.x"
                .to_string(),
        ),
    ]))
}

/// A tensor to write, converted to little-endian bytes only while it is written (so a large
/// split is never held twice in memory).
struct Tensor<'a> {
    shape: Vec<usize>,
    data: Data<'a>,
}

enum Data<'a> {
    F32(&'a [f32]),
    I64(&'a [i64]),
}

impl<'a> Tensor<'a> {
    fn matrix(m: &'a Array2<f32>) -> Result<Tensor<'a>> {
        let data = m
            .as_slice()
            .context("feature matrix is not contiguous (internal error)")?;
        Ok(Tensor {
            shape: vec![m.nrows(), m.ncols()],
            data: Data::F32(data),
        })
    }

    fn vector(data: &'a [f32]) -> Tensor<'a> {
        Tensor {
            shape: vec![data.len()],
            data: Data::F32(data),
        }
    }

    fn labels(data: &'a [i64]) -> Tensor<'a> {
        Tensor {
            shape: vec![data.len()],
            data: Data::I64(data),
        }
    }
}

impl View for Tensor<'_> {
    fn dtype(&self) -> Dtype {
        match self.data {
            Data::F32(_) => Dtype::F32,
            Data::I64(_) => Dtype::I64,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(match self.data {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
    }

    fn data_len(&self) -> usize {
        match self.data {
            Data::F32(v) => v.len() * 4,
            Data::I64(v) => v.len() * 8,
        }
    }
}

/// Writes the file to a temporary name in the same folder and renames it over `path`, so an
/// interrupted or failed export never leaves a half-written file in place of an earlier one.
fn write_atomic(
    path: &Path,
    tensors: Vec<(&str, Tensor<'_>)>,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    safetensors::serialize_to_file(tensors, &Some(metadata), tmp.path())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
