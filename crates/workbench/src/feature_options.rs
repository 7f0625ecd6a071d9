//! Every extractor's parameters as optional settings ([`FeatureOptions`]), shared by `run`,
//! `extract`, `show` and the experiment files of `compare`. Each one set overrides the
//! parameter's default in `wb_features` (see the `Params` structs of `hog`, `color`, `gabor`
//! and `kmeans`).
//!
//! Setting names are the parameter paths (`hog.cell_size` is `hog_cell_size`, `--hog-cell-size`
//! on the command line; `kmeans.centroids` is `kmeans_k`), and errors about a parameter name the
//! command-line option.

use anyhow::Result;
use serde::Deserialize;
use wb_data::ImageShape;
use wb_features::{color, hog, FeatureError, FeatureSpec};

/// Feature-extractor parameters; unset options keep the extractor's defaults.
///
/// The command line's feature options (`--hog-cell-size`) and the `[feature_options]` table of an
/// experiment file (the same names in snake case: `hog_cell_size`, `kmeans_k`; unknown names are
/// an error there).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureOptions {
    /// HOG: start from a named parameter set (default, skimage, cs231n, dalal-triggs); the
    /// other --hog-* options override it.
    pub hog_preset: Option<hog::Preset>,
    /// HOG: cell side in pixels [default: 8].
    pub hog_cell_size: Option<usize>,
    /// HOG: orientation bins over 0-180° [default: 9].
    pub hog_orientations: Option<usize>,
    /// HOG: block side in cells [default: 2].
    pub hog_block_size: Option<usize>,
    /// HOG: block normalisation: none, l1, l1-sqrt, l2 or l2-hys [default: l2-hys].
    pub hog_block_norm: Option<hog::BlockNorm>,
    /// HOG: gradient votes: hard, interpolated or cs231n [default: interpolated].
    pub hog_binning: Option<hog::Binning>,
    /// HOG: gradient of gray (luma) or of the max-gradient colour channel [default: gray].
    pub hog_channel_mode: Option<hog::ChannelMode>,
    /// HOG: derivative mask, central or forward [default: central].
    pub hog_gradient: Option<hog::Gradient>,
    /// HOG: grayscale weights, rec709 or cs231n [default: rec709].
    pub hog_luma: Option<hog::Luma>,
    /// Colour histogram: hue, hsv (per channel) or joint-hsv [default: hue].
    pub color_mode: Option<color::Mode>,
    /// Colour histogram: bins per channel [default: 10].
    pub color_bins: Option<usize>,
    /// Gabor: frequencies in cycles/pixel, each in (0, 0.5), comma separated [default: 0.1,0.2,0.3,0.4].
    pub gabor_frequencies: Option<Vec<f64>>,
    /// Gabor: orientations per frequency [default: 8].
    pub gabor_orientations: Option<usize>,
    /// Gabor: frequency bandwidth in octaves [default: 1].
    pub gabor_bandwidth: Option<f64>,
    /// Gabor: kernel half-extent in standard deviations [default: 3].
    pub gabor_n_stds: Option<f64>,
    /// Gabor: pooling grid side; statistics over the image and each of GRIDxGRID cells [default: 2].
    pub gabor_grid: Option<usize>,
    /// k-means: number of centroids K (features have 4K dimensions) [default: 1600].
    #[serde(rename = "kmeans_k")]
    pub kmeans_centroids: Option<usize>,
    /// k-means: receptive-field (patch) side in pixels [default: 6].
    pub kmeans_patch_size: Option<usize>,
    /// k-means: random training patches to learn the whitening and the centroids from [default: 400000].
    pub kmeans_patches: Option<usize>,
    /// k-means: full passes of Lloyd's algorithm [default: 10].
    pub kmeans_iterations: Option<usize>,
}

/// The option that sets each parameter (`FeatureError` names parameters by path).
const OPTIONS: &[(&str, &str)] = &[
    ("hog.preset", "--hog-preset"),
    ("hog.cell_size", "--hog-cell-size"),
    ("hog.orientations", "--hog-orientations"),
    ("hog.block_size", "--hog-block-size"),
    ("hog.block_norm", "--hog-block-norm"),
    ("hog.binning", "--hog-binning"),
    ("hog.channel_mode", "--hog-channel-mode"),
    ("hog.gradient", "--hog-gradient"),
    ("hog.luma", "--hog-luma"),
    ("color.mode", "--color-mode"),
    ("color.bins", "--color-bins"),
    ("gabor.frequencies", "--gabor-frequencies"),
    ("gabor.orientations", "--gabor-orientations"),
    ("gabor.bandwidth", "--gabor-bandwidth"),
    ("gabor.n_stds", "--gabor-n-stds"),
    ("gabor.grid", "--gabor-grid"),
    ("kmeans.centroids", "--kmeans-k"),
    ("kmeans.patch_size", "--kmeans-patch-size"),
    ("kmeans.patches", "--kmeans-patches"),
    ("kmeans.iterations", "--kmeans-iterations"),
];

