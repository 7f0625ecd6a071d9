//! Class weights (`--class-weight balanced`): scikit-learn's formula, the weighted objective's
//! gradient against numeric differences, and what the weights are for — a minority class
//! recalled more often on an imbalanced training set.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wb_linear::{
    weighted_loss_and_gradients, ClassWeight, Labeled, LinearModel, LinearParams, LossKind, Solver,
};

#[test]
fn balanced_weights_are_n_over_classes_times_count() {
    // 90 of class 0, 10 of class 1, none of class 2: C counts the classes present (2).
    let labels: Vec<usize> = (0..100).map(|i| usize::from(i >= 90)).collect();
    let w = ClassWeight::Balanced.weights(&labels, 3).unwrap();
    assert!((w[0] - 100.0 / (2.0 * 90.0)).abs() < 1e-12, "{w:?}");
    assert!((w[1] - 100.0 / (2.0 * 10.0)).abs() < 1e-12, "{w:?}");
    assert_eq!(w[2], 0.0, "an absent class has no samples to weigh");
    // The weights average 1 over the samples, so the loss keeps its scale.
    let total: f64 = labels.iter().map(|&y| w[y]).sum();
    assert!((total - 100.0).abs() < 1e-9, "{total}");
    assert_eq!(ClassWeight::None.weights(&labels, 3), None);
    assert_eq!("Balanced".parse::<ClassWeight>(), Ok(ClassWeight::Balanced));
    assert!("equal"
        .parse::<ClassWeight>()
        .unwrap_err()
        .contains("none, balanced"));
}

#[test]
fn weighted_loss_is_the_weighted_mean_of_row_losses() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (n, c) = (9, 4);
    let scores = Array2::from_shape_fn((n, c), |_| rng.gen_range(-2.0..2.0f64));
    let y: Vec<usize> = (0..n).map(|i| (i * 3) % c).collect();
    let weights = [0.4, 1.7, 0.9, 2.5];
    for loss in [
        LossKind::Hinge,
        LossKind::Softmax,
        LossKind::Squared,
        LossKind::SquaredHinge,
        LossKind::OvrSquaredHinge,
    ] {
        let mut d = Array2::zeros((0, 0));
        let weighted = loss.weighted_loss_and_grad(scores.view(), &y, Some(&weights), &mut d);
        let mut want = 0.0;
        for i in 0..n {
            let mut di = Array2::zeros((0, 0));
            let row = scores.slice(ndarray::s![i..i + 1, ..]);
            let li = loss.loss_and_grad(row, &y[i..i + 1], &mut di);
            want += weights[y[i]] * li / n as f64;
            // Row i's gradient is its unweighted gradient (of a one-row mean) times w / n.
            for j in 0..c {
                let expected = di[[0, j]] * weights[y[i]] / n as f64;
                assert!((d[[i, j]] - expected).abs() < 1e-12, "{loss:?} row {i}");
            }
        }
        assert!(
            (weighted - want).abs() < 1e-12,
            "{loss:?}: {weighted} vs {want}"
        );
    }
}

/// Max relative error of the weighted objective's analytic gradient (weights and biases)
/// against centred differences, in f64.
fn weighted_gradient_error(loss: LossKind, reg: f64, seed: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n, d, c) = (15, 6, 4);
    let x = Array2::from_shape_fn((n, d), |_| rng.gen_range(-1.0..1.0));
    // Imbalanced labels, so the balanced weights differ between classes.
    let y: Vec<usize> = (0..n).map(|i| if i < 8 { 0 } else { 1 + i % 3 }).collect();
    let class_weights = ClassWeight::Balanced.weights(&y, c).unwrap();
    let cw = Some(class_weights.as_slice());
    let mut w = Array2::from_shape_fn((d, c), |_| rng.gen_range(-1.0..1.0));
    let mut b = Array1::from_shape_fn(c, |_| rng.gen_range(-1.0..1.0));
    let objective = |w: &Array2<f64>, b: &Array1<f64>| {
        weighted_loss_and_gradients(loss, cw, w.view(), b.view(), x.view(), &y, reg).0
    };
    let (_, dw, db) = weighted_loss_and_gradients(loss, cw, w.view(), b.view(), x.view(), &y, reg);
    let h = 1e-6;
    let rel = |a: f64, num: f64| (a - num).abs() / (a.abs() + num.abs()).max(1e-8);
    let mut worst: f64 = 0.0;
    for i in 0..d {
        for j in 0..c {
            let orig = w[[i, j]];
            w[[i, j]] = orig + h;
            let plus = objective(&w, &b);
            w[[i, j]] = orig - h;
            let minus = objective(&w, &b);
            w[[i, j]] = orig;
            worst = worst.max(rel(dw[[i, j]], (plus - minus) / (2.0 * h)));
        }
    }
    for j in 0..c {
        let orig = b[j];
        b[j] = orig + h;
        let plus = objective(&w, &b);
        b[j] = orig - h;
        let minus = objective(&w, &b);
        b[j] = orig;
        worst = worst.max(rel(db[j], (plus - minus) / (2.0 * h)));
    }
    worst
}

