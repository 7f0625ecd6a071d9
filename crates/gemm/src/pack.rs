//! Copying blocks of `A` and `B` into the layouts the kernels read (BLIS packing).
//!
//! A packed `A` micro-panel holds `MR` rows for `kc` steps, step-major: `buf[p·MR + i]`.
//! A packed `B` micro-panel holds `NR` columns, step-major: `buf[p·NR + j]`. Rows (columns) past
//! the matrix edge are zero, so a kernel can always compute a full tile.

use crate::MatRef;

/// Writes `dst[p·width + i] = src[i][p]` for `p < kc`, `i < width`, with `src[i]` the `i`-th
/// of `rows` contiguous source runs (each `kc` long, `stride` apart from the previous) and zero
/// for `i ≥ rows`: the transposing copy both packings need when a panel's values are spread
/// over several rows (A) or columns (B) of the source.
fn interleave(
    src: &[f32],
    rows: usize,
    stride: usize,
    kc: usize,
    width: usize,
    dst: &mut [f32],
    simd: bool,
) {
    debug_assert!(rows <= width && dst.len() >= width * kc);
    debug_assert!(rows == 0 || (rows - 1) * stride + kc <= src.len());
    #[cfg(target_arch = "x86_64")]
    if simd && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present; the bounds are the debug-asserted ones, which the callers
        // guarantee (the view's extent covers `rows` runs of `kc`).
        unsafe { interleave_avx2(src, rows, stride, kc, width, dst) };
        return;
    }
    let _ = simd;
    for p in 0..kc {
        let out = &mut dst[p * width..(p + 1) * width];
        for (i, o) in out.iter_mut().enumerate() {
            *o = if i < rows { src[i * stride + p] } else { 0.0 };
        }
    }
}

/// [`interleave`] by 8 x 8 register transposes: eight loads of eight steps, 24 shuffles, eight
/// stores of a row of eight, instead of 64 scalar stores at stride `width`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn interleave_avx2(
    src: &[f32],
    rows: usize,
    stride: usize,
    kc: usize,
    width: usize,
    dst: &mut [f32],
) {
    use std::arch::x86_64::*;
    let body = kc / 8 * 8;
    let sp = src.as_ptr();
    let dp = dst.as_mut_ptr();
    const LANE_MASKS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut rb = 0;
    while rb < width {
        let valid = rows.saturating_sub(rb).min(8);
        let count = (width - rb).min(8);
        let store_mask = _mm256_loadu_si256(LANE_MASKS[8 - count..].as_ptr().cast());
        let mut p = 0;
        while p < body {
            let mut r = [_mm256_setzero_ps(); 8];
            for (i, ri) in r.iter_mut().enumerate().take(valid) {
                *ri = _mm256_loadu_ps(sp.add((rb + i) * stride + p));
            }
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let cols = [
                _mm256_permute2f128_ps::<0x20>(s0, s4),
                _mm256_permute2f128_ps::<0x20>(s1, s5),
                _mm256_permute2f128_ps::<0x20>(s2, s6),
                _mm256_permute2f128_ps::<0x20>(s3, s7),
                _mm256_permute2f128_ps::<0x31>(s0, s4),
                _mm256_permute2f128_ps::<0x31>(s1, s5),
                _mm256_permute2f128_ps::<0x31>(s2, s6),
                _mm256_permute2f128_ps::<0x31>(s3, s7),
            ];
            for (j, col) in cols.iter().enumerate() {
                let out = dp.add((p + j) * width + rb);
                if count == 8 {
                    _mm256_storeu_ps(out, *col);
                } else {
                    _mm256_maskstore_ps(out, store_mask, *col);
                }
            }
            p += 8;
        }
        for p in body..kc {
            for i in 0..count {
                *dp.add(p * width + rb + i) = if i < valid {
                    *sp.add((rb + i) * stride + p)
                } else {
                    0.0
                };
            }
        }
        rb += 8;
    }
}

/// Packs rows `i0 .. i0 + mr` (mr ≤ MR), steps `p0 .. p0 + kc` of `a` into `buf` (`MR·kc` values).
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_a(
    a: &MatRef<'_>,
    i0: usize,
    mr: usize,
    p0: usize,
    kc: usize,
    mrw: usize,
    buf: &mut [f32],
    simd: bool,
) {
    debug_assert!(mr <= mrw && buf.len() >= mrw * kc);
    let (rs, cs) = (a.rs, a.cs);
    let base = a.data;
    if cs == 1 && rs != 1 && mr > 0 {
        // Row-major: each row is a contiguous run of steps; transpose them in registers.
        let start = i0 * rs + p0;
        interleave(&base[start..], mr, rs, kc, mrw, &mut buf[..mrw * kc], simd);
        return;
    }
    if rs == 1 {
        // Column-major: the `mr` values of one step are contiguous. A full panel is copied in
        // fixed-size steps, as in `pack_b` (a run-time-length copy is a `memmove` call per
        // step: 3 % of an MLP epoch's samples, packing `xᵀ` for `∂Wᵀ = xᵀ·dout`).
        if mr == mrw && copy_full_panel(base, p0 * cs + i0, cs, kc, mrw, buf) {
            return;
        }
        for p in 0..kc {
            let src = (p0 + p) * cs + i0;
            let dst = &mut buf[p * mrw..(p + 1) * mrw];
            dst[..mr].copy_from_slice(&base[src..src + mr]);
            dst[mr..].fill(0.0);
        }
    } else {
        // Any other layout (row-major: each row is a contiguous run of steps), row by row.
        for i in 0..mr {
            let row = (i0 + i) * rs + p0 * cs;
            if cs == 1 {
                for (p, &v) in base[row..row + kc].iter().enumerate() {
                    buf[p * mrw + i] = v;
                }
            } else {
                for p in 0..kc {
                    buf[p * mrw + i] = base[row + p * cs];
                }
            }
        }
        for i in mr..mrw {
            for p in 0..kc {
                buf[p * mrw + i] = 0.0;
            }
        }
    }
}

