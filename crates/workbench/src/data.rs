//! Where the data comes from and how it is split: [`DataParams`] → [`load`] → train /
//! validation / test [`Splits`] and a [`DataInfo`] for the report.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use wb_data::cifar::{load_cifar10, load_cifar100, Cifar100Label};
use wb_data::folder::{FolderDataset, FolderParams, LoadProgress, LoadStage, WorkingSize};
use wb_data::idx::{load_idx_dataset, IdxFlavor};
use wb_data::locate::{detect_kind, resolve_dir};
use wb_data::synthetic::{self, SyntheticParams};
use wb_data::{
    default_val_size, stratified_holdout, DatasetKind, Images, ResizeMode, SplitParams, Splits,
    TrainTest, VAL_MIN_PER_CLASS,
};
use wb_linear::{accuracy, Labeled, LinearModel, LinearParams, LossKind, Solver};

use crate::memory;
use crate::progress::Reporter;
use crate::validation::{CvChoice, Validation};

/// Training-set augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    /// Measured on the validation split ([`choose_augment`]): `none` against `flip` for colour
    /// images, against `shift` for gray ones; the better one is used.
    #[default]
    Auto,
    None,
    /// Every training image mirrored left to right (2x the rows).
    Flip,
    /// Four copies moved one pixel right, left, down and up (5x the rows).
    Shift,
}

impl Augment {
    pub const ALL: [Augment; 4] = [Augment::Auto, Augment::None, Augment::Flip, Augment::Shift];

    pub fn name(self) -> &'static str {
        match self {
            Augment::Auto => "auto",
            Augment::None => "none",
            Augment::Flip => "flip",
            Augment::Shift => "shift",
        }
    }
}

impl FromStr for Augment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|a| a.name() == norm)
            .ok_or_else(|| format!("unknown augmentation `{s}` (valid: auto, none, flip, shift)"))
    }
}

/// `32`, `32x32` or `48x64` (height x width), each side positive.
pub fn parse_image_size(s: &str) -> Result<(usize, usize), String> {
    let parse = |t: &str| {
        t.trim()
            .parse::<usize>()
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("`{s}` is not a size (expected N or HEIGHTxWIDTH, positive)"))
    };
    match s.split_once(['x', 'X']) {
        Some((h, w)) => Ok((parse(h)?, parse(w)?)),
        None => parse(s).map(|n| (n, n)),
    }
}

/// Which data to load and how to split it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataParams {
    /// `None`: the dataset found in `data_dir`, or the built-in synthetic set without one.
    pub dataset: Option<DatasetKind>,
    /// The dataset's folder or a parent holding its official folder.
    pub data_dir: Option<PathBuf>,
    /// CIFAR-100 label granularity.
    pub label: Cifar100Label,
    /// Image folders: every image brought to (height, width); `None`: the folder rule
    /// ([`wb_data::folder::working_size`]: 64x64 for photos, thumbnails of one size kept).
    pub image_size: Option<(usize, usize)>,
    /// Image folders: how an image of another aspect ratio is fitted to the working size.
    pub resize: ResizeMode,
    /// Image folders: skip undecodable images (counted in a warning) instead of failing.
    pub skip_bad_images: bool,
    /// Image folders without a test split: the share of each class held out for testing.
    pub test_fraction: f64,
    /// Image folders: a labels file (`path,label`) instead of class folders, and one for the
    /// test images.
    pub labels: Option<PathBuf>,
    pub test_labels: Option<PathBuf>,
    /// Validation images carved from the training set with the seed (`--val-size`); `None`:
    /// the default rule ([`wb_data::default_val_size`]: 10% of the training split, at least 2
    /// per class, at most 1,000; or cross-validation, see `cv`), or the dataset's own
    /// validation folder.
    pub val_size: Option<usize>,
    /// Cross-validation instead of a validation split ([`crate::validation::decide`]).
    pub cv: CvChoice,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub augment: Augment,
    /// Seed of the split and of the synthetic data.
    pub seed: u64,
    /// The memory budget in bytes ([`crate::memory::budget`]: half the RAM when `None`).
    pub max_memory: Option<u64>,
}

