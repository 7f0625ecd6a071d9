//! How the hyper-parameters are chosen: on a held-out validation split, or by stratified K-fold
//! cross-validation of the training split (scikit-learn's `GridSearchCV`).
//!
//! The rule when the user names neither `--cv` nor `--val-size` ([`decide`]): a training set of
//! fewer than [`AUTO_CV_BELOW`] images is cross-validated with [`AUTO_CV_FOLDS`] folds (fewer
//! when the smallest class has fewer images; none, with a warning, when a class has a single
//! image); larger sets keep a hold-out of [`wb_data::default_val_size`] images (CIFAR-10 and
//! MNIST: 1,000). An image folder with its own validation split (`train/`, `val/`, `test/`)
//! keeps it. The size that decides is the dataset's training set before `--train-limit`, so a
//! limited CIFAR-10 run keeps its 1,000-image hold-out (and its timing).
//!
//! Why: with a few hundred images a hold-out of 10% is a handful per class, and the accuracy
//! that picks the setting is mostly noise; K folds score every training image once.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use wb_data::{stratified_k_fold, Fold, DEFAULT_VAL_MAX, VAL_MIN_PER_CLASS};

/// Training sets smaller than this are cross-validated when no validation option is given.
pub const AUTO_CV_BELOW: usize = 5000;
/// Folds of the automatic cross-validation (scikit-learn's `cv=5` default).
pub const AUTO_CV_FOLDS: usize = 5;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CvChoice {
    /// No cross-validation: a hold-out validation split (commands that export or stream the
    /// splits need one).
    #[default]
    Off,
    /// The rule of [`decide`] (`pipeline run` and `compare` without `--cv`).
    Auto,
    /// `--cv K`.
    Folds(usize),
}

/// How the hyper-parameters are chosen, and why (recorded in `results.json` and the report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Validation {
    /// A validation split of `size` images (carved from training, or the dataset's own).
    HoldOut { size: usize, reason: String },
    /// Stratified K-fold cross-validation of the training split, then a refit on all of it.
    CrossValidation { folds: usize, reason: String },
}

impl Validation {
    /// One line for the run summary.
    pub fn summary(&self) -> String {
        match self {
            Validation::HoldOut { size, reason } => {
                format!("hold-out validation of {size} images ({reason})")
            }
            Validation::CrossValidation { folds, reason } => {
                format!(
                    "{folds}-fold cross-validation, then a refit on all training images ({reason})"
                )
            }
        }
    }

    /// The number of folds, when cross-validating.
    pub fn folds(&self) -> Option<usize> {
        match self {
            Validation::CrossValidation { folds, .. } => Some(*folds),
            Validation::HoldOut { .. } => None,
        }
    }
}

/// The errors [`decide`] finds without the data: `--cv` below 2, `--cv` with `--val-size`
/// (checked before a dataset is loaded).
pub fn check_options(val_size: Option<usize>, cv: CvChoice) -> Result<()> {
    if let CvChoice::Folds(k) = cv {
        if k < 2 {
            bail!(
                "--cv {k}: cross-validation needs at least 2 folds (omit --cv for the default: \
                 {AUTO_CV_FOLDS} folds below {AUTO_CV_BELOW} training images, else a hold-out)"
            );
        }
        if let Some(size) = val_size {
            bail!(
                "--cv {k} and --val-size {size} exclude each other: cross-validation holds out \
                 each fold of the training split in turn, a validation size carves one fixed \
                 split (give one of them)"
            );
        }
    }
    Ok(())
}

