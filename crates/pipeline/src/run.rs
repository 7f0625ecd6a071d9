//! `pipeline run`: load → features → train (validation search) → evaluate → report.

use std::time::Instant;

use anyhow::Result;
use ndarray::Array2;
use serde::Serialize;
use wb_features::{FeatureSpec, FittedFeatures, Scaler};
use wb_linear::{EpochStats, Labeled, LinearModel, LinearParams, LossKind};

use crate::cli::{ModelArg, RunArgs};
use crate::load::load_announced;
use crate::progress::Progress;
use crate::report::{self, ClassReport, Timings};

/// The features of the three splits, normalised with training statistics.
pub struct FeatureMatrices {
    pub train: Array2<f32>,
    pub val: Array2<f32>,
    pub test: Array2<f32>,
    pub fitted: FittedFeatures,
    /// Fitted on the training features; already applied to the three matrices.
    pub scaler: Scaler,
}

/// Everything a run produces: the report, and what is needed to save and reapply the model.
pub struct RunOutput {
    pub report: report::RunReport,
    pub model: Classifier,
    pub fitted: FittedFeatures,
    pub scaler: Scaler,
}

/// A trained classifier of any kind.
pub enum Classifier {
    Linear(LinearModel),
    Mlp(wb_mlp::Mlp),
}

impl Classifier {
    pub fn predict(&self, x: ndarray::ArrayView2<'_, f32>) -> Vec<usize> {
        match self {
            Classifier::Linear(m) => m.predict(x),
            Classifier::Mlp(m) => m.predict(x),
        }
    }
}

/// One point of the validation search.
#[derive(Debug, Clone, Serialize)]
pub struct GridPoint {
    pub lr: f64,
    pub reg: f64,
    pub train_accuracy: f64,
    pub val_accuracy: f64,
    /// Training time of this point (the grid trains together; its time is split evenly).
    pub seconds: f64,
    /// Why this point has no model (its training diverged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diverged: Option<String>,
}

/// Runs the whole pipeline; returns the report, the model and its fitted preprocessing.
pub fn run(args: &RunArgs) -> Result<RunOutput> {
    let mut spec = FeatureSpec::parse(&args.features)?;
    args.feature_options.apply(&mut spec)?;
    let (lrs, regs) = grid(args);
    let epochs = args.epochs.unwrap_or(default_epochs(args.model));
    // Reject bad hyper-parameters before loading anything.
    let mlp_base = if args.model == ModelArg::Mlp {
        let base = mlp_params(args)?;
        for &lr in &lrs {
            for &reg in &regs {
                wb_mlp::MlpParams {
                    learning_rate: lr,
                    reg,
                    ..base.clone()
                }
                .check()?;
            }
        }
        Some(base)
    } else {
        for &lr in &lrs {
            for &reg in &regs {
                linear_params(args, lr, reg, epochs).check()?;
            }
        }
        None
    };

    let (splits, info, load_s) = load_announced(&args.data)?;

    let t = Instant::now();
    let feats = extract(&spec, &splits, args.data.seed)?;
    let features_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (model, grid_points, history, best) = match &mlp_base {
        Some(base) => train_mlp(
            base,
            &feats,
            &splits.train.labels,
            &splits.val.labels,
            info.n_classes,
            &lrs,
            &regs,
        )?,
        None => {
            let (model, points, history, best) = train(
                args,
                &feats,
                &splits.train.labels,
                &splits.val.labels,
                info.n_classes,
                &lrs,
                &regs,
                epochs,
            )?;
            (
                Classifier::Linear(model),
                points,
                serde_json::to_value(history)?,
                best,
            )
        }
    };
    let train_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let pred_train = model.predict(feats.train.view());
    let pred_val = model.predict(feats.val.view());
    let pred_test = model.predict(feats.test.view());
    let classes = ClassReport::new(&pred_test, &splits.test.labels, &info.class_names);
    let evaluate_s = t.elapsed().as_secs_f64();

    let report = report::RunReport {
        settings: settings(args, &spec, epochs, mlp_base.as_ref()),
        data: info,
        features: feature_parts(&feats.fitted),
        model: args.model.name().to_string(),
        chosen: best,
        search: grid_points,
        history,
        accuracy: report::Accuracy {
            train: wb_linear::accuracy(&pred_train, &splits.train.labels),
            val: wb_linear::accuracy(&pred_val, &splits.val.labels),
            test: wb_linear::accuracy(&pred_test, &splits.test.labels),
        },
        timings_s: Timings {
            load: load_s,
            features: features_s,
            train: train_s,
            evaluate: evaluate_s,
        },
        per_class: classes,
    };
    Ok(RunOutput {
        report,
        model,
        fitted: feats.fitted,
        scaler: feats.scaler,
    })
}

