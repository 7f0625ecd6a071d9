//! Bag of visual words: a k-means dictionary of whitened image patches with the triangle
//! encoding and quadrant sum-pooling of Coates, Lee & Ng, *An analysis of single-layer
//! networks in unsupervised feature learning* (AISTATS 2011), following their released
//! MATLAB code (`kmeans_demo.m`, `extract_features.m`, `run_kmeans.m`).
//!
//! Fitting ([`Dictionary::fit`]):
//! 1. `patches` random `p x p x C` patches (`p = patch_size`, 6 by default): patch `i`
//!    comes from training image `i mod N` at a uniformly random position, as in Coates' code.
//! 2. Brightness/contrast normalisation of each patch with its own mean and unbiased
//!    variance over its `d = p·p·C` values (pixels in 0..255):
//!    `x̂ = (x − mean(x)) / sqrt(var(x) + 10)` ([`CONTRAST_EPS`]).
//! 3. ZCA whitening from the `d x d` covariance `Σ = V Λ Vᵀ` of the normalised patches
//!    (unbiased, eigen-decomposed in `f64` by [`symmetric_eigen`]):
//!    `W = V (Λ + 0.1 I)^(-1/2) Vᵀ` ([`WHITENING_EPS`]), `x_w = W (x̂ − m)` with `m` the
//!    mean normalised patch.
//! 4. Lloyd's k-means on the whitened patches, `iterations` full passes (Coates' code:
//!    `run_kmeans` processes all patches in batches of 1000 per pass). Centroids start as
//!    `0.1 · N(0, 1)` like theirs; each pass assigns every patch to
//!    `argmax_k (x·c_k − ‖c_k‖²/2)` (= nearest centroid) and moves each centroid to the mean
//!    of its patches. A centroid left with no patch is *re-seeded on a random whitened
//!    patch* (Coates sets it to zero instead, which leaves a dead atom near the origin;
//!    re-seeding keeps all K atoms useful). 10 passes by default, as the scikit-learn
//!    peer uses; Coates' demo runs 50 (set `iterations: 50` to match it exactly, at about
//!    one extra second per pass for 400,000 x 1600 on two cores).
//!
//! Encoding ([`Extractor::extract`], dimension `4K`): every stride-1 patch (27 x 27 = 729 for
//! a 32 x 32 image and `p = 6`) is normalised and whitened with the fitted `m` and `W`, its
//! distances `z_k = ‖x_w − c_k‖` to all centroids give the triangle activation
//! `f_k = max(0, mean_j(z_j) − z_k)`, and `f` is summed over the four quadrants of the patch
//! grid (rows split at `round(rows / 2)`, columns likewise: 14 + 13 for 27, as Coates'
//! `round(prows/2)`). Output layout: `[quadrant][k]` with quadrants top-left, top-right,
//! bottom-left, bottom-right. The features are standardised by the driver's scaler before
//! the classifier, as Coates does before the SVM ([`Normalization::Standardize`]).
//!
//! Speed: distances come from `‖x‖² − 2x·c + ‖c‖²`, so the only `O(K·d)` work per patch is
//! the product `x·c`, computed by a packed 6x16 AVX2/FMA register-tile kernel
//! (`gemm.rs`) whose epilogue turns each tile straight into `z`, so the
//! `patches x K` product is never stored. Pooling runs over a block of 48 patch rows while
//! its `z` values are still in L2. Images are encoded in parallel by the driver (one
//! image per rayon task, single-threaded kernel inside), which measured faster than a
//! threaded GEMM over batches of images (see `BENCH_kmeans.md`).

mod eigen;
mod gemm;

use std::cell::RefCell;

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use wb_data::{ImageShape, ImageView, Images};

use crate::{Extractor, FeatureError, Normalization};
use gemm::{for_each_tile, Microkernel, PackedCols, PackedRows, Tile, TileSink, MR, NR};

pub use eigen::{symmetric_eigen, SymmetricEigen};

/// The `+10` in the per-patch normalisation `(x − mean) / sqrt(var + 10)` (pixels 0..255).
pub const CONTRAST_EPS: f32 = 10.0;
/// The `ε` in the ZCA whitening matrix `V (Λ + ε I)^(-1/2) Vᵀ`.
pub const WHITENING_EPS: f64 = 0.1;
/// Largest supported dictionary (16,000 features per image).
pub const MAX_CENTROIDS: usize = 4000;
/// Largest number of training patches (4.3 GB of whitened 108-float patches).
pub const MAX_PATCHES: usize = 10_000_000;

