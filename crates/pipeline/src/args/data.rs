//! `--dataset`, `--data-dir` and the split options shared by `run`, `extract` and `show`.

use std::path::PathBuf;

use clap::Args;
use wb_data::cifar::Cifar100Label;
use wb_data::DatasetKind;
use wb_workbench::data::parse_image_size;
use wb_workbench::{Augment, DataParams};

use super::by_name;

/// Where the data comes from and how it is split.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Dataset to use. Default: the built-in synthetic dataset, or the one found in --data-dir.
    #[arg(long, value_parser = by_name::<DatasetKind>)]
    pub dataset: Option<DatasetKind>,
    /// Folder holding the dataset's files (e.g. cifar-10-batches-bin/) or a parent holding the
    /// dataset's official folder. Default: $PIPELINE_DATA.
    #[arg(long, env = "PIPELINE_DATA")]
    pub data_dir: Option<PathBuf>,
    /// CIFAR-100 label granularity: fine or coarse.
    #[arg(long, value_parser = by_name::<Cifar100Label>, default_value = "fine")]
    pub label: Cifar100Label,
    /// Image folders: resize every image to HEIGHTxWIDTH (or N for NxN). Default: the first image's size.
    #[arg(long, value_parser = parse_image_size)]
    pub image_size: Option<(usize, usize)>,
    /// Image folders: skip undecodable images with a warning instead of failing.
    #[arg(long)]
    pub skip_bad_images: bool,
    /// Validation images carved from the training set with the seed (a fixed hold-out).
    /// Default: 10% of the training set, at least 2 per class, at most 1000 (CIFAR-10 and
    /// MNIST: 1000); `pipeline run` cross-validates training sets below 5000 images instead
    /// (see --cv).
    #[arg(long, value_name = "N")]
    pub val_size: Option<usize>,
    /// Keep at most N training images (after carving validation), for quick runs.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Keep at most N test images (the first N of the test set).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Training-set augmentation: `flip` adds every training image mirrored left to right;
    /// `shift` adds four copies moved one pixel right, left, down and up (5x the rows); `auto`
    /// flips CIFAR-10/100, shifts MNIST and Fashion-MNIST, and leaves the synthetic set and
    /// image folders alone (mirroring can change their classes).
    #[arg(long, value_parser = by_name::<Augment>, default_value = "auto")]
    pub augment: Augment,
    /// Seed for the split, the synthetic data, initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads for feature extraction and matrix products (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl From<&DataArgs> for DataParams {
    fn from(a: &DataArgs) -> DataParams {
        DataParams {
            dataset: a.dataset,
            data_dir: a.data_dir.clone(),
            label: a.label,
            image_size: a.image_size,
            skip_bad_images: a.skip_bad_images,
            val_size: a.val_size,
            cv: wb_workbench::validation::CvChoice::Off,
            train_limit: a.train_limit,
            test_limit: a.test_limit,
            augment: a.augment,
            seed: a.seed,
        }
    }
}
