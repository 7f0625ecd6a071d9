//! The update rules, their per-tensor state, and the [`Updater`] that applies one step while
//! the backward pass runs.
//!
//! Why during the backward pass: a layer's weight gradient is needed by nothing but the update,
//! so an affine layer hands the rule to its `∂W` product ([`wb_linear::Real::gemm_update`]),
//! which applies it to each strip of `∂W` tiles while the strip is still in L1. The 6 MB
//! gradient of a 3072 → 500 layer is then never written to memory and read back, and the
//! update's memory traffic overlaps the product's arithmetic instead of following it.
//! Tensors that do not fuse (biases, PReLU slopes, maxout/other layers) are updated by the same
//! rule in a chunked parallel sweep right after their layer's backward.

use rayon::prelude::*;
use wb_linear::Real;

use crate::layers::ParamMut;
use crate::net::Network;
use crate::params::{MlpParams, OptimizerKind};

/// One step's update rule with its constants. For every element, with gradient
/// `g + 2λw` (the L2 term only on decayed tensors) and learning rate η:
/// SGD `w −= η g`; momentum `v = μv − ηg, w += v`; Nesterov `v' = μv − ηg,
/// w += (1 + μ)v' − μv`; Adam with bias correction folded into the step size.
#[derive(Clone, Copy, Debug)]
pub struct Rule<F> {
    kind: OptimizerKind,
    lr: F,
    mu: F,
    b1: F,
    b2: F,
    eps: F,
    adam_lr: F,
}

