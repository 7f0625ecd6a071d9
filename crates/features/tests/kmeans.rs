//! The k-means patch dictionary (Coates, Lee & Ng 2011): fitting, whitening, encoding
//! against a naive per-patch reference, serialisation, parameter checks, and (ignored by
//! default) a real CIFAR-10 smoke test reading `WB_DATA_DIR`.

use wb_data::{ImageShape, Images};
use wb_features::kmeans::{self, symmetric_eigen, Dictionary, Params};
use wb_features::{Extractor, FeatureError, FeatureKind, FeatureSpec};

/// Deterministic pseudo-random images with some spatial structure (smooth gradients plus
/// noise), so patches have a non-trivial covariance.
fn synthetic_images(n: usize, shape: ImageShape, seed: u64) -> Images {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let mut pixels = Vec::with_capacity(n * shape.len());
    for _ in 0..n {
        let (gx, gy) = ((next() % 9) as f32 - 4.0, (next() % 9) as f32 - 4.0);
        for y in 0..shape.height {
            for x in 0..shape.width {
                for c in 0..shape.channels {
                    let base = 128.0 + gx * x as f32 * 3.0 + gy * y as f32 * 3.0 + c as f32 * 10.0;
                    let noise = (next() % 61) as f32 - 30.0;
                    pixels.push((base + noise).clamp(0.0, 255.0) as u8);
                }
            }
        }
    }
    Images::new(shape, pixels).expect("consistent sizes")
}

fn small_params() -> Params {
    Params {
        centroids: 12,
        patch_size: 4,
        patches: 3000,
        iterations: 5,
    }
}

fn features(dict: &Dictionary, images: &Images) -> Vec<Vec<f32>> {
    images
        .iter()
        .map(|img| {
            let mut out = vec![0f32; dict.dim(images.shape())];
            dict.extract(img, &mut out);
            out
        })
        .collect()
}

#[test]
fn eigen_solver_matches_known_and_random_matrices() {
    // [[2, 1], [1, 2]] has eigenvalues 1 and 3 with eigenvectors (1, -1)/√2 and (1, 1)/√2.
    let e = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2).unwrap();
    assert!((e.values[0] - 1.0).abs() < 1e-12 && (e.values[1] - 3.0).abs() < 1e-12);
    let s = std::f64::consts::FRAC_1_SQRT_2;
    assert!((e.vectors[0].abs() - s).abs() < 1e-12 && (e.vectors[1].abs() - s).abs() < 1e-12);
    assert!(
        e.vectors[0] * e.vectors[2] < 0.0,
        "eigenvector of 1 is (1, -1)/√2"
    );

    // Diagonal matrix: eigenvalues are the diagonal, sorted ascending.
    let e = symmetric_eigen(&[5.0, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 1.0], 3).unwrap();
    assert_eq!(e.values, vec![-2.0, 1.0, 5.0]);

    // A 40x40 symmetric matrix: V orthonormal and V Λ Vᵀ reconstructs A.
    let n = 40;
    let mut a = vec![0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let v = (((i * 31 + j * 17) % 23) as f64 - 11.0) / 7.0;
            a[i * n + j] = v;
            a[j * n + i] = v;
        }
    }
    let e = symmetric_eigen(&a, n).unwrap();
    let back = e.compose(|l| l);
    let max_err = a
        .iter()
        .zip(&back)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(max_err < 1e-10, "reconstruction error {max_err}");
    for i in 0..n {
        for j in 0..n {
            let dot: f64 = (0..n)
                .map(|k| e.vectors[k * n + i] * e.vectors[k * n + j])
                .sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-10, "VᵀV[{i},{j}] = {dot}");
        }
    }
    assert!(e.values.windows(2).all(|w| w[0] <= w[1]));

    assert!(
        symmetric_eigen(&[1.0, 2.0, 3.0, 4.0], 2).is_err(),
        "not symmetric"
    );
    assert!(
        symmetric_eigen(&[1.0, 2.0, 3.0], 2).is_err(),
        "wrong length"
    );
}

