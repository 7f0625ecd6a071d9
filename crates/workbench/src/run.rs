//! One run: load → features → train (validation search) → evaluate → report.

use std::time::Instant;

use anyhow::Result;
use ndarray::Array2;
use wb_data::Images;
use wb_features::{raw_values, ColumnSums, FeatureSpec, FittedFeatures, Scaler};
use wb_linear::rows::{RowSource, Rows};
use wb_linear::Solver;

use crate::data::{load_announced, DataParams};
use crate::progress::Reporter;
use crate::report::{self, ClassReport, Timings};
use crate::train::Classifier;
use crate::train::{self, Chatter, Held, SearchData, TrainOptions, TrainSettings};
use crate::unused::{unused_options, Given};

/// Everything that decides a run, validated.
#[derive(Debug, Clone)]
pub struct RunParams {
    pub data: DataParams,
    pub features: FeatureSpec,
    pub train: TrainSettings,
    /// Settings given that the run ignores, told when it starts.
    pub warnings: Vec<String>,
    /// The `--preset` the settings started from.
    pub preset: Option<&'static str>,
}

impl RunParams {
    /// The run of `train` options on `data` with `features`, each model's defaults where
    /// nothing was given; checked before any data is loaded.
    pub fn new(data: DataParams, features: FeatureSpec, train: &TrainOptions) -> Result<RunParams> {
        let settings = TrainSettings::from_options(train, data.seed)?;
        settings.check_augment_features(&features)?;
        let (default_lr, _) = train::default_grid(train.model, settings.linear.solver);
        let mut warnings: Vec<String> =
            train::lr_warning(&train.lr, &default_lr, settings.linear.solver, train.model)
                .into_iter()
                .collect();
        warnings.extend(
            unused_options(&Given::from(train), &settings)
                .iter()
                .map(|u| u.flag_warning(train.model)),
        );
        Ok(RunParams {
            data,
            features,
            train: settings,
            warnings,
            preset: None,
        })
    }
}

/// The features of the three splits, normalised with training statistics.
pub struct FeatureMatrices {
    pub train: Array2<f32>,
    pub val: Array2<f32>,
    pub test: Array2<f32>,
    pub fitted: FittedFeatures,
    /// Fitted on the training features; already applied to the three matrices.
    pub scaler: Scaler,
}

/// Everything a run produces: the report, and what is needed to save and reapply the model.
pub struct RunOutput {
    pub report: report::RunReport,
    pub model: Classifier,
    pub fitted: FittedFeatures,
    pub scaler: Scaler,
}

impl RunOutput {
    /// Writes `dir/results.json` and the model with its preprocessing into `dir/model/` (each
    /// file atomically); returns the lines telling where.
    pub fn save(&mut self, dir: &std::path::Path) -> Result<String> {
        let report = &self.report;
        let path = dir.join("results.json");
        wb_io::write_json(&path, report)?;
        let preprocessing = crate::saved::Preprocessing::new(
            report.data.dataset.to_string(),
            report.data.image_shape,
            report.data.resize.unwrap_or_default(),
            report.data.class_names.clone(),
            &self.fitted,
            &self.scaler,
        );
        let model_dir = dir.join("model");
        crate::saved::save(&model_dir, &mut self.model, &preprocessing)?;
        Ok(format!(
            "results written to {}\nmodel saved to {}\n",
            path.display(),
            model_dir.display()
        ))
    }
}

