//! No partial output (issue 14): a run failing halfway leaves an earlier `--out` folder
//! byte-for-byte unchanged; a `compare` killed in the middle of its grid leaves a folder that
//! `--resume` completes, reusing the finished cells; two `compare` runs sharing one
//! `--cache-dir` at the same time both succeed and leave valid cache files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{pipeline, snapshot, stderr};

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn args(base: &[&str], extra: &[&str]) -> Vec<String> {
    base.iter().chain(extra).map(|a| a.to_string()).collect()
}

fn run_ok(args: &[String]) -> std::process::Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = pipeline(&refs);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

fn run_failing(args: &[String]) -> String {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = pipeline(&refs);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 29) as u8 ^ seed, (y * 13) as u8, seed.wrapping_mul(11)])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    bytes
}

#[test]
fn a_bad_image_in_the_middle_of_a_folder_leaves_the_earlier_out_folder_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("photos");
    for (c, class) in ["cats", "dogs", "owls"].iter().enumerate() {
        std::fs::create_dir_all(data.join(class)).unwrap();
        for i in 0..8u8 {
            std::fs::write(
                data.join(class).join(format!("{i:02}.png")),
                png(12, 12, c as u8 * 60 + i * 3),
            )
            .unwrap();
        }
    }
    let out = dir.path().join("out");
    let base = [
        "run",
        "--dataset",
        "folder",
        "--data-dir",
        s(&data),
        "--threads",
        "1",
        "--epochs",
        "2",
        "--augment",
        "none",
        "--out",
        s(&out),
    ];
    run_ok(&args(&base, &[]));
    let before = snapshot(&out);
    assert!(before.contains_key(Path::new("results.json")), "{before:?}");
    assert!(before.keys().any(|k| k.starts_with("model")), "{before:?}");

    // The 4th of 8 images of the middle class is not an image.
    let bad = data.join("dogs").join("03.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\n and then nothing sensible").unwrap();
    let err = run_failing(&args(&base, &[]));
    assert!(err.contains(s(&bad)), "{err}");
    assert_eq!(snapshot(&out), before, "the earlier --out folder changed");

    // The same for `compare` on the same folder.
    let compare_out = dir.path().join("compare-out");
    std::fs::write(&bad, png(12, 12, 99)).unwrap();
    let compare = [
        "compare",
        "--dataset",
        "folder",
        "--data-dir",
        s(&data),
        "--threads",
        "1",
        "--features",
        "color",
        "--models",
        "softmax",
        "--linear-epochs",
        "2",
        "--augment",
        "none",
        "--out",
        s(&compare_out),
    ];
    run_ok(&args(&compare, &[]));
    let before = snapshot(&compare_out);
    std::fs::write(&bad, b"not a png").unwrap();
    let err = run_failing(&args(&compare, &[]));
    assert!(err.contains(s(&bad)), "{err}");
    assert_eq!(
        snapshot(&compare_out),
        before,
        "the earlier compare folder changed"
    );
}

/// Small synthetic runs.
const SMALL: &[&str] = &[
    "--train-limit",
    "200",
    "--val-size",
    "50",
    "--test-limit",
    "50",
    "--threads",
    "1",
    "--augment",
    "none",
];

#[test]
fn every_grid_point_diverging_leaves_the_earlier_out_folder_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mlp = ["--model", "mlp", "--hidden", "8", "--epochs", "3"];
    let run = |lr: &str| {
        let mut a = args(&["run"], SMALL);
        a.extend(args(&mlp, &["--lr", lr, "--out", s(&out)]));
        a
    };
    run_ok(&run("0.01"));
    let before = snapshot(&out);
    let err = run_failing(&run("1e30,1e29"));
    assert!(
        err.contains("diverged") && err.contains("learning rate"),
        "{err}"
    );
    assert_eq!(snapshot(&out), before, "the earlier run folder changed");

    // compare: the only cell's search diverges everywhere.
    let compare_out = dir.path().join("compare-out");
    let compare = |lr: &str| {
        let mut a = args(&["compare"], SMALL);
        a.extend(args(
            &[
                "--features",
                "color",
                "--models",
                "mlp",
                "--hidden",
                "8",
                "--mlp-epochs",
                "3",
                "--mlp-lr",
                lr,
                "--out",
                s(&compare_out),
            ],
            &[],
        ));
        a
    };
    run_ok(&compare("0.01"));
    let before = snapshot(&compare_out);
    assert!(before.contains_key(Path::new("settings.json")));
    let err = run_failing(&compare("1e30"));
    assert!(err.contains("diverged"), "{err}");
    assert_eq!(
        snapshot(&compare_out),
        before,
        "the earlier compare folder changed"
    );
}

