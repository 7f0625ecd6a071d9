//! A user's own photo folders, end to end: every layout runs with no flag beyond
//! `--data-dir` (and the feature set and model), the summary and `results.json` say what was
//! found, and bad values get errors naming the option.

use std::path::{Path, PathBuf};

mod common;
use common::{pipeline, stderr};

/// Three classes a linear model can tell apart from colour and orientation: red horizontal
/// stripes, green vertical stripes, blue checks; each photo-sized, of its own size and
/// aspect ratio, with seeded noise.
const CLASSES: [&str; 3] = ["checks", "horizontal", "vertical"];

fn photo(class: usize, width: u32, height: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let period = 6 + seed % 5;
        let on = match class {
            0 => ((x / period) + (y / period)).is_multiple_of(2),
            1 => (y / period).is_multiple_of(2),
            _ => (x / period).is_multiple_of(2),
        };
        let noise = ((x * 31 + y * 17 + seed * 101) % 23) as u8;
        let base = if on { 200 } else { 40 };
        let mut px = [noise, noise, noise];
        px[class] = base + noise;
        image::Rgb(px)
    })
}

/// Writes `n` photos of each class under `dir/<class>/`, alternating PNG and JPEG and four
/// sizes (landscape, portrait, square, wide).
fn write_classes(dir: &Path, n: usize, seed: u32) {
    const SIZES: [(u32, u32); 4] = [(120, 90), (80, 110), (96, 96), (150, 70)];
    for (c, name) in CLASSES.iter().enumerate() {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..n {
            let (w, h) = SIZES[i % SIZES.len()];
            let img = photo(c, w, h, seed + i as u32);
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            img.save(folder.join(format!("{name}_{i:03}.{ext}")))
                .unwrap();
        }
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("results.json")).expect("json")
}

/// `pipeline run --dataset folder --data-dir ROOT --features F --model M` and nothing else
/// (but a short MLP/SGD schedule where the model trains by epochs); returns results.json and
/// stderr.
fn run_folder(
    root: &Path,
    features: &str,
    model: &str,
    extra: &[&str],
) -> (serde_json::Value, String) {
    let out_dir = root
        .parent()
        .unwrap()
        .join(format!("out-{features}-{model}"));
    let mut args = vec![
        "run",
        "--dataset",
        "folder",
        "--data-dir",
        root.to_str().unwrap(),
        "--features",
        features,
        "--model",
        model,
        "--out",
        out_dir.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = pipeline(&args);
    assert!(out.status.success(), "{features} {model}: {}", stderr(&out));
    (read_json(&out_dir.join("results.json")), stderr(&out))
}

fn layout_of(json: &serde_json::Value) -> &str {
    json["data"]["folder"]["layout"].as_str().unwrap()
}

struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn tree(build: impl FnOnce(&Path)) -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    std::fs::create_dir(&root).unwrap();
    build(&root);
    Tree { _dir: dir, root }
}

