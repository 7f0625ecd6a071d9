//! End-to-end tests of `pipeline predict` on files, folders and wildcard patterns: a model is
//! trained on a folder tree of PNG and JPEG files written here (three colour classes, mixed
//! sizes and aspect ratios), then applied to single files, to a folder of class folders (its
//! accuracy and confusion matrix checked against counts made here from the CSV), to a quoted
//! pattern, and to folders with stray and broken files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{pipeline, stderr, stdout};

use image::{Rgb, RgbImage};

const CLASSES: [&str; 3] = ["blue", "green", "red"];

/// Sizes (width, height) cycled through: squares, landscape and portrait.
const SIZES: [(u32, u32); 4] = [(20, 14), (16, 16), (24, 30), (13, 19)];

/// A noisy image dominated by `class`'s colour: that channel near 200, the others near 50.
fn colour_image(class: usize, w: u32, h: u32, seed: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 61) as i32 - 30
    };
    // Channel order R, G, B; CLASSES is sorted: blue = B, green = G, red = R.
    let strong = [2usize, 1, 0][class];
    RgbImage::from_fn(w, h, |_, _| {
        let mut px = [0u8; 3];
        for (c, v) in px.iter_mut().enumerate() {
            let base = if c == strong { 200 } else { 50 };
            *v = (base + noise()).clamp(0, 255) as u8;
        }
        Rgb(px)
    })
}

/// Writes image `i` of `class` into `dir` as PNG (even `i`) or JPEG (odd `i`).
fn write_image(dir: &Path, name: &str, class: usize, i: usize, seed: u32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let (w, h) = SIZES[i % SIZES.len()];
    let img = colour_image(class, w, h, seed);
    let (ext, format) = if i.is_multiple_of(2) {
        ("png", image::ImageFormat::Png)
    } else {
        ("jpg", image::ImageFormat::Jpeg)
    };
    let path = dir.join(format!("{name}.{ext}"));
    img.save_with_format(&path, format).unwrap();
    path
}

/// `root/<class>/*`: `per_class` images of each class.
fn write_class_tree(root: &Path, per_class: usize, seed: u32) {
    for (c, class) in CLASSES.iter().enumerate() {
        for i in 0..per_class {
            write_image(
                &root.join(class),
                &format!("{class}{i:02}"),
                c,
                i,
                seed + (c * 1000 + i) as u32,
            );
        }
    }
}

/// Trains raw pixels + softmax on a class-folder tree at 16x16 and returns the run folder.
fn train(dir: &Path) -> PathBuf {
    let data = dir.join("train");
    write_class_tree(&data, 20, 1);
    let out = dir.join("run");
    let result = pipeline(&[
        "run",
        "--dataset",
        "folder",
        "--data-dir",
        data.to_str().unwrap(),
        "--image-size",
        "16",
        "--val-size",
        "9",
        "--features",
        "raw",
        "--model",
        "softmax",
        "--epochs",
        "5",
        "--lr",
        "0.01",
        "--reg",
        "0.0001",
        "--threads",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    out
}

fn predict(model: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--threads",
        "2",
    ];
    all.extend(args);
    pipeline(&all)
}

/// One CSV row: path, predicted, its probability, and the listed (class, probability) pairs.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    path: String,
    predicted: String,
    probability: f64,
    top: Vec<(String, f64)>,
}

/// Reads a predictions CSV (the test's paths hold no commas or quotes), checking the header.
fn read_csv(path: &Path, k: usize) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let mut header = vec!["path".to_string(), "predicted".into(), "probability".into()];
    for i in 1..=k {
        header.push(format!("top{i}"));
        header.push(format!("p{i}"));
    }
    assert_eq!(lines.next().unwrap(), header.join(","), "CSV header");
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3 + 2 * k, "{line}");
            let top = f[3..]
                .chunks(2)
                .map(|p| (p[0].to_string(), p[1].parse().unwrap()))
                .collect();
            Row {
                path: f[0].to_string(),
                predicted: f[1].to_string(),
                probability: f[2].parse().unwrap(),
                top,
            }
        })
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (f) The CSV's rows are consistent: the prediction is the first listed class, the listed
/// probabilities are sorted, in [0, 1], and sum to at most 1.
fn assert_rows_consistent(rows: &[Row], k: usize) {
    for r in rows {
        assert_eq!(r.top.len(), k);
        assert_eq!(r.top[0].0, r.predicted, "{}", r.path);
        assert_eq!(r.top[0].1, r.probability, "{}", r.path);
        assert!(
            r.top.windows(2).all(|w| w[0].1 >= w[1].1),
            "{}: not sorted",
            r.path
        );
        assert!(r.top.iter().all(|(_, p)| (0.0..=1.0).contains(p)));
        let sum: f64 = r.top.iter().map(|(_, p)| p).sum();
        assert!(
            sum <= 1.0 + 1e-6,
            "{}: listed probabilities sum to {sum}",
            r.path
        );
        let names: std::collections::BTreeSet<&str> =
            r.top.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(names.len(), k, "{}: a class listed twice", r.path);
    }
}