/// Parameters of the k-means patch dictionary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// K, the number of centroids (atoms); features have `4K` dimensions. Coates' best
    /// single-layer CIFAR-10 result (77.9%) uses 1600. Allowed: 2..=4000 — small K is
    /// accepted for tests and quick looks, K = 1 is rejected because the triangle
    /// activation `max(0, mean(z) − z_k)` is then identically zero.
    pub centroids: usize,
    /// Side of the square receptive field in pixels (Coates' `rfSize`, 6).
    pub patch_size: usize,
    /// Number of random training patches the whitening and k-means are fitted on.
    pub patches: usize,
    /// Full k-means passes over all patches.
    pub iterations: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            centroids: 1600,
            patch_size: 6,
            patches: 400_000,
            iterations: 10,
        }
    }
}

impl Params {
    /// Rejects parameters that cannot work for images of `shape`, before any work starts.
    pub fn check(&self, shape: ImageShape) -> Result<(), FeatureError> {
        if shape.is_empty() {
            return Err(FeatureError::invalid(
                "image shape",
                "images have no pixels",
            ));
        }
        if self.patch_size == 0 {
            return Err(FeatureError::invalid(
                "kmeans.patch_size",
                "must be at least 1 pixel",
            ));
        }
        if self.patch_size > shape.height.min(shape.width) {
            return Err(FeatureError::invalid(
                "kmeans.patch_size",
                format!(
                    "{} pixels does not fit in {}x{} images",
                    self.patch_size, shape.height, shape.width
                ),
            ));
        }
        if self.patches == 0 {
            return Err(FeatureError::invalid(
                "kmeans.patches",
                "must be at least 1 (the dictionary is learned from training patches)",
            ));
        }
        if self.patches > MAX_PATCHES {
            return Err(FeatureError::invalid(
                "kmeans.patches",
                format!("{} is more than the supported {MAX_PATCHES}", self.patches),
            ));
        }
        if self.centroids < 2 {
            return Err(FeatureError::invalid(
                "kmeans.centroids",
                format!(
                    "{} is too few: need at least 2 (with one centroid the triangle activation \
                     max(0, mean(z) - z_k) is always 0)",
                    self.centroids
                ),
            ));
        }
        if self.centroids > MAX_CENTROIDS {
            return Err(FeatureError::invalid(
                "kmeans.centroids",
                format!(
                    "{} is more than the supported {MAX_CENTROIDS}",
                    self.centroids
                ),
            ));
        }
        if self.centroids > self.patches {
            return Err(FeatureError::invalid(
                "kmeans.centroids",
                format!(
                    "{} centroids cannot be learned from {} patches (kmeans.patches)",
                    self.centroids, self.patches
                ),
            ));
        }
        if self.iterations == 0 {
            return Err(FeatureError::invalid(
                "kmeans.iterations",
                "must be at least 1 (0 would leave random centroids)",
            ));
        }
        Ok(())
    }

    /// Length `p·p·C` of one patch vector.
    pub fn patch_dim(&self, channels: usize) -> usize {
        self.patch_size * self.patch_size * channels
    }
}

/// The stride-1 patch grid of an image and its split into four pooling quadrants.
#[derive(Debug, Clone, Copy)]
struct Grid {
    rows: usize,
    cols: usize,
    split_row: usize,
    split_col: usize,
}

impl Grid {
    fn new(shape: ImageShape, patch_size: usize) -> Grid {
        let rows = shape.height + 1 - patch_size;
        let cols = shape.width + 1 - patch_size;
        // MATLAB's round(n / 2) rounds halves up: 27 -> 14.
        Grid {
            rows,
            cols,
            split_row: rows.div_ceil(2),
            split_col: cols.div_ceil(2),
        }
    }

    fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Quadrant of patch number `index` (row-major over the grid).
    #[inline]
    fn quadrant(&self, index: usize) -> usize {
        let (y, x) = (index / self.cols, index % self.cols);
        2 * usize::from(y >= self.split_row) + usize::from(x >= self.split_col)
    }
}

/// Copies the `p x p x C` patch at (`y`, `x`) into `out`, in (row, column, channel) order.
#[inline(always)]
fn read_patch(image: ImageView<'_>, y: usize, x: usize, p: usize, out: &mut [f32]) {
    let c = image.shape.channels;
    let w = image.shape.width;
    let row_len = p * c;
    for (dy, out_row) in out.chunks_exact_mut(row_len).enumerate() {
        let start = ((y + dy) * w + x) * c;
        for (o, &v) in out_row
            .iter_mut()
            .zip(&image.pixels[start..start + row_len])
        {
            *o = f32::from(v);
        }
    }
}

