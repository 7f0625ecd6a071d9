//! Every extractor's parameters as command-line options (`--hog-cell-size 4`, ...), shared by
//! `run`, `extract`, `show` and `compare`; each given one overrides the parameter's default
//! (`wb_workbench::FeatureOptions`). Option names are the parameter paths with dashes
//! (`hog.cell_size` is `--hog-cell-size`; `kmeans.centroids` is `--kmeans-k`).

use clap::Args;
use wb_features::{color, hog, FeatureError};
use wb_workbench::FeatureOptions;

/// Feature-extractor parameters; unset options keep the extractor's defaults.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Feature options")]
pub struct FeatureArgs {
    /// HOG: start from a named parameter set (default, skimage, cs231n, dalal-triggs); the
    /// other --hog-* options override it.
    #[arg(long, value_name = "PRESET", value_parser = parse_named::<hog::Preset>)]
    pub hog_preset: Option<hog::Preset>,
    /// HOG: cell side in pixels [default: 8].
    #[arg(long, value_name = "PIXELS")]
    pub hog_cell_size: Option<usize>,
    /// HOG: orientation bins over 0-180° [default: 9].
    #[arg(long, value_name = "BINS")]
    pub hog_orientations: Option<usize>,
    /// HOG: block side in cells [default: 2].
    #[arg(long, value_name = "CELLS")]
    pub hog_block_size: Option<usize>,
    /// HOG: block normalisation: none, l1, l1-sqrt, l2 or l2-hys [default: l2-hys].
    #[arg(long, value_name = "NORM", value_parser = parse_named::<hog::BlockNorm>)]
    pub hog_block_norm: Option<hog::BlockNorm>,
    /// HOG: gradient votes: hard, interpolated or cs231n [default: interpolated].
    #[arg(long, value_name = "BINNING", value_parser = parse_named::<hog::Binning>)]
    pub hog_binning: Option<hog::Binning>,
    /// HOG: gradient of gray (luma) or of the max-gradient colour channel [default: gray].
    #[arg(long, alias = "hog-channel", value_name = "MODE", value_parser = parse_named::<hog::ChannelMode>)]
    pub hog_channel_mode: Option<hog::ChannelMode>,
    /// HOG: derivative mask, central or forward [default: central].
    #[arg(long, value_name = "MASK", value_parser = parse_named::<hog::Gradient>)]
    pub hog_gradient: Option<hog::Gradient>,
    /// HOG: grayscale weights, rec709 or cs231n [default: rec709].
    #[arg(long, value_name = "WEIGHTS", value_parser = parse_named::<hog::Luma>)]
    pub hog_luma: Option<hog::Luma>,
    /// Colour histogram: hue, hsv (per channel) or joint-hsv [default: hue].
    #[arg(long, value_name = "MODE", value_parser = parse_named::<color::Mode>)]
    pub color_mode: Option<color::Mode>,
    /// Colour histogram: bins per channel [default: 10].
    #[arg(long, value_name = "BINS")]
    pub color_bins: Option<usize>,
    /// Gabor: frequencies in cycles/pixel, each in (0, 0.5), comma separated [default: 0.1,0.2,0.3,0.4].
    #[arg(
        long,
        value_name = "F,F,...",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    pub gabor_frequencies: Option<Vec<f64>>,
    /// Gabor: orientations per frequency [default: 8].
    #[arg(long, value_name = "N")]
    pub gabor_orientations: Option<usize>,
    /// Gabor: frequency bandwidth in octaves [default: 1].
    #[arg(long, value_name = "OCTAVES", allow_negative_numbers = true)]
    pub gabor_bandwidth: Option<f64>,
    /// Gabor: kernel half-extent in standard deviations [default: 3].
    #[arg(long, value_name = "STDS", allow_negative_numbers = true)]
    pub gabor_n_stds: Option<f64>,
    /// Gabor: pooling grid side; statistics over the image and each of GRIDxGRID cells [default: 2].
    #[arg(long, value_name = "GRID")]
    pub gabor_grid: Option<usize>,
    /// k-means: number of centroids K (features have 4K dimensions) [default: 1600].
    #[arg(
        long = "kmeans-k",
        visible_alias = "kmeans-centroids",
        value_name = "K"
    )]
    pub kmeans_centroids: Option<usize>,
    /// k-means: receptive-field (patch) side in pixels [default: 6].
    #[arg(long, value_name = "PIXELS")]
    pub kmeans_patch_size: Option<usize>,
    /// k-means: random training patches to learn the whitening and the centroids from [default: 400000].
    #[arg(long, value_name = "N")]
    pub kmeans_patches: Option<usize>,
    /// k-means: full passes of Lloyd's algorithm [default: 10].
    #[arg(long, value_name = "N")]
    pub kmeans_iterations: Option<usize>,
}

