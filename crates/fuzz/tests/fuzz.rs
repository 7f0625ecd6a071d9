//! The CI-sized fuzz run (`WB_FUZZ_CASES` cases per target, default 2000) and the harness's own
//! tests: deliberately broken parsers must be caught, the gzip bomb must stay cheap.

use std::io::Write;
use std::path::Path;

use wb_fuzz::{targets, Budget, Case, Config, Field, Format, Outcome, Report, Target};

#[global_allocator]
static ALLOC: wb_fuzz::CountingAlloc = wb_fuzz::CountingAlloc;

const CI_CASES: u64 = 2000;

/// The allocator's counters are process-wide, so a test that allocates while a fuzz target runs
/// would be counted against that target's case: every test here holds this lock throughout.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn fuzz(target: Target) {
    fuzz_with(target, 5);
}

/// `min_kinds`: distinct error kinds expected (the TOML parser's messages share one prefix,
/// which is what kinds are told apart by).
fn fuzz_with(target: Target, min_kinds: usize) {
    let config = Config::from_env(CI_CASES).expect("WB_FUZZ_* variables");
    let report = wb_fuzz::run(&target, &config);
    eprintln!("{}", report.summary(5));
    assert!(report.passed(), "{}", report.summary(0));
    assert_eq!(report.cases, config.only_case.map_or(config.cases, |_| 1));
    if report.cases >= 500 {
        // The mutations reach both outcomes, and many different checks of the parser.
        assert!(
            report.accepted >= report.cases / 50,
            "{}",
            report.summary(0)
        );
        assert!(report.refused >= report.cases / 4, "{}", report.summary(0));
        assert!(report.errors.len() >= min_kinds, "{}", report.summary(20));
    }
}

#[test]
fn fuzz_idx_images() {
    let _serial = serial();
    fuzz(targets::idx::IMAGES);
}

#[test]
fn fuzz_idx_labels() {
    let _serial = serial();
    fuzz(targets::idx::LABELS);
}

#[test]
fn fuzz_idx_dataset() {
    let _serial = serial();
    fuzz(targets::idx::DATASET);
}

#[test]
fn fuzz_cifar10() {
    let _serial = serial();
    fuzz(targets::cifar::CIFAR10);
}

#[test]
fn fuzz_cifar100() {
    let _serial = serial();
    fuzz(targets::cifar::CIFAR100);
}

#[test]
fn fuzz_mlp_model() {
    let _serial = serial();
    fuzz(targets::mlp::MODEL);
}

#[test]
fn fuzz_linear_model() {
    let _serial = serial();
    fuzz(targets::linear::LINEAR);
}

#[test]
fn fuzz_image_folder() {
    let _serial = serial();
    fuzz(targets::folder::FOLDER);
}

#[test]
fn fuzz_features() {
    let _serial = serial();
    fuzz(targets::features::FEATURES);
}

#[test]
fn fuzz_experiment_toml() {
    let _serial = serial();
    fuzz_with(targets::experiment::EXPERIMENT, 3);
}

// ---- the harness catches each kind of defect ----

const SMALL: Budget = Budget {
    per_input_byte: 16,
    constant: 1 << 20,
};

/// A 16-byte file: a big-endian u32 count, then 12 bytes.
fn declare(case: &mut Case<'_>) -> std::path::PathBuf {
    let mut bytes = 3u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[7; 12]);
    case.file("input.bin", bytes, Format::binary([Field::be_u32(0)]))
}

