//! Loaders on tiny files written by the tests: correct decoding and clear errors.

use std::io::Write;
use std::path::Path;

use wb_data::cifar::{load_cifar10, load_cifar100, Cifar100Label};
use wb_data::folder::{load_folder, FolderParams};
use wb_data::idx::{load_idx_dataset, read_idx_images, read_idx_labels, IdxFlavor};
use wb_data::locate::{detect_kind, resolve_dir};
use wb_data::synthetic::{self, SyntheticParams};
use wb_data::{DataError, DatasetKind, SplitParams, Splits};

/// A CIFAR-10 record whose pixel (y, x) of channel c is `(label + c * 50 + y + x) % 256`.
fn cifar_record(label: u8, label_bytes: &[u8]) -> Vec<u8> {
    let mut rec = label_bytes.to_vec();
    if rec.is_empty() {
        rec.push(label);
    }
    for c in 0..3u32 {
        for y in 0..32u32 {
            for x in 0..32u32 {
                rec.push(((label as u32 + c * 50 + y + x) % 256) as u8);
            }
        }
    }
    rec
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write test file");
}

fn write_cifar10(dir: &Path, per_batch: usize) {
    for name in [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ] {
        let bytes: Vec<u8> = (0..per_batch)
            .flat_map(|i| cifar_record((i % 10) as u8, &[]))
            .collect();
        write(&dir.join(name), &bytes);
    }
}

fn message(e: DataError) -> String {
    e.to_string()
}

#[test]
fn cifar10_records_become_interleaved_rgb() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path(), 3);
    let data = load_cifar10(dir.path()).unwrap();
    assert_eq!(data.train.len(), 15);
    assert_eq!(data.test.len(), 3);
    assert_eq!(data.train.labels[..3], [0, 1, 2]);
    assert_eq!(data.train.class_names[0], "airplane");
    let img = data.train.images.get(2); // label 2
    for (y, x) in [(0, 0), (5, 7), (31, 31)] {
        for c in 0..3 {
            assert_eq!(img.get(y, x, c) as usize, (2 + c * 50 + y + x) % 256);
        }
    }
}

#[test]
fn cifar10_bad_size_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path(), 2);
    let path = dir.path().join("data_batch_3.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.pop();
    write(&path, &bytes);
    let err = message(load_cifar10(dir.path()).unwrap_err());
    assert!(err.contains("data_batch_3.bin"), "{err}");
    assert!(err.contains("3073"), "{err}");
}

#[test]
fn cifar10_label_out_of_range_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path(), 2);
    write(&dir.path().join("test_batch.bin"), &cifar_record(10, &[]));
    let err = message(load_cifar10(dir.path()).unwrap_err());
    assert!(
        err.contains("test_batch.bin") && err.contains("label 10"),
        "{err}"
    );
}

#[test]
fn cifar10_missing_file_and_directory_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path(), 1);
    std::fs::remove_file(dir.path().join("data_batch_5.bin")).unwrap();
    let err = message(load_cifar10(dir.path()).unwrap_err());
    assert!(
        err.contains("data_batch_5.bin") && err.contains("not found"),
        "{err}"
    );
    let missing = dir.path().join("nope");
    let err = message(load_cifar10(&missing).unwrap_err());
    assert!(err.contains("nope") && err.contains("not found"), "{err}");
}

#[test]
fn cifar100_reads_fine_or_coarse_labels() {
    let dir = tempfile::tempdir().unwrap();
    let train: Vec<u8> = [(3u8, 42u8), (19, 99)]
        .iter()
        .flat_map(|&(c, f)| cifar_record(0, &[c, f]))
        .collect();
    write(&dir.path().join("train.bin"), &train);
    write(&dir.path().join("test.bin"), &cifar_record(0, &[1, 2]));
    let fine = load_cifar100(dir.path(), Cifar100Label::Fine).unwrap();
    assert_eq!(fine.train.labels, vec![42, 99]);
    assert_eq!(fine.train.n_classes(), 100);
    let coarse = load_cifar100(dir.path(), Cifar100Label::Coarse).unwrap();
    assert_eq!(coarse.train.labels, vec![3, 19]);
    assert_eq!(coarse.test.labels, vec![1]);
    assert_eq!(coarse.train.n_classes(), 20);
}

fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(|i| (i % 251) as u8));
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn idx_reads_gzipped_and_plain_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("train-images-idx3-ubyte.gz"),
        &gzip(&idx_images(4, 28, 28)),
    );
    write(
        &dir.path().join("train-labels-idx1-ubyte.gz"),
        &gzip(&idx_labels(&[1, 2, 3, 9])),
    );
    write(
        &dir.path().join("t10k-images-idx3-ubyte"),
        &idx_images(2, 28, 28),
    );
    write(
        &dir.path().join("t10k-labels-idx1-ubyte"),
        &idx_labels(&[0, 7]),
    );
    let data = load_idx_dataset(dir.path(), IdxFlavor::Mnist).unwrap();
    assert_eq!(data.train.len(), 4);
    assert_eq!(data.test.labels, vec![0, 7]);
    let shape = data.train.images.shape();
    assert_eq!((shape.height, shape.width, shape.channels), (28, 28, 1));
    assert_eq!(data.train.images.get(1).get(0, 0, 0), (784 % 251) as u8);
    let fashion = load_idx_dataset(dir.path(), IdxFlavor::FashionMnist).unwrap();
    assert_eq!(fashion.train.class_names[9], "ankle boot");
}

#[test]
fn idx_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad_magic = dir.path().join("magic");
    let mut b = idx_images(1, 2, 2);
    b[3] = 1;
    write(&bad_magic, &b);
    let err = message(read_idx_images(&bad_magic).unwrap_err());
    assert!(err.contains("magic") && err.contains("0x00000801"), "{err}");

    let short = dir.path().join("short");
    let mut b = idx_images(3, 2, 2);
    b.truncate(b.len() - 1);
    write(&short, &b);
    let err = message(read_idx_images(&short).unwrap_err());
    assert!(
        err.contains("short") && err.contains("11 data bytes"),
        "{err}"
    );

    let corrupt = dir.path().join("corrupt.gz");
    let mut gz = gzip(&idx_labels(&[1, 2, 3]));
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    gz.truncate(gz.len() - 4);
    write(&corrupt, &gz);
    let err = message(read_idx_labels(&corrupt, 10).unwrap_err());
    assert!(err.contains("corrupt.gz") && err.contains("gzip"), "{err}");

    let label = dir.path().join("labels");
    write(&label, &idx_labels(&[1, 12]));
    let err = message(read_idx_labels(&label, 10).unwrap_err());
    assert!(err.contains("label 12 out of range"), "{err}");
}

fn save_png(path: &Path, w: u32, h: u32, value: u8) {
    image::RgbImage::from_pixel(w, h, image::Rgb([value, 255 - value, 7]))
        .save(path)
        .unwrap();
}

#[test]
fn folder_loads_resizes_and_splits_with_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    for (class, value) in [("cat", 10u8), ("dog", 200)] {
        let d = dir.path().join(class);
        std::fs::create_dir(&d).unwrap();
        for i in 0..5 {
            let size = if i == 4 { 12 } else { 8 };
            save_png(&d.join(format!("{i}.png")), size, size, value);
        }
    }
    let loaded = load_folder(dir.path(), &FolderParams::default()).unwrap();
    let data = loaded.data;
    assert_eq!(data.train.class_names, vec!["cat", "dog"]);
    assert_eq!(data.train.len() + data.test.len(), 10);
    assert_eq!(data.test.len(), 2, "20% of each class of 5");
    // Images of two sizes: the default working size (64x64), not the first image's 8x8.
    let shape = data.train.images.shape();
    assert_eq!((shape.height, shape.width, shape.channels), (64, 64, 3));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let again = load_folder(dir.path(), &FolderParams::default()).unwrap();
    assert_eq!(again.data.test.labels, data.test.labels);
    assert_eq!(again.data.test.images, data.test.images);
    let sized = load_folder(
        dir.path(),
        &FolderParams {
            image_size: Some((4, 6)),
            ..FolderParams::default()
        },
    )
    .unwrap();
    let shape = sized.data.train.images.shape();
    assert_eq!((shape.height, shape.width), (4, 6));
}

#[test]
fn folder_uses_train_and_test_trees() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "test"] {
        for class in ["a", "b"] {
            let d = dir.path().join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            save_png(&d.join("x.png"), 4, 4, 1);
            if split == "train" {
                save_png(&d.join("y.png"), 4, 4, 2);
            }
        }
    }
    let data = load_folder(dir.path(), &FolderParams::default())
        .unwrap()
        .data;
    assert_eq!((data.train.len(), data.test.len()), (4, 2));
}

#[test]
fn folder_errors_and_skipping_bad_images() {
    let dir = tempfile::tempdir().unwrap();
    let err = message(load_folder(dir.path(), &FolderParams::default()).unwrap_err());
    assert!(err.contains("no class folders"), "{err}");

    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    save_png(&a.join("1.png"), 4, 4, 1);
    save_png(&a.join("2.png"), 4, 4, 1);
    let err = message(load_folder(dir.path(), &FolderParams::default()).unwrap_err());
    assert!(
        err.contains("holds no images") && err.contains('b'),
        "{err}"
    );

    save_png(&b.join("1.png"), 4, 4, 1);
    save_png(&b.join("2.png"), 4, 4, 1);
    write(&b.join("3.png"), b"this is not a png");
    let err = message(load_folder(dir.path(), &FolderParams::default()).unwrap_err());
    assert!(
        err.contains("3.png") && err.contains("cannot decode"),
        "{err}"
    );

    let loaded = load_folder(
        dir.path(),
        &FolderParams {
            skip_bad_images: true,
            ..FolderParams::default()
        },
    )
    .unwrap();
    assert_eq!(loaded.data.train.len() + loaded.data.test.len(), 4);
    assert!(loaded.warnings.iter().any(|w| w.contains("skipped 1")));
}

