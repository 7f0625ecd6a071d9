//! Experiment files of `pipeline compare --config` ([`wb_workbench::compare::Plan::new`], which
//! parses the TOML with [`wb_workbench::compare::ExperimentFile::read`] and merges it into the
//! grid: models, search grids, feature options, `[feature_set."LABEL"]` rows).

use wb_workbench::compare::{CompareOptions, Plan};
use wb_workbench::Quiet;

use crate::{ensure, Budget, Case, Format, Outcome, Target};

/// The TOML parser's document tree and the plan (default feature options, model settings).
const BUDGET: Budget = Budget {
    per_input_byte: 256,
    constant: 4 << 20,
};

pub const EXPERIMENT: Target = Target {
    name: "experiment-toml",
    about: "wb_workbench::compare::Plan::new on an experiment file (TOML) of random valid settings",
    budget: BUDGET,
    run: experiment,
};

const FILE: &str = "experiment.toml";

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let inner: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    format!("[{}]", inner.join(", "))
}

/// A random valid experiment file, and the feature sets and models it names.
fn valid_toml(case: &mut Case<'_>) -> (String, Vec<String>, Vec<&'static str>) {
    let e = case.entropy();
    let all_sets = ["raw", "color", "hog", "gabor", "kmeans", "hog,color"];
    let all_models = ["svm", "softmax", "mlp"];
    let mut sets: Vec<String> = Vec::new();
    for s in all_sets {
        if e.chance(1, 3) {
            sets.push(s.to_string());
        }
    }
    if sets.is_empty() {
        sets.push(e.pick(&all_sets).to_string());
    }
    let mut models: Vec<&'static str> = all_models.into_iter().filter(|_| e.chance(1, 2)).collect();
    if models.is_empty() {
        models.push(e.pick(&all_models));
    }
    let quoted: Vec<String> = sets.iter().map(|s| format!("\"{s}\"")).collect();
    let quoted_models: Vec<String> = models.iter().map(|m| format!("\"{m}\"")).collect();
    let mut t = format!(
        "features = {}\nmodels = {}\nseed = {}\n",
        list(&quoted),
        list(&quoted_models),
        e.range(0, 1000)
    );
    if e.chance(1, 2) {
        t.push_str(&format!("train_limit = {}\n", e.range(10, 5000)));
    }
    if e.chance(1, 2) {
        t.push_str(&format!("val_size = {}\n", e.range(10, 500)));
    } else if e.chance(1, 3) {
        t.push_str(&format!("cv = {}\n", e.range(2, 10)));
    }
    if e.chance(1, 3) {
        t.push_str(&format!("test_limit = {}\n", e.range(10, 1000)));
    }
    if e.chance(1, 3) {
        t.push_str(&format!("threads = {}\n", e.range(1, 4)));
    }
    if e.chance(1, 3) {
        t.push_str(&format!("batch_size = {}\n", e.range(1, 512)));
    }
    if e.chance(1, 3) {
        t.push_str(&format!(
            "\n[feature_options]\nkmeans_k = {}\nhog_cell_size = {}\ncolor_bins = {}\n",
            e.range(2, 64),
            e.pick(&[4, 6, 8]),
            e.range(2, 16)
        ));
    }
    for m in &models {
        if !e.chance(1, 2) {
            continue;
        }
        let lr = [0.001, 0.01, 0.1];
        t.push_str(&format!(
            "\n[{m}]\nlr = {}\nreg = {}\nepochs = {}\n",
            list(&lr[..1 + e.below(3)]),
            list(&[0.0001, 0.001][..1 + e.below(2)]),
            e.range(1, 20)
        ));
        if *m == "mlp" {
            t.push_str(&format!("hidden = [{}]\n", e.range(1, 256)));
        }
    }
    if e.chance(1, 3) {
        let set = e.pick(&sets);
        let m = e.pick(&models);
        t.push_str(&format!(
            "\n[feature_set.\"{set}\".{m}]\nepochs = {}\n",
            e.range(1, 9)
        ));
    }
    (t, sets, models)
}

fn experiment(case: &mut Case<'_>) {
    let (text, sets, models) = valid_toml(case);
    let path = case.file(FILE, text.into_bytes(), Format::Toml);
    let options = CompareOptions {
        config: Some(path),
        out: Some(case.dir().join("out")),
        ..CompareOptions::default()
    };
    case.parse(|w| {
        Outcome::of(Plan::new(&options, &Quiet), |plan: Plan| {
            ensure(
                !plan.feature_sets.is_empty() && !plan.models.is_empty(),
                || "a plan without feature sets or models".into(),
            )?;
            let labels: Vec<String> = plan.feature_sets.iter().map(|s| s.label()).collect();
            ensure(
                plan.overrides
                    .iter()
                    .all(|(label, _)| labels.contains(label)),
                || "a [feature_set] row for a set outside the grid".into(),
            )?;
            if w.unchanged {
                ensure(labels == sets, || {
                    format!("feature sets {labels:?}, the file names {sets:?}")
                })?;
                let names: Vec<&str> = plan.models.iter().map(|m| m.model.name()).collect();
                ensure(names == models, || {
                    format!("models {names:?}, the file names {models:?}")
                })?;
            }
            Ok(())
        })
    });
}
