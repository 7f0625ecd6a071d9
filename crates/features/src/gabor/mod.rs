//! Gabor filter bank: texture energy by scale and orientation.
//!
//! Each filter is scikit-image's `gabor_kernel(frequency, theta, bandwidth)` (see
//! [`kernel()`]): a Gaussian envelope of width σ = (1/π)·√(ln 2 / 2)·(2^b + 1)/(2^b − 1) / f
//! times the complex wave e^{i 2π f (x cos θ + y sin θ)}, normalised by 1/(2π σ²), on a
//! (2r + 1)² square with r = ⌈max(3σ|cos θ|, 3σ|sin θ|, 1)⌉. The gray image (scikit-image's
//! `rgb2gray`: (0.2125 R + 0.7154 G + 0.0721 B)/255) is convolved with it exactly as
//! `skimage.filters.gabor(gray, f, θ, mode='reflect')` does (true convolution, half-sample
//! symmetric borders), and the features are, per filter, the mean and the variance of the
//! response magnitude |real + i imag| over the whole image and over each cell of a
//! `grid x grid` partition — the "mean and standard deviation of the transform coefficients"
//! texture descriptor of Manjunath & Ma, "Texture features for browsing and retrieval of image
//! data", IEEE TPAMI 18(8), 1996 (variance instead of standard deviation, as the peer does).
//!
//! Default bank: frequencies 0.1, 0.2, 0.3, 0.4 cycles/pixel × 8 orientations (k·π/8) = 32
//! filters, bandwidth 1 octave, 3σ support (kernels 35x35 down to 7x7), whole image + 2x2 grid:
//! 32 × 5 × 2 = 320 values. Chosen by CIFAR-10 accuracy with the linear SVM (BENCHMARKS.md):
//! the peer's 16-filter bank (4 orientations, 160 values) reaches 0.517, 8 orientations 0.536;
//! a finer 4x4 pooling grid (`--gabor-grid 4`) reaches 0.59 at the same filtering cost.
//!
//! Output order: filters frequency-major (all orientations of the first frequency, ...), and
//! per filter `[mean, var]` of the whole image, then of each grid cell in row-major order.
//!
//! Speed: because σx = σy, the kernel on its square support factors exactly into a complex
//! row filter and a complex column filter for any θ, so the default path is a separable
//! `f32` convolution (see `conv.rs`), equal to scikit-image's direct 2-D one up to `f32`
//! rounding (≲1e-7 on responses of magnitude ~0.05). Measurements are in `BENCH_gabor.md`.

mod conv;
mod kernel;
mod render;
mod simd;

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use wb_data::{ImageShape, ImageView};

use crate::{Extractor, FeatureError};
use conv::{FilterSpec, Layout, Output, Plan};
use simd::Simd;

pub use kernel::{convolve_reflect, kernel, radius_for, reflect_index, sigma_for, Kernel};
pub use render::render_bank;

/// Parameters of the Gabor bank (`--features gabor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    /// Spatial frequencies of the waves, cycles per pixel, each in (0, 0.5).
    pub frequencies: Vec<f64>,
    /// Orientations per frequency, θ_k = k π / orientations, k = 0 .. orientations − 1.
    pub orientations: usize,
    /// Half-magnitude frequency bandwidth in octaves; sets σ (1 gives σ ≈ 0.56 / f).
    pub bandwidth: f64,
    /// Kernel half-extent in standard deviations (scikit-image's `n_stds`, 3).
    pub n_stds: f64,
    /// Pooling grid: statistics over the whole image and over each of `grid x grid` cells
    /// (1 = whole image only).
    pub grid: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            frequencies: vec![0.1, 0.2, 0.3, 0.4],
            orientations: 8,
            bandwidth: 1.0,
            n_stds: 3.0,
            grid: 2,
        }
    }
}

/// Most orientations accepted; beyond this neighbouring filters are near-duplicates.
const MAX_ORIENTATIONS: usize = 180;
/// Most frequencies accepted.
const MAX_FREQUENCIES: usize = 64;
/// Largest kernel radius accepted regardless of the image size (a 1025x1025 kernel).
const MAX_RADIUS: usize = 512;