impl Default for DataParams {
    fn default() -> Self {
        DataParams {
            dataset: None,
            data_dir: None,
            label: Cifar100Label::Fine,
            image_size: None,
            resize: ResizeMode::Crop,
            skip_bad_images: false,
            test_fraction: DEFAULT_TEST_FRACTION,
            labels: None,
            test_labels: None,
            val_size: None,
            cv: CvChoice::Off,
            train_limit: None,
            test_limit: None,
            augment: Augment::Auto,
            seed: 0,
            max_memory: None,
        }
    }
}

impl DataParams {
    /// Every setting, for `results.json` and cache keys (the dataset as given, not detected).
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "dataset": self.dataset.map(|d| d.to_string()),
            "data_dir": self.data_dir,
            "label": self.label.name(),
            "image_size": self.image_size,
            "resize": self.resize.name(),
            "skip_bad_images": self.skip_bad_images,
            "test_fraction": self.test_fraction,
            "labels": self.labels,
            "labels_test": self.test_labels,
            "val_size": self.val_size,
            "cv": self.cv,
            "train_limit": self.train_limit,
            "test_limit": self.test_limit,
            "augment": self.augment.name(),
            "seed": self.seed,
            "max_memory": self.max_memory,
        })
    }
}

/// The test share of a folder without a test split, unless given.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

/// [`DataParams`] with every field optional: what one source (the command line, an experiment
/// file) sets, so that sources can be layered with [`DataOptions::over`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataOptions {
    pub dataset: Option<DatasetKind>,
    pub data_dir: Option<PathBuf>,
    pub label: Option<Cifar100Label>,
    pub image_size: Option<(usize, usize)>,
    pub resize: Option<ResizeMode>,
    pub skip_bad_images: Option<bool>,
    pub test_fraction: Option<f64>,
    pub labels: Option<PathBuf>,
    pub test_labels: Option<PathBuf>,
    pub val_size: Option<usize>,
    pub cv: Option<CvChoice>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub augment: Option<Augment>,
    pub seed: Option<u64>,
    pub max_memory: Option<u64>,
}

impl DataOptions {
    /// Each field set here, else `base`'s.
    pub fn over(&self, base: &DataOptions) -> DataOptions {
        DataOptions {
            dataset: self.dataset.or(base.dataset),
            data_dir: self.data_dir.clone().or_else(|| base.data_dir.clone()),
            label: self.label.or(base.label),
            image_size: self.image_size.or(base.image_size),
            resize: self.resize.or(base.resize),
            skip_bad_images: self.skip_bad_images.or(base.skip_bad_images),
            test_fraction: self.test_fraction.or(base.test_fraction),
            labels: self.labels.clone().or_else(|| base.labels.clone()),
            test_labels: self
                .test_labels
                .clone()
                .or_else(|| base.test_labels.clone()),
            val_size: self.val_size.or(base.val_size),
            cv: self.cv.or(base.cv),
            train_limit: self.train_limit.or(base.train_limit),
            test_limit: self.test_limit.or(base.test_limit),
            augment: self.augment.or(base.augment),
            seed: self.seed.or(base.seed),
            max_memory: self.max_memory.or(base.max_memory),
        }
    }

    /// The parameters, with the defaults of [`DataParams`] where nothing was set, except that
    /// cross-validation is automatic ([`CvChoice::Auto`]): these options feed training runs.
    pub fn resolve(&self) -> DataParams {
        let d = DataParams::default();
        DataParams {
            dataset: self.dataset,
            data_dir: self.data_dir.clone(),
            label: self.label.unwrap_or(d.label),
            image_size: self.image_size,
            resize: self.resize.unwrap_or(d.resize),
            skip_bad_images: self.skip_bad_images.unwrap_or(d.skip_bad_images),
            test_fraction: self.test_fraction.unwrap_or(d.test_fraction),
            labels: self.labels.clone(),
            test_labels: self.test_labels.clone(),
            val_size: self.val_size,
            cv: self.cv.unwrap_or(CvChoice::Auto),
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            augment: self.augment.unwrap_or(d.augment),
            seed: self.seed.unwrap_or(d.seed),
            max_memory: self.max_memory,
        }
    }
}

