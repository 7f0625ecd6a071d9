//! Training behaviour on data the tests generate: overfitting, determinism, divergence, validation.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wb_mlp::{fit, ActivationKind, LossKind, MlpError, MlpParams, OptimizerKind, Schedule};

/// `n` points in `d` dimensions with random labels: only memorisation can fit them.
fn random_data(n: usize, d: usize, classes: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, d), |_| rng.gen_range(-1.0f32..1.0));
    let y = (0..n).map(|_| rng.gen_range(0..classes)).collect();
    (x, y)
}

/// Gaussian blobs around random centres: learnable, with a held-out split that generalises.
fn blobs(n: usize, d: usize, classes: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres = Array2::from_shape_fn((classes, d), |_| rng.gen_range(-2.0f32..2.0));
    let y: Vec<usize> = (0..n).map(|_| rng.gen_range(0..classes)).collect();
    let x = Array2::from_shape_fn((n, d), |(i, j)| {
        centres[[y[i], j]] + rng.gen_range(-1.0f32..1.0)
    });
    (x, y)
}

fn accuracy(pred: &[usize], y: &[usize]) -> f64 {
    pred.iter().zip(y).filter(|(p, t)| p == t).count() as f64 / y.len() as f64
}

fn quiet() -> impl FnMut(wb_mlp::EpochStats) {
    |_| {}
}

#[test]
fn memorises_a_tiny_random_dataset_with_every_optimizer() {
    let (x, y) = random_data(60, 20, 5, 1);
    for (opt, lr) in [
        (OptimizerKind::Sgd, 0.5),
        (OptimizerKind::Momentum, 0.05),
        (OptimizerKind::Nesterov, 0.05),
        (OptimizerKind::Adam, 0.01),
    ] {
        let params = MlpParams::default()
            .with_hidden(vec![64])
            .with_optimizer(opt)
            .with_learning_rate(lr)
            .with_reg(0.0)
            .with_dropout(0.0)
            .with_batch_size(16)
            .with_epochs(300)
            .with_schedule(Schedule::Constant);
        let (model, history) = fit(&params, x.view(), &y, 5, None, &mut quiet()).unwrap();
        let acc = accuracy(&model.predict(x.view()), &y);
        assert_eq!(
            acc,
            1.0,
            "{}: train accuracy {acc}, final loss {}",
            opt.name(),
            history.epochs.last().unwrap().loss
        );
        assert_eq!(history.epochs.len(), 300);
    }
}

#[test]
fn every_activation_and_loss_learns_blobs() {
    let (x, y) = blobs(400, 10, 4, 2);
    for act in ActivationKind::ALL {
        for loss in [LossKind::Softmax, LossKind::Hinge, LossKind::Squared] {
            let params = MlpParams::default()
                .with_hidden(vec![32, 16])
                .with_activation(act)
                .with_loss(loss)
                .with_learning_rate(0.02)
                .with_epochs(30)
                .with_batch_size(32);
            let (model, _) = fit(&params, x.view(), &y, 4, None, &mut quiet())
                .unwrap_or_else(|e| panic!("{act} / {}: {e}", loss.name()));
            let acc = accuracy(&model.predict(x.view()), &y);
            assert!(acc > 0.9, "{act} / {}: train accuracy {acc}", loss.name());
        }
    }
}

#[test]
fn same_seed_gives_identical_models_and_histories() {
    let (x, y) = blobs(300, 12, 3, 3);
    let params = MlpParams::default()
        .with_hidden(vec![16])
        .with_dropout(0.2)
        .with_epochs(5)
        .with_batch_size(32);
    let run = || {
        let (m, h) = fit(&params, x.view(), &y, 3, Some((x.view(), &y)), &mut quiet()).unwrap();
        (
            m.scores(x.view()),
            h.epochs
                .iter()
                .map(|e| (e.loss, e.train_accuracy))
                .collect::<Vec<_>>(),
        )
    };
    let (s1, h1) = run();
    let (s2, h2) = run();
    assert_eq!(s1, s2, "scores differ between identical runs");
    assert_eq!(h1, h2);
    let (m3, _) = fit(
        &params.clone().with_seed(1),
        x.view(),
        &y,
        3,
        None,
        &mut quiet(),
    )
    .unwrap();
    assert_ne!(
        m3.scores(x.view()),
        s1,
        "a different seed should give different weights"
    );
}

