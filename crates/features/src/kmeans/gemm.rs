//! The one matrix product the k-means pipeline needs, `A · B` with a short inner dimension
//! (the patch length, 108 for 6x6x3), written as packed panels and a 6x16 register-tile
//! microkernel so the caller can fuse its own epilogue (distances, triangle activation,
//! argmax) into the tile loop instead of materialising the product.
//!
//! Layouts (both zero-padded to whole slivers / panels):
//! - [`PackedRows`]: row `r`, element `k` at `(r / MR) * depth * MR + k * MR + r % MR`;
//! - [`PackedCols`]: column `j`, element `k` at `(j / NR) * depth * NR + k * NR + j % NR`.
//!
//! The kernel is chosen once per process ([`kernel`]): on x86-64 with AVX-512F (checked at
//! run time) four panels at a time, a 6x64 tile in 24 `zmm` accumulators; with AVX2 + FMA
//! a 6x16 tile in 12 `ymm` accumulators, the BLIS "haswell" sgemm shape; elsewhere a
//! portable loop of the same shape. `WB_KMEANS_KERNEL=avx512|avx2|portable` forces one
//! (falling back to the best the CPU has, with a warning, if it lacks the one asked for).
//! The AVX-512 and AVX2 kernels compute every product element with the same sequence of
//! fused multiply-adds (`k` ascending), so they give bit-identical tiles. Within one
//! machine results do not depend on the thread count: every tile is computed by one
//! thread in a fixed order.

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

/// The instruction sets a kernel can be compiled for, best last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kernel {
    Portable,
    Avx2Fma,
    Avx512,
}

impl Kernel {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2Fma => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }

    /// The best kernel this CPU supports.
    fn detected() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            if fma && std::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if fma {
                return Kernel::Avx2Fma;
            }
        }
        Kernel::Portable
    }
}

/// The environment variable that forces a kernel (`avx512`, `avx2`, `portable`).
pub const KERNEL_ENV: &str = "WB_KMEANS_KERNEL";

/// The kernel used by this process: the best the CPU supports, or the one named by
/// [`KERNEL_ENV`] if the CPU supports it (decided once, on first use).
pub(crate) fn kernel() -> Kernel {
    static CHOICE: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        let best = Kernel::detected();
        let Ok(asked) = std::env::var(KERNEL_ENV) else {
            return best;
        };
        let want = match asked.trim() {
            "" | "auto" => return best,
            "avx512" => Kernel::Avx512,
            "avx2" => Kernel::Avx2Fma,
            "portable" => Kernel::Portable,
            other => {
                eprintln!(
                    "warning: {KERNEL_ENV}={other} is not one of auto, avx512, avx2, portable; \
                     using {}",
                    best.name()
                );
                return best;
            }
        };
        if want > best {
            eprintln!(
                "warning: {KERNEL_ENV}={} needs an instruction set this CPU lacks; using {}",
                want.name(),
                best.name()
            );
            return best;
        }
        want
    })
}

