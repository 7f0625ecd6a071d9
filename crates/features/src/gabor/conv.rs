//! The fast path: complex separable convolution in `f32`, 16 columns at a time.
//!
//! With σx = σy the Gabor kernel on its square support factors exactly:
//! g(x, y) = [c e^{−x²/2σ²} e^{i ωx x}] · [e^{−y²/2σ²} e^{i ωy y}], ωx = 2πf cos θ,
//! ωy = 2πf sin θ, c = 1/(2πσ²). So a (2r+1)² complex kernel becomes a complex row filter
//! (real image in, 2 multiply-adds per tap) followed by a complex column filter
//! (complex in, 4 per tap), for any θ. Further savings, all exact up to rounding:
//! - θ and π − θ have conjugate row filters (ωx flips sign), and the row pass of a real image
//!   by a conjugate filter is the conjugate result, so they share one row pass;
//! - θ = π/2 has a real row filter (ωx = 0) and θ = 0 a real column filter (ωy = 0): 1 and 2
//!   multiply-adds per tap instead of 2 and 4.
//!
//! Every pass is an "axpy" over 32 contiguous columns with the accumulators in registers, which
//! LLVM vectorises; an AVX2+FMA copy is selected at run time on x86-64.

use super::kernel::{reflect_index, sigma_for};
use super::simd::Simd;

/// Columns processed together; the image width is rounded up to a multiple of it.
pub(crate) const LANES: usize = 32;

/// A row filter in correlation order: `tap[j]` multiplies the pixel at offset `j − r` from the
/// left end of the window, i.e. it is h(r − j) of the convolution.
#[derive(Debug, Clone)]
pub(crate) struct RowFilter {
    pub radius: usize,
    pub re: Vec<f32>,
    /// `None` for a real filter (θ = π/2).
    pub im: Option<Vec<f32>>,
}