#[test]
fn huge_learning_rate_diverges_with_an_error_naming_the_epoch() {
    let (x, y) = blobs(200, 10, 3, 4);
    let params = MlpParams::default()
        .with_hidden(vec![32])
        .with_optimizer(OptimizerKind::Sgd)
        .with_learning_rate(1e12)
        .with_schedule(Schedule::Constant)
        .with_epochs(5);
    let err = fit(&params, x.view(), &y, 3, None, &mut quiet()).unwrap_err();
    let epoch = match &err {
        MlpError::Diverged {
            epoch,
            learning_rate,
            ..
        } => {
            assert_eq!(*learning_rate, 1e12);
            *epoch
        }
        other => panic!("expected divergence, got {other}"),
    };
    assert!((1..=5).contains(&epoch));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("epoch {epoch} ")) && msg.contains("lower learning rate"),
        "{msg}"
    );
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    let (x, y) = blobs(300, 8, 3, 5);
    // A validation set with random labels: accuracy fluctuates, so early stopping must trigger.
    let (xv, yv) = random_data(100, 8, 3, 6);
    let params = MlpParams::default()
        .with_hidden(vec![16])
        .with_epochs(50)
        .with_patience(Some(3));
    let mut seen = Vec::new();
    let (model, history) = fit(&params, x.view(), &y, 3, Some((xv.view(), &yv)), &mut |s| {
        seen.push(s)
    })
    .unwrap();
    assert!(history.stopped_early, "ran {} epochs", history.epochs.len());
    assert_eq!(seen, history.epochs, "progress sees every epoch");
    let best = history
        .epochs
        .iter()
        .map(|e| e.val_accuracy.unwrap())
        .fold(0.0, f64::max);
    assert_eq!(history.best_val_accuracy, Some(best));
    assert_eq!(history.epochs.len(), history.best_epoch + 3);
    // The returned weights are the best epoch's: their validation accuracy is the recorded best.
    assert_eq!(accuracy(&model.predict(xv.view()), &yv), best);
    // And the history serialises for results.json.
    let json = serde_json::to_string(&history).unwrap();
    assert!(json.contains("\"val_accuracy\""));
}

#[test]
fn schedules_and_history_fields() {
    let (x, y) = blobs(100, 4, 2, 7);
    let params = MlpParams::default()
        .with_hidden(vec![8])
        .with_epochs(4)
        .with_schedule(Schedule::Step {
            every: 2,
            gamma: 0.1,
        })
        .with_learning_rate(0.1);
    let (_, h) = fit(&params, x.view(), &y, 2, None, &mut quiet()).unwrap();
    let lrs: Vec<f64> = h.epochs.iter().map(|e| e.learning_rate).collect();
    assert!((lrs[0] - 0.1).abs() < 1e-12 && (lrs[1] - 0.1).abs() < 1e-12);
    assert!((lrs[2] - 0.01).abs() < 1e-12 && (lrs[3] - 0.01).abs() < 1e-12);
    assert!(Schedule::Cosine.learning_rate(1.0, 0, 10) == 1.0);
    assert!((Schedule::Cosine.learning_rate(1.0, 5, 10) - 0.5).abs() < 1e-12);
    assert!(h
        .epochs
        .iter()
        .all(|e| e.seconds >= e.train_seconds && e.loss.is_finite()));
}