/// Chooses the validation of a run from the options given and the training set's class counts
/// (before `--train-limit`). `given_val`: the size of a validation split the dataset brings
/// (an image folder's `val/` beside `test/`). Returns the choice and warnings to show.
///
/// Errors: `--cv` below 2; `--cv` together with `--val-size`. `--cv K` above the training
/// size is an error and above the smallest class's count a warning, both told by [`folds`]
/// on the training split actually used (after limits).
pub fn decide(
    val_size: Option<usize>,
    cv: CvChoice,
    class_counts: &[usize],
    given_val: Option<usize>,
) -> Result<(Validation, Vec<String>)> {
    let n: usize = class_counts.iter().sum();
    let mut warnings = Vec::new();
    check_options(val_size, cv)?;
    if let CvChoice::Folds(k) = cv {
        if let Some(m) = given_val {
            warnings.push(format!(
                "--cv {k}: the dataset's own validation split ({m} images) joins the training \
                 images that are cross-validated"
            ));
        }
        return Ok((
            Validation::CrossValidation {
                folds: k,
                reason: "--cv".into(),
            },
            warnings,
        ));
    }
    if let Some(size) = val_size {
        return Ok((
            Validation::HoldOut {
                size: given_val.unwrap_or(size),
                reason: "--val-size".into(),
            },
            warnings,
        ));
    }
    if let Some(m) = given_val {
        return Ok((
            Validation::HoldOut {
                size: m,
                reason: "the dataset's own validation split".into(),
            },
            warnings,
        ));
    }
    let hold_out = |reason: String| Validation::HoldOut {
        size: wb_data::default_val_size(class_counts),
        reason,
    };
    if cv == CvChoice::Off || n >= AUTO_CV_BELOW {
        let rule = format!(
            "carved from the training split, stratified: 10% of its {n} images, at least \
             {VAL_MIN_PER_CLASS} per class, at most {DEFAULT_VAL_MAX}"
        );
        let reason = if cv == CvChoice::Off {
            format!("the default rule: {rule}")
        } else {
            format!(
                "{n} training images, at least {AUTO_CV_BELOW}, so the default hold-out {rule}; \
                 --val-size or --cv sets it"
            )
        };
        return Ok((hold_out(reason), warnings));
    }
    let smallest = class_counts
        .iter()
        .copied()
        .filter(|&c| c > 0)
        .min()
        .unwrap_or(0);
    if smallest < 2 {
        warnings.push(format!(
            "a class has a single training image: too few for cross-validation (every fold \
             needs each class on its training side), so a hold-out split chooses the \
             hyper-parameters on {n} training images"
        ));
        return Ok((
            hold_out(format!(
                "fewer than {AUTO_CV_BELOW} images, but a class of 1"
            )),
            warnings,
        ));
    }
    let folds = AUTO_CV_FOLDS.min(smallest);
    let reason = if folds < AUTO_CV_FOLDS {
        format!(
            "{n} training images, fewer than {AUTO_CV_BELOW}; {folds} folds as the smallest \
             class has {smallest} images"
        )
    } else {
        format!("{n} training images, fewer than {AUTO_CV_BELOW}")
    };
    Ok((Validation::CrossValidation { folds, reason }, warnings))
}

