//! The vote loops of the cell histograms, per instruction set.
//!
//! Each image row is handled in two passes. The first ([`interpolated_weights`],
//! [`hard_bins`]) turns every pixel's orientation and magnitude into its bins and vote weights;
//! it is written as plain branch-free loops that the compiler vectorises for the instruction set
//! of the caller. The second adds the votes into the histograms: [`Scalar`] indexes the bins one
//! vote at a time, [`Avx512`] keeps the `n <= 16` bins of a cell in one register and adds a
//! whole masked vector per pixel, so the loop has no scattered loads and stores.
//!
//! Both second passes perform, for every histogram value, the same `f32` additions in the same
//! order (the lanes of bins a pixel does not vote for add `+0.0`, which changes nothing: every
//! vote is `>= +0.0`), so every instruction set gives bit-identical features.

/// Per-pixel votes of one row: for trilinear voting, bins `b0`/`b1` and the four products
/// (cell `rx` or `rx + 1`, bin `b0` or `b1`); for hard voting, `b0`, `w00` and `near`.
#[derive(Default)]
pub(super) struct RowVotes {
    pub b0: Vec<u32>,
    pub b1: Vec<u32>,
    /// Hard voting: 1 where the pixel needs the exact bin decision.
    pub near: Vec<u32>,
    /// Trilinear voting: `1 << b0` and `1 << b1` (lane masks for the vector votes).
    pub k0: Vec<u32>,
    pub k1: Vec<u32>,
    pub w00: Vec<f32>,
    pub w01: Vec<f32>,
    pub w10: Vec<f32>,
    pub w11: Vec<f32>,
}

impl RowVotes {
    pub fn resize(&mut self, len: usize) {
        for v in [
            &mut self.b0,
            &mut self.b1,
            &mut self.near,
            &mut self.k0,
            &mut self.k1,
        ] {
            if v.len() != len {
                v.clear();
                v.resize(len, 0);
            }
        }
        for v in [&mut self.w00, &mut self.w01, &mut self.w10, &mut self.w11] {
            if v.len() != len {
                v.clear();
                v.resize(len, 0.0);
            }
        }
    }
}

/// `atan(a)` for `a` in `[0, 1]`, max error 1e-5 rad (Abramowitz & Stegun 4.4.49).
#[inline(always)]
fn atan_unit(a: f32) -> f32 {
    let s = a * a;
    a * (ATAN_C1 + s * (ATAN_C3 + s * (ATAN_C5 + s * (ATAN_C7 + s * ATAN_C9))))
}

const ATAN_C1: f32 = 0.999_866;
const ATAN_C3: f32 = -0.330_299_5;
const ATAN_C5: f32 = 0.180_141;
const ATAN_C7: f32 = -0.085_133;
const ATAN_C9: f32 = 0.020_835_1;

/// Orientation (in bin units, `[0, n]`) and magnitude of one row of gradients, branch-free so it
/// vectorises. Unsigned: the gradient is folded into the upper half plane. `CS231N` instead
/// rotates by 90 degrees (CS231n bins `atan2 + 90`) and zeroes the magnitude of gradients
/// pointing left, which CS231n drops.
#[inline(always)]
fn orient_scalar<const CS231N: bool>(
    gx: &[f64],
    gy: &[f64],
    pos: &mut [f32],
    mag: &mut [f32],
    bins_per_rad: f32,
) {
    use std::f32::consts::{FRAC_PI_2, PI};
    let len = pos.len();
    let (gx, gy, mag) = (&gx[..len], &gy[..len], &mut mag[..len]);
    for i in 0..len {
        let (x, y) = (gx[i] as f32, gy[i] as f32);
        let m = (x * x + y * y).sqrt();
        let (fx, fy, m) = if CS231N {
            (-y, x, if x < 0.0 { 0.0 } else { m })
        } else if y < 0.0 {
            (-x, -y, m)
        } else {
            (x, y, m)
        };
        let ax = fx.abs();
        let (lo, hi) = (ax.min(fy), ax.max(fy));
        let t = atan_unit(lo / hi.max(f32::MIN_POSITIVE));
        let t = if fy > ax { FRAC_PI_2 - t } else { t };
        let theta = if fx < 0.0 { PI - t } else { t };
        pos[i] = theta * bins_per_rad;
        mag[i] = m;
    }
}