/// What was loaded, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct DataInfo {
    pub dataset: DatasetKind,
    pub path: Option<PathBuf>,
    pub image_shape: [usize; 3],
    /// Image folders: how each image was fitted to `image_shape` (a saved model fits new
    /// images the same way); `None` for datasets whose images all have one size.
    pub resize: Option<ResizeMode>,
    pub n_classes: usize,
    pub class_names: Vec<String>,
    /// Training images, mirrored copies included.
    pub train: usize,
    /// Whether the training set was doubled with left–right mirror images.
    pub flipped: bool,
    /// Whether the training set was followed by four copies shifted by one pixel.
    pub shifted: bool,
    pub val: usize,
    pub test: usize,
    /// How the hyper-parameters are chosen: a hold-out split or K-fold cross-validation.
    pub validation: Validation,
    /// How the augmentation was chosen (`None`: given by the user, or not recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub augment_choice: Option<AugmentChoice>,
    /// Image folders: the layout found, the working size and the decoding figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderInfo>,
    pub warnings: Vec<String>,
}

/// What an image folder turned out to be, for the summary and `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct FolderInfo {
    /// The layout's short name (`class-folders`, `train-val-as-test`, ...).
    pub layout: &'static str,
    /// The layout in words: which folder became which split.
    pub layout_description: String,
    pub working_size: WorkingSize,
    /// The working size in words, with the rule that chose it.
    pub working_size_description: String,
    pub resize: ResizeMode,
    /// Images decoded (all splits), undecodable ones skipped, and the speed.
    pub decoded: usize,
    pub skipped: usize,
    pub decode_seconds: f64,
    pub images_per_second: f64,
    pub threads: usize,
}

/// How `--augment auto` chose: each candidate's validation accuracy with the probe model.
#[derive(Debug, Clone, Serialize)]
pub struct AugmentChoice {
    pub chosen: Augment,
    /// The probe: what was trained to measure the candidates.
    pub probe: String,
    /// (candidate, validation accuracy), in the order tried.
    pub val_accuracy: Vec<(Augment, f64)>,
}

impl DataInfo {
    /// Rows of the training split per image: 2 with mirror images, 5 with shifted copies.
    pub fn train_copies(&self) -> usize {
        match (self.flipped, self.shifted) {
            (true, _) => 2,
            (false, true) => 5,
            (false, false) => 1,
        }
    }

    /// How the training set was augmented, for a report line (" (half mirrored)").
    pub fn augment_note(&self) -> &'static str {
        match (self.flipped, self.shifted) {
            (true, _) => " (half mirrored)",
            (false, true) => " (4/5 shifted copies)",
            (false, false) => "",
        }
    }

    /// The lines the run summary prints about the data beyond the one-line split sizes.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(f) = &self.folder {
            lines.push(format!("layout: {} — {}", f.layout, f.layout_description));
            lines.push(format!(
                "working size: {} (resize: {})",
                f.working_size_description, f.resize
            ));
            lines.push(format!(
                "decoded {} images{} in {:.2}s: {:.0} images/s on {} threads",
                f.decoded,
                if f.skipped > 0 {
                    format!(" ({} undecodable skipped)", f.skipped)
                } else {
                    String::new()
                },
                f.decode_seconds,
                f.images_per_second,
                f.threads
            ));
        }
        lines.push(format!("validation: {}", self.validation.summary()));
        if let Some(c) = &self.augment_choice {
            let tried: Vec<String> = c
                .val_accuracy
                .iter()
                .map(|(a, acc)| format!("{} {acc:.4}", a.name()))
                .collect();
            lines.push(format!(
                "augment auto: {} (validation accuracy of {}: {})",
                c.chosen.name(),
                c.probe,
                tried.join(", ")
            ));
        }
        lines
    }
}

