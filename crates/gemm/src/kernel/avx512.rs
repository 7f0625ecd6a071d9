//! AVX-512F kernel: a 12 x 32 tile of C in 24 zmm accumulators (BLIS's Skylake-X sgemm shape,
//! transposed for row-major C). Each step of `p` loads two vectors of `B` and broadcasts twelve
//! values of `A` (folded into the FMAs as embedded broadcasts), i.e. 24 FMAs for 2 loads plus
//! 12 broadcast loads: the two FMA ports stay busy with the loads on the other ports.

use std::arch::x86_64::*;

use super::{Store, TileBias};

pub const MR: usize = 12;
pub const NR: usize = 32;

/// One `MR x NR` tile; see the module docs of [`super`] for the contract.
///
/// # Safety
/// The CPU must support AVX-512F. Pointers as for [`super::scalar::tile`] with this module's
/// `MR` and `NR`.
#[target_feature(enable = "avx512f")]
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
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let mut ap = a;
    let mut bp = b;
    for _ in 0..kc {
        let b0 = _mm512_loadu_ps(bp);
        let b1 = _mm512_loadu_ps(bp.add(16));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm512_set1_ps(*ap.add(i));
            row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
        }
        ap = ap.add(a_ks);
        bp = bp.add(b_ks);
    }
    let alpha = _mm512_set1_ps(st.alpha);
    let beta = _mm512_set1_ps(st.beta);
    let zero = _mm512_setzero_ps();
    let (bias0, bias1) = match st.bias {
        TileBias::Col(p) => (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16))),
        _ => (zero, zero),
    };
    for (i, row) in acc.iter().enumerate() {
        let cp = c.add(i * ldc);
        let mut v0 = _mm512_mul_ps(alpha, row[0]);
        let mut v1 = _mm512_mul_ps(alpha, row[1]);
        if st.load_c {
            v0 = _mm512_fmadd_ps(beta, _mm512_loadu_ps(cp), v0);
            v1 = _mm512_fmadd_ps(beta, _mm512_loadu_ps(cp.add(16)), v1);
        }
        match st.bias {
            TileBias::None => {}
            TileBias::Col(_) => {
                v0 = _mm512_add_ps(v0, bias0);
                v1 = _mm512_add_ps(v1, bias1);
            }
            TileBias::Row(p) => {
                let r = _mm512_set1_ps(*p.add(i));
                v0 = _mm512_add_ps(v0, r);
                v1 = _mm512_add_ps(v1, r);
            }
        }
        if st.relu {
            // max(0, v) returns its second operand when either is NaN: NaN stays NaN, so a
            // diverging network is still noticed downstream.
            v0 = _mm512_max_ps(zero, v0);
            v1 = _mm512_max_ps(zero, v1);
        }
        _mm512_storeu_ps(cp, v0);
        _mm512_storeu_ps(cp.add(16), v1);
    }
}