/// `x ← (x − mean(x)) / sqrt(var(x) + 10)` with the unbiased variance (MATLAB's `var`).
#[inline(always)]
fn normalize_patch(x: &mut [f32]) {
    let n = x.len();
    let mean = x.iter().sum::<f32>() / n as f32;
    let ss: f32 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
    let var = ss / (n.max(2) - 1) as f32;
    let inv = 1.0 / (var + CONTRAST_EPS).sqrt();
    for v in x.iter_mut() {
        *v = (*v - mean) * inv;
    }
}

/// What is saved of a fitted dictionary; everything else is derived on load.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredDictionary {
    params: Params,
    channels: usize,
    mean: Vec<f32>,
    whitening: Vec<f32>,
    centroids: Vec<f32>,
    inertia: Vec<f64>,
}

/// A fitted k-means patch dictionary (see the [module docs](self)): the patch mean and ZCA
/// whitening matrix, and K centroids in whitened space. Serialises to
/// `{params, channels, mean, whitening, centroids, inertia}` so a run can save it and
/// encode other splits later with exactly the same atoms; loading re-checks every length.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "StoredDictionary", into = "StoredDictionary")]
pub struct Dictionary {
    stored: StoredDictionary,
    /// `W` packed for the kernel (column `j` = row `j` of `W`).
    whitening_panels: PackedCols,
    /// `W m`, subtracted after `W x̂` so the mean is folded into the whitening product.
    whitening_bias: Vec<f32>,
    centroid_panels: PackedCols,
    centroid_sq_norms: Vec<f32>,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionary")
            .field("params", &self.stored.params)
            .field("channels", &self.stored.channels)
            .field("inertia", &self.stored.inertia)
            .finish_non_exhaustive()
    }
}

impl TryFrom<StoredDictionary> for Dictionary {
    type Error = FeatureError;

    fn try_from(stored: StoredDictionary) -> Result<Self, Self::Error> {
        let p = &stored.params;
        if p.patch_size == 0 || stored.channels == 0 || p.centroids == 0 {
            return Err(FeatureError::invalid(
                "kmeans dictionary",
                "patch_size, channels and centroids must be positive",
            ));
        }
        let d = p.patch_dim(stored.channels);
        let k = p.centroids;
        for (name, len, want) in [
            ("mean", stored.mean.len(), d),
            ("whitening", stored.whitening.len(), d * d),
            ("centroids", stored.centroids.len(), k * d),
        ] {
            if len != want {
                return Err(FeatureError::invalid(
                    "kmeans dictionary",
                    format!("`{name}` has {len} values, expected {want}"),
                ));
            }
        }
        if stored
            .mean
            .iter()
            .chain(&stored.whitening)
            .chain(&stored.centroids)
            .any(|v| !v.is_finite())
        {
            return Err(FeatureError::invalid(
                "kmeans dictionary",
                "contains NaN or infinity",
            ));
        }
        let whitening_panels = PackedCols::from_rows_transposed(&stored.whitening, d, d);
        let whitening_bias = (0..d)
            .map(|j| {
                (0..d)
                    .map(|i| f64::from(stored.whitening[j * d + i]) * f64::from(stored.mean[i]))
                    .sum::<f64>() as f32
            })
            .collect();
        let centroid_panels = PackedCols::from_rows_transposed(&stored.centroids, k, d);
        let centroid_sq_norms = stored
            .centroids
            .chunks_exact(d)
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        Ok(Dictionary {
            stored,
            whitening_panels,
            whitening_bias,
            centroid_panels,
            centroid_sq_norms,
        })
    }
}

impl From<Dictionary> for StoredDictionary {
    fn from(d: Dictionary) -> Self {
        d.stored
    }
}

/// Per-thread buffers for encoding one image (reused: about 3.5 MB for K = 1600).
#[derive(Default)]
struct EncodeScratch {
    normalized: PackedRows,
    whitened: PackedRows,
    sq_norms: Vec<f32>,
    distances: Vec<f32>,
    /// Per-row partial sums of the distances, one per kernel column lane.
    row_lanes: Vec<f32>,
    patch: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<EncodeScratch> = RefCell::new(EncodeScratch::default());
}

/// Slivers (of 6 patches) per encoding block: 48 patches x 1600 distances = 307 KB, so the
/// block's distances are still in L2 when they are pooled.
const ENCODE_BLOCK_SLIVERS: usize = 8;
/// Slivers per k-means assignment task: 384 patches x 108 floats = 166 KB of L2.
const ASSIGN_BLOCK_SLIVERS: usize = 64;

