//! PNG pictures for the workbench, drawn with plotters and an embedded DejaVu Sans.

mod bars;
mod canvas;
mod draw;
mod error;
pub mod palette;
mod text;

pub use bars::{accuracy_bars, GroupedBars};
pub use canvas::{MAX_PIXELS, MAX_SIDE};
pub use error::PlotError;