impl From<&FeatureArgs> for FeatureOptions {
    fn from(a: &FeatureArgs) -> FeatureOptions {
        FeatureOptions {
            hog_preset: a.hog_preset,
            hog_cell_size: a.hog_cell_size,
            hog_orientations: a.hog_orientations,
            hog_block_size: a.hog_block_size,
            hog_block_norm: a.hog_block_norm,
            hog_binning: a.hog_binning,
            hog_channel_mode: a.hog_channel_mode,
            hog_gradient: a.hog_gradient,
            hog_luma: a.hog_luma,
            color_mode: a.color_mode,
            color_bins: a.color_bins,
            gabor_frequencies: a.gabor_frequencies.clone(),
            gabor_orientations: a.gabor_orientations,
            gabor_bandwidth: a.gabor_bandwidth,
            gabor_n_stds: a.gabor_n_stds,
            gabor_grid: a.gabor_grid,
            kmeans_centroids: a.kmeans_centroids,
            kmeans_patch_size: a.kmeans_patch_size,
            kmeans_patches: a.kmeans_patches,
            kmeans_iterations: a.kmeans_iterations,
        }
    }
}

/// clap value parser for the features crate's named enums (their `FromStr` lists the valid
/// names when it fails).
fn parse_named<T: std::str::FromStr<Err = FeatureError>>(s: &str) -> Result<T, String> {
    s.parse::<T>().map_err(|e| match e {
        FeatureError::InvalidParam { reason, .. } => reason,
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use wb_features::FeatureSpec;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        features: FeatureArgs,
    }

    fn applied(args: &[&str]) -> anyhow::Result<FeatureSpec> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut spec = FeatureSpec::parse("hog,color,gabor")?;
        FeatureOptions::from(&cli.features).apply(&mut spec)?;
        Ok(spec)
    }

    #[test]
    fn options_override_the_defaults_and_leave_the_rest() {
        let spec = applied(&[
            "--hog-cell-size",
            "4",
            "--hog-block-norm",
            "l1-sqrt",
            "--color-mode",
            "joint-hsv",
            "--color-bins",
            "4",
            "--gabor-frequencies",
            "0.15,0.3",
            "--kmeans-k",
            "50",
        ])
        .unwrap();
        assert_eq!(spec.hog.cell_size, 4);
        assert_eq!(spec.hog.block_norm, hog::BlockNorm::L1Sqrt);
        assert_eq!(spec.hog.orientations, hog::Params::default().orientations);
        assert_eq!(spec.color.mode, color::Mode::JointHsv);
        assert_eq!(spec.color.bins, 4);
        assert_eq!(spec.gabor.frequencies, vec![0.15, 0.3]);
        assert_eq!(spec.kmeans.centroids, 50);
        assert_eq!(spec.kmeans.patch_size, 6);
    }

    #[test]
    fn a_preset_is_applied_before_the_single_options() {
        let spec = applied(&["--hog-preset", "cs231n", "--hog-orientations", "12"]).unwrap();
        let cs = hog::Params::preset(hog::Preset::Cs231n);
        assert_eq!(spec.hog.binning, cs.binning);
        assert_eq!(spec.hog.block_norm, hog::BlockNorm::None);
        assert_eq!(spec.hog.orientations, 12);
    }

    #[test]
    fn bad_values_name_the_option() {
        for (args, option) in [
            (&["--hog-cell-size", "0"][..], "--hog-cell-size"),
            (&["--hog-orientations", "500"], "--hog-orientations"),
            (&["--gabor-frequencies", "0.1,0.7"], "--gabor-frequencies"),
            (&["--gabor-bandwidth", "-1"], "--gabor-bandwidth"),
            (&["--kmeans-k", "1"], "--kmeans-k"),
            (&["--color-bins", "0"], "--color-bins"),
            (&["--hog-block-norm", "l3"], "--hog-block-norm"),
            (&["--color-mode", "rgb"], "--color-mode"),
        ] {
            let err = format!("{:#}", applied(args).unwrap_err());
            assert!(err.contains(option), "{args:?}: {err}");
        }
    }

    #[test]
    fn an_unknown_enum_value_lists_the_valid_ones() {
        let err = format!("{:#}", applied(&["--hog-block-norm", "l3"]).unwrap_err());
        assert!(err.contains("l2-hys") && err.contains("l1-sqrt"), "{err}");
    }
}
