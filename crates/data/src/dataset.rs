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
    /// Validation images carved from the training set, stratified (CS231n: 1,000 of 50,000).
    /// At least 1; [`default_val_size`] gives the size to use when the user names none.
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
    /// Carves a seeded, stratified validation set of `params.val_size` images out of the
    /// training set ([`stratified_holdout`] with at least [`VAL_MIN_PER_CLASS`] per class when
    /// the size allows); the test set is kept as is. Then applies the train and test limits.
    ///
    /// `val_size = 0` is an error: the hyper-parameters are chosen on the validation split, and
    /// an empty one would report a meaningless 0 as its accuracy. Use [`default_val_size`] when
    /// the user gives no size.
    pub fn carve(data: TrainTest, params: &SplitParams) -> Result<Splits, DataError> {
        if params.val_size == 0 {
            return Err(DataError::Invalid(
                "validation size 0: at least one validation image per class is needed to \
                 choose the hyper-parameters (omit the size for the default rule)"
                    .into(),
            ));
        }
        let (train_idx, val_idx) = stratified_holdout(
            &data.train.labels,
            data.train.n_classes(),
            params.val_size,
            VAL_MIN_PER_CLASS,
            params.seed ^ SPLIT_SALT,
        )
        .map_err(|e| match e {
            DataError::Invalid(reason) => {
                DataError::Invalid(format!("validation size {}: {reason}", params.val_size))
            }
            other => other,
        })?;
        let val = data.train.select(&val_idx);
        Self::limited(&data.train, train_idx, val, data.test, params)
    }

    /// Uses a validation set given by the dataset itself (e.g. an image folder's `val/`
    /// beside `test/`) instead of carving one; applies the train and test limits of `params`
    /// (its `val_size` is not used). An empty validation set is an error, as in [`Splits::carve`].
    pub fn with_validation(
        data: TrainTest,
        val: Dataset,
        params: &SplitParams,
    ) -> Result<Splits, DataError> {
        if val.is_empty() {
            return Err(DataError::Invalid(
                "the validation split holds no images".into(),
            ));
        }
        // Shuffled with the seed, as in `carve`, so a train limit takes a random subset
        // rather than the first classes in folder order.
        let mut order: Vec<usize> = (0..data.train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(params.seed ^ SPLIT_SALT));
        Self::limited(&data.train, order, val, data.test, params)
    }

    /// No validation split: every training image stays in training (then the train and test
    /// limits of `params` apply; its `val_size` is not used). For cross-validation, where the
    /// folds of the training split take the validation split's place ([`stratified_k_fold`]).
    /// The training images are taken in a seeded shuffle, as in [`Splits::with_validation`],
    /// so a train limit keeps a random subset.
    pub fn without_validation(data: TrainTest, params: &SplitParams) -> Result<Splits, DataError> {
        let val = data.train.select(&[]);
        let mut order: Vec<usize> = (0..data.train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(params.seed ^ SPLIT_SALT));
        Self::limited(&data.train, order, val, data.test, params)
    }

    /// Keeps the first `train_limit` of the shuffled `train_order` and the first `test_limit`
    /// test images.
    fn limited(
        train: &Dataset,
        mut train_order: Vec<usize>,
        val: Dataset,
        test: Dataset,
        params: &SplitParams,
    ) -> Result<Splits, DataError> {
        if let Some(limit) = params.train_limit {
            if limit == 0 {
                return Err(DataError::Invalid(
                    "--train-limit must be at least 1".into(),
                ));
            }
            train_order.truncate(limit);
        }
        // Sorted indices keep the dataset's order, so subsets are easy to reason about.
        train_order.sort_unstable();
        let test = match params.test_limit {
            Some(limit) if limit < test.len() => test.select(&(0..limit).collect::<Vec<_>>()),
            _ => test,
        };
        Ok(Splits {
            train: train.select(&train_order),
            val,
            test,
        })
    }
}

/// A fixed salt so the split's shuffle differs from other seeded streams using the same seed.
const SPLIT_SALT: u64 = 0x5eed_5917;

