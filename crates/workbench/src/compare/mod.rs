//! The comparison: the experiment grid of the lecture — feature sets (rows) x models
//! (columns) — in one process.
//!
//! Each feature set is extracted once (or read from the `--cache-dir` cache) and reused by
//! every model; each model's hyper-parameters are chosen on the validation split from its search
//! grid (the shared code of a single run, see `train.rs`). Every finished cell is written to
//! `OUT/cells/` with the settings that produced it, so `--resume` redoes only what is missing
//! or was produced with other settings. At the end, OUT gets `report.md`, `results.csv`,
//! `results.json`, `settings.json` and the PNG plots (see [`plots`]).

pub mod config;

mod plots;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use wb_features::{FeatureSpec, Scaler};

use crate::data::{load_announced, DataInfo};
use crate::extract;
use crate::feature_options;
use crate::progress::{Quiet, Reporter, Stage};
use crate::report::{Accuracy, ClassReport, FeaturePart};
use crate::train::{
    self, Chatter, Classifier, CurvePoint, GridPoint, Held, ModelKind, SearchData, TrainSettings,
};
pub use config::{CompareOptions, ExperimentFile, LinearSection, MlpSection, Plan};
use wb_io::{write_bytes, write_json, Fnv64};

/// Format tags: a change in what a cell or a cache file means bumps them, so old files are
/// recomputed rather than misread.
const CELL_FORMAT: &str = "wb-compare cell 1";
const CACHE_FORMAT: &str = "wb-compare features 1";

/// How many hidden units of the MLP's first layer are drawn as templates.
const FIRST_LAYER_TEMPLATES: usize = 100;

/// One finished cell of the grid: a feature set trained with one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The feature set, as in `--features` (`hog,color`).
    pub features: String,
    pub model: String,
    /// Everything that produced this cell (data, feature parameters, training settings,
    /// threads); a resumed run reuses the cell only if these are equal.
    pub settings: serde_json::Value,
    pub feature_dim: usize,
    pub parts: Vec<FeaturePart>,
    /// The search point chosen on validation.
    pub chosen: GridPoint,
    pub search: Vec<GridPoint>,
    /// The chosen model's accuracy per epoch.
    pub curve: Vec<CurvePoint>,
    pub accuracy: Accuracy,
    /// Test accuracy per class and the test confusion matrix.
    pub per_class: ClassReport,
    /// Wall time of the whole search (every grid point).
    pub train_seconds: f64,
    /// Wall time of extracting this feature set (or reading it from the cache).
    pub features_seconds: f64,
    pub features_from_cache: bool,
}

/// Everything `pipeline compare` writes into `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CompareResults {
    pub settings: serde_json::Value,
    pub data: DataInfo,
    pub feature_sets: Vec<String>,
    pub models: Vec<String>,
    /// The cell with the best validation accuracy (ties: the first in grid order).
    pub best: Option<(String, String)>,
    pub cells: Vec<Cell>,
    /// Wall time of this run (resumed cells cost it nothing).
    pub seconds: f64,
    /// Cells taken from an earlier run by `--resume`.
    pub resumed_cells: usize,
}

/// What a comparison gives: its results (also in `OUT/results.json`) and where its report is.
pub struct Compared {
    pub results: CompareResults,
    pub report: PathBuf,
}

