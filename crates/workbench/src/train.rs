//! Training with a validation search, shared by `pipeline run` (one model) and
//! `pipeline compare` (a grid of feature sets x models).
//!
//! Every (learning rate, L2 strength) pair of the search grid is trained on the training split
//! and the model with the best validation accuracy is kept (never chosen on test). Linear
//! models train the whole grid in one pass over the data (`LinearModel::fit_grid`); MLPs train
//! one point after another.
//!
//! With cross-validation ([`Held::Folds`], scikit-learn's `GridSearchCV` semantics) every point
//! is trained on K−1 folds and scored on the held-out one, K times; the mean fold accuracy
//! picks the setting (ties: the first in grid order), then one model is refitted on all
//! training rows with it. There is no validation split left to stop on, so the refit trains
//! for the chosen point's best epoch (SGD, MLP) or iteration (L-BFGS) averaged over the folds
//! and rounded. The features and their scaler are fitted once on all training rows, before the
//! folds are split: a small leak of the held-out fold's statistics into the scaler (and a
//! k-means dictionary) that scikit-learn's `Pipeline` would avoid, negligible next to the
//! spread between folds and much cheaper than re-extracting features K times.

use std::time::Instant;

use anyhow::{Context, Result};
use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use wb_data::{Fold, ImageShape};
use wb_features::FeatureSpec;
use wb_linear::rows::Rows;
use wb_linear::{ClassWeight, EpochStats, Labeled, LinearModel, LinearParams, LossKind, Solver};
use wb_mlp::augment::AugmentKind;

use crate::options::MlpOptions;
use crate::progress::{Quiet, Reporter};

/// A trained classifier of any kind.
pub enum Classifier {
    Linear(LinearModel),
    Mlp(wb_mlp::Mlp),
}

impl Classifier {
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Vec<usize> {
        match self {
            Classifier::Linear(m) => m.predict(x),
            Classifier::Mlp(m) => m.predict(x),
        }
    }

    /// [`Classifier::predict`] of rows that may be decoded as read (a block at a time).
    pub fn predict_rows(&self, x: Rows<'_>) -> Vec<usize> {
        x.map_blocks(&mut |block| self.predict(block))
    }
}

/// The three classifiers of the lecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Multiclass linear SVM (by default Coates et al.'s one-vs-rest L2-SVM), L2 on W.
    Svm,
    /// Softmax (multinomial logistic) regression, L2 on W.
    Softmax,
    /// Fully connected network trained by backpropagation.
    Mlp,
}

impl ModelKind {
    pub const ALL: [ModelKind; 3] = [ModelKind::Svm, ModelKind::Softmax, ModelKind::Mlp];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Svm => "svm",
            ModelKind::Softmax => "softmax",
            ModelKind::Mlp => "mlp",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|m| m.name() == norm)
            .ok_or_else(|| format!("unknown model `{s}` (valid: svm, softmax, mlp)"))
    }
}

/// An SVM loss by name: hinge (or svm), squared-hinge or ovr-squared-hinge.
pub fn parse_svm_loss(name: &str) -> Result<LossKind, String> {
    let loss = LossKind::parse(name).ok_or_else(|| {
        format!("unknown SVM loss `{name}` (valid: hinge, squared-hinge, ovr-squared-hinge)")
    })?;
    if !loss.is_svm() {
        return Err(format!(
            "`{name}` is not an SVM loss (valid: hinge, squared-hinge, ovr-squared-hinge)"
        ));
    }
    Ok(loss)
}

/// One point of the validation search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    pub lr: f64,
    pub reg: f64,
    /// NaN (`null` in JSON) when the point diverged.
    #[serde(deserialize_with = "null_as_nan")]
    pub train_accuracy: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub val_accuracy: f64,
    /// Training time of this point (the grid trains together; its time is split evenly).
    pub seconds: f64,
    /// Why this point has no model: its loss became NaN or infinite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged: Option<Divergence>,
    /// The epoch (SGD, MLP) or L-BFGS iteration whose model was kept, the best on validation;
    /// with cross-validation the mean over the folds, rounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// Cross-validation: the accuracy on each held-out fold, in fold order (`val_accuracy` is
    /// their mean, `train_accuracy` the mean over the folds' training sides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fold_val_accuracy: Vec<f64>,
}

/// A grid point whose training diverged: recorded in the search table and skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// The epoch (L-BFGS: the iteration, 0 = at the starting point) whose loss was not finite.
    pub epoch: usize,
    /// The loss (NaN or infinite; `null` in JSON).
    #[serde(deserialize_with = "null_as_nan")]
    pub loss: f64,
    /// The learning rate in effect then (0 for L-BFGS, which has none).
    pub learning_rate: f64,
    /// The trainer's message, with its advice.
    pub message: String,
}

impl Divergence {
    /// The divergence a linear model's training reports, if that is what `e` is.
    pub fn of_linear(e: &wb_linear::LinearError) -> Option<Divergence> {
        let (epoch, loss, learning_rate) = match *e {
            wb_linear::LinearError::Diverged { epoch, loss, lr } => (epoch, loss, lr),
            wb_linear::LinearError::NonFiniteObjective(loss) => (0, loss, 0.0),
            _ => return None,
        };
        Some(Divergence {
            epoch,
            loss,
            learning_rate,
            message: e.to_string(),
        })
    }

    /// The divergence an MLP's training reports, if that is what `e` is.
    pub fn of_mlp(e: &wb_mlp::MlpError) -> Option<Divergence> {
        match *e {
            wb_mlp::MlpError::Diverged {
                epoch,
                loss,
                learning_rate,
            } => Some(Divergence {
                epoch,
                loss,
                learning_rate,
                message: e.to_string(),
            }),
            _ => None,
        }
    }
}

