//! HOG and colour-histogram tests: parity with scikit-image on the shared fixtures (ignored by
//! default; run with `WB_FIXTURES_DIR=... cargo test -- --include-ignored`) and behaviour on
//! images generated here.

use std::path::PathBuf;
use std::str::FromStr;

use serde_json::Value;
use wb_data::{ImageShape, ImageView, Images};
use wb_features::color::{self, ColorHistogram};
use wb_features::hog::{
    self, Binning, BlockNorm, BlockWindow, ChannelMode, Gradient, Hog, Luma, Params, Preset,
};
use wb_features::{Extractor, FeatureError, FeatureKind, FeatureSpec, SimdLevel};

// ---------------------------------------------------------------- fixtures

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("WB_FIXTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => panic!(
            "WB_FIXTURES_DIR is not set: point it at the directory holding images.json, \
             hog_skimage.json and hue_histogram.json (e.g. WB_FIXTURES_DIR=/work/shared/fixtures)"
        ),
    }
}

fn load_json(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

struct FixtureImage {
    shape: ImageShape,
    rgb: Vec<u8>,
}

impl FixtureImage {
    fn view(&self) -> ImageView<'_> {
        ImageView::new(self.shape, &self.rgb).expect("fixture image size")
    }
}

fn fixture_image(images: &Value, name: &str) -> FixtureImage {
    let im = &images["images"][name];
    let h = im["height"].as_u64().expect("height") as usize;
    let w = im["width"].as_u64().expect("width") as usize;
    let rgb: Vec<u8> = im["rgb"]
        .as_array()
        .expect("rgb")
        .iter()
        .map(|v| v.as_u64().expect("u8") as u8)
        .collect();
    assert_eq!(rgb.len(), h * w * 3, "{name}");
    FixtureImage {
        shape: ImageShape::new(h, w, 3),
        rgb,
    }
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn skimage_params(p: &Value, channel_mode: ChannelMode) -> Params {
    let ppc = f64s(&p["pixels_per_cell"]);
    let cpb = f64s(&p["cells_per_block"]);
    assert_eq!(ppc[0], ppc[1], "square cells only");
    assert_eq!(cpb[0], cpb[1], "square blocks only");
    let block_norm = BlockNorm::from_str(p["block_norm"].as_str().expect("block_norm"))
        .expect("known block norm");
    Params {
        cell_size: ppc[0] as usize,
        orientations: p["orientations"].as_u64().expect("orientations") as usize,
        block_size: cpb[0] as usize,
        block_norm,
        channel_mode,
        binning: Binning::Hard,
        gradient: Gradient::Central,
        luma: Luma::Rec709,
        block_window: BlockWindow::None,
    }
}

fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "feature length");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y).abs())
        .fold(0.0, f64::max)
}

