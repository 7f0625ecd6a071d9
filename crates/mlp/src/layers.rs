//! The layers of the computational graph (CS231n "modular backprop").
//!
//! Every layer maps a batch `x` (N x D_in, one example per row) to `y` (N x D_out).
//! `forward` keeps what `backward` needs (masks, outputs); `backward` takes the upstream
//! gradient `∂L/∂y` and produces `∂L/∂x` and the parameter gradients directly, never forming a
//! Jacobian. The layer's input is the previous layer's output, which the graph keeps alive until
//! the backward pass, so it is handed to `backward` again instead of being copied in `forward`.
//!
//! Buffers are owned by the layers and only grow, so a training loop allocates nothing after
//! the first mini-batch.

use std::borrow::Cow;

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wb_linear::Real;

use crate::optim::Updater;

/// One trainable tensor with its gradient, as the optimiser sees it.
pub struct ParamMut<'a, F> {
    /// `weight`, `bias` or `slope` (the PyTorch state-dict suffix).
    pub name: &'static str,
    pub value: &'a mut [F],
    pub grad: &'a [F],
    /// Whether L2 regularisation `λ Σ W²` applies (weights only; not biases or PReLU slopes).
    pub decay: bool,
}

/// One tensor for saving: name suffix, shape (PyTorch convention) and row-major data (borrowed
/// when the layer stores it that way, copied when it stores it transposed).
pub struct ParamView<'a, F: Clone> {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub value: Cow<'a, [F]>,
}

/// A node of the graph. See the module docs for the contract.
pub trait Layer<F: Real>: Send {
    /// Computes `y = f(x)` for the batch into the layer's own buffer and keeps what backward needs.
    /// `train` switches dropout on; every other layer behaves the same in both modes.
    fn forward(&mut self, x: ArrayView2<'_, F>, train: bool);
    /// The last forward output (N x D_out).
    fn output(&self) -> ArrayView2<'_, F>;
    /// Given the same `x` as the last forward and `dout = ∂L/∂y`, writes the parameter gradients
    /// and, if `need_dx`, `∂L/∂x` (skipped for the first layer: nobody needs it).
    fn backward(&mut self, x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, need_dx: bool);
    /// `∂L/∂x` from the last backward with `need_dx`.
    fn input_grad(&self) -> ArrayView2<'_, F>;
    /// [`Layer::backward`] followed by one optimiser step on every tensor (in `visit_params`
    /// order). A layer may fuse the step into its gradient product; its parameter gradients are
    /// then not stored, and `∂L/∂x` is still computed from the weights before the step.
    fn backward_update(
        &mut self,
        x: ArrayView2<'_, F>,
        dout: ArrayView2<'_, F>,
        need_dx: bool,
        updater: &mut Updater<'_, F>,
    ) {
        self.backward(x, dout, need_dx);
        self.visit_params(&mut |p| updater.apply(p));
    }
    /// Visits each trainable tensor with its gradient, in a fixed order, in the layer's own
    /// storage layout (elementwise consumers — optimisers, snapshots, gradient checks — do not
    /// care which; [`Layer::params`] and [`Layer::load_params`] use PyTorch's).
    fn visit_params(&mut self, _f: &mut dyn FnMut(ParamMut<'_, F>)) {}
    /// The trainable tensors in PyTorch's layout, in the same order as `visit_params`.
    fn params(&self) -> Vec<ParamView<'_, F>> {
        Vec::new()
    }
    /// Overwrites the trainable tensors from values in [`Layer::params`] layout and order.
    fn load_params(&mut self, values: &mut dyn Iterator<Item = &[F]>) {
        self.visit_params(&mut |p| {
            if let Some(v) = values.next() {
                p.value.copy_from_slice(v);
            }
        });
    }
    /// Asks the layer to apply `max(0, ·)` to its own output (the next layer is a ReLU);
    /// returns whether it will. Only an affine layer can: its product applies it in registers.
    fn fuse_relu(&mut self) -> bool {
        false
    }
    /// Told by the network that its input is already rectified (see [`Layer::fuse_relu`]).
    /// A ReLU then passes its input through unchanged; other layers ignore it.
    fn set_input_rectified(&mut self) {}
    /// Whether the forward output is the input itself (no buffer of its own).
    fn passes_input_through(&self) -> bool {
        false
    }
    /// A fingerprint of which linear piece each unit is on (ReLU side, maxout winner...), so a
    /// gradient check can tell when a finite-difference step crossed a kink.
    fn piece_signature(&self) -> u64 {
        0
    }
    /// Restarts the layer's random stream (dropout), so repeated forwards draw the same mask.
    fn reseed(&mut self, _seed: u64) {}
    /// Visits each tensor that training changes without a gradient (batch normalisation's
    /// running averages), in a fixed order, so a snapshot of the best epoch keeps them too.
    fn visit_buffers(&mut self, _f: &mut dyn FnMut(&mut [F])) {}
}

/// Makes `buf` at least `rows x cols`; allocation happens only when it has to grow.
fn ensure<F: Real>(buf: &mut Array2<F>, rows: usize, cols: usize) {
    if buf.nrows() < rows || buf.ncols() != cols {
        *buf = Array2::zeros((rows, cols));
    }
}

fn rows_mut<F: Real>(buf: &mut Array2<F>, rows: usize) -> ArrayViewMut2<'_, F> {
    buf.slice_mut(s![..rows, ..])
}

fn rows_of<F: Real>(buf: &Array2<F>, rows: usize) -> ArrayView2<'_, F> {
    buf.slice(s![..rows, ..])
}

