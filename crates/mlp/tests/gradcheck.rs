//! Backprop against centred finite differences (f64) for every layer, loss and the L2 term.

use wb_mlp::{gradcheck, ActivationKind, LossKind, MlpParams, TensorCheck};

/// Acceptance threshold from the task: every tensor's max relative error below 1e-6.
const TOLERANCE: f64 = 1e-6;

fn check(params: MlpParams, what: &str) -> Vec<TensorCheck> {
    let report = gradcheck(&params, 6, 4, 5, 3).expect("valid parameters");
    for t in &report {
        assert!(t.checked > 0, "{what}: nothing checked for {}", t.name);
        // Kinks are rare with continuous random data; many skips would mean a broken detector.
        assert!(
            t.kinks_skipped * 4 <= t.elements,
            "{what}: {} of {} elements of {} on kinks",
            t.kinks_skipped,
            t.elements,
            t.name
        );
        assert!(
            t.max_rel_error < TOLERANCE,
            "{what}: {} relative error {:e}",
            t.name,
            t.max_rel_error
        );
    }
    report
}

fn base() -> MlpParams {
    MlpParams::default().with_hidden(vec![5, 4])
}

#[test]
fn every_activation_with_softmax() {
    for act in ActivationKind::ALL {
        let report = check(base().with_activation(act), act.name());
        // Two hidden layers + output: 3 weights + 3 biases (+ PReLU slopes) + input.
        let expected = if act == ActivationKind::Prelu { 9 } else { 7 };
        assert_eq!(report.len(), expected, "{act}: {report:?}");
    }
}

#[test]
fn leaky_relu_with_a_tenth_slope() {
    check(
        base()
            .with_activation(ActivationKind::LeakyRelu)
            .with_leaky_slope(0.1),
        "leaky 0.1",
    );
}

#[test]
fn maxout_with_three_pieces_and_elu_alpha() {
    check(
        base()
            .with_activation(ActivationKind::Maxout)
            .with_maxout_pieces(3),
        "maxout k=3",
    );
    check(
        base()
            .with_activation(ActivationKind::Elu)
            .with_elu_alpha(0.5),
        "elu 0.5",
    );
}

#[test]
fn every_loss_with_and_without_l2() {
    for loss in [LossKind::Softmax, LossKind::Hinge, LossKind::Squared] {
        for reg in [0.0, 0.05] {
            check(
                base().with_loss(loss).with_reg(reg),
                &format!("{} reg {reg}", loss.name()),
            );
        }
    }
}

#[test]
fn dropout_with_a_fixed_mask() {
    for act in [ActivationKind::Relu, ActivationKind::Tanh] {
        check(
            base().with_activation(act).with_dropout(0.3),
            &format!("dropout {act}"),
        );
    }
}

#[test]
fn no_hidden_layer_is_a_linear_classifier() {
    let report = check(MlpParams::default().with_hidden(vec![]), "linear");
    assert_eq!(report.len(), 3);
}

#[test]
fn class_weighted_losses() {
    // 5 samples over 4 classes can never be balanced, so the weights n / (C · n_c) differ
    // between classes and scale the rows' gradients unevenly.
    for loss in [LossKind::Softmax, LossKind::Hinge, LossKind::Squared] {
        check(
            base()
                .with_loss(loss)
                .with_reg(0.05)
                .with_class_weight(wb_linear::ClassWeight::Balanced),
            &format!("balanced {loss:?}"),
        );
    }
}

#[test]
fn batch_norm_with_batch_statistics() {
    // Every row's output depends on every row through the batch mean and variance: the check
    // covers the full backward, not only the per-row part, and γ, β of both layers.
    for act in [
        ActivationKind::Relu,
        ActivationKind::Tanh,
        ActivationKind::Maxout,
    ] {
        let report = check(
            base()
                .with_activation(act)
                .with_batch_norm(true)
                .with_reg(0.05),
            &format!("batch norm {act}"),
        );
        // 3 weights + 3 biases + (γ, β) of each hidden layer + input.
        assert_eq!(report.len(), 11, "{act}: {report:?}");
    }
    check(
        base().with_batch_norm(true).with_dropout(0.3),
        "batch norm and dropout",
    );
}
