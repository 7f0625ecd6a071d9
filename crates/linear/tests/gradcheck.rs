//! Analytic gradients of the full linear objective against centred numeric differences, in f64.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wb_linear::{loss_and_gradients, LossKind};

fn random(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| rng.gen_range(-1.0..1.0))
}

/// Max relative error |a − n| / max(|a| + |n|, 1e-8) (CS231n's definition; the floor keeps
/// gradients that are exactly zero, up to rounding, from reading as large errors) over all weights and biases.
fn max_relative_error(loss: LossKind, reg: f64, seed: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n, d, c) = (12, 7, 5);
    let x = random(n, d, &mut rng);
    let y: Vec<usize> = (0..n).map(|i| i % c).collect();
    let mut w = random(d, c, &mut rng);
    let mut b = Array1::from_shape_fn(c, |_| rng.gen_range(-1.0..1.0));
    let (_, dw, db) = loss_and_gradients(loss, w.view(), b.view(), x.view(), &y, reg);
    let h = 1e-6;
    let rel = |a: f64, num: f64| (a - num).abs() / (a.abs() + num.abs()).max(1e-8);
    let mut worst: f64 = 0.0;
    for i in 0..d {
        for j in 0..c {
            let orig = w[[i, j]];
            w[[i, j]] = orig + h;
            let (plus, _, _) = loss_and_gradients(loss, w.view(), b.view(), x.view(), &y, reg);
            w[[i, j]] = orig - h;
            let (minus, _, _) = loss_and_gradients(loss, w.view(), b.view(), x.view(), &y, reg);
            w[[i, j]] = orig;
            worst = worst.max(rel(dw[[i, j]], (plus - minus) / (2.0 * h)));
        }
    }
    for j in 0..c {
        let orig = b[j];
        b[j] = orig + h;
        let (plus, _, _) = loss_and_gradients(loss, w.view(), b.view(), x.view(), &y, reg);
        b[j] = orig - h;
        let (minus, _, _) = loss_and_gradients(loss, w.view(), b.view(), x.view(), &y, reg);
        b[j] = orig;
        worst = worst.max(rel(db[j], (plus - minus) / (2.0 * h)));
    }
    worst
}

#[test]
fn softmax_gradient_matches_numeric_without_reg() {
    let err = max_relative_error(LossKind::Softmax, 0.0, 1);
    assert!(err < 1e-6, "softmax relative error {err}");
}

#[test]
fn softmax_gradient_matches_numeric_with_reg() {
    let err = max_relative_error(LossKind::Softmax, 0.3, 2);
    assert!(err < 1e-6, "softmax+L2 relative error {err}");
}

#[test]
fn hinge_gradient_matches_numeric_without_reg() {
    let err = max_relative_error(LossKind::Hinge, 0.0, 3);
    assert!(err < 1e-6, "hinge relative error {err}");
}

#[test]
fn hinge_gradient_matches_numeric_with_reg() {
    let err = max_relative_error(LossKind::Hinge, 0.3, 4);
    assert!(err < 1e-6, "hinge+L2 relative error {err}");
}

#[test]
fn squared_hinge_gradient_matches_numeric() {
    for (reg, seed) in [(0.0, 11), (0.3, 12)] {
        let err = max_relative_error(LossKind::SquaredHinge, reg, seed);
        assert!(err < 1e-6, "reg {reg}: max relative error {err}");
    }
}

#[test]
fn ovr_squared_hinge_gradient_matches_numeric() {
    for (reg, seed) in [(0.0, 13), (0.3, 14)] {
        let err = max_relative_error(LossKind::OvrSquaredHinge, reg, seed);
        assert!(err < 1e-6, "reg {reg}: max relative error {err}");
    }
}

#[test]
fn squared_gradient_matches_numeric() {
    let err = max_relative_error(LossKind::Squared, 0.1, 5);
    assert!(err < 1e-6, "squared relative error {err}");
}

#[test]
fn hinge_loss_matches_the_lecture_example() {
    // CS231n's worked example: scores [13, -7, 11], correct class 0, Δ = 10 gives 8.
    let scores = ndarray::arr2(&[[13.0f64, -7.0, 11.0]]);
    let mut d = Array2::zeros((1, 3));
    let loss = wb_linear::loss::hinge(scores.view(), &[0], 10.0, &mut d);
    assert!((loss - 8.0).abs() < 1e-12);
    assert_eq!(d, ndarray::arr2(&[[-1.0, 0.0, 1.0]]));
}

#[test]
fn softmax_loss_of_uniform_scores_is_log_c() {
    let scores = Array2::<f64>::zeros((4, 10));
    let mut d = Array2::zeros((4, 10));
    let loss = LossKind::Softmax.loss_and_grad(scores.view(), &[0, 1, 2, 3], &mut d);
    assert!((loss - 10f64.ln()).abs() < 1e-12);
}