fn hash_bits(bits: impl Iterator<Item = bool>) -> u64 {
    // FNV-1a over the bit pattern; collisions only matter for a diagnostic, never for training.
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in bits {
        h ^= b as u64 + 1;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Fully connected layer `y = x Wᵀ + b`, with W (out x in) as in `torch.nn.Linear`.
///
/// W is stored transposed, `Wᵀ` (in x out) row-major: the forward product `x·Wᵀ` then has it as
/// the B operand of wb-gemm, read in place when its rows start on cache lines (a 64-byte
/// aligned start and a multiple of 16 units) and packed otherwise, and `∂L/∂Wᵀ = xᵀ·dout` comes
/// out in the same layout as the weights, so the optimiser's elementwise sweep lines up. The bias (and, before a
/// ReLU, `max(0, ·)`) is applied by the product while each tile is in registers.
///
/// Backward: `∂L/∂Wᵀ = xᵀ dout`, `∂L/∂b = Σ_rows dout`, `∂L/∂x = dout W`.
pub struct Affine<F: Real> {
    weight_t: Array2<F>,
    pub bias: Array1<F>,
    dweight_t: Array2<F>,
    dbias: Array1<F>,
    out: Array2<F>,
    dx: Array2<F>,
    rows: usize,
    relu: bool,
}

impl<F: Real> Affine<F> {
    /// `weight` is (out x in), like `torch.nn.Linear.weight`.
    pub fn new(weight: Array2<F>, bias: Array1<F>) -> Self {
        assert_eq!(weight.nrows(), bias.len(), "one bias per output unit");
        let weight_t = weight.t().as_standard_layout().into_owned();
        Affine {
            dweight_t: Array2::zeros(weight_t.dim()),
            dbias: Array1::zeros(bias.len()),
            weight_t,
            bias,
            out: Array2::zeros((0, 0)),
            dx: Array2::zeros((0, 0)),
            rows: 0,
            relu: false,
        }
    }

    /// W (out x in), copied out of the transposed storage.
    pub fn weight(&self) -> Array2<F> {
        self.weight_t.t().as_standard_layout().into_owned()
    }
}

impl<F: Real> Layer<F> for Affine<F> {
    fn forward(&mut self, x: ArrayView2<'_, F>, _train: bool) {
        let n = x.nrows();
        self.rows = n;
        ensure(&mut self.out, n, self.weight_t.ncols());
        let mut out = rows_mut(&mut self.out, n);
        let bias = self.bias.as_slice().expect("standard layout");
        F::gemm(
            F::one(),
            &x,
            &self.weight_t.view(),
            F::zero(),
            &mut out,
            Some(bias),
            self.relu,
        );
    }

    fn output(&self) -> ArrayView2<'_, F> {
        rows_of(&self.out, self.rows)
    }

    fn backward(&mut self, x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, need_dx: bool) {
        F::gemm(
            F::one(),
            &x.t(),
            &dout,
            F::zero(),
            &mut self.dweight_t.view_mut(),
            None,
            false,
        );
        self.dbias.fill(F::zero());
        for row in dout.rows() {
            Zip::from(&mut self.dbias)
                .and(&row)
                .for_each(|b, &d| *b += d);
        }
        if need_dx {
            let n = dout.nrows();
            ensure(&mut self.dx, n, self.weight_t.nrows());
            let mut dx = rows_mut(&mut self.dx, n);
            F::gemm(
                F::one(),
                &dout,
                &self.weight_t.t(),
                F::zero(),
                &mut dx,
                None,
                false,
            );
        }
    }

    fn input_grad(&self) -> ArrayView2<'_, F> {
        rows_of(&self.dx, self.rows)
    }

    fn backward_update(
        &mut self,
        x: ArrayView2<'_, F>,
        dout: ArrayView2<'_, F>,
        need_dx: bool,
        updater: &mut Updater<'_, F>,
    ) {
        if need_dx {
            let n = dout.nrows();
            ensure(&mut self.dx, n, self.weight_t.nrows());
            let mut dx = rows_mut(&mut self.dx, n);
            F::gemm(
                F::one(),
                &dout,
                &self.weight_t.t(),
                F::zero(),
                &mut dx,
                None,
                false,
            );
        }
        // ∂L/∂Wᵀ = xᵀ·dout goes straight into the update, strip by strip.
        let (rule, two_reg, first, second) = updater.next_slot(true);
        let w = self.weight_t.as_slice_mut().expect("standard layout");
        let square_sum = F::gemm_update(
            F::one(),
            &x.t(),
            &dout,
            w,
            first,
            second,
            &mut self.dweight_t,
            |g, w, m, v| rule.apply(two_reg, w, g, m, v),
        );
        updater.add_square_sum(square_sum);
        self.dbias.fill(F::zero());
        for row in dout.rows() {
            Zip::from(&mut self.dbias)
                .and(&row)
                .for_each(|b, &d| *b += d);
        }
        updater.apply(ParamMut {
            name: "bias",
            value: self.bias.as_slice_mut().expect("standard layout"),
            grad: self.dbias.as_slice().expect("standard layout"),
            decay: false,
        });
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, F>)) {
        f(ParamMut {
            name: "weight",
            value: self.weight_t.as_slice_mut().expect("standard layout"),
            grad: self.dweight_t.as_slice().expect("standard layout"),
            decay: true,
        });
        f(ParamMut {
            name: "bias",
            value: self.bias.as_slice_mut().expect("standard layout"),
            grad: self.dbias.as_slice().expect("standard layout"),
            decay: false,
        });
    }

    fn params(&self) -> Vec<ParamView<'_, F>> {
        vec![
            ParamView {
                name: "weight",
                shape: vec![self.weight_t.ncols(), self.weight_t.nrows()],
                value: Cow::Owned(self.weight().into_raw_vec_and_offset().0),
            },
            ParamView {
                name: "bias",
                shape: vec![self.bias.len()],
                value: Cow::Borrowed(self.bias.as_slice().expect("standard layout")),
            },
        ]
    }

    fn load_params(&mut self, values: &mut dyn Iterator<Item = &[F]>) {
        let (inputs, outputs) = self.weight_t.dim();
        if let Some(w) = values.next() {
            // (out x in) row-major → the transposed storage.
            for (j, row) in w.chunks_exact(inputs).take(outputs).enumerate() {
                for (k, &v) in row.iter().enumerate() {
                    self.weight_t[[k, j]] = v;
                }
            }
        }
        if let Some(b) = values.next() {
            self.bias
                .as_slice_mut()
                .expect("standard layout")
                .copy_from_slice(b);
        }
    }

    fn fuse_relu(&mut self) -> bool {
        self.relu = true;
        true
    }

    fn piece_signature(&self) -> u64 {
        // With the ReLU fused, this layer's output shows which side of the kink each unit is on.
        if self.relu {
            hash_bits(self.output().iter().map(|&v| v > F::zero()))
        } else {
            0
        }
    }
}

