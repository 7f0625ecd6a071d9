//! The fitted model: prediction, and saving / loading in safetensors + JSON.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Mutex;

use ndarray::{Array2, ArrayView2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use wb_linear::LossKind;

use crate::net::{LayerSpec, Network};
use crate::params::MlpError;
use crate::train::{argmax, predict_into};

/// File with the weights, one tensor per parameter (`layers.{i}.weight`, `layers.{i}.bias`, f32,
/// PyTorch layout: a `torch.nn.Sequential` of the same layers loads it with `load_state_dict`).
pub const WEIGHTS_FILE: &str = "mlp.safetensors";
/// File with the architecture and format version ([`ModelMeta`]).
pub const META_FILE: &str = "mlp.json";
/// Bumped when a saved model can no longer be read the old way; newer files are refused.
pub const FORMAT_VERSION: u32 = 1;

/// The JSON metadata saved beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Always `wb-mlp`.
    pub format: String,
    pub format_version: u32,
    pub input_dim: usize,
    pub n_classes: usize,
    /// The loss the model was trained with (decides how scores read as probabilities).
    pub loss: LossKind,
    pub layers: Vec<LayerSpec>,
    pub weights_file: String,
    /// Free slot for the caller (the pipeline's feature settings, standardiser, class names...),
    /// saved and loaded verbatim.
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// A trained network. Inference reuses internal buffers behind a mutex, so `&self` methods can be
/// called from several threads (they take turns).
pub struct Mlp {
    net: Mutex<Network<f32>>,
    loss: LossKind,
    extra: serde_json::Value,
}

impl std::fmt::Debug for Mlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let net = self.lock();
        f.debug_struct("Mlp")
            .field("input_dim", &net.input_dim())
            .field("n_classes", &net.output_dim())
            .field("layers", &net.specs())
            .finish()
    }
}

