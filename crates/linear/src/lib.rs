//! Linear classifiers `s = x·W + b` (D x C weights, C biases) with L2 on the weights, and the
//! data losses shared with the MLP (CS231n, "Linear classification").
//!
//! The objective is `J(W, b) = (1/N) Σ_i L_i(x_i·W + b, y_i) + λ Σ W²` (the bias is not
//! regularised), with a data loss `L_i` from [`loss`] ([`LossKind`]):
//!
//! - multiclass hinge (Weston–Watkins, the lecture's SVM): `Σ_{j≠y} max(0, s_j − s_y + 1)`;
//! - multiclass squared hinge: `Σ_{j≠y} max(0, s_j − s_y + 1)²`;
//! - one-vs-rest squared hinge (Coates, Lee & Ng 2011's L2-SVM): `Σ_j max(0, 1 − t_j s_j)²`,
//!   `t_j = +1` for the true class and `−1` otherwise;
//! - softmax cross-entropy: `−log(e^{s_y} / Σ_j e^{s_j})`;
//! - (for the MLP) squared error against one-hot targets.
//!
//! Two solvers ([`Solver`]):
//!
//! - **Mini-batch SGD with momentum**: `v ← μ v − η ∇J_batch`, `W ← W + v`, the rate `η`
//!   multiplied by `lr_decay` after each epoch, and by default each epoch's iterates averaged
//!   (Polyak–Ruppert, `W̄ = (1/T) Σ_t W_t`). A search grid of learning rates and L2 strengths
//!   trains in one pass over the data ([`LinearModel::fit_grid`]): each point sees the same
//!   initial weights and mini-batches as a separate run with that seed.
//! - **Full-batch L-BFGS** (Nocedal & Wright, Algorithm 7.4/7.5; memory 20) with the
//!   Moré–Thuente line search (strong Wolfe conditions, μ = 1e-4, η = 0.9) on the exact
//!   objective, for the differentiable losses (softmax and the squared hinges). An L2 grid is
//!   solved as a warm-started path from strong to weak λ.
//!
//! With a validation set, both keep the weights with the best validation accuracy (SGD: the
//! best epoch; L-BFGS: the best iterate, stopping after 50 iterations without a better one),
//! never chosen on test; without one, the last epoch or iterate.
//!
//! - [`LinearParams`] (checked once by [`LinearParams::check`]) → [`LinearModel::fit`] →
//!   [`LinearModel`] (`predict`, `scores`).
//! - [`linfa`]: the same as linfa models — [`linfa::LinearClassifierParams`] (a
//!   `linfa::ParamGuard`) → `Fit` on a `linfa::Dataset<f32, usize, Ix1>` (one class index per
//!   record) → [`linfa::FittedLinearClassifier`] (`PredictInplace`, wrapping a `LinearModel`).
//! - [`stream`]: the SGD over rows streamed in blocks ([`stream::BlockSource`]), for feature
//!   sets larger than memory.
//! - [`loss_and_gradients`]: the objective and its gradient in any precision ([`Real`]: `f32` /
//!   `f64`), for gradient checks.
//! - [`LinearError`]: invalid parameters, invalid data, divergence (NaN/inf loss).

mod error;
mod full_batch;
mod lbfgs;
mod line_search;
pub mod linfa;
pub mod loss;
mod model;
mod real;
pub mod rows;
pub mod stream;

pub use error::LinearError;
pub use loss::{ClassWeight, LossKind};
pub use model::{
    accuracy, argmax_rows, gather_rows, loss_and_gradients, weighted_loss_and_gradients,
    EpochStats, Fit, Labeled, LinearModel, LinearParams, Solver,
};
pub use real::Real;
