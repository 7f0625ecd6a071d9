//! Seconds per epoch (and optionally test accuracy) of an MLP on CIFAR-10.
//!
//! ```text
//! cargo run --release -p wb-mlp --example epoch_speed -- /path/to/cifar-10-batches-bin [--epochs 3]
//!     [--hidden 500] [--lr 0.01] [--defaults] [--test] [--standardize]
//! ```
//! Without `--defaults` it times the reference net: 3072→500→10 ReLU / softmax, batch 200,
//! SGD with momentum, f32, 49,000 training images (the last 1,000 of the training batches are the
//! validation set). `--defaults` trains with `MlpParams::default()` instead; `--test` also reports
//! accuracy on the 10,000 test images. Inputs are raw pixels / 255 minus the training mean
//! (`--standardize` also divides by the per-feature standard deviation).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, Axis};
use wb_mlp::{fit, MlpParams, OptimizerKind, Schedule};

const RECORD: usize = 1 + 3072;

/// Reads CIFAR-10 binary batches: each record is a label byte then 1024 R, 1024 G, 1024 B bytes.
/// Pixels come out interleaved (H x W x C), matching the workbench's image layout.
fn read_batches(dir: &Path, names: &[&str]) -> std::io::Result<(Array2<f32>, Vec<usize>)> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for name in names {
        let bytes = std::fs::read(dir.join(name))?;
        if bytes.len() % RECORD != 0 {
            return Err(std::io::Error::other(format!(
                "{name}: size {} is not a multiple of {RECORD}",
                bytes.len()
            )));
        }
        for rec in bytes.chunks_exact(RECORD) {
            labels.push(rec[0] as usize);
            let planes = &rec[1..];
            for p in 0..1024 {
                for c in 0..3 {
                    pixels.push(planes[c * 1024 + p] as f32 / 255.0);
                }
            }
        }
    }
    let n = labels.len();
    Ok((
        Array2::from_shape_vec((n, 3072), pixels).expect("3072 values per record"),
        labels,
    ))
}

/// Process CPU seconds (user + system, all threads) from /proc/self/stat; `None` off Linux.
/// Under contention from other processes, wall time overstates the cost; CPU time does not.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().ok_or("usage: epoch_speed CIFAR_DIR [--epochs N] [--hidden 500] [--lr X] [--defaults] [--test] [--standardize]")?);
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };

    let t0 = Instant::now();
    let train_files = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
    ];
    let (mut x, y) = read_batches(&dir, &train_files)?;
    let mean = x.mean_axis(Axis(0)).ok_or("no training data")?;
    x -= &mean;
    let std = if flag("--standardize") {
        let s = x.map_axis(Axis(0), |c| {
            (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32)
                .sqrt()
                .max(1e-6)
        });
        x /= &s;
        Some(s)
    } else {
        None
    };
    let n_train = 49_000.min(x.nrows());
    let (x_train, x_val) = x.view().split_at(Axis(0), n_train);
    let (y_train, y_val) = y.split_at(n_train);
    eprintln!(
        "loaded {} training / {} validation images in {:.1}s",
        x_train.nrows(),
        x_val.nrows(),
        t0.elapsed().as_secs_f64()
    );

    let mut params = if flag("--defaults") {
        MlpParams::default()
    } else {
        MlpParams::default()
            .with_hidden(vec![500])
            .with_optimizer(OptimizerKind::Momentum)
            .with_learning_rate(0.01)
            .with_schedule(Schedule::Constant)
            .with_batch_size(200)
            .with_epochs(3)
            .with_patience(None)
            .with_dropout(0.0)
    };
    if let Some(e) = value("--epochs") {
        params.epochs = e.parse()?;
    }
    if let Some(h) = value("--hidden") {
        params.hidden = MlpParams::parse_hidden(&h)?;
    }
    if let Some(lr) = value("--lr") {
        params.learning_rate = lr.parse()?;
    }
    if let Some(r) = value("--reg") {
        params.reg = r.parse()?;
    }
    if let Some(d) = value("--dropout") {
        params.dropout = d.parse()?;
    }
    if let Some(o) = value("--optimizer") {
        params.optimizer = o.parse()?;
    }
    eprintln!("params: {}", serde_json::to_string(&params)?);

    let threads = rayon::current_num_threads();
    let mut best = f64::INFINITY;
    let mut cpu_before = cpu_seconds();
    let (model, history) = fit(
        &params,
        x_train,
        y_train,
        10,
        Some((x_val, y_val)),
        &mut |s| {
            best = best.min(s.train_seconds);
            let cpu_now = cpu_seconds();
            let cpu = cpu_now.zip(cpu_before).map_or(f64::NAN, |(a, b)| a - b);
            cpu_before = cpu_now;
            let steps = y_train.len().div_ceil(params.batch_size);
            println!(
            "epoch {:>3}  loss {:.4}  train acc {:.4}  val acc {:.4}  lr {:.2e}  train {:.2}s  epoch {:.2}s  cpu {cpu:.2}s  step min {:.2}ms median {:.2}ms (x{steps} = {:.2}s)",
            s.epoch,
            s.loss,
            s.train_accuracy,
            s.val_accuracy.unwrap_or(f64::NAN),
            s.learning_rate,
            s.train_seconds,
            s.seconds,
            s.fastest_step_seconds * 1e3,
            s.median_step_seconds * 1e3,
            s.fastest_step_seconds * steps as f64,
        );
        },
    )?;
    println!(
        "best training time per epoch: {best:.2}s ({} threads); total {:.1}s; best epoch {} (val {:.4})",
        threads,
        history.seconds,
        history.best_epoch,
        history.best_val_accuracy.unwrap_or(f64::NAN)
    );

    if flag("--test") {
        let (mut xt, yt) = read_batches(&dir, &["test_batch.bin"])?;
        xt -= &mean;
        if let Some(s) = &std {
            xt /= s;
        }
        let pred = model.predict(xt.view());
        let acc = pred.iter().zip(&yt).filter(|(p, y)| p == y).count() as f64 / yt.len() as f64;
        println!("test accuracy {acc:.4} on {} images", yt.len());
    }
    Ok(())
}
