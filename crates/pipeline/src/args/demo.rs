//! `pipeline demo rings|spiral`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use wb_workbench::demo::{self, CommonParams, DemoParams, RingsParams, SpiralParams};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub which: DemoKind,
}

impl DemoArgs {
    /// The `--threads` of whichever demo was chosen.
    pub fn threads(&self) -> Option<usize> {
        match &self.which {
            DemoKind::Rings(a) => a.common.threads,
            DemoKind::Spiral(a) => a.common.threads,
        }
    }
}

#[derive(Debug, Clone, Subcommand)]
pub enum DemoKind {
    /// Feature transformation: softmax on (x, y) fails on two concentric rings, softmax on polar
    /// (r, θ) succeeds, and so does an MLP on (x, y).
    ///
    /// Writes rings_linear_xy.png, rings_linear_polar.png (the polar classifier's regions drawn
    /// in the (x, y) plane), rings_mlp_xy.png and demo.json into --out.
    Rings(RingsArgs),
    /// Capacity and regularisation: decision regions of MLPs on CS231n's spiral, as one PNG grid.
    ///
    /// Panel order in spiral.png: top row, left to right: MLPs with --widths hidden units
    /// (default 3, 6, 20) at λ = --capacity-reg; bottom row, left to right: one net of
    /// --reg-width hidden units (default 50) at λ = --regs (default 0.001, 0.01, 0.1).
    /// Also writes demo.json into --out.
    Spiral(SpiralArgs),
}

/// Options shared by both demos.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Folder for the PNGs and demo.json (created if missing) [default: demo-out/rings or
    /// demo-out/spiral].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of the training points, the initial weights and the shuffling; the test points are
    /// drawn with an independent seed derived from it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training epochs of every model [default: 200 for rings, 400 for spiral].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Base learning rate of the MLPs (SGD with momentum 0.9, cosine schedule).
    #[arg(long, default_value_t = demo::MLP_LEARNING_RATE)]
    pub lr: f64,
    /// Mini-batch size of every model.
    #[arg(long, default_value_t = demo::BATCH_SIZE)]
    pub batch_size: usize,
    /// Side of each decision-region picture, in pixels.
    #[arg(long, default_value_t = demo::DEFAULT_PICTURE_SIZE)]
    pub size: u32,
    /// Worker threads for matrix products (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Args)]
pub struct RingsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Points per ring in the training set (the test set has as many).
    #[arg(long, default_value_t = 200)]
    pub points: usize,
    /// Standard deviation of the radius around each ring's (0.5 and 1.0).
    #[arg(long, default_value_t = 0.1)]
    pub noise: f32,
    /// Hidden units of the MLP.
    #[arg(long, default_value_t = 16)]
    pub hidden: usize,
}

#[derive(Debug, Clone, Args)]
pub struct SpiralArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Points per class (arm) in the training set (the test set has as many).
    #[arg(long, default_value_t = 100)]
    pub points: usize,
    /// Number of classes (arms), 2 to 8.
    #[arg(long, default_value_t = 3)]
    pub classes: usize,
    /// Standard deviation of the angle noise, in radians (CS231n: 0.2).
    #[arg(long, default_value_t = 0.2)]
    pub noise: f32,
    /// Top row: hidden-layer widths, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [3, 6, 20])]
    pub widths: Vec<usize>,
    /// Top row: L2 strength λ of every net (small, so capacity alone sets the boundary).
    #[arg(long, default_value_t = 1e-4)]
    pub capacity_reg: f64,
    /// Bottom row: L2 strengths λ, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0.001, 0.01, 0.1])]
    pub regs: Vec<f64>,
    /// Bottom row: hidden units of the regularised net (wide, so λ is what limits it).
    #[arg(long, default_value_t = 50)]
    pub reg_width: usize,
}

impl From<&CommonArgs> for CommonParams {
    fn from(a: &CommonArgs) -> CommonParams {
        CommonParams {
            out: a.out.clone(),
            seed: a.seed,
            epochs: a.epochs,
            lr: a.lr,
            batch_size: a.batch_size,
            size: a.size,
        }
    }
}

impl From<&DemoArgs> for DemoParams {
    fn from(a: &DemoArgs) -> DemoParams {
        match &a.which {
            DemoKind::Rings(r) => DemoParams::Rings(RingsParams {
                common: (&r.common).into(),
                points: r.points,
                noise: r.noise,
                hidden: r.hidden,
            }),
            DemoKind::Spiral(s) => DemoParams::Spiral(SpiralParams {
                common: (&s.common).into(),
                points: s.points,
                classes: s.classes,
                noise: s.noise,
                widths: s.widths.clone(),
                capacity_reg: s.capacity_reg,
                regs: s.regs.clone(),
                reg_width: s.reg_width,
            }),
        }
    }
}
