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
    /// A fold's row strip: the `MR x (NCP·NR)` tiles of one row panel inside one B block.
    strip: AlignedVec,
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
    /// A packed once for all threads (see [`SharedA`]), owned by the thread that calls `sgemm`.
    static SHARED_A: RefCell<AlignedVec> = const { RefCell::new(AlignedVec(Vec::new())) };
    static FOLD_RESULTS: RefCell<Vec<AtomicU64>> = const { RefCell::new(Vec::new()) };
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            a: AlignedVec(Vec::new()),
            b: AlignedVec(Vec::new()),
            strip: AlignedVec(Vec::new()),
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

/// All of A packed before the product, when every thread would otherwise pack all of it
/// itself (tiles numbered column-panel-major, A not read in place): micro-panel `ir` of the
/// `b`-th block of `KC` steps is at `((b · mp) + ir) · MR · KC`. The threads pack disjoint
/// micro-panels, then (after the join) only read.
#[derive(Clone, Copy)]
struct SharedA {
    ptr: *mut f32,
}
// SAFETY: written in disjoint micro-panels by one fork-join, read-only in the next.
unsafe impl Send for SharedA {}
unsafe impl Sync for SharedA {}

impl SharedA {
    /// The start of micro-panel `unit` (`block · mp + ir`) of a family with `MR · KC` values
    /// per micro-panel.
    ///
    /// # Safety
    /// The buffer holds more than `unit` micro-panels.
    unsafe fn panel(self, unit: usize, panel_len: usize) -> *mut f32 {
        self.ptr.add(unit * panel_len)
    }
}

/// A tile consumer: `(i0, j0, rows, columns, values, row stride) -> partial result`.
pub(crate) type FoldFn<'a> = dyn Fn(usize, usize, usize, usize, &[f32], usize) -> f64 + Sync + 'a;

/// Called with `(i0, j0, rows, columns)` of a tile just before its product is computed, so the
/// consumer can start fetching the memory it will touch for that tile.
pub(crate) type PrefetchFn<'a> = dyn Fn(usize, usize, usize, usize) + Sync + 'a;

/// Where finished tiles go.
pub(crate) enum Output<'a> {
    /// Into C (with β, bias and ReLU).
    C(CPtr),
    /// To a function of a row strip (`i0`, `j0`, rows, columns, values, row stride): the
    /// finished tiles of one row panel within one block of B (up to `NCP` tiles side by side).
    /// Its result is kept in the slot of the strip's first tile in `results` (one slot per
    /// tile, numbered row-panel-major; the strip's other slots hold 0) so the caller can add
    /// them in a fixed order. C is never stored.
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
    /// Column panels per block of B.
    ncp: usize,
    /// A packed by all threads together, read by each.
    shared_a: Option<SharedA>,
}

impl Plan<'_> {
    fn index(&self, ir: usize, jr: usize) -> usize {
        if self.ir_major {
            ir * self.np + jr
        } else {
            jr * self.mp + ir
        }
    }

    /// How many units the threads' runs are made of: tiles, or for a fold its strips (strip
    /// `s` of row panel `ir` holds the column panels `s·ncp .. min((s + 1)·ncp, np)`, the
    /// tiles one B block gives that panel). A fold's runs are cut only between strips, so the
    /// strips, hence the values the fold function sees and returns, do not depend on the
    /// thread count.
    fn units(&self) -> usize {
        match self.out {
            Output::Fold { .. } => self.mp * self.np.div_ceil(self.ncp),
            Output::C(_) => self.mp * self.np,
        }
    }

    /// The number of unit `u`'s first tile (`mp·np` for `u` past the last); a fold's tiles are
    /// numbered row-panel-major.
    fn first_tile(&self, u: usize) -> usize {
        match self.out {
            Output::Fold { .. } => {
                let per_panel = self.np.div_ceil(self.ncp);
                (u / per_panel) * self.np + (u % per_panel) * self.ncp
            }
            Output::C(_) => u,
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

/// `α·A·B` strip by strip into `fold`; returns the sum of its results in tile order.
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
    let fold = matches!(out, Output::Fold { .. });
    let ir_major = match (direct_a, direct_b) {
        // A fold's strips are runs of one row panel's tiles (see `Plan::units`).
        _ if fold => true,
        (_, true) => true,
        (true, false) => false,
        // Both packed: duplicate the smaller operand (B is k x n, A is m x k).
        (false, false) => n <= m,
    };
    let tiles = mp * np;
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
        ncp: block_panels::<F>(fold, k, np),
        shared_a: None,
    };
    let units = plan.units();
    let work = m.saturating_mul(n).saturating_mul(k);
    let t = config
        .threads
        .min(work / config.min_work_per_thread)
        .min(units)
        .max(1);
    let split = |plan: &Plan<'_>| {
        use rayon::prelude::*;
        (0..t).into_par_iter().for_each(|i| {
            let share = share(units, t, i);
            let (t0, t1) = (plan.first_tile(share.start), plan.first_tile(share.end));
            if t0 < t1 {
                part::<F>(plan, t0, t1);
            }
        });
    };
    if t == 1 {
        part::<F>(&plan, 0, tiles);
        return;
    }
    let duplicated_a = !plan.ir_major && !plan.direct_a && matches!(plan.out, Output::C(_));
    if !duplicated_a {
        return split(&plan);
    }
    SHARED_A.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            let blocks = k.div_ceil(F::KC);
            let buf = buf.slice(blocks * mp * F::MR * F::KC);
            let shared = SharedA {
                ptr: buf.as_mut_ptr(),
            };
            pack_shared_a::<F>(&plan, shared, t);
            split(&Plan {
                shared_a: Some(shared),
                ..plan
            });
        }
        // A product run from inside another on this thread: each thread packs its own.
        Err(_) => split(&plan),
    });
}

