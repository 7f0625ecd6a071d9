//! `pipeline compare`'s command line and experiment file (`--config experiment.toml`).
//!
//! Every setting can come from the TOML file or a flag; a flag given on the command line wins
//! over the file, and what neither sets takes the defaults of `pipeline run`. Unknown fields in
//! the file are an error (a misspelt field must not be silently ignored). The README's
//! "pipeline compare" section documents every field.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wb_data::DatasetKind;
use wb_features::FeatureSpec;

use crate::cli::{AugmentArg, DataArgs, LabelArg, MlpArgs, ModelArg};
use crate::feature_args::FeatureArgs;
use crate::train::{self, TrainSettings};

/// The default grid's feature sets: each extractor alone, and HOG with colour (CS231n's pair).
pub const DEFAULT_FEATURE_SETS: &[&str] = &["raw", "color", "hog", "gabor", "kmeans", "hog,color"];

/// The default grid's models.
pub const DEFAULT_MODELS: &[ModelArg] = &[ModelArg::Svm, ModelArg::Softmax, ModelArg::Mlp];

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
    #[arg(long, value_enum, value_delimiter = ',')]
    pub models: Vec<ModelArg>,
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
    #[arg(long, value_name = "LOSS")]
    pub svm_loss: Option<String>,
    /// SVM solver: lbfgs (default) or sgd.
    #[arg(long, value_name = "SOLVER")]
    pub svm_solver: Option<String>,
    /// Softmax solver: sgd (default) or lbfgs.
    #[arg(long, value_name = "SOLVER")]
    pub softmax_solver: Option<String>,
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
    #[command(flatten)]
    pub mlp: MlpArgs,
}

/// The data options of `run`, without defaults, so that a flag given is told from one not
/// given (which leaves the experiment file's value).
#[derive(Debug, Clone, Args)]
pub struct CompareDataArgs {
    /// Dataset to use [default: the built-in synthetic dataset, or the one found in --data-dir].
    #[arg(long, value_parser = |s: &str| s.parse::<DatasetKind>())]
    pub dataset: Option<DatasetKind>,
    /// Folder holding the dataset's files, or a parent of its official folder [default: the
    /// experiment file's `data_dir`, else $PIPELINE_DATA].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// CIFAR-100 label granularity [default: fine].
    #[arg(long, value_enum)]
    pub label: Option<LabelArg>,
    /// Image folders: resize every image to HEIGHTxWIDTH (or N for NxN).
    #[arg(long, value_parser = crate::cli::parse_size)]
    pub image_size: Option<(usize, usize)>,
    /// Image folders: skip undecodable images with a warning instead of failing.
    #[arg(long)]
    pub skip_bad_images: bool,
    /// Validation images carved from the training set with the seed [default: 1000].
    #[arg(long)]
    pub val_size: Option<usize>,
    /// Keep at most N training images (after carving validation).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Keep at most N test images (the first N of the test set).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Training-set augmentation: auto, none, flip or shift [default: auto].
    #[arg(long, value_enum)]
    pub augment: Option<AugmentArg>,
    /// Seed for the split, the synthetic data, initialisation and shuffling [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads for feature extraction and matrix products [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The experiment file. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    pub dataset: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub label: Option<String>,
    pub image_size: Option<String>,
    pub skip_bad_images: Option<bool>,
    pub val_size: Option<usize>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub augment: Option<String>,
    pub seed: Option<u64>,
    pub threads: Option<usize>,
    pub out: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    pub features: Option<Vec<String>>,
    pub models: Option<Vec<String>>,
    pub batch_size: Option<usize>,
    pub momentum: Option<f64>,
    pub lr_decay: Option<f64>,
    pub average: Option<bool>,
    #[serde(default)]
    pub feature_options: FeatureArgs,
    #[serde(default)]
    pub svm: LinearSection,
    #[serde(default)]
    pub softmax: LinearSection,
    #[serde(default)]
    pub mlp: MlpSection,
    /// `[feature_set."LABEL".svm]` (and `.softmax`, `.mlp`): settings for the row of one feature
    /// set only, over the `[svm]`/`[softmax]`/`[mlp]` sections (flags still win), e.g. a
    /// smaller MLP on the 6,400-dimensional k-means features.
    #[serde(default)]
    pub feature_set: std::collections::BTreeMap<String, ModelSections>,
}