impl<F: Real> Rule<F> {
    /// Updates `w` from its gradient `g` and state `m`, `v` (all the same length) and returns
    /// `Σ w²` of the values before the update (the weights the forward pass used), in `f64`.
    /// `two_reg` is `2λ` for decayed tensors, 0 otherwise.
    ///
    /// The sweep is compiled three times — for AVX-512, for AVX2 + FMA and for the baseline —
    /// and runs the one matching `wb_gemm::active()`: the crate itself is built for the
    /// baseline CPU, which would leave this memory-bound loop 4 lanes wide. Every variant does
    /// the same operations in the same order (no fused multiply-adds are introduced), so the
    /// numbers do not depend on the variant.
    #[inline]
    pub fn apply(&self, two_reg: F, w: &mut [F], g: &[F], m: &mut [F], v: &mut [F]) -> f64 {
        match wb_gemm::active() {
            // SAFETY: wb_gemm::active() only returns families the CPU supports.
            #[cfg(target_arch = "x86_64")]
            wb_gemm::Simd::Avx512 => unsafe { self.apply_avx512(two_reg, w, g, m, v) },
            #[cfg(target_arch = "x86_64")]
            wb_gemm::Simd::Avx2 => unsafe { self.apply_avx2(two_reg, w, g, m, v) },
            _ => self.apply_any(two_reg, w, g, m, v),
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn apply_avx512(
        &self,
        two_reg: F,
        w: &mut [F],
        g: &[F],
        m: &mut [F],
        v: &mut [F],
    ) -> f64 {
        self.apply_any(two_reg, w, g, m, v)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_avx2(&self, two_reg: F, w: &mut [F], g: &[F], m: &mut [F], v: &mut [F]) -> f64 {
        self.apply_any(two_reg, w, g, m, v)
    }

    #[inline(always)]
    fn apply_any(&self, two_reg: F, w: &mut [F], g: &[F], m: &mut [F], v: &mut [F]) -> f64 {
        let Rule {
            lr,
            mu,
            b1,
            b2,
            eps,
            adam_lr,
            ..
        } = *self;
        match self.kind {
            OptimizerKind::Sgd => sweep(w, g, m, v, |w, g, _, _| {
                *w -= lr * (g + two_reg * *w);
            }),
            OptimizerKind::Momentum => sweep(w, g, m, v, |w, g, m, _| {
                *m = mu * *m - lr * (g + two_reg * *w);
                *w += *m;
            }),
            OptimizerKind::Nesterov => sweep(w, g, m, v, |w, g, m, _| {
                let prev = *m;
                *m = mu * *m - lr * (g + two_reg * *w);
                *w += (F::one() + mu) * *m - mu * prev;
            }),
            OptimizerKind::Adam => sweep(w, g, m, v, |w, g, m, v| {
                let g = g + two_reg * *w;
                *m = b1 * *m + (F::one() - b1) * g;
                *v = b2 * *v + (F::one() - b2) * g * g;
                *w -= adam_lr * *m / (v.sqrt() + eps);
            }),
        }
    }
}

/// Applies `update(w, g, m, v)` to every element and returns `Σ w²` of the values before the
/// update. The sum runs in `LANES` independent accumulators: a single running sum is a serial
/// dependency that keeps the compiler from vectorising the whole loop.
#[inline(always)]
fn sweep<F: Real>(
    w: &mut [F],
    g: &[F],
    m: &mut [F],
    v: &mut [F],
    update: impl Fn(&mut F, F, &mut F, &mut F),
) -> f64 {
    const LANES: usize = 8;
    let full = w.len() / LANES * LANES;
    let mut acc = [F::zero(); LANES];
    let (w_body, w_tail) = w.split_at_mut(full);
    let (m_body, m_tail) = m.split_at_mut(full);
    let (v_body, v_tail) = v.split_at_mut(full);
    for (((wc, gc), mc), vc) in w_body
        .chunks_exact_mut(LANES)
        .zip(g[..full].chunks_exact(LANES))
        .zip(m_body.chunks_exact_mut(LANES))
        .zip(v_body.chunks_exact_mut(LANES))
    {
        for k in 0..LANES {
            acc[k] += wc[k] * wc[k];
            update(&mut wc[k], gc[k], &mut mc[k], &mut vc[k]);
        }
    }
    let mut total: f64 = acc.iter().map(|a| a.to_f64().unwrap_or(f64::NAN)).sum();
    for (((w, &g), m), v) in w_tail.iter_mut().zip(&g[full..]).zip(m_tail).zip(v_tail) {
        total += (*w * *w).to_f64().unwrap_or(f64::NAN);
        update(w, g, m, v);
    }
    total
}

/// Optimiser state for one tensor (both moments are kept whatever the rule, so every rule
/// shares one code path).
struct Slot<F> {
    first: Vec<F>,
    second: Vec<F>,
}

/// Elements per parallel chunk of the sweep: large enough to amortise scheduling, fixed so the
/// reduction order (and so every number) does not depend on how rayon splits the work.
const CHUNK: usize = 1 << 15;

/// The optimiser: its rule, step count and per-tensor state.
pub(crate) struct Optimizer<F: Real> {
    kind: OptimizerKind,
    momentum: F,
    beta1: F,
    beta2: F,
    epsilon: F,
    step: i32,
    slots: Vec<Slot<F>>,
    /// Index of each layer's first tensor in `slots`.
    layer_start: Vec<usize>,
    partial_sums: Vec<f64>,
}

impl<F: Real> Optimizer<F> {
    pub(crate) fn new(params: &MlpParams, net: &mut Network<F>) -> Self {
        let mut slots = Vec::new();
        let mut layer_start = Vec::new();
        net.visit_params(&mut |layer, p| {
            while layer_start.len() <= layer {
                layer_start.push(slots.len());
            }
            let n = p.value.len();
            slots.push(Slot {
                first: vec![F::zero(); n],
                second: vec![F::zero(); n],
            });
        });
        while layer_start.len() < net.layers().len() {
            layer_start.push(slots.len());
        }
        Optimizer {
            kind: params.optimizer,
            momentum: F::of(params.momentum),
            beta1: F::of(params.adam_beta1),
            beta2: F::of(params.adam_beta2),
            epsilon: F::of(params.adam_epsilon),
            step: 0,
            slots,
            layer_start,
            partial_sums: Vec::new(),
        }
    }

    /// Starts one step at learning rate `lr` and L2 strength `reg`: the updater that
    /// [`Network::backward_update`] hands to each layer.
    pub(crate) fn step(&mut self, lr: f64, reg: f64) -> Updater<'_, F> {
        self.step += 1;
        let lr = F::of(lr);
        // Bias corrections of Adam folded into the step size.
        let t = self.step;
        let c1 = F::one() - self.beta1.powi(t);
        let c2 = F::one() - self.beta2.powi(t);
        Updater {
            rule: Rule {
                kind: self.kind,
                lr,
                mu: self.momentum,
                b1: self.beta1,
                b2: self.beta2,
                eps: self.epsilon,
                adam_lr: lr * c2.sqrt() / c1,
            },
            two_reg: F::of(2.0 * reg),
            slots: &mut self.slots,
            layer_start: &self.layer_start,
            cursor: 0,
            partial_sums: &mut self.partial_sums,
            square_sum: 0.0,
        }
    }
}

/// Applies one optimiser step to each tensor as its layer's backward pass produces the
/// gradient ([`crate::Layer::backward_update`]). Tensors must be visited in the layer's
/// `visit_params` order after [`Updater::begin_layer`].
pub struct Updater<'a, F: Real> {
    rule: Rule<F>,
    two_reg: F,
    slots: &'a mut [Slot<F>],
    layer_start: &'a [usize],
    cursor: usize,
    partial_sums: &'a mut Vec<f64>,
    square_sum: f64,
}

impl<F: Real> Updater<'_, F> {
    /// The next tensors belong to layer `layer`.
    pub fn begin_layer(&mut self, layer: usize) {
        self.cursor = self
            .layer_start
            .get(layer)
            .copied()
            .unwrap_or(self.slots.len());
    }