/// JSON has no NaN (serde_json writes `null`): read `null` back as NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The bookkeeping of a validation search, one path for every model (in memory or streamed):
/// a trained point is kept when its validation accuracy is the best so far; a diverged point
/// is told, recorded in the search table and skipped. The search fails only when every point
/// diverged, with the first divergence's message (its epoch and the advice to lower the
/// learning rate).
pub(crate) struct Search<'r, M> {
    model: ModelKind,
    reporter: &'r dyn Reporter,
    points: Vec<GridPoint>,
    /// The best model so far and its index in `points`.
    best: Option<(M, usize)>,
}

impl<'r, M> Search<'r, M> {
    pub(crate) fn new(model: ModelKind, reporter: &'r dyn Reporter) -> Self {
        Search {
            model,
            reporter,
            points: Vec::new(),
            best: None,
        }
    }

    /// A point that trained: `model` is kept if `point` is the best on validation so far.
    pub(crate) fn trained(&mut self, model: M, point: GridPoint) {
        self.reporter.line(&format!(
            "  lr {:<8} reg {:<8} train {:.4} val {:.4} ({:.1}s)",
            crate::report::show_lr(point.lr),
            point.reg,
            point.train_accuracy,
            point.val_accuracy,
            point.seconds
        ));
        let better = self
            .best
            .as_ref()
            .is_none_or(|(_, b)| point.val_accuracy > self.points[*b].val_accuracy);
        if better {
            self.best = Some((model, self.points.len()));
        }
        self.points.push(point);
    }

    /// A point whose training diverged: recorded, told and skipped.
    pub(crate) fn diverged(&mut self, lr: f64, reg: f64, seconds: f64, divergence: Divergence) {
        self.reporter.line(&format!(
            "  lr {:<8} reg {:<8} diverged, skipped: {}",
            crate::report::show_lr(lr),
            reg,
            divergence.message
        ));
        self.points.push(GridPoint {
            lr,
            reg,
            train_accuracy: f64::NAN,
            val_accuracy: f64::NAN,
            seconds,
            diverged: Some(divergence),
            best_epoch: None,
            fold_val_accuracy: Vec::new(),
        });
    }

    /// The chosen model, its point, and every point tried.
    pub(crate) fn finish(self) -> Result<(M, GridPoint, Vec<GridPoint>)> {
        match self.best {
            Some((model, i)) => {
                let chosen = self.points[i].clone();
                Ok((model, chosen, self.points))
            }
            None => {
                let first = self.points.iter().find_map(|p| p.diverged.as_ref());
                match first {
                    Some(d) => anyhow::bail!(
                        "every one of the {} points of the {} search diverged; the first: {}",
                        self.points.len(),
                        self.model.name(),
                        d.message
                    ),
                    None => anyhow::bail!("the search grid is empty"),
                }
            }
        }
    }
}

/// One epoch of the chosen model's training, whatever the model (for learning curves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub epoch: usize,
    pub loss: f64,
    pub train_accuracy: f64,
    pub val_accuracy: Option<f64>,
}

/// What a search gives: the chosen model, every point tried, and the chosen model's history.
pub struct Trained {
    pub model: Classifier,
    pub search: Vec<GridPoint>,
    /// The chosen model's per-epoch history, as the model's crate reports it.
    pub history: serde_json::Value,
    pub curve: Vec<CurvePoint>,
    pub chosen: GridPoint,
    /// With cross-validation: the folds and the refit.
    pub cross_validation: Option<CrossValidation>,
}

/// What a cross-validated search did (recorded in `results.json` and the report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    pub folds: usize,
    /// Training and held-out rows of each fold (training rows include augmented copies).
    pub fold_sizes: Vec<[usize; 2]>,
    /// Epochs (SGD, MLP) or iterations (L-BFGS) of the refit on all training rows.
    pub refit_epochs: usize,
    /// `"epochs"` or `"iterations"`.
    pub refit_unit: String,
}

/// Everything that decides how one model is trained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSettings {
    pub model: ModelKind,
    /// Learning rates searched.
    pub lr: Vec<f64>,
    /// L2 strengths λ searched.
    pub reg: Vec<f64>,
    pub epochs: usize,
    pub batch_size: usize,
    pub momentum: f64,
    /// Linear models: learning-rate multiplier applied after each epoch.
    pub lr_decay: f64,
    /// Linear models: each epoch's average of SGD iterates (else the last iterate).
    pub average: bool,
    pub seed: u64,
    /// The MLP's parameters (its `learning_rate` and `reg` are replaced by each grid point);
    /// `Some` exactly when `model` is `mlp`.
    pub mlp: Option<wb_mlp::MlpParams>,
    /// Linear models: loss and solver.
    pub linear: LinearMethod,
    /// Per-class loss weights of every model ([`ClassWeight::Balanced`]: `n / (C · n_c)`).
    pub class_weight: ClassWeight,
    /// The MLP's augmentation of each mini-batch, by name; sized to the images (and checked
    /// against the features) by [`TrainSettings::for_images`] once the data is loaded.
    pub mlp_augment: AugmentKind,
}

/// How a linear model is trained: its loss and its solver.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinearMethod {
    pub loss: LossKind,
    pub solver: Solver,
    /// L-BFGS: iterations per point of the search.
    pub iterations: usize,
}

