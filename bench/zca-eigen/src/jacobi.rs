//! The workbench's former ZCA eigen solver, kept as the reference for this benchmark:
//! eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations, in `f64`
//! (used for the 108x108 patch covariance; no LAPACK on the target machines).

/// The workbench's error type, reduced to what this copy needs.
#[derive(Debug)]
pub struct FeatureError;

impl FeatureError {
    pub fn invalid<A, B>(_param: A, _reason: B) -> Self {
        FeatureError
    }
}

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

/// Decomposes the symmetric row-major `n x n` `matrix` as `A = V Λ Vᵀ` with cyclic Jacobi
/// rotations (Golub & Van Loan, *Matrix Computations*, §8.5): each rotation zeroes one
/// off-diagonal pair; sweeps repeat until the off-diagonal mass is below `1e-15` of the
/// total, which for 108x108 covariances takes 7–10 sweeps (well under a second).
///
/// Only the upper triangle's symmetry is assumed, not checked beyond `1e-9` relative.
pub fn symmetric_eigen(matrix: &[f64], n: usize) -> Result<SymmetricEigen, FeatureError> {
    if matrix.len() != n * n {
        return Err(FeatureError::invalid(
            "matrix",
            format!("expected {n}x{n} = {} values, got {}", n * n, matrix.len()),
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
    let mut a = matrix.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    const MAX_SWEEPS: usize = 100;
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off <= 1e-30 * total || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                // The smaller root of t² + 2θt − 1 = 0 keeps the rotation angle ≤ π/4,
                // which is what makes the cyclic method converge.
                let t = if theta.abs() > 1e150 {
                    0.5 / theta
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vectors = vec![0.0; n * n];
    for (new_col, &old_col) in order.iter().enumerate() {
        for i in 0..n {
            vectors[i * n + new_col] = v[i * n + old_col];
        }
    }
    Ok(SymmetricEigen { n, values, vectors })
}
