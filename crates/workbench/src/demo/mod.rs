//! `pipeline demo rings` and `pipeline demo spiral`: the lecture's two 2-D pictures, trained with
//! the workbench's own models (wb-linear's softmax classifier, wb-mlp's MLP).
//!
//! - rings (feature transformation): two concentric rings. A linear classifier on `(x, y)` cannot
//!   separate them (every line leaves parts of both rings on each side); the same classifier on
//!   the polar features `(r, θ)` can (a threshold on r), and so can an MLP on `(x, y)`, which
//!   learns its own features. Each model's decision regions go to a PNG, the polar one drawn
//!   back in the `(x, y)` plane so the circle it learned is visible.
//! - spiral (capacity and regularisation, after ConvNetJS's classify2d demo): CS231n's spiral
//!   fitted by MLPs of growing width, then by one wide net under growing L2 strength λ; the six
//!   decision regions form one picture.
//!
//! Accuracies are measured on the training points and on a held-out test set drawn with an
//! independent seed; both, with every setting, are printed as a table and written to
//! `demo.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ndarray::{Array2, ArrayView2};
use serde::Serialize;
use wb_data::toy2d::{self, Points2d};
use wb_features::{Normalization, Scaler};
use wb_linear::{accuracy, Labeled, LinearModel, LinearParams, LossKind};
use wb_mlp::{Mlp, MlpParams, OptimizerKind, Schedule};

use crate::progress::Reporter;
use wb_plot::{DecisionRegions, RegionPanel, RegionRow, Window};

/// Which demo to run, with its settings.
#[derive(Debug, Clone)]
pub enum DemoParams {
    Rings(RingsParams),
    Spiral(SpiralParams),
}

/// Settings shared by both demos.
#[derive(Debug, Clone)]
pub struct CommonParams {
    /// Folder for the PNGs and demo.json (default: demo-out/rings or demo-out/spiral).
    pub out: Option<PathBuf>,
    /// Seed of the training points, the initial weights and the shuffling; the test points are
    /// drawn with an independent seed derived from it.
    pub seed: u64,
    /// Training epochs of every model (default: 200 for rings, 400 for spiral).
    pub epochs: Option<usize>,
    /// Base learning rate of the MLPs (SGD with momentum 0.9, cosine schedule).
    pub lr: f64,
    /// Mini-batch size of every model.
    pub batch_size: usize,
    /// Side of each decision-region panel, in pixels (64 to 2048).
    pub size: u32,
}

impl Default for CommonParams {
    fn default() -> Self {
        CommonParams {
            out: None,
            seed: 0,
            epochs: None,
            lr: MLP_LEARNING_RATE,
            batch_size: BATCH_SIZE,
            size: DEFAULT_PICTURE_SIZE,
        }
    }
}

/// `demo rings`: softmax on (x, y) and on polar (r, θ), an MLP on (x, y).
#[derive(Debug, Clone)]
pub struct RingsParams {
    pub common: CommonParams,
    /// Points per ring in the training set (the test set has as many).
    pub points: usize,
    /// Standard deviation of the radius around each ring's (0.5 and 1.0).
    pub noise: f32,
    /// Hidden units of the MLP.
    pub hidden: usize,
}

impl Default for RingsParams {
    fn default() -> Self {
        RingsParams {
            common: CommonParams::default(),
            points: 200,
            noise: 0.1,
            hidden: 16,
        }
    }
}

/// `demo spiral`: MLPs of growing width (top row), one net under growing λ (bottom row).
#[derive(Debug, Clone)]
pub struct SpiralParams {
    pub common: CommonParams,
    /// Points per class (arm) in the training set (the test set has as many).
    pub points: usize,
    /// Number of classes (arms), 2 to 8.
    pub classes: usize,
    /// Standard deviation of the angle noise, in radians (CS231n: 0.2).
    pub noise: f32,
    /// Top row: hidden-layer widths.
    pub widths: Vec<usize>,
    /// Top row: L2 strength λ of every net (small, so capacity alone sets the boundary).
    pub capacity_reg: f64,
    /// Bottom row: L2 strengths λ.
    pub regs: Vec<f64>,
    /// Bottom row: hidden units of the regularised net (wide, so λ is what limits it).
    pub reg_width: usize,
}

impl Default for SpiralParams {
    fn default() -> Self {
        SpiralParams {
            common: CommonParams::default(),
            points: 100,
            classes: 3,
            noise: 0.2,
            widths: vec![3, 6, 20],
            capacity_reg: 1e-4,
            regs: vec![0.001, 0.01, 0.1],
            reg_width: 50,
        }
    }
}

