//! End-to-end tests of sharded extraction and streamed training: `pipeline fit-features`,
//! `pipeline extract --shard I/N --fitted FILE`, `pipeline run --features-from DIR`, on the
//! built-in synthetic dataset.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{pipeline, stderr, stdout};

use wb_workbench::extract::read_features;
use wb_workbench::shards::{concatenate, Manifest, Split};

const DATA: &[&str] = &[
    "--train-limit",
    "1200",
    "--val-size",
    "300",
    "--test-limit",
    "600",
    "--threads",
    "2",
];

const FEATURES: &[&str] = &[
    "--features",
    "kmeans,hog,color",
    "--kmeans-k",
    "16",
    "--kmeans-patches",
    "3000",
];

fn run(args: &[&str]) -> Output {
    let out = pipeline(args);
    assert!(
        out.status.success(),
        "pipeline {args:?} failed:\n{}",
        stderr(&out)
    );
    out
}

fn with(base: &[&str], extra: &[&str]) -> Vec<String> {
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Fits, then extracts `count` shards into `dir/shards`; returns the fitted file.
fn extract_shards(dir: &Path, count: usize) -> std::path::PathBuf {
    let fitted = dir.join("fitted.json");
    let mut args = vec!["fit-features".to_string()];
    args.extend(with(DATA, FEATURES));
    args.extend(["--out".into(), fitted.display().to_string()]);
    run(&strs(&args));
    for i in 0..count {
        let shard = format!("{i}/{count}");
        let mut args = vec!["extract".to_string()];
        args.extend(with(
            DATA,
            &[
                "--shard",
                &shard,
                "--fitted",
                fitted.to_str().unwrap(),
                "--out",
                dir.join("shards").to_str().unwrap(),
            ],
        ));
        run(&strs(&args));
    }
    fitted
}

fn accuracy(results: &Path) -> f64 {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(results).unwrap()).unwrap();
    json["accuracy"]["test"].as_f64().unwrap()
}

#[test]
fn four_shards_concatenate_bit_for_bit_to_one_extraction_and_train_like_memory() {
    let dir = tempfile::tempdir().unwrap();
    extract_shards(dir.path(), 4);
    let whole = dir.path().join("whole.safetensors");
    let mut args = vec!["extract".to_string()];
    args.extend(with(DATA, FEATURES));
    args.extend(["--out".into(), whole.display().to_string()]);
    run(&strs(&args));

    let shards = dir.path().join("shards");
    let manifest = Manifest::read(&shards).unwrap();
    assert_eq!(manifest.shard_count, 4);
    assert!(manifest.shards.iter().all(|s| s.checksum.is_some()));
    assert!(shards.join("fitted.json").is_file());
    let one = read_features(&whole).unwrap();
    for (split, x, y) in [
        (Split::Train, &one.train, &one.y_train),
        (Split::Val, &one.val, &one.y_val),
        (Split::Test, &one.test, &one.test_y),
    ] {
        let (xs, ys) = concatenate(&shards, split).unwrap();
        assert_eq!(xs.dim(), x.dim(), "{split:?}");
        let bits = |a: &ndarray::Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert!(bits(&xs) == bits(x), "{split:?}: features differ");
        assert_eq!(ys.iter().map(|&l| l as usize).collect::<Vec<_>>(), *y);
    }
    // Every shard file is itself a valid features file, checksum included.
    let first = read_features(&shards.join(&manifest.shards[0].file)).unwrap();
    assert_eq!(first.train.nrows(), manifest.shards[0].rows(Split::Train));

    // Streamed with a buffer of every shard: the in-memory training set, the same run.
    let train = [
        "--model", "softmax", "--epochs", "5", "--lr", "0.03", "--reg", "1e-4",
    ];
    let memory_out = dir.path().join("memory");
    let mut args = vec!["run".to_string()];
    args.extend(with(DATA, FEATURES));
    args.extend(with(&train, &["--out", memory_out.to_str().unwrap()]));
    run(&strs(&args));
    let streamed = |buffer: &str, out: &Path| {
        let mut args = vec!["run", "--features-from", shards.to_str().unwrap()];
        args.extend(train);
        args.extend(["--buffer-shards", buffer, "--threads", "2"]);
        args.extend(["--out", out.to_str().unwrap()]);
        let output = run(&args);
        assert!(
            stderr(&output).contains("memory estimate"),
            "{}",
            stderr(&output)
        );
        accuracy(&out.join("results.json"))
    };
    let memory = accuracy(&memory_out.join("results.json"));
    let all = streamed("4", &dir.path().join("s4"));
    let two = streamed("2", &dir.path().join("s2"));
    assert!(memory > 0.5, "{memory}");
    assert!((all - memory).abs() <= 0.003, "{all} vs {memory}");
    assert!((two - memory).abs() <= 0.03, "{two} vs {memory}");
    // The model saved from shards predicts images like any other.
    assert!(dir.path().join("s2/model/model.json").is_file());
}

