//! Gabor bank: parity with scikit-image 0.26 (fixtures, `#[ignore]`d: run with
//! `WB_FIXTURES_DIR=/work/shared/fixtures cargo test -p wb-features --test gabor -- --include-ignored`)
//! and properties checked on images generated here.

use std::f64::consts::PI;
use std::path::PathBuf;

use serde_json::Value;
use wb_data::{ImageShape, ImageView, Images};
use wb_features::gabor::{self, Convolution, Gabor, Params};
use wb_features::{Extractor, FeatureError};

// ---------------------------------------------------------------- fixtures

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("WB_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "WB_FIXTURES_DIR is not set: point it at the directory holding gabor_skimage.json and \
             images.json (e.g. WB_FIXTURES_DIR=/work/shared/fixtures)"
        ),
    }
}

fn load(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// A fixture image as (shape, rgb bytes).
fn fixture_image(images: &Value, name: &str) -> (ImageShape, Vec<u8>) {
    let img = &images["images"][name];
    let h = img["height"].as_u64().expect("height") as usize;
    let w = img["width"].as_u64().expect("width") as usize;
    let rgb: Vec<u8> = img["rgb"]
        .as_array()
        .expect("rgb")
        .iter()
        .map(|x| x.as_u64().expect("byte") as u8)
        .collect();
    (ImageShape::new(h, w, 3), rgb)
}

/// A one-frequency bank holding the filter at `theta` (orientations 4 covers 0, π/4, π/2, 3π/4),
/// and that filter's index in it.
fn bank_with(frequency: f64, theta: f64, bandwidth: f64, shape: ImageShape) -> (Gabor, usize) {
    bank_with_method(frequency, theta, bandwidth, shape, Convolution::Separable)
}

fn bank_with_method(
    frequency: f64,
    theta: f64,
    bandwidth: f64,
    shape: ImageShape,
    method: Convolution,
) -> (Gabor, usize) {
    let params = Params {
        frequencies: vec![frequency],
        orientations: 4,
        bandwidth,
        grid: 1,
        ..Params::default()
    };
    let bank = Gabor::with_convolution(&params, shape, method).expect("valid bank");
    let index = bank
        .filters()
        .iter()
        .position(|f| (f.theta - theta).abs() < 1e-12)
        .unwrap_or_else(|| panic!("no filter at theta {theta}"));
    (bank, index)
}

fn max_abs_diff(a: impl IntoIterator<Item = f64>, b: &[f64]) -> f64 {
    a.into_iter()
        .zip(b)
        .fold(0f64, |m, (x, &y)| m.max((x - y).abs()))
}

#[test]
#[ignore = "needs WB_FIXTURES_DIR"]
fn kernels_match_skimage() {
    let fixture = load("gabor_skimage.json");
    let cases = fixture["kernels"].as_array().expect("kernels");
    assert_eq!(cases.len(), 12);
    for case in cases {
        let f = case["frequency"].as_f64().unwrap();
        let theta = case["theta"].as_f64().unwrap();
        let b = case["bandwidth"].as_f64().unwrap();
        let shape = f64s(&case["shape"]);
        let real = f64s(&case["real"]);
        let imag = f64s(&case["imag"]);

        // The f64 2-D kernel: same extent, values to rounding.
        let k = gabor::kernel(f, theta, b, 3.0);
        assert_eq!(
            [k.size() as f64, k.size() as f64],
            [shape[0], shape[1]],
            "kernel extent for f={f} theta={theta}"
        );
        let err = max_abs_diff(k.real.iter().copied(), &real)
            .max(max_abs_diff(k.imag.iter().copied(), &imag));
        assert!(err < 1e-12, "kernel f={f} theta={theta}: max error {err:e}");
        eprintln!(
            "kernel f={f} theta={theta:.4} {0}x{0}: f64 max error {err:.1e}",
            k.size()
        );

        // The fast separable filter, probed with a unit impulse far from the borders: its
        // response is the kernel itself (f32, so to ~1e-9).
        let r = k.radius;
        let side = 4 * r + 3;
        let mut pixels = vec![0u8; side * side];
        pixels[(side / 2) * side + side / 2] = 255;
        let shape = ImageShape::new(side, side, 1);
        for method in [Convolution::Separable, Convolution::Direct2d] {
            let (bank, index) = bank_with_method(f, theta, b, shape, method);
            let resp = &bank.responses(ImageView::new(shape, &pixels).unwrap())[index];
            let size = 2 * r + 1;
            let mut err = 0f64;
            for ky in 0..size {
                for kx in 0..size {
                    let at = (side / 2 - r + ky) * side + (side / 2 - r + kx);
                    err = err.max((resp.real[at] as f64 - real[ky * size + kx]).abs());
                    err = err.max((resp.imag[at] as f64 - imag[ky * size + kx]).abs());
                }
            }
            assert!(
                err < 1e-8,
                "{method:?} impulse response f={f} theta={theta}: max error {err:e}"
            );
            eprintln!("  {method:?} impulse response: max error {err:.1e}");
        }
    }
}

#[test]
#[ignore = "needs WB_FIXTURES_DIR"]
fn responses_and_magnitude_stats_match_skimage() {
    let fixture = load("gabor_skimage.json");
    let images = load("images.json");
    let cases = fixture["responses"].as_array().expect("responses");
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["image"].as_str().unwrap();
        let f = case["frequency"].as_f64().unwrap();
        let theta = case["theta"].as_f64().unwrap();
        let b = case["bandwidth"].as_f64().unwrap();
        assert_eq!(case["mode"].as_str(), Some("reflect"));
        let real = f64s(&case["real"]);
        let imag = f64s(&case["imag"]);
        let (shape, rgb) = fixture_image(&images, name);
        let view = ImageView::new(shape, &rgb).unwrap();

        // f64 reference: rgb2gray and scipy.ndimage.convolve(mode='reflect'), to rounding.
        let gray = gabor::gray_image(view);
        let k = gabor::kernel(f, theta, b, 3.0);
        let ref_re = gabor::convolve_reflect(&gray, shape.height, shape.width, &k.real, k.radius);
        let ref_im = gabor::convolve_reflect(&gray, shape.height, shape.width, &k.imag, k.radius);
        let err = max_abs_diff(ref_re.iter().copied(), &real)
            .max(max_abs_diff(ref_im.iter().copied(), &imag));
        assert!(
            err < 1e-12,
            "{name} f={f} theta={theta}: reference error {err:e}"
        );
        eprintln!("{name} f={f} theta={theta:.4}: f64 reference max error {err:.1e}");

        // The fast path users get (and the direct f32 one), to 1e-6.
        for method in [Convolution::Separable, Convolution::Direct2d] {
            let (bank, index) = bank_with_method(f, theta, b, shape, method);
            let resp = &bank.responses(view)[index];
            let err = max_abs_diff(resp.real.iter().map(|&v| v as f64), &real)
                .max(max_abs_diff(resp.imag.iter().map(|&v| v as f64), &imag));
            assert!(
                err < 1e-6,
                "{method:?} {name} f={f} theta={theta}: response error {err:e}"
            );
            eprintln!("  {method:?} f32 response max error {err:.1e}");
        }

        // Features: whole-image mean and variance of the magnitude (grid 1: only those).
        let (bank, index) = bank_with(f, theta, b, shape);
        let mut out = vec![0f32; bank.dim(shape)];
        bank.extract(view, &mut out);
        let (mean, var) = (out[2 * index] as f64, out[2 * index + 1] as f64);
        let want_mean = case["magnitude_mean"].as_f64().unwrap();
        let want_var = case["magnitude_var"].as_f64().unwrap();
        assert!(
            (mean - want_mean).abs() < 1e-6 && (mean - want_mean).abs() < 1e-4 * want_mean,
            "{name} f={f} theta={theta}: magnitude mean {mean} vs {want_mean}"
        );
        assert!(
            (var - want_var).abs() < 1e-6 && (var - want_var).abs() < 1e-4 * want_var,
            "{name} f={f} theta={theta}: magnitude variance {var} vs {want_var}"
        );
        eprintln!(
            "  magnitude mean error {:.1e} (relative {:.1e}), variance error {:.1e} (relative {:.1e})",
            (mean - want_mean).abs(),
            (mean - want_mean).abs() / want_mean,
            (var - want_var).abs(),
            (var - want_var).abs() / want_var
        );
    }
}

