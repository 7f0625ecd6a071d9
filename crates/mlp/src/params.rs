//! Hyper-parameters (linfa style: a plain struct with defaults, validated once by `check`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use wb_linear::{ClassWeight, LossKind};

use crate::augment::BatchAugment;
use crate::net::{Init, LayerSpec};

/// Everything that can go wrong when configuring, training, saving or loading an MLP.
#[derive(Debug, thiserror::Error)]
pub enum MlpError {
    #[error("invalid MLP parameter `{param}`: {reason}")]
    InvalidParam { param: &'static str, reason: String },
    #[error("invalid training data: {0}")]
    Data(String),
    #[error(
        "training diverged in epoch {epoch} (loss = {loss}); try a lower learning rate \
         (it was {learning_rate})"
    )]
    Diverged {
        epoch: usize,
        loss: f64,
        learning_rate: f64,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("reading the training data: {0}")]
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// Saving failed (the message names the file); the earlier file is left in place.
    #[error(transparent)]
    Write(#[from] wb_io::IoError),
    /// An error of linfa's dataset machinery (linfa's `Fit` requires the conversion).
    #[error("linfa: {0}")]
    Linfa(#[from] linfa::Error),
}

impl MlpError {
    pub fn invalid(param: &'static str, reason: impl Into<String>) -> Self {
        MlpError::InvalidParam {
            param,
            reason: reason.into(),
        }
    }
}

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActivationKind {
    Relu,
    /// Slope for x < 0 from [`MlpParams::leaky_slope`].
    LeakyRelu,
    /// Learned per-unit slope, initialised to 0.25.
    Prelu,
    /// α from [`MlpParams::elu_alpha`].
    Elu,
    Sigmoid,
    Tanh,
    /// k = [`MlpParams::maxout_pieces`] linear pieces per unit.
    Maxout,
}

impl ActivationKind {
    pub const ALL: [ActivationKind; 7] = [
        ActivationKind::Relu,
        ActivationKind::LeakyRelu,
        ActivationKind::Prelu,
        ActivationKind::Elu,
        ActivationKind::Sigmoid,
        ActivationKind::Tanh,
        ActivationKind::Maxout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ActivationKind::Relu => "relu",
            ActivationKind::LeakyRelu => "leaky-relu",
            ActivationKind::Prelu => "prelu",
            ActivationKind::Elu => "elu",
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Tanh => "tanh",
            ActivationKind::Maxout => "maxout",
        }
    }
}

impl fmt::Display for ActivationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ActivationKind {
    type Err = MlpError;
    fn from_str(s: &str) -> Result<Self, MlpError> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.into_iter().find(|a| a.name() == norm || (norm == "leakyrelu" && *a == ActivationKind::LeakyRelu)).ok_or_else(|| {
            MlpError::invalid(
                "activation",
                format!("unknown activation `{s}` (expected one of relu, leaky-relu, prelu, elu, sigmoid, tanh, maxout)"),
            )
        })
    }
}

/// Update rule. Per step, with gradient g (including the L2 term) and learning rate η:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// `w −= η g`.
    Sgd,
    /// Polyak momentum: `v = μv − ηg; w += v`.
    Momentum,
    /// Nesterov momentum (Sutskever et al. 2013, CS231n form): `v' = μv − ηg; w += −μv + (1+μ)v'`.
    Nesterov,
    /// Adam (Kingma & Ba 2015) with bias correction.
    Adam,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Nesterov => "nesterov",
            OptimizerKind::Adam => "adam",
        }
    }
}

impl FromStr for OptimizerKind {
    type Err = MlpError;
    fn from_str(s: &str) -> Result<Self, MlpError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerKind::Sgd),
            "momentum" => Ok(OptimizerKind::Momentum),
            "nesterov" => Ok(OptimizerKind::Nesterov),
            "adam" => Ok(OptimizerKind::Adam),
            _ => Err(MlpError::invalid(
                "optimizer",
                format!("unknown optimizer `{s}` (expected sgd, momentum, nesterov or adam)"),
            )),
        }
    }
}

/// Learning rate per epoch e = 0, 1, ..., E−1 from the base rate η₀.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Schedule {
    /// `η₀`.
    Constant,
    /// `η₀ · gamma^⌊e / every⌋`.
    Step { every: usize, gamma: f64 },
    /// Cosine annealing without restarts (Loshchilov & Hutter 2017): `η₀ · ½(1 + cos(π e / E))`.
    Cosine,
}

impl Schedule {
    pub fn learning_rate(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((epoch / every.max(1)) as i32),
            Schedule::Cosine => {
                base * 0.5
                    * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs.max(1) as f64).cos())
            }
        }
    }
}