impl Params {
    /// Number of filters, `frequencies × orientations`.
    pub fn filter_count(&self) -> usize {
        self.frequencies.len() * self.orientations
    }

    /// Pooling regions per filter: the whole image, plus `grid²` cells when `grid > 1`.
    pub fn regions(&self) -> usize {
        if self.grid > 1 {
            1 + self.grid * self.grid
        } else {
            1
        }
    }

    /// Feature length: filters × regions × 2 (mean, variance).
    pub fn dim(&self) -> usize {
        self.filter_count() * self.regions() * 2
    }

    /// (frequency, θ) of every filter in output order.
    pub fn filters(&self) -> Vec<(f64, f64)> {
        self.frequencies
            .iter()
            .flat_map(|&f| {
                (0..self.orientations).map(move |k| {
                    (
                        f,
                        k as f64 * std::f64::consts::PI / self.orientations as f64,
                    )
                })
            })
            .collect()
    }

    /// Rejects parameters that make no sense whatever the image.
    pub fn validate(&self) -> Result<(), FeatureError> {
        if self.frequencies.is_empty() {
            return Err(FeatureError::invalid(
                "gabor.frequencies",
                "the list is empty; give at least one frequency in (0, 0.5) cycles/pixel",
            ));
        }
        if self.frequencies.len() > MAX_FREQUENCIES {
            return Err(FeatureError::invalid(
                "gabor.frequencies",
                format!(
                    "{} frequencies given, at most {MAX_FREQUENCIES} are accepted",
                    self.frequencies.len()
                ),
            ));
        }
        for &f in &self.frequencies {
            if !(f.is_finite() && f > 0.0 && f < 0.5) {
                return Err(FeatureError::invalid(
                    "gabor.frequencies",
                    format!(
                        "{f} is not in (0, 0.5) cycles/pixel (0.5 is the Nyquist limit: \
                         a wave of that frequency or more aliases)"
                    ),
                ));
            }
        }
        if self.orientations == 0 || self.orientations > MAX_ORIENTATIONS {
            return Err(FeatureError::invalid(
                "gabor.orientations",
                format!(
                    "{} is not in 1..={MAX_ORIENTATIONS} (orientations are k·π/n, k < n)",
                    self.orientations
                ),
            ));
        }
        if !(self.bandwidth.is_finite() && self.bandwidth > 0.0) {
            return Err(FeatureError::invalid(
                "gabor.bandwidth",
                format!("{} is not a positive number of octaves", self.bandwidth),
            ));
        }
        if !(self.n_stds.is_finite() && self.n_stds > 0.0) {
            return Err(FeatureError::invalid(
                "gabor.n_stds",
                format!(
                    "{} is not a positive number of standard deviations",
                    self.n_stds
                ),
            ));
        }
        if self.grid == 0 {
            return Err(FeatureError::invalid(
                "gabor.grid",
                "0 cells per side; use 1 for whole-image statistics only",
            ));
        }
        let radius = self.max_radius();
        if radius > MAX_RADIUS {
            return Err(self.kernel_too_large(radius, MAX_RADIUS, "the limit"));
        }
        Ok(())
    }

    /// Rejects parameters that cannot work for images of `shape`.
    pub fn check(&self, shape: ImageShape) -> Result<(), FeatureError> {
        self.validate()?;
        if shape.channels != 1 && shape.channels != 3 {
            return Err(FeatureError::invalid(
                "image channels",
                format!(
                    "the Gabor bank works on gray (1 channel) or RGB (3 channels) images, got {}",
                    shape.channels
                ),
            ));
        }
        if shape.height == 0 || shape.width == 0 {
            return Err(FeatureError::invalid(
                "image shape",
                "images have no pixels",
            ));
        }
        // Beyond the image size the reflected borders are all the kernel sees.
        let largest_side = shape.height.max(shape.width);
        let radius = self.max_radius();
        if radius > largest_side {
            return Err(self.kernel_too_large(
                radius,
                largest_side,
                &format!("the {}x{} image's larger side", shape.height, shape.width),
            ));
        }
        if self.grid > shape.height.min(shape.width) {
            return Err(FeatureError::invalid(
                "gabor.grid",
                format!(
                    "{0}x{0} cells do not fit in {1}x{2} images",
                    self.grid, shape.height, shape.width
                ),
            ));
        }
        Ok(())
    }