impl Dictionary {
    /// Learns the dictionary from `params.patches` random patches of `train` (see the
    /// [module docs](self)); deterministic for a given `seed` on one machine, whatever the
    /// thread count.
    pub fn fit(train: &Images, params: &Params, seed: u64) -> Result<Dictionary, FeatureError> {
        if train.is_empty() {
            return Err(FeatureError::EmptyTrainingSet);
        }
        let shape = train.shape();
        params.check(shape)?;
        let p = params.patch_size;
        let d = params.patch_dim(shape.channels);
        let n = params.patches;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);

        let positions: Vec<(u32, u32)> = (0..n)
            .map(|_| {
                (
                    rng.gen_range(0..=shape.height - p) as u32,
                    rng.gen_range(0..=shape.width - p) as u32,
                )
            })
            .collect();
        let mut normalized = PackedRows::zeros(n, d);
        normalized
            .data
            .as_mut_slice()
            .par_chunks_mut(MR * d)
            .enumerate()
            .for_each(|(sliver, out)| {
                let mut patch = vec![0f32; d];
                for r in 0..MR.min(n - sliver * MR) {
                    let i = sliver * MR + r;
                    let (y, x) = positions[i];
                    read_patch(
                        train.get(i % train.len()),
                        y as usize,
                        x as usize,
                        p,
                        &mut patch,
                    );
                    normalize_patch(&mut patch);
                    for (k, &v) in patch.iter().enumerate() {
                        out[k * MR + r] = v;
                    }
                }
            });

        let (mean, covariance) = mean_and_covariance(&normalized);
        let eigen = symmetric_eigen(&covariance, d)?;
        // Rounding can leave the smallest eigenvalues a hair below zero (the mean-removed
        // patches span only d − 1 dimensions); clamping keeps the square root real.
        let whitening: Vec<f32> = eigen
            .compose(|l| 1.0 / (l.max(0.0) + WHITENING_EPS).sqrt())
            .iter()
            .map(|&v| v as f32)
            .collect();
        let mut dictionary = Dictionary::try_from(StoredDictionary {
            params: params.clone(),
            channels: shape.channels,
            mean: mean.iter().map(|&v| v as f32).collect(),
            whitening,
            centroids: vec![0.0; params.centroids * d],
            inertia: Vec::new(),
        })?;

        let mut whitened = PackedRows::zeros(n, d);
        whitened
            .data
            .as_mut_slice()
            .par_chunks_mut(ASSIGN_BLOCK_SLIVERS * MR * d)
            .enumerate()
            .for_each(|(block, out)| {
                let first = block * ASSIGN_BLOCK_SLIVERS;
                let slivers = first..(first + ASSIGN_BLOCK_SLIVERS).min(normalized.slivers());
                dictionary.whiten_slivers(&normalized, slivers, out);
            });
        drop(normalized);