/// A whole-numbered `f` (a `floor`) as a bin index clamped to `[0, last]`; NaN (never
/// produced from finite gradients) gives `last`. Rust's saturating `as` casts are compiled lane
/// by lane, so the value is first clamped with selects, which vectorise, then converted
/// unchecked.
#[inline(always)]
pub(super) fn whole_bin(f: f32, last: f32) -> u32 {
    let f = if f < last { f } else { last };
    let f = if f > 0.0 { f } else { 0.0 };
    // SAFETY: `f` is in [0, last] (NaN became `last`), exactly representable in i32 since
    // `last` <= 179.
    unsafe { f.to_int_unchecked::<i32>() as u32 }
}

/// First pass of trilinear voting for one row. `pos` is the orientation in bin units
/// (`[0, n]`), `mag` the magnitude, `col_weight[x]` the pixel's weight towards the cell column
/// right of its own (see [`super::cell_position`]). Bin centres sit at `(i + 1/2) 180/n`, so
/// the vote goes to bins `b0 = floor(pos - 1/2)` (mod n) with `1 - fb` and `b0 + 1` (mod n)
/// with `fb`; the magnitude is split `1 - wx` / `wx` between the two cell columns.
#[inline(always)]
pub(super) fn interpolated_weights(
    pos: &[f32],
    mag: &[f32],
    col_weight: &[f32],
    n: usize,
    out: &mut RowVotes,
) {
    let len = pos.len();
    let (mag, col_weight) = (&mag[..len], &col_weight[..len]);
    let RowVotes {
        b0,
        b1,
        k0,
        k1,
        w00,
        w01,
        w10,
        w11,
        ..
    } = out;
    let (b0, b1) = (&mut b0[..len], &mut b1[..len]);
    let (k0, k1) = (&mut k0[..len], &mut k1[..len]);
    let (w00, w01, w10, w11) = (
        &mut w00[..len],
        &mut w01[..len],
        &mut w10[..len],
        &mut w11[..len],
    );
    let last = (n - 1) as f32;
    for x in 0..len {
        let p = pos[x] - 0.5;
        let fl = p.floor();
        let fb = p - fl;
        // fl is in [-1, n]: -1 wraps to the last bin, n (p = n - 1/2 exactly) clamps to it.
        let lo = whole_bin(if fl < 0.0 { last } else { fl }, last);
        let hi = if lo as usize + 1 == n { 0 } else { lo + 1 };
        b0[x] = lo;
        b1[x] = hi;
        // Bins above 31 only occur with more bins than the vector votes handle (n > 16).
        k0[x] = 1u32.wrapping_shl(lo);
        k1[x] = 1u32.wrapping_shl(hi);
        let m = mag[x];
        let wx = col_weight[x];
        let (v0, v1) = (m * (1.0 - wx), m * wx);
        w00[x] = v0 * (1.0 - fb);
        w01[x] = v0 * fb;
        w10[x] = v1 * (1.0 - fb);
        w11[x] = v1 * fb;
    }
}

/// First pass of hard voting: bin `min(floor(pos), n - 1)` with weight `mag` into `b0`/`w00`.
/// Marks in `near` the pixels within `band` (bin units) of a bin edge with a non-zero magnitude
/// (if `check_edges`): those need the exact bin decision, which the caller makes. Returns true
/// if there is any.
#[inline(always)]
pub(super) fn hard_bins(
    pos: &[f32],
    mag: &[f32],
    n: usize,
    band: f32,
    check_edges: bool,
    out: &mut RowVotes,
) -> bool {
    let len = pos.len();
    let mag = &mag[..len];
    let (b0, w, near) = (
        &mut out.b0[..len],
        &mut out.w00[..len],
        &mut out.near[..len],
    );
    let last = (n - 1) as f32;
    let mut any = 0u32;
    for x in 0..len {
        let p = pos[x];
        let fl = p.floor();
        let frac = p - fl;
        b0[x] = whole_bin(if fl < 0.0 { 0.0 } else { fl }, last);
        w[x] = mag[x];
        let edge = check_edges & (mag[x] > 0.0) & ((frac < band) | (frac > 1.0 - band));
        near[x] = edge as u32;
        any |= edge as u32;
    }
    any != 0
}