/// Runs the whole pipeline; returns the report, the model and its fitted preprocessing.
pub fn run(params: &RunParams, reporter: &dyn Reporter) -> Result<RunOutput> {
    let spec = &params.features;
    for w in &params.warnings {
        reporter.line(w);
    }
    let (splits, info, load_s) = load_announced(&params.data, reporter)?;
    let settings = &params
        .train
        .for_images(spec, splits.train.images.shape(), true)?;

    let folds = train::folds_for(&info, &splits.train.labels, params.data.seed, reporter)?;
    let compact = keeps_train_pixels(spec, settings, &folds);
    let t = Instant::now();
    let feats = if compact {
        extract_held_out(spec, &splits, &params.data, reporter)?
    } else {
        extract(spec, &splits, &params.data, reporter)?
    };
    let pixel_rows = PixelRows {
        images: &splits.train.images,
        scaler: &feats.scaler,
    };
    let x_train: Rows<'_> = if compact {
        Rows::Source(&pixel_rows)
    } else {
        feats.train.view().into()
    };
    let features_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let trained = train::train(
        settings,
        &SearchData {
            x_train,
            y_train: &splits.train.labels,
            held: Held::of(&info, feats.val.view(), &splits.val.labels, &folds),
            n_classes: info.n_classes,
        },
        &Chatter {
            verbose: true,
            reporter,
        },
    )?;
    let train_s = t.elapsed().as_secs_f64();
    let model = trained.model;

    let chosen_val = trained.chosen.val_accuracy;
    let t = Instant::now();
    let pred_train = model.predict_rows(x_train);
    let pred_val = model.predict(feats.val.view());
    let pred_test = model.predict(feats.test.view());
    let classes = ClassReport::new(&pred_test, &splits.test.labels, &info.class_names);
    let evaluate_s = t.elapsed().as_secs_f64();

    let report = report::RunReport {
        settings: run_settings(params, settings),
        data: info,
        features: feature_parts(&feats.fitted),
        model: settings.model.name().to_string(),
        chosen: trained.chosen,
        search: trained.search,
        history: trained.history,
        accuracy: report::Accuracy {
            train: wb_linear::accuracy(&pred_train, &splits.train.labels),
            val: match &trained.cross_validation {
                // No validation split: the chosen setting's mean held-out fold accuracy.
                Some(_) => chosen_val,
                None => wb_linear::accuracy(&pred_val, &splits.val.labels),
            },
            test: wb_linear::accuracy(&pred_test, &splits.test.labels),
        },
        timings_s: Timings {
            load: load_s,
            features: features_s,
            train: train_s,
            evaluate: evaluate_s,
        },
        per_class: classes,
        cross_validation: trained.cross_validation,
    };
    Ok(RunOutput {
        report,
        model,
        fitted: feats.fitted,
        scaler: feats.scaler,
    })
}

/// Whether the run trains on the training images' pixels decoded as read ([`PixelRows`])
/// instead of a dense `f32` copy: raw-pixel features (nothing to compute but `p / 255` and the
/// training mean), a linear model solved by full-batch L-BFGS (the only solver that reads the
/// rows through [`RowSource`]) and a validation split (cross-validation selects fold rows).
/// The numbers are the same bits either way; the compact rows save 4 bytes per training value
/// (1.2 GB on CIFAR-10 with mirrored copies).
fn keeps_train_pixels(
    spec: &FeatureSpec,
    settings: &TrainSettings,
    folds: &Option<Vec<wb_data::Fold>>,
) -> bool {
    spec.is_raw_pixels()
        && settings.mlp.is_none()
        && settings.linear.solver == Solver::Lbfgs
        && folds.is_none()
}

/// Raw-pixel training rows decoded when read: [`raw_values`] then [`Scaler::transform_row`],
/// the values [`extract`] would have stored.
struct PixelRows<'a> {
    images: &'a Images,
    scaler: &'a Scaler,
}

impl RowSource for PixelRows<'_> {
    fn nrows(&self) -> usize {
        self.images.len()
    }

    fn ncols(&self) -> usize {
        self.images.shape().len()
    }

    fn row_in_place(&self, _: usize) -> Option<&[f32]> {
        None
    }

    fn read_row(&self, i: usize, out: &mut [f32]) {
        raw_values(self.images.get(i).pixels, out);
        self.scaler.transform_row(out);
    }
}