/// Runs the grid: merges the options into a [`Plan`], sets the thread count, trains every
/// cell and writes the report.
pub fn compare(options: &CompareOptions, reporter: &dyn Reporter) -> Result<Compared> {
    let started = Instant::now();
    let plan = Plan::new(options, reporter)?;
    crate::threads::init(plan.threads)?;
    let threads = rayon::current_num_threads();
    // Nothing is written before the first cell is finished (the folders are created then), so a
    // run refused or failing early leaves an earlier OUT folder as it was.
    if plan.out.exists() && !plan.out.is_dir() {
        anyhow::bail!("--out {}: exists and is not a folder", plan.out.display());
    }

    let (splits, info, _) = load_announced(&plan.data, reporter)?;
    let folds = train::folds_for(&info, &splits.train.labels, plan.data.seed, reporter)?;
    let shape = splits.train.images.shape();
    for spec in &plan.feature_sets {
        feature_options::check(spec, shape)
            .with_context(|| format!("feature set `{}`", spec.label()))?;
    }
    let data_settings = data_settings(&plan, &info);
    let settings = plan_settings(&plan, &data_settings, threads);
    announce(&plan, threads, reporter);

    let total = (plan.feature_sets.len() * plan.models.len()) as u64;
    let progress = reporter.start("grid", total);
    let mut done = 0usize;
    let mut resumed_cells = 0usize;
    let mut cells: Vec<Cell> = Vec::new();
    for spec in &plan.feature_sets {
        let label = spec.label();
        let mut pending = Vec::new();
        let models = plan
            .models_for(spec)
            .iter()
            .map(|m| m.for_images(spec, shape, false))
            .collect::<Result<Vec<_>>>()?;
        for m in &models {
            let cell_settings = cell_settings(&data_settings, spec, m, threads);
            let path = cell_path(&plan.out, &label, m.model);
            match plan
                .resume
                .then(|| reusable(&path, &cell_settings, reporter))
                .flatten()
            {
                Some(cell) => {
                    done += 1;
                    resumed_cells += 1;
                    progress.inc(1);
                    progress.line(&cell_line(&cell, done, total, " (resumed)"));
                    cells.push(cell);
                }
                None => pending.push((m, cell_settings, path)),
            }
        }
        if pending.is_empty() {
            continue;
        }
        let t = Instant::now();
        let (feats, from_cache) = features(
            &plan,
            &data_settings,
            spec,
            &splits,
            &info,
            progress.as_ref(),
        )?;
        let features_seconds = t.elapsed().as_secs_f64();
        progress.line(&format!(
            "features {label}: {} dims in {features_seconds:.1}s{}",
            feats.dim(),
            if from_cache { " (from the cache)" } else { "" }
        ));
        for (m, cell_settings, path) in pending {
            let t = Instant::now();
            let trained = train::train(
                m,
                &SearchData {
                    x_train: feats.train.view().into(),
                    y_train: &splits.train.labels,
                    held: Held::of(&info, feats.val.view(), &splits.val.labels, &folds),
                    n_classes: info.n_classes,
                },
                &Chatter {
                    verbose: false,
                    reporter: &Quiet,
                },
            )
            .with_context(|| format!("training {} on {label}", m.model.name()))?;
            let train_seconds = t.elapsed().as_secs_f64();
            let model = &trained.model;
            let pred_test = model.predict(feats.test.view());
            let cell = Cell {
                features: label.clone(),
                model: m.model.name().to_string(),
                settings: cell_settings,
                feature_dim: feats.dim(),
                parts: feats.parts.clone(),
                chosen: trained.chosen.clone(),
                search: trained.search.clone(),
                curve: trained.curve.clone(),
                accuracy: Accuracy {
                    train: wb_linear::accuracy(
                        &model.predict(feats.train.view()),
                        &splits.train.labels,
                    ),
                    val: match &trained.cross_validation {
                        // No validation split: the chosen setting's mean held-out fold accuracy.
                        Some(_) => trained.chosen.val_accuracy,
                        None => wb_linear::accuracy(
                            &model.predict(feats.val.view()),
                            &splits.val.labels,
                        ),
                    },
                    test: wb_linear::accuracy(&pred_test, &splits.test.labels),
                },
                per_class: ClassReport::new(&pred_test, &splits.test.labels, &info.class_names),
                train_seconds,
                features_seconds,
                features_from_cache: from_cache,
            };
            // Pictures of the weights first, then the cell: a cell on disk means its
            // pictures are there too (a resumed run does not redraw them).
            if spec.is_raw_pixels() {
                draw_weights(&plan.out, model, m.model, &feats.scaler, &info)?;
            }
            write_json(&path, &cell)?;
            done += 1;
            progress.inc(1);
            progress.line(&cell_line(&cell, done, total, ""));
            cells.push(cell);
        }
    }
    progress.finish();

    let results = CompareResults {
        settings,
        data: info,
        feature_sets: plan.feature_sets.iter().map(FeatureSpec::label).collect(),
        models: plan
            .models
            .iter()
            .map(|m| m.model.name().to_string())
            .collect(),
        best: best_cell(&cells).map(|c| (c.features.clone(), c.model.clone())),
        cells,
        seconds: started.elapsed().as_secs_f64(),
        resumed_cells,
    };
    // With the results, not before the grid: a failing run does not replace an earlier one's.
    write_json(&plan.out.join("settings.json"), &results.settings)?;
    write_outputs(&plan.out, &results)?;
    Ok(Compared {
        results,
        report: plan.out.join("report.md"),
    })
}

