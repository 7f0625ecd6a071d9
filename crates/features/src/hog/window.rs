//! OpenCV's `HOGDescriptor` block histograms ([`BlockWindow::OpenCvGaussian`]), reproduced from
//! OpenCV 4's `modules/objdetect/src/hog.cpp` (`computeGradient`, `HOGCache::init`,
//! `getBlock`, `normalizeBlockHistogram`):
//!
//! 1. Orientation from OpenCV's `cartToPolar`, whose angle is `fastAtan2`'s degree polynomial
//!    `a(c) = c (p1 + c^2 (p3 + c^2 (p5 + c^2 p7)))` on `c = min(|x|, |y|) / max(|x|, |y|)`
//!    (error up to ~0.01 degrees), scaled to bins as `deg * (pi / 180) * (n / pi) - 1/2`; the
//!    vote goes to `floor` of that (mod n) with weight `1 - frac` and to the next bin with
//!    `frac`.
//! 2. Each `B x B`-pixel block (`B = b c`, stride one cell) has its own `b x b` cell
//!    histograms, filled only by its own pixels: pixel `(i, j)` of the block votes into the (up
//!    to four) nearest cells of the block with the bilinear weights of its position
//!    (`(j + 1/2) / c - 1/2` in cell units), times the Gaussian
//!    `exp(-((i - B/2)^2 + (j - B/2)^2) / (2 sigma^2))`, `sigma = (B + B) / 8` (OpenCV's
//!    default `winSigma`; note the centre `B/2`, half a pixel off the block's middle, as
//!    OpenCV has it).
//! 3. OpenCV's L2-Hys ([`BlockNorm::L2HysOpenCv`]) or any other [`BlockNorm`].
//!
//! Values are cell means (divided by `c^2`) of `[0, 1]`-scaled gradients, like the rest of the
//! module; OpenCV's own sums of 0-255 gradients differ by a constant factor that L2-Hys removes
//! (its epsilon is converted, see [`BlockNorm::L2HysOpenCv`]). The output is in this module's
//! order (blocks, then cells, row by row); OpenCV lists blocks and cells column by column.
//!
//! [`BlockWindow::OpenCvGaussian`]: super::BlockWindow::OpenCvGaussian
//! [`BlockNorm::L2HysOpenCv`]: super::BlockNorm::L2HysOpenCv
//! [`BlockNorm`]: super::BlockNorm

use super::kernels::{whole_bin, Kernels};
use super::{opencv_eps, resize, set_len, Blocks, Params};

/// OpenCV's `atan2_p1 .. atan2_p7` (degrees): its literals, rounded to `f32` as their `f`
/// suffix does, times `(float)(180 / CV_PI)`.
#[allow(clippy::excessive_precision)]
const P1: f32 = 0.999_787_841_279_480_7 * (180.0 / std::f64::consts::PI) as f32;
#[allow(clippy::excessive_precision)]
const P3: f32 = -0.325_808_397_464_097_5 * (180.0 / std::f64::consts::PI) as f32;
#[allow(clippy::excessive_precision)]
const P5: f32 = 0.155_578_651_846_328_1 * (180.0 / std::f64::consts::PI) as f32;
#[allow(clippy::excessive_precision)]
const P7: f32 = -0.044_326_555_547_921_28 * (180.0 / std::f64::consts::PI) as f32;

/// OpenCV's `fastAtan2(y, x)` in degrees, `[0, 360]`.
#[inline(always)]
pub fn opencv_atan2_degrees(y: f32, x: f32) -> f32 {
    let (ax, ay) = (x.abs(), y.abs());
    let c = ax.min(ay) / (ax.max(ay) + f64::EPSILON as f32);
    let cc = c * c;
    let a = (((P7 * cc + P5) * cc + P3) * cc + P1) * c;
    let a = if ax >= ay { a } else { 90.0 - a };
    let a = if x < 0.0 { 180.0 - a } else { a };
    if y < 0.0 {
        360.0 - a
    } else {
        a
    }
}

/// One block pixel's votes: up to four (cell of the block, row-major; weight) pairs, the
/// weight being the Gaussian times the bilinear cell weight.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Taps {
    pub count: u8,
    pub cells: [u8; 4],
    pub weights: [f32; 4],
}

/// The per-block-pixel tables of OpenCV's `HOGCache::init`.
#[derive(Debug, Clone)]
pub(super) struct Window {
    cell: usize,
    block: usize,
    geometry: Geometry,
}

