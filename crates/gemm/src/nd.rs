//! [`sgemm`](crate::sgemm) on `ndarray` views (feature `ndarray`, on by default).
//!
//! A view is used in place when its elements fill one contiguous block of memory in some order
//! (row-major, column-major, or any transposition, e.g. `x.slice(s![..n, ..])` or `w.t()`);
//! otherwise it is copied once into a contiguous temporary (an output view is copied back), so
//! every view is accepted.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, ShapeBuilder};

use crate::{sgemm_fused, sgemm_with, Config, Epilogue, GemmError, MatMut, MatRef};

/// Row and column strides of a view whose elements occupy exactly `rows·cols` consecutive
/// values (row-major or column-major; strides of length-1 axes do not matter), or `None`.
fn contiguous_strides(dim: (usize, usize), strides: &[isize]) -> Option<(usize, usize)> {
    let (rows, cols) = dim;
    let (rs, cs) = (strides[0], strides[1]);
    if rows == 0 || cols == 0 {
        return Some((cols.max(1), 1));
    }
    if (rows == 1 || rs == cols as isize) && (cols == 1 || cs == 1) {
        return Some((cols, 1));
    }
    if (cols == 1 || cs == rows as isize) && (rows == 1 || rs == 1) {
        return Some((1, rows));
    }
    None
}

/// `C ← α·A·B + β·C` then the epilogue, with [`Config::default`].
pub fn gemm(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
    epilogue: Epilogue<'_>,
) -> Result<(), GemmError> {
    gemm_with(&Config::default(), alpha, a, b, beta, c, epilogue)
}

/// [`gemm`] with an explicit [`Config`].
pub fn gemm_with(
    config: &Config,
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
    epilogue: Epilogue<'_>,
) -> Result<(), GemmError> {
    let a_copy;
    let a_ref = match as_ref(a.view()) {
        Some(r) => r,
        None => {
            a_copy = a.as_standard_layout().into_owned();
            as_ref(a_copy.view()).expect("standard layout is contiguous")
        }
    };
    let b_copy;
    let b_ref = match as_ref(b.view()) {
        Some(r) => r,
        None => {
            b_copy = b.as_standard_layout().into_owned();
            as_ref(b_copy.view()).expect("standard layout is contiguous")
        }
    };
    let dim = c.dim();
    match contiguous_strides(dim, c.strides()) {
        Some((rs, cs)) => {
            let len = dim.0 * dim.1;
            // SAFETY: the view's elements are exactly the `len` values from its first element
            // (checked above), all exclusively borrowed through `c`.
            let data = unsafe { std::slice::from_raw_parts_mut(c.as_mut_ptr(), len) };
            let c_mut = MatMut::strided(data, dim.0, dim.1, rs, cs)?;
            sgemm_with(config, alpha, a_ref, b_ref, beta, c_mut, epilogue)
        }
        None => {
            let mut tmp = Array2::<f32>::zeros(dim.f());
            if beta != 0.0 {
                tmp.assign(c);
            }
            {
                let mut tv = tmp.view_mut();
                gemm_with(config, alpha, a, b, beta, &mut tv, epilogue)?;
            }
            c.assign(&tmp);
            Ok(())
        }
    }
}

/// [`sgemm_fused`](crate::sgemm_fused) on ndarray operands: `G = α·A·B` is handed, row segment
/// by row segment of each strip of tiles, to `f` together with the same segments of the companions
/// (row-major `m x n` slices). Returns the sum of `f`'s results in a thread-independent order.
pub fn gemm_fused<const N: usize, F>(
    config: &Config,
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    companions: [&mut [f32]; N],
    f: F,
) -> Result<f64, GemmError>
where
    F: Fn(&[f32], &mut [&mut [f32]; N]) -> f64 + Sync,
{
    let a_copy;
    let a_ref = match as_ref(a.view()) {
        Some(r) => r,
        None => {
            a_copy = a.as_standard_layout().into_owned();
            as_ref(a_copy.view()).expect("standard layout is contiguous")
        }
    };
    let b_copy;
    let b_ref = match as_ref(b.view()) {
        Some(r) => r,
        None => {
            b_copy = b.as_standard_layout().into_owned();
            as_ref(b_copy.view()).expect("standard layout is contiguous")
        }
    };
    let (m, n) = (a_ref.rows(), b_ref.cols());
    let views = companions.map(|c| MatMut::row_major(c, m, n));
    if let Some(e) = views.iter().find_map(|v| v.as_ref().err()) {
        return Err(e.clone());
    }
    let views = views.map(|v| v.expect("checked just above"));
    sgemm_fused(config, alpha, a_ref, b_ref, views, f)
}

fn as_ref<'a>(v: ArrayView2<'a, f32>) -> Option<MatRef<'a>> {
    let dim = v.dim();
    let (rs, cs) = contiguous_strides(dim, v.strides())?;
    let len = dim.0 * dim.1;
    // SAFETY: the view's elements are exactly the `len` values from its first element.
    let data = unsafe { std::slice::from_raw_parts(v.as_ptr(), len) };
    MatRef::strided(data, dim.0, dim.1, rs, cs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    #[test]
    fn views_in_place_and_copied() {
        let a = Array2::from_shape_fn((7, 5), |(i, j)| (i * 5 + j) as f32 * 0.1 - 1.0);
        let b = Array2::from_shape_fn((9, 5), |(i, j)| (i + 2 * j) as f32 * 0.05);
        let want = a.dot(&b.t());
        // In place: row-major A, transposed B, row-major C.
        let mut c = Array2::<f32>::zeros((7, 9));
        gemm(
            1.0,
            &a.view(),
            &b.t(),
            0.0,
            &mut c.view_mut(),
            Epilogue::NONE,
        )
        .unwrap();
        assert!(c.iter().zip(want.iter()).all(|(x, y)| (x - y).abs() < 1e-5));
        // Column-sliced views (not contiguous) are copied, including the output.
        let wide = Array2::from_shape_fn((7, 12), |(i, j)| if j < 5 { a[[i, j]] } else { 9.0 });
        let mut big = Array2::<f32>::from_elem((7, 20), 3.0);
        {
            let mut cv = big.slice_mut(s![.., 4..13]);
            gemm(
                1.0,
                &wide.slice(s![.., ..5]),
                &b.t(),
                0.0,
                &mut cv,
                Epilogue::NONE,
            )
            .unwrap();
        }
        assert!(big
            .slice(s![.., 4..13])
            .iter()
            .zip(want.iter())
            .all(|(x, y)| (x - y).abs() < 1e-5));
        assert!(big.slice(s![.., ..4]).iter().all(|&v| v == 3.0));
        assert!(big.slice(s![.., 13..]).iter().all(|&v| v == 3.0));
    }
}