/// Where the second pass adds one row's votes.
pub(super) trait Kernels: Copy {
    /// Orientation (bin units) and magnitude of one row of gradients (see [`orient_scalar`]).
    /// The gradients must be finite and below `f32::MAX` (the AVX-512 copy's `min`/`max` differ
    /// from Rust's only for NaN).
    fn orient_row(
        self,
        cs231n: bool,
        gx: &[f64],
        gy: &[f64],
        pos: &mut [f32],
        mag: &mut [f32],
        bins_per_rad: f32,
    ) {
        if cs231n {
            orient_scalar::<true>(gx, gy, pos, mag, bins_per_rad)
        } else {
            orient_scalar::<false>(gx, gy, pos, mag, bins_per_rad)
        }
    }

    /// Floats per cell in the vote accumulators and padded histograms for `n` bins: `n`, or a
    /// whole vector for the vector votes (the extra lanes stay zero).
    fn cell_stride(self, n: usize) -> usize {
        n
    }

    /// Grayscale `fma(B, wB, fma(R, wR, G wG))` of RGB(A) pixels on `v * (1/255)` into `plane`
    /// (see [`super::Hog`]'s `gray_plane`).
    fn gray(self, pixels: &[u8], channels: usize, weights: [f64; 3], plane: &mut [f64]) {
        gray_scalar(pixels, channels, weights, plane)
    }

    /// Trilinear votes of one row (first pass in `v`) into the padded histogram rows `top`
    /// (the row's upper cell row) and `bottom` (the one below), each `pcols * n` long, with row
    /// weights `1 - wy` and `wy`; `col_index[x]` is pixel `x`'s left cell column in the padded
    /// grid, whose cells are `cs = self.cell_stride(n)` floats apart. `acc` is scratch of
    /// `2 * pcols * cs`.
    #[allow(clippy::too_many_arguments)]
    fn interpolated_row(
        self,
        v: &RowVotes,
        col_index: &[u32],
        n: usize,
        cs: usize,
        wy: f32,
        acc: &mut [f32],
        top: &mut [f32],
        bottom: &mut [f32],
    );

    /// One block of OpenCV's window votes (see [`window_block_scalar`]): the block's top-left
    /// pixel is `start`, rows `w` apart; `hist` holds the even and odd halves.
    #[allow(clippy::too_many_arguments)]
    fn window_block(
        self,
        g: &Geometry,
        votes: &PixelVotes,
        start: usize,
        w: usize,
        _n: usize,
        cs: usize,
        hist: &mut [f32],
    ) {
        window_block_scalar(g, votes, start, w, cs, hist)
    }

    /// Hard votes of one row (first pass in `v`, `cols * c` pixels) into the band
    /// accumulators `even`/`odd` (`cols * cs` each, `cs = self.cell_stride(n)`): pixel `x` of
    /// cell `x / c` adds its weight to bin `b0[x]`, alternating between the two accumulators
    /// within the cell.
    fn hard_row(
        self,
        v: &RowVotes,
        c: usize,
        n: usize,
        cs: usize,
        even: &mut [f32],
        odd: &mut [f32],
    );
}

use super::window::{window_block_scalar, Geometry, PixelVotes};

/// `v * (1/255)`, computed rather than looked up so that the loops vectorise.
#[inline(always)]
fn unit(v: u8) -> f64 {
    v as f64 * (1.0 / 255.0)
}

#[inline(always)]
fn gray_scalar(pixels: &[u8], channels: usize, [wr, wg, wb]: [f64; 3], plane: &mut [f64]) {
    for (g, p) in plane.iter_mut().zip(pixels.chunks_exact(channels)) {
        let (r, gg, b) = (unit(p[0]), unit(p[1]), unit(p[2]));
        *g = b.mul_add(wb, r.mul_add(wr, gg * wg));
    }
}

/// One vote at a time (any CPU).
#[derive(Clone, Copy)]
pub(super) struct Scalar;

