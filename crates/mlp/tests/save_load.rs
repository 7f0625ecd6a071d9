//! Saving and loading: identical predictions, readable by safetensors, clear errors on damage.

use std::fs;
use std::path::Path;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::SafeTensors;
use wb_mlp::{fit, ActivationKind, Mlp, MlpError, MlpParams, META_FILE, WEIGHTS_FILE};

fn data(n: usize, d: usize, classes: usize) -> (Array2<f32>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let x = Array2::from_shape_fn((n, d), |_| rng.gen_range(-1.0f32..1.0));
    let y = (0..n).map(|i| i % classes).collect();
    (x, y)
}

fn trained(act: ActivationKind) -> (Mlp, Array2<f32>) {
    let (x, y) = data(120, 9, 3);
    let params = MlpParams::default()
        .with_hidden(vec![7, 5])
        .with_activation(act)
        .with_dropout(0.1)
        .with_epochs(3);
    let (model, _) = fit(&params, x.view(), &y, 3, None, &mut |_| {}).unwrap();
    (model, x)
}

fn format_reason(err: MlpError, file: &str) -> String {
    match err {
        MlpError::Format { path, reason } => {
            assert!(
                path.ends_with(file),
                "error names {} not {file}",
                path.display()
            );
            reason
        }
        other => panic!("expected a format error for {file}, got {other}"),
    }
}

#[test]
fn roundtrip_gives_identical_predictions_for_every_activation() {
    for act in ActivationKind::ALL {
        let (mut model, x) = trained(act);
        model.set_extra(serde_json::json!({"classes": ["a", "b", "c"], "features": "raw"}));
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        let loaded = Mlp::load(dir.path()).unwrap();
        assert_eq!(loaded.scores(x.view()), model.scores(x.view()), "{act}");
        assert_eq!(loaded.predict(x.view()), model.predict(x.view()));
        assert_eq!(loaded.layers(), model.layers());
        assert_eq!(loaded.extra(), model.extra());
        // No temporary files are left behind.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}

#[test]
fn weights_use_pytorch_state_dict_names_and_layouts() {
    let (model, _) = trained(ActivationKind::Prelu);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let bytes = fs::read(dir.path().join(WEIGHTS_FILE)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    // Sequential(Linear(9,7), PReLU(7), Dropout, Linear(7,5), PReLU(5), Dropout, Linear(5,3)).
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.weight",
            "layers.3.bias",
            "layers.3.weight",
            "layers.4.weight",
            "layers.6.bias",
            "layers.6.weight"
        ]
    );
    assert_eq!(st.tensor("layers.0.weight").unwrap().shape(), &[7, 9]);
    assert_eq!(st.tensor("layers.6.bias").unwrap().shape(), &[3]);
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join(META_FILE)).unwrap()).unwrap();
    assert_eq!(meta["format_version"], 1);
    assert_eq!(meta["layers"][0]["type"], "affine");
}

fn saved() -> (tempfile::TempDir, Array2<f32>) {
    let (model, x) = trained(ActivationKind::Relu);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    (dir, x)
}

fn edit_meta(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(META_FILE);
    let mut meta: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    f(&mut meta);
    fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
}

#[test]
fn truncated_weights_name_the_file() {
    let (dir, _) = saved();
    let path = dir.path().join(WEIGHTS_FILE);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let reason = format_reason(Mlp::load(dir.path()).unwrap_err(), WEIGHTS_FILE);
    assert!(reason.contains("truncated"), "{reason}");
    fs::write(&path, &bytes[..5]).unwrap();
    format_reason(Mlp::load(dir.path()).unwrap_err(), WEIGHTS_FILE);
}

#[test]
fn truncated_metadata_names_the_file() {
    let (dir, _) = saved();
    let path = dir.path().join(META_FILE);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    format_reason(Mlp::load(dir.path()).unwrap_err(), META_FILE);
}

#[test]
fn newer_format_version_is_refused() {
    let (dir, _) = saved();
    edit_meta(dir.path(), |m| m["format_version"] = serde_json::json!(99));
    let reason = format_reason(Mlp::load(dir.path()).unwrap_err(), META_FILE);
    assert!(
        reason.contains("newer") && reason.contains("99"),
        "{reason}"
    );
}

#[test]
fn mismatched_shapes_are_refused() {
    let (dir, _) = saved();
    // Claim a wider first hidden layer than the weights file holds (and keep the chain consistent).
    edit_meta(dir.path(), |m| {
        m["layers"][0]["outputs"] = serde_json::json!(8);
        m["layers"][3]["inputs"] = serde_json::json!(8);
    });
    let reason = format_reason(Mlp::load(dir.path()).unwrap_err(), WEIGHTS_FILE);
    assert!(
        reason.contains("layers.0.weight") && reason.contains("shape"),
        "{reason}"
    );

    let (dir, _) = saved();
    edit_meta(dir.path(), |m| m["input_dim"] = serde_json::json!(10));
    let reason = format_reason(Mlp::load(dir.path()).unwrap_err(), META_FILE);
    assert!(reason.contains("width"), "{reason}");
}

#[test]
fn missing_directory_is_an_io_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    match Mlp::load(&dir.path().join("nope")).unwrap_err() {
        MlpError::Io { path, .. } => assert!(path.ends_with(META_FILE)),
        other => panic!("{other}"),
    }
}

#[test]
fn batch_norm_keeps_its_running_statistics_through_save_and_load() {
    let (x, y) = data(120, 9, 3);
    let params = MlpParams::default()
        .with_hidden(vec![7, 5])
        .with_batch_norm(true)
        .with_epochs(3);
    let (model, _) = fit(&params, x.view(), &y, 3, None, &mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let bytes = fs::read(dir.path().join(WEIGHTS_FILE)).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    // torch.nn.BatchNorm1d's names; training moved the running averages off 0 and 1.
    let mean = tensors.tensor("layers.1.running_mean").unwrap();
    let var = tensors.tensor("layers.1.running_var").unwrap();
    assert_eq!(mean.shape(), [7]);
    assert_eq!(var.shape(), [7]);
    assert!(mean
        .data()
        .chunks(4)
        .any(|b| f32::from_le_bytes(b.try_into().unwrap()) != 0.0));
    assert!(var
        .data()
        .chunks(4)
        .any(|b| f32::from_le_bytes(b.try_into().unwrap()) != 1.0));
    let loaded = Mlp::load(dir.path()).unwrap();
    assert_eq!(loaded.scores(x.view()), model.scores(x.view()));
}