/// The features of one set, scaled with training statistics, and their parts.
struct Features {
    train: Array2<f32>,
    val: Array2<f32>,
    test: Array2<f32>,
    scaler: Scaler,
    parts: Vec<FeaturePart>,
}

impl Features {
    fn dim(&self) -> usize {
        self.train.ncols()
    }
}

/// The data settings that decide the splits (and so every feature matrix).
fn data_settings(plan: &Plan, info: &DataInfo) -> serde_json::Value {
    let mut settings = plan.data.settings();
    settings["dataset"] = serde_json::json!(info.dataset.to_string());
    settings["path"] = serde_json::json!(info.path);
    // Neither changes a feature: the cache stays valid when only they differ.
    for key in ["data_dir", "max_memory"] {
        if let Some(map) = settings.as_object_mut() {
            map.remove(key);
        }
    }
    settings
}

/// The parameters that decide a feature set's features: its parts and the parameters of
/// those extractors only (a changed HOG option must not invalidate the colour features).
fn feature_key(spec: &FeatureSpec) -> serde_json::Value {
    let mut key = serde_json::Map::new();
    key.insert("parts".into(), serde_json::json!(spec.parts));
    let all = serde_json::to_value(spec).unwrap_or_default();
    for kind in &spec.parts {
        key.insert(kind.name().into(), all[kind.name()].clone());
    }
    serde_json::Value::Object(key)
}

fn cell_settings(
    data: &serde_json::Value,
    spec: &FeatureSpec,
    model: &TrainSettings,
    threads: usize,
) -> serde_json::Value {
    // Through a string, so the value equals what a resumed run reads back from the file.
    let v = serde_json::json!({
        "format": CELL_FORMAT,
        "data": data,
        "features": feature_key(spec),
        "training": model,
        "threads": threads,
    });
    serde_json::from_str(&v.to_string()).unwrap_or(v)
}

fn plan_settings(plan: &Plan, data: &serde_json::Value, threads: usize) -> serde_json::Value {
    serde_json::json!({
        "command": "compare",
        "config": plan.config,
        "data": data,
        "threads": threads,
        "feature_sets": plan.feature_sets,
        "models": plan.models,
        "feature_set_models": plan.overrides,
        "out": plan.out,
        "cache_dir": plan.cache_dir,
        "resume": plan.resume,
    })
}

/// Tells the grid's settings, briefly (settings.json has all of them).
fn announce(plan: &Plan, threads: usize, reporter: &dyn Reporter) {
    let sets: Vec<String> = plan.feature_sets.iter().map(FeatureSpec::label).collect();
    reporter.line(&format!(
        "grid: {} feature sets [{}] x {} models, seed {}, {threads} threads",
        sets.len(),
        sets.join(" | "),
        plan.models.len(),
        plan.data.seed
    ));
    for m in &plan.models {
        reporter.line(&format!("  {}", describe(m)));
    }
    for (label, models) in &plan.overrides {
        reporter.line(&format!("  row {label} has its own settings:"));
        for m in models {
            reporter.line(&format!("    {}", describe(m)));
        }
    }
    reporter.line(&format!(
        "every setting: {} (written with the results)",
        plan.out.join("settings.json").display()
    ));
}

