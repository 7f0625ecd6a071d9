//! Linear classifiers for the workbench and the losses shared with the MLP.
//!
//! - [`loss`]: multiclass hinge (SVM), softmax cross-entropy and squared error on scores.
//! - [`Real`]: `f32` / `f64`, so gradient checks run in double precision.

pub mod loss;
mod real;

pub use loss::LossKind;
pub use real::Real;
