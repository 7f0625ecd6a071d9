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
//! portable loop of the same shape. With AVX512_VNNI as well, the triangle encoder's
//! patch · centroid products are taken in int8 ([`QuantRows`], [`QuantCols`]: each patch
//! and each centroid scaled by its own `max|v| / 127`, `vpdpbusd` summing four
//! `u8 x i8` products into `i32`, exact), dequantised to the same `f32` tiles; VNNI
//! retires as many instructions per cycle as FMA with four times the products each, while
//! AVX512_BF16's `vdpbf16ps` measured at a quarter of FMA's rate here, a net loss
//! (BENCHMARKS.md). `WB_KMEANS_KERNEL=avx512vnni|avx512|avx2|portable` forces one
//! (falling back to the best the CPU has, with a warning, if it lacks the one asked for);
//! `avx512` keeps every product in `f32`.
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

/// Products per `i32` lane of one `vpdpbusd` (consecutive `k`).
pub(crate) const QUAD: usize = 4;

/// The symmetric int8 scale of `values`, `max|v| / 127` (0 for an all-zero vector), for
/// finite `values`. The maximum is taken over the bits of `|v|`, whose order as integers is
/// the order of the values, so the reduction vectorises (a float `max` does not).
#[inline(always)]
fn int8_scale(values: &[f32]) -> f32 {
    let max_bits = values.iter().map(|v| v.to_bits() & 0x7fff_ffff).max();
    f32::from_bits(max_bits.unwrap_or(0)) / 127.0
}

/// `v / scale` rounded to nearest (ties to even, one `vroundps`), in `−127..=127`;
/// `scale` is positive.
#[inline(always)]
fn quantize(v: f32, scale: f32) -> i8 {
    (v / scale).round_ties_even().clamp(-127.0, 127.0) as i8
}

/// `rows x depth` matrix in int8, one scale per row, packed in slivers of [`MR`] rows for
/// the VNNI kernel: row `r`, element `k` at
/// `(r / MR) * quads * MR * 4 + (k / 4) * MR * 4 + (r % MR) * 4 + k % 4`, `quads =
/// ceil(depth / 4)`, stored as `q + 128` (`vpdpbusd` takes one operand unsigned; the
/// `128 · Σ q_c` it adds is subtracted with [`QuantCols::offsets`]). Padding is `q = 0`.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuantRows {
    rows: usize,
    quads: usize,
    data: Vec<u8>,
    /// Per row (padding rows 0), so `x ≈ scale · q`.
    scales: Vec<f32>,
}

impl QuantRows {
    /// Reshapes to `rows x depth` zeros, reusing the allocation.
    pub(crate) fn reset(&mut self, rows: usize, depth: usize) {
        self.rows = rows;
        self.quads = depth.div_ceil(QUAD);
        let slivers = rows.div_ceil(MR);
        self.data.clear();
        self.data.resize(slivers * self.quads * MR * QUAD, 128);
        self.scales.clear();
        self.scales.resize(slivers * MR, 0.0);
    }

    pub(crate) fn slivers(&self) -> usize {
        self.rows.div_ceil(MR)
    }

    /// Quantises `values` (length `depth`) into row `row` (of a freshly [`Self::reset`]
    /// matrix). Always inlined, so it is vectorised with the encoder's instruction set.
    #[inline(always)]
    pub(crate) fn set_row(&mut self, row: usize, values: &[f32]) {
        let scale = int8_scale(values);
        self.scales[row] = scale;
        if scale == 0.0 {
            return;
        }
        let base = (row / MR) * self.quads * MR * QUAD + (row % MR) * QUAD;
        for (quad, chunk) in values.chunks(QUAD).enumerate() {
            let mut bytes = [128u8; QUAD];
            for (byte, &v) in bytes.iter_mut().zip(chunk) {
                *byte = (i16::from(quantize(v, scale)) + 128) as u8;
            }
            let at = base + quad * MR * QUAD;
            self.data[at..at + QUAD].copy_from_slice(&bytes);
        }
    }
}

/// `depth x cols` matrix in int8, one scale per column, packed in panels of [`NR`] columns:
/// column `j`, element `k` at `(j / NR) * quads * NR * 4 + (k / 4) * NR * 4 + (j % NR) * 4 +
/// k % 4`, so one 64-byte load holds four `k` of a panel's 16 columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuantCols {
    cols: usize,
    quads: usize,
    data: Vec<i8>,
    /// Per column (padding 0), so `c ≈ scale · q`.
    scales: Vec<f32>,
    /// `128 · Σ_k q[k][j]`, what the `+128` of [`QuantRows`] adds to each product.
    offsets: Vec<i32>,
}

