//! `pipeline extract`, whole or one shard of a job array.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use wb_features::FeatureSpec;
use wb_workbench::extract::ExtractParams;
use wb_workbench::shards::{Shard, ShardParams};
use wb_workbench::FeatureOptions;

use super::data::DataArgs;
use super::features::FeatureArgs;

#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Feature extractors, comma separated and concatenated in order (e.g. hog,color). With
    /// --fitted the features are the fitted file's.
    #[arg(long, default_value = "raw", conflicts_with = "fitted")]
    pub features: String,
    #[command(flatten)]
    pub feature_options: FeatureArgs,
    /// Extract shard I of N (0 <= I < N): rows [n·I/N, n·(I+1)/N) of every split, into
    /// OUT/shard-0000I-of-0000N.safetensors, recorded in OUT/manifest.json. Default: from
    /// SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT in a Slurm array task, or from
    /// JOB_COMPLETION_INDEX with --shard-count in a Kubernetes indexed Job.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse, requires = "fitted")]
    pub shard: Option<Shard>,
    /// Shards in all, for a Kubernetes indexed Job (its completions), whose JOB_COMPLETION_INDEX
    /// gives this task's shard.
    #[arg(long, value_name = "N")]
    pub shard_count: Option<usize>,
    /// The fitted features (`pipeline fit-features --out FILE`) every shard extracts with.
    #[arg(long, value_name = "FILE")]
    pub fitted: Option<PathBuf>,
    /// The safetensors file to write (replaced atomically if it exists); with a shard, the
    /// shard folder.
    #[arg(long)]
    pub out: PathBuf,
}

/// What `pipeline extract` was asked to do.
pub enum ExtractJob {
    Whole(ExtractParams),
    Shard(ShardParams),
}

impl TryFrom<&ExtractArgs> for ExtractJob {
    type Error = anyhow::Error;

    fn try_from(a: &ExtractArgs) -> Result<ExtractJob> {
        let from_env = Shard::from_env(&|name| std::env::var(name).ok(), a.shard_count)
            .map_err(|e| anyhow::anyhow!("--shard: {e}"))?;
        let shard = a.shard.or(from_env);
        match (shard, &a.fitted) {
            (Some(shard), Some(fitted)) => {
                if FeatureOptions::from(&a.feature_options) != FeatureOptions::default() {
                    bail!(
                        "--fitted {} fixes the features and their parameters: drop the feature \
                         options (they were given to `pipeline fit-features`)",
                        fitted.display()
                    );
                }
                Ok(ExtractJob::Shard(ShardParams {
                    data: (&a.data).into(),
                    fitted: fitted.clone(),
                    shard,
                    out: a.out.clone(),
                }))
            }
            (Some(shard), None) => bail!(
                "extracting shard {shard} needs --fitted FILE (written once by `pipeline \
                 fit-features`), so that every shard uses the same fitted features"
            ),
            (None, Some(_)) => bail!(
                "--fitted is for extracting one shard: give --shard I/N (or run inside a Slurm \
                 array task or a Kubernetes indexed Job)"
            ),
            (None, None) => {
                let mut features = FeatureSpec::parse(&a.features)?;
                FeatureOptions::from(&a.feature_options).apply(&mut features)?;
                Ok(ExtractJob::Whole(ExtractParams {
                    data: (&a.data).into(),
                    features,
                    out: a.out.clone(),
                }))
            }
        }
    }
}
