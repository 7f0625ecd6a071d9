//! The crate's one error type: every variant names the PNG it was drawing.

use std::path::PathBuf;

/// Why a picture was not written. No variant leaves a partial file behind: a picture is
/// validated, drawn in memory, encoded, written to a temporary file beside its destination and
/// only then renamed over it.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The data cannot be drawn (empty, lengths that disagree, values that are not finite,
    /// a picture too large to allocate); `problem` says which input and why.
    #[error("cannot draw {}: {problem}", file.display())]
    InvalidInput { file: PathBuf, problem: String },
    /// plotters failed while drawing (a font or backend error).
    #[error("cannot draw {}: {message}", file.display())]
    Draw { file: PathBuf, message: String },
    /// The PNG encoder failed.
    #[error("cannot encode {} as PNG: {source}", file.display())]
    Encode {
        file: PathBuf,
        #[source]
        source: image::ImageError,
    },
    /// The folder could not be created, or the file could not be written or renamed.
    #[error("{source}")]
    Write {
        file: PathBuf,
        #[source]
        source: wb_io::IoError,
    },
}

impl PlotError {
    pub(crate) fn invalid(file: &std::path::Path, problem: impl Into<String>) -> PlotError {
        PlotError::InvalidInput {
            file: file.to_path_buf(),
            problem: problem.into(),
        }
    }
}