/// Feeds `sink` every tile of `A[slivers] · B`, with the process's [`kernel`].
pub(crate) fn for_each_tile<S: TileSink>(
    a: &PackedRows,
    slivers: std::ops::Range<usize>,
    b: &PackedCols,
    sink: &mut S,
) {
    match kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `kernel()` only returns kernels the CPU supports.
        Kernel::Avx512 => unsafe { tiles_avx512(a, slivers, b, sink) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx2Fma => unsafe { tiles_avx2(a, slivers, b, sink) },
        _ => tiles::<Portable, S>(a, slivers, b, sink),
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

    /// Every tile of `A[slivers] · B`, in panel-major order (see [`tiles`]); kernels that
    /// compute several panels at once override this.
    ///
    /// # Safety
    /// The CPU must support the kernel's instruction set; the ranges must be valid
    /// (checked by [`tiles`]).
    #[inline(always)]
    unsafe fn tiles_into<S: TileSink>(
        a: &PackedRows,
        slivers: std::ops::Range<usize>,
        b: &PackedCols,
        sink: &mut S,
    ) {
        let depth = a.depth;
        let a_data = a.data.as_slice();
        let b_data = b.data.as_slice();
        let mut tile: Tile = [0.0; MR * NR];
        for panel in 0..b.panels() {
            let b_panel = &b_data[panel * depth * NR..(panel + 1) * depth * NR];
            for sliver in slivers.clone() {
                let a_sliver = &a_data[sliver * depth * MR..(sliver + 1) * depth * MR];
                // SAFETY: the slices above have exactly the lengths the kernel reads.
                Self::tile(depth, a_sliver.as_ptr(), b_panel.as_ptr(), &mut tile);
                sink.tile(sliver, panel, &tile);
            }
        }
    }
}

/// Calls `sink.tile(sliver, panel, tile)` for every `sliver` in `slivers` and every panel of
/// `b`. Panels are the outer loop so one panel (depth x 16 floats, 6.9 KB for depth 108)
/// stays in L1 while the slivers of the block stream past it; callers keep `slivers` short
/// enough for the block to sit in L2. Always inlined, so that inside a function compiled
/// for AVX2 the sink's code (inlined too) is vectorised for AVX2 as well.
///
/// Callers choosing `K = Avx2Fma` or `Avx512` must have checked [`kernel`].
#[inline(always)]
pub(crate) fn tiles<K: Microkernel, S: TileSink>(
    a: &PackedRows,
    slivers: std::ops::Range<usize>,
    b: &PackedCols,
    sink: &mut S,
) {
    assert_eq!(a.depth, b.depth, "inner dimensions differ");
    assert!(slivers.end <= a.slivers(), "sliver range out of bounds");
    // SAFETY: the ranges were checked above; the instruction set by the caller that
    // chose `K`.
    unsafe { K::tiles_into(a, slivers, b, sink) }
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

/// AVX-512F: four panels per pass over a sliver, a 6x64 tile in 24 `zmm` accumulators
/// (per `k`: 4 loads of B, 6 broadcasts of A, 24 FMAs), so the two FMA ports stay busy
/// and each broadcast feeds four FMAs. A four-panel group of B (27.6 KB for depth 108)
/// stays in L1 while the slivers stream past it. The distance epilogue is the AVX2 one
/// (same `rsqrt` approximation), so this kernel's results equal the AVX2 kernel's.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx512;

/// Panels per AVX-512 group.
#[cfg(target_arch = "x86_64")]
const GROUP: usize = 4;

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    /// `out[g] = A_sliver · B_panel(g)` for the `GROUP` consecutive panels starting at `b`.
    ///
    /// # Safety
    /// AVX-512F; `a` valid for `depth * MR` floats, `b` for `GROUP * depth * NR`.
    #[inline(always)]
    unsafe fn group(depth: usize, a: *const f32, b: *const f32, out: &mut [Tile; GROUP]) {
        use std::arch::x86_64::*;
        let stride = depth * NR;
        let mut c = [[_mm512_setzero_ps(); GROUP]; MR];
        let (mut ap, mut bp) = (a, b);
        for _ in 0..depth {
            let bv = [
                _mm512_loadu_ps(bp),
                _mm512_loadu_ps(bp.add(stride)),
                _mm512_loadu_ps(bp.add(2 * stride)),
                _mm512_loadu_ps(bp.add(3 * stride)),
            ];
            for (r, row) in c.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r));
                for (acc, &b) in row.iter_mut().zip(&bv) {
                    *acc = _mm512_fmadd_ps(av, b, *acc);
                }
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        for (g, tile) in out.iter_mut().enumerate() {
            for (r, row) in c.iter().enumerate() {
                _mm512_storeu_ps(tile.as_mut_ptr().add(r * NR), row[g]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Microkernel for Avx512 {
    /// One panel: 6 `zmm` accumulators (used for the panels left over after the groups).
    #[inline(always)]
    unsafe fn tile(depth: usize, a: *const f32, b: *const f32, out: &mut Tile) {
        use std::arch::x86_64::*;
        let mut c = [_mm512_setzero_ps(); MR];
        let (mut ap, mut bp) = (a, b);
        for _ in 0..depth {
            let bv = _mm512_loadu_ps(bp);
            for (r, acc) in c.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(r)), bv, *acc);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        for (r, acc) in c.iter().enumerate() {
            _mm512_storeu_ps(out.as_mut_ptr().add(r * NR), *acc);
        }
    }

    #[inline(always)]
    unsafe fn distance_row(
        xx: f32,
        cc: &[f32; NR],
        dots: &[f32; NR],
        z: &mut [f32; NR],
        lanes: &mut [f32; NR],
    ) {
        Avx2Fma::distance_row(xx, cc, dots, z, lanes)
    }

    #[inline(always)]
    unsafe fn tiles_into<S: TileSink>(
        a: &PackedRows,
        slivers: std::ops::Range<usize>,
        b: &PackedCols,
        sink: &mut S,
    ) {
        let depth = a.depth;
        let a_data = a.data.as_slice();
        let b_data = b.data.as_slice();
        let panels = b.panels();
        let grouped = panels - panels % GROUP;
        let mut group: [Tile; GROUP] = [[0.0; MR * NR]; GROUP];
        for first in (0..grouped).step_by(GROUP) {
            let b_group = &b_data[first * depth * NR..(first + GROUP) * depth * NR];
            for sliver in slivers.clone() {
                let a_sliver = &a_data[sliver * depth * MR..(sliver + 1) * depth * MR];
                // SAFETY: the slices have exactly the lengths `group` reads.
                Self::group(depth, a_sliver.as_ptr(), b_group.as_ptr(), &mut group);
                for (g, tile) in group.iter().enumerate() {
                    sink.tile(sliver, first + g, tile);
                }
            }
        }
        let mut tile: Tile = [0.0; MR * NR];
        for panel in grouped..panels {
            let b_panel = &b_data[panel * depth * NR..(panel + 1) * depth * NR];
            for sliver in slivers.clone() {
                let a_sliver = &a_data[sliver * depth * MR..(sliver + 1) * depth * MR];
                // SAFETY: as above.
                Self::tile(depth, a_sliver.as_ptr(), b_panel.as_ptr(), &mut tile);
                sink.tile(sliver, panel, &tile);
            }
        }
    }
}

/// The tile loop compiled with AVX-512F enabled (the sink is inlined and vectorised for
/// it too).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn tiles_avx512<S: TileSink>(
    a: &PackedRows,
    slivers: std::ops::Range<usize>,
    b: &PackedCols,
    sink: &mut S,
) {
    tiles::<Avx512, S>(a, slivers, b, sink);
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
        #[cfg(target_arch = "x86_64")]
        if kernel() >= Kernel::Avx2Fma {
            let mut got = vec![0f32; rows * cols];
            let mut sink = Collect {
                got: &mut got,
                rows,
                cols,
            };
            // SAFETY: the CPU supports AVX2 + FMA.
            unsafe { tiles_avx2(&pa, 0..pa.slivers(), &pb, &mut sink) };
            check(&got);
        }
        #[cfg(target_arch = "x86_64")]
        if kernel() == Kernel::Avx512 {
            let mut got = vec![0f32; rows * cols];
            let mut sink = Collect {
                got: &mut got,
                rows,
                cols,
            };
            // SAFETY: the CPU supports AVX-512F.
            unsafe { tiles_avx512(&pa, 0..pa.slivers(), &pb, &mut sink) };
            check(&got);
        }
    }

    /// Real-valued operands, 150 columns (10 panels: two 4-panel groups, then two single
    /// panels, the last one partial): the AVX-512 and AVX2 kernels agree bit for bit.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_and_avx2_tiles_are_identical() {
        if kernel() != Kernel::Avx512 {
            eprintln!("skipped: no AVX-512 on this CPU");
            return;
        }
        let (rows, depth, cols) = (20, 108, 150);
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let a: Vec<f32> = (0..rows * depth).map(|_| next()).collect();
        let b: Vec<f32> = (0..cols * depth).map(|_| next()).collect();
        let mut pa = PackedRows::zeros(rows, depth);
        for r in 0..rows {
            pa.set_row(r, &a[r * depth..(r + 1) * depth]);
        }
        let pb = PackedCols::from_rows_transposed(&b, cols, depth);
        struct Keep(Vec<(usize, usize, Tile)>);
        impl TileSink for Keep {
            fn tile(&mut self, s: usize, p: usize, t: &Tile) {
                self.0.push((s, p, *t));
            }
        }
        let (mut x, mut y) = (Keep(Vec::new()), Keep(Vec::new()));
        // SAFETY: the CPU supports AVX-512F (and so AVX2 + FMA).
        unsafe {
            tiles_avx2(&pa, 0..pa.slivers(), &pb, &mut x);
            tiles_avx512(&pa, 0..pa.slivers(), &pb, &mut y);
        }
        x.0.sort_by_key(|&(s, p, _)| (p, s));
        y.0.sort_by_key(|&(s, p, _)| (p, s));
        assert_eq!(x.0.len(), y.0.len());
        for ((s, p, tx), (_, _, ty)) in x.0.iter().zip(&y.0) {
            assert_eq!(tx, ty, "sliver {s} panel {p}");
        }
    }
}