/// A side long enough that every check depending on the image size passes, so checking
/// against it reports only the mistakes that no image could fix.
const ANY_SIDE: usize = 1 << 16;

/// `over.field.or(base.field)` for every listed field.
macro_rules! overlay {
    ($over:expr, $base:expr, $($field:ident),*) => {
        FeatureOptions { $($field: $over.$field.clone().or($base.$field.clone())),* }
    };
}

impl FeatureOptions {
    /// These options, with the unset ones taken from `base` (flags over an experiment file).
    pub fn over(&self, base: &FeatureOptions) -> FeatureOptions {
        overlay!(
            self,
            base,
            hog_preset,
            hog_cell_size,
            hog_orientations,
            hog_block_size,
            hog_block_norm,
            hog_binning,
            hog_channel_mode,
            hog_gradient,
            hog_luma,
            color_mode,
            color_bins,
            gabor_frequencies,
            gabor_orientations,
            gabor_bandwidth,
            gabor_n_stds,
            gabor_grid,
            kmeans_centroids,
            kmeans_patch_size,
            kmeans_patches,
            kmeans_iterations
        )
    }

    /// Writes the options given into `spec` (a `--hog-preset` first, then the single options)
    /// and rejects values that cannot work for any image, naming the option.
    pub fn apply(&self, spec: &mut FeatureSpec) -> Result<()> {
        if let Some(preset) = self.hog_preset {
            spec.hog = hog::Params::preset(preset);
        }
        set(&mut spec.hog.cell_size, self.hog_cell_size);
        set(&mut spec.hog.orientations, self.hog_orientations);
        set(&mut spec.hog.block_size, self.hog_block_size);
        set(&mut spec.hog.block_norm, self.hog_block_norm);
        set(&mut spec.hog.binning, self.hog_binning);
        set(&mut spec.hog.channel_mode, self.hog_channel_mode);
        set(&mut spec.hog.gradient, self.hog_gradient);
        set(&mut spec.hog.luma, self.hog_luma);
        set(&mut spec.color.mode, self.color_mode);
        set(&mut spec.color.bins, self.color_bins);
        set(&mut spec.gabor.frequencies, self.gabor_frequencies.clone());
        set(&mut spec.gabor.orientations, self.gabor_orientations);
        set(&mut spec.gabor.bandwidth, self.gabor_bandwidth);
        set(&mut spec.gabor.n_stds, self.gabor_n_stds);
        set(&mut spec.gabor.grid, self.gabor_grid);
        set(&mut spec.kmeans.centroids, self.kmeans_centroids);
        set(&mut spec.kmeans.patch_size, self.kmeans_patch_size);
        set(&mut spec.kmeans.patches, self.kmeans_patches);
        set(&mut spec.kmeans.iterations, self.kmeans_iterations);
        // Checked for every extractor, named in --features or not: an option given for an
        // unused extractor is still a typo worth reporting. Colour needs RGB, so RGB it is.
        let mut all = spec.clone();
        all.parts = wb_features::FeatureKind::ALL.to_vec();
        check(
            &all,
            ImageShape {
                height: ANY_SIDE,
                width: ANY_SIDE,
                channels: 3,
            },
        )
    }
}

/// `spec.check(shape)`, with the option that sets the offending parameter named in the error.
pub fn check(spec: &FeatureSpec, shape: ImageShape) -> Result<()> {
    spec.check(shape).map_err(name_option)
}

/// Adds the command-line option to an error about a parameter (`hog.cell_size` is set by
/// `--hog-cell-size`); other errors are passed on unchanged.
pub fn name_option(e: FeatureError) -> anyhow::Error {
    if let FeatureError::InvalidParam { param, reason } = &e {
        if let Some((_, option)) = OPTIONS.iter().find(|(p, _)| p == param) {
            return anyhow::anyhow!("invalid value for {option}: {reason}");
        }
    }
    e.into()
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}
