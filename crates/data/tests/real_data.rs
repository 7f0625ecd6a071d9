//! Real datasets, read from `$WB_DATA_DIR` (a folder holding `cifar-10-batches-bin/` and
//! `mnist/`). Ignored by default; CI runs them with `--ignored`.

use std::path::PathBuf;

use wb_data::cifar::load_cifar10;
use wb_data::idx::{load_idx_dataset, IdxFlavor};
use wb_data::locate::resolve_dir;
use wb_data::DatasetKind;

fn data_dir() -> PathBuf {
    PathBuf::from(std::env::var("WB_DATA_DIR").expect(
        "set WB_DATA_DIR to the folder holding cifar-10-batches-bin/ and mnist/ to run real-data tests",
    ))
}

#[test]
#[ignore = "needs WB_DATA_DIR"]
fn cifar10_has_the_published_counts_and_balance() {
    let dir = resolve_dir(DatasetKind::Cifar10, &data_dir()).unwrap();
    let data = load_cifar10(&dir).unwrap();
    assert_eq!(data.train.len(), 50_000);
    assert_eq!(data.test.len(), 10_000);
    assert_eq!(data.train.class_counts(), vec![5_000; 10]);
    assert_eq!(data.test.class_counts(), vec![1_000; 10]);
    assert_eq!(data.train.class_names[9], "truck");
    // 60,000 RGB 32x32 images held as u8: 184 MB, under the ~200 MB budget.
    let bytes = data.train.images.pixels().len() + data.test.images.pixels().len();
    assert_eq!(bytes, 60_000 * 3072);
    // First test image is a cat (label 3) in the official test_batch.
    assert_eq!(data.test.labels[0], 3);
}

#[test]
#[ignore = "needs WB_DATA_DIR"]
fn mnist_has_the_published_counts_and_balance() {
    let dir = resolve_dir(DatasetKind::Mnist, &data_dir()).unwrap();
    let data = load_idx_dataset(&dir, IdxFlavor::Mnist).unwrap();
    assert_eq!(data.train.len(), 60_000);
    assert_eq!(data.test.len(), 10_000);
    assert_eq!(
        data.test.class_counts(),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(
        data.train.class_counts(),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    let shape = data.train.images.shape();
    assert_eq!((shape.height, shape.width, shape.channels), (28, 28, 1));
}
