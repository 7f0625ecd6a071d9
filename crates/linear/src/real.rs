use std::fmt::{Debug, Display};

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, LinalgScalar, ScalarOperand, Zip};
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

    /// `c ← α·a·b + β·c`, then `c[i][j] += bias[j]` and `max(0, ·)` if asked (NaN stays NaN).
    ///
    /// `f32` runs wb-gemm (run-time-dispatched SIMD kernels, bias and ReLU applied while each
    /// tile is in registers); `f64`, used only by gradient checks, runs ndarray's
    /// `general_mat_mul` and then the epilogue.
    ///
    /// # Panics
    /// If the shapes do not chain or the bias length is not `c`'s column count (a caller bug).
    fn gemm(
        alpha: Self,
        a: &ArrayView2<'_, Self>,
        b: &ArrayView2<'_, Self>,
        beta: Self,
        c: &mut ArrayViewMut2<'_, Self>,
        bias: Option<&[Self]>,
        relu: bool,
    ) {
        general_mat_mul(alpha, a, b, beta, c);
        if let Some(bias) = bias {
            assert_eq!(bias.len(), c.ncols(), "one bias per column");
            for mut row in c.rows_mut() {
                Zip::from(&mut row).and(bias).for_each(|v, &b| *v += b);
            }
        }
        if relu {
            c.mapv_inplace(|v| if v < Self::zero() { Self::zero() } else { v });
        }
    }

    /// `G = α·a·b` (m x n) fed to an elementwise update of `w`, `m1`, `m2` (row-major m x n):
    /// `update(g, w, m1, m2)` runs over matching segments and returns a partial sum; the total
    /// is returned. For `f32`, wb-gemm applies `update` to each tile of `G` while it is in
    /// registers and `G` is never stored (`grad` is left untouched); for `f64`, `G` is computed
    /// into `grad` (resized to m x n) and `update` runs once over all of it.
    #[allow(clippy::too_many_arguments)]
    fn gemm_update<U>(
        alpha: Self,
        a: &ArrayView2<'_, Self>,
        b: &ArrayView2<'_, Self>,
        w: &mut [Self],
        m1: &mut [Self],
        m2: &mut [Self],
        grad: &mut Array2<Self>,
        update: U,
    ) -> f64
    where
        U: Fn(&[Self], &mut [Self], &mut [Self], &mut [Self]) -> f64 + Sync,
    {
        let dim = (a.nrows(), b.ncols());
        if grad.dim() != dim {
            *grad = Array2::zeros(dim);
        }
        general_mat_mul(alpha, a, b, Self::zero(), grad);
        let g = grad.as_slice().expect("owned array is standard layout");
        let len = dim.0 * dim.1;
        update(g, &mut w[..len], &mut m1[..len], &mut m2[..len])
    }
}

impl Real for f32 {
    fn gemm(
        alpha: f32,
        a: &ArrayView2<'_, f32>,
        b: &ArrayView2<'_, f32>,
        beta: f32,
        c: &mut ArrayViewMut2<'_, f32>,
        bias: Option<&[f32]>,
        relu: bool,
    ) {
        let mut epilogue = match bias {
            Some(b) => wb_gemm::Epilogue::bias_cols(b),
            None => wb_gemm::Epilogue::NONE,
        };
        epilogue.relu = relu;
        if let Err(e) = wb_gemm::nd::gemm(alpha, a, b, beta, c, epilogue) {
            panic!("matrix product: {e}");
        }
    }

    fn gemm_update<U>(
        alpha: f32,
        a: &ArrayView2<'_, f32>,
        b: &ArrayView2<'_, f32>,
        w: &mut [f32],
        m1: &mut [f32],
        m2: &mut [f32],
        _grad: &mut Array2<f32>,
        update: U,
    ) -> f64
    where
        U: Fn(&[f32], &mut [f32], &mut [f32], &mut [f32]) -> f64 + Sync,
    {
        let config = wb_gemm::Config::default();
        let fused = wb_gemm::nd::gemm_fused(&config, alpha, a, b, [w, m1, m2], |g, [w, m1, m2]| {
            update(g, w, m1, m2)
        });
        match fused {
            Ok(total) => total,
            Err(e) => panic!("matrix product: {e}"),
        }
    }
}

impl Real for f64 {}
