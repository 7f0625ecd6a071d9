//! The graph: a stack of layers, its architecture description and its initialisation.

use std::borrow::Cow;

use ndarray::{Array1, Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use wb_linear::{LossKind, Real};

use crate::layers::{
    Activation, Affine, BatchNorm, Dropout, Layer, Maxout, ParamMut, Pointwise, Prelu,
    BATCH_NORM_TENSORS,
};
use crate::optim::Updater;

/// One node of the architecture, as stored in the model's JSON metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum LayerSpec {
    /// `y = x Wᵀ + b`; tensors `weight` (outputs x inputs) and `bias` (outputs).
    Affine {
        inputs: usize,
        outputs: usize,
    },
    Relu,
    LeakyRelu {
        slope: f64,
    },
    /// Tensor `weight` (units): one learned slope per unit, like `torch.nn.PReLU(units)`.
    Prelu {
        units: usize,
    },
    Elu {
        alpha: f64,
    },
    Sigmoid,
    Tanh,
    /// Max over groups of `pieces` consecutive inputs (unit j, piece p is input j·pieces + p).
    Maxout {
        pieces: usize,
    },
    Dropout {
        p: f64,
    },
    /// Batch normalisation of each of `units` inputs; tensors `weight` (γ), `bias` (β),
    /// `running_mean` and `running_var` (units each), as in `torch.nn.BatchNorm1d(units)`.
    BatchNorm {
        units: usize,
    },
}

impl LayerSpec {
    /// Output width given the input width.
    pub fn output_dim(&self, input: usize) -> usize {
        match *self {
            LayerSpec::Affine { outputs, .. } => outputs,
            LayerSpec::Maxout { pieces } => input / pieces.max(1),
            _ => input,
        }
    }

    /// Tensor names and shapes, in the order the layer visits them.
    pub fn tensor_shapes(&self) -> Vec<(&'static str, Vec<usize>)> {
        match *self {
            LayerSpec::Affine { inputs, outputs } => {
                vec![("weight", vec![outputs, inputs]), ("bias", vec![outputs])]
            }
            LayerSpec::Prelu { units } => vec![("weight", vec![units])],
            LayerSpec::BatchNorm { units } => BATCH_NORM_TENSORS
                .into_iter()
                .map(|name| (name, vec![units]))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Initial PReLU slope, as in He et al. (2015).
pub const PRELU_INIT_SLOPE: f64 = 0.25;

/// How affine weights are drawn (biases start at zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// He for rectifier-like activations (ReLU, leaky ReLU, PReLU, ELU, maxout), Xavier for
    /// sigmoid / tanh and for the output layer.
    Auto,
    /// He et al. (2015): `W ~ N(0, 2 / ((1 + a²) fan_in))`, a = negative slope (0 for ReLU).
    He,
    /// Glorot & Bengio (2010): `W ~ N(0, 2 / (fan_in + fan_out))`.
    Xavier,
}

/// Standard deviation for an affine layer followed by `next` (None for the output layer).
fn init_std(init: Init, next: Option<&LayerSpec>, fan_in: usize, fan_out: usize) -> f64 {
    let xavier = (2.0 / (fan_in + fan_out) as f64).sqrt();
    let he = |a: f64| (2.0 / ((1.0 + a * a) * fan_in as f64)).sqrt();
    let negative_slope = match next {
        Some(LayerSpec::LeakyRelu { slope }) => *slope,
        Some(LayerSpec::Prelu { .. }) => PRELU_INIT_SLOPE,
        _ => 0.0,
    };
    match init {
        Init::He => he(negative_slope),
        Init::Xavier => xavier,
        Init::Auto => match next {
            Some(
                LayerSpec::Relu
                | LayerSpec::LeakyRelu { .. }
                | LayerSpec::Prelu { .. }
                | LayerSpec::Elu { .. }
                | LayerSpec::Maxout { .. },
            ) => he(negative_slope),
            _ => xavier,
        },
    }
}

/// A feed-forward stack of layers ending in class scores.
pub struct Network<F: Real> {
    specs: Vec<LayerSpec>,
    layers: Vec<Box<dyn Layer<F>>>,
    input_dim: usize,
}

fn build_layer<F: Real>(spec: &LayerSpec, index: usize, seed: u64) -> Box<dyn Layer<F>> {
    match *spec {
        LayerSpec::Affine { inputs, outputs } => Box::new(Affine::new(
            Array2::zeros((outputs, inputs)),
            Array1::zeros(outputs),
        )),
        LayerSpec::Relu => Box::new(Activation::new(Pointwise::Relu)),
        LayerSpec::LeakyRelu { slope } => Box::new(Activation::new(Pointwise::LeakyRelu { slope })),
        LayerSpec::Elu { alpha } => Box::new(Activation::new(Pointwise::Elu { alpha })),
        LayerSpec::Sigmoid => Box::new(Activation::new(Pointwise::Sigmoid)),
        LayerSpec::Tanh => Box::new(Activation::new(Pointwise::Tanh)),
        LayerSpec::Prelu { units } => Box::new(Prelu::new(Array1::from_elem(
            units,
            F::of(PRELU_INIT_SLOPE),
        ))),
        LayerSpec::Maxout { pieces } => Box::new(Maxout::new(pieces)),
        LayerSpec::BatchNorm { units } => Box::new(BatchNorm::new(units)),
        // Each dropout layer gets its own stream so adding a layer does not shift the others.
        LayerSpec::Dropout { p } => Box::new(Dropout::new(
            p,
            seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1)),
        )),
    }
}

