//! Sharded extraction: `pipeline extract --shard I/N --fitted FILE --out DIR` extracts the
//! features of a deterministic 1/N of every split into `DIR/shard-0000I-of-0000N.safetensors`
//! and records it in `DIR/manifest.json`, so that N tasks of a cluster job array (Slurm,
//! Kubernetes indexed Jobs) extract a data set in parallel and training streams from the shards.
//!
//! **Which rows.** Shard `I` of `N` holds rows `[⌊n·I/N⌋, ⌊n·(I+1)/N⌋)` of each split of `n`
//! rows, in the order `pipeline extract` writes them (for an augmented training split: the
//! images, then their mirrored or shifted copies). The ranges depend only on the split sizes,
//! so they are the same on every run and machine, and the shards' rows concatenated in index
//! order are exactly the rows of one `pipeline extract` with the same options (a test checks
//! it bit for bit).
//!
//! **Shard files** are features files ([`crate::extract`]) of the shard's rows: `train.x`,
//! `train.y`, ..., and the scaler of the shard's own training rows, plus two F64 tensors,
//! `train.sum` and `train.sum_sq` (per-column Σx and Σx² of the shard's training rows; the
//! count is `train.x`'s rows), from which the scaler of the whole training split is computed
//! without loading the shards ([`wb_features::ColumnSums`]). Metadata adds `shard` (JSON:
//! index, count, the shard's row ranges and the full split sizes) and `fitted_checksum`.
//! A re-run replaces its shard atomically.
//!
//! **The manifest** (`manifest.json`, [`Manifest`]): the dataset, split settings, split sizes,
//! class names, feature parameters and parts, the fitted file's checksum, and one entry per
//! shard (its file, row ranges, and — once extracted — its checksum and size). Each task
//! updates its entry under a lock file (`manifest.json.lock`, created exclusively, which works
//! on shared cluster file systems), so tasks finishing together do not lose each other's
//! entries; a task whose settings differ from the manifest's is refused. The fitted file is
//! copied to `DIR/fitted.json`, so the folder is all that training needs.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use wb_features::{ColumnSums, FeatureSpec, Normalization, Scaler};
use wb_io::Fnv64;

use crate::data::{load_announced, DataParams};
use crate::extract;
use crate::fitted::{read_fitted, FittedFile};
use crate::progress::Reporter;
use crate::run::FeatureMatrices;

/// `format` of a manifest.
pub const MANIFEST_FORMAT: &str = "wb-workbench feature shards";
/// Bumped when a manifest can no longer be read the old way; newer ones are refused.
pub const MANIFEST_VERSION: u32 = 1;
/// The manifest's file name in a shard folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The copy of the fitted file in a shard folder.
pub const FITTED_COPY: &str = "fitted.json";

/// Shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// `I/N` with `0 <= I < N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard (expected I/N with 0 <= I < N, e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count).map_err(|_| bad())
    }

    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index} of {count} does not exist (0 <= index < count)"
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard a cluster job array task is: Slurm's `SLURM_ARRAY_TASK_ID` (relative to
    /// `SLURM_ARRAY_TASK_MIN`, in steps of `SLURM_ARRAY_TASK_STEP`) of
    /// `SLURM_ARRAY_TASK_COUNT`, else a Kubernetes indexed Job's `JOB_COMPLETION_INDEX` of
    /// `count` (the Job's completions, which Kubernetes does not export). `None` when neither
    /// is set. `var` reads an environment variable.
    pub fn from_env(
        var: &dyn Fn(&str) -> Option<String>,
        count: Option<usize>,
    ) -> Result<Option<Shard>, String> {
        let number = |name: &str| -> Result<Option<usize>, String> {
            match var(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={v} is not a whole number")),
            }
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let total = number("SLURM_ARRAY_TASK_COUNT")?.ok_or(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (pass --shard I/N)",
            )?;
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let index = id.checked_sub(min).map(|d| d / step).ok_or_else(|| {
                format!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}")
            })?;
            return Shard::new(index, total)
                .map(Some)
                .map_err(|e| format!("from SLURM_ARRAY_TASK_ID={id}: {e}"));
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = count.ok_or(
                "JOB_COMPLETION_INDEX is set: give the Job's completions with --shard-count N \
                 (or pass --shard I/N)",
            )?;
            return Shard::new(index, count)
                .map(Some)
                .map_err(|e| format!("from JOB_COMPLETION_INDEX={index}: {e}"));
        }
        Ok(None)
    }

    /// This shard's rows of a split of `n` rows: `[⌊n·I/N⌋, ⌊n·(I+1)/N⌋)`.
    pub fn range(&self, n: usize) -> Range<usize> {
        let at = |i: usize| ((n as u128 * i as u128) / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }

    /// `shard-00003-of-00004.safetensors`.
    pub fn file_name(&self) -> String {
        format!("shard-{:05}-of-{:05}.safetensors", self.index, self.count)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Rows of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    pub train: usize,
    pub val: usize,
    pub test: usize,
}

/// One of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// A part of the features, in column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartEntry {
    pub name: String,
    pub dim: usize,
    pub normalization: Normalization,
}

/// One shard in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    pub index: usize,
    pub file: String,
    /// `[start, end)` rows of each split.
    pub train: [usize; 2],
    pub val: [usize; 2],
    pub test: [usize; 2],
    /// The shard file's `checksum` metadata; `None` until the shard is extracted.
    pub checksum: Option<String>,
    pub bytes: Option<u64>,
}

impl ShardEntry {
    pub fn rows(&self, split: Split) -> usize {
        let [a, b] = self.range(split);
        b - a
    }

    pub fn range(&self, split: Split) -> [usize; 2] {
        match split {
            Split::Train => self.train,
            Split::Val => self.val,
            Split::Test => self.test,
        }
    }
}

/// `manifest.json` of a shard folder (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub dataset: String,
    /// Split settings (as the features file's `data` metadata).
    pub data: serde_json::Value,
    pub seed: u64,
    pub split_sizes: SplitSizes,
    pub image_shape: [usize; 3],
    pub class_names: Vec<String>,
    pub train_mirrored: bool,
    pub train_shifted: bool,
    pub features: FeatureSpec,
    pub parts: Vec<PartEntry>,
    pub dim: usize,
    /// The fitted file's copy in the folder, and its checksum.
    pub fitted_file: String,
    pub fitted_checksum: String,
    pub shard_count: usize,
    pub shards: Vec<ShardEntry>,
}

impl Manifest {
    /// Everything but the shards' checksums and sizes: what two tasks of one extraction share.
    fn settings_equal(&self, other: &Manifest) -> bool {
        let strip = |m: &Manifest| {
            let mut m = m.clone();
            for s in &mut m.shards {
                s.checksum = None;
                s.bytes = None;
            }
            m
        };
        strip(self) == strip(other)
    }

    /// The scaler's column blocks.
    pub fn blocks(&self) -> Vec<(usize, Normalization)> {
        self.parts
            .iter()
            .map(|p| (p.dim, p.normalization))
            .collect()
    }

    /// Rows of `split` over all shards.
    pub fn rows(&self, split: Split) -> usize {
        match split {
            Split::Train => self.split_sizes.train,
            Split::Val => self.split_sizes.val,
            Split::Test => self.split_sizes.test,
        }
    }

