use thiserror::Error;

/// Everything that can go wrong configuring or training a linear classifier.
#[derive(Debug, Error)]
pub enum LinearError {
    #[error("invalid parameter `{param}`: {reason}")]
    InvalidParam { param: &'static str, reason: String },
    #[error("invalid training data: {0}")]
    InvalidData(String),
    #[error(
        "training diverged in epoch {epoch}: the loss became {loss} (learning rate {lr}); \
         try a smaller learning rate (--lr)"
    )]
    Diverged { epoch: usize, loss: f64, lr: f64 },
    #[error(
        "the full-batch objective is {0}: the features hold NaN or infinite values, or are too \
         large for f32"
    )]
    NonFiniteObjective(f64),
    #[error("reading the training data: {0}")]
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// An error of linfa's dataset machinery (linfa's `Fit` requires the conversion).
    #[error("linfa: {0}")]
    Linfa(#[from] linfa::Error),
}