// Training settings for 2-D toys. The CIFAR defaults (`MlpParams::default()`: batch 200, η 0.01,
// 30 epochs, dropout 0.2, early stopping) are wrong here: a toy set has a few hundred points, so
// a batch of 200 would give one or two updates per epoch; with batches of 32 an epoch is ~10
// updates that take well under a millisecond, so hundreds of epochs cost nothing. Inputs are
// two standardised numbers and the nets have 3-50 units, so a 10x larger step (0.1, with
// momentum 0.9 and a cosine decay to 0) is stable and converges in a few thousand updates.
// No dropout: with 3 units it removes a third of the capacity at random and blurs exactly the
// boundaries the pictures are about. No early stopping: there is no validation split, and the
// pictures should show what each net converges to.

/// Mini-batch size of every model.
pub const BATCH_SIZE: usize = 32;
/// Base learning rate of the MLPs.
pub const MLP_LEARNING_RATE: f64 = 0.1;
/// Side of each decision-region picture, in pixels.
pub const DEFAULT_PICTURE_SIZE: u32 = 300;
/// L2 strength of the rings MLP and of both softmax classifiers: small, only to keep weights
/// finite on separable data.
const SMALL_REG: f64 = 1e-4;
/// Softmax classifier: learning rate, and its decay per epoch (0.99²⁰⁰ ≈ 0.13 after the rings'
/// 200 epochs: late epochs refine instead of jumping around the optimum).
const LINEAR_LEARNING_RATE: f64 = 0.05;
const LINEAR_LR_DECAY: f64 = 0.99;
const RINGS_EPOCHS: usize = 200;
/// The spiral's arms cross the plane many times; the 3-unit net needs the extra epochs to settle.
const SPIRAL_EPOCHS: usize = 400;

/// Test points come from this seed, independent of the training seed's stream.
fn test_seed(seed: u64) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(0x07e5_75e7)
}

/// Runs the chosen demo: trains, draws the PNGs and writes `demo.json` (returned as well).
pub fn demo(params: &DemoParams, reporter: &dyn Reporter) -> Result<DemoReport> {
    let report = match params {
        DemoParams::Rings(a) => rings(a, reporter)?,
        DemoParams::Spiral(a) => spiral(a, reporter)?,
    };
    wb_io::write_json(&report.json_path(), &report)?;
    Ok(report)
}

/// What the classifier sees of a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Features {
    /// The coordinates `(x, y)` themselves.
    Xy,
    /// Polar coordinates `(r, θ)`: `r = √(x² + y²)`, `θ = atan2(y, x)` in (−π, π].
    Polar,
}

impl Features {
    fn name(self) -> &'static str {
        match self {
            Features::Xy => "x,y",
            Features::Polar => "r,theta",
        }
    }

    /// One row of features per row `(x, y)` of `xy`.
    fn transform(self, xy: ArrayView2<'_, f32>) -> Array2<f32> {
        match self {
            Features::Xy => xy.to_owned(),
            Features::Polar => Array2::from_shape_fn((xy.nrows(), 2), |(i, j)| {
                let (x, y) = (xy[[i, 0]], xy[[i, 1]]);
                if j == 0 {
                    x.hypot(y)
                } else {
                    y.atan2(x)
                }
            }),
        }
    }
}

/// Which model to train and how.
#[derive(Debug, Clone)]
enum ModelSpec {
    Softmax(LinearParams),
    Mlp(MlpParams),
}

impl ModelSpec {
    /// Trains on standardised features `x` (one row per point) with labels `y`.
    fn train<'a>(
        &self,
        x: ArrayView2<'a, f32>,
        y: &'a [usize],
        n_classes: usize,
    ) -> Result<Trained> {
        Ok(match self {
            ModelSpec::Softmax(p) => {
                let train = Labeled { x, y };
                let (model, _) = LinearModel::fit(p, train, None, n_classes, &mut |_| {})?;
                Trained::Linear(model)
            }
            ModelSpec::Mlp(p) => {
                let (model, _) = wb_mlp::fit(p, x, y, n_classes, None, &mut |_| {})?;
                Trained::Mlp(model)
            }
        })
    }

    /// The settings as reported; accuracies, time and picture are filled in by the caller.
    fn describe(&self, name: &str, features: Features) -> ModelResult {
        let base = ModelResult {
            name: name.to_string(),
            features: features.name(),
            ..ModelResult::default()
        };
        match self {
            ModelSpec::Softmax(p) => ModelResult {
                model: "softmax",
                reg: p.reg,
                learning_rate: p.learning_rate,
                epochs: p.epochs,
                batch_size: p.batch_size,
                ..base
            },
            ModelSpec::Mlp(p) => ModelResult {
                model: "mlp",
                hidden: p.hidden.first().copied(),
                reg: p.reg,
                learning_rate: p.learning_rate,
                epochs: p.epochs,
                batch_size: p.batch_size,
                ..base
            },
        }
    }
}

