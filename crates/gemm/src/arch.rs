//! Which SIMD instruction set the kernels use: detected once per process, or forced with the
//! `WB_SIMD` environment variable (`avx512`, `avx2`, `scalar`) so every path can be measured and
//! tested on one machine.

use std::sync::OnceLock;

/// A kernel family. Each has its own register tile (`MR x NR`) and therefore its own packed
/// layout ([`Simd::nr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Simd {
    /// AVX-512F: 12 x 32 tile in 24 zmm accumulators.
    Avx512,
    /// AVX2 + FMA: 6 x 16 tile in 12 ymm accumulators (BLIS's Haswell shape).
    Avx2,
    /// Portable Rust (the compiler's auto-vectorisation): 4 x 8 tile.
    Scalar,
}

impl Simd {
    /// Name as accepted by `WB_SIMD`.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Avx512 => "avx512",
            Simd::Avx2 => "avx2",
            Simd::Scalar => "scalar",
        }
    }

    /// Rows of C per register tile.
    pub fn mr(self) -> usize {
        match self {
            Simd::Avx512 => crate::kernel::avx512::MR,
            Simd::Avx2 => crate::kernel::avx2::MR,
            Simd::Scalar => crate::kernel::scalar::MR,
        }
    }

    /// Columns of C per register tile: the width of a packed B panel.
    pub fn nr(self) -> usize {
        match self {
            Simd::Avx512 => crate::kernel::avx512::NR,
            Simd::Avx2 => crate::kernel::avx2::NR,
            Simd::Scalar => crate::kernel::scalar::NR,
        }
    }

    /// Whether this CPU can run the family.
    pub fn supported(self) -> bool {
        match self {
            Simd::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest family this CPU supports.
    pub fn best() -> Simd {
        [Simd::Avx512, Simd::Avx2]
            .into_iter()
            .find(|s| s.supported())
            .unwrap_or(Simd::Scalar)
    }

    /// Parses a `WB_SIMD` value.
    pub fn parse(s: &str) -> Option<Simd> {
        match s.trim().to_ascii_lowercase().as_str() {
            "avx512" | "avx-512" | "avx512f" => Some(Simd::Avx512),
            "avx2" | "avx2+fma" | "fma" => Some(Simd::Avx2),
            "scalar" | "portable" | "none" => Some(Simd::Scalar),
            _ => None,
        }
    }
}

impl std::fmt::Display for Simd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the choice of [`active`] was made, for logs and benchmark records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimdChoice {
    pub simd: Simd,
    /// `None` when detected; otherwise what `WB_SIMD` said and, if it could not be honoured,
    /// why.
    pub forced: Option<String>,
}

static CHOICE: OnceLock<SimdChoice> = OnceLock::new();

/// The kernel family every product in this process uses: `WB_SIMD` if set to a family this CPU
/// supports, otherwise the best one detected. An unknown or unsupported `WB_SIMD` value falls
/// back to detection and is reported in [`choice`] (and on stderr once), never a crash: a
/// benchmark script that asks for `avx512` on an AVX2 machine still runs, and says so.
pub fn active() -> Simd {
    choice().simd
}

/// [`active`] with the reason.
pub fn choice() -> &'static SimdChoice {
    CHOICE.get_or_init(|| {
        let best = Simd::best();
        match std::env::var("WB_SIMD") {
            Err(_) => SimdChoice {
                simd: best,
                forced: None,
            },
            Ok(v) if v.trim().is_empty() => SimdChoice {
                simd: best,
                forced: None,
            },
            Ok(v) => match Simd::parse(&v) {
                Some(s) if s.supported() => SimdChoice {
                    simd: s,
                    forced: Some(format!("WB_SIMD={v}")),
                },
                Some(s) => {
                    let why = format!(
                        "WB_SIMD={v}: this CPU has no {} support, using {best}",
                        s.name()
                    );
                    eprintln!("warning: {why}");
                    SimdChoice {
                        simd: best,
                        forced: Some(why),
                    }
                }
                None => {
                    let why =
                        format!("WB_SIMD={v} is not one of avx512, avx2, scalar; using {best}");
                    eprintln!("warning: {why}");
                    SimdChoice {
                        simd: best,
                        forced: Some(why),
                    }
                }
            },
        }
    })
}
