//! Gabor kernels by scikit-image's `skimage.filters.gabor_kernel` formula, in `f64`, and the
//! direct 2-D reflect-mode convolution of `scipy.ndimage.convolve`: the reference the fast
//! separable path is tested against.

use std::f64::consts::{LN_2, PI};

/// Gaussian width for a half-magnitude bandwidth of `bandwidth` octaves at `frequency`
/// (cycles per pixel): σ = (1/π)·√(ln 2 / 2)·(2^b + 1)/(2^b − 1) / f
/// (Petkov's simple-cell model; the same expression and evaluation order as scikit-image's
/// `_sigma_prefactor`, so the kernel extents round the same way).
pub fn sigma_for(frequency: f64, bandwidth: f64) -> f64 {
    let b = bandwidth;
    let prefactor = 1.0 / PI * (LN_2 / 2.0).sqrt() * (2f64.powf(b) + 1.0) / (2f64.powf(b) - 1.0);
    prefactor / frequency
}

/// Kernel half-extent: r = ⌈max(|n σ cos θ|, |n σ sin θ|, 1)⌉, so the kernel is
/// (2r + 1) x (2r + 1). With σx = σy scikit-image's x0 and y0 coincide, so it is square.
pub fn radius_for(sigma: f64, theta: f64, n_stds: f64) -> usize {
    let (st, ct) = theta.sin_cos();
    let r = (n_stds * sigma * ct)
        .abs()
        .max((n_stds * sigma * st).abs())
        .max(1.0)
        .ceil();
    r as usize
}

/// A complex Gabor kernel, row-major `(2 radius + 1)²`, rows = y (downwards), columns = x.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    pub frequency: f64,
    pub theta: f64,
    pub sigma: f64,
    pub radius: usize,
    pub real: Vec<f64>,
    pub imag: Vec<f64>,
}

impl Kernel {
    /// Side length, `2 radius + 1`.
    pub fn size(&self) -> usize {
        2 * self.radius + 1
    }
}

/// The complex Gabor kernel of scikit-image's `gabor_kernel(frequency, theta, bandwidth,
/// n_stds=n_stds)` (no phase offset, σx = σy = σ):
///
/// g(x, y) = 1/(2π σ²) · exp(−(x'² + y'²)/(2σ²)) · exp(i 2π f x'),
/// x' = x cos θ + y sin θ, y' = −x sin θ + y cos θ, for x, y ∈ [−r, r].
///
/// θ = 0 puts the wave along x (columns), so it responds to vertical stripes.
pub fn kernel(frequency: f64, theta: f64, bandwidth: f64, n_stds: f64) -> Kernel {
    let sigma = sigma_for(frequency, bandwidth);
    let radius = radius_for(sigma, theta, n_stds);
    let (st, ct) = theta.sin_cos();
    let size = 2 * radius + 1;
    let norm = 1.0 / (2.0 * PI * sigma * sigma);
    let mut real = Vec::with_capacity(size * size);
    let mut imag = Vec::with_capacity(size * size);
    let r = radius as f64;
    for row in 0..size {
        let y = row as f64 - r;
        for col in 0..size {
            let x = col as f64 - r;
            let rotx = x * ct + y * st;
            let roty = -x * st + y * ct;
            let envelope =
                (-0.5 * (rotx * rotx / (sigma * sigma) + roty * roty / (sigma * sigma))).exp();
            let phase = 2.0 * PI * frequency * rotx;
            real.push(envelope * phase.cos() * norm);
            imag.push(envelope * phase.sin() * norm);
        }
    }
    Kernel {
        frequency,
        theta,
        sigma,
        radius,
        real,
        imag,
    }
}

/// scipy.ndimage's `reflect` boundary (half-sample symmetric, `d c b a | a b c d | d c b a`),
/// periodic with period 2n so any offset maps inside `[0, n)`.
#[inline]
pub fn reflect_index(i: isize, n: usize) -> usize {
    let period = 2 * n as isize;
    let m = i.rem_euclid(period);
    if m >= n as isize {
        (period - 1 - m) as usize
    } else {
        m as usize
    }
}

/// Direct 2-D true convolution of a `height x width` row-major image with an odd square
/// kernel of half-size `radius`, reflect boundary: `scipy.ndimage.convolve(image, kernel,
/// mode='reflect')`, out(y, x) = Σ k(dy, dx) · image(y − dy, x − dx). Slow, `f64`: the
/// reference for tests and for the benchmark's "naive" row.
pub fn convolve_reflect(
    image: &[f64],
    height: usize,
    width: usize,
    kernel: &[f64],
    radius: usize,
) -> Vec<f64> {
    let size = 2 * radius + 1;
    assert_eq!(image.len(), height * width, "image size mismatch");
    assert_eq!(kernel.len(), size * size, "kernel size mismatch");
    let r = radius as isize;
    let mut out = vec![0.0; height * width];
    for y in 0..height {
        for x in 0..width {
            let mut acc = 0.0;
            for ky in 0..size {
                let dy = ky as isize - r;
                let sy = reflect_index(y as isize - dy, height);
                for kx in 0..size {
                    let dx = kx as isize - r;
                    let sx = reflect_index(x as isize - dx, width);
                    acc += kernel[ky * size + kx] * image[sy * width + sx];
                }
            }
            out[y * width + x] = acc;
        }
    }
    out
}
