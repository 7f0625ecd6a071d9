//! Register-tile micro-kernels, one module per SIMD family.
//!
//! Every kernel computes one `MR x NR` tile of `C` from a micro-panel of `A` and one of `B`:
//!
//! ```text
//! acc[i][j] = Σ_{p < kc} a[p·a_ks + i] · b[p·b_ks + j]        (i < MR, j < NR)
//! C[i][j]   = α·acc[i][j] + β·C[i][j] (+ bias) (then max(·, 0) if relu)
//! ```
//!
//! so the `MR` values of `A` that one step of `p` needs are contiguous (a packed panel, or a
//! column-major `A` read in place, `a_ks` = its column stride), and so are the `NR` values of
//! `B` (a packed panel, or a row-major `B` in place, `b_ks` = its row stride). `C` is written
//! with unit column stride and row stride `ldc`. Tiles at the matrix edge are computed into a
//! scratch tile by the driver and copied out, so kernels always see a full tile.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;

/// Stand-ins so `Simd::mr()` / `nr()` compile off x86 (the families are never selected there).
#[cfg(not(target_arch = "x86_64"))]
pub mod avx2 {
    pub const MR: usize = 6;
    pub const NR: usize = 16;
}
#[cfg(not(target_arch = "x86_64"))]
pub mod avx512 {
    pub const MR: usize = 12;
    pub const NR: usize = 32;
}

/// What a kernel does with the finished accumulators.
#[derive(Clone, Copy)]
pub struct Store {
    pub alpha: f32,
    pub beta: f32,
    /// Whether `C` is read (`β ≠ 0`, or a later block of the `k` loop adding to an earlier one).
    /// With `load_c` false, `C` may hold anything (even NaN): it is only written.
    pub load_c: bool,
    pub bias: TileBias,
    pub relu: bool,
}

/// A bias already offset to the tile: `Col(p)` adds `p[j]` to column `j`, `Row(p)` adds `p[i]`
/// to row `i`.
#[derive(Clone, Copy)]
pub enum TileBias {
    None,
    Col(*const f32),
    Row(*const f32),
}

impl Store {
    /// Just the products: `C = acc`.
    pub const PLAIN: Store = Store {
        alpha: 1.0,
        beta: 0.0,
        load_c: false,
        bias: TileBias::None,
        relu: false,
    };
}