fn read_or_name(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

fn panics_on_short_input(case: &mut Case<'_>) {
    let path = declare(case);
    case.parse(|_| match read_or_name(&path) {
        Ok(b) => {
            // Indexes without checking the length: panics on a truncated file.
            let count = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            std::hint::black_box(count);
            Outcome::Parsed(Ok(()))
        }
        Err(e) => Outcome::Refused(e),
    });
}

fn allocates_what_the_header_claims(case: &mut Case<'_>) {
    let path = declare(case);
    case.parse(|_| match read_or_name(&path) {
        Ok(b) if b.len() >= 4 => {
            let count = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            // Capped so the test never asks the system for more than 256 MiB (never touched).
            let buffer: Vec<u8> = Vec::with_capacity(count.min(1 << 28));
            drop(std::hint::black_box(buffer));
            Outcome::Parsed(Ok(()))
        }
        Ok(_) => Outcome::Refused(format!("{}: too short", path.display())),
        Err(e) => Outcome::Refused(e),
    });
}

fn error_without_the_file_name(case: &mut Case<'_>) {
    let path = declare(case);
    case.parse(|written| {
        if written.unchanged {
            Outcome::Parsed(Ok(()))
        } else {
            drop(path);
            Outcome::Refused("invalid header".into())
        }
    });
}

fn accepts_anything(case: &mut Case<'_>) {
    let path = declare(case);
    case.parse(|_| match read_or_name(&path) {
        Ok(b) => Outcome::Parsed(wb_fuzz::ensure(b.len() == 16, || {
            format!("{} bytes", b.len())
        })),
        Err(e) => Outcome::Refused(e),
    });
}

fn refuses_everything(case: &mut Case<'_>) {
    let path = declare(case);
    case.parse(|_| Outcome::Refused(format!("{}: unsupported version", path.display())));
}

fn run_small(run: fn(&mut Case<'_>), name: &'static str) -> Report {
    let target = Target {
        name,
        about: "a deliberately broken parser",
        budget: SMALL,
        run,
    };
    let config = Config {
        cases: 300,
        save_dir: None,
        max_defects: 1000,
        ..Config::default()
    };
    wb_fuzz::run(&target, &config)
}

fn assert_caught(report: &Report, prefix: &str) {
    assert!(!report.defects.is_empty(), "{}", report.summary(0));
    assert!(
        report.defects.iter().all(|d| d.message.starts_with(prefix)),
        "expected only `{prefix}` defects: {}",
        report.summary(0)
    );
}

#[test]
fn harness_catches_a_panic() {
    let _serial = serial();
    assert_caught(
        &run_small(panics_on_short_input, "broken-panics"),
        "panicked",
    );
}

#[test]
fn harness_catches_an_allocation_sized_by_the_header() {
    let _serial = serial();
    let report = run_small(allocates_what_the_header_claims, "broken-allocates");
    assert_caught(&report, "memory over budget");
    // Only the cases whose count field became large: a bounded count passes.
    assert!(report.accepted > 0, "{}", report.summary(0));
}

#[test]
fn harness_catches_an_error_that_names_no_file() {
    let _serial = serial();
    assert_caught(
        &run_small(error_without_the_file_name, "broken-unnamed"),
        "the error names no input file",
    );
}

#[test]
fn harness_catches_an_inconsistent_ok() {
    let _serial = serial();
    assert_caught(
        &run_small(accepts_anything, "broken-accepts"),
        "accepted but",
    );
}

#[test]
fn harness_catches_a_refused_valid_input() {
    let _serial = serial();
    assert_caught(
        &run_small(refuses_everything, "broken-refuses"),
        "refused the valid input",
    );
}

#[test]
fn the_same_seed_gives_the_same_cases() {
    let _serial = serial();
    let config = Config {
        cases: 200,
        save_dir: None,
        ..Config::default()
    };
    let a = wb_fuzz::run(&targets::idx::IMAGES, &config);
    let b = wb_fuzz::run(&targets::idx::IMAGES, &config);
    assert_eq!((a.accepted, a.refused), (b.accepted, b.refused));
    assert_eq!(a.errors, b.errors);
}

// ---- the gzip bomb and impossible headers cost almost nothing ----

fn gzip_stream(parts: &[&[u8]], zeros: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for p in parts {
        encoder.write_all(p).unwrap();
    }
    let chunk = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(chunk.len());
        encoder.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    encoder.finish().unwrap()
}

#[test]
fn a_gzip_bomb_is_refused_after_the_claimed_size() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    // The header claims 2 images of 28 x 28 (1568 bytes); the stream holds 64 MiB more.
    let header = targets::idx::idx3(&[], 2, 28, 28);
    let bomb = gzip_stream(&[&header], 64 << 20);
    assert!(bomb.len() < 512 << 10, "{} bytes", bomb.len());
    std::fs::write(&path, &bomb).unwrap();
    let started = std::time::Instant::now();
    let (result, usage) = wb_fuzz::measure(|| wb_data::idx::read_idx_images(&path));
    let message = result.unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("gzip bomb"), "{message}");
    // Memory: the compressed file and a small buffer, not the 64 MiB behind it.
    assert!(usage.peak < 4 * bomb.len() + (1 << 20), "{usage:?}");
    assert!(
        started.elapsed().as_secs_f64() < 2.0,
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn impossible_idx_headers_are_refused_before_allocating() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        // 2^32-1 x 2^32-1 x 2^32-1 overflows any usize.
        (
            "overflow",
            targets::idx::idx3(&[0; 16], u32::MAX, u32::MAX, u32::MAX),
            "multiply to more than",
        ),
        // 60000 images of 28 x 28 claimed by a 16-byte file.
        (
            "count",
            targets::idx::idx3(&[0; 16], 60_000, 28, 28),
            "but the file holds 16 data bytes",
        ),
        // The same claim inside a tiny gzip stream: more than any 1 KiB gzip file can hold.
        (
            "gz-count",
            gzip_stream(&[&targets::idx::idx3(&[0; 16], 4_000_000_000, 28, 28)], 0),
            "can hold at most",
        ),
        (
            "magic",
            {
                let mut b = targets::idx::idx3(&[0; 4], 1, 2, 2);
                b[3] = 0x01;
                b
            },
            "wrong IDX magic number",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (result, usage) = wb_fuzz::measure(|| wb_data::idx::read_idx_images(&path));
        let message = result.unwrap_err().to_string();
        assert!(
            message.contains(&path.display().to_string()) && message.contains(expected),
            "{name}: {message}"
        );
        assert!(usage.peak < 64 << 10, "{name}: {usage:?}");
    }
}

/// The target's hand-written model files are what `Mlp::save` writes: load them, save the model
/// again, and the metadata and tensors agree.
#[test]
fn the_mlp_target_writes_the_saved_model_format() {
    let _serial = serial();
    use wb_mlp::{LayerSpec, LossKind, Mlp, ModelMeta};
    let layers = vec![
        LayerSpec::Affine {
            inputs: 3,
            outputs: 4,
        },
        LayerSpec::Prelu { units: 4 },
        LayerSpec::Maxout { pieces: 2 },
        LayerSpec::Affine {
            inputs: 2,
            outputs: 2,
        },
    ];
    let values = vec![
        (0..12).map(|i| i as f32 / 10.0).collect::<Vec<f32>>(),
        vec![0.5; 4],
        vec![0.25; 4],
        vec![1.0, -1.0, 0.5, 2.0],
        vec![0.0, 0.1],
    ];
    let (json, weights) = targets::mlp::model_files(3, 2, LossKind::Softmax, &layers, &values);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(wb_mlp::META_FILE), &json).unwrap();
    std::fs::write(dir.path().join(wb_mlp::WEIGHTS_FILE), &weights).unwrap();
    let mlp = Mlp::load(dir.path()).unwrap();
    let again = tempfile::tempdir().unwrap();
    mlp.save(again.path()).unwrap();
    let meta: ModelMeta = serde_json::from_slice(&json).unwrap();
    let saved: ModelMeta =
        serde_json::from_slice(&std::fs::read(again.path().join(wb_mlp::META_FILE)).unwrap())
            .unwrap();
    assert_eq!(meta, saved);
    let saved_weights = std::fs::read(again.path().join(wb_mlp::WEIGHTS_FILE)).unwrap();
    let (ours, theirs) = (
        safetensors::SafeTensors::deserialize(&weights).unwrap(),
        safetensors::SafeTensors::deserialize(&saved_weights).unwrap(),
    );
    let tensors = |st: &safetensors::SafeTensors<'_>| {
        let mut t: Vec<(String, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.shape().to_vec(), view.data().to_vec()))
            .collect();
        t.sort();
        t
    };
    assert_eq!(tensors(&ours), tensors(&theirs));
    // The header's metadata map too (its key order is a HashMap's, so compare as maps).
    let metadata = |bytes: &[u8]| {
        safetensors::SafeTensors::read_metadata(bytes)
            .unwrap()
            .1
            .metadata()
            .clone()
    };
    assert_eq!(metadata(&weights), metadata(&saved_weights));
    targets::mlp::check_model(&mlp, &meta).unwrap();
}

