//! Training from a folder of feature shards without loading them all
//! (`pipeline run --features-from DIR`).
//!
//! - [`ShardSet::open`] reads the manifest and every shard's header, naming each shard that is
//!   missing, not yet extracted, or does not match the manifest; each tensor is checked against
//!   its own checksum every time it is read, so a shard damaged later is named too.
//! - The scaler is [`Scaler::from_sums`] of the shards' per-column sums (Σx, Σx², n in f64):
//!   no shard's rows are needed for it.
//! - Training streams the shards through a bounded buffer ([`SplitStream`], a
//!   [`BlockSource`]): each epoch the shard order is shuffled with a seed drawn from the
//!   training seed and the epoch, `buffer_shards` shards at a time are read into the buffer, and
//!   the trainer shuffles their rows before cutting mini-batches (`wb_linear::stream`,
//!   `wb_mlp::stream`). Validation, test and final training accuracies stream the same way.
//! - Memory is estimated before anything is read ([`MemoryEstimate`]) and the run is refused if
//!   the estimate exceeds `--max-memory`.
//!
//! L-BFGS (the SVM's default solver) needs full-batch passes at every iteration and is refused
//! with the option to use instead (`--solver sgd`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ndarray::{ArrayView2, ArrayViewMut2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use wb_features::{ColumnSums, FittedFeatures, Scaler};
use wb_linear::stream::{BlockSource, SourceError};
use wb_linear::{Labeled, LinearModel, Solver};

use crate::fitted::read_fitted;
use crate::progress::Reporter;
use crate::report::{self, ClassReport, Timings};
use crate::run::RunOutput;
use crate::shards::{Manifest, ShardFile, Split};
use crate::train::{self, Classifier, Divergence, GridPoint, Search, TrainSettings, Trained};
use crate::DataInfo;

/// A run trained from a shard folder.
#[derive(Debug, Clone)]
pub struct StreamParams {
    /// The shard folder (`pipeline extract --shard I/N --out DIR`).
    pub dir: PathBuf,
    pub train: TrainSettings,
    /// Shards whose training rows are read into memory and shuffled together.
    pub buffer_shards: usize,
    /// Refuse to start if the memory estimate exceeds this many bytes.
    pub max_memory: Option<u64>,
    /// Settings given that the run ignores, told when it starts.
    pub warnings: Vec<String>,
}

/// Shards read in a buffer unless set: enough to mix rows of different shards.
pub const DEFAULT_BUFFER_SHARDS: usize = 2;

pub use crate::memory::parse_bytes;

/// `1.2 GiB`.
pub fn show_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024f64.powi(3) {
        format!("{:.2} GiB", b / 1024f64.powi(3))
    } else {
        format!("{:.0} MiB", (b / 1024f64.powi(2)).max(1.0))
    }
}

/// An opened shard folder.
pub struct ShardSet {
    pub dir: PathBuf,
    pub manifest: Manifest,
    files: Vec<ShardFile>,
}

