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

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wb_linear::Real;

/// One trainable tensor with its gradient, as the optimiser sees it.
pub struct ParamMut<'a, F> {
    /// `weight`, `bias` or `slope` (the PyTorch state-dict suffix).
    pub name: &'static str,
    pub value: &'a mut [F],
    pub grad: &'a [F],
    /// Whether L2 regularisation `λ Σ W²` applies (weights only; not biases or PReLU slopes).
    pub decay: bool,
}

/// One tensor for saving: name suffix, shape (PyTorch convention) and row-major data.
pub struct ParamView<'a, F> {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub value: &'a [F],
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
    /// Visits each trainable tensor with its gradient, in a fixed order.
    fn visit_params(&mut self, _f: &mut dyn FnMut(ParamMut<'_, F>)) {}
    /// The trainable tensors, in the same order as `visit_params`.
    fn params(&self) -> Vec<ParamView<'_, F>> {
        Vec::new()
    }
    /// A fingerprint of which linear piece each unit is on (ReLU side, maxout winner...), so a
    /// gradient check can tell when a finite-difference step crossed a kink.
    fn piece_signature(&self) -> u64 {
        0
    }
    /// Restarts the layer's random stream (dropout), so repeated forwards draw the same mask.
    fn reseed(&mut self, _seed: u64) {}
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

/// `c ← α a b + β c`, computed as `cᵀ ← α bᵀ aᵀ + β cᵀ` when `c` has fewer rows than columns.
///
/// matrixmultiply (ndarray's GEMM) splits only the rows of `c` between its threads, and packs
/// each block of `b` on one thread while the others wait. Putting the longer side of `c` on the
/// row axis therefore gives the threads more, evener row blocks and makes the serially packed
/// operand the smaller one. For the 3072→500 layer with batch 200 this takes the forward product
/// from ≈ 7 to ≈ 5.5 ms and `∂W` from ≈ 5.6 to ≈ 4.6 ms on 2 threads (crates/mlp/BENCH.md).
/// Both orientations do the same multiply-adds; only the blocking (and so the rounding of the
/// sums) can differ, and the choice depends on the shapes alone, so results stay deterministic.
pub(crate) fn gemm_long_rows<F: Real>(
    alpha: F,
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    beta: F,
    c: &mut ArrayViewMut2<'_, F>,
) {
    if c.nrows() < c.ncols() {
        let mut ct = c.view_mut().reversed_axes();
        general_mat_mul(alpha, &b.t(), &a.t(), beta, &mut ct);
    } else {
        general_mat_mul(alpha, a, b, beta, c);
    }
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

/// Fully connected layer `y = x Wᵀ + b`, W stored as (out x in) like `torch.nn.Linear`.
///
/// Backward: `∂L/∂W = doutᵀ x`, `∂L/∂b = Σ_rows dout`, `∂L/∂x = dout W`.
pub struct Affine<F: Real> {
    pub weight: Array2<F>,
    pub bias: Array1<F>,
    dweight: Array2<F>,
    dbias: Array1<F>,
    out: Array2<F>,
    dx: Array2<F>,
    rows: usize,
}

impl<F: Real> Affine<F> {
    pub fn new(weight: Array2<F>, bias: Array1<F>) -> Self {
        assert_eq!(weight.nrows(), bias.len(), "one bias per output unit");
        Affine {
            dweight: Array2::zeros(weight.dim()),
            dbias: Array1::zeros(bias.len()),
            weight,
            bias,
            out: Array2::zeros((0, 0)),
            dx: Array2::zeros((0, 0)),
            rows: 0,
        }
    }
}

impl<F: Real> Layer<F> for Affine<F> {
    fn forward(&mut self, x: ArrayView2<'_, F>, _train: bool) {
        let n = x.nrows();
        self.rows = n;
        ensure(&mut self.out, n, self.weight.nrows());
        let mut out = rows_mut(&mut self.out, n);
        // The bias goes in first so the GEMM adds onto it (beta = 1): no separate pass.
        out.assign(
            &self
                .bias
                .broadcast((n, self.bias.len()))
                .expect("bias width"),
        );
        gemm_long_rows(F::one(), &x, &self.weight.t(), F::one(), &mut out);
    }

    fn output(&self) -> ArrayView2<'_, F> {
        rows_of(&self.out, self.rows)
    }

    fn backward(&mut self, x: ArrayView2<'_, F>, dout: ArrayView2<'_, F>, need_dx: bool) {
        gemm_long_rows(
            F::one(),
            &dout.t(),
            &x,
            F::zero(),
            &mut self.dweight.view_mut(),
        );
        self.dbias.fill(F::zero());
        for row in dout.rows() {
            Zip::from(&mut self.dbias)
                .and(&row)
                .for_each(|b, &d| *b += d);
        }
        if need_dx {
            let n = dout.nrows();
            ensure(&mut self.dx, n, self.weight.ncols());
            let mut dx = rows_mut(&mut self.dx, n);
            gemm_long_rows(F::one(), &dout, &self.weight.view(), F::zero(), &mut dx);
        }
    }

    fn input_grad(&self) -> ArrayView2<'_, F> {
        rows_of(&self.dx, self.rows)
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, F>)) {
        f(ParamMut {
            name: "weight",
            value: self.weight.as_slice_mut().expect("standard layout"),
            grad: self.dweight.as_slice().expect("standard layout"),
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
                shape: vec![self.weight.nrows(), self.weight.ncols()],
                value: self.weight.as_slice().expect("standard layout"),
            },
            ParamView {
                name: "bias",
                shape: vec![self.bias.len()],
                value: self.bias.as_slice().expect("standard layout"),
            },
        ]
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
}

impl<F: Real> Activation<F> {
    pub fn new(kind: Pointwise) -> Self {
        Activation {
            kind,
            out: Array2::zeros((0, 0)),
            dx: Array2::zeros((0, 0)),
            rows: 0,
        }
    }
}

impl<F: Real> Layer<F> for Activation<F> {
    fn forward(&mut self, x: ArrayView2<'_, F>, _train: bool) {
        let (n, d) = x.dim();
        self.rows = n;
        ensure(&mut self.out, n, d);
        let out = rows_mut(&mut self.out, n);
        let zero = F::zero();
        let one = F::one();
        let z = Zip::from(out).and(&x);
        match self.kind {
            Pointwise::Relu => z.for_each(|y, &v| *y = if v > zero { v } else { zero }),
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
        let y = rows_of(&self.out, n);
        let zero = F::zero();
        let one = F::one();
        let z = Zip::from(dx).and(&dout).and(&x).and(&y);
        match self.kind {
            Pointwise::Relu => z.for_each(|g, &up, &v, _| *g = if v > zero { up } else { zero }),
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
        match self.kind {
            Pointwise::Relu | Pointwise::LeakyRelu { .. } | Pointwise::Elu { .. } => {
                hash_bits(self.output().iter().map(|&v| v > F::zero()))
            }
            Pointwise::Sigmoid | Pointwise::Tanh => 0,
        }
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
            value: self.slope.as_slice().expect("standard layout"),
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
        let rng = &mut self.rng;
        let mut mask = rows_mut(&mut self.mask, n);
        mask.iter_mut().for_each(|m| {
            *m = if rng.gen::<f64>() < keep {
                scale
            } else {
                F::zero()
            }
        });
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
