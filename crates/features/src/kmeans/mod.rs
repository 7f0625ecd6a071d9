//! Bag of visual words on whitened image patches: a dictionary of K atoms (k-means
//! centroids or random whitened patches), one of three encoders, and sum-pooling over
//! spatial regions. The triangle encoder with quadrant pooling (the default) is Coates,
//! Lee & Ng, *An analysis of single-layer networks in unsupervised feature learning*
//! (AISTATS 2011), following their released MATLAB code (`kmeans_demo.m`,
//! `extract_features.m`, `run_kmeans.m`); the soft-threshold and OMP-1 encoders and the
//! random-patch dictionary are Coates & Ng, *The importance of encoding versus training
//! with sparse coding and vector quantization* (ICML 2011).
//!
//! Fitting ([`Dictionary::fit`]):
//! 1. `patches` random `p x p x C` patches (`p = patch_size`, 6 by default): patch `i`
//!    comes from training image `i mod N` at a uniformly random position, as in Coates' code.
//! 2. Brightness/contrast normalisation of each patch with its own mean and unbiased
//!    variance over its `d = p·p·C` values (pixels in 0..255):
//!    `x̂ = (x − mean(x)) / sqrt(var(x) + 10)` ([`CONTRAST_EPS`]).
//! 3. ZCA whitening from the `d x d` covariance `Σ = V Λ Vᵀ` of the normalised patches
//!    (unbiased, eigen-decomposed in `f64` by [`symmetric_eigen`], nalgebra's solver):
//!    `W = V (Λ + 0.1 I)^(-1/2) Vᵀ` ([`WHITENING_EPS`]), `x_w = W (x̂ − m)` with `m` the
//!    mean normalised patch.
//! 4. The atoms, by [`DictionarySource`]:
//!    - `kmeans`: Lloyd's k-means on the whitened patches, `iterations` full passes
//!      (Coates' code: `run_kmeans` processes all patches in batches of 1000 per pass).
//!      Centroids start as `0.1 · N(0, 1)` like theirs; each pass assigns every patch to
//!      `argmax_k (x·c_k − ‖c_k‖²/2)` (= nearest centroid) and moves each centroid to the
//!      mean of its patches. A centroid left with no patch is *re-seeded on a random
//!      whitened patch* (Coates sets it to zero instead, which leaves a dead atom near the
//!      origin; re-seeding keeps all K atoms useful). 10 passes by default, as the
//!      scikit-learn peer uses; Coates' demo runs 50.
//!    - `patches`: K distinct random whitened training patches scaled to unit length
//!      (Coates & Ng 2011, §3.1 "random patches"; patches of norm below `1e-3`, from flat
//!      image regions, are skipped). No k-means pass is run (`iterations` is unused).
//!
//! Encoding ([`Extractor::extract`]): every stride-1 patch (27 x 27 = 729 for a 32 x 32
//! image and `p = 6`) is normalised and whitened with the fitted `m` and `W` into `x`, and
//! turned into per-position features by the [`Encoder`]:
//! - `triangle` (K features): `f_k = max(0, mean_j(z_j) − z_k)` with `z_k = ‖x − c_k‖`
//!   (Coates, Lee & Ng 2011: "k-means (triangle)");
//! - `soft` (2K features): soft threshold with both polarities,
//!   `f_k = max(0, d_kᵀx − α)` and `f_{K+k} = max(0, −d_kᵀx − α)`, `α = 0.25` by default
//!   ([`Params::alpha`]), with `d_k = c_k / ‖c_k‖` the unit-length atoms (Coates & Ng
//!   2011, §3.2 "soft threshold"; their best CIFAR-10 encoder);
//! - `omp1` (2K features): orthogonal matching pursuit with one atom,
//!   `k* = argmax_k |d_kᵀx|`, `s = d_{k*}ᵀx`, and only `f_{k*} = max(0, s)`,
//!   `f_{K+k*} = max(0, −s)` non-zero (Coates & Ng 2011, §3.2 "OMP-k" with k = 1 and the
//!   same polarity split).
//!
//! The features are then summed over the regions of the [`Pooling`]: the four quadrants
//! of the patch grid (default; rows split at `round(rows / 2)`, columns likewise: 14 + 13
//! for 27, as Coates' `round(prows/2)`), a 3x3 grid, or the pyramid 1x1 + 2x2 + 4x4 (21
//! regions; Lazebnik, Schmid & Ponce, CVPR 2006, with sums instead of histograms). Output
//! layout: `[region][feature]`, regions row-major (the pyramid's whole image first, then
//! its quadrants, then its 16 cells), and within a region the K (triangle) or 2K features
//! (positive polarity first). Dimension: regions x features per position
//! ([`Dictionary::feature_dim`]). The features are standardised by the driver's scaler
//! before the classifier, as Coates does before the SVM ([`Normalization::Standardize`]).
//!
//! Speed: distances come from `‖x‖² − 2x·c + ‖c‖²`, so the only `O(K·d)` work per patch is
//! the product `x·c`, computed by a packed register-tile kernel (`gemm.rs`) whose
//! epilogue turns each tile straight into the encoder's output (`encode.rs`), so the
//! `patches x K` product is never stored. Images are encoded in parallel by the driver (one
//! image per rayon task, single-threaded kernel inside), which measured faster than a
//! threaded GEMM over batches of images (see `BENCH_kmeans.md`).