// ---------------------------------------------------------------- generated images

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect()
}

/// 128 + 100 cos(2π f (x cos θ + y sin θ)): a grating the (f, θ) filter is tuned to.
fn grating(height: usize, width: usize, frequency: f64, theta: f64) -> Vec<u8> {
    let (st, ct) = theta.sin_cos();
    (0..height * width)
        .map(|i| {
            let (y, x) = ((i / width) as f64, (i % width) as f64);
            (128.0 + 100.0 * (2.0 * PI * frequency * (x * ct + y * st)).cos()).round() as u8
        })
        .collect()
}

fn features(params: &Params, shape: ImageShape, pixels: &[u8]) -> Vec<f32> {
    let bank = Gabor::new(params, shape).expect("valid bank");
    let mut out = vec![f32::NAN; bank.dim(shape)];
    bank.extract(ImageView::new(shape, pixels).unwrap(), &mut out);
    out
}

#[test]
fn default_bank_has_320_values_in_documented_order() {
    let params = Params::default();
    assert_eq!(params.filter_count(), 32);
    assert_eq!(params.dim(), 320);
    let shape = ImageShape::new(32, 32, 3);
    let bank = Gabor::new(&params, shape).unwrap();
    assert_eq!(bank.dim(shape), 320);
    assert_eq!(bank.name(), "gabor");
    // Frequency-major, orientations k·π/8; kernels 35x35 (f = 0.1, θ = 0) down to 7x7.
    let f = bank.filters();
    assert_eq!((f[0].frequency, f[0].theta), (0.1, 0.0));
    assert_eq!((f[10].frequency, f[10].theta), (0.2, 2.0 * PI / 8.0));
    assert_eq!(f[0].radius, 17);
    assert_eq!((f[24].frequency, f[24].theta, f[24].radius), (0.4, 0.0, 5));
    assert_eq!((f[26].theta, f[26].radius), (2.0 * PI / 8.0, 3));
    let out = features(&params, shape, &noise(shape.len(), 1));
    assert!(out.iter().all(|v| v.is_finite()));
    // Whole-image mean is the pixel-weighted mean of the four cell means (16x16 cells).
    for filter in 0..32 {
        let block = &out[filter * 10..filter * 10 + 10];
        let cells = (block[2] + block[4] + block[6] + block[8]) / 4.0;
        assert!((block[0] - cells).abs() < 1e-6 * block[0].abs().max(1e-3));
        assert!(
            block.iter().skip(1).step_by(2).all(|&v| v >= 0.0),
            "variances"
        );
    }
}

