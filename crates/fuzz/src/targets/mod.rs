//! The parsers under test, one [`Target`] each. To add a parser, write one function
//! `fn my_parser(case: &mut Case<'_>)` that declares valid files with [`Case::file`] and calls
//! [`Case::parse`] with the parser and its consistency check, wrap it in a `Target` constant,
//! and list it in [`all`].

pub mod cifar;
pub mod experiment;
pub mod features;
pub mod folder;
pub mod idx;
pub mod linear;
pub mod mlp;

use crate::Target;

/// Every target, in report order.
pub fn all() -> Vec<Target> {
    vec![
        idx::IMAGES,
        idx::LABELS,
        idx::DATASET,
        cifar::CIFAR10,
        cifar::CIFAR100,
        mlp::MODEL,
        linear::LINEAR,
        folder::FOLDER,
        features::FEATURES,
        experiment::EXPERIMENT,
    ]
}

/// The target called `name`.
pub fn find(name: &str) -> Option<Target> {
    all().into_iter().find(|t| t.name == name)
}