    fn max_radius(&self) -> usize {
        self.filters()
            .iter()
            .map(|&(f, theta)| radius_for(sigma_for(f, self.bandwidth), theta, self.n_stds))
            .max()
            .unwrap_or(0)
    }

    fn kernel_too_large(&self, radius: usize, limit: usize, what: &str) -> FeatureError {
        let lowest = self
            .frequencies
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        // r ≈ n σ = n prefactor / f  ⇒  f ≥ n prefactor / limit keeps r within the limit.
        let prefactor = sigma_for(1.0, self.bandwidth);
        let usable = self.n_stds * prefactor / limit as f64;
        FeatureError::invalid(
            "gabor.frequencies",
            format!(
                "frequency {lowest} with bandwidth {bandwidth} needs a {size}x{size} kernel \
                 (radius {radius}), larger than {what} ({limit}); use frequencies ≥ \
                 {usable:.3} or a larger bandwidth",
                bandwidth = self.bandwidth,
                size = 2 * radius + 1,
            ),
        )
    }
}

/// How the responses are computed; both give the same filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Convolution {
    /// Complex row filter then complex column filter (the default, exact factorisation).
    #[default]
    Separable,
    /// The (2r + 1)² kernel applied directly, as scikit-image does; for comparison.
    Direct2d,
}

/// One filter of a built bank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter {
    pub frequency: f64,
    pub theta: f64,
    pub sigma: f64,
    /// Kernel half-size; the kernel is (2 radius + 1)².
    pub radius: usize,
}

/// The Gabor bank extractor, built for one image shape.
#[derive(Debug, Clone)]
pub struct Gabor {
    params: Params,
    shape: ImageShape,
    filters: Vec<Filter>,
    plan: Plan,
    layout: Layout,
    /// Skip the AVX2 build (tests compare both builds on machines that have AVX2).
    portable_only: bool,
}

/// Per-thread work buffers, grown once and reused for every image.
#[derive(Default)]
struct Scratch {
    padded: Vec<f32>,
    row_re: Vec<f32>,
    row_im: Vec<f32>,
    planes: Vec<f32>,
    columns: Vec<f32>,
    cells: Vec<f64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn grow(v: &mut Vec<f32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

/// rgb2gray (or v/255 for one channel) of pixel (y, x).
#[inline(always)]
fn gray_at(image: &ImageView<'_>, y: usize, x: usize) -> f32 {
    let w = image.shape.width;
    if image.shape.channels == 3 {
        let p = &image.pixels[(y * w + x) * 3..(y * w + x) * 3 + 3];
        (0.2125 * p[0] as f32 + 0.7154 * p[1] as f32 + 0.0721 * p[2] as f32) * (1.0 / 255.0)
    } else {
        image.pixels[y * w + x] as f32 * (1.0 / 255.0)
    }
}

/// scikit-image's `rgb2gray` of a u8 image (plain v/255 for one channel), row-major, f64.
pub fn gray_image(image: ImageView<'_>) -> Vec<f64> {
    let (h, w, c) = (image.height(), image.width(), image.channels());
    (0..h * w)
        .map(|i| {
            if c == 3 {
                let p = &image.pixels[i * 3..i * 3 + 3];
                p[0] as f64 / 255.0 * 0.2125
                    + p[1] as f64 / 255.0 * 0.7154
                    + p[2] as f64 / 255.0 * 0.0721
            } else {
                image.pixels[i * c] as f64 / 255.0
            }
        })
        .collect()
}

/// The complex responses of one filter, row-major like the image.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub real: Vec<f32>,
    pub imag: Vec<f32>,
}

impl Gabor {
    /// Builds the bank for images of `shape`, separable method.
    pub fn new(params: &Params, shape: ImageShape) -> Result<Gabor, FeatureError> {
        Gabor::with_convolution(params, shape, Convolution::Separable)
    }

