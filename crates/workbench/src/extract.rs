//! The features file: the features of every split, saved as one safetensors file for use
//! outside the workbench (NumPy, PyTorch, ...) and as `compare`'s feature cache.
//!
//! Tensors (row `i` of `S.x` is image `i` of split `S`, labelled `S.y[i]`):
//!
//! | name | dtype | shape |
//! |---|---|---|
//! | `train.x`, `val.x`, `test.x` | F32 | N x D, the extractors' raw outputs, **unscaled** |
//! | `train.y`, `val.y`, `test.y` | I64 | N, class indices into `class_names` |
//! | `scaler.mean`, `scaler.inv_std` | F32 | D |
//!
//! The scaler is the one a run fits on the training features (after mirroring, if
//! the training split was augmented): the classifiers see `(x - scaler.mean) * scaler.inv_std`.
//! `inv_std` is 0 for columns constant on the training split and 1 for centred-only parts.
//!
//! Metadata (string to string; JSON where marked): `features` (JSON `FeatureSpec`: every
//! extractor's parameters), `parts` (JSON list of `{name, dim, offset, normalization}` in column
//! order), `dataset`, `seed`, `split_sizes` (JSON), `image_shape` (JSON `[h, w, c]`),
//! `class_names` (JSON), `train_mirrored`, `train_shifted`, `data` (JSON split settings), `scaling`, and
//! `checksum` (64-bit FNV-1a over every tensor's name and values, hex), which
//! [`read_features`] checks so that a damaged file is never read as features, and
//! `tensor_checksums` (JSON: each tensor's own FNV-1a), so that a reader streaming one tensor
//! can check it alone.
//!
//! Shard files (`pipeline extract --shard I/N`, [`crate::shards`]) are features files of their
//! rows with two more tensors, `train.sum` and `train.sum_sq` (F64, D: per-column Σx and Σx² of
//! the shard's training rows), listed in the metadata's `extra_tensors` and covered by the
//! `checksum`, and the metadata `shard` and `fitted_checksum`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ndarray::Array2;
use safetensors::tensor::{Dtype, View};
use wb_features::FeatureSpec;
use wb_io::Fnv64;

use crate::data::{load_announced, DataInfo, DataParams};
use crate::feature_options;
use crate::progress::Reporter;
use crate::run;

/// What to extract and where to write it.
#[derive(Debug, Clone)]
pub struct ExtractParams {
    pub data: DataParams,
    pub features: FeatureSpec,
    /// The safetensors file to write (replaced atomically if it exists).
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

    /// The two summary lines `pipeline extract` prints.
    pub fn summary(&self) -> String {
        format!(
            "extracted {} images x {} features in {:.2}s: {:.0} images/s on {} threads\n\
             wrote {} ({:.1} MB)\n",
            self.images,
            self.dim,
            self.seconds,
            self.images_per_second(),
            rayon::current_num_threads(),
            self.path.display(),
            self.bytes as f64 / 1e6
        )
    }
}

/// Extracts the features of every split and writes the features file.
pub fn extract(args: &ExtractParams, reporter: &dyn Reporter) -> Result<Extracted> {
    let spec = &args.features;
    if args.out.is_dir() {
        bail!(
            "--out {} is a folder; give a file name such as feats.safetensors",
            args.out.display()
        );
    }

    let (splits, info, _) = load_announced(&args.data, reporter)?;
    feature_options::check(spec, splits.train.images.shape())?;

    let t = Instant::now();
    let feats = run::extract_unscaled(spec, &splits, &args.data, Some(reporter))?;
    let seconds = t.elapsed().as_secs_f64();
    let images = splits.train.len() + splits.val.len() + splits.test.len();

    let metadata = metadata(&args.data, &feats.fitted, &info)?;
    write_features(&args.out, &feats, &splits, metadata)?;
    let d = feats.fitted.dim();
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    Ok(Extracted {
        path: args.out.clone(),
        images,
        dim: d,
        seconds,
        bytes,
    })
}

/// The file's metadata: the features' parameters and parts, and the data they came from.
pub fn metadata(
    data: &DataParams,
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
        ("seed".into(), data.seed.to_string()),
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
        ("train_shifted".into(), info.shifted.to_string()),
        ("data".into(), json(data_settings(data))),
        (
            "scaling".into(),
            "x holds unscaled features; models see (x - scaler.mean) * scaler.inv_std, \
             fitted on train.x"
                .to_string(),
        ),
    ]))
}