impl Kernels for Scalar {
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn interpolated_row(
        self,
        v: &RowVotes,
        col_index: &[u32],
        _n: usize,
        cs: usize,
        wy: f32,
        acc: &mut [f32],
        top: &mut [f32],
        bottom: &mut [f32],
    ) {
        let stride = top.len();
        acc.fill(0.0);
        // Two accumulators (even and odd pixels) so that consecutive votes into the same bin do
        // not wait on each other.
        let (even, odd) = acc.split_at_mut(stride);
        for (x, &rx) in col_index.iter().enumerate().take(v.b0.len()) {
            let rx = rx as usize;
            let (b0, b1) = (v.b0[x] as usize, v.b1[x] as usize);
            let (i0, i1) = (rx * cs, (rx + 1) * cs);
            let row = if x % 2 == 0 { &mut *even } else { &mut *odd };
            row[i0 + b0] += v.w00[x];
            row[i0 + b1] += v.w01[x];
            row[i1 + b0] += v.w10[x];
            row[i1 + b1] += v.w11[x];
        }
        for (((t, b), &e), &o) in top
            .iter_mut()
            .zip(bottom.iter_mut())
            .zip(even.iter())
            .zip(odd.iter())
        {
            let s = e + o;
            *t += s * (1.0 - wy);
            *b += s * wy;
        }
    }

