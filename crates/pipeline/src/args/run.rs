//! `pipeline run` and the MLP options it shares with `compare` and `gradcheck`.

use std::path::PathBuf;

use anyhow::Result;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use wb_features::FeatureSpec;
use wb_linear::{ClassWeight, LossKind, Solver};
use wb_mlp::augment::AugmentKind;
use wb_mlp::{ActivationKind, OptimizerKind, Schedule};
use wb_workbench::options::parse_mlp_loss;
use wb_workbench::preset::Preset;
use wb_workbench::stream::{self, StreamParams};
use wb_workbench::train::parse_svm_loss;
use wb_workbench::validation::CvChoice;
use wb_workbench::{FeatureOptions, MlpOptions, ModelKind, RunParams, TrainOptions};

use super::data::DataArgs;
use super::features::FeatureArgs;
use super::named::by_name;

/// `--preset NAME`, each listed in `--help` with what it is and what it measured.
fn preset_parser() -> impl TypedValueParser<Value = Preset> {
    PossibleValuesParser::new(
        Preset::all()
            .into_iter()
            .map(|p| PossibleValue::new(p.name).help(p.describe())),
    )
    .try_map(|s| s.parse::<Preset>())
}

/// `--model svm|softmax|mlp`, listed in `--help`.
pub fn model_parser() -> impl TypedValueParser<Value = ModelKind> {
    PossibleValuesParser::new(ModelKind::ALL.map(ModelKind::name))
        .try_map(|s| s.parse::<ModelKind>())
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Start from a named configuration, the best measured for its dataset (every option
    /// given here wins over it; results.json records its name). `docs/run.md` lists each with
    /// its settings, accuracy and cost.
    #[arg(long, value_name = "NAME", value_parser = preset_parser())]
    pub preset: Option<Preset>,
    /// Feature extractors, comma separated and concatenated in order (e.g. raw, or raw,raw)
    /// [default: raw].
    #[arg(long)]
    pub features: Option<String>,
    #[command(flatten)]
    pub feature_options: FeatureArgs,
    /// Classifier to train: svm (linear SVM with L2; by default the one-vs-rest squared hinge
    /// of Coates et al.'s L2-SVM minimised by full-batch L-BFGS, or --svm-loss squared-hinge
    /// (multiclass) or hinge (the lecture's, with --solver sgd)), softmax (multinomial
    /// logistic regression with L2, by mini-batch SGD) or mlp (fully connected network
    /// trained by backpropagation). Options that do not apply to the model are ignored with
    /// a one-line warning.
    /// [default: softmax]
    #[arg(long, value_parser = model_parser())]
    pub model: Option<ModelKind>,
    /// Training epochs (default: the model's default).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size (SGD and the MLP) [default: 200].
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub mlp: MlpArgs,
    /// Learning rates to try, comma separated (default: the model's search grid).
    #[arg(long, value_delimiter = ',')]
    pub lr: Vec<f64>,
    /// L2 strengths λ to try, comma separated (default: the model's search grid).
    #[arg(long, value_delimiter = ',')]
    pub reg: Vec<f64>,
    /// SGD momentum (linear models' SGD and `--optimizer momentum|nesterov`) [default: 0.9].
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Linear models' SGD: learning-rate multiplier applied after each epoch [default: 0.9].
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// Linear models: keep the last SGD iterate instead of each epoch's average of iterates.
    #[arg(long)]
    pub no_average: bool,
    /// SVM loss: ovr-squared-hinge (Coates et al.'s L2-SVM, the default), squared-hinge
    /// (multiclass L2-SVM) or hinge (the lecture's multiclass SVM; needs `--solver sgd`).
    #[arg(long, value_name = "LOSS", value_parser = parse_svm_loss)]
    pub svm_loss: Option<LossKind>,
    /// Linear models' solver: lbfgs (full batch, strong-Wolfe line search, keeping the
    /// iterate with the best validation accuracy; the SVM's default) or sgd (mini-batch SGD
    /// with momentum; softmax's default).
    #[arg(long, value_name = "SOLVER", value_parser = by_name::<Solver>)]
    pub solver: Option<Solver>,
    /// L-BFGS: iterations per point of the L2 search [default: 300].
    #[arg(long, value_name = "N")]
    pub iterations: Option<usize>,
    /// Choose the hyper-parameters by stratified K-fold cross-validation of the training
    /// split (K ≥ 2; scikit-learn's GridSearchCV: the best mean fold accuracy wins, then one
    /// refit on all training images). Default: 5 folds when the training set has fewer than
    /// 5000 images and neither --cv nor --val-size is given, else a validation split.
    #[arg(long, value_name = "K")]
    pub cv: Option<usize>,
    /// Per-class loss weights: none, or balanced (scikit-learn's n / (C · n_c), so every class
    /// weighs the same in the loss; for imbalanced classes). Every model and solver.
    #[arg(long, value_name = "WEIGHT", value_parser = by_name::<ClassWeight>, default_value = "none")]
    pub class_weight: ClassWeight,
    /// Write results.json (every setting and figure) into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Train from a folder of feature shards (`pipeline extract --shard I/N --out DIR`) read a
    /// few at a time, instead of loading a dataset; the data and feature options are then the
    /// shards' own. Linear models need --solver sgd.
    #[arg(
        long,
        value_name = "DIR",
        help_heading = "Training from feature shards"
    )]
    pub features_from: Option<PathBuf>,
    /// With --features-from: shards read into memory and shuffled together.
    #[arg(long, value_name = "N", default_value_t = stream::DEFAULT_BUFFER_SHARDS, help_heading = "Training from feature shards")]
    pub buffer_shards: usize,
}

