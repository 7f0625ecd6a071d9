//! Encoding one image: every stride-1 patch is normalised and whitened, turned into its
//! per-position features by the chosen [`Encoder`], and sum-pooled over the chosen
//! [`Pooling`] regions (see the [module docs](super) for the formulas).
//!
//! The only `O(K·d)` work per patch is the product of the whitened patch with the atoms,
//! done by the packed register-tile kernel of `gemm.rs` (for the triangle on a CPU with
//! AVX512_VNNI in int8, each patch quantised once per image); each encoder fuses its own
//! epilogue into the tile loop so the `patches x K` product is never stored whole:
//! - triangle: tiles become distances `z` for a block of [`ENCODE_BLOCK_SLIVERS`] sliver
//!   rows (still in L2), then `max(0, mean(z) − z_k)` is pooled row by row;
//! - soft threshold: each tile row goes straight into its pooling cell as
//!   `max(0, ±d − α)`;
//! - OMP-1: the tiles only update each row's best `|d_k|`; one value per patch is pooled.

use std::cell::RefCell;

use wb_data::{ImageShape, ImageView};

use super::gemm::{self, Kernel, Microkernel, PackedRows, QuantRows, Tile, TileSink, MR, NR};
use super::{normalize_patch, read_patch, Dictionary, Encoder, Pooling, WhitenSink};

/// Sliver rows (of [`MR`] patches) per encoding block: 48 patches x 1600 distances =
/// 307 KB, so the block's distances are still in L2 when they are pooled.
const ENCODE_BLOCK_SLIVERS: usize = 8;

/// Where each patch of the stride-1 grid is pooled: the grid is cut into `side x side`
/// cells, band edges at `round(i · n / side)` with halves rounded up (MATLAB's `round`, as
/// Coates' `round(prows/2)`: 27 rows split 14 + 13 into halves, 7 + 7 + 6 + 7 into
/// quarters, 9 + 9 + 9 into thirds). The pyramid's 2x2 regions are unions of its 4x4
/// cells because `round(2n/4) = round(n/2)`.
#[derive(Debug, Clone)]
pub(crate) struct PoolGrid {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    /// Cells per side of the finest grid.
    side: usize,
    row_band: Vec<usize>,
    col_band: Vec<usize>,
}

