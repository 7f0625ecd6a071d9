//! The k-means patch dictionary (Coates, Lee & Ng 2011): fitting, whitening, encoding
//! against a naive per-patch reference, serialisation, parameter checks, and (ignored by
//! default) a real CIFAR-10 smoke test reading `WB_DATA_DIR`.

use wb_data::{ImageShape, Images};
use wb_features::kmeans::{
    self, symmetric_eigen, Dictionary, DictionarySource, Encoder, Params, Pooling,
};
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
        ..Params::default()
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
        ..Params::default()
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

/// `x · c` as the library's triangle encoder computes it: in int8 when
/// [`kmeans::int8_products`] (each vector scaled by `max|v| / 127`, rounded to nearest even, the
/// integer sum exact), else exactly.
fn triangle_dot(x: &[f32], c: &[f32]) -> f64 {
    if !kmeans::int8_products() {
        return x
            .iter()
            .zip(c)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
    }
    let quantized = |v: &[f32]| -> (f32, Vec<i64>) {
        let scale = v.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0;
        let q = v
            .iter()
            .map(|&x| {
                if scale > 0.0 {
                    (x / scale).round_ties_even() as i64
                } else {
                    0
                }
            })
            .collect();
        (scale, q)
    };
    let ((sx, qx), (sc, qc)) = (quantized(x), quantized(c));
    let exact: i64 = qx.iter().zip(&qc).map(|(a, b)| a * b).sum();
    exact as f64 * f64::from(sx * sc)
}

