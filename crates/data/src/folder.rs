//! Image folders: `root/<class>/*.png|jpg|...`, or `root/train/<class>/...` and
//! `root/test/<class>/...`. Decoded with the `image` crate, converted to RGB and resized to one
//! common size.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::{DataError, Dataset, ImageShape, Images, TrainTest};

/// An image file and its class index.
type LabeledFile = (PathBuf, usize);

const EXTENSIONS: [&str; 9] = [
    "png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp", "ppm",
];

/// How to read an image folder.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderParams {
    /// (height, width) every image is resized to; `None`: the size of the first image.
    pub image_size: Option<(usize, usize)>,
    /// Skip undecodable images (counted in a warning) instead of failing.
    pub skip_bad_images: bool,
    /// Fraction of each class held out as the test set when there is no `test/` sub-tree.
    pub test_fraction: f64,
    pub seed: u64,
}

impl Default for FolderParams {
    fn default() -> Self {
        FolderParams {
            image_size: None,
            skip_bad_images: false,
            test_fraction: 0.2,
            seed: 0,
        }
    }
}

/// A loaded folder with the warnings a user should see.
#[derive(Debug)]
pub struct FolderDataset {
    pub data: TrainTest,
    pub warnings: Vec<String>,
}

/// Loads an image folder (see the module docs).
pub fn load_folder(root: &Path, params: &FolderParams) -> Result<FolderDataset, DataError> {
    if !root.is_dir() {
        return Err(DataError::NotFound {
            path: root.to_path_buf(),
        });
    }
    if !(0.0..1.0).contains(&params.test_fraction) {
        return Err(DataError::Invalid(format!(
            "test fraction {} must be in [0, 1)",
            params.test_fraction
        )));
    }
    let (train_root, test_root) = (root.join("train"), root.join("test"));
    let split_trees = train_root.is_dir() && test_root.is_dir();
    let class_names = if split_trees {
        let names = list_classes(&train_root)?;
        let test_names = list_classes(&test_root)?;
        if let Some(extra) = test_names.iter().find(|n| !names.contains(n)) {
            return Err(DataError::format(
                &test_root.join(extra),
                "class folder has no counterpart under train/",
            ));
        }
        names
    } else {
        list_classes(root)?
    };

    let mut warnings = Vec::new();
    let files_of = |base: &Path| -> Result<Vec<(PathBuf, usize)>, DataError> {
        let mut files = Vec::new();
        for (label, name) in class_names.iter().enumerate() {
            let dir = base.join(name);
            let class_files = list_images(&dir)?;
            if class_files.is_empty() {
                return Err(DataError::format(&dir, "class folder holds no images"));
            }
            files.extend(class_files.into_iter().map(|f| (f, label)));
        }
        Ok(files)
    };
    let (train_files, test_files) = if split_trees {
        (files_of(&train_root)?, files_of(&test_root)?)
    } else {
        seeded_split(files_of(root)?, class_names.len(), params)
    };

    let size = match params.image_size {
        Some(size) => size,
        None => first_size(&train_files, params.skip_bad_images)?,
    };
    let mut decode = |files: &[(PathBuf, usize)]| -> Result<Dataset, DataError> {
        let decoded = decode_all(files, size, params.skip_bad_images)?;
        if decoded.skipped > 0 {
            warnings.push(format!(
                "skipped {} undecodable image(s) (--skip-bad-images)",
                decoded.skipped
            ));
        }
        if decoded.resized > 0 && params.image_size.is_none() {
            warnings.push(format!(
                "{} image(s) differ from the first image's size {}x{} and were resized to it",
                decoded.resized, size.1, size.0
            ));
        }
        Ok(Dataset {
            images: decoded.images,
            labels: decoded.labels,
            class_names: class_names.clone(),
        })
    };
    let train = decode(&train_files)?;
    let test = decode(&test_files)?;
    if train.is_empty() {
        return Err(DataError::format(root, "no decodable training images"));
    }
    Ok(FolderDataset {
        data: TrainTest { train, test },
        warnings,
    })
}

fn list_classes(dir: &Path) -> Result<Vec<String>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(DataError::format(
            dir,
            "no class folders (expected <root>/<class>/<image files>)",
        ));
    }
    Ok(names)
}

fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if path.is_file() && is_image {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Holds out `test_fraction` of each class (at least one image when a class has two or more).
fn seeded_split(
    files: Vec<(PathBuf, usize)>,
    n_classes: usize,
    params: &FolderParams,
) -> (Vec<LabeledFile>, Vec<LabeledFile>) {
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ 0x00f0_1de2);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in 0..n_classes {
        let mut of_class: Vec<_> = files.iter().filter(|(_, l)| *l == class).cloned().collect();
        of_class.shuffle(&mut rng);
        let mut n_test = (of_class.len() as f64 * params.test_fraction).round() as usize;
        if params.test_fraction > 0.0 && n_test == 0 && of_class.len() >= 2 {
            n_test = 1;
        }
        let rest = of_class.split_off(n_test);
        test.extend(of_class);
        train.extend(rest);
    }
    train.sort();
    test.sort();
    (train, test)
}

fn first_size(files: &[(PathBuf, usize)], skip_bad: bool) -> Result<(usize, usize), DataError> {
    for (path, _) in files {
        match image::image_dimensions(path) {
            Ok((w, h)) => return Ok((h as usize, w as usize)),
            Err(e) if !skip_bad => {
                return Err(DataError::BadImage {
                    path: path.clone(),
                    reason: e.to_string(),
                })
            }
            Err(_) => continue,
        }
    }
    Err(DataError::Invalid(
        "no decodable image to take the size from".into(),
    ))
}

struct Decoded {
    images: Images,
    labels: Vec<usize>,
    skipped: usize,
    resized: usize,
}

fn decode_all(
    files: &[(PathBuf, usize)],
    (height, width): (usize, usize),
    skip_bad: bool,
) -> Result<Decoded, DataError> {
    let shape = ImageShape::new(height, width, 3);
    let results: Vec<Result<(Vec<u8>, bool), DataError>> = files
        .par_iter()
        .map(|(path, _)| {
            let img = image::open(path).map_err(|e| DataError::BadImage {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let rgb = img.to_rgb8();
            let resized = rgb.width() as usize != width || rgb.height() as usize != height;
            let rgb = if resized {
                image::imageops::resize(&rgb, width as u32, height as u32, FilterType::Triangle)
            } else {
                rgb
            };
            Ok((rgb.into_raw(), resized))
        })
        .collect();
    let mut images = Images::empty(shape);
    let mut labels = Vec::new();
    let (mut skipped, mut resized) = (0, 0);
    for ((_, label), result) in files.iter().zip(results) {
        match result {
            Ok((pixels, was_resized)) => {
                images.push(&pixels);
                labels.push(*label);
                resized += was_resized as usize;
            }
            Err(e) if !skip_bad => return Err(e),
            Err(_) => skipped += 1,
        }
    }
    Ok(Decoded {
        images,
        labels,
        skipped,
        resized,
    })
}