/// Loads the dataset named by `args` and carves the splits, silently.
pub fn load(args: &DataParams) -> Result<(Splits, DataInfo)> {
    load_with(args, &crate::progress::Quiet)
}

/// Loads the dataset named by `args` and carves the splits; long work (decoding a folder)
/// is a progress stage of `reporter`.
pub fn load_with(args: &DataParams, reporter: &dyn Reporter) -> Result<(Splits, DataInfo)> {
    check(args)?;
    let budget = memory::budget(args.max_memory);
    let kind = match (args.dataset, &args.data_dir) {
        (Some(kind), _) => kind,
        (None, Some(dir)) => detect_kind(dir)?,
        (None, None) => DatasetKind::Synthetic,
    };
    let mut warnings = folder_option_warnings(args, kind)?;
    let mut folder_info = None;
    let mut given_val = None;
    let (data, path): (TrainTest, Option<PathBuf>) = if kind == DatasetKind::Synthetic {
        let params = SyntheticParams {
            seed: args.seed,
            ..SyntheticParams::default()
        };
        (synthetic::generate(&params), None)
    } else {
        let Some(dir) = &args.data_dir else {
            bail!(
                "--dataset {kind} needs its files: pass --data-dir DIR or set PIPELINE_DATA \
                 (see datasets/README.md for downloads)"
            );
        };
        let dir = resolve_dir(kind, dir)?;
        let data = match kind {
            DatasetKind::Cifar10 => load_cifar10(&dir)?,
            DatasetKind::Cifar100 => load_cifar100(&dir, args.label)?,
            DatasetKind::Mnist => load_idx_dataset(&dir, IdxFlavor::Mnist)?,
            DatasetKind::FashionMnist => load_idx_dataset(&dir, IdxFlavor::FashionMnist)?,
            DatasetKind::Folder => {
                let loaded = load_folder(&dir, args, budget, reporter)?;
                warnings.extend(loaded.warnings.iter().cloned());
                folder_info = Some(FolderInfo {
                    layout: loaded.layout.name(),
                    layout_description: loaded.layout.description(),
                    working_size: loaded.size,
                    working_size_description: loaded.size.to_string(),
                    resize: args.resize,
                    decoded: loaded.stats.images,
                    skipped: loaded.stats.skipped,
                    decode_seconds: loaded.stats.seconds,
                    images_per_second: loaded.stats.images_per_second(),
                    threads: loaded.stats.threads,
                });
                given_val = loaded.val;
                loaded.data
            }
            DatasetKind::Synthetic => unreachable!("handled above"),
        };
        (data, Some(dir))
    };
    if let (Some(n), Some(_)) = (args.val_size, &given_val) {
        warnings.push(format!(
            "--val-size {n} is not used: the folder has its own validation split"
        ));
    }
    let (validation, notes) = crate::validation::decide(
        args.val_size,
        args.cv,
        &data.train.class_counts(),
        given_val.as_ref().map(|v| v.len()),
    )?;
    warnings.extend(notes);
    let split = SplitParams {
        val_size: match validation {
            Validation::HoldOut { size, .. } => size,
            Validation::CrossValidation { .. } => 0,
        },
        train_limit: args.train_limit,
        test_limit: args.test_limit,
        seed: args.seed,
    };
    let mut splits = match (&validation, given_val) {
        (Validation::CrossValidation { .. }, given) => {
            let mut data = data;
            if let Some(val) = given {
                data.train.images.extend(&val.images);
                data.train.labels.extend_from_slice(&val.labels);
            }
            Splits::without_validation(data, &split)
                .map_err(|e| anyhow::anyhow!("cannot split {kind} (--cv): {e}"))?
        }
        (Validation::HoldOut { .. }, Some(val)) => Splits::with_validation(data, val, &split)
            .map_err(|e| anyhow::anyhow!("cannot split {kind}: {e}"))?,
        (Validation::HoldOut { .. }, None) => Splits::carve(data, &split)
            .map_err(|e| anyhow::anyhow!("cannot split {kind} for validation (--val-size): {e}"))?,
    };
    if validation.folds().is_none() && splits.val.is_empty() {
        bail!("the validation split of {kind} is empty (--val-size)");
    }

    let (augment, augment_choice) = match args.augment {
        Augment::Auto => {
            let choice = choose_augment(&splits, args.seed)?;
            (choice.chosen, Some(choice))
        }
        given => (given, None),
    };
    let copies = match augment {
        Augment::Flip => 2,
        Augment::Shift => 5,
        Augment::None | Augment::Auto => 1,
    };
    if copies > 1 {
        let shape = splits.train.images.shape();
        memory::check(
            &format!(
                "augmenting {} training images ({}, {copies}x)",
                splits.train.len(),
                augment.name()
            ),
            wb_data::image_bytes(splits.train.len().saturating_mul(copies), shape).ok(),
            budget,
            "use --augment none, --train-limit, or a smaller --image-size",
        )?;
    }
    let flipped = augment == Augment::Flip;
    let shifted = augment == Augment::Shift;
    if flipped {
        splits.train = splits.train.with_horizontal_flips();
    }
    if shifted {
        splits.train = splits.train.with_shifted_copies();
    }
    let shape = splits.train.images.shape();
    let info = DataInfo {
        dataset: kind,
        path,
        image_shape: [shape.height, shape.width, shape.channels],
        resize: folder_info.as_ref().map(|f| f.resize),
        n_classes: splits.train.n_classes(),
        class_names: splits.train.class_names.clone(),
        train: splits.train.len(),
        flipped,
        shifted,
        val: splits.val.len(),
        test: splits.test.len(),
        validation,
        augment_choice,
        folder: folder_info,
        warnings,
    };
    Ok((splits, info))
}

