//! `pipeline run`: load → features → train (validation search) → evaluate → report.

use std::time::Instant;

use anyhow::Result;
use ndarray::Array2;
use wb_features::{FeatureSpec, FittedFeatures, Scaler};

use crate::cli::{ModelArg, RunArgs};
use crate::load::load_announced;
use crate::progress::Progress;
use crate::report::{self, ClassReport, Timings};
use crate::train::Classifier;
use crate::train::{self, Chatter, SearchData, TrainSettings};

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

/// The training settings of `pipeline run`: the options given, else each model's defaults.
pub fn train_settings(args: &RunArgs) -> Result<TrainSettings> {
    let linear = train::LinearMethod::default_for(args.model).with(
        args.svm_loss.as_deref(),
        args.solver.as_deref(),
        args.iterations,
    )?;
    if args.svm_loss.is_some() && args.model != ModelArg::Svm {
        anyhow::bail!("--svm-loss applies to --model svm only");
    }
    let (default_lr, default_reg) = train::default_grid(args.model, linear.solver);
    let epochs = args.epochs.unwrap_or(train::default_epochs(args.model));
    let mlp = if args.model == ModelArg::Mlp {
        let base = wb_mlp::MlpParams {
            seed: args.data.seed,
            batch_size: args.batch_size,
            momentum: args.momentum,
            epochs,
            ..wb_mlp::MlpParams::default()
        };
        Some(train::apply_mlp_args(&args.mlp, base)?)
    } else {
        None
    };
    Ok(TrainSettings {
        model: args.model,
        lr: train::lr_grid(&args.lr, default_lr, linear.solver, args.model),
        reg: train::or_default(&args.reg, default_reg),
        epochs,
        batch_size: args.batch_size,
        momentum: args.momentum,
        lr_decay: args.lr_decay,
        average: !args.no_average,
        seed: args.data.seed,
        mlp,
        linear,
    })
}

/// Runs the whole pipeline; returns the report, the model and its fitted preprocessing.
pub fn run(args: &RunArgs) -> Result<RunOutput> {
    let mut spec = FeatureSpec::parse(&args.features)?;
    args.feature_options.apply(&mut spec)?;
    // Reject bad hyper-parameters before loading anything.
    let settings = train_settings(args)?;
    settings.check()?;

    let (splits, info, load_s) = load_announced(&args.data)?;

    let t = Instant::now();
    let feats = extract(&spec, &splits, args.data.seed)?;
    let features_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let trained = train::train(
        &settings,
        &SearchData {
            x_train: feats.train.view(),
            y_train: &splits.train.labels,
            x_val: feats.val.view(),
            y_val: &splits.val.labels,
            n_classes: info.n_classes,
        },
        &Chatter {
            verbose: true,
            line: &|l| eprintln!("{l}"),
        },
    )?;
    let train_s = t.elapsed().as_secs_f64();
    let model = trained.model;

    let t = Instant::now();
    let pred_train = model.predict(feats.train.view());
    let pred_val = model.predict(feats.val.view());
    let pred_test = model.predict(feats.test.view());
    let classes = ClassReport::new(&pred_test, &splits.test.labels, &info.class_names);
    let evaluate_s = t.elapsed().as_secs_f64();

    let report = report::RunReport {
        settings: run_settings(args, &spec, &settings),
        data: info,
        features: feature_parts(&feats.fitted),
        model: args.model.name().to_string(),
        chosen: trained.chosen,
        search: trained.search,
        history: trained.history,
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
    let mut feats = extract_unscaled(spec, splits, seed, true)?;
    for m in [&mut feats.train, &mut feats.val, &mut feats.test] {
        feats.scaler.transform_inplace(m);
    }
    Ok(feats)
}

/// As [`extract`], but the matrices hold the extractors' raw outputs: the scaler is fitted on
/// the training features and returned, not applied (`pipeline extract` exports both).
/// `show_progress` draws a progress bar (off when the caller draws its own).
pub fn extract_unscaled(
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    seed: u64,
    show_progress: bool,
) -> Result<FeatureMatrices> {
    spec.check(splits.train.images.shape())?;
    let fitted = spec.fit(&splits.train.images, seed)?;
    let total = (splits.train.len() + splits.val.len() + splits.test.len()) as u64;
    let progress = show_progress.then(|| Progress::new("features", total));
    let inc = |n| {
        if let Some(p) = &progress {
            p.inc(n)
        }
    };
    let train = fitted.transform(&splits.train.images, &inc)?;
    let val = fitted.transform(&splits.val.images, &inc)?;
    let test = fitted.transform(&splits.test.images, &inc)?;
    if let Some(p) = &progress {
        p.finish();
    }
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

pub fn feature_parts(fitted: &FittedFeatures) -> Vec<report::FeaturePart> {
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

fn run_settings(args: &RunArgs, spec: &FeatureSpec, settings: &TrainSettings) -> serde_json::Value {
    serde_json::json!({
        "mlp": settings.mlp,
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
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "reg": settings.reg,
        "momentum": settings.momentum,
        "lr_decay": settings.lr_decay,
    })
}
