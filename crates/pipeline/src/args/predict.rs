//! `pipeline predict`.

use std::path::PathBuf;

use clap::Args;
use wb_workbench::predict::PredictParams;

#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// Folder of a saved model (`run --out DIR` writes DIR/model/; DIR itself is accepted too).
    #[arg(long = "model", value_name = "DIR")]
    pub model_dir: PathBuf,
    /// Classes listed per image, most probable first [default: 3, or all classes when the model
    /// has fewer].
    #[arg(long = "top-k", visible_alias = "top", value_name = "K")]
    pub top_k: Option<usize>,
    /// Write the predictions to this CSV file (`path,predicted,probability,top1,p1,...`) and a
    /// JSON summary beside it (same name, `.json`: settings, accuracy and confusion matrix for
    /// class folders, skipped files, speed) instead of listing them on stdout. Probabilities are
    /// the softmax of the scores: calibrated for softmax-trained models, a ranking of the
    /// margins for the SVM.
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
    /// Skip files that cannot be decoded (listed in the summary) instead of stopping at the
    /// first.
    #[arg(long)]
    pub skip_bad_images: bool,
    /// Threads for decoding and features [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Image files, folders (read recursively; a folder of class folders named after the
    /// model's classes also gets accuracy and a confusion matrix) and quoted wildcard patterns
    /// (`'photos/*.jpg'`, `'data/**/*.png'`).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

impl From<&PredictArgs> for PredictParams {
    fn from(args: &PredictArgs) -> PredictParams {
        PredictParams {
            inputs: args.paths.clone(),
            top_k: args.top_k,
            skip_bad_images: args.skip_bad_images,
            out: args.out.clone(),
        }
    }
}