impl Mlp {
    pub(crate) fn from_network(net: Network<f32>, loss: LossKind) -> Self {
        Mlp {
            net: Mutex::new(net),
            loss,
            extra: serde_json::Value::Null,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Network<f32>> {
        // A panic in another thread mid-inference leaves only scratch buffers half-written.
        self.net.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn input_dim(&self) -> usize {
        self.lock().input_dim()
    }

    pub fn n_classes(&self) -> usize {
        self.lock().output_dim()
    }

    pub fn loss(&self) -> LossKind {
        self.loss
    }

    pub fn layers(&self) -> Vec<LayerSpec> {
        self.lock().specs().to_vec()
    }

    /// Number of trainable scalars.
    pub fn n_parameters(&self) -> usize {
        self.lock()
            .named_tensors()
            .iter()
            .map(|(_, _, v)| v.len())
            .sum()
    }

    /// A copy of every tensor as `(state-dict name, shape, values)` (`layers.0.weight` is
    /// outputs x inputs), to inspect or draw the learned weights without saving the model.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.lock()
            .named_tensors()
            .into_iter()
            .map(|(name, shape, v)| (name, shape, v.to_vec()))
            .collect()
    }

    /// The caller's metadata stored with the model (`Null` unless set).
    pub fn extra(&self) -> &serde_json::Value {
        &self.extra
    }

    pub fn set_extra(&mut self, extra: serde_json::Value) {
        self.extra = extra;
    }

    fn assert_width(&self, x: &ArrayView2<'_, f32>) {
        let d = self.input_dim();
        assert_eq!(
            x.ncols(),
            d,
            "the MLP was trained on {d} features but got {}",
            x.ncols()
        );
    }

    /// Class scores (N x C), evaluation mode (no dropout).
    ///
    /// # Panics
    /// If `x` does not have `input_dim()` columns.
    pub fn scores(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        self.assert_width(&x);
        let mut net = self.lock();
        let c = net.output_dim();
        let mut out = Array2::zeros((x.nrows(), c));
        const EVAL_BATCH: usize = 1000;
        let mut start = 0;
        while start < x.nrows() {
            let end = (start + EVAL_BATCH).min(x.nrows());
            net.forward(x.slice(ndarray::s![start..end, ..]), false);
            out.slice_mut(ndarray::s![start..end, ..])
                .assign(&net.scores());
            start = end;
        }
        out
    }

    /// Predicted class per row (argmax of the scores).
    ///
    /// # Panics
    /// If `x` does not have `input_dim()` columns.
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Vec<usize> {
        self.assert_width(&x);
        let mut out = Vec::with_capacity(x.nrows());
        predict_into(&mut self.lock(), x, &mut out);
        out
    }

    /// Row-wise softmax of the scores. Calibrated for the softmax loss; for hinge / squared loss
    /// it is only a monotone squashing of the scores.
    pub fn probabilities(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        wb_linear::loss::softmax_rows(self.scores(x).view())
    }

    /// Argmax of one score row (exposed so callers rank the same way as `predict`).
    pub fn argmax(row: &[f32]) -> usize {
        argmax(row.iter().copied())
    }

    /// The metadata that `save` writes.
    pub fn meta(&self) -> ModelMeta {
        let net = self.lock();
        ModelMeta {
            format: "wb-mlp".into(),
            format_version: FORMAT_VERSION,
            input_dim: net.input_dim(),
            n_classes: net.output_dim(),
            loss: self.loss,
            layers: net.specs().to_vec(),
            weights_file: WEIGHTS_FILE.into(),
            extra: self.extra.clone(),
        }
    }

    /// Writes `dir/mlp.safetensors` then `dir/mlp.json` (creating `dir`), each through a
    /// temporary file and a rename, so a crash never leaves a half-written file under either name.
    pub fn save(&self, dir: &Path) -> Result<(), MlpError> {
        fs::create_dir_all(dir).map_err(|source| MlpError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = {
            let net = self.lock();
            let tensors = net.named_tensors();
            let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
                .into_iter()
                .map(|(name, shape, v)| {
                    (
                        name,
                        shape,
                        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    )
                })
                .collect();
            let views = raw
                .iter()
                .map(|(name, shape, data)| {
                    TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (name.clone(), v))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format_error(&weights_path, format!("cannot build tensor: {e}")))?;
            let info: HashMap<String, String> = [
                ("format".to_string(), "wb-mlp".to_string()),
                ("format_version".into(), FORMAT_VERSION.to_string()),
            ]
            .into();
            safetensors::serialize(views, &Some(info))
                .map_err(|e| format_error(&weights_path, format!("cannot serialise: {e}")))?
        };
        wb_io::write_bytes(&weights_path, &bytes)?;
        let meta_path = dir.join(META_FILE);
        let json = serde_json::to_vec_pretty(&self.meta())
            .map_err(|e| format_error(&meta_path, format!("cannot serialise metadata: {e}")))?;
        Ok(wb_io::write_bytes(&meta_path, &json)?)
    }

    /// Reads a model written by [`Mlp::save`]. Errors name the offending file: unreadable,
    /// not valid JSON / safetensors (e.g. truncated), written by a newer format version, or
    /// tensors whose names, types or shapes do not match the architecture.
    pub fn load(dir: &Path) -> Result<Mlp, MlpError> {
        let meta_path = dir.join(META_FILE);
        let text = fs::read(&meta_path).map_err(|source| MlpError::Io {
            path: meta_path.clone(),
            source,
        })?;
        // Check the version before the full schema, so a newer file gets the helpful message.
        let probe: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
            format_error(
                &meta_path,
                format!("not valid JSON (truncated or corrupt?): {e}"),
            )
        })?;
        match probe.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v > FORMAT_VERSION as u64 => {
                return Err(format_error(
                    &meta_path,
                    format!("format version {v} is newer than this build reads ({FORMAT_VERSION}); upgrade the workbench"),
                ))
            }
            Some(_) => {}
            None => return Err(format_error(&meta_path, "no `format_version` field: not a wb-mlp model")),
        }
        let meta: ModelMeta = serde_json::from_value(probe)
            .map_err(|e| format_error(&meta_path, format!("invalid model metadata: {e}")))?;
        if meta.format != "wb-mlp" {
            return Err(format_error(
                &meta_path,
                format!("format is `{}`, expected `wb-mlp`", meta.format),
            ));
        }
        let n_parameters =
            validate_architecture(&meta).map_err(|reason| format_error(&meta_path, reason))?;

        // The weights must lie inside the model folder (no `..`, absolute path or link out).
        let weights_path = wb_io::confined(dir, &meta.weights_file)
            .map_err(|e| format_error(&meta_path, e.to_string()))?;
        // The file must hold at least the f32 values the architecture needs; checked on its
        // length before it is read and before any tensor is allocated.
        let needed = n_parameters
            .checked_mul(4)
            .ok_or_else(|| format_error(&meta_path, "the architecture has too many parameters"))?;
        let on_disk = fs::metadata(&weights_path)
            .map_err(|source| MlpError::Io {
                path: weights_path.clone(),
                source,
            })?
            .len();
        if on_disk < needed as u64 {
            return Err(format_error(
                &weights_path,
                format!(
                    "holds {on_disk} bytes but the architecture in {META_FILE} needs \
                     {n_parameters} f32 values ({needed} bytes): truncated or from another model"
                ),
            ));
        }
        let bytes = fs::read(&weights_path).map_err(|source| MlpError::Io {
            path: weights_path.clone(),
            source,
        })?;
        // `deserialize` checks every tensor's shape x dtype size (checked arithmetic) against
        // its byte range and the ranges against the buffer.
        let st = SafeTensors::deserialize(&bytes).map_err(|e| {
            format_error(
                &weights_path,
                format!(
                    "not a valid safetensors file (truncated or corrupt?): {}",
                    describe_safetensors_error(&e)
                ),
            )
        })?;

        let mut values: Vec<Vec<f32>> = Vec::new();
        let mut expected_names = 0usize;
        for (i, spec) in meta.layers.iter().enumerate() {
            for (suffix, shape) in spec.tensor_shapes() {
                expected_names += 1;
                let name = format!("layers.{i}.{suffix}");
                let t = st.tensor(&name).map_err(|_| {
                    format_error(&weights_path, format!("tensor `{name}` is missing"))
                })?;
                if t.dtype() != Dtype::F32 {
                    return Err(format_error(
                        &weights_path,
                        format!("tensor `{name}` is {:?}, expected F32", t.dtype()),
                    ));
                }
                if t.shape() != shape.as_slice() {
                    return Err(format_error(
                        &weights_path,
                        format!(
                            "tensor `{name}` has shape {:?} but {META_FILE} needs {:?}",
                            t.shape(),
                            shape
                        ),
                    ));
                }
                let v: Vec<f32> = t
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(format_error(
                        &weights_path,
                        format!("tensor `{name}` contains NaN or infinity"),
                    ));
                }
                values.push(v);
            }
        }
        if st.len() != expected_names {
            let mut extra: Vec<String> = st
                .names()
                .into_iter()
                .filter(|name| !is_expected_tensor(&meta.layers, name))
                .cloned()
                .collect();
            extra.sort();
            return Err(format_error(
                &weights_path,
                format!(
                    "tensors {extra:?} are not part of the architecture in {META_FILE}: the \
                     files belong to different models"
                ),
            ));
        }
        // Every tensor has been checked against the file, so building the network allocates no
        // more than the file holds.
        let mut net = Network::<f32>::zeros(meta.input_dim, meta.layers.clone(), 0);
        net.load_tensors(&values);
        Ok(Mlp {
            net: Mutex::new(net),
            loss: meta.loss,
            extra: meta.extra,
        })
    }
}

