//! MNIST and Fashion-MNIST in IDX format (LeCun et al.), gzipped or not.
//!
//! IDX: a big-endian magic number (0x00000801 labels, 0x00000803 images), then one big-endian
//! u32 per dimension, then the data as u8.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::read_file;
use crate::{DataError, Dataset, ImageShape, Images, TrainTest};

pub const MNIST_DIR: &str = "mnist";
pub const FASHION_MNIST_DIR: &str = "fashion-mnist";

const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const FASHION_CLASSES: [&str; 10] = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];

/// Which IDX dataset (same file names, different class names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxFlavor {
    Mnist,
    FashionMnist,
}

/// Loads MNIST or Fashion-MNIST from `dir` (`train-images-idx3-ubyte[.gz]`, ...).
pub fn load_idx_dataset(dir: &Path, flavor: IdxFlavor) -> Result<TrainTest, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let names: Vec<String> = match flavor {
        IdxFlavor::Mnist => MNIST_CLASSES.iter(),
        IdxFlavor::FashionMnist => FASHION_CLASSES.iter(),
    }
    .map(|s| s.to_string())
    .collect();
    let load = |prefix: &str| -> Result<Dataset, DataError> {
        let images_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
        let labels_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
        let images = read_idx_images(&images_path)?;
        let labels = read_idx_labels(&labels_path, names.len())?;
        if images.len() != labels.len() {
            return Err(DataError::format(
                &labels_path,
                format!(
                    "{} labels for {} images in {}",
                    labels.len(),
                    images.len(),
                    images_path.display()
                ),
            ));
        }
        Ok(Dataset {
            images,
            labels,
            class_names: names.clone(),
        })
    };
    Ok(TrainTest {
        train: load("train")?,
        test: load("t10k")?,
    })
}

/// `name.gz` if present, else `name`, else the common `name` with `.` instead of the last `-`.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let dotted = match name.rfind('-') {
        Some(i) => format!("{}.{}", &name[..i], &name[i + 1..]),
        None => name.to_string(),
    };
    for candidate in [
        format!("{name}.gz"),
        name.to_string(),
        format!("{dotted}.gz"),
        dotted.clone(),
    ] {
        let p = dir.join(&candidate);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::NotFound {
        path: dir.join(format!("{name}[.gz]")),
    })
}

/// File contents, gunzipped when they start with the gzip magic bytes.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_file(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(path, format!("corrupt gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the magic number and that the data length matches the header's dimensions.
fn parse_header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    ndim: usize,
) -> Result<Vec<usize>, DataError> {
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(DataError::format(
            path,
            format!("file too short for an IDX header ({} bytes)", bytes.len()),
        ));
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(DataError::format(
            path,
            format!("wrong IDX magic number 0x{found:08x} (expected 0x{magic:08x})"),
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|d| be_u32(bytes, 4 + 4 * d) as usize)
        .collect();
    let expected: usize = dims.iter().product();
    let actual = bytes.len() - header;
    if expected != actual {
        return Err(DataError::format(
            path,
            format!(
                "header says {} ({} data bytes) but the file holds {actual} data bytes",
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(" x "),
                expected
            ),
        ));
    }
    if dims[0] == 0 {
        return Err(DataError::format(path, "the file holds no items"));
    }
    Ok(dims)
}

/// Reads an IDX3 image file into 1-channel images.
pub fn read_idx_images(path: &Path) -> Result<Images, DataError> {
    let mut bytes = read_maybe_gz(path)?;
    let dims = parse_header(path, &bytes, 0x0000_0803, 3)?;
    bytes.drain(..16);
    Images::new(ImageShape::new(dims[1], dims[2], 1), bytes)
        .ok_or_else(|| DataError::format(path, "images have zero size"))
}

/// Reads an IDX1 label file, checking every label is below `n_classes`.
pub fn read_idx_labels(path: &Path, n_classes: usize) -> Result<Vec<usize>, DataError> {
    let bytes = read_maybe_gz(path)?;
    parse_header(path, &bytes, 0x0000_0801, 1)?;
    bytes[8..]
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if (l as usize) < n_classes {
                Ok(l as usize)
            } else {
                Err(DataError::format(
                    path,
                    format!(
                        "item {i}: label {l} out of range (the dataset has {n_classes} classes)"
                    ),
                ))
            }
        })
        .collect()
}