/// The three model sections, as `[feature_set."LABEL"]` overrides them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSections {
    #[serde(default)]
    pub svm: LinearSection,
    #[serde(default)]
    pub softmax: LinearSection,
    #[serde(default)]
    pub mlp: MlpSection,
}

impl ModelSections {
    /// Each field set here, else `base`'s.
    fn over(&self, base: &ModelSections) -> Result<ModelSections> {
        Ok(ModelSections {
            svm: overlay(&self.svm, &base.svm)?,
            softmax: overlay(&self.softmax, &base.softmax)?,
            mlp: overlay(&self.mlp, &base.mlp)?,
        })
    }
}

/// `[svm]` and `[softmax]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSection {
    pub lr: Option<Vec<f64>>,
    pub reg: Option<Vec<f64>>,
    pub epochs: Option<usize>,
    /// `[svm]` only: hinge, squared-hinge or ovr-squared-hinge.
    pub loss: Option<String>,
    /// sgd or lbfgs.
    pub solver: Option<String>,
    /// L-BFGS iterations per search point.
    pub iterations: Option<usize>,
}

/// `[mlp]`: the search grid, epochs, and the options of `run --model mlp`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSection {
    pub lr: Option<Vec<f64>>,
    pub reg: Option<Vec<f64>>,
    pub epochs: Option<usize>,
    pub hidden: Option<Vec<usize>>,
    pub activation: Option<String>,
    pub leaky_slope: Option<f64>,
    pub maxout_pieces: Option<usize>,
    pub loss: Option<String>,
    pub optimizer: Option<String>,
    pub lr_schedule: Option<String>,
    pub dropout: Option<f64>,
    pub patience: Option<usize>,
}

/// Each field set in `top`, else `base`'s: for the sections, whose fields are all `Option`s
/// (through JSON, so that a field added to a section can never be forgotten here).
fn overlay<T: Serialize + DeserializeOwned>(top: &T, base: &T) -> Result<T> {
    let mut merged = serde_json::to_value(base)?;
    if let (Some(merged), serde_json::Value::Object(top)) =
        (merged.as_object_mut(), serde_json::to_value(top)?)
    {
        merged.extend(top.into_iter().filter(|(_, v)| !v.is_null()));
    }
    Ok(serde_json::from_value(merged)?)
}

impl ExperimentFile {
    /// Reads and parses `path`; errors name the file and the offending field.
    pub fn read(path: &Path) -> Result<ExperimentFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the experiment file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid experiment file {}", path.display()))
    }
}

/// A grid to run: everything merged (flags over file over defaults) and checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub data: DataArgs,
    pub feature_sets: Vec<FeatureSpec>,
    /// The models of every row without a `[feature_set."LABEL"]` section.
    pub models: Vec<TrainSettings>,
    /// Rows with their own settings: (feature-set label, its models, in `models`' order).
    pub overrides: Vec<(String, Vec<TrainSettings>)>,
    pub out: PathBuf,
    pub cache_dir: Option<PathBuf>,
    pub resume: bool,
    pub config: Option<PathBuf>,
}

impl Plan {
    /// The models of the row of `spec`: its `[feature_set."LABEL"]` settings if it has them.
    pub fn models_for(&self, spec: &FeatureSpec) -> &[TrainSettings] {
        let label = spec.label();
        self.overrides
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(&self.models, |(_, models)| models)
    }
}

/// `flag` if given, else `file`, else `default`.
fn pick<T>(flag: Option<T>, file: Option<T>, default: T) -> T {
    flag.or(file).unwrap_or(default)
}

/// A non-empty list from the flags, else the file's, else the default.
fn pick_list<T: Clone>(flag: &[T], file: &Option<Vec<T>>, default: Vec<T>) -> Vec<T> {
    if !flag.is_empty() {
        flag.to_vec()
    } else {
        file.clone().unwrap_or(default)
    }
}

/// A value of a clap `ValueEnum` written in the experiment file, naming the field if unknown.
fn parse_enum<T: clap::ValueEnum>(field: &str, value: &str) -> Result<T> {
    T::from_str(value, true).map_err(|_| {
        let valid: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        anyhow::anyhow!(
            "`{field} = \"{value}\"` is not valid (valid: {})",
            valid.join(", ")
        )
    })
}

