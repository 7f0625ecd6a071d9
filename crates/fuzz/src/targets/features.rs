//! Features files and the compare feature cache: safetensors written by
//! [`wb_workbench::extract::write_features`], read by [`wb_workbench::extract::read_features`]
//! (which `compare --cache-dir` and `run --features-from` shards go through).

use std::collections::HashMap;

use ndarray::Array2;
use rand::Rng;
use wb_data::{Dataset, ImageShape, Images, Splits};
use wb_features::{FeatureSpec, Scaler};
use wb_workbench::extract::{read_features, write_features, FeaturesFile};
use wb_workbench::run::FeatureMatrices;

use crate::{ensure, Budget, Case, Format, Outcome, Target};

/// The file read whole, then each tensor copied out once (and its checksum computed).
const BUDGET: Budget = Budget {
    per_input_byte: 16,
    constant: 1 << 20,
};

pub const FEATURES: Target = Target {
    name: "features",
    about: "wb_workbench::extract::read_features on a features file (the compare cache and shard format)",
    budget: BUDGET,
    run: features,
};

const FILE: &str = "features.safetensors";

fn dataset(n: usize, n_classes: usize, labels: &[usize]) -> Dataset {
    let shape = ImageShape::new(1, 1, 1);
    Dataset {
        images: Images::new(shape, vec![0; n]).expect("n 1x1 images"),
        labels: labels.to_vec(),
        class_names: (0..n_classes).map(|c| format!("c{c}")).collect(),
    }
}

/// What `write_features` writes for random small splits, and the values to expect back.
struct Valid {
    bytes: Vec<u8>,
    x: [Array2<f32>; 3],
    y: [Vec<usize>; 3],
    scaler: Scaler,
}

fn valid_file(case: &mut Case<'_>) -> Valid {
    let e = case.entropy();
    let dim = e.range(1, 6) as usize;
    let n_classes = e.range(2, 4) as usize;
    let counts = [
        e.range(1, 8) as usize,
        e.range(0, 4) as usize,
        e.range(0, 4) as usize,
    ];
    let mut rng = e.rng();
    let x = counts.map(|n| Array2::from_shape_fn((n, dim), |_| rng.gen_range(-4.0f32..4.0)));
    let y = counts.map(|n| {
        (0..n)
            .map(|_| rng.gen_range(0..n_classes))
            .collect::<Vec<_>>()
    });
    let scaler = Scaler {
        mean: (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect(),
        inv_std: (0..dim).map(|_| rng.gen_range(0.1f32..2.0)).collect(),
    };
    let splits = Splits {
        train: dataset(counts[0], n_classes, &y[0]),
        val: dataset(counts[1], n_classes, &y[1]),
        test: dataset(counts[2], n_classes, &y[2]),
    };
    let fitted = FeatureSpec::parse("raw")
        .expect("the raw spec")
        .fit(&splits.train.images, 0)
        .expect("raw features fit anything");
    let feats = FeatureMatrices {
        train: x[0].clone(),
        val: x[1].clone(),
        test: x[2].clone(),
        fitted,
        scaler: scaler.clone(),
    };
    let metadata: HashMap<String, String> = [
        ("dataset".to_string(), "synthetic".to_string()),
        (
            "cache_key".into(),
            format!("{{\"seed\":{}}}", rng.gen::<u32>()),
        ),
    ]
    .into();
    // Written where the production code writes it (atomically, header sorted), then read back.
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let path = scratch.path().join(FILE);
    write_features(&path, &feats, &splits, metadata).expect("write a features file");
    let bytes = std::fs::read(&path).expect("read the features file back");
    Valid {
        bytes,
        x,
        y,
        scaler,
    }
}

fn features(case: &mut Case<'_>) {
    let valid = valid_file(case);
    let path = case.file(FILE, valid.bytes.clone(), Format::Safetensors);
    case.parse(|w| {
        Outcome::of(read_features(&path), |f: FeaturesFile| {
            let d = f.train.ncols();
            ensure(
                [&f.val, &f.test].iter().all(|m| m.ncols() == d)
                    && f.scaler.mean.len() == d
                    && f.scaler.inv_std.len() == d,
                || "the splits and the scaler disagree on the dimension".into(),
            )?;
            ensure(
                f.train.nrows() == f.y_train.len()
                    && f.val.nrows() == f.y_val.len()
                    && f.test.nrows() == f.test_y.len(),
                || "a split's rows and labels disagree".into(),
            )?;
            if w.unchanged {
                let bits = |m: &Array2<f32>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                ensure(
                    [&f.train, &f.val, &f.test]
                        .iter()
                        .zip(&valid.x)
                        .all(|(a, b)| a.dim() == b.dim() && bits(a) == bits(b))
                        && [&f.y_train, &f.y_val, &f.test_y]
                            .iter()
                            .zip(&valid.y)
                            .all(|(a, b)| *a == b)
                        && f.scaler.mean == valid.scaler.mean
                        && f.scaler.inv_std == valid.scaler.inv_std,
                    || "the valid file read back other values".into(),
                )?;
            }
            Ok(())
        })
    });
}
