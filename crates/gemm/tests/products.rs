//! Every kernel family against an f64 reference, over edge shapes, layouts, α/β and epilogues;
//! and the same bits whatever the thread count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wb_gemm::{sgemm_with, Bias, Config, Direct, Epilogue, GemmError, MatMut, MatRef, Simd};

/// Every product split over `threads`, however small.
fn cfg(simd: Simd, threads: usize) -> Config {
    Config {
        simd,
        threads,
        min_work_per_thread: 1,
        direct: if threads == 3 {
            Direct::Never
        } else {
            Direct::Auto
        },
    }
}

fn families() -> Vec<Simd> {
    [Simd::Scalar, Simd::Avx2, Simd::Avx512]
        .into_iter()
        .filter(|s| s.supported())
        .collect()
}

fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// Storage for an `r x c` operand in one of four layouts, with padding so strides exceed extents.
struct Stored {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl Stored {
    fn new(rng: &mut ChaCha8Rng, rows: usize, cols: usize, layout: usize) -> Stored {
        let (rs, cs, len) = match layout {
            0 => (cols, 1, rows * cols),                             // row-major
            1 => (1, rows, rows * cols),                             // column-major
            2 => (cols + 3, 1, rows * (cols + 3)),                   // row-major, padded rows
            _ => (2 * (cols * 2 + 1), 2, rows * 2 * (cols * 2 + 1)), // every other element
        };
        Stored {
            data: random(rng, len.max(1)),
            rows,
            cols,
            rs,
            cs,
        }
    }
    fn view(&self) -> MatRef<'_> {
        MatRef::strided(&self.data, self.rows, self.cols, self.rs, self.cs).unwrap()
    }
    fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

#[allow(clippy::too_many_arguments)]
fn check(
    simd: Simd,
    (m, n, k): (usize, usize, usize),
    layouts: (usize, usize, usize),
    alpha: f32,
    beta: f32,
    bias: u8,
    relu: bool,
    seed: u64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a = Stored::new(&mut rng, m, k, layouts.0);
    let b = Stored::new(&mut rng, k, n, layouts.1);
    let c0 = Stored::new(&mut rng, m, n, layouts.2);
    let bias_cols = random(&mut rng, n);
    let bias_rows = random(&mut rng, m);
    let epilogue = Epilogue {
        bias: match bias {
            0 => Bias::None,
            1 => Bias::PerColumn(&bias_cols),
            _ => Bias::PerRow(&bias_rows),
        },
        relu,
    };
    let mut results = Vec::new();
    for threads in [1, 2, 3] {
        let mut c = c0.data.clone();
        let view = MatMut::strided(&mut c, m, n, c0.rs, c0.cs).unwrap();
        sgemm_with(
            &cfg(simd, threads),
            alpha,
            a.view(),
            b.view(),
            beta,
            view,
            epilogue,
        )
        .unwrap();
        results.push(c);
    }
    let what = format!(
        "{simd} {m}x{n}x{k} layouts {layouts:?} α {alpha} β {beta} bias {bias} relu {relu}"
    );
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "{what}: results differ between thread counts"
    );
    let c = &results[0];
    for i in 0..m {
        for j in 0..n {
            let mut want = 0f64;
            let mut scale = 0f64;
            for p in 0..k {
                let t = a.get(i, p) as f64 * b.get(p, j) as f64;
                want += t;
                scale += t.abs();
            }
            want *= alpha as f64;
            if beta != 0.0 {
                want += beta as f64 * c0.get(i, j) as f64;
            }
            want += match bias {
                0 => 0.0,
                1 => bias_cols[j] as f64,
                _ => bias_rows[i] as f64,
            };
            if relu {
                want = want.max(0.0);
            }
            let got = c[i * c0.rs + j * c0.cs] as f64;
            let tol = 1e-5 * (scale * alpha.abs() as f64 + 2.0);
            assert!(
                (got - want).abs() <= tol,
                "{what}: C[{i}][{j}] = {got}, want {want}"
            );
        }
    }
    // Elements of the storage outside the view are untouched.
    if layouts.2 >= 2 {
        for (idx, (&got, &was)) in c.iter().zip(&c0.data).enumerate() {
            let (i, rem) = (idx / c0.rs, idx % c0.rs);
            let inside = i < m && rem % c0.cs == 0 && rem / c0.cs < n;
            if !inside {
                assert_eq!(
                    got.to_bits(),
                    was.to_bits(),
                    "{what}: wrote outside the view at {idx}"
                );
            }
        }
    }
}