/// One model's search grid and training settings, on one line.
fn describe(m: &TrainSettings) -> String {
    let name = m.model.name();
    if m.mlp.is_none() && m.linear.solver == wb_linear::Solver::Lbfgs {
        return format!(
            "{name:<8} {} loss by L-BFGS, reg {:?}, {} iterations per reg (warm-started path)",
            m.linear.loss.name(),
            m.reg,
            m.linear.iterations
        );
    }
    let extra = match &m.mlp {
        Some(p) => format!(
            ", hidden {:?}, {}{}, dropout {}, optimiser {}, schedule {:?}",
            p.hidden,
            p.activation.name(),
            if p.batch_norm { ", batch norm" } else { "" },
            p.dropout,
            p.optimizer.name(),
            p.schedule
        ),
        None => format!(
            ", {} loss, lr decay {}, averaged {}",
            m.linear.loss.name(),
            m.lr_decay,
            m.average
        ),
    };
    format!(
        "{name:<8} lr {:?} x reg {:?}, {} epochs, batch {}, momentum {}{extra}",
        m.lr, m.reg, m.epochs, m.batch_size, m.momentum
    )
}

fn cell_line(cell: &Cell, done: usize, total: u64, note: &str) -> String {
    format!(
        "[{done}/{total}] {:<16} {:<8} test {:.4}  val {:.4}  {:.1}s{note}",
        cell.features, cell.model, cell.accuracy.test, cell.accuracy.val, cell.train_seconds
    )
}

/// A feature-set label usable in a file name (`hog,color` → `hog+color`).
fn file_label(label: &str) -> String {
    label.replace(',', "+")
}

fn cell_path(out: &Path, label: &str, model: ModelKind) -> PathBuf {
    out.join("cells")
        .join(format!("{}__{}.json", file_label(label), model.name()))
}

/// The cell at `path`, if it is readable and was produced with exactly `settings`.
fn reusable(path: &Path, settings: &serde_json::Value, reporter: &dyn Reporter) -> Option<Cell> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<Cell>(&text) {
        Ok(cell) if &cell.settings == settings => Some(cell),
        Ok(_) => {
            reporter.line(&format!(
                "{}: produced with other settings, recomputing",
                path.display()
            ));
            None
        }
        Err(e) => {
            reporter.line(&format!(
                "{}: unreadable ({e}), recomputing",
                path.display()
            ));
            None
        }
    }
}

/// The features of `spec`: from the cache when it holds a valid file for exactly these data
/// and extractor settings, else extracted (and written to the cache when there is one).
fn features(
    plan: &Plan,
    data: &serde_json::Value,
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    info: &DataInfo,
    progress: &dyn Stage,
) -> Result<(Features, bool)> {
    let key =
        serde_json::json!({"format": CACHE_FORMAT, "data": data, "features": feature_key(spec)})
            .to_string();
    let path = plan.cache_dir.as_ref().map(|dir| {
        dir.join(format!(
            "{}-{:016x}.safetensors",
            file_label(&spec.label()),
            // A short, stable name; the full key is stored in the file and compared, so a
            // collision cannot return the wrong features.
            Fnv64::of_str(&key)
        ))
    });
    if let Some(path) = path.as_ref().filter(|p| p.exists()) {
        match read_cached(path, &key, splits) {
            Ok(f) => return Ok((f, true)),
            Err(e) => progress.line(&format!("warning: {e:#}; extracting again")),
        }
    }
    let mut feats = crate::run::extract_unscaled(spec, splits, &plan.data, None)?;
    if let Some(path) = &path {
        let mut metadata = extract::metadata(&plan.data, &feats.fitted, info)?;
        metadata.insert("cache_key".into(), key);
        extract::write_features(path, &feats, splits, metadata)?;
    }
    for m in [&mut feats.train, &mut feats.val, &mut feats.test] {
        feats.scaler.transform_inplace(m);
    }
    Ok((
        Features {
            parts: crate::run::feature_parts(&feats.fitted),
            train: feats.train,
            val: feats.val,
            test: feats.test,
            scaler: feats.scaler,
        },
        false,
    ))
}

