//! A counting global allocator: the fuzz binaries install it so every case's memory can be
//! compared with a bound derived from the size of its input files.
//!
//! Install it in a binary or test crate root with
//! `#[global_allocator] static ALLOC: wb_fuzz::CountingAlloc = wb_fuzz::CountingAlloc;`.
//! It forwards to the system allocator and keeps three process-wide counters: bytes live now,
//! the peak of live bytes since the last [`start_measuring`], and the largest single request
//! since then. Process-wide (not per thread) on purpose: the loaders allocate on rayon's worker
//! threads too. The harness runs one case at a time, so the counters belong to that case.
//!
//! A request above [`set_hard_limit`]'s limit is refused (null), which makes Rust abort: before
//! that, the allocator prints which target and case asked, so the run can be reproduced.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The counting allocator (see the module docs).
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static USED: AtomicBool = AtomicBool::new(false);
static HARD_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The case in progress, for the message printed before a refused request aborts the process.
static CASE_TARGET: std::sync::Mutex<&'static str> = std::sync::Mutex::new("");
static CASE_INDEX: AtomicU64 = AtomicU64::new(0);
static CASE_SEED: AtomicU64 = AtomicU64::new(0);

impl CountingAlloc {
    #[inline]
    fn grew(&self, bytes: usize) {
        let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
        PEAK.fetch_max(live, Relaxed);
    }

    #[inline]
    fn admit(&self, size: usize) -> bool {
        USED.store(true, Relaxed);
        LARGEST.fetch_max(size, Relaxed);
        if size > HARD_LIMIT.load(Relaxed) {
            report_refusal(size);
            return false;
        }
        true
    }
}

// SAFETY: every method forwards to `System` with the caller's layout and pointer unchanged;
// the counters are plain atomics and the refusal path only writes to stderr without allocating.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.admit(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc(layout);
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !self.admit(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.admit(new_size) {
            return std::ptr::null_mut();
        }
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                self.grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

/// Writes "refused N bytes in target T case C" to stderr with a stack buffer (no allocation:
/// this runs inside the allocator).
fn report_refusal(size: usize) {
    struct Buf {
        bytes: [u8; 320],
        len: usize,
    }
    impl std::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let room = self.bytes.len() - self.len;
            let n = s.len().min(room);
            self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            Ok(())
        }
    }
    let mut buf = Buf {
        bytes: [0; 320],
        len: 0,
    };
    // try_lock: the refused request may come from a thread that holds the lock.
    let target = CASE_TARGET.try_lock().map(|t| *t).unwrap_or("?");
    let _ = std::fmt::write(
        &mut buf,
        format_args!(
            "\nwb-fuzz: refused one allocation of {size} bytes (hard limit {} bytes) in target \
             `{target}`, case {} of seed {}; rerun that case alone with \
             `wb-fuzz {target} --seed {} --case {}`\n",
            HARD_LIMIT.load(Relaxed),
            CASE_INDEX.load(Relaxed),
            CASE_SEED.load(Relaxed),
            CASE_SEED.load(Relaxed),
            CASE_INDEX.load(Relaxed),
        ),
    );
    let _ = std::io::stderr().write_all(&buf.bytes[..buf.len]);
}

/// Whether [`CountingAlloc`] is this process's global allocator (it has seen an allocation).
pub fn installed() -> bool {
    drop(std::hint::black_box(Box::new(0u64)));
    USED.load(Relaxed)
}

/// Refuse (and so abort on) any single request above `bytes`.
pub fn set_hard_limit(bytes: usize) {
    HARD_LIMIT.store(bytes, Relaxed);
}

/// Names the case in progress for the refusal message.
pub(crate) fn set_case(target: &'static str, seed: u64, index: u64) {
    if let Ok(mut t) = CASE_TARGET.lock() {
        *t = target;
    }
    CASE_SEED.store(seed, Relaxed);
    CASE_INDEX.store(index, Relaxed);
}

/// Memory one case used, relative to the live bytes when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Highest live bytes above the starting level.
    pub peak: usize,
    /// Largest single allocation (or reallocation target size).
    pub largest: usize,
}

/// Starts a measurement: resets the peak to the current level and the largest request to 0.
/// Returns the starting level for [`finish_measuring`].
pub fn start_measuring() -> usize {
    let live = LIVE.load(Relaxed);
    PEAK.store(live, Relaxed);
    LARGEST.store(0, Relaxed);
    live
}

/// What was used since [`start_measuring`] returned `start`.
pub fn finish_measuring(start: usize) -> Usage {
    Usage {
        peak: PEAK.load(Relaxed).saturating_sub(start),
        largest: LARGEST.load(Relaxed),
    }
}