impl FromStr for Schedule {
    type Err = MlpError;
    /// `constant`, `cosine`, `step` (every 10 epochs × 0.5) or `step:EVERY:GAMMA`.
    fn from_str(s: &str) -> Result<Self, MlpError> {
        let s = s.trim().to_ascii_lowercase();
        let bad = || {
            MlpError::invalid(
                "lr-schedule",
                format!(
                    "unknown schedule `{s}` (expected constant, cosine, step or step:EVERY:GAMMA)"
                ),
            )
        };
        match s.as_str() {
            "constant" => Ok(Schedule::Constant),
            "cosine" => Ok(Schedule::Cosine),
            "step" => Ok(Schedule::Step {
                every: 10,
                gamma: 0.5,
            }),
            _ => {
                let rest = s.strip_prefix("step:").ok_or_else(bad)?;
                let (every, gamma) = rest.split_once(':').ok_or_else(bad)?;
                Ok(Schedule::Step {
                    every: every.parse().map_err(|_| bad())?,
                    gamma: gamma.parse().map_err(|_| bad())?,
                })
            }
        }
    }
}

/// MLP hyper-parameters. `MlpParams::default()` is the tuned configuration (see the crate docs for
/// the accuracy it reaches); change fields directly or with the `with_*` setters, then
/// [`MlpParams::check`] (called by `fit`) validates them once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MlpParams {
    /// Width of each hidden layer, input side first (`[1024, 512]`); empty = linear softmax.
    pub hidden: Vec<usize>,
    pub activation: ActivationKind,
    /// Negative-side slope of leaky ReLU (0.1 gives `max(0.1x, x)`).
    pub leaky_slope: f64,
    /// α of ELU.
    pub elu_alpha: f64,
    /// Linear pieces per maxout unit.
    pub maxout_pieces: usize,
    pub init: Init,
    /// Probability of dropping a hidden unit during training (inverted dropout; 0 = off).
    pub dropout: f64,
    /// Batch normalisation between each hidden product and its activation (Ioffe & Szegedy
    /// 2015).
    pub batch_norm: bool,
    pub loss: LossKind,
    pub optimizer: OptimizerKind,
    /// Base learning rate η₀.
    pub learning_rate: f64,
    pub schedule: Schedule,
    /// μ for momentum / Nesterov.
    pub momentum: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    /// L2 strength λ: the objective adds `λ Σ W²` over weight matrices (not biases, not slopes).
    pub reg: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Stop after this many epochs without a new best validation accuracy (needs validation data;
    /// `None` = run all epochs). With validation data the best epoch's weights are returned.
    pub patience: Option<usize>,
    /// Training accuracy is measured each epoch on this many training examples (a fixed random
    /// subset, evaluation mode), which keeps evaluation a small fraction of the epoch time.
    pub train_eval_samples: usize,
    pub seed: u64,
    /// Per-class weights on each sample's loss and gradient ([`ClassWeight::Balanced`]:
    /// scikit-learn's `n / (C · n_c)` from the training labels), for imbalanced classes.
    pub class_weight: ClassWeight,
    /// Augmentation of each mini-batch's rows (they must be images: raw pixels); `None`: the
    /// rows are used as given.
    pub augment: Option<BatchAugment>,
}

impl Default for MlpParams {
    /// One hidden layer of 1000 ReLU units (He init), inverted dropout 0.2, softmax loss,
    /// SGD with momentum 0.9 at η₀ = 0.01 annealed by a cosine over 30 epochs, batch 200,
    /// λ = 2.5e-4 (PyTorch weight decay 5e-4), early stopping after 10 epochs without a better
    /// validation accuracy. Tuned on CIFAR-10 raw pixels, standardised per feature (see BENCH.md).
    fn default() -> Self {
        MlpParams {
            hidden: vec![1000],
            activation: ActivationKind::Relu,
            leaky_slope: 0.01,
            elu_alpha: 1.0,
            maxout_pieces: 2,
            init: Init::Auto,
            dropout: 0.2,
            batch_norm: false,
            loss: LossKind::Softmax,
            optimizer: OptimizerKind::Momentum,
            learning_rate: 0.01,
            schedule: Schedule::Cosine,
            momentum: 0.9,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            reg: 2.5e-4,
            batch_size: 200,
            epochs: 30,
            patience: Some(10),
            train_eval_samples: 5000,
            seed: 0,
            class_weight: ClassWeight::None,
            augment: None,
        }
    }
}

macro_rules! setter {
    ($name:ident, $field:ident, $ty:ty) => {
        pub fn $name(mut self, value: $ty) -> Self {
            self.$field = value;
            self
        }
    };
}

impl MlpParams {
    setter!(with_hidden, hidden, Vec<usize>);
    setter!(with_activation, activation, ActivationKind);
    setter!(with_leaky_slope, leaky_slope, f64);
    setter!(with_elu_alpha, elu_alpha, f64);
    setter!(with_maxout_pieces, maxout_pieces, usize);
    setter!(with_init, init, Init);
    setter!(with_dropout, dropout, f64);
    setter!(with_batch_norm, batch_norm, bool);
    setter!(with_loss, loss, LossKind);
    setter!(with_optimizer, optimizer, OptimizerKind);
    setter!(with_learning_rate, learning_rate, f64);
    setter!(with_schedule, schedule, Schedule);
    setter!(with_momentum, momentum, f64);
    setter!(with_reg, reg, f64);
    setter!(with_batch_size, batch_size, usize);
    setter!(with_epochs, epochs, usize);
    setter!(with_patience, patience, Option<usize>);
    setter!(with_seed, seed, u64);
    setter!(with_class_weight, class_weight, ClassWeight);