/// Rejects values no dataset can use, naming the option.
fn check(args: &DataParams) -> Result<()> {
    if args.val_size == Some(0) {
        bail!(
            "--val-size 0: the hyper-parameters are chosen on the validation split, so it needs \
             at least one image per class (omit --val-size for the default rule)"
        );
    }
    crate::validation::check_options(args.val_size, args.cv)?;
    for (option, value) in [
        ("--train-limit", args.train_limit),
        ("--test-limit", args.test_limit),
    ] {
        if value == Some(0) {
            bail!("{option} 0: must be at least 1 (omit {option} to keep every image)");
        }
    }
    let f = args.test_fraction;
    if !(f.is_finite() && f > 0.0 && f < 1.0) {
        bail!(
            "--test-fraction {f}: must be between 0 and 1 (exclusive), the share of each class \
             held out for testing when a folder has no test split"
        );
    }
    if let Some((h, w)) = args.image_size {
        let max = wb_data::folder::MAX_IMAGE_SIDE;
        if h > max || w > max {
            bail!(
                "--image-size {h}x{w}: each side must be at most {max} pixels (classical \
                 features gain nothing from larger images; 64 is the default for photos)"
            );
        }
    }
    if args.max_memory == Some(0) {
        bail!("--max-memory 0: the budget must be positive");
    }
    Ok(())
}

/// Folder-only options given for another dataset: a warning each (a labels file is an
/// error, since without the folder loader it would be silently ignored).
fn folder_option_warnings(args: &DataParams, kind: DatasetKind) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if kind == DatasetKind::Folder {
        return Ok(warnings);
    }
    if args.labels.is_some() || args.test_labels.is_some() {
        bail!(
            "--labels and --labels-test only apply to image folders (--dataset folder), not {kind}"
        );
    }
    let d = DataParams::default();
    let given: Vec<&str> = [
        ("--image-size", args.image_size.is_some()),
        ("--resize", args.resize != d.resize),
        ("--skip-bad-images", args.skip_bad_images),
        ("--test-fraction", args.test_fraction != d.test_fraction),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if !given.is_empty() {
        warnings.push(format!(
            "{} only appl{} to image folders; {kind} images keep their size and splits",
            given.join(", "),
            if given.len() == 1 { "ies" } else { "y" }
        ));
    }
    Ok(warnings)
}

