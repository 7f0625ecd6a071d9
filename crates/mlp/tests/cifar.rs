//! Real data: the MLP learns from the first epoch on CIFAR-10 (`$WB_DATA_DIR/cifar-10-batches-bin`;
//! run with `cargo test -- --ignored`).

use ndarray::{Array2, Axis};
use wb_mlp::{fit, MlpParams};

#[test]
#[ignore = "needs CIFAR-10 under WB_DATA_DIR"]
fn the_loss_falls_in_the_first_epoch() {
    let dir = std::env::var("WB_DATA_DIR").expect("set WB_DATA_DIR to the datasets folder");
    let data =
        wb_data::cifar::load_cifar10(&std::path::Path::new(&dir).join("cifar-10-batches-bin"))
            .expect("CIFAR-10 loads");
    let n = 5000;
    let images = data.train.images.select(&(0..n).collect::<Vec<_>>());
    let y: Vec<usize> = data.train.labels[..n].to_vec();
    let mut x = Array2::from_shape_vec(
        (n, 3072),
        images.pixels().iter().map(|&p| p as f32 / 255.0).collect(),
    )
    .unwrap();
    let mean = x.mean_axis(Axis(0)).unwrap();
    x -= &mean;
    let params = MlpParams::default().with_epochs(1).with_patience(None);
    let (model, history) = fit(&params, x.view(), &y, 10, None, &mut |_| {}).unwrap();
    // Cross-entropy of the trained net on the training images, without dropout.
    let p = model.probabilities(x.view());
    let after = -y
        .iter()
        .enumerate()
        .map(|(i, &c)| (p[[i, c]].max(1e-12) as f64).ln())
        .sum::<f64>()
        / n as f64;
    let chance = 10f64.ln();
    eprintln!(
        "epoch-1 mean minibatch loss {:.4}, loss after the epoch {after:.4}, chance {chance:.4}",
        history.epochs[0].loss
    );
    assert!(history.epochs[0].loss.is_finite());
    // One epoch of 25 steps takes the loss clearly below chance level (ln 10 ≈ 2.303) and below
    // the epoch's own running mean, which includes its first, untrained steps.
    assert!(after < 0.92 * chance, "loss {after} after one epoch");
    assert!(
        after < history.epochs[0].loss,
        "loss {after} did not fall during the epoch"
    );
}