impl ShardSet {
    /// Reads the manifest and every shard's header; names every shard that is missing, not
    /// extracted yet, truncated, or not the one the manifest recorded.
    pub fn open(dir: &Path) -> Result<ShardSet> {
        let manifest = Manifest::read(dir)?;
        let n = manifest.shard_count;
        let missing: Vec<String> = manifest
            .shards
            .iter()
            .filter(|s| s.checksum.is_none() || !dir.join(&s.file).is_file())
            .map(|s| format!("{}/{n} ({})", s.index, dir.join(&s.file).display()))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{} of the {n} shards in {} are missing (not extracted yet, or their task \
                 failed): {}; run `pipeline extract --shard I/{n} --fitted FILE --out {}` for \
                 each with the same data options",
                missing.len(),
                dir.display(),
                missing.join(", "),
                dir.display()
            );
        }
        let mut files = Vec::with_capacity(n);
        for entry in &manifest.shards {
            let path = dir.join(&entry.file);
            let file = ShardFile::open(&path)?;
            let recorded = entry.checksum.as_deref().unwrap_or_default();
            let actual = file.metadata.get("checksum").map(String::as_str);
            if actual != Some(recorded) {
                bail!(
                    "shard {}/{n} ({}) is not the file the manifest recorded (checksum {} vs \
                     {recorded}): it is damaged or was replaced by another extraction; extract \
                     it again with `pipeline extract --shard {}/{n}`",
                    entry.index,
                    path.display(),
                    actual.unwrap_or("none"),
                    entry.index
                );
            }
            if file.metadata.get("fitted_checksum") != Some(&manifest.fitted_checksum) {
                bail!(
                    "shard {}/{n} ({}) was extracted with another fitted file than the \
                     manifest's; extract it again",
                    entry.index,
                    path.display()
                );
            }
            for split in [Split::Train, Split::Val, Split::Test] {
                let name = format!("{}.x", split.name());
                let expected = [entry.rows(split), manifest.dim];
                if file.shape(&name) != Some(&expected[..]) {
                    bail!(
                        "shard {}/{n} ({}): {name} is {:?}, the manifest expects {:?}",
                        entry.index,
                        path.display(),
                        file.shape(&name),
                        expected
                    );
                }
            }
            files.push(file);
        }
        Ok(ShardSet {
            dir: dir.to_path_buf(),
            manifest,
            files,
        })
    }

    pub fn dim(&self) -> usize {
        self.manifest.dim
    }

    pub fn n_classes(&self) -> usize {
        self.manifest.class_names.len()
    }

    /// The sum of every shard's training-column sums.
    pub fn column_sums(&self) -> Result<ColumnSums> {
        let mut total = ColumnSums::zeros(self.dim());
        for (file, entry) in self.files.iter().zip(&self.manifest.shards) {
            let sums = ColumnSums {
                count: entry.rows(Split::Train) as u64,
                sum: file.read_f64("train.sum")?,
                sum_sq: file.read_f64("train.sum_sq")?,
            };
            total.add(&sums).with_context(|| {
                format!("{}: train.sum has the wrong length", file.path.display())
            })?;
        }
        Ok(total)
    }

    /// The scaler of the whole training split, from the shards' sums.
    pub fn scaler(&self) -> Result<Scaler> {
        Ok(Scaler::from_sums(
            &self.column_sums()?,
            &self.manifest.blocks(),
        ))
    }

    /// The features' extractors, from the folder's copy of the fitted file.
    pub fn fitted_features(&self) -> Result<FittedFeatures> {
        let path = self.dir.join(&self.manifest.fitted_file);
        let fitted = read_fitted(&path)?;
        if fitted.checksum != self.manifest.fitted_checksum {
            bail!(
                "{} is not the fitted file the shards were extracted with (checksum {} vs {})",
                path.display(),
                fitted.checksum,
                self.manifest.fitted_checksum
            );
        }
        fitted.fitted_features()
    }

    /// Rows `rows` (sorted global indices) of the training split, scaled.
    pub fn gather_train_rows(
        &self,
        rows: &[usize],
        scaler: &Scaler,
    ) -> Result<(ndarray::Array2<f32>, Vec<usize>)> {
        let d = self.dim();
        let mut x = vec![0f32; rows.len() * d];
        let mut y = Vec::with_capacity(rows.len());
        let mut at = 0;
        for (file, entry) in self.files.iter().zip(&self.manifest.shards) {
            let [a, b] = entry.train;
            let local: Vec<usize> = rows
                .iter()
                .filter(|&&r| r >= a && r < b)
                .map(|&r| r - a)
                .collect();
            if local.is_empty() {
                continue;
            }
            file.read_rows("train.x", d, &local, &mut x[at * d..(at + local.len()) * d])?;
            let labels = self.labels(file, Split::Train)?;
            y.extend(local.iter().map(|&r| labels[r]));
            at += local.len();
        }
        let mut x = ndarray::Array2::from_shape_vec((rows.len(), d), x)?;
        scaler.transform_inplace(&mut x);
        Ok((x, y))
    }

    fn labels(&self, file: &ShardFile, split: Split) -> Result<Vec<usize>> {
        let c = self.n_classes();
        file.read_i64(&format!("{}.y", split.name()))?
            .into_iter()
            .map(|l| {
                usize::try_from(l).ok().filter(|&l| l < c).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: {}.y holds label {l}, not one of the {c} classes",
                        file.path.display(),
                        split.name()
                    )
                })
            })
            .collect()
    }

    /// Rows of `split` in the largest `k` shards.
    fn largest(&self, split: Split, k: usize) -> usize {
        let mut rows: Vec<usize> = self.manifest.shards.iter().map(|s| s.rows(split)).collect();
        rows.sort_unstable_by(|a, b| b.cmp(a));
        rows.iter().take(k).sum()
    }
}

