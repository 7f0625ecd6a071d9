//! End-to-end tests of `pipeline gradcheck`, `pipeline run --out` (saved model) and
//! `pipeline predict`, on the built-in synthetic dataset and PNG files written here.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{pipeline, stderr, stdout};

use wb_data::synthetic::{self, SyntheticParams};

const TEST_IMAGES: usize = 60;

/// Trains `model` quickly on HOG + hue features of the synthetic data (seed 0) and saves it
/// under `dir/out` (raw pixels are near chance on this dataset with 1,000 images and 3 epochs).
fn train_and_save(dir: &Path, model: &str) -> PathBuf {
    let out_dir = dir.join("out");
    let test_limit = TEST_IMAGES.to_string();
    let mut args = vec![
        "run",
        "--train-limit",
        "1000",
        "--val-size",
        "200",
        "--test-limit",
        &test_limit,
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--reg",
        "0.001",
        "--threads",
        "2",
        "--model",
        model,
        "--features",
        "hog,color",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    if model == "mlp" {
        args.extend(["--hidden", "32"]);
    }
    let out = pipeline(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("model saved to"), "{}", stdout(&out));
    out_dir
}

/// Writes the first `n` synthetic test images (the run's test split) as PNGs.
fn write_test_pngs(dir: &Path, n: usize) -> (Vec<PathBuf>, Vec<String>) {
    let data = synthetic::generate(&SyntheticParams::default());
    let shape = data.test.images.shape();
    let mut paths = Vec::new();
    let mut truth = Vec::new();
    for i in 0..n {
        let img = image::RgbImage::from_raw(
            shape.width as u32,
            shape.height as u32,
            data.test.images.get(i).pixels.to_vec(),
        )
        .expect("image buffer");
        let path = dir.join(format!("test{i:03}.png"));
        img.save(&path).expect("write png");
        paths.push(path);
        truth.push(data.test.class_names[data.test.labels[i]].clone());
    }
    (paths, truth)
}

/// (image path, predicted class, its probability, [(class, probability)] listed).
type Prediction = (String, String, f64, Vec<(String, f64)>);

fn parse_predictions(text: &str) -> Vec<Prediction> {
    let mut out: Vec<Prediction> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("    ") {
            let mut it = rest.split_whitespace();
            let class = it.next().expect("class").to_string();
            let p: f64 = it.next().expect("probability").parse().expect("number");
            out.last_mut().expect("header first").3.push((class, p));
        } else {
            let (path, rest) = line.rsplit_once(": ").expect("path: class (p)");
            let (class, p) = rest.split_once(" (").expect("class (p)");
            let p: f64 = p.trim_end_matches(')').parse().expect("number");
            out.push((path.to_string(), class.to_string(), p, Vec::new()));
        }
    }
    out
}

