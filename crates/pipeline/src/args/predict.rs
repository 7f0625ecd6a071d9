//! `pipeline predict`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// Folder of a saved model (`run --out DIR` writes DIR/model/; DIR itself is accepted too).
    #[arg(long = "model", value_name = "DIR")]
    pub model_dir: PathBuf,
    /// Classes listed per image, most probable first.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Image files (any format the `image` crate decodes: PNG, JPEG, BMP, GIF, TIFF, WebP).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}
