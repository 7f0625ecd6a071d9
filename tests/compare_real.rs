//! `pipeline compare` on real data: a reduced grid on fixed subsets of MNIST and CIFAR-10, each
//! cell's test accuracy compared with the value this code reached when the test was written, so
//! that a change that costs accuracy is caught. Reads `$WB_DATA_DIR` (the folder holding
//! `cifar-10-batches-bin/` and `mnist/`); ignored by default, CI runs it with `--ignored`.
//!
//! The subsets are fixed by the seed: 5,000 training images (after carving 1,000 for
//! validation with seed 0), the first 1,000 test images, no mirroring; softmax with its default
//! search grid (10 epochs), an MLP of 500 hidden units (10 epochs), 2 threads. Together they take
//! about a minute of wall time on 2 cores.

use std::path::{Path, PathBuf};

mod common;
use common::{pipeline, stderr};

/// Allowed distance from the stored accuracy: two points, far above the run-to-run noise of a
/// fixed seed (zero on one machine and thread count) yet small enough to catch a real loss.
const TOLERANCE: f64 = 0.02;

fn data_dir() -> PathBuf {
    PathBuf::from(std::env::var("WB_DATA_DIR").expect(
        "set WB_DATA_DIR to the folder holding cifar-10-batches-bin/ and mnist/ to run real-data tests",
    ))
}

/// Runs the reduced grid, checks every (features, model, stored test accuracy) and returns the
/// measured test accuracies in the order of `expected`.
fn check_grid(dataset: &str, features: &[&str], expected: &[(&str, &str, f64)]) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let data = data_dir();
    let mut args = vec![
        "compare",
        "--dataset",
        dataset,
        "--data-dir",
        data.to_str().unwrap(),
        "--train-limit",
        "5000",
        "--val-size",
        "1000",
        "--test-limit",
        "1000",
        "--augment",
        "none",
        "--models",
        "softmax,mlp",
        "--linear-epochs",
        "10",
        "--mlp-epochs",
        "10",
        "--hidden",
        "500",
        "--threads",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    for f in features {
        args.extend(["--features", f]);
    }
    let t = std::time::Instant::now();
    let out = pipeline(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    eprintln!("{dataset} grid: {:.1}s", t.elapsed().as_secs_f64());
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out_dir).join("results.json")).unwrap(),
    )
    .unwrap();
    let mut failures = Vec::new();
    let mut measured = Vec::new();
    for &(f, m, want) in expected {
        let got = results["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["features"] == f && c["model"] == m)
            .and_then(|c| c["accuracy"]["test"].as_f64())
            .unwrap_or_else(|| panic!("no cell {f} x {m}"));
        eprintln!("{dataset} {f:<10} {m:<8} test {got:.4} (stored {want:.4})");
        measured.push(got);
        if (got - want).abs() > TOLERANCE {
            failures.push(format!(
                "{f} x {m}: {got:.4}, stored {want:.4} ± {TOLERANCE}"
            ));
        }
    }
    assert!(failures.is_empty(), "{dataset}: {}", failures.join("; "));
    measured
}

#[test]
#[ignore = "needs WB_DATA_DIR"]
fn mnist_reduced_grid_keeps_its_accuracy() {
    // MNIST is gray: raw pixels and HOG (the hue histogram needs colour).
    check_grid(
        "mnist",
        &["raw", "hog"],
        &[
            ("raw", "softmax", MNIST_RAW_SOFTMAX),
            ("raw", "mlp", MNIST_RAW_MLP),
            ("hog", "softmax", MNIST_HOG_SOFTMAX),
            ("hog", "mlp", MNIST_HOG_MLP),
        ],
    );
}

#[test]
#[ignore = "needs WB_DATA_DIR"]
fn cifar10_reduced_grid_keeps_its_accuracy() {
    let got = check_grid(
        "cifar10",
        &["raw", "hog,color"],
        &[
            ("raw", "softmax", CIFAR_RAW_SOFTMAX),
            ("raw", "mlp", CIFAR_RAW_MLP),
            ("hog,color", "softmax", CIFAR_HOGCOLOR_SOFTMAX),
            ("hog,color", "mlp", CIFAR_HOGCOLOR_MLP),
        ],
    );
    // The lecture's claim on the same 5,000-image subset: HOG + hue histogram beats raw pixels
    // with the linear model (0.52 vs 0.36 when written) and with the MLP (0.54 vs 0.40).
    assert!(
        got[2] > got[0] + 0.05,
        "hog,color softmax {} vs raw {}",
        got[2],
        got[0]
    );
    assert!(
        got[3] > got[1] + 0.05,
        "hog,color mlp {} vs raw {}",
        got[3],
        got[1]
    );
}

// Test accuracies measured with this code (release build, 2 threads) when the test was
// written: `cargo test -p wb-pipeline --test compare_real -- --ignored --nocapture` prints them.
// MNIST took 14 s and CIFAR-10 44 s of wall time on the shared (loaded) 2-core machine.
const MNIST_RAW_SOFTMAX: f64 = 0.888;
const MNIST_RAW_MLP: f64 = 0.885;
const MNIST_HOG_SOFTMAX: f64 = 0.941;
const MNIST_HOG_MLP: f64 = 0.948;
const CIFAR_RAW_SOFTMAX: f64 = 0.357;
const CIFAR_RAW_MLP: f64 = 0.398;
const CIFAR_HOGCOLOR_SOFTMAX: f64 = 0.521;
const CIFAR_HOGCOLOR_MLP: f64 = 0.538;