/// Scans an image folder, checks the decoded size against the memory budget, then decodes
/// it as a progress stage.
fn load_folder(
    dir: &Path,
    args: &DataParams,
    budget: u64,
    reporter: &dyn Reporter,
) -> Result<FolderDataset> {
    let params = FolderParams {
        image_size: args.image_size,
        resize: args.resize,
        skip_bad_images: args.skip_bad_images,
        test_fraction: args.test_fraction,
        labels: args.labels.clone(),
        test_labels: args.test_labels.clone(),
        seed: args.seed,
    };
    let scan = params.check()?.scan(dir)?;
    let files = scan.file_counts().total();
    let (h, w) = args.image_size.unwrap_or((
        wb_data::folder::DEFAULT_IMAGE_SIDE,
        wb_data::folder::DEFAULT_IMAGE_SIDE,
    ));
    memory::check(
        &format!("decoding {files} images of {} at {h}x{w}", dir.display()),
        scan.max_image_bytes().ok(),
        budget,
        "use a smaller --image-size (64 is the default for photos)",
    )?;
    let stage = reporter.start("images", 2 * files as u64);
    // The loader reports cumulative counts per pass; the stage wants increments.
    let seen = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let progress = |p: LoadProgress| {
        let pass = usize::from(p.stage == LoadStage::Decoding);
        let before = seen[pass].fetch_max(p.done, Ordering::Relaxed);
        if p.done > before {
            stage.inc((p.done - before) as u64);
        }
    };
    let loaded = scan.load(Some(&progress));
    stage.finish();
    Ok(loaded?)
}

/// Training images the augmentation probe trains on (a stratified subset).
pub const AUGMENT_PROBE_IMAGES: usize = 2000;
/// L-BFGS iterations of the probe (it keeps its best-on-validation iterate).
const AUGMENT_PROBE_ITERATIONS: usize = 40;