mod training {
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use wb_linear::{accuracy, Labeled, LinearError, LinearModel, LinearParams, LossKind};

    /// Three Gaussian blobs in 5-D: linearly separable up to a little overlap.
    fn blobs(n: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let y: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let x = Array2::from_shape_fn((n, 5), |(i, j)| {
            let centre = if j == y[i] { 2.0 } else { 0.0 };
            centre + rng.gen_range(-1.0f32..1.0)
        });
        (x, y)
    }

    #[test]
    fn grid_training_equals_separate_runs() {
        let (x, y) = blobs(300, 1);
        let (xv, yv) = blobs(90, 2);
        let base = LinearParams {
            epochs: 4,
            batch_size: 32,
            ..LinearParams::new(LossKind::Softmax)
        };
        let grid = [
            LinearParams {
                learning_rate: 0.01,
                reg: 0.0,
                ..base
            },
            LinearParams {
                learning_rate: 0.1,
                reg: 0.01,
                ..base
            },
            LinearParams {
                learning_rate: 0.05,
                reg: 0.1,
                momentum: 0.5,
                ..base
            },
        ];
        let together = LinearModel::fit_grid(
            &grid,
            Labeled { x: x.view(), y: &y },
            Some(Labeled {
                x: xv.view(),
                y: &yv,
            }),
            3,
            &mut |_, _| {},
        )
        .unwrap();
        for (params, joint) in grid.iter().zip(together) {
            let (joint_model, joint_hist) = joint.unwrap();
            let (alone, alone_hist) = LinearModel::fit(
                params,
                Labeled { x: x.view(), y: &y },
                Some(Labeled {
                    x: xv.view(),
                    y: &yv,
                }),
                3,
                &mut |_| {},
            )
            .unwrap();
            let diff = (&joint_model.weights - &alone.weights)
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()));
            assert!(diff < 1e-5, "weights differ by {diff}");
            for (a, b) in joint_hist.iter().zip(&alone_hist) {
                assert!((a.loss - b.loss).abs() < 1e-5);
                assert_eq!(a.val_accuracy, b.val_accuracy);
            }
        }
    }

    #[test]
    fn both_losses_learn_separable_blobs() {
        let (x, y) = blobs(600, 3);
        let (xt, yt) = blobs(300, 4);
        for loss in [LossKind::Hinge, LossKind::Softmax] {
            let params = LinearParams {
                learning_rate: 0.01,
                epochs: 10,
                batch_size: 50,
                ..LinearParams::new(loss)
            };
            let (model, history) = LinearModel::fit(
                &params,
                Labeled { x: x.view(), y: &y },
                None,
                3,
                &mut |_| {},
            )
            .unwrap();
            let acc = accuracy(&model.predict(xt.view()), &yt);
            assert!(acc > 0.9, "{loss:?} test accuracy {acc}");
            assert!(
                history.last().unwrap().loss < history[0].loss,
                "{loss:?} loss did not fall"
            );
        }
    }

    /// Rows stored elsewhere and copied out when read, never lent in place: what a compact
    /// store (8-bit pixels decoded as read) looks like to the solver.
    struct CopiedRows(Array2<f32>);

    impl wb_linear::rows::RowSource for CopiedRows {
        fn nrows(&self) -> usize {
            self.0.nrows()
        }
        fn ncols(&self) -> usize {
            self.0.ncols()
        }
        fn read_row(&self, i: usize, out: &mut [f32]) {
            out.copy_from_slice(self.0.row(i).as_slice().unwrap());
        }
    }

    /// L-BFGS on rows read through a `RowSource` gives the bits of the dense fit (every loss,
    /// a grid of two, a row count that is neither a multiple of 4 nor of the decode block), and
    /// `predict_rows` the predictions of `predict`.
    #[test]
    fn lbfgs_on_rows_read_by_copy_equals_the_dense_fit() {
        use wb_linear::rows::{Rows, DECODE_BLOCK_ROWS};
        use wb_linear::Solver;
        let (x, y) = blobs(DECODE_BLOCK_ROWS + 27, 5);
        let (xv, yv) = blobs(90, 6);
        let copied = CopiedRows(x.clone());
        for loss in [
            LossKind::Softmax,
            LossKind::SquaredHinge,
            LossKind::OvrSquaredHinge,
        ] {
            let base = LinearParams {
                solver: Solver::Lbfgs,
                iterations: 30,
                ..LinearParams::new(loss)
            };
            let grid = [
                LinearParams { reg: 1e-2, ..base },
                LinearParams { reg: 1e-4, ..base },
            ];
            let val = || {
                Some(Labeled {
                    x: xv.view(),
                    y: &yv,
                })
            };
            let dense =
                LinearModel::fit_grid_rows(&grid, x.view().into(), &y, val(), 3, &mut |_, _| {})
                    .unwrap();
            let read = LinearModel::fit_grid_rows(
                &grid,
                Rows::Source(&copied),
                &y,
                val(),
                3,
                &mut |_, _| {},
            )
            .unwrap();
            for (d, r) in dense.into_iter().zip(read) {
                let ((dm, dh), (rm, rh)) = (d.unwrap(), r.unwrap());
                assert_eq!(dm.weights, rm.weights, "{loss:?}");
                assert_eq!(dm.bias, rm.bias, "{loss:?}");
                assert_eq!(dh.len(), rh.len(), "{loss:?}");
                for (a, b) in dh.iter().zip(&rh) {
                    assert_eq!(a.loss.to_bits(), b.loss.to_bits(), "{loss:?}");
                    assert_eq!(a.train_accuracy, b.train_accuracy, "{loss:?}");
                    assert_eq!(a.val_accuracy, b.val_accuracy, "{loss:?}");
                }
                let by_block = rm.predict_rows(Rows::Source(&copied));
                assert_eq!(by_block, dm.predict(x.view()), "{loss:?}");
                assert!(accuracy(&by_block, &y) > 0.9, "{loss:?}");
            }
        }
    }

    /// Mini-batch SGD samples rows at random and needs them dense: a `RowSource` is refused,
    /// naming the solver, instead of being copied whole behind the caller's back.
    #[test]
    fn sgd_refuses_rows_read_by_copy() {
        use wb_linear::rows::Rows;
        let (x, y) = blobs(40, 7);
        let copied = CopiedRows(x);
        let params = LinearParams::new(LossKind::Softmax);
        let Err(err) = LinearModel::fit_grid_rows(
            &[params],
            Rows::Source(&copied),
            &y,
            None,
            3,
            &mut |_, _| {},
        ) else {
            panic!("SGD on a RowSource must be an error");
        };
        assert!(
            matches!(
                err,
                LinearError::InvalidParam {
                    param: "solver",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    /// L-BFGS reaches the optimum of the exact objective: the f64 gradient there is ~0, and the
    /// model separates the blobs.
    #[test]
    fn lbfgs_converges_to_the_optimum() {
        use wb_linear::{loss_and_gradients, Solver};
        let (x, y) = blobs(600, 3);
        let (xt, yt) = blobs(300, 4);
        for loss in [
            LossKind::Softmax,
            LossKind::SquaredHinge,
            LossKind::OvrSquaredHinge,
        ] {
            let params = LinearParams {
                solver: Solver::Lbfgs,
                iterations: 500,
                reg: 1e-2,
                ..LinearParams::new(loss)
            };
            let (model, history) = LinearModel::fit(
                &params,
                Labeled { x: x.view(), y: &y },
                None,
                3,
                &mut |_| {},
            )
            .unwrap();
            assert!(accuracy(&model.predict(xt.view()), &yt) > 0.9, "{loss:?}");
            assert!(history.last().unwrap().loss < history[0].loss, "{loss:?}");
            let (_, dw, db) = loss_and_gradients(
                loss,
                model.weights.mapv(f64::from).view(),
                model.bias.mapv(f64::from).view(),
                x.mapv(f64::from).view(),
                &y,
                params.reg,
            );
            let worst = dw.iter().chain(db.iter()).fold(0f64, |m, g| m.max(g.abs()));
            assert!(worst < 1e-4, "{loss:?}: gradient {worst} at the solution");
        }
    }

    #[test]
    fn lbfgs_rejects_the_plain_hinge() {
        let (x, y) = blobs(50, 3);
        let params = LinearParams {
            solver: wb_linear::Solver::Lbfgs,
            ..LinearParams::new(LossKind::Hinge)
        };
        let err = LinearModel::fit(
            &params,
            Labeled { x: x.view(), y: &y },
            None,
            3,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("solver"), "{err}");
    }

    #[test]
    fn divergence_is_reported_with_the_epoch() {
        let (x, y) = blobs(100, 5);
        let params = LinearParams {
            learning_rate: 1e38,
            ..LinearParams::new(LossKind::Softmax)
        };
        let err = LinearModel::fit(
            &params,
            Labeled { x: x.view(), y: &y },
            None,
            3,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(err, LinearError::Diverged { epoch: 1..=2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("smaller learning rate"));
    }

    #[test]
    fn bad_parameters_are_rejected_by_name() {
        let bad = [
            LinearParams {
                learning_rate: 0.0,
                ..LinearParams::new(LossKind::Hinge)
            },
            LinearParams {
                reg: -1.0,
                ..LinearParams::new(LossKind::Hinge)
            },
            LinearParams {
                batch_size: 0,
                ..LinearParams::new(LossKind::Hinge)
            },
            LinearParams {
                momentum: 1.0,
                ..LinearParams::new(LossKind::Hinge)
            },
        ];
        for (p, name) in bad.iter().zip(["lr", "reg", "batch-size", "momentum"]) {
            let err = p.check().unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
