//! Where the data comes from and how it is split: [`DataParams`] → [`load`] → train /
//! validation / test [`Splits`] and a [`DataInfo`] for the report.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use wb_data::cifar::{load_cifar10, load_cifar100, Cifar100Label};
use wb_data::folder::{load_folder, FolderParams};
use wb_data::idx::{load_idx_dataset, IdxFlavor};
use wb_data::locate::{detect_kind, resolve_dir};
use wb_data::synthetic::{self, SyntheticParams};
use wb_data::{DatasetKind, SplitParams, Splits, TrainTest};

use crate::progress::Reporter;
use crate::validation::{CvChoice, Validation};

/// Training-set augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    /// Mirror images for CIFAR-10/100, shifted copies for MNIST and Fashion-MNIST, nothing
    /// for the synthetic set and image folders.
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
    /// Image folders: every image resized to (height, width).
    pub image_size: Option<(usize, usize)>,
    /// Image folders: skip undecodable images with a warning instead of failing.
    pub skip_bad_images: bool,
    /// Validation images carved from the training set with the seed (`--val-size`); `None`:
    /// the default rule ([`wb_data::default_val_size`], or cross-validation, see `cv`).
    pub val_size: Option<usize>,
    /// Cross-validation instead of a validation split ([`crate::validation::decide`]).
    pub cv: CvChoice,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub augment: Augment,
    /// Seed of the split and of the synthetic data.
    pub seed: u64,
}

impl Default for DataParams {
    fn default() -> Self {
        DataParams {
            dataset: None,
            data_dir: None,
            label: Cifar100Label::Fine,
            image_size: None,
            skip_bad_images: false,
            val_size: None,
            cv: CvChoice::Off,
            train_limit: None,
            test_limit: None,
            augment: Augment::Auto,
            seed: 0,
        }
    }
}

/// [`DataParams`] with every field optional: what one source (the command line, an experiment
/// file) sets, so that sources can be layered with [`DataOptions::over`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataOptions {
    pub dataset: Option<DatasetKind>,
    pub data_dir: Option<PathBuf>,
    pub label: Option<Cifar100Label>,
    pub image_size: Option<(usize, usize)>,
    pub skip_bad_images: Option<bool>,
    pub val_size: Option<usize>,
    pub cv: Option<CvChoice>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub augment: Option<Augment>,
    pub seed: Option<u64>,
}

impl DataOptions {
    /// Each field set here, else `base`'s.
    pub fn over(&self, base: &DataOptions) -> DataOptions {
        DataOptions {
            dataset: self.dataset.or(base.dataset),
            data_dir: self.data_dir.clone().or_else(|| base.data_dir.clone()),
            label: self.label.or(base.label),
            image_size: self.image_size.or(base.image_size),
            skip_bad_images: self.skip_bad_images.or(base.skip_bad_images),
            val_size: self.val_size.or(base.val_size),
            cv: self.cv.or(base.cv),
            train_limit: self.train_limit.or(base.train_limit),
            test_limit: self.test_limit.or(base.test_limit),
            augment: self.augment.or(base.augment),
            seed: self.seed.or(base.seed),
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
            skip_bad_images: self.skip_bad_images.unwrap_or(d.skip_bad_images),
            val_size: self.val_size.or(d.val_size),
            cv: self.cv.unwrap_or(CvChoice::Auto),
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            augment: self.augment.unwrap_or(d.augment),
            seed: self.seed.unwrap_or(d.seed),
        }
    }
}

/// What was loaded, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct DataInfo {
    pub dataset: DatasetKind,
    pub path: Option<PathBuf>,
    pub image_shape: [usize; 3],
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
    pub warnings: Vec<String>,
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
}

/// Loads the dataset named by `args` and carves the splits.
pub fn load(args: &DataParams) -> Result<(Splits, DataInfo)> {
    let kind = match (args.dataset, &args.data_dir) {
        (Some(kind), _) => kind,
        (None, Some(dir)) => detect_kind(dir)?,
        (None, None) => DatasetKind::Synthetic,
    };
    let mut warnings = Vec::new();
    // A validation split the dataset brings (an image folder's `val/` beside `test/`).
    let mut given_val: Option<wb_data::Dataset> = None;
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
                let loaded = load_folder(
                    &dir,
                    &FolderParams {
                        image_size: args.image_size,
                        skip_bad_images: args.skip_bad_images,
                        seed: args.seed,
                        ..FolderParams::default()
                    },
                )?;
                warnings.extend(loaded.warnings);
                given_val = loaded.val;
                loaded.data
            }
            DatasetKind::Synthetic => unreachable!("handled above"),
        };
        (data, Some(dir))
    };
    if args.image_size.is_some() && kind != DatasetKind::Folder {
        warnings.push(format!(
            "--image-size only applies to image folders; {kind} images keep their size"
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
        }
        (Validation::HoldOut { .. }, Some(val)) => Splits::with_validation(data, val, &split),
        (Validation::HoldOut { .. }, None) => Splits::carve(data, &split),
    }
    .with_context(|| format!("cannot split {kind}"))?;
    // `auto`: mirror images for natural photos, shifted copies for the digit-like sets (a
    // mirrored digit can be another digit or none; a one-pixel shift never changes a class).
    // Nothing for the synthetic set (its stripes' angle is the class) or user folders.
    let augment = match (args.augment, kind) {
        (Augment::Auto, DatasetKind::Cifar10 | DatasetKind::Cifar100) => Augment::Flip,
        (Augment::Auto, DatasetKind::Mnist | DatasetKind::FashionMnist) => Augment::Shift,
        (Augment::Auto, _) => Augment::None,
        (given, _) => given,
    };
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
        n_classes: splits.train.n_classes(),
        class_names: splits.train.class_names.clone(),
        train: splits.train.len(),
        flipped,
        shifted,
        val: splits.val.len(),
        test: splits.test.len(),
        validation,
        warnings,
    };
    Ok((splits, info))
}

/// [`load`], timed, with its warnings and a one-line summary told to `reporter`.
/// Returns the splits, what was loaded, and the seconds it took.
pub fn load_announced(
    args: &DataParams,
    reporter: &dyn Reporter,
) -> Result<(Splits, DataInfo, f64)> {
    let t = std::time::Instant::now();
    let (splits, info) = load(args)?;
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
    Ok((splits, info, seconds))
}