/// Parameter-free elementwise nonlinearities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pointwise {
    /// `max(0, x)`.
    Relu,
    /// `x` if x > 0 else `slope·x` (Maas et al. 2013); slope 0.1 gives `max(0.1x, x)`.
    LeakyRelu { slope: f64 },
    /// `x` if x > 0 else `α(eˣ − 1)` (Clevert et al. 2016).
    Elu { alpha: f64 },
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
}

/// An elementwise activation layer; backward uses only `x` and the stored output.
pub struct Activation<F: Real> {
    pub kind: Pointwise,
    out: Array2<F>,
    dx: Array2<F>,
    rows: usize,
    /// A ReLU after an affine layer that already applied `max(0, ·)`: forward is the identity
    /// and the network reads the affine layer's output instead of a copy.
    rectified_input: bool,
}

impl<F: Real> Activation<F> {
    pub fn new(kind: Pointwise) -> Self {
        Activation {
            kind,
            out: Array2::zeros((0, 0)),
            dx: Array2::zeros((0, 0)),
            rows: 0,
            rectified_input: false,
        }
    }

    fn is_pass_through(&self) -> bool {
        self.rectified_input && self.kind == Pointwise::Relu
    }
}

impl<F: Real> Layer<F> for Activation<F> {
    fn forward(&mut self, x: ArrayView2<'_, F>, _train: bool) {
        let (n, d) = x.dim();
        self.rows = n;
        if self.is_pass_through() {
            return;
        }
        ensure(&mut self.out, n, d);
        let out = rows_mut(&mut self.out, n);
        let zero = F::zero();
        let one = F::one();
        let z = Zip::from(out).and(&x);
        match self.kind {
            // `max(0, v)` keeping NaN, as the fused product does.
            Pointwise::Relu => z.for_each(|y, &v| *y = if v < zero { zero } else { v }),
            Pointwise::LeakyRelu { slope } => {
                let a = F::of(slope);
                z.for_each(|y, &v| *y = if v > zero { v } else { a * v })
            }
            Pointwise::Elu { alpha } => {
                let a = F::of(alpha);
                z.for_each(|y, &v| *y = if v > zero { v } else { a * (v.exp() - one) })
            }
            Pointwise::Sigmoid => z.for_each(|y, &v| *y = one / (one + (-v).exp())),
            Pointwise::Tanh => z.for_each(|y, &v| *y = v.tanh()),
        }
    }

