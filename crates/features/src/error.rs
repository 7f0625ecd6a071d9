use thiserror::Error;

/// Everything that can go wrong when configuring or fitting features.
#[derive(Debug, Error)]
pub enum FeatureError {
    /// A parameter that cannot work for this input, named, with the reason.
    #[error("invalid feature parameter `{param}`: {reason}")]
    InvalidParam { param: String, reason: String },
    /// An unknown extractor name in a `--features` list.
    #[error("unknown feature extractor `{name}` (valid: {valid})")]
    UnknownExtractor { name: String, valid: String },
    /// Fitting needs training images.
    #[error("cannot fit features on an empty training set")]
    EmptyTrainingSet,
}

impl FeatureError {
    pub fn invalid(param: impl Into<String>, reason: impl Into<String>) -> Self {
        FeatureError::InvalidParam {
            param: param.into(),
            reason: reason.into(),
        }
    }
}
