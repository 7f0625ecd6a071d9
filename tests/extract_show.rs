//! End-to-end tests of `pipeline extract` (features to safetensors), `pipeline show` (PNGs)
//! and the feature options, on the built-in synthetic dataset (32x32 RGB, 10 classes).

use std::collections::HashSet;
use std::path::Path;
use std::process::Output;

mod common;
use common::{pipeline, stderr};

use safetensors::{Dtype, SafeTensors};

const SMALL: &[&str] = &[
    "--train-limit",
    "300",
    "--val-size",
    "100",
    "--test-limit",
    "200",
    "--threads",
    "2",
];

fn extract(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["extract"];
    args.extend(SMALL);
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    pipeline(&args)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn i64s(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

// HOG with 4-pixel cells on 32x32: 8x8 cells, 7x7 blocks of 2x2 cells x 9 bins = 1764;
// a 12-bin hue histogram: 12.
const HOG_DIM: usize = 7 * 7 * 2 * 2 * 9;
const DIM: usize = HOG_DIM + 12;
const FEATURES: &[&str] = &[
    "--features",
    "hog,color",
    "--hog-cell-size",
    "4",
    "--color-bins",
    "12",
];

#[test]
fn extract_writes_every_split_with_labels_scaler_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feats.safetensors");
    let out = extract(&path, FEATURES);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("images/s"), "no extraction rate: {stdout}");
    assert!(stdout.contains("600 images"), "{stdout}");

    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (split, n) in [("train", 300), ("val", 100), ("test", 200)] {
        let x = st.tensor(&format!("{split}.x")).unwrap();
        assert_eq!(x.dtype(), Dtype::F32);
        assert_eq!(x.shape(), &[n, DIM], "{split}.x");
        let values = f32s(x.data());
        assert!(values.iter().all(|v| v.is_finite()), "{split}.x not finite");
        // Raw HOG (L2-Hys) values lie in [0, 1] and histograms are fractions: unscaled.
        assert!(
            values.iter().all(|&v| (0.0..=1.0 + 1e-5).contains(&v)),
            "{split}.x is not the extractors' raw output"
        );
        let y = st.tensor(&format!("{split}.y")).unwrap();
        assert_eq!(y.dtype(), Dtype::I64);
        assert_eq!(y.shape(), &[n]);
        let labels = i64s(y.data());
        assert!(labels.iter().all(|&l| (0..10).contains(&l)));
        assert!(
            labels.iter().collect::<HashSet<_>>().len() > 5,
            "{split}.y has too few classes"
        );
    }

    // The scaler is the training split's column statistics.
    let mean = st.tensor("scaler.mean").unwrap();
    let inv_std = st.tensor("scaler.inv_std").unwrap();
    assert_eq!(mean.shape(), &[DIM]);
    assert_eq!(inv_std.shape(), &[DIM]);
    let (mean, inv_std) = (f32s(mean.data()), f32s(inv_std.data()));
    let train = f32s(st.tensor("train.x").unwrap().data());
    for col in [0, 100, HOG_DIM + 3] {
        let column: Vec<f64> = train.chunks(DIM).map(|r| f64::from(r[col])).collect();
        let m = column.iter().sum::<f64>() / column.len() as f64;
        assert!((m - f64::from(mean[col])).abs() < 1e-4, "column {col}");
        let sd = (column.iter().map(|v| (v - m).powi(2)).sum::<f64>() / column.len() as f64).sqrt();
        if sd > 1e-3 {
            assert!(
                (f64::from(inv_std[col]) * sd - 1.0).abs() < 1e-3,
                "column {col}: inv_std {} vs std {sd}",
                inv_std[col]
            );
        }
    }

    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().as_ref().expect("metadata");
    let json = |key: &str| -> serde_json::Value {
        serde_json::from_str(meta.get(key).unwrap_or_else(|| panic!("no {key}"))).unwrap()
    };
    let spec = json("features");
    assert_eq!(spec["parts"], serde_json::json!(["hog", "color"]));
    assert_eq!(spec["hog"]["cell_size"], 4);
    assert_eq!(spec["hog"]["orientations"], 9);
    assert_eq!(spec["color"]["bins"], 12);
    assert_eq!(meta["dataset"], "synthetic");
    assert_eq!(meta["seed"], "0");
    assert_eq!(
        json("split_sizes"),
        serde_json::json!({"train": 300, "val": 100, "test": 200})
    );
    let parts = json("parts");
    assert_eq!(parts[0]["name"], "hog");
    assert_eq!(parts[0]["dim"], HOG_DIM);
    assert_eq!(parts[1]["name"], "color");
    assert_eq!(parts[1]["offset"], HOG_DIM);
    assert_eq!(json("class_names").as_array().unwrap().len(), 10);
    assert_eq!(json("image_shape"), serde_json::json!([32, 32, 3]));
}

