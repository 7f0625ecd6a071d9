//! Command-line arguments (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use wb_data::DatasetKind;

#[derive(Debug, Parser)]
#[command(
    name = "pipeline",
    version,
    about = "Image classification workbench: handcrafted features vs raw pixels, linear models vs a backprop MLP"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a dataset, extract features, train a model (with a validation search) and report accuracy.
    Run(RunArgs),
    /// Run a grid of feature sets x models in one process: report.md, results.csv/json, PNG plots.
    Compare(crate::compare::CompareArgs),
    /// Check a model's backpropagated gradients against centred finite differences (f64).
    Gradcheck(crate::gradcheck::GradcheckArgs),
    /// Apply a model saved by `run --out DIR` to image files: class and top probabilities.
    Predict(crate::predict::PredictArgs),
    /// Extract the features of every split and save them (with labels and the scaler) as safetensors.
    Extract(crate::extract::ExtractArgs),
    /// Draw what the extractors see (HOG glyphs, colour histogram, Gabor bank, k-means atoms) as PNGs.
    Show(crate::show::ShowArgs),
    /// The lecture's two 2-D pictures: `demo rings` (feature transformation) and `demo spiral`
    /// (capacity and regularisation), as decision-region PNGs with train/test accuracies.
    Demo(crate::demo::DemoArgs),
}

/// Where the data comes from and how it is split.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Dataset to use. Default: the built-in synthetic dataset, or the one found in --data-dir.
    #[arg(long, value_parser = parse_dataset)]
    pub dataset: Option<DatasetKind>,
    /// Folder holding the dataset's files (e.g. cifar-10-batches-bin/) or a parent holding the
    /// dataset's official folder. Default: $PIPELINE_DATA.
    #[arg(long, env = "PIPELINE_DATA")]
    pub data_dir: Option<PathBuf>,
    /// CIFAR-100 label granularity.
    #[arg(long, value_enum, default_value_t = LabelArg::Fine)]
    pub label: LabelArg,
    /// Image folders: resize every image to HEIGHTxWIDTH (or N for NxN). Default: the first image's size.
    #[arg(long, value_parser = parse_size)]
    pub image_size: Option<(usize, usize)>,
    /// Image folders: skip undecodable images with a warning instead of failing.
    #[arg(long)]
    pub skip_bad_images: bool,
    /// Validation images carved from the training set with the seed.
    #[arg(long, default_value_t = 1000)]
    pub val_size: usize,
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
    #[arg(long, value_enum, default_value_t = AugmentArg::Auto)]
    pub augment: AugmentArg,
    /// Seed for the split, the synthetic data, initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads for feature extraction and matrix products (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AugmentArg {
    Auto,
    None,
    Flip,
    Shift,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabelArg {
    Fine,
    Coarse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelArg {
    /// Multiclass SVM (hinge loss, L2).
    Svm,
    /// Softmax (multinomial logistic) regression, L2.
    Softmax,
    /// Fully connected network trained by backpropagation (see the MLP options).
    Mlp,
}

impl ModelArg {
    pub fn name(self) -> &'static str {
        match self {
            ModelArg::Svm => "svm",
            ModelArg::Softmax => "softmax",
            ModelArg::Mlp => "mlp",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Feature extractors, comma separated and concatenated in order (e.g. raw, or raw,raw).
    #[arg(long, default_value = "raw")]
    pub features: String,
    #[command(flatten)]
    pub feature_options: crate::feature_args::FeatureArgs,
    /// Classifier to train.
    #[arg(long, value_enum, default_value_t = ModelArg::Softmax)]
    pub model: ModelArg,
    /// Training epochs (default: the model's default).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    #[command(flatten)]
    pub mlp: MlpArgs,
    /// Learning rates to try, comma separated (default: the model's search grid).
    #[arg(long, value_delimiter = ',')]
    pub lr: Vec<f64>,
    /// L2 strengths λ to try, comma separated (default: the model's search grid).
    #[arg(long, value_delimiter = ',')]
    pub reg: Vec<f64>,
    /// SGD momentum (linear models and `--optimizer momentum|nesterov`).
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Linear models: learning-rate multiplier applied after each epoch.
    #[arg(long, default_value_t = 0.9)]
    pub lr_decay: f64,
    /// Linear models: keep the last SGD iterate instead of each epoch's average of iterates.
    #[arg(long)]
    pub no_average: bool,
    /// SVM loss: ovr-squared-hinge (Coates et al.'s L2-SVM, the default), squared-hinge
    /// (multiclass L2-SVM) or hinge (the lecture's multiclass SVM; needs `--solver sgd`).
    #[arg(long, value_name = "LOSS")]
    pub svm_loss: Option<String>,
    /// Linear models' solver: lbfgs (full batch, to convergence; the SVM's default) or sgd
    /// (mini-batch SGD with momentum; softmax's default).
    #[arg(long, value_name = "SOLVER")]
    pub solver: Option<String>,
    /// L-BFGS: iterations per point of the L2 search [default: 300].
    #[arg(long, value_name = "N")]
    pub iterations: Option<usize>,
    /// Write results.json (every setting and figure) into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn parse_dataset(s: &str) -> Result<DatasetKind, String> {
    s.parse()
}

/// `32`, `32x32` or `48x64` (height x width).
pub fn parse_size(s: &str) -> Result<(usize, usize), String> {
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

/// Options of `--model mlp` (defaults: one hidden layer of 1000 ReLU units, dropout 0.2,
/// softmax loss, SGD with momentum 0.9, cosine schedule, 30 epochs, early stopping).
#[derive(Debug, Clone, Args)]
pub struct MlpArgs {
    /// Hidden layer widths, comma separated (e.g. 500 or 1024,512).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Vec<usize>,
    /// Hidden activation: relu, leaky-relu, prelu, elu, sigmoid, tanh or maxout.
    #[arg(long)]
    pub activation: Option<String>,
    /// Slope of leaky ReLU for x < 0 (0.1 gives the lecture's max(0.1x, x)).
    #[arg(long)]
    pub leaky_slope: Option<f64>,
    /// Pieces per maxout unit.
    #[arg(long)]
    pub maxout_pieces: Option<usize>,
    /// Data loss of the MLP: softmax, svm or squared.
    #[arg(long)]
    pub loss: Option<String>,
    /// Optimiser: sgd, momentum, nesterov or adam.
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning-rate schedule: constant, cosine, step or step:EVERY:GAMMA.
    #[arg(long)]
    pub lr_schedule: Option<String>,
    /// Inverted-dropout probability of dropping a hidden unit (training only).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Early stopping: epochs without a better validation accuracy before stopping (0 = off).
    #[arg(long)]
    pub patience: Option<usize>,
}