#[test]
fn missing_damaged_and_replaced_shards_are_named() {
    let dir = tempfile::tempdir().unwrap();
    extract_shards(dir.path(), 3);
    let shards = dir.path().join("shards");
    let manifest = Manifest::read(&shards).unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--features-from",
            shards.to_str().unwrap(),
            "--model",
            "softmax",
            "--epochs",
            "1",
        ];
        args.extend(extra);
        pipeline(&args)
    };
    assert!(train(&[]).status.success());

    // L-BFGS is refused with the option to use; so is a memory bound below the estimate.
    let out = train(&["--model", "svm"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--solver sgd"), "{}", stderr(&out));
    let out = train(&["--max-memory", "1M"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("--max-memory") && err.contains("--buffer-shards") && err.contains("MiB"),
        "{err}"
    );

    // A flipped byte in a shard's features: named when the shard is read.
    let victim = shards.join(&manifest.shards[1].file);
    let original = std::fs::read(&victim).unwrap();
    let mut bytes = original.clone();
    let last = bytes.len() - 100;
    bytes[last] ^= 0x10;
    std::fs::write(&victim, &bytes).unwrap();
    let out = train(&[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&manifest.shards[1].file) && stderr(&out).contains("damaged"),
        "{}",
        stderr(&out)
    );

    // Truncated: named when the folder is opened.
    std::fs::write(&victim, &original[..original.len() / 2]).unwrap();
    let out = train(&[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&manifest.shards[1].file),
        "{}",
        stderr(&out)
    );

    // Missing: every missing shard is named with the command that makes it.
    std::fs::remove_file(&victim).unwrap();
    let out = train(&[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("1/3") && err.contains("--shard"), "{err}");

    // Re-running the shard replaces it and training works again.
    let fitted = dir.path().join("fitted.json");
    let mut args = vec!["extract".to_string()];
    args.extend(with(
        DATA,
        &[
            "--shard",
            "1/3",
            "--fitted",
            fitted.to_str().unwrap(),
            "--out",
            shards.to_str().unwrap(),
        ],
    ));
    run(&strs(&args));
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        original,
        "same shard, same bytes"
    );
    assert!(train(&[]).status.success());

    // A shard of another extraction (other data) is refused, not mixed in.
    let mut args = vec!["extract".to_string()];
    args.extend(with(
        &[
            "--train-limit",
            "900",
            "--val-size",
            "300",
            "--test-limit",
            "600",
        ],
        &[
            "--shard",
            "0/3",
            "--fitted",
            fitted.to_str().unwrap(),
            "--out",
            shards.to_str().unwrap(),
        ],
    ));
    let out = pipeline(&strs(&args));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("another extraction"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_shard_comes_from_slurm_or_kubernetes_variables() {
    let dir = tempfile::tempdir().unwrap();
    let fitted = dir.path().join("fitted.json");
    run(&[
        "fit-features",
        "--train-limit",
        "200",
        "--val-size",
        "50",
        "--test-limit",
        "100",
        "--features",
        "hog",
        "--out",
        fitted.to_str().unwrap(),
    ]);
    let extract = |vars: &[(&str, &str)], extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline"));
        cmd.args([
            "extract",
            "--train-limit",
            "200",
            "--val-size",
            "50",
            "--test-limit",
            "100",
            "--fitted",
            fitted.to_str().unwrap(),
            "--out",
            dir.path().join("shards").to_str().unwrap(),
        ])
        .args(extra)
        .env_remove("PIPELINE_DATA");
        for name in [
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_COUNT",
            "JOB_COMPLETION_INDEX",
        ] {
            cmd.env_remove(name);
        }
        cmd.envs(vars.iter().copied());
        cmd.output().unwrap()
    };
    let out = extract(
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("shard 1/2"), "{}", stdout(&out));
    let out = extract(&[("JOB_COMPLETION_INDEX", "0")], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--shard-count"), "{}", stderr(&out));
    let out = extract(&[("JOB_COMPLETION_INDEX", "0")], &["--shard-count", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = Manifest::read(&dir.path().join("shards")).unwrap();
    assert!(manifest.shards.iter().all(|s| s.checksum.is_some()));
    // Without a shard, --fitted is refused with what to add.
    let out = extract(&[], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--shard I/N"), "{}", stderr(&out));
}
