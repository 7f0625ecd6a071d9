//! Feature extractors for the workbench, composable and parallel.
//!
//! - [`Extractor`]: one image in, one feature vector out (`raw`, and the handcrafted ones).
//! - [`FeatureSpec`]: the comma list from the command line (`hog,color`) with every
//!   extractor's parameters; [`FeatureSpec::fit`] learns what needs learning from the training
//!   split and gives [`FittedFeatures`], which transforms any split the same way.
//! - [`Scaler`]: per-dimension centring / standardisation fitted on the training features.

pub mod color;
mod error;
pub mod gabor;
pub mod hog;
pub mod kmeans;
mod raw;
mod scaler;
pub mod simd;
mod spec;

pub use error::FeatureError;
pub use raw::{raw_values, Raw};
pub use scaler::{ColumnSums, Normalization, Scaler, SUM_BLOCK_ROWS};
pub use simd::SimdLevel;
pub use spec::{FeatureKind, FeatureSpec, FittedFeatures};

use wb_data::{ImageShape, ImageView};

/// One feature extractor: maps an image of a fixed shape to a vector of fixed length.
pub trait Extractor: Send + Sync {
    /// Short name as used on the command line (`raw`, `hog`, ...).
    fn name(&self) -> &'static str;
    /// Length of the feature vector for images of `shape`.
    fn dim(&self, shape: ImageShape) -> usize;
    /// Writes the features of `image` into `out` (`out.len() == self.dim(image.shape)`).
    fn extract(&self, image: ImageView<'_>, out: &mut [f32]);
    /// How the driver should normalise this part's columns with training statistics.
    fn normalization(&self) -> Normalization {
        Normalization::Standardize
    }
}
