//! The bad-input corpus (issue 14): every case runs the real `pipeline` binary on files this
//! test writes (or on a bad option value) and must be refused with exit code 1 — not a panic
//! (101) or an abort (134) — with a message naming the file or the option, and without writing
//! anything: the `--out` folder of an earlier run is byte-for-byte unchanged (for `predict`, the
//! CSV file and its JSON summary are not created). One case is not a refusal: a feature cache
//! with a wrong checksum is reported and extracted again, giving the same result.
//!
//! Small data throughout (a few images, the synthetic dataset with `--train-limit`): most cases
//! are refused before any training.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod common;
use common::{pipeline, snapshot, stderr};

// ---------------------------------------------------------------------------------------------
// The harness: one case = arguments, the words its message must contain, where it writes.

/// Where a command writes: `--out DIR` (run, compare, extract) or `--out FILE.csv` (predict).
#[derive(Clone, Copy, PartialEq)]
enum Out {
    Dir,
    Csv,
}

struct Case {
    name: &'static str,
    args: Vec<String>,
    /// Each of these must appear in stderr (a file name or an option).
    names: Vec<String>,
    out: Out,
    /// The refusal may come after the data is loaded (it depends on the data); otherwise the
    /// case must be refused before (no `loaded ...` line).
    after_loading: bool,
}

impl Case {
    fn after_loading(self) -> Case {
        Case {
            after_loading: true,
            ..self
        }
    }
}

fn case(name: &'static str, args: &[&str], names: &[&str]) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        names: names.iter().map(|s| s.to_string()).collect(),
        out: Out::Dir,
        after_loading: false,
    }
}

fn predict_case(name: &'static str, args: &[&str], names: &[&str]) -> Case {
    Case {
        out: Out::Csv,
        ..case(name, args, names)
    }
}

/// An `--out` folder as an earlier run left it (a results file, a saved model, a cells folder).
fn earlier_out(dir: &Path) -> PathBuf {
    let out = dir.join("earlier-out");
    std::fs::create_dir_all(out.join("model")).unwrap();
    std::fs::create_dir_all(out.join("cells")).unwrap();
    std::fs::write(out.join("results.json"), b"{\"earlier\": true}\n").unwrap();
    std::fs::write(out.join("model").join("mlp.json"), b"{\"earlier\": 1}").unwrap();
    std::fs::write(out.join("cells").join("raw__svm.json"), b"{}").unwrap();
    out
}

/// Runs one case; `Err` says what went wrong.
fn check(case: &Case) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut args = case.args.clone();
    let (out_path, before) = match case.out {
        Out::Dir => {
            let out = earlier_out(dir.path());
            (out.clone(), snapshot(&out))
        }
        Out::Csv => (dir.path().join("predictions.csv"), BTreeMap::new()),
    };
    args.push("--out".into());
    args.push(out_path.to_str().unwrap().into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = pipeline(&refs);
    let err = stderr(&output);
    let mut problems = Vec::new();
    if output.status.code() != Some(1) {
        problems.push(format!("exit status {:?}, not 1", output.status));
    }
    if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
        problems.push("a panic".into());
    }
    if !case.after_loading && err.lines().any(|l| l.starts_with("loaded ")) {
        problems.push("refused only after loading the data".into());
    }
    // A cause repeated (`file: No such file...: No such file...`).
    if let Some(line) = err.lines().find(|l| l.starts_with("error: ")) {
        let parts: Vec<&str> = line.split(": ").collect();
        if parts.windows(2).any(|w| w[0] == w[1]) {
            problems.push("the message repeats a cause".into());
        }
    }
    for name in &case.names {
        if !err.contains(name.as_str()) {
            problems.push(format!("the message does not name `{name}`"));
        }
    }
    match case.out {
        Out::Dir => {
            if snapshot(&out_path) != before {
                problems.push("the earlier --out folder changed".into());
            }
        }
        Out::Csv => {
            let written: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            if !written.is_empty() {
                problems.push(format!("files were written: {written:?}"));
            }
        }
    }
    // Shown with `--nocapture`: the corpus and its messages.
    eprintln!("[{}] {}", case.name, err.trim_end().replace('\n', " | "));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}\n    args: {}\n    stderr: {}",
            case.name,
            problems.join("; "),
            case.args.join(" "),
            err.trim_end().replace('\n', "\n            ")
        ))
    }
}

