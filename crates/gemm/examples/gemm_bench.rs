//! Wall time of the products the workbench's models run, wb-gemm (each kernel family this CPU
//! supports) against matrixmultiply (ndarray's `general_mat_mul`), interleaved round-robin.
//!
//! ```text
//! MATMUL_NUM_THREADS=2 RAYON_NUM_THREADS=2 cargo run --release -p wb-gemm --example gemm_bench [ROUNDS]
//! ```
//! Prints, per product and variant, the minimum and median milliseconds per call over the rounds
//! and the GFLOP/s at the minimum (2·m·n·k flops). With one thread it also prints the calling
//! thread's CPU time per call (from `/proc/thread-self/schedstat`, nanoseconds), which other
//! processes on a busy machine inflate much less than wall time.

use std::time::Instant;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wb_gemm::{sgemm_with, Config, Epilogue, MatMut, MatRef, Simd};

/// Operand layouts of one product `C (m x n) = op(A) · op(B)`.
struct Product {
    name: &'static str,
    m: usize,
    n: usize,
    k: usize,
    /// A is stored transposed (k x m row-major).
    a_t: bool,
    /// B is stored transposed (n x k row-major).
    b_t: bool,
}

fn view<'a>(data: &'a [f32], rows: usize, cols: usize, transposed: bool) -> MatRef<'a> {
    if transposed {
        MatRef::row_major(data, cols, rows).unwrap().t()
    } else {
        MatRef::row_major(data, rows, cols).unwrap()
    }
}

fn nd<'a>(data: &'a [f32], rows: usize, cols: usize, transposed: bool) -> ArrayView2<'a, f32> {
    if transposed {
        ArrayView2::from_shape((cols, rows), data)
            .unwrap()
            .reversed_axes()
    } else {
        ArrayView2::from_shape((rows, cols), data).unwrap()
    }
}

