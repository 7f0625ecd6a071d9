//! MNIST and Fashion-MNIST in IDX format (LeCun et al.), gzipped or not.
//!
//! IDX: a big-endian magic number (0x00000801 labels, 0x00000803 images), then one big-endian
//! u32 per dimension, then the data as u8.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;

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
    let train = load("train")?;
    let test = load("t10k")?;
    if test.images.shape() != train.images.shape() {
        let s = |d: &Dataset| {
            let shape = d.images.shape();
            format!("{} x {}", shape.height, shape.width)
        };
        return Err(DataError::format(
            &find(dir, "t10k-images-idx3-ubyte")?,
            format!(
                "test images are {} pixels but the training images are {}",
                s(&test),
                s(&train)
            ),
        ));
    }
    Ok(TrainTest { train, test })
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

/// Most bytes one byte of a deflate stream can expand to: a 258-byte match coded in 2 bits
/// (RFC 1951), so any gzip file of `n` bytes decompresses to at most `1032 n` bytes.
const MAX_DEFLATE_RATIO: usize = 1032;

/// Capacity reserved up front for a gzipped file, as a multiple of its compressed size. MNIST
/// compresses about 5:1 (images) and 2:1 (labels), so real files get their exact size at once;
/// a stream whose header claims more grows its buffer only as data really arrives, so a
/// corrupt one cannot make us allocate what its header merely claims.
const RESERVE_RATIO: usize = 8;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An IDX file's dimensions and data bytes (after the header).
struct Idx {
    dims: Vec<usize>,
    data: Vec<u8>,
}

/// Reads an IDX file (gzipped or not) with magic number `magic` and `ndim` dimensions.
///
/// Every size is checked before it is used: the product of the dimensions with checked
/// arithmetic, then against the file's length (plain files) or against what a gzip stream of the
/// file's length can hold (`MAX_DEFLATE_RATIO`). Decompression stops one byte past the size the
/// header describes, so a gzip bomb costs at most that much memory and time.
fn read_idx(path: &Path, magic: u32, ndim: usize) -> Result<Idx, DataError> {
    let io = |e| DataError::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let header_len = 4 + 4 * ndim;
    let mut head = Vec::with_capacity(header_len);
    (&mut file)
        .take(header_len as u64)
        .read_to_end(&mut head)
        .map_err(io)?;

    if !head.starts_with(&GZIP_MAGIC) {
        if head.len() < header_len {
            return Err(DataError::format(
                path,
                format!(
                    "file too short for an IDX header ({} bytes, the header takes {header_len})",
                    head.len()
                ),
            ));
        }
        let (dims, data_len) = parse_header(path, &head, magic)?;
        // Compared with the file's length before a byte of data is read or allocated.
        let on_disk =
            usize::try_from(file_len.saturating_sub(header_len as u64)).unwrap_or(usize::MAX);
        check_data_len(path, &dims, data_len, on_disk)?;
        let mut data = Vec::with_capacity(data_len);
        file.take(data_len as u64 + 1)
            .read_to_end(&mut data)
            .map_err(io)?;
        // The file changed between the size check and the read.
        check_data_len(path, &dims, data_len, data.len())?;
        return Ok(Idx { dims, data });
    }

    let mut bytes = head;
    file.read_to_end(&mut bytes).map_err(io)?;
    // bufread::GzDecoder reads exactly its member from the slice, so what is left afterwards
    // is trailing data.
    let mut decoder = GzDecoder::new(&bytes[..]);
    let corrupt = |e: std::io::Error| DataError::format(path, format!("corrupt gzip stream: {e}"));
    let mut header = vec![0u8; header_len];
    decoder.read_exact(&mut header).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            DataError::format(path, "the gzip stream ends inside the IDX header")
        } else {
            corrupt(e)
        }
    })?;
    let (dims, data_len) = parse_header(path, &header, magic)?;
    let most = bytes.len().saturating_mul(MAX_DEFLATE_RATIO);
    if data_len > most {
        return Err(DataError::format(
            path,
            format!(
                "header says {} ({data_len} data bytes) but a {}-byte gzip file can hold at \
                 most {most}: a wrong header or not an IDX file",
                dims_text(&dims),
                bytes.len()
            ),
        ));
    }
    let mut data = Vec::with_capacity(data_len.min(bytes.len().saturating_mul(RESERVE_RATIO)));
    // One byte of margin tells "exactly as long as the header says" from "longer".
    let limit = data_len as u64 + 1;
    (&mut decoder)
        .take(limit)
        .read_to_end(&mut data)
        .map_err(corrupt)?;
    if data.len() > data_len {
        return Err(DataError::format(
            path,
            format!(
                "the gzip stream holds more than the {data_len} data bytes the header describes \
                 ({}): a wrong header or a gzip bomb",
                dims_text(&dims)
            ),
        ));
    }
    check_data_len(path, &dims, data_len, data.len())?;
    let trailing = decoder.into_inner().len();
    if trailing > 0 {
        return Err(DataError::format(
            path,
            format!("{trailing} bytes of trailing data after the gzip stream"),
        ));
    }
    Ok(Idx { dims, data })
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn dims_text(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" x ")
}

