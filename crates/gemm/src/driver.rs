//! The blocked loop nest around the micro-kernels, and the split over threads.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::kernel::{self, Store, TileBias};
use crate::pack::{pack_a, pack_b};
use crate::{Bias, Config, Direct, Epilogue, MatMut, MatRef, Simd};

/// A kernel family with its blocking. `KC` steps of a micro-panel of `A` (`MR x KC`) stay in
/// L1 while the kernel sweeps a block of `B` of `NCP` panels (`KC x NCP·NR`) that stays in L2.
trait Family {
    /// Whether packing may use SIMD transposes (the portable family stays portable, so
    /// `WB_SIMD=scalar` measures a CPU without AVX2).
    const SIMD_PACK: bool = true;
    const MR: usize;
    const NR: usize;
    const KC: usize;
    const NCP: usize;
    /// # Safety
    /// As the kernel functions in [`crate::kernel`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        kc: usize,
        a: *const f32,
        a_ks: usize,
        b: *const f32,
        b_ks: usize,
        c: *mut f32,
        ldc: usize,
        st: &Store,
    );
}

struct Portable;
impl Family for Portable {
    const SIMD_PACK: bool = false;
    const MR: usize = kernel::scalar::MR;
    const NR: usize = kernel::scalar::NR;
    const KC: usize = 256;
    const NCP: usize = 32;
    unsafe fn tile(
        kc: usize,
        a: *const f32,
        a_ks: usize,
        b: *const f32,
        b_ks: usize,
        c: *mut f32,
        ldc: usize,
        st: &Store,
    ) {
        kernel::scalar::tile(kc, a, a_ks, b, b_ks, c, ldc, st)
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2;
#[cfg(target_arch = "x86_64")]
impl Family for Avx2 {
    const MR: usize = kernel::avx2::MR;
    const NR: usize = kernel::avx2::NR;
    // A micro-panel 6 x 256 (6 KB) in L1; a B block of 256 x 256 (256 KB) in L2, which fits
    // the 512 KB - 1 MB L2 of AVX2-era cores with room for C.
    const KC: usize = 256;
    const NCP: usize = 16;
    unsafe fn tile(
        kc: usize,
        a: *const f32,
        a_ks: usize,
        b: *const f32,
        b_ks: usize,
        c: *mut f32,
        ldc: usize,
        st: &Store,
    ) {
        kernel::avx2::tile(kc, a, a_ks, b, b_ks, c, ldc, st)
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx512;
#[cfg(target_arch = "x86_64")]
impl Family for Avx512 {
    const MR: usize = kernel::avx512::MR;
    const NR: usize = kernel::avx512::NR;
    // A micro-panel 12 x 384 (18 KB) in L1; a B block of 384 x 640 (960 KB) in L2 (1-2 MB on
    // AVX-512 cores).
    const KC: usize = 384;
    const NCP: usize = 20;
    unsafe fn tile(
        kc: usize,
        a: *const f32,
        a_ks: usize,
        b: *const f32,
        b_ks: usize,
        c: *mut f32,
        ldc: usize,
        st: &Store,
    ) {
        kernel::avx512::tile(kc, a, a_ks, b, b_ks, c, ldc, st)
    }
}

/// Largest tile of any family, for the edge scratch tile.
const MAX_TILE: usize = 12 * 32;

#[repr(align(64))]
#[derive(Clone, Copy)]
struct Line(#[allow(dead_code)] [f32; 16]);

struct Scratch {
    a: AlignedVec,
    b: AlignedVec,
    tile: Line24,
}

/// A `Vec` of 64-byte aligned lines.
#[derive(Default)]
struct AlignedVec(Vec<Line>);

impl AlignedVec {
    fn slice(&mut self, len: usize) -> &mut [f32] {
        let lines = len.div_ceil(16);
        if self.0.len() < lines {
            self.0.resize(lines, Line([0.0; 16]));
        }
        // SAFETY: `Line` is `[f32; 16]` with a larger alignment; `lines * 16 >= len` values.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<f32>(), len) }
    }
}

/// The edge scratch tile, aligned.
#[repr(align(64))]
struct Line24([f32; MAX_TILE]);

thread_local! {
    static FOLD_RESULTS: RefCell<Vec<AtomicU64>> = const { RefCell::new(Vec::new()) };
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            a: AlignedVec(Vec::new()),
            b: AlignedVec(Vec::new()),
            tile: Line24([0.0; MAX_TILE]),
        })
    };
}

/// `C` as a raw pointer, shared by the threads that write disjoint tiles of it.
#[derive(Clone, Copy)]
pub(crate) struct CPtr {
    pub(crate) ptr: *mut f32,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}
// SAFETY: every thread writes a disjoint set of tiles (see `Plan::region`).
unsafe impl Send for CPtr {}
unsafe impl Sync for CPtr {}

/// A tile consumer: `(i0, j0, rows, columns, values, row stride) -> partial result`.
pub(crate) type FoldFn<'a> = dyn Fn(usize, usize, usize, usize, &[f32], usize) -> f64 + Sync + 'a;

/// Called with `(i0, j0, rows, columns)` of a tile just before its product is computed, so the
/// consumer can start fetching the memory it will touch for that tile.
pub(crate) type PrefetchFn<'a> = dyn Fn(usize, usize, usize, usize) + Sync + 'a;

/// Where finished tiles go.
pub(crate) enum Output<'a> {
    /// Into C (with β, bias and ReLU).
    C(CPtr),
    /// To a function of the tile (`i0`, `j0`, rows, columns, values with row stride `NR`),
    /// whose result is kept per tile in `results` (numbered row-panel-major) so the caller can
    /// add them in a fixed order. C is never stored.
    Fold {
        f: &'a FoldFn<'a>,
        prefetch: &'a PrefetchFn<'a>,
        results: &'a [AtomicU64],
    },
}

/// Everything a thread needs to compute its part.
struct Plan<'a> {
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    beta: f32,
    a: MatRef<'a>,
    b: MatRef<'a>,
    out: Output<'a>,
    /// Steps of `k` per block: the family's `KC`, or all of `k` when folding (a tile must be
    /// complete before it is handed on).
    kc: usize,
    bias: Bias<'a>,
    relu: bool,
    /// Read full micro-panels of A in place (A is column-major).
    direct_a: bool,
    /// Read full micro-panels of B in place (B is row-major).
    direct_b: bool,
    /// Tiles are numbered row-panel-major (true) or column-panel-major; each thread takes a
    /// contiguous run of numbers.
    ir_major: bool,
    mp: usize,
    np: usize,
}

