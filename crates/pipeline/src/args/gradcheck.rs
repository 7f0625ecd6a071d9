//! `pipeline gradcheck`.

use anyhow::Result;
use clap::Args;
use wb_workbench::gradcheck::{default_mlp, GradcheckParams};
use wb_workbench::{MlpOptions, ModelKind};

use super::run::{model_parser, MlpArgs};

#[derive(Debug, Clone, Args)]
pub struct GradcheckArgs {
    /// Model whose gradients are checked.
    #[arg(long, value_parser = model_parser(), default_value = "mlp")]
    pub model: ModelKind,
    #[command(flatten)]
    pub mlp: MlpArgs,
    /// L2 strength λ included in the checked objective.
    #[arg(long, default_value_t = 0.01)]
    pub reg: f64,
    /// Random examples in the batch.
    #[arg(long, default_value_t = 8)]
    pub samples: usize,
    /// Input dimension.
    #[arg(long, default_value_t = 15)]
    pub input_dim: usize,
    /// Number of classes.
    #[arg(long, default_value_t = 5)]
    pub classes: usize,
    /// Seed for the weights, inputs and labels.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl TryFrom<&GradcheckArgs> for GradcheckParams {
    type Error = anyhow::Error;

    fn try_from(a: &GradcheckArgs) -> Result<GradcheckParams> {
        let mlp = default_mlp(a.seed, a.reg);
        Ok(GradcheckParams {
            model: a.model,
            mlp: if a.model == ModelKind::Mlp {
                MlpOptions::from(&a.mlp).apply(mlp)?
            } else {
                mlp
            },
            reg: a.reg,
            samples: a.samples,
            input_dim: a.input_dim,
            classes: a.classes,
            seed: a.seed,
        })
    }
}