        let (centroids, inertia) = lloyd(&whitened, params, &mut rng);
        dictionary = Dictionary::try_from(StoredDictionary {
            centroids,
            inertia,
            ..dictionary.stored
        })?;
        Ok(dictionary)
    }

    pub fn params(&self) -> &Params {
        &self.stored.params
    }

    /// Channels of the images the dictionary was fitted on.
    pub fn channels(&self) -> usize {
        self.stored.channels
    }

    /// Length `d` of a patch vector.
    pub fn patch_dim(&self) -> usize {
        self.stored.params.patch_dim(self.stored.channels)
    }

    /// K.
    pub fn num_centroids(&self) -> usize {
        self.stored.params.centroids
    }

    /// Mean `m` of the normalised training patches (length `d`).
    pub fn mean(&self) -> &[f32] {
        &self.stored.mean
    }

    /// ZCA whitening matrix `W`, row-major `d x d`.
    pub fn whitening(&self) -> &[f32] {
        &self.stored.whitening
    }

    /// Centroids in whitened space, row-major `K x d`.
    pub fn centroids(&self) -> &[f32] {
        &self.stored.centroids
    }

    /// Mean squared distance of the training patches to their nearest centroid at each
    /// pass's assignment step (so `inertia[i]` measures the centroids after `i` updates);
    /// it should fall monotonically.
    pub fn inertia(&self) -> &[f64] {
        &self.stored.inertia
    }

    /// Normalises and whitens one patch given as `d` raw pixel values (0..255) in
    /// (row, column, channel) order: `W ((x − mean(x)) / sqrt(var(x) + 10) − m)`.
    /// A plain reference path for inspection and tests; encoding uses the packed kernel.
    pub fn whiten_patch(&self, pixels: &[f32]) -> Result<Vec<f32>, FeatureError> {
        let d = self.patch_dim();
        if pixels.len() != d {
            return Err(FeatureError::invalid(
                "patch",
                format!("expected {d} values, got {}", pixels.len()),
            ));
        }
        let mut x = pixels.to_vec();
        normalize_patch(&mut x);
        let w = &self.stored.whitening;
        Ok((0..d)
            .map(|j| {
                (0..d)
                    .map(|i| w[j * d + i] * (x[i] - self.stored.mean[i]))
                    .sum()
            })
            .collect())
    }

    /// `out[block rows] = W x̂ − W m` for the slivers `slivers` of `input`; `out` holds just
    /// those slivers, packed the same way.
    fn whiten_slivers(&self, input: &PackedRows, slivers: std::ops::Range<usize>, out: &mut [f32]) {
        let mut sink = WhitenSink {
            out,
            first: slivers.start,
            bias: &self.whitening_bias,
        };
        for_each_tile(input, slivers, &self.whitening_panels, &mut sink);
    }

    /// The triangle encoding with quadrant pooling of one image into `out` (length `4K`).
    fn encode(&self, image: ImageView<'_>, scratch: &mut EncodeScratch, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if gemm::avx2_fma() {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                unsafe { self.encode_avx2(image, scratch, out) };
                return;
            }
        }
        self.encode_with::<gemm::Portable>(image, scratch, out);
    }

    /// [`Self::encode_with`] compiled for AVX2 + FMA as a whole, so patch extraction,
    /// square roots and pooling are vectorised for 256-bit registers too.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn encode_avx2(
        &self,
        image: ImageView<'_>,
        scratch: &mut EncodeScratch,
        out: &mut [f32],
    ) {
        self.encode_with::<gemm::Avx2Fma>(image, scratch, out);
    }

    /// Callers choosing `K = Avx2Fma` must have checked [`gemm::avx2_fma`].
    #[inline(always)]
    fn encode_with<K: Microkernel>(
        &self,
        image: ImageView<'_>,
        scratch: &mut EncodeScratch,
        out: &mut [f32],
    ) {
        let params = &self.stored.params;
        let p = params.patch_size;
        let d = self.patch_dim();
        let k = params.centroids;
        let grid = Grid::new(image.shape, p);
        let n = grid.len();

        scratch.patch.resize(d, 0.0);
        scratch.normalized.reset(n, d);
        for i in 0..n {
            read_patch(image, i / grid.cols, i % grid.cols, p, &mut scratch.patch);
            normalize_patch(&mut scratch.patch);
            scratch.normalized.set_row(i, &scratch.patch);
        }
        let slivers = scratch.normalized.slivers();
        scratch.whitened.reset(n, d);
        gemm::tiles::<K, _>(
            &scratch.normalized,
            0..slivers,
            &self.whitening_panels,
            &mut WhitenSink {
                out: scratch.whitened.data.as_mut_slice(),
                first: 0,
                bias: &self.whitening_bias,
            },
        );
        scratch.sq_norms.clear();
        for i in 0..n {
            scratch.whitened.row_into(i, &mut scratch.patch);
            scratch
                .sq_norms
                .push(scratch.patch.iter().map(|v| v * v).sum());
        }

        out.fill(0.0);
        let block_rows = ENCODE_BLOCK_SLIVERS * MR;
        scratch.distances.resize(block_rows * k, 0.0);
        scratch.row_lanes.resize(block_rows * NR, 0.0);
        for first in (0..slivers).step_by(ENCODE_BLOCK_SLIVERS) {
            let block = first..(first + ENCODE_BLOCK_SLIVERS).min(slivers);
            let row0 = first * MR;
            let rows = (block.end * MR).min(n) - row0;
            scratch.row_lanes.fill(0.0);
            let mut sink = DistanceSink::<K> {
                distances: &mut scratch.distances,
                row_lanes: &mut scratch.row_lanes,
                sq_norms: &scratch.sq_norms,
                centroid_sq_norms: &self.centroid_sq_norms,
                k,
                rows: n,
                row0,
                kernel: std::marker::PhantomData,
            };
            gemm::tiles::<K, _>(&scratch.whitened, block, &self.centroid_panels, &mut sink);
            for local in 0..rows {
                let sum: f32 = scratch.row_lanes[local * NR..(local + 1) * NR].iter().sum();
                let mean = sum / k as f32;
                let quadrant = grid.quadrant(row0 + local);
                let pool = &mut out[quadrant * k..(quadrant + 1) * k];
                let z = &scratch.distances[local * k..(local + 1) * k];
                for (acc, &z) in pool.iter_mut().zip(z) {
                    let f = mean - z;
                    *acc += if f > 0.0 { f } else { 0.0 };
                }
            }
        }
    }
}