/// The class folder a path lies in (its parent folder's name).
fn parent_name(path: &str) -> String {
    Path::new(path)
        .parent()
        .and_then(|p| p.file_name())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn predict_on_files_folders_and_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path());
    let model = run.join("model");
    let meta = json(&model.join("model.json"));
    assert_eq!(
        meta["preprocessing"]["resize"], "crop",
        "resize mode recorded"
    );
    assert_eq!(
        meta["preprocessing"]["image_shape"],
        serde_json::json!([16, 16, 3])
    );

    // The folder to predict: class folders, two images in the wrong folder (green pictures
    // in red/, so at least two errors), a folder named after no class, a loose image and a
    // stray text file.
    let root = dir.path().join("new");
    write_class_tree(&root, 6, 500);
    for i in 0..2 {
        write_image(&root.join("red"), &format!("odd{i}"), 1, i, 900 + i as u32);
    }
    for i in 0..3 {
        write_image(&root.join("purple"), &format!("p{i}"), 0, i, 950 + i as u32);
    }
    write_image(&root, "loose", 2, 0, 990);
    std::fs::write(root.join("red").join("notes.txt"), "not an image").unwrap();
    let n_files = 3 * 6 + 2 + 3 + 1;

    // (b) The folder, with --out.
    let csv = dir.path().join("out").join("predictions.csv");
    let out = predict(
        &model,
        &["--out", csv.to_str().unwrap(), root.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("skipped 1 file(s) that are not images: 1 *.txt"),
        "{err}"
    );
    assert!(
        err.contains("class folder(s) named after no class of the model: purple/ (3 image(s))"),
        "{err}"
    );
    assert!(
        err.contains("images/s"),
        "summary line with the speed: {err}"
    );
    assert!(err.contains("resized to the model's 16x16 (crop"), "{err}");
    let rows = read_csv(&csv, 3);
    assert_eq!(
        rows.len(),
        n_files,
        "every image predicted, the text file skipped"
    );
    assert_rows_consistent(&rows, 3);

    // Accuracy and confusion matrix counted here from the CSV and the folder names.
    let index = |name: &str| CLASSES.iter().position(|c| *c == name);
    let mut confusion = vec![vec![0u64; 3]; 3];
    let mut counted = 0;
    for r in &rows {
        if let Some(t) = index(&parent_name(&r.path)) {
            confusion[t][index(&r.predicted).unwrap()] += 1;
            counted += 1;
        }
    }
    let correct: u64 = (0..3).map(|i| confusion[i][i]).sum();
    assert_eq!(
        counted, 20,
        "18 + the 2 odd ones; purple and the loose image not counted"
    );
    assert!(
        (16..=18).contains(&correct),
        "the model learnt the colours: {correct}"
    );
    assert!(
        confusion[2][1] >= 1,
        "the green pictures in red/ predicted green"
    );
    let summary = json(&csv.with_extension("json"));
    let eval = &summary["evaluation"];
    assert_eq!(eval["images"], counted);
    assert_eq!(eval["correct"], correct);
    assert!((eval["accuracy"].as_f64().unwrap() - correct as f64 / 20.0).abs() < 1e-12);
    let recall = |i: usize| confusion[i][i] as f64 / confusion[i].iter().sum::<u64>() as f64;
    let balanced = (recall(0) + recall(1) + recall(2)) / 3.0;
    assert!((eval["balanced_accuracy"].as_f64().unwrap() - balanced).abs() < 1e-12);
    assert_eq!(eval["per_class"]["confusion"], serde_json::json!(confusion));
    assert_eq!(eval["per_class"]["class_names"], serde_json::json!(CLASSES));
    assert_eq!(eval["other_classes"], serde_json::json!({"purple": 3}));
    assert_eq!(summary["images"], n_files);
    assert_eq!(summary["top_k"], 3);
    assert_eq!(summary["resize"], "crop");
    assert!(summary["probability"]
        .as_str()
        .unwrap()
        .starts_with("softmax of the scores"));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "accuracy {:.4} ({correct} of 20 images",
            correct as f64 / 20.0
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("balanced accuracy {balanced:.4}")),
        "{text}"
    );
    let table_row = |i: usize| {
        let cells: Vec<String> = confusion[i].iter().map(|n| n.to_string()).collect();
        format!("{} {}", CLASSES[i], cells.join(" "))
    };
    let squeezed: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        squeezed
            .iter()
            .any(|l| l.starts_with("true \\ pred blue green red images recall")),
        "{text}"
    );
    for i in 0..3 {
        assert!(
            squeezed.iter().any(|l| l.starts_with(&table_row(i))),
            "no row `{}`: {text}",
            table_row(i)
        );
    }
    assert!(
        !text.contains(".png: "),
        "with --out, no per-image listing: {text}"
    );

    // Deterministic: the same CSV again.
    let again = dir.path().join("again.csv");
    let out = predict(
        &model,
        &["--out", again.to_str().unwrap(), root.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&csv).unwrap(),
        std::fs::read(&again).unwrap(),
        "same files, same predictions"
    );

    // A model saved before the resize mode was recorded loads as `crop`: same predictions.
    let old = dir.path().join("old-model");
    std::fs::create_dir_all(&old).unwrap();
    for name in ["model.json", "linear.safetensors"] {
        std::fs::copy(model.join(name), old.join(name)).unwrap();
    }
    let mut meta = json(&old.join("model.json"));
    meta["preprocessing"]
        .as_object_mut()
        .unwrap()
        .remove("resize");
    std::fs::write(old.join("model.json"), meta.to_string()).unwrap();
    let old_csv = dir.path().join("old.csv");
    let out = predict(
        &old,
        &["--out", old_csv.to_str().unwrap(), root.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let strip = |rows: Vec<Row>| -> Vec<(String, Vec<(String, f64)>)> {
        rows.into_iter().map(|r| (r.path, r.top)).collect()
    };
    assert_eq!(strip(read_csv(&old_csv, 3)), strip(rows.clone()));

    // (a) Single files: listed on stdout (no --out), same classes and probabilities as in the
    // folder run; --top-k 2 lists two classes.
    let by_path: BTreeMap<&str, &Row> = rows.iter().map(|r| (r.path.as_str(), r)).collect();
    let files = [
        root.join("green").join("green00.png"),
        root.join("red").join("red01.jpg"),
        root.join("red").join("odd0.png"),
    ];
    let mut args = vec!["--top-k", "2"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = predict(&model, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !text.contains("accuracy"),
        "files named one by one have no true class: {text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3 * 3, "{text}");
    for (i, file) in files.iter().enumerate() {
        let row = by_path[file.to_str().unwrap()];
        let (path, rest) = lines[3 * i].rsplit_once(": ").unwrap();
        assert_eq!(path, file.to_str().unwrap());
        assert_eq!(rest, format!("{} ({:.4})", row.predicted, row.probability));
        for j in 0..2 {
            let listed: Vec<&str> = lines[3 * i + 1 + j].split_whitespace().collect();
            assert_eq!(listed[0], row.top[j].0);
            assert_eq!(listed[1], format!("{:.4}", row.top[j].1));
        }
    }
    assert_eq!(
        by_path[files[2].to_str().unwrap()].predicted,
        "green",
        "the green picture in red/ is green"
    );

    // (c) A quoted pattern the shell did not expand: the PNG files of red/ only.
    let pattern = root.join("red").join("*.png");
    let pattern_csv = dir.path().join("pattern.csv");
    let out = predict(
        &model,
        &[
            "--out",
            pattern_csv.to_str().unwrap(),
            pattern.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let matched = read_csv(&pattern_csv, 3);
    let expected: Vec<String> = rows
        .iter()
        .filter(|r| parent_name(&r.path) == "red" && r.path.ends_with(".png"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        expected.len(),
        4,
        "red00, red02, red04 and odd0: {expected:?}"
    );
    assert_eq!(
        matched.iter().map(|r| r.path.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(json(&pattern_csv.with_extension("json"))["evaluation"].is_null());
    // A recursive pattern reaches every JPEG of the tree.
    let recursive = root.join("**").join("*.jpg");
    let out = predict(&model, &[recursive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let jpegs = rows.iter().filter(|r| r.path.ends_with(".jpg")).count();
    assert_eq!(
        stdout(&out).lines().filter(|l| !l.starts_with(' ')).count(),
        jpegs
    );
    // A pattern that matches nothing is an error naming it.
    let nothing = root.join("*.gif");
    let out = predict(&model, &[nothing.to_str().unwrap()]);
    assert_fails_naming(&out, nothing.to_str().unwrap(), "no file matches");
    let out = predict(&model, &[root.join("nope.png").to_str().unwrap()]);
    assert_fails_naming(&out, "nope.png", "not found");

    // Split folders holding class folders: read split by split, with a warning that they are
    // counted together.
    let splits = dir.path().join("splits");
    write_class_tree(&splits.join("train"), 2, 700);
    write_class_tree(&splits.join("test"), 3, 800);
    let out = predict(&model, &[splits.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("split folders test/, train/ are all predicted"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("of 15 images in class folders"),
        "{}",
        stdout(&out)
    );
    let out = predict(&model, &[splits.join("test").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("of 9 images in class folders"),
        "{}",
        stdout(&out)
    );
}

fn assert_fails_naming(out: &Output, name: &str, words: &str) {
    assert!(!out.status.success(), "should fail: {}", stdout(out));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(out);
    assert!(err.contains(name), "error does not name {name}: {err}");
    assert!(err.contains(words), "error lacks `{words}`: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_files_and_bad_options_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path()).join("model");

    // (d) A folder with a stray text file and a broken (truncated) JPEG.
    let root = dir.path().join("mixed");
    write_class_tree(&root, 2, 300);
    std::fs::write(root.join("blue").join("readme.txt"), "stray").unwrap();
    let good = write_image(&root.join("green"), "broken", 1, 1, 5);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&good, &bytes[..bytes.len() / 2]).unwrap();
    let out = predict(&model, &[root.to_str().unwrap()]);
    assert_fails_naming(&out, "broken.jpg", "truncated JPEG");
    assert!(
        stderr(&out).contains("--skip-bad-images"),
        "{}",
        stderr(&out)
    );

    let csv = dir.path().join("skip.csv");
    let out = predict(
        &model,
        &[
            "--skip-bad-images",
            "--out",
            csv.to_str().unwrap(),
            root.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("skipped 1 undecodable image(s)"), "{err}");
    assert!(err.contains("broken.jpg"), "{err}");
    assert!(
        err.contains("skipped 1 file(s) that are not images: 1 *.txt"),
        "{err}"
    );
    let rows = read_csv(&csv, 3);
    assert_eq!(rows.len(), 6, "the broken file left out");
    assert!(rows.iter().all(|r| !r.path.contains("broken")));
    let summary = json(&csv.with_extension("json"));
    assert_eq!(summary["images"], 6);
    let skipped = summary["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0]["path"].as_str().unwrap().ends_with("broken.jpg"));
    assert!(skipped[0]["reason"].as_str().unwrap().contains("truncated"));
    assert_eq!(summary["evaluation"]["images"], 6);

    // A file named explicitly that is not an image: an error naming it.
    let text_file = root.join("blue").join("readme.txt");
    let out = predict(&model, &[text_file.to_str().unwrap()]);
    assert_fails_naming(&out, "readme.txt", "cannot decode");

    // (e) --top-k 0, and more classes than the model has.
    let one = root.join("red").join("red00.png");
    let out = predict(&model, &["--top-k", "0", one.to_str().unwrap()]);
    assert_fails_naming(&out, "--top-k", "at least one class");
    let out = predict(&model, &["--top-k", "7", one.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("--top-k 7 is more than the model's 3 classes"));
    assert_eq!(stdout(&out).lines().count(), 1 + 3);

    // --out must name the CSV, not the JSON beside it.
    let out = predict(
        &model,
        &[
            "--out",
            dir.path().join("p.json").to_str().unwrap(),
            one.to_str().unwrap(),
        ],
    );
    assert_fails_naming(&out, "p.json", "--out");
    // A folder without any image.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    std::fs::write(empty.join("sub").join("a.txt"), "x").unwrap();
    let out = predict(&model, &[empty.to_str().unwrap()]);
    assert_fails_naming(&out, "empty", "no image files");
}
