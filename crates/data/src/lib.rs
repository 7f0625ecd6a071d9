//! Datasets for the workbench: loaders for the standard formats and the in-memory types.
//!
//! - [`Images`] / [`ImageView`]: `u8` pixels, N x H x W x C in one buffer.
//! - [`Dataset`]: images, labels and class names; [`Splits`]: train / validation / test.

mod images;

pub use images::{ImageShape, ImageView, Images};
