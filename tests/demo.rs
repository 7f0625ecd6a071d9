//! End-to-end tests of `pipeline demo rings` and `pipeline demo spiral` (the lecture's two 2-D
//! pictures): the accuracies that make each picture's point, and the PNGs and demo.json.

use std::path::Path;

mod common;
use common::{pipeline, stderr, stdout};

use serde_json::Value;

/// Runs a demo into `out` and returns its demo.json.
fn demo(which: &str, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "demo",
        which,
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "2",
        "--size",
        "120",
    ];
    args.extend(extra);
    let run = pipeline(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    assert!(text.contains("train") && text.contains("test"), "{text}");
    let json = std::fs::read_to_string(out.join("demo.json")).expect("demo.json written");
    serde_json::from_str(&json).expect("demo.json parses")
}

/// `(train, test)` accuracy of the model called `name`.
fn accuracies(report: &Value, name: &str) -> (f64, f64) {
    let model = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no model {name} in {report}"));
    (
        model["train_accuracy"].as_f64().unwrap(),
        model["test_accuracy"].as_f64().unwrap(),
    )
}

fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}

#[test]
fn rings_need_polar_features_or_an_mlp() {
    let dir = tempfile::tempdir().unwrap();
    let report = demo("rings", dir.path(), &[]);
    // Measured with the defaults (seed 0, 200 points per ring; train / test): linear-xy
    // 0.517 / 0.505, linear-polar 0.998 / 0.993, mlp-xy 1.000 / 0.988. The linear ceiling is what
    // a line can reach on rings (~0.6), the floors sit a few points below the measured values.
    let (linear_train, linear_test) = accuracies(&report, "linear-xy");
    assert!(linear_train <= 0.65 && linear_test <= 0.65, "{report}");
    let (polar_train, polar_test) = accuracies(&report, "linear-polar");
    assert!(polar_train >= 0.95 && polar_test >= 0.95, "{report}");
    let (mlp_train, mlp_test) = accuracies(&report, "mlp-xy");
    assert!(mlp_train >= 0.95 && mlp_test >= 0.95, "{report}");
    for file in [
        "rings_linear_xy.png",
        "rings_linear_polar.png",
        "rings_mlp_xy.png",
    ] {
        // One 120-pixel panel with its title, the picture's title and the class legend around it.
        let (w, h) = png_size(&dir.path().join(file));
        assert!(
            (120..=1200).contains(&w) && (120..=1200).contains(&h),
            "{file}: {w}x{h}"
        );
    }
    assert_eq!(report["train_points"], 400);
    assert_eq!(report["test_points"], 400);
}

#[test]
fn spiral_capacity_helps_and_regularisation_costs_training_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let report = demo("spiral", dir.path(), &[]);
    // Measured with the defaults (seed 0, 3 x 100 points), train accuracy: 3 hidden units
    // 0.847, 20 units 0.993; 50 units at λ = 0.001 0.990, at λ = 0.1 0.537. The margins required
    // below are a third of the measured gaps (0.15 and 0.45), so the ordering is a real effect.
    let (h3, _) = accuracies(&report, "mlp-h3");
    let (h20, _) = accuracies(&report, "mlp-h20");
    assert!(h20 > h3 + 0.05, "20 hidden units {h20} vs 3 {h3}");
    let (weak, _) = accuracies(&report, "mlp-h50-reg0.001");
    let (strong, _) = accuracies(&report, "mlp-h50-reg0.1");
    assert!(
        strong < weak - 0.15,
        "λ = 0.1: {strong} vs λ = 0.001: {weak}"
    );
    // 2 x 3 panels of 120 pixels, with titles, row headings and a legend: wider than three
    // panels and taller than two.
    let (w, h) = png_size(&dir.path().join("spiral.png"));
    assert!(
        w > 3 * 120 && h > 2 * 120 && w < 3000 && h < 3000,
        "spiral.png {w}x{h}"
    );
    assert_eq!(report["models"].as_array().unwrap().len(), 6);
}

#[test]
fn same_seed_same_numbers() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let quick = ["--epochs", "20", "--points", "40"];
    let accuracies = |report: Value| {
        report["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["train_accuracy"].clone(), m["test_accuracy"].clone()))
            .collect::<Vec<_>>()
    };
    let first = accuracies(demo("spiral", a.path(), &quick));
    let second = accuracies(demo("spiral", b.path(), &quick));
    assert_eq!(first, second);
    assert_eq!(
        std::fs::read(a.path().join("spiral.png")).unwrap(),
        std::fs::read(b.path().join("spiral.png")).unwrap()
    );
}

#[test]
fn bad_options_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (args, needle) in [
        (vec!["demo", "spiral", "--classes", "1"], "--classes"),
        (vec!["demo", "spiral", "--widths", "3,0"], "--widths"),
        (vec!["demo", "spiral", "--regs=-1"], "--regs"),
        (vec!["demo", "rings", "--points", "0"], "--points"),
        (vec!["demo", "rings", "--epochs", "0"], "--epochs"),
        (vec!["demo", "rings", "--noise", "NaN"], "--noise"),
    ] {
        let mut args = args;
        args.extend(["--out", out]);
        let run = pipeline(&args);
        assert!(!run.status.success(), "{args:?} succeeded");
        let err = stderr(&run);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn spiral_help_names_the_panel_order() {
    let run = pipeline(&["demo", "spiral", "--help"]);
    assert!(run.status.success());
    let help = stdout(&run);
    assert!(
        help.contains("top row") && help.contains("bottom row"),
        "{help}"
    );
}