    /// Reads `DIR/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read {}: not a shard folder written by `pipeline extract --shard`",
                path.display()
            )
        })?;
        let probe: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("{}: not valid JSON (damaged?)", path.display()))?;
        if probe.get("format").and_then(|f| f.as_str()) != Some(MANIFEST_FORMAT) {
            bail!("{}: not a feature-shard manifest", path.display());
        }
        match probe.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v > u64::from(MANIFEST_VERSION) => bail!(
                "{}: format version {v} is newer than this build reads ({MANIFEST_VERSION}); \
                 upgrade the workbench",
                path.display()
            ),
            Some(_) => {}
            None => bail!("{}: no `format_version` field", path.display()),
        }
        let manifest: Manifest = serde_json::from_value(probe)
            .with_context(|| format!("{}: invalid manifest", path.display()))?;
        if manifest.shards.len() != manifest.shard_count
            || manifest
                .shards
                .iter()
                .enumerate()
                .any(|(i, s)| s.index != i)
        {
            bail!(
                "{}: the shard list does not hold shards 0..{} in order",
                path.display(),
                manifest.shard_count
            );
        }
        Ok(manifest)
    }
}

/// What to extract: one shard of the data, with a fitted file, into a folder.
#[derive(Debug, Clone)]
pub struct ShardParams {
    pub data: DataParams,
    pub fitted: PathBuf,
    pub shard: Shard,
    /// The shard folder (created).
    pub out: PathBuf,
}

/// What a shard task wrote, for the summary line.
pub struct ShardExtracted {
    pub path: PathBuf,
    pub rows: SplitSizes,
    pub dim: usize,
    pub seconds: f64,
    pub bytes: u64,
}

impl ShardExtracted {
    /// Images of the shard's three splits over the seconds spent extracting.
    pub fn images_per_second(&self) -> f64 {
        (self.rows.train + self.rows.val + self.rows.test) as f64 / self.seconds.max(1e-9)
    }

    /// The two summary lines `pipeline extract --shard` prints.
    pub fn summary(&self, shard: &Shard) -> String {
        format!(
            "extracted shard {shard} ({} train, {} val, {} test images x {} features) in \
             {:.2}s: {:.0} images/s on {} threads\nwrote {} ({:.1} MB)\n",
            self.rows.train,
            self.rows.val,
            self.rows.test,
            self.dim,
            self.seconds,
            self.images_per_second(),
            rayon::current_num_threads(),
            self.path.display(),
            self.bytes as f64 / 1e6
        )
    }
}

