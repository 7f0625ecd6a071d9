//! `pipeline compare`: the flags, converted into the engine's [`CompareOptions`] (which merges
//! them over the experiment file).

use std::path::PathBuf;

use clap::Args;
use wb_data::cifar::Cifar100Label;
use wb_data::{DatasetKind, ResizeMode};
use wb_linear::{LossKind, Solver};
use wb_workbench::compare::{CompareOptions, LinearSection, MlpSection};
use wb_workbench::data::parse_image_size;
use wb_workbench::memory::parse_bytes;
use wb_workbench::train::parse_svm_loss;
use wb_workbench::{Augment, DataOptions, FeatureOptions, MlpOptions, ModelKind};

use super::features::FeatureArgs;
use super::named::by_name;
use super::run::{model_parser, MlpArgs};

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Experiment file (TOML; every field is documented in the README). Flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output folder: report.md, results.csv, results.json, PNG plots, cells/ [default: compare-out].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Cache extracted features here (safetensors, as `pipeline extract` writes them), keyed by
    /// dataset, split settings, seed and extractor parameters.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Reuse the finished cells in OUT/cells whose settings match this run's.
    #[arg(long)]
    pub resume: bool,
    /// One feature set per occurrence, extractors concatenated with commas as in `run`
    /// (e.g. --features raw --features hog,color) [default: raw, color, hog, gabor, kmeans, hog,color].
    #[arg(long, value_name = "LIST")]
    pub features: Vec<String>,
    /// Models, comma separated [default: svm,softmax,mlp].
    #[arg(long, value_parser = model_parser(), value_delimiter = ',')]
    pub models: Vec<ModelKind>,
    #[command(flatten)]
    pub data: CompareDataArgs,
    #[command(flatten)]
    pub feature_options: FeatureArgs,
    /// SVM learning rates to search, comma separated [default: 3e-4,1e-3,3e-3].
    #[arg(long, value_delimiter = ',')]
    pub svm_lr: Vec<f64>,
    /// SVM L2 strengths to search, comma separated [default: 1e-4,1e-3].
    #[arg(long, value_delimiter = ',')]
    pub svm_reg: Vec<f64>,
    /// Softmax learning rates to search, comma separated [default: 1e-2,3e-2,1e-1].
    #[arg(long, value_delimiter = ',')]
    pub softmax_lr: Vec<f64>,
    /// Softmax L2 strengths to search, comma separated [default: 1e-4,1e-3].
    #[arg(long, value_delimiter = ',')]
    pub softmax_reg: Vec<f64>,
    /// MLP learning rates to search, comma separated [default: 0.01].
    #[arg(long, value_delimiter = ',')]
    pub mlp_lr: Vec<f64>,
    /// MLP L2 strengths to search, comma separated [default: 2.5e-4].
    #[arg(long, value_delimiter = ',')]
    pub mlp_reg: Vec<f64>,
    /// Epochs of the SVM and softmax [default: 20].
    #[arg(long)]
    pub linear_epochs: Option<usize>,
    /// SVM loss: ovr-squared-hinge (default), squared-hinge or hinge (as `run --svm-loss`).
    #[arg(long, value_name = "LOSS", value_parser = parse_svm_loss)]
    pub svm_loss: Option<LossKind>,
    /// SVM solver: lbfgs (default) or sgd.
    #[arg(long, value_name = "SOLVER", value_parser = by_name::<Solver>)]
    pub svm_solver: Option<Solver>,
    /// Softmax solver: sgd (default) or lbfgs.
    #[arg(long, value_name = "SOLVER", value_parser = by_name::<Solver>)]
    pub softmax_solver: Option<Solver>,
    /// L-BFGS iterations per search point of the linear models [default: 300].
    #[arg(long, value_name = "N")]
    pub linear_iterations: Option<usize>,
    /// Epochs of the MLP [default: 30].
    #[arg(long)]
    pub mlp_epochs: Option<usize>,
    /// Mini-batch size of every model [default: 200].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// SGD momentum of every model [default: 0.9].
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Linear models: learning-rate multiplier applied after each epoch [default: 0.9].
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// Linear models: keep the last SGD iterate instead of each epoch's average of iterates.
    #[arg(long)]
    pub no_average: bool,
    /// Per-class loss weights of every model: none or balanced (n / (C · n_c)) [default: none].
    #[arg(long, value_name = "WEIGHT", value_parser = by_name::<wb_linear::ClassWeight>)]
    pub class_weight: Option<wb_linear::ClassWeight>,
    #[command(flatten)]
    pub mlp: MlpArgs,
}

