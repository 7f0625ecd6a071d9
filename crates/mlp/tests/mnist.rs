//! Real data: MNIST from `$WB_DATA_DIR/mnist/*-ubyte.gz` (run with `cargo test -- --ignored`).

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use ndarray::{Array2, Axis};
use wb_mlp::{fit, MlpParams};

/// Reads a gzipped IDX file: magic (0, 0, type 0x08 = u8, rank), big-endian dims, then the bytes.
fn read_idx(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let mut raw = Vec::new();
    GzDecoder::new(std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        raw.len() >= 4 && raw[0] == 0 && raw[1] == 0 && raw[2] == 0x08,
        "{}: not a u8 IDX file",
        path.display()
    );
    let rank = raw[3] as usize;
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(raw[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let data = raw[4 + 4 * rank..].to_vec();
    assert_eq!(
        data.len(),
        dims.iter().product::<usize>(),
        "{}: truncated",
        path.display()
    );
    (dims, data)
}

fn load(dir: &Path, images: &str, labels: &str, limit: usize) -> (Array2<f32>, Vec<usize>) {
    let (dims, pixels) = read_idx(&dir.join(images));
    let (_, labels) = read_idx(&dir.join(labels));
    let n = dims[0].min(limit);
    let d = dims[1] * dims[2];
    let x = Array2::from_shape_vec(
        (n, d),
        pixels[..n * d].iter().map(|&p| p as f32 / 255.0).collect(),
    )
    .unwrap();
    (x, labels[..n].iter().map(|&l| l as usize).collect())
}

#[test]
#[ignore = "needs WB_DATA_DIR with mnist/"]
fn mnist_subset_reaches_95_percent() {
    let dir = PathBuf::from(
        std::env::var("WB_DATA_DIR").expect("set WB_DATA_DIR to the datasets folder"),
    )
    .join("mnist");
    let (mut x, y) = load(
        &dir,
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        10_000,
    );
    let (mut xt, yt) = load(
        &dir,
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        usize::MAX,
    );
    // Centred per pixel and scaled by one global standard deviation: per-pixel scaling would blow
    // up the nearly constant border pixels (σ ≈ 0.004) whenever a test digit touches them.
    let mean = x.mean_axis(Axis(0)).unwrap();
    x -= &mean;
    let std = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    x /= std;
    xt -= &mean;
    xt /= std;
    // Default hyper-parameters, shortened: 10 epochs of 50 steps, so a larger step size.
    let params = MlpParams::default()
        .with_epochs(10)
        .with_learning_rate(0.05)
        .with_patience(None);
    let (model, history) =
        fit(&params, x.view(), &y, 10, None, &mut |s| eprintln!("{s:?}")).unwrap();
    let pred = model.predict(xt.view());
    let acc = pred.iter().zip(&yt).filter(|(p, t)| p == t).count() as f64 / yt.len() as f64;
    eprintln!(
        "MNIST 10k-train MLP test accuracy {acc:.4} in {:.1}s",
        history.seconds
    );
    assert_eq!(yt.len(), 10_000);
    assert!(acc >= 0.95, "test accuracy {acc}");
}