/// The split settings of `data` recorded with features (the `data` metadata entry).
pub fn data_settings(data: &DataParams) -> serde_json::Value {
    serde_json::json!({
        "val_size": data.val_size,
        "train_limit": data.train_limit,
        "test_limit": data.test_limit,
        "augment": data.augment.name(),
        "label": data.label.name(),
        "image_size": data.image_size,
        "resize": data.resize.name(),
        "test_fraction": data.test_fraction,
    })
}

/// Writes the unscaled features of the three splits, their labels and the scaler (the tensors
/// of the module docs) with `metadata` plus a `checksum` of every tensor's bytes, atomically.
pub fn write_features(
    path: &Path,
    feats: &run::FeatureMatrices,
    splits: &wb_data::Splits,
    metadata: HashMap<String, String>,
) -> Result<()> {
    write_features_with(path, feats, splits, metadata, &[]).map(|_| ())
}

/// [`write_features`] with `extra` F64 tensors after the standard ones (shard files add the
/// training columns' sums, see [`crate::shards`]), named in the metadata's `extra_tensors`
/// (JSON list) and covered by the `checksum`. Every tensor's own checksum (FNV-1a of its name
/// and values, as it enters the file's) is in `tensor_checksums` (JSON object), so a reader
/// that streams one tensor can check it alone.
pub fn write_features_with(
    path: &Path,
    feats: &run::FeatureMatrices,
    splits: &wb_data::Splits,
    mut metadata: HashMap<String, String>,
    extra: &[(&str, &[f64])],
) -> Result<String> {
    let y = |labels: &[usize]| labels.iter().map(|&l| l as i64).collect::<Vec<_>>();
    let (y_train, y_val, y_test) = (
        y(&splits.train.labels),
        y(&splits.val.labels),
        y(&splits.test.labels),
    );
    let mut tensors = vec![
        ("train.x", Tensor::matrix(&feats.train)?),
        ("train.y", Tensor::labels(&y_train)),
        ("val.x", Tensor::matrix(&feats.val)?),
        ("val.y", Tensor::labels(&y_val)),
        ("test.x", Tensor::matrix(&feats.test)?),
        ("test.y", Tensor::labels(&y_test)),
        ("scaler.mean", Tensor::vector(&feats.scaler.mean)),
        ("scaler.inv_std", Tensor::vector(&feats.scaler.inv_std)),
    ];
    for &(name, values) in extra {
        tensors.push((
            name,
            Tensor {
                shape: vec![values.len()],
                data: Data::F64(values),
            },
        ));
    }
    if !extra.is_empty() {
        let names: Vec<&str> = extra.iter().map(|(name, _)| *name).collect();
        metadata.insert("extra_tensors".into(), serde_json::to_string(&names)?);
    }
    let mut sum = Fnv64::new();
    let mut each = serde_json::Map::new();
    for (name, t) in &tensors {
        let mut own = Fnv64::new();
        for h in [&mut sum, &mut own] {
            h.add_bytes(name.as_bytes());
            match t.data {
                Data::F32(v) => h.add_f32s(v),
                Data::I64(v) => h.add_i64s(v),
                Data::F64(v) => h.add_f64s(v),
            }
        }
        each.insert(name.to_string(), own.hex().into());
    }
    let checksum = sum.hex();
    metadata.insert("checksum".into(), checksum.clone());
    metadata.insert(
        "tensor_checksums".into(),
        serde_json::Value::Object(each).to_string(),
    );
    // Streamed to the temporary file by path: the k-means features alone are 2.8 GB.
    wb_io::write_atomic(path, |tmp| {
        safetensors::serialize_to_file(tensors, &Some(metadata), tmp.path())?;
        Ok(sort_header(tmp.path())?)
    })?;
    Ok(checksum)
}

/// Rewrites a safetensors file's JSON header with its keys sorted, in place. The crate writes
/// the header from hash maps, whose order changes from one process to the next, so two runs
/// with the same seed would write different bytes; sorted, the same features give the same
/// file. The sorted header has the same length (the same keys and values, reordered), so the
/// tensor data does not move.
fn sort_header(path: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)?;
    let n = usize::try_from(u64::from_le_bytes(len)).map_err(|_| invalid("header too long"))?;
    let mut header = vec![0u8; n];
    file.read_exact(&mut header)?;
    let value: serde_json::Value =
        serde_json::from_slice(&header).map_err(|_| invalid("header is not JSON"))?;
    // serde_json's map is ordered by key.
    let mut sorted = value.to_string().into_bytes();
    if sorted.len() > n {
        return Err(invalid("sorted header is longer than the original"));
    }
    sorted.resize(n, b' ');
    file.seek(SeekFrom::Start(8))?;
    file.write_all(&sorted)?;
    file.sync_all()
}