    fn output(&self) -> ArrayView2<'_, F> {
        rows_of(&self.out, self.rows)
    }

    fn backward(&mut self, x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, need_dx: bool) {
        if !need_dx {
            return;
        }
        let (n, d) = dout.dim();
        ensure(&mut self.dx, n, d);
        let dx = rows_mut(&mut self.dx, n);
        let zero = F::zero();
        let one = F::one();
        if self.kind == Pointwise::Relu {
            // Needs only the input (rectified or not: the sign is the same), never the output.
            Zip::from(dx)
                .and(&dout)
                .and(&x)
                .for_each(|g, &up, &v| *g = if v > zero { up } else { zero });
            return;
        }
        let y = rows_of(&self.out, n);
        let z = Zip::from(dx).and(&dout).and(&x).and(&y);
        match self.kind {
            Pointwise::Relu => unreachable!("handled above"),
            Pointwise::LeakyRelu { slope } => {
                let a = F::of(slope);
                z.for_each(|g, &up, &v, _| *g = if v > zero { up } else { a * up })
            }
            Pointwise::Elu { alpha } => {
                // For x ≤ 0, d/dx α(eˣ − 1) = αeˣ = y + α.
                let a = F::of(alpha);
                z.for_each(|g, &up, &v, &o| *g = if v > zero { up } else { up * (o + a) })
            }
            Pointwise::Sigmoid => z.for_each(|g, &up, _, &o| *g = up * o * (one - o)),
            Pointwise::Tanh => z.for_each(|g, &up, _, &o| *g = up * (one - o * o)),
        }
    }

    fn input_grad(&self) -> ArrayView2<'_, F> {
        rows_of(&self.dx, self.rows)
    }

    fn piece_signature(&self) -> u64 {
        if self.is_pass_through() {
            // The affine layer before it reports the kinks.
            return 0;
        }
        match self.kind {
            Pointwise::Relu | Pointwise::LeakyRelu { .. } | Pointwise::Elu { .. } => {
                hash_bits(self.output().iter().map(|&v| v > F::zero()))
            }
            Pointwise::Sigmoid | Pointwise::Tanh => 0,
        }
    }

    fn set_input_rectified(&mut self) {
        self.rectified_input = true;
    }

    fn passes_input_through(&self) -> bool {
        self.is_pass_through()
    }
}

/// Parametric ReLU (He et al. 2015): `y = x` if x > 0 else `a_j x`, one learned slope per unit,
/// initialised to 0.25 and not weight-decayed (as in the paper).
///
/// Backward: `∂L/∂a_j = Σ_i dout_ij x_ij [x_ij ≤ 0]`.
pub struct Prelu<F: Real> {
    pub slope: Array1<F>,
    dslope: Array1<F>,
    out: Array2<F>,
    dx: Array2<F>,
    rows: usize,
}

impl<F: Real> Prelu<F> {
    pub fn new(slope: Array1<F>) -> Self {
        Prelu {
            dslope: Array1::zeros(slope.len()),
            slope,
            out: Array2::zeros((0, 0)),
            dx: Array2::zeros((0, 0)),
            rows: 0,
        }
    }
}

impl<F: Real> Layer<F> for Prelu<F> {
    fn forward(&mut self, x: ArrayView2<'_, F>, _train: bool) {
        let (n, d) = x.dim();
        self.rows = n;
        ensure(&mut self.out, n, d);
        let zero = F::zero();
        for (mut y, xr) in rows_mut(&mut self.out, n)
            .rows_mut()
            .into_iter()
            .zip(x.rows())
        {
            Zip::from(&mut y)
                .and(&xr)
                .and(&self.slope)
                .for_each(|y, &v, &a| *y = if v > zero { v } else { a * v });
        }
    }