/// Where each pixel of a block votes.
#[derive(Debug, Clone)]
pub(super) struct Geometry {
    /// Block side in pixels, `B`.
    pub side: usize,
    /// Cells per block, `b * b`.
    pub cells: usize,
    /// `taps[i * B + j]` for block pixel (row `i`, column `j`).
    pub taps: Vec<Taps>,
    /// For 2x2-cell blocks, every pixel's weight for each of the four cells (zero where it
    /// does not vote), so the vector votes need no per-pixel cell lists.
    pub quad: Option<Vec<[f32; 4]>>,
}

/// Every pixel's two bins (and their lane masks) and weighted votes.
#[derive(Default)]
pub(super) struct PixelVotes {
    pub bin0: Vec<u32>,
    pub bin1: Vec<u32>,
    pub k0: Vec<u32>,
    pub k1: Vec<u32>,
    pub vote0: Vec<f32>,
    pub vote1: Vec<f32>,
}

/// Per-image buffers of the window path.
#[derive(Default)]
pub(super) struct Scratch {
    votes: PixelVotes,
    /// One block's cell histograms, twice (even and odd pixels, `cells * cs` floats each).
    hist: Vec<f32>,
    blocks: Blocks,
}

impl Window {
    /// Tables for `c x c`-pixel cells and `b x b`-cell blocks.
    pub(super) fn new(cell: usize, block: usize) -> Window {
        let side = cell * block;
        let sigma = ((side + side) as f64 / 8.0) as f32;
        let scale = 1.0 / (sigma * sigma * 2.0);
        let half = side as f32 * 0.5;
        let gauss = |i: usize, j: usize| {
            let (di, dj) = (i as f32 - half, j as f32 - half);
            (-(di * di + dj * dj) * scale).exp()
        };
        // The one or two cells of the block along one axis that pixel `k` votes into, with
        // their bilinear weights.
        let axis = |k: usize| -> Vec<(usize, f32)> {
            let u = (k as f32 + 0.5) / cell as f32 - 0.5;
            let i0 = u.floor();
            let f = u - i0;
            let i0 = i0 as isize;
            [(i0, 1.0 - f), (i0 + 1, f)]
                .into_iter()
                .filter(|&(i, _)| i >= 0 && (i as usize) < block)
                .map(|(i, w)| (i as usize, w))
                .collect()
        };
        let mut taps = Vec::with_capacity(side * side);
        for i in 0..side {
            for j in 0..side {
                let g = gauss(i, j);
                let mut t = Taps::default();
                for &(cy, wy) in &axis(i) {
                    for &(cx, wx) in &axis(j) {
                        let k = t.count as usize;
                        t.cells[k] = (cy * block + cx) as u8;
                        // OpenCV: gradWeight * ((x weight) * (y weight)).
                        t.weights[k] = g * (wx * wy);
                        t.count += 1;
                    }
                }
                taps.push(t);
            }
        }
        let quad = (block == 2).then(|| {
            taps.iter()
                .map(|t| {
                    let mut q = [0.0; 4];
                    for k in 0..t.count as usize {
                        q[t.cells[k] as usize] = t.weights[k];
                    }
                    q
                })
                .collect()
        });
        Window {
            cell,
            block,
            geometry: Geometry {
                side,
                cells: block * block,
                taps,
                quad,
            },
        }
    }

    /// The block-normalised features of an `h x w` image from its gradients.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn features<V: Kernels>(
        &self,
        v: V,
        params: &Params,
        gx: &[f64],
        gy: &[f64],
        h: usize,
        w: usize,
        s: &mut Scratch,
        out: &mut [f32],
    ) {
        let n = params.orientations;
        let (c, b) = (self.cell, self.block);
        let cs = v.cell_stride(n);
        let votes = &mut s.votes;
        for a in [
            &mut votes.bin0,
            &mut votes.bin1,
            &mut votes.k0,
            &mut votes.k1,
        ] {
            set_len(a, h * w);
        }
        set_len(&mut votes.vote0, h * w);
        set_len(&mut votes.vote1, h * w);
        orientations(gx, gy, n, votes);
        let cells = b * b;
        let len = cells * n;
        let inv_area = 1.0 / (c * c) as f32;
        let (rows, cols) = (h / c, w / c);
        let (nby, nbx) = (rows + 1 - b, cols + 1 - b);
        let count = nby * nbx;
        set_len(&mut s.blocks.values, len * count);
        for by in 0..nby {
            for bx in 0..nbx {
                resize(&mut s.hist, 2 * cells * cs);
                v.window_block(
                    &self.geometry,
                    votes,
                    (by * c) * w + bx * c,
                    w,
                    n,
                    cs,
                    &mut s.hist,
                );
                let j = by * nbx + bx;
                let (even, odd) = s.hist.split_at(cells * cs);
                for cell in 0..cells {
                    for bin in 0..n {
                        let k = cell * cs + bin;
                        let sum = even[k] + odd[k];
                        s.blocks.values[(cell * n + bin) * count + j] = (sum * inv_area) as f64;
                    }
                }
            }
        }
        s.blocks
            .normalize(count, params.block_norm, opencv_eps(len, c));
        s.blocks.write(count, out);
    }
}

