//! Datasets for the workbench: loaders for the standard formats and the in-memory types.
//!
//! - [`Images`] / [`ImageView`]: `u8` pixels, N x H x W x C in one buffer.
//! - [`Dataset`] (images, labels, class names), [`TrainTest`] (as published) and [`Splits`]
//!   (train / validation / test, carved with a seed).
//! - Loaders: [`cifar`] (CIFAR-10/100 binary), [`idx`] (MNIST, Fashion-MNIST), [`folder`]
//!   (a user's photo folders in the common layouts), [`synthetic`] (the built-in default);
//!   [`load_image`] / [`load_image_into`] decode one file the way the folder loader does.
//! - Splits: [`Splits::carve`] (stratified validation), [`default_val_size`] (the rule when
//!   no size is given), [`stratified_k_fold`] (cross-validation indices).
//! - [`image_bytes`]: the memory a batch will take, to check before loading.
//! - [`toy2d`]: 2-D point sets (concentric rings, CS231n's spiral) for decision-region demos.
//! - [`locate`]: dataset names and where their files are.
//! - [`DataError`]: every failure, naming the file.

pub mod cifar;
mod dataset;
mod decode;
mod error;
pub mod folder;
pub mod idx;
mod images;
mod layout;
pub mod locate;
mod resize;
pub mod synthetic;
pub mod toy2d;

pub use dataset::{
    default_val_size, stratified_holdout, stratified_k_fold, stratified_quotas, Dataset, Fold,
    SplitParams, Splits, TrainTest, DEFAULT_VAL_FRACTION, DEFAULT_VAL_MAX, VAL_MIN_PER_CLASS,
};
pub use decode::{load_image, load_image_into, MAX_DECODED_BYTES};
pub use error::DataError;
pub use images::{human_bytes, image_bytes, ImageShape, ImageView, Images};
pub use locate::DatasetKind;
pub use resize::ResizeMode;
