//! `compare`'s settings: the experiment file (`--config experiment.toml`, deserialised straight
//! into typed settings) and the flags ([`CompareOptions`]), merged into a checked [`Plan`].
//!
//! Every setting can come from the TOML file or a flag; a flag given on the command line wins
//! over the file, and what neither sets takes the defaults of a single run. Unknown fields in
//! the file are an error (a misspelt field must not be silently ignored). docs/experiment-files.md
//! documents every field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer, Serialize};
use wb_data::cifar::Cifar100Label;
use wb_data::{DatasetKind, ResizeMode};
use wb_features::FeatureSpec;
use wb_linear::{ClassWeight, LossKind, Solver};

use crate::data::{parse_image_size, Augment, DataOptions, DataParams};
use crate::feature_options::FeatureOptions;
use crate::options::{named, MlpOptions};
use crate::progress::Reporter;
use crate::train::{self, ModelKind, TrainSettings};
use crate::unused::{unused_options, Given, Unused};

/// The default grid's feature sets: each extractor alone, and HOG with colour (CS231n's pair).
pub const DEFAULT_FEATURE_SETS: &[&str] = &["raw", "color", "hog", "gabor", "kmeans", "hog,color"];

/// The default grid's models.
pub const DEFAULT_MODELS: &[ModelKind] = &[ModelKind::Svm, ModelKind::Softmax, ModelKind::Mlp];

/// What the command line gave (every field optional: unset fields come from the experiment
/// file, then from the defaults).
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// The experiment file (TOML).
    pub config: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    /// Reuse the finished cells of an earlier run with the same settings.
    pub resume: bool,
    /// Feature sets, each a comma list of extractors (`hog,color`).
    pub features: Vec<String>,
    pub models: Vec<ModelKind>,
    pub data: DataOptions,
    /// The data folder when neither the flags nor the file name one (`$PIPELINE_DATA`).
    pub data_dir_fallback: Option<PathBuf>,
    pub threads: Option<usize>,
    pub feature_options: FeatureOptions,
    pub svm: LinearSection,
    pub softmax: LinearSection,
    pub mlp: MlpSection,
    pub batch_size: Option<usize>,
    pub momentum: Option<f64>,
    pub lr_decay: Option<f64>,
    pub average: Option<bool>,
    /// `--class-weight`: every model's per-class loss weights.
    pub class_weight: Option<ClassWeight>,
}

fn image_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(usize, usize)>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|s| parse_image_size(&s).map_err(serde::de::Error::custom))
        .transpose()
}

fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|s| crate::memory::parse_bytes(&s).map_err(serde::de::Error::custom))
        .transpose()
}

fn models<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<ModelKind>>, D::Error> {
    let names: Option<Vec<String>> = Option::deserialize(d)?;
    names
        .map(|names| {
            names
                .iter()
                .map(|n| n.parse::<ModelKind>().map_err(serde::de::Error::custom))
                .collect()
        })
        .transpose()
}

fn svm_loss<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LossKind>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|s| train::parse_svm_loss(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// The experiment file. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    #[serde(default, deserialize_with = "named")]
    pub dataset: Option<DatasetKind>,
    pub data_dir: Option<PathBuf>,
    #[serde(default, deserialize_with = "named")]
    pub label: Option<Cifar100Label>,
    #[serde(default, deserialize_with = "image_size")]
    pub image_size: Option<(usize, usize)>,
    #[serde(default, deserialize_with = "named")]
    pub resize: Option<ResizeMode>,
    pub skip_bad_images: Option<bool>,
    pub test_fraction: Option<f64>,
    pub labels: Option<PathBuf>,
    pub labels_test: Option<PathBuf>,
    /// `"4G"`, `"512M"` (powers of 1024).
    #[serde(default, deserialize_with = "byte_size")]
    pub max_memory: Option<u64>,
    pub val_size: Option<usize>,
    /// Folds of the cross-validation (`--cv`); unset: automatic below 5,000 training images.
    pub cv: Option<usize>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    #[serde(default, deserialize_with = "named")]
    pub augment: Option<Augment>,
    pub seed: Option<u64>,
    pub threads: Option<usize>,
    pub out: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    pub features: Option<Vec<String>>,
    #[serde(default, deserialize_with = "models")]
    pub models: Option<Vec<ModelKind>>,
    pub batch_size: Option<usize>,
    pub momentum: Option<f64>,
    pub lr_decay: Option<f64>,
    pub average: Option<bool>,
    /// `none` or `balanced` (per-class loss weights n / (C · n_c)).
    #[serde(default, deserialize_with = "named")]
    pub class_weight: Option<ClassWeight>,
    #[serde(default)]
    pub feature_options: FeatureOptions,
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
    pub feature_set: BTreeMap<String, ModelSections>,
}