/// Packs every micro-panel of A into `shared` (layout in [`SharedA`]), split over `t` threads.
fn pack_shared_a<F: Family>(plan: &Plan<'_>, shared: SharedA, t: usize) {
    use rayon::prelude::*;
    let blocks = plan.k.div_ceil(F::KC);
    let panels = blocks * plan.mp;
    (0..t).into_par_iter().for_each(|i| {
        for unit in share(panels, t, i) {
            let (block, ir) = (unit / plan.mp, unit % plan.mp);
            let (i0, pc) = (ir * F::MR, block * F::KC);
            let (mr, kc) = (F::MR.min(plan.m - i0), F::KC.min(plan.k - pc));
            // SAFETY: `shared` holds `blocks · mp · MR · KC` values; unit `unit` owns the
            // `MR · KC` at its offset, and no other thread touches them in this fork-join.
            let slot = unsafe {
                std::slice::from_raw_parts_mut(shared.panel(unit, F::MR * F::KC), F::MR * kc)
            };
            pack_a(&plan.a, i0, mr, pc, kc, F::MR, slot, F::SIMD_PACK);
        }
    });
}

/// Bytes of B a fold may keep packed as one block (its `k` is not blocked).
const FOLD_BLOCK_BYTES: usize = 512 * 1024;

/// Column panels per block of B: the family's `NCP`, or for a fold all of them when they fit
/// in [`FOLD_BLOCK_BYTES`], so each micro-panel of A is packed once instead of once per block
/// (`∂Wᵀ = xᵀ·dout` packs `xᵀ` from rows 12 KB apart, which waits on memory).
fn block_panels<F: Family>(fold: bool, k: usize, np: usize) -> usize {
    if fold && k.saturating_mul(np * F::NR * std::mem::size_of::<f32>()) <= FOLD_BLOCK_BYTES {
        np.max(1)
    } else {
        F::NCP
    }
}

/// Thread `i`'s share of `total` units when `t` threads split them evenly, in order.
fn share(total: usize, t: usize, i: usize) -> std::ops::Range<usize> {
    total * i / t..total * (i + 1) / t
}

/// Computes tiles `t0 .. t1` (in the plan's numbering) for all of `k`.
fn part<F: Family>(plan: &Plan<'_>, t0: usize, t1: usize) {
    let run = |s: &mut Scratch| {
        let Scratch {
            a: abuf,
            b: bbuf,
            strip,
            tile,
        } = s;
        let abuf = abuf.slice(F::MR * plan.kc);
        let bbuf = bbuf.slice(plan.kc * plan.ncp * F::NR);
        let strip = match plan.out {
            Output::Fold { .. } => strip.slice(F::MR * plan.ncp * F::NR),
            Output::C(_) => strip.slice(0),
        };
        let tile = &mut tile.0[..F::MR * F::NR];
        part_in::<F>(plan, t0, t1, abuf, bbuf, strip, tile);
    };
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => run(&mut s),
        // Only if a fold function itself ran a product on this thread: use fresh buffers.
        Err(_) => run(&mut Scratch {
            a: AlignedVec(Vec::new()),
            b: AlignedVec(Vec::new()),
            strip: AlignedVec(Vec::new()),
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
    strip: &mut [f32],
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
        let jc_end = (jc + plan.ncp).min(jr_hi);
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
                // A fold gets the row panel's tiles of this block as one strip, so its update
                // runs over rows of up to NCP·NR values instead of NR.
                let strip_ld = (hi - lo) * F::NR;
                let strip_cols = (hi * F::NR).min(n) - lo * F::NR;
                let (a_ptr, a_ks) = if plan.direct_a && mr == F::MR {
                    (plan.a.data[i0 + pc * plan.a.cs..].as_ptr(), plan.a.cs)
                } else if let Some(shared) = plan.shared_a {
                    let unit = (pc / F::KC) * plan.mp + ir;
                    // SAFETY: packed by `pack_shared_a` before this fork-join (`kc` is `KC`
                    // for a C output, so `pc / KC` is this block).
                    let panel = unsafe { shared.panel(unit, F::MR * F::KC) };
                    (panel.cast_const(), F::MR)
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
                            (Output::Fold { prefetch, .. }, _) => {
                                let st = Store {
                                    alpha: plan.alpha,
                                    ..Store::PLAIN
                                };
                                // The consumer's memory for this tile arrives while the
                                // kernel computes it (a 200-deep tile takes ~2,400 cycles).
                                prefetch(i0, j0, mr, nr);
                                let tp = strip.as_mut_ptr().add((jr - lo) * F::NR);
                                F::tile(kc, a_ptr, a_ks, b_ptr, b_ks, tp, strip_ld, &st);
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
                if let Output::Fold { f, results, .. } = plan.out {
                    let r = f(i0, lo * F::NR, mr, strip_cols, strip, strip_ld);
                    // One result per strip, in its first tile's slot; the strip's other slots
                    // are zeroed, as they may hold a previous product's values.
                    let first = ir * plan.np + lo;
                    results[first].store(r.to_bits(), Ordering::Relaxed);
                    for slot in &results[first + 1..ir * plan.np + hi] {
                        slot.store(0f64.to_bits(), Ordering::Relaxed);
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