/// How a filter's column pass combines the (possibly complex) row-pass output.
#[derive(Debug, Clone)]
pub(crate) enum ColumnPass {
    /// Real row output R: re = Σ a R, im = Σ b R.
    RealInput { a: Vec<f32>, b: Vec<f32> },
    /// Real column filter: re = Σ a Rre, im = ± Σ a Rim (− when the row pass is shared
    /// with the conjugate filter).
    RealFilter { a: Vec<f32>, negate_imag: bool },
    /// re = Σ c1 Rre + c2 Rim, im = Σ c3 Rre + c4 Rim.
    Complex {
        c1: Vec<f32>,
        c2: Vec<f32>,
        c3: Vec<f32>,
        c4: Vec<f32>,
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

/// Taps e^{−d²/2σ²}·scale·e^{i ω d} for d = r, r−1, ..., −r (correlation order), in f64.
fn taps(radius: usize, sigma: f64, omega: f64, scale: f64) -> (Vec<f64>, Vec<f64>) {
    let r = radius as isize;
    (0..=2 * r)
        .map(|j| {
            let d = (r - j) as f64;
            let envelope = (-0.5 * d * d / (sigma * sigma)).exp() * scale;
            let (s, c) = (omega * d).sin_cos();
            (envelope * c, envelope * s)
        })
        .unzip()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// A filter whose imaginary taps are all below this fraction of its largest tap is real:
/// cos(π/2) ≈ 6e-17 leaves imaginary parts ~1e-16 that f32 could not represent anyway.
const REAL_TOLERANCE: f64 = 1e-9;

fn is_real(re: &[f64], im: &[f64]) -> bool {
    let peak = re.iter().chain(im).fold(0f64, |m, v| m.max(v.abs()));
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
        let (row_re, row_im) = taps(spec.radius, sigma, omega_x, norm);
        let row_real = is_real(&row_re, &row_im);
        // Reuse the row pass of an earlier filter with the same envelope and ±ωx.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300);
        let shared = keys.iter().find_map(|k| {
            if k.frequency != spec.frequency
                || k.bandwidth != spec.bandwidth
                || k.radius != spec.radius
            {
                return None;
            }
            if row_real {
                return (groups[k.group].row.im.is_none()).then_some((k.group, false));
            }
            // A complex row filter can only be shared with another complex one.
            groups[k.group].row.im.as_ref()?;
            if close(k.omega_x, omega_x) {
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
                        radius: spec.radius,
                        re: to_f32(&row_re),
                        im: (!row_real).then(|| to_f32(&row_im)),
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
        let (col_re, col_im) = taps(spec.radius, sigma, omega_y, 1.0);
        let column = if groups[group].row.im.is_none() {
            ColumnPass::RealInput {
                a: to_f32(&col_re),
                b: to_f32(&col_im),
            }
        } else if is_real(&col_re, &col_im) {
            ColumnPass::RealFilter {
                a: to_f32(&col_re),
                negate_imag: conjugate,
            }
        } else {
            // (a + ib)(Rre + i s Rim) with s = −1 when the row output is the conjugate.
            let s = if conjugate { -1.0 } else { 1.0 };
            ColumnPass::Complex {
                c1: to_f32(&col_re),
                c2: col_im.iter().map(|&b| (-b * s) as f32).collect(),
                c3: to_f32(&col_im),
                c4: col_re.iter().map(|&a| (a * s) as f32).collect(),
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

/// Row pass of the padded image by `row` for image rows −r .. H + r: writes
/// `(H + 2r) x width_padded` values into `out_re` (and `out_im` for a complex filter).
#[inline(always)]
pub(crate) fn row_pass<S: Simd>(
    s: S,
    layout: &Layout,
    padded: &[f32],
    row: &RowFilter,
    out_re: &mut [f32],
    out_im: &mut [f32],
) {
    let r = row.radius;
    let rows = layout.height + 2 * r;
    let wp = layout.width_padded;
    let first_row = layout.pad - r;
    let first_col = layout.pad - r;
    for i in 0..rows {
        let src_row = (first_row + i) * layout.stride + first_col;
        for x0 in (0..wp).step_by(LANES) {
            let base = src_row + x0;
            let dst = i * wp + x0;
            match &row.im {
                Some(im) => {
                    let mut acc_re = Run::zero(s);
                    let mut acc_im = Run::zero(s);
                    for (j, (&a, &b)) in row.re.iter().zip(im).enumerate() {
                        let x = Run::load(s, padded, base + j);
                        acc_re = acc_re.mul_add(s, s.splat(a), x);
                        acc_im = acc_im.mul_add(s, s.splat(b), x);
                    }
                    acc_re.store(s, &mut out_re[dst..dst + LANES]);
                    acc_im.store(s, &mut out_im[dst..dst + LANES]);
                }
                None => {
                    let mut acc = Run::zero(s);
                    for (j, &a) in row.re.iter().enumerate() {
                        acc = acc.mul_add(s, s.splat(a), Run::load(s, padded, base + j));
                    }
                    acc.store(s, &mut out_re[dst..dst + LANES]);
                }
            }
        }
    }
}

/// Column pass of one filter over the row-pass output (`(H + 2r) x width_padded`) into `out`.
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
            let base = y * wp + x0;
            let mut acc_re = Run::zero(s);
            let mut acc_im = Run::zero(s);
            match column {
                ColumnPass::RealInput { a, b } => {
                    for (j, (&a, &b)) in a.iter().zip(b).enumerate() {
                        let x = Run::load(s, row_re, base + j * wp);
                        acc_re = acc_re.mul_add(s, s.splat(a), x);
                        acc_im = acc_im.mul_add(s, s.splat(b), x);
                    }
                }
                ColumnPass::RealFilter { a, negate_imag } => {
                    for (j, &a) in a.iter().enumerate() {
                        let k = s.splat(a);
                        acc_re = acc_re.mul_add(s, k, Run::load(s, row_re, base + j * wp));
                        acc_im = acc_im.mul_add(s, k, Run::load(s, row_im, base + j * wp));
                    }
                    if *negate_imag {
                        acc_im = acc_im.scale(s, s.splat(-1.0));
                    }
                }
                ColumnPass::Complex { c1, c2, c3, c4 } => {
                    for j in 0..c1.len() {
                        let x_re = Run::load(s, row_re, base + j * wp);
                        let x_im = Run::load(s, row_im, base + j * wp);
                        acc_re = acc_re.mul_add(s, s.splat(c1[j]), x_re);
                        acc_re = acc_re.mul_add(s, s.splat(c2[j]), x_im);
                        acc_im = acc_im.mul_add(s, s.splat(c3[j]), x_re);
                        acc_im = acc_im.mul_add(s, s.splat(c4[j]), x_im);
                    }
                }
            }
            out.put(s, y * layout.width_padded + x0, acc_re, acc_im);
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
