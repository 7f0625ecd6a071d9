//! `--dataset`, `--data-dir` and the split options shared by `run`, `extract` and `show`.

use std::path::PathBuf;

use clap::Args;
use wb_data::cifar::Cifar100Label;
use wb_data::{DatasetKind, ResizeMode};
use wb_workbench::data::{parse_image_size, DEFAULT_TEST_FRACTION};
use wb_workbench::memory::parse_bytes;
use wb_workbench::{Augment, DataParams};

use super::named::by_name;

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
    /// Image folders: bring every image to HEIGHTxWIDTH (or N for NxN), at most 4096 a side.
    /// Default: 64x64 for photos; a folder of thumbnails that all share one size of at most
    /// 64x64 (CIFAR-10 saved as PNG) keeps it.
    #[arg(long, value_parser = parse_image_size, help_heading = "Image folders")]
    pub image_size: Option<(usize, usize)>,
    /// Image folders: how an image of another aspect ratio is fitted: `crop` (shorter side to
    /// the size, centre crop: torchvision's Resize + CenterCrop), `pad` (fit inside, black
    /// borders) or `stretch`.
    #[arg(long, value_parser = by_name::<ResizeMode>, default_value = "crop", help_heading = "Image folders")]
    pub resize: ResizeMode,
    /// Image folders: skip undecodable images (counted in a warning) instead of failing.
    #[arg(long, help_heading = "Image folders")]
    pub skip_bad_images: bool,
    /// Image folders without a test split: the share of each class held out for testing.
    #[arg(long, default_value_t = DEFAULT_TEST_FRACTION, help_heading = "Image folders")]
    pub test_fraction: f64,
    /// Image folders: a CSV file with a header row and columns `path,label` (paths relative to
    /// the file's folder) listing the images instead of class folders.
    #[arg(long, value_name = "FILE.csv", help_heading = "Image folders")]
    pub labels: Option<PathBuf>,
    /// Image folders: a labels file for the test images (with --labels).
    #[arg(long, value_name = "FILE.csv", help_heading = "Image folders")]
    pub labels_test: Option<PathBuf>,
    /// Validation images carved from the training set with the seed (a fixed hold-out).
    /// Default: 10% of the training split, at least 2 per class, at most 1,000 (CIFAR-10 and
    /// MNIST: 1,000), or the folder's own validation split; `pipeline run` cross-validates
    /// training sets below 5,000 images instead (see --cv).
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
    /// measures `none` against `flip` (colour images) or `shift` (gray images) on the
    /// validation split with a quick softmax on raw pixels and keeps the better [default: auto].
    #[arg(long, value_parser = by_name::<Augment>)]
    pub augment: Option<Augment>,
    /// Seed for the split, the synthetic data, initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Refuse work whose memory estimate exceeds this (e.g. 512M, 4G; powers of 1024).
    /// Default: half the machine's RAM.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub max_memory: Option<u64>,
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
            resize: a.resize,
            skip_bad_images: a.skip_bad_images,
            test_fraction: a.test_fraction,
            labels: a.labels.clone(),
            test_labels: a.labels_test.clone(),
            val_size: a.val_size,
            cv: wb_workbench::validation::CvChoice::Off,
            train_limit: a.train_limit,
            test_limit: a.test_limit,
            augment: a.augment.unwrap_or(Augment::Auto),
            seed: a.seed,
            max_memory: a.max_memory,
        }
    }
}
