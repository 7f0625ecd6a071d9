//! linfa datasets as the engine's input: a validation search ([`crate::train::train`]) on a
//! training and a validation `linfa::Dataset<f32, usize, Ix1>` (what `Dataset::new(records,
//! targets)` gives for one class index per record).

use anyhow::{bail, Result};
use linfa::Dataset;
use ndarray::Ix1;

use crate::train::{Held, SearchData};

impl<'a> SearchData<'a> {
    /// The search data of a training and a validation dataset (records N x D, targets one
    /// class index per record), borrowed; the classes are `0..C` with `C` one more than the
    /// largest label of either.
    pub fn from_linfa(
        train: &'a Dataset<f32, usize, Ix1>,
        val: &'a Dataset<f32, usize, Ix1>,
    ) -> Result<SearchData<'a>> {
        let labels = |what: &str, ds: &'a Dataset<f32, usize, Ix1>| -> Result<&'a [usize]> {
            let Some(y) = ds.targets.as_slice() else {
                bail!("the {what} dataset's targets are not contiguous (use .to_owned())");
            };
            if y.len() != ds.records.nrows() {
                bail!(
                    "the {what} dataset has {} records but {} targets",
                    ds.records.nrows(),
                    y.len()
                );
            }
            Ok(y)
        };
        let (y_train, y_val) = (labels("training", train)?, labels("validation", val)?);
        if y_train.is_empty() || y_val.is_empty() {
            bail!("the training and validation datasets need at least one record each");
        }
        if train.records.ncols() != val.records.ncols() {
            bail!(
                "the training dataset has {} features, the validation dataset {}",
                train.records.ncols(),
                val.records.ncols()
            );
        }
        let max = y_train.iter().chain(y_val).copied().max().unwrap_or(0);
        if max == 0 {
            bail!("every label is 0: a classifier needs at least 2 classes");
        }
        Ok(SearchData {
            x_train: train.records.view().into(),
            y_train,
            held: Held::Split {
                x: val.records.view(),
                y: y_val,
            },
            n_classes: max.saturating_add(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array2, Ix1};

    use super::*;
    use crate::progress::Quiet;
    use crate::train::{train, Chatter, ModelKind, TrainOptions, TrainSettings};

    fn blobs(n: usize, offset: usize) -> Dataset<f32, usize, Ix1> {
        let y = Array1::from_shape_fn(n, |i| i % 3);
        let x = Array2::from_shape_fn((n, 4), |(i, j)| {
            let noise = ((i + offset) * 37 + j * 11) % 17;
            (if j == y[i] { 0.5 } else { 0.0 }) + noise as f32 / 17.0 - 0.5
        });
        Dataset::new(x, y)
    }

    #[test]
    fn a_search_on_linfa_datasets_equals_the_search_on_the_arrays() {
        let (tr, va) = (blobs(120, 0), blobs(60, 5));
        let mut options = TrainOptions::new(ModelKind::Softmax);
        options.epochs = Some(3);
        let settings = TrainSettings::from_options(&options, 0).unwrap();
        let chatter = Chatter {
            verbose: false,
            reporter: &Quiet,
        };
        let via_linfa = train(
            &settings,
            &SearchData::from_linfa(&tr, &va).unwrap(),
            &chatter,
        );
        let (y_train, y_val) = (tr.targets.to_vec(), va.targets.to_vec());
        let direct = SearchData {
            x_train: tr.records.view().into(),
            y_train: &y_train,
            held: Held::Split {
                x: va.records.view(),
                y: &y_val,
            },
            n_classes: 3,
        };
        let direct = train(&settings, &direct, &chatter).unwrap();
        let via_linfa = via_linfa.unwrap();
        // The same points and accuracies (the timings differ), the same chosen model.
        let numbers = |t: &crate::train::Trained| -> Vec<(f64, f64, f64, f64)> {
            let p = t.search.iter();
            p.map(|p| (p.lr, p.reg, p.train_accuracy, p.val_accuracy))
                .collect()
        };
        assert_eq!(numbers(&via_linfa), numbers(&direct));
        assert_eq!(
            via_linfa.model.predict(va.records.view()),
            direct.model.predict(va.records.view())
        );
        assert!(direct.chosen.val_accuracy > 0.6, "{:?}", direct.chosen);

        let wide = Dataset::new(Array2::zeros((3, 5)), Array1::from(vec![0, 1, 2]));
        let err = SearchData::from_linfa(&tr, &wide)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("4 features") && err.contains("5"), "{err}");
    }
}