/// The stratified folds of a training split whose first `labels.len() / copies` rows are the
/// images and the rest `copies − 1` augmented copies of them in the same order (mirror
/// images, shifted copies: [`wb_data::Dataset::with_horizontal_flips`]).
///
/// Folds are dealt on the images ([`stratified_k_fold`], seeded); each image's copies go with
/// it to the training side of every fold where it trains, and never to a validation side:
/// a held-out image's mirror in the training fold would leak it, and validation scores images
/// as they come, as a hold-out split does. Errors name `--cv`.
pub fn folds(
    labels: &[usize],
    n_classes: usize,
    k: usize,
    copies: usize,
    seed: u64,
) -> Result<(Vec<Fold>, Vec<String>)> {
    let copies = copies.max(1);
    if !labels.len().is_multiple_of(copies) {
        bail!(
            "{} training rows are not {copies} copies of the same images",
            labels.len()
        );
    }
    let n = labels.len() / copies;
    let (base, warnings) = stratified_k_fold(&labels[..n], n_classes, k, seed)
        .map_err(|e| anyhow::anyhow!("--cv {k}: {e}"))?;
    let folds = base
        .into_iter()
        .map(|f| {
            let mut train: Vec<usize> = (0..copies)
                .flat_map(|c| f.train.iter().map(move |&i| c * n + i))
                .collect();
            train.sort_unstable();
            Fold { train, val: f.val }
        })
        .collect();
    Ok((
        folds,
        warnings
            .into_iter()
            .map(|w| format!("--cv {k}: {w}"))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_cross_validation_below_five_thousand_images() {
        let (v, w) = decide(None, CvChoice::Auto, &[100, 200, 300], None).unwrap();
        assert_eq!(v.folds(), Some(5), "{v:?}");
        assert!(w.is_empty());
        // 4,999 images: still cross-validated; 5,000: a hold-out of 10%, at most 1,000.
        let (v, _) = decide(None, CvChoice::Auto, &[2500, 2499], None).unwrap();
        assert_eq!(v.folds(), Some(5));
        let (v, _) = decide(None, CvChoice::Auto, &[2500, 2500], None).unwrap();
        assert!(matches!(v, Validation::HoldOut { size: 500, .. }), "{v:?}");
        let (v, _) = decide(None, CvChoice::Auto, &[5000; 10], None).unwrap();
        assert!(
            matches!(v, Validation::HoldOut { size: 1000, .. }),
            "CIFAR-10: {v:?}"
        );
    }

    #[test]
    fn small_classes_reduce_the_folds_or_turn_them_off() {
        let (v, w) = decide(None, CvChoice::Auto, &[40, 3, 20], None).unwrap();
        assert_eq!(v.folds(), Some(3), "{v:?}");
        assert!(w.is_empty());
        let (v, w) = decide(None, CvChoice::Auto, &[40, 1, 20], None).unwrap();
        assert!(matches!(v, Validation::HoldOut { .. }), "{v:?}");
        assert!(w[0].contains("single training image"), "{w:?}");
    }

    #[test]
    fn explicit_choices_win_and_bad_ones_name_the_option() {
        let (v, _) = decide(Some(50), CvChoice::Auto, &[100, 100], None).unwrap();
        assert!(matches!(v, Validation::HoldOut { size: 50, .. }), "{v:?}");
        let (v, _) = decide(None, CvChoice::Folds(10), &[5000; 10], None).unwrap();
        assert_eq!(v.folds(), Some(10), "--cv on a large set");
        let (v, _) = decide(None, CvChoice::Auto, &[100, 100], Some(30)).unwrap();
        assert!(
            matches!(v, Validation::HoldOut { size: 30, .. }),
            "folder val/: {v:?}"
        );
        let (v, w) = decide(None, CvChoice::Folds(3), &[100, 100], Some(30)).unwrap();
        assert_eq!(v.folds(), Some(3));
        assert!(w[0].contains("joins the training images"), "{w:?}");
        for k in [0, 1] {
            let e = decide(None, CvChoice::Folds(k), &[100, 100], None).unwrap_err();
            assert!(e.to_string().starts_with(&format!("--cv {k}:")), "{e}");
        }
        let e = decide(Some(20), CvChoice::Folds(5), &[100, 100], None).unwrap_err();
        assert!(e.to_string().contains("--val-size"), "{e}");
        let (v, _) = decide(None, CvChoice::Off, &[100, 100], None).unwrap();
        assert!(matches!(v, Validation::HoldOut { size: 20, .. }), "{v:?}");
    }

    #[test]
    fn folds_keep_augmented_copies_with_their_image() {
        // 12 images of 3 classes followed by one mirrored copy each.
        let images: Vec<usize> = (0..12).map(|i| i % 3).collect();
        let labels: Vec<usize> = images.iter().chain(&images).copied().collect();
        let (folds, warnings) = folds(&labels, 3, 4, 2, 7).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(folds.len(), 4);
        let mut validated = vec![0; 12];
        for f in &folds {
            for &i in &f.val {
                assert!(i < 12, "a copy was validated");
                validated[i] += 1;
                assert!(
                    !f.train.contains(&i) && !f.train.contains(&(i + 12)),
                    "leak of {i}"
                );
            }
            assert_eq!(f.train.len(), 2 * (12 - f.val.len()));
            for &i in &f.train {
                let image = i % 12;
                assert!(!f.val.contains(&image));
            }
        }
        assert_eq!(validated, vec![1; 12], "every image validated exactly once");
    }

    #[test]
    fn too_many_folds_is_an_error_and_a_small_class_a_warning() {
        let labels = vec![0, 0, 0, 1, 1, 1, 1, 2];
        let e = folds(&labels, 3, 9, 1, 0).unwrap_err();
        assert!(e.to_string().starts_with("--cv 9:"), "{e}");
        let (_, w) = folds(&labels, 3, 3, 1, 0).unwrap();
        assert!(
            w[0].starts_with("--cv 3:") && w[0].contains("class 2"),
            "{w:?}"
        );
    }
}
