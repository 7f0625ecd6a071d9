//! The one matrix product the k-means pipeline needs, `A · B` with a short inner dimension
//! (the patch length, 108 for 6x6x3), written as packed panels and a 6x16 register-tile
//! microkernel so the caller can fuse its own epilogue (distances, triangle activation,
//! argmax) into the tile loop instead of materialising the product.
//!
//! Layouts (both zero-padded to whole slivers / panels):
//! - [`PackedRows`]: row `r`, element `k` at `(r / MR) * depth * MR + k * MR + r % MR`;
//! - [`PackedCols`]: column `j`, element `k` at `(j / NR) * depth * NR + k * NR + j % NR`.
//!
//! On x86-64 with AVX2 + FMA (checked at run time) the tile is computed with 12 `ymm`
//! accumulators, the BLIS "haswell" sgemm shape; elsewhere a portable loop of the same
//! shape is used. Within one machine results do not depend on the thread count: every tile
//! is computed by one thread in a fixed order.

/// Rows per register tile.
pub(crate) const MR: usize = 6;
/// Columns per register tile.
pub(crate) const NR: usize = 16;
/// One register tile, row-major `MR x NR`.
pub(crate) type Tile = [f32; MR * NR];

/// A `f32` buffer whose first element is 64-byte aligned, so each 16-float panel row is
/// exactly one cache line.
#[derive(Debug, Clone, Default)]
pub(crate) struct AlignedBuf {
    storage: Vec<f32>,
    offset: usize,
    len: usize,
}

impl AlignedBuf {
    pub(crate) fn zeros(len: usize) -> Self {
        let mut buf = AlignedBuf::default();
        buf.resize_zeroed(len);
        buf
    }

    /// Resizes to `len` zeros, reusing the allocation when it is large enough.
    pub(crate) fn resize_zeroed(&mut self, len: usize) {
        const ALIGN_FLOATS: usize = 16;
        if self.storage.len() < len + ALIGN_FLOATS {
            self.storage = vec![0.0; len + ALIGN_FLOATS];
        }
        let addr = self.storage.as_ptr() as usize;
        self.offset = ((64 - addr % 64) % 64) / std::mem::size_of::<f32>();
        self.len = len;
        self.as_mut_slice().fill(0.0);
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.storage[self.offset..self.offset + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

/// `rows x depth` matrix packed in slivers of [`MR`] rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct PackedRows {
    pub(crate) rows: usize,
    pub(crate) depth: usize,
    pub(crate) data: AlignedBuf,
}

impl PackedRows {
    pub(crate) fn zeros(rows: usize, depth: usize) -> Self {
        PackedRows {
            rows,
            depth,
            data: AlignedBuf::zeros(rows.div_ceil(MR) * MR * depth),
        }
    }

    /// Reshapes to `rows x depth` zeros, reusing the allocation.
    pub(crate) fn reset(&mut self, rows: usize, depth: usize) {
        self.rows = rows;
        self.depth = depth;
        self.data.resize_zeroed(rows.div_ceil(MR) * MR * depth);
    }

    pub(crate) fn slivers(&self) -> usize {
        self.rows.div_ceil(MR)
    }

    /// Writes row `row` from a contiguous slice of length `depth`.
    #[inline]
    pub(crate) fn set_row(&mut self, row: usize, values: &[f32]) {
        let base = (row / MR) * self.depth * MR + row % MR;
        let data = self.data.as_mut_slice();
        for (k, &v) in values.iter().enumerate() {
            data[base + k * MR] = v;
        }
    }

    /// Copies row `row` into `out` (length `depth`).
    #[inline]
    pub(crate) fn row_into(&self, row: usize, out: &mut [f32]) {
        let base = (row / MR) * self.depth * MR + row % MR;
        let data = self.data.as_slice();
        for (k, o) in out.iter_mut().enumerate() {
            *o = data[base + k * MR];
        }
    }
}

/// `depth x cols` matrix packed in panels of [`NR`] columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct PackedCols {
    pub(crate) cols: usize,
    pub(crate) depth: usize,
    pub(crate) data: AlignedBuf,
}

impl PackedCols {
    /// Packs the transpose of a row-major `cols x depth` matrix (one column per input row),
    /// e.g. the centroids `K x d`.
    pub(crate) fn from_rows_transposed(rows: &[f32], cols: usize, depth: usize) -> Self {
        let mut data = AlignedBuf::zeros(cols.div_ceil(NR) * NR * depth);
        let buf = data.as_mut_slice();
        for j in 0..cols {
            let base = (j / NR) * depth * NR + j % NR;
            for k in 0..depth {
                buf[base + k * NR] = rows[j * depth + k];
            }
        }
        PackedCols { cols, depth, data }
    }

