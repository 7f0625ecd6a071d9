//! `pipeline extract`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use wb_features::FeatureSpec;
use wb_workbench::extract::ExtractParams;
use wb_workbench::FeatureOptions;

use super::data::DataArgs;
use super::features::FeatureArgs;

#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Feature extractors, comma separated and concatenated in order (e.g. hog,color).
    #[arg(long, default_value = "raw")]
    pub features: String,
    #[command(flatten)]
    pub feature_options: FeatureArgs,
    /// The safetensors file to write (replaced atomically if it exists).
    #[arg(long)]
    pub out: PathBuf,
}

impl TryFrom<&ExtractArgs> for ExtractParams {
    type Error = anyhow::Error;

    fn try_from(a: &ExtractArgs) -> Result<ExtractParams> {
        let mut features = FeatureSpec::parse(&a.features)?;
        FeatureOptions::from(&a.feature_options).apply(&mut features)?;
        Ok(ExtractParams {
            data: (&a.data).into(),
            features,
            out: a.out.clone(),
        })
    }
}