/// A grid of 4 feature sets x 2 models, about a second a cell.
fn grid(out: &Path, cache: Option<&Path>, extra: &[&str]) -> Vec<String> {
    let mut a = args(
        &[
            "compare",
            "--train-limit",
            "600",
            "--val-size",
            "100",
            "--test-limit",
            "100",
            "--threads",
            "1",
            "--augment",
            "none",
            "--features",
            "color",
            "--features",
            "hog",
            "--features",
            "gabor",
            "--features",
            "raw",
            "--models",
            "softmax,mlp",
            "--linear-epochs",
            "3",
            "--mlp-epochs",
            "3",
            "--hidden",
            "16",
            "--out",
            s(out),
        ],
        extra,
    );
    if let Some(c) = cache {
        a.extend(["--cache-dir".into(), s(c).into()]);
    }
    a
}

fn cell_files(out: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(out.join("cells")) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The accuracies of every cell, keyed by feature set and model.
fn accuracies(results: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    results["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!("{} x {}", c["features"], c["model"]),
                c["accuracy"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_compare_killed_mid_grid_is_completed_by_resume_reusing_the_finished_cells() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let a = grid(&out, None, &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(&a)
        .env_remove("PIPELINE_DATA")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while cell_files(&out).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "compare ended before its first cell was written"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no cell");
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(!exit.success(), "killed: {exit:?}");
    let finished = cell_files(&out);
    assert!(
        !finished.is_empty() && finished.len() < 8,
        "{} cells finished before the kill",
        finished.len()
    );
    assert!(
        !out.join("results.json").exists(),
        "killed before the end, yet results.json"
    );
    let kept: Vec<Vec<u8>> = finished.iter().map(|p| std::fs::read(p).unwrap()).collect();

    let mut resumed = a.clone();
    resumed.push("--resume".into());
    let output = run_ok(&resumed);
    let err = stderr(&output);
    assert_eq!(
        err.matches("(resumed)").count(),
        finished.len(),
        "every cell finished before the kill is reused: {err}"
    );
    let results = read_json(&out.join("results.json"));
    assert_eq!(results["cells"].as_array().unwrap().len(), 8);
    assert_eq!(results["resumed_cells"], finished.len());
    // The reused cells are the files written before the kill.
    for (path, bytes) in finished.iter().zip(&kept) {
        assert_eq!(&std::fs::read(path).unwrap(), bytes, "{}", path.display());
    }
    // A kill in the middle of an atomic write can leave its temporary file (SIGKILL cannot be
    // caught): at most one, under a `.tmp` name that is never read as a cell.
    let names: Vec<String> = std::fs::read_dir(out.join("cells"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let others: Vec<&String> = names.iter().filter(|n| !n.ends_with(".json")).collect();
    assert!(
        others.len() <= 1 && others.iter().all(|n| n.starts_with(".tmp")),
        "{names:?}"
    );
    assert_eq!(names.len() - others.len(), 8, "{names:?}");

    // The same numbers as a grid run in one go.
    let whole = dir.path().join("whole");
    run_ok(&grid(&whole, None, &[]));
    assert_eq!(
        accuracies(&results),
        accuracies(&read_json(&whole.join("results.json")))
    );
}

#[test]
fn two_compares_sharing_a_cache_dir_at_once_both_succeed_and_leave_a_valid_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let spawn = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(grid(&dir.path().join(name), Some(&cache), &[]))
            .env_remove("PIPELINE_DATA")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let first = accuracies(&read_json(&dir.path().join("a").join("results.json")));
    assert_eq!(
        first,
        accuracies(&read_json(&dir.path().join("b").join("results.json")))
    );
    // One file per feature set, no temporary file left.
    let files: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(
        files.iter().all(|f| f.ends_with(".safetensors")),
        "{files:?}"
    );

    // A third run reads every feature set from the cache (a damaged file would be reported and
    // extracted again) and gets the same numbers.
    let c = run_ok(&grid(&dir.path().join("c"), Some(&cache), &[]));
    let err = stderr(&c);
    assert_eq!(err.matches("(from the cache)").count(), 4, "{err}");
    assert!(!err.contains("extracting again"), "{err}");
    assert_eq!(
        first,
        accuracies(&read_json(&dir.path().join("c").join("results.json")))
    );
}