impl LinearMethod {
    /// The defaults of each model. The SVM is Coates, Lee & Ng's (2011) L2-SVM: one-vs-rest
    /// squared hinge trained to convergence by L-BFGS — on CIFAR-10 it beats the lecture's
    /// hinge trained by SGD on raw pixels (0.414 vs 0.404) and on k-means features, where the
    /// solver matters most (BENCHMARKS.md). The lecture's SVM is `--svm-loss hinge --solver sgd`.
    /// Softmax keeps the lecture's mini-batch SGD (its optimum is reached in 20 epochs).
    pub fn default_for(model: ModelKind) -> Self {
        match model {
            ModelKind::Svm => LinearMethod {
                loss: LossKind::OvrSquaredHinge,
                solver: Solver::Lbfgs,
                iterations: DEFAULT_LBFGS_ITERATIONS,
            },
            ModelKind::Softmax | ModelKind::Mlp => LinearMethod {
                loss: LossKind::Softmax,
                solver: Solver::Sgd,
                iterations: DEFAULT_LBFGS_ITERATIONS,
            },
        }
    }

    /// This method with the options given (`None` keeps the default).
    pub fn with(
        mut self,
        loss: Option<LossKind>,
        solver: Option<Solver>,
        iterations: Option<usize>,
    ) -> Result<Self> {
        if let Some(loss) = loss {
            if !loss.is_svm() {
                anyhow::bail!(
                    "`{}` is not an SVM loss (valid: hinge, squared-hinge, ovr-squared-hinge)",
                    loss.name()
                );
            }
            self.loss = loss;
        }
        if let Some(solver) = solver {
            self.solver = solver;
        }
        if let Some(n) = iterations {
            self.iterations = n;
        }
        Ok(self)
    }
}

/// L-BFGS iterations per search point: enough for the k-means features' 6,400 dimensions to
/// settle (BENCHMARKS.md); small problems stop earlier on the gradient tolerance.
pub const DEFAULT_LBFGS_ITERATIONS: usize = 300;

/// The default search grid of each model: learning rates and L2 strengths. The linear grids
/// are centred on the best rates measured on CIFAR-10 (BENCHMARKS.md); the MLP's defaults are
/// tuned once (`MlpParams::default()`), so its grid is that single point.
///
/// L-BFGS has no learning rate (its grid has the single placeholder 0, shown as `-`); its L2
/// grid holds the best λ of raw pixels (1e-3) and of the 6,400 k-means features (1e-4).
pub fn default_grid(model: ModelKind, solver: Solver) -> (Vec<f64>, Vec<f64>) {
    if solver == Solver::Lbfgs && model != ModelKind::Mlp {
        return (vec![0.0], vec![1e-3, 1e-4]);
    }
    match model {
        ModelKind::Svm => (vec![3e-4, 1e-3, 3e-3], vec![1e-4, 1e-3]),
        ModelKind::Softmax => (vec![1e-2, 3e-2, 1e-1], vec![1e-4, 1e-3]),
        ModelKind::Mlp => {
            let mlp = wb_mlp::MlpParams::default();
            (vec![mlp.learning_rate], vec![mlp.reg])
        }
    }
}

/// Default training epochs of each model.
pub fn default_epochs(model: ModelKind) -> usize {
    match model {
        ModelKind::Mlp => wb_mlp::MlpParams::default().epochs,
        ModelKind::Svm | ModelKind::Softmax => 20,
    }
}

/// The learning rates to search: L-BFGS has none (a given list is ignored, see
/// [`lr_warning`], so that it does not solve the same problem once per rate), SGD the list
/// given or the default.
pub fn lr_grid(given: &[f64], default: Vec<f64>, solver: Solver, model: ModelKind) -> Vec<f64> {
    if solver == Solver::Lbfgs && model != ModelKind::Mlp {
        return vec![0.0];
    }
    or_default(given, default)
}

/// The warning for learning rates given to a model trained by L-BFGS, which ignores them.
pub fn lr_warning(
    given: &[f64],
    default: &[f64],
    solver: Solver,
    model: ModelKind,
) -> Option<String> {
    (solver == Solver::Lbfgs && model != ModelKind::Mlp && !given.is_empty() && given != default)
        .then(|| {
            format!(
                "warning: {} trains by L-BFGS, which has no learning rate: the given learning \
                 rates are ignored (use --solver sgd to search them)",
                model.name()
            )
        })
}

/// `given` if not empty, else `default`.
pub fn or_default(given: &[f64], default: Vec<f64>) -> Vec<f64> {
    if given.is_empty() {
        default
    } else {
        given.to_vec()
    }
}

/// Mini-batch size of every model unless set.
pub const DEFAULT_BATCH_SIZE: usize = 200;
/// SGD momentum of every model unless set.
pub const DEFAULT_MOMENTUM: f64 = 0.9;
/// Linear models: learning-rate factor per epoch unless set.
pub const DEFAULT_LR_DECAY: f64 = 0.9;

/// How one model should be trained, as given (`pipeline run`'s options); what is not given
/// takes the model's defaults in [`TrainSettings::from_options`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub model: ModelKind,
    pub epochs: Option<usize>,
    /// Mini-batch size (default [`DEFAULT_BATCH_SIZE`]).
    pub batch_size: Option<usize>,
    pub mlp: MlpOptions,
    /// Learning rates to search (empty: the model's grid).
    pub lr: Vec<f64>,
    /// L2 strengths to search (empty: the model's grid).
    pub reg: Vec<f64>,
    /// SGD momentum (default [`DEFAULT_MOMENTUM`]).
    pub momentum: Option<f64>,
    /// Linear models' SGD: learning-rate factor per epoch (default [`DEFAULT_LR_DECAY`]).
    pub lr_decay: Option<f64>,
    /// Linear models: average each epoch's SGD iterates (`false`: `--no-average`).
    pub average: bool,
    pub svm_loss: Option<LossKind>,
    pub solver: Option<Solver>,
    pub iterations: Option<usize>,
    /// `--class-weight`: every model's per-class loss weights.
    pub class_weight: ClassWeight,
}