#[test]
fn a_failed_extract_leaves_the_earlier_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feats.safetensors");
    let out = extract(&path, FEATURES);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = std::fs::read(&path).unwrap();

    // Rejected before loading (no image has 0-pixel cells), and after loading (a 64-pixel
    // cell does not fit a 32x32 image).
    for bad in ["0", "64"] {
        let out = extract(&path, &["--features", "hog", "--hog-cell-size", bad]);
        assert!(!out.status.success(), "--hog-cell-size {bad} was accepted");
        assert!(
            stderr(&out).contains("--hog-cell-size"),
            "{bad}: {}",
            stderr(&out)
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "file changed");
    }
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "temporary files left behind: {files:?}");
}

fn decode(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// Distinct colours: a real picture has many, a blank one has one.
fn colours(img: &image::RgbImage) -> usize {
    img.pixels().map(|p| p.0).collect::<HashSet<_>>().len()
}

#[test]
fn show_writes_the_pictures_of_the_named_extractors() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("pictures");
    let mut args = vec!["show"];
    args.extend(SMALL);
    args.extend([
        "--features",
        "hog,color,gabor,kmeans",
        "--kmeans-k",
        "16",
        "--kmeans-patches",
        "2000",
        "--kmeans-iterations",
        "3",
        "--index",
        "3",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let out = pipeline(&args);
    assert!(out.status.success(), "{}", stderr(&out));

    // Every picture is drawn large enough to read in a README (a 32x32 image enlarged).
    let image = decode(&out_dir.join("image.png"));
    assert!(
        image.width() >= 128 && image.height() >= 128,
        "{:?}",
        image.dimensions()
    );
    assert!(colours(&image) > 20, "image.png is nearly blank");
    let hog = decode(&out_dir.join("hog.png"));
    assert!(
        hog.width() >= 256 && hog.height() >= 128,
        "{:?}",
        hog.dimensions()
    );
    assert!(colours(&hog) > 20, "hog.png is nearly blank");
    let hist = decode(&out_dir.join("color_histogram.png"));
    assert!(hist.width() >= 480 && hist.height() >= 100);
    assert!(colours(&hist) > 3, "color_histogram.png is nearly blank");
    let bank = decode(&out_dir.join("gabor_bank.png"));
    // 4 frequencies x 8 orientations of enlarged kernels.
    assert!(bank.width() >= 8 * 32 && bank.height() >= 4 * 32);
    assert!(colours(&bank) > 20, "gabor_bank.png is nearly blank");
    let atoms = decode(&out_dir.join("kmeans_atoms.png"));
    // 16 atoms in a 4x4 grid of enlarged 6x6 patches.
    assert!(atoms.width() >= 4 * 24 && atoms.height() >= 4 * 24);
    assert!(colours(&atoms) > 16, "kmeans_atoms.png is nearly blank");

    // Different images give different pictures.
    let other_dir = dir.path().join("other");
    let mut args = vec!["show"];
    args.extend(SMALL);
    args.extend(["--index", "4", "--out", other_dir.to_str().unwrap()]);
    let out = pipeline(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(decode(&other_dir.join("image.png")), image);
    assert_ne!(decode(&other_dir.join("hog.png")), hog);
    // kmeans needs fitting, so it is drawn only when named.
    assert!(!other_dir.join("kmeans_atoms.png").exists());
    assert!(other_dir.join("gabor_bank.png").exists());
}

#[test]
fn bad_feature_options_are_rejected_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out_file = dir.path().join("f.safetensors");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "extract",
                "--hog-block-norm",
                "l3",
                "--out",
                out_file.to_str().unwrap(),
            ],
            "--hog-block-norm",
        ),
        (
            vec![
                "run",
                "--features",
                "gabor",
                "--gabor-frequencies",
                "0.1,0.7",
            ],
            "--gabor-frequencies",
        ),
        (vec!["run", "--color-mode", "rgb"], "--color-mode"),
        (
            vec![
                "show",
                "--features",
                "kmeans",
                "--kmeans-k",
                "1",
                "--out",
                out_dir.to_str().unwrap(),
            ],
            "--kmeans-k",
        ),
        (
            vec![
                "show",
                "--color-bins",
                "0",
                "--out",
                out_dir.to_str().unwrap(),
            ],
            "--color-bins",
        ),
        (
            vec![
                "show",
                "--train-limit",
                "50",
                "--index",
                "50",
                "--out",
                out_dir.to_str().unwrap(),
            ],
            "--index",
        ),
    ];
    for (args, option) in cases {
        let out = pipeline(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = stderr(&out);
        assert!(err.contains(option), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(!out_file.exists());
}
