//! Small-data validation end to end: automatic and explicit `--cv K` (scikit-learn's
//! GridSearchCV semantics), its errors, `--class-weight balanced`, and the balanced accuracy
//! with the per-class table on imbalanced test classes.

use std::path::Path;

mod common;
use common::{pipeline, stderr, stdout};

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("results.json")).expect("json")
}

/// A tiny MNIST in IDX format: 28x28 images, each a bright square at a position that depends
/// on its label, with some noise so that the folds do not all score 1.0. `train_label(i)` and
/// `test_label(i)` give the labels.
fn write_mnist(
    dir: &Path,
    train: usize,
    test: usize,
    train_label: impl Fn(usize) -> u8,
    test_label: impl Fn(usize) -> u8,
) {
    fn idx(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut bytes = magic.to_be_bytes().to_vec();
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(body);
        bytes
    }
    std::fs::create_dir_all(dir).unwrap();
    let label_of: [&dyn Fn(usize) -> u8; 2] = [&train_label, &test_label];
    for ((prefix, n), label_of) in [("train", train), ("t10k", test)].into_iter().zip(label_of) {
        let labels: Vec<u8> = (0..n).map(label_of).collect();
        let mut pixels = vec![0u8; n * 28 * 28];
        let mut state = 0x9e37_79b9_u32 ^ n as u32;
        for (i, &label) in labels.iter().enumerate() {
            let (y0, x0) = (4 + 2 * label as usize, 4 + label as usize);
            for y in y0..y0 + 6 {
                for x in x0..x0 + 6 {
                    pixels[i * 784 + y * 28 + x] = 200;
                }
            }
            for p in &mut pixels[i * 784..(i + 1) * 784] {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *p = p.saturating_add((state % 120) as u8);
            }
        }
        let n32 = n as u32;
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            idx(0x803, &[n32, 28, 28], &pixels),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            idx(0x801, &[n32], &labels),
        )
        .unwrap();
    }
}

fn ten_classes(i: usize) -> u8 {
    (i % 10) as u8
}