/// Extracts one shard (see the module docs).
pub fn extract_shard(params: &ShardParams, reporter: &dyn Reporter) -> Result<ShardExtracted> {
    if params.out.is_file() {
        bail!(
            "--out {} is a file; with --shard it names the shard folder",
            params.out.display()
        );
    }
    let fitted_file = read_fitted(&params.fitted)?;
    let (splits, info, _) = load_announced(&params.data, reporter)?;
    if fitted_file.dataset != info.dataset.to_string()
        || fitted_file.image_shape != info.image_shape
    {
        bail!(
            "--fitted {} was fitted on {} images of {:?}, but this extraction loads {} images \
             of {:?}: pass the data options given to `pipeline fit-features`",
            params.fitted.display(),
            fitted_file.dataset,
            fitted_file.image_shape,
            info.dataset,
            info.image_shape
        );
    }
    let fitted = fitted_file.fitted_features()?;
    let shard = params.shard;
    let sizes = SplitSizes {
        train: splits.train.len(),
        val: splits.val.len(),
        test: splits.test.len(),
    };
    let take = |d: &wb_data::Dataset| -> wb_data::Dataset {
        let rows: Vec<usize> = shard.range(d.len()).collect();
        d.select(&rows)
    };
    let part = wb_data::Splits {
        train: take(&splits.train),
        val: take(&splits.val),
        test: take(&splits.test),
    };
    drop(splits);

    let t = Instant::now();
    let total = (part.train.len() + part.val.len() + part.test.len()) as u64;
    let progress = reporter.start("features", total);
    let inc = |n| progress.inc(n);
    let train = fitted.transform(&part.train.images, &inc)?;
    let val = fitted.transform(&part.val.images, &inc)?;
    let test = fitted.transform(&part.test.images, &inc)?;
    progress.finish();
    let seconds = t.elapsed().as_secs_f64();

    let blocks: Vec<_> = fitted.parts().iter().map(|&(_, d, n)| (d, n)).collect();
    let sums = ColumnSums::of(train.view());
    let scaler = Scaler::from_sums(&sums, &blocks);
    let manifest = manifest_for(
        &params.data,
        &info,
        &fitted_file,
        &fitted,
        sizes,
        shard.count,
    );
    let entry = &manifest.shards[shard.index];
    let mut shard_info = info.clone();
    shard_info.train = part.train.len();
    shard_info.val = part.val.len();
    shard_info.test = part.test.len();
    let mut metadata = extract::metadata(&params.data, &fitted, &shard_info)?;
    metadata.insert(
        "shard".into(),
        serde_json::json!({
            "index": shard.index,
            "count": shard.count,
            "train": entry.train,
            "val": entry.val,
            "test": entry.test,
            "split_sizes": sizes,
        })
        .to_string(),
    );
    metadata.insert("fitted_checksum".into(), fitted_file.checksum.clone());
    let dim = fitted.dim();
    let feats = FeatureMatrices {
        train,
        val,
        test,
        fitted,
        scaler,
    };
    std::fs::create_dir_all(&params.out)
        .with_context(|| format!("cannot create {}", params.out.display()))?;
    let path = params.out.join(shard.file_name());
    let checksum = extract::write_features_with(
        &path,
        &feats,
        &part,
        metadata,
        &[("train.sum", &sums.sum), ("train.sum_sq", &sums.sum_sq)],
    )?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    copy_fitted(&params.fitted, &params.out.join(FITTED_COPY), &fitted_file)?;
    record_shard(&params.out, manifest, shard, checksum, bytes)?;
    Ok(ShardExtracted {
        path,
        rows: SplitSizes {
            train: part.train.len(),
            val: part.val.len(),
            test: part.test.len(),
        },
        dim,
        seconds,
        bytes,
    })
}

/// The manifest of an extraction into `count` shards, no shard extracted yet.
fn manifest_for(
    data: &DataParams,
    info: &crate::DataInfo,
    fitted_file: &FittedFile,
    fitted: &wb_features::FittedFeatures,
    sizes: SplitSizes,
    count: usize,
) -> Manifest {
    let shards = (0..count)
        .map(|index| {
            let s = Shard { index, count };
            let r = |n: usize| {
                let r = s.range(n);
                [r.start, r.end]
            };
            ShardEntry {
                index,
                file: s.file_name(),
                train: r(sizes.train),
                val: r(sizes.val),
                test: r(sizes.test),
                checksum: None,
                bytes: None,
            }
        })
        .collect();
    Manifest {
        format: MANIFEST_FORMAT.into(),
        format_version: MANIFEST_VERSION,
        dataset: info.dataset.to_string(),
        data: extract::data_settings(data),
        seed: data.seed,
        split_sizes: sizes,
        image_shape: info.image_shape,
        class_names: info.class_names.clone(),
        train_mirrored: info.flipped,
        train_shifted: info.shifted,
        features: fitted.spec().clone(),
        parts: fitted
            .parts()
            .into_iter()
            .map(|(name, dim, normalization)| PartEntry {
                name: name.to_string(),
                dim,
                normalization,
            })
            .collect(),
        dim: fitted.dim(),
        fitted_file: FITTED_COPY.into(),
        fitted_checksum: fitted_file.checksum.clone(),
        shard_count: count,
        shards,
    }
}

/// Copies the fitted file into the shard folder unless an identical copy is there.
fn copy_fitted(from: &Path, to: &Path, file: &FittedFile) -> Result<()> {
    if let Ok(existing) = read_fitted(to) {
        if existing.checksum == file.checksum {
            return Ok(());
        }
    }
    let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    Ok(wb_io::write_bytes(to, &bytes)?)
}

