//! Saved MLP models: `mlp.json` + `mlp.safetensors` ([`wb_mlp::Mlp::load`]).

use std::collections::HashMap;
use std::path::{Component, Path};

use rand::Rng;
use safetensors::tensor::{Dtype, TensorView};
use wb_mlp::{LayerSpec, LossKind, Mlp, ModelMeta, FORMAT_VERSION, META_FILE, WEIGHTS_FILE};

use crate::{ensure, Budget, Case, Format, Outcome, Target};

/// serde_json's value tree costs tens of bytes per byte of a small JSON document; the constant
/// covers the network and one prediction.
const BUDGET: Budget = Budget {
    per_input_byte: 64,
    constant: 1 << 20,
};

pub const MODEL: Target = Target {
    name: "mlp-model",
    about: "wb_mlp::Mlp::load on a folder with mlp.json and mlp.safetensors (random small architectures)",
    budget: BUDGET,
    run: model,
};

/// A random small architecture: 0-2 hidden blocks (affine, an activation, maybe dropout), then
/// the output affine layer. Returns (input_dim, n_classes, layers).
pub fn random_architecture(case: &mut Case<'_>) -> (usize, usize, Vec<LayerSpec>) {
    let e = case.entropy();
    let input_dim = e.range(1, 12) as usize;
    let mut width = input_dim;
    let mut layers = Vec::new();
    for _ in 0..e.range(0, 2) {
        let pieces = e.range(1, 3) as usize;
        let outputs = pieces * e.range(1, 4) as usize;
        layers.push(LayerSpec::Affine {
            inputs: width,
            outputs,
        });
        width = outputs;
        let activation = match e.below(7) {
            0 => LayerSpec::Relu,
            1 => LayerSpec::LeakyRelu { slope: 0.01 },
            2 => LayerSpec::Prelu { units: width },
            3 => LayerSpec::Elu { alpha: 1.0 },
            4 => LayerSpec::Sigmoid,
            5 => LayerSpec::Tanh,
            _ => LayerSpec::Maxout { pieces },
        };
        width = activation.output_dim(width);
        layers.push(activation);
        if e.chance(1, 3) {
            layers.push(LayerSpec::Dropout { p: 0.5 });
        }
    }
    let n_classes = e.range(2, 5) as usize;
    layers.push(LayerSpec::Affine {
        inputs: width,
        outputs: n_classes,
    });
    (input_dim, n_classes, layers)
}

/// The two files `Mlp::save` writes for these layers and tensor values (one `Vec<f32>` per
/// tensor, in `tensor_shapes` order).
pub fn model_files(
    input_dim: usize,
    n_classes: usize,
    loss: LossKind,
    layers: &[LayerSpec],
    values: &[Vec<f32>],
) -> (Vec<u8>, Vec<u8>) {
    let mut raw = Vec::new();
    let mut k = 0;
    for (i, spec) in layers.iter().enumerate() {
        for (suffix, shape) in spec.tensor_shapes() {
            let bytes: Vec<u8> = values[k].iter().flat_map(|v| v.to_le_bytes()).collect();
            raw.push((format!("layers.{i}.{suffix}"), shape, bytes));
            k += 1;
        }
    }
    let views = raw
        .iter()
        .map(|(name, shape, data)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), data).expect("consistent tensor"),
            )
        })
        .collect::<Vec<_>>();
    let info: HashMap<String, String> = [
        ("format".to_string(), "wb-mlp".to_string()),
        ("format_version".into(), FORMAT_VERSION.to_string()),
    ]
    .into();
    let weights = safetensors::serialize(views, &Some(info)).expect("serialise tensors");
    let meta = ModelMeta {
        format: "wb-mlp".into(),
        format_version: FORMAT_VERSION,
        input_dim,
        n_classes,
        loss,
        layers: layers.to_vec(),
        weights_file: WEIGHTS_FILE.into(),
        extra: serde_json::json!({"class_names": (0..n_classes).map(|c| format!("c{c}")).collect::<Vec<_>>()}),
    };
    let json = serde_json::to_vec_pretty(&meta).expect("serialise metadata");
    (json, weights)
}