/// As [`extract`] for raw-pixel features, but the training matrix is left empty (0 rows): the
/// scaler is fitted on the training pixels decoded row by row (the same values, summed in the
/// same order, as [`Scaler::fit`] on the dense matrix), and only the validation and test splits
/// are stored as `f32`.
fn extract_held_out(
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    data: &DataParams,
    reporter: &dyn Reporter,
) -> Result<FeatureMatrices> {
    let mut feats = extract_splits(spec, splits, data, Some(reporter), false)?;
    for m in [&mut feats.val, &mut feats.test] {
        feats.scaler.transform_inplace(m);
    }
    Ok(feats)
}

/// Fits the extractors and the scaler on the training split and transforms all three splits.
pub fn extract(
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    data: &DataParams,
    reporter: &dyn Reporter,
) -> Result<FeatureMatrices> {
    let mut feats = extract_unscaled(spec, splits, data, Some(reporter))?;
    for m in [&mut feats.train, &mut feats.val, &mut feats.test] {
        feats.scaler.transform_inplace(m);
    }
    Ok(feats)
}

/// As [`extract`], but the matrices hold the extractors' raw outputs: the scaler is fitted on
/// the training features and returned, not applied (`pipeline extract` exports both).
/// With a `reporter`, the extraction is a progress stage (none when the caller draws its own).
/// The feature matrices are checked against the memory budget of `data` once the extractors
/// are fitted (their width is known then), before any image is transformed.
pub fn extract_unscaled(
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    data: &DataParams,
    reporter: Option<&dyn Reporter>,
) -> Result<FeatureMatrices> {
    extract_splits(spec, splits, data, reporter, true)
}

/// [`extract_unscaled`], with the training matrix computed only when `dense_train` (else it has
/// 0 rows and the features must be raw pixels, whose scaler is fitted on the images).
fn extract_splits(
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    data: &DataParams,
    reporter: Option<&dyn Reporter>,
    dense_train: bool,
) -> Result<FeatureMatrices> {
    anyhow::ensure!(
        dense_train || spec.is_raw_pixels(),
        "internal error: only raw-pixel training features can be kept as pixels"
    );
    crate::feature_options::check(spec, splits.train.images.shape())?;
    let fitted = spec
        .fit(&splits.train.images, data.seed)
        .map_err(crate::feature_options::name_option)?;
    let train_rows = if dense_train { splits.train.len() } else { 0 };
    let rows = train_rows + splits.val.len() + splits.test.len();
    crate::memory::check(
        &format!(
            "the {} features of {rows} images ({} values each)",
            spec.label(),
            fitted.dim()
        ),
        rows.checked_mul(fitted.dim())
            .and_then(|n| n.checked_mul(std::mem::size_of::<f32>()))
            .map(|b| b as u64),
        crate::memory::budget(data.max_memory),
        "use fewer or smaller features (e.g. a smaller --kmeans-k), a smaller --image-size, \
         or --train-limit",
    )?;
    let total = rows as u64;
    let progress = reporter.map(|r| r.start("features", total));
    let inc = |n| {
        if let Some(p) = &progress {
            p.inc(n)
        }
    };
    let blocks: Vec<_> = fitted.parts().iter().map(|&(_, d, n)| (d, n)).collect();
    let (train, scaler) = if dense_train {
        let train = fitted.transform(&splits.train.images, &inc)?;
        let scaler = Scaler::fit(train.view(), &blocks);
        (train, scaler)
    } else {
        let images = &splits.train.images;
        let sums = ColumnSums::of_rows(images.len(), fitted.dim(), &|i, out| {
            raw_values(images.get(i).pixels, out)
        });
        (
            Array2::zeros((0, fitted.dim())),
            Scaler::from_sums(&sums, &blocks),
        )
    };
    let val = fitted.transform(&splits.val.images, &inc)?;
    let test = fitted.transform(&splits.test.images, &inc)?;
    if let Some(p) = &progress {
        p.finish();
    }
    Ok(FeatureMatrices {
        train,
        val,
        test,
        fitted,
        scaler,
    })
}

