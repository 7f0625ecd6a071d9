//! CIFAR-10 and CIFAR-100, binary version (Krizhevsky 2009).
//!
//! A CIFAR-10 record is 1 label byte then 3072 pixel bytes: 1024 R, 1024 G, 1024 B, each
//! row-major 32x32. CIFAR-100 records carry 2 label bytes (coarse, fine) before the pixels.

use std::fs;
use std::path::{Path, PathBuf};

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
    let train_files: Vec<PathBuf> = (1..=5)
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
///
/// Every file's size is checked against the record size before anything is read, and the total
/// record count is computed with checked arithmetic before the pixel buffer is allocated, so a
/// truncated or oversized batch is an error naming it and costs no memory.
fn read_batches(
    files: &[PathBuf],
    label_bytes: usize,
    label_offset: usize,
    class_names: &[String],
) -> Result<Dataset, DataError> {
    let record = label_bytes + PIXELS;
    let mut total = 0usize;
    for path in files {
        let len = fs::metadata(path)
            .map_err(|e| DataError::io(path, e))?
            .len();
        let n = records_in(path, len, record)?;
        total = total.checked_add(n).ok_or_else(|| {
            DataError::format(
                path,
                "the batch files together hold too many records to count",
            )
        })?;
    }
    let raw: Vec<(&PathBuf, Vec<u8>)> = files
        .par_iter()
        .map(|f| read_file(f).map(|b| (f, b)))
        .collect::<Result<_, _>>()?;
    let mut read_total = 0usize;
    for (path, bytes) in &raw {
        // Checked again on the bytes read: the file may have changed since its size was taken.
        read_total = read_total.saturating_add(records_in(path, bytes.len() as u64, record)?);
    }
    let first = files
        .first()
        .map(PathBuf::as_path)
        .unwrap_or(Path::new("."));
    if read_total != total {
        return Err(DataError::format(
            first,
            "the batch files changed while being read",
        ));
    }
    let pixel_len = total.checked_mul(PIXELS).ok_or_else(|| {
        DataError::format(
            first,
            format!("{total} images are too many to hold in memory"),
        )
    })?;
    let mut pixels = vec![0u8; pixel_len];
    let mut labels = Vec::with_capacity(total);
    let mut offset = 0;
    for (path, bytes) in &raw {
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
        .ok_or_else(|| DataError::format(first, "the batch files hold no images"))?;
    Ok(Dataset {
        images,
        labels,
        class_names: class_names.to_vec(),
    })
}

/// Number of whole `record`-byte records in a file of `len` bytes; an error naming the file when
/// it is empty or ends in a partial record (truncated, or with bytes appended).
fn records_in(path: &Path, len: u64, record: usize) -> Result<usize, DataError> {
    let record_u64 = record as u64;
    let (whole, rest) = (len / record_u64, len % record_u64);
    if len == 0 || rest != 0 {
        return Err(DataError::format(
            path,
            format!(
                "size {len} bytes is not a positive multiple of the {record}-byte record \
                 ({whole} whole records and {rest} bytes over: truncated or oversized)"
            ),
        ));
    }
    usize::try_from(whole)
        .map_err(|_| DataError::format(path, format!("{whole} records are too many to load")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_error(len: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.bin");
        std::fs::write(&path, vec![0u8; len]).unwrap();
        let names: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let message = read_batches(std::slice::from_ref(&path), 2, 1, &names)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        message
    }

    #[test]
    fn truncated_oversized_and_empty_batches_are_refused_with_the_counts() {
        let record = 2 + PIXELS;
        let m = batch_error(3 * record - 1);
        assert!(
            m.contains("(2 whole records and 3073 bytes over: truncated or oversized)"),
            "{m}"
        );
        let m = batch_error(2 * record + 1);
        assert!(m.contains("(2 whole records and 1 bytes over"), "{m}");
        let m = batch_error(0);
        assert!(
            m.contains("size 0 bytes is not a positive multiple of the 3074-byte record"),
            "{m}"
        );
    }

    #[test]
    fn a_bad_later_file_is_refused_before_any_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("a.bin");
        let bad = dir.path().join("b.bin");
        // The good file's label is out of range: had it been read first, that would be the error.
        std::fs::write(&good, vec![200u8; 1 + PIXELS]).unwrap();
        std::fs::write(&bad, vec![0u8; 10]).unwrap();
        let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let m = read_batches(&[good, bad.clone()], 1, 0, &names)
            .unwrap_err()
            .to_string();
        assert!(
            m.starts_with(&bad.display().to_string()) && m.contains("not a positive multiple"),
            "{m}"
        );
    }
}