/// Runs every case (in two threads) and reports all failures at once.
fn check_all(cases: Vec<Case>) -> usize {
    let n = cases.len();
    let failures: Vec<String> = std::thread::scope(|s| {
        let (a, b): (Vec<_>, Vec<_>) = cases.iter().enumerate().partition(|(i, _)| i % 2 == 0);
        let handles: Vec<_> = [a, b]
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    part.into_iter()
                        .filter_map(|(_, c)| check(c).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    n
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A fast `run` on the synthetic data.
const QUICK: &[&str] = &[
    "--train-limit",
    "200",
    "--val-size",
    "50",
    "--test-limit",
    "50",
    "--threads",
    "1",
    "--epochs",
    "1",
    "--augment",
    "none",
];

fn run_args(extra: &[&str]) -> Vec<String> {
    let mut v = vec!["run".to_string()];
    // QUICK's flag-value pairs, except those `extra` sets itself.
    for pair in QUICK.chunks(2) {
        if !extra.contains(&pair[0]) {
            v.extend(pair.iter().map(|s| s.to_string()));
        }
    }
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn run_case(name: &'static str, extra: &[&str], names: &[&str]) -> Case {
    let args = run_args(extra);
    Case {
        args,
        ..case(name, &[], names)
    }
}

// ---------------------------------------------------------------------------------------------
// Bad option values.

#[test]
fn bad_option_values_are_refused_naming_the_option() {
    let n = check_all(vec![
        run_case("--val-size 0", &["--val-size", "0"], &["--val-size"]),
        run_case(
            "--val-size >= the training set",
            &["--val-size", "6000"],
            &["--val-size", "6000"],
        ),
        run_case("--cv 0", &["--cv", "0"], &["--cv"]),
        run_case("--cv 1", &["--cv", "1"], &["--cv"]),
        run_case(
            "--cv with --val-size",
            &["--cv", "3", "--val-size", "40"],
            &["--cv 3", "--val-size 40"],
        ),
        run_case("--lr=-1", &["--lr=-1"], &["lr", "-1"]),
        run_case("--lr nan", &["--lr", "nan"], &["lr", "NaN"]),
        run_case("--lr inf", &["--lr", "inf"], &["lr", "inf"]),
        run_case("--reg=-1", &["--reg=-1"], &["reg"]),
        run_case("--epochs 0", &["--epochs", "0"], &["epochs"]),
        run_case("--threads 0", &["--threads", "0"], &["--threads"]),
        run_case("--batch-size 0", &["--batch-size", "0"], &["batch-size"]),
        run_case(
            "--train-limit 0",
            &["--train-limit", "0"],
            &["--train-limit 0"],
        ),
        run_case("--test-limit 0", &["--test-limit", "0"], &["--test-limit"]),
        run_case(
            "--hidden ''",
            &["--model", "mlp", "--hidden="],
            &["--hidden"],
        ),
        run_case(
            "--hidden 0",
            &["--model", "mlp", "--hidden", "0"],
            &["hidden"],
        ),
        run_case(
            "--dropout 1.5",
            &["--model", "mlp", "--hidden", "4", "--dropout", "1.5"],
            &["dropout"],
        ),
        run_case(
            "--kmeans-k 0",
            &["--features", "kmeans", "--kmeans-k", "0"],
            &["--kmeans-k"],
        ),
        run_case(
            "--max-memory 12Q",
            &["--max-memory", "12Q"],
            &["--max-memory"],
        ),
        // The estimate is of the features, so it needs the data's size.
        run_case(
            "--max-memory 1K",
            &["--max-memory", "1K"],
            &["--max-memory"],
        )
        .after_loading(),
        run_case("--features sift", &["--features", "sift"], &["sift"]),
        run_case("--model tree", &["--model", "tree"], &["tree"]),
    ]);
    assert!(n >= 20);
}

// ---------------------------------------------------------------------------------------------
// CIFAR-10 batches.

const CIFAR_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// A CIFAR-10 folder of 2-record batches, with `edit` applied to `data_batch_3.bin`'s bytes
/// (`None` removes the file).
fn cifar_dir(root: &Path, name: &str, edit: impl Fn(Vec<u8>) -> Option<Vec<u8>>) -> PathBuf {
    let dir = root.join(name).join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, file) in CIFAR_FILES.iter().enumerate() {
        let mut bytes = Vec::new();
        for r in 0..2u8 {
            bytes.push((i as u8 + r) % 10);
            bytes.extend((0..3072).map(|p| (p % 251) as u8 ^ r));
        }
        let bytes = if *file == "data_batch_3.bin" {
            edit(bytes)
        } else {
            Some(bytes)
        };
        if let Some(b) = bytes {
            std::fs::write(dir.join(file), b).unwrap();
        }
    }
    dir
}

#[test]
fn bad_cifar_batches_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cifar = |name: &'static str, edit: fn(Vec<u8>) -> Option<Vec<u8>>, names: &[&str]| {
        let dir = cifar_dir(root, name, edit);
        case(
            name,
            &["run", "--dataset", "cifar10", "--data-dir", s(&dir)],
            names,
        )
    };
    check_all(vec![
        cifar(
            "truncated CIFAR batch",
            |mut b| {
                b.truncate(3073 + 1000);
                Some(b)
            },
            &["data_batch_3.bin", "truncated"],
        ),
        cifar(
            "oversized CIFAR batch",
            |mut b| {
                b.extend([0u8; 5]);
                Some(b)
            },
            &["data_batch_3.bin", "oversized"],
        ),
        cifar(
            "empty CIFAR batch",
            |_| Some(Vec::new()),
            &["data_batch_3.bin"],
        ),
        cifar(
            "CIFAR label out of range",
            |mut b| {
                b[3073] = 200;
                Some(b)
            },
            &["data_batch_3.bin", "label 200"],
        ),
        cifar("missing CIFAR batch", |_| None, &["data_batch_3.bin"]),
    ]);
}

// ---------------------------------------------------------------------------------------------
// MNIST (IDX files, raw and gzipped).

fn idx3(n: u32, h: u32, w: u32, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, 0x03];
    for v in [n, h, w] {
        b.extend(v.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn idx1(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, 0x01];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn gzip(bytes: &[u8], zeros: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(chunk.len());
        e.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    e.finish().unwrap()
}

/// An MNIST folder of 20 training and 10 test images of 28 x 28, in which the training images
/// file is replaced by `images` (written under `images_name`).
fn mnist_dir(root: &Path, name: &str, images_name: &str, images: Vec<u8>) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let labels: Vec<u8> = (0..20).map(|i| i % 10).collect();
    std::fs::write(dir.join(images_name), images).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx1(&labels)).unwrap();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx3(10, 28, 28, &[7; 7840]),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx1(&labels[..10])).unwrap();
    dir
}

/// The gzip bomb: a 2-image header, then 1 GiB of zeros (about 1 MiB compressed).
pub fn gzip_bomb() -> Vec<u8> {
    gzip(&idx3(2, 28, 28, &[]), 1 << 30)
}

#[test]
fn bad_idx_files_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    const IMAGES: &str = "train-images-idx3-ubyte";
    const IMAGES_GZ: &str = "train-images-idx3-ubyte.gz";
    let valid = idx3(20, 28, 28, &[3; 20 * 784]);
    let mnist = |name: &'static str, file: &str, bytes: Vec<u8>, names: &[&str]| {
        let dir = mnist_dir(root, name, file, bytes);
        case(
            name,
            &["run", "--dataset", "mnist", "--data-dir", s(&dir)],
            names,
        )
    };
    let mut wrong_magic = valid.clone();
    wrong_magic[3] = 0x01;
    let mut wrong_type = valid.clone();
    wrong_type[2] = 0x0D;
    let mut corrupt_crc = gzip(&valid, 0);
    let len = corrupt_crc.len();
    corrupt_crc[len - 8] ^= 0xFF; // the trailer's CRC-32
    let mut truncated_gz = gzip(&valid, 0);
    truncated_gz.truncate(truncated_gz.len() / 2);
    let mut not_gzip = b"this is not a gzip stream".to_vec();
    not_gzip.extend([0u8; 64]);
    let mut labels_mismatch = valid.clone();
    labels_mismatch[4..8].copy_from_slice(&19u32.to_be_bytes());
    labels_mismatch.truncate(16 + 19 * 784);
    check_all(vec![
        mnist("wrong IDX magic", IMAGES, wrong_magic, &[IMAGES, "magic"]),
        mnist("IDX of another type", IMAGES, wrong_type, &[IMAGES]),
        mnist(
            "IDX dims whose product overflows",
            IMAGES,
            idx3(u32::MAX, u32::MAX, u32::MAX, &[0; 16]),
            &[IMAGES],
        ),
        mnist(
            "IDX count larger than the file",
            IMAGES,
            idx3(60_000, 28, 28, &[0; 784]),
            &[IMAGES],
        ),
        mnist(
            "IDX header cut short",
            IMAGES,
            valid[..10].to_vec(),
            &[IMAGES],
        ),
        mnist(
            "IDX image and label counts differ",
            IMAGES,
            labels_mismatch,
            &["train-"],
        ),
        mnist("gzip bomb", IMAGES_GZ, gzip_bomb(), &[IMAGES_GZ]),
        mnist(
            "gzipped IDX count larger than the stream",
            IMAGES_GZ,
            gzip(&idx3(4_000_000_000, 28, 28, &[0; 64]), 0),
            &[IMAGES_GZ],
        ),
        mnist("corrupt gzip (CRC)", IMAGES_GZ, corrupt_crc, &[IMAGES_GZ]),
        mnist("truncated gzip", IMAGES_GZ, truncated_gz, &[IMAGES_GZ]),
        mnist("not gzip at all", IMAGES_GZ, not_gzip, &[IMAGES_GZ]),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Image folders.

fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 31) as u8 ^ seed, (y * 17) as u8, seed.wrapping_mul(7)])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    bytes
}