mod eigen;
mod encode;
mod gemm;

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use wb_data::{ImageShape, ImageView, Images};

use crate::hog::named_enum;
use crate::{Extractor, FeatureError, Normalization};
use encode::SCRATCH;
use gemm::{for_each_tile, PackedCols, PackedRows, QuantCols, Tile, TileSink, MR, NR};

pub use eigen::{symmetric_eigen, SymmetricEigen};
pub use gemm::KERNEL_ENV;

/// The product kernel this process uses (`avx512`, `avx2` or `portable`): the best the CPU
/// supports unless [`KERNEL_ENV`] names another.
pub fn kernel_name() -> &'static str {
    gemm::kernel().name()
}

/// Whether this process's triangle encoder takes its patch · centroid products in int8
/// (the `avx512vnni` kernel: each whitened patch and each centroid scaled by its own
/// `max|v| / 127` and rounded to nearest even, the integer products exact, the norms in
/// `f32`).
pub fn int8_products() -> bool {
    gemm::kernel().int8_products()
}

/// The `+10` in the per-patch normalisation `(x − mean) / sqrt(var + 10)` (pixels 0..255).
pub const CONTRAST_EPS: f32 = 10.0;
/// The `ε` in the ZCA whitening matrix `V (Λ + ε I)^(-1/2) Vᵀ`.
pub const WHITENING_EPS: f64 = 0.1;
/// Largest supported dictionary (16,000 features per image).
pub const MAX_CENTROIDS: usize = 4000;
/// Largest number of training patches (4.3 GB of whitened 108-float patches).
pub const MAX_PATCHES: usize = 10_000_000;

/// How each whitened patch becomes its per-position features (formulas in the
/// [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoder {
    /// `max(0, mean(z) − z_k)`, `z_k = ‖x − c_k‖`: K features (Coates, Lee & Ng 2011).
    Triangle,
    /// `max(0, ±d_kᵀx − α)` with unit atoms: 2K features (Coates & Ng 2011).
    Soft,
    /// Only the atom of largest `|d_kᵀx|`, split by sign: 2K features (Coates & Ng 2011).
    Omp1,
}

named_enum!(Encoder, "kmeans.encoder", {
    Triangle => "triangle",
    Soft => "soft" | "soft-threshold",
    Omp1 => "omp1" | "omp-1",
});

impl Encoder {
    /// Features per patch position for `k` atoms.
    pub fn features_per_position(self, k: usize) -> usize {
        match self {
            Encoder::Triangle => k,
            Encoder::Soft | Encoder::Omp1 => 2 * k,
        }
    }
}

/// Where the K atoms come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DictionarySource {
    /// Lloyd's k-means centroids of the whitened patches.
    Kmeans,
    /// Random whitened training patches scaled to unit length.
    Patches,
}

named_enum!(DictionarySource, "kmeans.dictionary", {
    Kmeans => "kmeans" | "k-means",
    Patches => "patches" | "random-patches",
});

/// The regions the per-position features are summed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pooling {
    /// The 2x2 quadrants of the patch grid (Coates, Lee & Ng 2011).
    #[serde(rename = "quadrants")]
    Quadrants,
    /// A 3x3 grid.
    #[serde(rename = "3x3")]
    Grid3x3,
    /// 1x1 + 2x2 + 4x4 = 21 regions.
    #[serde(rename = "pyramid")]
    Pyramid,
}