/// `--augment auto`: measures each candidate on the validation split with the fastest model
/// (softmax by L-BFGS on raw pixels scaled to [0, 1] and centred, on a stratified subset of
/// at most [`AUGMENT_PROBE_IMAGES`] training images) and keeps the best; a candidate must beat
/// `none` strictly, since augmentation costs time in every later step.
///
/// Candidates: `none`, and the label-preserving transformation of the image type: `flip` for
/// colour images (a mirrored photo shows the same thing), `shift` for gray ones (digits and
/// glyphs: a mirrored digit can be another digit, a one-pixel shift never changes one).
pub fn choose_augment(splits: &Splits, seed: u64) -> Result<AugmentChoice> {
    // Cross-validated runs have no validation split: the probe holds out its own, by the
    // default hold-out rule, from the training split.
    let carved;
    let (train, val) = if splits.val.is_empty() {
        let counts = splits.train.class_counts();
        let (kept, held) = stratified_holdout(
            &splits.train.labels,
            splits.train.n_classes(),
            default_val_size(&counts),
            VAL_MIN_PER_CLASS,
            seed ^ AUGMENT_PROBE_SALT,
        )
        .context("the --augment auto probe cannot hold out validation images")?;
        carved = (splits.train.select(&kept), splits.train.select(&held));
        (&carved.0, &carved.1)
    } else {
        (&splits.train, &splits.val)
    };
    let candidates = if train.images.shape().channels == 1 {
        [Augment::None, Augment::Shift]
    } else {
        [Augment::None, Augment::Flip]
    };
    let n = train.len();
    let subset = if n > AUGMENT_PROBE_IMAGES {
        let (_, held) = stratified_holdout(
            &train.labels,
            train.n_classes(),
            AUGMENT_PROBE_IMAGES,
            1,
            seed ^ AUGMENT_PROBE_SALT,
        )?;
        train.select(&held)
    } else {
        train.clone()
    };
    let mean = pixel_means(&subset.images);
    let (xv, yv) = (raw_pixels(&val.images, &mean), &val.labels);
    let mut params = LinearParams::new(LossKind::Softmax);
    params.solver = Solver::Lbfgs;
    params.iterations = AUGMENT_PROBE_ITERATIONS;
    params.reg = 1e-4;
    params.seed = seed;
    let mut val_accuracy = Vec::new();
    for candidate in candidates {
        let data = match candidate {
            Augment::Flip => subset.with_horizontal_flips(),
            Augment::Shift => subset.with_shifted_copies(),
            _ => subset.clone(),
        };
        let x = raw_pixels(&data.images, &mean);
        let (model, _) = LinearModel::fit(
            &params,
            Labeled {
                x: x.view(),
                y: &data.labels,
            },
            Some(Labeled {
                x: xv.view(),
                y: yv,
            }),
            train.n_classes(),
            &mut |_| {},
        )
        .context("the --augment auto probe (softmax on raw pixels) failed")?;
        val_accuracy.push((candidate, accuracy(&model.predict(xv.view()), yv)));
    }
    let none = val_accuracy[0].1;
    let (chosen, _) = val_accuracy
        .iter()
        .copied()
        .fold((Augment::None, none), |best, (a, acc)| {
            if acc > best.1 {
                (a, acc)
            } else {
                best
            }
        });
    Ok(AugmentChoice {
        chosen,
        probe: format!(
            "softmax on raw pixels of {} training images",
            subset.len().min(n)
        ),
        val_accuracy,
    })
}

/// A fixed salt so the probe's subset differs from the validation carve.
const AUGMENT_PROBE_SALT: u64 = 0xa06_3e47;

/// Per-value means of `images` scaled to [0, 1].
fn pixel_means(images: &Images) -> Vec<f32> {
    let d = images.shape().len();
    let mut sum = vec![0f64; d];
    for image in images.pixels().chunks_exact(d.max(1)) {
        for (s, &v) in sum.iter_mut().zip(image) {
            *s += f64::from(v);
        }
    }
    let n = images.len().max(1) as f64;
    sum.iter().map(|&s| (s / n / 255.0) as f32).collect()
}

/// Raw pixels scaled to [0, 1], minus `mean`, one row per image.
fn raw_pixels(images: &Images, mean: &[f32]) -> Array2<f32> {
    let d = images.shape().len();
    let values = images
        .pixels()
        .chunks_exact(d.max(1))
        .flat_map(|image| {
            image
                .iter()
                .zip(mean)
                .map(|(&v, &m)| f32::from(v) / 255.0 - m)
        })
        .collect();
    Array2::from_shape_vec((images.len(), d), values).expect("n x d values")
}

/// [`load_with`], timed, with its warnings and a summary told to `reporter`.
/// Returns the splits, what was loaded, and the seconds it took.
pub fn load_announced(
    args: &DataParams,
    reporter: &dyn Reporter,
) -> Result<(Splits, DataInfo, f64)> {
    let t = std::time::Instant::now();
    let (splits, info) = load_with(args, reporter)?;
    let seconds = t.elapsed().as_secs_f64();
    for w in &info.warnings {
        reporter.line(&format!("warning: {w}"));
    }
    reporter.line(&format!(
        "loaded {} ({}x{}x{}): {} train, {} val, {} test in {:.2}s",
        info.dataset,
        info.image_shape[0],
        info.image_shape[1],
        info.image_shape[2],
        info.train,
        info.val,
        info.test,
        seconds
    ));
    for line in info.summary_lines() {
        reporter.line(&format!("  {line}"));
    }
    Ok((splits, info, seconds))
}
