//! [linfa](https://docs.rs/linfa) interop: the MLP as a linfa model.
//!
//! [`MlpClassifierParams`] (unchecked; [`ParamGuard::check`] runs [`MlpParams::check`], the
//! crate's one validation) → [`ValidMlpClassifierParams`] → `fit(&Dataset<f32, usize, Ix1>)` →
//! [`FittedMlpClassifier`] (linfa's [`PredictInplace`], and through it `Predict` on arrays and
//! datasets), which wraps the crate's [`Mlp`] ([`FittedMlpClassifier::model`]).
//!
//! Training is [`crate::fit`] on every sample without a validation set, so it runs all
//! `epochs` (early stopping needs validation data) and keeps the last epoch's weights. The
//! classes are `0..C` with `C = max label + 1` unless [`MlpClassifierParams::n_classes`] sets it.
//!
//! ```
//! use linfa::prelude::*;
//! use ndarray::{Array1, Array2};
//! use wb_mlp::linfa::MlpClassifierParams;
//!
//! // XOR-like quadrants: not linearly separable, easy for one hidden layer.
//! let x = Array2::from_shape_fn((200, 2), |(i, j)| {
//!     let sign = if (i >> j) & 1 == 0 { 1.0 } else { -1.0 };
//!     sign * (0.5 + ((i * 31 + j * 17) % 13) as f32 / 26.0)
//! });
//! let y = Array1::from_shape_fn(200, |i| (i & 1) ^ ((i >> 1) & 1));
//! let ds = Dataset::new(x, y);
//! let model = MlpClassifierParams::new()
//!     .hidden(vec![16])
//!     .dropout(0.0)
//!     .epochs(60)
//!     .batch_size(20)
//!     .learning_rate(0.1)
//!     .fit(&ds)?;
//! let accuracy = model.predict(&ds).confusion_matrix(&ds)?.accuracy();
//! assert!(accuracy > 0.95, "accuracy {accuracy}");
//! # Ok::<(), wb_mlp::MlpError>(())
//! ```

use ::linfa::dataset::{AsSingleTargets, DatasetBase};
use ::linfa::traits::{Fit, PredictInplace};
use ::linfa::ParamGuard;
use ndarray::{Array1, ArrayBase, Data, Ix2};

use crate::{ActivationKind, Mlp, MlpError, MlpParams, OptimizerKind, Schedule};
use wb_linear::LossKind;

/// Checked MLP hyper-parameters: what [`Fit`] trains with.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidMlpClassifierParams {
    params: MlpParams,
    n_classes: Option<usize>,
}

impl ValidMlpClassifierParams {
    /// The crate's own parameters (what [`crate::fit`] takes).
    pub fn params(&self) -> &MlpParams {
        &self.params
    }

    /// The number of classes, if set (else `max label + 1` of the training set).
    pub fn n_classes(&self) -> Option<usize> {
        self.n_classes
    }
}

/// Unchecked MLP hyper-parameters ([`MlpParams::default`] unless changed).
#[derive(Debug, Clone, PartialEq)]
pub struct MlpClassifierParams(ValidMlpClassifierParams);

impl Default for MlpClassifierParams {
    fn default() -> Self {
        Self::from_params(MlpParams::default())
    }
}

impl MlpClassifierParams {
    /// The tuned defaults ([`MlpParams::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Any [`MlpParams`] (checked by [`ParamGuard::check`], not here).
    pub fn from_params(params: MlpParams) -> Self {
        MlpClassifierParams(ValidMlpClassifierParams {
            params,
            n_classes: None,
        })
    }

    fn with(mut self, set: impl FnOnce(&mut MlpParams)) -> Self {
        set(&mut self.0.params);
        self
    }

    /// Hidden layer widths, input side first.
    pub fn hidden(self, hidden: Vec<usize>) -> Self {
        self.with(|p| p.hidden = hidden)
    }

    pub fn activation(self, activation: ActivationKind) -> Self {
        self.with(|p| p.activation = activation)
    }

    /// Probability of dropping a hidden unit in training (inverted dropout).
    pub fn dropout(self, dropout: f64) -> Self {
        self.with(|p| p.dropout = dropout)
    }

    /// Softmax, hinge or squared error.
    pub fn loss(self, loss: LossKind) -> Self {
        self.with(|p| p.loss = loss)
    }

    pub fn optimizer(self, optimizer: OptimizerKind) -> Self {
        self.with(|p| p.optimizer = optimizer)
    }

    /// Base learning rate η₀.
    pub fn learning_rate(self, learning_rate: f64) -> Self {
        self.with(|p| p.learning_rate = learning_rate)
    }

    pub fn schedule(self, schedule: Schedule) -> Self {
        self.with(|p| p.schedule = schedule)
    }

    pub fn momentum(self, momentum: f64) -> Self {
        self.with(|p| p.momentum = momentum)
    }

    /// L2 strength λ in `λ Σ W²` (weight matrices only).
    pub fn reg(self, reg: f64) -> Self {
        self.with(|p| p.reg = reg)
    }

    pub fn batch_size(self, batch_size: usize) -> Self {
        self.with(|p| p.batch_size = batch_size)
    }

    pub fn epochs(self, epochs: usize) -> Self {
        self.with(|p| p.epochs = epochs)
    }

    pub fn seed(self, seed: u64) -> Self {
        self.with(|p| p.seed = seed)
    }

