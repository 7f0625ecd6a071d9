//! End-to-end tests of the `pipeline` binary on the built-in synthetic dataset and tiny files.

use std::path::Path;

mod common;
use common::{pipeline, stderr};

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("results.json")).expect("json")
}

const QUICK: &[&str] = &[
    "run",
    "--train-limit",
    "1500",
    "--val-size",
    "500",
    "--test-limit",
    "1000",
    "--epochs",
    "5",
    "--lr",
    "0.01",
    "--reg",
    "0.001",
    "--threads",
    "2",
];

#[test]
fn run_on_synthetic_writes_results_with_the_stable_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let mut args = QUICK.to_vec();
    // The SVM's default solver is L-BFGS: one history entry per iteration. (At 5 iterations
    // the synthetic data's best validation accuracy was 0.246, at 20 it is 0.28.)
    args.extend([
        "--model",
        "svm",
        "--iterations",
        "20",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let out = pipeline(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    for row in [
        "dataset", "splits", "features", "model", "accuracy", "time (s)",
    ] {
        assert!(table.contains(row), "table lacks {row}: {table}");
    }
    let json = read_json(&out_dir.join("results.json"));
    for split in ["train", "val", "test"] {
        let acc = json["accuracy"][split].as_f64().unwrap();
        assert!(
            acc > 0.2 && acc <= 1.0,
            "{split} accuracy {acc} is not twice chance (0.1) after 5 L-BFGS iterations"
        );
    }
    for stage in ["load", "features", "train", "evaluate"] {
        assert!(json["timings_s"][stage].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(json["data"]["train"], 1500);
    assert_eq!(json["settings"]["model"], "svm");
    assert_eq!(json["history"].as_array().unwrap().len(), 20);
    assert!(
        stderr(&out).contains("no learning rate"),
        "the ignored --lr is not reported: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("warning: --epochs does not apply to --model svm"),
        "the ignored --epochs is not reported: {}",
        stderr(&out)
    );
    let confusion = json["per_class"]["confusion"].as_array().unwrap();
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(total, 1000);
}

#[test]
fn same_seed_and_threads_give_identical_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out_dir = dir.path().join(name);
        let mut args = QUICK.to_vec();
        args.extend(["--seed", "5", "--out", out_dir.to_str().unwrap()]);
        let out = pipeline(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let json = read_json(&out_dir.join("results.json"));
        (
            json["accuracy"].clone(),
            json["history"].clone(),
            json["per_class"].clone(),
            common::without_timings(&json),
        )
    };
    let (acc_a, hist_a, cls_a, all_a) = run("a");
    let (acc_b, hist_b, cls_b, all_b) = run("b");
    // Everything but the timings is identical, byte for byte once serialised.
    assert_eq!(all_a.to_string(), all_b.to_string());
    assert_eq!(acc_a, acc_b);
    assert_eq!(cls_a, cls_b);
    let losses = |h: &serde_json::Value| -> Vec<f64> {
        h.as_array()
            .unwrap()
            .iter()
            .map(|e| e["loss"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(losses(&hist_a), losses(&hist_b));
}

#[test]
fn validation_search_reports_the_whole_grid() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "--train-limit",
        "800",
        "--val-size",
        "300",
        "--test-limit",
        "300",
        "--epochs",
        "2",
        "--lr",
        "0.001,0.01",
        "--reg",
        "0.0001,0.01",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    let out = pipeline(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = read_json(&dir.path().join("results.json"));
    let grid = json["search"].as_array().unwrap();
    assert_eq!(grid.len(), 4);
    let best = grid
        .iter()
        .map(|p| p["val_accuracy"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(json["chosen"]["val_accuracy"].as_f64().unwrap(), best);
}

#[test]
fn divergence_stops_with_advice_and_keeps_earlier_results() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    std::fs::write(&results, "{\"earlier\": true}").unwrap();
    let args = [
        "run",
        "--train-limit",
        "500",
        "--val-size",
        "100",
        "--epochs",
        "3",
        "--lr",
        "1e38",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    let out = pipeline(&args);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("diverged") && err.contains("smaller learning rate"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&results).unwrap(),
        "{\"earlier\": true}"
    );
}

#[test]
fn a_diverging_mlp_point_is_skipped_and_only_an_all_diverged_search_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "run",
        "--model",
        "mlp",
        "--hidden",
        "10",
        "--epochs",
        "2",
        "--train-limit",
        "400",
        "--val-size",
        "100",
        "--test-limit",
        "100",
        "--threads",
        "2",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    let mut one_diverges = args.clone();
    one_diverges.extend(["--lr", "1e30,0.01"]);
    let out = pipeline(&one_diverges);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("diverged") && table.contains("1 of 2 points"),
        "{table}"
    );
    assert!(
        stderr(&out).contains("diverged, skipped"),
        "{}",
        stderr(&out)
    );
    let json = read_json(&dir.path().join("results.json"));
    assert_eq!(json["chosen"]["lr"], 0.01);
    let divergence = &json["search"][0]["diverged"];
    assert!(divergence["epoch"].as_u64().unwrap() >= 1, "{divergence}");
    assert_eq!(divergence["learning_rate"], 1e30);
    assert!(json["search"][0]["val_accuracy"].is_null());

    args.extend(["--lr", "1e30"]);
    let out = pipeline(&args);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("every one of the 1 points of the mlp search diverged")
            && err.contains("in epoch")
            && err.contains("lower learning rate"),
        "{err}"
    );
}

#[test]
fn options_that_do_not_apply_to_the_model_are_told_in_one_line_each() {
    let quick = [
        "--train-limit",
        "300",
        "--val-size",
        "100",
        "--test-limit",
        "100",
        "--epochs",
        "1",
    ];
    let mut mlp = vec!["run", "--model", "mlp", "--hidden", "8"];
    mlp.extend(quick);
    mlp.extend([
        "--lr-decay",
        "0.5",
        "--no-average",
        "--solver",
        "sgd",
        "--iterations",
        "9",
    ]);
    let out = pipeline(&mlp);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for flag in ["--lr-decay", "--no-average", "--solver", "--iterations"] {
        let prefix = format!("warning: {flag} does not apply to --model mlp");
        assert_eq!(
            err.lines().filter(|l| l.starts_with(&prefix)).count(),
            1,
            "{flag}: {err}"
        );
    }
    let mut softmax = vec![
        "run",
        "--model",
        "softmax",
        "--hidden",
        "8",
        "--dropout",
        "0.1",
    ];
    softmax.extend(quick);
    let out = pipeline(&softmax);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for flag in ["--hidden", "--dropout"] {
        let prefix = format!("warning: {flag} does not apply to --model softmax");
        assert!(err.lines().any(|l| l.starts_with(&prefix)), "{flag}: {err}");
    }
    let mut empty = vec!["run", "--model", "mlp", "--hidden", ""];
    empty.extend(quick);
    let out = pipeline(&empty);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--hidden"), "{}", stderr(&out));
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let out = pipeline(&[
        "run",
        "--dataset",
        "cifar10",
        "--data-dir",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing") && stderr(&out).contains("not found"));

    let out = pipeline(&["run", "--dataset", "mnist"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--data-dir"), "{}", stderr(&out));

    let cifar = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&cifar).unwrap();
    for name in [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ] {
        std::fs::write(cifar.join(name), vec![0u8; 3073 * 2 + 5]).unwrap();
    }
    let out = pipeline(&[
        "run",
        "--dataset",
        "cifar10",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("data_batch_1.bin") && err.contains("3073"),
        "{err}"
    );

    let out = pipeline(&["run", "--model", "tree"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("softmax"), "{}", stderr(&out));

    let out = pipeline(&["run", "--features", "sift"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("sift") && err.contains("raw"), "{err}");

    let out = pipeline(&["run", "--lr=-1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("lr"), "{}", stderr(&out));
}

#[test]
/// The default validation grid on a 10,000-image subset, 10 epochs: 0.913 when written.
#[ignore = "needs WB_DATA_DIR"]
fn mnist_softmax_reaches_ninety_percent() {
    let data = std::env::var("WB_DATA_DIR").expect("set WB_DATA_DIR to run real-data tests");
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "--dataset",
        "mnist",
        "--data-dir",
        &data,
        "--model",
        "softmax",
        "--train-limit",
        "10000",
        "--epochs",
        "10",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    let out = pipeline(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = read_json(&dir.path().join("results.json"));
    assert_eq!(json["data"]["test"], 10_000, "the full test set");
    let test_acc = json["accuracy"]["test"].as_f64().unwrap();
    assert!(test_acc >= 0.90, "MNIST softmax test accuracy {test_acc}");
}

/// A tiny MNIST in IDX format (plain files): `n` 28x28 images, each a bright square at a
/// position that depends on its label.
fn write_tiny_mnist(dir: &std::path::Path, train: usize, test: usize) {
    fn idx(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut bytes = magic.to_be_bytes().to_vec();
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(body);
        bytes
    }
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let mut pixels = vec![0u8; n * 28 * 28];
        for (i, &label) in labels.iter().enumerate() {
            let (y0, x0) = (4 + 2 * label as usize, 4 + label as usize);
            for y in y0..y0 + 6 {
                for x in x0..x0 + 6 {
                    pixels[i * 784 + y * 28 + x] = 255;
                }
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

#[test]
fn auto_augmentation_is_measured_and_shift_and_none_do_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let mnist = dir.path().join("mnist");
    std::fs::create_dir(&mnist).unwrap();
    write_tiny_mnist(&mnist, 60, 20);
    for augment in ["auto", "shift", "none"] {
        let out_dir = dir.path().join(format!("out-{augment}"));
        let out = pipeline(&[
            "run",
            "--dataset",
            "mnist",
            "--data-dir",
            mnist.to_str().unwrap(),
            "--val-size",
            "10",
            "--epochs",
            "2",
            "--augment",
            augment,
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let json = read_json(&out_dir.join("results.json"));
        let data = &json["data"];
        assert_eq!(
            data["flipped"], false,
            "{augment}: gray digits are never mirrored"
        );
        let shifted = match augment {
            "auto" => {
                // Gray images: `none` against `shift`, both measured on validation.
                let choice = &data["augment_choice"];
                let tried = choice["val_accuracy"].as_array().unwrap();
                let names: Vec<&str> = tried.iter().map(|t| t[0].as_str().unwrap()).collect();
                assert_eq!(names, ["none", "shift"]);
                let acc = |i: usize| tried[i][1].as_f64().unwrap();
                let chosen = choice["chosen"].as_str().unwrap();
                assert_eq!(chosen, if acc(1) > acc(0) { "shift" } else { "none" });
                assert!(stderr(&out).contains("augment auto:"), "{}", stderr(&out));
                chosen == "shift"
            }
            "shift" => true,
            _ => false,
        };
        assert!(augment == "auto" || data.get("augment_choice").is_none());
        assert_eq!(data["shifted"], shifted, "{augment}");
        assert_eq!(data["train"], if shifted { 250 } else { 50 }, "{augment}");
    }
}

/// `--mlp-augment crop-flip` on raw pixels: the settings record the shift sized to the image
/// (1/8 of 32 pixels) and the mirror, the same seed gives the same numbers, and the
/// augmentation changes the training (its losses differ from the unaugmented run's).
#[test]
fn mlp_augmentation_is_recorded_reproducible_and_changes_training() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, augment: &str| {
        let out_dir = dir.path().join(name);
        let mut args = QUICK.to_vec();
        args.extend([
            "--model",
            "mlp",
            "--hidden",
            "32",
            "--mlp-augment",
            augment,
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        let out = pipeline(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        read_json(&out_dir.join("results.json"))
    };
    let a = run("a", "crop-flip");
    let b = run("b", "crop-flip");
    let plain = run("plain", "none");
    let augment = &a["settings"]["mlp"]["augment"];
    assert_eq!(augment["max_shift"], 4, "{augment}");
    assert_eq!(augment["flip"], true, "{augment}");
    assert_eq!(augment["height"], 32, "{augment}");
    assert!(plain["settings"]["mlp"]["augment"].is_null());
    assert_eq!(
        common::without_timings(&a).to_string(),
        common::without_timings(&b).to_string()
    );
    let losses = |j: &serde_json::Value| j["history"].to_string();
    assert_ne!(losses(&a), losses(&plain));
    let test = a["accuracy"]["test"].as_f64().unwrap();
    assert!(test > 0.15, "augmented MLP test accuracy {test}");
}

#[test]
fn mlp_augmentation_needs_raw_pixels_and_in_memory_training() {
    let mut args = QUICK.to_vec();
    args.extend([
        "--model",
        "mlp",
        "--features",
        "hog",
        "--mlp-augment",
        "translate",
    ]);
    let out = pipeline(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--mlp-augment translate") && err.contains("--features raw"),
        "{err}"
    );
    let mut args = QUICK.to_vec();
    args.extend(["--model", "mlp", "--mlp-augment", "rotate"]);
    let out = pipeline(&args);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("crop-flip"), "{}", stderr(&out));
}

/// A preset supplies defaults (features, model, epochs, learning rates, both augmentations,
/// patience), every option given wins over it, its name is recorded, and running it on
/// another dataset than it was measured on says so.
#[test]
fn a_preset_fills_in_what_was_not_given_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("preset");
    let out = pipeline(&[
        "run",
        "--preset",
        "mnist-raw-mlp",
        "--dataset",
        "synthetic",
        "--train-limit",
        "600",
        "--val-size",
        "200",
        "--test-limit",
        "200",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--preset mnist-raw-mlp was measured on mnist")
            || common::stdout(&out).contains("--preset mnist-raw-mlp was measured on mnist"),
        "{}",
        stderr(&out)
    );
    let json = read_json(&out_dir.join("results.json"));
    let s = &json["settings"];
    assert_eq!(s["preset"], "mnist-raw-mlp");
    assert_eq!(s["model"], "mlp");
    assert_eq!(
        s["epochs"], 2,
        "the command line wins over the preset's 100"
    );
    assert_eq!(s["mlp"]["hidden"], serde_json::json!([16]));
    assert_eq!(s["lr"], serde_json::json!([0.05]));
    assert!(s["mlp"]["patience"].is_null(), "{}", s["mlp"]);
    assert_eq!(s["mlp"]["augment"]["max_shift"], 2, "{}", s["mlp"]);
    assert_eq!(s["augment"], "none");

    let out = pipeline(&["run", "--preset", "cifar-best"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cifar-best") && err.contains("cifar10-best") && err.contains("mnist-best"),
        "{err}"
    );
}