#[test]
fn fast_paths_equal_direct_f64_convolution_on_odd_sizes() {
    // Widths not a multiple of 16 and images smaller than the kernel exercise the padding,
    // the periodic reflection and the ignored extra columns.
    for &(h, w, c) in &[(28, 28, 1), (13, 21, 3), (40, 24, 3), (9, 17, 1)] {
        let shape = ImageShape::new(h, w, c);
        let pixels = noise(shape.len(), (h * 100 + w) as u64);
        let view = ImageView::new(shape, &pixels).unwrap();
        let gray = gabor::gray_image(view);
        let params = Params {
            frequencies: vec![0.15, 0.3, 0.45],
            orientations: 6,
            ..Params::default()
        };
        for method in [Convolution::Separable, Convolution::Direct2d] {
            let bank = Gabor::with_convolution(&params, shape, method).unwrap();
            let responses = bank.responses(view);
            for (filter, resp) in bank.filters().iter().zip(&responses) {
                let k = gabor::kernel(filter.frequency, filter.theta, params.bandwidth, 3.0);
                let re = gabor::convolve_reflect(&gray, h, w, &k.real, k.radius);
                let im = gabor::convolve_reflect(&gray, h, w, &k.imag, k.radius);
                let err = max_abs_diff(resp.real.iter().map(|&v| v as f64), &re)
                    .max(max_abs_diff(resp.imag.iter().map(|&v| v as f64), &im));
                assert!(
                    err < 1e-6,
                    "{method:?} {h}x{w}x{c} f={} theta={}: error {err:e}",
                    filter.frequency,
                    filter.theta
                );
            }
        }
    }
}