impl TrainOptions {
    /// The defaults of `model`.
    pub fn new(model: ModelKind) -> TrainOptions {
        TrainOptions {
            model,
            epochs: None,
            batch_size: None,
            mlp: MlpOptions::default(),
            lr: Vec::new(),
            reg: Vec::new(),
            momentum: None,
            lr_decay: None,
            average: true,
            svm_loss: None,
            solver: None,
            iterations: None,
            class_weight: ClassWeight::None,
        }
    }
}

impl TrainSettings {
    /// The settings of `options`, each model's defaults where nothing was given; `seed` seeds
    /// initialisation and shuffling. Checked before any data is loaded.
    pub fn from_options(options: &TrainOptions, seed: u64) -> Result<TrainSettings> {
        let model = options.model;
        let linear = LinearMethod::default_for(model).with(
            options.svm_loss,
            options.solver,
            options.iterations,
        )?;
        if options.svm_loss.is_some() && model != ModelKind::Svm {
            anyhow::bail!("--svm-loss applies to --model svm only");
        }
        let (default_lr, default_reg) = default_grid(model, linear.solver);
        let epochs = options.epochs.unwrap_or(default_epochs(model));
        let batch_size = options.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        let momentum = options.momentum.unwrap_or(DEFAULT_MOMENTUM);
        let mlp = if model == ModelKind::Mlp {
            let base = wb_mlp::MlpParams {
                seed,
                batch_size,
                momentum,
                epochs,
                class_weight: options.class_weight,
                ..wb_mlp::MlpParams::default()
            };
            Some(options.mlp.apply(base)?)
        } else {
            None
        };
        let settings = TrainSettings {
            model,
            lr: lr_grid(&options.lr, default_lr, linear.solver, model),
            reg: or_default(&options.reg, default_reg),
            epochs,
            batch_size,
            momentum,
            lr_decay: options.lr_decay.unwrap_or(DEFAULT_LR_DECAY),
            average: options.average,
            seed,
            mlp,
            linear,
            class_weight: options.class_weight,
            mlp_augment: options.mlp.augment.unwrap_or_default(),
        };
        settings.check()?;
        Ok(settings)
    }

    /// These settings for features `spec` of images of `shape`: the MLP's named augmentation
    /// ([`TrainSettings::mlp_augment`]) becomes its [`wb_mlp::MlpParams::augment`] for this image
    /// size. It moves pixels, so it needs raw pixels as the only features: with other
    /// features `run` refuses (`strict`), while `compare` trains that row without it (and its
    /// cell settings say so).
    pub fn for_images(
        &self,
        spec: &FeatureSpec,
        shape: ImageShape,
        strict: bool,
    ) -> Result<TrainSettings> {
        if strict {
            self.check_augment_features(spec)?;
        }
        let mut out = self.clone();
        if let Some(mlp) = out.mlp.as_mut().filter(|_| spec.is_raw_pixels()) {
            mlp.augment = self
                .mlp_augment
                .for_image(shape.height, shape.width, shape.channels);
            if let Some(a) = &mlp.augment {
                a.check(shape.len())?;
            }
        }
        Ok(out)
    }

    /// Whether an MLP is trained with a per-batch augmentation.
    pub fn augments_mlp_batches(&self) -> bool {
        self.mlp.is_some() && self.mlp_augment != AugmentKind::None
    }

    /// Refuses the MLP's augmentation with features other than raw pixels (before any data is
    /// loaded; see [`TrainSettings::for_images`]).
    pub fn check_augment_features(&self, spec: &FeatureSpec) -> Result<()> {
        if self.augments_mlp_batches() && !spec.is_raw_pixels() {
            anyhow::bail!(
                "--mlp-augment {} moves and mirrors pixels, so it needs --features raw (the \
                 features here are `{}`); for other features augment the images with --augment \
                 flip or shift",
                self.mlp_augment.name(),
                spec.label()
            );
        }
        Ok(())
    }

    /// Rejects bad hyper-parameters (every grid point), before any data is loaded.
    pub fn check(&self) -> Result<()> {
        if self.lr.is_empty() || self.reg.is_empty() {
            anyhow::bail!(
                "{}: the search grid is empty (give at least one lr and one reg)",
                self.model.name()
            );
        }
        for (lr, reg) in self.points() {
            match &self.mlp {
                Some(base) => wb_mlp::MlpParams {
                    learning_rate: lr,
                    reg,
                    ..base.clone()
                }
                .check()?,
                None => self.linear_params(lr, reg).check()?,
            }
        }
        Ok(())
    }

    /// Every (lr, reg) pair of the grid, lr-major.
    pub fn points(&self) -> Vec<(f64, f64)> {
        self.lr
            .iter()
            .flat_map(|&lr| self.reg.iter().map(move |&reg| (lr, reg)))
            .collect()
    }

    pub(crate) fn linear_params(&self, lr: f64, reg: f64) -> LinearParams {
        LinearParams {
            loss: match self.model {
                ModelKind::Svm => self.linear.loss,
                ModelKind::Softmax | ModelKind::Mlp => LossKind::Softmax,
            },
            learning_rate: lr,
            reg,
            epochs: self.epochs,
            batch_size: self.batch_size,
            momentum: self.momentum,
            lr_decay: self.lr_decay,
            average: self.average,
            seed: self.seed,
            solver: self.linear.solver,
            iterations: self.linear.iterations,
            class_weight: self.class_weight,
        }
    }
}

