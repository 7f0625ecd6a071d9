//! Numerical gradient check of the whole graph in double precision.
//!
//! For every parameter element θ the centred difference `(J(θ+h) − J(θ−h)) / 2h` (error O(h²))
//! is compared with the backpropagated gradient, where `J = data loss + λ Σ W²`. Relative error
//! per element is `|a − n| / max(|a|, |n|, floor)` (CS231n), reported as the maximum over each
//! tensor. Steps that move a piecewise-linear unit (ReLU side, maxout winner, hinge margin sign)
//! onto another piece measure a kink, not a derivative: they are detected by comparing which
//! piece every unit is on and are skipped (and counted).

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use wb_linear::LossKind;

use crate::net::Network;
use crate::params::{MlpError, MlpParams};

/// Finite-difference step.
pub const STEP: f64 = 1e-5;
/// Gradients smaller than this are compared in absolute terms: below it the round-off of the
/// centred difference (≈ ε·J/h ≈ 1e-11) would dominate a relative measure.
pub const FLOOR: f64 = 1e-4;

/// Result for one tensor (`layers.0.weight`, ..., or `input` for `∂J/∂x`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorCheck {
    pub name: String,
    pub elements: usize,
    /// Elements compared (the rest straddled a kink).
    pub checked: usize,
    pub kinks_skipped: usize,
    pub max_rel_error: f64,
}

/// Dropout masks are drawn from this seed before every evaluation, so J is one fixed function.
const MASK_SEED: u64 = 17;

/// Builds `params.architecture(input_dim, n_classes)` in f64 with random weights (seed), draws
/// `samples` inputs `x ~ N(0, 1)` and uniform labels, and checks every tensor plus the input.
pub fn gradcheck(
    params: &MlpParams,
    input_dim: usize,
    n_classes: usize,
    samples: usize,
    seed: u64,
) -> Result<Vec<TensorCheck>, MlpError> {
    params.check()?;
    if input_dim == 0 || samples == 0 || n_classes < 2 {
        return Err(MlpError::invalid(
            "gradcheck",
            format!("need input_dim ≥ 1, samples ≥ 1 and n_classes ≥ 2 (got {input_dim}, {samples}, {n_classes})"),
        ));
    }
    let specs = params.architecture(input_dim, n_classes);
    let n_params: usize = specs
        .iter()
        .flat_map(|s| s.tensor_shapes())
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    if n_params > 200_000 {
        return Err(MlpError::invalid(
            "gradcheck",
            format!("{n_params} parameters is too many to check numerically (max 200000)"),
        ));
    }
    let mut net = Network::<f64>::init(input_dim, specs, params.init, seed);
    // Biases start at zero; random ones exercise the bias gradient and move units off kinks.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(2);
    net.visit_params(&mut |_, p| {
        if p.name == "bias" {
            p.value
                .iter_mut()
                .for_each(|b| *b = 0.1 * rng.sample::<f64, _>(StandardNormal));
        }
    });
    let x = Array2::from_shape_fn((samples, input_dim), |_| StandardNormal.sample(&mut rng));
    let y: Vec<usize> = (0..samples).map(|_| rng.gen_range(0..n_classes)).collect();
    let class_weights = params.class_weight.weights(&y, n_classes);
    Ok(check_network(
        &mut net,
        x,
        &y,
        Objective {
            loss: params.loss,
            class_weights: class_weights.as_deref(),
            reg: params.reg,
        },
    ))
}

/// What is differentiated: `J = (1/N) Σ_i w_{y_i} L_i + λ Σ W²` (w = 1 without class weights).
#[derive(Debug, Clone, Copy)]
pub struct Objective<'a> {
    pub loss: LossKind,
    /// One weight per class, or `None` for 1 each.
    pub class_weights: Option<&'a [f64]>,
    pub reg: f64,
}

/// J and the piece signature at the current parameters.
fn objective(
    net: &mut Network<f64>,
    x: ArrayView2<'_, f64>,
    y: &[usize],
    j: Objective<'_>,
    dscores: &mut Array2<f64>,
) -> (f64, Vec<u64>) {
    net.reseed(MASK_SEED);
    net.forward(x, true);
    let data = j
        .loss
        .weighted_loss_and_grad(net.scores(), y, j.class_weights, dscores);
    let mut signature = net.piece_signature();
    if j.loss == LossKind::Hinge {
        signature.push(hinge_signature(net.scores(), y));
    }
    (data + j.reg * net.weight_square_sum(), signature)
}