    /// Parses a hidden-size list such as `500` or `1024,512` (empty string or `none` = no hidden layer).
    pub fn parse_hidden(s: &str) -> Result<Vec<usize>, MlpError> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        s.split(',')
            .map(|w| {
                w.trim().parse::<usize>().map_err(|_| {
                    MlpError::invalid(
                        "hidden",
                        format!(
                            "`{w}` in `{s}` is not a layer width (expected e.g. 500 or 1024,512)"
                        ),
                    )
                })
            })
            .collect()
    }

    /// Validates every field once; `fit` calls it.
    pub fn check(&self) -> Result<(), MlpError> {
        let positive = |param: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(MlpError::invalid(
                    param,
                    format!("must be a positive finite number, got {v}"),
                ))
            }
        };
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(MlpError::invalid(
                "hidden",
                format!("hidden layer {} has width 0", i + 1),
            ));
        }
        if let Some(&w) = self.hidden.iter().find(|&&w| w > 1 << 20) {
            return Err(MlpError::invalid(
                "hidden",
                format!("width {w} is larger than 1048576"),
            ));
        }
        if !(self.leaky_slope.is_finite() && (0.0..1.0).contains(&self.leaky_slope)) {
            return Err(MlpError::invalid(
                "leaky-slope",
                format!("must be in [0, 1), got {}", self.leaky_slope),
            ));
        }
        positive("elu-alpha", self.elu_alpha)?;
        if self.maxout_pieces < 2 || self.maxout_pieces > 16 {
            return Err(MlpError::invalid(
                "maxout-pieces",
                format!("must be in 2..=16, got {}", self.maxout_pieces),
            ));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(MlpError::invalid(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        positive("lr", self.learning_rate)?;
        if let Schedule::Step { every, gamma } = self.schedule {
            if every == 0 {
                return Err(MlpError::invalid(
                    "lr-schedule",
                    "step interval must be at least 1 epoch",
                ));
            }
            if !(gamma.is_finite() && gamma > 0.0 && gamma <= 1.0) {
                return Err(MlpError::invalid(
                    "lr-schedule",
                    format!("step factor must be in (0, 1], got {gamma}"),
                ));
            }
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(MlpError::invalid(
                "momentum",
                format!("must be in [0, 1), got {}", self.momentum),
            ));
        }
        for (param, b) in [
            ("adam-beta1", self.adam_beta1),
            ("adam-beta2", self.adam_beta2),
        ] {
            if !(b.is_finite() && (0.0..1.0).contains(&b)) {
                return Err(MlpError::invalid(
                    param,
                    format!("must be in [0, 1), got {b}"),
                ));
            }
        }
        positive("adam-epsilon", self.adam_epsilon)?;
        if !(self.reg.is_finite() && self.reg >= 0.0) {
            return Err(MlpError::invalid(
                "reg",
                format!("must be a non-negative finite number, got {}", self.reg),
            ));
        }
        if self.batch_size == 0 {
            return Err(MlpError::invalid("batch-size", "must be at least 1"));
        }
        if self.epochs == 0 {
            return Err(MlpError::invalid("epochs", "must be at least 1"));
        }
        if self.patience == Some(0) {
            return Err(MlpError::invalid(
                "patience",
                "must be at least 1 epoch (or unset to disable early stopping)",
            ));
        }
        Ok(())
    }

    /// The layer stack for `input_dim` inputs and `n_classes` outputs.
    pub fn architecture(&self, input_dim: usize, n_classes: usize) -> Vec<LayerSpec> {
        let mut specs = Vec::new();
        let mut width = input_dim;
        for &h in &self.hidden {
            let pieces = if self.activation == ActivationKind::Maxout {
                self.maxout_pieces
            } else {
                1
            };
            specs.push(LayerSpec::Affine {
                inputs: width,
                outputs: h * pieces,
            });
            if self.batch_norm {
                specs.push(LayerSpec::BatchNorm { units: h * pieces });
            }
            specs.push(match self.activation {
                ActivationKind::Relu => LayerSpec::Relu,
                ActivationKind::LeakyRelu => LayerSpec::LeakyRelu {
                    slope: self.leaky_slope,
                },
                ActivationKind::Prelu => LayerSpec::Prelu { units: h },
                ActivationKind::Elu => LayerSpec::Elu {
                    alpha: self.elu_alpha,
                },
                ActivationKind::Sigmoid => LayerSpec::Sigmoid,
                ActivationKind::Tanh => LayerSpec::Tanh,
                ActivationKind::Maxout => LayerSpec::Maxout { pieces },
            });
            if self.dropout > 0.0 {
                specs.push(LayerSpec::Dropout { p: self.dropout });
            }
            width = h;
        }
        specs.push(LayerSpec::Affine {
            inputs: width,
            outputs: n_classes,
        });
        specs
    }
}
