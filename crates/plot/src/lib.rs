//! PNG pictures for the workbench, drawn with plotters and an embedded DejaVu Sans.

mod bars;
mod canvas;
mod confusion;
mod curves;
mod draw;
mod error;
mod grid;
mod hog;
pub mod palette;
mod regions;
mod text;

pub use bars::{accuracy_bars, GroupedBars};
pub use confusion::{confusion_matrix, ConfusionMatrix};
pub use curves::{learning_curves, CurveRun, EpochPoint, LearningCurves};
pub use canvas::{MAX_PIXELS, MAX_SIDE};
pub use error::PlotError;
pub use regions::{decision_regions, DecisionRegions, RegionPanel, RegionRow, Window};
pub use hog::{hog_glyphs, HogGlyphs, Picture};
pub use grid::{image_grid, ImageGrid, Scaling, Tile};
