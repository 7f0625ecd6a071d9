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
    pub w00: Vec<f32>,
    pub w01: Vec<f32>,
    pub w10: Vec<f32>,
    pub w11: Vec<f32>,
}

impl RowVotes {
    pub fn resize(&mut self, len: usize) {
        for v in [&mut self.b0, &mut self.b1, &mut self.near] {
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
        w00,
        w01,
        w10,
        w11,
        ..
    } = out;
    let (b0, b1) = (&mut b0[..len], &mut b1[..len]);
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
        b0[x] = lo;
        b1[x] = if lo as usize + 1 == n { 0 } else { lo + 1 };
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
    /// Grayscale `fma(B, wB, fma(R, wR, G wG))` of RGB(A) pixels on `v * (1/255)` into `plane`
    /// (see [`super::Hog`]'s `gray_plane`).
    fn gray(self, pixels: &[u8], channels: usize, weights: [f64; 3], plane: &mut [f64]) {
        gray_scalar(pixels, channels, weights, plane)
    }

    /// Trilinear votes of one row (first pass in `v`) into the padded histogram rows `top`
    /// (the row's upper cell row) and `bottom` (the one below), each `pcols * n` long, with row
    /// weights `1 - wy` and `wy`; `col_index[x]` is pixel `x`'s left cell column in the padded
    /// grid. `acc` is scratch of `2 * pcols * n`.
    #[allow(clippy::too_many_arguments)]
    fn interpolated_row(
        self,
        v: &RowVotes,
        col_index: &[u32],
        n: usize,
        wy: f32,
        acc: &mut [f32],
        top: &mut [f32],
        bottom: &mut [f32],
    );

    /// Hard votes of one row (first pass in `v`, `cols * c` pixels) into the band
    /// accumulators `even`/`odd` (`cols * n` each): pixel `x` of cell `x / c` adds its weight to
    /// bin `b0[x]`, alternating between the two accumulators within the cell.
    fn hard_row(self, v: &RowVotes, c: usize, n: usize, even: &mut [f32], odd: &mut [f32]);
}

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
        n: usize,
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
            let (i0, i1) = (rx * n, (rx + 1) * n);
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
    fn hard_row(self, v: &RowVotes, c: usize, n: usize, even: &mut [f32], odd: &mut [f32]) {
        for (cx, (bins, weights)) in v.b0.chunks_exact(c).zip(v.w00.chunks_exact(c)).enumerate() {
            for (x, (&bin, &w)) in bins.iter().zip(weights).enumerate() {
                let row = if x % 2 == 0 { &mut *even } else { &mut *odd };
                row[cx * n + bin as usize] += w;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx512::Avx512;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{gray_scalar, Kernels, RowVotes, Scalar};

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

    /// Lanes `0..n` of a 16-lane register.
    #[inline(always)]
    fn lanes(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// `a` in lane `b0`, `b` in lane `b1` (distinct), zero elsewhere.
    #[inline(always)]
    unsafe fn two_votes(b0: u32, a: f32, b1: u32, b: f32) -> __m512 {
        let v = _mm512_maskz_mov_ps((1u32 << b0) as __mmask16, _mm512_set1_ps(a));
        _mm512_mask_mov_ps(v, (1u32 << b1) as __mmask16, _mm512_set1_ps(b))
    }

    /// Adds a finished column (even + odd pixels) at `offset` into the two cell rows with the
    /// row weights, exactly as the scalar loop does for every column.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn flush(
        top: *mut f32,
        bottom: *mut f32,
        offset: usize,
        mask: __mmask16,
        even: __m512,
        odd: __m512,
        up: __m512,
        down: __m512,
    ) {
        let s = _mm512_add_ps(even, odd);
        let (t, b) = (top.add(offset), bottom.add(offset));
        let tv = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, t), _mm512_mul_ps(s, up));
        _mm512_mask_storeu_ps(t, mask, tv);
        let bv = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, b), _mm512_mul_ps(s, down));
        _mm512_mask_storeu_ps(b, mask, bv);
    }

    // SAFETY (both methods): an `Avx512` exists only on CPUs with AVX-512 F/BW/DQ/VL. Every
    // masked load and store touches lanes `0..n` at an offset `k * n` with `k * n + n` within
    // the slice (asserted before the loops); masked-off lanes are not accessed.
    impl Kernels for Avx512 {
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
            wy: f32,
            acc: &mut [f32],
            top: &mut [f32],
            bottom: &mut [f32],
        ) {
            let len = v.b0.len();
            if !(2..=16).contains(&n) || len == 0 {
                return Scalar.interpolated_row(v, col_index, n, wy, acc, top, bottom);
            }
            let stride = top.len();
            let col_index = &col_index[..len];
            assert!(bottom.len() == stride);
            // Columns only grow along the row, so the last pixel's is the largest.
            assert!(
                (col_index[len - 1] as usize + 2) * n <= stride,
                "padded grid too small"
            );
            let (b0, b1) = (&v.b0[..len], &v.b1[..len]);
            let (w00, w01, w10, w11) = (&v.w00[..len], &v.w01[..len], &v.w10[..len], &v.w11[..len]);
            unsafe {
                let mask = lanes(n);
                let (up, down) = (_mm512_set1_ps(1.0 - wy), _mm512_set1_ps(wy));
                let (t, b) = (top.as_mut_ptr(), bottom.as_mut_ptr());
                let zero = _mm512_setzero_ps();
                // Left column rx and right column rx + 1, for even and odd pixels.
                let (mut le, mut lo, mut re, mut ro) = (zero, zero, zero, zero);
                let mut rx = col_index[0] as usize;
                for x in 0..len {
                    let r = col_index[x] as usize;
                    if r != rx {
                        // Columns only move right, one at a time: the right column becomes
                        // the left one and the new right column starts empty.
                        flush(t, b, rx * n, mask, le, lo, up, down);
                        (le, lo, re, ro) = (re, ro, zero, zero);
                        rx = r;
                    }
                    let left = two_votes(b0[x], w00[x], b1[x], w01[x]);
                    let right = two_votes(b0[x], w10[x], b1[x], w11[x]);
                    if x % 2 == 0 {
                        le = _mm512_add_ps(le, left);
                        re = _mm512_add_ps(re, right);
                    } else {
                        lo = _mm512_add_ps(lo, left);
                        ro = _mm512_add_ps(ro, right);
                    }
                }
                flush(t, b, rx * n, mask, le, lo, up, down);
                flush(t, b, (rx + 1) * n, mask, re, ro, up, down);
            }
        }

        #[inline(always)]
        fn hard_row(self, v: &RowVotes, c: usize, n: usize, even: &mut [f32], odd: &mut [f32]) {
            if !(1..=16).contains(&n) {
                return Scalar.hard_row(v, c, n, even, odd);
            }
            let cols = v.b0.len() / c;
            assert!(even.len() >= cols * n && odd.len() >= cols * n);
            unsafe {
                let mask = lanes(n);
                for cx in 0..cols {
                    let pe = even.as_mut_ptr().add(cx * n);
                    let po = odd.as_mut_ptr().add(cx * n);
                    let mut e = _mm512_maskz_loadu_ps(mask, pe);
                    let mut o = _mm512_maskz_loadu_ps(mask, po);
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
                    _mm512_mask_storeu_ps(pe, mask, e);
                    _mm512_mask_storeu_ps(po, mask, o);
                }
            }
        }
    }
}