/// PNG's chunk CRC is the gzip CRC-32, which flate2 already computes.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// A PNG whose IHDR claims `w` x `h` (correct CRC), followed by a tiny IDAT and IEND.
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend(crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    out
}

/// A folder of class folders `a`, `b`, `c` with 6 PNG images of 8 x 8 each.
fn image_folder(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    for (c, class) in ["a", "b", "c"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..6u8 {
            std::fs::write(
                dir.join(class).join(format!("img{i}.png")),
                png(8, 8, c as u8 * 50 + i),
            )
            .unwrap();
        }
    }
    dir
}

fn folder_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "run",
        "--dataset",
        "folder",
        "--data-dir",
        s(dir),
        "--threads",
        "1",
        "--epochs",
        "1",
        "--augment",
        "none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn bad_image_folders_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let folder = |name: &'static str, dir: PathBuf, extra: &[&str], names: &[&str]| Case {
        args: folder_args(&dir, extra),
        ..case(name, &[], names)
    };
    let mut cases = Vec::new();

    let dir = image_folder(root, "empty-class");
    std::fs::create_dir_all(dir.join("d")).unwrap();
    cases.push(folder("empty class folder", dir, &[], &["d"]));

    let dir = root.join("no-images");
    for class in ["a", "b"] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        std::fs::write(dir.join(class).join("notes.txt"), "not an image").unwrap();
        std::fs::write(dir.join(class).join("data.csv"), "1,2,3").unwrap();
    }
    cases.push(folder("only non-images", dir.clone(), &[], &[s(&dir)]));

    let dir = root.join("one-each");
    for (c, class) in ["a", "b"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        std::fs::write(dir.join(class).join("only.png"), png(8, 8, c as u8)).unwrap();
    }
    cases.push(folder(
        "one image per class (no test split possible)",
        dir.clone(),
        &[],
        &[s(&dir), "too few"],
    ));

    let dir = image_folder(root, "zero");
    std::fs::write(dir.join("b").join("img3.png"), png_claiming(0, 0)).unwrap();
    cases.push(folder("a 0x0 image", dir, &[], &["img3.png"]));

    let dir = image_folder(root, "huge-header");
    std::fs::write(
        dir.join("b").join("img3.png"),
        png_claiming(100_000, 100_000),
    )
    .unwrap();
    cases.push(folder(
        "a PNG header claiming 100000x100000",
        dir,
        &[],
        &["img3.png", "100000"],
    ));

    // Under the 512 MiB per-image limit, but more than a 65-byte file can decode to.
    let dir = image_folder(root, "small-file-big-header");
    std::fs::write(dir.join("a").join("img2.png"), png_claiming(4000, 4000)).unwrap();
    cases.push(folder(
        "a 65-byte PNG claiming 4000x4000",
        dir,
        &[],
        &["img2.png", "4000x4000", "65-byte"],
    ));

    let dir = image_folder(root, "text-png");
    std::fs::write(dir.join("b").join("img3.png"), "plain text, not a PNG").unwrap();
    cases.push(folder("a text file named .png", dir, &[], &["img3.png"]));

    let dir = image_folder(root, "truncated-png");
    let mut bytes = png(8, 8, 1);
    bytes.truncate(bytes.len() / 2);
    std::fs::write(dir.join("c").join("img0.png"), bytes).unwrap();
    cases.push(folder("a truncated PNG", dir, &[], &["img0.png"]));

    let dir = image_folder(root, "jpeg-garbage");
    std::fs::write(
        dir.join("a").join("photo.jpg"),
        b"\xFF\xD8\xFF\xE0 not really a JPEG",
    )
    .unwrap();
    cases.push(folder("a broken JPEG", dir, &[], &["photo.jpg"]));

    let dir = image_folder(root, "sizes");
    cases.push(folder(
        "--image-size 0",
        dir.clone(),
        &["--image-size", "0"],
        &["--image-size"],
    ));
    cases.push(folder(
        "--image-size 100000",
        dir.clone(),
        &["--image-size", "100000"],
        &["--image-size"],
    ));
    cases.push(folder(
        "--image-size 5000x5000",
        dir.clone(),
        &["--image-size", "5000x5000"],
        &["--image-size"],
    ));
    cases.push(folder(
        "--test-fraction 1.5",
        dir.clone(),
        &["--test-fraction", "1.5"],
        &["--test-fraction"],
    ));
    let labels = dir.join("labels.csv");
    std::fs::write(&labels, "path,label\na/img0.png,a\nmissing.png,b\n").unwrap();
    cases.push(folder(
        "--labels naming a missing file",
        dir.clone(),
        &["--labels", s(&labels)],
        &["missing.png"],
    ));
    let columns = dir.join("columns.csv");
    std::fs::write(&columns, "file,class\na/img0.png,a\n").unwrap();
    cases.push(folder(
        "--labels without the path,label columns",
        dir.clone(),
        &["--labels", s(&columns)],
        &["columns.csv"],
    ));
    let missing = root.join("no-such-folder");
    cases.push(folder(
        "a missing --data-dir",
        missing,
        &[],
        &["no-such-folder"],
    ));
    check_all(cases);
}