#[test]
fn every_layout_runs_with_no_flag_beyond_the_folder() {
    let layouts: Vec<(&str, Tree)> = vec![
        ("class-folders", tree(|r| write_classes(r, 20, 0))),
        (
            "train-test",
            tree(|r| {
                write_classes(&r.join("train"), 16, 0);
                write_classes(&r.join("test"), 5, 1000);
            }),
        ),
        (
            "train-val-as-test",
            tree(|r| {
                write_classes(&r.join("train"), 16, 0);
                write_classes(&r.join("val"), 5, 1000);
            }),
        ),
        (
            "train-val-test",
            tree(|r| {
                write_classes(&r.join("Training"), 16, 0);
                write_classes(&r.join("VALID"), 4, 500);
                write_classes(&r.join("testing"), 5, 1000);
            }),
        ),
    ];
    for (expected, t) in &layouts {
        let (json, err) = run_folder(&t.root, "hog,color", "softmax", &[]);
        assert_eq!(layout_of(&json), *expected, "{err}");
        let data = &json["data"];
        // Photos of four sizes: the 64x64 rule, never the first file's size.
        assert_eq!(
            data["image_shape"],
            serde_json::json!([64, 64, 3]),
            "{expected}"
        );
        assert_eq!(data["folder"]["working_size"]["rule"], "default");
        assert_eq!(data["folder"]["resize"], "crop");
        assert_eq!(data["class_names"], serde_json::json!(CLASSES));
        assert!(
            err.contains("layout: ") && err.contains("images/s"),
            "{err}"
        );
        let acc = json["accuracy"]["test"].as_f64().unwrap();
        assert!(acc > 0.6, "{expected}: test accuracy {acc} (chance 0.33)");
        if *expected == "train-val-test" {
            assert_eq!(data["val"], 12, "the VALID/ folder is the validation split");
            assert!(data["validation"]["reason"]
                .as_str()
                .unwrap()
                .contains("own validation split"));
        } else {
            // 48 training images in every layout here (16 per class in train/, or 20 per class
            // minus the carved 20% test share): fewer than 5,000, so 5-fold cross-validation
            // chooses the hyper-parameters and no validation split is carved.
            let validation = &data["validation"];
            assert_eq!(validation["method"], "cross-validation", "{expected}");
            assert_eq!(validation["folds"], 5, "{expected}");
            assert_eq!(data["val"], 0, "{expected}");
            assert_eq!(data["train"].as_u64().unwrap() % 48, 0, "{expected}");
        }
        if *expected == "train-val-as-test" {
            assert_eq!(data["test"], 15, "val/ is the test split without test/");
        }
    }
}

#[test]
fn a_labels_file_replaces_class_folders() {
    let t = tree(|r| {
        let flat = r.join("all");
        write_classes(&flat, 12, 0);
        let mut csv = String::from("path,label\n");
        for name in CLASSES {
            for entry in std::fs::read_dir(flat.join(name)).unwrap() {
                let file = entry.unwrap().file_name().into_string().unwrap();
                csv.push_str(&format!("all/{name}/{file},{name}\n"));
            }
        }
        std::fs::write(r.join("labels.csv"), csv).unwrap();
    });
    let labels = t.root.join("labels.csv");
    let (json, err) = run_folder(
        &t.root,
        "hog,color",
        "softmax",
        &["--labels", labels.to_str().unwrap()],
    );
    assert_eq!(layout_of(&json), "labels-csv", "{err}");
    assert_eq!(json["data"]["n_classes"], 3);
}

#[test]
fn every_feature_set_and_model_runs_on_a_photo_folder() {
    let t = tree(|r| write_classes(r, 8, 0));
    for features in ["raw", "hog", "color", "gabor", "kmeans", "hog,color"] {
        for model in ["softmax", "svm", "mlp"] {
            let extra: &[&str] = if model == "mlp" {
                &["--epochs", "3"]
            } else {
                &[]
            };
            let (json, err) = run_folder(&t.root, features, model, extra);
            assert_eq!(layout_of(&json), "class-folders", "{err}");
            let acc = json["accuracy"]["test"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&acc), "{features} {model}: {acc}");
        }
    }
}

#[test]
fn bad_values_are_errors_that_name_the_option() {
    let t = tree(|r| write_classes(r, 6, 0));
    let root = t.root.to_str().unwrap();
    for (flag, value, says) in [
        ("--image-size", "100000", "--image-size"),
        ("--image-size", "0", "--image-size"),
        ("--val-size", "0", "--val-size"),
        ("--val-size", "100000", "--val-size"),
        ("--test-fraction", "1.5", "--test-fraction"),
        ("--test-fraction", "0", "--test-fraction"),
        ("--max-memory", "64K", "--max-memory"),
        ("--resize", "squash", "--resize"),
    ] {
        let out = pipeline(&[
            "run",
            "--dataset",
            "folder",
            "--data-dir",
            root,
            flag,
            value,
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{flag} {value}: {err}");
        assert!(err.contains(says), "{flag} {value}: {err}");
        assert!(!err.contains("panicked"), "{flag} {value}: {err}");
    }
    // A budget the decoded images exceed names the estimate and the option to change.
    let out = pipeline(&[
        "run",
        "--dataset",
        "folder",
        "--data-dir",
        root,
        "--image-size",
        "4096",
        "--max-memory",
        "64M",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("needs an estimated") && err.contains("--image-size"),
        "{err}"
    );
}