    fn output(&self) -> ArrayView2<'_, F> {
        rows_of(&self.out, self.rows)
    }

    fn backward(&mut self, x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, need_dx: bool) {
        let (n, d) = dout.dim();
        let zero = F::zero();
        self.dslope.fill(zero);
        for (up, xr) in dout.rows().into_iter().zip(x.rows()) {
            Zip::from(&mut self.dslope)
                .and(&up)
                .and(&xr)
                .for_each(|ds, &g, &v| {
                    if v <= zero {
                        *ds += g * v
                    }
                });
        }
        if need_dx {
            ensure(&mut self.dx, n, d);
            let mut dx = rows_mut(&mut self.dx, n);
            for ((mut g, up), xr) in dx.rows_mut().into_iter().zip(dout.rows()).zip(x.rows()) {
                Zip::from(&mut g)
                    .and(&up)
                    .and(&xr)
                    .and(&self.slope)
                    .for_each(|g, &u, &v, &a| *g = if v > zero { u } else { a * u });
            }
        }
    }

    fn input_grad(&self) -> ArrayView2<'_, F> {
        rows_of(&self.dx, self.rows)
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, F>)) {
        f(ParamMut {
            name: "weight",
            value: self.slope.as_slice_mut().expect("standard layout"),
            grad: self.dslope.as_slice().expect("standard layout"),
            decay: false,
        });
    }

    fn params(&self) -> Vec<ParamView<'_, F>> {
        // `weight` is the name torch.nn.PReLU(num_parameters) uses for its slopes.
        vec![ParamView {
            name: "weight",
            shape: vec![self.slope.len()],
            value: Cow::Borrowed(self.slope.as_slice().expect("standard layout")),
        }]
    }

    fn piece_signature(&self) -> u64 {
        hash_bits(self.output().iter().map(|&v| v > F::zero()))
    }
}

/// Maxout (Goodfellow et al. 2013) over groups of `pieces` consecutive inputs:
/// `y_j = max_p x_{j·k + p}`; preceded by an affine layer with `units·k` outputs.
///
/// Backward routes `dout_j` to the winning piece only.
pub struct Maxout<F: Real> {
    pub pieces: usize,
    argmax: Vec<u32>,
    out: Array2<F>,
    dx: Array2<F>,
    rows: usize,
}

impl<F: Real> Maxout<F> {
    pub fn new(pieces: usize) -> Self {
        assert!(pieces >= 1, "maxout needs at least one piece");
        Maxout {
            pieces,
            argmax: Vec::new(),
            out: Array2::zeros((0, 0)),
            dx: Array2::zeros((0, 0)),
            rows: 0,
        }
    }
}

impl<F: Real> Layer<F> for Maxout<F> {
    fn forward(&mut self, x: ArrayView2<'_, F>, _train: bool) {
        let (n, d) = x.dim();
        let k = self.pieces;
        let units = d / k;
        self.rows = n;
        ensure(&mut self.out, n, units);
        if self.argmax.len() < n * units {
            self.argmax.resize(n * units, 0);
        }
        let mut out = rows_mut(&mut self.out, n);
        for (i, xr) in x.rows().into_iter().enumerate() {
            for j in 0..units {
                let mut best = 0;
                let mut best_v = xr[j * k];
                for p in 1..k {
                    let v = xr[j * k + p];
                    if v > best_v {
                        best = p;
                        best_v = v;
                    }
                }
                out[[i, j]] = best_v;
                self.argmax[i * units + j] = best as u32;
            }
        }
    }

    fn output(&self) -> ArrayView2<'_, F> {
        rows_of(&self.out, self.rows)
    }

    fn backward(&mut self, x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, need_dx: bool) {
        if !need_dx {
            return;
        }
        let (n, d) = x.dim();
        let k = self.pieces;
        let units = d / k;
        ensure(&mut self.dx, n, d);
        let mut dx = rows_mut(&mut self.dx, n);
        dx.fill(F::zero());
        for i in 0..n {
            for j in 0..units {
                let p = self.argmax[i * units + j] as usize;
                dx[[i, j * k + p]] = dout[[i, j]];
            }
        }
    }

    fn input_grad(&self) -> ArrayView2<'_, F> {
        rows_of(&self.dx, self.rows)
    }

    fn piece_signature(&self) -> u64 {
        let n = self.rows * self.out.ncols();
        hash_bits(
            self.argmax[..n]
                .iter()
                .flat_map(|&p| (0..8).map(move |b| p >> b & 1 == 1)),
        )
    }
}

