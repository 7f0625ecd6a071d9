//! Copying blocks of `A` and `B` into the layouts the kernels read (BLIS packing).
//!
//! A packed `A` micro-panel holds `MR` rows for `kc` steps, step-major: `buf[p·MR + i]`.
//! A packed `B` micro-panel holds `NR` columns, step-major: `buf[p·NR + j]`. Rows (columns) past
//! the matrix edge are zero, so a kernel can always compute a full tile.

use crate::MatRef;

/// Packs rows `i0 .. i0 + mr` (mr ≤ MR), steps `p0 .. p0 + kc` of `a` into `buf` (`MR·kc` values).
pub(crate) fn pack_a(
    a: &MatRef<'_>,
    i0: usize,
    mr: usize,
    p0: usize,
    kc: usize,
    mrw: usize,
    buf: &mut [f32],
) {
    debug_assert!(mr <= mrw && buf.len() >= mrw * kc);
    let (rs, cs) = (a.rs, a.cs);
    let base = a.data;
    if rs == 1 {
        // Column-major: the `mr` values of one step are contiguous.
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

/// Packs columns `j0 .. j0 + nr` (nr ≤ NR), steps `p0 .. p0 + kc` of `b` into `buf`
/// (`NR·kc` values).
pub(crate) fn pack_b(
    b: &MatRef<'_>,
    j0: usize,
    nr: usize,
    p0: usize,
    kc: usize,
    nrw: usize,
    buf: &mut [f32],
) {
    debug_assert!(nr <= nrw && buf.len() >= nrw * kc);
    let (rs, cs) = (b.rs, b.cs);
    let base = b.data;
    if cs == 1 {
        // Row-major: the `nr` values of one step are contiguous.
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
