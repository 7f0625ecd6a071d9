//! Sanity check that k-means features beat raw pixels on a CIFAR-10 subset with the same
//! simple classifier (not the lead's tuned SVM): softmax regression by mini-batch SGD on
//! standardised features, learning rate picked on a validation split.
//!
//! ```text
//! cargo run --release -p wb-features --example kmeans_accuracy -- /work/shared/datasets/cifar-10-batches-bin \
//!     [--train 10000] [--test 2000] [--centroids 1600] [--epochs 15]
//! ```
//! Training images are the first `--train` of the training batches (the last 10% of them
//! are held out for the learning-rate choice), test images the first `--test` of test_batch.

use std::path::Path;
use std::time::Instant;

use ndarray::{s, Array2, Axis};
use wb_data::{ImageShape, Images};
use wb_features::{FeatureSpec, Scaler};

fn read_batch(path: &Path, pixels: &mut Vec<u8>, labels: &mut Vec<usize>) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for record in bytes.chunks_exact(3073) {
        labels.push(record[0] as usize);
        let planes = &record[1..];
        for i in 0..1024 {
            pixels.extend_from_slice(&[planes[i], planes[1024 + i], planes[2048 + i]]);
        }
    }
    Ok(())
}

/// Softmax regression, mini-batch SGD with momentum 0.9 and L2 decay; returns weights
/// (`dim + 1` rows, the last one the bias).
fn train_softmax(x: &Array2<f32>, y: &[usize], lr: f32, epochs: usize) -> Array2<f32> {
    let (n, dim) = x.dim();
    let classes = 10;
    let mut w = Array2::<f32>::zeros((dim + 1, classes));
    let mut velocity = w.clone();
    let batch = 128;
    let decay = 1e-4f32;
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = 12345u64;
    for epoch in 0..epochs {
        for i in (1..n).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            order.swap(i, (state >> 33) as usize % (i + 1));
        }
        let step = lr * 0.5f32.powi((epoch * 3 / epochs.max(1)) as i32);
        for chunk in order.chunks(batch) {
            let xb = x.select(Axis(0), chunk);
            let mut scores = xb.dot(&w.slice(s![..dim, ..]));
            scores += &w.row(dim);
            for (mut row, label) in scores
                .rows_mut()
                .into_iter()
                .zip(chunk.iter().map(|&i| y[i]))
            {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                row.mapv_inplace(|v| (v - max).exp());
                let sum = row.sum();
                row.mapv_inplace(|v| v / sum);
                row[label] -= 1.0;
            }
            scores /= chunk.len() as f32;
            let mut grad = Array2::<f32>::zeros((dim + 1, classes));
            grad.slice_mut(s![..dim, ..]).assign(&xb.t().dot(&scores));
            grad.row_mut(dim).assign(&scores.sum_axis(Axis(0)));
            grad.scaled_add(decay, &w);
            velocity.mapv_inplace(|v| 0.9 * v);
            velocity.scaled_add(-step, &grad);
            w += &velocity;
        }
    }
    w
}

fn accuracy(w: &Array2<f32>, x: &Array2<f32>, y: &[usize]) -> f64 {
    let dim = x.ncols();
    let mut scores = x.dot(&w.slice(s![..dim, ..]));
    scores += &w.row(dim);
    let correct = scores
        .rows()
        .into_iter()
        .zip(y)
        .filter(|(row, &label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                );
            best.0 == label
        })
        .count();
    correct as f64 / y.len() as f64
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or(
        "usage: kmeans_accuracy CIFAR_DIR [--train N] [--test N] [--centroids K] [--epochs E]",
    )?;
    let (mut n_train, mut n_test, mut centroids, mut epochs) =
        (10_000usize, 2_000usize, 1600usize, 15usize);
    while let Some(flag) = args.next() {
        let value: usize = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--train" => n_train = value,
            "--test" => n_test = value,
            "--centroids" => centroids = value,
            "--epochs" => epochs = value,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let shape = ImageShape::new(32, 32, 3);
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for b in 1..=5 {
        read_batch(
            &Path::new(&dir).join(format!("data_batch_{b}.bin")),
            &mut pixels,
            &mut labels,
        )?;
    }
    let all_train = Images::new(shape, pixels).ok_or("bad batch")?;
    let n_train = n_train.min(all_train.len());
    let train = all_train.select(&(0..n_train).collect::<Vec<_>>());
    let train_labels = labels[..n_train].to_vec();
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    read_batch(
        &Path::new(&dir).join("test_batch.bin"),
        &mut pixels,
        &mut labels,
    )?;
    let all_test = Images::new(shape, pixels).ok_or("bad batch")?;
    let n_test = n_test.min(all_test.len());
    let test = all_test.select(&(0..n_test).collect::<Vec<_>>());
    let test_labels = labels[..n_test].to_vec();
    let n_fit = n_train * 9 / 10;

    for features in ["raw", "kmeans"] {
        let start = Instant::now();
        let mut spec = FeatureSpec::parse(features).map_err(|e| e.to_string())?;
        spec.kmeans.centroids = centroids;
        let fitted = spec.fit(&train, 0).map_err(|e| e.to_string())?;
        let none = |_| {};
        let mut x_train = fitted.transform(&train, &none).map_err(|e| e.to_string())?;
        let mut x_test = fitted.transform(&test, &none).map_err(|e| e.to_string())?;
        let blocks: Vec<_> = fitted
            .parts()
            .iter()
            .map(|&(_, d, _)| (d, wb_features::Normalization::Standardize))
            .collect();
        let scaler = Scaler::fit(x_train.slice(s![..n_fit, ..]), &blocks);
        scaler.transform_inplace(&mut x_train);
        scaler.transform_inplace(&mut x_test);
        let feature_s = start.elapsed().as_secs_f64();
        let x_fit = x_train.slice(s![..n_fit, ..]).to_owned();
        let x_val = x_train.slice(s![n_fit.., ..]).to_owned();
        let mut best = (0.0, 0.0, None);
        for lr in [1e-3f32, 3e-3, 1e-2] {
            let w = train_softmax(&x_fit, &train_labels[..n_fit], lr, epochs);
            let val = accuracy(&w, &x_val, &train_labels[n_fit..]);
            println!("  {features}: lr {lr:e} validation accuracy {val:.4}");
            if val > best.0 {
                best = (val, lr, Some(w));
            }
        }
        let w = best.2.ok_or("no model")?;
        println!(
            "{features} ({} dims, features {feature_s:.1} s): best lr {:e}, validation {:.4}, test accuracy {:.4} on {} images ({} training)",
            x_train.ncols(),
            best.1,
            best.0,
            accuracy(&w, &x_test, &test_labels),
            n_test,
            n_fit
        );
    }
    Ok(())
}