#[test]
fn constant_images_give_finite_flat_features() {
    let shape = ImageShape::new(32, 32, 3);
    for value in [0u8, 128, 255] {
        let out = features(&Params::default(), shape, &vec![value; shape.len()]);
        for filter in 0..16 {
            let block = &out[filter * 10..filter * 10 + 10];
            assert!(
                block.iter().all(|v| v.is_finite()),
                "value {value}: {block:?}"
            );
            // Reflect borders extend a constant image with itself: the response is the same
            // everywhere, so every region has the same mean and no variance.
            for region in 0..5 {
                assert!((block[2 * region] - block[0]).abs() <= 1e-6);
                assert!(block[2 * region + 1].abs() <= 1e-10);
            }
            if value == 0 {
                assert_eq!(block[0], 0.0);
            }
        }
    }
}

#[test]
fn gratings_excite_the_matching_filter_most() {
    let shape = ImageShape::new(32, 32, 1);
    // The peer's 16-filter bank: neighbouring orientations 45° apart.
    let params = Params {
        orientations: 4,
        ..Params::default()
    };
    let bank = Gabor::new(&params, shape).unwrap();
    for (want, filter) in bank.filters().iter().enumerate() {
        let pixels = grating(32, 32, filter.frequency, filter.theta);
        let mut out = vec![0f32; bank.dim(shape)];
        bank.extract(ImageView::new(shape, &pixels).unwrap(), &mut out);
        let means: Vec<f32> = (0..16).map(|i| out[i * 10]).collect();
        let best = (0..16)
            .max_by(|&a, &b| means[a].total_cmp(&means[b]))
            .unwrap();
        assert_eq!(
            best, want,
            "grating f={} theta={}: mean magnitudes {means:?}",
            filter.frequency, filter.theta
        );
    }
    // Vertical stripes (varying along x) are θ = 0; horizontal ones θ = π/2.
    let vertical = grating(32, 32, 0.2, 0.0);
    let out = features(&params, shape, &vertical);
    assert!(
        out[40] > 5.0 * out[60],
        "θ=0 {} vs θ=π/2 {}",
        out[40],
        out[60]
    );
}

#[test]
fn extraction_is_deterministic_across_threads() {
    let shape = ImageShape::new(32, 32, 3);
    let pixels = noise(shape.len(), 7);
    let a = features(&Params::default(), shape, &pixels);
    let b = std::thread::spawn(move || features(&Params::default(), shape, &pixels))
        .join()
        .unwrap();
    assert_eq!(a, b);
}