/// OpenCV's bins and weighted votes of every pixel (`computeGradient` after `cartToPolar`).
#[inline(always)]
fn orientations(gx: &[f64], gy: &[f64], n: usize, s: &mut PixelVotes) {
    let len = gx.len();
    let gy = &gy[..len];
    let (bin0, bin1) = (&mut s.bin0[..len], &mut s.bin1[..len]);
    let (k0, k1) = (&mut s.k0[..len], &mut s.k1[..len]);
    let (vote0, vote1) = (&mut s.vote0[..len], &mut s.vote1[..len]);
    let to_rad = (std::f64::consts::PI / 180.0) as f32;
    let angle_scale = (n as f64 / std::f64::consts::PI) as f32;
    let nf = n as f32;
    for i in 0..len {
        let (x, y) = (gx[i] as f32, gy[i] as f32);
        let mag = (x * x + y * y).sqrt();
        let angle = opencv_atan2_degrees(y, x) * to_rad * angle_scale - 0.5;
        let fl = angle.floor();
        let frac = angle - fl;
        vote0[i] = mag * (1.0 - frac);
        vote1[i] = mag * frac;
        // fl is in [-1, 2n - 1]: wrap into [0, n).
        let b = if fl < 0.0 {
            fl + nf
        } else if fl >= nf {
            fl - nf
        } else {
            fl
        };
        let lo = whole_bin(b, nf - 1.0);
        let hi = if lo as usize + 1 >= n { 0 } else { lo + 1 };
        bin0[i] = lo;
        bin1[i] = hi;
        k0[i] = 1u32.wrapping_shl(lo);
        k1[i] = 1u32.wrapping_shl(hi);
    }
}

/// One block's votes, one pixel after another (row by row), alternating between the even and
/// odd halves of `hist` (cells `cs` floats apart) so consecutive votes into a bin do not wait on
/// each other; the halves are added at the end.
#[inline(always)]
pub(super) fn window_block_scalar(
    g: &Geometry,
    votes: &PixelVotes,
    start: usize,
    w: usize,
    cs: usize,
    hist: &mut [f32],
) {
    let (even, odd) = hist.split_at_mut(g.cells * cs);
    for i in 0..g.side {
        for j in 0..g.side {
            let p = start + i * w + j;
            let (h0, h1) = (votes.bin0[p] as usize, votes.bin1[p] as usize);
            let (a0, a1) = (votes.vote0[p], votes.vote1[p]);
            let t = &g.taps[i * g.side + j];
            let half = if (i * g.side + j).is_multiple_of(2) {
                &mut *even
            } else {
                &mut *odd
            };
            for q in 0..t.count as usize {
                let base = t.cells[q] as usize * cs;
                let wt = t.weights[q];
                half[base + h0] += a0 * wt;
                half[base + h1] += a1 * wt;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opencv_atan_is_within_a_hundredth_of_a_degree() {
        let mut worst = 0f64;
        for k in 0..=3600 {
            let t = (k as f64 / 10.0).to_radians();
            let (y, x) = (t.sin() as f32, t.cos() as f32);
            let got = opencv_atan2_degrees(y, x) as f64;
            let want = (y as f64).atan2(x as f64).to_degrees().rem_euclid(360.0);
            let d = (got - want).abs();
            worst = worst.max(d.min(360.0 - d));
        }
        assert!(worst < 0.011, "worst error {worst} degrees");
        assert!(worst > 1e-4, "not OpenCV's approximation: {worst}");
    }

    #[test]
    fn block_pixels_vote_with_the_gaussian_and_bilinear_weights() {
        let w = Window::new(8, 2);
        // Pixel (8, 8) is the Gaussian's centre (weight 1) and sits between the four cells at
        // u = 8.5 / 8 - 0.5 = 0.5625: weights 0.4375 / 0.5625 along each axis.
        let t = &w.geometry.taps[8 * 16 + 8];
        assert_eq!(t.count, 4);
        let total: f32 = t.weights.iter().sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        // A corner pixel votes only into its own cell, with its outer bilinear weight
        // u = 0.5 / 8 - 0.5 = -0.4375: 1 - 0.4375 = 0.5625 along each axis.
        let t = &w.geometry.taps[0];
        assert_eq!(t.count, 1);
        assert_eq!(t.cells[0], 0);
        let sigma = 4.0f32;
        let g = (-(64.0f32 + 64.0) / (2.0 * sigma * sigma)).exp();
        assert!((t.weights[0] - g * 0.5625 * 0.5625).abs() < 1e-7);
    }
}
