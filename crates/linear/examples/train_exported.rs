//! Trains linear classifiers on features exported by `pipeline extract` (a safetensors file),
//! so solvers and losses can be compared without re-extracting.
//!
//! ```text
//! cargo run --release -p wb-linear --example train_exported -- FILE \
//!     [--loss svm|softmax|squared-hinge|ovr-squared-hinge] [--solver sgd|lbfgs] \
//!     [--reg 1e-4,1e-3] [--lr 1e-3] [--epochs 20] [--iterations 300]
//! ```

use std::time::Instant;

use ndarray::{Array2, ArrayView1};
use wb_linear::{accuracy, Labeled, LinearModel, LinearParams, LossKind, Solver};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: train_exported FILE [options]")?;
    let mut loss = LossKind::Hinge;
    let mut solver = Solver::Sgd;
    let mut regs = vec![1e-4];
    let mut lrs = vec![1e-3];
    let mut epochs = 20;
    let mut iterations = 300;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let list = |v: &str| -> Result<Vec<f64>, std::num::ParseFloatError> {
            v.split(',').map(|t| t.parse()).collect()
        };
        match flag.as_str() {
            "--loss" => loss = LossKind::parse(&value).ok_or("unknown loss")?,
            "--solver" => solver = value.parse()?,
            "--reg" => regs = list(&value)?,
            "--lr" => lrs = list(&value)?,
            "--epochs" => epochs = value.parse()?,
            "--iterations" => iterations = value.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let bytes = std::fs::read(&path)?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let vector = |name: &str| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let t = st.tensor(name)?;
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    let mean = vector("scaler.mean")?;
    let inv_std = vector("scaler.inv_std")?;
    let split = |name: &str| -> Result<(Array2<f32>, Vec<usize>), Box<dyn std::error::Error>> {
        let t = st.tensor(&format!("{name}.x"))?;
        let (n, d) = (t.shape()[0], t.shape()[1]);
        let mut x = Array2::from_shape_vec((n, d), vector(&format!("{name}.x"))?)?;
        let (m, s) = (ArrayView1::from(&mean), ArrayView1::from(&inv_std));
        for mut row in x.rows_mut() {
            row.zip_mut_with(&m, |v, &mu| *v -= mu);
            row.zip_mut_with(&s, |v, &is| *v *= is);
        }
        let y = st
            .tensor(&format!("{name}.y"))?
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
            .collect();
        Ok((x, y))
    };
    let (xtr, ytr) = split("train")?;
    let (xva, yva) = split("val")?;
    let (xte, yte) = split("test")?;
    let c = ytr.iter().max().map_or(0, |m| m + 1);
    println!(
        "{path}: train {:?}, val {}, test {}; loss {loss:?}, solver {solver:?}",
        xtr.dim(),
        yva.len(),
        yte.len()
    );
    let grid: Vec<LinearParams> = lrs
        .iter()
        .flat_map(|&lr| regs.iter().map(move |&reg| (lr, reg)))
        .map(|(lr, reg)| LinearParams {
            learning_rate: lr,
            reg,
            epochs,
            iterations,
            solver,
            ..LinearParams::new(loss)
        })
        .collect();
    let t = Instant::now();
    let fits = LinearModel::fit_grid(
        &grid,
        Labeled {
            x: xtr.view(),
            y: &ytr,
        },
        Some(Labeled {
            x: xva.view(),
            y: &yva,
        }),
        c,
        &mut |k, s| {
            if s.epoch % 25 == 0 || s.epoch <= 3 {
                eprintln!(
                    "  [{k}] {:>4} loss {:.5} train {:.4} val {:.4} ({:.2}s)",
                    s.epoch,
                    s.loss,
                    s.train_accuracy,
                    s.val_accuracy.unwrap_or(f64::NAN),
                    s.seconds
                )
            }
        },
    )?;
    let seconds = t.elapsed().as_secs_f64();
    for (p, fit) in grid.iter().zip(fits) {
        match fit {
            Ok((model, history)) => println!(
                "lr {:<8} reg {:<8} steps {:>4}  train {:.4}  val {:.4}  test {:.4}",
                p.learning_rate,
                p.reg,
                history.len(),
                accuracy(&model.predict(xtr.view()), &ytr),
                accuracy(&model.predict(xva.view()), &yva),
                accuracy(&model.predict(xte.view()), &yte)
            ),
            Err(e) => println!("lr {} reg {}: {e}", p.learning_rate, p.reg),
        }
    }
    println!(
        "trained in {seconds:.1}s on {} threads",
        rayon::current_num_threads()
    );
    Ok(())
}