/// The rows of one split of a [`ShardSet`], read `group` shards at a time into one reused
/// buffer and scaled there.
pub struct SplitStream<'a> {
    set: &'a ShardSet,
    split: Split,
    group: usize,
    scaler: &'a Scaler,
    buffer: Vec<f32>,
    labels: Vec<usize>,
}

impl<'a> SplitStream<'a> {
    pub fn new(set: &'a ShardSet, split: Split, group: usize, scaler: &'a Scaler) -> Self {
        let group = group.max(1);
        let rows = set.largest(split, group);
        SplitStream {
            set,
            split,
            group,
            scaler,
            buffer: vec![0f32; rows * set.dim()],
            labels: Vec::with_capacity(rows),
        }
    }

    /// Bytes the buffer holds.
    pub fn buffer_bytes(set: &ShardSet, split: Split, group: usize) -> u64 {
        let rows = set.largest(split, group.max(1)) as u64;
        rows * (set.dim() as u64 * 4 + 8 * 2)
    }

    fn fill_and_visit(
        &mut self,
        shards: &[usize],
        visit: &mut dyn FnMut(Labeled<'_>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let d = self.set.dim();
        let name = format!("{}.x", self.split.name());
        let mut rows = 0;
        self.labels.clear();
        for &i in shards {
            let m = self.set.manifest.shards[i].rows(self.split);
            let file = &self.set.files[i];
            file.read_f32_into(&name, &mut self.buffer[rows * d..(rows + m) * d])?;
            self.labels.extend(self.set.labels(file, self.split)?);
            rows += m;
        }
        if rows == 0 {
            return Ok(());
        }
        let mut x = ArrayViewMut2::from_shape((rows, d), &mut self.buffer[..rows * d])
            .map_err(|e| -> SourceError { e.into() })?;
        self.scaler.transform_view(x.view_mut());
        let x = ArrayView2::from_shape((rows, d), &self.buffer[..rows * d])
            .map_err(|e| -> SourceError { e.into() })?;
        visit(Labeled {
            x,
            y: &self.labels[..rows],
        })
    }
}

impl BlockSource for SplitStream<'_> {
    fn dim(&self) -> usize {
        self.set.dim()
    }

    fn rows(&self) -> usize {
        self.set.manifest.rows(self.split)
    }

    fn for_each_block(
        &mut self,
        shuffle: Option<u64>,
        visit: &mut dyn FnMut(Labeled<'_>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let mut order: Vec<usize> = (0..self.set.manifest.shard_count)
            .filter(|&i| self.set.manifest.shards[i].rows(self.split) > 0)
            .collect();
        if let Some(seed) = shuffle {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        }
        for group in order.chunks(self.group) {
            // Rows are shuffled within the buffer anyway; in index order, a buffer that holds
            // every shard is exactly the in-memory training set (the same epochs as `run`).
            let mut group = group.to_vec();
            group.sort_unstable();
            self.fill_and_visit(&group, visit)?;
        }
        Ok(())
    }
}

/// The monitoring subset (training accuracy per epoch) holds at most this many bytes of
/// features: the 5,000 rows of an in-memory run, fewer for very wide features.
const MONITOR_BYTES: usize = 64 << 20;

/// Rows of the monitoring subset for `d` features.
fn monitor_limit(d: usize) -> usize {
    (MONITOR_BYTES / (4 * d.max(1))).clamp(1, 5000)
}

/// At most `max` of `rows`, evenly spaced (sorted rows stay sorted).
fn cap_rows(rows: Vec<usize>, max: usize) -> Vec<usize> {
    if rows.len() <= max {
        return rows;
    }
    (0..max).map(|i| rows[i * rows.len() / max]).collect()
}

/// What a streamed run holds in memory, by part (bytes).
#[derive(Debug, Clone)]
pub struct MemoryEstimate {
    pub parts: Vec<(String, u64)>,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.parts.iter().map(|(_, b)| b).sum()
    }

