//! Peak throughput of the three 512-bit multiply-accumulate instructions a k-means encode
//! kernel could be built on, on this CPU: `vfmadd231ps` (f32, 16 products), `vdpbf16ps`
//! (AVX512_BF16, 32 bf16 products) and `vpdpbusd` (AVX512_VNNI, 64 u8 x i8 products), each
//! in 24 independent accumulator chains (more than latency x ports, so the figure is
//! throughput, not latency), on normal operands (no denormal assists).
//!
//! ```text
//! cargo run --release -p wb-features --example dot_throughput [-- --rounds 3]
//! ```
//! Prints giga-instructions and giga-products per second per core for each; this is why
//! the encoder uses VNNI and not BF16 (crates/features/src/kmeans/gemm.rs).

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    pub const CHAINS: usize = 24;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma(iterations: usize) -> f32 {
        let mut c = [_mm512_setzero_ps(); CHAINS];
        let a = _mm512_set1_ps(1.0);
        for _ in 0..iterations {
            for acc in c.iter_mut() {
                *acc = _mm512_fmadd_ps(a, a, *acc);
            }
        }
        let sum = c
            .iter()
            .fold(_mm512_setzero_ps(), |s, &v| _mm512_add_ps(s, v));
        _mm512_reduce_add_ps(sum)
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn bf16(iterations: usize) -> f32 {
        let mut c = [_mm512_setzero_ps(); CHAINS];
        let a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0), _mm512_set1_ps(1.0));
        for _ in 0..iterations {
            for acc in c.iter_mut() {
                *acc = _mm512_dpbf16_ps(*acc, a, a);
            }
        }
        let sum = c
            .iter()
            .fold(_mm512_setzero_ps(), |s, &v| _mm512_add_ps(s, v));
        _mm512_reduce_add_ps(sum)
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn vnni(iterations: usize) -> i32 {
        let mut c = [_mm512_setzero_si512(); CHAINS];
        let a = _mm512_set1_epi8(1);
        for _ in 0..iterations {
            for acc in c.iter_mut() {
                *acc = _mm512_dpbusd_epi32(*acc, a, a);
            }
        }
        let sum = c
            .iter()
            .fold(_mm512_setzero_si512(), |s, &v| _mm512_add_epi32(s, v));
        _mm512_reduce_add_epi32(sum)
    }
}

#[cfg(target_arch = "x86_64")]
fn main() {
    use std::time::Instant;
    let mut rounds = 3usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, value] = args.as_slice() {
        if flag == "--rounds" {
            match value.parse() {
                Ok(n) if n > 0 => rounds = n,
                _ => {
                    eprintln!("error: --rounds {value}: expected a positive integer");
                    std::process::exit(1);
                }
            }
        }
    }
    let has = |f: &str| match f {
        "avx512f" => std::is_x86_feature_detected!("avx512f"),
        "avx512bf16" => std::is_x86_feature_detected!("avx512bf16"),
        "avx512vnni" => std::is_x86_feature_detected!("avx512vnni"),
        _ => false,
    };
    if !has("avx512f") {
        eprintln!("error: this CPU has no AVX-512F; nothing to measure");
        std::process::exit(1);
    }
    let iterations = 20_000_000;
    let instructions = (iterations * x86::CHAINS) as f64;
    println!("instruction, round, G instructions/s, G products/s (one core)");
    for round in 1..=rounds {
        let report = |name: &str, products: f64, run: &dyn Fn() -> f64| {
            let start = Instant::now();
            let checksum = run();
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "{name}, {round}, {:.2}, {:.1}   (checksum {checksum})",
                instructions / seconds / 1e9,
                instructions * products / seconds / 1e9
            );
        };
        // SAFETY: each function runs only where its instruction set was detected.
        report("vfmadd231ps (f32)", 16.0, &|| unsafe {
            f64::from(x86::fma(iterations))
        });
        if has("avx512bf16") {
            report("vdpbf16ps (bf16)", 32.0, &|| unsafe {
                f64::from(x86::bf16(iterations))
            });
        }
        if has("avx512vnni") {
            report("vpdpbusd (int8)", 64.0, &|| unsafe {
                f64::from(x86::vnni(iterations))
            });
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("error: this example measures x86-64 instructions");
    std::process::exit(1);
}
