//! The fast path: complex separable convolution in `f32`, 32 columns at a time.
//!
//! With σx = σy the Gabor kernel on its square support factors exactly:
//! g(x, y) = [c e^{−x²/2σ²} e^{i ωx x}] · [e^{−y²/2σ²} e^{i ωy y}], ωx = 2πf cos θ,
//! ωy = 2πf sin θ, c = 1/(2πσ²), for x, y ∈ [−r, r]. So a (2r+1)² complex kernel becomes a
//! complex row filter (real image in) followed by a complex column filter (complex in), for
//! any θ. Further savings, all exact up to rounding:
//! - each 1-D filter is conjugate-symmetric, h(−d) = conj h(d), so the taps at ±d fold:
//!   h(d) u(t−d) + h(−d) u(t+d) = a (u₋ + u₊) + i b (u₋ − u₊). That halves the
//!   multiply-adds and moves the other half to additions, which run on separate pipes;
//! - θ and π − θ have conjugate row filters (ωx flips sign), and the row pass of a real image
//!   by a conjugate filter is the conjugate result, so they share one row pass;
//! - θ = π/2 has a real row filter (ωx = 0) and θ = 0 a real column filter (ωy = 0).
//!
//! Every pass works on 32 contiguous columns with the accumulators in registers, through the
//! 8-lane operations of [`Simd`]; an AVX2+FMA build is selected at run time on x86-64.

use super::kernel::{reflect_index, sigma_for};
use super::simd::Simd;

/// Columns processed together; the image width is rounded up to a multiple of it.
pub(crate) const LANES: usize = 32;

/// One half of a conjugate-symmetric 1-D filter h(d) = a_d + i b_d, h(−d) = conj h(d):
/// the real centre tap a_0 (b_0 = 0) and a_d, b_d for d = 1 ..= r.
#[derive(Debug, Clone)]
pub(crate) struct Half {
    pub centre: f32,
    pub re: Vec<f32>,
    pub im: Vec<f32>,
}

impl Half {
    fn radius(&self) -> usize {
        self.re.len()
    }
}

/// The row filter of a group.
#[derive(Debug, Clone)]
pub(crate) struct RowFilter {
    pub taps: Half,
    /// No imaginary part (θ = π/2): the row output is real.
    pub real: bool,
}

/// How a filter's column pass combines the (possibly complex) row-pass output R.
#[derive(Debug, Clone)]
pub(crate) enum ColumnPass {
    /// Real R: re = a_0 R + Σ a_d (R₋ + R₊), im = Σ b_d (R₋ − R₊).
    RealInput(Half),
    /// Real column filter (b = 0): re and im of R each filtered by a; im negated when the
    /// row pass is shared with the conjugate filter.
    RealFilter { taps: Half, negate_imag: bool },
    /// Both complex; `sign` = −1 when the row output is the conjugate of this filter's:
    /// re = a_0 Rre + Σ a_d (Rre₋ + Rre₊) − s b_d (Rim₋ − Rim₊),
    /// im = s a_0 Rim + Σ s a_d (Rim₋ + Rim₊) + b_d (Rre₋ − Rre₊).
    Complex {
        taps: Half,
        /// −s b_d
        minus_sb: Vec<f32>,
        /// s a_d
        sa: Vec<f32>,
        sign: f32,
    },
}

/// One bank filter: its output slot and its column pass.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub filter: usize,
    pub column: ColumnPass,
}

/// Filters sharing one row pass.
#[derive(Debug, Clone)]
pub(crate) struct RowGroup {
    pub row: RowFilter,
    pub members: Vec<Member>,
}

/// A full 2-D complex kernel in correlation order (flipped), for the direct method.
#[derive(Debug, Clone)]
pub(crate) struct DirectFilter {
    pub radius: usize,
    pub re: Vec<f32>,
    pub im: Vec<f32>,
}

#[derive(Debug, Clone)]
pub(crate) enum Plan {
    Separable(Vec<RowGroup>),
    Direct(Vec<DirectFilter>),
}

/// One bank filter as the fast path needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FilterSpec {
    pub frequency: f64,
    pub theta: f64,
    pub bandwidth: f64,
    pub radius: usize,
}