/// Writes whitening tiles `W x̂ − W m` into packed rows (`out` starts at sliver `first`).
struct WhitenSink<'a> {
    out: &'a mut [f32],
    first: usize,
    bias: &'a [f32],
}

impl TileSink for WhitenSink<'_> {
    #[inline(always)]
    fn tile(&mut self, sliver: usize, panel: usize, t: &Tile) {
        let d = self.bias.len();
        let base = (sliver - self.first) * d * MR;
        for j in 0..NR.min(d - panel * NR) {
            let col = panel * NR + j;
            for r in 0..MR {
                self.out[base + col * MR + r] = t[r * NR + j] - self.bias[col];
            }
        }
    }
}

/// Turns dot-product tiles into distances `z = sqrt(‖x‖² + ‖c‖² − 2x·c)` for a block of
/// patch rows starting at `row0`, with per-row, per-lane running sums for `mean(z)`.
struct DistanceSink<'a, K> {
    /// `block rows x k`.
    distances: &'a mut [f32],
    /// `block rows x NR`.
    row_lanes: &'a mut [f32],
    sq_norms: &'a [f32],
    centroid_sq_norms: &'a [f32],
    k: usize,
    /// Valid patch rows of the image (the last sliver may be padding).
    rows: usize,
    row0: usize,
    kernel: std::marker::PhantomData<K>,
}

impl<K: Microkernel> TileSink for DistanceSink<'_, K> {
    #[inline(always)]
    fn tile(&mut self, sliver: usize, panel: usize, t: &Tile) {
        let k = self.k;
        let col0 = panel * NR;
        let width = NR.min(k - col0);
        let cc = &self.centroid_sq_norms[col0..col0 + width];
        for r in 0..MR.min(self.rows - sliver * MR) {
            let row = sliver * MR + r;
            let local = row - self.row0;
            let xx = self.sq_norms[row];
            let dots = &t[r * NR..r * NR + width];
            let z = &mut self.distances[local * k + col0..local * k + col0 + width];
            let lanes = &mut self.row_lanes[local * NR..local * NR + width];
            if let (Ok(cc), Ok(dots), Ok(z), Ok(lanes)) = (
                <&[f32; NR]>::try_from(cc),
                <&[f32; NR]>::try_from(dots),
                <&mut [f32; NR]>::try_from(&mut *z),
                <&mut [f32; NR]>::try_from(&mut *lanes),
            ) {
                // SAFETY: `K` was chosen for this CPU by the caller of `encode_with`.
                unsafe { K::distance_row(xx, cc, dots, z, lanes) };
                continue;
            }
            // The last, partial panel when K is not a multiple of NR.
            for j in 0..width {
                let sq = xx + cc[j] - 2.0 * dots[j];
                let v = if sq > 0.0 { sq.sqrt() } else { 0.0 };
                z[j] = v;
                lanes[j] += v;
            }
        }
    }
}

/// Nearest-centroid assignment: keeps, per row of the block starting at `row0`, the best
/// `x·c − ‖c‖²/2` and its centroid.
struct AssignSink<'a> {
    labels: &'a mut [u32],
    best: &'a mut [f32],
    half_norms: &'a [f32],
    k: usize,
    rows: usize,
    row0: usize,
}

impl TileSink for AssignSink<'_> {
    #[inline(always)]
    fn tile(&mut self, sliver: usize, panel: usize, t: &Tile) {
        let col0 = panel * NR;
        let width = NR.min(self.k - col0);
        let half_norms = &self.half_norms[col0..col0 + width];
        for r in 0..MR.min(self.rows - sliver * MR) {
            let local = sliver * MR + r - self.row0;
            let scores = &t[r * NR..r * NR + width];
            let best = self.best[local];
            // Most tiles hold no new best; this vectorised test skips them.
            let mut improves = false;
            for j in 0..width {
                improves |= scores[j] - half_norms[j] > best;
            }
            if improves {
                for j in 0..width {
                    // Ties keep the lowest index: panels are visited in order.
                    let score = scores[j] - half_norms[j];
                    if score > self.best[local] {
                        self.best[local] = score;
                        self.labels[local] = (col0 + j) as u32;
                    }
                }
            }
        }
    }
}