enum Trained {
    Linear(LinearModel),
    Mlp(Mlp),
}

impl Trained {
    fn predict(&self, x: ArrayView2<'_, f32>) -> Vec<usize> {
        match self {
            Trained::Linear(m) => m.predict(x),
            Trained::Mlp(m) => m.predict(x),
        }
    }
}

/// One model of a demo: what it is, how it did, where its picture is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelResult {
    name: String,
    features: &'static str,
    model: &'static str,
    /// Hidden units (MLPs only).
    hidden: Option<usize>,
    /// L2 strength λ.
    reg: f64,
    learning_rate: f64,
    epochs: usize,
    batch_size: usize,
    train_accuracy: f64,
    test_accuracy: f64,
    seconds: f64,
    /// The PNG (file name in the output folder) showing this model's decision regions.
    picture: String,
    /// Where in that picture, for grids.
    panel: Option<String>,
}

/// Everything `demo.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    demo: &'static str,
    #[serde(skip)]
    out_dir: PathBuf,
    seed: u64,
    test_seed: u64,
    classes: usize,
    points_per_class: usize,
    noise: f32,
    train_points: usize,
    test_points: usize,
    threads: usize,
    picture_size: u32,
    models: Vec<ModelResult>,
    /// Every PNG written (file names in the output folder).
    pictures: Vec<String>,
    /// How to read the pictures.
    legend: Vec<String>,
}

impl DemoReport {
    /// Where `demo.json` is.
    pub fn json_path(&self) -> PathBuf {
        self.out_dir.join("demo.json")
    }