impl ExperimentFile {
    /// Reads and parses `path`; errors name the file and the offending field.
    pub fn read(path: &Path) -> Result<ExperimentFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the experiment file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid experiment file {}", path.display()))
    }

    /// The file's data settings.
    fn data(&self) -> DataOptions {
        DataOptions {
            dataset: self.dataset,
            data_dir: self.data_dir.clone(),
            label: self.label,
            image_size: self.image_size,
            resize: self.resize,
            skip_bad_images: self.skip_bad_images,
            test_fraction: self.test_fraction,
            labels: self.labels.clone(),
            test_labels: self.labels_test.clone(),
            val_size: self.val_size,
            cv: self.cv.map(crate::validation::CvChoice::Folds),
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            augment: self.augment,
            seed: self.seed,
            max_memory: self.max_memory,
        }
    }
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
    fn over(&self, base: &ModelSections) -> ModelSections {
        ModelSections {
            svm: self.svm.over(&base.svm),
            softmax: self.softmax.over(&base.softmax),
            mlp: self.mlp.over(&base.mlp),
        }
    }
}

/// `[svm]` and `[softmax]` (and the flags `--svm-lr`, `--linear-epochs`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSection {
    pub lr: Option<Vec<f64>>,
    pub reg: Option<Vec<f64>>,
    pub epochs: Option<usize>,
    /// `[svm]` only: hinge, squared-hinge or ovr-squared-hinge.
    #[serde(default, deserialize_with = "svm_loss")]
    pub loss: Option<LossKind>,
    /// sgd or lbfgs.
    #[serde(default, deserialize_with = "named")]
    pub solver: Option<Solver>,
    /// L-BFGS iterations per search point.
    pub iterations: Option<usize>,
}

impl LinearSection {
    /// Each field set here, else `base`'s.
    pub fn over(&self, base: &LinearSection) -> LinearSection {
        LinearSection {
            lr: self.lr.clone().or_else(|| base.lr.clone()),
            reg: self.reg.clone().or_else(|| base.reg.clone()),
            epochs: self.epochs.or(base.epochs),
            loss: self.loss.or(base.loss),
            solver: self.solver.or(base.solver),
            iterations: self.iterations.or(base.iterations),
        }
    }
}

/// `[mlp]`: the search grid, epochs, and the MLP's options (as `run --model mlp` takes them).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSection {
    pub lr: Option<Vec<f64>>,
    pub reg: Option<Vec<f64>>,
    pub epochs: Option<usize>,
    pub hidden: Option<Vec<usize>>,
    #[serde(default, deserialize_with = "named")]
    pub activation: Option<wb_mlp::ActivationKind>,
    pub leaky_slope: Option<f64>,
    pub maxout_pieces: Option<usize>,
    #[serde(default, deserialize_with = "crate::options::named_mlp_loss")]
    pub loss: Option<LossKind>,
    #[serde(default, deserialize_with = "named")]
    pub optimizer: Option<wb_mlp::OptimizerKind>,
    #[serde(default, deserialize_with = "named")]
    pub lr_schedule: Option<wb_mlp::Schedule>,
    pub dropout: Option<f64>,
    pub batch_norm: Option<bool>,
    pub patience: Option<usize>,
    /// `augment = "crop-flip"`: the MLP's per-batch augmentation (raw-pixel rows only).
    #[serde(default, deserialize_with = "named")]
    pub augment: Option<wb_mlp::augment::AugmentKind>,
}