/// `‖x − c‖` from the norms and [`triangle_dot`], as the library's triangle encoder.
fn triangle_distance(x: &[f32], c: &[f32]) -> f64 {
    let sq = |v: &[f32]| v.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>();
    (sq(x) + sq(c) - 2.0 * triangle_dot(x, c)).max(0.0).sqrt()
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
                .map(|c| triangle_distance(&w, c))
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
            ..Params::default()
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
        (
            Params {
                alpha: -0.25,
                ..base.clone()
            },
            "kmeans.alpha",
        ),
        (
            Params {
                alpha: f32::NAN,
                encoder: Encoder::Soft,
                ..base.clone()
            },
            "kmeans.alpha",
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
    // Random patches need no k-means pass.
    let patches = Params {
        dictionary: DictionarySource::Patches,
        iterations: 0,
        ..base.clone()
    };
    assert!(Dictionary::fit(&train, &patches, 0).is_ok());
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

/// Every whitened stride-1 patch of `img`, row-major over the patch grid, in `f64`.
fn whitened_patches(dict: &Dictionary, img: wb_data::ImageView<'_>) -> Vec<Vec<f64>> {
    let p = dict.params().patch_size;
    let (rows, cols) = (img.height() - p + 1, img.width() - p + 1);
    let mut out = Vec::with_capacity(rows * cols);
    for y in 0..rows {
        for x in 0..cols {
            let mut patch = Vec::with_capacity(dict.patch_dim());
            for dy in 0..p {
                for dx in 0..p {
                    for c in 0..img.channels() {
                        patch.push(f32::from(img.get(y + dy, x + dx, c)));
                    }
                }
            }
            let w = dict.whiten_patch(&patch).unwrap();
            out.push(w.iter().map(|&v| f64::from(v)).collect());
        }
    }
    out
}

/// The pooling regions written out independently of the library: each region is a set of
/// (row band, column band) of a `side x side` cut with edges at MATLAB's round(i n / side).
fn naive_regions(pool: Pooling, rows: usize, cols: usize) -> Vec<Vec<(usize, usize)>> {
    let cut = |n: usize, side: usize| -> Vec<std::ops::Range<usize>> {
        let edge = |i: usize| ((i * n) as f64 / side as f64 + 0.5).floor() as usize;
        (0..side).map(|i| edge(i)..edge(i + 1)).collect()
    };
    let grid = |side: usize| -> Vec<Vec<(usize, usize)>> {
        let (rb, cb) = (cut(rows, side), cut(cols, side));
        let mut regions = Vec::new();
        for r in &rb {
            for c in &cb {
                let mut cells = Vec::new();
                for y in r.clone() {
                    for x in c.clone() {
                        cells.push((y, x));
                    }
                }
                regions.push(cells);
            }
        }
        regions
    };
    match pool {
        Pooling::Quadrants => grid(2),
        Pooling::Grid3x3 => grid(3),
        Pooling::Pyramid => [grid(1), grid(2), grid(4)].concat(),
    }
}

/// The encoders written the slow, obvious way in `f64`, from the formulas in the docs.
fn naive_encode(dict: &Dictionary, img: wb_data::ImageView<'_>) -> Vec<f32> {
    let params = dict.params();
    let p = params.patch_size;
    let k = dict.num_centroids();
    let d = dict.patch_dim();
    let (rows, cols) = (img.height() - p + 1, img.width() - p + 1);
    let atoms: Vec<Vec<f64>> = dict
        .centroids()
        .chunks_exact(d)
        .map(|c| c.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let unit: Vec<Vec<f64>> = atoms
        .iter()
        .map(|c| {
            let n = c.iter().map(|v| v * v).sum::<f64>().sqrt();
            c.iter()
                .map(|v| if n > 0.0 { v / n } else { 0.0 })
                .collect()
        })
        .collect();
    let alpha = f64::from(params.alpha);
    let per_position: Vec<Vec<f64>> = whitened_patches(dict, img)
        .iter()
        .map(|x| match params.encoder {
            Encoder::Triangle => {
                let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let z: Vec<f64> = dict
                    .centroids()
                    .chunks_exact(d)
                    .map(|c| triangle_distance(&x, c))
                    .collect();
                let mean = z.iter().sum::<f64>() / k as f64;
                z.iter().map(|zj| (mean - zj).max(0.0)).collect()
            }
            Encoder::Soft => {
                let dots: Vec<f64> = unit
                    .iter()
                    .map(|c| c.iter().zip(x).map(|(a, b)| a * b).sum())
                    .collect();
                let mut f: Vec<f64> = dots.iter().map(|s| (s - alpha).max(0.0)).collect();
                f.extend(dots.iter().map(|s| (-s - alpha).max(0.0)));
                f
            }
            Encoder::Omp1 => {
                let dots: Vec<f64> = unit
                    .iter()
                    .map(|c| c.iter().zip(x).map(|(a, b)| a * b).sum())
                    .collect();
                let mut best = 0;
                for (j, s) in dots.iter().enumerate() {
                    if s.abs() > dots[best].abs() {
                        best = j;
                    }
                }
                let mut f = vec![0.0; 2 * k];
                f[best] = dots[best].max(0.0);
                f[k + best] = (-dots[best]).max(0.0);
                f
            }
        })
        .collect();
    let width = per_position[0].len();
    let mut out = Vec::new();
    for region in naive_regions(params.pool, rows, cols) {
        let mut acc = vec![0f64; width];
        for (y, x) in region {
            for (a, v) in acc.iter_mut().zip(&per_position[y * cols + x]) {
                *a += v;
            }
        }
        out.extend(acc);
    }
    out.iter().map(|&v| v as f32).collect()
}

fn all_choices() -> Vec<(Encoder, DictionarySource, Pooling)> {
    let mut v = Vec::new();
    for &e in Encoder::ALL {
        for &s in DictionarySource::ALL {
            for &p in Pooling::ALL {
                v.push((e, s, p));
            }
        }
    }
    v
}

#[test]
fn every_encoder_and_pooling_matches_the_naive_reference() {
    // 37 atoms: not a multiple of the 16-wide kernel panel; 11x13 images with 5x5 patches
    // give a 7x9 grid (63 patches, not a multiple of the 6-row sliver); 9x9 gray with 3x3
    // patches a 7x7 grid.
    for (shape, centroids, patch_size) in [
        (ImageShape::new(11, 13, 3), 37, 5),
        (ImageShape::new(9, 9, 1), 5, 3),
    ] {
        let train = synthetic_images(12, shape, 5);
        let test = synthetic_images(3, shape, 99);
        for (encoder, dictionary, pool) in all_choices() {
            let params = Params {
                centroids,
                patch_size,
                patches: 2000,
                iterations: 3,
                encoder,
                dictionary,
                pool,
                alpha: 0.25,
            };
            let dict = Dictionary::fit(&train, &params, 2).unwrap();
            let regions = pool.regions();
            let per_position = if encoder == Encoder::Triangle {
                centroids
            } else {
                2 * centroids
            };
            assert_eq!(dict.dim(shape), regions * per_position, "{params:?}");
            assert_eq!(dict.feature_dim(), regions * per_position);
            for (img, got) in test.iter().zip(features(&dict, &test)) {
                let want = naive_encode(&dict, img);
                assert_eq!(got.len(), want.len(), "{params:?}");
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 2e-4 * scale,
                        "{encoder:?}/{dictionary:?}/{pool:?} {shape:?} feature {i}: fast {g}, naive {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn features_are_non_negative_and_each_encoder_has_its_sparsity() {
    // Images the size of one patch: a single position, so each region holds one
    // position's features (or none) and the per-position structure is visible.
    let train_shape = ImageShape::new(10, 10, 3);
    let train = synthetic_images(10, train_shape, 21);
    let one = synthetic_images(6, ImageShape::new(4, 4, 3), 22);
    let k = 12;
    for &encoder in Encoder::ALL {
        let params = Params {
            encoder,
            ..small_params()
        };
        let dict = Dictionary::fit(&train, &params, 4).unwrap();
        let f = features(&dict, &one);
        for row in &f {
            assert_eq!(row.len(), 4 * dict.features_per_position());
            assert!(
                row.iter().all(|v| v.is_finite() && *v >= 0.0),
                "{encoder:?}"
            );
            // A single position lands in the top-left quadrant (round(1/2) = 1 row in the
            // first half); the other three are empty.
            let (last, empty) = row.split_at(dict.features_per_position());
            assert!(empty.iter().all(|&v| v == 0.0), "{encoder:?}");
            let nonzero = last.iter().filter(|&&v| v > 0.0).count();
            match encoder {
                // The nearest atom is below the mean distance; the farthest is not.
                Encoder::Triangle => assert!(nonzero >= 1 && nonzero < k, "{nonzero}"),
                // OMP-1: exactly one atom, in one polarity.
                Encoder::Omp1 => assert_eq!(nonzero, 1),
                // Soft: never both polarities of one atom.
                Encoder::Soft => {
                    assert!(nonzero >= 1);
                    for j in 0..k {
                        assert!(last[j] == 0.0 || last[k + j] == 0.0, "atom {j}");
                    }
                }
            }
        }
    }
    // OMP-1 over a whole image: each patch adds to one entry per region, so the number of
    // non-zero entries of a region is at most its number of patches.
    let params = Params {
        encoder: Encoder::Omp1,
        pool: Pooling::Grid3x3,
        ..small_params()
    };
    let dict = Dictionary::fit(&train, &params, 4).unwrap();
    for row in features(&dict, &train) {
        // 7x7 patch grid cut 2 + 3 + 2 (round(7/3) = 2, round(14/3) = 5): at most 9 per region.
        for region in row.chunks_exact(2 * k) {
            assert!(region.iter().filter(|&&v| v > 0.0).count() <= 9);
        }
    }
}

#[test]
fn soft_threshold_alpha_controls_the_output() {
    let shape = ImageShape::new(10, 10, 3);
    let train = synthetic_images(10, shape, 31);
    let with_alpha = |alpha: f32| {
        let params = Params {
            encoder: Encoder::Soft,
            alpha,
            ..small_params()
        };
        Dictionary::fit(&train, &params, 5).unwrap()
    };
    // alpha = 0: f_k − f_{K+k} = d_kᵀx, so the pooled difference is linear in the patches:
    // the sum of the dot products over each quadrant.
    let dict = with_alpha(0.0);
    let k = dict.num_centroids();
    let d = dict.patch_dim();
    let atoms = dict.atoms();
    for (img, f) in train.iter().zip(features(&dict, &train)) {
        let patches = whitened_patches(&dict, img);
        let total: Vec<f64> = (0..k)
            .map(|j| {
                patches
                    .iter()
                    .map(|x| {
                        x.iter()
                            .zip(&atoms[j * d..(j + 1) * d])
                            .map(|(a, &b)| a * f64::from(b))
                            .sum::<f64>()
                    })
                    .sum()
            })
            .collect();
        for (j, want) in total.iter().enumerate() {
            let got: f64 = (0..4)
                .map(|q| f64::from(f[q * 2 * k + j]) - f64::from(f[q * 2 * k + k + j]))
                .sum();
            assert!(
                (got - want).abs() < 1e-3 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }
    // A larger alpha switches features off, never on; a huge one switches all off.
    let (f0, f1) = (
        features(&with_alpha(0.25), &train),
        features(&with_alpha(1.0), &train),
    );
    let count = |f: &[Vec<f32>]| f.iter().flatten().filter(|&&v| v > 0.0).count();
    assert!(count(&f1) < count(&f0));
    assert!(features(&with_alpha(1e6), &train)
        .iter()
        .flatten()
        .all(|&v| v == 0.0));
    // The atoms of the soft encoder have unit length.
    for atom in atoms.chunks_exact(d) {
        let n: f32 = atom.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "{n}");
    }
}

#[test]
fn random_patch_atoms_are_unit_whitened_training_patches() {
    // Few small gray images, so every stride-1 training patch can be checked.
    let shape = ImageShape::new(7, 7, 1);
    let train = synthetic_images(4, shape, 41);
    let params = Params {
        centroids: 10,
        patch_size: 3,
        patches: 500,
        iterations: 0,
        dictionary: DictionarySource::Patches,
        ..Params::default()
    };
    let dict = Dictionary::fit(&train, &params, 6).unwrap();
    assert!(dict.inertia().is_empty(), "no k-means pass");
    let d = dict.patch_dim();
    let candidates: Vec<Vec<f64>> = train
        .iter()
        .flat_map(|img| whitened_patches(&dict, img))
        .map(|x| {
            let n = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            x.iter().map(|v| v / n).collect()
        })
        .collect();
    let atoms = dict.centroids();
    for (j, atom) in atoms.chunks_exact(d).enumerate() {
        let n: f32 = atom.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "atom {j} norm {n}");
        let nearest = candidates
            .iter()
            .map(|c| {
                c.iter()
                    .zip(atom)
                    .map(|(a, &b)| (a - f64::from(b)).abs())
                    .fold(0.0, f64::max)
            })
            .fold(f64::INFINITY, f64::min);
        assert!(nearest < 1e-4, "atom {j} is no training patch ({nearest})");
    }
    // Drawn without replacement: distinct patches (up to identical image content).
    let distinct: std::collections::HashSet<Vec<u32>> = atoms
        .chunks_exact(d)
        .map(|a| a.iter().map(|v| v.to_bits()).collect())
        .collect();
    assert!(distinct.len() >= 9, "{} distinct atoms", distinct.len());
    // Same seed, same atoms; another seed, others.
    assert_eq!(
        Dictionary::fit(&train, &params, 6).unwrap().centroids(),
        atoms
    );
    assert_ne!(
        Dictionary::fit(&train, &params, 7).unwrap().centroids(),
        atoms
    );
}

#[test]
fn pooling_regions_are_consistent_with_each_other() {
    let shape = ImageShape::new(14, 15, 3);
    let train = synthetic_images(10, shape, 51);
    let fit = |pool| {
        let params = Params {
            encoder: Encoder::Soft,
            pool,
            ..small_params()
        };
        Dictionary::fit(&train, &params, 9).unwrap()
    };
    let (quad, grid3, pyramid) = (
        fit(Pooling::Quadrants),
        fit(Pooling::Grid3x3),
        fit(Pooling::Pyramid),
    );
    assert_eq!(
        quad.centroids(),
        pyramid.centroids(),
        "pooling does not change the fit"
    );
    let width = quad.features_per_position();
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0);
    for ((q, g), p) in features(&quad, &train)
        .iter()
        .zip(features(&grid3, &train))
        .zip(features(&pyramid, &train))
    {
        assert_eq!(p.len(), 21 * width);
        assert_eq!(g.len(), 9 * width);
        for f in 0..width {
            let whole_q: f32 = (0..4).map(|r| q[r * width + f]).sum();
            let whole_g: f32 = (0..9).map(|r| g[r * width + f]).sum();
            assert!(close(p[f], whole_q) && close(p[f], whole_g), "feature {f}");
            // The pyramid's 2x2 level is the quadrant pooling.
            for r in 0..4 {
                assert!(close(p[(1 + r) * width + f], q[r * width + f]));
            }
            // Each quadrant is the sum of its four 4x4 cells.
            let cells: f32 = [0, 1, 4, 5].iter().map(|c| p[(5 + c) * width + f]).sum();
            assert!(close(p[width + f], cells));
        }
    }
}

#[test]
fn encoding_is_deterministic_and_independent_of_the_thread_count() {
    let shape = ImageShape::new(12, 12, 3);
    let train = synthetic_images(40, shape, 61);
    for (encoder, dictionary, pool) in all_choices() {
        let mut spec = FeatureSpec::parse("kmeans").unwrap();
        spec.kmeans = Params {
            encoder,
            dictionary,
            pool,
            ..small_params()
        };
        let none = |_| {};
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let fitted = spec.fit(&train, 3).unwrap();
                    fitted.transform(&train, &none).unwrap()
                })
        };
        let one = run(1);
        assert_eq!(one, run(2), "{encoder:?}/{dictionary:?}/{pool:?}");
        assert_eq!(one, run(1));
    }
}

#[test]
fn dictionaries_saved_before_the_encoder_choice_load_as_triangle_quadrants() {
    let shape = ImageShape::new(10, 10, 3);
    let train = synthetic_images(8, shape, 6);
    let dict = Dictionary::fit(&train, &small_params(), 3).unwrap();
    let mut value = serde_json::to_value(&dict).unwrap();
    let params = value["params"].as_object_mut().unwrap();
    for key in ["encoder", "dictionary", "alpha", "pool"] {
        assert!(params.remove(key).is_some(), "{key} is saved");
    }
    let old: Dictionary = serde_json::from_value(value).unwrap();
    assert_eq!(old.params(), &small_params());
    assert_eq!(features(&old, &train), features(&dict, &train));
    // The names in JSON are the command-line names.
    let soft = Params {
        encoder: Encoder::Omp1,
        pool: Pooling::Grid3x3,
        dictionary: DictionarySource::Patches,
        ..small_params()
    };
    let json = serde_json::to_string(&soft).unwrap();
    assert!(
        json.contains(r#""encoder":"omp1""#)
            && json.contains(r#""pool":"3x3""#)
            && json.contains(r#""dictionary":"patches""#),
        "{json}"
    );
    for (name, want) in [
        ("soft", Encoder::Soft),
        ("omp1", Encoder::Omp1),
        ("triangle", Encoder::Triangle),
    ] {
        assert_eq!(name.parse::<Encoder>().unwrap(), want);
    }
    assert_eq!("pyramid".parse::<Pooling>().unwrap(), Pooling::Pyramid);
    let err = "4x4".parse::<Pooling>().unwrap_err().to_string();
    assert!(err.contains("kmeans.pool") && err.contains("3x3"), "{err}");
}

#[test]
fn a_feature_matrix_larger_than_memory_is_an_error_not_an_abort() {
    // K = 4000, soft (2K per position), pyramid (21 regions): 168,000 values per image;
    // a million images would need 672 GB.
    let shape = ImageShape::new(6, 6, 1);
    let train = synthetic_images(20, shape, 71);
    let mut spec = FeatureSpec::parse("kmeans").unwrap();
    spec.kmeans = Params {
        centroids: 4000,
        patch_size: 6,
        patches: 4000,
        iterations: 1,
        encoder: Encoder::Soft,
        pool: Pooling::Pyramid,
        ..Params::default()
    };
    let fitted = spec.fit(&train, 0).unwrap();
    assert_eq!(fitted.dim(), 168_000);
    let many = Images::new(shape, vec![0u8; 1_000_000 * shape.len()]).unwrap();
    let none = |_| {};
    let err = fitted.transform(&many, &none).unwrap_err().to_string();
    assert!(err.contains("do not fit in memory"), "{err}");
}
