//! CIFAR-10 and CIFAR-100, binary version (Krizhevsky 2009).
//!
//! A CIFAR-10 record is 1 label byte then 3072 pixel bytes: 1024 R, 1024 G, 1024 B, each
//! row-major 32x32. CIFAR-100 records carry 2 label bytes (coarse, fine) before the pixels.

use std::path::Path;

use rayon::prelude::*;

use crate::error::read_file;
use crate::{DataError, Dataset, ImageShape, Images, TrainTest};

const SIDE: usize = 32;
const PLANE: usize = SIDE * SIDE;
const PIXELS: usize = 3 * PLANE;

pub const CIFAR10_DIR: &str = "cifar-10-batches-bin";
pub const CIFAR100_DIR: &str = "cifar-100-binary";

const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which CIFAR-100 label to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cifar100Label {
    /// 100 classes.
    #[default]
    Fine,
    /// 20 super-classes.
    Coarse,
}

impl Cifar100Label {
    pub fn name(self) -> &'static str {
        match self {
            Cifar100Label::Fine => "fine",
            Cifar100Label::Coarse => "coarse",
        }
    }
}

impl std::str::FromStr for Cifar100Label {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fine" => Ok(Cifar100Label::Fine),
            "coarse" => Ok(Cifar100Label::Coarse),
            _ => Err(format!(
                "unknown label granularity `{s}` (valid: fine, coarse)"
            )),
        }
    }
}

/// Loads CIFAR-10 from `dir` (the `cifar-10-batches-bin` folder).
pub fn load_cifar10(dir: &Path) -> Result<TrainTest, DataError> {
    check_dir(dir)?;
    let class_names = read_names(&dir.join("batches.meta.txt"), 10)?
        .unwrap_or_else(|| CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
    let train_files: Vec<_> = (1..=5)
        .map(|i| dir.join(format!("data_batch_{i}.bin")))
        .collect();
    let train = read_batches(&train_files, 1, 0, &class_names)?;
    let test = read_batches(&[dir.join("test_batch.bin")], 1, 0, &class_names)?;
    Ok(TrainTest { train, test })
}

/// Loads CIFAR-100 from `dir` (the `cifar-100-binary` folder) with fine or coarse labels.
pub fn load_cifar100(dir: &Path, label: Cifar100Label) -> Result<TrainTest, DataError> {
    check_dir(dir)?;
    let (names_file, n_classes, label_offset) = match label {
        Cifar100Label::Coarse => ("coarse_label_names.txt", 20, 0),
        Cifar100Label::Fine => ("fine_label_names.txt", 100, 1),
    };
    let class_names = read_names(&dir.join(names_file), n_classes)?
        .unwrap_or_else(|| (0..n_classes).map(|i| format!("class_{i}")).collect());
    let train = read_batches(&[dir.join("train.bin")], 2, label_offset, &class_names)?;
    let test = read_batches(&[dir.join("test.bin")], 2, label_offset, &class_names)?;
    Ok(TrainTest { train, test })
}

fn check_dir(dir: &Path) -> Result<(), DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Class names, one per non-empty line; `None` if the file is absent.
fn read_names(path: &Path, expected: usize) -> Result<Option<Vec<String>>, DataError> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_file(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() != expected {
        return Err(DataError::format(
            path,
            format!("expected {expected} class names, found {}", names.len()),
        ));
    }
    Ok(Some(names))
}

/// Reads batch files with `label_bytes` label bytes per record, using the one at `label_offset`.
fn read_batches(
    files: &[std::path::PathBuf],
    label_bytes: usize,
    label_offset: usize,
    class_names: &[String],
) -> Result<Dataset, DataError> {
    let record = label_bytes + PIXELS;
    let raw: Vec<(std::path::PathBuf, Vec<u8>)> = files
        .par_iter()
        .map(|f| read_file(f).map(|b| (f.clone(), b)))
        .collect::<Result<_, _>>()?;
    let total: usize = raw.iter().map(|(_, b)| b.len() / record).sum();
    let mut pixels = vec![0u8; total * PIXELS];
    let mut labels = Vec::with_capacity(total);
    let mut offset = 0;
    for (path, bytes) in &raw {
        if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
            return Err(DataError::format(
                path,
                format!(
                    "size {} bytes is not a positive multiple of the {record}-byte record",
                    bytes.len()
                ),
            ));
        }
        let n = bytes.len() / record;
        for (i, rec) in bytes.chunks_exact(record).enumerate() {
            let label = rec[label_offset] as usize;
            if label >= class_names.len() {
                return Err(DataError::format(
                    path,
                    format!(
                        "record {i}: label {label} out of range (the dataset has {} classes)",
                        class_names.len()
                    ),
                ));
            }
            labels.push(label);
        }
        // Planar RGB → interleaved H x W x C, in parallel over images.
        pixels[offset * PIXELS..(offset + n) * PIXELS]
            .par_chunks_mut(PIXELS)
            .zip(bytes.par_chunks_exact(record))
            .for_each(|(out, rec)| {
                let planes = &rec[label_bytes..];
                let (r, rest) = planes.split_at(PLANE);
                let (g, b) = rest.split_at(PLANE);
                for (p, px) in out.chunks_exact_mut(3).enumerate() {
                    px[0] = r[p];
                    px[1] = g[p];
                    px[2] = b[p];
                }
            });
        offset += n;
    }
    let images = Images::new(ImageShape::new(SIDE, SIDE, 3), pixels)
        .ok_or_else(|| DataError::Invalid("CIFAR pixel buffer has the wrong size".into()))?;
    Ok(Dataset {
        images,
        labels,
        class_names: class_names.to_vec(),
    })
}