    #[inline(always)]
    fn hard_row(
        self,
        v: &RowVotes,
        c: usize,
        _n: usize,
        cs: usize,
        even: &mut [f32],
        odd: &mut [f32],
    ) {
        for (cx, (bins, weights)) in v.b0.chunks_exact(c).zip(v.w00.chunks_exact(c)).enumerate() {
            for (x, (&bin, &w)) in bins.iter().zip(weights).enumerate() {
                let row = if x % 2 == 0 { &mut *even } else { &mut *odd };
                row[cx * cs + bin as usize] += w;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx512::Avx512;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{
        gray_scalar, orient_scalar, window_block_scalar, Geometry, Kernels, PixelVotes, RowVotes,
        Scalar, ATAN_C1, ATAN_C3, ATAN_C5, ATAN_C7, ATAN_C9,
    };

    /// A cell's bins in one 16-lane register; only made by [`Avx512::new`], which checks the
    /// CPU, so holding one proves the instructions exist.
    #[derive(Clone, Copy)]
    pub(in crate::hog) struct Avx512(());

    impl Avx512 {
        pub(in crate::hog) fn new() -> Option<Avx512> {
            crate::simd::SimdLevel::Avx512
                .supported()
                .then_some(Avx512(()))
        }
    }

    /// Bin counts the vector votes handle (one bin needs both votes in one lane: scalar).
    fn vector_bins(n: usize) -> bool {
        (2..=16).contains(&n)
    }

    /// `a` in the lane of mask `k0`, `b` in that of `k1` (distinct), zero elsewhere.
    #[inline(always)]
    unsafe fn two_votes(k0: u32, a: f32, k1: u32, b: f32) -> __m512 {
        let v = _mm512_maskz_mov_ps(k0 as __mmask16, _mm512_set1_ps(a));
        _mm512_mask_mov_ps(v, k1 as __mmask16, _mm512_set1_ps(b))
    }

    /// Adds a finished column (even + odd pixels) at `offset` into the two cell rows with the
    /// row weights, exactly as the scalar loop does for every column. Whole-vector loads and
    /// stores (cells are 16 floats apart): masked ones would defeat store-to-load forwarding
    /// between consecutive rows.
    #[inline(always)]
    unsafe fn flush(
        (top, bottom): (*mut f32, *mut f32),
        offset: usize,
        even: __m512,
        odd: __m512,
        (up, down): (__m512, __m512),
    ) {
        let s = _mm512_add_ps(even, odd);
        let (t, b) = (top.add(offset), bottom.add(offset));
        _mm512_storeu_ps(t, _mm512_add_ps(_mm512_loadu_ps(t), _mm512_mul_ps(s, up)));
        _mm512_storeu_ps(b, _mm512_add_ps(_mm512_loadu_ps(b), _mm512_mul_ps(s, down)));
    }

    // SAFETY (every method): an `Avx512` exists only on CPUs with AVX-512 F/BW/DQ/VL. Every
    // vector load and store of the vote loops touches the 16 floats of one cell at `k * 16`,
    // with `k * 16 + 16` within the slice (asserted before the loops).
    impl Kernels for Avx512 {
        fn cell_stride(self, n: usize) -> usize {
            if vector_bins(n) {
                16
            } else {
                n
            }
        }

        #[inline(always)]
        fn orient_row(
            self,
            cs231n: bool,
            gx: &[f64],
            gy: &[f64],
            pos: &mut [f32],
            mag: &mut [f32],
            bins_per_rad: f32,
        ) {
            use std::f32::consts::{FRAC_PI_2, PI};
            let len = pos.len();
            let (gx, gy, mag) = (&gx[..len], &gy[..len], &mut mag[..len]);
            let full = len / 16 * 16;
            // SAFETY: 16 values are read from and written to each slice at offsets `< full`.
            // The operations are the scalar loop's, in its order (no fused multiply-adds), so
            // the results are identical.
            unsafe {
                let load = |p: &[f64], i: usize| {
                    let lo = _mm512_cvtpd_ps(_mm512_loadu_pd(p.as_ptr().add(i)));
                    let hi = _mm512_cvtpd_ps(_mm512_loadu_pd(p.as_ptr().add(i + 8)));
                    _mm512_insertf32x8::<1>(_mm512_castps256_ps512(lo), hi)
                };
                let sign = _mm512_set1_ps(-0.0);
                let zero = _mm512_setzero_ps();
                let c = [ATAN_C1, ATAN_C3, ATAN_C5, ATAN_C7, ATAN_C9].map(|v| _mm512_set1_ps(v));
                let (half_pi, pi) = (_mm512_set1_ps(FRAC_PI_2), _mm512_set1_ps(PI));
                let tiny = _mm512_set1_ps(f32::MIN_POSITIVE);
                let scale = _mm512_set1_ps(bins_per_rad);
                for i in (0..full).step_by(16) {
                    let (x, y) = (load(gx, i), load(gy, i));
                    let mut m =
                        _mm512_sqrt_ps(_mm512_add_ps(_mm512_mul_ps(x, x), _mm512_mul_ps(y, y)));
                    let (fx, fy) = if cs231n {
                        let left = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, zero);
                        m = _mm512_mask_mov_ps(m, left, zero);
                        (_mm512_xor_ps(y, sign), x)
                    } else {
                        let down = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(y, zero);
                        (
                            _mm512_mask_xor_ps(x, down, x, sign),
                            _mm512_mask_xor_ps(y, down, y, sign),
                        )
                    };
                    let ax = _mm512_andnot_ps(sign, fx);
                    let lo = _mm512_min_ps(ax, fy);
                    let hi = _mm512_max_ps(_mm512_max_ps(ax, fy), tiny);
                    let a = _mm512_div_ps(lo, hi);
                    let s = _mm512_mul_ps(a, a);
                    let p = _mm512_add_ps(c[3], _mm512_mul_ps(s, c[4]));
                    let p = _mm512_add_ps(c[2], _mm512_mul_ps(s, p));
                    let p = _mm512_add_ps(c[1], _mm512_mul_ps(s, p));
                    let p = _mm512_add_ps(c[0], _mm512_mul_ps(s, p));
                    let t = _mm512_mul_ps(a, p);
                    let steep = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(fy, ax);
                    let t = _mm512_mask_sub_ps(t, steep, half_pi, t);
                    let back = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(fx, zero);
                    let theta = _mm512_mask_sub_ps(t, back, pi, t);
                    _mm512_storeu_ps(pos.as_mut_ptr().add(i), _mm512_mul_ps(theta, scale));
                    _mm512_storeu_ps(mag.as_mut_ptr().add(i), m);
                }
            }
            let (gx, gy) = (&gx[full..], &gy[full..]);
            let (pos, mag) = (&mut pos[full..], &mut mag[full..]);
            if cs231n {
                orient_scalar::<true>(gx, gy, pos, mag, bins_per_rad)
            } else {
                orient_scalar::<false>(gx, gy, pos, mag, bins_per_rad)
            }
        }

        #[inline(always)]
        fn gray(self, pixels: &[u8], channels: usize, weights: [f64; 3], plane: &mut [f64]) {
            if channels != 3 {
                return gray_scalar(pixels, channels, weights, plane);
            }
            let n = plane.len().min(pixels.len() / 3);
            let full = n / 16 * 16;
            // SAFETY: each step reads the 48 bytes of 16 pixels and writes 16 plane values,
            // all within the slices (`full <= n`).
            unsafe {
                // Element e of the 48 interleaved channel values, for the 16 pixels' channel k:
                // e = 3 i + k. The first 32 come from two 16-value registers, the rest from the
                // third.
                let lo = |k: i32| {
                    _mm512_setr_epi32(
                        k,
                        3 + k,
                        6 + k,
                        9 + k,
                        12 + k,
                        15 + k,
                        18 + k,
                        21 + k,
                        24 + k,
                        27 + k,
                        30 + k,
                        (33 + k) & 31,
                        (36 + k) & 31,
                        (39 + k) & 31,
                        (42 + k) & 31,
                        (45 + k) & 31,
                    )
                };
                // Lanes whose element is in the third register (e >= 32), for k = 0, 1, 2.
                let high: [__mmask16; 3] = [0xF800, 0xF800, 0xFC00];
                let idx = [lo(0), lo(1), lo(2)];
                let [wr, wg, wb] = weights;
                let (wr, wg, wb) = (_mm512_set1_pd(wr), _mm512_set1_pd(wg), _mm512_set1_pd(wb));
                let scale = _mm512_set1_pd(1.0 / 255.0);
                let src = pixels.as_ptr();
                let dst = plane.as_mut_ptr();
                for i in (0..full).step_by(16) {
                    let p = src.add(3 * i);
                    let c0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i));
                    let c1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(p.add(16) as *const __m128i));
                    let c2 = _mm512_cvtepu8_epi32(_mm_loadu_si128(p.add(32) as *const __m128i));
                    let channel = |k: usize| {
                        let v = _mm512_permutex2var_epi32(c0, idx[k], c1);
                        _mm512_mask_permutexvar_epi32(v, high[k], idx[k], c2)
                    };
                    let (r, g, b) = (channel(0), channel(1), channel(2));
                    for half in 0..2 {
                        let wide = |v: __m512i| {
                            let v = if half == 0 {
                                _mm512_castsi512_si256(v)
                            } else {
                                _mm512_extracti64x4_epi64::<1>(v)
                            };
                            _mm512_mul_pd(_mm512_cvtepi32_pd(v), scale)
                        };
                        let (r, g, b) = (wide(r), wide(g), wide(b));
                        let y =
                            _mm512_fmadd_pd(b, wb, _mm512_fmadd_pd(r, wr, _mm512_mul_pd(g, wg)));
                        _mm512_storeu_pd(dst.add(i + 8 * half), y);
                    }
                }
            }
            gray_scalar(&pixels[3 * full..], 3, weights, &mut plane[full..]);
        }

        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        fn interpolated_row(
            self,
            v: &RowVotes,
            col_index: &[u32],
            n: usize,
            cs: usize,
            wy: f32,
            acc: &mut [f32],
            top: &mut [f32],
            bottom: &mut [f32],
        ) {
            let len = v.b0.len();
            if cs != 16 || !vector_bins(n) || len == 0 {
                return Scalar.interpolated_row(v, col_index, n, cs, wy, acc, top, bottom);
            }
            let stride = top.len();
            let col_index = &col_index[..len];
            assert!(bottom.len() == stride);
            // Columns only grow along the row, so the last pixel's is the largest.
            assert!(
                (col_index[len - 1] as usize + 2) * 16 <= stride,
                "padded grid too small"
            );
            let (k0, k1) = (&v.k0[..len], &v.k1[..len]);
            let (w00, w01, w10, w11) = (&v.w00[..len], &v.w01[..len], &v.w10[..len], &v.w11[..len]);
            unsafe {
                let weights = (_mm512_set1_ps(1.0 - wy), _mm512_set1_ps(wy));
                let rows = (top.as_mut_ptr(), bottom.as_mut_ptr());
                let zero = _mm512_setzero_ps();
                // Left column rx and right column rx + 1, for even and odd pixels.
                let (mut le, mut lo, mut re, mut ro) = (zero, zero, zero, zero);
                let mut rx = col_index[0] as usize;
                for x in 0..len {
                    let r = col_index[x] as usize;
                    if r != rx {
                        // Columns only move right, one at a time: the right column becomes
                        // the left one and the new right column starts empty.
                        flush(rows, rx * 16, le, lo, weights);
                        (le, lo, re, ro) = (re, ro, zero, zero);
                        rx = r;
                    }
                    let left = two_votes(k0[x], w00[x], k1[x], w01[x]);
                    let right = two_votes(k0[x], w10[x], k1[x], w11[x]);
                    if x % 2 == 0 {
                        le = _mm512_add_ps(le, left);
                        re = _mm512_add_ps(re, right);
                    } else {
                        lo = _mm512_add_ps(lo, left);
                        ro = _mm512_add_ps(ro, right);
                    }
                }
                flush(rows, rx * 16, le, lo, weights);
                flush(rows, (rx + 1) * 16, re, ro, weights);
            }
        }

        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        fn window_block(
            self,
            g: &Geometry,
            votes: &PixelVotes,
            start: usize,
            w: usize,
            n: usize,
            cs: usize,
            hist: &mut [f32],
        ) {
            let Some(quad) = g.quad.as_deref() else {
                return window_block_scalar(g, votes, start, w, cs, hist);
            };
            if cs != 16 || !vector_bins(n) {
                return window_block_scalar(g, votes, start, w, cs, hist);
            }
            let side = g.side;
            let last = start + (side - 1) * w + side;
            assert!(hist.len() >= 2 * 4 * 16 && quad.len() >= side * side);
            let (k0, k1) = (&votes.k0[..last], &votes.k1[..last]);
            let (a0, a1) = (&votes.vote0[..last], &votes.vote1[..last]);
            // The four cells' registers for even and odd pixels; every pixel adds into all
            // four (`+0.0` where its weight is zero, which changes nothing), in the scalar
            // loop's pixel order.
            unsafe {
                let zero = _mm512_setzero_ps();
                let mut acc = [[zero; 4]; 2];
                for i in 0..side {
                    for j in 0..side {
                        let p = start + i * w + j;
                        let q = two_votes(k0[p], a0[p], k1[p], a1[p]);
                        let wq = &quad[i * side + j];
                        let half = &mut acc[(i * side + j) % 2];
                        for (cell, &wt) in half.iter_mut().zip(wq) {
                            *cell = _mm512_add_ps(*cell, _mm512_mul_ps(q, _mm512_set1_ps(wt)));
                        }
                    }
                }
                for (h, half) in acc.iter().enumerate() {
                    for (cell, v) in half.iter().enumerate() {
                        _mm512_storeu_ps(hist.as_mut_ptr().add((h * 4 + cell) * 16), *v);
                    }
                }
            }
        }