    /// The settings and accuracies as a text table, with the legend below.
    pub fn table(&self) -> String {
        let mut out = format!(
            "demo {}: {} classes, {} points per class (noise {}), {} training and {} test points, \
             seed {}\n",
            self.demo,
            self.classes,
            self.points_per_class,
            self.noise,
            self.train_points,
            self.test_points,
            self.seed
        );
        out.push_str(&format!(
            "{:<18} {:<8} {:<8} {:>6} {:>8} {:>6} {:>6} {:>7} {:>7} {:>6}  picture\n",
            "name", "model", "features", "hidden", "λ", "lr", "epochs", "train", "test", "s"
        ));
        for m in &self.models {
            let picture = match &m.panel {
                Some(panel) => format!("{} ({panel})", m.picture),
                None => m.picture.clone(),
            };
            out.push_str(&format!(
                "{:<18} {:<8} {:<8} {:>6} {:>8} {:>6} {:>6} {:>7.3} {:>7.3} {:>6.2}  {picture}\n",
                m.name,
                m.model,
                m.features,
                m.hidden.map_or("-".to_string(), |h| h.to_string()),
                m.reg,
                m.learning_rate,
                m.epochs,
                m.train_accuracy,
                m.test_accuracy,
                m.seconds,
            ));
        }
        for line in &self.legend {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// The checks common to both demos; returns the output folder (created) and the epochs.
fn prepare(common: &CommonParams, demo: &str, default_epochs: usize) -> Result<(PathBuf, usize)> {
    let epochs = common.epochs.unwrap_or(default_epochs);
    if epochs == 0 || epochs > 100_000 {
        bail!("--epochs {epochs} is not in 1..=100000");
    }
    if common.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if !(common.lr.is_finite() && common.lr > 0.0) {
        bail!("--lr {} must be a positive number", common.lr);
    }
    if !(64..=2048).contains(&common.size) {
        bail!("--size {} is not in 64..=2048 pixels", common.size);
    }
    let out = common
        .out
        .clone()
        .unwrap_or_else(|| Path::new("demo-out").join(demo));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    Ok((out, epochs))
}

fn check_points(points: usize, noise: f32) -> Result<()> {
    if !(2..=1_000_000).contains(&points) {
        bail!("--points {points} is not in 2..=1000000");
    }
    if !(noise.is_finite() && noise >= 0.0) {
        bail!("--noise {noise} must be zero or a positive number");
    }
    Ok(())
}

/// A softmax classifier with the toy settings (see the comment on [`BATCH_SIZE`]).
fn softmax_spec(common: &CommonParams, epochs: usize) -> ModelSpec {
    ModelSpec::Softmax(LinearParams {
        learning_rate: LINEAR_LEARNING_RATE,
        reg: SMALL_REG,
        epochs,
        batch_size: common.batch_size,
        lr_decay: LINEAR_LR_DECAY,
        seed: common.seed,
        ..LinearParams::new(LossKind::Softmax)
    })
}

/// A one-hidden-layer ReLU MLP with the toy settings (see the comment on [`BATCH_SIZE`]).
fn mlp_spec(common: &CommonParams, epochs: usize, hidden: usize, reg: f64) -> ModelSpec {
    ModelSpec::Mlp(
        MlpParams::default()
            .with_hidden(vec![hidden])
            .with_dropout(0.0)
            .with_optimizer(OptimizerKind::Momentum)
            .with_momentum(0.9)
            .with_learning_rate(common.lr)
            .with_schedule(Schedule::Cosine)
            .with_reg(reg)
            .with_batch_size(common.batch_size)
            .with_epochs(epochs)
            .with_patience(None)
            .with_seed(common.seed),
    )
}

/// The points as an N x 2 matrix.
fn matrix(data: &Points2d) -> Array2<f32> {
    Array2::from_shape_fn((data.len(), 2), |(i, j)| data.points[i][j])
}

/// The data a model is trained and drawn on.
struct Stage<'a> {
    train: &'a Points2d,
    test: &'a Points2d,
    window: Window,
    /// Cells per side of the prediction grid (one per panel pixel).
    size: u32,
}

impl Stage<'_> {
    fn new<'a>(train: &'a Points2d, test: &'a Points2d, size: u32) -> Stage<'a> {
        let all: Vec<[f32; 2]> = train.points.iter().chain(&test.points).copied().collect();
        Stage {
            train,
            test,
            window: Window::around(&all),
            size,
        }
    }

    /// A panel of `predicted` regions under `title`, with the training points on top.
    fn panel<'a>(&'a self, title: &'a str, predicted: &'a [usize]) -> RegionPanel<'a> {
        RegionPanel {
            title,
            window: self.window,
            grid_columns: self.size as usize,
            grid_rows: self.size as usize,
            predicted,
            points: &self.train.points,
            labels: &self.train.labels,
        }
    }
}

/// Trains one model on `features` of the training points, measures train and test accuracy and
/// predicts the class of every cell of the panel's grid (each cell centre goes through the
/// same features and scaler as the points).
fn train_and_predict(
    stage: &Stage<'_>,
    name: &str,
    features: Features,
    spec: &ModelSpec,
) -> Result<(ModelResult, Vec<usize>)> {
    let started = Instant::now();
    let scaled = |xy: ArrayView2<'_, f32>, scaler: &Scaler| {
        let mut x = features.transform(xy);
        scaler.transform_inplace(&mut x);
        x
    };
    let mut x_train = features.transform(matrix(stage.train).view());
    let scaler = Scaler::fit(x_train.view(), &[(2, Normalization::Standardize)]);
    scaler.transform_inplace(&mut x_train);
    let x_test = scaled(matrix(stage.test).view(), &scaler);
    let y_train = &stage.train.labels;
    let trained = spec
        .train(x_train.view(), y_train, stage.train.n_classes)
        .with_context(|| format!("training {name}"))?;
    let train_accuracy = accuracy(&trained.predict(x_train.view()), y_train);
    let test_accuracy = accuracy(&trained.predict(x_test.view()), &stage.test.labels);
    let n = stage.size as usize;
    let centres = stage.window.cell_centres(n, n);
    let grid = Array2::from_shape_fn((centres.len(), 2), |(i, j)| centres[i][j]);
    let regions = trained.predict(scaled(grid.view(), &scaler).view());
    let result = ModelResult {
        train_accuracy,
        test_accuracy,
        seconds: started.elapsed().as_secs_f64(),
        ..spec.describe(name, features)
    };
    Ok((result, regions))
}

/// "train 0.99, test 0.97" under a panel's name.
fn panel_title(label: &str, result: &ModelResult) -> String {
    format!(
        "{label}\ntrain {:.2}, test {:.2}",
        result.train_accuracy, result.test_accuracy
    )
}