/// What a safetensors parse error means, in words (the crate's `Display` is its `Debug`).
fn describe_safetensors_error(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall => "shorter than the 8-byte header length".into(),
        E::HeaderTooLarge => "the header length field says more than 100 MB".into(),
        E::InvalidHeaderLength => "the header length field points past the end of the file".into(),
        E::InvalidHeader => "the header is not UTF-8 text".into(),
        E::InvalidHeaderStart => "the header does not start with `{`".into(),
        E::InvalidHeaderDeserialization => "the header is not valid safetensors JSON".into(),
        E::MetadataIncompleteBuffer => {
            "the data section's length does not match the tensors in the header".into()
        }
        E::TensorInvalidInfo => {
            "a tensor's shape and dtype do not match the size of its byte range".into()
        }
        E::InvalidOffset(name) => {
            format!("tensor `{name}` does not start where the previous one ends")
        }
        E::ValidationOverflow => "a tensor's shape multiplies to more than can be counted".into(),
        other => format!("{other:?}"),
    }
}

/// Whether `name` is one of the tensors the architecture stores (`layers.{i}.{suffix}`).
fn is_expected_tensor(layers: &[LayerSpec], name: &str) -> bool {
    layers.iter().enumerate().any(|(i, spec)| {
        spec.tensor_shapes()
            .iter()
            .any(|(suffix, _)| name == format!("layers.{i}.{suffix}"))
    })
}