    /// Updates the next tensor from the gradient in `p.grad`.
    pub fn apply(&mut self, p: ParamMut<'_, F>) {
        let slot = &mut self.slots[self.cursor];
        self.cursor += 1;
        let two_reg = if p.decay { self.two_reg } else { F::zero() };
        let (rule, first, second) = (self.rule, &mut slot.first, &mut slot.second);
        let n = p.value.len();
        let sum = if n <= CHUNK {
            rule.apply(two_reg, p.value, p.grad, &mut first[..n], &mut second[..n])
        } else {
            p.value
                .par_chunks_mut(CHUNK)
                .zip(p.grad.par_chunks(CHUNK))
                .zip(first.par_chunks_mut(CHUNK))
                .zip(second.par_chunks_mut(CHUNK))
                .map(|(((w, g), m), v)| rule.apply(two_reg, w, g, m, v))
                .collect_into_vec(self.partial_sums);
            self.partial_sums.iter().sum()
        };
        if p.decay {
            self.square_sum += sum;
        }
    }

    /// For a layer that applies the rule itself (inside a product): the rule, `2λ` (0 unless
    /// `decay`) and the next tensor's two state buffers. The layer reports the `Σ w²` the rule
    /// returned through [`Updater::add_square_sum`].
    pub fn next_slot(&mut self, decay: bool) -> (Rule<F>, F, &mut [F], &mut [F]) {
        let slot = &mut self.slots[self.cursor];
        self.cursor += 1;
        let two_reg = if decay { self.two_reg } else { F::zero() };
        (self.rule, two_reg, &mut slot.first, &mut slot.second)
    }

    /// Adds `Σ w²` of a decayed tensor updated through [`Updater::next_slot`].
    pub fn add_square_sum(&mut self, sum: f64) {
        self.square_sum += sum;
    }

    /// `Σ W²` of the decayed tensors before this step (for the reported loss).
    pub fn square_sum(&self) -> f64 {
        self.square_sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Init;
    use crate::params::MlpParams;
    use ndarray::Array2;
    use wb_linear::LossKind;

    /// One step through `backward_update` (the ∂W products fused with the rule) lands on the
    /// same weights as `backward` followed by the rule applied to the stored gradients.
    #[test]
    fn fused_step_equals_backward_then_update() {
        for kind in [
            OptimizerKind::Sgd,
            OptimizerKind::Momentum,
            OptimizerKind::Nesterov,
            OptimizerKind::Adam,
        ] {
            let params = MlpParams::default()
                .with_hidden(vec![37, 19])
                .with_dropout(0.0)
                .with_optimizer(kind);
            let (n, d, c) = (50, 70, 6);
            let specs = params.architecture(d, c);
            let x =
                Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 8.0 - 1.0);
            let y: Vec<usize> = (0..n).map(|i| (i * 5) % c).collect();
            let mut fused = Network::<f32>::init(d, specs.clone(), Init::Auto, 3);
            let mut plain = Network::<f32>::init(d, specs, Init::Auto, 3);
            let mut opt_fused = Optimizer::new(&params, &mut fused);
            let mut opt_plain = Optimizer::new(&params, &mut plain);
            let mut ds = Array2::zeros((0, 0));
            for _ in 0..3 {
                fused.forward(x.view(), true);
                LossKind::Softmax.loss_and_grad(fused.scores(), &y, &mut ds);
                let mut upd = opt_fused.step(0.05, 1e-3);
                fused.backward_update(x.view(), ds.view(), &mut upd);
                let sq_fused = upd.square_sum();

                plain.forward_backward(x.view(), &y, LossKind::Softmax, &mut ds, true, false);
                let mut upd = opt_plain.step(0.05, 1e-3);
                let mut current = usize::MAX;
                plain.visit_params(&mut |layer, p| {
                    if layer != current {
                        upd.begin_layer(layer);
                        current = layer;
                    }
                    upd.apply(p);
                });
                let sq_plain = upd.square_sum();
                assert!(
                    (sq_fused - sq_plain).abs() <= 1e-6 * sq_plain,
                    "{kind:?}: {sq_fused} vs {sq_plain}"
                );
                let (a, b) = (fused.snapshot(), plain.snapshot());
                for (ta, tb) in a.iter().zip(&b) {
                    for (&u, &v) in ta.iter().zip(tb) {
                        assert!(
                            (u - v).abs() <= 1e-6 * (1.0 + v.abs()),
                            "{kind:?}: {u} vs {v}"
                        );
                    }
                }
            }
        }
    }
}
