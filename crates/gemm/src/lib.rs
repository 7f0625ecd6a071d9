//! `C ← α·A·B + β·C` in `f32`, with bias and ReLU fused into the write-out of `C`.
//!
//! ```
//! use wb_gemm::{sgemm, Epilogue, MatMut, MatRef};
//! // scores (2 x 3) = relu(x (2 x 4) · Wᵀ + b), W stored (3 x 4) row-major like torch.nn.Linear
//! let x = [1.0, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, -4.0];
//! let w = [0.5f32; 12];
//! let b = [0.0, 1.0, -1.0];
//! let mut out = [0f32; 6];
//! sgemm(
//!     1.0,
//!     MatRef::row_major(&x, 2, 4)?,
//!     MatRef::row_major(&w, 3, 4)?.t(),
//!     0.0,
//!     MatMut::row_major(&mut out, 2, 3)?,
//!     Epilogue::bias_cols(&b).relu(),
//! )?;
//! assert_eq!(out, [5.0, 6.0, 4.0, 0.0, 0.0, 0.0]);
//! # Ok::<(), wb_gemm::GemmError>(())
//! ```
//!
//! **Views.** [`MatRef`] / [`MatMut`] are strided views of slices (row stride, column stride,
//! both in elements); `.t()` swaps them, so `Aᵀ` costs nothing. Row-major is the common case
//! ([`MatRef::row_major`]).
//!
//! **Algorithm.** The BLIS loop nest (Van Zee & van de Geijn, "BLIS: A Framework for Rapidly
//! Instantiating BLAS Functionality", ACM TOMS 2015; Goto & van de Geijn, "Anatomy of
//! High-Performance Matrix Multiplication", ACM TOMS 2008): `B` is cut into blocks of `KC`
//! steps x `NC` columns that stay in L2, `A` into micro-panels of `MR` rows that stay in L1, and a
//! register-tile micro-kernel computes `MR x NR` of `C` per call. An operand whose `MR` (`NR`)
//! values per step are already contiguous — a column-major `A`, a row-major `B` whose rows start
//! on cache lines — is read in place instead of packed. The micro-kernel is chosen once per
//! process ([`active`]): AVX-512F (12 x 32), AVX2 + FMA (6 x 16) or portable Rust (4 x 8);
//! `WB_SIMD=avx512|avx2|scalar` forces one, so the AVX2 path can be measured on an AVX-512
//! machine.
//!
//! **Threads.** Products big enough are split over the rayon pool
//! (`rayon::current_num_threads()`): the `MR x NR` tiles of `C` are cut into one contiguous run
//! per thread, and each thread packs what it reads itself, so there is one fork-join per product
//! and no barrier — except where every thread would pack all of `A` (runs of column panels,
//! `A` not read in place, as in the MLP's forward `x·Wᵀ`): then the threads first pack `A`
//! together, each a share, in a fork-join of its own. Every element of `C` is summed by one
//! thread in a fixed order (ascending `k` within blocks of `KC`), so **the result does not
//! depend on the number of threads**; it can differ in the last bits between SIMD families
//! (different tile shapes, hence different `KC`).
//!
//! **Epilogue.** [`Epilogue`] adds a bias per column or per row of `C` and applies
//! `max(0, ·)` while the tile is still in registers: a linear layer's forward pass is one call
//! with no extra pass over its output. NaN stays NaN through the ReLU.
//!
//! **Allocation.** Packing buffers are per thread and only grow, so a training loop that calls
//! `sgemm` with the same shapes allocates nothing after its first step.

mod arch;
mod driver;
pub mod kernel;
#[cfg(feature = "ndarray")]
pub mod nd;
mod pack;

pub use arch::{active, choice, Simd, SimdChoice};

use driver::CPtr;

use thiserror::Error;

