//! Training rows that the full-batch solver reads one at a time: a dense `f32` matrix, or rows
//! stored compactly (e.g. 8-bit pixels) and turned into feature values only when read.
//!
//! L-BFGS reads every training row at every objective evaluation, in blocks of four
//! (`full_batch`), so a row decoded into a small buffer costs a few instructions per value,
//! while a dense `f32` copy of the training set costs 4 bytes per value for the whole run: on
//! CIFAR-10 raw pixels with mirrored copies (98,000 x 3,072) 1.2 GB against the 0.3 GB of the
//! pixels themselves.

use ndarray::{s, Array2, ArrayView2};

/// Rows of an N x D feature matrix, read by index.
pub trait RowSource: Sync {
    /// N.
    fn nrows(&self) -> usize;
    /// D.
    fn ncols(&self) -> usize;
    /// Row `i` in place, when it is stored as `D` contiguous `f32` values (by default it is
    /// not: rows are read with [`RowSource::read_row`]).
    fn row_in_place(&self, _i: usize) -> Option<&[f32]> {
        None
    }
    /// Writes row `i` into `out` (`D` values).
    fn read_row(&self, i: usize, out: &mut [f32]);
}

impl RowSource for ArrayView2<'_, f32> {
    fn nrows(&self) -> usize {
        self.dim().0
    }

    fn ncols(&self) -> usize {
        self.dim().1
    }

    fn row_in_place(&self, i: usize) -> Option<&[f32]> {
        self.row(i).to_slice()
    }

    fn read_row(&self, i: usize, out: &mut [f32]) {
        out.iter_mut().zip(self.row(i)).for_each(|(o, &v)| *o = v);
    }
}

/// Rows to train on: a dense matrix (every solver) or a [`RowSource`] (full-batch L-BFGS, and
/// prediction block by block).
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    Dense(ArrayView2<'a, f32>),
    Source(&'a dyn RowSource),
}

impl<'a> From<ArrayView2<'a, f32>> for Rows<'a> {
    fn from(x: ArrayView2<'a, f32>) -> Rows<'a> {
        Rows::Dense(x)
    }
}

/// Rows decoded together when a [`RowSource`] is predicted block by block.
pub const DECODE_BLOCK_ROWS: usize = 1024;

impl<'a> Rows<'a> {
    pub fn nrows(&self) -> usize {
        match self {
            Rows::Dense(x) => x.nrows(),
            Rows::Source(s) => s.nrows(),
        }
    }

    pub fn ncols(&self) -> usize {
        match self {
            Rows::Dense(x) => x.ncols(),
            Rows::Source(s) => s.ncols(),
        }
    }

    /// The dense matrix, if the rows are one.
    pub fn dense(&self) -> Option<ArrayView2<'a, f32>> {
        match self {
            Rows::Dense(x) => Some(*x),
            Rows::Source(_) => None,
        }
    }

    /// The rows as a [`RowSource`] (a dense matrix lends its rows in place).
    pub fn as_source(&self) -> &dyn RowSource {
        match self {
            Rows::Dense(x) => x,
            Rows::Source(source) => *source,
        }
    }

    /// `per_block` of consecutive blocks of rows, concatenated in order (e.g. one prediction
    /// per row): a dense matrix is one block, a source blocks of [`DECODE_BLOCK_ROWS`]
    /// decoded rows.
    pub fn map_blocks<T>(
        &self,
        per_block: &mut dyn FnMut(ArrayView2<'_, f32>) -> Vec<T>,
    ) -> Vec<T> {
        let mut out = Vec::with_capacity(self.nrows());
        match self {
            Rows::Dense(x) => out.extend(per_block(*x)),
            Rows::Source(source) => {
                let (n, d) = (source.nrows(), source.ncols());
                let mut block = Array2::<f32>::zeros((DECODE_BLOCK_ROWS.min(n), d));
                for r0 in (0..n).step_by(DECODE_BLOCK_ROWS) {
                    let m = DECODE_BLOCK_ROWS.min(n - r0);
                    for (r, mut row) in block.rows_mut().into_iter().take(m).enumerate() {
                        let out = row.as_slice_mut().expect("rows of a standard-layout array");
                        source.read_row(r0 + r, out);
                    }
                    out.extend(per_block(block.slice(s![..m, ..])));
                }
            }
        }
        out
    }
}