impl PoolGrid {
    pub(crate) fn new(shape: ImageShape, patch_size: usize, pool: Pooling) -> PoolGrid {
        let rows = shape.height + 1 - patch_size;
        let cols = shape.width + 1 - patch_size;
        let side = pool.finest_side();
        PoolGrid {
            rows,
            cols,
            side,
            row_band: bands(rows, side),
            col_band: bands(cols, side),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Cell (row-major in the finest grid) of patch number `index` (row-major).
    #[inline]
    pub(crate) fn cell(&self, index: usize) -> usize {
        let (y, x) = (index / self.cols, index % self.cols);
        self.row_band[y] * self.side + self.col_band[x]
    }

    fn cells(&self) -> usize {
        self.side * self.side
    }
}

/// Band index of each of `n` positions cut into `side` bands at `round(i · n / side)`.
fn bands(n: usize, side: usize) -> Vec<usize> {
    // round(i n / side) with halves up = floor((2 i n + side) / (2 side)).
    let edge = |i: usize| (2 * i * n + side) / (2 * side);
    let mut band = vec![0; n];
    for b in 0..side {
        for v in &mut band[edge(b)..edge(b + 1)] {
            *v = b;
        }
    }
    band
}

/// Per-thread buffers for encoding one image (reused: about 3.5 MB for K = 1600).
#[derive(Default)]
pub(crate) struct EncodeScratch {
    normalized: PackedRows,
    whitened: PackedRows,
    /// The whitened patches in int8, for kernels with int8 products (triangle only).
    quantized: QuantRows,
    sq_norms: Vec<f32>,
    /// Triangle: distances of one block; OMP-1: best |d| and its atom per block row.
    distances: Vec<f32>,
    best_atom: Vec<u32>,
    /// Per-row partial sums of the distances, one per kernel column lane.
    row_lanes: Vec<f32>,
    patch: Vec<f32>,
    /// Pyramid pooling: the finest cells before they are summed into regions.
    cells: Vec<f32>,
}

thread_local! {
    pub(crate) static SCRATCH: RefCell<EncodeScratch> = RefCell::new(EncodeScratch::default());
}

impl Dictionary {
    /// The encoding with pooling of one image into `out` (length [`Dictionary::feature_dim`]).
    pub(crate) fn encode(
        &self,
        image: ImageView<'_>,
        scratch: &mut EncodeScratch,
        out: &mut [f32],
    ) {
        match gemm::kernel() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `kernel()` only returns kernels the CPU supports.
            Kernel::Avx512Vnni => unsafe { self.encode_avx512vnni(image, scratch, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Kernel::Avx512 => unsafe { self.encode_avx512(image, scratch, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Kernel::Avx2Fma => unsafe { self.encode_avx2(image, scratch, out) },
            _ => self.encode_with::<gemm::Portable>(image, scratch, out),
        }
    }

    /// [`Self::encode_with`] compiled for AVX2 + FMA as a whole, so patch extraction,
    /// square roots and pooling are vectorised for 256-bit registers too.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn encode_avx2(
        &self,
        image: ImageView<'_>,
        scratch: &mut EncodeScratch,
        out: &mut [f32],
    ) {
        self.encode_with::<gemm::Avx2Fma>(image, scratch, out);
    }

    /// [`Self::encode_with`] compiled for AVX-512F as a whole.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn encode_avx512(
        &self,
        image: ImageView<'_>,
        scratch: &mut EncodeScratch,
        out: &mut [f32],
    ) {
        self.encode_with::<gemm::Avx512>(image, scratch, out);
    }

    /// [`Self::encode_with`] compiled for AVX-512F and VNNI (int8 triangle products).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vnni,avx2,fma")]
    unsafe fn encode_avx512vnni(
        &self,
        image: ImageView<'_>,
        scratch: &mut EncodeScratch,
        out: &mut [f32],
    ) {
        self.encode_with::<gemm::Avx512Vnni>(image, scratch, out);
    }

    /// Callers choosing `K` must have checked [`gemm::kernel`].
    #[inline(always)]
    fn encode_with<K: Microkernel>(
        &self,
        image: ImageView<'_>,
        scratch: &mut EncodeScratch,
        out: &mut [f32],
    ) {
        let params = &self.stored.params;
        let p = params.patch_size;
        let d = self.patch_dim();
        let grid = PoolGrid::new(image.shape, p, params.pool);
        let n = grid.len();

        scratch.patch.resize(d, 0.0);
        scratch.normalized.reset(n, d);
        for i in 0..n {
            read_patch(image, i / grid.cols, i % grid.cols, p, &mut scratch.patch);
            normalize_patch(&mut scratch.patch);
            scratch.normalized.set_row(i, &scratch.patch);
        }
        let slivers = scratch.normalized.slivers();
        scratch.whitened.reset(n, d);
        gemm::tiles::<K, _>(
            &scratch.normalized,
            0..slivers,
            &self.whitening_panels,
            &mut WhitenSink {
                out: scratch.whitened.data.as_mut_slice(),
                first: 0,
                bias: &self.whitening_bias,
            },
        );

        // The finest cells are the output itself except for the pyramid, whose coarser
        // regions are sums of cells computed at the end.
        let width = self.features_per_position();
        let cells_len = grid.cells() * width;
        let pyramid = params.pool == Pooling::Pyramid;
        let mut cells = std::mem::take(&mut scratch.cells);
        let pool: &mut [f32] = if pyramid {
            cells.clear();
            cells.resize(cells_len, 0.0);
            &mut cells
        } else {
            &mut out[..cells_len]
        };
        pool.fill(0.0);
        match params.encoder {
            Encoder::Triangle => self.triangle::<K>(&grid, scratch, pool),
            Encoder::Soft => self.soft::<K>(&grid, scratch, pool),
            Encoder::Omp1 => self.omp1::<K>(&grid, scratch, pool),
        }
        if pyramid {
            pyramid_regions(&cells, width, out);
        }
        scratch.cells = cells;
    }

    /// `f_k = max(0, mean_j(z_j) − z_k)` with `z_k = ‖x − c_k‖`, pooled into `pool`
    /// (`cells x K`).
    #[inline(always)]
    fn triangle<K: Microkernel>(
        &self,
        grid: &PoolGrid,
        scratch: &mut EncodeScratch,
        pool: &mut [f32],
    ) {
        let k = self.num_centroids();
        let n = grid.len();
        let slivers = scratch.whitened.slivers();
        scratch.sq_norms.clear();
        if K::INT8_PRODUCTS {
            scratch.quantized.reset(n, scratch.whitened.depth);
        }
        for i in 0..n {
            scratch.whitened.row_into(i, &mut scratch.patch);
            scratch
                .sq_norms
                .push(scratch.patch.iter().map(|v| v * v).sum());
            if K::INT8_PRODUCTS {
                scratch.quantized.set_row(i, &scratch.patch);
            }
        }
        let block_rows = ENCODE_BLOCK_SLIVERS * MR;
        scratch.distances.resize(block_rows * k, 0.0);
        scratch.row_lanes.resize(block_rows * NR, 0.0);
        for first in (0..slivers).step_by(ENCODE_BLOCK_SLIVERS) {
            let block = first..(first + ENCODE_BLOCK_SLIVERS).min(slivers);
            let row0 = first * MR;
            let rows = (block.end * MR).min(n) - row0;
            scratch.row_lanes.fill(0.0);
            let mut sink = DistanceSink::<K> {
                distances: &mut scratch.distances,
                row_lanes: &mut scratch.row_lanes,
                sq_norms: &scratch.sq_norms,
                centroid_sq_norms: &self.atom_sq_norms,
                k,
                rows: n,
                row0,
                kernel: std::marker::PhantomData,
            };
            if K::INT8_PRODUCTS {
                let atoms = &self.atom_quant;
                gemm::tiles_int8::<K, _>(&scratch.quantized, block, atoms, &mut sink);
            } else {
                gemm::tiles::<K, _>(&scratch.whitened, block, &self.atom_panels, &mut sink);
            }
            for local in 0..rows {
                let sum: f32 = scratch.row_lanes[local * NR..(local + 1) * NR].iter().sum();
                let mean = sum / k as f32;
                let cell = grid.cell(row0 + local);
                let acc = &mut pool[cell * k..(cell + 1) * k];
                let z = &scratch.distances[local * k..(local + 1) * k];
                for (acc, &z) in acc.iter_mut().zip(z) {
                    let f = mean - z;
                    *acc += if f > 0.0 { f } else { 0.0 };
                }
            }
        }
    }

    /// `f_k = max(0, d_kᵀx − α)`, `f_{K+k} = max(0, −d_kᵀx − α)`, pooled into `pool`
    /// (`cells x 2K`) straight from the tiles.
    #[inline(always)]
    fn soft<K: Microkernel>(&self, grid: &PoolGrid, scratch: &mut EncodeScratch, pool: &mut [f32]) {
        let slivers = scratch.whitened.slivers();
        let mut sink = SoftSink {
            pool,
            grid,
            k: self.num_centroids(),
            rows: grid.len(),
            alpha: self.stored.params.alpha,
        };
        for first in (0..slivers).step_by(ENCODE_BLOCK_SLIVERS) {
            let block = first..(first + ENCODE_BLOCK_SLIVERS).min(slivers);
            gemm::tiles::<K, _>(&scratch.whitened, block, &self.atom_panels, &mut sink);
        }
    }

    /// OMP-1: `k* = argmax_k |d_kᵀx|` (lowest index on ties), `s = d_{k*}ᵀx`, and only
    /// `f_{k*} = max(0, s)`, `f_{K+k*} = max(0, −s)` are non-zero; pooled into `pool`
    /// (`cells x 2K`).
    #[inline(always)]
    fn omp1<K: Microkernel>(&self, grid: &PoolGrid, scratch: &mut EncodeScratch, pool: &mut [f32]) {
        let k = self.num_centroids();
        let n = grid.len();
        let slivers = scratch.whitened.slivers();
        let block_rows = ENCODE_BLOCK_SLIVERS * MR;
        scratch.distances.resize(block_rows, 0.0);
        scratch.row_lanes.resize(block_rows, 0.0);
        scratch.best_atom.resize(block_rows, 0);
        for first in (0..slivers).step_by(ENCODE_BLOCK_SLIVERS) {
            let block = first..(first + ENCODE_BLOCK_SLIVERS).min(slivers);
            let row0 = first * MR;
            let rows = (block.end * MR).min(n) - row0;
            scratch.distances.fill(-1.0);
            let mut sink = Omp1Sink {
                best_abs: &mut scratch.distances,
                best_value: &mut scratch.row_lanes,
                best_atom: &mut scratch.best_atom,
                k,
                rows: n,
                row0,
            };
            gemm::tiles::<K, _>(&scratch.whitened, block, &self.atom_panels, &mut sink);
            for local in 0..rows {
                let cell = grid.cell(row0 + local);
                let s = scratch.row_lanes[local];
                let atom = scratch.best_atom[local] as usize;
                let acc = &mut pool[cell * 2 * k..(cell + 1) * 2 * k];
                if s > 0.0 {
                    acc[atom] += s;
                } else {
                    acc[k + atom] -= s;
                }
            }
        }
    }
}

/// Writes the 21 pyramid regions (`1x1`, then the `2x2` in row-major order, then the `4x4`
/// cells) from the `4x4` cells (`16 x width`).
fn pyramid_regions(cells: &[f32], width: usize, out: &mut [f32]) {
    let cell = |r: usize, c: usize| &cells[(r * 4 + c) * width..(r * 4 + c + 1) * width];
    let (whole, rest) = out.split_at_mut(width);
    let (quads, fine) = rest.split_at_mut(4 * width);
    fine.copy_from_slice(cells);
    quads.fill(0.0);
    for r in 0..4 {
        for c in 0..4 {
            let q = (r / 2) * 2 + c / 2;
            for (acc, &v) in quads[q * width..(q + 1) * width].iter_mut().zip(cell(r, c)) {
                *acc += v;
            }
        }
    }
    whole.fill(0.0);
    for q in quads.chunks_exact(width) {
        for (acc, &v) in whole.iter_mut().zip(q) {
            *acc += v;
        }
    }
}

/// Turns dot-product tiles into distances `z = sqrt(‖x‖² + ‖c‖² − 2x·c)` for a block of
/// patch rows starting at `row0`, with per-row, per-lane running sums for `mean(z)`.
struct DistanceSink<'a, K> {
    /// `block rows x k`.
    distances: &'a mut [f32],
    /// `block rows x NR`.
    row_lanes: &'a mut [f32],
    sq_norms: &'a [f32],
    centroid_sq_norms: &'a [f32],
    k: usize,
    /// Valid patch rows of the image (the last sliver may be padding).
    rows: usize,
    row0: usize,
    kernel: std::marker::PhantomData<K>,
}

impl<K: Microkernel> TileSink for DistanceSink<'_, K> {
    #[inline(always)]
    fn tile(&mut self, sliver: usize, panel: usize, t: &Tile) {
        let k = self.k;
        let col0 = panel * NR;
        let width = NR.min(k - col0);
        let cc = &self.centroid_sq_norms[col0..col0 + width];
        for r in 0..MR.min(self.rows - sliver * MR) {
            let row = sliver * MR + r;
            let local = row - self.row0;
            let xx = self.sq_norms[row];
            let dots = &t[r * NR..r * NR + width];
            let z = &mut self.distances[local * k + col0..local * k + col0 + width];
            let lanes = &mut self.row_lanes[local * NR..local * NR + width];
            if let (Ok(cc), Ok(dots), Ok(z), Ok(lanes)) = (
                <&[f32; NR]>::try_from(cc),
                <&[f32; NR]>::try_from(dots),
                <&mut [f32; NR]>::try_from(&mut *z),
                <&mut [f32; NR]>::try_from(&mut *lanes),
            ) {
                // SAFETY: `K` was chosen for this CPU by the caller of `encode_with`.
                unsafe { K::distance_row(xx, cc, dots, z, lanes) };
                continue;
            }
            // The last, partial panel when K is not a multiple of NR.
            for j in 0..width {
                let sq = xx + cc[j] - 2.0 * dots[j];
                let v = if sq > 0.0 { sq.sqrt() } else { 0.0 };
                z[j] = v;
                lanes[j] += v;
            }
        }
    }
}

/// Pools `max(0, ±d − α)` of each tile row into the row's cell (`cells x 2K`).
struct SoftSink<'a> {
    pool: &'a mut [f32],
    grid: &'a PoolGrid,
    k: usize,
    rows: usize,
    alpha: f32,
}

