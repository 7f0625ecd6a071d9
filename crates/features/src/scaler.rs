use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Zip};
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

/// Rows summed together by [`ColumnSums::of`] before the partial sums are added in order:
/// summing consecutive chunks of this many rows and [`ColumnSums::add`]ing them in order gives
/// the same bits as summing all rows at once.
pub const SUM_BLOCK_ROWS: usize = 1024;

/// Per-column count, sum and sum of squares of training features, in `f64`: all a [`Scaler`]
/// needs, and additive, so the statistics of feature shards combine without holding the rows
/// (`(Σx, Σx², n)` of the union is the sum of each shard's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSums {
    pub count: u64,
    pub sum: Vec<f64>,
    pub sum_sq: Vec<f64>,
}

impl ColumnSums {
    /// No rows yet, `cols` columns.
    pub fn zeros(cols: usize) -> ColumnSums {
        ColumnSums {
            count: 0,
            sum: vec![0.0; cols],
            sum_sq: vec![0.0; cols],
        }
    }

    /// The sums of the rows of `x`. Partial sums over fixed blocks of rows run in parallel and
    /// are added in block order: the result does not depend on the thread count.
    pub fn of(x: ArrayView2<'_, f32>) -> ColumnSums {
        ColumnSums::of_rows(x.nrows(), x.ncols(), &|i, out| {
            out.iter_mut().zip(x.row(i)).for_each(|(o, &v)| *o = v)
        })
    }

    /// As [`ColumnSums::of`] for `n` rows of `cols` values that `read_row(i, out)` writes
    /// (rows stored compactly and decoded when read); the same rows give the same sums.
    pub fn of_rows(
        n: usize,
        cols: usize,
        read_row: &(dyn Fn(usize, &mut [f32]) + Sync),
    ) -> ColumnSums {
        let starts: Vec<usize> = (0..n).step_by(SUM_BLOCK_ROWS).collect();
        let partials: Vec<(Vec<f64>, Vec<f64>)> = starts
            .par_iter()
            .map(|&r0| {
                let mut sum = vec![0f64; cols];
                let mut sum_sq = vec![0f64; cols];
                let mut row = vec![0f32; cols];
                for i in r0..(r0 + SUM_BLOCK_ROWS).min(n) {
                    read_row(i, &mut row);
                    for ((s, q), &v) in sum.iter_mut().zip(sum_sq.iter_mut()).zip(row.iter()) {
                        let v = v as f64;
                        *s += v;
                        *q += v * v;
                    }
                }
                (sum, sum_sq)
            })
            .collect();
        let mut total = ColumnSums::zeros(cols);
        total.count = n as u64;
        for (ps, pq) in &partials {
            for j in 0..cols {
                total.sum[j] += ps[j];
                total.sum_sq[j] += pq[j];
            }
        }
        total
    }

    /// Adds `other`'s rows; `None` if the column counts differ.
    pub fn add(&mut self, other: &ColumnSums) -> Option<()> {
        if other.sum.len() != self.sum.len() || other.sum_sq.len() != self.sum_sq.len() {
            return None;
        }
        self.count += other.count;
        self.sum
            .iter_mut()
            .zip(&other.sum)
            .for_each(|(a, b)| *a += b);
        self.sum_sq
            .iter_mut()
            .zip(&other.sum_sq)
            .for_each(|(a, b)| *a += b);
        Some(())
    }
}

impl Scaler {
    /// Fits on `train` (rows = samples). `blocks` gives consecutive column ranges
    /// (lengths summing to the column count) and how each is normalised.
    pub fn fit(train: ArrayView2<'_, f32>, blocks: &[(usize, Normalization)]) -> Scaler {
        Scaler::from_sums(&ColumnSums::of(train), blocks)
    }

    /// The scaler of the rows summed in `sums`: mean `Σx / n`, standard deviation
    /// `sqrt(max(0, Σx²/n − mean²))` for standardised blocks.
    pub fn from_sums(sums: &ColumnSums, blocks: &[(usize, Normalization)]) -> Scaler {
        let n = sums.count.max(1) as f64;
        let cols = sums.sum.len();
        let (sum, sum_sq) = (&sums.sum, &sums.sum_sq);
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

    /// Normalises row values `row` (all columns, in order) in place: `(x_j - mean_j) * inv_std_j`,
    /// the same arithmetic as [`Scaler::transform_view`].
    pub fn transform_row(&self, row: &mut [f32]) {
        for ((v, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.inv_std) {
            *v = (*v - m) * s;
        }
    }

    /// Normalises `x` in place.
    pub fn transform_inplace(&self, x: &mut Array2<f32>) {
        self.transform_view(x.view_mut());
    }

    /// Normalises the rows of a view in place (e.g. part of a reused buffer).
    pub fn transform_view(&self, mut x: ArrayViewMut2<'_, f32>) {
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