impl MlpSection {
    /// The section of a search grid (`lr`, `reg`, `epochs`) and `options`.
    pub fn new(
        lr: Option<Vec<f64>>,
        reg: Option<Vec<f64>>,
        epochs: Option<usize>,
        options: MlpOptions,
    ) -> MlpSection {
        MlpSection {
            lr,
            reg,
            epochs,
            hidden: options.hidden,
            activation: options.activation,
            leaky_slope: options.leaky_slope,
            maxout_pieces: options.maxout_pieces,
            loss: options.loss,
            optimizer: options.optimizer,
            lr_schedule: options.schedule,
            dropout: options.dropout,
            batch_norm: options.batch_norm,
            patience: options.patience,
            augment: options.augment,
        }
    }

    /// The MLP's options of this section.
    pub fn options(&self) -> MlpOptions {
        MlpOptions {
            hidden: self.hidden.clone(),
            activation: self.activation,
            leaky_slope: self.leaky_slope,
            maxout_pieces: self.maxout_pieces,
            loss: self.loss,
            optimizer: self.optimizer,
            schedule: self.lr_schedule,
            dropout: self.dropout,
            batch_norm: self.batch_norm,
            patience: self.patience,
            augment: self.augment,
        }
    }

    /// Each field set here, else `base`'s.
    pub fn over(&self, base: &MlpSection) -> MlpSection {
        MlpSection::new(
            self.lr.clone().or_else(|| base.lr.clone()),
            self.reg.clone().or_else(|| base.reg.clone()),
            self.epochs.or(base.epochs),
            self.options().over(&base.options()),
        )
    }
}

/// A grid to run: everything merged (flags over file over defaults) and checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub data: DataParams,
    pub threads: Option<usize>,
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

/// A non-empty list from the flags, else the file's, else the default.
fn pick_list<T: Clone>(flag: &[T], file: &Option<Vec<T>>, default: Vec<T>) -> Vec<T> {
    if !flag.is_empty() {
        flag.to_vec()
    } else {
        file.clone().unwrap_or(default)
    }
}

impl Plan {
    /// Merges the flags over the experiment file (if any) over the defaults, and checks every
    /// setting before any data is loaded.
    /// Errors name the experiment file when there is one (a value may come from it or from a
    /// flag over it).
    pub fn new(args: &CompareOptions, reporter: &dyn Reporter) -> Result<Plan> {
        let file = match &args.config {
            Some(path) => ExperimentFile::read(path)?,
            None => ExperimentFile::default(),
        };
        Self::merge(args, &file, reporter).map_err(|e| match &args.config {
            Some(path) => e.context(format!(
                "in the experiment file {} (or a flag over it)",
                path.display()
            )),
            None => e,
        })
    }

    fn merge(
        args: &CompareOptions,
        file: &ExperimentFile,
        reporter: &dyn Reporter,
    ) -> Result<Plan> {
        let mut data = args.data.over(&file.data());
        if data.data_dir.is_none() {
            data.data_dir = args.data_dir_fallback.clone();
        }
        let data = data.resolve();

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
            let mut spec =
                FeatureSpec::parse(list).with_context(|| format!("feature set `{list}`"))?;
            feature_options.apply(&mut spec)?;
            if feature_sets.iter().any(|s| s.parts == spec.parts) {
                bail!("feature set `{}` is listed twice", spec.label());
            }
            feature_sets.push(spec);
        }