/// Reads a cache file and checks it belongs to `key` and to these splits' labels.
fn read_cached(path: &Path, key: &str, splits: &wb_data::Splits) -> Result<Features> {
    let file = extract::read_features(path)?;
    if file.metadata.get("cache_key").map(String::as_str) != Some(key) {
        anyhow::bail!(
            "cache file {} was written for other settings",
            path.display()
        );
    }
    if file.y_train != splits.train.labels
        || file.y_val != splits.val.labels
        || file.test_y != splits.test.labels
    {
        anyhow::bail!(
            "cache file {} holds other labels than the data",
            path.display()
        );
    }
    let parts: Vec<FeaturePart> = file
        .metadata
        .get("parts")
        .map(|p| serde_json::from_str(p))
        .transpose()
        .ok()
        .flatten()
        .with_context(|| format!("cache file {} lacks its parts", path.display()))?;
    let (mut train, mut val, mut test) = (file.train, file.val, file.test);
    for m in [&mut train, &mut val, &mut test] {
        file.scaler.transform_inplace(m);
    }
    Ok(Features {
        train,
        val,
        test,
        scaler: file.scaler,
        parts,
    })
}

/// Draws what a model trained on raw pixels learned: the linear classifier's class templates
/// (`templates_raw_{svm,softmax}.png`) or the MLP's first-layer templates
/// (`mlp_first_layer_raw.png`, the first [`FIRST_LAYER_TEMPLATES`] hidden units).
fn draw_weights(
    out: &Path,
    model: &Classifier,
    kind: ModelKind,
    scaler: &Scaler,
    info: &DataInfo,
) -> Result<()> {
    match model {
        Classifier::Linear(m) => {
            let rows: Vec<Vec<f32>> = m
                .weights
                .columns()
                .into_iter()
                .map(|c| c.to_vec())
                .collect();
            plots::templates(
                &out.join(format!("templates_raw_{}.png", kind.name())),
                &format!("{} class templates on raw pixels", kind.name()),
                &rows,
                &scaler.inv_std,
                info.image_shape,
                Some(&info.class_names),
                rows.len().min(10),
            )
        }
        Classifier::Mlp(m) => {
            let Some((_, shape, values)) = m
                .tensors()
                .into_iter()
                .find(|(name, _, _)| name == "layers.0.weight")
            else {
                return Ok(());
            };
            let inputs = shape.get(1).copied().unwrap_or(0);
            if inputs != scaler.inv_std.len() {
                return Ok(());
            }
            let rows: Vec<Vec<f32>> = values
                .chunks_exact(inputs)
                .take(FIRST_LAYER_TEMPLATES)
                .map(<[f32]>::to_vec)
                .collect();
            plots::templates(
                &out.join("mlp_first_layer_raw.png"),
                &format!(
                    "mlp first layer on raw pixels\n{} of {} hidden units",
                    rows.len(),
                    shape[0]
                ),
                &rows,
                &scaler.inv_std,
                info.image_shape,
                None,
                10,
            )
        }
    }
}

/// The cell with the best validation accuracy (the first of equals, in grid order).
fn best_cell(cells: &[Cell]) -> Option<&Cell> {
    cells
        .iter()
        .fold(None, |best: Option<&Cell>, c| match best {
            Some(b) if b.accuracy.val >= c.accuracy.val => Some(b),
            _ => Some(c),
        })
}

/// Writes results.json, results.csv, the plots and report.md (each atomically).
fn write_outputs(out: &Path, results: &CompareResults) -> Result<()> {
    write_json(&out.join("results.json"), results)?;
    write_bytes(&out.join("results.csv"), csv(results).as_bytes())?;
    let mut plots_written = Vec::new();

    let accuracy: Vec<Vec<Option<f64>>> = results
        .feature_sets
        .iter()
        .map(|f| {
            results
                .models
                .iter()
                .map(|m| find(results, f, m).map(|c| c.accuracy.test))
                .collect()
        })
        .collect();
    let name = "accuracy_by_model.png";
    plots::accuracy_bars(
        &out.join(name),
        &format!(
            "test accuracy on {}\nhyper-parameters chosen on validation",
            results.data.dataset
        ),
        &results.feature_sets,
        &results.models,
        &accuracy,
    )?;
    plots_written.push((
        name.to_string(),
        "test accuracy per feature set, by model".to_string(),
    ));
    for c in results.cells.iter().filter(|c| c.model == "mlp") {
        let name = format!("learning_curve_mlp_{}.png", file_label(&c.features));
        if c.curve.iter().any(|p| !p.loss.is_finite()) {
            continue;
        }
        plots::learning_curve(
            &out.join(&name),
            &format!("mlp on {}\nthe chosen model's epochs", c.features),
            &c.features,
            &c.curve,
        )?;
        plots_written.push((name, format!("MLP on {}: accuracy per epoch", c.features)));
    }
    if let Some((f, m)) = &results.best {
        if let Some(c) = find(results, f, m) {
            let name = "confusion_best.png";
            plots::confusion(
                &out.join(name),
                &format!("{m} on {f}\ntest confusion matrix (rows: true class)"),
                &c.per_class,
            )?;
            plots_written.push((name.to_string(), format!("confusion matrix of {m} on {f}")));
        }
    }
    for (name, what) in [
        ("templates_raw_svm.png", "SVM class templates on raw pixels"),
        (
            "templates_raw_softmax.png",
            "softmax class templates on raw pixels",
        ),
        (
            "mlp_first_layer_raw.png",
            "the MLP's first layer on raw pixels",
        ),
    ] {
        if out.join(name).exists() && results.feature_sets.iter().any(|f| f == "raw") {
            plots_written.push((name.to_string(), what.to_string()));
        }
    }
    Ok(write_bytes(
        &out.join("report.md"),
        markdown(results, &plots_written).as_bytes(),
    )?)
}