impl TryFrom<&RunArgs> for StreamParams {
    type Error = anyhow::Error;

    fn try_from(args: &RunArgs) -> Result<StreamParams> {
        let Some(dir) = &args.features_from else {
            anyhow::bail!("--features-from DIR is not set");
        };
        if args.buffer_shards == 0 {
            anyhow::bail!("--buffer-shards must be at least 1");
        }
        let run = RunParams::try_from(args)?;
        if run.train.augments_mlp_batches() {
            anyhow::bail!(
                "--mlp-augment {} is not available with --features-from: the shards hold \
                 feature rows without their image shape (train in memory to augment raw pixels)",
                run.train.mlp_augment.name()
            );
        }
        Ok(StreamParams {
            dir: dir.clone(),
            train: run.train,
            buffer_shards: args.buffer_shards,
            max_memory: args.data.max_memory,
            warnings: run.warnings,
        })
    }
}

impl TryFrom<&RunArgs> for RunParams {
    type Error = anyhow::Error;

    /// The options given, over the preset's where one is named, over the defaults.
    fn try_from(args: &RunArgs) -> Result<RunParams> {
        let preset = args.preset.as_ref();
        let features = args
            .features
            .as_deref()
            .or(preset.map(|p| p.features))
            .unwrap_or("raw");
        let mut spec = FeatureSpec::parse(features)?;
        let mut feature_options = FeatureOptions::from(&args.feature_options);
        let mut mlp = MlpOptions::from(&args.mlp);
        if let Some(p) = preset {
            feature_options = feature_options.over(&p.feature_options);
            mlp = mlp.over(&p.mlp);
        }
        feature_options.apply(&mut spec)?;
        let train = TrainOptions {
            model: args
                .model
                .or(preset.map(|p| p.model))
                .unwrap_or(ModelKind::Softmax),
            epochs: args.epochs.or(preset.and_then(|p| p.epochs)),
            batch_size: args.batch_size,
            mlp,
            lr: match (args.lr.is_empty(), preset) {
                (true, Some(p)) => p.lr.clone(),
                _ => args.lr.clone(),
            },
            reg: args.reg.clone(),
            momentum: args.momentum,
            lr_decay: args.lr_decay,
            average: !args.no_average,
            svm_loss: args.svm_loss,
            solver: args.solver,
            iterations: args.iterations,
            class_weight: args.class_weight,
        };
        let mut data: wb_workbench::DataParams = (&args.data).into();
        if let Some(p) = preset {
            data.dataset = data.dataset.or(Some(p.dataset));
            if let (None, Some(augment)) = (args.data.augment, p.augment) {
                data.augment = augment;
            }
        }
        data.cv = match args.cv {
            Some(k) => CvChoice::Folds(k),
            None => CvChoice::Auto,
        };
        let dataset = data.dataset;
        let mut run = RunParams::new(data, spec, &train)?;
        if let Some(p) = preset {
            run.preset = Some(p.name);
            if dataset != Some(p.dataset) {
                run.warnings.push(format!(
                    "--preset {} was measured on {}; its settings are applied to this dataset as given",
                    p.name, p.dataset
                ));
            }
        }
        Ok(run)
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
    #[arg(long, value_parser = by_name::<ActivationKind>)]
    pub activation: Option<ActivationKind>,
    /// Slope of leaky ReLU for x < 0 (0.1 gives the lecture's max(0.1x, x)).
    #[arg(long)]
    pub leaky_slope: Option<f64>,
    /// Pieces per maxout unit.
    #[arg(long)]
    pub maxout_pieces: Option<usize>,
    /// Data loss of the MLP: softmax, svm or squared.
    #[arg(long, value_parser = parse_mlp_loss)]
    pub loss: Option<LossKind>,
    /// Optimiser: sgd, momentum, nesterov or adam.
    #[arg(long, value_parser = by_name::<OptimizerKind>)]
    pub optimizer: Option<OptimizerKind>,
    /// Learning-rate schedule: constant, cosine, step or step:EVERY:GAMMA.
    #[arg(long, value_parser = by_name::<Schedule>)]
    pub lr_schedule: Option<Schedule>,
    /// Inverted-dropout probability of dropping a hidden unit (training only).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Batch normalisation (Ioffe & Szegedy 2015) between each hidden layer's product and its
    /// activation: batch statistics in training, running averages in evaluation.
    #[arg(long)]
    pub batch_norm: bool,
    /// Early stopping: epochs without a better validation accuracy before stopping (0 = off).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Augmentation drawn anew for every mini-batch of raw pixels (--features raw): crop-flip
    /// (shifts up to 1/8 of the side and mirrors, for photos), translate (shifts up to 1/14,
    /// for digits), elastic (translate plus Simard et al.'s elastic distortion) or none.
    #[arg(long, value_parser = by_name::<AugmentKind>)]
    pub mlp_augment: Option<AugmentKind>,
}

impl From<&MlpArgs> for MlpOptions {
    fn from(a: &MlpArgs) -> MlpOptions {
        MlpOptions {
            hidden: (!a.hidden.is_empty()).then(|| a.hidden.clone()),
            activation: a.activation,
            leaky_slope: a.leaky_slope,
            maxout_pieces: a.maxout_pieces,
            loss: a.loss,
            optimizer: a.optimizer,
            schedule: a.lr_schedule,
            dropout: a.dropout,
            batch_norm: a.batch_norm.then_some(true),
            patience: a.patience,
            augment: a.mlp_augment,
        }
    }
}