/// The training data of a search and what scores its points.
pub struct SearchData<'a> {
    /// Dense for every model; decoded as read ([`Rows::Source`]) only for full-batch L-BFGS
    /// with a validation split.
    pub x_train: Rows<'a>,
    pub y_train: &'a [usize],
    pub held: Held<'a>,
    pub n_classes: usize,
}

/// What a search scores its points on.
pub enum Held<'a> {
    /// A validation split.
    Split {
        x: ArrayView2<'a, f32>,
        y: &'a [usize],
    },
    /// Folds of the training rows (indices into `x_train`): cross-validation.
    Folds(&'a [Fold]),
}

impl<'a> Held<'a> {
    /// The validation split, or the folds of [`crate::validation::folds`] when the data's
    /// validation is cross-validation (their warnings go to `reporter`).
    pub fn of(
        info: &crate::data::DataInfo,
        x_val: ArrayView2<'a, f32>,
        y_val: &'a [usize],
        folds: &'a Option<Vec<Fold>>,
    ) -> Held<'a> {
        match (&info.validation, folds) {
            (crate::validation::Validation::CrossValidation { .. }, Some(folds)) => {
                Held::Folds(folds)
            }
            _ => Held::Split { x: x_val, y: y_val },
        }
    }
}

/// The folds of the training split when `info`'s validation is cross-validation (warnings to
/// `reporter`), else `None`.
pub fn folds_for(
    info: &crate::data::DataInfo,
    y_train: &[usize],
    seed: u64,
    reporter: &dyn Reporter,
) -> Result<Option<Vec<Fold>>> {
    let Some(k) = info.validation.folds() else {
        return Ok(None);
    };
    let (folds, warnings) =
        crate::validation::folds(y_train, info.n_classes, k, info.train_copies(), seed)?;
    for w in warnings {
        reporter.line(&format!("warning: {w}"));
    }
    Ok(Some(folds))
}

/// The training rows as a dense matrix, for `what` (a step that reads them in ways other than
/// full-batch L-BFGS does).
fn dense<'a>(x: Rows<'a>, what: &str) -> Result<ArrayView2<'a, f32>> {
    x.dense().with_context(|| {
        format!("{what} needs the training features as a dense matrix (internal error: they were kept compact)")
    })
}

/// A training split and its validation split: what one hold-out search sees.
struct HoldOut<'a> {
    x_train: Rows<'a>,
    y_train: &'a [usize],
    x_val: ArrayView2<'a, f32>,
    y_val: &'a [usize],
    n_classes: usize,
}

/// How much a search tells while it runs, through `reporter`: one line per grid point, and when
/// `verbose` a progress stage for the search and a line per epoch (`pipeline run`; `pipeline
/// compare` draws its own bar and is not verbose).
pub struct Chatter<'a> {
    pub verbose: bool,
    pub reporter: &'a dyn Reporter,
}

/// Trains every point of the settings' grid and keeps the best on validation (the mean fold
/// accuracy with cross-validation, then refitted on all training rows).
pub fn train(
    settings: &TrainSettings,
    data: &SearchData<'_>,
    chatter: &Chatter<'_>,
) -> Result<Trained> {
    match data.held {
        Held::Split { x, y } => search_hold_out(
            settings,
            &HoldOut {
                x_train: data.x_train,
                y_train: data.y_train,
                x_val: x,
                y_val: y,
                n_classes: data.n_classes,
            },
            chatter,
        ),
        Held::Folds(folds) => train_cross_validated(settings, data, folds, chatter),
    }
}

fn search_hold_out(
    settings: &TrainSettings,
    data: &HoldOut<'_>,
    chatter: &Chatter<'_>,
) -> Result<Trained> {
    match &settings.mlp {
        Some(base) => train_mlp(settings, base, data, chatter),
        None => train_linear(settings, data, chatter),
    }
}