#[test]
fn fit_is_deterministic_and_has_documented_dimension() {
    let shape = ImageShape::new(16, 16, 3);
    let train = synthetic_images(20, shape, 1);
    let params = small_params();
    let a = Dictionary::fit(&train, &params, 7).unwrap();
    let b = Dictionary::fit(&train, &params, 7).unwrap();
    let c = Dictionary::fit(&train, &params, 8).unwrap();
    assert_eq!(a.centroids(), b.centroids());
    assert_eq!(a.whitening(), b.whitening());
    assert_ne!(a.centroids(), c.centroids(), "another seed, other patches");
    assert_eq!(a.dim(shape), 4 * params.centroids);
    assert_eq!(a.centroids().len(), params.centroids * 4 * 4 * 3);
    assert_eq!(a.name(), "kmeans");

    let fa = features(&a, &train);
    let fb = features(&b, &train);
    assert_eq!(fa, fb);
    assert!(fa.iter().flatten().all(|v| v.is_finite() && *v >= 0.0));
    assert!(fa.iter().flatten().any(|v| *v > 0.0));

    // k-means never increases the objective.
    let inertia = a.inertia();
    assert_eq!(inertia.len(), params.iterations);
    assert!(
        inertia.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-5)),
        "{inertia:?}"
    );
}

#[test]
fn zca_whitening_decorrelates_the_training_patches() {
    let shape = ImageShape::new(12, 12, 3);
    let train = synthetic_images(30, shape, 3);
    // Many more samples than distinct patches (30 x 81), so the sampled covariance is
    // close to the covariance over all stride-1 patches computed here.
    let params = Params {
        centroids: 4,
        patch_size: 4,
        patches: 200_000,
        iterations: 1,
    };
    let dict = Dictionary::fit(&train, &params, 11).unwrap();
    let d = dict.patch_dim();
    let mut normalized = Vec::new();
    let mut whitened = Vec::new();
    for img in train.iter() {
        for y in 0..=shape.height - 4 {
            for x in 0..=shape.width - 4 {
                let mut patch = Vec::with_capacity(d);
                for dy in 0..4 {
                    for dx in 0..4 {
                        for c in 0..3 {
                            patch.push(f32::from(img.get(y + dy, x + dx, c)));
                        }
                    }
                }
                whitened.push(dict.whiten_patch(&patch).unwrap());
                let n = d as f32;
                let mean = patch.iter().sum::<f32>() / n;
                let var = patch.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / (n - 1.0);
                normalized.push(
                    patch
                        .iter()
                        .map(|v| (v - mean) / (var + 10.0).sqrt())
                        .collect::<Vec<f32>>(),
                );
            }
        }
    }
    let covariance = |rows: &[Vec<f32>]| {
        let n = rows.len() as f64;
        let mean: Vec<f64> = (0..d)
            .map(|k| rows.iter().map(|r| f64::from(r[k])).sum::<f64>() / n)
            .collect();
        let mut cov = vec![0f64; d * d];
        for r in rows {
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] += (f64::from(r[i]) - mean[i]) * (f64::from(r[j]) - mean[j]);
                }
            }
        }
        cov.iter_mut().for_each(|v| *v /= n - 1.0);
        (mean, cov)
    };
    let (_, raw_cov) = covariance(&normalized);
    let (white_mean, white_cov) = covariance(&whitened);
    // ZCA with ε: eigenvalues λ of the patch covariance become λ / (λ + 0.1).
    let mut want: Vec<f64> = symmetric_eigen(&raw_cov, d)
        .unwrap()
        .values
        .iter()
        .map(|&l| l.max(0.0) / (l.max(0.0) + kmeans::WHITENING_EPS))
        .collect();
    let got = symmetric_eigen(&white_cov, d).unwrap().values;
    want.sort_by(f64::total_cmp);
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() < 0.03,
            "whitened eigenvalue {g}, expected {w}"
        );
    }
    // Most directions carry far more variance than ε, so the whitened covariance is close
    // to the identity there: large eigenvalues near 1, and all of them at most 1.
    assert!(got.iter().all(|&g| g < 1.02));
    assert!(got.iter().filter(|&&g| g > 0.8).count() > d / 2, "{got:?}");
    assert!(white_mean.iter().all(|m| m.abs() < 0.05), "{white_mean:?}");
}