fn find<'a>(results: &'a CompareResults, features: &str, model: &str) -> Option<&'a Cell> {
    results
        .cells
        .iter()
        .find(|c| c.features == features && c.model == model)
}

fn is_best(results: &CompareResults, c: &Cell) -> bool {
    results
        .best
        .as_ref()
        .is_some_and(|(f, m)| *f == c.features && *m == c.model)
}

/// One row per cell; feature sets are quoted (they contain commas). `lr` is empty for a
/// solver without a learning rate (L-BFGS), as report.md shows `-`.
fn csv(results: &CompareResults) -> String {
    let mut s = String::from(
        "features,model,feature_dim,test_accuracy,val_accuracy,train_accuracy,\
         train_seconds,features_seconds,lr,reg,best\n",
    );
    for c in &results.cells {
        s.push_str(&format!(
            "\"{}\",{},{},{:.4},{:.4},{:.4},{:.2},{:.2},{},{},{}\n",
            c.features,
            c.model,
            c.feature_dim,
            c.accuracy.test,
            c.accuracy.val,
            c.accuracy.train,
            c.train_seconds,
            c.features_seconds,
            crate::report::lr_field(c.chosen.lr),
            c.chosen.reg,
            is_best(results, c)
        ));
    }
    s
}

/// The grid as a table for the terminal: test accuracy per feature set and model.
pub fn summary_table(results: &CompareResults) -> String {
    let mut s = format!("{:<16}", "test accuracy");
    for m in &results.models {
        s.push_str(&format!(" {m:>9}"));
    }
    s.push('\n');
    for f in &results.feature_sets {
        s.push_str(&format!("{f:<16}"));
        for m in &results.models {
            match find(results, f, m) {
                Some(c) => s.push_str(&format!(
                    " {:>8.4}{}",
                    c.accuracy.test,
                    if is_best(results, c) { "*" } else { " " }
                )),
                None => s.push_str(&format!(" {:>9}", "-")),
            }
        }
        s.push('\n');
    }
    s.push_str("* best on validation\n");
    s
}

/// How long the grid took, honest about cells resumed from an earlier run.
fn run_time(results: &CompareResults) -> String {
    if results.resumed_cells == 0 {
        return format!("{:.0} s in all", results.seconds);
    }
    format!(
        "{:.0} s for this run; {} of {} cells were resumed from an earlier run",
        results.seconds,
        results.resumed_cells,
        results.cells.len()
    )
}

/// The search points whose training diverged (recorded and skipped; each cell's model is the
/// best of its other points), as a markdown section; empty when none did.
fn diverged_table(results: &CompareResults) -> String {
    let mut rows = String::new();
    for c in &results.cells {
        for p in &c.search {
            if let Some(d) = &p.diverged {
                rows.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    c.features,
                    c.model,
                    crate::report::show_lr(p.lr),
                    p.reg,
                    d.epoch,
                    d.loss
                ));
            }
        }
    }
    if rows.is_empty() {
        return rows;
    }
    format!(
        "\n## Search points that diverged\n\n\
         Their loss became NaN or infinite; they were skipped and each cell keeps the best of \
         its other points (`results.json` has the messages).\n\n\
         | features | model | lr | reg | epoch | loss |\n|---|---|---|---|---|---|\n{rows}"
    )
}