/// Mean of `values` (NaN when empty).
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// GridSearchCV: every point on every fold, the best mean fold accuracy (first on ties), a
/// refit on all training rows (see the module docs).
fn train_cross_validated(
    settings: &TrainSettings,
    data: &SearchData<'_>,
    folds: &[Fold],
    chatter: &Chatter<'_>,
) -> Result<Trained> {
    let k = folds.len();
    let quiet = Chatter {
        verbose: false,
        reporter: &Quiet,
    };
    let progress = chatter
        .verbose
        .then(|| chatter.reporter.start("cross-validate", k as u64));
    let x_all = dense(data.x_train, "cross-validation")?;
    let mut per_fold: Vec<Vec<GridPoint>> = Vec::with_capacity(k);
    for (f, fold) in folds.iter().enumerate() {
        let x_train = x_all.select(Axis(0), &fold.train);
        let y_train: Vec<usize> = fold.train.iter().map(|&i| data.y_train[i]).collect();
        let x_val = x_all.select(Axis(0), &fold.val);
        let y_val: Vec<usize> = fold.val.iter().map(|&i| data.y_train[i]).collect();
        let fitted = search_hold_out(
            settings,
            &HoldOut {
                x_train: x_train.view().into(),
                y_train: &y_train,
                x_val: x_val.view(),
                y_val: &y_val,
                n_classes: data.n_classes,
            },
            &quiet,
        )
        .with_context(|| format!("cross-validation fold {} of {k}", f + 1))?;
        let line = format!(
            "  fold {}/{k}: {} train, {} held out; best held-out accuracy {:.4}",
            f + 1,
            fold.train.len(),
            fold.val.len(),
            fitted.chosen.val_accuracy
        );
        match &progress {
            Some(p) => {
                p.inc(1);
                p.line(&line);
            }
            None => chatter.reporter.line(&line),
        }
        per_fold.push(fitted.search);
    }
    if let Some(p) = &progress {
        p.finish();
    }
    let mut points = Vec::new();
    for (p, (lr, reg)) in settings.points().into_iter().enumerate() {
        let of_point: Vec<&GridPoint> = per_fold.iter().map(|s| &s[p]).collect();
        let diverged = of_point.iter().find_map(|g| g.diverged.clone());
        let fold_val_accuracy: Vec<f64> = of_point.iter().map(|g| g.val_accuracy).collect();
        let best_epochs: Vec<usize> = of_point.iter().filter_map(|g| g.best_epoch).collect();
        let best_epoch = (!best_epochs.is_empty())
            .then(|| (mean(best_epochs.iter().map(|&e| e as f64)).round() as usize).max(1));
        let point = GridPoint {
            lr,
            reg,
            train_accuracy: mean(of_point.iter().map(|g| g.train_accuracy)),
            val_accuracy: if diverged.is_some() {
                f64::NAN
            } else {
                mean(fold_val_accuracy.iter().copied())
            },
            seconds: of_point.iter().map(|g| g.seconds).sum(),
            diverged,
            best_epoch,
            fold_val_accuracy,
        };
        let folds_text: Vec<String> = point
            .fold_val_accuracy
            .iter()
            .map(|a| format!("{a:.4}"))
            .collect();
        chatter.reporter.line(&format!(
            "  lr {:<8} reg {:<8} folds {}  mean {:.4}{}",
            crate::report::show_lr(lr),
            reg,
            folds_text.join(" "),
            point.val_accuracy,
            point
                .diverged
                .as_ref()
                .map(|d| format!("  (diverged: {})", d.message))
                .unwrap_or_default()
        ));
        points.push(point);
    }
    let chosen = best_point(&points).cloned().ok_or_else(|| {
        anyhow::anyhow!(
            "every point of the search diverged on some fold while training {}",
            settings.model.name()
        )
    })?;
    let (model, history, curve, refit_epochs) = refit(settings, &chosen, data, chatter)?;
    let refit_unit = if settings.mlp.is_none() && settings.linear.solver == Solver::Lbfgs {
        "iterations"
    } else {
        "epochs"
    };
    chatter.reporter.line(&format!(
        "  refit on all {} training rows: lr {} reg {} for {refit_epochs} {refit_unit}",
        data.x_train.nrows(),
        crate::report::show_lr(chosen.lr),
        chosen.reg
    ));
    Ok(Trained {
        model,
        search: points,
        history,
        curve,
        chosen,
        cross_validation: Some(CrossValidation {
            folds: k,
            fold_sizes: folds.iter().map(|f| [f.train.len(), f.val.len()]).collect(),
            refit_epochs,
            refit_unit: refit_unit.into(),
        }),
    })
}

type Refit = (Classifier, serde_json::Value, Vec<CurvePoint>, usize);

/// The point with the best validation accuracy, the first in grid order on ties; diverged
/// points are never chosen.
fn best_point(points: &[GridPoint]) -> Option<&GridPoint> {
    points
        .iter()
        .filter(|p| p.diverged.is_none() && p.val_accuracy.is_finite())
        .fold(None::<&GridPoint>, |best, p| match best {
            Some(b) if p.val_accuracy <= b.val_accuracy => Some(b),
            _ => Some(p),
        })
}

/// The chosen point trained on every training row, for its best epoch (or iteration) count.
fn refit(
    settings: &TrainSettings,
    chosen: &GridPoint,
    data: &SearchData<'_>,
    chatter: &Chatter<'_>,
) -> Result<Refit> {
    let progress_line = |line: String| {
        if chatter.verbose {
            chatter.reporter.line(&line);
        }
    };
    let x_train = dense(data.x_train, "refitting")?;
    match &settings.mlp {
        Some(base) => {
            let epochs = chosen.best_epoch.unwrap_or(base.epochs).max(1);
            let params = wb_mlp::MlpParams {
                learning_rate: chosen.lr,
                reg: chosen.reg,
                epochs,
                patience: None,
                ..base.clone()
            };
            let (model, history) = wb_mlp::fit(
                &params,
                x_train,
                data.y_train,
                data.n_classes,
                None,
                &mut |stats| {
                    progress_line(format!(
                        "  refit epoch {:>3}  loss {:.4}  train {:.4}",
                        stats.epoch, stats.loss, stats.train_accuracy
                    ))
                },
            )
            .map_err(|e| anyhow::anyhow!("refitting the MLP on all training images: {e}"))?;
            // Trained without a validation split: the curve's validation accuracies are None.
            let curve = mlp_curve(&history);
            Ok((
                Classifier::Mlp(model),
                serde_json::to_value(history)?,
                curve,
                epochs,
            ))
        }
        None => {
            let mut params = settings.linear_params(chosen.lr, chosen.reg);
            let epochs = if params.solver == Solver::Lbfgs {
                params.iterations = chosen.best_epoch.unwrap_or(params.iterations).max(1);
                params.iterations
            } else {
                params.epochs = chosen.best_epoch.unwrap_or(params.epochs).max(1);
                params.epochs
            };
            let (model, history) = LinearModel::fit(
                &params,
                Labeled {
                    x: x_train,
                    y: data.y_train,
                },
                None,
                data.n_classes,
                &mut |_| {},
            )
            .context("refitting on all training images")?;
            let curve = linear_curve(&history);
            Ok((
                Classifier::Linear(model),
                serde_json::to_value(history)?,
                curve,
                epochs,
            ))
        }
    }
}

