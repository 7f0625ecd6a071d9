use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{DataError, Images};

/// Images with one label each (`labels[i] < class_names.len()`).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub images: Images,
    pub labels: Vec<usize>,
    pub class_names: Vec<String>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn n_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            images: self.images.select(indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
        }
    }

    /// This dataset followed by its mirror images (left–right flips), with the same labels.
    pub fn with_horizontal_flips(&self) -> Dataset {
        let mut images = self.images.clone();
        images.extend(&self.images.flipped_horizontally());
        let mut labels = self.labels.clone();
        labels.extend_from_slice(&self.labels);
        Dataset {
            images,
            labels,
            class_names: self.class_names.clone(),
        }
    }

    /// This dataset followed by four copies moved one pixel right, left, down and up, with
    /// the same labels: the classic augmentation for digits, which (unlike a mirror image)
    /// never changes a digit's class. Five times the training rows.
    pub fn with_shifted_copies(&self) -> Dataset {
        let mut images = self.images.clone();
        let mut labels = self.labels.clone();
        for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            images.extend(&self.images.shifted(dx, dy));
            labels.extend_from_slice(&self.labels);
        }
        Dataset {
            images,
            labels,
            class_names: self.class_names.clone(),
        }
    }

    /// Number of samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.n_classes()];
        for &y in &self.labels {
            counts[y] += 1;
        }
        counts
    }
}

/// A dataset as published: its own training and test sets.
#[derive(Debug, Clone)]
pub struct TrainTest {
    pub train: Dataset,
    pub test: Dataset,
}

/// How to carve the splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitParams {
    /// Validation images carved from the training set (CS231n: 1,000 of 50,000).
    pub val_size: usize,
    /// Keep at most this many training images (after carving validation).
    pub train_limit: Option<usize>,
    /// Keep at most this many test images (the first ones, in the dataset's order).
    pub test_limit: Option<usize>,
    pub seed: u64,
}

impl Default for SplitParams {
    fn default() -> Self {
        SplitParams {
            val_size: 1000,
            train_limit: None,
            test_limit: None,
            seed: 0,
        }
    }
}

/// Train / validation / test splits.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
}

impl Splits {
    /// Carves a seeded validation set out of the training set; the test set is kept as is.
    pub fn carve(data: TrainTest, params: &SplitParams) -> Result<Splits, DataError> {
        let n = data.train.len();
        if params.val_size >= n {
            return Err(DataError::Invalid(format!(
                "validation size {} leaves no training images (the training set has {n})",
                params.val_size
            )));
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(params.seed ^ SPLIT_SALT));
        let (val_idx, train_idx) = order.split_at(params.val_size);
        let mut train_idx = train_idx.to_vec();
        if let Some(limit) = params.train_limit {
            if limit == 0 {
                return Err(DataError::Invalid(
                    "--train-limit must be at least 1".into(),
                ));
            }
            train_idx.truncate(limit);
        }
        // Sorted indices keep the dataset's order, so subsets are easy to reason about.
        train_idx.sort_unstable();
        let mut val_idx = val_idx.to_vec();
        val_idx.sort_unstable();
        let test = match params.test_limit {
            Some(limit) if limit < data.test.len() => {
                data.test.select(&(0..limit).collect::<Vec<_>>())
            }
            _ => data.test,
        };
        Ok(Splits {
            train: data.train.select(&train_idx),
            val: data.train.select(&val_idx),
            test,
        })
    }
}

/// A fixed salt so the split's shuffle differs from other seeded streams using the same seed.
const SPLIT_SALT: u64 = 0x5eed_5917;