fn format_error(path: &Path, reason: impl Into<String>) -> MlpError {
    MlpError::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Widths must chain from `input_dim` to `n_classes`, and per-layer parameters must be sane.
/// Returns the number of trainable scalars, counted with checked arithmetic (a header naming
/// absurd widths is an error here, before anything is allocated).
fn validate_architecture(meta: &ModelMeta) -> Result<usize, String> {
    if meta.layers.is_empty() {
        return Err("the model has no layers".into());
    }
    if meta.input_dim == 0 {
        return Err("input_dim is 0".into());
    }
    let too_many = || "the architecture has more parameters than can be counted".to_string();
    let mut width = meta.input_dim;
    let mut n_parameters = 0usize;
    for (i, spec) in meta.layers.iter().enumerate() {
        match *spec {
            LayerSpec::Affine { inputs, outputs } if inputs != width || outputs == 0 => {
                return Err(format!(
                    "layer {i} is affine {inputs} -> {outputs} but its input has width {width}"
                ));
            }
            LayerSpec::Prelu { units } if units != width => {
                return Err(format!(
                    "layer {i} is PReLU over {units} units but its input has width {width}"
                ));
            }
            LayerSpec::BatchNorm { units } if units != width => {
                return Err(format!(
                    "layer {i} is batch normalisation over {units} units but its input has width {width}"
                ));
            }
            LayerSpec::Maxout { pieces } if pieces == 0 || !width.is_multiple_of(pieces) => {
                return Err(format!(
                    "layer {i} is maxout with {pieces} pieces over width {width}"
                ));
            }
            LayerSpec::Dropout { p } if !(0.0..1.0).contains(&p) => {
                return Err(format!("layer {i} has dropout probability {p}"));
            }
            LayerSpec::LeakyRelu { slope: a } | LayerSpec::Elu { alpha: a } if !a.is_finite() => {
                return Err(format!("layer {i} has a non-finite parameter {a}"));
            }
            _ => {}
        }
        for (_, shape) in spec.tensor_shapes() {
            let size = shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .ok_or_else(too_many)?;
            n_parameters = n_parameters.checked_add(size).ok_or_else(too_many)?;
        }
        width = spec.output_dim(width);
    }
    if width != meta.n_classes {
        return Err(format!(
            "the layers end with width {width} but n_classes is {}",
            meta.n_classes
        ));
    }
    Ok(n_parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A saved 3 -> 4 -> 2 model in a fresh folder.
    fn saved() -> tempfile::TempDir {
        let layers = vec![
            LayerSpec::Affine {
                inputs: 3,
                outputs: 4,
            },
            LayerSpec::Relu,
            LayerSpec::Affine {
                inputs: 4,
                outputs: 2,
            },
        ];
        let net = Network::<f32>::init(3, layers, crate::Init::Auto, 1);
        let dir = tempfile::tempdir().unwrap();
        Mlp::from_network(net, LossKind::Softmax)
            .save(dir.path())
            .unwrap();
        dir
    }

    fn edit_meta(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = dir.join(META_FILE);
        let mut meta: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        edit(&mut meta);
        fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
    }

    fn load_error(dir: &Path) -> String {
        Mlp::load(dir).unwrap_err().to_string()
    }

    #[test]
    fn weights_file_must_stay_inside_the_model_folder() {
        let dir = saved();
        let outside = dir
            .path()
            .join("..")
            .join("wb-mlp-outside-weights.safetensors");
        fs::copy(dir.path().join(WEIGHTS_FILE), &outside).unwrap();
        for entry in [
            "../wb-mlp-outside-weights.safetensors".to_string(),
            "sub/../../x".to_string(),
            outside.canonicalize().unwrap().display().to_string(),
            String::new(),
        ] {
            edit_meta(dir.path(), |m| m["weights_file"] = entry.clone().into());
            let message = load_error(dir.path());
            assert!(message.contains(META_FILE), "{message}");
            assert!(
                message.contains(&format!("file entry `{entry}`"))
                    && message.contains("must be a relative path"),
                "{message}"
            );
        }
        #[cfg(unix)]
        {
            let link = dir.path().join("link.safetensors");
            std::os::unix::fs::symlink(&outside, &link).unwrap();
            edit_meta(dir.path(), |m| {
                m["weights_file"] = "link.safetensors".into()
            });
            let message = load_error(dir.path());
            assert!(
                message.contains("file entry `link.safetensors`")
                    && message.contains("outside the folder"),
                "{message}"
            );
        }
        fs::remove_file(outside).unwrap();
        // A plain name in the folder still loads.
        edit_meta(dir.path(), |m| m["weights_file"] = WEIGHTS_FILE.into());
        Mlp::load(dir.path()).unwrap();
    }

    #[test]
    fn widths_larger_than_the_weights_file_are_refused_before_allocating() {
        let dir = saved();
        // Consistent but huge: 10^6 x 10^6 weights would be 4 TB.
        edit_meta(dir.path(), |m| {
            m["input_dim"] = 1_000_000.into();
            m["layers"][0]["inputs"] = 1_000_000.into();
            m["layers"][0]["outputs"] = 1_000_000.into();
            m["layers"][2]["inputs"] = 1_000_000.into();
        });
        let message = load_error(dir.path());
        assert!(message.contains(WEIGHTS_FILE), "{message}");
        assert!(
            message.contains("needs 1000003000002 f32 values (4000012000008 bytes)"),
            "{message}"
        );
        edit_meta(dir.path(), |m| {
            m["input_dim"] = (1u64 << 40).into();
            m["layers"][0]["inputs"] = (1u64 << 40).into();
            m["layers"][0]["outputs"] = (1u64 << 40).into();
            m["layers"][2]["inputs"] = (1u64 << 40).into();
        });
        let message = load_error(dir.path());
        assert!(
            message.contains(META_FILE) && message.contains("more parameters than can be counted"),
            "{message}"
        );
    }

    #[test]
    fn tensors_outside_the_architecture_are_refused() {
        let dir = saved();
        let path = dir.path().join(WEIGHTS_FILE);
        let bytes = fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let extra = [0u8; 4];
        let mut views: Vec<(String, TensorView<'_>)> = st.tensors();
        views.push((
            "layers.9.weight".into(),
            TensorView::new(Dtype::F32, vec![1], &extra).unwrap(),
        ));
        let rewritten = safetensors::serialize(views, &None).unwrap();
        fs::write(&path, rewritten).unwrap();
        let message = load_error(dir.path());
        assert!(
            message.contains(r#"tensors ["layers.9.weight"] are not part of the architecture"#),
            "{message}"
        );
    }
}