impl Plan {
    /// Merges the flags over the experiment file (if any) over the defaults, and checks every
    /// setting before any data is loaded.
    pub fn new(args: &CompareArgs) -> Result<Plan> {
        let file = match &args.config {
            Some(path) => ExperimentFile::read(path)?,
            None => ExperimentFile::default(),
        };
        let in_file = |e: anyhow::Error| match &args.config {
            Some(path) => e.context(format!("in the experiment file {}", path.display())),
            None => e,
        };
        let d = &args.data;
        let dataset = match &file.dataset {
            Some(s) => Some(
                s.parse::<DatasetKind>()
                    .map_err(|e| in_file(anyhow::anyhow!("dataset: {e}")))?,
            ),
            None => None,
        };
        let label = match &file.label {
            Some(s) => Some(parse_enum::<LabelArg>("label", s).map_err(in_file)?),
            None => None,
        };
        let augment = match &file.augment {
            Some(s) => Some(parse_enum::<AugmentArg>("augment", s).map_err(in_file)?),
            None => None,
        };
        let image_size = match &file.image_size {
            Some(s) => Some(
                crate::cli::parse_size(s)
                    .map_err(|e| in_file(anyhow::anyhow!("image_size: {e}")))?,
            ),
            None => None,
        };
        let data = DataArgs {
            dataset: d.dataset.or(dataset),
            data_dir: d
                .data_dir
                .clone()
                .or(file.data_dir.clone())
                .or_else(|| std::env::var_os("PIPELINE_DATA").map(PathBuf::from)),
            label: pick(d.label, label, LabelArg::Fine),
            image_size: d.image_size.or(image_size),
            skip_bad_images: d.skip_bad_images || file.skip_bad_images.unwrap_or(false),
            val_size: pick(d.val_size, file.val_size, 1000),
            train_limit: d.train_limit.or(file.train_limit),
            test_limit: d.test_limit.or(file.test_limit),
            augment: pick(d.augment, augment, AugmentArg::Auto),
            seed: pick(d.seed, file.seed, 0),
            threads: d.threads.or(file.threads),
        };

        let feature_options = args.feature_options.over(&file.feature_options);
        let lists = pick_list(
            &args.features,
            &file.features,
            DEFAULT_FEATURE_SETS.iter().map(|s| s.to_string()).collect(),
        );
        if lists.is_empty() {
            bail!("no feature sets to compare (`features` is empty)");
        }
        let mut feature_sets: Vec<FeatureSpec> = Vec::new();
        for list in &lists {
            let mut spec = FeatureSpec::parse(list)
                .with_context(|| format!("feature set `{list}`"))
                .map_err(in_file)?;
            feature_options.apply(&mut spec)?;
            if feature_sets.iter().any(|s| s.parts == spec.parts) {
                bail!("feature set `{}` is listed twice", spec.label());
            }
            feature_sets.push(spec);
        }

        let model_kinds = if !args.models.is_empty() {
            args.models.clone()
        } else if let Some(names) = &file.models {
            names
                .iter()
                .map(|n| parse_enum::<ModelArg>("models", n))
                .collect::<Result<Vec<_>>>()
                .map_err(in_file)?
        } else {
            DEFAULT_MODELS.to_vec()
        };
        if model_kinds.is_empty() {
            bail!("no models to compare (`models` is empty)");
        }
        let common = Common {
            batch_size: pick(args.batch_size, file.batch_size, 200),
            momentum: pick(args.momentum, file.momentum, 0.9),
            lr_decay: pick(args.lr_decay, file.lr_decay, 0.9),
            average: !args.no_average && file.average.unwrap_or(true),
            seed: data.seed,
        };
        let sections = ModelSections {
            svm: file.svm.clone(),
            softmax: file.softmax.clone(),
            mlp: file.mlp.clone(),
        };
        let models = build_models(args, &sections, &model_kinds, &common).map_err(in_file)?;
        let mut overrides = Vec::new();
        for (key, section) in &file.feature_set {
            let label = FeatureSpec::parse(key)
                .map(|spec| spec.label())
                .ok()
                .filter(|label| feature_sets.iter().any(|s| &s.label() == label))
                .ok_or_else(|| {
                    let labels: Vec<String> = feature_sets.iter().map(FeatureSpec::label).collect();
                    in_file(anyhow::anyhow!(
                        "[feature_set.\"{key}\"] names no feature set of this grid ({})",
                        labels.join(" | ")
                    ))
                })?;
            let models = build_models(args, &section.over(&sections)?, &model_kinds, &common)
                .with_context(|| format!("[feature_set.\"{key}\"]"))
                .map_err(in_file)?;
            overrides.push((label, models));
        }

        Ok(Plan {
            data,
            feature_sets,
            models,
            overrides,
            out: args
                .out
                .clone()
                .or(file.out.clone())
                .unwrap_or_else(|| PathBuf::from("compare-out")),
            cache_dir: args.cache_dir.clone().or(file.cache_dir.clone()),
            resume: args.resume,
            config: args.config.clone(),
        })
    }
}