/// A features file read back: the tensors [`write_features`] writes, and its metadata.
pub struct FeaturesFile {
    pub train: Array2<f32>,
    pub val: Array2<f32>,
    pub test: Array2<f32>,
    pub y_train: Vec<usize>,
    pub y_val: Vec<usize>,
    pub test_y: Vec<usize>,
    pub scaler: wb_features::Scaler,
    pub metadata: HashMap<String, String>,
}

/// Reads a file written by [`write_features`], checking its structure (safetensors header,
/// tensor names, dtypes and shapes) and its `checksum`, so that a truncated or damaged file is
/// an error naming the file rather than wrong numbers.
pub fn read_features(path: &Path) -> Result<FeaturesFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad =
        |why: String| anyhow::anyhow!("{} is not a valid features file: {why}", path.display());
    let (_, header) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("{e}")))?;
    let metadata: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("{e}")))?;
    let mut sum = Fnv64::new();
    let f32s = |sum: &mut Fnv64, name: &str, dims: usize| -> Result<(Vec<usize>, Vec<f32>)> {
        let t = file.tensor(name).map_err(|e| bad(format!("{name}: {e}")))?;
        if t.dtype() != Dtype::F32 || t.shape().len() != dims {
            return Err(bad(format!("{name} is not a {dims}-d F32 tensor")));
        }
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        sum.add_bytes(name.as_bytes());
        sum.add_f32s(&v);
        Ok((t.shape().to_vec(), v))
    };
    let mut out = Vec::new();
    let mut labels = Vec::new();
    for split in ["train", "val", "test"] {
        let (shape, v) = f32s(&mut sum, &format!("{split}.x"), 2)?;
        out.push(Array2::from_shape_vec((shape[0], shape[1]), v).map_err(|e| bad(format!("{e}")))?);
        let name = format!("{split}.y");
        let t = file
            .tensor(&name)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        if t.dtype() != Dtype::I64 || t.shape() != [shape[0]] {
            return Err(bad(format!(
                "{name} is not an I64 vector of {} labels",
                shape[0]
            )));
        }
        let raw: Vec<i64> = t
            .data()
            .chunks_exact(8)
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                i64::from_le_bytes(a)
            })
            .collect();
        sum.add_bytes(name.as_bytes());
        sum.add_i64s(&raw);
        labels.push(
            raw.iter()
                .map(|&l| {
                    usize::try_from(l).map_err(|_| bad(format!("{name} holds a negative label")))
                })
                .collect::<Result<Vec<usize>>>()?,
        );
    }
    let (_, mean) = f32s(&mut sum, "scaler.mean", 1)?;
    let (_, inv_std) = f32s(&mut sum, "scaler.inv_std", 1)?;
    let extra: Vec<String> = match metadata.get("extra_tensors") {
        Some(list) => serde_json::from_str(list).map_err(|e| {
            bad(format!(
                "its extra_tensors metadata is not a JSON list: {e}"
            ))
        })?,
        None => Vec::new(),
    };
    for name in &extra {
        let t = file.tensor(name).map_err(|e| bad(format!("{name}: {e}")))?;
        if t.dtype() != Dtype::F64 {
            return Err(bad(format!("{name} is not an F64 tensor")));
        }
        let v: Vec<f64> = t
            .data()
            .chunks_exact(8)
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                f64::from_le_bytes(a)
            })
            .collect();
        sum.add_bytes(name.as_bytes());
        sum.add_f64s(&v);
    }
    if metadata.get("checksum") != Some(&sum.hex()) {
        return Err(bad(
            "its checksum does not match its contents (damaged file)".into(),
        ));
    }
    let d = out[0].ncols();
    if out.iter().any(|m| m.ncols() != d) || mean.len() != d || inv_std.len() != d {
        return Err(bad(
            "the splits and the scaler disagree on the feature dimension".into(),
        ));
    }
    let test = out.pop().expect("three splits");
    let val = out.pop().expect("three splits");
    let train = out.pop().expect("three splits");
    let test_y = labels.pop().expect("three splits");
    let y_val = labels.pop().expect("three splits");
    let y_train = labels.pop().expect("three splits");
    Ok(FeaturesFile {
        train,
        val,
        test,
        y_train,
        y_val,
        test_y,
        scaler: wb_features::Scaler { mean, inv_std },
        metadata,
    })
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
    F64(&'a [f64]),
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
            Data::F64(_) => Dtype::F64,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(match self.data {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
    }

    fn data_len(&self) -> usize {
        match self.data {
            Data::F32(v) => v.len() * 4,
            Data::I64(v) => v.len() * 8,
            Data::F64(v) => v.len() * 8,
        }
    }
}
