//! Training with a validation search, shared by `pipeline run` (one model) and
//! `pipeline compare` (a grid of feature sets x models).
//!
//! Every (learning rate, L2 strength) pair of the search grid is trained on the training split
//! and the model with the best validation accuracy is kept (never chosen on test). Linear
//! models train the whole grid in one pass over the data (`LinearModel::fit_grid`); MLPs train
//! one point after another.

use std::time::Instant;

use anyhow::Result;
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use wb_linear::{EpochStats, Labeled, LinearModel, LinearParams, LossKind, Solver};

use crate::options::MlpOptions;
use crate::progress::Reporter;

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
        };
        settings.check()?;
        Ok(settings)
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
        }
    }
}

/// The training and validation data of a search.
pub struct SearchData<'a> {
    pub x_train: ArrayView2<'a, f32>,
    pub y_train: &'a [usize],
    pub x_val: ArrayView2<'a, f32>,
    pub y_val: &'a [usize],
    pub n_classes: usize,
}

/// How much a search tells while it runs, through `reporter`: one line per grid point, and when
/// `verbose` a progress stage for the search and a line per epoch (`pipeline run`; `pipeline
/// compare` draws its own bar and is not verbose).
pub struct Chatter<'a> {
    pub verbose: bool,
    pub reporter: &'a dyn Reporter,
}

/// Trains every point of the settings' grid and keeps the best on validation.
pub fn train(
    settings: &TrainSettings,
    data: &SearchData<'_>,
    chatter: &Chatter<'_>,
) -> Result<Trained> {
    match &settings.mlp {
        Some(base) => train_mlp(settings, base, data, chatter),
        None => train_linear(settings, data, chatter),
    }
}

/// Trains one MLP per (lr, reg) point, sequentially, keeping the best on validation; a point
/// that diverges is recorded and skipped ([`Search`]).
fn train_mlp(
    settings: &TrainSettings,
    base: &wb_mlp::MlpParams,
    data: &SearchData<'_>,
    chatter: &Chatter<'_>,
) -> Result<Trained> {
    let combos = settings.points();
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
            data.x_train,
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
            train_accuracy: wb_linear::accuracy(&model.predict(data.x_train), data.y_train),
            val_accuracy: wb_linear::accuracy(&model.predict(data.x_val), data.y_val),
            seconds: t.elapsed().as_secs_f64(),
            diverged: None,
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

/// Trains the whole lr x reg grid in one pass over the data (see `LinearModel::fit_grid`) and
/// keeps the model with the best validation accuracy.
fn train_linear(
    settings: &TrainSettings,
    data: &SearchData<'_>,
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
    let fits = LinearModel::fit_grid(
        &grid,
        Labeled {
            x: data.x_train,
            y: data.y_train,
        },
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
            train_accuracy: wb_linear::accuracy(&model.predict(data.x_train), data.y_train),
            val_accuracy: wb_linear::accuracy(&model.predict(data.x_val), data.y_val),
            seconds,
            diverged: None,
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
    })
}