#[test]
fn bad_parameters_are_rejected_with_the_parameter_named() {
    let cases: Vec<(MlpParams, &str)> = vec![
        (MlpParams::default().with_hidden(vec![100, 0]), "hidden"),
        (MlpParams::default().with_dropout(1.0), "dropout"),
        (MlpParams::default().with_dropout(-0.1), "dropout"),
        (MlpParams::default().with_learning_rate(0.0), "lr"),
        (MlpParams::default().with_learning_rate(f64::NAN), "lr"),
        (MlpParams::default().with_batch_size(0), "batch-size"),
        (MlpParams::default().with_epochs(0), "epochs"),
        (MlpParams::default().with_reg(-1.0), "reg"),
        (MlpParams::default().with_momentum(1.0), "momentum"),
        (MlpParams::default().with_leaky_slope(1.5), "leaky-slope"),
        (MlpParams::default().with_maxout_pieces(1), "maxout-pieces"),
        (MlpParams::default().with_patience(Some(0)), "patience"),
        (
            MlpParams::default().with_schedule(Schedule::Step {
                every: 0,
                gamma: 0.5,
            }),
            "lr-schedule",
        ),
    ];
    for (params, name) in cases {
        match params.check() {
            Err(MlpError::InvalidParam { param, reason }) => {
                assert_eq!(param, name, "{reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{name}: expected InvalidParam, got {other:?}"),
        }
    }
    assert!(MlpParams::default().check().is_ok());
    assert_eq!(
        MlpParams::parse_hidden("1024, 512").unwrap(),
        vec![1024, 512]
    );
    assert!(MlpParams::parse_hidden("500,x").is_err());
    assert_eq!(
        "leaky-relu".parse::<ActivationKind>().unwrap(),
        ActivationKind::LeakyRelu
    );
    assert!("swish".parse::<ActivationKind>().is_err());
    assert_eq!(
        "step:5:0.3".parse::<Schedule>().unwrap(),
        Schedule::Step {
            every: 5,
            gamma: 0.3
        }
    );
}

#[test]
fn bad_data_is_rejected() {
    let (x, y) = blobs(20, 4, 2, 8);
    let p = MlpParams::default().with_hidden(vec![4]).with_epochs(1);
    assert!(matches!(
        fit(&p, x.view(), &y[..10], 2, None, &mut quiet()),
        Err(MlpError::Data(_))
    ));
    let mut bad_y = y.clone();
    bad_y[0] = 7;
    assert!(matches!(
        fit(&p, x.view(), &bad_y, 2, None, &mut quiet()),
        Err(MlpError::Data(_))
    ));
    let mut bad_x = x.clone();
    bad_x[[0, 0]] = f32::NAN;
    assert!(matches!(
        fit(&p, bad_x.view(), &y, 2, None, &mut quiet()),
        Err(MlpError::Data(_))
    ));
    assert!(matches!(
        fit(&p, x.view(), &y, 1, None, &mut quiet()),
        Err(MlpError::InvalidParam { .. })
    ));
}

#[test]
fn probabilities_are_a_distribution_and_agree_with_predict() {
    let (x, y) = blobs(200, 6, 3, 9);
    let p = MlpParams::default().with_hidden(vec![12]).with_epochs(5);
    let (model, _) = fit(&p, x.view(), &y, 3, None, &mut quiet()).unwrap();
    let probs = model.probabilities(x.view());
    let pred = model.predict(x.view());
    for (row, &c) in probs.rows().into_iter().zip(&pred) {
        assert!((row.sum() - 1.0).abs() < 1e-5);
        assert_eq!(wb_mlp::Mlp::argmax(row.as_slice().unwrap()), c);
    }
    // Batches larger than the internal evaluation chunk give the same answer as row by row.
    let (big, _) = random_data(2500, 6, 3, 10);
    let all = model.predict(big.view());
    let first = model.predict(big.slice(ndarray::s![..1, ..]));
    let last = model.predict(big.slice(ndarray::s![2499.., ..]));
    assert_eq!((all[0], all[2499]), (first[0], last[0]));
}