fn model(case: &mut Case<'_>) {
    let (input_dim, n_classes, layers) = random_architecture(case);
    let loss = case.entropy().pick(&[
        LossKind::Hinge,
        LossKind::Softmax,
        LossKind::Squared,
        LossKind::SquaredHinge,
        LossKind::OvrSquaredHinge,
    ]);
    let mut rng = case.entropy().rng();
    let values: Vec<Vec<f32>> = layers
        .iter()
        .flat_map(|s| s.tensor_shapes())
        .map(|(_, shape)| {
            let n: usize = shape.iter().product();
            (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
        })
        .collect();
    let (json, weights) = model_files(input_dim, n_classes, loss, &layers, &values);
    // A valid weights file outside the folder: loading it through `../` would succeed, so a
    // loader that follows such an entry is caught by the check below.
    case.decoy(WEIGHTS_FILE, weights.clone());
    case.file(META_FILE, json, Format::Json);
    case.file(WEIGHTS_FILE, weights, Format::Safetensors);
    let dir = case.dir().to_path_buf();
    case.parse(|written| {
        Outcome::of(Mlp::load(&dir), |mlp| {
            let meta: ModelMeta = written
                .bytes(META_FILE)
                .and_then(|b| serde_json::from_slice(b).ok())
                .ok_or("loaded, but its mlp.json does not parse as ModelMeta")?;
            ensure(confined(&meta.weights_file), || {
                format!(
                    "loaded weights from `{}`, outside the model folder",
                    meta.weights_file
                )
            })?;
            check_model(&mlp, &meta)?;
            if written.unchanged {
                let loaded: Vec<Vec<f32>> = mlp.tensors().into_iter().map(|t| t.2).collect();
                ensure(loaded == values, || {
                    "the valid model read back other weights".into()
                })?;
            }
            Ok(())
        })
    });
}

/// A relative path of plain names.
fn confined(entry: &str) -> bool {
    !entry.is_empty()
        && Path::new(entry)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// The loaded model agrees with its metadata, its tensors have the shapes the layers need, and
/// it predicts a class for every row of a small batch.
pub fn check_model(mlp: &Mlp, meta: &ModelMeta) -> Result<(), String> {
    ensure(
        mlp.input_dim() == meta.input_dim
            && mlp.n_classes() == meta.n_classes
            && mlp.layers() == meta.layers,
        || format!("model {mlp:?} disagrees with its metadata"),
    )?;
    let expected: Vec<(String, Vec<usize>)> = meta
        .layers
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.tensor_shapes()
                .into_iter()
                .map(move |(suffix, shape)| (format!("layers.{i}.{suffix}"), shape))
        })
        .collect();
    let tensors = mlp.tensors();
    let found: Vec<(String, Vec<usize>)> = tensors
        .iter()
        .map(|(n, s, _)| (n.clone(), s.clone()))
        .collect();
    ensure(found == expected, || {
        format!("tensors {found:?}, layers need {expected:?}")
    })?;
    ensure(
        tensors.iter().all(|(_, s, v)| {
            s.iter().product::<usize>() == v.len() && v.iter().all(|x| x.is_finite())
        }),
        || "a tensor's values do not fill its shape or are not finite".into(),
    )?;
    ensure(
        mlp.n_parameters() == tensors.iter().map(|t| t.2.len()).sum::<usize>(),
        || "n_parameters disagrees with the tensors".into(),
    )?;
    // Only when a small batch fits the bound: the input width is the caller's, not the file's.
    if meta.input_dim <= 1 << 14 {
        let x = ndarray::Array2::<f32>::zeros((2, meta.input_dim));
        let predicted = mlp.predict(x.view());
        ensure(
            predicted.len() == 2 && predicted.iter().all(|&c| c < meta.n_classes),
            || format!("predicted {predicted:?} for {} classes", meta.n_classes),
        )?;
    }
    Ok(())
}