    pub(crate) fn panels(&self) -> usize {
        self.cols.div_ceil(NR)
    }
}

/// Receives the tiles of a product, in the order of [`tiles`].
pub(crate) trait TileSink {
    /// `tile = A[rows of sliver] · B[columns of panel]`, row-major `MR x NR`.
    fn tile(&mut self, sliver: usize, panel: usize, tile: &Tile);
}

/// Feeds `sink` every tile of `A[slivers] · B`, choosing the kernel for this CPU.
pub(crate) fn for_each_tile<S: TileSink>(
    a: &PackedRows,
    slivers: std::ops::Range<usize>,
    b: &PackedCols,
    sink: &mut S,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { tiles_avx2(a, slivers, b, sink) };
            return;
        }
    }
    tiles::<Portable, S>(a, slivers, b, sink);
}

/// Whether the AVX2 + FMA kernel is used on this machine.
pub(crate) fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A register-tile kernel for one instruction set.
pub(crate) trait Microkernel {
    /// `out = A_sliver · B_panel` over `depth`; `a` points at a packed sliver and `b` at a
    /// packed panel, each holding `depth * MR` / `depth * NR` floats.
    ///
    /// # Safety
    /// The pointers must be valid for those lengths, and the CPU must support the
    /// kernel's instruction set.
    unsafe fn tile(depth: usize, a: *const f32, b: *const f32, out: &mut Tile);

    /// One full row of distances from a tile row of dot products:
    /// `z[j] = sqrt(max(0, xx + cc[j] − 2·dots[j]))` and `lanes[j] += z[j]`, `j < NR`.
    ///
    /// # Safety
    /// The CPU must support the kernel's instruction set.
    unsafe fn distance_row(
        xx: f32,
        cc: &[f32; NR],
        dots: &[f32; NR],
        z: &mut [f32; NR],
        lanes: &mut [f32; NR],
    ) {
        for j in 0..NR {
            let sq = xx + cc[j] - 2.0 * dots[j];
            let v = if sq > 0.0 { sq.sqrt() } else { 0.0 };
            z[j] = v;
            lanes[j] += v;
        }
    }
}

/// Calls `sink.tile(sliver, panel, tile)` for every `sliver` in `slivers` and every panel of
/// `b`. Panels are the outer loop so one panel (depth x 16 floats, 6.9 KB for depth 108)
/// stays in L1 while the slivers of the block stream past it; callers keep `slivers` short
/// enough for the block to sit in L2. Always inlined, so that inside a function compiled
/// for AVX2 the sink's code (inlined too) is vectorised for AVX2 as well.
///
/// Callers choosing `K = Avx2Fma` must have checked [`avx2_fma`].
#[inline(always)]
pub(crate) fn tiles<K: Microkernel, S: TileSink>(
    a: &PackedRows,
    slivers: std::ops::Range<usize>,
    b: &PackedCols,
    sink: &mut S,
) {
    assert_eq!(a.depth, b.depth, "inner dimensions differ");
    assert!(slivers.end <= a.slivers(), "sliver range out of bounds");
    let depth = a.depth;
    let a_data = a.data.as_slice();
    let b_data = b.data.as_slice();
    let mut tile: Tile = [0.0; MR * NR];
    for panel in 0..b.panels() {
        let b_panel = &b_data[panel * depth * NR..(panel + 1) * depth * NR];
        for sliver in slivers.clone() {
            let a_sliver = &a_data[sliver * depth * MR..(sliver + 1) * depth * MR];
            // SAFETY: the slices above have exactly the lengths the kernel reads; the
            // instruction set was checked by the caller that chose `K`.
            unsafe { K::tile(depth, a_sliver.as_ptr(), b_panel.as_ptr(), &mut tile) };
            sink.tile(sliver, panel, &tile);
        }
    }
}