        #[inline(always)]
        fn hard_row(
            self,
            v: &RowVotes,
            c: usize,
            n: usize,
            cs: usize,
            even: &mut [f32],
            odd: &mut [f32],
        ) {
            if cs != 16 || !vector_bins(n) {
                return Scalar.hard_row(v, c, n, cs, even, odd);
            }
            let cols = v.b0.len() / c;
            assert!(even.len() >= cols * 16 && odd.len() >= cols * 16);
            unsafe {
                for cx in 0..cols {
                    let pe = even.as_mut_ptr().add(cx * 16);
                    let po = odd.as_mut_ptr().add(cx * 16);
                    let mut e = _mm512_loadu_ps(pe);
                    let mut o = _mm512_loadu_ps(po);
                    for x in 0..c {
                        let i = cx * c + x;
                        let vote = _mm512_maskz_mov_ps(
                            (1u32 << v.b0[i]) as __mmask16,
                            _mm512_set1_ps(v.w00[i]),
                        );
                        if x % 2 == 0 {
                            e = _mm512_add_ps(e, vote);
                        } else {
                            o = _mm512_add_ps(o, vote);
                        }
                    }
                    _mm512_storeu_ps(pe, e);
                    _mm512_storeu_ps(po, o);
                }
            }
        }
    }
}