fn run_args<'a>(data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--dataset",
        "mnist",
        "--data-dir",
        data,
        "--augment",
        "none",
        "--threads",
        "2",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn automatic_cross_validation_below_five_thousand_images() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    write_mnist(&data, 200, 50, ten_classes, ten_classes);
    let out_dir = dir.path().join("out");
    let out = pipeline(&run_args(
        data.to_str().unwrap(),
        out_dir.to_str().unwrap(),
        &["--epochs", "3", "--lr", "0.001,0.1", "--reg", "1e-4,1e-1"],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("validation: 5-fold cross-validation"), "{err}");
    assert!(err.contains("fold 5/5"), "{err}");
    let table = stdout(&out);
    assert!(table.contains("5-fold cross-validation"), "{table}");
    assert!(table.contains("best mean of 5 folds"), "{table}");

    let json = read_json(&out_dir.join("results.json"));
    let validation = &json["data"]["validation"];
    assert_eq!(validation["method"], "cross-validation", "{validation}");
    assert_eq!(validation["folds"], 5);
    assert_eq!(json["data"]["val"], 0, "no validation split is carved");
    assert_eq!(
        json["data"]["train"], 200,
        "every training image is cross-validated"
    );
    let cv = &json["cross_validation"];
    assert_eq!(cv["folds"], 5);
    for size in cv["fold_sizes"].as_array().unwrap() {
        assert_eq!(size[0].as_u64().unwrap() + size[1].as_u64().unwrap(), 200);
        assert_eq!(size[1], 40, "stratified folds of 200 images: 40 each");
    }
    assert!(cv["refit_epochs"].as_u64().unwrap() >= 1);
    // Every point has its five fold accuracies and their mean; the best mean (first on ties)
    // is the chosen point.
    let search = json["search"].as_array().unwrap();
    assert_eq!(search.len(), 4);
    let mut best: Option<(f64, usize)> = None;
    for (i, point) in search.iter().enumerate() {
        let folds: Vec<f64> = point["fold_val_accuracy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(folds.len(), 5, "{point}");
        let mean = folds.iter().sum::<f64>() / 5.0;
        let val = point["val_accuracy"].as_f64().unwrap();
        assert!((mean - val).abs() < 1e-12, "{point}");
        if best.is_none_or(|(b, _)| val > b) {
            best = Some((val, i));
        }
    }
    let (best_val, best_i) = best.unwrap();
    assert_eq!(json["chosen"]["lr"], search[best_i]["lr"]);
    assert_eq!(json["chosen"]["reg"], search[best_i]["reg"]);
    assert_eq!(json["accuracy"]["val"].as_f64().unwrap(), best_val);
    // The points differ (lr 0.001 vs 0.1, reg 1e-4 vs 1e-1), so the choice means something.
    let vals: Vec<f64> = search
        .iter()
        .map(|p| p["val_accuracy"].as_f64().unwrap())
        .collect();
    assert!(vals.iter().any(|&v| (v - vals[0]).abs() > 1e-9), "{vals:?}");
    // Balanced accuracy is always in results.json; balanced test classes keep it off the table.
    assert!(json["per_class"]["balanced_accuracy"].as_f64().is_some());
    assert!(!table.contains("balanced acc"), "{table}");
}

#[test]
fn five_thousand_images_keep_a_hold_out_even_with_a_train_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    write_mnist(&data, 5000, 20, ten_classes, ten_classes);
    let out_dir = dir.path().join("out");
    let out = pipeline(&run_args(
        data.to_str().unwrap(),
        out_dir.to_str().unwrap(),
        &[
            "--train-limit",
            "300",
            "--epochs",
            "1",
            "--lr",
            "0.01",
            "--reg",
            "1e-4",
        ],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let json = read_json(&out_dir.join("results.json"));
    let validation = &json["data"]["validation"];
    assert_eq!(validation["method"], "hold-out", "{validation}");
    assert_eq!(validation["size"], 500, "10% of 5,000");
    assert_eq!(json["data"]["val"], 500);
    assert!(json.get("cross_validation").is_none());
    assert!(json["search"][0].get("fold_val_accuracy").is_none());
}

#[test]
fn explicit_cv_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    write_mnist(&data, 60, 20, ten_classes, ten_classes);
    let d = data.to_str().unwrap();
    let out_dir = dir.path().join("out");
    let o = out_dir.to_str().unwrap();

    // --cv 3 with shifted copies of the digits: the copies go with their image.
    let mut args = run_args(d, o, &["--cv", "3", "--epochs", "2", "--lr", "0.01"]);
    let pos = args.iter().position(|&a| a == "--augment").unwrap();
    args[pos + 1] = "shift";
    let out = pipeline(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = read_json(&out_dir.join("results.json"));
    assert_eq!(json["data"]["validation"]["folds"], 3);
    assert_eq!(json["data"]["shifted"], true);
    for size in json["cross_validation"]["fold_sizes"].as_array().unwrap() {
        // 20 held-out images; the other 40 train with their four shifted copies each.
        assert_eq!(size[1], 20, "{size}");
        assert_eq!(size[0], 200, "{size}");
    }

    for (k, want) in [
        ("0", "--cv 0: cross-validation needs at least 2 folds"),
        ("1", "--cv 1: cross-validation needs at least 2 folds"),
        ("61", "--cv 61: 61 folds need at least 61 training images"),
    ] {
        let out = pipeline(&run_args(d, o, &["--cv", k]));
        assert_eq!(out.status.code(), Some(1), "--cv {k}");
        assert!(stderr(&out).contains(want), "--cv {k}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    let out = pipeline(&run_args(d, o, &["--cv", "5", "--val-size", "10"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("exclude each other"),
        "{}",
        stderr(&out)
    );
    // More folds than the smallest class: a warning, and the run goes on.
    let out = pipeline(&run_args(d, o, &["--cv", "7", "--epochs", "1"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fewer images than the 7 folds"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn class_weights_and_balanced_accuracy_on_imbalanced_classes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    // Training: class 0 nine times as frequent as each other class; test: the same skew.
    let skewed = |i: usize| if i % 18 < 9 { 0 } else { (i % 18 - 8) as u8 };
    write_mnist(&data, 360, 180, skewed, skewed);
    let d = data.to_str().unwrap();
    for (model, weight) in [
        ("softmax", "balanced"),
        ("svm", "balanced"),
        ("mlp", "balanced"),
        ("softmax", "none"),
    ] {
        let out_dir = dir.path().join(format!("out-{model}-{weight}"));
        let mut extra = vec![
            "--model",
            model,
            "--class-weight",
            weight,
            "--cv",
            "2",
            "--epochs",
            "3",
        ];
        if model == "mlp" {
            extra.extend_from_slice(&["--hidden", "16"]);
        }
        let out = pipeline(&run_args(d, out_dir.to_str().unwrap(), &extra));
        assert!(out.status.success(), "{model} {weight}: {}", stderr(&out));
        let json = read_json(&out_dir.join("results.json"));
        assert_eq!(json["settings"]["class_weight"], weight);
        let per_class = &json["per_class"];
        let recall: Vec<f64> = per_class["accuracy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let balanced = per_class["balanced_accuracy"].as_f64().unwrap();
        let mean = recall.iter().sum::<f64>() / recall.len() as f64;
        assert!((balanced - mean).abs() < 1e-12, "{per_class}");
        assert_eq!(per_class["count"][0], 90, "{per_class}");
        assert!((per_class["imbalance"].as_f64().unwrap() - 9.0).abs() < 1e-9);
        let table = stdout(&out);
        assert!(table.contains("balanced acc"), "{table}");
        assert!(
            table.contains("precision") && table.contains("recall"),
            "{table}"
        );
    }
    let out = pipeline(&run_args(d, "unused", &["--class-weight", "equal"]));
    assert_eq!(out.status.code(), Some(1), "an unknown value is refused");
    assert!(stderr(&out).contains("none, balanced"), "{}", stderr(&out));
}