/// Inverted dropout (Srivastava et al. 2014): in training each unit is kept with probability
/// `1 − p` and scaled by `1/(1 − p)`, so evaluation is the identity.
pub struct Dropout<F: Real> {
    pub p: f64,
    rng: ChaCha8Rng,
    /// One uniform 32-bit draw per element, filled in bulk (a unit is kept when its draw is
    /// below `(1 − p)·2³²`): one ChaCha block per 16 units instead of one f64 per unit.
    draws: Vec<u32>,
    mask: Array2<F>,
    out: Array2<F>,
    dx: Array2<F>,
    rows: usize,
    trained: bool,
}

impl<F: Real> Dropout<F> {
    pub fn new(p: f64, seed: u64) -> Self {
        Dropout {
            p,
            rng: ChaCha8Rng::seed_from_u64(seed),
            draws: Vec::new(),
            mask: Array2::zeros((0, 0)),
            out: Array2::zeros((0, 0)),
            dx: Array2::zeros((0, 0)),
            rows: 0,
            trained: false,
        }
    }
}

impl<F: Real> Layer<F> for Dropout<F> {
    fn forward(&mut self, x: ArrayView2<'_, F>, train: bool) {
        let (n, d) = x.dim();
        self.rows = n;
        self.trained = train && self.p > 0.0;
        ensure(&mut self.out, n, d);
        let mut out = rows_mut(&mut self.out, n);
        if !self.trained {
            out.assign(&x);
            return;
        }
        ensure(&mut self.mask, n, d);
        let keep = 1.0 - self.p;
        let scale = F::of(1.0 / keep);
        // P(draw < threshold) = threshold / 2³² = keep, to 2⁻³².
        let threshold = (keep * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
        if self.draws.len() < n * d {
            self.draws.resize(n * d, 0);
        }
        let draws = &mut self.draws[..n * d];
        self.rng.fill(draws);
        let mut mask = rows_mut(&mut self.mask, n);
        for (m, &r) in mask.iter_mut().zip(draws.iter()) {
            *m = if r < threshold { scale } else { F::zero() };
        }
        Zip::from(out)
            .and(&x)
            .and(&mask)
            .for_each(|y, &v, &m| *y = v * m);
    }

    fn output(&self) -> ArrayView2<'_, F> {
        rows_of(&self.out, self.rows)
    }

    fn backward(&mut self, _x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, need_dx: bool) {
        if !need_dx {
            return;
        }
        let (n, d) = dout.dim();
        ensure(&mut self.dx, n, d);
        let mut dx = rows_mut(&mut self.dx, n);
        if self.trained {
            Zip::from(dx)
                .and(&dout)
                .and(rows_of(&self.mask, n))
                .for_each(|g, &u, &m| *g = u * m);
        } else {
            dx.assign(&dout);
        }
    }

    fn input_grad(&self) -> ArrayView2<'_, F> {
        rows_of(&self.dx, self.rows)
    }

    fn reseed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }
}

/// Batch normalisation's tensors, in [`Layer::params`] order (`torch.nn.BatchNorm1d`'s
/// state-dict names; its `num_batches_tracked` is not kept: the running averages here use a
/// fixed momentum).
pub const BATCH_NORM_TENSORS: [&str; 4] = ["weight", "bias", "running_mean", "running_var"];

/// Batch normalisation (Ioffe & Szegedy 2015) of each unit over the mini-batch:
/// `x̂ = (x − μ_B) / √(σ²_B + ε)`, `y = γ x̂ + β`, with μ_B and the biased σ²_B of the batch in
/// training. Evaluation uses running averages instead, updated by every training forward as
/// `r ← (1 − m) r + m s` with m = [`BatchNorm::MOMENTUM`] (the running variance from the
/// unbiased batch variance), as `torch.nn.BatchNorm1d` does; γ and β are not weight-decayed.
///
/// Backward in training (the batch statistics depend on every row):
/// `∂L/∂γ = Σ_i dout_i x̂_i`, `∂L/∂β = Σ_i dout_i`,
/// `∂L/∂x_i = γ/(N √(σ²_B + ε)) · (N dout_i − Σ_k dout_k − x̂_i Σ_k dout_k x̂_k)`;
/// in evaluation mode the statistics are constants and `∂L/∂x_i = γ dout_i / √(r_var + ε)`.
pub struct BatchNorm<F: Real> {
    pub gamma: Array1<F>,
    pub beta: Array1<F>,
    pub running_mean: Array1<F>,
    pub running_var: Array1<F>,
    dgamma: Array1<F>,
    dbeta: Array1<F>,
    /// `1 / √(σ² + ε)` per unit of the last forward (batch or running statistics).
    inv_std: Array1<F>,
    /// Per-unit scratch: the batch mean, then the sum of squared deviations (forward), and
    /// `γ / (N √(σ² + ε))` (backward).
    mean: Array1<F>,
    scratch: Array1<F>,
    xhat: Array2<F>,
    out: Array2<F>,
    dx: Array2<F>,
    rows: usize,
    trained: bool,
}