/// Fraction of the training split the default validation rule holds out.
pub const DEFAULT_VAL_FRACTION: f64 = 0.1;
/// The default rule's upper bound: CIFAR-10's and MNIST's 1,000 (CS231n's split).
pub const DEFAULT_VAL_MAX: usize = 1000;
/// Validation images per class the default rule and [`Splits::carve`] aim for (when the
/// class has more images than that): one image per class would make the validation accuracy
/// of a class a coin flip.
pub const VAL_MIN_PER_CLASS: usize = 2;

/// The validation size used when the user gives none: 10% of the training split, at least
/// [`VAL_MIN_PER_CLASS`] per class, at most [`DEFAULT_VAL_MAX`]:
///
/// `clamp(round(0.1 · N), 2 · C, 1000)`, then capped at `Σ_c (n_c − 1)` so every class keeps a
/// training image. N = Σ n_c over the `class_counts` of the training split, C the number of
/// classes with at least one image. CIFAR-10 (50,000) and MNIST (60,000) keep 1,000; a folder of
/// 196 photos in 2 classes gets 20; 30 photos in 5 classes get 10.
pub fn default_val_size(class_counts: &[usize]) -> usize {
    let n: usize = class_counts.iter().sum();
    let present = class_counts.iter().filter(|&&c| c > 0).count();
    let proportional = (n as f64 * DEFAULT_VAL_FRACTION).round() as usize;
    let size = proportional
        .max(VAL_MIN_PER_CLASS * present)
        .min(DEFAULT_VAL_MAX);
    let most = class_counts.iter().map(|&c| c.saturating_sub(1)).sum();
    size.min(most)
}

/// How many items of each class a stratified hold-out of `total` items takes.
///
/// Each class first gets `min(min_per_class, n_c − 1)` (when `total` allows every class its
/// minimum; otherwise no minimum applies); the rest is shared in proportion to each class's
/// excess over its minimum of the ideal share `total · n_c / N`, by the largest-remainder
/// method (ties to the lower class index). No class gives up its last item, so every class
/// with an image keeps one on the other side: `total` may be at most `Σ_c (n_c − 1)`.
///
/// This is scikit-learn's `StratifiedShuffleSplit` allocation with a per-class floor.
pub fn stratified_quotas(
    class_counts: &[usize],
    total: usize,
    min_per_class: usize,
) -> Result<Vec<usize>, DataError> {
    let n: usize = class_counts.iter().sum();
    let caps: Vec<usize> = class_counts.iter().map(|&c| c.saturating_sub(1)).collect();
    let most: usize = caps.iter().sum();
    if total > most {
        let present = class_counts.iter().filter(|&&c| c > 0).count();
        return Err(DataError::Invalid(format!(
            "holding out {total} images leaves no training images for some class \
             (the training set has {n} images in {present} classes: at most {most} can be held out)"
        )));
    }
    let floors: Vec<usize> = caps.iter().map(|&cap| cap.min(min_per_class)).collect();
    let floors = if floors.iter().sum::<usize>() <= total {
        floors
    } else {
        vec![0; class_counts.len()]
    };
    let ideal: Vec<f64> = class_counts
        .iter()
        .map(|&c| total as f64 * c as f64 / n.max(1) as f64)
        .collect();
    let weights: Vec<f64> = ideal
        .iter()
        .zip(&floors)
        .map(|(&i, &f)| (i - f as f64).max(0.0))
        .collect();
    let room: Vec<usize> = caps.iter().zip(&floors).map(|(&c, &f)| c - f).collect();
    let rest = total - floors.iter().sum::<usize>();
    let extra = largest_remainder(rest, &weights, &room);
    Ok(floors.iter().zip(extra).map(|(f, e)| f + e).collect())
}

/// Shares `total` units in proportion to `weights` by the largest-remainder method (ties to
/// the lower index), never giving item `i` more than `caps[i]`: what a capped item cannot take
/// is shared again among the others (equally once no weight is left). Requires
/// `total <= Σ caps`.
fn largest_remainder(total: usize, weights: &[f64], caps: &[usize]) -> Vec<usize> {
    let mut given = vec![0usize; weights.len()];
    let mut left = total;
    loop {
        let open: Vec<usize> = (0..weights.len()).filter(|&i| given[i] < caps[i]).collect();
        if left == 0 || open.is_empty() {
            return given;
        }
        let weight_sum: f64 = open.iter().map(|&i| weights[i]).sum();
        let mut remainders = Vec::with_capacity(open.len());
        let mut handed = 0;
        for &i in &open {
            let share = if weight_sum > 0.0 {
                left as f64 * weights[i] / weight_sum
            } else {
                left as f64 / open.len() as f64
            };
            let whole = (share.floor() as usize).min(caps[i] - given[i]);
            given[i] += whole;
            handed += whole;
            remainders.push((share - share.floor(), i));
        }
        left -= handed.min(left);
        // Largest fractional part first; the stable sort keeps the lower index first on ties.
        // Every open item is in the list, so each pass hands out at least one unit.
        remainders.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, i) in remainders {
            if left == 0 {
                break;
            }
            if given[i] < caps[i] {
                given[i] += 1;
                left -= 1;
            }
        }
    }
}

