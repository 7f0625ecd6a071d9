//! `pipeline show`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use wb_features::FeatureSpec;
use wb_workbench::show::ShowParams;
use wb_workbench::FeatureOptions;

use super::data::DataArgs;
use super::features::FeatureArgs;

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Extractors to picture, comma separated (kmeans is only drawn when named: it fits a
    /// dictionary on the training split; --kmeans-k 64 --kmeans-patches 20000 keep it quick).
    #[arg(long, default_value = "hog,color,gabor")]
    pub features: String,
    #[command(flatten)]
    pub feature_options: FeatureArgs,
    /// Folder to write the PNGs into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Which training image to draw (0-based).
    #[arg(long, default_value_t = 0)]
    pub index: usize,
}

impl TryFrom<&ShowArgs> for ShowParams {
    type Error = anyhow::Error;

    fn try_from(a: &ShowArgs) -> Result<ShowParams> {
        let mut features = FeatureSpec::parse(&a.features)?;
        FeatureOptions::from(&a.feature_options).apply(&mut features)?;
        Ok(ShowParams {
            data: (&a.data).into(),
            features,
            out: a.out.clone(),
            index: a.index,
        })
    }
}
