//! Settings as a person gives them — every field optional, typed — before defaults are applied:
//! [`MlpOptions`] for the MLP, and the serde helper that reads a named value (`"cosine"`,
//! `"leaky-relu"`) from an experiment file through the same parser as the command line.

use std::fmt::Display;
use std::str::FromStr;

use anyhow::Result;
use serde::{Deserialize, Deserializer};
use wb_linear::LossKind;
use wb_mlp::augment::AugmentKind;
use wb_mlp::{ActivationKind, MlpParams, OptimizerKind, Schedule};

/// Reads an optional named value with the type's `FromStr`, so an experiment file accepts
/// exactly the names the command line does (and its error lists the valid ones).
pub fn named<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|s| s.parse::<T>().map_err(serde::de::Error::custom))
        .transpose()
}

/// [`named`] for the MLP's loss, which accepts three of [`LossKind`]'s names.
pub fn named_mlp_loss<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LossKind>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|s| parse_mlp_loss(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// The MLP's data loss by name: softmax, svm (the multiclass hinge) or squared.
pub fn parse_mlp_loss(name: &str) -> Result<LossKind, String> {
    LossKind::parse(name)
        .filter(|k| matches!(k, LossKind::Softmax | LossKind::Hinge | LossKind::Squared))
        .ok_or_else(|| {
            format!(
                "unknown --loss `{}` (valid: softmax, svm, squared)",
                name.trim().to_ascii_lowercase()
            )
        })
}

/// The MLP's options (`--hidden`, `--activation`, ...; `[mlp]` in an experiment file). Unset
/// fields keep the [`MlpParams`] they are applied to.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpOptions {
    /// Hidden layer widths.
    pub hidden: Option<Vec<usize>>,
    #[serde(default, deserialize_with = "named")]
    pub activation: Option<ActivationKind>,
    pub leaky_slope: Option<f64>,
    pub maxout_pieces: Option<usize>,
    #[serde(default, deserialize_with = "named_mlp_loss")]
    pub loss: Option<LossKind>,
    #[serde(default, deserialize_with = "named")]
    pub optimizer: Option<OptimizerKind>,
    #[serde(default, deserialize_with = "named", rename = "lr_schedule")]
    pub schedule: Option<Schedule>,
    pub dropout: Option<f64>,
    /// Batch normalisation before each hidden activation.
    pub batch_norm: Option<bool>,
    /// Early stopping after this many epochs without a better validation accuracy; 0 = off.
    pub patience: Option<usize>,
    /// Augmentation drawn anew for each mini-batch (raw pixels only).
    #[serde(default, deserialize_with = "named")]
    pub augment: Option<AugmentKind>,
}

impl MlpOptions {
    /// Each option set here, else `base`'s.
    pub fn over(&self, base: &MlpOptions) -> MlpOptions {
        MlpOptions {
            hidden: self.hidden.clone().or_else(|| base.hidden.clone()),
            activation: self.activation.or(base.activation),
            leaky_slope: self.leaky_slope.or(base.leaky_slope),
            maxout_pieces: self.maxout_pieces.or(base.maxout_pieces),
            loss: self.loss.or(base.loss),
            optimizer: self.optimizer.or(base.optimizer),
            schedule: self.schedule.or(base.schedule),
            dropout: self.dropout.or(base.dropout),
            batch_norm: self.batch_norm.or(base.batch_norm),
            patience: self.patience.or(base.patience),
            augment: self.augment.or(base.augment),
        }
    }

    /// `p` with the options set here, checked.
    pub fn apply(&self, mut p: MlpParams) -> Result<MlpParams> {
        if let Some(hidden) = &self.hidden {
            if hidden.is_empty() {
                anyhow::bail!(
                    "`hidden` (--hidden) is an empty list: give the width of at least one hidden \
                     layer (e.g. hidden = [500] or --hidden 500; 1024,512 for two)"
                );
            }
            p.hidden = hidden.clone();
        }
        set(&mut p.activation, self.activation);
        set(&mut p.leaky_slope, self.leaky_slope);
        set(&mut p.maxout_pieces, self.maxout_pieces);
        set(&mut p.loss, self.loss);
        set(&mut p.optimizer, self.optimizer);
        set(&mut p.schedule, self.schedule);
        set(&mut p.dropout, self.dropout);
        set(&mut p.batch_norm, self.batch_norm);
        if let Some(pat) = self.patience {
            p.patience = (pat > 0).then_some(pat);
        }
        p.check()?;
        Ok(p)
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}
