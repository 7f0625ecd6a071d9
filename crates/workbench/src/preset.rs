//! Named configurations (`pipeline run --preset NAME`): the best settings measured for a
//! dataset, so a user can reproduce a figure of BENCHMARKS.md by one name instead of copying
//! its flags. A preset only supplies defaults: every option given on the command line wins
//! over it, and the run's `results.json` records the preset's name beside the resolved settings.

use std::fmt;
use std::str::FromStr;

use wb_data::DatasetKind;
use wb_features::kmeans;
use wb_mlp::augment::AugmentKind;
use wb_mlp::ActivationKind;

use crate::data::Augment;
use crate::feature_options::FeatureOptions;
use crate::options::MlpOptions;
use crate::train::ModelKind;

/// One named configuration and what it was measured to give and cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    /// The dataset it was found on (the default `--dataset` under the preset).
    pub dataset: DatasetKind,
    /// What it is, in a line.
    pub summary: &'static str,
    /// Test accuracy and end-to-end wall time on 2 cores, as measured (BENCHMARKS.md).
    pub measured: &'static str,
    /// Feature extractors (`--features`).
    pub features: &'static str,
    pub model: ModelKind,
    pub feature_options: FeatureOptions,
    /// Stored training-set copies (`--augment`).
    pub augment: Option<Augment>,
    pub epochs: Option<usize>,
    /// Learning rates searched (`--lr`; empty: the model's grid).
    pub lr: Vec<f64>,
    pub mlp: MlpOptions,
}

impl Preset {
    /// Every preset, best known first for each dataset.
    pub fn all() -> Vec<Preset> {
        vec![
            Preset {
                name: "cifar10-best",
                dataset: DatasetKind::Cifar10,
                summary: "Coates & Ng's k-means features with the soft-threshold encoder \
                          max(0, ±D·x − 0.25) (K = 1600, 6x6 patches, 2x2 pooling: 12,800 \
                          values), a 500-unit MLP for 40 epochs; training set with mirror images",
                measured: "CIFAR-10 test 0.8245 (val 0.836), 14.1 min end to end on a quiet \
                           machine (extraction 2.5 min for 109,000 images, training 11.5 min), \
                           6.2 GB peak",
                features: "kmeans",
                model: ModelKind::Mlp,
                feature_options: FeatureOptions {
                    kmeans_encoder: Some(kmeans::Encoder::Soft),
                    ..FeatureOptions::default()
                },
                augment: Some(Augment::Flip),
                epochs: Some(40),
                lr: Vec::new(),
                mlp: MlpOptions {
                    hidden: Some(vec![500]),
                    ..MlpOptions::default()
                },
            },
            Preset {
                name: "cifar10-raw-mlp",
                dataset: DatasetKind::Cifar10,
                summary: "3072-2000-10 MLP on raw pixels with batch normalisation and no \
                          dropout, every mini-batch cropped (shifts up to 4 px) and mirrored \
                          anew, 100 epochs at learning rate 0.05, no early stopping",
                measured: "CIFAR-10 test 0.6382 (val 0.645), about 14 min on idle cores \
                           (fastest epoch 8.0 s; 28.5 min measured beside a build), 1.1 GB peak",
                features: "raw",
                model: ModelKind::Mlp,
                feature_options: FeatureOptions::default(),
                augment: Some(Augment::None),
                epochs: Some(100),
                lr: vec![0.05],
                mlp: MlpOptions {
                    hidden: Some(vec![2000]),
                    dropout: Some(0.0),
                    batch_norm: Some(true),
                    patience: Some(0),
                    augment: Some(AugmentKind::CropFlip),
                    ..MlpOptions::default()
                },
            },
            Preset {
                name: "mnist-best",
                dataset: DatasetKind::Mnist,
                summary: "k-means features (K = 400) of MNIST and four one-pixel shifted \
                          copies, a 500-unit MLP for 15 epochs",
                measured: "MNIST test 0.9923 (val 0.995), 4.9 min (extraction 1.6 min, \
                           training 3.3 min)",
                features: "kmeans",
                model: ModelKind::Mlp,
                feature_options: FeatureOptions {
                    kmeans_centroids: Some(400),
                    ..FeatureOptions::default()
                },
                augment: Some(Augment::Shift),
                epochs: Some(15),
                lr: Vec::new(),
                mlp: MlpOptions {
                    hidden: Some(vec![500]),
                    ..MlpOptions::default()
                },
            },
            Preset {
                name: "mnist-raw-mlp",
                dataset: DatasetKind::Mnist,
                summary: "Goodfellow et al.'s maxout MLP on raw pixels (two layers of 240 \
                          units of 5 pieces, dropout 0.5), every mini-batch shifted anew (up to \
                          2 px), 100 epochs at learning rate 0.05, no early stopping",
                measured: "MNIST test 0.9912 (val 0.994), about 6 min on idle cores (fastest \
                           epoch 3.2 s; 10.2 min measured beside a build), 0.3 GB peak",
                features: "raw",
                model: ModelKind::Mlp,
                feature_options: FeatureOptions::default(),
                augment: Some(Augment::None),
                epochs: Some(100),
                lr: vec![0.05],
                mlp: MlpOptions {
                    hidden: Some(vec![240, 240]),
                    activation: Some(ActivationKind::Maxout),
                    maxout_pieces: Some(5),
                    dropout: Some(0.5),
                    patience: Some(0),
                    augment: Some(AugmentKind::Translate),
                    ..MlpOptions::default()
                },
            },
        ]
    }

    /// The preset's line in `--help`: dataset, summary and measured figure.
    pub fn describe(&self) -> String {
        format!(
            "{}: {}; measured: {}",
            self.dataset, self.summary, self.measured
        )
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Preset, String> {
        let name = s.trim().to_ascii_lowercase();
        let all = Preset::all();
        let names: Vec<&str> = all.iter().map(|p| p.name).collect();
        all.iter().find(|p| p.name == name).cloned().ok_or_else(|| {
            format!(
                "unknown --preset `{name}` (valid: {}; `pipeline run --help` describes each)",
                names.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wb_features::FeatureSpec;

    #[test]
    fn every_preset_is_found_by_its_name_and_its_settings_are_valid() {
        for p in Preset::all() {
            assert_eq!(p.name.parse::<Preset>().as_ref(), Ok(&p));
            let mut spec = FeatureSpec::parse(p.features).expect("preset features parse");
            p.feature_options
                .apply(&mut spec)
                .expect("preset feature options are valid");
            p.mlp
                .apply(wb_mlp::MlpParams::default())
                .expect("preset MLP options are valid");
        }
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let err = "cifar-best".parse::<Preset>().unwrap_err();
        assert!(
            err.contains("cifar-best") && err.contains("cifar10-best, "),
            "{err}"
        );
    }
}