/// Trains one MLP per (lr, reg) point, sequentially, keeping the best on validation; a point
/// that diverges is recorded and skipped ([`Search`]).
fn train_mlp(
    settings: &TrainSettings,
    base: &wb_mlp::MlpParams,
    data: &HoldOut<'_>,
    chatter: &Chatter<'_>,
) -> Result<Trained> {
    let combos = settings.points();
    let x_train = dense(data.x_train, "the MLP")?;
    let progress = chatter.verbose.then(|| {
        chatter
            .reporter
            .start("train", (combos.len() * base.epochs) as u64)
    });
    let mut search = Search::new(settings.model, chatter.reporter);
    for &(lr, reg) in &combos {
        let params = wb_mlp::MlpParams {
            learning_rate: lr,
            reg,
            ..base.clone()
        };
        let t = Instant::now();
        let fit = wb_mlp::fit(
            &params,
            x_train,
            data.y_train,
            data.n_classes,
            Some((data.x_val, data.y_val)),
            &mut |stats| {
                if let Some(progress) = &progress {
                    progress.inc(1);
                    progress.line(&format!(
                        "  epoch {:>3}  lr {:.5}  loss {:.4}  train {:.4}  val {:.4}  ({:.1}s)",
                        stats.epoch,
                        stats.learning_rate,
                        stats.loss,
                        stats.train_accuracy,
                        stats.val_accuracy.unwrap_or(f64::NAN),
                        stats.seconds
                    ));
                }
            },
        );
        let (model, history) = match fit {
            Ok(fit) => fit,
            Err(e) => match Divergence::of_mlp(&e) {
                Some(d) => {
                    search.diverged(lr, reg, t.elapsed().as_secs_f64(), d);
                    continue;
                }
                None => anyhow::bail!("training the MLP with lr {lr}, reg {reg}: {e}"),
            },
        };
        let point = GridPoint {
            lr,
            reg,
            train_accuracy: wb_linear::accuracy(&model.predict(x_train), data.y_train),
            val_accuracy: wb_linear::accuracy(&model.predict(data.x_val), data.y_val),
            seconds: t.elapsed().as_secs_f64(),
            diverged: None,
            best_epoch: Some(history.best_epoch),
            fold_val_accuracy: Vec::new(),
        };
        search.trained((model, history), point);
    }
    if let Some(progress) = &progress {
        progress.finish();
    }
    let ((model, history), chosen, points) = search.finish()?;
    Ok(Trained {
        model: Classifier::Mlp(model),
        search: points,
        curve: mlp_curve(&history),
        history: serde_json::to_value(history)?,
        chosen,
        cross_validation: None,
    })
}

/// An MLP's learning curve.
pub(crate) fn mlp_curve(history: &wb_mlp::History) -> Vec<CurvePoint> {
    let point = |e: &wb_mlp::EpochStats| CurvePoint {
        epoch: e.epoch,
        loss: e.loss,
        train_accuracy: e.train_accuracy,
        val_accuracy: e.val_accuracy,
    };
    history.epochs.iter().map(point).collect()
}

/// A linear model's learning curve.
pub(crate) fn linear_curve(history: &[EpochStats]) -> Vec<CurvePoint> {
    let point = |e: &EpochStats| CurvePoint {
        epoch: e.epoch,
        loss: e.loss,
        train_accuracy: e.train_accuracy,
        val_accuracy: e.val_accuracy,
    };
    history.iter().map(point).collect()
}

/// The epoch (or iteration) `fit_grid` kept: the first with the best validation accuracy.
fn best_epoch(history: &[EpochStats]) -> Option<usize> {
    history
        .iter()
        .filter_map(|e| e.val_accuracy.map(|a| (e.epoch, a)))
        .fold(None::<(usize, f64)>, |best, (epoch, a)| match best {
            Some((_, b)) if a <= b => best,
            _ => Some((epoch, a)),
        })
        .map(|(epoch, _)| epoch)
}