fn hinge_signature(scores: ArrayView2<'_, f64>, y: &[usize]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for (row, &label) in scores.rows().into_iter().zip(y) {
        for (j, &s) in row.iter().enumerate() {
            let on = j != label && s - row[label] + wb_linear::loss::HINGE_DELTA > 0.0;
            h = (h ^ (on as u64 + 1)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn rel_error(a: f64, n: f64) -> f64 {
    (a - n).abs() / a.abs().max(n.abs()).max(FLOOR)
}

/// Checks every tensor of `net` (and `∂J/∂x`) on the data `(x, y)`.
pub fn check_network(
    net: &mut Network<f64>,
    mut x: Array2<f64>,
    y: &[usize],
    target: Objective<'_>,
) -> Vec<TensorCheck> {
    let reg = target.reg;
    let mut dscores = Array2::zeros((0, 0));
    // Analytic gradients.
    net.reseed(MASK_SEED);
    net.forward(x.view(), true);
    target
        .loss
        .weighted_loss_and_grad(net.scores(), y, target.class_weights, &mut dscores);
    net.backward(x.view(), dscores.view(), true);
    let input_grad = net.input_grad().to_owned();
    let mut analytic: Vec<(String, Vec<f64>)> = Vec::new();
    net.visit_params(&mut |layer, p| {
        let g = p
            .grad
            .iter()
            .zip(p.value.iter())
            .map(|(&g, &w)| if p.decay { g + 2.0 * reg * w } else { g })
            .collect();
        analytic.push((format!("layers.{layer}.{}", p.name), g));
    });
    let (_, base_signature) = objective(net, x.view(), y, target, &mut dscores);

    let mut results = Vec::new();
    for (t, (name, grad)) in analytic.iter().enumerate() {
        let mut check = TensorCheck {
            name: name.clone(),
            elements: grad.len(),
            checked: 0,
            kinks_skipped: 0,
            max_rel_error: 0.0,
        };
        for (e, &a) in grad.iter().enumerate() {
            let orig = get_param(net, t, e);
            let mut eval = |delta: f64| {
                set_param(net, t, e, orig + delta);
                let r = objective(net, x.view(), y, target, &mut dscores);
                set_param(net, t, e, orig);
                r
            };
            let (plus, sig_plus) = eval(STEP);
            let (minus, sig_minus) = eval(-STEP);
            if sig_plus != base_signature || sig_minus != base_signature {
                check.kinks_skipped += 1;
                continue;
            }
            let numeric = (plus - minus) / (2.0 * STEP);
            check.checked += 1;
            check.max_rel_error = check.max_rel_error.max(rel_error(a, numeric));
        }
        results.push(check);
    }

    let mut check = TensorCheck {
        name: "input".into(),
        elements: x.len(),
        checked: 0,
        kinks_skipped: 0,
        max_rel_error: 0.0,
    };
    for idx in 0..x.len() {
        let (i, j) = (idx / x.ncols(), idx % x.ncols());
        let orig = x[[i, j]];
        x[[i, j]] = orig + STEP;
        let (plus, sig_plus) = objective(net, x.view(), y, target, &mut dscores);
        x[[i, j]] = orig - STEP;
        let (minus, sig_minus) = objective(net, x.view(), y, target, &mut dscores);
        x[[i, j]] = orig;
        if sig_plus != base_signature || sig_minus != base_signature {
            check.kinks_skipped += 1;
            continue;
        }
        let numeric = (plus - minus) / (2.0 * STEP);
        check.checked += 1;
        check.max_rel_error = check
            .max_rel_error
            .max(rel_error(input_grad[[i, j]], numeric));
    }
    results.push(check);
    results
}

/// Sets element `element` of tensor number `tensor` (in visiting order).
fn set_param(net: &mut Network<f64>, tensor: usize, element: usize, value: f64) {
    let mut index = 0;
    net.visit_params(&mut |_, p| {
        if index == tensor {
            p.value[element] = value;
        }
        index += 1;
    });
}

fn get_param(net: &mut Network<f64>, tensor: usize, element: usize) -> f64 {
    let mut index = 0;
    let mut out = f64::NAN;
    net.visit_params(&mut |_, p| {
        if index == tensor {
            out = p.value[element];
        }
        index += 1;
    });
    out
}
