//! PNG pictures for the workbench, drawn with [plotters] and an embedded DejaVu Sans.
//!
//! Plain data in (slices and small structs; nothing here depends on the other workbench
//! crates), one PNG file out per call. Every function validates its input first (an error
//! names the file and what is wrong), draws in memory and writes the PNG atomically (a
//! temporary file beside the destination, then a rename), so a failure never leaves a partial
//! file. Text is lower case as given, in DejaVu Sans registered with plotters' `ab_glyph`
//! backend; pictures are drawn at about twice the size they are read at (around 1200 pixels
//! wide), so a README showing them at half width stays sharp. Colours: [`palette`] (tab10).
//!
//! | picture | function | input |
//! | --- | --- | --- |
//! | test accuracy of feature sets x models, values printed | [`accuracy_bars`] | [`GroupedBars`] |
//! | loss and train/validation accuracy per epoch, several runs | [`learning_curves`] | [`LearningCurves`] |
//! | confusion matrix with class names, counts and row shares | [`confusion_matrix`] | [`ConfusionMatrix`] |
//! | small images with captions: class templates, first-layer weights, k-means atoms, Gabor kernels | [`image_grid`] | [`ImageGrid`] |
//! | an image beside its HOG cell histograms as oriented strokes | [`hog_glyphs`] | [`HogGlyphs`] |
//! | 2-D decision regions with training points, panels in rows | [`decision_regions`] | [`DecisionRegions`] |
//! | colour-histogram bins as bars in their colours | [`colour_histogram`] | [`ColourHistogram`] |
//!
//! ```no_run
//! let groups = vec!["svm".to_string(), "mlp".to_string()];
//! let series = vec!["raw".to_string(), "hog".to_string()];
//! let values = vec![vec![Some(0.39), Some(0.52)], vec![Some(0.52), Some(0.58)]];
//! wb_plot::accuracy_bars(
//!     std::path::Path::new("out/accuracy.png"),
//!     &wb_plot::GroupedBars {
//!         title: "test accuracy, cifar-10",
//!         groups: &groups,
//!         series: &series,
//!         values: &values,
//!         group_axis: "model",
//!         value_axis: "test accuracy",
//!     },
//! )?;
//! # Ok::<(), wb_plot::PlotError>(())
//! ```

mod bars;
mod canvas;
mod confusion;
mod curves;
mod draw;
mod error;
mod grid;
mod histogram;
mod hog;
pub mod palette;
mod regions;
mod text;

pub use bars::{accuracy_bars, GroupedBars};
pub use canvas::{MAX_PIXELS, MAX_SIDE};
pub use confusion::{confusion_matrix, ConfusionMatrix};
pub use curves::{learning_curves, CurveRun, EpochPoint, LearningCurves};
pub use error::PlotError;
pub use grid::{image_grid, ImageGrid, Scaling, Tile};
pub use histogram::{colour_histogram, ColourHistogram, HistogramGroup};
pub use hog::{hog_glyphs, HogGlyphs, Picture};
pub use regions::{decision_regions, DecisionRegions, RegionPanel, RegionRow, Window};