/// The encoding written the slow, obvious way: whiten each stride-1 patch, all distances,
/// triangle activation, sum per quadrant (rows split at round(rows/2), likewise columns).
fn naive_encoding(dict: &Dictionary, img: wb_data::ImageView<'_>) -> Vec<f32> {
    let p = dict.params().patch_size;
    let k = dict.num_centroids();
    let d = dict.patch_dim();
    let (rows, cols) = (img.height() - p + 1, img.width() - p + 1);
    let (split_r, split_c) = (rows.div_ceil(2), cols.div_ceil(2));
    let mut out = vec![0f64; 4 * k];
    for y in 0..rows {
        for x in 0..cols {
            let mut patch = Vec::with_capacity(d);
            for dy in 0..p {
                for dx in 0..p {
                    for c in 0..img.channels() {
                        patch.push(f32::from(img.get(y + dy, x + dx, c)));
                    }
                }
            }
            let w = dict.whiten_patch(&patch).unwrap();
            let z: Vec<f64> = dict
                .centroids()
                .chunks_exact(d)
                .map(|c| {
                    c.iter()
                        .zip(&w)
                        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .collect();
            let mean = z.iter().sum::<f64>() / k as f64;
            let q = 2 * usize::from(y >= split_r) + usize::from(x >= split_c);
            for (j, zj) in z.iter().enumerate() {
                out[q * k + j] += (mean - zj).max(0.0);
            }
        }
    }
    out.iter().map(|&v| v as f32).collect()
}

#[test]
fn encoding_matches_naive_reference() {
    // 37 centroids: not a multiple of the 16-wide kernel panel; 11x13 images with 5x5
    // patches give a 7x9 grid (63 patches, not a multiple of the 6-row sliver) split 4+3 / 5+4.
    for (shape, centroids, patch_size) in [
        (ImageShape::new(11, 13, 3), 37, 5),
        (ImageShape::new(32, 32, 3), 20, 6),
        (ImageShape::new(9, 9, 1), 5, 3),
    ] {
        let train = synthetic_images(12, shape, 5);
        let params = Params {
            centroids,
            patch_size,
            patches: 2000,
            iterations: 3,
        };
        let dict = Dictionary::fit(&train, &params, 2).unwrap();
        let test = synthetic_images(3, shape, 99);
        for (img, got) in test.iter().zip(features(&dict, &test)) {
            let want = naive_encoding(&dict, img);
            assert_eq!(got.len(), want.len());
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 2e-4 * scale,
                    "{shape:?} feature {i}: fast {g}, naive {w}"
                );
            }
        }
    }
}

#[test]
fn constant_images_give_finite_features() {
    let shape = ImageShape::new(10, 10, 3);
    let train = synthetic_images(10, shape, 4);
    let dict = Dictionary::fit(&train, &small_params(), 1).unwrap();
    for value in [0u8, 128, 255] {
        let flat = Images::new(shape, vec![value; shape.len()]).unwrap();
        let f = &features(&dict, &flat)[0];
        assert!(f.iter().all(|v| v.is_finite()), "constant {value}");
    }
    // Fitting on constant images only: zero covariance, identical patches; still finite.
    let flat = Images::new(shape, vec![77u8; 4 * shape.len()]).unwrap();
    let dict = Dictionary::fit(&flat, &small_params(), 1).unwrap();
    assert!(dict.centroids().iter().all(|v| v.is_finite()));
    assert!(dict.whitening().iter().all(|v| v.is_finite()));
    assert!(features(&dict, &flat)
        .iter()
        .flatten()
        .all(|v| v.is_finite()));
}