impl QuantCols {
    /// Quantises the transpose of a row-major `cols x depth` matrix (one column per input
    /// row, each with its own scale), e.g. the centroids `K x d`.
    pub(crate) fn from_rows_transposed(rows: &[f32], cols: usize, depth: usize) -> Self {
        let quads = depth.div_ceil(QUAD);
        let padded = cols.div_ceil(NR) * NR;
        let mut data = vec![0i8; padded * quads * QUAD];
        let mut scales = vec![0f32; padded];
        let mut offsets = vec![0i32; padded];
        for (j, row) in rows.chunks_exact(depth).take(cols).enumerate() {
            let scale = int8_scale(row);
            scales[j] = scale;
            if scale == 0.0 {
                continue;
            }
            let base = (j / NR) * quads * NR * QUAD + (j % NR) * QUAD;
            let mut sum = 0i32;
            for (k, &v) in row.iter().enumerate() {
                let q = quantize(v, scale);
                sum += i32::from(q);
                data[base + (k / QUAD) * NR * QUAD + k % QUAD] = q;
            }
            offsets[j] = 128 * sum;
        }
        QuantCols {
            cols,
            quads,
            data,
            scales,
            offsets,
        }
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
    /// AVX-512F for the `f32` products, VNNI for the triangle encoder's int8 ones.
    Avx512Vnni,
}

impl Kernel {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2Fma => "avx2",
            Kernel::Avx512 => "avx512",
            Kernel::Avx512Vnni => "avx512vnni",
        }
    }

    /// Whether the triangle encoder takes its products in int8 with this kernel.
    pub(crate) fn int8_products(self) -> bool {
        self == Kernel::Avx512Vnni
    }

    /// The best kernel this CPU supports.
    fn detected() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            if fma && std::is_x86_feature_detected!("avx512f") {
                if std::is_x86_feature_detected!("avx512vnni") {
                    return Kernel::Avx512Vnni;
                }
                return Kernel::Avx512;
            }
            if fma {
                return Kernel::Avx2Fma;
            }
        }
        Kernel::Portable
    }
}

/// The environment variable that forces a kernel (`avx512vnni`, `avx512`, `avx2`,
/// `portable`).
pub const KERNEL_ENV: &str = "WB_KMEANS_KERNEL";