fn rejects(params: Params, shape: ImageShape, param: &str) {
    match Gabor::new(&params, shape) {
        Err(FeatureError::InvalidParam { param: p, reason }) => {
            assert_eq!(p, param, "reason: {reason}");
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("{params:?}: unexpected error {other}"),
        Ok(_) => panic!("{params:?} on {shape:?} should be rejected"),
    }
}

#[test]
fn bad_parameters_are_rejected_with_the_parameter_named() {
    let shape = ImageShape::new(32, 32, 3);
    let with = |f: &dyn Fn(&mut Params)| {
        let mut p = Params::default();
        f(&mut p);
        p
    };
    rejects(with(&|p| p.frequencies.clear()), shape, "gabor.frequencies");
    for bad in [0.0, -0.1, 0.5, 0.7, f64::NAN, f64::INFINITY] {
        rejects(
            with(&|p| p.frequencies = vec![0.2, bad]),
            shape,
            "gabor.frequencies",
        );
    }
    rejects(with(&|p| p.orientations = 0), shape, "gabor.orientations");
    rejects(
        with(&|p| p.orientations = 1000),
        shape,
        "gabor.orientations",
    );
    for bad in [0.0, -1.0, f64::NAN] {
        rejects(with(&|p| p.bandwidth = bad), shape, "gabor.bandwidth");
        rejects(with(&|p| p.n_stds = bad), shape, "gabor.n_stds");
    }
    rejects(with(&|p| p.grid = 0), shape, "gabor.grid");
    rejects(with(&|p| p.grid = 33), shape, "gabor.grid");
    // f = 0.01 needs a 339x339 kernel: more than the 32-pixel image can feed.
    rejects(
        with(&|p| p.frequencies = vec![0.01]),
        shape,
        "gabor.frequencies",
    );
    rejects(with(&|p| p.bandwidth = 0.05), shape, "gabor.frequencies");
    rejects(
        Params::default(),
        ImageShape::new(32, 32, 2),
        "image channels",
    );
    // The message says what to do.
    let err = Gabor::new(&with(&|p| p.frequencies = vec![0.01]), shape).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("kernel") && text.contains("use frequencies"),
        "{text}"
    );
    // Small images: the default bank's 35x35 kernel still fits a 28x28 MNIST digit
    // (radius 17 ≤ 28) but not an 8x8 image.
    assert!(Gabor::new(&Params::default(), ImageShape::new(28, 28, 1)).is_ok());
    rejects(
        Params::default(),
        ImageShape::new(8, 8, 1),
        "gabor.frequencies",
    );
}

#[test]
fn params_serde_defaults_and_round_trip() {
    let empty: Params = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, Params::default());
    let partial: Params = serde_json::from_str(r#"{"orientations": 6}"#).unwrap();
    assert_eq!(partial.orientations, 6);
    assert_eq!(partial.frequencies, vec![0.1, 0.2, 0.3, 0.4]);
    let custom = Params {
        frequencies: vec![0.25],
        orientations: 8,
        bandwidth: 1.5,
        n_stds: 2.5,
        grid: 3,
    };
    let back: Params = serde_json::from_str(&serde_json::to_string(&custom).unwrap()).unwrap();
    assert_eq!(back, custom);
    assert_eq!(custom.dim(), 8 * (1 + 9) * 2);
}

#[test]
fn grid_three_pools_ten_regions() {
    let params = Params {
        frequencies: vec![0.3],
        orientations: 2,
        grid: 3,
        ..Params::default()
    };
    let shape = ImageShape::new(20, 31, 1);
    // Left third bright noise, rest black: cells in column 0 have energy, others far less.
    let mut pixels = vec![0u8; shape.len()];
    let n = noise(shape.len(), 3);
    for y in 0..20 {
        for x in 0..10 {
            pixels[y * 31 + x] = n[y * 31 + x];
        }
    }
    let out = features(&params, shape, &pixels);
    assert_eq!(out.len(), 2 * 10 * 2);
    for filter in 0..2 {
        let block = &out[filter * 20..filter * 20 + 20];
        for cy in 0..3 {
            let left = block[2 + 2 * (cy * 3)];
            let right = block[2 + 2 * (cy * 3 + 2)];
            assert!(left > 10.0 * right, "cell row {cy}: {left} vs {right}");
        }
    }
}