/// Fits the extractors and the scaler on the training split and transforms all three splits.
pub fn extract(spec: &FeatureSpec, splits: &wb_data::Splits, seed: u64) -> Result<FeatureMatrices> {
    let mut feats = extract_unscaled(spec, splits, seed)?;
    for m in [&mut feats.train, &mut feats.val, &mut feats.test] {
        feats.scaler.transform_inplace(m);
    }
    Ok(feats)
}

/// As [`extract`], but the matrices hold the extractors' raw outputs: the scaler is fitted on
/// the training features and returned, not applied (`pipeline extract` exports both).
pub fn extract_unscaled(
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    seed: u64,
) -> Result<FeatureMatrices> {
    spec.check(splits.train.images.shape())?;
    let fitted = spec.fit(&splits.train.images, seed)?;
    let total = (splits.train.len() + splits.val.len() + splits.test.len()) as u64;
    let progress = Progress::new("features", total);
    let inc = |n| progress.inc(n);
    let train = fitted.transform(&splits.train.images, &inc)?;
    let val = fitted.transform(&splits.val.images, &inc)?;
    let test = fitted.transform(&splits.test.images, &inc)?;
    progress.finish();
    let blocks: Vec<_> = fitted.parts().iter().map(|&(_, d, n)| (d, n)).collect();
    let scaler = Scaler::fit(train.view(), &blocks);
    Ok(FeatureMatrices {
        train,
        val,
        test,
        fitted,
        scaler,
    })
}

fn loss_of(model: ModelArg) -> LossKind {
    match model {
        ModelArg::Svm => LossKind::Hinge,
        ModelArg::Softmax | ModelArg::Mlp => LossKind::Softmax,
    }
}

fn default_epochs(model: ModelArg) -> usize {
    match model {
        ModelArg::Mlp => wb_mlp::MlpParams::default().epochs,
        ModelArg::Svm | ModelArg::Softmax => 20,
    }
}

/// The MLP's parameters: its defaults, overridden by the options given.
fn mlp_params(args: &RunArgs) -> Result<wb_mlp::MlpParams> {
    let mut p = wb_mlp::MlpParams {
        seed: args.data.seed,
        batch_size: args.batch_size,
        momentum: args.momentum,
        ..wb_mlp::MlpParams::default()
    };
    if let Some(e) = args.epochs {
        p.epochs = e;
    }
    apply_mlp_args(&args.mlp, p)
}

/// `p` overridden by the MLP options given (shared by `run` and `gradcheck`), then checked.
pub fn apply_mlp_args(
    m: &crate::cli::MlpArgs,
    mut p: wb_mlp::MlpParams,
) -> Result<wb_mlp::MlpParams> {
    if !m.hidden.is_empty() {
        p.hidden = m.hidden.clone();
    }
    if let Some(a) = &m.activation {
        p.activation = a.parse()?;
    }
    if let Some(v) = m.leaky_slope {
        p.leaky_slope = v;
    }
    if let Some(v) = m.maxout_pieces {
        p.maxout_pieces = v;
    }
    if let Some(l) = &m.loss {
        p.loss = match l.trim().to_ascii_lowercase().as_str() {
            "softmax" => LossKind::Softmax,
            "svm" | "hinge" => LossKind::Hinge,
            "squared" => LossKind::Squared,
            other => anyhow::bail!("unknown --loss `{other}` (valid: softmax, svm, squared)"),
        };
    }
    if let Some(o) = &m.optimizer {
        p.optimizer = o.parse()?;
    }
    if let Some(s) = &m.lr_schedule {
        p.schedule = s.parse()?;
    }
    if let Some(d) = m.dropout {
        p.dropout = d;
    }
    if let Some(pat) = m.patience {
        p.patience = (pat > 0).then_some(pat);
    }
    p.check()?;
    Ok(p)
}