impl<F: Real> BatchNorm<F> {
    /// ε added to the variance (PyTorch's default).
    pub const EPSILON: f64 = 1e-5;
    /// Weight of the newest batch in the running averages (PyTorch's default).
    pub const MOMENTUM: f64 = 0.1;

    /// γ = 1, β = 0, running mean 0 and variance 1 (the identity in evaluation mode).
    pub fn new(units: usize) -> Self {
        BatchNorm {
            gamma: Array1::from_elem(units, F::one()),
            beta: Array1::zeros(units),
            running_mean: Array1::zeros(units),
            running_var: Array1::from_elem(units, F::one()),
            dgamma: Array1::zeros(units),
            dbeta: Array1::zeros(units),
            inv_std: Array1::zeros(units),
            mean: Array1::zeros(units),
            scratch: Array1::zeros(units),
            xhat: Array2::zeros((0, 0)),
            out: Array2::zeros((0, 0)),
            dx: Array2::zeros((0, 0)),
            rows: 0,
            trained: false,
        }
    }

    /// The tensors in [`BATCH_NORM_TENSORS`] order.
    fn tensors(&self) -> [&Array1<F>; 4] {
        [
            &self.gamma,
            &self.beta,
            &self.running_mean,
            &self.running_var,
        ]
    }
}

impl<F: Real> Layer<F> for BatchNorm<F> {
    fn forward(&mut self, x: ArrayView2<'_, F>, train: bool) {
        let (n, d) = x.dim();
        self.rows = n;
        self.trained = train;
        ensure(&mut self.xhat, n, d);
        ensure(&mut self.out, n, d);
        let eps = F::of(Self::EPSILON);
        if train {
            let count = F::of(n as f64);
            self.mean.fill(F::zero());
            for row in x.rows() {
                self.mean += &row;
            }
            self.mean.mapv_inplace(|s| s / count);
            let var = &mut self.scratch;
            var.fill(F::zero());
            for row in x.rows() {
                Zip::from(&mut *var)
                    .and(&row)
                    .and(&self.mean)
                    .for_each(|v, &xi, &m| *v += (xi - m) * (xi - m));
            }
            let m = F::of(Self::MOMENTUM);
            let unbiased = F::of(n.saturating_sub(1).max(1) as f64);
            Zip::from(&mut self.running_mean)
                .and(&mut self.running_var)
                .and(&self.mean)
                .and(&*var)
                .for_each(|rm, rv, &mu, &ss| {
                    *rm = (F::one() - m) * *rm + m * mu;
                    *rv = (F::one() - m) * *rv + m * (ss / unbiased);
                });
            Zip::from(&mut self.inv_std)
                .and(&*var)
                .for_each(|s, &ss| *s = F::one() / (ss / count + eps).sqrt());
        } else {
            Zip::from(&mut self.inv_std)
                .and(&self.running_var)
                .for_each(|s, &v| *s = F::one() / (v + eps).sqrt());
            self.mean.assign(&self.running_mean);
        }
        let mut xhat = rows_mut(&mut self.xhat, n);
        let mut out = rows_mut(&mut self.out, n);
        for ((mut h, mut y), xr) in xhat
            .rows_mut()
            .into_iter()
            .zip(out.rows_mut())
            .zip(x.rows())
        {
            Zip::from(&mut h)
                .and(&xr)
                .and(&self.mean)
                .and(&self.inv_std)
                .for_each(|h, &v, &mu, &s| *h = (v - mu) * s);
            Zip::from(&mut y)
                .and(&h)
                .and(&self.gamma)
                .and(&self.beta)
                .for_each(|y, &h, &g, &b| *y = g * h + b);
        }
    }

