//! Datasets for the workbench: loaders for the standard formats and the in-memory types.
//!
//! - [`Images`] / [`ImageView`]: `u8` pixels, N x H x W x C in one buffer.
//! - [`Dataset`] (images, labels, class names), [`TrainTest`] (as published) and [`Splits`]
//!   (train / validation / test, carved with a seed).
//! - Loaders: [`cifar`] (CIFAR-10/100 binary), [`idx`] (MNIST, Fashion-MNIST), [`folder`]
//!   (`root/<class>/*.png`), [`synthetic`] (the built-in default).
//! - [`toy2d`]: 2-D point sets (concentric rings, CS231n's spiral) for decision-region demos.
//! - [`locate`]: dataset names and where their files are.
//! - [`DataError`]: every failure, naming the file.

pub mod cifar;
mod dataset;
mod error;
pub mod folder;
pub mod idx;
mod images;
pub mod locate;
pub mod synthetic;
pub mod toy2d;

pub use dataset::{Dataset, SplitParams, Splits, TrainTest};
pub use error::DataError;
pub use images::{ImageShape, ImageView, Images};
pub use locate::DatasetKind;