fn rings(args: &RingsParams, reporter: &dyn Reporter) -> Result<DemoReport> {
    let common = &args.common;
    check_points(args.points, args.noise)?;
    if args.hidden == 0 {
        bail!("--hidden must be at least 1");
    }
    let (out_dir, epochs) = prepare(common, "rings", RINGS_EPOCHS)?;
    let train = toy2d::rings(args.points, args.noise, common.seed);
    let test = toy2d::rings(args.points, args.noise, test_seed(common.seed));
    let stage = Stage::new(&train, &test, common.size);
    let models = [
        (
            "linear-xy",
            Features::Xy,
            softmax_spec(common, epochs),
            "softmax on (x, y)",
            "rings_linear_xy.png",
        ),
        (
            "linear-polar",
            Features::Polar,
            softmax_spec(common, epochs),
            "softmax on polar (r, θ)",
            "rings_linear_polar.png",
        ),
        (
            "mlp-xy",
            Features::Xy,
            mlp_spec(common, epochs, args.hidden, SMALL_REG),
            "mlp on (x, y)",
            "rings_mlp_xy.png",
        ),
    ];
    let progress = reporter.start("rings", models.len() as u64);
    let mut results = Vec::new();
    let mut pictures = Vec::new();
    let class_names = ["inner ring".to_string(), "outer ring".to_string()];
    for (name, features, spec, label, file) in models {
        let (mut result, predicted) = train_and_predict(&stage, name, features, &spec)?;
        let title = panel_title(label, &result);
        wb_plot::decision_regions(
            &out_dir.join(file),
            &DecisionRegions {
                title: "two concentric rings\nlight: predicted class; dots: training points",
                rows: &[RegionRow {
                    heading: "",
                    panels: &[stage.panel(&title, &predicted)],
                }],
                panel_size: common.size,
                class_names: &class_names,
            },
        )?;
        result.picture = file.to_string();
        progress.line(&format!(
            "{name}: train {:.3}, test {:.3} -> {}",
            result.train_accuracy,
            result.test_accuracy,
            out_dir.join(file).display()
        ));
        progress.inc(1);
        results.push(result);
        pictures.push(file.to_string());
    }
    progress.finish();
    let legend = vec![
        "legend: light colours = predicted class, dots = training points (the picture names \
         the classes)"
            .to_string(),
        "  linear-xy draws one straight boundary: it cannot enclose the inner ring;".to_string(),
        "  linear-polar thresholds r, a circle in the (x, y) picture; mlp-xy learns a closed \
         boundary from (x, y) itself."
            .to_string(),
    ];
    Ok(DemoReport {
        demo: "rings",
        out_dir,
        seed: common.seed,
        test_seed: test_seed(common.seed),
        classes: 2,
        points_per_class: args.points,
        noise: args.noise,
        train_points: train.len(),
        test_points: test.len(),
        threads: rayon::current_num_threads(),
        picture_size: common.size,
        models: results,
        pictures,
        legend,
    })
}

const SPIRAL_PICTURE: &str = "spiral.png";