/// Settings shared by every model of the grid.
#[derive(Debug, Clone, Copy)]
struct Common {
    batch_size: usize,
    momentum: f64,
    lr_decay: f64,
    average: bool,
    seed: u64,
}

/// The models' settings from the flags over `sections` over the defaults, each checked.
fn build_models(
    args: &CompareArgs,
    sections: &ModelSections,
    model_kinds: &[ModelArg],
    common: &Common,
) -> Result<Vec<TrainSettings>> {
    let Common {
        batch_size,
        momentum,
        lr_decay,
        average,
        seed,
    } = *common;
    let mut models = Vec::new();
    for &model in model_kinds {
        if models.iter().any(|m: &TrainSettings| m.model == model) {
            bail!("model `{}` is listed twice", model.name());
        }
        let (section, flag_loss, flag_solver) = match model {
            ModelArg::Svm => (
                &sections.svm,
                args.svm_loss.as_ref(),
                args.svm_solver.as_ref(),
            ),
            ModelArg::Softmax => (&sections.softmax, None, args.softmax_solver.as_ref()),
            ModelArg::Mlp => (&LinearSection::default(), None, None),
        };
        if model == ModelArg::Softmax && section.loss.is_some() {
            bail!("[softmax] has no `loss` (it is the softmax loss; `loss` is for [svm])");
        }
        let linear = train::LinearMethod::default_for(model).with(
            flag_loss.or(section.loss.as_ref()).map(String::as_str),
            flag_solver.or(section.solver.as_ref()).map(String::as_str),
            args.linear_iterations.or(section.iterations),
        )?;
        let (default_lr, default_reg) = train::default_grid(model, linear.solver);
        let (flag_lr, flag_reg, file_lr, file_reg, epochs) = match model {
            ModelArg::Svm => (
                &args.svm_lr,
                &args.svm_reg,
                &sections.svm.lr,
                &sections.svm.reg,
                args.linear_epochs.or(sections.svm.epochs),
            ),
            ModelArg::Softmax => (
                &args.softmax_lr,
                &args.softmax_reg,
                &sections.softmax.lr,
                &sections.softmax.reg,
                args.linear_epochs.or(sections.softmax.epochs),
            ),
            ModelArg::Mlp => (
                &args.mlp_lr,
                &args.mlp_reg,
                &sections.mlp.lr,
                &sections.mlp.reg,
                args.mlp_epochs.or(sections.mlp.epochs),
            ),
        };
        let epochs = epochs.unwrap_or(train::default_epochs(model));
        let mlp = if model == ModelArg::Mlp {
            let base = wb_mlp::MlpParams {
                seed,
                batch_size,
                momentum,
                epochs,
                ..wb_mlp::MlpParams::default()
            };
            let options = merge_mlp(&args.mlp, &sections.mlp);
            Some(train::apply_mlp_args(&options, base)?)
        } else {
            None
        };
        let settings = TrainSettings {
            model,
            lr: train::lr_grid(
                &pick_list(flag_lr, file_lr, default_lr.clone()),
                default_lr,
                linear.solver,
                model,
            ),
            reg: pick_list(flag_reg, file_reg, default_reg),
            epochs,
            batch_size,
            momentum,
            lr_decay,
            average,
            seed,
            mlp,
            linear,
        };
        settings
            .check()
            .with_context(|| format!("{} settings", model.name()))?;
        models.push(settings);
    }
    Ok(models)
}

