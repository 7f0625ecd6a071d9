//! Portable kernel: plain Rust on fixed-size arrays, which the compiler vectorises with whatever
//! the target baseline offers (SSE2 on x86-64). The reference the SIMD kernels are tested
//! against, and the path on CPUs without AVX2.

use super::{Store, TileBias};

pub const MR: usize = 4;
pub const NR: usize = 8;

/// One `MR x NR` tile; see the module docs of [`super`] for the contract.
///
/// # Safety
/// `a` must be readable at `p·a_ks + i` and `b` at `p·b_ks + j` for `p < kc`, `i < MR`,
/// `j < NR`; `c` readable (if `st.load_c`) and writable at `i·ldc + j`; a bias pointer readable
/// for `NR` (column bias) or `MR` (row bias) values.
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile(
    kc: usize,
    a: *const f32,
    a_ks: usize,
    b: *const f32,
    b_ks: usize,
    c: *mut f32,
    ldc: usize,
    st: &Store,
) {
    let mut acc = [[0f32; NR]; MR];
    for p in 0..kc {
        let ap = a.add(p * a_ks);
        let bp = b.add(p * b_ks);
        let mut bv = [0f32; NR];
        for (j, v) in bv.iter_mut().enumerate() {
            *v = *bp.add(j);
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = *ap.add(i);
            for (r, &bj) in row.iter_mut().zip(&bv) {
                *r += ai * bj;
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        let crow = c.add(i * ldc);
        for (j, &v) in row.iter().enumerate() {
            let mut out = st.alpha * v;
            if st.load_c {
                out += st.beta * *crow.add(j);
            }
            match st.bias {
                TileBias::None => {}
                TileBias::Col(p) => out += *p.add(j),
                TileBias::Row(p) => out += *p.add(i),
            }
            // max(0, ·) that keeps NaN, like the SIMD kernels.
            if st.relu && out < 0.0 {
                out = 0.0;
            }
            *crow.add(j) = out;
        }
    }
}