/// Shape and layout errors (always the caller's bug; reported instead of a panic).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum GemmError {
    #[error("{what}: a {rows} x {cols} view with strides ({rs}, {cs}) needs {need} elements, the slice has {len}")]
    SliceTooShort {
        what: &'static str,
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
        need: usize,
        len: usize,
    },
    #[error("shapes do not chain: A is {a_rows} x {a_cols}, B is {b_rows} x {b_cols}, C is {c_rows} x {c_cols}")]
    Shape {
        a_rows: usize,
        a_cols: usize,
        b_rows: usize,
        b_cols: usize,
        c_rows: usize,
        c_cols: usize,
    },
    #[error("bias has {len} values, C has {want} {axis}")]
    BiasLength {
        len: usize,
        want: usize,
        axis: &'static str,
    },
    #[error("companion matrix {index} is {rows} x {cols} with column stride {cs}; the product is {want_rows} x {want_cols} and companions need column stride 1")]
    Companion {
        index: usize,
        rows: usize,
        cols: usize,
        cs: usize,
        want_rows: usize,
        want_cols: usize,
    },
    #[error(
        "a mutable view of {rows} x {cols} with strides ({rs}, {cs}) would alias its own elements"
    )]
    Aliasing {
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    },
}

fn needed(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// A read-only strided matrix view: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a> MatRef<'a> {
    /// A `rows x cols` row-major matrix in the first `rows·cols` values of `data`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, GemmError> {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// A view with row stride `rs` and column stride `cs` (in elements).
    pub fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    ) -> Result<Self, GemmError> {
        let need = needed(rows, cols, rs, cs);
        if need > data.len() {
            return Err(GemmError::SliceTooShort {
                what: "matrix",
                rows,
                cols,
                rs,
                cs,
                need,
                len: data.len(),
            });
        }
        Ok(MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// A mutable strided matrix view; its strides must not make two elements share memory.
#[derive(Debug)]
pub struct MatMut<'a> {
    pub(crate) data: &'a mut [f32],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a> MatMut<'a> {
    /// A `rows x cols` row-major matrix in the first `rows·cols` values of `data`.
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, GemmError> {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// A view with row stride `rs` and column stride `cs`; refused if elements would overlap
    /// (one stride must be at least the extent of the other dimension).
    pub fn strided(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    ) -> Result<Self, GemmError> {
        let need = needed(rows, cols, rs, cs);
        if need > data.len() {
            return Err(GemmError::SliceTooShort {
                what: "output matrix",
                rows,
                cols,
                rs,
                cs,
                need,
                len: data.len(),
            });
        }
        let distinct = rows <= 1 && (cols <= 1 || cs > 0)
            || cols <= 1 && rs > 0
            || (cs > 0 && rs >= cols * cs)
            || (rs > 0 && cs >= rows * rs);
        if !distinct {
            return Err(GemmError::Aliasing { rows, cols, rs, cs });
        }
        Ok(MatMut {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        MatMut {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            data: self.data,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// A bias added to `C` after the product.
#[derive(Clone, Copy, Debug, Default)]
pub enum Bias<'a> {
    #[default]
    None,
    /// `C[i][j] += bias[j]` (one value per column: a linear layer's bias with examples as rows).
    PerColumn(&'a [f32]),
    /// `C[i][j] += bias[i]`.
    PerRow(&'a [f32]),
}

/// What happens to each element of `C` after `α·A·B + β·C`: `+ bias`, then `max(0, ·)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    pub bias: Bias<'a>,
    pub relu: bool,
}

impl<'a> Epilogue<'a> {
    /// Nothing: the plain product.
    pub const NONE: Epilogue<'static> = Epilogue {
        bias: Bias::None,
        relu: false,
    };

    /// `C[i][j] += bias[j]`.
    pub fn bias_cols(bias: &'a [f32]) -> Self {
        Epilogue {
            bias: Bias::PerColumn(bias),
            relu: false,
        }
    }

    /// `C[i][j] += bias[i]`.
    pub fn bias_rows(bias: &'a [f32]) -> Self {
        Epilogue {
            bias: Bias::PerRow(bias),
            relu: false,
        }
    }

    /// Also apply `max(0, ·)`.
    pub fn relu(self) -> Self {
        Epilogue { relu: true, ..self }
    }
}

/// One register tile `c (MR x NR) = Σ_p a[p·MR + i] · b[p·NR + j]` over `kc` steps of packed
/// panels, for measuring a family's micro-kernel alone (`examples/gemm_bench.rs`).
///
/// # Panics
/// If the slices are shorter than `MR·kc`, `NR·kc` and `MR·NR` of the family, or the CPU
/// does not support it.
#[doc(hidden)]
pub fn kernel_tile(simd: Simd, kc: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let (mr, nr) = (simd.mr(), simd.nr());
    assert!(a.len() >= mr * kc && b.len() >= nr * kc && c.len() >= mr * nr);
    assert!(simd.supported());
    // SAFETY: sizes checked above; the family is supported.
    unsafe {
        match simd {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => kernel::avx512::tile(
                kc,
                a.as_ptr(),
                mr,
                b.as_ptr(),
                nr,
                c.as_mut_ptr(),
                nr,
                &kernel::Store::PLAIN,
            ),
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => kernel::avx2::tile(
                kc,
                a.as_ptr(),
                mr,
                b.as_ptr(),
                nr,
                c.as_mut_ptr(),
                nr,
                &kernel::Store::PLAIN,
            ),
            _ => kernel::scalar::tile(
                kc,
                a.as_ptr(),
                mr,
                b.as_ptr(),
                nr,
                c.as_mut_ptr(),
                nr,
                &kernel::Store::PLAIN,
            ),
        }
    }
}

/// How a product runs: kernel family, thread cap, and the work below which it stays on one
/// thread. [`Config::default`] is what [`sgemm`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// A family this CPU does not support is replaced by the best one it does.
    pub simd: Simd,
    pub threads: usize,
    /// Multiply-adds per thread below which fewer threads are used (a fork-join costs a few
    /// microseconds, about what 2^21 multiply-adds take on one core).
    pub min_work_per_thread: usize,
    /// Which operands may be read in place instead of packed (see [`Direct`]).
    pub direct: Direct,
}

/// When an operand is read in place rather than copied into packed panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direct {
    /// `B` in place when row-major with every row starting on a cache line (elsewhere most
    /// `NR`-wide steps straddle two lines and packing is faster); `A` in place when
    /// column-major with a column stride that is not a multiple of 4 KiB (at such strides the `MR`-wide steps of a micro-panel all fall
    /// in one L1 cache set and evict each other, so packing them is faster).
    Auto,
    /// Pack every panel (for measurements).
    Never,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            simd: active(),
            threads: rayon::current_num_threads(),
            min_work_per_thread: 1 << 21,
            direct: Direct::Auto,
        }
    }
}

impl Config {
    pub fn with_simd(self, simd: Simd) -> Self {
        Config { simd, ..self }
    }
    pub fn with_threads(self, threads: usize) -> Self {
        Config { threads, ..self }
    }
}

/// `C ← α·A·B + β·C`, then the epilogue (bias, ReLU) on every element of `C`.
///
/// `A` is `m x k`, `B` `k x n`, `C` `m x n`, any strides. With `β = 0`, `C` is only written
/// (it may hold NaN). `k = 0` gives `C ← β·C` plus the epilogue. Uses the rayon pool's threads
/// for large products; see the crate docs for determinism.
pub fn sgemm(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
    epilogue: Epilogue<'_>,
) -> Result<(), GemmError> {
    sgemm_with(&Config::default(), alpha, a, b, beta, c, epilogue)
}

/// [`sgemm`] with an explicit [`Config`] (kernel family, threads).
pub fn sgemm_with(
    config: &Config,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
    epilogue: Epilogue<'_>,
) -> Result<(), GemmError> {
    if a.cols != b.rows || a.rows != c.rows || b.cols != c.cols {
        return Err(GemmError::Shape {
            a_rows: a.rows,
            a_cols: a.cols,
            b_rows: b.rows,
            b_cols: b.cols,
            c_rows: c.rows,
            c_cols: c.cols,
        });
    }
    match epilogue.bias {
        Bias::PerColumn(v) if v.len() != c.cols => {
            return Err(GemmError::BiasLength {
                len: v.len(),
                want: c.cols,
                axis: "columns",
            })
        }
        Bias::PerRow(v) if v.len() != c.rows => {
            return Err(GemmError::BiasLength {
                len: v.len(),
                want: c.rows,
                axis: "rows",
            })
        }
        _ => {}
    }
    let config = Config {
        simd: if config.simd.supported() {
            config.simd
        } else {
            Simd::best()
        },
        threads: config.threads.max(1),
        min_work_per_thread: config.min_work_per_thread.max(1),
        direct: config.direct,
    };
    driver::gemm(&config, alpha, a, b, beta, c, epilogue);
    Ok(())
}

/// `G = α·A·B` consumed strip by strip, never stored: an update that needs `G` once (an
/// optimiser step `w ← w − η·g`) reads each strip of tiles while it is still in L1, instead of
/// `G` being written to memory and read back.
///
/// A strip is one row panel's tiles within one block of `B` (`MR` rows of `G`; all of its
/// columns when `B` packed fits in 512 KiB, as the MLP's `∂Wᵀ = xᵀ·dout` does). For every row
/// of a strip — row `i`, columns `j0 .. j0 + len` of `G` — `f(g, segs)` is called with `g`
/// those values of `G` and `segs[q]` the same segment of companion matrix `q` (each `m x n`
/// with unit column stride), mutable. Segments are disjoint and the calls come from several
/// threads at once. The strips depend only on the shapes and the SIMD family, and the `f64`
/// values `f` returns are added in a fixed order (strip by strip, row-panel-major), so neither
/// the segments nor the total depend on the thread count.
///
/// ```
/// use wb_gemm::{sgemm_fused, Config, MatMut, MatRef};
/// // w ← w − 0.5·(xᵀ·d): a gradient step without storing the gradient; returns Σ w² before.
/// let (x, d) = ([1.0f32, 2.0, 3.0, 4.0], [1.0f32, 0.0, 0.0, 1.0]);
/// let mut w = [1.0f32; 4];
/// let before = sgemm_fused(
///     &Config::default(),
///     1.0,
///     MatRef::row_major(&x, 2, 2)?.t(),
///     MatRef::row_major(&d, 2, 2)?,
///     [MatMut::row_major(&mut w, 2, 2)?],
///     |g, [w]| {
///         let mut sq = 0.0;
///         for (w, &g) in w.iter_mut().zip(g) {
///             sq += (*w * *w) as f64;
///             *w -= 0.5 * g;
///         }
///         sq
///     },
/// )?;
/// assert_eq!(before, 4.0);
/// assert_eq!(w, [0.5, -0.5, 0.0, -1.0]);
/// # Ok::<(), wb_gemm::GemmError>(())
/// ```
pub fn sgemm_fused<const N: usize, F>(
    config: &Config,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    companions: [MatMut<'_>; N],
    f: F,
) -> Result<f64, GemmError>
where
    F: Fn(&[f32], &mut [&mut [f32]; N]) -> f64 + Sync,
{
    let (m, n) = (a.rows, b.cols);
    if a.cols != b.rows {
        return Err(GemmError::Shape {
            a_rows: a.rows,
            a_cols: a.cols,
            b_rows: b.rows,
            b_cols: b.cols,
            c_rows: m,
            c_cols: n,
        });
    }
    for (index, c) in companions.iter().enumerate() {
        if c.rows != m || c.cols != n || (c.cs != 1 && n > 1) {
            return Err(GemmError::Companion {
                index,
                rows: c.rows,
                cols: c.cols,
                cs: c.cs,
                want_rows: m,
                want_cols: n,
            });
        }
    }
    let config = Config {
        simd: if config.simd.supported() {
            config.simd
        } else {
            Simd::best()
        },
        threads: config.threads.max(1),
        min_work_per_thread: config.min_work_per_thread.max(1),
        direct: config.direct,
    };
    let ptrs: [CPtr; N] = companions.map(|c| CPtr {
        ptr: c.data.as_mut_ptr(),
        rs: c.rs,
        cs: 1,
    });
    let simd = config.simd;
    let fold = |i0: usize, j0: usize, rows: usize, cols: usize, tile: &[f32], ld: usize| -> f64 {
        let tile = TileRows {
            i0,
            j0,
            rows,
            cols,
            values: tile,
            ld,
        };
        // SAFETY (all arms): see `fold_rows`; the SIMD arms run only on CPUs with the family
        // (`config.simd` is a supported one).
        match simd {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe { fold_rows_avx512(&f, &ptrs, &tile) },
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { fold_rows_avx2(&f, &ptrs, &tile) },
            _ => unsafe { fold_rows(&f, &ptrs, &tile) },
        }
    };
    let prefetch = |i0: usize, j0: usize, rows: usize, cols: usize| {
        for c in &ptrs {
            for r in 0..rows {
                // SAFETY: the addresses lie inside the companion (see `fold_rows`); a prefetch
                // never faults anyway.
                unsafe { prefetch_range(c.ptr.add((i0 + r) * c.rs + j0), cols) };
            }
        }
    };
    Ok(driver::gemm_fold(&config, alpha, a, b, &fold, &prefetch))
}

/// Asks the CPU to bring the cache lines of `len` values from `p` into L1 (a hint).
///
/// # Safety
/// `p .. p + len` must lie within one allocation (prefetches do not fault, but the pointer
/// arithmetic must stay in bounds).
#[inline(always)]
unsafe fn prefetch_range(p: *const f32, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = p as usize & !63;
        let end = p.add(len) as usize;
        let mut line = start;
        while line < end {
            _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
            line += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// A finished strip of tiles handed to a fold: rows `i0 .. i0 + rows`, columns
/// `j0 .. j0 + cols` of `G`.
struct TileRows<'a> {
    i0: usize,
    j0: usize,
    rows: usize,
    cols: usize,
    values: &'a [f32],
    ld: usize,
}

/// Calls `f` on each row segment of the strip with the matching companion segments.
///
/// # Safety
/// Each companion pointer must address an `m x n` matrix (row stride `rs`, unit column
/// stride) containing the strip's rows and columns, and no other live reference may overlap
/// the strip's segments (the driver hands each strip to one thread once).
#[inline(always)]
unsafe fn fold_rows<const N: usize, F>(f: &F, ptrs: &[CPtr; N], t: &TileRows<'_>) -> f64
where
    F: Fn(&[f32], &mut [&mut [f32]; N]) -> f64,
{
    let mut total = 0.0;
    for r in 0..t.rows {
        let g = &t.values[r * t.ld..r * t.ld + t.cols];
        let mut segs: [&mut [f32]; N] = std::array::from_fn(|q| {
            std::slice::from_raw_parts_mut(ptrs[q].ptr.add((t.i0 + r) * ptrs[q].rs + t.j0), t.cols)
        });
        total += f(g, &mut segs);
    }
    total
}

/// [`fold_rows`] compiled with AVX-512 enabled: `f` is inlined here, so the caller's
/// elementwise update (an optimiser step) is vectorised 16 wide although its crate is built for
/// the baseline CPU.
///
/// # Safety
/// As [`fold_rows`], and the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fold_rows_avx512<const N: usize, F>(f: &F, ptrs: &[CPtr; N], t: &TileRows<'_>) -> f64
where
    F: Fn(&[f32], &mut [&mut [f32]; N]) -> f64,
{
    fold_rows(f, ptrs, t)
}

/// [`fold_rows`] compiled with AVX2 and FMA enabled (see [`fold_rows_avx512`]).
///
/// # Safety
/// As [`fold_rows`], and the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fold_rows_avx2<const N: usize, F>(f: &F, ptrs: &[CPtr; N], t: &TileRows<'_>) -> f64
where
    F: Fn(&[f32], &mut [&mut [f32]; N]) -> f64,
{
    fold_rows(f, ptrs, t)
}

/// Packs `a` (rows `0..mr`, steps `0..kc`) as the driver does, for measuring packing alone
/// (`examples/gemm_bench.rs`).
#[doc(hidden)]
pub fn pack_a_panel(a: MatRef<'_>, mr: usize, kc: usize, width: usize, buf: &mut [f32]) {
    pack::pack_a(&a, 0, mr, 0, kc, width, buf, true);
}
