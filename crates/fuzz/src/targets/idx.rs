//! MNIST / Fashion-MNIST IDX files, plain and gzipped ([`wb_data::idx`]).

use rand::Rng;
use wb_data::idx::{load_idx_dataset, read_idx_images, read_idx_labels, IdxFlavor};
use wb_data::Dataset;

use crate::{ensure, Budget, Case, Field, Format, Outcome, Target};

/// The file, the data buffer (up to 8x a gzip file's size is reserved before decompressing)
/// and the label list (8 bytes per label byte).
const BUDGET: Budget = Budget {
    per_input_byte: 16,
    constant: 1 << 20,
};

pub const IMAGES: Target = Target {
    name: "idx-images",
    about: "wb_data::idx::read_idx_images on one IDX3 file, plain or gzipped",
    budget: BUDGET,
    run: images,
};

pub const LABELS: Target = Target {
    name: "idx-labels",
    about: "wb_data::idx::read_idx_labels on one IDX1 file, plain or gzipped",
    budget: BUDGET,
    run: labels,
};

pub const DATASET: Target = Target {
    name: "idx-dataset",
    about: "wb_data::idx::load_idx_dataset on a folder of four IDX files (train/t10k images and labels)",
    budget: BUDGET,
    run: dataset,
};

/// An IDX3 file: magic 0x803, count, rows, cols, pixels.
pub fn idx3(pixels: &[u8], n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + pixels.len());
    for v in [0x0803u32, n, rows, cols] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(pixels);
    b
}

/// An IDX1 file: magic 0x801, count, labels.
pub fn idx1(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + labels.len());
    for v in [0x0801u32, labels.len() as u32] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(labels);
    b
}

fn header_fields(ndim: usize) -> Vec<Field> {
    (0..=ndim).map(|d| Field::be_u32(4 * d)).collect()
}

/// Random small images: n x rows x cols, with a random pixel buffer.
fn random_images(case: &mut Case<'_>) -> (Vec<u8>, u32, u32, u32) {
    let e = case.entropy();
    let (n, rows, cols) = if e.chance(1, 8) {
        (e.range(1, 3) as u32, 28, 28)
    } else {
        (
            e.range(1, 6) as u32,
            e.range(1, 8) as u32,
            e.range(1, 8) as u32,
        )
    };
    let mut rng = e.rng();
    let pixels: Vec<u8> = (0..n * rows * cols).map(|_| rng.gen()).collect();
    (pixels, n, rows, cols)
}

fn format(gz: bool, ndim: usize) -> Format {
    let f = Format::binary(header_fields(ndim));
    if gz {
        f.gzip()
    } else {
        f
    }
}

fn images(case: &mut Case<'_>) {
    let (pixels, n, rows, cols) = random_images(case);
    let gz = case.entropy().chance(1, 2);
    let name = if gz {
        "images-idx3-ubyte.gz"
    } else {
        "images-idx3-ubyte"
    };
    let path = case.file(name, idx3(&pixels, n, rows, cols), format(gz, 3));
    case.parse(|written| {
        Outcome::of(read_idx_images(&path), |images| {
            let shape = images.shape();
            ensure(shape.channels == 1 && !shape.is_empty(), || {
                format!("image shape {shape:?}")
            })?;
            ensure(
                !images.is_empty() && images.len() * shape.len() == images.pixels().len(),
                || {
                    format!(
                        "{} images of {shape:?} in {} bytes",
                        images.len(),
                        images.pixels().len()
                    )
                },
            )?;
            if written.unchanged {
                ensure(
                    images.len() == n as usize
                        && (shape.height, shape.width) == (rows as usize, cols as usize)
                        && images.pixels() == &pixels[..],
                    || "the valid file read back different images".into(),
                )?;
            }
            Ok(())
        })
    });
}

fn labels(case: &mut Case<'_>) {
    let e = case.entropy();
    let n = e.range(1, 64) as usize;
    let gz = e.chance(1, 2);
    let mut rng = e.rng();
    let values: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let name = if gz {
        "labels-idx1-ubyte.gz"
    } else {
        "labels-idx1-ubyte"
    };
    let path = case.file(name, idx1(&values), format(gz, 1));
    case.parse(|written| {
        Outcome::of(read_idx_labels(&path, 10), |labels| {
            ensure(!labels.is_empty() && labels.iter().all(|&l| l < 10), || {
                format!("labels {labels:?}")
            })?;
            if written.unchanged {
                let expected: Vec<usize> = values.iter().map(|&v| v as usize).collect();
                ensure(labels == expected, || {
                    "the valid file read back other labels".into()
                })?;
            }
            Ok(())
        })
    });
}

fn dataset(case: &mut Case<'_>) {
    let dotted = case.entropy().chance(1, 3);
    let flavor = if case.entropy().chance(1, 2) {
        IdxFlavor::Mnist
    } else {
        IdxFlavor::FashionMnist
    };
    let e = case.entropy();
    let (rows, cols) = (e.range(1, 6) as u32, e.range(1, 6) as u32);
    let mut expected = Vec::new();
    for prefix in ["train", "t10k"] {
        let e = case.entropy();
        let n = e.range(1, 5) as u32;
        let mut rng = e.rng();
        let pixels: Vec<u8> = (0..n * rows * cols).map(|_| rng.gen()).collect();
        let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
        for (kind, ndim, bytes) in [
            ("images-idx3", 3, idx3(&pixels, n, rows, cols)),
            ("labels-idx1", 1, idx1(&labels)),
        ] {
            let gz = case.entropy().chance(1, 2);
            let sep = if dotted { "." } else { "-" };
            let name = format!("{prefix}-{kind}{sep}ubyte{}", if gz { ".gz" } else { "" });
            case.file(&name, bytes, format(gz, ndim));
        }
        expected.push((n as usize, labels));
    }
    let dir = case.dir().to_path_buf();
    case.parse(|written| {
        Outcome::of(load_idx_dataset(&dir, flavor), |data| {
            let check = |d: &Dataset, which: &str| {
                ensure(
                    d.images.len() == d.labels.len()
                        && !d.is_empty()
                        && d.labels.iter().all(|&l| l < d.n_classes())
                        && d.n_classes() == 10,
                    || {
                        format!(
                            "{which}: {} images, {} labels",
                            d.images.len(),
                            d.labels.len()
                        )
                    },
                )
            };
            check(&data.train, "train")?;
            check(&data.test, "test")?;
            ensure(
                data.train.images.shape() == data.test.images.shape(),
                || {
                    format!(
                        "train images are {:?} but test images {:?}",
                        data.train.images.shape(),
                        data.test.images.shape()
                    )
                },
            )?;
            if written.unchanged {
                for (d, (n, labels)) in [&data.train, &data.test].into_iter().zip(&expected) {
                    let want: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
                    ensure(d.len() == *n && d.labels == want, || {
                        "the valid files read back other labels".into()
                    })?;
                }
            }
            Ok(())
        })
    });
}
