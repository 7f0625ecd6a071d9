//! [linfa](https://docs.rs/linfa) interop: the linear classifiers as linfa models.
//!
//! linfa's convention is a parameter set checked once ([`ParamGuard::check`]) into its valid
//! form, whose [`Fit`] gives a fitted model that can only predict ([`PredictInplace`], and
//! through it linfa's `Predict` on arrays and datasets). Here:
//!
//! - [`LinearClassifierParams`] (unchecked) → [`ValidLinearClassifierParams`] (checked by
//!   [`LinearParams::check`], the crate's one validation) → `fit(&Dataset<f32, usize, Ix1>)`
//!   (one class index per record, as `Dataset::new(records, targets)` builds it) →
//!   [`FittedLinearClassifier`], which predicts `argmax_j (x·W + b)_j` for every row. It
//!   wraps the crate's [`LinearModel`] ([`FittedLinearClassifier::model`]); it exists so that
//!   `model.predict(&dataset)` is linfa's `Predict`, not [`LinearModel::predict`] on a view.
//! - Training is [`LinearModel::fit`] without a validation set: SGD keeps its last epoch,
//!   L-BFGS its last iterate. The classes are `0..C` with `C = max label + 1` unless
//!   [`LinearClassifierParams::n_classes`] sets it.
//!
//! ```
//! use linfa::prelude::*;
//! use ndarray::{Array1, Array2};
//! use wb_linear::linfa::LinearClassifierParams;
//!
//! // Three well separated 2-D classes.
//! let centres = [(0.0f32, 0.0f32), (4.0, 0.0), (0.0, 4.0)];
//! let x = Array2::from_shape_fn((150, 2), |(i, j)| {
//!     let (cx, cy) = centres[i % 3];
//!     let jitter = ((i * 7 + j * 13) % 11) as f32 / 11.0 - 0.5;
//!     if j == 0 { cx + jitter } else { cy - jitter }
//! });
//! let y = Array1::from_shape_fn(150, |i| i % 3);
//! let ds = Dataset::new(x, y);
//!
//! // The workbench's SVM: one-vs-rest squared hinge (Coates et al.'s L2-SVM) by L-BFGS.
//! let model = LinearClassifierParams::svm().reg(1e-3).fit(&ds)?;
//! let pred = model.predict(&ds);
//! let cm = pred.confusion_matrix(&ds)?;
//! assert!(cm.accuracy() > 0.95, "accuracy {}", cm.accuracy());
//! # Ok::<(), wb_linear::LinearError>(())
//! ```

use ::linfa::dataset::{AsSingleTargets, DatasetBase};
use ::linfa::traits::{Fit, PredictInplace};
use ::linfa::ParamGuard;
use ndarray::{Array1, ArrayBase, Data, Ix2};

use crate::model::{Labeled, LinearModel, LinearParams, Solver};
use crate::{LinearError, LossKind};

/// Checked hyper-parameters of a linear classifier: what [`Fit`] trains with.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidLinearClassifierParams {
    params: LinearParams,
    n_classes: Option<usize>,
}

impl ValidLinearClassifierParams {
    /// The crate's own parameters (what [`LinearModel::fit`] takes).
    pub fn params(&self) -> &LinearParams {
        &self.params
    }

    /// The number of classes, if set (else `max label + 1` of the training set).
    pub fn n_classes(&self) -> Option<usize> {
        self.n_classes
    }
}

/// Unchecked hyper-parameters of a linear classifier; [`ParamGuard::check`] validates them.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearClassifierParams(ValidLinearClassifierParams);

impl LinearClassifierParams {
    /// [`LinearParams::new`]`(loss)`: mini-batch SGD with the crate's defaults.
    pub fn new(loss: LossKind) -> Self {
        Self::from_params(LinearParams::new(loss))
    }

    /// Any [`LinearParams`] (checked by [`ParamGuard::check`], not here).
    pub fn from_params(params: LinearParams) -> Self {
        LinearClassifierParams(ValidLinearClassifierParams {
            params,
            n_classes: None,
        })
    }

