//! Saved linear models: `model.json` + `linear.safetensors`, written by
//! [`wb_workbench::saved::save`] and read by [`wb_workbench::saved::load`] (what `predict`
//! calls).

use ndarray::{Array1, Array2};
use rand::Rng;
use wb_data::{ImageShape, Images, ResizeMode};
use wb_features::{FeatureSpec, Scaler};
use wb_linear::{LinearModel, LossKind};
use wb_workbench::saved::{self, Loaded, Preprocessing, LINEAR_META, LINEAR_WEIGHTS};
use wb_workbench::Classifier;

use crate::{ensure, Budget, Case, Format, Outcome, Target};

/// serde_json's value tree of the metadata (tens of bytes per byte), the weights read whole; the
/// constant covers one prediction of the check (the GEMM's packing buffers, 960 KiB).
const BUDGET: Budget = Budget {
    per_input_byte: 64,
    constant: 2 << 20,
};

pub const LINEAR: Target = Target {
    name: "linear-model",
    about: "wb_workbench::saved::load on a saved linear model (model.json and linear.safetensors)",
    budget: BUDGET,
    run: linear,
};

struct Valid {
    json: Vec<u8>,
    weights: Vec<u8>,
    model: LinearModel,
}

fn valid_model(case: &mut Case<'_>) -> Valid {
    let e = case.entropy();
    let (h, w, c) = (
        e.range(1, 4) as usize,
        e.range(1, 4) as usize,
        e.pick(&[1usize, 3]),
    );
    let n_classes = e.range(2, 5) as usize;
    let loss = e.pick(&[
        LossKind::Softmax,
        LossKind::Hinge,
        LossKind::SquaredHinge,
        LossKind::OvrSquaredHinge,
    ]);
    let mut rng = e.rng();
    let shape = ImageShape::new(h, w, c);
    let dim = shape.len();
    let images = Images::new(shape, (0..dim * 2).map(|_| rng.gen()).collect()).expect("2 images");
    let fitted = FeatureSpec::parse("raw")
        .expect("the raw spec")
        .fit(&images, 0)
        .expect("raw features fit anything");
    let scaler = Scaler {
        mean: (0..dim).map(|_| rng.gen_range(0.0f32..255.0)).collect(),
        inv_std: (0..dim).map(|_| rng.gen_range(0.01f32..1.0)).collect(),
    };
    let preprocessing = Preprocessing::new(
        "synthetic".into(),
        [h, w, c],
        ResizeMode::Crop,
        (0..n_classes).map(|k| format!("class {k}")).collect(),
        &fitted,
        &scaler,
    );
    let model = LinearModel {
        loss,
        weights: Array2::from_shape_fn((dim, n_classes), |_| rng.gen_range(-1.0f32..1.0)),
        bias: Array1::from_shape_fn(n_classes, |_| rng.gen_range(-1.0f32..1.0)),
    };
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let mut classifier = Classifier::Linear(model.clone());
    saved::save(scratch.path(), &mut classifier, &preprocessing).expect("save a linear model");
    let read = |name: &str| std::fs::read(scratch.path().join(name)).expect("read the model back");
    Valid {
        json: read(LINEAR_META),
        weights: read(LINEAR_WEIGHTS),
        model,
    }
}

fn linear(case: &mut Case<'_>) {
    let valid = valid_model(case);
    // A valid weights file outside the folder: a loader following `../` would succeed.
    case.decoy(LINEAR_WEIGHTS, valid.weights.clone());
    case.file(LINEAR_META, valid.json, Format::Json);
    case.file(LINEAR_WEIGHTS, valid.weights, Format::Safetensors);
    let dir = case.dir().to_path_buf();
    case.parse(|w| {
        Outcome::of(saved::load(&dir), |loaded: Loaded| {
            let Classifier::Linear(m) = &loaded.model else {
                return Err("a linear model loaded as an MLP".into());
            };
            let p = &loaded.preprocessing;
            ensure(
                m.weights.ncols() == m.bias.len()
                    && m.bias.len() == p.class_names.len()
                    && m.weights.nrows() == p.scaler.mean.len()
                    && p.scaler.mean.len() == p.scaler.inv_std.len(),
                || {
                    format!(
                        "weights {:?}, bias {}, {} classes, scaler {}",
                        m.weights.dim(),
                        m.bias.len(),
                        p.class_names.len(),
                        p.scaler.mean.len()
                    )
                },
            )?;
            ensure(
                m.weights.iter().chain(m.bias.iter()).all(|v| v.is_finite()),
                || "weights that are not finite".into(),
            )?;
            let x = Array2::<f32>::zeros((2, m.weights.nrows().min(1 << 14)));
            if x.ncols() == m.weights.nrows() {
                let scores = loaded.scores(x.view());
                ensure(scores.dim() == (2, m.bias.len()), || {
                    format!("scores {:?}", scores.dim())
                })?;
            }
            if w.unchanged {
                ensure(
                    m.weights == valid.model.weights
                        && m.bias == valid.model.bias
                        && m.loss == valid.model.loss,
                    || "the valid model read back other weights".into(),
                )?;
            }
            Ok(())
        })
    });
}