/// scale · e^{−d²/2σ²} · e^{i ω d} for d = 0 ..= r, in f64: (centre, re, im) with d ≥ 1.
fn half_taps(radius: usize, sigma: f64, omega: f64, scale: f64) -> (f64, Vec<f64>, Vec<f64>) {
    let (re, im) = (1..=radius)
        .map(|d| {
            let d = d as f64;
            let envelope = (-0.5 * d * d / (sigma * sigma)).exp() * scale;
            let (s, c) = (omega * d).sin_cos();
            (envelope * c, envelope * s)
        })
        .unzip();
    (scale, re, im)
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn half(centre: f64, re: &[f64], im: &[f64]) -> Half {
    Half {
        centre: centre as f32,
        re: to_f32(re),
        im: to_f32(im),
    }
}

/// A filter whose imaginary taps are all below this fraction of its largest tap is real:
/// cos(π/2) ≈ 6e-17 leaves imaginary parts ~1e-16 that f32 could not represent anyway.
const REAL_TOLERANCE: f64 = 1e-9;

fn is_real(centre: f64, re: &[f64], im: &[f64]) -> bool {
    let peak = re
        .iter()
        .chain(im)
        .fold(centre.abs(), |m, v| m.max(v.abs()));
    im.iter().all(|v| v.abs() <= REAL_TOLERANCE * peak)
}

pub(crate) fn separable_plan(filters: &[FilterSpec]) -> Vec<RowGroup> {
    struct Key {
        group: usize,
        frequency: f64,
        bandwidth: f64,
        radius: usize,
        omega_x: f64,
    }
    let mut groups: Vec<RowGroup> = Vec::new();
    let mut keys: Vec<Key> = Vec::new();
    for (index, spec) in filters.iter().enumerate() {
        let sigma = sigma_for(spec.frequency, spec.bandwidth);
        let (st, ct) = spec.theta.sin_cos();
        let omega_x = 2.0 * std::f64::consts::PI * spec.frequency * ct;
        let omega_y = 2.0 * std::f64::consts::PI * spec.frequency * st;
        let norm = 1.0 / (2.0 * std::f64::consts::PI * sigma * sigma);
        let (row_c, row_re, row_im) = half_taps(spec.radius, sigma, omega_x, norm);
        let row_real = is_real(row_c, &row_re, &row_im);
        // Reuse the row pass of an earlier filter with the same envelope and ±ωx.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300);
        let shared = keys.iter().find_map(|k| {
            let other = &groups[k.group].row;
            if k.frequency != spec.frequency
                || k.bandwidth != spec.bandwidth
                || k.radius != spec.radius
                || other.real != row_real
            {
                None
            } else if row_real || close(k.omega_x, omega_x) {
                Some((k.group, false))
            } else if close(k.omega_x, -omega_x) {
                Some((k.group, true))
            } else {
                None
            }
        });
        let (group, conjugate) = match shared {
            Some(found) => found,
            None => {
                groups.push(RowGroup {
                    row: RowFilter {
                        taps: half(row_c, &row_re, &row_im),
                        real: row_real,
                    },
                    members: Vec::new(),
                });
                keys.push(Key {
                    group: groups.len() - 1,
                    frequency: spec.frequency,
                    bandwidth: spec.bandwidth,
                    radius: spec.radius,
                    omega_x,
                });
                (groups.len() - 1, false)
            }
        };
        let (col_c, col_re, col_im) = half_taps(spec.radius, sigma, omega_y, 1.0);
        let taps = half(col_c, &col_re, &col_im);
        let column = if groups[group].row.real {
            ColumnPass::RealInput(taps)
        } else if is_real(col_c, &col_re, &col_im) {
            ColumnPass::RealFilter {
                taps,
                negate_imag: conjugate,
            }
        } else {
            let s = if conjugate { -1.0 } else { 1.0 };
            ColumnPass::Complex {
                minus_sb: col_im.iter().map(|&b| (-s * b) as f32).collect(),
                sa: col_re.iter().map(|&a| (s * a) as f32).collect(),
                sign: s as f32,
                taps,
            }
        };
        groups[group].members.push(Member {
            filter: index,
            column,
        });
    }
    groups
}

pub(crate) fn direct_plan(filters: &[FilterSpec], kernels: &[super::Kernel]) -> Vec<DirectFilter> {
    filters
        .iter()
        .zip(kernels)
        .map(|(spec, k)| DirectFilter {
            radius: spec.radius,
            // Correlation order = the kernel reversed in both axes.
            re: k.real.iter().rev().map(|&v| v as f32).collect(),
            im: k.imag.iter().rev().map(|&v| v as f32).collect(),
        })
        .collect()
}

/// Geometry of one image size: the reflect-padded buffer and where everything sits in it.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub height: usize,
    pub width: usize,
    /// Width rounded up to [`LANES`]; the extra columns are computed and ignored.
    pub width_padded: usize,
    /// Reflect padding on every side (the largest radius in the bank).
    pub pad: usize,
    /// Padded buffer row length, `width_padded + 2 pad`.
    pub stride: usize,
    /// Source column in the image for each padded column.
    col_map: Vec<u32>,
    /// Source row in the image for each padded row.
    row_map: Vec<u32>,
}