/// A folder of 1 x 1 images keeps that size (thumbnails of one size are not resized), which is
/// too small for HOG's cells: refused naming the option and the size.
#[test]
fn one_pixel_images() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = image_folder(tmp.path(), "tiny");
    for class in ["a", "b", "c"] {
        for i in 0..6u8 {
            std::fs::write(dir.join(class).join(format!("img{i}.png")), png(1, 1, i)).unwrap();
        }
    }
    check_all(vec![Case {
        args: folder_args(&dir, &["--features", "hog"]),
        ..case("1x1 images and HOG", &[], &["--hog-cell-size", "1x1 image"])
    }
    .after_loading()]);
}

// ---------------------------------------------------------------------------------------------
// Saved models (`predict --model`).

/// A small MLP trained and saved once: its `model/` folder.
fn saved_mlp() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = dir.join("trained");
        let mut args = run_args(&["--model", "mlp", "--hidden", "8", "--lr", "0.01"]);
        args.extend([
            "--reg".into(),
            "0.001".into(),
            "--out".into(),
            s(&out).into(),
        ]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = pipeline(&refs);
        assert!(output.status.success(), "{}", stderr(&output));
        out.join("model")
    })
}

/// A copy of the saved model under `root/name/model`, with `edit` applied to its files.
fn broken_model(root: &Path, name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let model = root.join(name).join("model");
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(saved_mlp()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, model.join(path.file_name().unwrap())).unwrap();
    }
    edit(&model);
    model
}