/// Checks the magic number and returns the dimensions and their product (the data length),
/// refusing a product that overflows and a file with no items.
fn parse_header(path: &Path, header: &[u8], magic: u32) -> Result<(Vec<usize>, usize), DataError> {
    let found = be_u32(header, 0);
    if found != magic {
        return Err(DataError::format(
            path,
            format!("wrong IDX magic number 0x{found:08x} (expected 0x{magic:08x})"),
        ));
    }
    let dims: Vec<usize> = (4..header.len())
        .step_by(4)
        .map(|at| be_u32(header, at) as usize)
        .collect();
    let data_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            DataError::format(
                path,
                format!(
                    "header dimensions {} multiply to more than {} bytes: not an IDX file",
                    dims_text(&dims),
                    usize::MAX
                ),
            )
        })?;
    if dims[0] == 0 {
        return Err(DataError::format(
            path,
            "the header says the file holds no items",
        ));
    }
    Ok((dims, data_len))
}

fn check_data_len(
    path: &Path,
    dims: &[usize],
    expected: usize,
    actual: usize,
) -> Result<(), DataError> {
    if expected != actual {
        return Err(DataError::format(
            path,
            format!(
                "header says {} ({expected} data bytes) but the file holds {actual} data bytes",
                dims_text(dims)
            ),
        ));
    }
    Ok(())
}

/// Reads an IDX3 image file into 1-channel images.
pub fn read_idx_images(path: &Path) -> Result<Images, DataError> {
    let Idx { dims, data } = read_idx(path, 0x0000_0803, 3)?;
    if dims[1] == 0 || dims[2] == 0 {
        return Err(DataError::format(
            path,
            format!("images of {} x {} pixels are empty", dims[1], dims[2]),
        ));
    }
    Images::new(ImageShape::new(dims[1], dims[2], 1), data)
        .ok_or_else(|| DataError::format(path, "pixel data does not split into whole images"))
}