    pub fn describe(&self) -> String {
        self.parts
            .iter()
            .map(|(what, b)| format!("{what} {}", show_bytes(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The program itself, its threads' stacks and the allocator's slack: the peak RSS of a
/// streamed softmax run on the 5,000-row synthetic HOG + colour shards is 20 MiB
/// (BENCHMARKS.md), of which the data and model are 11 MiB; rounded up.
const PROCESS_BYTES: u64 = 32 << 20;

/// Estimates the memory of a run of `params` on `set`, before anything is read.
pub fn estimate(set: &ShardSet, params: &StreamParams) -> MemoryEstimate {
    let d = set.dim() as u64;
    let c = set.n_classes() as u64;
    let m = &set.manifest;
    let train_rows = m.rows(Split::Train) as u64;
    let mut parts = vec![("program".to_string(), PROCESS_BYTES)];
    parts.push((
        format!("training buffer ({} shards)", params.buffer_shards),
        SplitStream::buffer_bytes(set, Split::Train, params.buffer_shards),
    ));
    let eval = SplitStream::buffer_bytes(set, Split::Val, 1).max(SplitStream::buffer_bytes(
        set,
        Split::Test,
        1,
    ));
    parts.push(("evaluation buffer (1 shard)".into(), eval));
    // The largest tensor read into memory beside the buffers: labels, and the read chunk.
    parts.push((
        "reads".into(),
        (1 << 20)
            + 16 * m
                .shards
                .iter()
                .map(|s| s.rows(Split::Train))
                .max()
                .unwrap_or(0) as u64,
    ));
    let settings = &params.train;
    let monitor = (monitor_limit(set.dim()) as u64).min(train_rows);
    parts.push(("monitoring subset".into(), monitor * (d * 4 + 8)));
    let model = match &settings.mlp {
        Some(mlp) => {
            let eval_batch = 1000u64;
            let widths: u64 = mlp.hidden.iter().map(|&h| h as u64).sum::<u64>() + c;
            // fit_stream's draw of the monitoring rows holds an index per training row.
            wb_mlp::stream::training_bytes(mlp, d as usize, c as usize)
                + eval_batch * widths * 4 * 3
                + train_rows * 8
        }
        None => {
            let kc = (settings.points().len() as u64) * c;
            // Weights, average, velocity and gradient of every model, the best epoch's copy,
            // the gathered mini-batch and its scores.
            4 * (5 * kc * d + settings.batch_size as u64 * (d + 2 * kc))
        }
    };
    parts.push(("model and optimiser".into(), model));
    let predictions = 8 * (m.rows(Split::Test) as u64 + m.rows(Split::Val) as u64);
    parts.push(("predictions".into(), predictions));
    MemoryEstimate { parts }
}

/// Trains `params.train` on the shards of `params.dir` and evaluates it, as [`crate::run::run`]
/// does in memory.
pub fn run_from_shards(params: &StreamParams, reporter: &dyn Reporter) -> Result<RunOutput> {
    for w in &params.warnings {
        reporter.line(w);
    }
    let settings = &params.train;
    if settings.mlp.is_none() && settings.linear.solver == Solver::Lbfgs {
        bail!(
            "--features-from trains by mini-batch SGD, reading the shards a few at a time; \
             {} defaults to L-BFGS, which needs a full pass over every shard at each of its \
             hundreds of iterations and line-search steps: add --solver sgd (and, for the SVM, \
             choose the loss with --svm-loss)",
            settings.model.name()
        );
    }
    let t = Instant::now();
    let set = ShardSet::open(&params.dir)?;
    let m = &set.manifest;
    let memory = estimate(&set, params);
    let data_gb =
        (m.split_sizes.train + m.split_sizes.val + m.split_sizes.test) as f64 * m.dim as f64 * 4.0
            / 1e9;
    reporter.line(&format!(
        "features from {}: {} shards, {} train / {} val / {} test rows x {} features \
         ({data_gb:.2} GB); memory estimate {} ({})",
        params.dir.display(),
        m.shard_count,
        m.split_sizes.train,
        m.split_sizes.val,
        m.split_sizes.test,
        m.dim,
        show_bytes(memory.total()),
        memory.describe()
    ));
    let max = crate::memory::budget(params.max_memory);
    if memory.total() > max {
        bail!(
            "training from {} needs an estimated {} ({}), more than the memory budget {} \
             (--max-memory, default half the RAM): lower --buffer-shards (now {}), extract \
             into more shards (--shard I/N with a larger N), or raise --max-memory",
            params.dir.display(),
            show_bytes(memory.total()),
            memory.describe(),
            show_bytes(max),
            params.buffer_shards
        );
    }
    let fitted = set.fitted_features()?;
    let scaler = set.scaler()?;
    let n_train = m.rows(Split::Train);
    let monitor_rows = cap_rows(
        match &settings.mlp {
            Some(mlp) => wb_mlp::stream::monitor_rows(mlp, n_train),
            None => wb_linear::stream::monitor_rows(n_train),
        },
        monitor_limit(m.dim),
    );
    let (xm, ym) = set.gather_train_rows(&monitor_rows, &scaler)?;
    let load_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let trained = {
        let mut train_src = SplitStream::new(&set, Split::Train, params.buffer_shards, &scaler);
        let mut val_src = SplitStream::new(&set, Split::Val, 1, &scaler);
        let monitor = Labeled {
            x: xm.view(),
            y: &ym,
        };
        match &settings.mlp {
            Some(base) => train_mlp(
                settings,
                base,
                &set,
                &mut train_src,
                &mut val_src,
                monitor,
                &scaler,
                reporter,
            )?,
            None => train_linear(
                settings,
                &set,
                &mut train_src,
                &mut val_src,
                monitor,
                &scaler,
                reporter,
            )?,
        }
    };
    let train_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let model = trained.model;
    let (correct_train, _) = predict_split(&model, &set, Split::Train, &scaler)?;
    let (correct_val, _) = predict_split(&model, &set, Split::Val, &scaler)?;
    let (correct_test, pred_test) = predict_split(&model, &set, Split::Test, &scaler)?;
    let test_labels = labels_of(&set, Split::Test)?;
    let classes = ClassReport::new(&pred_test, &test_labels, &m.class_names);
    let evaluate_s = t.elapsed().as_secs_f64();
    let ratio = |c: usize, split| c as f64 / m.rows(split).max(1) as f64;

    let dataset = m
        .dataset
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: dataset `{}`: {e}", params.dir.display(), m.dataset))?;
    let features = crate::run::feature_parts(&fitted);
    let report = report::RunReport {
        settings: stream_settings(params, m),
        machine: report::Machine::current(&features),
        data: DataInfo {
            dataset,
            path: Some(params.dir.clone()),
            image_shape: m.image_shape,
            // The shard manifest does not record it: a saved model applies the default (crop).
            resize: None,
            n_classes: m.class_names.len(),
            class_names: m.class_names.clone(),
            train: m.split_sizes.train,
            flipped: m.train_mirrored,
            shifted: m.train_shifted,
            val: m.split_sizes.val,
            test: m.split_sizes.test,
            validation: crate::validation::Validation::HoldOut {
                size: m.split_sizes.val,
                reason: "the shards' validation split".into(),
            },
            augment_choice: None,
            folder: None,
            warnings: Vec::new(),
        },
        features,
        model: settings.model.name().to_string(),
        chosen: trained.chosen,
        search: trained.search,
        history: trained.history,
        accuracy: report::Accuracy {
            train: ratio(correct_train, Split::Train),
            val: ratio(correct_val, Split::Val),
            test: ratio(correct_test, Split::Test),
        },
        timings_s: Timings {
            load: load_s,
            features: 0.0,
            train: train_s,
            evaluate: evaluate_s,
        },
        per_class: classes,
        cross_validation: None,
    };
    Ok(RunOutput {
        report,
        model,
        fitted,
        scaler,
    })
}

fn stream_settings(params: &StreamParams, m: &Manifest) -> serde_json::Value {
    let settings = &params.train;
    serde_json::json!({
        "features_from": params.dir,
        "buffer_shards": params.buffer_shards,
        "max_memory": params.max_memory,
        "shards": m.shard_count,
        "dataset": m.dataset,
        "data": m.data,
        "seed": settings.seed,
        "threads": rayon::current_num_threads(),
        "features": m.features,
        "model": settings.model.name(),
        "mlp": settings.mlp,
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "reg": settings.reg,
        "momentum": settings.momentum,
        "lr_decay": settings.lr_decay,
        "loss": settings.linear.loss,
        "solver": settings.linear.solver,
    })
}

/// Labels of every row of `split`, in shard order.
fn labels_of(set: &ShardSet, split: Split) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(set.manifest.rows(split));
    for file in &set.files {
        out.extend(set.labels(file, split)?);
    }
    Ok(out)
}

/// Correct predictions of `model` over `split`, and (for the test split) every prediction.
fn predict_split(
    model: &Classifier,
    set: &ShardSet,
    split: Split,
    scaler: &Scaler,
) -> Result<(usize, Vec<usize>)> {
    let mut source = SplitStream::new(set, split, 1, scaler);
    let mut correct = 0;
    let mut all = Vec::new();
    let keep = split == Split::Test;
    source
        .for_each_block(None, &mut |block| {
            let pred = model.predict(block.x);
            correct += pred.iter().zip(block.y).filter(|(p, y)| p == y).count();
            if keep {
                all.extend(pred);
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok((correct, all))
}

/// Correct predictions of each of `models` over every row of `source`.
fn count_correct_each(models: &[&LinearModel], source: &mut dyn BlockSource) -> Result<Vec<usize>> {
    let mut correct = vec![0usize; models.len()];
    source
        .for_each_block(None, &mut |block| {
            for (k, model) in models.iter().enumerate() {
                let pred = model.predict(block.x);
                correct[k] += pred.iter().zip(block.y).filter(|(p, y)| p == y).count();
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(correct)
}

/// The SGD grid of a linear model from the streams, keeping the best point on validation.
#[allow(clippy::too_many_arguments)]
fn train_linear(
    settings: &TrainSettings,
    set: &ShardSet,
    train: &mut SplitStream<'_>,
    val: &mut SplitStream<'_>,
    monitor: Labeled<'_>,
    scaler: &Scaler,
    reporter: &dyn Reporter,
) -> Result<Trained> {
    let grid: Vec<_> = settings
        .points()
        .into_iter()
        .map(|(lr, reg)| settings.linear_params(lr, reg))
        .collect();
    let progress = reporter.start("train", settings.epochs as u64);
    let t = Instant::now();
    let fits = wb_linear::stream::fit_grid_stream(
        &grid,
        train,
        monitor,
        Some(&mut *val as &mut dyn BlockSource),
        set.n_classes(),
        &mut |k, stats| {
            if k == 0 {
                progress.inc(1);
            }
            if grid.len() == 1 {
                progress.line(&format!(
                    "  epoch {:>3}  loss {:.4}  train {:.4}  val {:.4}",
                    stats.epoch,
                    stats.loss,
                    stats.train_accuracy,
                    stats.val_accuracy.unwrap_or(f64::NAN)
                ));
            }
        },
    )?;
    progress.finish();
    let seconds = t.elapsed().as_secs_f64() / grid.len() as f64;
    let ok: Vec<&LinearModel> = fits
        .iter()
        .filter_map(|f| f.as_ref().ok().map(|(m, _)| m))
        .collect();
    // Every model's full training and validation accuracy, one pass over each split.
    let mut train_all = SplitStream::new(set, Split::Train, 1, scaler);
    let train_correct = count_correct_each(&ok, &mut train_all)?;
    let val_correct = count_correct_each(&ok, val)?;
    let (n_train, n_val) = (
        set.manifest.rows(Split::Train),
        set.manifest.rows(Split::Val),
    );
    let mut search = Search::new(settings.model, reporter);
    let mut k_ok = 0;
    for (params, fit) in grid.iter().zip(fits) {
        match fit {
            Err(e) => match Divergence::of_linear(&e) {
                Some(d) => search.diverged(params.learning_rate, params.reg, seconds, d),
                None => return Err(e.into()),
            },
            Ok((model, history)) => {
                let point = GridPoint {
                    lr: params.learning_rate,
                    reg: params.reg,
                    train_accuracy: train_correct[k_ok] as f64 / n_train.max(1) as f64,
                    val_accuracy: val_correct[k_ok] as f64 / n_val.max(1) as f64,
                    seconds,
                    diverged: None,
                    best_epoch: None,
                    fold_val_accuracy: Vec::new(),
                };
                k_ok += 1;
                search.trained((model, history), point);
            }
        }
    }
    let ((model, history), chosen, points) = search.finish()?;
    Ok(Trained {
        model: Classifier::Linear(model),
        search: points,
        curve: train::linear_curve(&history),
        history: serde_json::to_value(history)?,
        chosen,
        cross_validation: None,
    })
}

/// One MLP per point of the grid from the streams, keeping the best on validation.
#[allow(clippy::too_many_arguments)]
fn train_mlp(
    settings: &TrainSettings,
    base: &wb_mlp::MlpParams,
    set: &ShardSet,
    train: &mut SplitStream<'_>,
    val: &mut SplitStream<'_>,
    monitor: Labeled<'_>,
    scaler: &Scaler,
    reporter: &dyn Reporter,
) -> Result<Trained> {
    let combos = settings.points();
    let progress = reporter.start("train", (combos.len() * base.epochs) as u64);
    let mut search = Search::new(settings.model, reporter);
    for &(lr, reg) in &combos {
        let params = wb_mlp::MlpParams {
            learning_rate: lr,
            reg,
            ..base.clone()
        };
        let t = Instant::now();
        let fit = wb_mlp::stream::fit_stream(
            &params,
            train,
            Labeled {
                x: monitor.x,
                y: monitor.y,
            },
            Some(&mut *val as &mut dyn BlockSource),
            set.n_classes(),
            &mut |stats| {
                progress.inc(1);
                progress.line(&format!(
                    "  epoch {:>3}  lr {:.5}  loss {:.4}  train {:.4}  val {:.4}  ({:.1}s)",
                    stats.epoch,
                    stats.learning_rate,
                    stats.loss,
                    stats.train_accuracy,
                    stats.val_accuracy.unwrap_or(f64::NAN),
                    stats.seconds
                ));
            },
        );
        let (model, history) = match fit {
            Ok(fit) => fit,
            Err(e) => match Divergence::of_mlp(&e) {
                Some(d) => {
                    search.diverged(lr, reg, t.elapsed().as_secs_f64(), d);
                    continue;
                }
                None => anyhow::bail!("training the MLP with lr {lr}, reg {reg}: {e}"),
            },
        };
        let classifier = Classifier::Mlp(model);
        let (train_correct, _) = predict_split(&classifier, set, Split::Train, scaler)?;
        let (val_correct, _) = predict_split(&classifier, set, Split::Val, scaler)?;
        let Classifier::Mlp(model) = classifier else {
            unreachable!("built above")
        };
        let point = GridPoint {
            lr,
            reg,
            train_accuracy: train_correct as f64 / set.manifest.rows(Split::Train).max(1) as f64,
            val_accuracy: val_correct as f64 / set.manifest.rows(Split::Val).max(1) as f64,
            seconds: t.elapsed().as_secs_f64(),
            diverged: None,
            best_epoch: None,
            fold_val_accuracy: Vec::new(),
        };
        search.trained((model, history), point);
    }
    progress.finish();
    let ((model, history), chosen, points) = search.finish()?;
    Ok(Trained {
        model: Classifier::Mlp(model),
        search: points,
        curve: train::mlp_curve(&history),
        history: serde_json::to_value(history)?,
        chosen,
        cross_validation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monitoring_subset_is_capped_evenly() {
        assert_eq!(cap_rows((0..10).collect(), 20), (0..10).collect::<Vec<_>>());
        assert_eq!(cap_rows((0..10).collect(), 5), vec![0, 2, 4, 6, 8]);
        assert_eq!(monitor_limit(334), 5000);
        assert_eq!(monitor_limit(6400), (64 << 20) / (4 * 6400));
        assert!(monitor_limit(usize::MAX / 8) >= 1);
    }
}
