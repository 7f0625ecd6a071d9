//! Turns the data arguments into train / validation / test splits.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use wb_data::cifar::{load_cifar10, load_cifar100, Cifar100Label};
use wb_data::folder::{load_folder, FolderParams};
use wb_data::idx::{load_idx_dataset, IdxFlavor};
use wb_data::locate::{detect_kind, resolve_dir};
use wb_data::synthetic::{self, SyntheticParams};
use wb_data::{DatasetKind, SplitParams, Splits, TrainTest};

use crate::cli::{AugmentArg, DataArgs, LabelArg};

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
    pub warnings: Vec<String>,
}

impl DataInfo {
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
pub fn load(args: &DataArgs) -> Result<(Splits, DataInfo)> {
    let kind = match (args.dataset, &args.data_dir) {
        (Some(kind), _) => kind,
        (None, Some(dir)) => detect_kind(dir)?,
        (None, None) => DatasetKind::Synthetic,
    };
    let mut warnings = Vec::new();
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
            DatasetKind::Cifar100 => load_cifar100(
                &dir,
                match args.label {
                    LabelArg::Fine => Cifar100Label::Fine,
                    LabelArg::Coarse => Cifar100Label::Coarse,
                },
            )?,
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
    let mut splits = Splits::carve(
        data,
        &SplitParams {
            val_size: args.val_size,
            train_limit: args.train_limit,
            test_limit: args.test_limit,
            seed: args.seed,
        },
    )
    .with_context(|| format!("cannot split {kind}"))?;
    // `auto`: mirror images for natural photos, shifted copies for the digit-like sets (a
    // mirrored digit can be another digit or none; a one-pixel shift never changes a class).
    // Nothing for the synthetic set (its stripes' angle is the class) or user folders.
    let augment = match (args.augment, kind) {
        (AugmentArg::Auto, DatasetKind::Cifar10 | DatasetKind::Cifar100) => AugmentArg::Flip,
        (AugmentArg::Auto, DatasetKind::Mnist | DatasetKind::FashionMnist) => AugmentArg::Shift,
        (AugmentArg::Auto, _) => AugmentArg::None,
        (given, _) => given,
    };
    let flipped = augment == AugmentArg::Flip;
    let shifted = augment == AugmentArg::Shift;
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
        warnings,
    };
    Ok((splits, info))
}

/// [`load`], timed, with its warnings and a one-line summary printed on stderr.
/// Returns the splits, what was loaded, and the seconds it took.
pub fn load_announced(args: &DataArgs) -> Result<(Splits, DataInfo, f64)> {
    let t = std::time::Instant::now();
    let (splits, info) = load(args)?;
    let seconds = t.elapsed().as_secs_f64();
    for w in &info.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "loaded {} ({}x{}x{}): {} train, {} val, {} test in {:.2}s",
        info.dataset,
        info.image_shape[0],
        info.image_shape[1],
        info.image_shape[2],
        info.train,
        info.val,
        info.test,
        seconds
    );
    Ok((splits, info, seconds))
}