        let model_kinds = pick_list(&args.models, &file.models, DEFAULT_MODELS.to_vec());
        if model_kinds.is_empty() {
            bail!("no models to compare (`models` is empty)");
        }
        let common = Common {
            batch_size: args
                .batch_size
                .or(file.batch_size)
                .unwrap_or(train::DEFAULT_BATCH_SIZE),
            momentum: args
                .momentum
                .or(file.momentum)
                .unwrap_or(train::DEFAULT_MOMENTUM),
            lr_decay: args
                .lr_decay
                .or(file.lr_decay)
                .unwrap_or(train::DEFAULT_LR_DECAY),
            average: args.average.or(file.average).unwrap_or(true),
            class_weight: args
                .class_weight
                .or(file.class_weight)
                .unwrap_or(ClassWeight::None),
            seed: data.seed,
        };
        let shared = SharedGiven {
            batch_size: args.batch_size.or(file.batch_size).is_some(),
            momentum: args.momentum.or(file.momentum).is_some(),
            lr_decay: args.lr_decay.or(file.lr_decay).is_some(),
            no_average: args.average.or(file.average) == Some(false),
        };
        let mut warnings = Vec::new();
        let flags = ModelSections {
            svm: args.svm.clone(),
            softmax: args.softmax.clone(),
            mlp: args.mlp.clone(),
        };
        let sections = ModelSections {
            svm: file.svm.clone(),
            softmax: file.softmax.clone(),
            mlp: file.mlp.clone(),
        };
        let models = build_models(
            &flags.over(&sections),
            &model_kinds,
            &common,
            &shared,
            &mut warnings,
        )?;
        let mut overrides = Vec::new();
        for (key, section) in &file.feature_set {
            let label = FeatureSpec::parse(key)
                .map(|spec| spec.label())
                .ok()
                .filter(|label| feature_sets.iter().any(|s| &s.label() == label))
                .ok_or_else(|| {
                    let labels: Vec<String> = feature_sets.iter().map(FeatureSpec::label).collect();
                    anyhow::anyhow!(
                        "[feature_set.\"{key}\"] names no feature set of this grid ({})",
                        labels.join(" | ")
                    )
                })?;
            let merged = flags.over(&section.over(&sections));
            let models = build_models(&merged, &model_kinds, &common, &shared, &mut warnings)
                .with_context(|| format!("[feature_set.\"{key}\"]"))?;
            overrides.push((label, models));
        }
        // Each warning once, though every `[feature_set]` row repeats the models.
        let mut told = std::collections::BTreeSet::new();
        for w in warnings {
            if told.insert(w.clone()) {
                reporter.line(&w);
            }
        }