fn spiral(args: &SpiralParams, reporter: &dyn Reporter) -> Result<DemoReport> {
    let common = &args.common;
    check_points(args.points, args.noise)?;
    if !(2..=8).contains(&args.classes) {
        bail!("--classes {} is not in 2..=8", args.classes);
    }
    if args.widths.is_empty() || args.widths.contains(&0) {
        bail!("--widths needs at least one width, each at least 1");
    }
    if args.reg_width == 0 {
        bail!("--reg-width must be at least 1");
    }
    for (option, reg) in args
        .regs
        .iter()
        .map(|&r| ("--regs", r))
        .chain([("--capacity-reg", args.capacity_reg)])
    {
        if !(reg.is_finite() && reg >= 0.0) {
            bail!("{option} {reg} must be zero or a positive number");
        }
    }
    if args.regs.is_empty() {
        bail!("--regs needs at least one λ");
    }
    let (out_dir, epochs) = prepare(common, "spiral", SPIRAL_EPOCHS)?;
    let train = toy2d::spiral(args.points, args.classes, args.noise, common.seed);
    let test = toy2d::spiral(
        args.points,
        args.classes,
        args.noise,
        test_seed(common.seed),
    );
    let stage = Stage::new(&train, &test, common.size);
    let columns = args.widths.len().max(args.regs.len());
    // (row, column, name, hidden, λ, label)
    let mut panels = Vec::new();
    for (col, &width) in args.widths.iter().enumerate() {
        panels.push((
            0,
            col,
            format!("mlp-h{width}"),
            width,
            args.capacity_reg,
            format!("{width} hidden units"),
        ));
    }
    for (col, &reg) in args.regs.iter().enumerate() {
        panels.push((
            1,
            col,
            format!("mlp-h{}-reg{reg}", args.reg_width),
            args.reg_width,
            reg,
            format!("λ = {reg}"),
        ));
    }
    let progress = reporter.start("spiral", panels.len() as u64);
    // (row, title, predicted classes) of every panel, drawn together at the end.
    let mut drawn: Vec<(usize, String, Vec<usize>)> = Vec::new();
    let mut results = Vec::new();
    for (row, col, name, hidden, reg, label) in panels {
        let spec = mlp_spec(common, epochs, hidden, reg);
        let (mut result, predicted) = train_and_predict(&stage, &name, Features::Xy, &spec)?;
        drawn.push((row, panel_title(&label, &result), predicted));
        let row_name = if row == 0 { "top" } else { "bottom" };
        result.picture = SPIRAL_PICTURE.to_string();
        result.panel = Some(format!("{row_name} row, panel {}", col + 1));
        progress.line(&format!(
            "{name}: train {:.3}, test {:.3}",
            result.train_accuracy, result.test_accuracy
        ));
        progress.inc(1);
        results.push(result);
    }
    progress.finish();
    let row_panels = |row: usize| -> Vec<RegionPanel<'_>> {
        drawn
            .iter()
            .filter(|(r, _, _)| *r == row)
            .map(|(_, title, predicted)| stage.panel(title, predicted))
            .collect()
    };
    let (capacity, regularisation) = (row_panels(0), row_panels(1));
    let capacity_heading = format!("capacity: more hidden units (λ = {})", args.capacity_reg);
    let reg_heading = format!("regularisation: larger λ ({} hidden units)", args.reg_width);
    let class_names: Vec<String> = (1..=args.classes).map(|k| format!("arm {k}")).collect();
    wb_plot::decision_regions(
        &out_dir.join(SPIRAL_PICTURE),
        &DecisionRegions {
            title: "mlps on cs231n's spiral\nlight: predicted class; dots: training points",
            rows: &[
                RegionRow {
                    heading: &capacity_heading,
                    panels: &capacity,
                },
                RegionRow {
                    heading: &reg_heading,
                    panels: &regularisation,
                },
            ],
            panel_size: common.size,
            class_names: &class_names,
        },
    )?;
    let list = |v: Vec<String>| v.join(", ");
    let legend = vec![
        format!(
            "legend: {} is {} x {} panels; light colours = predicted class, dots = training points",
            out_dir.join(SPIRAL_PICTURE).display(),
            2,
            columns
        ),
        format!(
            "  top row, left to right: {} hidden units at λ = {} (capacity: more units, more \
             intricate boundaries)",
            list(args.widths.iter().map(|w| w.to_string()).collect()),
            args.capacity_reg
        ),
        format!(
            "  bottom row, left to right: {} hidden units at λ = {} (regularisation: larger λ, \
             smoother boundaries)",
            args.reg_width,
            list(args.regs.iter().map(|r| r.to_string()).collect())
        ),
    ];
    Ok(DemoReport {
        demo: "spiral",
        out_dir,
        seed: common.seed,
        test_seed: test_seed(common.seed),
        classes: args.classes,
        points_per_class: args.points,
        noise: args.noise,
        train_points: train.len(),
        test_points: test.len(),
        threads: rayon::current_num_threads(),
        picture_size: common.size,
        models: results,
        pictures: vec![SPIRAL_PICTURE.to_string()],
        legend,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polar_features_are_radius_and_angle() {
        let xy = ndarray::arr2(&[[3.0f32, 4.0], [0.0, -2.0], [-1.0, 0.0]]);
        let polar = Features::Polar.transform(xy.view());
        assert!((polar[[0, 0]] - 5.0).abs() < 1e-6);
        assert!((polar[[0, 1]] - 4f32.atan2(3.0)).abs() < 1e-6);
        assert!((polar[[1, 0]] - 2.0).abs() < 1e-6);
        assert!((polar[[1, 1]] + std::f32::consts::FRAC_PI_2).abs() < 1e-6);
        assert!((polar[[2, 1]] - std::f32::consts::PI).abs() < 1e-6);
        assert_eq!(Features::Xy.transform(xy.view()), xy);
    }

    #[test]
    fn the_test_seed_differs_from_the_training_seed() {
        for seed in [0, 1, 42, u64::MAX] {
            assert_ne!(test_seed(seed), seed);
        }
    }
}