/// Trains one MLP per (lr, reg) point, sequentially, keeping the best on validation.
fn train_mlp(
    base: &wb_mlp::MlpParams,
    feats: &FeatureMatrices,
    y_train: &[usize],
    y_val: &[usize],
    n_classes: usize,
    lrs: &[f64],
    regs: &[f64],
) -> Result<(Classifier, Vec<GridPoint>, serde_json::Value, GridPoint)> {
    let combos: Vec<(f64, f64)> = lrs
        .iter()
        .flat_map(|&lr| regs.iter().map(move |&reg| (lr, reg)))
        .collect();
    let progress = Progress::new("train", (combos.len() * base.epochs) as u64);
    let mut points = Vec::new();
    let mut best: Option<(wb_mlp::Mlp, wb_mlp::History, GridPoint)> = None;
    for &(lr, reg) in &combos {
        let params = wb_mlp::MlpParams {
            learning_rate: lr,
            reg,
            ..base.clone()
        };
        let t = Instant::now();
        let (model, history) = wb_mlp::fit(
            &params,
            feats.train.view(),
            y_train,
            n_classes,
            Some((feats.val.view(), y_val)),
            &mut |stats| {
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
            },
        )
        .map_err(|e| anyhow::anyhow!("training the MLP with lr {lr}, reg {reg}: {e}"))?;
        let point = GridPoint {
            lr,
            reg,
            train_accuracy: wb_linear::accuracy(&model.predict(feats.train.view()), y_train),
            val_accuracy: wb_linear::accuracy(&model.predict(feats.val.view()), y_val),
            seconds: t.elapsed().as_secs_f64(),
            diverged: None,
        };
        eprintln!(
            "  lr {:<8} reg {:<8} train {:.4} val {:.4} ({:.1}s)",
            lr, reg, point.train_accuracy, point.val_accuracy, point.seconds
        );
        points.push(point.clone());
        if best
            .as_ref()
            .is_none_or(|(_, _, b)| point.val_accuracy > b.val_accuracy)
        {
            best = Some((model, history, point));
        }
    }
    progress.finish();
    let (model, history, point) =
        best.ok_or_else(|| anyhow::anyhow!("the search grid is empty"))?;
    Ok((
        Classifier::Mlp(model),
        points,
        serde_json::to_value(history)?,
        point,
    ))
}

/// The learning rates and L2 strengths to search: the user's lists, or the model's defaults.
fn grid(args: &RunArgs) -> (Vec<f64>, Vec<f64>) {
    let mlp = wb_mlp::MlpParams::default();
    let (default_lr, default_reg): (&[f64], &[f64]) = match args.model {
        ModelArg::Svm => (&[3e-4, 1e-3, 3e-3], &[1e-4, 1e-3]),
        ModelArg::Softmax => (&[1e-2, 3e-2, 1e-1], &[1e-4, 1e-3]),
        ModelArg::Mlp => (
            std::slice::from_ref(&mlp.learning_rate),
            std::slice::from_ref(&mlp.reg),
        ),
    };
    let pick = |given: &Vec<f64>, default: &[f64]| {
        if given.is_empty() {
            default.to_vec()
        } else {
            given.clone()
        }
    };
    (pick(&args.lr, default_lr), pick(&args.reg, default_reg))
}

fn linear_params(args: &RunArgs, lr: f64, reg: f64, epochs: usize) -> LinearParams {
    LinearParams {
        loss: loss_of(args.model),
        learning_rate: lr,
        reg,
        epochs,
        batch_size: args.batch_size,
        momentum: args.momentum,
        lr_decay: args.lr_decay,
        average: !args.no_average,
        seed: args.data.seed,
        ..LinearParams::new(loss_of(args.model))
    }
}

type Trained = (LinearModel, Vec<GridPoint>, Vec<EpochStats>, GridPoint);