/// Trains the whole lr x reg grid in one pass over the data (see `LinearModel::fit_grid`) and
/// keeps the model with the best validation accuracy.
fn train_linear(
    settings: &TrainSettings,
    data: &HoldOut<'_>,
    chatter: &Chatter<'_>,
) -> Result<Trained> {
    let grid: Vec<LinearParams> = settings
        .points()
        .into_iter()
        .map(|(lr, reg)| settings.linear_params(lr, reg))
        .collect();
    let lbfgs = settings.linear.solver == Solver::Lbfgs;
    // SGD reports each epoch once for the whole grid (the points train together); L-BFGS
    // solves the points one after another and reports each iteration of each.
    let steps = if lbfgs {
        settings.linear.iterations * grid.len()
    } else {
        settings.epochs
    };
    let progress = chatter
        .verbose
        .then(|| chatter.reporter.start("train", steps as u64));
    let t = Instant::now();
    let fits = LinearModel::fit_grid_rows(
        &grid,
        data.x_train,
        data.y_train,
        Some(Labeled {
            x: data.x_val,
            y: data.y_val,
        }),
        data.n_classes,
        &mut |k, stats| {
            let Some(progress) = &progress else { return };
            if k == 0 || lbfgs {
                progress.inc(1);
            }
            if lbfgs && stats.epoch % 25 == 0 {
                progress.line(&format!(
                    "  reg {:<8} iteration {:>4}  objective {:.5}  train {:.4}  val {:.4}",
                    grid[k].reg,
                    stats.epoch,
                    stats.loss,
                    stats.train_accuracy,
                    stats.val_accuracy.unwrap_or(f64::NAN)
                ));
            } else if !lbfgs && grid.len() == 1 {
                progress.line(&format!(
                    "  epoch {:>3}  loss {:.4}  train {:.4}  val {:.4}",
                    stats.epoch,
                    stats.loss,
                    stats.train_accuracy,
                    stats.val_accuracy.unwrap_or(f64::NAN)
                ));
            }
        },
    )?;
    if let Some(progress) = &progress {
        progress.finish();
    }
    let seconds = t.elapsed().as_secs_f64() / grid.len() as f64;
    let mut search = Search::new(settings.model, chatter.reporter);
    for (params, fit) in grid.iter().zip(fits) {
        let (model, history) = match fit {
            Ok(fit) => fit,
            Err(e) => match Divergence::of_linear(&e) {
                Some(d) => {
                    search.diverged(params.learning_rate, params.reg, seconds, d);
                    continue;
                }
                None => return Err(e.into()),
            },
        };
        let point = GridPoint {
            lr: params.learning_rate,
            reg: params.reg,
            train_accuracy: wb_linear::accuracy(&model.predict_rows(data.x_train), data.y_train),
            val_accuracy: wb_linear::accuracy(&model.predict(data.x_val), data.y_val),
            seconds,
            diverged: None,
            best_epoch: best_epoch(&history),
            fold_val_accuracy: Vec::new(),
        };
        search.trained((model, history), point);
    }
    let ((model, history), chosen, points) = search.finish()?;
    Ok(Trained {
        model: Classifier::Linear(model),
        search: points,
        curve: linear_curve(&history),
        history: serde_json::to_value(history)?,
        chosen,
        cross_validation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn point(lr: f64, val: f64, diverged: bool) -> GridPoint {
        GridPoint {
            lr,
            reg: 0.0,
            train_accuracy: 0.0,
            val_accuracy: val,
            seconds: 0.0,
            diverged: diverged.then(|| Divergence {
                epoch: 1,
                loss: f64::NAN,
                learning_rate: lr,
                message: "diverged".into(),
            }),
            best_epoch: None,
            fold_val_accuracy: Vec::new(),
        }
    }

    #[test]
    fn the_best_mean_wins_and_ties_go_to_the_first_point() {
        let points = [
            point(1.0, 0.5, false),
            point(2.0, 0.8, false),
            point(3.0, 0.8, false),
            point(4.0, 0.9, true),
            point(5.0, f64::NAN, false),
        ];
        assert_eq!(best_point(&points).unwrap().lr, 2.0);
        assert!(best_point(&points[3..]).is_none());
    }

    /// Three Gaussian blobs in 5-D, `n` rows.
    fn blobs(n: usize) -> (Array2<f32>, Vec<usize>) {
        let y: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let x = Array2::from_shape_fn((n, 5), |(i, j)| {
            let noise = (((i * 7919 + j * 104_729) % 1000) as f32 / 1000.0 - 0.5) * 1.5;
            if j == y[i] {
                1.0 + noise
            } else {
                noise
            }
        });
        (x, y)
    }

    #[test]
    fn cross_validation_scores_every_fold_and_refits_the_best_mean() {
        let (x, y) = blobs(150);
        let (folds, warnings) = crate::validation::folds(&y, 3, 5, 1, 3).unwrap();
        assert!(warnings.is_empty());
        for model in [ModelKind::Softmax, ModelKind::Svm, ModelKind::Mlp] {
            let mut options = TrainOptions::new(model);
            options.epochs = Some(4);
            options.batch_size = Some(20);
            if model == ModelKind::Svm {
                options.reg = vec![1e-3, 1e-4];
            } else {
                // A learning rate too small to move and one that learns.
                options.lr = vec![1e-7, 0.05];
                options.reg = vec![1e-4];
            }
            if model == ModelKind::Mlp {
                options.mlp.hidden = Some(vec![8]);
            }
            let settings = TrainSettings::from_options(&options, 1).unwrap();
            let trained = train(
                &settings,
                &SearchData {
                    x_train: x.view().into(),
                    y_train: &y,
                    held: Held::Folds(&folds),
                    n_classes: 3,
                },
                &Chatter {
                    verbose: false,
                    reporter: &Quiet,
                },
            )
            .unwrap();
            let cv = trained.cross_validation.as_ref().unwrap();
            assert_eq!(cv.folds, 5);
            assert_eq!(cv.fold_sizes, vec![[120, 30]; 5]);
            assert_eq!(trained.search.len(), 2, "{model:?}");
            for p in &trained.search {
                assert_eq!(p.fold_val_accuracy.len(), 5, "{model:?}");
                let mean = p.fold_val_accuracy.iter().sum::<f64>() / 5.0;
                assert!((mean - p.val_accuracy).abs() < 1e-12);
            }
            let best = best_point(&trained.search).unwrap();
            assert_eq!((trained.chosen.lr, trained.chosen.reg), (best.lr, best.reg));
            if model != ModelKind::Svm {
                // The rate too small to learn loses on every fold's mean.
                assert!(
                    trained.search[1].val_accuracy > trained.search[0].val_accuracy,
                    "{model:?}: {:?}",
                    trained.search
                );
                assert_eq!(trained.chosen.lr, 0.05, "{model:?}");
            }
            // The refitted model learned the blobs.
            let acc = wb_linear::accuracy(&trained.model.predict(x.view()), &y);
            assert!(acc > 0.6, "{model:?}: refit training accuracy {acc}");
            assert_eq!(cv.refit_epochs, trained.chosen.best_epoch.unwrap());
        }
    }
}