    /// Builds the bank with an explicit convolution method (the benchmark compares them).
    pub fn with_convolution(
        params: &Params,
        shape: ImageShape,
        method: Convolution,
    ) -> Result<Gabor, FeatureError> {
        params.check(shape)?;
        let specs: Vec<FilterSpec> = params
            .filters()
            .into_iter()
            .map(|(frequency, theta)| FilterSpec {
                frequency,
                theta,
                bandwidth: params.bandwidth,
                radius: radius_for(sigma_for(frequency, params.bandwidth), theta, params.n_stds),
            })
            .collect();
        let filters = specs
            .iter()
            .map(|s| Filter {
                frequency: s.frequency,
                theta: s.theta,
                sigma: sigma_for(s.frequency, s.bandwidth),
                radius: s.radius,
            })
            .collect::<Vec<_>>();
        let pad = specs.iter().map(|s| s.radius).max().unwrap_or(1);
        let plan = match method {
            Convolution::Separable => Plan::Separable(conv::separable_plan(&specs)),
            Convolution::Direct2d => {
                let kernels: Vec<Kernel> = specs
                    .iter()
                    .map(|s| kernel(s.frequency, s.theta, s.bandwidth, params.n_stds))
                    .collect();
                Plan::Direct(conv::direct_plan(&specs, &kernels))
            }
        };
        Ok(Gabor {
            params: params.clone(),
            shape,
            filters,
            plan,
            layout: Layout::new(shape.height, shape.width, pad),
            portable_only: false,
        })
    }

    /// The same bank restricted to the portable (non-AVX2) code, for testing that build on
    /// machines where the AVX2 one would be picked.
    #[doc(hidden)]
    pub fn portable_only(mut self) -> Gabor {
        self.portable_only = true;
        self
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The filters in output order.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// Complex response of every filter (output order) to `image`, by the fast path.
    pub fn responses(&self, image: ImageView<'_>) -> Vec<Response> {
        let mut out = vec![
            Response {
                real: Vec::new(),
                imag: Vec::new(),
            };
            self.filters.len()
        ];
        self.run(image, Sink::Responses(&mut out));
        out
    }

    /// Runs the bank on `image` into `sink`, with this thread's reusable buffers.
    fn run(&self, image: ImageView<'_>, sink: Sink<'_>) {
        let other_layout;
        let layout = if image.shape == self.shape {
            &self.layout
        } else {
            // Not the fitted shape (the pipeline never does this): correct, just slower.
            other_layout = Layout::new(image.height(), image.width(), self.layout.pad);
            &other_layout
        };
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let Scratch {
                padded,
                row_re,
                row_im,
                planes,
                columns,
                cells,
            } = &mut *scratch;
            grow(padded, layout.padded_len());
            grow(row_re, layout.row_buffer_len());
            grow(row_im, layout.row_buffer_len());
            grow(planes, 2 * layout.height * layout.width_padded);
            grow(columns, 2 * layout.width_padded);
            let grid = self.params.grid;
            if cells.len() < 3 * grid * grid {
                cells.resize(3 * grid * grid, 0.0);
            }
            let buffers = Buffers {
                padded,
                row_re,
                row_im,
                planes,
                columns,
                cells,
            };
            dispatch(
                &self.plan,
                layout,
                grid,
                image,
                buffers,
                sink,
                self.portable_only,
            );
        });
    }
}