        Ok(Plan {
            data,
            threads: args.threads.or(file.threads),
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
    class_weight: ClassWeight,
    seed: u64,
}

/// Which of the settings shared by every model (flags or top-level fields) were given.
#[derive(Debug, Clone, Copy)]
struct SharedGiven {
    batch_size: bool,
    momentum: bool,
    lr_decay: bool,
    no_average: bool,
}

/// The models' settings from `sections` (flags already merged over the file) over the
/// defaults, each checked. Options that do not apply are told in `warnings`
/// ([`crate::unused`]): a section's option when its model does not use it, a shared one when
/// no model of the grid does, a section whose model is not in the grid.
fn build_models(
    sections: &ModelSections,
    model_kinds: &[ModelKind],
    common: &Common,
    shared: &SharedGiven,
    warnings: &mut Vec<String>,
) -> Result<Vec<TrainSettings>> {
    let Common {
        batch_size,
        momentum,
        lr_decay,
        average,
        class_weight,
        seed,
    } = *common;
    let mut models = Vec::new();
    let mut unused = Vec::new();
    for &model in model_kinds {
        if models.iter().any(|m: &TrainSettings| m.model == model) {
            bail!("model `{}` is listed twice", model.name());
        }
        let linear_section = match model {
            ModelKind::Svm => &sections.svm,
            ModelKind::Softmax => &sections.softmax,
            ModelKind::Mlp => &LinearSection::default(),
        };
        if model == ModelKind::Softmax && linear_section.loss.is_some() {
            bail!("[softmax] has no `loss` (it is the softmax loss; `loss` is for [svm])");
        }
        let linear = train::LinearMethod::default_for(model).with(
            linear_section.loss,
            linear_section.solver,
            linear_section.iterations,
        )?;
        let (default_lr, default_reg) = train::default_grid(model, linear.solver);
        let (lr, reg, epochs) = match model {
            ModelKind::Svm | ModelKind::Softmax => (
                &linear_section.lr,
                &linear_section.reg,
                linear_section.epochs,
            ),
            ModelKind::Mlp => (&sections.mlp.lr, &sections.mlp.reg, sections.mlp.epochs),
        };
        let epochs_given = epochs.is_some();
        let epochs = epochs.unwrap_or(train::default_epochs(model));
        let mlp_options = sections.mlp.options();
        let mlp = if model == ModelKind::Mlp {
            let base = wb_mlp::MlpParams {
                seed,
                batch_size,
                momentum,
                epochs,
                ..wb_mlp::MlpParams::default()
            };
            Some(mlp_options.apply(base)?)
        } else {
            None
        };
        let given_lr = lr.clone().unwrap_or_else(|| default_lr.clone());
        warnings.extend(train::lr_warning(
            &given_lr,
            &default_lr,
            linear.solver,
            model,
        ));
        let settings = TrainSettings {
            model,
            lr: train::lr_grid(&given_lr, default_lr, linear.solver, model),
            reg: reg.clone().unwrap_or(default_reg),
            epochs,
            batch_size,
            momentum,
            lr_decay,
            average,
            seed,
            mlp,
            linear,
            class_weight,
            mlp_augment: mlp_options.augment.unwrap_or_default(),
        };
        settings
            .check()
            .with_context(|| format!("{} settings", model.name()))?;
        let is_mlp = model == ModelKind::Mlp;
        let given = Given {
            epochs: epochs_given,
            batch_size: shared.batch_size,
            momentum: shared.momentum,
            lr_decay: shared.lr_decay,
            no_average: shared.no_average,
            solver: !is_mlp && linear_section.solver.is_some(),
            iterations: !is_mlp && linear_section.iterations.is_some(),
            // The MLP's options live in [mlp] only (a section of a model not in the grid is
            // told below).
            mlp: MlpOptions::default(),
        };
        unused.push((model, unused_options(&given, &settings)));
        models.push(settings);
    }
    // A shared option is told only when no model of the grid uses it.
    const SHARED: [&str; 4] = ["batch_size", "momentum", "lr_decay", "no_average"];
    for field in SHARED {
        let unused_by_all = unused
            .iter()
            .all(|(_, list)| list.iter().any(|u| u.field == field));
        if let (true, Some(u)) = (
            unused_by_all,
            unused
                .iter()
                .flat_map(|(_, l)| l)
                .find(|u| u.field == field),
        ) {
            warnings.push(format!(
                "warning: {} ({}) applies to no model of this grid ({}): ignored",
                u.field_text(),
                u.flag(),
                u.why
            ));
        }
    }
    // `--linear-epochs` and `--linear-iterations` set both linear models: told only when
    // neither linear model of the grid uses them.
    const LINEAR_SHARED: [&str; 2] = ["epochs", "iterations"];
    let linear: Vec<_> = unused
        .iter()
        .filter(|(m, _)| *m != ModelKind::Mlp)
        .collect();
    for field in LINEAR_SHARED {
        let unused_by_all = linear
            .iter()
            .all(|(_, list)| list.iter().any(|u| u.field == field));
        if let (true, Some((model, list))) = (unused_by_all, linear.first()) {
            if let Some(u) = list.iter().find(|u| u.field == field) {
                warnings.push(u.field_warning(*model, " of the linear models"));
            }
        }
    }
    for (model, list) in &unused {
        let told_above = |u: &&Unused| {
            SHARED.contains(&u.field)
                || (*model != ModelKind::Mlp && LINEAR_SHARED.contains(&u.field))
        };
        for u in list.iter().filter(|u| !told_above(u)) {
            warnings.push(u.field_warning(*model, &format!(" in [{}]", model.name())));
        }
    }
    // A linear section's grid, loss or solver (its epochs and iterations may come from the
    // shared `--linear-*` flags).
    let linear_set = |s: &LinearSection| {
        s.lr.is_some() || s.reg.is_some() || s.loss.is_some() || s.solver.is_some()
    };
    let absent = |kind: ModelKind| !model_kinds.contains(&kind);
    for (kind, set) in [
        (ModelKind::Svm, linear_set(&sections.svm)),
        (ModelKind::Softmax, linear_set(&sections.softmax)),
        (ModelKind::Mlp, sections.mlp != MlpSection::default()),
    ] {
        if set && absent(kind) {
            warnings.push(format!(
                "warning: [{0}] (or a --{0}-... flag) is set but the grid has no {0} model: \
                 ignored",
                kind.name()
            ));
        }
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

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
        assert_eq!(file.dataset, Some(DatasetKind::Synthetic));
        assert_eq!(file.label, Some(Cifar100Label::Coarse));
        assert_eq!(file.image_size, Some((32, 32)));
        assert_eq!(file.augment, Some(Augment::None));
        assert_eq!(file.models, Some(vec![ModelKind::Svm, ModelKind::Mlp]));
        assert_eq!(file.mlp.lr_schedule, Some(wb_mlp::Schedule::Cosine));
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.toml");
        std::fs::write(
            &path,
            "seed = 7\nval_size = 300\nmodels = [\"svm\", \"mlp\"]\n\
             [svm]\nlr = [0.5]\nsolver = \"sgd\"\nloss = \"hinge\"\n[mlp]\nhidden = [20]\nepochs = 4\n\
             [feature_options]\nkmeans_k = 50\nhog_cell_size = 4\n",
        )
        .unwrap();
        let args = CompareOptions {
            config: Some(path),
            data: DataOptions {
                seed: Some(3),
                ..DataOptions::default()
            },
            feature_options: FeatureOptions {
                hog_cell_size: Some(8),
                ..FeatureOptions::default()
            },
            features: vec!["hog".into(), "kmeans,color".into()],
            ..CompareOptions::default()
        };
        let plan = Plan::new(&args, &Quiet).unwrap();
        assert_eq!(plan.data.seed, 3);
        assert_eq!(plan.data.val_size, Some(300));
        assert_eq!(plan.feature_sets.len(), 2);
        assert_eq!(plan.feature_sets[0].hog.cell_size, 8);
        assert_eq!(plan.feature_sets[1].kmeans.centroids, 50);
        assert_eq!(plan.models.len(), 2);
        assert_eq!(plan.models[0].lr, vec![0.5]);
        assert_eq!(plan.models[0].linear.solver, wb_linear::Solver::Sgd);
        assert_eq!(plan.models[0].linear.loss, wb_linear::LossKind::Hinge);
        assert_eq!(
            plan.models[0].reg,
            train::default_grid(ModelKind::Svm, wb_linear::Solver::Sgd).1
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
        let args = CompareOptions {
            config: Some(path.clone()),
            ..CompareOptions::default()
        };
        let plan = Plan::new(&args, &Quiet).unwrap();
        let mlp_of = |plan: &Plan, i: usize| {
            let models = plan.models_for(&plan.feature_sets[i]);
            let mlp = models.iter().find(|m| m.model == ModelKind::Mlp).unwrap();
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

        let flagged = CompareOptions {
            config: Some(path.clone()),
            mlp: MlpSection {
                hidden: Some(vec![7]),
                ..MlpSection::default()
            },
            ..CompareOptions::default()
        };
        let plan = Plan::new(&flagged, &Quiet).unwrap();
        assert_eq!(mlp_of(&plan, 1).hidden, vec![7]);

        std::fs::write(
            &path,
            "features = [\"hog\"]\n[feature_set.kmeans.mlp]\nepochs = 2\n",
        )
        .unwrap();
        let err = format!("{:#}", Plan::new(&args, &Quiet).unwrap_err());
        assert!(
            err.contains("rows.toml") && err.contains("kmeans") && err.contains("no feature set"),
            "{err}"
        );
        std::fs::write(&path, "[feature_set.raw.mlp]\nepoks = 2\n").unwrap();
        let err = format!("{:#}", Plan::new(&args, &Quiet).unwrap_err());
        assert!(err.contains("epoks"), "{err}");
    }

    #[test]
    fn bad_values_in_the_file_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "models = [\"svm\", \"forest\"]\n").unwrap();
        let args = CompareOptions {
            config: Some(path.clone()),
            ..CompareOptions::default()
        };
        let err = format!("{:#}", Plan::new(&args, &Quiet).unwrap_err());
        assert!(err.contains("bad.toml") && err.contains("forest"), "{err}");
    }
}