#[test]
fn bad_parameters_are_rejected_with_their_name() {
    let shape = ImageShape::new(8, 8, 3);
    let train = synthetic_images(3, shape, 1);
    let base = small_params();
    let cases = [
        (
            Params {
                centroids: 0,
                ..base.clone()
            },
            "kmeans.centroids",
        ),
        (
            Params {
                centroids: 1,
                ..base.clone()
            },
            "kmeans.centroids",
        ),
        (
            Params {
                centroids: 4001,
                patches: 10_000,
                ..base.clone()
            },
            "kmeans.centroids",
        ),
        (
            Params {
                centroids: 50,
                patches: 49,
                ..base.clone()
            },
            "kmeans.centroids",
        ),
        (
            Params {
                patches: 0,
                ..base.clone()
            },
            "kmeans.patches",
        ),
        (
            Params {
                patch_size: 9,
                ..base.clone()
            },
            "kmeans.patch_size",
        ),
        (
            Params {
                patch_size: 0,
                ..base.clone()
            },
            "kmeans.patch_size",
        ),
        (
            Params {
                iterations: 0,
                ..base.clone()
            },
            "kmeans.iterations",
        ),
    ];
    for (params, name) in cases {
        match Dictionary::fit(&train, &params, 0) {
            Err(FeatureError::InvalidParam { param, reason }) => {
                assert_eq!(param, name, "{params:?}: {reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{params:?} should be rejected, got {other:?}"),
        }
        assert!(params.check(shape).is_err());
    }
    assert!(matches!(
        Dictionary::fit(&Images::empty(shape), &base, 0),
        Err(FeatureError::EmptyTrainingSet)
    ));
    assert!(Params::default().check(ImageShape::new(32, 32, 3)).is_ok());
}

#[test]
fn dictionary_round_trips_through_serde() {
    let shape = ImageShape::new(10, 10, 3);
    let train = synthetic_images(8, shape, 6);
    let dict = Dictionary::fit(&train, &small_params(), 3).unwrap();
    let json = serde_json::to_string(&dict).unwrap();
    let back: Dictionary = serde_json::from_str(&json).unwrap();
    assert_eq!(back.centroids(), dict.centroids());
    assert_eq!(back.params(), dict.params());
    assert_eq!(features(&back, &train), features(&dict, &train));

    // A truncated centroid list is refused on load, naming the field.
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["centroids"].as_array_mut().unwrap().pop();
    let err = serde_json::from_value::<Dictionary>(value)
        .unwrap_err()
        .to_string();
    assert!(err.contains("centroids"), "{err}");
}

#[test]
fn atoms_render_as_a_grid() {
    let shape = ImageShape::new(10, 10, 3);
    let train = synthetic_images(8, shape, 6);
    let dict = Dictionary::fit(&train, &small_params(), 3).unwrap();
    // 12 atoms -> 4 columns x 3 rows of (4*3 + 1)-pixel cells plus the outer border.
    let img = kmeans::render_atoms(&dict, 3);
    assert_eq!((img.width(), img.height()), (4 * 13 + 1, 3 * 13 + 1));
    // Each atom is stretched to the full range on its own.
    let cell: Vec<u8> = (1..13)
        .flat_map(|y| (1..13).flat_map(move |x| [(x, y)]))
        .flat_map(|(x, y)| img.get_pixel(x, y).0)
        .collect();
    assert_eq!(cell.iter().min(), Some(&0));
    assert_eq!(cell.iter().max(), Some(&255));
}

#[test]
fn feature_spec_fits_kmeans_with_the_seed() {
    let shape = ImageShape::new(12, 12, 3);
    let train = synthetic_images(10, shape, 8);
    let mut spec = FeatureSpec::parse("raw,kmeans").unwrap();
    assert_eq!(spec.parts, vec![FeatureKind::Raw, FeatureKind::Kmeans]);
    spec.kmeans = small_params();
    let a = spec.fit(&train, 1).unwrap();
    assert_eq!(a.dim(), shape.len() + 4 * 12);
    let b = spec.fit(&train, 2).unwrap();
    let none = |_| {};
    let fa = a.transform(&train, &none).unwrap();
    let fb = b.transform(&train, &none).unwrap();
    assert_ne!(fa, fb, "the seed reaches the dictionary");
    assert_eq!(
        fa,
        spec.fit(&train, 1)
            .unwrap()
            .transform(&train, &none)
            .unwrap()
    );
    assert_eq!(
        a.kmeans_dictionary().map(|d| d.centroids().to_vec()),
        Some(
            Dictionary::fit(&train, &small_params(), 1)
                .unwrap()
                .centroids()
                .to_vec()
        )
    );

    spec.kmeans.patch_size = 13;
    let err = spec.check(shape).unwrap_err().to_string();
    assert!(err.contains("kmeans.patch_size"), "{err}");
}

/// Reads `n` images of one CIFAR-10 binary batch (1 label byte + 3072 planar RGB bytes).
fn read_cifar(path: &std::path::Path, n: usize) -> Images {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shape = ImageShape::new(32, 32, 3);
    let mut pixels = Vec::with_capacity(n * 3072);
    for record in bytes.chunks_exact(3073).take(n) {
        let planes = &record[1..];
        for i in 0..1024 {
            pixels.extend_from_slice(&[planes[i], planes[1024 + i], planes[2048 + i]]);
        }
    }
    Images::new(shape, pixels).unwrap()
}

#[test]
#[ignore = "needs CIFAR-10 under WB_DATA_DIR"]
fn real_cifar10_subset_gives_finite_features() {
    let dir = std::env::var("WB_DATA_DIR").expect("WB_DATA_DIR");
    let base = std::path::Path::new(&dir).join("cifar-10-batches-bin");
    let train = read_cifar(&base.join("data_batch_1.bin"), 2000);
    let test = read_cifar(&base.join("test_batch.bin"), 200);
    let params = Params {
        centroids: 100,
        patches: 20_000,
        ..Params::default()
    };
    let dict = Dictionary::fit(&train, &params, 0).unwrap();
    assert_eq!(dict.patch_dim(), 108);
    let f = features(&dict, &test);
    assert!(f.iter().all(|row| row.len() == 400));
    assert!(f.iter().flatten().all(|v| v.is_finite() && *v >= 0.0));
    // Every image activates some atoms, and the atoms are not all alike.
    assert!(f.iter().all(|row| row.iter().any(|&v| v > 0.0)));
    let inertia = dict.inertia();
    assert!(inertia.last().unwrap() < &inertia[0], "{inertia:?}");
}
