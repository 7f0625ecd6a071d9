//! The command line (clap): what the user typed, one module per subcommand, each converted
//! into the engine's parameters with `TryFrom` (errors name the flag).

pub mod compare;
pub mod data;
pub mod demo;
pub mod extract;
pub mod features;
pub mod fit_features;
pub mod gradcheck;
pub mod named;
pub mod predict;
pub mod run;
pub mod show;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pipeline",
    version,
    about = "Image classification workbench: handcrafted features vs raw pixels, linear models vs a backprop MLP"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a dataset, extract features, train a model (with a validation search) and report accuracy.
    Run(run::RunArgs),
    /// Run a grid of feature sets x models in one process: report.md, results.csv/json, PNG plots.
    Compare(compare::CompareArgs),
    /// Check a model's backpropagated gradients against centred finite differences (f64).
    Gradcheck(gradcheck::GradcheckArgs),
    /// Apply a model saved by `run --out DIR` to image files: class and top probabilities.
    Predict(predict::PredictArgs),
    /// Extract the features of every split and save them (with labels and the scaler) as safetensors.
    Extract(extract::ExtractArgs),
    /// Fit what a feature set learns from the training split (the k-means dictionary and its
    /// whitening; nothing for the others) and save it, for `extract --shard I/N --fitted FILE`.
    FitFeatures(fit_features::FitFeaturesArgs),
    /// Draw what the extractors see (HOG glyphs, colour histogram, Gabor bank, k-means atoms) as PNGs.
    Show(show::ShowArgs),
    /// The lecture's two 2-D pictures: `demo rings` (feature transformation) and `demo spiral`
    /// (capacity and regularisation), as decision-region PNGs with train/test accuracies.
    Demo(demo::DemoArgs),
}