/// A saved model whose metadata names consistent but huge widths (10^6 x 10^6 weights, 4 TB)
/// is refused on the weights file's length, before anything of that size is allocated.
#[test]
fn huge_widths_in_a_saved_model_cost_nothing() {
    let _serial = serial();
    use wb_mlp::{LayerSpec, LossKind};
    let layers = vec![
        LayerSpec::Affine {
            inputs: 2,
            outputs: 3,
        },
        LayerSpec::Relu,
        LayerSpec::Affine {
            inputs: 3,
            outputs: 2,
        },
    ];
    let values = vec![vec![0.1; 6], vec![0.0; 3], vec![0.2; 6], vec![0.0; 2]];
    let (json, weights) = targets::mlp::model_files(2, 2, LossKind::Softmax, &layers, &values);
    let huge = String::from_utf8(json)
        .unwrap()
        .replace("\"inputs\": 3", "\"inputs\": 1000000")
        .replace("\"outputs\": 3", "\"outputs\": 1000000");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(wb_mlp::META_FILE), &huge).unwrap();
    std::fs::write(dir.path().join(wb_mlp::WEIGHTS_FILE), &weights).unwrap();
    let (result, usage) = wb_fuzz::measure(|| wb_mlp::Mlp::load(dir.path()));
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(wb_mlp::WEIGHTS_FILE) && message.contains("needs"),
        "{message}"
    );
    assert!(usage.peak < 64 << 10, "{usage:?}");
}