#[test]
fn spec_builds_the_gabor_part() {
    let spec = wb_features::FeatureSpec::parse("raw,gabor").unwrap();
    assert_eq!(spec.gabor, Params::default());
    let shape = ImageShape::new(32, 32, 3);
    let mut pixels = noise(shape.len() * 3, 11);
    pixels[..shape.len()].fill(90);
    let images = Images::new(shape, pixels).unwrap();
    let fitted = spec.fit(&images, 0).unwrap();
    assert_eq!(fitted.dim(), 3072 + 320);
    let x = fitted.transform(&images, &|_| {}).unwrap();
    assert_eq!(x.dim(), (3, 3392));
    assert!(x.iter().all(|v| v.is_finite()));
    let direct = features(&Params::default(), shape, images.get(1).pixels);
    assert_eq!(x.row(1).as_slice().unwrap()[3072..], direct[..]);

    let mut bad = spec.clone();
    bad.gabor.orientations = 0;
    assert!(matches!(
        bad.check(shape),
        Err(FeatureError::InvalidParam { ref param, .. }) if param == "gabor.orientations"
    ));
}

#[test]
fn render_bank_draws_one_cell_per_filter() {
    let params = Params {
        orientations: 4,
        ..Params::default()
    };
    let img = gabor::render_bank(&params, 40).unwrap();
    // 4 orientations across, 4 frequencies down, 40-pixel cells, 2-pixel gaps.
    assert_eq!(img.dimensions(), (2 + 4 * 42, 2 + 4 * 42));
    // The real part peaks at the kernel centre: white there in every cell.
    for r in 0..4 {
        for c in 0..4 {
            let centre = img.get_pixel(2 + c * 42 + 20, 2 + r * 42 + 20);
            assert!(centre.0[0] >= 250, "cell ({r}, {c}) centre {centre:?}");
        }
    }
    // θ = 0 (column 0) varies along x: the centre row of a cell is not constant...
    let row: Vec<u8> = (0..40).map(|x| img.get_pixel(2 + x, 2 + 20).0[0]).collect();
    assert!(row.iter().max() != row.iter().min());
    // ...while down the centre column (x = 0) it is cos(0) times the envelope: never below
    // mid-grey.
    let col: Vec<u8> = (0..40).map(|y| img.get_pixel(2 + 20, 2 + y).0[0]).collect();
    assert!(col.iter().all(|&v| v >= 127), "{col:?}");
    assert!(gabor::render_bank(&params, 0).is_err());
    let mut bad = params.clone();
    bad.frequencies = vec![0.6];
    assert!(gabor::render_bank(&bad, 20).is_err());
}

#[test]
fn portable_build_matches_the_dispatched_one() {
    // On AVX2 machines `Gabor::new` runs the AVX2+FMA code; the portable build is what other
    // CPUs get. Same filter, different rounding (FMA), so equal to ~1e-7.
    let shape = ImageShape::new(28, 28, 1);
    let pixels = noise(shape.len(), 5);
    let view = ImageView::new(shape, &pixels).unwrap();
    for method in [Convolution::Separable, Convolution::Direct2d] {
        let fast = Gabor::with_convolution(&Params::default(), shape, method).unwrap();
        let portable = fast.clone().portable_only();
        for (a, b) in fast.responses(view).iter().zip(portable.responses(view)) {
            let err = max_abs_diff(
                a.real.iter().map(|&v| v as f64),
                &b.real.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            )
            .max(max_abs_diff(
                a.imag.iter().map(|&v| v as f64),
                &b.imag.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            ));
            assert!(err < 1e-6, "{method:?}: {err:e}");
        }
        let mut x = vec![0f32; 320];
        let mut y = vec![0f32; 320];
        fast.extract(view, &mut x);
        portable.extract(view, &mut y);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1e-2), "{a} vs {b}");
        }
    }
}
