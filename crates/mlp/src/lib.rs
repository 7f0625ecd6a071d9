//! Fully connected networks trained by backpropagation through a modular computational graph
//! (CS231n, "Neural Networks" notes; Rumelhart, Hinton & Williams 1986).
//!
//! - [`layers`]: affine, ReLU, leaky ReLU, PReLU, ELU, sigmoid, tanh, maxout, dropout — each with
//!   `forward` and `backward` (upstream gradient in, input and parameter gradients out).
//! - [`Network`]: the stack of layers; [`MlpParams`] → [`fit`] → [`Mlp`] (predict / save / load).
//! - [`stream::fit_stream`]: the same training on rows streamed in blocks (data larger than
//!   memory).
//! - [`linfa`]: the MLP as a linfa model: [`linfa::MlpClassifierParams`] (a `linfa::ParamGuard`)
//!   → `Fit` on `linfa::Dataset<f32, usize, Ix1>` → [`linfa::FittedMlpClassifier`] (`PredictInplace`).
//! - [`augment`]: translations, mirrors and elastic distortions drawn anew for every mini-batch
//!   of image rows ([`MlpParams::augment`]).
//! - [`gradcheck()`]: centred finite differences in `f64` against backprop for every tensor.
//!
//! Saved models are a directory with `mlp.safetensors` (f32 tensors named like a PyTorch
//! `nn.Sequential` held in `self.layers`: `layers.0.weight` is (out x in), `layers.0.bias`, PReLU
//! slopes `layers.1.weight`) and `mlp.json` ([`ModelMeta`]: format version, architecture, loss and a
//! free `extra` JSON value for the caller's preprocessing settings and class names).
//!
//! Losses are shared with the linear classifiers ([`wb_linear::LossKind`]); the objective is
//! `J = (1/N) Σ_i L_i + λ Σ W²` (weights only). Layers are generic over [`wb_linear::Real`]:
//! `f32` for training, `f64` for gradient checks.

pub mod augment;
pub mod gradcheck;
pub mod layers;
pub mod linfa;
mod model;
mod net;
mod optim;
mod params;
pub mod stream;
mod train;

pub use gradcheck::{gradcheck, TensorCheck};
pub use layers::{Layer, ParamMut, ParamView, Pointwise};
pub use model::{Mlp, ModelMeta, FORMAT_VERSION, META_FILE, WEIGHTS_FILE};
pub use net::{Init, LayerSpec, Network, PRELU_INIT_SLOPE};
pub use optim::{Rule, Updater};
pub use params::{ActivationKind, MlpError, MlpParams, OptimizerKind, Schedule};
pub use train::{fit, EpochStats, History};
pub use wb_linear::LossKind;
