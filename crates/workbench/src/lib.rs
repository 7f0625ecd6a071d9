//! The workbench engine: everything `pipeline` does, as a library.
//!
//! - [`data`]: [`DataParams`] → [`data::load`] → train / validation / test splits.
//! - [`feature_options`]: every extractor's parameter as an optional setting
//!   ([`FeatureOptions`]) over a `wb_features::FeatureSpec`.
//! - [`options`]: the MLP's options ([`MlpOptions`]) and how experiment files read named values.
//! - [`train`]: the validation search ([`TrainSettings`] → [`train::train`] → a
//!   [`Classifier`]) shared by single runs and grids.
//! - [`unused`]: options given that the chosen model does not use (a one-line warning each).
//! - [`interop`]: a validation search on linfa datasets ([`train::SearchData::from_linfa`]).
//! - [`preset`]: named configurations, the best measured for each dataset (`--preset`).
//! - [`run`]: one run ([`RunParams`] → [`run::run`] → a [`report::RunReport`] and the model).
//! - [`report`]: the run report (`results.json`) and its table.
//! - [`saved`]: a trained model with its preprocessing, saved and loaded; [`predict`] applies
//!   it to image files, folders and wildcard patterns, and evaluates it on class folders.
//! - [`extract`]: the features file (safetensors, checksummed), also `compare`'s cache.
//! - [`fitted`], [`shards`], [`stream`]: past one machine — the fitted features saved once
//!   (`fit-features`), extraction in shards of a job array (`extract --shard I/N`), training
//!   streamed from a folder of shards under a memory bound (`run --features-from DIR`).
//! - [`compare`]: the grid of feature sets x models, its experiment files and report.
//! - [`show`], [`demo`], [`gradcheck`]: the pictures of the extractors, the lecture's 2-D demos,
//!   gradient checks.
//! - [`memory`]: the memory budget every load and extraction is checked against.
//! - [`progress`]: how long work reports to whoever runs it ([`Reporter`]); [`threads`]: the
//!   one thread count.

pub mod compare;
pub mod data;
pub mod demo;
pub mod extract;
pub mod feature_options;
pub mod fitted;
pub mod gradcheck;
pub mod interop;
pub mod memory;
pub mod options;
pub mod predict;
pub mod preset;
pub mod progress;
pub mod report;
pub mod run;
pub mod saved;
pub mod shards;
pub mod show;
pub mod stream;
pub mod threads;
pub mod train;
pub mod unused;
pub mod validation;

pub use data::{Augment, DataInfo, DataOptions, DataParams};
pub use feature_options::FeatureOptions;
pub use options::MlpOptions;
pub use progress::{Quiet, Reporter, Stage};
pub use run::RunParams;
pub use train::{Classifier, ModelKind, TrainOptions, TrainSettings};