/// What to do with each filter's response.
enum Sink<'a> {
    /// Pool the magnitude into `[mean, var]` per region: the feature vector.
    Features(&'a mut [f32]),
    /// Keep the complex response, cropped to the image, per filter.
    Responses(&'a mut [Response]),
}

struct Buffers<'a> {
    padded: &'a mut [f32],
    row_re: &'a mut [f32],
    row_im: &'a mut [f32],
    /// One filter's response: magnitude, or real then imaginary part, `height x width_padded`.
    planes: &'a mut [f32],
    /// Two rows of per-column partial sums for pooling.
    columns: &'a mut [f32],
    /// Per-cell sum, sum of squared deviations and mean.
    cells: &'a mut [f64],
}

/// Picks the AVX2+FMA build of [`compute`] when the CPU has it. Everything per image happens
/// inside the `#[target_feature]` function with no closure or non-inlined generic in
/// between: those are compiled without the caller's target features, so the intrinsics (and
/// the auto-vectorised pooling) would become out-of-line scalar calls.
fn dispatch(
    plan: &Plan,
    layout: &Layout,
    grid: usize,
    image: ImageView<'_>,
    buffers: Buffers<'_>,
    sink: Sink<'_>,
    portable_only: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if !portable_only {
        if let Some(avx2) = simd::Avx2::detect() {
            // SAFETY: `detect` checked that the CPU has AVX2 and FMA.
            unsafe { compute_avx2(avx2, plan, layout, grid, image, buffers, sink) };
            return;
        }
    }
    compute(simd::Portable, plan, layout, grid, image, buffers, sink);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn compute_avx2(
    avx2: simd::Avx2,
    plan: &Plan,
    layout: &Layout,
    grid: usize,
    image: ImageView<'_>,
    buffers: Buffers<'_>,
    sink: Sink<'_>,
) {
    compute(avx2, plan, layout, grid, image, buffers, sink);
}

#[inline(always)]
fn compute<S: Simd>(
    s: S,
    plan: &Plan,
    layout: &Layout,
    grid: usize,
    image: ImageView<'_>,
    buffers: Buffers<'_>,
    mut sink: Sink<'_>,
) {
    let Buffers {
        padded,
        row_re,
        row_im,
        planes,
        columns,
        cells,
    } = buffers;
    let plane = layout.height * layout.width_padded;
    let planes = &mut planes[..2 * plane];
    layout.pad_gray(|y, x| gray_at(&image, y, x), padded);
    match plan {
        Plan::Separable(groups) => {
            for group in groups {
                conv::row_pass(s, layout, padded, &group.row, row_re, row_im);
                for member in &group.members {
                    let (re, im) = planes.split_at_mut(plane);
                    let mut out = match sink {
                        Sink::Features(_) => Output::Magnitude(re),
                        Sink::Responses(_) => Output::Complex(re, im),
                    };
                    conv::column_pass(s, layout, row_re, row_im, &member.column, &mut out);
                    finish(
                        &mut sink,
                        member.filter,
                        planes,
                        layout,
                        grid,
                        columns,
                        cells,
                    );
                }
            }
        }
        Plan::Direct(filters) => {
            for (index, filter) in filters.iter().enumerate() {
                let (re, im) = planes.split_at_mut(plane);
                let mut out = match sink {
                    Sink::Features(_) => Output::Magnitude(re),
                    Sink::Responses(_) => Output::Complex(re, im),
                };
                conv::direct_pass(s, layout, padded, filter, &mut out);
                finish(&mut sink, index, planes, layout, grid, columns, cells);
            }
        }
    }
}

/// Hands one filter's response planes to the sink.
#[inline(always)]
fn finish(
    sink: &mut Sink<'_>,
    filter: usize,
    planes: &[f32],
    layout: &Layout,
    grid: usize,
    columns: &mut [f32],
    cells: &mut [f64],
) {
    let (h, w, wp) = (layout.height, layout.width, layout.width_padded);
    match sink {
        Sink::Features(out) => {
            let per_filter = 2 * if grid > 1 { 1 + grid * grid } else { 1 };
            let dst = &mut out[filter * per_filter..(filter + 1) * per_filter];
            pool(&planes[..h * wp], wp, h, w, grid, columns, cells, dst);
        }
        Sink::Responses(out) => {
            let crop = |p: &[f32]| -> Vec<f32> {
                p.chunks_exact(wp)
                    .flat_map(|row| &row[..w])
                    .copied()
                    .collect()
            };
            out[filter] = Response {
                real: crop(&planes[..h * wp]),
                imag: crop(&planes[h * wp..2 * h * wp]),
            };
        }
    }
}

/// Mean and population variance of the magnitude over the whole image and each grid cell,
/// written as `[mean, var]` pairs (whole first, then cells row-major; only the whole image
/// when `grid == 1`). Sums run down the columns (contiguous, so vectorised) and then across
/// each cell's columns; the variance takes a second pass around each cell's mean, and the
/// whole image's combines the cells' (Σ SS_c + n_c (mean_c − mean)²) — no E[m²] − E[m]²
/// cancellation, never negative.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pool(
    magnitude: &[f32],
    stride: usize,
    height: usize,
    width: usize,
    grid: usize,
    columns: &mut [f32],
    cells: &mut [f64],
    out: &mut [f32],
) {
    let n_cells = grid * grid;
    let (cell_sum, rest) = cells[..3 * n_cells].split_at_mut(n_cells);
    let (cell_ss, cell_mean) = rest.split_at_mut(n_cells);
    let (col, centre) = columns[..2 * width].split_at_mut(width);
    let cut = |i: usize, n: usize| i * n / grid;
    let count = |cy: usize, cx: usize| {
        ((cut(cy + 1, height) - cut(cy, height)) * (cut(cx + 1, width) - cut(cx, width))) as f64
    };
    for cy in 0..grid {
        col.fill(0.0);
        for y in cut(cy, height)..cut(cy + 1, height) {
            for (c, &m) in col
                .iter_mut()
                .zip(&magnitude[y * stride..y * stride + width])
            {
                *c += m;
            }
        }
        for cx in 0..grid {
            let sum: f64 = col[cut(cx, width)..cut(cx + 1, width)]
                .iter()
                .map(|&v| v as f64)
                .sum();
            cell_sum[cy * grid + cx] = sum;
            cell_mean[cy * grid + cx] = sum / count(cy, cx);
        }
        for cx in 0..grid {
            centre[cut(cx, width)..cut(cx + 1, width)].fill(cell_mean[cy * grid + cx] as f32);
        }
        col.fill(0.0);
        for y in cut(cy, height)..cut(cy + 1, height) {
            let row = &magnitude[y * stride..y * stride + width];
            for ((c, &m), &mu) in col.iter_mut().zip(row).zip(centre.iter()) {
                *c += (m - mu) * (m - mu);
            }
        }
        for cx in 0..grid {
            cell_ss[cy * grid + cx] = col[cut(cx, width)..cut(cx + 1, width)]
                .iter()
                .map(|&v| v as f64)
                .sum();
        }
    }
    let n = (height * width) as f64;
    let mean = cell_sum.iter().sum::<f64>() / n;
    let mut ss = 0.0;
    for cy in 0..grid {
        for cx in 0..grid {
            let c = cy * grid + cx;
            ss += cell_ss[c] + count(cy, cx) * (cell_mean[c] - mean).powi(2);
        }
    }
    out[0] = mean as f32;
    out[1] = (ss / n) as f32;
    if grid > 1 {
        for cy in 0..grid {
            for cx in 0..grid {
                let c = cy * grid + cx;
                out[2 + 2 * c] = cell_mean[c] as f32;
                out[3 + 2 * c] = (cell_ss[c] / count(cy, cx)) as f32;
            }
        }
    }
}

impl Extractor for Gabor {
    fn name(&self) -> &'static str {
        "gabor"
    }

    fn dim(&self, _shape: ImageShape) -> usize {
        self.params.dim()
    }

    fn extract(&self, image: ImageView<'_>, out: &mut [f32]) {
        self.run(image, Sink::Features(out));
    }
}
