//! `class_weight = balanced` raises the minority class's recall on a 9:1 training set.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wb_linear::ClassWeight;
use wb_mlp::{fit, MlpParams};

/// Two overlapping Gaussian classes in 2-D: `n0` around (0, 0), `n1` around (1.5, 0).
fn blobs(n0: usize, n1: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut normal = move || {
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    let n = n0 + n1;
    let mut x = Array2::zeros((n, 2));
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = usize::from(i >= n0);
        x[[i, 0]] = normal() + 1.5 * class as f32;
        x[[i, 1]] = normal();
        y.push(class);
    }
    (x, y)
}

fn recall(pred: &[usize], y: &[usize], class: usize) -> f64 {
    let of_class: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
    of_class.iter().filter(|&&i| pred[i] == class).count() as f64 / of_class.len() as f64
}

#[test]
fn balanced_weights_raise_minority_recall_on_a_nine_to_one_set() {
    let (x, y) = blobs(900, 100, 1);
    let (xt, yt) = blobs(2000, 2000, 2);
    let fit_with = |class_weight| {
        let params = MlpParams::default()
            .with_hidden(vec![16])
            .with_dropout(0.0)
            .with_learning_rate(0.02)
            .with_batch_size(50)
            .with_epochs(20)
            .with_patience(None)
            .with_class_weight(class_weight);
        fit(&params, x.view(), &y, 2, None, &mut |_| {}).unwrap().0
    };
    let plain = fit_with(ClassWeight::None).predict(xt.view());
    let balanced = fit_with(ClassWeight::Balanced).predict(xt.view());
    let (r_plain, r_balanced) = (recall(&plain, &yt, 1), recall(&balanced, &yt, 1));
    assert!(
        r_balanced > r_plain + 0.2,
        "minority recall {r_plain:.3} unweighted, {r_balanced:.3} balanced"
    );
    let bal_acc = |p: &[usize]| (recall(p, &yt, 0) + recall(p, &yt, 1)) / 2.0;
    assert!(
        bal_acc(&balanced) > bal_acc(&plain),
        "balanced accuracy {:.3} vs {:.3}",
        bal_acc(&balanced),
        bal_acc(&plain)
    );
}

#[test]
fn streamed_training_refuses_class_weights() {
    let (x, y) = blobs(40, 10, 3);
    let params = MlpParams::default()
        .with_hidden(vec![4])
        .with_class_weight(ClassWeight::Balanced);
    let mut source = wb_linear::stream::InMemory {
        data: wb_linear::Labeled { x: x.view(), y: &y },
    };
    let Err(err) = wb_mlp::stream::fit_stream(
        &params,
        &mut source,
        wb_linear::Labeled { x: x.view(), y: &y },
        None,
        2,
        &mut |_| {},
    ) else {
        panic!("streamed training with class weights was accepted")
    };
    assert!(err.to_string().contains("class-weight"), "{err}");
}