    fn output(&self) -> ArrayView2<'_, F> {
        rows_of(&self.out, self.rows)
    }

    fn backward(&mut self, _x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, need_dx: bool) {
        let (n, d) = dout.dim();
        let xhat = rows_of(&self.xhat, n);
        self.dgamma.fill(F::zero());
        self.dbeta.fill(F::zero());
        for (up, h) in dout.rows().into_iter().zip(xhat.rows()) {
            Zip::from(&mut self.dgamma)
                .and(&mut self.dbeta)
                .and(&up)
                .and(&h)
                .for_each(|dg, db, &g, &h| {
                    *dg += g * h;
                    *db += g;
                });
        }
        if !need_dx {
            return;
        }
        ensure(&mut self.dx, n, d);
        let mut dx = rows_mut(&mut self.dx, n);
        let count = F::of(n as f64);
        let per_row = if self.trained { count } else { F::one() };
        Zip::from(&mut self.scratch)
            .and(&self.gamma)
            .and(&self.inv_std)
            .for_each(|c, &ga, &s| *c = ga * s / per_row);
        let coef = &self.scratch;
        // Σ_k dout_k = ∂L/∂β and Σ_k dout_k x̂_k = ∂L/∂γ: the sums above serve both.
        for ((mut g, up), h) in dx.rows_mut().into_iter().zip(dout.rows()).zip(xhat.rows()) {
            if self.trained {
                Zip::from(&mut g)
                    .and(&up)
                    .and(&h)
                    .and(coef)
                    .and(&self.dbeta)
                    .and(&self.dgamma)
                    .for_each(|g, &u, &h, &c, &sum, &sum_h| *g = c * (count * u - sum - h * sum_h));
            } else {
                Zip::from(&mut g)
                    .and(&up)
                    .and(coef)
                    .for_each(|g, &u, &c| *g = c * u);
            }
        }
    }

    fn input_grad(&self) -> ArrayView2<'_, F> {
        rows_of(&self.dx, self.rows)
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, F>)) {
        f(ParamMut {
            name: "weight",
            value: self.gamma.as_slice_mut().expect("standard layout"),
            grad: self.dgamma.as_slice().expect("standard layout"),
            decay: false,
        });
        f(ParamMut {
            name: "bias",
            value: self.beta.as_slice_mut().expect("standard layout"),
            grad: self.dbeta.as_slice().expect("standard layout"),
            decay: false,
        });
    }

    fn params(&self) -> Vec<ParamView<'_, F>> {
        BATCH_NORM_TENSORS
            .into_iter()
            .zip(self.tensors())
            .map(|(name, t)| ParamView {
                name,
                shape: vec![t.len()],
                value: Cow::Borrowed(t.as_slice().expect("standard layout")),
            })
            .collect()
    }

    fn load_params(&mut self, values: &mut dyn Iterator<Item = &[F]>) {
        for tensor in [
            &mut self.gamma,
            &mut self.beta,
            &mut self.running_mean,
            &mut self.running_var,
        ] {
            if let Some(v) = values.next() {
                tensor
                    .as_slice_mut()
                    .expect("standard layout")
                    .copy_from_slice(v);
            }
        }
    }

    fn visit_buffers(&mut self, f: &mut dyn FnMut(&mut [F])) {
        f(self.running_mean.as_slice_mut().expect("standard layout"));
        f(self.running_var.as_slice_mut().expect("standard layout"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn batch_norm_normalises_the_batch_and_evaluates_with_running_averages() {
        let x = array![[1.0f64, 10.0], [3.0, 10.0], [5.0, 16.0], [7.0, 16.0]];
        let mut bn = BatchNorm::<f64>::new(2);
        bn.forward(x.view(), true);
        let y = bn.output().to_owned();
        for j in 0..2 {
            let col = y.column(j);
            let mean = col.sum() / 4.0;
            let var = col.mapv(|v| (v - mean) * (v - mean)).sum() / 4.0;
            assert!(mean.abs() < 1e-12, "column {j} mean {mean}");
            // Biased batch variance σ² = 5 and 9: x̂ has variance σ² / (σ² + ε).
            assert!((var - 1.0).abs() < 1e-5, "column {j} variance {var}");
        }
        // r ← 0.9 r + 0.1 s, from r = (0, 1), with the unbiased variances 20/3 and 12.
        assert!((bn.running_mean[0] - 0.4).abs() < 1e-12);
        assert!((bn.running_mean[1] - 1.3).abs() < 1e-12);
        assert!((bn.running_var[0] - (0.9 + 0.1 * 20.0 / 3.0)).abs() < 1e-12);
        assert!((bn.running_var[1] - (0.9 + 0.1 * 12.0)).abs() < 1e-12);
        bn.forward(x.view(), false);
        let expected = (x[[0, 0]] - bn.running_mean[0]) / (bn.running_var[0] + 1e-5).sqrt();
        assert!((bn.output()[[0, 0]] - expected).abs() < 1e-12);
    }
}