/// The MLP options: each flag given wins over the file's `[mlp]` value.
fn merge_mlp(flags: &MlpArgs, file: &MlpSection) -> MlpArgs {
    MlpArgs {
        hidden: if flags.hidden.is_empty() {
            file.hidden.clone().unwrap_or_default()
        } else {
            flags.hidden.clone()
        },
        activation: flags.activation.clone().or(file.activation.clone()),
        leaky_slope: flags.leaky_slope.or(file.leaky_slope),
        maxout_pieces: flags.maxout_pieces.or(file.maxout_pieces),
        loss: flags.loss.clone().or(file.loss.clone()),
        optimizer: flags.optimizer.clone().or(file.optimizer.clone()),
        lr_schedule: flags.lr_schedule.clone().or(file.lr_schedule.clone()),
        dropout: flags.dropout.or(file.dropout),
        patience: flags.patience.or(file.patience),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_errors_naming_the_field() {
        for text in [
            "seeed = 3",
            "[svm]\nlearning_rate = [0.1]",
            "[mlp]\nhiden = [10]",
            "[feature_options]\nhog_cell = 4",
        ] {
            let err = toml::from_str::<ExperimentFile>(text)
                .unwrap_err()
                .to_string();
            let field = text
                .lines()
                .last()
                .and_then(|l| l.split('=').next())
                .map(str::trim)
                .unwrap_or_default();
            assert!(err.contains(field), "{text}: {err}");
        }
    }

    #[test]
    fn every_documented_field_parses() {
        let text = r#"
            dataset = "synthetic"
            data_dir = "/data"
            label = "coarse"
            image_size = "32x32"
            skip_bad_images = true
            val_size = 500
            train_limit = 2000
            test_limit = 1000
            augment = "none"
            seed = 7
            threads = 2
            out = "grid-out"
            cache_dir = "cache"
            features = ["raw", "hog,color"]
            models = ["svm", "mlp"]
            batch_size = 100
            momentum = 0.8
            lr_decay = 0.95
            average = false
            [feature_options]
            hog_preset = "cs231n"
            hog_cell_size = 8
            hog_orientations = 9
            hog_block_size = 2
            hog_block_norm = "none"
            hog_binning = "cs231n"
            hog_channel_mode = "gray"
            hog_gradient = "central"
            hog_luma = "cs231n"
            color_mode = "hue"
            color_bins = 10
            gabor_frequencies = [0.1, 0.2]
            gabor_orientations = 4
            gabor_bandwidth = 1.0
            gabor_n_stds = 3.0
            gabor_grid = 2
            kmeans_k = 100
            kmeans_patch_size = 6
            kmeans_patches = 10000
            kmeans_iterations = 5
            [svm]
            lr = [0.001]
            reg = [0.0001]
            epochs = 5
            [softmax]
            lr = [0.01]
            reg = [0.001]
            epochs = 5
            [mlp]
            lr = [0.01]
            reg = [0.00025]
            epochs = 3
            hidden = [50]
            activation = "relu"
            leaky_slope = 0.1
            maxout_pieces = 2
            loss = "softmax"
            optimizer = "momentum"
            lr_schedule = "cosine"
            dropout = 0.1
            patience = 2
        "#;
        let file: ExperimentFile = toml::from_str(text).unwrap();
        assert_eq!(file.feature_options.kmeans_centroids, Some(100));
        assert_eq!(file.mlp.hidden, Some(vec![50]));
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_the_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: CompareArgs,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.toml");
        std::fs::write(
            &path,
            "seed = 7\nval_size = 300\nmodels = [\"svm\", \"mlp\"]\n\
             [svm]\nlr = [0.5]\nsolver = \"sgd\"\nloss = \"hinge\"\n[mlp]\nhidden = [20]\nepochs = 4\n\
             [feature_options]\nkmeans_k = 50\nhog_cell_size = 4\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "x",
            "--config",
            path.to_str().unwrap(),
            "--seed",
            "3",
            "--hog-cell-size",
            "8",
            "--features",
            "hog",
            "--features",
            "kmeans,color",
        ])
        .unwrap();
        let plan = Plan::new(&cli.args).unwrap();
        assert_eq!(plan.data.seed, 3);
        assert_eq!(plan.data.val_size, 300);
        assert_eq!(plan.feature_sets.len(), 2);
        assert_eq!(plan.feature_sets[0].hog.cell_size, 8);
        assert_eq!(plan.feature_sets[1].kmeans.centroids, 50);
        assert_eq!(plan.models.len(), 2);
        assert_eq!(plan.models[0].lr, vec![0.5]);
        assert_eq!(plan.models[0].linear.solver, wb_linear::Solver::Sgd);
        assert_eq!(plan.models[0].linear.loss, wb_linear::LossKind::Hinge);
        assert_eq!(
            plan.models[0].reg,
            train::default_grid(ModelArg::Svm, wb_linear::Solver::Sgd).1
        );
        let mlp = plan.models[1].mlp.as_ref().unwrap();
        assert_eq!(mlp.hidden, vec![20]);
        assert_eq!(mlp.epochs, 4);
        assert_eq!(mlp.seed, 3);
        assert_eq!(plan.out, PathBuf::from("compare-out"));
    }

    #[test]
    fn a_feature_set_section_overrides_its_row_only_and_flags_still_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.toml");
        std::fs::write(
            &path,
            "features = [\"hog\", \"kmeans\", \"hog,color\"]\n\
             [mlp]\nepochs = 4\nhidden = [20]\n\
             [feature_set.kmeans.mlp]\nhidden = [10]\ndropout = 0.5\n\
             [feature_set.\"hog,color\".svm]\niterations = 50\n",
        )
        .unwrap();
        let args = CompareArgs {
            config: Some(path.clone()),
            ..blank()
        };
        let plan = Plan::new(&args).unwrap();
        let mlp_of = |plan: &Plan, i: usize| {
            let models = plan.models_for(&plan.feature_sets[i]);
            let mlp = models.iter().find(|m| m.model == ModelArg::Mlp).unwrap();
            mlp.mlp.clone().unwrap()
        };
        assert_eq!(mlp_of(&plan, 0).hidden, vec![20]);
        assert_eq!(mlp_of(&plan, 1).hidden, vec![10]);
        assert_eq!(mlp_of(&plan, 1).epochs, 4, "unset fields come from [mlp]");
        assert_eq!(mlp_of(&plan, 1).dropout, 0.5);
        assert_eq!(mlp_of(&plan, 2).hidden, vec![20]);
        let svm_iterations =
            |plan: &Plan, i: usize| plan.models_for(&plan.feature_sets[i])[0].linear.iterations;
        assert_eq!(svm_iterations(&plan, 2), 50);
        assert_eq!(svm_iterations(&plan, 0), plan.models[0].linear.iterations);
        assert_ne!(svm_iterations(&plan, 0), 50);

        let flagged = CompareArgs {
            config: Some(path.clone()),
            mlp: MlpArgs {
                hidden: vec![7],
                ..blank().mlp
            },
            ..blank()
        };
        let plan = Plan::new(&flagged).unwrap();
        assert_eq!(mlp_of(&plan, 1).hidden, vec![7]);

        std::fs::write(
            &path,
            "features = [\"hog\"]\n[feature_set.kmeans.mlp]\nepochs = 2\n",
        )
        .unwrap();
        let err = format!("{:#}", Plan::new(&args).unwrap_err());
        assert!(
            err.contains("rows.toml") && err.contains("kmeans") && err.contains("no feature set"),
            "{err}"
        );
        std::fs::write(&path, "[feature_set.raw.mlp]\nepoks = 2\n").unwrap();
        let err = format!("{:#}", Plan::new(&args).unwrap_err());
        assert!(err.contains("epoks"), "{err}");
    }

    #[test]
    fn bad_values_in_the_file_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "models = [\"svm\", \"forest\"]\n").unwrap();
        let args = CompareArgs {
            config: Some(path.clone()),
            ..blank()
        };
        let err = format!("{:#}", Plan::new(&args).unwrap_err());
        assert!(err.contains("bad.toml") && err.contains("forest"), "{err}");
    }

    fn blank() -> CompareArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: CompareArgs,
        }
        Cli::try_parse_from(["x"]).unwrap().args
    }
}
