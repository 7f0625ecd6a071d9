use std::fmt::{Debug, Display};

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::{Float, FromPrimitive};

/// The floating-point types the models run in: `f32` for training, `f64` for gradient checks.
pub trait Real:
    Float
    + FromPrimitive
    + LinalgScalar
    + ScalarOperand
    + Debug
    + Display
    + Send
    + Sync
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + 'static
{
    /// Converts from `f64` (exact for constants such as 0.5).
    fn of(x: f64) -> Self {
        Self::from_f64(x).unwrap_or_else(Self::nan)
    }
}

impl Real for f32 {}
impl Real for f64 {}