fn edit_json(model: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = model.join("mlp.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn bad_saved_models_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let image = root.join("query.png");
    std::fs::write(&image, png(32, 32, 9)).unwrap();
    let predict = |name: &'static str, model: PathBuf, names: &[&str]| {
        predict_case(name, &["predict", "--model", s(&model), s(&image)], names)
    };
    let mut cases = Vec::new();
    cases.push(predict(
        "truncated safetensors",
        broken_model(root, "truncated", |m| {
            let path = m.join("mlp.safetensors");
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        }),
        &["mlp.safetensors"],
    ));
    cases.push(predict(
        "wrong tensor shapes",
        broken_model(root, "shapes", |m| {
            edit_json(m, |v| {
                v["layers"][0]["outputs"] = 9.into();
                v["layers"][3]["inputs"] = 9.into();
            })
        }),
        &["mlp.safetensors"],
    ));
    cases.push(predict(
        "inconsistent layers",
        broken_model(root, "layers", |m| {
            edit_json(m, |v| v["layers"][3]["inputs"] = 5.into())
        }),
        &["mlp.json"],
    ));
    cases.push(predict(
        "a newer format version",
        broken_model(root, "version", |m| {
            edit_json(m, |v| v["format_version"] = 99.into())
        }),
        &["mlp.json", "99"],
    ));
    cases.push(predict(
        "weights_file = ../x",
        broken_model(root, "escape", |m| {
            // A valid weights file where `../x` leads: following it would succeed.
            std::fs::copy(m.join("mlp.safetensors"), m.parent().unwrap().join("x")).unwrap();
            edit_json(m, |v| v["weights_file"] = "../x".into())
        }),
        &["../x"],
    ));
    cases.push(predict(
        "weights_file absolute",
        broken_model(root, "absolute", |m| {
            let target = m.join("mlp.safetensors").to_str().unwrap().to_string();
            edit_json(m, |v| v["weights_file"] = target.into())
        }),
        &["mlp.json", "must be a relative path"],
    ));
    cases.push(predict(
        "missing weights",
        broken_model(root, "missing", |m| {
            std::fs::remove_file(m.join("mlp.safetensors")).unwrap()
        }),
        &["mlp.safetensors"],
    ));
    cases.push(predict(
        "mlp.json not JSON",
        broken_model(root, "notjson", |m| {
            std::fs::write(m.join("mlp.json"), "{ \"format\": \"wb-mlp\", ").unwrap()
        }),
        &["mlp.json"],
    ));
    cases.push(predict(
        "NaN weights",
        broken_model(root, "nan", |m| {
            let path = m.join("mlp.safetensors");
            let mut bytes = std::fs::read(&path).unwrap();
            let n = bytes.len();
            bytes[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
            std::fs::write(&path, bytes).unwrap();
        }),
        &["mlp.safetensors"],
    ));
    cases.push(predict(
        "fewer class names than outputs",
        broken_model(root, "classes", |m| {
            edit_json(m, |v| {
                v["extra"]["class_names"].as_array_mut().unwrap().pop();
            })
        }),
        &["mlp.json", "9 class names"],
    ));
    cases.push(predict(
        "a scaler shorter than the input",
        broken_model(root, "scaler", |m| {
            edit_json(m, |v| {
                v["extra"]["scaler"]["inv_std"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            })
        }),
        &["mlp.json", "scaler"],
    ));
    cases.push(predict(
        "a missing model folder",
        root.join("no-model"),
        &["no-model"],
    ));
    check_all(cases);
}

// ---------------------------------------------------------------------------------------------
// Experiment files (`compare --config`).

#[test]
fn bad_experiment_files_are_refused_naming_the_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let toml = |name: &'static str, file: &str, text: &str, names: &[&str]| {
        let path = root.join(file);
        std::fs::write(&path, text).unwrap();
        case(
            name,
            &[
                "compare",
                "--config",
                s(&path),
                "--train-limit",
                "100",
                "--threads",
                "1",
            ],
            &[&[file][..], names].concat(),
        )
    };
    check_all(vec![
        toml(
            "TOML with an unknown key",
            "unknown.toml",
            "seed = 1\ntrian_limit = 100\n",
            &["trian_limit"],
        ),
        toml(
            "TOML with an unknown key in a section",
            "section.toml",
            "[mlp]\nhiden = [10]\n",
            &["hiden"],
        ),
        toml(
            "TOML with a wrong type",
            "types.toml",
            "seed = \"one\"\n",
            &["seed"],
        ),
        toml(
            "TOML with a negative count",
            "negative.toml",
            "train_limit = -5\n",
            &["train_limit"],
        ),
        toml(
            "a feature_set label not in the grid",
            "label.toml",
            "features = [\"color\"]\nmodels = [\"softmax\"]\n[feature_set.\"hog\"]\n[feature_set.\"hog\".softmax]\nlr = [0.1]\n",
            &["hog"],
        ),
        toml(
            "TOML syntax error",
            "syntax.toml",
            "seed = 1\n[mlp\nepochs = 2\n",
            &[],
        ),
        toml(
            "an unknown model in the file",
            "model.toml",
            "models = [\"tree\"]\n",
            &["tree"],
        ),
        toml(
            "a bad learning rate in the file",
            "lr.toml",
            "models = [\"softmax\"]\n[softmax]\nlr = [-1.0]\n",
            &["lr"],
        ),
        case(
            "a missing experiment file",
            &["compare", "--config", s(&root.join("nowhere.toml"))],
            &["nowhere.toml"],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Feature files: `run --features-from` shards.

#[test]
fn bad_feature_shards_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let shards = root.join("shards");
    let data = [
        "--train-limit",
        "200",
        "--val-size",
        "50",
        "--test-limit",
        "50",
        "--threads",
        "1",
        "--augment",
        "none",
    ];
    let fitted = root.join("fitted.json");
    let out = pipeline(
        &[
            &["fit-features"][..],
            &data,
            &["--features", "color", "--out", s(&fitted)],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = pipeline(
        &[
            &["extract"][..],
            &data,
            &[
                "--shard",
                "0/1",
                "--fitted",
                s(&fitted),
                "--out",
                s(&shards),
            ],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let file = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .expect("a shard file");
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let bytes = std::fs::read(&file).unwrap();
    let variant = |dir: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for entry in std::fs::read_dir(&shards).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, d.join(path.file_name().unwrap())).unwrap();
        }
        let mut b = bytes.clone();
        edit(&mut b);
        std::fs::write(d.join(&name), b).unwrap();
        d
    };
    let truncated = variant("truncated", &|b| b.truncate(b.len() * 2 / 3));
    let header = variant("header", &|b| {
        b[..8].copy_from_slice(&u64::MAX.to_le_bytes())
    });
    let flipped = variant("flipped", &|b| {
        let n = b.len();
        b[n - 3] ^= 0x55;
    });
    let from = |n: &'static str, d: &Path| Case {
        args: [
            "run",
            "--features-from",
            s(d),
            "--solver",
            "sgd",
            "--epochs",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..case(n, &[], &[&name])
    };
    check_all(vec![
        from("a truncated shard", &truncated),
        from("a shard whose header length is huge", &header),
        from("a shard with a damaged value", &flipped),
    ]);
}

// ---------------------------------------------------------------------------------------------
// The feature cache: a wrong checksum is reported and the features are extracted again.

/// Replaces the `checksum` metadata value in a safetensors file's JSON header by another hex
/// string of the same length (so the header length is unchanged).
fn corrupt_checksum(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap().to_string();
    let key = "\"checksum\":\"";
    let at = header.find(key).expect("a checksum in the header") + key.len();
    let old = &header[at..at + 16];
    let new: String = old
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let header = format!("{}{}{}", &header[..at], new, &header[at + 16..]);
    bytes[8..8 + n].copy_from_slice(header.as_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_feature_cache_with_a_wrong_checksum_is_reported_and_extracted_again() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let run = |name: &str| {
        let out = tmp.path().join(name);
        let output = pipeline(&[
            "compare",
            "--train-limit",
            "200",
            "--val-size",
            "50",
            "--test-limit",
            "50",
            "--features",
            "color",
            "--models",
            "softmax",
            "--linear-epochs",
            "2",
            "--threads",
            "1",
            "--augment",
            "none",
            "--cache-dir",
            s(&cache),
            "--out",
            s(&out),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
        (stderr(&output), results["cells"][0]["accuracy"].clone())
    };
    let (_, first) = run("first");
    let files: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    corrupt_checksum(&files[0]);
    let (err, second) = run("second");
    let name = files[0].file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains(name) && err.contains("checksum") && err.contains("extracting again"),
        "{err}"
    );
    assert!(!err.contains("(from the cache)"), "{err}");
    assert_eq!(first, second);
    let (err, third) = run("third");
    assert!(err.contains("(from the cache)"), "rewritten: {err}");
    assert_eq!(first, third);
}
