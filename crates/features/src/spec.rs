use std::fmt;
use std::str::FromStr;

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use wb_data::{ImageShape, Images};

use crate::{Extractor, FeatureError, Normalization, Raw};

/// The extractors that can be named in a `--features` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureKind {
    Raw,
    Color,
    Hog,
    Kmeans,
    Gabor,
}

impl FeatureKind {
    pub const ALL: &'static [FeatureKind] = &[
        FeatureKind::Raw,
        FeatureKind::Color,
        FeatureKind::Hog,
        FeatureKind::Kmeans,
        FeatureKind::Gabor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Raw => "raw",
            FeatureKind::Color => "color",
            FeatureKind::Hog => "hog",
            FeatureKind::Kmeans => "kmeans",
            FeatureKind::Gabor => "gabor",
        }
    }
}

impl fmt::Display for FeatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FeatureKind {
    type Err = FeatureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        FeatureKind::ALL
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| FeatureError::UnknownExtractor {
                name: s.to_string(),
                valid: FeatureKind::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// A feature set: extractors concatenated in order, with every extractor's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub parts: Vec<FeatureKind>,
    /// Colour-histogram parameters (used when `parts` has `color`).
    #[serde(default)]
    pub color: crate::color::Params,
    /// HOG parameters (used when `parts` has `hog`).
    #[serde(default)]
    pub hog: crate::hog::Params,
    /// k-means patch dictionary parameters (used when `parts` has `kmeans`).
    #[serde(default)]
    pub kmeans: crate::kmeans::Params,
    /// Gabor bank parameters (used when `parts` has `gabor`).
    #[serde(default)]
    pub gabor: crate::gabor::Params,
}

impl FeatureSpec {
    /// Parses a comma list such as `hog,color`.
    pub fn parse(list: &str) -> Result<FeatureSpec, FeatureError> {
        let parts = list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(FeatureKind::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        if parts.is_empty() {
            return Err(FeatureError::invalid("features", "the list is empty"));
        }
        Ok(FeatureSpec {
            color: Default::default(),
            hog: Default::default(),
            kmeans: Default::default(),
            gabor: Default::default(),
            parts,
        })
    }

    /// The comma list this spec was parsed from.
    pub fn label(&self) -> String {
        self.parts
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The features are the pixels themselves (`raw` alone): each row is an H x W x C image.
    pub fn is_raw_pixels(&self) -> bool {
        self.parts == [FeatureKind::Raw]
    }

    /// Rejects parameters that cannot work for images of `shape`, before any work starts.
    pub fn check(&self, shape: ImageShape) -> Result<(), FeatureError> {
        if shape.is_empty() {
            return Err(FeatureError::invalid(
                "image shape",
                "images have no pixels",
            ));
        }
        if self.parts.contains(&FeatureKind::Color) {
            self.color.check(shape)?;
        }
        if self.parts.contains(&FeatureKind::Hog) {
            self.hog.check(shape)?;
        }
        if self.parts.contains(&FeatureKind::Kmeans) {
            self.kmeans.check(shape)?;
        }
        if self.parts.contains(&FeatureKind::Gabor) {
            self.gabor.check(shape)?;
        }
        Ok(())
    }

    /// Builds the extractors, fitting those learned from data on `train` (with `seed`).
    pub fn fit(&self, train: &Images, seed: u64) -> Result<FittedFeatures, FeatureError> {
        let shape = train.shape();
        self.check(shape)?;
        let kmeans = if self.parts.contains(&FeatureKind::Kmeans) {
            Some(crate::kmeans::Dictionary::fit(train, &self.kmeans, seed)?)
        } else {
            None
        };
        self.with_dictionary(shape, kmeans)
    }

    /// Builds the extractors for images of `shape` with an already fitted k-means dictionary
    /// (e.g. one saved with a model) instead of fitting one, so features are computed with
    /// exactly the training run's atoms. `kmeans` must be given iff `parts` has `kmeans`.
    pub fn with_dictionary(
        &self,
        shape: ImageShape,
        kmeans: Option<crate::kmeans::Dictionary>,
    ) -> Result<FittedFeatures, FeatureError> {
        self.check(shape)?;
        let kmeans = match (self.parts.contains(&FeatureKind::Kmeans), kmeans) {
            (true, None) => {
                return Err(FeatureError::invalid(
                    "kmeans dictionary",
                    "the features include kmeans but no fitted dictionary was given",
                ))
            }
            (true, Some(d)) => {
                if d.params() != &self.kmeans || d.channels() != shape.channels {
                    return Err(FeatureError::invalid(
                        "kmeans dictionary",
                        format!(
                            "the dictionary was fitted with other parameters or {} channels \
                             (images have {})",
                            d.channels(),
                            shape.channels
                        ),
                    ));
                }
                Some(d)
            }
            (false, _) => None,
        };
        let gabor = if self.parts.contains(&FeatureKind::Gabor) {
            Some(crate::gabor::Gabor::new(&self.gabor, shape)?)
        } else {
            None
        };
        let extractors = self
            .parts
            .iter()
            .map(|kind| -> Box<dyn Extractor> {
                match kind {
                    FeatureKind::Raw => Box::new(Raw),
                    FeatureKind::Color => {
                        Box::new(crate::color::ColorHistogram::prepared(self.color.clone()))
                    }
                    FeatureKind::Hog => Box::new(crate::hog::Hog::prepared(self.hog.clone())),
                    FeatureKind::Kmeans => Box::new(kmeans.clone().expect("fitted above")),
                    FeatureKind::Gabor => Box::new(gabor.clone().expect("built above")),
                }
            })
            .collect();
        Ok(FittedFeatures {
            spec: self.clone(),
            shape,
            extractors,
            kmeans,
        })
    }
}

/// Extractors ready to transform images of one shape (learned parts already fitted).
pub struct FittedFeatures {
    spec: FeatureSpec,
    shape: ImageShape,
    extractors: Vec<Box<dyn Extractor>>,
    kmeans: Option<crate::kmeans::Dictionary>,
}

impl FittedFeatures {
    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    pub fn image_shape(&self) -> ImageShape {
        self.shape
    }

    /// The fitted k-means dictionary, if `kmeans` is one of the parts (to save or render it).
    pub fn kmeans_dictionary(&self) -> Option<&crate::kmeans::Dictionary> {
        self.kmeans.as_ref()
    }

    /// (name, dimension, normalisation) of each part, in output order.
    pub fn parts(&self) -> Vec<(&'static str, usize, Normalization)> {
        self.extractors
            .iter()
            .map(|e| (e.name(), e.dim(self.shape), e.normalization()))
            .collect()
    }

    /// Total feature dimension.
    pub fn dim(&self) -> usize {
        self.extractors.iter().map(|e| e.dim(self.shape)).sum()
    }

    /// Features of every image, one row each, computed in parallel over images.
    /// `progress` is called with the number of images finished since its last call.
    pub fn transform(
        &self,
        images: &Images,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Array2<f32>, FeatureError> {
        if images.shape() != self.shape {
            return Err(FeatureError::invalid(
                "image shape",
                format!(
                    "features were fitted on {}x{}x{} images, got {}x{}x{}",
                    self.shape.height,
                    self.shape.width,
                    self.shape.channels,
                    images.shape().height,
                    images.shape().width,
                    images.shape().channels
                ),
            ));
        }
        let dims: Vec<usize> = self.extractors.iter().map(|e| e.dim(self.shape)).collect();
        let dim: usize = dims.iter().sum();
        // A large dictionary with fine pooling (K = 4000, soft, pyramid: 168,000 values per
        // image) can ask for more memory than the machine has: say so instead of aborting.
        let values = images.len().checked_mul(dim);
        let mut buffer = Vec::new();
        if values.is_none_or(|v| buffer.try_reserve_exact(v).is_err()) {
            return Err(FeatureError::invalid(
                "features",
                format!(
                    "{} images x {dim} features ({:.1} GB of f32) do not fit in memory; \
                     use fewer features (e.g. a smaller kmeans K or coarser pooling) or fewer images",
                    images.len(),
                    images.len() as f64 * dim as f64 * 4e-9
                ),
            ));
        }
        buffer.resize(images.len() * dim, 0f32);
        let mut out = Array2::from_shape_vec((images.len(), dim), buffer)
            .map_err(|e| FeatureError::invalid("features", e.to_string()))?;
        const CHUNK: usize = 256;
        if let Some(buf) = out.as_slice_mut() {
            buf.par_chunks_mut(CHUNK * dim.max(1))
                .enumerate()
                .for_each(|(chunk, rows)| {
                    let first = chunk * CHUNK;
                    for (r, row) in rows.chunks_mut(dim.max(1)).enumerate() {
                        let image = images.get(first + r);
                        let mut start = 0;
                        for (e, &d) in self.extractors.iter().zip(&dims) {
                            e.extract(image, &mut row[start..start + d]);
                            start += d;
                        }
                    }
                    progress((rows.len() / dim.max(1)) as u64);
                });
        }
        Ok(out)
    }
}