impl Layout {
    pub fn new(height: usize, width: usize, pad: usize) -> Layout {
        let width_padded = width.div_ceil(LANES).max(1) * LANES;
        let stride = width_padded + 2 * pad;
        let col_map = (0..stride)
            .map(|px| reflect_index(px as isize - pad as isize, width) as u32)
            .collect();
        let row_map = (0..height + 2 * pad)
            .map(|py| reflect_index(py as isize - pad as isize, height) as u32)
            .collect();
        Layout {
            height,
            width,
            width_padded,
            pad,
            stride,
            col_map,
            row_map,
        }
    }

    pub fn padded_len(&self) -> usize {
        (self.height + 2 * self.pad) * self.stride
    }

    pub fn row_buffer_len(&self) -> usize {
        (self.height + 2 * self.pad) * self.width_padded
    }

    /// Fills `padded` from a gray image (`height x width`, row-major) with reflect borders.
    pub fn pad_gray(&self, gray_at: impl Fn(usize, usize) -> f32, padded: &mut [f32]) {
        let (h, w, pad, stride) = (self.height, self.width, self.pad, self.stride);
        for y in 0..h {
            let row = &mut padded[(pad + y) * stride..(pad + y + 1) * stride];
            for x in 0..w {
                row[pad + x] = gray_at(y, x);
            }
            for px in (0..pad).chain(pad + w..stride) {
                row[px] = row[pad + self.col_map[px] as usize];
            }
        }
        for py in (0..pad).chain(pad + h..h + 2 * pad) {
            let src = (pad + self.row_map[py] as usize) * stride;
            padded.copy_within(src..src + stride, py * stride);
        }
    }
}

/// Vectors per run of [`LANES`] columns.
const VECTORS: usize = LANES / 8;

/// One run of [`LANES`] columns as 8-lane vectors. Wide enough that the complex passes keep
/// 8 independent accumulators in flight, which hides the 4-cycle FMA latency (with 16
/// columns the loops were latency-bound at about half the FMA throughput).
#[derive(Clone, Copy)]
struct Run<V: Copy>([V; VECTORS]);

impl<V: Copy> Run<V> {
    #[inline(always)]
    fn zero<S: Simd<V = V>>(s: S) -> Self {
        Run([s.zero(); VECTORS])
    }

    #[inline(always)]
    fn load<S: Simd<V = V>>(s: S, buf: &[f32], start: usize) -> Self {
        let w: &[f32; LANES] = buf[start..start + LANES]
            .try_into()
            .expect("window inside buffer");
        Run(std::array::from_fn(|i| s.load(&w[8 * i..8 * i + 8])))
    }

    /// self + k · x
    #[inline(always)]
    fn mul_add<S: Simd<V = V>>(self, s: S, k: V, x: Run<V>) -> Self {
        Run(std::array::from_fn(|i| s.mul_add(k, x.0[i], self.0[i])))
    }

    #[inline(always)]
    fn add<S: Simd<V = V>>(self, s: S, x: Run<V>) -> Self {
        Run(std::array::from_fn(|i| s.add(self.0[i], x.0[i])))
    }

    #[inline(always)]
    fn sub<S: Simd<V = V>>(self, s: S, x: Run<V>) -> Self {
        Run(std::array::from_fn(|i| s.sub(self.0[i], x.0[i])))
    }

    #[inline(always)]
    fn scale<S: Simd<V = V>>(self, s: S, k: V) -> Self {
        Run(self.0.map(|v| s.mul(k, v)))
    }