named_enum!(Pooling, "kmeans.pool", {
    Quadrants => "quadrants" | "2x2",
    Grid3x3 => "3x3",
    Pyramid => "pyramid",
});

impl Pooling {
    /// Number of pooling regions.
    pub fn regions(self) -> usize {
        match self {
            Pooling::Quadrants => 4,
            Pooling::Grid3x3 => 9,
            Pooling::Pyramid => 21,
        }
    }

    /// Cells per side of the finest grid the patches are accumulated in.
    pub(crate) fn finest_side(self) -> usize {
        match self {
            Pooling::Quadrants => 2,
            Pooling::Grid3x3 => 3,
            Pooling::Pyramid => 4,
        }
    }
}

/// Parameters of the patch dictionary and its encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// K, the number of atoms (k-means centroids or random patches); features have
    /// `regions x K` (triangle) or `regions x 2K` (soft, omp1) dimensions. Coates' best
    /// single-layer CIFAR-10 result with the triangle (77.9%) uses 1600. Allowed: 2..=4000 —
    /// small K is accepted for tests and quick looks, K = 1 is rejected because the
    /// triangle activation `max(0, mean(z) − z_k)` is then identically zero.
    pub centroids: usize,
    /// Side of the square receptive field in pixels (Coates' `rfSize`, 6).
    pub patch_size: usize,
    /// Number of random training patches the whitening and the atoms are fitted on.
    pub patches: usize,
    /// Full k-means passes over all patches (unused with `dictionary: patches`).
    pub iterations: usize,
    /// The per-position encoder.
    pub encoder: Encoder,
    /// Where the atoms come from.
    pub dictionary: DictionarySource,
    /// The soft threshold's `α` (used by `encoder: soft`); Coates & Ng use 0.25.
    pub alpha: f32,
    /// The pooling regions.
    pub pool: Pooling,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            centroids: 1600,
            patch_size: 6,
            patches: 400_000,
            iterations: 10,
            encoder: Encoder::Triangle,
            dictionary: DictionarySource::Kmeans,
            alpha: 0.25,
            pool: Pooling::Quadrants,
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
        if self.iterations == 0 && self.dictionary == DictionarySource::Kmeans {
            return Err(FeatureError::invalid(
                "kmeans.iterations",
                "must be at least 1 (0 would leave random centroids)",
            ));
        }
        if !self.alpha.is_finite() || self.alpha < 0.0 {
            return Err(FeatureError::invalid(
                "kmeans.alpha",
                format!(
                    "{} is not a threshold: must be a finite number >= 0",
                    self.alpha
                ),
            ));
        }
        Ok(())
    }

    /// Length of one image's feature vector: pooling regions x features per position.
    pub fn feature_dim(&self) -> usize {
        self.pool.regions() * self.encoder.features_per_position(self.centroids)
    }

    /// Length `p·p·C` of one patch vector.
    pub fn patch_dim(&self, channels: usize) -> usize {
        self.patch_size * self.patch_size * channels
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
    /// The atoms the encoder uses, packed for the kernel: the centroids for the triangle,
    /// the centroids scaled to unit length for soft and OMP-1.
    atom_panels: PackedCols,
    /// The same atoms in int8, for the triangle encoder on kernels with int8 products.
    atom_quant: QuantCols,
    /// `‖c_k‖²` of those atoms (the triangle's distances), from the `f32` atoms.
    atom_sq_norms: Vec<f32>,
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
        if !p.alpha.is_finite() || p.alpha < 0.0 {
            return Err(FeatureError::invalid(
                "kmeans dictionary",
                format!("alpha {} must be a finite number >= 0", p.alpha),
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
        let atoms: Vec<f32> = match p.encoder {
            Encoder::Triangle => stored.centroids.clone(),
            Encoder::Soft | Encoder::Omp1 => unit_rows(&stored.centroids, d),
        };
        let atom_panels = PackedCols::from_rows_transposed(&atoms, k, d);
        let atom_quant = if p.encoder == Encoder::Triangle && gemm::kernel().int8_products() {
            QuantCols::from_rows_transposed(&atoms, k, d)
        } else {
            QuantCols::default()
        };
        let atom_sq_norms = atoms
            .chunks_exact(d)
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        Ok(Dictionary {
            stored,
            whitening_panels,
            whitening_bias,
            atom_panels,
            atom_quant,
            atom_sq_norms,
        })
    }
}

impl From<Dictionary> for StoredDictionary {
    fn from(d: Dictionary) -> Self {
        d.stored
    }
}

/// Slivers per k-means assignment task: 384 patches x 108 floats = 166 KB of L2.
const ASSIGN_BLOCK_SLIVERS: usize = 64;

impl Dictionary {
    /// Learns the whitening and the atoms from `params.patches` random patches of `train` (see the
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

        let (centroids, inertia) = match params.dictionary {
            DictionarySource::Kmeans => lloyd(&whitened, params, &mut rng),
            DictionarySource::Patches => (
                random_patch_atoms(&whitened, params.centroids, &mut rng),
                Vec::new(),
            ),
        };
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

    /// K, the number of atoms.
    pub fn num_centroids(&self) -> usize {
        self.stored.params.centroids
    }

    /// Features per patch position: K (triangle) or 2K (soft, OMP-1).
    pub fn features_per_position(&self) -> usize {
        self.stored
            .params
            .encoder
            .features_per_position(self.num_centroids())
    }

    /// Length of one image's feature vector (pooling regions x features per position).
    pub fn feature_dim(&self) -> usize {
        self.stored.params.feature_dim()
    }

    /// The encoder's atoms, row-major `K x d`: the centroids for the triangle, the
    /// centroids scaled to unit length (`d_k`) for soft and OMP-1.
    pub fn atoms(&self) -> Vec<f32> {
        let d = self.patch_dim();
        match self.stored.params.encoder {
            Encoder::Triangle => self.stored.centroids.clone(),
            Encoder::Soft | Encoder::Omp1 => unit_rows(&self.stored.centroids, d),
        }
    }

    /// Mean `m` of the normalised training patches (length `d`).
    pub fn mean(&self) -> &[f32] {
        &self.stored.mean
    }

    /// ZCA whitening matrix `W`, row-major `d x d`.
    pub fn whitening(&self) -> &[f32] {
        &self.stored.whitening
    }

    /// The atoms as fitted, in whitened space, row-major `K x d`: k-means centroids, or unit
    /// whitened patches with `dictionary: patches`.
    pub fn centroids(&self) -> &[f32] {
        &self.stored.centroids
    }

    /// Mean squared distance of the training patches to their nearest centroid at each
    /// pass's assignment step (so `inertia[i]` measures the centroids after `i` updates);
    /// it should fall monotonically. Empty for `dictionary: patches`.
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

/// The rows of the row-major `rows x d` matrix scaled to unit Euclidean length (rows of
/// zeros stay zero).
fn unit_rows(rows: &[f32], d: usize) -> Vec<f32> {
    let mut out = rows.to_vec();
    for row in out.chunks_exact_mut(d) {
        let norm = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            let inv = (1.0 / norm) as f32;
            row.iter_mut().for_each(|v| *v *= inv);
        }
    }
    out
}

/// Smallest norm a whitened patch needs to become a random-patch atom: flat image
/// regions whiten to (almost) zero and would give a direction of pure rounding noise.
const MIN_PATCH_ATOM_NORM: f64 = 1e-3;

/// `k` distinct random rows of `x` with norm at least [`MIN_PATCH_ATOM_NORM`], scaled to
/// unit length (row-major `k x d`), in the order drawn; if fewer rows qualify (e.g. flat
/// training images), the remaining atoms are zero.
fn random_patch_atoms(x: &PackedRows, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let (n, d) = (x.rows, x.depth);
    let mut atoms = vec![0f32; k * d];
    let mut row = vec![0f32; d];
    let mut taken = 0;
    for index in rand::seq::index::sample(rng, n, n).iter() {
        if taken == k {
            break;
        }
        x.row_into(index, &mut row);
        let norm = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        if norm >= MIN_PATCH_ATOM_NORM {
            let inv = (1.0 / norm) as f32;
            for (a, &v) in atoms[taken * d..(taken + 1) * d].iter_mut().zip(&row) {
                *a = v * inv;
            }
            taken += 1;
        }
    }
    atoms
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
        self.feature_dim()
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
        assert_eq!(out.len(), self.feature_dim(), "output length");
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