/// Sets shard `shard`'s entry in `DIR/manifest.json` (creating it from `fresh` if absent),
/// under the folder's lock.
fn record_shard(
    dir: &Path,
    fresh: Manifest,
    shard: Shard,
    checksum: String,
    bytes: u64,
) -> Result<()> {
    let _lock = ManifestLock::acquire(dir)?;
    let path = dir.join(MANIFEST_FILE);
    let mut manifest = if path.exists() {
        let existing = Manifest::read(dir)?;
        if !existing.settings_equal(&fresh) {
            bail!(
                "{} was written for another extraction (different data, features, fitted file \
                 or shard count): extract into another --out folder, or delete the folder's \
                 shards and manifest first",
                path.display()
            );
        }
        existing
    } else {
        fresh
    };
    let entry = &mut manifest.shards[shard.index];
    entry.checksum = Some(checksum);
    entry.bytes = Some(bytes);
    Ok(wb_io::write_json(&path, &manifest)?)
}

/// An exclusive lock on a shard folder's manifest: `manifest.json.lock`, created with
/// `create_new` (atomic on local and network file systems), removed when dropped.
struct ManifestLock {
    path: PathBuf,
}

impl ManifestLock {
    /// A lock older than this was left by a task that died while holding it (holding it takes
    /// milliseconds), and is taken over.
    const STALE: Duration = Duration::from_secs(120);
    const WAIT: Duration = Duration::from_secs(600);