    /// The number of classes `C` (labels must be below it); by default `max label + 1`.
    pub fn n_classes(mut self, n_classes: usize) -> Self {
        self.0.n_classes = Some(n_classes);
        self
    }
}

impl ParamGuard for MlpClassifierParams {
    type Checked = ValidMlpClassifierParams;
    type Error = MlpError;

    fn check_ref(&self) -> Result<&ValidMlpClassifierParams, MlpError> {
        self.0.params.check()?;
        if let Some(c) = self.0.n_classes.filter(|&c| c < 2) {
            return Err(MlpError::invalid(
                "n_classes",
                format!("{c} classes; a classifier needs at least 2"),
            ));
        }
        Ok(&self.0)
    }

    fn check(self) -> Result<ValidMlpClassifierParams, MlpError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// An MLP trained through linfa's [`Fit`]; predicts through [`PredictInplace`].
#[derive(Debug)]
pub struct FittedMlpClassifier(Mlp);

impl FittedMlpClassifier {
    /// The trained network (save it, read its tensors, ...).
    pub fn model(&self) -> &Mlp {
        &self.0
    }

    pub fn into_model(self) -> Mlp {
        self.0
    }
}

impl<D, T> Fit<ArrayBase<D, Ix2>, T, MlpError> for ValidMlpClassifierParams
where
    D: Data<Elem = f32>,
    T: AsSingleTargets<Elem = usize>,
{
    type Object = FittedMlpClassifier;

    /// Trains by [`crate::fit`] on every sample of `dataset` (no validation set).
    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<FittedMlpClassifier, MlpError> {
        let labels = dataset.as_single_targets().to_vec();
        let n_classes = match self.n_classes {
            Some(c) => c,
            None => labels
                .iter()
                .max()
                .map(|&m| m.saturating_add(1))
                .ok_or_else(|| MlpError::Data("the dataset has no samples".into()))?,
        };
        let (model, _history) = crate::fit(
            &self.params,
            dataset.records().view(),
            &labels,
            n_classes,
            None,
            &mut |_| {},
        )?;
        Ok(FittedMlpClassifier(model))
    }
}

impl<D: Data<Elem = f32>> PredictInplace<ArrayBase<D, Ix2>, Array1<usize>> for FittedMlpClassifier {
    /// Writes the class with the highest score of every row of `x` into `y` (evaluation mode).
    ///
    /// # Panics
    /// If `y` does not have one entry per row of `x`, or `x` not `input_dim()` columns
    /// (linfa's `PredictInplace` has no error path).
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<usize>) {
        assert_eq!(
            x.nrows(),
            y.len(),
            "predict_inplace: {} records but {} targets",
            x.nrows(),
            y.len()
        );
        for (dst, p) in y.iter_mut().zip(self.0.predict(x.view())) {
            *dst = p;
        }
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<usize> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::linfa::prelude::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

    fn blobs(n: usize, seed: u64) -> (Array2<f32>, Array1<usize>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let y = Array1::from_shape_fn(n, |i| i % 3);
        let x = Array2::from_shape_fn((n, 6), |(i, j)| {
            let centre = if j % 3 == y[i] { 1.5 } else { 0.0 };
            centre + rng.gen_range(-1.0f32..1.0)
        });
        (x, y)
    }

    #[test]
    fn the_linfa_path_gives_the_crates_own_predictions() {
        let (x, y) = blobs(240, 3);
        let (x_test, y_test) = blobs(90, 4);
        let params = MlpClassifierParams::new()
            .hidden(vec![12])
            .epochs(8)
            .batch_size(32)
            .learning_rate(0.05)
            .seed(11);
        let checked = params.clone().check().unwrap();
        let (own, _) = crate::fit(
            checked.params(),
            x.view(),
            &y.to_vec(),
            3,
            None,
            &mut |_| {},
        )
        .unwrap();
        let via_linfa = params.fit(&Dataset::new(x, y)).unwrap();
        assert_eq!(via_linfa.model().tensors(), own.tensors());
        let test = Dataset::new(x_test.clone(), y_test.clone());
        let pred = via_linfa.predict(&test);
        let own_pred = own.predict(x_test.view());
        assert_eq!(pred.to_vec(), own_pred);
        let own_accuracy = own_pred.iter().zip(&y_test).filter(|(p, t)| p == t).count() as f32
            / y_test.len() as f32;
        let accuracy = pred.confusion_matrix(&test).unwrap().accuracy();
        assert!((accuracy - own_accuracy).abs() < 1e-6);
        assert!(own_accuracy > 0.7, "{own_accuracy}");
    }

    #[test]
    fn bad_parameters_are_errors_naming_them() {
        let err = MlpClassifierParams::new().dropout(1.5).check().unwrap_err();
        assert!(err.to_string().contains("dropout"), "{err}");
        let err = MlpClassifierParams::new().n_classes(1).check().unwrap_err();
        assert!(err.to_string().contains("n_classes"), "{err}");
        let ds = Dataset::new(Array2::<f32>::zeros((4, 2)), Array1::from(vec![0, 1, 0, 7]));
        let err = MlpClassifierParams::new()
            .hidden(vec![4])
            .n_classes(3)
            .fit(&ds)
            .unwrap_err();
        assert!(err.to_string().contains("label 7"), "{err}");
    }
}