/// The kernel used by this process: the best the CPU supports (at most the `WB_SIMD`
/// level), or the one named by [`KERNEL_ENV`] if that is available (decided once, on first
/// use).
pub(crate) fn kernel() -> Kernel {
    static CHOICE: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        // `WB_SIMD` caps every kernel of the project, this one included.
        let cap = match crate::SimdLevel::active() {
            crate::SimdLevel::Portable => Kernel::Portable,
            crate::SimdLevel::Avx2 => Kernel::Avx2Fma,
            crate::SimdLevel::Avx512 => Kernel::Avx512Vnni,
        };
        let best = Kernel::detected().min(cap);
        let Ok(asked) = std::env::var(KERNEL_ENV) else {
            return best;
        };
        let want = match asked.trim() {
            "" | "auto" => return best,
            "avx512vnni" => Kernel::Avx512Vnni,
            "avx512" => Kernel::Avx512,
            "avx2" => Kernel::Avx2Fma,
            "portable" => Kernel::Portable,
            other => {
                eprintln!(
                    "warning: {KERNEL_ENV}={other} is not one of auto, avx512vnni, avx512, avx2, \
                     portable; using {}",
                    best.name()
                );
                return best;
            }
        };
        if want > best {
            eprintln!(
                "warning: {KERNEL_ENV}={} needs an instruction set this CPU (or WB_SIMD) \
                 lacks; using {}",
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
        Kernel::Avx512 | Kernel::Avx512Vnni => unsafe { tiles_avx512(a, slivers, b, sink) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx2Fma => unsafe { tiles_avx2(a, slivers, b, sink) },
        _ => tiles::<Portable, S>(a, slivers, b, sink),
    }
}

/// A register-tile kernel for one instruction set.
pub(crate) trait Microkernel {
    /// Whether [`Self::tiles_int8_into`] exists (the triangle encoder then uses it).
    const INT8_PRODUCTS: bool = false;

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

    /// Every tile of the int8 product `A[slivers] · B`, dequantised to `f32`, in the panel
    /// order of [`tiles`]; only kernels with [`Self::INT8_PRODUCTS`] implement it (the
    /// others panic).
    ///
    /// # Safety
    /// As [`Self::tiles_into`] (the ranges checked by [`tiles_int8`]).
    #[inline(always)]
    unsafe fn tiles_int8_into<S: TileSink>(
        _a: &QuantRows,
        _slivers: std::ops::Range<usize>,
        _b: &QuantCols,
        _sink: &mut S,
    ) {
        panic!(
            "kernel {} has no int8 products",
            std::any::type_name::<Self>()
        )
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

/// AVX-512F + AVX512_VNNI: the [`Avx512`] kernel for `f32` products, and int8 products
/// ([`Microkernel::tiles_int8_into`]) for the triangle encoder.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx512Vnni;

#[cfg(target_arch = "x86_64")]
impl Avx512Vnni {
    /// `out[g] = dequantised A_sliver · B_panel(g)` for the `G` consecutive panels starting
    /// at `b`: per four `k`, `G` loads of B, six 4-byte broadcasts of A, `6G` `vpdpbusd`
    /// into `i32` accumulators; then `(acc − offset_j) · scale_r · scale_j` in `f32`.
    ///
    /// # Safety
    /// AVX-512F and AVX512_VNNI; `a` valid for `quads * MR * 4` bytes, `b` for
    /// `G * quads * NR * 4`, `scales`/`offsets` for `G * NR` values.
    #[inline(always)]
    unsafe fn panels<const G: usize>(
        quads: usize,
        a: *const u8,
        row_scales: &[f32],
        b: *const i8,
        col_scales: *const f32,
        col_offsets: *const i32,
        out: &mut [Tile; G],
    ) {
        use std::arch::x86_64::*;
        let stride = quads * NR * QUAD;
        let mut c = [[_mm512_setzero_si512(); G]; MR];
        let (mut ap, mut bp) = (a, b);
        for _ in 0..quads {
            let mut bv = [_mm512_setzero_si512(); G];
            for (g, v) in bv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(bp.add(g * stride).cast());
            }
            for (r, row) in c.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(ap.add(r * QUAD).cast::<i32>().read_unaligned());
                for (acc, &b) in row.iter_mut().zip(&bv) {
                    *acc = _mm512_dpbusd_epi32(*acc, av, b);
                }
            }
            ap = ap.add(MR * QUAD);
            bp = bp.add(NR * QUAD);
        }
        for (g, tile) in out.iter_mut().enumerate() {
            let offset = _mm512_loadu_si512(col_offsets.add(g * NR).cast());
            let scale = _mm512_loadu_ps(col_scales.add(g * NR));
            for (r, row) in c.iter().enumerate() {
                let dots = _mm512_cvtepi32_ps(_mm512_sub_epi32(row[g], offset));
                let both = _mm512_mul_ps(_mm512_set1_ps(row_scales[r]), scale);
                _mm512_storeu_ps(tile.as_mut_ptr().add(r * NR), _mm512_mul_ps(dots, both));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Microkernel for Avx512Vnni {
    const INT8_PRODUCTS: bool = true;

    #[inline(always)]
    unsafe fn tile(depth: usize, a: *const f32, b: *const f32, out: &mut Tile) {
        Avx512::tile(depth, a, b, out)
    }

    /// The AVX2 epilogue on one 16-lane register: `rsqrt14` plus one Newton step (the
    /// int8 products already differ from the `f32` kernels', so nothing asks for equal
    /// bits here).
    #[inline(always)]
    unsafe fn distance_row(
        xx: f32,
        cc: &[f32; NR],
        dots: &[f32; NR],
        z: &mut [f32; NR],
        lanes: &mut [f32; NR],
    ) {
        use std::arch::x86_64::*;
        let c = _mm512_loadu_ps(cc.as_ptr());
        let d = _mm512_loadu_ps(dots.as_ptr());
        let sum = _mm512_add_ps(_mm512_set1_ps(xx), c);
        let sq = _mm512_fnmadd_ps(_mm512_set1_ps(2.0), d, sum);
        let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(sq, _mm512_setzero_ps());
        let r = _mm512_rsqrt14_ps(sq);
        let half_sq_r2 = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5), sq), _mm512_mul_ps(r, r));
        let r = _mm512_mul_ps(r, _mm512_sub_ps(_mm512_set1_ps(1.5), half_sq_r2));
        let v = _mm512_maskz_mul_ps(positive, sq, r);
        _mm512_storeu_ps(z.as_mut_ptr(), v);
        let l = _mm512_loadu_ps(lanes.as_ptr());
        _mm512_storeu_ps(lanes.as_mut_ptr(), _mm512_add_ps(l, v));
    }

    #[inline(always)]
    unsafe fn tiles_into<S: TileSink>(
        a: &PackedRows,
        slivers: std::ops::Range<usize>,
        b: &PackedCols,
        sink: &mut S,
    ) {
        Avx512::tiles_into(a, slivers, b, sink)
    }

    #[inline(always)]
    unsafe fn tiles_int8_into<S: TileSink>(
        a: &QuantRows,
        slivers: std::ops::Range<usize>,
        b: &QuantCols,
        sink: &mut S,
    ) {
        let quads = a.quads;
        let panel_len = quads * NR * QUAD;
        let sliver_len = quads * MR * QUAD;
        let panels = b.panels();
        let grouped = panels - panels % GROUP;
        let mut group: [Tile; GROUP] = [[0.0; MR * NR]; GROUP];
        let mut single: [Tile; 1] = [[0.0; MR * NR]];
        let mut first = 0;
        while first < panels {
            let width = if first < grouped { GROUP } else { 1 };
            let b_panels = &b.data[first * panel_len..(first + width) * panel_len];
            let col_scales = &b.scales[first * NR..(first + width) * NR];
            let col_offsets = &b.offsets[first * NR..(first + width) * NR];
            for sliver in slivers.clone() {
                let a_sliver = &a.data[sliver * sliver_len..(sliver + 1) * sliver_len];
                let row_scales = &a.scales[sliver * MR..(sliver + 1) * MR];
                // SAFETY: the slices have exactly the lengths `panels` reads.
                let (a_ptr, b_ptr) = (a_sliver.as_ptr(), b_panels.as_ptr());
                let (s_ptr, o_ptr) = (col_scales.as_ptr(), col_offsets.as_ptr());
                if width == GROUP {
                    Self::panels(quads, a_ptr, row_scales, b_ptr, s_ptr, o_ptr, &mut group);
                    for (g, tile) in group.iter().enumerate() {
                        sink.tile(sliver, first + g, tile);
                    }
                } else {
                    Self::panels(quads, a_ptr, row_scales, b_ptr, s_ptr, o_ptr, &mut single);
                    sink.tile(sliver, first, &single[0]);
                }
            }
            first += width;
        }
    }
}

/// [`tiles_int8`] compiled for AVX-512F and VNNI (for tests; the encoder is compiled for
/// them as a whole).
#[cfg(all(test, target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,avx512vnni,avx2,fma")]
unsafe fn tiles_int8_avx512vnni<S: TileSink>(
    a: &QuantRows,
    slivers: std::ops::Range<usize>,
    b: &QuantCols,
    sink: &mut S,
) {
    tiles_int8::<Avx512Vnni, S>(a, slivers, b, sink);
}

/// Every tile of the int8 product `A[slivers] · B` (see [`Microkernel::tiles_int8_into`]).
///
/// Callers choosing `K` must have checked [`kernel`].
#[inline(always)]
pub(crate) fn tiles_int8<K: Microkernel, S: TileSink>(
    a: &QuantRows,
    slivers: std::ops::Range<usize>,
    b: &QuantCols,
    sink: &mut S,
) {
    assert_eq!(a.quads, b.quads, "inner dimensions differ");
    assert!(slivers.end <= a.slivers(), "sliver range out of bounds");
    // SAFETY: the ranges were checked above; the instruction set by the caller.
    unsafe { K::tiles_int8_into(a, slivers, b, sink) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product as a dense row-major `rows x cols` matrix (padding dropped), NaN where
    /// no tile wrote.
    struct Collect {
        got: Vec<f32>,
        rows: usize,
        cols: usize,
    }

    impl Collect {
        fn new(rows: usize, cols: usize) -> Self {
            Collect {
                got: vec![f32::NAN; rows * cols],
                rows,
                cols,
            }
        }
    }

    impl TileSink for Collect {
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

    /// `n` values in `[-0.5, 0.5)` from a 64-bit LCG seeded with `seed`.
    fn uniform(seed: u64, n: usize) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

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
        let mut sink = Collect::new(rows, cols);
        for_each_tile(&pa, 0..pa.slivers(), &pb, &mut sink);
        check(&sink.got);
        let mut sink = Collect::new(rows, cols);
        tiles::<Portable, _>(&pa, 0..pa.slivers(), &pb, &mut sink);
        check(&sink.got);
        #[cfg(target_arch = "x86_64")]
        if kernel() >= Kernel::Avx2Fma {
            let mut sink = Collect::new(rows, cols);
            // SAFETY: the CPU supports AVX2 + FMA.
            unsafe { tiles_avx2(&pa, 0..pa.slivers(), &pb, &mut sink) };
            check(&sink.got);
        }
        #[cfg(target_arch = "x86_64")]
        if kernel() >= Kernel::Avx512 {
            let mut sink = Collect::new(rows, cols);
            // SAFETY: the CPU supports AVX-512F.
            unsafe { tiles_avx512(&pa, 0..pa.slivers(), &pb, &mut sink) };
            check(&sink.got);
        }
    }

    /// Real-valued operands, 150 columns (10 panels: two 4-panel groups, then two single
    /// panels, the last one partial): the AVX-512 and AVX2 kernels agree bit for bit.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_and_avx2_tiles_are_identical() {
        if kernel() < Kernel::Avx512 {
            eprintln!("skipped: no AVX-512 on this CPU");
            return;
        }
        let (rows, depth, cols) = (20, 108, 150);
        let a = uniform(7, rows * depth);
        let b = uniform(8, cols * depth);
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

    /// The VNNI int8 tiles equal `scale_r · scale_j · Σ_k q_rk q_kj` computed exactly in
    /// integers (to f32 rounding), on 150 columns (groups of four panels, then single
    /// panels, the last partial) and a depth that is not a multiple of four; and they are
    /// within the quantisation error of the f32 product.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn int8_tiles_equal_the_integer_product() {
        if kernel() != Kernel::Avx512Vnni {
            eprintln!("skipped: no AVX512_VNNI on this CPU");
            return;
        }
        let (rows, depth, cols) = (20, 107, 150);
        let mut a: Vec<f32> = uniform(11, rows * depth).iter().map(|v| 3.0 * v).collect();
        let b = uniform(12, cols * depth);
        // An all-zero row has scale 0 and zero products.
        a[5 * depth..6 * depth].fill(0.0);
        let mut qa = QuantRows::default();
        qa.reset(rows, depth);
        for r in 0..rows {
            qa.set_row(r, &a[r * depth..(r + 1) * depth]);
        }
        let qb = QuantCols::from_rows_transposed(&b, cols, depth);
        let mut got = Collect::new(rows, cols);
        // SAFETY: the CPU supports AVX-512F and VNNI.
        unsafe { tiles_int8_avx512vnni(&qa, 0..qa.slivers(), &qb, &mut got) };
        for r in 0..rows {
            let ra = &a[r * depth..(r + 1) * depth];
            let sa = int8_scale(ra);
            for j in 0..cols {
                let cb = &b[j * depth..(j + 1) * depth];
                let sb = int8_scale(cb);
                let q = |v: f32, s: f32| {
                    if s > 0.0 {
                        i64::from(quantize(v, s))
                    } else {
                        0
                    }
                };
                let exact: i64 = (0..depth).map(|k| q(ra[k], sa) * q(cb[k], sb)).sum();
                let want = exact as f64 * f64::from(sa * sb);
                let value = f64::from(got.got[r * cols + j]);
                assert!(
                    (value - want).abs() <= 1e-6 * want.abs().max(1e-3),
                    "({r},{j}): {value} vs {want}"
                );
                let real: f64 = (0..depth).map(|k| f64::from(ra[k] * cb[k])).sum();
                // Each rounding error is at most half a step of either operand.
                let bound: f64 = (0..depth)
                    .map(|k| 0.5 * f64::from(sa * cb[k].abs() + sb * ra[k].abs() + sa * sb))
                    .sum();
                assert!(
                    (value - real).abs() <= bound,
                    "({r},{j}): {value} vs {real}"
                );
            }
        }
    }
}