/// `kc` steps of `N` contiguous values, `rs` apart in `base` from `src0`, into `buf`.
#[inline(always)]
fn copy_steps<const N: usize>(base: &[f32], src0: usize, rs: usize, kc: usize, buf: &mut [f32]) {
    for (p, dst) in buf[..kc * N].chunks_exact_mut(N).enumerate() {
        let src = src0 + p * rs;
        let src: &[f32; N] = base[src..src + N].try_into().expect("N values");
        dst.copy_from_slice(src);
    }
}

/// [`copy_steps`] for a panel `width` values wide, if `width` is one of the families' `MR` or
/// `NR` (4, 6, 8, 12, 16, 32); returns whether it copied.
fn copy_full_panel(
    base: &[f32],
    src0: usize,
    stride: usize,
    kc: usize,
    width: usize,
    buf: &mut [f32],
) -> bool {
    match width {
        4 => copy_steps::<4>(base, src0, stride, kc, buf),
        6 => copy_steps::<6>(base, src0, stride, kc, buf),
        8 => copy_steps::<8>(base, src0, stride, kc, buf),
        12 => copy_steps::<12>(base, src0, stride, kc, buf),
        16 => copy_steps::<16>(base, src0, stride, kc, buf),
        32 => copy_steps::<32>(base, src0, stride, kc, buf),
        _ => return false,
    }
    true
}

/// Packs columns `j0 .. j0 + nr` (nr ≤ NR), steps `p0 .. p0 + kc` of `b` into `buf`
/// (`NR·kc` values).
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_b(
    b: &MatRef<'_>,
    j0: usize,
    nr: usize,
    p0: usize,
    kc: usize,
    nrw: usize,
    buf: &mut [f32],
    simd: bool,
) {
    debug_assert!(nr <= nrw && buf.len() >= nrw * kc);
    let (rs, cs) = (b.rs, b.cs);
    let base = b.data;
    if rs == 1 && cs != 1 && nr > 0 {
        // Column-major: each column is a contiguous run of steps; transpose them in registers.
        let start = p0 + j0 * cs;
        interleave(&base[start..], nr, cs, kc, nrw, &mut buf[..nrw * kc], simd);
        return;
    }
    if cs == 1 {
        // Row-major: the `nr` values of one step are contiguous. A full panel is copied in
        // fixed-size steps (vector moves; a `copy_from_slice` of run-time length is a `memmove`
        // call per step, which took a fifth of an MLP epoch).
        if nr == nrw && copy_full_panel(base, p0 * rs + j0, rs, kc, nrw, buf) {
            return;
        }
        for p in 0..kc {
            let src = (p0 + p) * rs + j0;
            let dst = &mut buf[p * nrw..(p + 1) * nrw];
            dst[..nr].copy_from_slice(&base[src..src + nr]);
            dst[nr..].fill(0.0);
        }
    } else {
        // Column-major (e.g. the transpose of a row-major weight matrix): column by column.
        for j in 0..nr {
            let col = p0 * rs + (j0 + j) * cs;
            if rs == 1 {
                for (p, &v) in base[col..col + kc].iter().enumerate() {
                    buf[p * nrw + j] = v;
                }
            } else {
                for p in 0..kc {
                    buf[p * nrw + j] = base[col + p * rs];
                }
            }
        }
        for j in nr..nrw {
            for p in 0..kc {
                buf[p * nrw + j] = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::interleave;

    #[test]
    fn simd_transpose_equals_the_scalar_one() {
        for &(rows, width) in &[
            (12, 12),
            (7, 12),
            (32, 32),
            (20, 32),
            (6, 6),
            (1, 16),
            (16, 16),
        ] {
            for kc in [1, 7, 8, 9, 64, 385] {
                let stride = kc + 5;
                let src: Vec<f32> = (0..rows * stride).map(|i| i as f32 * 0.5 - 3.0).collect();
                let mut a = vec![f32::NAN; width * kc];
                let mut b = vec![f32::NAN; width * kc];
                interleave(&src, rows, stride, kc, width, &mut a, true);
                interleave(&src, rows, stride, kc, width, &mut b, false);
                assert_eq!(a, b, "rows {rows} width {width} kc {kc}");
                for p in 0..kc {
                    for i in 0..width {
                        let want = if i < rows { src[i * stride + p] } else { 0.0 };
                        assert_eq!(b[p * width + i], want);
                    }
                }
            }
        }
    }
}