    /// |self + i im|
    #[inline(always)]
    fn magnitude<S: Simd<V = V>>(self, s: S, im: Run<V>) -> Self {
        Run(std::array::from_fn(|i| {
            s.sqrt(s.mul_add(self.0[i], self.0[i], s.mul(im.0[i], im.0[i])))
        }))
    }

    #[inline(always)]
    fn store<S: Simd<V = V>>(self, s: S, out: &mut [f32]) {
        let out: &mut [f32; LANES] = (&mut out[..LANES]).try_into().expect("run inside buffer");
        for (i, v) in self.0.into_iter().enumerate() {
            s.store(v, &mut out[8 * i..8 * i + 8]);
        }
    }
}

/// Where a filter's response goes: `height x width_padded` planes.
pub(crate) enum Output<'a> {
    /// |re + i im| only (feature extraction).
    Magnitude(&'a mut [f32]),
    /// Real and imaginary parts (tests, inspection).
    Complex(&'a mut [f32], &'a mut [f32]),
}

impl Output<'_> {
    #[inline(always)]
    fn put<S: Simd>(&mut self, s: S, at: usize, re: Run<S::V>, im: Run<S::V>) {
        match self {
            Output::Magnitude(mag) => {
                re.magnitude(s, im).store(s, &mut mag[at..at + LANES]);
            }
            Output::Complex(out_re, out_im) => {
                re.store(s, &mut out_re[at..at + LANES]);
                im.store(s, &mut out_im[at..at + LANES]);
            }
        }
    }
}

/// Row pass of the padded image for image rows −r .. H + r: writes `(H + 2r) x width_padded`
/// values into `out_re` (and `out_im` unless the filter is real).
#[inline(always)]
pub(crate) fn row_pass<S: Simd>(
    s: S,
    layout: &Layout,
    padded: &[f32],
    row: &RowFilter,
    out_re: &mut [f32],
    out_im: &mut [f32],
) {
    let taps = &row.taps;
    let r = taps.radius();
    let rows = layout.height + 2 * r;
    let wp = layout.width_padded;
    let first_row = layout.pad - r;
    let centre = s.splat(taps.centre);
    for i in 0..rows {
        let row_start = (first_row + i) * layout.stride + layout.pad;
        for x0 in (0..wp).step_by(LANES) {
            // Window centre: image column x0 of this row.
            let c = row_start + x0;
            let dst = i * wp + x0;
            let mut acc_re = Run::zero(s).mul_add(s, centre, Run::load(s, padded, c));
            if row.real {
                for (d, &a) in taps.re.iter().enumerate() {
                    let d = d + 1;
                    let sum = Run::load(s, padded, c - d).add(s, Run::load(s, padded, c + d));
                    acc_re = acc_re.mul_add(s, s.splat(a), sum);
                }
            } else {
                let mut acc_im = Run::zero(s);
                for (d, (&a, &b)) in taps.re.iter().zip(&taps.im).enumerate() {
                    let d = d + 1;
                    let left = Run::load(s, padded, c - d);
                    let right = Run::load(s, padded, c + d);
                    acc_re = acc_re.mul_add(s, s.splat(a), left.add(s, right));
                    acc_im = acc_im.mul_add(s, s.splat(b), left.sub(s, right));
                }
                acc_im.store(s, &mut out_im[dst..dst + LANES]);
            }
            acc_re.store(s, &mut out_re[dst..dst + LANES]);
        }
    }
}