/// The data options of `run`, without defaults, so that a flag given is told from one not
/// given (which leaves the experiment file's value).
#[derive(Debug, Clone, Args)]
pub struct CompareDataArgs {
    /// Dataset to use [default: the built-in synthetic dataset, or the one found in --data-dir].
    #[arg(long, value_parser = by_name::<DatasetKind>)]
    pub dataset: Option<DatasetKind>,
    /// Folder holding the dataset's files, or a parent of its official folder [default: the
    /// experiment file's `data_dir`, else $PIPELINE_DATA].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// CIFAR-100 label granularity: fine or coarse [default: fine].
    #[arg(long, value_parser = by_name::<Cifar100Label>)]
    pub label: Option<Cifar100Label>,
    /// Image folders: bring every image to HEIGHTxWIDTH (or N for NxN) [default: 64x64 for
    /// photos; thumbnails of one size up to 64x64 keep it].
    #[arg(long, value_parser = parse_image_size, help_heading = "Image folders")]
    pub image_size: Option<(usize, usize)>,
    /// Image folders: crop, pad or stretch to the working size [default: crop].
    #[arg(long, value_parser = by_name::<ResizeMode>, help_heading = "Image folders")]
    pub resize: Option<ResizeMode>,
    /// Image folders: skip undecodable images with a warning instead of failing.
    #[arg(long, help_heading = "Image folders")]
    pub skip_bad_images: bool,
    /// Image folders without a test split: the share of each class held out [default: 0.2].
    #[arg(long, help_heading = "Image folders")]
    pub test_fraction: Option<f64>,
    /// Image folders: a `path,label` CSV file listing the images.
    #[arg(long, value_name = "FILE.csv", help_heading = "Image folders")]
    pub labels: Option<PathBuf>,
    /// Image folders: a labels file for the test images (with --labels).
    #[arg(long, value_name = "FILE.csv", help_heading = "Image folders")]
    pub labels_test: Option<PathBuf>,
    /// Refuse work whose memory estimate exceeds this (e.g. 4G) [default: half the RAM].
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub max_memory: Option<u64>,
    /// Validation images carved from the training set with the seed [default: 10% of the
    /// training split, at least 2 per class, at most 1,000; cross-validation below 5,000
    /// training images].
    #[arg(long)]
    pub val_size: Option<usize>,
    /// Choose each cell's hyper-parameters by stratified K-fold cross-validation (K ≥ 2)
    /// [default: 5 folds below 5000 training images, else a validation split].
    #[arg(long, value_name = "K")]
    pub cv: Option<usize>,
    /// Keep at most N training images (after carving validation).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Keep at most N test images (the first N of the test set).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Training-set augmentation: auto, none, flip or shift [default: auto].
    #[arg(long, value_parser = by_name::<Augment>)]
    pub augment: Option<Augment>,
    /// Seed for the split, the synthetic data, initialisation and shuffling [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads for feature extraction and matrix products [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// A list given on the command line, or nothing (an empty list leaves the file's).
fn given<T: Clone>(list: &[T]) -> Option<Vec<T>> {
    (!list.is_empty()).then(|| list.to_vec())
}

impl From<&CompareArgs> for CompareOptions {
    fn from(a: &CompareArgs) -> CompareOptions {
        let d = &a.data;
        CompareOptions {
            config: a.config.clone(),
            out: a.out.clone(),
            cache_dir: a.cache_dir.clone(),
            resume: a.resume,
            features: a.features.clone(),
            models: a.models.clone(),
            data: DataOptions {
                dataset: d.dataset,
                data_dir: d.data_dir.clone(),
                label: d.label,
                image_size: d.image_size,
                resize: d.resize,
                skip_bad_images: d.skip_bad_images.then_some(true),
                test_fraction: d.test_fraction,
                labels: d.labels.clone(),
                test_labels: d.labels_test.clone(),
                val_size: d.val_size,
                cv: d.cv.map(wb_workbench::validation::CvChoice::Folds),
                train_limit: d.train_limit,
                test_limit: d.test_limit,
                augment: d.augment,
                seed: d.seed,
                max_memory: d.max_memory,
            },
            data_dir_fallback: std::env::var_os("PIPELINE_DATA").map(PathBuf::from),
            threads: d.threads,
            feature_options: FeatureOptions::from(&a.feature_options),
            svm: LinearSection {
                lr: given(&a.svm_lr),
                reg: given(&a.svm_reg),
                epochs: a.linear_epochs,
                loss: a.svm_loss,
                solver: a.svm_solver,
                iterations: a.linear_iterations,
            },
            softmax: LinearSection {
                lr: given(&a.softmax_lr),
                reg: given(&a.softmax_reg),
                epochs: a.linear_epochs,
                loss: None,
                solver: a.softmax_solver,
                iterations: a.linear_iterations,
            },
            mlp: MlpSection::new(
                given(&a.mlp_lr),
                given(&a.mlp_reg),
                a.mlp_epochs,
                MlpOptions::from(&a.mlp),
            ),
            batch_size: a.batch_size,
            momentum: a.momentum,
            lr_decay: a.lr_decay,
            average: a.no_average.then_some(false),
            class_weight: a.class_weight,
        }
    }
}