    fn acquire(dir: &Path) -> Result<ManifestLock> {
        let path = dir.join(format!("{MANIFEST_FILE}.lock"));
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(ManifestLock { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if age.is_some_and(|a| a > Self::STALE) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() > Self::WAIT {
                        bail!(
                            "{} has been held for {} s: another extraction is writing the \
                             manifest, or one died holding it (delete the file if none runs)",
                            path.display(),
                            Self::WAIT.as_secs()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
    }
}

impl Drop for ManifestLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A tensor's place in a safetensors file.
#[derive(Debug, Clone)]
struct TensorInfo {
    dtype: String,
    shape: Vec<usize>,
    /// Absolute byte range in the file.
    start: u64,
    end: u64,
}

/// A shard file opened for streaming: its header parsed, its tensors read one at a time (each
/// checked against its own checksum as it is read), never the whole file at once.
#[derive(Debug, Clone)]
pub struct ShardFile {
    pub path: PathBuf,
    tensors: HashMap<String, TensorInfo>,
    pub metadata: HashMap<String, String>,
    tensor_checksums: HashMap<String, String>,
}

/// Bytes read from disk at a time.
const READ_CHUNK: usize = 1 << 20;

impl ShardFile {
    /// Parses the safetensors header (8-byte little-endian length, JSON) and checks that the
    /// file holds every byte the header promises.
    pub fn open(path: &Path) -> Result<ShardFile> {
        let bad = |why: String| anyhow::anyhow!("{} is damaged: {why}", path.display());
        let mut f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = f
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        let mut n = [0u8; 8];
        f.read_exact(&mut n)
            .map_err(|_| bad("shorter than a safetensors header".into()))?;
        let n = u64::from_le_bytes(n);
        if n > 100 << 20 || 8 + n > len {
            return Err(bad(format!("a header of {n} bytes in a file of {len}")));
        }
        let mut header = vec![0u8; n as usize];
        f.read_exact(&mut header)
            .map_err(|e| bad(format!("cannot read the header: {e}")))?;
        let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
            .map_err(|e| bad(format!("the header is not JSON: {e}")))?;
        let data_start = 8 + n;
        let mut tensors = HashMap::new();
        let mut metadata: HashMap<String, String> = HashMap::new();
        let mut end_max = 0u64;
        for (name, v) in header {
            if name == "__metadata__" {
                metadata = serde_json::from_value(v)
                    .map_err(|e| bad(format!("its metadata is not a string map: {e}")))?;
                continue;
            }
            #[derive(Deserialize)]
            struct Entry {
                dtype: String,
                shape: Vec<usize>,
                data_offsets: [u64; 2],
            }
            let e: Entry =
                serde_json::from_value(v).map_err(|e| bad(format!("tensor {name}: {e}")))?;
            let size = match e.dtype.as_str() {
                "F32" => 4,
                "F64" | "I64" => 8,
                other => return Err(bad(format!("tensor {name} has dtype {other}"))),
            };
            let elements = e
                .shape
                .iter()
                .try_fold(1u64, |a, &s| a.checked_mul(s as u64))
                .ok_or_else(|| bad(format!("tensor {name}'s shape overflows")))?;
            let [a, b] = e.data_offsets;
            if b < a || b - a != elements * size {
                return Err(bad(format!("tensor {name}'s offsets do not fit its shape")));
            }
            end_max = end_max.max(b);
            tensors.insert(
                name,
                TensorInfo {
                    dtype: e.dtype,
                    shape: e.shape,
                    start: data_start + a,
                    end: data_start + b,
                },
            );
        }
        if data_start + end_max != len {
            return Err(bad(format!(
                "{len} bytes where the header describes {} (truncated?)",
                data_start + end_max
            )));
        }
        let tensor_checksums = match metadata.get("tensor_checksums") {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| bad(format!("tensor_checksums is not a JSON object: {e}")))?,
            None => HashMap::new(),
        };
        Ok(ShardFile {
            path: path.to_path_buf(),
            tensors,
            metadata,
            tensor_checksums,
        })
    }

    fn tensor(&self, name: &str, dtype: &str) -> Result<&TensorInfo> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("{} has no tensor {name}", self.path.display()))?;
        if t.dtype != dtype {
            bail!(
                "{}: tensor {name} is {}, expected {dtype}",
                self.path.display(),
                t.dtype
            );
        }
        Ok(t)
    }

    /// The shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }

    /// Streams tensor `name`'s bytes in chunks of whole 8-byte words to `take` (called with
    /// each chunk), then checks the tensor's checksum: FNV-1a of its name, element count and
    /// each element's bits, as [`extract::write_features_with`] recorded it.
    fn stream(
        &self,
        name: &str,
        dtype: &str,
        word: usize,
        take: &mut dyn FnMut(&[u8], &mut Fnv64),
    ) -> Result<()> {
        let t = self.tensor(name, dtype)?;
        let expected = self.tensor_checksums.get(name).ok_or_else(|| {
            anyhow::anyhow!(
                "{} records no checksum for {name}: not a shard file",
                self.path.display()
            )
        })?;
        let mut f = std::fs::File::open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        f.seek(SeekFrom::Start(t.start))
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let mut h = Fnv64::new();
        h.add_bytes(name.as_bytes());
        h.add_word((t.end - t.start) / word as u64);
        let mut left = (t.end - t.start) as usize;
        let mut buf = vec![0u8; READ_CHUNK.min(left.max(word))];
        while left > 0 {
            let n = buf.len().min(left);
            f.read_exact(&mut buf[..n])
                .with_context(|| format!("cannot read {} of {}", name, self.path.display()))?;
            take(&buf[..n], &mut h);
            left -= n;
        }
        if &h.hex() != expected {
            bail!(
                "{} is damaged: tensor {name} does not match its checksum; extract this shard \
                 again",
                self.path.display()
            );
        }
        Ok(())
    }

    /// Tensor `name` (F32, `out.len()` values) into `out`, checked.
    pub fn read_f32_into(&self, name: &str, out: &mut [f32]) -> Result<()> {
        let t = self.tensor(name, "F32")?;
        if (t.end - t.start) as usize != out.len() * 4 {
            bail!(
                "{}: tensor {name} has {} values, expected {}",
                self.path.display(),
                (t.end - t.start) / 4,
                out.len()
            );
        }
        let mut at = 0;
        self.stream(name, "F32", 4, &mut |bytes, h| {
            for b in bytes.chunks_exact(4) {
                let bits = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                h.add_word(bits as u64);
                out[at] = f32::from_bits(bits);
                at += 1;
            }
        })
    }

    /// Tensor `name` (I64), checked.
    pub fn read_i64(&self, name: &str) -> Result<Vec<i64>> {
        let mut out = Vec::new();
        self.stream(name, "I64", 8, &mut |bytes, h| {
            for b in bytes.chunks_exact(8) {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let v = i64::from_le_bytes(a);
                h.add_word(v as u64);
                out.push(v);
            }
        })?;
        Ok(out)
    }

    /// Tensor `name` (F64), checked.
    pub fn read_f64(&self, name: &str) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        self.stream(name, "F64", 8, &mut |bytes, h| {
            for b in bytes.chunks_exact(8) {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let v = f64::from_le_bytes(a);
                h.add_word(v.to_bits());
                out.push(v);
            }
        })?;
        Ok(out)
    }