/// Plain loops, for CPUs without AVX2 + FMA.
pub(crate) struct Portable;

impl Microkernel for Portable {
    #[inline(always)]
    unsafe fn tile(depth: usize, a: *const f32, b: *const f32, out: &mut Tile) {
        let a = std::slice::from_raw_parts(a, depth * MR);
        let b = std::slice::from_raw_parts(b, depth * NR);
        let mut acc = [[0f32; NR]; MR];
        for k in 0..depth {
            let bk = &b[k * NR..(k + 1) * NR];
            for (r, acc_row) in acc.iter_mut().enumerate() {
                let av = a[k * MR + r];
                for (c, &bv) in acc_row.iter_mut().zip(bk) {
                    *c += av * bv;
                }
            }
        }
        for (r, acc_row) in acc.iter().enumerate() {
            out[r * NR..(r + 1) * NR].copy_from_slice(acc_row);
        }
    }
}

/// 12 `ymm` accumulators, broadcast A, two 8-wide loads of B per step.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx2Fma;

#[cfg(target_arch = "x86_64")]
impl Microkernel for Avx2Fma {
    #[inline(always)]
    unsafe fn tile(depth: usize, a: *const f32, b: *const f32, out: &mut Tile) {
        use std::arch::x86_64::*;
        let mut c00 = _mm256_setzero_ps();
        let mut c01 = _mm256_setzero_ps();
        let mut c10 = _mm256_setzero_ps();
        let mut c11 = _mm256_setzero_ps();
        let mut c20 = _mm256_setzero_ps();
        let mut c21 = _mm256_setzero_ps();
        let mut c30 = _mm256_setzero_ps();
        let mut c31 = _mm256_setzero_ps();
        let mut c40 = _mm256_setzero_ps();
        let mut c41 = _mm256_setzero_ps();
        let mut c50 = _mm256_setzero_ps();
        let mut c51 = _mm256_setzero_ps();
        let mut ap = a;
        let mut bp = b;
        for _ in 0..depth {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            let a0 = _mm256_broadcast_ss(&*ap);
            c00 = _mm256_fmadd_ps(a0, b0, c00);
            c01 = _mm256_fmadd_ps(a0, b1, c01);
            let a1 = _mm256_broadcast_ss(&*ap.add(1));
            c10 = _mm256_fmadd_ps(a1, b0, c10);
            c11 = _mm256_fmadd_ps(a1, b1, c11);
            let a2 = _mm256_broadcast_ss(&*ap.add(2));
            c20 = _mm256_fmadd_ps(a2, b0, c20);
            c21 = _mm256_fmadd_ps(a2, b1, c21);
            let a3 = _mm256_broadcast_ss(&*ap.add(3));
            c30 = _mm256_fmadd_ps(a3, b0, c30);
            c31 = _mm256_fmadd_ps(a3, b1, c31);
            let a4 = _mm256_broadcast_ss(&*ap.add(4));
            c40 = _mm256_fmadd_ps(a4, b0, c40);
            c41 = _mm256_fmadd_ps(a4, b1, c41);
            let a5 = _mm256_broadcast_ss(&*ap.add(5));
            c50 = _mm256_fmadd_ps(a5, b0, c50);
            c51 = _mm256_fmadd_ps(a5, b1, c51);
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        let o = out.as_mut_ptr();
        _mm256_storeu_ps(o, c00);
        _mm256_storeu_ps(o.add(8), c01);
        _mm256_storeu_ps(o.add(16), c10);
        _mm256_storeu_ps(o.add(24), c11);
        _mm256_storeu_ps(o.add(32), c20);
        _mm256_storeu_ps(o.add(40), c21);
        _mm256_storeu_ps(o.add(48), c30);
        _mm256_storeu_ps(o.add(56), c31);
        _mm256_storeu_ps(o.add(64), c40);
        _mm256_storeu_ps(o.add(72), c41);
        _mm256_storeu_ps(o.add(80), c50);
        _mm256_storeu_ps(o.add(88), c51);
    }

    /// `vsqrtps` stalls the tile loop (it is not pipelined on Zen 3); `rsqrt` (12 bits) plus
    /// one Newton step, `r ← r (1.5 − 0.5 s r²)`, gives `1/sqrt(s)` to about 1e-7 relative
    /// with pipelined multiplies only, and `z = s r`. Zero distances are masked (0 · ∞).
    #[inline(always)]
    unsafe fn distance_row(
        xx: f32,
        cc: &[f32; NR],
        dots: &[f32; NR],
        z: &mut [f32; NR],
        lanes: &mut [f32; NR],
    ) {
        use std::arch::x86_64::*;
        let x = _mm256_set1_ps(xx);
        let two = _mm256_set1_ps(2.0);
        let half = _mm256_set1_ps(0.5);
        let three_halves = _mm256_set1_ps(1.5);
        let zero = _mm256_setzero_ps();
        for h in [0, 8] {
            let c = _mm256_loadu_ps(cc.as_ptr().add(h));
            let d = _mm256_loadu_ps(dots.as_ptr().add(h));
            let sq = _mm256_max_ps(_mm256_fnmadd_ps(two, d, _mm256_add_ps(x, c)), zero);
            let r = _mm256_rsqrt_ps(sq);
            let r2 = _mm256_mul_ps(r, r);
            let r = _mm256_mul_ps(
                r,
                _mm256_fnmadd_ps(_mm256_mul_ps(half, sq), r2, three_halves),
            );
            let positive = _mm256_cmp_ps::<_CMP_GT_OQ>(sq, zero);
            let v = _mm256_and_ps(_mm256_mul_ps(sq, r), positive);
            _mm256_storeu_ps(z.as_mut_ptr().add(h), v);
            let l = _mm256_loadu_ps(lanes.as_ptr().add(h));
            _mm256_storeu_ps(lanes.as_mut_ptr().add(h), _mm256_add_ps(l, v));
        }
    }
}

/// The tile loop compiled with AVX2 + FMA enabled, so the sink (inlined here) is vectorised
/// with 256-bit registers too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tiles_avx2<S: TileSink>(
    a: &PackedRows,
    slivers: std::ops::Range<usize>,
    b: &PackedCols,
    sink: &mut S,
) {
    tiles::<Avx2Fma, S>(a, slivers, b, sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_match_naive_product_on_both_kernels() {
        let (rows, depth, cols) = (13, 11, 37);
        let a: Vec<f32> = (0..rows * depth)
            .map(|i| ((i * 7) % 13) as f32 - 6.0)
            .collect();
        let b: Vec<f32> = (0..cols * depth)
            .map(|i| ((i * 5) % 11) as f32 * 0.5)
            .collect();
        let mut pa = PackedRows::zeros(rows, depth);
        for r in 0..rows {
            pa.set_row(r, &a[r * depth..(r + 1) * depth]);
        }
        let pb = PackedCols::from_rows_transposed(&b, cols, depth);
        let check = |got: &[f32]| {
            for r in 0..rows {
                for j in 0..cols {
                    let want: f32 = (0..depth)
                        .map(|k| a[r * depth + k] * b[j * depth + k])
                        .sum();
                    assert_eq!(got[r * cols + j], want, "({r},{j})");
                }
            }
        };
        struct Collect<'a> {
            got: &'a mut [f32],
            rows: usize,
            cols: usize,
        }
        impl TileSink for Collect<'_> {
            fn tile(&mut self, s: usize, p: usize, t: &Tile) {
                for i in 0..MR {
                    for jj in 0..NR {
                        let (r, j) = (s * MR + i, p * NR + jj);
                        if r < self.rows && j < self.cols {
                            self.got[r * self.cols + j] = t[i * NR + jj];
                        }
                    }
                }
            }
        }
        let mut got = vec![0f32; rows * cols];
        let mut sink = Collect {
            got: &mut got,
            rows,
            cols,
        };
        for_each_tile(&pa, 0..pa.slivers(), &pb, &mut sink);
        check(&got);
        let mut got = vec![0f32; rows * cols];
        let mut sink = Collect {
            got: &mut got,
            rows,
            cols,
        };
        tiles::<Portable, _>(&pa, 0..pa.slivers(), &pb, &mut sink);
        check(&got);
    }
}