/// Trains the whole lr x reg grid in one pass over the data (see `LinearModel::fit_grid`) and
/// keeps the model with the best validation accuracy.
#[allow(clippy::too_many_arguments)]
fn train(
    args: &RunArgs,
    feats: &FeatureMatrices,
    y_train: &[usize],
    y_val: &[usize],
    n_classes: usize,
    lrs: &[f64],
    regs: &[f64],
    epochs: usize,
) -> Result<Trained> {
    let grid: Vec<LinearParams> = lrs
        .iter()
        .flat_map(|&lr| regs.iter().map(move |&reg| (lr, reg)))
        .map(|(lr, reg)| linear_params(args, lr, reg, epochs))
        .collect();
    let progress = Progress::new("train", epochs as u64);
    let t = Instant::now();
    let fits = LinearModel::fit_grid(
        &grid,
        Labeled {
            x: feats.train.view(),
            y: y_train,
        },
        Some(Labeled {
            x: feats.val.view(),
            y: y_val,
        }),
        n_classes,
        &mut |k, stats| {
            if k == 0 {
                progress.inc(1);
            }
            if grid.len() == 1 {
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
    progress.finish();
    let seconds = t.elapsed().as_secs_f64() / grid.len() as f64;
    let mut points = Vec::new();
    let mut best: Option<(LinearModel, Vec<EpochStats>, GridPoint)> = None;
    let mut last_error = None;
    for (params, fit) in grid.iter().zip(fits) {
        let (model, history) = match fit {
            Ok(fit) => fit,
            Err(e) => {
                eprintln!("  lr {:<8} reg {:<8} {e}", params.learning_rate, params.reg);
                points.push(GridPoint {
                    lr: params.learning_rate,
                    reg: params.reg,
                    train_accuracy: f64::NAN,
                    val_accuracy: f64::NAN,
                    seconds,
                    diverged: Some(e.to_string()),
                });
                last_error = Some(e);
                continue;
            }
        };
        let point = GridPoint {
            lr: params.learning_rate,
            reg: params.reg,
            train_accuracy: wb_linear::accuracy(&model.predict(feats.train.view()), y_train),
            val_accuracy: wb_linear::accuracy(&model.predict(feats.val.view()), y_val),
            seconds,
            diverged: None,
        };
        eprintln!(
            "  lr {:<8} reg {:<8} train {:.4} val {:.4}",
            point.lr, point.reg, point.train_accuracy, point.val_accuracy
        );
        points.push(point.clone());
        if best
            .as_ref()
            .is_none_or(|(_, _, b)| point.val_accuracy > b.val_accuracy)
        {
            best = Some((model, history, point));
        }
    }
    match best {
        Some((model, history, point)) => Ok((model, points, history, point)),
        None => Err(match last_error {
            Some(e) => anyhow::Error::new(e).context(format!(
                "every point of the search diverged while training {}",
                args.model.name()
            )),
            None => anyhow::anyhow!("the search grid is empty"),
        }),
    }
}

fn feature_parts(fitted: &FittedFeatures) -> Vec<report::FeaturePart> {
    fitted
        .parts()
        .into_iter()
        .map(|(name, dim, norm)| report::FeaturePart {
            name: name.to_string(),
            dim,
            normalization: format!("{norm:?}").to_lowercase(),
        })
        .collect()
}

fn settings(
    args: &RunArgs,
    spec: &FeatureSpec,
    epochs: usize,
    mlp: Option<&wb_mlp::MlpParams>,
) -> serde_json::Value {
    serde_json::json!({
        "mlp": mlp,
        "augment": format!("{:?}", args.data.augment).to_lowercase(),
        "dataset": args.data.dataset.map(|d| d.to_string()),
        "data_dir": args.data.data_dir,
        "label": format!("{:?}", args.data.label).to_lowercase(),
        "image_size": args.data.image_size,
        "skip_bad_images": args.data.skip_bad_images,
        "val_size": args.data.val_size,
        "train_limit": args.data.train_limit,
        "test_limit": args.data.test_limit,
        "seed": args.data.seed,
        "threads": rayon::current_num_threads(),
        "features": spec,
        "model": args.model.name(),
        "epochs": epochs,
        "batch_size": args.batch_size,
        "lr": grid(args).0,
        "reg": grid(args).1,
        "momentum": args.momentum,
        "lr_decay": args.lr_decay,
    })
}