    /// The workbench's default SVM: the one-vs-rest squared hinge
    /// `L_i = Σ_j max(0, 1 − t_j s_j)²` (Coates, Lee & Ng 2011) minimised by full-batch L-BFGS.
    pub fn svm() -> Self {
        Self::new(LossKind::OvrSquaredHinge).solver(Solver::Lbfgs)
    }

    /// Softmax regression by mini-batch SGD (the lecture's).
    pub fn softmax() -> Self {
        Self::new(LossKind::Softmax)
    }

    fn with(mut self, set: impl FnOnce(&mut LinearParams)) -> Self {
        set(&mut self.0.params);
        self
    }

    pub fn loss(self, loss: LossKind) -> Self {
        self.with(|p| p.loss = loss)
    }

    pub fn solver(self, solver: Solver) -> Self {
        self.with(|p| p.solver = solver)
    }

    /// SGD: initial step size.
    pub fn learning_rate(self, learning_rate: f64) -> Self {
        self.with(|p| p.learning_rate = learning_rate)
    }

    /// L2 strength λ in `λ Σ W²`.
    pub fn reg(self, reg: f64) -> Self {
        self.with(|p| p.reg = reg)
    }

    /// SGD: passes over the training set.
    pub fn epochs(self, epochs: usize) -> Self {
        self.with(|p| p.epochs = epochs)
    }

    pub fn batch_size(self, batch_size: usize) -> Self {
        self.with(|p| p.batch_size = batch_size)
    }

    pub fn momentum(self, momentum: f64) -> Self {
        self.with(|p| p.momentum = momentum)
    }

    pub fn lr_decay(self, lr_decay: f64) -> Self {
        self.with(|p| p.lr_decay = lr_decay)
    }

    /// SGD: each epoch's average of iterates (Polyak–Ruppert) instead of the last iterate.
    pub fn average(self, average: bool) -> Self {
        self.with(|p| p.average = average)
    }

