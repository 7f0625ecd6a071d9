//! `pipeline fit-features`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use wb_features::FeatureSpec;
use wb_workbench::fitted::FitParams;
use wb_workbench::FeatureOptions;

use super::data::DataArgs;
use super::features::FeatureArgs;

#[derive(Debug, Clone, Args)]
pub struct FitFeaturesArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Feature extractors, comma separated and concatenated in order (e.g. kmeans or hog,color).
    #[arg(long, default_value = "raw")]
    pub features: String,
    #[command(flatten)]
    pub feature_options: FeatureArgs,
    /// The JSON file to write (replaced atomically), e.g. fitted.json.
    #[arg(long)]
    pub out: PathBuf,
}

impl TryFrom<&FitFeaturesArgs> for FitParams {
    type Error = anyhow::Error;

    fn try_from(a: &FitFeaturesArgs) -> Result<FitParams> {
        let mut features = FeatureSpec::parse(&a.features)?;
        FeatureOptions::from(&a.feature_options).apply(&mut features)?;
        Ok(FitParams {
            data: (&a.data).into(),
            features,
            out: a.out.clone(),
        })
    }
}
