//! Eigen-decomposition of a small symmetric matrix in `f64` (the `d x d` patch covariance of
//! the ZCA whitening, 108x108 for 6x6x3 patches), by nalgebra's symmetric eigen solver:
//! Householder tridiagonalisation, then implicit symmetric QR steps with Wilkinson shifts
//! (Golub & Van Loan, *Matrix Computations*, §8.3). It replaced a hand-written cyclic
//! Jacobi solver after measuring both on the CIFAR-10 patch covariance (`BENCH_kmeans.md`).

use crate::FeatureError;

/// Eigenvalues and eigenvectors of a symmetric matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct SymmetricEigen {
    /// Matrix size `n`.
    pub n: usize,
    /// Eigenvalues in ascending order.
    pub values: Vec<f64>,
    /// Eigenvectors as the columns of a row-major `n x n` matrix: component `i` of the
    /// eigenvector for `values[j]` is `vectors[i * n + j]`.
    pub vectors: Vec<f64>,
}

impl SymmetricEigen {
    /// `V f(Λ) Vᵀ`, row-major: the matrix function `f` of the decomposed matrix
    /// (e.g. `f(λ) = 1/sqrt(λ + ε)` gives the ZCA whitening matrix).
    pub fn compose(&self, f: impl Fn(f64) -> f64) -> Vec<f64> {
        let n = self.n;
        let scaled: Vec<f64> = self.values.iter().map(|&l| f(l)).collect();
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for j in i..n {
                let s: f64 = (0..n)
                    .map(|k| self.vectors[i * n + k] * scaled[k] * self.vectors[j * n + k])
                    .sum();
                out[i * n + j] = s;
                out[j * n + i] = s;
            }
        }
        out
    }
}

/// Decomposes the symmetric row-major `n x n` `matrix` as `A = V Λ Vᵀ` (nalgebra's
/// `SymmetricEigen`, convergence to machine precision), eigenvalues sorted ascending.
///
/// Refuses a wrong length, NaN or infinity, and a matrix that is not symmetric to `1e-9`
/// relative.
pub fn symmetric_eigen(matrix: &[f64], n: usize) -> Result<SymmetricEigen, FeatureError> {
    if n.checked_mul(n) != Some(matrix.len()) {
        return Err(FeatureError::invalid(
            "matrix",
            format!("expected {n}x{n} values, got {}", matrix.len()),
        ));
    }
    if matrix.iter().any(|v| !v.is_finite()) {
        return Err(FeatureError::invalid("matrix", "contains NaN or infinity"));
    }
    let scale = matrix.iter().fold(0f64, |m, v| m.max(v.abs()));
    for i in 0..n {
        for j in i + 1..n {
            if (matrix[i * n + j] - matrix[j * n + i]).abs() > 1e-9 * scale.max(1e-300) {
                return Err(FeatureError::invalid(
                    "matrix",
                    format!("not symmetric at ({i}, {j})"),
                ));
            }
        }
    }
    if n == 0 {
        return Ok(SymmetricEigen {
            n,
            values: Vec::new(),
            vectors: Vec::new(),
        });
    }
    let eigen =
        nalgebra::SymmetricEigen::new(nalgebra::DMatrix::<f64>::from_row_slice(n, n, matrix));
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| eigen.eigenvalues[i].total_cmp(&eigen.eigenvalues[j]));
    let values = order.iter().map(|&i| eigen.eigenvalues[i]).collect();
    let mut vectors = vec![0.0; n * n];
    for (new_col, &old_col) in order.iter().enumerate() {
        for i in 0..n {
            vectors[i * n + new_col] = eigen.eigenvectors[(i, old_col)];
        }
    }
    Ok(SymmetricEigen { n, values, vectors })
}