/// A seeded, stratified hold-out: returns `(kept, held_out)` indices into `labels`, with the
/// per-class counts of [`stratified_quotas`].
///
/// All indices are shuffled once with the seed; walking that order, an index is held out while
/// its class's quota is not filled. `kept` stays in that shuffled order (so a later "first N"
/// limit takes a random subset); `held_out` is sorted.
pub fn stratified_holdout(
    labels: &[usize],
    n_classes: usize,
    total: usize,
    min_per_class: usize,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    let counts = counts_of(labels, n_classes)?;
    let mut quota = stratified_quotas(&counts, total, min_per_class)?;
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let (mut kept, mut held) = (Vec::with_capacity(labels.len() - total), Vec::new());
    for i in order {
        let q = &mut quota[labels[i]];
        if *q > 0 {
            *q -= 1;
            held.push(i);
        } else {
            kept.push(i);
        }
    }
    held.sort_unstable();
    Ok((kept, held))
}

fn counts_of(labels: &[usize], n_classes: usize) -> Result<Vec<usize>, DataError> {
    let mut counts = vec![0usize; n_classes];
    for &y in labels {
        *counts.get_mut(y).ok_or_else(|| {
            DataError::Invalid(format!("label {y} out of range for {n_classes} classes"))
        })? += 1;
    }
    Ok(counts)
}

/// One fold of a K-fold cross-validation: indices into the dataset, both sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
}

/// Seeded stratified K-fold indices (scikit-learn's `StratifiedKFold(shuffle=True)`): every
/// index is in exactly one validation fold; each class is dealt round-robin over the folds
/// after a seeded shuffle, continuing where the previous class stopped, so per class the fold
/// counts differ by at most one and the fold sizes by at most one.
///
/// Errors when `k < 2` or `k` exceeds the number of items. A class with fewer than `k` items
/// is absent from some validation folds: the returned warning says which (scikit-learn warns
/// the same way).
pub fn stratified_k_fold(
    labels: &[usize],
    n_classes: usize,
    k: usize,
    seed: u64,
) -> Result<(Vec<Fold>, Vec<String>), DataError> {
    if k < 2 {
        return Err(DataError::Invalid(format!(
            "cross-validation needs at least 2 folds (got {k})"
        )));
    }
    if k > labels.len() {
        return Err(DataError::Invalid(format!(
            "{k} folds need at least {k} training images (got {})",
            labels.len()
        )));
    }
    let counts = counts_of(labels, n_classes)?;
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ FOLD_SALT));
    let mut fold_of = vec![0usize; labels.len()];
    let mut next = vec![0usize; n_classes];
    // The starting fold of each class follows the previous class's end, which balances the
    // fold sizes when classes do not divide evenly.
    let mut start = 0;
    for (class, &count) in counts.iter().enumerate() {
        next[class] = start;
        start = (start + count) % k;
    }
    for &i in &order {
        let class = labels[i];
        fold_of[i] = next[class];
        next[class] = (next[class] + 1) % k;
    }
    let folds = (0..k)
        .map(|f| {
            let (val, train): (Vec<usize>, Vec<usize>) =
                (0..labels.len()).partition(|&i| fold_of[i] == f);
            Fold { train, val }
        })
        .collect();
    let small: Vec<String> = counts
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c > 0 && c < k)
        .map(|(class, &c)| format!("class {class} ({c})"))
        .collect();
    let warnings = if small.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{} has fewer images than the {k} folds, so some validation folds lack it",
            small.join(", ")
        )]
    };
    Ok((folds, warnings))
}

const FOLD_SALT: u64 = 0xf01d_5eed;