impl TileSink for SoftSink<'_> {
    #[inline(always)]
    fn tile(&mut self, sliver: usize, panel: usize, t: &Tile) {
        let k = self.k;
        let col0 = panel * NR;
        let width = NR.min(k - col0);
        let alpha = self.alpha;
        for r in 0..MR.min(self.rows - sliver * MR) {
            let cell = self.grid.cell(sliver * MR + r);
            let acc = &mut self.pool[cell * 2 * k..(cell + 1) * 2 * k];
            let (pos, neg) = acc.split_at_mut(k);
            let dots = &t[r * NR..r * NR + width];
            let pos = &mut pos[col0..col0 + width];
            let neg = &mut neg[col0..col0 + width];
            for ((p, n), &d) in pos.iter_mut().zip(neg.iter_mut()).zip(dots) {
                *p += (d - alpha).max(0.0);
                *n += (-d - alpha).max(0.0);
            }
        }
    }
}

/// Keeps, per row of the block starting at `row0`, the atom of largest `|d|` and its `d`.
struct Omp1Sink<'a> {
    best_abs: &'a mut [f32],
    best_value: &'a mut [f32],
    best_atom: &'a mut [u32],
    k: usize,
    rows: usize,
    row0: usize,
}

impl TileSink for Omp1Sink<'_> {
    #[inline(always)]
    fn tile(&mut self, sliver: usize, panel: usize, t: &Tile) {
        let col0 = panel * NR;
        let width = NR.min(self.k - col0);
        for r in 0..MR.min(self.rows - sliver * MR) {
            let local = sliver * MR + r - self.row0;
            let dots = &t[r * NR..r * NR + width];
            let best = self.best_abs[local];
            // Most tiles hold no new best; this vectorised test skips them.
            let mut improves = false;
            for &d in dots {
                improves |= d.abs() > best;
            }
            if improves {
                for (j, &d) in dots.iter().enumerate() {
                    // Ties keep the lowest index: panels are visited in order.
                    if d.abs() > self.best_abs[local] {
                        self.best_abs[local] = d.abs();
                        self.best_value[local] = d;
                        self.best_atom[local] = (col0 + j) as u32;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_matlab_rounding_and_nest() {
        let count = |b: &[usize], side: usize| -> Vec<usize> {
            (0..side)
                .map(|i| b.iter().filter(|&&v| v == i).count())
                .collect()
        };
        assert_eq!(count(&bands(27, 2), 2), vec![14, 13]);
        assert_eq!(count(&bands(27, 3), 3), vec![9, 9, 9]);
        assert_eq!(count(&bands(27, 4), 4), vec![7, 7, 6, 7]);
        assert_eq!(count(&bands(7, 2), 2), vec![4, 3]);
        // Every 4-band lies inside one 2-band, for any length.
        for n in 4..60 {
            let (halves, quarters) = (bands(n, 2), bands(n, 4));
            for (h, q) in halves.iter().zip(&quarters) {
                assert_eq!(*h, q / 2, "n = {n}");
            }
            assert!(bands(n, 3).windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn pyramid_regions_sum_the_cells() {
        let width = 3;
        let cells: Vec<f32> = (0..16 * width).map(|i| i as f32).collect();
        let mut out = vec![f32::NAN; 21 * width];
        pyramid_regions(&cells, width, &mut out);
        for f in 0..width {
            let total: f32 = (0..16).map(|c| cells[c * width + f]).sum();
            assert_eq!(out[f], total);
            // Top-right quadrant = cells (0,2), (0,3), (1,2), (1,3).
            let tr: f32 = [2, 3, 6, 7].iter().map(|&c| cells[c * width + f]).sum();
            assert_eq!(out[width + width + f], tr);
        }
        assert_eq!(&out[5 * width..], &cells[..]);
    }
}