/// Every case of hog_skimage.json, three ways: from skimage's own grayscale, from the u8 image
/// through our grayscale, and with the dominant-channel gradient.
#[test]
#[ignore = "needs WB_FIXTURES_DIR"]
fn hog_matches_skimage_on_every_fixture_case() {
    let images = load_json("images.json");
    let fixture = load_json("hog_skimage.json");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(
        cases.len() >= 36,
        "expected the full fixture, got {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut worst = [0f64; 3];
    for case in cases {
        let name = case["image"].as_str().expect("image");
        let img = fixture_image(&images, name);
        let (h, w) = (img.shape.height, img.shape.width);
        let expect_gray = f64s(&case["hog_of_gray"]);
        let expect_max = f64s(&case["hog_of_rgb_max_channel"]);
        let gray_input = f64s(&case["gray_input"]);

        let params = skimage_params(&case["params"], ChannelMode::Gray);
        let label = format!("{name} {}", params.describe());
        let hog = Hog::new(params.clone(), img.shape).expect("valid params");
        assert_eq!(hog.dim(img.shape), expect_gray.len(), "{label}: dimension");

        let mut out = vec![0f32; expect_gray.len()];
        hog.extract_gray_f64(&gray_input, h, w, &mut out)
            .expect("gray input");
        let d = max_abs_diff(&out, &expect_gray);
        worst[0] = worst[0].max(d);
        if d > 1e-5 {
            failures.push(format!("{label} from gray_input: max |diff| {d:.3e}"));
        }

        let mut out = vec![0f32; expect_gray.len()];
        hog.extract(img.view(), &mut out);
        let d = max_abs_diff(&out, &expect_gray);
        worst[1] = worst[1].max(d);
        if d > 1e-5 {
            failures.push(format!("{label} from u8 via rgb2gray: max |diff| {d:.3e}"));
        }

        let params = skimage_params(&case["params"], ChannelMode::MaxGradient);
        let hog = Hog::new(params, img.shape).expect("valid params");
        let mut out = vec![0f32; expect_max.len()];
        hog.extract(img.view(), &mut out);
        let d = max_abs_diff(&out, &expect_max);
        worst[2] = worst[2].max(d);
        if d > 1e-5 {
            failures.push(format!("{label} max channel: max |diff| {d:.3e}"));
        }
    }
    eprintln!(
        "worst |diff| over {} cases: gray_input {:.2e}, u8 gray {:.2e}, max channel {:.2e}",
        cases.len(),
        worst[0],
        worst[1],
        worst[2]
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Our grayscale of the u8 images is skimage's `rgb2gray`, bit for bit.
#[test]
#[ignore = "needs WB_FIXTURES_DIR"]
fn grayscale_matches_skimage_rgb2gray_exactly() {
    let images = load_json("images.json");
    let fixture = load_json("hog_skimage.json");
    for case in fixture["cases"].as_array().expect("cases") {
        let name = case["image"].as_str().expect("image");
        let img = fixture_image(&images, name);
        let ours = hog::grayscale(img.view(), Luma::Rec709);
        let theirs = f64s(&case["gray_input"]);
        let differing = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        assert_eq!(
            differing, 0,
            "{name}: {differing} gray values differ from skimage"
        );
    }
}

#[test]
#[ignore = "needs WB_FIXTURES_DIR"]
fn hue_histogram_matches_cs231n_on_every_fixture_case() {
    let images = load_json("images.json");
    let fixture = load_json("hue_histogram.json");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["image"].as_str().expect("image");
        let img = fixture_image(&images, name);
        assert_eq!(f64s(&case["range"]), vec![0.0, 255.0], "{name}: range");
        let params = color::Params {
            mode: color::Mode::Hue,
            bins: case["nbin"].as_u64().expect("nbin") as usize,
        };
        let hist = ColorHistogram::new(params, img.shape).expect("valid params");
        let expect = f64s(&case["fractions"]);
        let mut out = vec![0f32; expect.len()];
        hist.extract(img.view(), &mut out);
        let d = max_abs_diff(&out, &expect);
        if d > 1e-6 {
            failures.push(format!(
                "{name}: max |diff| {d:.3e}: ours {out:?} vs {expect:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------- synthetic images

/// An RGB image from a function of (y, x) -> [r, g, b].
fn rgb_image(
    h: usize,
    w: usize,
    mut f: impl FnMut(usize, usize) -> [u8; 3],
) -> (ImageShape, Vec<u8>) {
    let mut px = Vec::with_capacity(h * w * 3);
    for y in 0..h {
        for x in 0..w {
            px.extend_from_slice(&f(y, x));
        }
    }
    (ImageShape::new(h, w, 3), px)
}

fn gray_image(h: usize, w: usize, f: impl Fn(usize, usize) -> u8) -> (ImageShape, Vec<u8>) {
    rgb_image(h, w, |y, x| {
        let v = f(y, x);
        [v, v, v]
    })
}

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate.
fn noise(h: usize, w: usize, seed: u64) -> (ImageShape, Vec<u8>) {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    rgb_image(h, w, |_, _| {
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        };
        [next(), next(), next()]
    })
}

fn features(params: &Params, shape: ImageShape, px: &[u8]) -> Vec<f32> {
    let hog = Hog::new(params.clone(), shape).expect("valid params");
    let mut out = vec![f32::NAN; hog.dim(shape)];
    hog.extract(ImageView::new(shape, px).expect("size"), &mut out);
    out
}

/// Every block norm, binning, channel mode and gradient; the OpenCV window with every block
/// norm it applies to.
fn all_variants() -> Vec<Params> {
    let mut v = Vec::new();
    for block_norm in BlockNorm::ALL {
        for binning in Binning::ALL {
            for channel_mode in ChannelMode::ALL {
                for gradient in Gradient::ALL {
                    let p = Params {
                        block_norm: *block_norm,
                        binning: *binning,
                        channel_mode: *channel_mode,
                        gradient: *gradient,
                        ..Params::default()
                    };
                    if *block_norm != BlockNorm::None && *binning == Binning::Interpolated {
                        v.push(Params {
                            block_window: BlockWindow::OpenCvGaussian,
                            ..p.clone()
                        });
                    }
                    v.push(p);
                }
            }
        }
    }
    v
}

#[test]
fn a_320x240_image_gives_40x30_cells_of_9_bins_without_blocks() {
    let (shape, px) = noise(240, 320, 1);
    for binning in Binning::ALL {
        let params = Params {
            block_norm: BlockNorm::None,
            binning: *binning,
            ..Params::default()
        };
        assert_eq!(params.cell_grid(shape), (30, 40));
        let f = features(&params, shape, &px);
        assert_eq!(f.len(), 10_800, "{binning}");
        assert!(f.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert!(
            f.iter().filter(|&&v| v > 0.0).count() > 5_000,
            "{binning}: noise has gradients"
        );
    }
}

#[test]
fn dimension_follows_the_block_formula_for_any_image_size() {
    // (height, width, cell, block, orientations) including sizes that are not cell multiples.
    for &(h, w, c, b, n) in &[
        (32, 32, 8, 2, 9),
        (32, 32, 8, 3, 9),
        (32, 32, 4, 3, 12),
        (40, 24, 8, 2, 9),
        (37, 29, 8, 2, 9),
        (37, 29, 5, 1, 7),
        (28, 28, 7, 4, 9),
        (9, 9, 9, 1, 1),
    ] {
        let (shape, px) = noise(h, w, 7);
        let (cy, cx) = (h / c, w / c);
        let params = Params {
            cell_size: c,
            block_size: b,
            orientations: n,
            ..Params::default()
        };
        let expect = (cy - b + 1) * (cx - b + 1) * b * b * n;
        assert_eq!(params.dim(shape), expect, "{h}x{w} c{c} b{b} n{n}");
        assert_eq!(features(&params, shape, &px).len(), expect);
        let unnormalised = Params {
            block_norm: BlockNorm::None,
            ..params
        };
        assert_eq!(unnormalised.dim(shape), cy * cx * n);
    }
}

#[test]
fn constant_images_give_finite_zero_features_in_every_variant() {
    for value in [0u8, 128, 255] {
        let (shape, px) = gray_image(32, 32, |_, _| value);
        for params in all_variants() {
            let f = features(&params, shape, &px);
            assert!(
                f.iter().all(|v| v.is_finite() && *v == 0.0),
                "{}: constant {value} image",
                params.describe()
            );
        }
        let hist = ColorHistogram::new(color::Params::default(), shape).unwrap();
        let mut out = vec![f32::NAN; 10];
        hist.extract(ImageView::new(shape, &px).unwrap(), &mut out);
        assert!(out.iter().all(|v| v.is_finite()));
        assert_eq!(out[0], 1.0, "gray pixels have hue 0");
    }
}

fn invalid_param(err: FeatureError) -> String {
    match err {
        FeatureError::InvalidParam { param, .. } => param,
        other => panic!("expected InvalidParam, got {other}"),
    }
}

#[test]
fn bad_parameters_are_rejected_naming_the_parameter() {
    let shape = ImageShape::new(32, 32, 3);
    let cases = [
        (
            Params {
                cell_size: 33,
                ..Params::default()
            },
            "hog.cell_size",
        ),
        (
            Params {
                cell_size: 0,
                ..Params::default()
            },
            "hog.cell_size",
        ),
        (
            Params {
                orientations: 0,
                ..Params::default()
            },
            "hog.orientations",
        ),
        (
            Params {
                block_size: 5,
                ..Params::default()
            },
            "hog.block_size",
        ),
        (
            Params {
                block_size: 0,
                ..Params::default()
            },
            "hog.block_size",
        ),
    ];
    for (params, name) in cases {
        let err = Hog::new(params.clone(), shape).expect_err(name);
        let msg = err.to_string();
        assert_eq!(invalid_param(err), name, "{msg}");
        assert!(msg.contains(name), "{msg}");
        // The same parameters through the feature spec fail before any work.
        let spec = FeatureSpec {
            hog: params,
            ..FeatureSpec::parse("hog").unwrap()
        };
        assert!(spec.check(shape).is_err());
    }
    // A cell wider than a non-square image is caught on the short side.
    let err = Hog::new(
        Params {
            cell_size: 16,
            ..Params::default()
        },
        ImageShape::new(40, 12, 3),
    )
    .expect_err("cell wider than the image");
    assert!(
        err.to_string().contains("larger than the 40x12 image"),
        "{err}"
    );
    // Blocks are irrelevant without block normalisation.
    assert!(Hog::new(
        Params {
            block_size: 9,
            block_norm: BlockNorm::None,
            ..Params::default()
        },
        shape
    )
    .is_ok());

    for (params, name) in [
        (
            color::Params {
                bins: 0,
                ..Default::default()
            },
            "color.bins",
        ),
        (
            color::Params {
                mode: color::Mode::JointHsv,
                bins: 40,
            },
            "color.bins",
        ),
    ] {
        let err = ColorHistogram::new(params, shape).expect_err(name);
        assert_eq!(invalid_param(err), name);
    }
    let err = ColorHistogram::new(color::Params::default(), ImageShape::new(28, 28, 1))
        .expect_err("gray images have no hue");
    assert_eq!(invalid_param(err), "color");
}

fn cells(params: &Params, shape: ImageShape, px: &[u8]) -> hog::CellGrid {
    Hog::new(params.clone(), shape)
        .unwrap()
        .cell_histograms(ImageView::new(shape, px).unwrap())
        .unwrap()
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
        .0
}

#[test]
fn a_vertical_edge_votes_for_horizontal_gradients() {
    // Dark left half, bright right half: gradient along +x, orientation 0 degrees.
    let (shape, px) = gray_image(32, 32, |_, x| if x < 16 { 20 } else { 220 });
    let hard = cells(
        &Params {
            binning: Binning::Hard,
            ..Params::default()
        },
        shape,
        &px,
    );
    let interp = cells(
        &Params {
            binning: Binning::Interpolated,
            ..Params::default()
        },
        shape,
        &px,
    );
    for row in 0..4 {
        // The edge lies between columns 15 and 16: cells 1 and 2 hold it.
        let h = hard.cell(row, 1);
        assert!(
            h[0] > 0.0 && h[1..].iter().all(|&v| v == 0.0),
            "hard: {h:?}"
        );
        // 0 degrees is the edge between bin 8 (160-180) and bin 0 (0-20): an even split.
        for col in [1, 2] {
            let c = interp.cell(row, col);
            assert!(c[0] > 0.0, "interpolated: {c:?}");
            assert!(
                (c[0] - c[8]).abs() <= 1e-6 * c[0],
                "interpolated split: {c:?}"
            );
            assert!(c[1..8].iter().all(|&v| v == 0.0), "interpolated: {c:?}");
        }
        // Cells 0 and 3 are farther than a cell from the edge: no votes.
        assert!(interp.cell(row, 0).iter().all(|&v| v == 0.0));
        assert!(interp.cell(row, 3).iter().all(|&v| v == 0.0));
    }

    // A horizontal edge: gradient along y, 90 degrees, the centre of bin 4.
    let (shape, px) = gray_image(32, 32, |y, _| if y < 16 { 20 } else { 220 });
    for binning in [Binning::Hard, Binning::Interpolated] {
        let g = cells(
            &Params {
                binning,
                ..Params::default()
            },
            shape,
            &px,
        );
        let c = g.cell(1, 2);
        assert!(c[4] > 0.0, "{binning}: {c:?}");
        assert!(
            c.iter().enumerate().all(|(i, &v)| i == 4 || v == 0.0),
            "{binning}: {c:?}"
        );
    }
}

#[test]
fn interpolated_votes_split_by_distance_to_bin_centres() {
    // A ramp along the diagonal: gradient at 45 degrees everywhere inside (a 2-pixel border
    // aside). 45 deg sits in hard bin 2 (40-60); between the centres 30 (bin 1) and 50 (bin 2)
    // it is 3/4 of the way, so interpolation gives 1/4 to bin 1 and 3/4 to bin 2.
    let (shape, px) = gray_image(32, 32, |y, x| (3 * (x + y)) as u8);
    let hard = cells(
        &Params {
            binning: Binning::Hard,
            block_norm: BlockNorm::None,
            ..Params::default()
        },
        shape,
        &px,
    );
    let interp = cells(
        &Params {
            binning: Binning::Interpolated,
            ..Params::default()
        },
        shape,
        &px,
    );
    let (h, i) = (hard.cell(1, 1), interp.cell(1, 1));
    assert_eq!(argmax(h), 2);
    assert!(
        h.iter().enumerate().all(|(k, &v)| k == 2 || v == 0.0),
        "{h:?}"
    );
    assert!((i[1] / i[2] - 1.0 / 3.0).abs() < 1e-3, "{i:?}");
    assert!(
        i.iter()
            .enumerate()
            .all(|(k, &v)| k == 1 || k == 2 || v == 0.0),
        "{i:?}"
    );
    // An interior cell gets the same mass either way: its bilinear weights sum to one over a
    // uniform gradient field.
    let (sh, si): (f32, f32) = (h.iter().sum(), i.iter().sum());
    assert!((sh - si).abs() < 1e-4 * sh, "{sh} vs {si}");
}

#[test]
fn interpolation_conserves_the_vote_mass_away_from_the_border() {
    // Gradients only in the middle (a disc), so every vote lands inside the grid.
    let (shape, px) = rgb_image(64, 64, |y, x| {
        let d = ((y as f64 - 31.5).powi(2) + (x as f64 - 31.5).powi(2)).sqrt();
        let v = if d < 12.0 { 230 } else { 30 };
        [v, v / 2, 255 - v]
    });
    for channel_mode in ChannelMode::ALL {
        let base = Params {
            block_norm: BlockNorm::None,
            channel_mode: *channel_mode,
            ..Params::default()
        };
        let hard = cells(
            &Params {
                binning: Binning::Hard,
                ..base.clone()
            },
            shape,
            &px,
        );
        let interp = cells(&base, shape, &px);
        let sum = |g: &hog::CellGrid| g.values.iter().map(|&v| v as f64).sum::<f64>();
        assert!(sum(&hard) > 0.0);
        assert!(
            (sum(&hard) - sum(&interp)).abs() < 1e-5 * sum(&hard),
            "{channel_mode}: {} vs {}",
            sum(&hard),
            sum(&interp)
        );
    }
}

#[test]
fn cs231n_binning_centres_bins_on_multiples_of_20_degrees_and_drops_leftward_gradients() {
    let right = gray_image(32, 32, |_, x| (7 * x) as u8);
    let left = gray_image(32, 32, |_, x| (255 - 7 * x) as u8);
    let params = Params::preset(Preset::Cs231n);
    let r = cells(&params, right.0, &right.1);
    let l = cells(&params, left.0, &left.1);
    // atan2(0, +) + 90 = 90 degrees: bin 4 (80-100).
    let c = r.cell(1, 1);
    assert!(
        c[4] > 0.0 && c.iter().enumerate().all(|(i, &v)| i == 4 || v == 0.0),
        "{c:?}"
    );
    // Forward differences: 7/255 per pixel everywhere but the last column.
    assert!(
        (c[4] as f64 - 7.0 / 255.0 * (0.299 + 0.587 + 0.144)).abs() < 1e-6,
        "{c:?}"
    );
    assert!(
        l.values.iter().all(|&v| v == 0.0),
        "gradients pointing left are dropped"
    );
}

#[test]
fn max_gradient_follows_the_strongest_channel() {
    // Red: weak step along x (vertical edge). Blue: strong step along y (horizontal edge).
    let (shape, px) = rgb_image(32, 32, |y, x| {
        [
            if x < 16 { 100 } else { 130 },
            0,
            if y < 16 { 0 } else { 250 },
        ]
    });
    let params = Params {
        binning: Binning::Hard,
        block_norm: BlockNorm::None,
        channel_mode: ChannelMode::MaxGradient,
        ..Params::default()
    };
    let g = cells(&params, shape, &px);
    // Around the crossing both edges exist; the blue one (90 degrees, bin 4) wins.
    let c = g.cell(1, 1);
    assert!(c[4] > 0.0, "{c:?}");
    // Far from the blue edge only the red one is there (0 degrees, bin 0).
    let c = g.cell(0, 1);
    assert!(c[0] > 0.0 && c[4] == 0.0, "{c:?}");
}

#[test]
fn one_channel_images_work() {
    let shape = ImageShape::new(28, 28, 1);
    let px: Vec<u8> = (0..28 * 28).map(|i| ((i * 37) % 251) as u8).collect();
    for params in all_variants() {
        let f = features(&params, shape, &px);
        assert!(f.iter().all(|v| v.is_finite()));
        assert!(f.iter().any(|&v| v > 0.0), "{}", params.describe());
    }
}

#[test]
fn block_normalisations_have_their_norms() {
    let (shape, px) = noise(32, 32, 3);
    let n = 9 * 4;
    for norm in BlockNorm::ALL {
        let params = Params {
            block_norm: *norm,
            ..Params::default()
        };
        let f = features(&params, shape, &px);
        for block in f.chunks(n) {
            let l1: f32 = block.iter().map(|v| v.abs()).sum();
            let l2: f32 = block.iter().map(|v| v * v).sum::<f32>().sqrt();
            match norm {
                BlockNorm::None => {}
                BlockNorm::L1 => assert!((l1 - 1.0).abs() < 1e-3, "{l1}"),
                BlockNorm::L1Sqrt => {
                    let sq: f32 = block.iter().map(|v| v * v).sum();
                    assert!((sq - 1.0).abs() < 1e-3, "{sq}");
                }
                BlockNorm::L2 => assert!((l2 - 1.0).abs() < 1e-3, "{l2}"),
                BlockNorm::L2Hys => {
                    assert!((l2 - 1.0).abs() < 1e-3, "{l2}");
                    // After the clip at 0.2 and the renormalisation, values stay small.
                    assert!(block.iter().all(|&v| v <= 0.2 / 0.2f32.max(l2) + 0.2));
                }
                // OpenCV's final epsilon (1e-3 on a norm near 1) leaves the norm a hair short.
                BlockNorm::L2HysOpenCv => assert!(l2 < 1.0 && l2 > 0.995, "{l2}"),
            }
        }
    }
}

#[test]
fn repeated_and_interleaved_shapes_give_identical_features() {
    // The per-thread scratch buffers are reused across images and shapes.
    let small = noise(32, 32, 11);
    let large = noise(37, 45, 12);
    for params in all_variants() {
        let a = features(&params, small.0, &small.1);
        let _ = features(&params, large.0, &large.1);
        let b = features(&params, small.0, &small.1);
        assert_eq!(a, b, "{}", params.describe());
    }
}

#[test]
fn names_parse_and_print_round_trip() {
    for v in BlockNorm::ALL {
        assert_eq!(BlockNorm::from_str(v.name()).unwrap(), *v);
    }
    assert_eq!(BlockNorm::from_str("L2-Hys").unwrap(), BlockNorm::L2Hys);
    assert_eq!(BlockNorm::from_str("l1-sqrt").unwrap(), BlockNorm::L1Sqrt);
    assert_eq!(
        Binning::from_str("interpolated").unwrap(),
        Binning::Interpolated
    );
    assert_eq!(
        ChannelMode::from_str("max").unwrap(),
        ChannelMode::MaxGradient
    );
    assert_eq!(ChannelMode::from_str("gray").unwrap(), ChannelMode::Gray);
    assert_eq!(Preset::from_str("cs231n").unwrap(), Preset::Cs231n);
    assert_eq!(
        color::Mode::from_str("joint-hsv").unwrap(),
        color::Mode::JointHsv
    );
    let err = BlockNorm::from_str("l3").unwrap_err().to_string();
    assert!(
        err.contains("hog.block_norm") && err.contains("l2-hys"),
        "{err}"
    );
    for v in Binning::ALL {
        assert_eq!(Binning::from_str(&v.to_string()).unwrap(), *v);
    }
    // Serde uses the same names, and missing fields take the defaults.
    let p: Params =
        serde_json::from_str(r#"{"block_norm":"l1-sqrt","channel_mode":"max"}"#).unwrap();
    assert_eq!(p.block_norm, BlockNorm::L1Sqrt);
    assert_eq!(p.channel_mode, ChannelMode::MaxGradient);
    assert_eq!(p.cell_size, 8);
    let back: Params = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    assert!(
        serde_json::from_str::<Params>(r#"{"cell":8}"#).is_err(),
        "unknown fields rejected"
    );
}

// ---------------------------------------------------------------- colour histogram

fn hue_hist(params: color::Params, shape: ImageShape, px: &[u8]) -> Vec<f32> {
    let h = ColorHistogram::new(params.clone(), shape).unwrap();
    let mut out = vec![f32::NAN; params.dim()];
    h.extract(ImageView::new(shape, px).unwrap(), &mut out);
    out
}

#[test]
fn hue_histogram_puts_primaries_in_their_bins() {
    // 255*hue: red 0 (bin 0), yellow 42.5 (bin 1), green 85 (bin 3), cyan 127.5 (bin 5: the
    // edge 127.5 belongs to the upper bin), blue 170 (bin 6), magenta 212.5 (bin 8).
    for (rgb, bin) in [
        ([255, 0, 0], 0),
        ([255, 255, 0], 1),
        ([0, 255, 0], 3),
        ([0, 255, 255], 5),
        ([0, 0, 255], 6),
        ([255, 0, 255], 8),
        ([90, 90, 90], 0),
    ] {
        let (shape, px) = rgb_image(8, 8, |_, _| rgb);
        let h = hue_hist(color::Params::default(), shape, &px);
        assert_eq!(h[bin], 1.0, "{rgb:?}: {h:?}");
        assert_eq!(h.iter().sum::<f32>(), 1.0);
    }
}

#[test]
fn colour_histograms_are_fractions() {
    let (shape, px) = noise(32, 32, 5);
    for (mode, bins, dim, total) in [
        (color::Mode::Hue, 10, 10, 1.0),
        (color::Mode::Hue, 7, 7, 1.0),
        (color::Mode::PerChannelHsv, 8, 24, 3.0),
        (color::Mode::JointHsv, 4, 64, 1.0),
    ] {
        let params = color::Params { mode, bins };
        assert_eq!(params.dim(), dim);
        let h = hue_hist(params, shape, &px);
        assert_eq!(h.len(), dim);
        let sum: f64 = h.iter().map(|&v| v as f64).sum();
        assert!((sum - total).abs() < 1e-5, "{mode}: {sum}");
        assert!(h.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(
            h.iter().filter(|&&v| v > 0.0).count() > dim / 2,
            "{mode}: noise fills bins"
        );
    }
}

#[test]
fn rgb_to_hsv_follows_skimage_conventions() {
    let (h, s, v) = color::rgb_to_hsv([255, 0, 0]);
    assert_eq!((h, s, v), (0.0, 1.0, 1.0));
    // Slightly blue-ish red wraps to just below 1.
    let (h, _, _) = color::rgb_to_hsv([255, 0, 10]);
    assert!(h > 0.99 && h < 1.0, "{h}");
    // Gray: hue and saturation 0.
    assert_eq!(color::rgb_to_hsv([7, 7, 7]), (0.0, 0.0, 7.0 / 255.0));
}

// ---------------------------------------------------------------- rendering and the spec

#[test]
fn glyph_rendering_has_the_scaled_size_and_shows_the_edges() {
    let (shape, px) = gray_image(
        32,
        32,
        |y, x| if (x / 8 + y / 8) % 2 == 0 { 40 } else { 200 },
    );
    let view = ImageView::new(shape, &px).unwrap();
    let img = hog::render_glyphs(view, &Params::default(), 4).unwrap();
    assert_eq!(img.dimensions(), (128, 128));
    let bright = img.pixels().filter(|p| p.0[0] > 200).count();
    let dark = img.pixels().filter(|p| p.0[0] < 100).count();
    assert!(bright > 100, "glyph lines drawn: {bright}");
    assert!(dark > 1000, "background stays dim: {dark}");
    assert!(hog::render_glyphs(view, &Params::default(), 0).is_err());
    let flat = gray_image(32, 32, |_, _| 128);
    let img = hog::render_glyphs(
        ImageView::new(flat.0, &flat.1).unwrap(),
        &Params::default(),
        2,
    )
    .unwrap();
    assert!(
        img.pixels().all(|p| p.0[0] < 100),
        "no glyphs on a flat image"
    );
}

#[test]
fn bin_colours_are_the_bin_centres_colours_and_groups_cover_every_bin() {
    let hue = color::Params::default();
    let colours = color::bin_colours(&hue);
    assert_eq!(colours.len(), hue.dim());
    // Ten hue bins: the first is centred on 18°, a red-orange; bin 6 (216°) is blue.
    assert!(
        colours[0][0] == 255 && colours[0][2] == 0,
        "{:?}",
        colours[0]
    );
    assert!(
        colours[6][2] == 255 && colours[6][0] == 0,
        "{:?}",
        colours[6]
    );
    for mode in [
        color::Mode::Hue,
        color::Mode::PerChannelHsv,
        color::Mode::JointHsv,
    ] {
        let p = color::Params { mode, bins: 4 };
        assert_eq!(color::bin_colours(&p).len(), p.dim());
        let groups = color::bin_groups(&p);
        let covered: usize = groups.iter().map(|(_, r)| r.len()).sum();
        assert_eq!(covered, p.dim(), "{mode:?}");
        assert_eq!(groups.last().map(|(_, r)| r.end), Some(p.dim()));
    }
    // Per-channel value bins are gray levels, darkest first.
    let p = color::Params {
        mode: color::Mode::PerChannelHsv,
        bins: 4,
    };
    let c = color::bin_colours(&p);
    assert!(c[8][0] == c[8][1] && c[8][1] == c[8][2] && c[8][0] < c[11][0]);
}

#[test]
fn feature_spec_builds_hog_and_color() {
    let spec = FeatureSpec::parse("hog,color").unwrap();
    assert_eq!(spec.parts, vec![FeatureKind::Hog, FeatureKind::Color]);
    assert_eq!(FeatureKind::from_str("HOG").unwrap(), FeatureKind::Hog);
    let shape = ImageShape::new(32, 32, 3);
    let mut px = Vec::new();
    for seed in 0..5 {
        px.extend(noise(32, 32, seed).1);
    }
    let images = Images::new(shape, px).unwrap();
    let fitted = spec.fit(&images, 0).unwrap();
    let hog_dim = Params::default().dim(shape);
    assert_eq!(hog_dim, 3 * 3 * 4 * 9);
    assert_eq!(fitted.dim(), hog_dim + 10);
    let x = fitted.transform(&images, &|_| {}).unwrap();
    assert_eq!(x.dim(), (5, hog_dim + 10));
    assert!(x.iter().all(|v| v.is_finite()));
    for row in x.rows() {
        let colour: f32 = row.iter().skip(hog_dim).sum();
        assert!((colour - 1.0).abs() < 1e-5);
    }
    // Parameters reach the extractors.
    let spec = FeatureSpec {
        hog: Params::preset(Preset::Cs231n),
        color: color::Params {
            mode: color::Mode::PerChannelHsv,
            bins: 6,
        },
        ..spec
    };
    assert_eq!(spec.fit(&images, 0).unwrap().dim(), 4 * 4 * 9 + 18);
    // Bad parameters fail in fit, before extraction.
    let bad = FeatureSpec {
        hog: Params {
            cell_size: 64,
            ..Params::default()
        },
        ..spec
    };
    assert!(bad.fit(&images, 0).is_err());
}

/// Shapes and parameters that reach every branch of the kernels: widths that are not a
/// multiple of the vector width, odd cell sizes (the even/odd vote accumulators then alternate
/// differently within a cell), one bin (both votes into the same bin), more bins than lanes.
fn kernel_cases() -> Vec<((ImageShape, Vec<u8>), Params)> {
    let mut cases = Vec::new();
    let images: Vec<_> = (0..3)
        .map(|seed| noise(37, 45, 100 + seed))
        .chain([noise(32, 32, 7), noise(16, 69, 8)])
        .collect();
    for image in &images {
        for params in all_variants() {
            cases.push((image.clone(), params));
        }
        for (cell_size, orientations, block_size) in [(3, 9, 2), (5, 1, 2), (4, 18, 3), (6, 16, 1)]
        {
            for binning in Binning::ALL {
                let p = Params {
                    cell_size,
                    orientations,
                    block_size,
                    binning: *binning,
                    ..Params::default()
                };
                if *binning == Binning::Interpolated {
                    cases.push((
                        image.clone(),
                        Params {
                            block_window: BlockWindow::OpenCvGaussian,
                            ..p.clone()
                        },
                    ));
                }
                cases.push((image.clone(), p));
            }
        }
    }
    cases
}

#[test]
fn every_simd_level_gives_identical_features() {
    let levels: Vec<SimdLevel> = SimdLevel::ALL
        .into_iter()
        .filter(|l| l.supported())
        .collect();
    let mut compared = 0;
    for ((shape, px), params) in kernel_cases() {
        let image = ImageView::new(shape, &px).expect("size");
        let base = Hog::new(params.clone(), shape).expect("valid params");
        let run = |level: SimdLevel| {
            let hog = base.clone().with_simd(level).expect("supported level");
            let mut out = vec![f32::NAN; hog.dim(shape)];
            hog.extract(image, &mut out);
            out
        };
        let reference = run(SimdLevel::Portable);
        assert!(
            reference.iter().all(|v| v.is_finite()),
            "{}",
            params.describe()
        );
        for &level in &levels[1..] {
            let got = run(level);
            let differing = got
                .iter()
                .zip(&reference)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(
                differing,
                0,
                "{level} vs portable: {differing} of {} values differ for {} on {}x{}",
                got.len(),
                params.describe(),
                shape.height,
                shape.width
            );
            compared += 1;
        }
    }
    // On an x86-64 CPU with AVX2 at least one other level ran.
    if levels.len() > 1 {
        assert!(compared > 0);
    }
    assert!(Hog::new(Params::default(), ImageShape::new(32, 32, 3))
        .unwrap()
        .with_simd(SimdLevel::Portable)
        .is_ok());
}

#[test]
fn wide_and_portable_colour_kernels_give_identical_features() {
    let images: Vec<_> = (0..4).map(|seed| noise(37, 45, 100 + seed)).collect();
    let run = |wide: bool| {
        hog::set_wide_kernels(wide);
        let mut all = Vec::new();
        for (shape, px) in &images {
            for mode in [
                color::Mode::Hue,
                color::Mode::PerChannelHsv,
                color::Mode::JointHsv,
            ] {
                all.extend(hue_hist(color::Params { mode, bins: 5 }, *shape, px));
            }
        }
        all
    };
    let wide = run(true);
    let portable = run(false);
    hog::set_wide_kernels(true);
    assert_eq!(wide.len(), portable.len());
    let differing = wide
        .iter()
        .zip(&portable)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(
        differing,
        0,
        "{differing} of {} features differ",
        wide.len()
    );
}

// ---------------------------------------------------------------- OpenCV parity

/// OpenCV's `HOGDescriptor` on the committed test images (`tests/fixtures/hog_opencv.json`,
/// written by `make_hog_opencv.py`): (name, shape, pixels, descriptor in OpenCV's order).
fn opencv_cases() -> Vec<(String, ImageShape, Vec<u8>, Vec<f64>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hog_opencv.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let hog = &json["hog"];
    assert_eq!(f64s(&hog["cell_size"]), [8.0, 8.0]);
    assert_eq!(f64s(&hog["block_size"]), [16.0, 16.0]);
    assert_eq!(hog["nbins"].as_u64(), Some(9));
    assert_eq!(hog["win_sigma"].as_f64(), Some(4.0));
    json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let dim = |k: &str| c[k].as_u64().expect(k) as usize;
            let shape = ImageShape::new(dim("height"), dim("width"), dim("channels"));
            let px: Vec<u8> = f64s(&c["pixels"]).iter().map(|&v| v as u8).collect();
            assert_eq!(px.len(), shape.height * shape.width * shape.channels);
            let name = c["name"].as_str().expect("name").to_string();
            (name, shape, px, f64s(&c["descriptor"]))
        })
        .collect()
}

/// OpenCV's descriptor in this crate's order: OpenCV lists blocks column by column and the
/// cells of a block column by column; the workbench goes row by row.
fn opencv_to_row_major(d: &[f64], shape: ImageShape) -> Vec<f64> {
    let (c, b, n) = (8, 2, 9);
    let (nby, nbx) = (shape.height / c - b + 1, shape.width / c - b + 1);
    assert_eq!(d.len(), nby * nbx * b * b * n);
    let mut out = Vec::with_capacity(d.len());
    for by in 0..nby {
        for bx in 0..nbx {
            for cy in 0..b {
                for cx in 0..b {
                    let start = ((bx * nby + by) * b * b + cx * b + cy) * n;
                    out.extend_from_slice(&d[start..start + n]);
                }
            }
        }
    }
    out
}

#[test]
fn the_opencv_preset_matches_opencv_hog_descriptor() {
    let preset = Params::preset(Preset::DalalTriggs);
    assert_eq!(preset, Params::preset(Preset::from_str("opencv").unwrap()));
    assert_eq!(preset.block_window, BlockWindow::OpenCvGaussian);
    let cases = opencv_cases();
    assert_eq!(cases.len(), 4);
    for (name, shape, px, descriptor) in &cases {
        let expected = opencv_to_row_major(descriptor, *shape);
        let image = ImageView::new(*shape, px).expect("size");
        for level in SimdLevel::ALL.into_iter().filter(|l| l.supported()) {
            let hog = Hog::new(preset.clone(), *shape)
                .unwrap()
                .with_simd(level)
                .unwrap();
            let mut out = vec![f32::NAN; hog.dim(*shape)];
            hog.extract(image, &mut out);
            let d = max_abs_diff(&out, &expected);
            // What is left (1.0e-7 to 1.9e-7 measured) is f32 rounding: OpenCV sums in f32 in
            // its own pixel order and normalises in f32, and our gradients are scaled by 1/255.
            assert!(d < 1e-6, "{name} at {level}: max |ours - OpenCV| = {d:.3e}");
        }
        // Without the window (and OpenCV's epsilon) the same votes differ from OpenCV's by
        // far more: the test can tell.
        let no_window = Params {
            block_window: BlockWindow::None,
            block_norm: BlockNorm::L2Hys,
            ..preset.clone()
        };
        let d = max_abs_diff(&features(&no_window, *shape, px), &expected);
        assert!(
            d > 1e-2,
            "{name}: without the window only {d:.3e} from OpenCV"
        );
    }
}
