//! Linear classifiers for the workbench and the losses shared with the MLP.
//!
//! - [`loss`]: multiclass hinge (SVM), softmax cross-entropy and squared error on scores.
//! - [`LinearParams`] → [`LinearModel::fit`] → [`LinearModel`] (`predict`, `scores`), trained by
//!   mini-batch SGD or full-batch L-BFGS ([`Solver`]).
//! - [`stream`]: the same SGD over rows streamed in blocks ([`stream::BlockSource`]), for
//!   feature sets larger than memory.
//! - [`Real`]: `f32` / `f64`, so gradient checks run in double precision.
//! - [`LinearError`]: invalid parameters, invalid data, divergence.

mod error;
mod full_batch;
mod lbfgs;
mod line_search;
pub mod loss;
mod model;
mod real;
pub mod stream;

pub use error::LinearError;
pub use loss::{ClassWeight, LossKind};
pub use model::{
    accuracy, argmax_rows, gather_rows, loss_and_gradients, weighted_loss_and_gradients,
    EpochStats, Fit, Labeled, LinearModel, LinearParams, Solver,
};
pub use real::Real;