/// Nanoseconds this thread has run on a CPU (Linux), or `None`.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let threads = rayon::current_num_threads();
    let products = [
        Product {
            name: "mlp fwd  X·Wᵀ      200x500x3072",
            m: 200,
            n: 500,
            k: 3072,
            a_t: false,
            b_t: true,
        },
        Product {
            name: "mlp fwd  W·Xᵀ      500x200x3072",
            m: 500,
            n: 200,
            k: 3072,
            a_t: false,
            b_t: true,
        },
        Product {
            name: "mlp ∂W   doutᵀ·X   500x3072x200",
            m: 500,
            n: 3072,
            k: 200,
            a_t: true,
            b_t: false,
        },
        Product {
            name: "mlp ∂Wᵀ  Xᵀ·dout   3072x500x200",
            m: 3072,
            n: 500,
            k: 200,
            a_t: true,
            b_t: false,
        },
        Product {
            name: "mlp out  H·W2ᵀ     200x10x500",
            m: 200,
            n: 10,
            k: 500,
            a_t: false,
            b_t: true,
        },
        Product {
            name: "mlp ∂H   dS·W2     200x500x10",
            m: 200,
            n: 500,
            k: 10,
            a_t: false,
            b_t: false,
        },
        Product {
            name: "eval     X·Wᵀ      1000x500x3072",
            m: 1000,
            n: 500,
            k: 3072,
            a_t: false,
            b_t: true,
        },
        Product {
            name: "grid fwd X·Wtᵀ     200x60x3072",
            m: 200,
            n: 60,
            k: 3072,
            a_t: false,
            b_t: true,
        },
        Product {
            name: "grid ∂Wt dSᵀ·X     60x3072x200",
            m: 60,
            n: 3072,
            k: 200,
            a_t: true,
            b_t: false,
        },
    ];
    let families: Vec<Simd> = [Simd::Avx512, Simd::Avx2, Simd::Scalar]
        .into_iter()
        .filter(|s| s.supported())
        .collect();
    println!(
        "threads {threads}, rounds {rounds}, families {:?}, active {}",
        families,
        wb_gemm::active()
    );
    // The micro-kernel alone on panels that sit in L1: the ceiling for everything below.
    for &simd in &families {
        let (mr, nr, kc) = (simd.mr(), simd.nr(), 128);
        let a = vec![0.5f32; mr * kc];
        let b = vec![0.25f32; nr * kc];
        let mut c = vec![0f32; mr * nr];
        // Short trials (≈ 0.1 ms); the fastest is the one no other process interrupted.
        let reps = 200;
        let mut best = f64::INFINITY;
        for _ in 0..2000 {
            let t0 = Instant::now();
            for _ in 0..reps {
                wb_gemm::kernel_tile(simd, kc, &a, &b, &mut c);
            }
            best = best.min(t0.elapsed().as_secs_f64());
        }
        let flops = 2.0 * (mr * nr * kc * reps) as f64;
        println!(
            "kernel {simd} {mr}x{nr}, kc {kc}, L1-resident: {:.1} GFLOP/s (fastest of 2000 trials)",
            flops / best / 1e9
        );
    }
    // Packing a 12 x 384 micro-panel from a row-major 200 x 3072 batch (what the MLP's forward
    // product does 17 x 8 times per step).
    {
        let x: Vec<f32> = (0..200 * 3072).map(|i| i as f32).collect();
        let mut buf = vec![0f32; 12 * 384];
        let mut best = f64::INFINITY;
        for _ in 0..2000 {
            let t0 = Instant::now();
            for r in 0..16 {
                let view = MatRef::strided(&x[r * 12 * 3072..], 12, 384, 3072, 1).unwrap();
                wb_gemm::pack_a_panel(view, 12, 384, 12, &mut buf);
            }
            best = best.min(t0.elapsed().as_secs_f64() / 16.0);
        }
        println!(
            "pack 12x384 panel of a row-major 3072-wide matrix: {:.2} µs ({:.2} GB/s)",
            best * 1e6,
            12.0 * 384.0 * 4.0 / best / 1e9
        );
    }
    // ∂Wᵀ = Xᵀ·dout with a momentum step, fused (the MLP's way) against the product into a
    // gradient buffer followed by the same step as a separate sweep.
    {
        let (m, n, k) = (3072, 500, 200);
        let x: Vec<f32> = (0..k * m)
            .map(|i| ((i % 97) as f32 - 48.0) / 97.0)
            .collect();
        let d: Vec<f32> = (0..k * n)
            .map(|i| ((i % 89) as f32 - 44.0) / 890.0)
            .collect();
        let mut w = vec![0.01f32; m * n];
        let mut v = vec![0f32; m * n];
        let mut g = vec![0f32; m * n];
        // The MLP's momentum rule as wb-mlp runs it: eight f32 lanes of Σw², compiled for AVX-512.
        #[inline(always)]
        fn rule(g: &[f32], w: &mut [f32], v: &mut [f32]) -> f64 {
            let mut acc = [0f32; 8];
            let full = w.len() / 8 * 8;
            for ((wc, vc), gc) in w[..full]
                .chunks_exact_mut(8)
                .zip(v[..full].chunks_exact_mut(8))
                .zip(g[..full].chunks_exact(8))
            {
                for k in 0..8 {
                    acc[k] += wc[k] * wc[k];
                    vc[k] = 0.9 * vc[k] - 0.01 * (gc[k] + 5e-4 * wc[k]);
                    wc[k] += vc[k];
                }
            }
            let mut sq: f64 = acc.iter().map(|&a| a as f64).sum();
            for ((w, v), &g) in w[full..]
                .iter_mut()
                .zip(v[full..].iter_mut())
                .zip(&g[full..])
            {
                sq += (*w * *w) as f64;
                *v = 0.9 * *v - 0.01 * (g + 5e-4 * *w);
                *w += *v;
            }
            sq
        }
        #[target_feature(enable = "avx512f")]
        unsafe fn rule_avx512(g: &[f32], w: &mut [f32], v: &mut [f32]) -> f64 {
            rule(g, w, v)
        }
        let step = |g: &[f32], w: &mut [f32], v: &mut [f32]| -> f64 {
            if wb_gemm::active() == Simd::Avx512 {
                unsafe { rule_avx512(g, w, v) }
            } else {
                rule(g, w, v)
            }
        };
        let cfg = Config::default().with_threads(threads);
        let xa = MatRef::row_major(&x, k, m).unwrap().t();
        let db = MatRef::row_major(&d, k, n).unwrap();
        let (mut fused, mut separate) = (f64::INFINITY, f64::INFINITY);
        let (mut fold_only, mut product_only, mut sweep_only) =
            (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        for _ in 0..rounds.max(10) * 5 {
            let t0 = Instant::now();
            wb_gemm::sgemm_fused(
                &cfg,
                1.0,
                xa,
                db,
                [MatMut::row_major(&mut w, m, n).unwrap()],
                |g, [w]| {
                    w[0] += g[0];
                    0.0
                },
            )
            .unwrap();
            fold_only = fold_only.min(t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            sgemm_with(
                &cfg,
                1.0,
                xa,
                db,
                0.0,
                MatMut::row_major(&mut g, m, n).unwrap(),
                Epilogue::NONE,
            )
            .unwrap();
            product_only = product_only.min(t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            step(&g, &mut w, &mut v);
            sweep_only = sweep_only.min(t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            wb_gemm::sgemm_fused(
                &cfg,
                1.0,
                xa,
                db,
                [
                    MatMut::row_major(&mut w, m, n).unwrap(),
                    MatMut::row_major(&mut v, m, n).unwrap(),
                ],
                |g, [w, v]| step(g, w, v),
            )
            .unwrap();
            fused = fused.min(t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            sgemm_with(
                &cfg,
                1.0,
                xa,
                db,
                0.0,
                MatMut::row_major(&mut g, m, n).unwrap(),
                Epilogue::NONE,
            )
            .unwrap();
            step(&g, &mut w, &mut v);
            separate = separate.min(t0.elapsed().as_secs_f64());
        }
        println!("∂Wᵀ 3072x500x200 + momentum step: fused {:.3} ms, product then sweep {:.3} ms (fastest of {} each)", fused * 1e3, separate * 1e3, rounds.max(10) * 5);
        println!("    parts: fold with a trivial step {:.3} ms, product alone {:.3} ms, sweep alone {:.3} ms", fold_only * 1e3, product_only * 1e3, sweep_only * 1e3);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for p in &products {
        let a: Vec<f32> = (0..p.m * p.k).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let b: Vec<f32> = (0..p.k * p.n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut c = vec![0f32; p.m * p.n];
        let mut c_nd = Array2::<f32>::zeros((p.m, p.n));
        // Each family with in-place operands where possible, the best family packing every
        // operand, and matrixmultiply.
        let variants = families.len() + 2;
        let mut times = vec![Vec::with_capacity(rounds); variants];
        let mut cpu = vec![Vec::with_capacity(rounds); variants];
        // Trials of ≈ 1 ms or one call, so that some of them run uninterrupted on a busy machine.
        let calls = (2e8 / (2.0 * (p.m * p.n * p.k) as f64)).clamp(1.0, 200.0) as usize;
        for _ in 0..rounds {
            for (v, t) in times.iter_mut().enumerate() {
                let cpu_start = thread_cpu_ns();
                let start = Instant::now();
                for _ in 0..calls {
                    if v < families.len() {
                        let cfg = Config::default()
                            .with_simd(families[v])
                            .with_threads(threads);
                        sgemm_with(
                            &cfg,
                            1.0,
                            view(&a, p.m, p.k, p.a_t),
                            view(&b, p.k, p.n, p.b_t),
                            0.0,
                            MatMut::row_major(&mut c, p.m, p.n).unwrap(),
                            Epilogue::NONE,
                        )
                        .unwrap();
                    } else {
                        let mut cv: ArrayViewMut2<'_, f32> = c_nd.view_mut();
                        general_mat_mul(
                            1.0,
                            &nd(&a, p.m, p.k, p.a_t),
                            &nd(&b, p.k, p.n, p.b_t),
                            0.0,
                            &mut cv,
                        );
                    }
                }
                t.push(start.elapsed().as_secs_f64() * 1e3 / calls as f64);
                if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
                    cpu[v].push((b - a) as f64 / 1e6 / calls as f64);
                }
            }
        }
        // The variants must agree (same products, different summation order).
        let worst = c
            .iter()
            .zip(c_nd.iter())
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        println!("{}  (max |wb - matrixmultiply| {worst:.1e})", p.name);
        let flops = 2.0 * (p.m * p.n * p.k) as f64;
        for (v, t) in times.iter_mut().enumerate() {
            t.sort_by(f64::total_cmp);
            cpu[v].sort_by(f64::total_cmp);
            let cpu_note = if threads == 1 && !cpu[v].is_empty() {
                let c = cpu[v][0];
                format!("  cpu min {c:>8.3} ms {:>6.1} GFLOP/cpu-s", flops / c / 1e6)
            } else {
                String::new()
            };
            let name = if v < families.len() {
                format!("wb-gemm {}", families[v])
            } else if v == families.len() {
                format!("{} packed", families[0])
            } else {
                "matrixmultiply".to_string()
            };
            println!(
                "    {name:<16} min {:>8.3} ms  median {:>8.3} ms  {:>6.1} GFLOP/s{cpu_note}",
                t[0],
                t[t.len() / 2],
                flops / t[0] / 1e6
            );
        }
    }
}
