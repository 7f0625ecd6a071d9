//! AVX2 + FMA kernel: a 6 x 16 tile of C in 12 ymm accumulators (BLIS's Haswell sgemm shape,
//! transposed for row-major C): per step of `p`, two loads of `B` and six broadcasts of `A`
//! feed 12 FMAs; with the two `B` vectors and one broadcast register that is 15 of the 16 ymm
//! registers.

use std::arch::x86_64::*;

use super::{Store, TileBias};

pub const MR: usize = 6;
pub const NR: usize = 16;

/// One `MR x NR` tile; see the module docs of [`super`] for the contract.
///
/// # Safety
/// The CPU must support AVX2 and FMA. Pointers as for [`super::scalar::tile`] with this
/// module's `MR` and `NR`.
#[target_feature(enable = "avx2,fma")]
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
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let mut ap = a;
    let mut bp = b;
    for _ in 0..kc {
        let b0 = _mm256_loadu_ps(bp);
        let b1 = _mm256_loadu_ps(bp.add(8));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm256_broadcast_ss(&*ap.add(i));
            row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
        }
        ap = ap.add(a_ks);
        bp = bp.add(b_ks);
    }
    let alpha = _mm256_set1_ps(st.alpha);
    let beta = _mm256_set1_ps(st.beta);
    let zero = _mm256_setzero_ps();
    let (bias0, bias1) = match st.bias {
        TileBias::Col(p) => (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))),
        _ => (zero, zero),
    };
    for (i, row) in acc.iter().enumerate() {
        let cp = c.add(i * ldc);
        let mut v0 = _mm256_mul_ps(alpha, row[0]);
        let mut v1 = _mm256_mul_ps(alpha, row[1]);
        if st.load_c {
            v0 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(cp), v0);
            v1 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(cp.add(8)), v1);
        }
        match st.bias {
            TileBias::None => {}
            TileBias::Col(_) => {
                v0 = _mm256_add_ps(v0, bias0);
                v1 = _mm256_add_ps(v1, bias1);
            }
            TileBias::Row(p) => {
                let r = _mm256_set1_ps(*p.add(i));
                v0 = _mm256_add_ps(v0, r);
                v1 = _mm256_add_ps(v1, r);
            }
        }
        if st.relu {
            // NaN-propagating as in the AVX-512 kernel: max returns its second operand on NaN.
            v0 = _mm256_max_ps(zero, v0);
            v1 = _mm256_max_ps(zero, v1);
        }
        _mm256_storeu_ps(cp, v0);
        _mm256_storeu_ps(cp.add(8), v1);
    }
}
