//! CIFAR-10 written out as a photo folder (`train/` + `val/` of PNG files) and read back with
//! the folder loader. Reads `$WB_DATA_DIR`; ignored by default, CI runs it with `--ignored`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use wb_data::cifar::load_cifar10;
use wb_data::folder::{FolderLayout, FolderParams, SizeRule};
use wb_data::locate::resolve_dir;
use wb_data::{Dataset, DatasetKind, ResizeMode};

const TRAIN: usize = 5_000;
const VAL: usize = 1_000;

fn data_dir() -> PathBuf {
    PathBuf::from(std::env::var("WB_DATA_DIR").expect(
        "set WB_DATA_DIR to the folder holding cifar-10-batches-bin/ to run real-data tests",
    ))
}

/// Writes the first `n` images of `data` as `dir/<class>/<index>.png`, each at `size`
/// (width, height) when given (CatmullRom upscale), returning the indices in the order the
/// folder loader reads them (by class, then by file name).
fn write_split(dir: &Path, data: &Dataset, n: usize, size: Option<(u32, u32)>) -> Vec<usize> {
    (0..n).into_par_iter().for_each(|i| {
        let class = &data.class_names[data.labels[i]];
        let folder = dir.join(class);
        std::fs::create_dir_all(&folder).unwrap();
        let img = image::RgbImage::from_raw(32, 32, data.images.get(i).pixels.to_vec()).unwrap();
        let img = match size {
            Some((w, h)) => {
                image::imageops::resize(&img, w, h, image::imageops::FilterType::CatmullRom)
            }
            None => img,
        };
        img.save(folder.join(format!("{i:05}.png"))).unwrap();
    });
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (data.labels[i], i));
    order
}

#[test]
#[ignore = "needs WB_DATA_DIR"]
fn cifar10_as_a_png_folder_reads_back_the_same_pixels_and_labels() {
    let cifar = load_cifar10(&resolve_dir(DatasetKind::Cifar10, &data_dir()).unwrap()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let train_order = write_split(&root.path().join("train"), &cifar.train, TRAIN, None);
    let val_order = write_split(&root.path().join("val"), &cifar.test, VAL, None);

    let loaded = wb_data::folder::load_folder(root.path(), &FolderParams::default()).unwrap();
    assert_eq!(
        loaded.layout,
        FolderLayout::TrainValAsTest {
            train: "train".into(),
            val: "val".into()
        }
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // CIFAR-10's class names are already in sorted order, so the labels keep their numbers.
    assert_eq!(loaded.data.train.class_names, cifar.train.class_names);
    // Every image 32x32: the uniform-size rule keeps them, nothing is resized.
    assert_eq!(loaded.size.rule, SizeRule::Uniform);
    assert_eq!(loaded.size.shape(), cifar.train.images.shape());
    for (split, source, order) in [
        (&loaded.data.train, &cifar.train, &train_order),
        (&loaded.data.test, &cifar.test, &val_order),
    ] {
        assert_eq!(split.len(), order.len());
        for (k, &i) in order.iter().enumerate() {
            assert_eq!(split.labels[k], source.labels[i], "label of image {i}");
            assert_eq!(
                split.images.get(k).pixels,
                source.images.get(i).pixels,
                "pixels of image {i}"
            );
        }
    }
    eprintln!(
        "32x32 PNG folder: {} images at {:.0} images/s on {} threads",
        loaded.stats.images,
        loaded.stats.images_per_second(),
        loaded.stats.threads
    );
}

#[test]
#[ignore = "needs WB_DATA_DIR"]
fn cifar10_upscaled_to_48x40_resizes_back_close_to_the_original() {
    let cifar = load_cifar10(&resolve_dir(DatasetKind::Cifar10, &data_dir()).unwrap()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let size = Some((48, 40)); // 48 wide, 40 high
    let train_order = write_split(&root.path().join("train"), &cifar.train, TRAIN, size);
    let val_order = write_split(&root.path().join("val"), &cifar.test, VAL, size);

    let native = wb_data::folder::load_folder(root.path(), &FolderParams::default()).unwrap();
    assert_eq!(native.size.rule, SizeRule::Uniform);
    assert_eq!(
        (native.size.height, native.size.width, native.size.channels),
        (40, 48, 3)
    );

    for mode in [ResizeMode::Stretch, ResizeMode::Crop] {
        let loaded = wb_data::folder::load_folder(
            root.path(),
            &FolderParams {
                image_size: Some((32, 32)),
                resize: mode,
                ..FolderParams::default()
            },
        )
        .unwrap();
        assert_eq!(loaded.size.rule, SizeRule::Explicit);
        assert_eq!(loaded.size.shape(), cifar.train.images.shape());
        let mut total_diff = 0u64;
        for (split, source, order) in [
            (&loaded.data.train, &cifar.train, &train_order),
            (&loaded.data.test, &cifar.test, &val_order),
        ] {
            assert_eq!(split.len(), order.len());
            for (k, &i) in order.iter().enumerate() {
                assert_eq!(split.labels[k], source.labels[i], "label of image {i}");
                let (a, b) = (split.images.get(k).pixels, source.images.get(i).pixels);
                total_diff += a
                    .iter()
                    .zip(b)
                    .map(|(&x, &y)| x.abs_diff(y) as u64)
                    .sum::<u64>();
            }
        }
        let mean = total_diff as f64 / ((TRAIN + VAL) * 32 * 32 * 3) as f64;
        eprintln!("48x40 -> 32x32 ({mode}): mean absolute difference {mean:.2} levels");
        // Stretching undoes the upscale up to the two filters' blur; cropping keeps the centre
        // 38.4 of 48 columns, shifting the content by up to 5 pixels at the edges.
        let bound = if mode == ResizeMode::Stretch {
            6.0
        } else {
            20.0
        };
        assert!(mean < bound, "{mode}: mean absolute difference {mean:.2}");
    }
}
