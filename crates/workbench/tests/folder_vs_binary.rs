//! The folder loader against the binary loader on the same images: CIFAR-10's first 5,000
//! training and 1,000 test images written as a `train/` + `val/` PNG folder (the ImageFolder
//! layout, `val/` as the test split) must give the accuracy the binary files give with the
//! same settings (±0.005 at 32x32; the pixels are identical, so the figures should be too),
//! and close to it when the PNGs are upscaled to 48x40 and resized back. Reads
//! `$WB_DATA_DIR`; ignored by default, CI runs it with `--ignored`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use wb_data::cifar::load_cifar10;
use wb_data::locate::resolve_dir;
use wb_data::{default_val_size, Dataset, DatasetKind, ResizeMode, SplitParams, Splits, TrainTest};
use wb_features::FeatureSpec;
use wb_workbench::data::{load_with, Augment, DataParams};
use wb_workbench::train::{
    self, Chatter, Held, ModelKind, SearchData, TrainOptions, TrainSettings,
};
use wb_workbench::Quiet;

const TRAIN: usize = 5_000;
const TEST: usize = 1_000;

fn data_dir() -> PathBuf {
    PathBuf::from(std::env::var("WB_DATA_DIR").expect(
        "set WB_DATA_DIR to the folder holding cifar-10-batches-bin/ to run real-data tests",
    ))
}

/// Writes the first `n` images of `data` as `dir/<class>/<index>.png` (resized to
/// (width, height) when given) and returns them as the folder loader orders them: by class,
/// then by file name.
fn write_split(dir: &Path, data: &Dataset, n: usize, size: Option<(u32, u32)>) -> Dataset {
    (0..n).into_par_iter().for_each(|i| {
        let folder = dir.join(&data.class_names[data.labels[i]]);
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
    data.select(&order)
}

/// Test accuracy of the default softmax search on HOG + colour features of `splits`.
fn accuracy(splits: &Splits, data: &DataParams) -> f64 {
    let spec = FeatureSpec::parse("hog,color").unwrap();
    let feats = wb_workbench::run::extract(&spec, splits, data, &Quiet).unwrap();
    let settings =
        TrainSettings::from_options(&TrainOptions::new(ModelKind::Softmax), data.seed).unwrap();
    let trained = train::train(
        &settings,
        &SearchData {
            x_train: feats.train.view().into(),
            y_train: &splits.train.labels,
            held: Held::Split {
                x: feats.val.view(),
                y: &splits.val.labels,
            },
            n_classes: splits.train.n_classes(),
        },
        &Chatter {
            verbose: false,
            reporter: &Quiet,
        },
    )
    .unwrap();
    wb_linear::accuracy(
        &trained.model.predict(feats.test.view()),
        &splits.test.labels,
    )
}

#[test]
#[ignore = "needs WB_DATA_DIR"]
fn the_folder_loader_matches_the_binary_loader_on_cifar10_as_png() {
    let cifar = load_cifar10(&resolve_dir(DatasetKind::Cifar10, &data_dir()).unwrap()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let train = write_split(&root.path().join("train"), &cifar.train, TRAIN, None);
    let test = write_split(&root.path().join("val"), &cifar.test, TEST, None);

    // The binary images, in the folder's order, through the same carve.
    let params = DataParams {
        augment: Augment::None,
        ..DataParams::default()
    };
    let val_size = default_val_size(&train.class_counts());
    let binary = Splits::carve(
        TrainTest { train, test },
        &SplitParams {
            val_size,
            train_limit: None,
            test_limit: None,
            seed: params.seed,
        },
    )
    .unwrap();
    let binary_accuracy = accuracy(&binary, &params);

    // The folder, with no option beyond the folder itself.
    let folder_params = DataParams {
        dataset: Some(DatasetKind::Folder),
        data_dir: Some(root.path().to_path_buf()),
        ..params.clone()
    };
    let (folder, info) = load_with(&folder_params, &Quiet).unwrap();
    let f = info.folder.as_ref().expect("folder details");
    assert_eq!(f.layout, "train-val-as-test");
    assert_eq!(info.image_shape, [32, 32, 3]);
    assert_eq!((info.val, info.test), (val_size, TEST));
    assert_eq!(folder.train.images.pixels(), binary.train.images.pixels());
    assert_eq!(folder.val.labels, binary.val.labels);
    let folder_accuracy = accuracy(&folder, &folder_params);
    eprintln!(
        "CIFAR-10 subset: binary loader {binary_accuracy:.4}, PNG folder {folder_accuracy:.4} \
         ({:.0} images/s decoding)",
        f.images_per_second
    );
    assert!(
        (binary_accuracy - folder_accuracy).abs() <= 0.005,
        "binary {binary_accuracy} vs folder {folder_accuracy}"
    );
    assert!(
        binary_accuracy > 0.35,
        "HOG + colour softmax on 4,500 images: {binary_accuracy}"
    );

    // Upscaled to 48x40 and brought back to 32x32 by the folder loader: the resize blurs and
    // (with crop) cuts the edges, so only closeness is expected.
    let upscaled = tempfile::tempdir().unwrap();
    write_split(
        &upscaled.path().join("train"),
        &cifar.train,
        TRAIN,
        Some((48, 40)),
    );
    write_split(
        &upscaled.path().join("val"),
        &cifar.test,
        TEST,
        Some((48, 40)),
    );
    for resize in [ResizeMode::Stretch, ResizeMode::Crop] {
        let params = DataParams {
            data_dir: Some(upscaled.path().to_path_buf()),
            image_size: Some((32, 32)),
            resize,
            ..folder_params.clone()
        };
        let (splits, info) = load_with(&params, &Quiet).unwrap();
        assert_eq!(info.image_shape, [32, 32, 3]);
        let acc = accuracy(&splits, &params);
        eprintln!("48x40 PNG folder resized to 32x32 ({resize}): {acc:.4}");
        assert!(
            (acc - binary_accuracy).abs() < 0.05,
            "{resize}: {acc} against the binary loader's {binary_accuracy}"
        );
    }
}