pub fn feature_parts(fitted: &FittedFeatures) -> Vec<report::FeaturePart> {
    fitted
        .parts()
        .into_iter()
        .map(|(name, dim, norm)| report::FeaturePart {
            name: name.to_string(),
            dim,
            normalization: format!("{norm:?}").to_lowercase(),
        })
        .collect()
}

fn run_settings(params: &RunParams, settings: &TrainSettings) -> serde_json::Value {
    let mut all = params.data.settings();
    let train = serde_json::json!({
        "preset": params.preset,
        "mlp": settings.mlp,
        "class_weight": settings.class_weight.name(),
        "threads": rayon::current_num_threads(),
        "features": params.features,
        "model": settings.model.name(),
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "reg": settings.reg,
        "momentum": settings.momentum,
        "lr_decay": settings.lr_decay,
    });
    if let (Some(all), Some(train)) = (all.as_object_mut(), train.as_object()) {
        all.extend(train.clone());
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use wb_data::{Dataset, ImageShape};

    fn noise_images(n: usize, shape: ImageShape, seed: u64) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pixels: Vec<u8> = (0..n * shape.len()).map(|_| rng.gen()).collect();
        Dataset {
            images: Images::new(shape, pixels).expect("whole images"),
            labels: (0..n).map(|i| i % 3).collect(),
            class_names: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    /// The compact raw-pixel path stores no training matrix, yet its scaler, its validation
    /// and test features and every training row it decodes are the bits of the dense path
    /// (more than one 1024-row block of sums, so the block order is exercised).
    #[test]
    fn pixels_decoded_as_read_equal_the_dense_raw_features() {
        let shape = ImageShape::new(5, 4, 3);
        let splits = wb_data::Splits {
            train: noise_images(2100, shape, 1),
            val: noise_images(30, shape, 2),
            test: noise_images(40, shape, 3),
        };
        let spec = FeatureSpec::parse("raw").unwrap();
        let data = DataParams::default();
        let quiet = crate::progress::Quiet;
        let dense = extract(&spec, &splits, &data, &quiet).unwrap();
        let compact = extract_held_out(&spec, &splits, &data, &quiet).unwrap();
        assert_eq!(compact.train.dim(), (0, shape.len()));
        assert_eq!(
            serde_json::to_value(&dense.scaler).unwrap(),
            serde_json::to_value(&compact.scaler).unwrap()
        );
        assert_eq!(dense.val, compact.val);
        assert_eq!(dense.test, compact.test);
        let rows = PixelRows {
            images: &splits.train.images,
            scaler: &compact.scaler,
        };
        assert_eq!((rows.nrows(), rows.ncols()), dense.train.dim());
        let mut row = vec![f32::NAN; shape.len()];
        for (i, want) in dense.train.rows().into_iter().enumerate() {
            rows.read_row(i, &mut row);
            assert_eq!(row.as_slice(), want.as_slice().unwrap(), "row {i}");
        }
    }

    /// Anything but raw pixels is refused by the compact path instead of silently fitting a
    /// scaler on pixels.
    #[test]
    fn only_raw_pixels_can_be_kept_as_pixels() {
        let shape = ImageShape::new(8, 8, 3);
        let splits = wb_data::Splits {
            train: noise_images(20, shape, 1),
            val: noise_images(6, shape, 2),
            test: noise_images(6, shape, 3),
        };
        let spec = FeatureSpec::parse("color").unwrap();
        let Err(err) = extract_held_out(
            &spec,
            &splits,
            &DataParams::default(),
            &crate::progress::Quiet,
        ) else {
            panic!("colour features cannot be decoded from pixels");
        };
        assert!(err.to_string().contains("raw-pixel"), "{err}");
    }
}