#[test]
fn synthetic_is_deterministic_balanced_and_varied() {
    let params = SyntheticParams {
        train_size: 200,
        test_size: 50,
        seed: 7,
    };
    let a = synthetic::generate(&params);
    let b = synthetic::generate(&params);
    assert_eq!(a.train.images, b.train.images);
    assert_eq!(a.train.class_counts(), vec![20; 10]);
    assert_ne!(a.train.images.get(0).pixels, a.train.images.get(10).pixels);
    assert_ne!(a.train.images.get(0).pixels, a.test.images.get(0).pixels);
    let other = synthetic::generate(&SyntheticParams { seed: 8, ..params });
    assert_ne!(a.train.images, other.train.images);
}

#[test]
fn splits_carve_validation_with_the_seed() {
    let data = synthetic::generate(&SyntheticParams {
        train_size: 100,
        test_size: 30,
        seed: 1,
    });
    let params = SplitParams {
        val_size: 20,
        train_limit: Some(50),
        test_limit: Some(10),
        seed: 3,
    };
    let s = Splits::carve(data.clone(), &params).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (50, 20, 10));
    let again = Splits::carve(data.clone(), &params).unwrap();
    assert_eq!(again.val.images, s.val.images);
    let other = Splits::carve(data.clone(), &SplitParams { seed: 4, ..params }).unwrap();
    assert_ne!(other.val.images, s.val.images);
    let err = Splits::carve(
        data,
        &SplitParams {
            val_size: 100,
            ..params
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("no training images"));
}

#[test]
fn flips_mirror_each_row() {
    let data = synthetic::generate(&SyntheticParams {
        train_size: 10,
        test_size: 0,
        seed: 1,
    });
    let doubled = data.train.with_horizontal_flips();
    assert_eq!(doubled.len(), 20);
    let (orig, flip) = (doubled.images.get(3), doubled.images.get(13));
    for c in 0..3 {
        assert_eq!(orig.get(4, 0, c), flip.get(4, 31, c));
        assert_eq!(orig.get(9, 10, c), flip.get(9, 21, c));
    }
    assert_eq!(doubled.labels[3], doubled.labels[13]);
}

#[test]
fn shifted_copies_move_each_image_one_pixel_and_repeat_the_edge() {
    let data = synthetic::generate(&SyntheticParams {
        train_size: 10,
        test_size: 0,
        seed: 1,
    });
    let five = data.train.with_shifted_copies();
    assert_eq!(five.len(), 50);
    let orig = five.images.get(3);
    // Copies in the order right, left, down, up; image 3 of each copy.
    let (right, left, down, up) = (
        five.images.get(13),
        five.images.get(23),
        five.images.get(33),
        five.images.get(43),
    );
    for c in 0..3 {
        assert_eq!(right.get(9, 11, c), orig.get(9, 10, c));
        assert_eq!(right.get(9, 0, c), orig.get(9, 0, c), "edge repeated");
        assert_eq!(left.get(9, 10, c), orig.get(9, 11, c));
        assert_eq!(left.get(9, 31, c), orig.get(9, 31, c), "edge repeated");
        assert_eq!(down.get(11, 9, c), orig.get(10, 9, c));
        assert_eq!(up.get(10, 9, c), orig.get(11, 9, c));
    }
    for k in 1..5 {
        assert_eq!(five.labels[3 + 10 * k], five.labels[3]);
    }
}

#[test]
fn locate_accepts_the_folder_or_its_parent() {
    let parent = tempfile::tempdir().unwrap();
    let cifar = parent.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&cifar).unwrap();
    write_cifar10(&cifar, 1);
    assert_eq!(
        resolve_dir(DatasetKind::Cifar10, parent.path()).unwrap(),
        cifar
    );
    assert_eq!(resolve_dir(DatasetKind::Cifar10, &cifar).unwrap(), cifar);
    assert_eq!(detect_kind(parent.path()).unwrap(), DatasetKind::Cifar10);
    std::fs::create_dir(parent.path().join("mnist")).unwrap();
    let err = message(detect_kind(parent.path()).unwrap_err());
    assert!(err.contains("several datasets"), "{err}");
    let err = message(resolve_dir(DatasetKind::FashionMnist, parent.path()).unwrap_err());
    assert!(err.contains("fashion-mnist"), "{err}");
}
