//! Which dataset, and where its files are.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cifar::{CIFAR100_DIR, CIFAR10_DIR};
use crate::idx::{FASHION_MNIST_DIR, MNIST_DIR};
use crate::DataError;

/// The datasets the workbench reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Synthetic,
    Cifar10,
    Cifar100,
    Mnist,
    FashionMnist,
    Folder,
}

impl DatasetKind {
    pub const ALL: [DatasetKind; 6] = [
        DatasetKind::Synthetic,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Folder,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Synthetic => "synthetic",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Folder => "folder",
        }
    }

    /// The folder name of the official download, if the dataset has one.
    pub fn folder_name(self) -> Option<&'static str> {
        match self {
            DatasetKind::Cifar10 => Some(CIFAR10_DIR),
            DatasetKind::Cifar100 => Some(CIFAR100_DIR),
            DatasetKind::Mnist => Some(MNIST_DIR),
            DatasetKind::FashionMnist => Some(FASHION_MNIST_DIR),
            DatasetKind::Synthetic | DatasetKind::Folder => None,
        }
    }

    /// Whether `dir` directly holds this dataset's files.
    fn holds_files(self, dir: &Path) -> bool {
        let any = |names: &[&str]| names.iter().any(|n| dir.join(n).is_file());
        match self {
            DatasetKind::Cifar10 => any(&["data_batch_1.bin", "test_batch.bin"]),
            DatasetKind::Cifar100 => any(&["train.bin"]),
            DatasetKind::Mnist | DatasetKind::FashionMnist => any(&[
                "train-images-idx3-ubyte.gz",
                "train-images-idx3-ubyte",
                "train-images.idx3-ubyte",
            ]),
            DatasetKind::Synthetic | DatasetKind::Folder => false,
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown dataset `{s}` (valid: {})",
                    DatasetKind::ALL.map(|k| k.name()).join(", ")
                )
            })
    }
}

/// The folder holding `kind`'s files: `dir` itself when it holds them, else the dataset's
/// official folder inside `dir` (so a parent such as `../shared/datasets` works too).
pub fn resolve_dir(kind: DatasetKind, dir: &Path) -> Result<PathBuf, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    if kind == DatasetKind::Folder || kind.holds_files(dir) {
        return Ok(dir.to_path_buf());
    }
    if let Some(name) = kind.folder_name() {
        let sub = dir.join(name);
        if sub.is_dir() {
            return Ok(sub);
        }
        return Err(DataError::format(
            dir,
            format!("holds neither the {kind} files nor a `{name}/` folder"),
        ));
    }
    Ok(dir.to_path_buf())
}

/// Guesses the dataset held by `dir`: its own files, or exactly one known dataset folder in it.
pub fn detect_kind(dir: &Path) -> Result<DatasetKind, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let by_name = DatasetKind::ALL
        .into_iter()
        .find(|k| k.folder_name().is_some_and(|n| dir.ends_with(n)));
    if let Some(kind) = by_name {
        return Ok(kind);
    }
    if DatasetKind::Cifar10.holds_files(dir) {
        return Ok(DatasetKind::Cifar10);
    }
    if DatasetKind::Mnist.holds_files(dir) {
        return Ok(DatasetKind::Mnist);
    }
    let found: Vec<DatasetKind> = DatasetKind::ALL
        .into_iter()
        .filter(|k| k.folder_name().is_some_and(|n| dir.join(n).is_dir()))
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(DataError::format(
            dir,
            "holds no known dataset; pass --dataset (folder for an image folder)",
        )),
        many => Err(DataError::format(
            dir,
            format!(
                "holds several datasets ({}); pass --dataset to choose",
                many.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}