/// A PNG whose header claims 4000 x 4000 RGB pixels (48 MB decoded, under the 512 MiB per-image
/// limit) in a file of 65 bytes: refused on the file's size, before the pixel buffer exists.
#[test]
fn an_image_header_claiming_more_than_the_file_can_hold_costs_nothing() {
    let _serial = serial();
    // PNG's chunk CRC is the gzip CRC-32, which flate2 already computes.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = flate2::Crc::new();
        crc.update(bytes);
        crc.sum()
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (&b"IHDR"[..], {
            let mut d = 4000u32.to_be_bytes().to_vec();
            d.extend(4000u32.to_be_bytes());
            d.extend([8, 2, 0, 0, 0]);
            d
        }),
        (
            &b"IDAT"[..],
            vec![0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        ),
        (&b"IEND"[..], Vec::new()),
    ] {
        png.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(&data);
        png.extend(&body);
        png.extend(crc32(&body).to_be_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims-4000x4000.png");
    std::fs::write(&path, &png).unwrap();
    let shape = wb_data::ImageShape::new(8, 8, 3);
    let (result, usage) =
        wb_fuzz::measure(|| wb_data::load_image(&path, shape, wb_data::ResizeMode::Crop));
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(&path.display().to_string())
            && message.contains("4000x4000")
            && message.contains("more than a 65-byte"),
        "{message}"
    );
    assert!(usage.largest < 1 << 20, "{usage:?}");
}
