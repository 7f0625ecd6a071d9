//! The few 8-lane `f32` operations the convolutions need, as a zero-sized token type per
//! instruction set. Holding an [`Avx2`] proves the CPU has AVX2 and FMA (it is only made by
//! [`Avx2::detect`]), which is what makes its safe methods sound.

/// 8-lane `f32` arithmetic.
pub(crate) trait Simd: Copy {
    type V: Copy;
    fn zero(self) -> Self::V;
    fn splat(self, x: f32) -> Self::V;
    /// Loads `x[..8]` (`x.len() >= 8`).
    fn load(self, x: &[f32]) -> Self::V;
    /// Stores into `out[..8]` (`out.len() >= 8`).
    fn store(self, v: Self::V, out: &mut [f32]);
    /// a · b + c (fused where the instruction set has it).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn sqrt(self, a: Self::V) -> Self::V;
}

/// Portable fallback: plain arrays, left to the auto-vectoriser (SSE2 on any x86-64).
#[derive(Clone, Copy)]
pub(crate) struct Portable;

impl Simd for Portable {
    type V = [f32; 8];

    #[inline(always)]
    fn zero(self) -> [f32; 8] {
        [0.0; 8]
    }

    #[inline(always)]
    fn splat(self, x: f32) -> [f32; 8] {
        [x; 8]
    }

    #[inline(always)]
    fn load(self, x: &[f32]) -> [f32; 8] {
        x[..8].try_into().expect("8 lanes")
    }

    #[inline(always)]
    fn store(self, v: [f32; 8], out: &mut [f32]) {
        out[..8].copy_from_slice(&v);
    }

    #[inline(always)]
    fn mul_add(self, a: [f32; 8], b: [f32; 8], c: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }

    #[inline(always)]
    fn mul(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] * b[i])
    }

    #[inline(always)]
    fn add(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] + b[i])
    }

    #[inline(always)]
    fn sub(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] - b[i])
    }

    #[inline(always)]
    fn sqrt(self, a: [f32; 8]) -> [f32; 8] {
        a.map(f32::sqrt)
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::Avx2;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::Simd;

    /// AVX2 + FMA; only [`Avx2::detect`] makes one.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        pub(crate) fn detect() -> Option<Avx2> {
            (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
                .then_some(Avx2(()))
        }
    }

    // SAFETY (every method): an `Avx2` exists only if the CPU has AVX2 and FMA, and the
    // loads/stores are bounds-checked against 8 lanes first.
    impl Simd for Avx2 {
        type V = __m256;

        #[inline(always)]
        fn zero(self) -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }

        #[inline(always)]
        fn splat(self, x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }

        #[inline(always)]
        fn load(self, x: &[f32]) -> __m256 {
            let x = &x[..8];
            unsafe { _mm256_loadu_ps(x.as_ptr()) }
        }

        #[inline(always)]
        fn store(self, v: __m256, out: &mut [f32]) {
            let out = &mut out[..8];
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) }
        }

        #[inline(always)]
        fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }

        #[inline(always)]
        fn mul(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_mul_ps(a, b) }
        }

        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }

        #[inline(always)]
        fn sub(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_sub_ps(a, b) }
        }

        #[inline(always)]
        fn sqrt(self, a: __m256) -> __m256 {
            unsafe { _mm256_sqrt_ps(a) }
        }
    }
}
