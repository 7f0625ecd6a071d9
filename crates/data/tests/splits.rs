//! The split functions: the default validation size, stratified hold-outs and K folds.

use wb_data::synthetic::{self, SyntheticParams};
use wb_data::{
    default_val_size, stratified_holdout, stratified_k_fold, stratified_quotas, SplitParams, Splits,
};

#[test]
fn default_val_size_is_ten_percent_within_bounds() {
    assert_eq!(default_val_size(&[5000; 10]), 1000, "CIFAR-10 keeps 1,000");
    assert_eq!(
        default_val_size(&[5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
        1000,
        "MNIST keeps 1,000"
    );
    assert_eq!(default_val_size(&[98, 98]), 20, "196 photos in 2 classes");
    assert_eq!(default_val_size(&[6; 5]), 10, "at least 2 per class");
    assert_eq!(
        default_val_size(&[2, 2, 1]),
        2,
        "every class keeps a training image"
    );
    assert_eq!(default_val_size(&[1, 1]), 0, "nothing can be held out");
}

#[test]
fn quotas_are_proportional_with_a_floor_and_never_take_a_class_last_image() {
    assert_eq!(
        stratified_quotas(&[5000; 10], 1000, 2).unwrap(),
        vec![100; 10]
    );
    // 12 of [100, 3, 3]: 2 each for the small classes, the rest to the large one.
    assert_eq!(
        stratified_quotas(&[100, 3, 3], 12, 2).unwrap(),
        vec![8, 2, 2]
    );
    // Proportional with largest remainders: 10 of [50, 30, 20] -> 5, 3, 2.
    assert_eq!(
        stratified_quotas(&[50, 30, 20], 10, 0).unwrap(),
        vec![5, 3, 2]
    );
    // A capped class passes its share on: 5 of [2, 10] -> class 0 keeps one image.
    assert_eq!(stratified_quotas(&[2, 10], 5, 0).unwrap(), vec![1, 4]);
    // Floors that do not fit are dropped: 3 of [10, 10, 10, 10] with floor 2.
    let q = stratified_quotas(&[10, 10, 10, 10], 3, 2).unwrap();
    assert_eq!(q.iter().sum::<usize>(), 3);
    assert!(q.iter().all(|&n| n <= 1));
    let err = stratified_quotas(&[3, 3], 5, 2).unwrap_err().to_string();
    assert!(err.contains("at most 4 can be held out"), "{err}");
}

#[test]
fn holdout_is_seeded_and_stratified() {
    let labels: Vec<usize> = (0..300).map(|i| i % 3).collect();
    let (kept, held) = stratified_holdout(&labels, 3, 30, 2, 7).unwrap();
    assert_eq!(kept.len() + held.len(), 300);
    let mut per_class = [0; 3];
    for &i in &held {
        per_class[labels[i]] += 1;
    }
    assert_eq!(per_class, [10, 10, 10]);
    let mut all: Vec<usize> = kept.iter().chain(&held).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..300).collect::<Vec<_>>());
    assert_eq!(stratified_holdout(&labels, 3, 30, 2, 7).unwrap().1, held);
    assert_ne!(stratified_holdout(&labels, 3, 30, 2, 8).unwrap().1, held);
    assert!(
        stratified_holdout(&[0, 5], 3, 1, 0, 0).is_err(),
        "label out of range"
    );
}

#[test]
fn carve_is_stratified_and_refuses_zero() {
    let data = synthetic::generate(&SyntheticParams {
        train_size: 200,
        test_size: 20,
        seed: 1,
    });
    let params = SplitParams {
        val_size: 50,
        train_limit: None,
        test_limit: None,
        seed: 3,
    };
    let s = Splits::carve(data.clone(), &params).unwrap();
    assert_eq!(s.val.class_counts(), vec![5; 10]);
    assert_eq!(s.train.len(), 150);
    let err = Splits::carve(
        data.clone(),
        &SplitParams {
            val_size: 0,
            ..params
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("validation size 0"), "{err}");

    // A validation split given by the dataset: limits still apply.
    let given = data.test.clone();
    let s = Splits::with_validation(
        data.clone(),
        given,
        &SplitParams {
            train_limit: Some(40),
            test_limit: Some(5),
            ..params
        },
    )
    .unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (40, 20, 5));
}

#[test]
fn k_folds_cover_every_index_once_and_stay_stratified() {
    // 3 classes of 10, 7 and 5 items.
    let labels: Vec<usize> = [vec![0; 10], vec![1; 7], vec![2; 5]].concat();
    let (folds, warnings) = stratified_k_fold(&labels, 3, 5, 11).unwrap();
    assert_eq!(folds.len(), 5);
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut seen = vec![0; labels.len()];
    for fold in &folds {
        for &i in &fold.val {
            seen[i] += 1;
        }
        assert_eq!(fold.train.len() + fold.val.len(), labels.len());
        assert!(fold
            .val
            .iter()
            .all(|i| fold.train.binary_search(i).is_err()));
        // Per class, fold counts differ by at most one: 10 -> 2, 7 -> 1 or 2, 5 -> 1.
        let count = |c: usize| fold.val.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!(count(0), 2);
        assert!((1..=2).contains(&count(1)));
        assert_eq!(count(2), 1);
    }
    assert!(
        seen.iter().all(|&n| n == 1),
        "each index in one validation fold"
    );
    let sizes: Vec<usize> = folds.iter().map(|f| f.val.len()).collect();
    assert!(
        sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
        "{sizes:?}"
    );
    assert_eq!(stratified_k_fold(&labels, 3, 5, 11).unwrap().0, folds);
    assert_ne!(stratified_k_fold(&labels, 3, 5, 12).unwrap().0, folds);

    let (_, warnings) = stratified_k_fold(&labels, 3, 6, 0).unwrap();
    assert_eq!(
        warnings,
        vec!["class 2 (5) has fewer images than the 6 folds, so some validation folds lack it"]
    );
    let err = stratified_k_fold(&labels, 3, 1, 0).unwrap_err().to_string();
    assert!(err.contains("at least 2 folds"), "{err}");
    let err = stratified_k_fold(&labels, 3, 23, 0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("23 folds need at least 23 training images"),
        "{err}"
    );
}