/// Mean and unbiased covariance (`f64`, row-major `d x d`) of the rows of `x`.
fn mean_and_covariance(x: &PackedRows) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = (x.rows, x.depth);
    let data = x.data.as_slice();
    // Fixed chunks reduced in order keep the sums independent of the thread count.
    const CHUNK_SLIVERS: usize = 2048;
    let chunks: Vec<std::ops::Range<usize>> = (0..x.slivers())
        .step_by(CHUNK_SLIVERS)
        .map(|s| s..(s + CHUNK_SLIVERS).min(x.slivers()))
        .collect();
    let row_count = |s: usize| MR.min(n - s * MR);
    let partial_sums: Vec<Vec<f64>> = chunks
        .par_iter()
        .map(|range| {
            let mut sum = vec![0f64; d];
            for s in range.clone() {
                let sliver = &data[s * d * MR..(s + 1) * d * MR];
                for (k, acc) in sum.iter_mut().enumerate() {
                    for r in 0..row_count(s) {
                        *acc += f64::from(sliver[k * MR + r]);
                    }
                }
            }
            sum
        })
        .collect();
    let mut mean = vec![0f64; d];
    for part in &partial_sums {
        for (m, v) in mean.iter_mut().zip(part) {
            *m += v;
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    // Sequential over chunks: each product is already threaded inside matrixmultiply.
    let partial_cov: Vec<ndarray::Array2<f64>> = chunks
        .iter()
        .map(|range| {
            let rows: usize = range.clone().map(row_count).sum();
            let mut centred = ndarray::Array2::<f64>::zeros((rows, d));
            let mut i = 0;
            for s in range.clone() {
                let sliver = &data[s * d * MR..(s + 1) * d * MR];
                for r in 0..row_count(s) {
                    for k in 0..d {
                        centred[[i, k]] = f64::from(sliver[k * MR + r]) - mean[k];
                    }
                    i += 1;
                }
            }
            centred.t().dot(&centred)
        })
        .collect();
    let mut cov = ndarray::Array2::<f64>::zeros((d, d));
    for part in &partial_cov {
        cov += part;
    }
    let denom = (n.max(2) - 1) as f64;
    let cov = (&cov + &cov.t()).mapv(|v| 0.5 * v / denom);
    (mean, cov.iter().copied().collect())
}

/// Lloyd's k-means on the rows of `x` (see the module docs); returns the centroids
/// (row-major `K x d`) and the inertia at each pass.
fn lloyd(x: &PackedRows, params: &Params, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<f64>) {
    let (n, d, k) = (x.rows, x.depth, params.centroids);
    let mut centroids: Vec<f32> = (0..k * d)
        .map(|_| 0.1 * rng.sample::<f32, _>(StandardNormal))
        .collect();
    let data = x.data.as_slice();
    let sq_norms: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| {
            let base = (i / MR) * d * MR + i % MR;
            (0..d).map(|j| data[base + j * MR].powi(2)).sum()
        })
        .collect();
    let mut labels = vec![0u32; n];
    let mut best = vec![0f32; n];
    let mut inertia = Vec::with_capacity(params.iterations);
    const UPDATE_CHUNKS: usize = 16;
    for _ in 0..params.iterations {
        let panels = PackedCols::from_rows_transposed(&centroids, k, d);
        let half_norms: Vec<f32> = centroids
            .chunks_exact(d)
            .map(|c| 0.5 * c.iter().map(|v| v * v).sum::<f32>())
            .collect();
        let block_rows = ASSIGN_BLOCK_SLIVERS * MR;
        labels
            .par_chunks_mut(block_rows)
            .zip(best.par_chunks_mut(block_rows))
            .enumerate()
            .for_each(|(block, (labels, best))| {
                let first = block * ASSIGN_BLOCK_SLIVERS;
                let slivers = first..(first + ASSIGN_BLOCK_SLIVERS).min(x.slivers());
                let row0 = first * MR;
                best.fill(f32::NEG_INFINITY);
                let mut sink = AssignSink {
                    labels,
                    best,
                    half_norms: &half_norms,
                    k,
                    rows: n,
                    row0,
                };
                for_each_tile(x, slivers, &panels, &mut sink);
            });
        let total: f64 = sq_norms
            .iter()
            .zip(&best)
            .map(|(&xx, &b)| f64::from((xx - 2.0 * b).max(0.0)))
            .sum();
        inertia.push(total / n as f64);

        let slivers = x.slivers();
        let per_chunk = slivers.div_ceil(UPDATE_CHUNKS);
        let partials: Vec<(Vec<f64>, Vec<u64>)> = (0..UPDATE_CHUNKS)
            .into_par_iter()
            .map(|c| {
                let mut sums = vec![0f64; k * d];
                let mut counts = vec![0u64; k];
                for s in c * per_chunk..((c + 1) * per_chunk).min(slivers) {
                    let sliver = &data[s * d * MR..(s + 1) * d * MR];
                    for r in 0..MR.min(n - s * MR) {
                        let label = labels[s * MR + r] as usize;
                        counts[label] += 1;
                        let acc = &mut sums[label * d..(label + 1) * d];
                        for (j, a) in acc.iter_mut().enumerate() {
                            *a += f64::from(sliver[j * MR + r]);
                        }
                    }
                }
                (sums, counts)
            })
            .collect();
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0u64; k];
        for (s, c) in &partials {
            for (a, b) in sums.iter_mut().zip(s) {
                *a += b;
            }
            for (a, b) in counts.iter_mut().zip(c) {
                *a += b;
            }
        }
        let mut row = vec![0f32; d];
        for c in 0..k {
            let centroid = &mut centroids[c * d..(c + 1) * d];
            if counts[c] == 0 {
                x.row_into(rng.gen_range(0..n), &mut row);
                centroid.copy_from_slice(&row);
            } else {
                let inv = 1.0 / counts[c] as f64;
                for (v, &s) in centroid.iter_mut().zip(&sums[c * d..(c + 1) * d]) {
                    *v = (s * inv) as f32;
                }
            }
        }
    }
    (centroids, inertia)
}

