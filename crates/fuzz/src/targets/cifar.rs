//! CIFAR-10 / CIFAR-100 binary batches ([`wb_data::cifar`]).

use rand::Rng;
use wb_data::cifar::{load_cifar10, load_cifar100, Cifar100Label};
use wb_data::{Dataset, TrainTest};

use crate::{ensure, Budget, Case, Field, Format, Outcome, Target};

const PIXELS: usize = 3 * 32 * 32;

/// The batches read whole, plus the interleaved copy of their pixels and the label list.
const BUDGET: Budget = Budget {
    per_input_byte: 4,
    constant: 1 << 20,
};

pub const CIFAR10: Target = Target {
    name: "cifar10",
    about: "wb_data::cifar::load_cifar10 on a folder of 6 batch files and batches.meta.txt",
    budget: BUDGET,
    run: cifar10,
};

pub const CIFAR100: Target = Target {
    name: "cifar100",
    about: "wb_data::cifar::load_cifar100 (fine or coarse labels) on train.bin, test.bin and the name files",
    budget: BUDGET,
    run: cifar100,
};

/// A batch of `labels.len()` records: the label bytes, then random planar RGB pixels. Returns the
/// file and its fields (every record's label bytes, for the mutator's edge values).
fn batch(case: &mut Case<'_>, labels: &[Vec<u8>]) -> (Vec<u8>, Format) {
    let mut rng = case.entropy().rng();
    let mut bytes = Vec::new();
    let mut fields = Vec::new();
    for record in labels {
        for &l in record {
            fields.push(Field::u8(bytes.len()));
            bytes.push(l);
        }
        bytes.extend((0..PIXELS).map(|_| rng.gen::<u8>()));
    }
    (bytes, Format::binary(fields))
}

fn names_file(names: &[String]) -> Vec<u8> {
    let mut text = names.join("\n");
    text.push('\n');
    text.into_bytes()
}

/// The record's pixels interleaved (H x W x C), as the loader must return them.
fn interleaved(record: &[u8]) -> Vec<u8> {
    let (r, rest) = record.split_at(1024);
    let (g, b) = rest.split_at(1024);
    (0..1024).flat_map(|p| [r[p], g[p], b[p]]).collect()
}

/// Consistency of a loaded CIFAR split: 32 x 32 x 3 images, one label per image, in range.
fn check_split(d: &Dataset, which: &str, n_classes: usize) -> Result<(), String> {
    let shape = d.images.shape();
    ensure(
        (shape.height, shape.width, shape.channels) == (32, 32, 3),
        || format!("{which}: image shape {shape:?}"),
    )?;
    ensure(
        !d.is_empty()
            && d.images.len() == d.labels.len()
            && d.images.pixels().len() == d.images.len() * PIXELS,
        || {
            format!(
                "{which}: {} images, {} labels",
                d.images.len(),
                d.labels.len()
            )
        },
    )?;
    ensure(
        d.n_classes() == n_classes && d.labels.iter().all(|&l| l < n_classes),
        || format!("{which}: labels out of range for {} classes", d.n_classes()),
    )
}

/// For the unmutated files: the labels and first image must be exactly what was written.
fn check_exact(d: &Dataset, labels: &[usize], first_record: &[u8]) -> Result<(), String> {
    ensure(d.labels == labels, || {
        "the valid batches read back other labels".into()
    })?;
    ensure(
        d.images.get(0).pixels == &interleaved(first_record)[..],
        || "the valid batches read back other pixels".into(),
    )
}

fn cifar10(case: &mut Case<'_>) {
    let mut train_labels = Vec::new();
    let mut first_train = None;
    for i in 1..=5 {
        let n = case.entropy().range(1, 3) as usize;
        let labels: Vec<Vec<u8>> = (0..n)
            .map(|_| vec![case.entropy().range(0, 9) as u8])
            .collect();
        train_labels.extend(labels.iter().map(|l| l[0] as usize));
        let (bytes, format) = batch(case, &labels);
        if i == 1 {
            first_train = Some(bytes[1..1 + PIXELS].to_vec());
        }
        case.file(&format!("data_batch_{i}.bin"), bytes, format);
    }
    let n_test = case.entropy().range(1, 3) as usize;
    let test: Vec<Vec<u8>> = (0..n_test)
        .map(|_| vec![case.entropy().range(0, 9) as u8])
        .collect();
    let test_labels: Vec<usize> = test.iter().map(|l| l[0] as usize).collect();
    let (bytes, format) = batch(case, &test);
    let first_test = bytes[1..1 + PIXELS].to_vec();
    case.file("test_batch.bin", bytes, format);
    if case.entropy().chance(1, 2) {
        let names: Vec<String> = (0..10).map(|i| format!("class {i}")).collect();
        case.file("batches.meta.txt", names_file(&names), Format::Text);
    }
    let dir = case.dir().to_path_buf();
    let first_train = first_train.expect("five batches were written");
    case.parse(|written| {
        Outcome::of(load_cifar10(&dir), |data: TrainTest| {
            check_split(&data.train, "train", 10)?;
            check_split(&data.test, "test", 10)?;
            if written.unchanged {
                check_exact(&data.train, &train_labels, &first_train)?;
                check_exact(&data.test, &test_labels, &first_test)?;
            }
            Ok(())
        })
    });
}

fn cifar100(case: &mut Case<'_>) {
    let label = if case.entropy().chance(1, 2) {
        Cifar100Label::Fine
    } else {
        Cifar100Label::Coarse
    };
    let (n_classes, which) = match label {
        Cifar100Label::Coarse => (20, 0),
        Cifar100Label::Fine => (100, 1),
    };
    let mut expected = Vec::new();
    for file in ["train.bin", "test.bin"] {
        let n = case.entropy().range(1, 4) as usize;
        let records: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let e = case.entropy();
                vec![e.range(0, 19) as u8, e.range(0, 99) as u8]
            })
            .collect();
        let labels: Vec<usize> = records.iter().map(|r| r[which] as usize).collect();
        let (bytes, format) = batch(case, &records);
        expected.push((labels, bytes[2..2 + PIXELS].to_vec()));
        case.file(file, bytes, format);
    }
    for (file, n) in [
        ("coarse_label_names.txt", 20),
        ("fine_label_names.txt", 100),
    ] {
        if case.entropy().chance(1, 2) {
            let names: Vec<String> = (0..n).map(|i| format!("name_{i}")).collect();
            case.file(file, names_file(&names), Format::Text);
        }
    }
    let dir = case.dir().to_path_buf();
    case.parse(|written| {
        Outcome::of(load_cifar100(&dir, label), |data: TrainTest| {
            check_split(&data.train, "train", n_classes)?;
            check_split(&data.test, "test", n_classes)?;
            if written.unchanged {
                check_exact(&data.train, &expected[0].0, &expected[0].1)?;
                check_exact(&data.test, &expected[1].0, &expected[1].1)?;
            }
            Ok(())
        })
    });
}