/// Reads an IDX1 label file, checking every label is below `n_classes`.
pub fn read_idx_labels(path: &Path, n_classes: usize) -> Result<Vec<usize>, DataError> {
    let Idx { data, .. } = read_idx(path, 0x0000_0801, 1)?;
    data.iter()
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn idx3(n: u32, rows: u32, cols: u32, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [0x0803u32, n, rows, cols] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// The error for `bytes` as an images file; asserts it names the file.
    fn images_error(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images");
        std::fs::write(&path, bytes).unwrap();
        let message = read_idx_images(&path).unwrap_err().to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        message
    }

    #[test]
    fn dims_whose_product_overflows_are_refused() {
        let m = images_error(&idx3(u32::MAX, u32::MAX, u32::MAX, &[0; 8]));
        assert!(m.contains("multiply to more than"), "{m}");
        let m = images_error(&gzip(&idx3(u32::MAX, u32::MAX, 2, &[0; 8])));
        assert!(m.contains("multiply to more than"), "{m}");
    }

    #[test]
    fn a_count_larger_than_the_file_is_refused() {
        let m = images_error(&idx3(60_000, 28, 28, &[0; 784]));
        assert!(
            m.contains("60000 x 28 x 28 (47040000 data bytes) but the file holds 784"),
            "{m}"
        );
        // Gzipped: more than the compressed size could ever hold, refused before decompressing.
        let m = images_error(&gzip(&idx3(4_000_000, 28, 28, &[0; 784])));
        assert!(m.contains("can hold at most"), "{m}");
        // Plausible for the compressed size, but the stream ends early.
        let m = images_error(&gzip(&idx3(3, 28, 28, &[0; 784])));
        assert!(m.contains("but the file holds 784 data bytes"), "{m}");
    }

    #[test]
    fn gzip_bombs_corruption_and_trailing_data_are_refused() {
        let mut bomb = idx3(1, 2, 2, &[0; 4]);
        bomb.resize(1 << 22, 0);
        let m = images_error(&gzip(&bomb));
        assert!(
            m.contains("holds more than the 4 data bytes") && m.contains("gzip bomb"),
            "{m}"
        );

        let mut corrupt = gzip(&idx3(1, 2, 2, &[1, 2, 3, 4]));
        let crc_at = corrupt.len() - 8;
        corrupt[crc_at] ^= 0xff;
        let m = images_error(&corrupt);
        assert!(m.contains("corrupt gzip stream"), "{m}");

        let whole = gzip(&idx3(1, 2, 2, &[1, 2, 3, 4]));
        let m = images_error(&whole[..whole.len() - 5]);
        assert!(m.contains("corrupt gzip stream"), "{m}");

        let mut trailing = whole.clone();
        trailing.extend_from_slice(b"junk");
        let m = images_error(&trailing);
        assert!(m.contains("4 bytes of trailing data"), "{m}");

        let m = images_error(&gzip(&[0x00, 0x00, 0x08]));
        assert!(m.contains("ends inside the IDX header"), "{m}");
    }

    #[test]
    fn wrong_magic_short_header_and_empty_images_are_refused() {
        let mut wrong = idx3(1, 1, 1, &[0]);
        wrong[3] = 0x01;
        let m = images_error(&wrong);
        assert!(m.contains("wrong IDX magic number 0x00000801"), "{m}");
        let m = images_error(&[0, 0, 8, 3, 0]);
        assert!(m.contains("too short for an IDX header (5 bytes"), "{m}");
        let m = images_error(&idx3(2, 0, 5, &[]));
        assert!(m.contains("images of 0 x 5 pixels are empty"), "{m}");
        let m = images_error(&idx3(0, 5, 5, &[]));
        assert!(m.contains("holds no items"), "{m}");
    }

    #[test]
    fn valid_files_read_the_same_plain_and_gzipped() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = idx3(2, 2, 3, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let (plain, gz) = (dir.path().join("a"), dir.path().join("a.gz"));
        std::fs::write(&plain, &bytes).unwrap();
        std::fs::write(&gz, gzip(&bytes)).unwrap();
        let a = read_idx_images(&plain).unwrap();
        assert_eq!(a, read_idx_images(&gz).unwrap());
        assert_eq!((a.len(), a.shape()), (2, ImageShape::new(2, 3, 1)));
        assert_eq!(a.pixels(), &bytes[16..]);
    }

    #[test]
    fn test_images_must_have_the_training_shape() {
        let dir = tempfile::tempdir().unwrap();
        let labels = |n: u8| {
            let mut b = vec![0, 0, 8, 1, 0, 0, 0, n];
            b.extend(0..n);
            b
        };
        let write =
            |name: &str, bytes: Vec<u8>| std::fs::write(dir.path().join(name), bytes).unwrap();
        write("train-images-idx3-ubyte", idx3(2, 2, 2, &[0; 8]));
        write("train-labels-idx1-ubyte", labels(2));
        write("t10k-images-idx3-ubyte", idx3(2, 1, 4, &[0; 8]));
        write("t10k-labels-idx1-ubyte", labels(2));
        let m = load_idx_dataset(dir.path(), IdxFlavor::Mnist)
            .unwrap_err()
            .to_string();
        assert!(m.contains("t10k-images-idx3-ubyte"), "{m}");
        assert!(
            m.contains("test images are 1 x 4 pixels but the training images are 2 x 2"),
            "{m}"
        );
    }
}