#[test]
fn weighted_objective_gradient_matches_numeric_differences() {
    // The differentiable losses (the plain hinge's kinks make a numeric check meaningless
    // where a margin is near 0; its weighting is the same per-row factor).
    for (seed, loss) in [
        LossKind::Softmax,
        LossKind::Squared,
        LossKind::SquaredHinge,
        LossKind::OvrSquaredHinge,
    ]
    .into_iter()
    .enumerate()
    {
        for reg in [0.0, 0.2] {
            let err = weighted_gradient_error(loss, reg, seed as u64 + 10);
            assert!(err < 1e-6, "{loss:?} reg {reg}: relative error {err}");
        }
    }
}

/// Two overlapping Gaussian classes in 2-D, `n0` of class 0 around (0, 0) and `n1` of class 1
/// around (1.5, 0), unit variance.
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

fn recall(model: &LinearModel, x: &Array2<f32>, y: &[usize], class: usize) -> f64 {
    let pred = model.predict(x.view());
    let of_class: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
    of_class.iter().filter(|&&i| pred[i] == class).count() as f64 / of_class.len() as f64
}

#[test]
fn balanced_weights_raise_minority_recall_on_a_nine_to_one_set() {
    let (x, y) = blobs(900, 100, 1);
    // Evaluated on a balanced set drawn from the same two Gaussians.
    let (xt, yt) = blobs(2000, 2000, 2);
    let configs = [
        (LossKind::Softmax, Solver::Sgd),
        (LossKind::Softmax, Solver::Lbfgs),
        (LossKind::OvrSquaredHinge, Solver::Lbfgs),
        (LossKind::Hinge, Solver::Sgd),
    ];
    for (loss, solver) in configs {
        let fit = |class_weight| {
            let params = LinearParams {
                learning_rate: 0.05,
                reg: 1e-4,
                epochs: 30,
                batch_size: 50,
                solver,
                iterations: 200,
                class_weight,
                ..LinearParams::new(loss)
            };
            let train = Labeled { x: x.view(), y: &y };
            LinearModel::fit(&params, train, None, 2, &mut |_| {})
                .unwrap()
                .0
        };
        let plain = fit(ClassWeight::None);
        let balanced = fit(ClassWeight::Balanced);
        let (r_plain, r_balanced) = (recall(&plain, &xt, &yt, 1), recall(&balanced, &xt, &yt, 1));
        // The Bayes boundary of 9:1 priors sits far into the minority's side (x ≈ 2.2, recall
        // ≈ 0.27); equal weights move it to the midpoint (x = 0.75, recall ≈ 0.77).
        assert!(
            r_balanced > r_plain + 0.2,
            "{loss:?}/{solver:?}: minority recall {r_plain:.3} unweighted, {r_balanced:.3} balanced"
        );
        // And the balanced accuracy (mean per-class recall) improves with it.
        let bal_acc = |m: &LinearModel| (recall(m, &xt, &yt, 0) + recall(m, &xt, &yt, 1)) / 2.0;
        assert!(
            bal_acc(&balanced) > bal_acc(&plain),
            "{loss:?}/{solver:?}: balanced accuracy {:.3} vs {:.3}",
            bal_acc(&balanced),
            bal_acc(&plain)
        );
    }
}

#[test]
fn a_grid_shares_its_class_weights() {
    let (x, y) = blobs(30, 10, 3);
    let a = LinearParams::new(LossKind::Softmax);
    let b = LinearParams {
        class_weight: ClassWeight::Balanced,
        ..a
    };
    let Err(err) = LinearModel::fit_grid(
        &[a, b],
        Labeled { x: x.view(), y: &y },
        None,
        2,
        &mut |_, _| {},
    ) else {
        panic!("mixed class weights were accepted")
    };
    assert!(err.to_string().contains("class weights"), "{err}");
}
