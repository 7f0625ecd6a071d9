//! Helpers shared by the end-to-end tests of the `pipeline` binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary with `args`, without the user's `PIPELINE_DATA`.
pub fn pipeline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .env_remove("PIPELINE_DATA")
        .output()
        .expect("run pipeline")
}

#[allow(dead_code)] // not every test file reads stdout
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `results.json` without what two runs of the same settings may differ in: wall-clock
/// timings (and the rates computed from them) and the output folder's name. What is left —
/// every setting, split, search point, history, accuracy and confusion count — must be equal
/// byte for byte between two runs with the same seed and thread count.
#[allow(dead_code)] // not every test file compares runs
pub fn without_timings(value: &serde_json::Value) -> serde_json::Value {
    const VARYING: &[&str] = &[
        "timings_s",
        "seconds",
        "decode_seconds",
        "images_per_second",
        "features_seconds",
        "train_seconds",
        "fastest_step_seconds",
        "median_step_seconds",
        "out",
    ];
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .filter(|(k, _)| !VARYING.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), without_timings(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(without_timings).collect())
        }
        other => other.clone(),
    }
}

/// Every file and folder under `dir` (relative path → bytes; folders map to nothing); empty
/// when `dir` does not exist. Two equal snapshots mean the folder is byte-for-byte unchanged.
#[allow(dead_code)] // not every test file checks output folders
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