    /// L-BFGS: maximum iterations.
    pub fn iterations(self, iterations: usize) -> Self {
        self.with(|p| p.iterations = iterations)
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

impl ParamGuard for LinearClassifierParams {
    type Checked = ValidLinearClassifierParams;
    type Error = LinearError;

    fn check_ref(&self) -> Result<&ValidLinearClassifierParams, LinearError> {
        self.0.params.check()?;
        if let Some(c) = self.0.n_classes.filter(|&c| c < 2) {
            return Err(LinearError::InvalidParam {
                param: "n_classes",
                reason: format!("{c} classes; a classifier needs at least 2"),
            });
        }
        Ok(&self.0)
    }

    fn check(self) -> Result<ValidLinearClassifierParams, LinearError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// The classes of a training set: `n_classes` if given, else `max label + 1` (at least 2).
pub(crate) fn class_count(labels: &[usize], n_classes: Option<usize>) -> Result<usize, String> {
    match n_classes {
        Some(c) => Ok(c),
        None => {
            let max = labels
                .iter()
                .copied()
                .max()
                .ok_or("the dataset has no samples")?;
            if max == 0 {
                return Err("every label is 0: a classifier needs at least 2 classes".into());
            }
            max.checked_add(1)
                .ok_or_else(|| format!("label {max} is too large"))
        }
    }
}

/// A linear classifier trained through linfa's [`Fit`]; predicts through [`PredictInplace`].
#[derive(Debug, Clone)]
pub struct FittedLinearClassifier(LinearModel);

impl FittedLinearClassifier {
    /// The trained weights and biases.
    pub fn model(&self) -> &LinearModel {
        &self.0
    }

    pub fn into_model(self) -> LinearModel {
        self.0
    }
}

impl<D, T> Fit<ArrayBase<D, Ix2>, T, LinearError> for ValidLinearClassifierParams
where
    D: Data<Elem = f32>,
    T: AsSingleTargets<Elem = usize>,
{
    type Object = FittedLinearClassifier;

    /// Trains by [`LinearModel::fit`] on every sample of `dataset` (no validation set).
    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<FittedLinearClassifier, LinearError> {
        let labels = dataset.as_single_targets().to_vec();
        let n_classes = class_count(&labels, self.n_classes).map_err(LinearError::InvalidData)?;
        let train = Labeled {
            x: dataset.records().view(),
            y: &labels,
        };
        let (model, _history) =
            LinearModel::fit(&self.params, train, None, n_classes, &mut |_| {})?;
        Ok(FittedLinearClassifier(model))
    }
}

impl<D: Data<Elem = f32>> PredictInplace<ArrayBase<D, Ix2>, Array1<usize>>
    for FittedLinearClassifier
{
    /// Writes `argmax_j (x·W + b)_j` of every row of `x` into `y`.
    ///
    /// # Panics
    /// If `y` does not have one entry per row of `x`, or `x` not one column per feature of the
    /// model (linfa's `PredictInplace` has no error path).
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<usize>) {
        assert_eq!(
            x.nrows(),
            y.len(),
            "predict_inplace: {} records but {} targets",
            x.nrows(),
            y.len()
        );
        let weights = &self.0.weights;
        assert_eq!(
            x.ncols(),
            weights.nrows(),
            "the linear model was trained on {} features but the records have {}",
            weights.nrows(),
            x.ncols()
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

    /// Two noisy Gaussian-like blobs per class in 5-D, deterministic.
    fn blobs(n: usize, classes: usize, seed: u64) -> (Array2<f32>, Array1<usize>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let y = Array1::from_shape_fn(n, |i| i % classes);
        let x = Array2::from_shape_fn((n, 5), |(i, j)| {
            let centre = if j % classes == y[i] { 2.0 } else { 0.0 };
            centre + rng.gen_range(-1.0f32..1.0)
        });
        (x, y)
    }

    #[test]
    fn the_linfa_path_gives_the_crates_own_predictions() {
        let (x, y) = blobs(300, 3, 1);
        let (x_test, y_test) = blobs(120, 3, 2);
        let ds = Dataset::new(x.clone(), y.clone());
        let labels = y.to_vec();
        for params in [
            LinearClassifierParams::svm().reg(1e-3).iterations(50),
            LinearClassifierParams::softmax()
                .learning_rate(0.05)
                .epochs(5)
                .seed(7),
            LinearClassifierParams::new(LossKind::Hinge)
                .learning_rate(0.01)
                .epochs(4)
                .batch_size(32),
        ] {
            let checked = params.clone().check().unwrap();
            let own = LinearModel::fit(
                checked.params(),
                Labeled {
                    x: x.view(),
                    y: &labels,
                },
                None,
                3,
                &mut |_| {},
            )
            .unwrap()
            .0;
            let via_linfa = params.fit(&ds).unwrap();
            assert_eq!(via_linfa.model().weights, own.weights);
            assert_eq!(via_linfa.model().bias, own.bias);
            let pred: Array1<usize> = via_linfa.predict(&x_test);
            assert_eq!(pred.to_vec(), own.predict(x_test.view()));
            let test_ds = Dataset::new(x_test.clone(), y_test.clone());
            let cm = pred.confusion_matrix(&test_ds).unwrap();
            let own_accuracy = crate::accuracy(&own.predict(x_test.view()), &y_test.to_vec());
            assert!((cm.accuracy() as f64 - own_accuracy).abs() < 1e-6);
            assert!(own_accuracy > 0.8, "{own_accuracy}");
        }
    }

    #[test]
    fn bad_parameters_and_data_are_errors_naming_them() {
        let err = LinearClassifierParams::softmax()
            .learning_rate(-1.0)
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("`lr`"), "{err}");
        let err = LinearClassifierParams::svm()
            .n_classes(1)
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("n_classes"), "{err}");
        let ds = Dataset::new(Array2::<f32>::zeros((4, 2)), Array1::<usize>::zeros(4));
        let err = LinearClassifierParams::softmax().fit(&ds).unwrap_err();
        assert!(err.to_string().contains("at least 2 classes"), "{err}");
        let ds = Dataset::new(Array2::<f32>::zeros((4, 2)), Array1::from(vec![0, 1, 2, 5]));
        let err = LinearClassifierParams::softmax()
            .n_classes(3)
            .fit(&ds)
            .unwrap_err();
        assert!(err.to_string().contains("label 5"), "{err}");
    }
}