impl<F: Real> Network<F> {
    /// Builds the layers with zero weights (for loading) — see [`Network::init`] for training.
    ///
    /// An affine layer followed by a ReLU applies the ReLU inside its product, and the ReLU
    /// then passes that output through (forward costs no extra pass; backward is unchanged,
    /// since a rectified value is positive exactly where its pre-activation was).
    pub fn zeros(input_dim: usize, specs: Vec<LayerSpec>, seed: u64) -> Self {
        let mut layers: Vec<Box<dyn Layer<F>>> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| build_layer(s, i, seed))
            .collect();
        for i in 1..layers.len() {
            if specs[i] == LayerSpec::Relu
                && matches!(specs[i - 1], LayerSpec::Affine { .. })
                && layers[i - 1].fuse_relu()
            {
                layers[i].set_input_rectified();
            }
        }
        Network {
            specs,
            layers,
            input_dim,
        }
    }

    /// Builds the layers and draws the initial weights from `seed` (row by row of each
    /// (out x in) weight matrix, in layer order).
    pub fn init(input_dim: usize, specs: Vec<LayerSpec>, init: Init, seed: u64) -> Self {
        let mut net = Self::zeros(input_dim, specs, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let specs = net.specs.clone();
        for (i, layer) in net.layers.iter_mut().enumerate() {
            if let LayerSpec::Affine { inputs, outputs } = specs[i] {
                // A normalisation between the product and its activation does not change
                // which nonlinearity the initialisation is for.
                let next = specs[i + 1..]
                    .iter()
                    .find(|s| !matches!(s, LayerSpec::BatchNorm { .. }));
                let std = init_std(init, next, inputs, outputs);
                let normal = Normal::new(0.0, std).expect("finite positive std");
                let weight: Vec<F> = (0..inputs * outputs)
                    .map(|_| F::of(normal.sample(&mut rng)))
                    .collect();
                let bias = vec![F::zero(); outputs];
                layer.load_params(&mut [weight.as_slice(), bias.as_slice()].into_iter());
            }
        }
        net
    }

    pub fn specs(&self) -> &[LayerSpec] {
        &self.specs
    }

    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    pub fn output_dim(&self) -> usize {
        self.specs
            .iter()
            .fold(self.input_dim, |d, s| s.output_dim(d))
    }

    pub fn layers(&self) -> &[Box<dyn Layer<F>>] {
        &self.layers
    }

    /// The output of the layers before `end` (exclusive): the last one that has its own, or
    /// `x` when every earlier layer passes its input through.
    fn output_before<'a>(
        layers: &'a [Box<dyn Layer<F>>],
        x: ArrayView2<'a, F>,
        end: usize,
    ) -> ArrayView2<'a, F> {
        match layers[..end]
            .iter()
            .rposition(|l| !l.passes_input_through())
        {
            Some(j) => layers[j].output(),
            None => x,
        }
    }

    /// Forward pass; the scores are in [`Network::scores`] afterwards.
    pub fn forward(&mut self, x: ArrayView2<'_, F>, train: bool) {
        for i in 0..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(i);
            let input = Self::output_before(before, x.view(), i);
            rest[0].forward(input, train);
        }
    }

    /// The scores of the last forward pass.
    pub fn scores(&self) -> ArrayView2<'_, F> {
        let n = self.layers.len();
        assert!(n > 0, "at least one layer");
        let last = self.layers[..n]
            .iter()
            .rposition(|l| !l.passes_input_through())
            .expect("the output layer is affine");
        self.layers[last].output()
    }

    /// Backward pass from `dscores = ∂L/∂scores`; `x` must be the input of the last forward.
    /// `need_input_grad` also computes `∂L/∂x` (only gradient checks want it).
    pub fn backward(
        &mut self,
        x: ArrayView2<'_, F>,
        dscores: ArrayView2<'_, F>,
        need_input_grad: bool,
    ) {
        let n = self.layers.len();
        for i in (0..n).rev() {
            let (before, rest) = self.layers.split_at_mut(i);
            let (current, after) = rest.split_first_mut().expect("i < n");
            let input = Self::output_before(before, x.view(), i);
            let dout = if i + 1 == n {
                dscores.view()
            } else {
                after[0].input_grad()
            };
            current.backward(input, dout, i > 0 || need_input_grad);
        }
    }

    /// Backward pass from `dscores` with one optimiser step applied to each layer as soon as
    /// its gradients exist (each layer's `∂L/∂x` is computed from its weights before the
    /// step). `x` must be the input of the last forward. Parameter gradients of layers that
    /// fuse the step into their products are not stored.
    pub fn backward_update(
        &mut self,
        x: ArrayView2<'_, F>,
        dscores: ArrayView2<'_, F>,
        updater: &mut Updater<'_, F>,
    ) {
        let n = self.layers.len();
        for i in (0..n).rev() {
            let (before, rest) = self.layers.split_at_mut(i);
            let (current, after) = rest.split_first_mut().expect("i < n");
            let input = Self::output_before(before, x.view(), i);
            let dout = if i + 1 == n {
                dscores.view()
            } else {
                after[0].input_grad()
            };
            updater.begin_layer(i);
            current.backward_update(input, dout, i > 0, updater);
        }
    }

    /// `∂L/∂x` from the last backward with `need_input_grad`.
    pub fn input_grad(&self) -> ArrayView2<'_, F> {
        self.layers[0].input_grad()
    }

    /// Forward in training mode, data loss, backward. Returns the mean data loss (no L2 term).
    pub fn forward_backward(
        &mut self,
        x: ArrayView2<'_, F>,
        labels: &[usize],
        loss: LossKind,
        dscores: &mut Array2<F>,
        train: bool,
        need_input_grad: bool,
    ) -> F {
        self.forward(x, train);
        let data_loss = loss.loss_and_grad(self.scores(), labels, dscores);
        self.backward(x, dscores.view(), need_input_grad);
        data_loss
    }

    /// Visits every trainable tensor as `(layer index, tensor)`, in a fixed order.
    pub fn visit_params(&mut self, f: &mut dyn FnMut(usize, ParamMut<'_, F>)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_params(&mut |p| f(i, p));
        }
    }

    /// `Σ W²` over the decayed tensors (affine weights).
    pub fn weight_square_sum(&mut self) -> f64 {
        let mut total = 0.0;
        self.visit_params(&mut |_, p| {
            if p.decay {
                total += p
                    .value
                    .iter()
                    .map(|&w| (w * w).to_f64().unwrap_or(f64::NAN))
                    .sum::<f64>();
            }
        });
        total
    }

    /// All tensors as `(state-dict name, shape, values)` in PyTorch's layout, e.g.
    /// `layers.0.weight` (out x in).
    pub fn named_tensors(&self) -> Vec<(String, Vec<usize>, Cow<'_, [F]>)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for p in layer.params() {
                out.push((format!("layers.{i}.{}", p.name), p.shape, p.value));
            }
        }
        out
    }

    /// Copies every parameter value out, then every buffer (for keeping the best epoch's
    /// weights and the running statistics that go with them).
    pub fn snapshot(&mut self) -> Vec<Vec<F>> {
        let mut out = Vec::new();
        self.visit_params(&mut |_, p| out.push(p.value.to_vec()));
        for layer in &mut self.layers {
            layer.visit_buffers(&mut |b| out.push(b.to_vec()));
        }
        out
    }

    /// Overwrites the parameters from tensors in [`Network::named_tensors`] layout and order.
    pub fn load_tensors(&mut self, values: &[Vec<F>]) {
        let mut it = values.iter().map(Vec::as_slice);
        for layer in &mut self.layers {
            layer.load_params(&mut it);
        }
    }

    /// Overwrites the parameters from a [`Network::snapshot`] (same storage layout).
    pub fn restore(&mut self, values: &[Vec<F>]) {
        let mut it = values.iter();
        self.visit_params(&mut |_, p| {
            if let Some(v) = it.next() {
                p.value.copy_from_slice(v);
            }
        });
        for layer in &mut self.layers {
            layer.visit_buffers(&mut |b| {
                if let Some(v) = it.next() {
                    b.copy_from_slice(v);
                }
            });
        }
    }

    /// Reseeds every dropout layer (so gradient checks see one fixed mask).
    pub fn reseed(&mut self, seed: u64) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.reseed(seed.wrapping_add(i as u64));
        }
    }

    /// Which piece of each piecewise-linear unit the last forward used.
    pub fn piece_signature(&self) -> Vec<u64> {
        self.layers.iter().map(|l| l.piece_signature()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_restores_batch_norm_running_averages_with_the_weights() {
        let specs = vec![
            LayerSpec::Affine {
                inputs: 3,
                outputs: 4,
            },
            LayerSpec::BatchNorm { units: 4 },
            LayerSpec::Relu,
            LayerSpec::Affine {
                inputs: 4,
                outputs: 2,
            },
        ];
        let mut net = Network::<f64>::init(3, specs, Init::Auto, 5);
        let x = Array2::from_shape_fn((6, 3), |(i, j)| (i * 3 + j) as f64 * 0.1);
        net.forward(x.view(), true);
        let saved = net.snapshot();
        net.forward(x.view(), false);
        let before = net.scores().to_owned();
        for _ in 0..3 {
            net.forward((&x * 2.0).view(), true);
        }
        net.forward(x.view(), false);
        assert_ne!(
            net.scores(),
            before,
            "training forwards move the running averages"
        );
        net.restore(&saved);
        net.forward(x.view(), false);
        assert_eq!(net.scores(), before);
    }
}