fn markdown(results: &CompareResults, plots: &[(String, String)]) -> String {
    let d = &results.data;
    let mut s = format!(
        "# Feature sets x models on {}\n\n\
         {}x{}x{} images, {} classes; train {}{} / val {} / test {}; seed {}; {} threads; \
         {}.\n\n\
         Each cell: test accuracy (validation accuracy, training time of the whole \
         hyper-parameter search). Hyper-parameters were chosen on validation; ★ marks the cell \
         with the best validation accuracy, whose test accuracy is the one to quote.\n\n",
        d.dataset,
        d.image_shape[0],
        d.image_shape[1],
        d.image_shape[2],
        d.n_classes,
        d.train,
        d.augment_note(),
        d.val,
        d.test,
        results.settings["data"]["seed"],
        results.settings["threads"],
        run_time(results),
    );
    s.push_str("| features |");
    for m in &results.models {
        s.push_str(&format!(" {m} |"));
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(results.models.len()));
    s.push('\n');
    for f in &results.feature_sets {
        s.push_str(&format!("| {f} |"));
        for m in &results.models {
            match find(results, f, m) {
                Some(c) => {
                    let test = format!("{:.4}", c.accuracy.test);
                    s.push_str(&format!(
                        " {} (val {:.4}, {:.1} s) |",
                        if is_best(results, c) {
                            format!("★ **{test}**")
                        } else {
                            test
                        },
                        c.accuracy.val,
                        c.train_seconds
                    ))
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s.push_str(
        "\n## Settings of every cell\n\n\
         | features | dims | model | chosen lr | chosen reg | lr searched | reg searched | \
         epochs or iterations (run / set) | batch | other |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in &results.cells {
        let t = &c.settings["training"];
        let lbfgs = t["mlp"].is_null() && t["linear"]["solver"] == "lbfgs";
        let (chosen_lr, lr_searched, length) = if lbfgs {
            // L-BFGS has no learning rate and counts iterations, not epochs.
            (
                "-".to_string(),
                "-".to_string(),
                format!(
                    "{} / {} iterations",
                    c.curve.len(),
                    t["linear"]["iterations"]
                ),
            )
        } else {
            (
                c.chosen.lr.to_string(),
                t["lr"].to_string(),
                format!("{} / {}", c.curve.len(), t["epochs"]),
            )
        };
        let other = match t.get("mlp").filter(|v| !v.is_null()) {
            Some(p) => format!(
                "hidden {}, {}{}, dropout {}, {} optimiser, schedule {}, patience {}",
                p["hidden"],
                p["activation"],
                if p["batch_norm"] == true {
                    ", batch norm"
                } else {
                    ""
                },
                p["dropout"],
                p["optimizer"],
                p["schedule"],
                p["patience"]
            ),
            None if lbfgs => format!(
                "{} loss by L-BFGS (warm-started reg path, best iterate on validation)",
                t["linear"]["loss"]
            ),
            None => format!(
                "{} loss by SGD, momentum {}, lr decay {}, averaged iterates {}",
                t["linear"]["loss"], t["momentum"], t["lr_decay"], t["average"]
            ),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            c.features,
            c.feature_dim,
            c.model,
            chosen_lr,
            c.chosen.reg,
            lr_searched,
            t["reg"],
            length,
            if lbfgs {
                "full".to_string()
            } else {
                t["batch_size"].to_string()
            },
            other.replace('"', "")
        ));
    }
    s.push_str("\nFeature parameters of each set: `settings.json` (`feature_sets`).\n");
    s.push_str(&diverged_table(results));
    if !plots.is_empty() {
        s.push_str("\n## Plots\n\n");
        for (file, what) in plots {
            s.push_str(&format!("### {what}\n\n![{what}]({file})\n\n"));
        }
    }
    s.push_str(&format!(
        "## Full settings\n\n```json\n{}\n```\n",
        serde_json::to_string_pretty(&results.settings).unwrap_or_default()
    ));
    s
}
