//! Which vector instruction set the feature kernels run with: the best one the CPU has, chosen
//! at run time (`is_x86_feature_detected!`), or a lower one forced with the environment variable
//! [`SIMD_ENV`] (`WB_SIMD=avx2` measures the AVX2 path on an AVX-512 machine). Every level gives
//! bit-identical features; only the speed differs.

use std::sync::OnceLock;

/// The environment variable that forces a level: `auto` (the default), `avx512`, `avx2` or
/// `portable`. A level the CPU lacks falls back to the best it has, with a warning.
pub const SIMD_ENV: &str = "WB_SIMD";

/// Instruction-set levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// Plain Rust, left to the compiler's baseline (SSE2 on x86-64).
    Portable,
    /// AVX2 + FMA (Haswell, Zen and later).
    Avx2,
    /// AVX-512 F/BW/DQ/VL on top of AVX2 + FMA (Skylake-SP, Ice Lake, Sapphire Rapids, Zen 4).
    Avx512,
}

impl SimdLevel {
    /// Every level, lowest first.
    pub const ALL: [SimdLevel; 3] = [SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512];

    /// The name used in [`SIMD_ENV`] and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Portable => "portable",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// True if this CPU can run the level.
    pub fn supported(self) -> bool {
        self <= SimdLevel::detected()
    }

    /// The best level this CPU supports.
    pub fn detected() -> SimdLevel {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
                    return SimdLevel::Avx512;
                }
                return SimdLevel::Avx2;
            }
        }
        SimdLevel::Portable
    }

    /// The level this process uses: [`SimdLevel::detected`], or the one named by
    /// [`SIMD_ENV`] if the CPU supports it. Decided once, on first use.
    pub fn active() -> SimdLevel {
        static CHOICE: OnceLock<SimdLevel> = OnceLock::new();
        *CHOICE.get_or_init(|| {
            let best = SimdLevel::detected();
            match std::env::var(SIMD_ENV) {
                Ok(asked) => match SimdLevel::choose(&asked, best) {
                    Ok(level) => level,
                    Err(warning) => {
                        eprintln!("warning: {warning}");
                        best
                    }
                },
                Err(_) => best,
            }
        })
    }

    /// The level `asked` names, capped at `best`; an explanation when it cannot be used.
    fn choose(asked: &str, best: SimdLevel) -> Result<SimdLevel, String> {
        let want = match asked.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => return Ok(best),
            "avx512" | "avx-512" => SimdLevel::Avx512,
            "avx2" => SimdLevel::Avx2,
            "portable" | "scalar" | "none" => SimdLevel::Portable,
            other => {
                return Err(format!(
                    "{SIMD_ENV}={other} is not one of auto, avx512, avx2, portable; using {}",
                    best.name()
                ))
            }
        };
        if want > best {
            return Err(format!(
                "{SIMD_ENV}={} needs an instruction set this CPU lacks; using {}",
                want.name(),
                best.name()
            ));
        }
        Ok(want)
    }
}

impl std::fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_can_lower_the_level_but_not_raise_it() {
        use SimdLevel::*;
        assert_eq!(SimdLevel::choose("auto", Avx512), Ok(Avx512));
        assert_eq!(SimdLevel::choose(" AVX2 ", Avx512), Ok(Avx2));
        assert_eq!(SimdLevel::choose("portable", Avx2), Ok(Portable));
        assert_eq!(SimdLevel::choose("scalar", Avx2), Ok(Portable));
        let err = SimdLevel::choose("avx512", Avx2).unwrap_err();
        assert!(err.contains("lacks") && err.contains("avx2"), "{err}");
        let err = SimdLevel::choose("sse9", Portable).unwrap_err();
        assert!(err.contains("sse9") && err.contains("portable"), "{err}");
    }

    #[test]
    fn the_active_level_is_supported() {
        assert!(SimdLevel::active().supported());
        assert!(SimdLevel::Portable.supported());
    }
}