fn predict_matches_the_run(model: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = train_and_save(dir.path(), model);
    let (paths, truth) = write_test_pngs(dir.path(), TEST_IMAGES);
    let mut args = vec![
        "predict".to_string(),
        "--model".into(),
        out_dir.to_str().unwrap().into(),
        "--top-k".into(),
        "10".into(),
    ];
    args.extend(paths.iter().map(|p| p.to_str().unwrap().to_string()));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let first = pipeline(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    let preds = parse_predictions(&stdout(&first));
    assert_eq!(preds.len(), TEST_IMAGES);
    let class_names = synthetic::CLASS_NAMES;
    for (path, class, p, listed) in &preds {
        assert!(class_names.contains(&class.as_str()), "{class}");
        assert_eq!(listed.len(), 10, "{path}: all 10 classes with --top-k 10");
        assert_eq!(&listed[0].0, class, "the top class is the prediction");
        assert!((listed[0].1 - p).abs() < 1e-9);
        let sum: f64 = listed.iter().map(|(_, p)| p).sum();
        assert!(
            (sum - 1.0).abs() < 2e-3,
            "{path}: probabilities sum to {sum}"
        );
        assert!(listed.windows(2).all(|w| w[0].1 >= w[1].1), "sorted");
    }
    // The run evaluated exactly these images (its test split is the first TEST_IMAGES): the
    // saved model applied to the PNGs must reproduce its test accuracy exactly.
    let correct = preds
        .iter()
        .zip(&truth)
        .filter(|((_, class, _, _), t)| class == *t)
        .count();
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap())
            .unwrap();
    let run_accuracy = results["accuracy"]["test"].as_f64().unwrap();
    assert_eq!(
        correct as f64 / TEST_IMAGES as f64,
        run_accuracy,
        "predict on the saved model disagrees with the run"
    );
    assert!(run_accuracy > 0.2, "near chance: {run_accuracy}");

    let second = pipeline(&args);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&first), stdout(&second), "predict is deterministic");

    // Default: the top 3 only; a larger image is resized (told on stderr).
    let big = image::imageops::resize(
        &image::open(&paths[0]).unwrap().to_rgb8(),
        64,
        48,
        image::imageops::FilterType::Nearest,
    );
    let big_path = dir.path().join("big.png");
    big.save(&big_path).unwrap();
    let out = pipeline(&[
        "predict",
        "--model",
        out_dir.join("model").to_str().unwrap(),
        big_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resized"), "{}", stderr(&out));
    let preds = parse_predictions(&stdout(&out));
    assert_eq!(preds.len(), 1);
    assert_eq!(preds[0].3.len(), 3);
}

#[test]
fn softmax_model_saved_by_run_predicts_like_the_run() {
    predict_matches_the_run("softmax");
}

#[test]
fn mlp_model_saved_by_run_predicts_like_the_run() {
    predict_matches_the_run("mlp");
}

fn predict_one(model_dir: &Path, image: &Path) -> Output {
    pipeline(&[
        "predict",
        "--model",
        model_dir.to_str().unwrap(),
        image.to_str().unwrap(),
    ])
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

fn bump_version(path: &Path) {
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["format_version"] = 99.into();
    std::fs::write(path, serde_json::to_string(&json).unwrap()).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn assert_fails_naming(out: &Output, file: &str, words: &str) {
    assert!(!out.status.success(), "should fail: {}", stdout(out));
    let err = stderr(out);
    assert!(err.contains(file), "error does not name {file}: {err}");
    assert!(err.contains(words), "error lacks `{words}`: {err}");
}

#[test]
fn damaged_or_mismatched_saved_models_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = write_test_pngs(dir.path(), 1);
    for (model, meta, weights) in [
        ("softmax", "model.json", "linear.safetensors"),
        ("mlp", "mlp.json", "mlp.safetensors"),
    ] {
        let run_dir = dir.path().join(model);
        let saved = train_and_save(&run_dir, model).join("model");
        let ok = predict_one(&saved, &paths[0]);
        assert!(ok.status.success(), "{}", stderr(&ok));

        let case = run_dir.join("truncated");
        copy_dir(&saved, &case);
        truncate(&case.join(weights));
        assert_fails_naming(&predict_one(&case, &paths[0]), weights, "truncated");

        let case = run_dir.join("missing");
        copy_dir(&saved, &case);
        std::fs::remove_file(case.join(weights)).unwrap();
        assert_fails_naming(&predict_one(&case, &paths[0]), weights, "");

        let case = run_dir.join("newer");
        copy_dir(&saved, &case);
        bump_version(&case.join(meta));
        assert_fails_naming(&predict_one(&case, &paths[0]), meta, "newer");

        // Features that no longer match the weights' input dimension.
        let case = run_dir.join("features");
        copy_dir(&saved, &case);
        let path = case.join(meta);
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let prep = if model == "mlp" {
            &mut json["extra"]
        } else {
            &mut json["preprocessing"]
        };
        prep["features"]["parts"] = serde_json::json!(["raw", "raw"]);
        std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
        assert_fails_naming(&predict_one(&case, &paths[0]), meta, "dimensions");
    }
    let out = predict_one(dir.path(), &paths[0]);
    assert_fails_naming(&out, "", "holds no saved model");
    let out = predict_one(
        &dir.path().join("softmax").join("out"),
        &dir.path().join("nope.png"),
    );
    assert_fails_naming(&out, "nope.png", "not found");
}

fn gradcheck(args: &[&str]) -> Output {
    let mut all = vec!["gradcheck"];
    all.extend(args);
    pipeline(&all)
}

#[test]
fn gradcheck_passes_for_activations_and_losses_and_prints_the_table() {
    let cases: &[&[&str]] = &[
        &["--activation", "relu"],
        &["--activation", "leaky-relu", "--loss", "svm"],
        &["--activation", "prelu", "--loss", "squared"],
        &["--activation", "elu", "--dropout", "0"],
        &["--activation", "sigmoid", "--loss", "svm"],
        &["--activation", "tanh", "--dropout", "0.5"],
        &["--activation", "maxout", "--hidden", "6,4", "--reg", "0"],
        &["--model", "svm"],
        &["--model", "softmax", "--input-dim", "7", "--classes", "3"],
    ];
    for case in cases {
        let out = gradcheck(case);
        let text = stdout(&out);
        assert!(out.status.success(), "{case:?}: {}{}", text, stderr(&out));
        let linear = case.contains(&"--model");
        let first_column = if linear { "loss" } else { "tensor" };
        for col in [
            first_column,
            "elements",
            "checked",
            "kinks skipped",
            "max rel error",
        ] {
            assert!(text.contains(col), "{case:?}: no `{col}` column: {text}");
        }
        assert!(!text.contains("FAIL"), "{case:?}: {text}");
        let rows: Vec<&str> = text.lines().filter(|l| l.ends_with("PASS")).collect();
        // A linear model: one row per loss `run` can train it with.
        let expected: &[&str] = match (linear, case.contains(&"svm")) {
            (true, true) => &["ovr-squared-hinge ", "squared-hinge ", "hinge "],
            (true, false) => &["softmax "],
            (false, _) => &["layers.0.weight"],
        };
        for name in expected {
            assert!(rows.iter().any(|r| r.starts_with(name)), "{name}: {text}");
        }
        if linear {
            assert_eq!(rows.len(), expected.len(), "{text}");
        }
        for row in rows {
            let err: f64 = row.split_whitespace().nth(4).unwrap().parse().unwrap();
            assert!(err <= 1e-6, "{row}");
        }
    }
}

#[test]
fn gradcheck_rejects_bad_settings() {
    let out = gradcheck(&["--classes", "1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("n_classes"), "{}", stderr(&out));
    let out = gradcheck(&["--activation", "swish"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("activation"), "{}", stderr(&out));
    let out = gradcheck(&["--model", "svm", "--reg=-1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--reg"), "{}", stderr(&out));
}