    /// Rows `rows` (sorted) of the F32 matrix `name` with `d` columns, into consecutive rows of
    /// `out`. Not checked against the checksum (a few rows are read, not the tensor); the whole
    /// tensor is checked each time it is streamed.
    pub fn read_rows(&self, name: &str, d: usize, rows: &[usize], out: &mut [f32]) -> Result<()> {
        let t = self.tensor(name, "F32")?;
        let mut f = std::fs::File::open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        let mut buf = vec![0u8; d * 4];
        for (k, &r) in rows.iter().enumerate() {
            let at = t.start + (r * d * 4) as u64;
            if at + (d * 4) as u64 > t.end {
                bail!("{}: row {r} of {name} is out of range", self.path.display());
            }
            f.seek(SeekFrom::Start(at))
                .and_then(|_| f.read_exact(&mut buf))
                .with_context(|| format!("cannot read {}", self.path.display()))?;
            for (dst, b) in out[k * d..(k + 1) * d].iter_mut().zip(buf.chunks_exact(4)) {
                *dst = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Ok(())
    }
}

/// Reads the `split` matrices of every shard of `dir`, concatenated in index order (what a
/// single extraction holds), with their labels. For checks and small sets: it holds everything.
pub fn concatenate(dir: &Path, split: Split) -> Result<(Array2<f32>, Vec<i64>)> {
    let manifest = Manifest::read(dir)?;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for entry in &manifest.shards {
        let file = ShardFile::open(&dir.join(&entry.file))?;
        let mut part = vec![0f32; entry.rows(split) * manifest.dim];
        file.read_f32_into(&format!("{}.x", split.name()), &mut part)?;
        x.extend(part);
        y.extend(file.read_i64(&format!("{}.y", split.name()))?);
    }
    let rows = manifest.rows(split);
    Ok((Array2::from_shape_vec((rows, manifest.dim), x)?, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_row_once_in_order() {
        for n in [0, 1, 7, 100, 98_000, 1_281_167] {
            for count in [1, 2, 3, 4, 7, 64] {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard { index, count }.range(n);
                    assert_eq!(r.start, next);
                    assert!(r.len() <= n.div_ceil(count));
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn shard_names_parse_and_refuse() {
        assert_eq!(Shard::parse("3/4"), Ok(Shard { index: 3, count: 4 }));
        for bad in ["4/4", "1", "-1/4", "a/b", "0/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slurm_and_kubernetes_variables_give_the_shard() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
        ]);
        assert_eq!(
            Shard::from_env(&slurm, None),
            Ok(Some(Shard { index: 3, count: 4 }))
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(
            Shard::from_env(&k8s, Some(5)),
            Ok(Some(Shard { index: 2, count: 5 }))
        );
        let err = Shard::from_env(&k8s, None).unwrap_err();
        assert!(err.contains("--shard-count"), "{err}");
        let out_of_range = env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert!(Shard::from_env(&out_of_range, None).is_err());
        assert_eq!(Shard::from_env(&env(&[]), None), Ok(None));
    }
}