/// Column pass of one filter over the row-pass output (`(H + 2r) x width_padded`, buffer
/// row `y + r` holding image row `y`) into `out`.
#[inline(always)]
pub(crate) fn column_pass<S: Simd>(
    s: S,
    layout: &Layout,
    row_re: &[f32],
    row_im: &[f32],
    column: &ColumnPass,
    out: &mut Output<'_>,
) {
    let wp = layout.width_padded;
    for y in 0..layout.height {
        for x0 in (0..wp).step_by(LANES) {
            // Index of image row y, column x0 in the row buffers.
            let at = |r: usize| (y + r) * wp + x0;
            let (acc_re, acc_im) = match column {
                ColumnPass::RealInput(taps) => {
                    let c = at(taps.radius());
                    let mut acc_re =
                        Run::zero(s).mul_add(s, s.splat(taps.centre), Run::load(s, row_re, c));
                    let mut acc_im = Run::zero(s);
                    for (d, (&a, &b)) in taps.re.iter().zip(&taps.im).enumerate() {
                        let d = (d + 1) * wp;
                        let up = Run::load(s, row_re, c - d);
                        let down = Run::load(s, row_re, c + d);
                        acc_re = acc_re.mul_add(s, s.splat(a), up.add(s, down));
                        acc_im = acc_im.mul_add(s, s.splat(b), up.sub(s, down));
                    }
                    (acc_re, acc_im)
                }
                ColumnPass::RealFilter { taps, negate_imag } => {
                    let c = at(taps.radius());
                    let k = s.splat(taps.centre);
                    let mut acc_re = Run::zero(s).mul_add(s, k, Run::load(s, row_re, c));
                    let mut acc_im = Run::zero(s).mul_add(s, k, Run::load(s, row_im, c));
                    for (d, &a) in taps.re.iter().enumerate() {
                        let d = (d + 1) * wp;
                        let k = s.splat(a);
                        let re = Run::load(s, row_re, c - d).add(s, Run::load(s, row_re, c + d));
                        let im = Run::load(s, row_im, c - d).add(s, Run::load(s, row_im, c + d));
                        acc_re = acc_re.mul_add(s, k, re);
                        acc_im = acc_im.mul_add(s, k, im);
                    }
                    if *negate_imag {
                        acc_im = acc_im.scale(s, s.splat(-1.0));
                    }
                    (acc_re, acc_im)
                }
                ColumnPass::Complex {
                    taps,
                    minus_sb,
                    sa,
                    sign,
                } => {
                    let c = at(taps.radius());
                    let mut acc_re =
                        Run::zero(s).mul_add(s, s.splat(taps.centre), Run::load(s, row_re, c));
                    let mut acc_im = Run::zero(s).mul_add(
                        s,
                        s.splat(taps.centre * sign),
                        Run::load(s, row_im, c),
                    );
                    // One vector at a time so only its 4 loads are live next to the 8
                    // accumulators and 4 coefficients (all at once spills registers).
                    for d in 0..taps.re.len() {
                        let off = (d + 1) * wp;
                        let (k1, k2) = (s.splat(taps.re[d]), s.splat(minus_sb[d]));
                        let (k3, k4) = (s.splat(sa[d]), s.splat(taps.im[d]));
                        for i in 0..VECTORS {
                            let v = |buf: &[f32], at: usize| s.load(&buf[at + 8 * i..]);
                            let (re_up, re_down) = (v(row_re, c - off), v(row_re, c + off));
                            let (im_up, im_down) = (v(row_im, c - off), v(row_im, c + off));
                            let re = &mut acc_re.0[i];
                            *re = s.mul_add(k1, s.add(re_up, re_down), *re);
                            *re = s.mul_add(k2, s.sub(im_up, im_down), *re);
                            let im = &mut acc_im.0[i];
                            *im = s.mul_add(k3, s.add(im_up, im_down), *im);
                            *im = s.mul_add(k4, s.sub(re_up, re_down), *im);
                        }
                    }
                    (acc_re, acc_im)
                }
            };
            out.put(s, y * wp + x0, acc_re, acc_im);
        }
    }
}

/// Direct 2-D complex correlation with the flipped kernel (= true convolution), for
/// comparison: 2 multiply-adds per tap, (2r + 1)² taps.
#[inline(always)]
pub(crate) fn direct_pass<S: Simd>(
    s: S,
    layout: &Layout,
    padded: &[f32],
    filter: &DirectFilter,
    out: &mut Output<'_>,
) {
    let r = filter.radius;
    let size = 2 * r + 1;
    let offset = layout.pad - r;
    for y in 0..layout.height {
        for x0 in (0..layout.width_padded).step_by(LANES) {
            let mut acc_re = Run::zero(s);
            let mut acc_im = Run::zero(s);
            for jy in 0..size {
                let base = (y + offset + jy) * layout.stride + offset + x0;
                let k_re = &filter.re[jy * size..(jy + 1) * size];
                let k_im = &filter.im[jy * size..(jy + 1) * size];
                for (jx, (&a, &b)) in k_re.iter().zip(k_im).enumerate() {
                    let x = Run::load(s, padded, base + jx);
                    acc_re = acc_re.mul_add(s, s.splat(a), x);
                    acc_im = acc_im.mul_add(s, s.splat(b), x);
                }
            }
            out.put(s, y * layout.width_padded + x0, acc_re, acc_im);
        }
    }
}