#[test]
fn edge_shapes_every_layout() {
    let dims = [1, 3, 12, 13, 33, 70];
    let mut seed = 0;
    for simd in families() {
        for &m in &dims {
            for &n in &dims {
                for &k in &[1, 7, 40] {
                    for la in 0..4 {
                        for lb in 0..4 {
                            seed += 1;
                            let lc = (la + lb + m) % 4;
                            check(
                                simd,
                                (m, n, k),
                                (la, lb, lc),
                                1.0,
                                0.0,
                                (seed % 3) as u8,
                                seed % 2 == 0,
                                seed,
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn alpha_beta_and_k_blocks() {
    // k beyond one KC block (256 / 384) exercises accumulation in C across blocks.
    for simd in families() {
        for (i, &(m, n, k)) in [
            (50, 70, 900),
            (130, 97, 385),
            (24, 64, 1000),
            (13, 700, 300),
        ]
        .iter()
        .enumerate()
        {
            for (alpha, beta) in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25), (1.0, 1.0)] {
                check(
                    simd,
                    (m, n, k),
                    (i % 2, (i / 2) % 2, i % 3),
                    alpha,
                    beta,
                    (i % 3) as u8,
                    i == 1,
                    99 + i as u64,
                );
            }
        }
    }
}

#[test]
fn mlp_shapes_match_across_families_and_threads() {
    // The products of a 3072 -> 500 layer at batch 200, in the orientations the MLP uses.
    for simd in families() {
        check(simd, (200, 500, 300), (0, 1, 0), 1.0, 0.0, 1, true, 7);
        check(simd, (500, 300, 200), (1, 0, 0), 1.0, 0.0, 0, false, 8);
    }
}

#[test]
fn zero_k_and_zero_alpha_scale_c() {
    let mut c = vec![2.0f32; 6];
    let a: [f32; 0] = [];
    sgemm_with(
        &cfg(Simd::Scalar, 1),
        1.0,
        MatRef::row_major(&a, 2, 0).unwrap(),
        MatRef::row_major(&a, 0, 3).unwrap(),
        0.5,
        MatMut::row_major(&mut c, 2, 3).unwrap(),
        Epilogue::bias_cols(&[1.0, -5.0, 0.0]).relu(),
    )
    .unwrap();
    assert_eq!(c, vec![2.0, 0.0, 1.0, 2.0, 0.0, 1.0]);
}

#[test]
fn beta_zero_ignores_nan_in_c() {
    for simd in families() {
        let a = vec![1.0f32; 40 * 50];
        let b = vec![1.0f32; 50 * 70];
        let mut c = vec![f32::NAN; 40 * 70];
        sgemm_with(
            &cfg(simd, 2),
            1.0,
            MatRef::row_major(&a, 40, 50).unwrap(),
            MatRef::row_major(&b, 50, 70).unwrap(),
            0.0,
            MatMut::row_major(&mut c, 40, 70).unwrap(),
            Epilogue::NONE,
        )
        .unwrap();
        assert!(c.iter().all(|&v| v == 50.0), "{simd}");
    }
}

#[test]
fn relu_keeps_nan() {
    for simd in families() {
        let mut a = vec![1.0f32; 16 * 8];
        a[0] = f32::NAN;
        let b = vec![-1.0f32; 8 * 40];
        let mut c = vec![0f32; 16 * 40];
        sgemm_with(
            &cfg(simd, 1),
            1.0,
            MatRef::row_major(&a, 16, 8).unwrap(),
            MatRef::row_major(&b, 8, 40).unwrap(),
            0.0,
            MatMut::row_major(&mut c, 16, 40).unwrap(),
            Epilogue::NONE.relu(),
        )
        .unwrap();
        assert!(
            c[..40].iter().all(|v| v.is_nan()),
            "{simd}: row 0 must stay NaN"
        );
        assert!(
            c[40..].iter().all(|&v| v == 0.0),
            "{simd}: negative rows must be 0"
        );
    }
}

#[test]
fn bad_shapes_are_errors() {
    let a = vec![0f32; 12];
    let mut c = vec![0f32; 12];
    let err = sgemm_with(
        &cfg(Simd::Scalar, 1),
        1.0,
        MatRef::row_major(&a, 3, 4).unwrap(),
        MatRef::row_major(&a, 3, 4).unwrap(),
        0.0,
        MatMut::row_major(&mut c, 3, 4).unwrap(),
        Epilogue::NONE,
    );
    assert!(matches!(err, Err(GemmError::Shape { .. })), "{err:?}");
    assert!(matches!(
        MatRef::row_major(&a, 4, 4),
        Err(GemmError::SliceTooShort {
            need: 16,
            len: 12,
            ..
        })
    ));
    assert!(matches!(
        MatMut::strided(&mut c, 3, 4, 1, 1),
        Err(GemmError::Aliasing { .. })
    ));
    let err = sgemm_with(
        &cfg(Simd::Scalar, 1),
        1.0,
        MatRef::row_major(&a, 3, 4).unwrap(),
        MatRef::row_major(&a, 4, 3).unwrap(),
        0.0,
        MatMut::row_major(&mut c, 3, 3).unwrap(),
        Epilogue::bias_cols(&[1.0]),
    );
    assert!(
        matches!(
            err,
            Err(GemmError::BiasLength {
                len: 1,
                want: 3,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn fused_update_sees_the_product_once_per_element() {
    use wb_gemm::sgemm_fused;
    for simd in families() {
        // (20, 700, 300): B too large for one fold block, so each row panel gives several
        // strips, and the threads' runs are cut between strips of one row panel.
        for &(m, n, k) in &[
            (1, 1, 1),
            (13, 70, 9),
            (300, 97, 200),
            (64, 33, 500),
            (20, 700, 300),
        ] {
            let mut rng = ChaCha8Rng::seed_from_u64((m * n + k) as u64);
            let a = random(&mut rng, k * m); // stored k x m: A = this transposed
            let b = random(&mut rng, k * n);
            let mut want = vec![0f32; m * n];
            sgemm_with(
                &cfg(simd, 1),
                0.5,
                MatRef::row_major(&a, k, m).unwrap().t(),
                MatRef::row_major(&b, k, n).unwrap(),
                0.0,
                MatMut::row_major(&mut want, m, n).unwrap(),
                Epilogue::NONE,
            )
            .unwrap();
            let w0 = random(&mut rng, m * n);
            let mut totals = Vec::new();
            let mut finals = Vec::new();
            for threads in [1, 2, 3] {
                let mut w = w0.clone();
                let mut seen = vec![0f32; m * n];
                let total = sgemm_fused(
                    &cfg(simd, threads),
                    0.5,
                    MatRef::row_major(&a, k, m).unwrap().t(),
                    MatRef::row_major(&b, k, n).unwrap(),
                    [
                        MatMut::row_major(&mut w, m, n).unwrap(),
                        MatMut::row_major(&mut seen, m, n).unwrap(),
                    ],
                    |g, [w, seen]| {
                        let mut sq = 0.0;
                        for ((w, s), &g) in w.iter_mut().zip(seen.iter_mut()).zip(g) {
                            sq += (*w as f64) * (*w as f64);
                            *w -= g;
                            *s += 1.0;
                        }
                        sq
                    },
                )
                .unwrap();
                assert!(
                    seen.iter().all(|&s| s == 1.0),
                    "{simd} {m}x{n}x{k}: each element once"
                );
                // Equal to sgemm's product up to rounding (beyond one block of k, sgemm adds the
                // blocks' partial sums in C, the fused product sums all of k in registers).
                for ((&w, &w0), &g) in w.iter().zip(&w0).zip(&want) {
                    let tol = if k <= 256 {
                        0.0
                    } else {
                        1e-5 * (k as f32).sqrt()
                    };
                    assert!(
                        (w - (w0 - g)).abs() <= tol,
                        "{simd} {m}x{n}x{k}: {w} vs {}",
                        w0 - g
                    );
                }
                totals.push(total);
                finals.push(w);
            }
            let sq: f64 = w0.iter().map(|&v| (v as f64) * (v as f64)).sum();
            assert!(
                (totals[0] - sq).abs() < 1e-9 * sq.max(1.0),
                "{simd}: {} vs {sq}",
                totals[0]
            );
            assert!(
                totals.windows(2).all(|t| t[0].to_bits() == t[1].to_bits()),
                "{simd}: total depends on threads"
            );
            assert!(finals.windows(2).all(|f| f[0] == f[1]));
        }
    }
}

/// A row-major B whose rows start on cache lines is read in place (others are packed): both
/// ways give the same bits, in every family and over edge shapes.
#[test]
fn b_read_in_place_equals_b_packed() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for simd in families() {
        for &(m, n, k) in &[(13usize, 64usize, 300usize), (7, 40, 9), (30, 96, 513)] {
            // Rows a whole number of cache lines long, the first on a 64-byte boundary.
            let rs = n.next_multiple_of(16);
            let raw = random(&mut rng, k * rs + 16);
            let skip = raw.as_ptr().align_offset(64).min(16);
            assert_eq!(
                raw[skip..].as_ptr() as usize % 64,
                0,
                "the test needs an aligned B"
            );
            let b = MatRef::strided(&raw[skip..], k, n, rs, 1).unwrap();
            let a_data = random(&mut rng, m * k);
            let a = MatRef::row_major(&a_data, m, k).unwrap();
            let mut got = Vec::new();
            for direct in [Direct::Auto, Direct::Never] {
                let config = Config {
                    direct,
                    ..cfg(simd, 2)
                };
                let mut c = vec![0f32; m * n];
                let view = MatMut::row_major(&mut c, m, n).unwrap();
                sgemm_with(&config, 1.0, a, b, 0.0, view, Epilogue::NONE).unwrap();
                got.push(c);
            }
            assert!(
                got[0] == got[1],
                "{simd} {m}x{n}x{k}: in place and packed differ"
            );
        }
    }
}
