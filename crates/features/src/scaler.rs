use ndarray::{s, Array1, Array2, ArrayView2, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How a block of feature columns is normalised with statistics of the training split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Normalization {
    /// x - mean
    Center,
    /// (x - mean) / std, with std floored so constant columns stay finite (they become 0).
    Standardize,
}

/// Per-column affine normalisation `(x - mean) * inv_std`, fitted on training features only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f32>,
    pub inv_std: Vec<f32>,
}

impl Scaler {
    /// Fits on `train` (rows = samples). `blocks` gives consecutive column ranges
    /// (lengths summing to the column count) and how each is normalised.
    pub fn fit(train: ArrayView2<'_, f32>, blocks: &[(usize, Normalization)]) -> Scaler {
        let n = train.nrows().max(1) as f64;
        let cols = train.ncols();
        // Partial sums over fixed blocks of rows, in parallel, then added in block order: the
        // result does not depend on the thread count.
        const BLOCK: usize = 1024;
        let starts: Vec<usize> = (0..train.nrows()).step_by(BLOCK).collect();
        let partials: Vec<(Vec<f64>, Vec<f64>)> = starts
            .par_iter()
            .map(|&r0| {
                let mut sum = vec![0f64; cols];
                let mut sum_sq = vec![0f64; cols];
                let r1 = (r0 + BLOCK).min(train.nrows());
                for row in train.slice(s![r0..r1, ..]).rows() {
                    for ((s, q), &v) in sum.iter_mut().zip(sum_sq.iter_mut()).zip(row.iter()) {
                        let v = v as f64;
                        *s += v;
                        *q += v * v;
                    }
                }
                (sum, sum_sq)
            })
            .collect();
        let mut sum = vec![0f64; cols];
        let mut sum_sq = vec![0f64; cols];
        for (ps, pq) in &partials {
            for j in 0..cols {
                sum[j] += ps[j];
                sum_sq[j] += pq[j];
            }
        }
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let mut inv_std = vec![1f32; cols];
        let mut start = 0;
        for &(len, norm) in blocks {
            if norm == Normalization::Standardize {
                let end = (start + len).min(cols);
                let stds: Vec<f64> = (start..end)
                    .map(|j| {
                        let m = sum[j] / n;
                        (sum_sq[j] / n - m * m).max(0.0).sqrt()
                    })
                    .collect();
                // A dimension almost constant on the training set (an MNIST border pixel, a
                // rarely used bin) must not be blown up by a tiny σ: σ is floored at 1% of the
                // block's mean σ, and exactly constant dimensions become 0.
                let floor = 0.01 * stds.iter().sum::<f64>() / stds.len().max(1) as f64;
                for (j, &std) in (start..end).zip(&stds) {
                    inv_std[j] = if std > 1e-12 {
                        (1.0 / std.max(floor)) as f32
                    } else {
                        0.0
                    };
                }
            }
            start += len;
        }
        Scaler { mean, inv_std }
    }

    /// Normalises `x` in place.
    pub fn transform_inplace(&self, x: &mut Array2<f32>) {
        let mean = Array1::from(self.mean.clone());
        let inv = Array1::from(self.inv_std.clone());
        Zip::from(x.rows_mut()).par_for_each(|mut row| {
            Zip::from(&mut row)
                .and(&mean)
                .and(&inv)
                .for_each(|v, &m, &s| *v = (*v - m) * s);
        });
    }
}