impl Plan<'_> {
    fn index(&self, ir: usize, jr: usize) -> usize {
        if self.ir_major {
            ir * self.np + jr
        } else {
            jr * self.mp + ir
        }
    }

    /// The row panels and column panels that tiles `t0 .. t1` touch.
    fn bounds(&self, t0: usize, t1: usize) -> (usize, usize, usize, usize) {
        let minor = if self.ir_major { self.np } else { self.mp };
        let (first, last) = (t0 / minor, (t1 - 1) / minor);
        let (lo, hi) = if first == last {
            (t0 % minor, (t1 - 1) % minor + 1)
        } else {
            (0, minor)
        };
        if self.ir_major {
            (first, last + 1, lo, hi)
        } else {
            (lo, hi, first, last + 1)
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    config: &Config,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
    epilogue: Epilogue<'_>,
) {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 || alpha == 0.0 {
        scale_only(beta, c, epilogue);
        return;
    }
    // The kernels write rows of C with unit stride; a column-major C is the row-major Cᵀ of
    // Cᵀ = Bᵀ·Aᵀ, with the bias axis flipped.
    if c.cs != 1 && c.rs == 1 {
        let bias = match epilogue.bias {
            Bias::None => Bias::None,
            Bias::PerColumn(v) => Bias::PerRow(v),
            Bias::PerRow(v) => Bias::PerColumn(v),
        };
        let flipped = Epilogue { bias, ..epilogue };
        return gemm(config, alpha, b.t(), a.t(), beta, c.t(), flipped);
    }
    let out = Output::C(CPtr {
        ptr: c.data.as_mut_ptr(),
        rs: c.rs,
        cs: c.cs,
    });
    dispatch(config, alpha, a, b, beta, out, epilogue, m, n, k);
}

/// `α·A·B` tile by tile into `fold`; returns the sum of its results in tile order.
pub(crate) fn gemm_fold(
    config: &Config,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    fold: &FoldFn<'_>,
    prefetch: &PrefetchFn<'_>,
) -> f64 {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return 0.0;
    }
    let (mr, nr) = (config.simd.mr(), config.simd.nr());
    let tiles = m.div_ceil(mr) * n.div_ceil(nr);
    if k == 0 || alpha == 0.0 {
        // Every tile of the product is zero.
        let zeros = vec![0f32; mr * nr];
        let mut total = 0.0;
        for ir in 0..m.div_ceil(mr) {
            for jr in 0..n.div_ceil(nr) {
                let (i0, j0) = (ir * mr, jr * nr);
                total += fold(i0, j0, mr.min(m - i0), nr.min(n - j0), &zeros, nr);
            }
        }
        return total;
    }
    let run = |results: &[AtomicU64]| -> f64 {
        let out = Output::Fold {
            f: fold,
            prefetch,
            results,
        };
        dispatch(config, alpha, a, b, 0.0, out, Epilogue::NONE, m, n, k);
        results
            .iter()
            .map(|r| f64::from_bits(r.load(Ordering::Relaxed)))
            .sum()
    };
    // One slot per tile, kept per calling thread so a training loop allocates nothing. While
    // this thread waits for the others it may run another rayon job that folds too; that one
    // finds the buffer taken and uses its own.
    FOLD_RESULTS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut results) => {
            if results.len() < tiles {
                results.resize_with(tiles, || AtomicU64::new(0));
            }
            run(&results[..tiles])
        }
        Err(_) => {
            let results: Vec<AtomicU64> = (0..tiles).map(|_| AtomicU64::new(0)).collect();
            run(&results)
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn dispatch(
    config: &Config,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    out: Output<'_>,
    epilogue: Epilogue<'_>,
    m: usize,
    n: usize,
    k: usize,
) {
    match config.simd {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => run::<Avx512>(config, alpha, a, b, beta, out, epilogue, m, n, k),
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => run::<Avx2>(config, alpha, a, b, beta, out, epilogue, m, n, k),
        _ => run::<Portable>(config, alpha, a, b, beta, out, epilogue, m, n, k),
    }
}

/// `C ← β·C` then the epilogue (no product: `k = 0` or `α = 0`).
fn scale_only(beta: f32, c: MatMut<'_>, epilogue: Epilogue<'_>) {
    for i in 0..c.rows {
        for j in 0..c.cols {
            let at = i * c.rs + j * c.cs;
            let mut v = if beta == 0.0 { 0.0 } else { beta * c.data[at] };
            v += match epilogue.bias {
                Bias::None => 0.0,
                Bias::PerColumn(b) => b[j],
                Bias::PerRow(b) => b[i],
            };
            if epilogue.relu && v < 0.0 {
                v = 0.0;
            }
            c.data[at] = v;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run<F: Family>(
    config: &Config,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    out: Output<'_>,
    epilogue: Epilogue<'_>,
    m: usize,
    n: usize,
    k: usize,
) {
    let mp = m.div_ceil(F::MR);
    let np = n.div_ceil(F::NR);
    let allowed = config.direct == Direct::Auto;
    let direct_a = allowed && a.rs == 1 && a.cs > 0 && !(a.cs * 4).is_multiple_of(4096);
    let direct_b = allowed && b.cs == 1 && b.rs > 0 && rows_on_cache_lines(b);
    // Each thread packs the panels it reads. Numbering tiles row-panel-major gives each thread
    // its own rows of A but (almost) all of B, so B would be packed once per thread; number
    // column-panel-major when only B needs packing.
    let ir_major = match (direct_a, direct_b) {
        (_, true) => true,
        (true, false) => false,
        // Both packed: duplicate the smaller operand (B is k x n, A is m x k).
        (false, false) => n <= m,
    };
    let tiles = mp * np;
    let work = m.saturating_mul(n).saturating_mul(k);
    let t = config
        .threads
        .min(work / config.min_work_per_thread)
        .min(tiles)
        .max(1);
    let plan = Plan {
        m,
        n,
        k,
        alpha,
        beta,
        a,
        b,
        kc: match out {
            Output::C(_) => F::KC,
            Output::Fold { .. } => k,
        },
        out,
        bias: epilogue.bias,
        relu: epilogue.relu,
        direct_a,
        direct_b,
        ir_major,
        mp,
        np,
    };
    if t == 1 {
        part::<F>(&plan, 0, tiles);
    } else {
        use rayon::prelude::*;
        (0..t).into_par_iter().for_each(|i| {
            let t0 = tiles * i / t;
            let t1 = tiles * (i + 1) / t;
            if t0 < t1 {
                part::<F>(&plan, t0, t1);
            }
        });
    }
}

/// Computes tiles `t0 .. t1` (in the plan's numbering) for all of `k`.
fn part<F: Family>(plan: &Plan<'_>, t0: usize, t1: usize) {
    let run = |s: &mut Scratch| {
        let Scratch {
            a: abuf,
            b: bbuf,
            tile,
        } = s;
        let abuf = abuf.slice(F::MR * plan.kc);
        let bbuf = bbuf.slice(plan.kc * F::NCP * F::NR);
        let tile = &mut tile.0[..F::MR * F::NR];
        part_in::<F>(plan, t0, t1, abuf, bbuf, tile);
    };
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => run(&mut s),
        // Only if a fold function itself ran a product on this thread: use fresh buffers.
        Err(_) => run(&mut Scratch {
            a: AlignedVec(Vec::new()),
            b: AlignedVec(Vec::new()),
            tile: Line24([0.0; MAX_TILE]),
        }),
    });
}

fn part_in<F: Family>(
    plan: &Plan<'_>,
    t0: usize,
    t1: usize,
    abuf: &mut [f32],
    bbuf: &mut [f32],
    tile: &mut [f32],
) {
    let (m, n, k) = (plan.m, plan.n, plan.k);
    let (ir_lo, ir_hi, jr_lo, jr_hi) = plan.bounds(t0, t1);
    let c_out = match plan.out {
        Output::C(c) => Some(c),
        Output::Fold { .. } => None,
    };
    let general_c = c_out.is_some_and(|c| c.cs != 1);
    let mut jc = jr_lo;
    while jc < jr_hi {
        let jc_end = (jc + F::NCP).min(jr_hi);
        let mut pc = 0;
        while pc < k {
            let kc = plan.kc.min(k - pc);
            let first = pc == 0;
            let last = pc + kc == k;
            // Pack the panels of this B block that are not read in place.
            for jr in jc..jc_end {
                let nr = F::NR.min(n - jr * F::NR);
                if !(plan.direct_b && nr == F::NR) {
                    let off = (jr - jc) * kc * F::NR;
                    pack_b(
                        &plan.b,
                        jr * F::NR,
                        nr,
                        pc,
                        kc,
                        F::NR,
                        &mut bbuf[off..off + kc * F::NR],
                        F::SIMD_PACK,
                    );
                }
            }
            let store = Store {
                alpha: plan.alpha,
                beta: if first { plan.beta } else { 1.0 },
                load_c: !first || plan.beta != 0.0,
                bias: TileBias::None,
                relu: last && plan.relu,
            };
            for ir in ir_lo..ir_hi {
                // This row panel's tiles inside the thread's run and the B block.
                let mut lo = jc;
                while lo < jc_end && !in_run(plan, ir, lo, t0, t1) {
                    lo += 1;
                }
                let mut hi = lo;
                while hi < jc_end && in_run(plan, ir, hi, t0, t1) {
                    hi += 1;
                }
                if lo == hi {
                    continue;
                }
                let i0 = ir * F::MR;
                let mr = F::MR.min(m - i0);
                let (a_ptr, a_ks) = if plan.direct_a && mr == F::MR {
                    (plan.a.data[i0 + pc * plan.a.cs..].as_ptr(), plan.a.cs)
                } else {
                    let buf = &mut abuf[..F::MR * kc];
                    pack_a(&plan.a, i0, mr, pc, kc, F::MR, buf, F::SIMD_PACK);
                    (abuf.as_ptr(), F::MR)
                };
                for jr in lo..hi {
                    let j0 = jr * F::NR;
                    let nr = F::NR.min(n - j0);
                    let (b_ptr, b_ks) = if plan.direct_b && nr == F::NR {
                        (plan.b.data[pc * plan.b.rs + j0..].as_ptr(), plan.b.rs)
                    } else {
                        (bbuf[(jr - jc) * kc * F::NR..].as_ptr(), F::NR)
                    };
                    let bias = if last {
                        match plan.bias {
                            Bias::None => TileBias::None,
                            Bias::PerColumn(v) => TileBias::Col(v[j0..].as_ptr()),
                            Bias::PerRow(v) => TileBias::Row(v[i0..].as_ptr()),
                        }
                    } else {
                        TileBias::None
                    };
                    let st = Store { bias, ..store };
                    // SAFETY: the panels hold `kc` steps of MR (NR) readable values (packed, or
                    // full panels read in place inside the views' bounds); the C tile is inside
                    // C and written by this thread only; bias pointers have MR / NR values
                    // because the tile is full.
                    unsafe {
                        match (&plan.out, c_out) {
                            (
                                Output::Fold {
                                    f,
                                    prefetch,
                                    results,
                                },
                                _,
                            ) => {
                                let st = Store {
                                    alpha: plan.alpha,
                                    ..Store::PLAIN
                                };
                                // The consumer's memory for this tile arrives while the
                                // kernel computes it (a 200-deep tile takes ~2,400 cycles).
                                prefetch(i0, j0, mr, nr);
                                let tp = tile.as_mut_ptr();
                                F::tile(kc, a_ptr, a_ks, b_ptr, b_ks, tp, F::NR, &st);
                                let r = f(i0, j0, mr, nr, tile, F::NR);
                                results[ir * plan.np + jr].store(r.to_bits(), Ordering::Relaxed);
                            }
                            (_, Some(c)) if mr == F::MR && nr == F::NR && !general_c => {
                                let cp = c.ptr.add(i0 * c.rs + j0);
                                F::tile(kc, a_ptr, a_ks, b_ptr, b_ks, cp, c.rs, &st);
                            }
                            (_, Some(c)) => {
                                let tp = tile.as_mut_ptr();
                                F::tile(kc, a_ptr, a_ks, b_ptr, b_ks, tp, F::NR, &Store::PLAIN);
                                edge(plan, c, tile, F::NR, i0, mr, j0, nr, &store, last);
                            }
                            (Output::C(_), None) => unreachable!("a C output has a pointer"),
                        }
                    }
                }
            }
            pc += kc;
        }
        jc = jc_end;
    }
}

/// Cache line size of every x86-64 and most other current CPUs.
const CACHE_LINE_BYTES: usize = 64;

/// Whether every row of a row-major `b` starts on a cache line (its first element and its row
/// stride both aligned). A micro-panel step read in place is `NR` values of one row; on rows
/// that do not start on a line most steps straddle two lines, and packing is faster: the MLP with
/// 500 units (rows of 2,000 bytes) trained an epoch in 4.5 s with B packed against 5.2–6.4 s
/// in place (AMD EPYC, AVX2; crates/gemm/BENCH.md).
fn rows_on_cache_lines(b: MatRef<'_>) -> bool {
    (b.data.as_ptr() as usize).is_multiple_of(CACHE_LINE_BYTES)
        && (b.rs * std::mem::size_of::<f32>()).is_multiple_of(CACHE_LINE_BYTES)
}

fn in_run(plan: &Plan<'_>, ir: usize, jr: usize, t0: usize, t1: usize) -> bool {
    let i = plan.index(ir, jr);
    i >= t0 && i < t1
}

/// Writes the valid `mr x nr` part of a scratch tile into C with the store's arithmetic.
///
/// # Safety
/// The `mr x nr` block at `(i0, j0)` lies inside C and belongs to the calling thread.
#[allow(clippy::too_many_arguments)]
unsafe fn edge(
    plan: &Plan<'_>,
    c_out: CPtr,
    tile: &[f32],
    ldt: usize,
    i0: usize,
    mr: usize,
    j0: usize,
    nr: usize,
    st: &Store,
    last: bool,
) {
    for i in 0..mr {
        for j in 0..nr {
            let c = c_out.ptr.add((i0 + i) * c_out.rs + (j0 + j) * c_out.cs);
            let mut v = st.alpha * tile[i * ldt + j];
            if st.load_c {
                v += st.beta * *c;
            }
            if last {
                v += match plan.bias {
                    Bias::None => 0.0,
                    Bias::PerColumn(b) => b[j0 + j],
                    Bias::PerRow(b) => b[i0 + i],
                };
            }
            if st.relu && v < 0.0 {
                v = 0.0;
            }
            *c = v;
        }
    }
}