impl Extractor for Dictionary {
    fn name(&self) -> &'static str {
        "kmeans"
    }

    fn dim(&self, _shape: ImageShape) -> usize {
        4 * self.num_centroids()
    }

    /// # Panics
    /// If the image has a different channel count than the training images or is smaller
    /// than a patch ([`Params::check`] and the driver's shape check rule both out).
    fn extract(&self, image: ImageView<'_>, out: &mut [f32]) {
        assert_eq!(
            image.shape.channels, self.stored.channels,
            "kmeans dictionary was fitted on {}-channel images",
            self.stored.channels
        );
        assert!(
            image.shape.height.min(image.shape.width) >= self.stored.params.patch_size,
            "image smaller than the kmeans patch size"
        );
        assert_eq!(out.len(), 4 * self.num_centroids(), "output length");
        SCRATCH.with(|scratch| self.encode(image, &mut scratch.borrow_mut(), out));
    }

    fn normalization(&self) -> Normalization {
        Normalization::Standardize
    }
}

/// The atoms as a grid of colour patches: each centroid un-whitened back to normalised
/// pixel space (`W⁻¹ c + m`), contrast-stretched to 0..255 on its own, drawn `scale` pixels
/// per patch pixel with a one-pixel gray border; roughly square, in centroid order.
/// One-channel dictionaries are drawn in gray.
pub fn render_atoms(dict: &Dictionary, scale: usize) -> RgbImage {
    let scale = scale.max(1);
    let p = dict.params().patch_size;
    let c = dict.channels();
    let d = dict.patch_dim();
    let k = dict.num_centroids();
    let w: Vec<f64> = dict.whitening().iter().map(|&v| f64::from(v)).collect();
    // W is symmetric positive definite by construction (eigenvalues (λ + ε)^(-1/2)).
    let unwhiten = symmetric_eigen(&w, d)
        .map(|e| e.compose(|l| if l > 0.0 { 1.0 / l } else { 0.0 }))
        .unwrap_or_else(|_| vec![0.0; d * d]);
    let cols = (k as f64).sqrt().ceil() as usize;
    let rows = k.div_ceil(cols);
    let cell = p * scale + 1;
    let mut img = RgbImage::from_pixel(
        (cols * cell + 1) as u32,
        (rows * cell + 1) as u32,
        Rgb([128, 128, 128]),
    );
    for (atom, centroid) in dict.centroids().chunks_exact(d).enumerate() {
        let pixels: Vec<f64> = (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| unwhiten[i * d + j] * f64::from(centroid[j]))
                    .sum::<f64>()
                    + f64::from(dict.mean()[i])
            })
            .collect();
        let lo = pixels.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = pixels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let range = if hi - lo > 1e-12 { hi - lo } else { 1.0 };
        let to_u8 = |v: f64| (((v - lo) / range) * 255.0).round().clamp(0.0, 255.0) as u8;
        let (x0, y0) = ((atom % cols) * cell + 1, (atom / cols) * cell + 1);
        for py in 0..p * scale {
            for px in 0..p * scale {
                let base = ((py / scale) * p + px / scale) * c;
                let rgb = if c >= 3 {
                    [
                        to_u8(pixels[base]),
                        to_u8(pixels[base + 1]),
                        to_u8(pixels[base + 2]),
                    ]
                } else {
                    let g = to_u8(pixels[base]);
                    [g, g, g]
                };
                img.put_pixel((x0 + px) as u32, (y0 + py) as u32, Rgb(rgb));
            }
        }
    }
    img
}
