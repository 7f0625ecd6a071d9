//! One run: load → features → train (validation search) → evaluate → report.

use std::time::Instant;

use anyhow::{Context, Result};
use ndarray::Array2;
use wb_data::Images;
use wb_features::{raw_values, ColumnSums, FeatureSpec, FittedFeatures, Scaler, SUM_BLOCK_ROWS};
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
    let rule = train_rule(spec, settings, &folds);
    let t = Instant::now();
    let (feats, store) = extract_for_training(spec, &splits, &params.data, reporter, rule)?;
    let (pixel_rows, bf16_rows);
    let x_train: Rows<'_> = match &store {
        TrainStore::F32 => feats.train.view().into(),
        TrainStore::Pixels => {
            pixel_rows = PixelRows {
                images: &splits.train.images,
                scaler: &feats.scaler,
            };
            Rows::Source(&pixel_rows)
        }
        TrainStore::Bf16(values) => {
            bf16_rows = Bf16Rows {
                values,
                dim: feats.fitted.dim(),
                scaler: &feats.scaler,
            };
            Rows::Source(&bf16_rows)
        }
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

    let features = feature_parts(&feats.fitted);
    let report = report::RunReport {
        settings: run_settings(params, settings, store.name()),
        machine: report::Machine::current(&features),
        data: info,
        features,
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

/// How the run holds its training features. Compact stores need a linear model solved by
/// full-batch L-BFGS (the only solver that reads rows through [`RowSource`]) and a validation
/// split (cross-validation selects fold rows). Then raw pixels are decoded from the images as
/// read ([`PixelRows`]: the same bits as the dense matrix, 4 bytes per training value saved,
/// 1.2 GB on CIFAR-10 with mirrored copies), and other features are dense unless they exceed
/// the memory budget, when they are kept as bf16 ([`Bf16Rows`]) instead of being refused.
fn train_rule(
    spec: &FeatureSpec,
    settings: &TrainSettings,
    folds: &Option<Vec<wb_data::Fold>>,
) -> TrainRule {
    let full_batch =
        settings.mlp.is_none() && settings.linear.solver == Solver::Lbfgs && folds.is_none();
    match (full_batch, spec.is_raw_pixels()) {
        (false, _) => TrainRule::Dense,
        (true, true) => TrainRule::Pixels,
        (true, false) => TrainRule::DenseOrBf16,
    }
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

    fn read_row(&self, i: usize, out: &mut [f32]) {
        raw_values(self.images.get(i).pixels, out);
        self.scaler.transform_row(out);
    }
}

/// Training features stored as bf16 ([`bf16_bits`], unscaled), widened to f32 and scaled as
/// read.
struct Bf16Rows<'a> {
    values: &'a [u16],
    dim: usize,
    scaler: &'a Scaler,
}

impl RowSource for Bf16Rows<'_> {
    fn nrows(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    fn ncols(&self) -> usize {
        self.dim
    }

    fn read_row(&self, i: usize, out: &mut [f32]) {
        let row = &self.values[i * self.dim..(i + 1) * self.dim];
        for (o, &b) in out.iter_mut().zip(row) {
            *o = f32::from_bits(u32::from(b) << 16);
        }
        self.scaler.transform_row(out);
    }
}

/// The scaled features of a run whose training rows may be kept compact ([`TrainRule`]): the
/// matrices (training rows empty unless stored as f32), and how the training rows are held.
fn extract_for_training(
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    data: &DataParams,
    reporter: &dyn Reporter,
    rule: TrainRule,
) -> Result<(FeatureMatrices, TrainStore)> {
    let (mut feats, store) = extract_splits(spec, splits, data, Some(reporter), rule)?;
    for m in [&mut feats.train, &mut feats.val, &mut feats.test] {
        feats.scaler.transform_inplace(m);
    }
    Ok((feats, store))
}

/// Fits the extractors and the scaler on the training split and transforms all three splits.
pub fn extract(
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    data: &DataParams,
    reporter: &dyn Reporter,
) -> Result<FeatureMatrices> {
    Ok(extract_for_training(spec, splits, data, reporter, TrainRule::Dense)?.0)
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
    Ok(extract_splits(spec, splits, data, reporter, TrainRule::Dense)?.0)
}

/// How a run may hold its training features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrainRule {
    /// A dense `f32` matrix (every model, and `pipeline extract`).
    Dense,
    /// Not at all: raw pixels decoded from the images as read ([`PixelRows`]).
    Pixels,
    /// Dense `f32` when the features fit the memory budget, else bf16 ([`Bf16Rows`]).
    DenseOrBf16,
}

/// How a run's training features were held, as [`TrainRule`] decided.
enum TrainStore {
    /// In the training matrix.
    F32,
    /// Not at all: decoded from the images as read ([`PixelRows`]).
    Pixels,
    /// Unscaled, as [`bf16_bits`], one row after another ([`Bf16Rows`]).
    Bf16(Vec<u16>),
}

impl TrainStore {
    /// What `results.json` says in `settings.train_features_store`.
    fn name(&self) -> &'static str {
        match self {
            TrainStore::F32 => "f32",
            TrainStore::Pixels => "pixels decoded as read",
            TrainStore::Bf16(_) => "bf16",
        }
    }
}

/// `v` rounded to the nearest bfloat16 (ties to even), as its 16 bits: the upper half of the
/// f32 with 8 significant bits, relative error ≤ 2⁻⁸.
fn bf16_bits(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return ((bits >> 16) as u16) | 0x0040;
    }
    let rounding = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

/// [`extract_unscaled`], with the training features held as `rule` says: with a compact
/// store the returned training matrix has 0 rows. Every store fits the scaler on the same
/// `f32` values summed in the same order.
fn extract_splits(
    spec: &FeatureSpec,
    splits: &wb_data::Splits,
    data: &DataParams,
    reporter: Option<&dyn Reporter>,
    rule: TrainRule,
) -> Result<(FeatureMatrices, TrainStore)> {
    anyhow::ensure!(
        rule != TrainRule::Pixels || spec.is_raw_pixels(),
        "internal error: only raw-pixel training features can be kept as pixels"
    );
    crate::feature_options::check(spec, splits.train.images.shape())?;
    let fitted = spec
        .fit(&splits.train.images, data.seed)
        .map_err(crate::feature_options::name_option)?;
    let dim = fitted.dim();
    let held_rows = splits.val.len() + splits.test.len();
    let bytes = |train_bytes_per_value: usize| {
        let train = splits
            .train
            .len()
            .checked_mul(dim)?
            .checked_mul(train_bytes_per_value)?;
        let held = held_rows.checked_mul(dim)?.checked_mul(4)?;
        train.checked_add(held).map(|b| b as u64)
    };
    let budget = crate::memory::budget(data.max_memory);
    // The store is decided here, before anything is transformed; `Bf16`'s rows are filled below.
    let (store, estimate) = match rule {
        TrainRule::Dense => (TrainStore::F32, bytes(4)),
        TrainRule::Pixels => (TrainStore::Pixels, bytes(0)),
        TrainRule::DenseOrBf16 => match bytes(4) {
            Some(b) if b <= budget => (TrainStore::F32, Some(b)),
            _ => (TrainStore::Bf16(Vec::new()), bytes(2)),
        },
    };
    let stored_rows = if matches!(store, TrainStore::F32) {
        splits.train.len() + held_rows
    } else {
        held_rows
    };
    crate::memory::check(
        &format!(
            "the {} features of {stored_rows} images ({dim} values each{})",
            spec.label(),
            if matches!(store, TrainStore::Bf16(_)) {
                format!(", the {} training rows as bf16", splits.train.len())
            } else {
                String::new()
            }
        ),
        estimate,
        budget,
        "use fewer or smaller features (e.g. a smaller --kmeans-k), a smaller --image-size, \
         or --train-limit",
    )?;
    if matches!(store, TrainStore::Bf16(_)) {
        if let Some(r) = reporter {
            r.line(&format!(
                "  the training features ({:.2} GB as f32) exceed the memory budget of {:.2} GB: \
                 kept as bf16 (8 significant bits) for L-BFGS, {:.2} GB",
                bytes(4).unwrap_or(u64::MAX) as f64 / 1e9,
                budget as f64 / 1e9,
                (splits.train.len() * dim * 2) as f64 / 1e9,
            ));
        }
    }
    let total = (splits.train.len() + held_rows) as u64;
    let progress = reporter.map(|r| r.start("features", total));
    let inc = |n| {
        if let Some(p) = &progress {
            p.inc(n)
        }
    };
    let blocks: Vec<_> = fitted.parts().iter().map(|&(_, d, n)| (d, n)).collect();
    let images = &splits.train.images;
    let (train, scaler, store) = match store {
        TrainStore::F32 => {
            let train = fitted.transform(images, &inc)?;
            let scaler = Scaler::fit(train.view(), &blocks);
            (train, scaler, TrainStore::F32)
        }
        TrainStore::Pixels => {
            let sums = ColumnSums::of_rows(images.len(), dim, &|i, out| {
                raw_values(images.get(i).pixels, out)
            });
            inc(images.len() as u64);
            (
                Array2::zeros((0, dim)),
                Scaler::from_sums(&sums, &blocks),
                TrainStore::Pixels,
            )
        }
        TrainStore::Bf16(_) => {
            let values = images.len() * dim;
            let mut stored: Vec<u16> = Vec::new();
            stored.try_reserve_exact(values).map_err(|_| {
                anyhow::anyhow!(
                    "the {} training features as bf16 ({:.2} GB) do not fit in memory: {}",
                    spec.label(),
                    values as f64 * 2e-9,
                    "use fewer or smaller features or --train-limit"
                )
            })?;
            // Chunks of exactly the summing block: their sums added in order are the bits of
            // the dense matrix's sums, so the scaler is the one the f32 run fits.
            let mut sums = ColumnSums::zeros(dim);
            for r0 in (0..images.len()).step_by(SUM_BLOCK_ROWS) {
                let rows: Vec<usize> = (r0..(r0 + SUM_BLOCK_ROWS).min(images.len())).collect();
                let chunk = fitted.transform(&images.select(&rows), &inc)?;
                sums.add(&ColumnSums::of(chunk.view()))
                    .context("internal error: feature width changed between chunks")?;
                stored.extend(chunk.iter().map(|&v| bf16_bits(v)));
            }
            (
                Array2::zeros((0, dim)),
                Scaler::from_sums(&sums, &blocks),
                TrainStore::Bf16(stored),
            )
        }
    };
    let val = fitted.transform(&splits.val.images, &inc)?;
    let test = fitted.transform(&splits.test.images, &inc)?;
    if let Some(p) = &progress {
        p.finish();
    }
    Ok((
        FeatureMatrices {
            train,
            val,
            test,
            fitted,
            scaler,
        },
        store,
    ))
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

fn run_settings(
    params: &RunParams,
    settings: &TrainSettings,
    train_store: &str,
) -> serde_json::Value {
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
        "train_features_store": train_store,
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
        let (compact, store) =
            extract_for_training(&spec, &splits, &data, &quiet, TrainRule::Pixels).unwrap();
        assert!(matches!(store, TrainStore::Pixels));
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
        let Err(err) = extract_for_training(
            &spec,
            &splits,
            &DataParams::default(),
            &crate::progress::Quiet,
            TrainRule::Pixels,
        ) else {
            panic!("colour features cannot be decoded from pixels");
        };
        assert!(err.to_string().contains("raw-pixel"), "{err}");
    }

    /// Features over the memory budget as f32 but under it as bf16 are kept as bf16: the
    /// scaler and the held-out splits are the dense run's bits, and each training row read is
    /// the dense row rounded to bf16, then scaled. Within the budget they stay dense.
    #[test]
    fn features_over_the_budget_are_kept_as_bf16() {
        let shape = ImageShape::new(8, 8, 3);
        let splits = wb_data::Splits {
            train: noise_images(2100, shape, 4),
            val: noise_images(30, shape, 5),
            test: noise_images(40, shape, 6),
        };
        let spec = FeatureSpec::parse("color").unwrap();
        let quiet = crate::progress::Quiet;
        let unscaled = extract_unscaled(&spec, &splits, &DataParams::default(), None).unwrap();
        let dense = extract(&spec, &splits, &DataParams::default(), &quiet).unwrap();
        let dim = dense.train.ncols();
        let f32_bytes = ((2100 + 70) * dim * 4) as u64;
        let roomy = DataParams {
            max_memory: Some(f32_bytes),
            ..DataParams::default()
        };
        let (fits, store) =
            extract_for_training(&spec, &splits, &roomy, &quiet, TrainRule::DenseOrBf16).unwrap();
        assert!(matches!(store, TrainStore::F32));
        assert_eq!(fits.train, dense.train);

        let tight = DataParams {
            max_memory: Some(f32_bytes - 1),
            ..DataParams::default()
        };
        let (compact, store) =
            extract_for_training(&spec, &splits, &tight, &quiet, TrainRule::DenseOrBf16).unwrap();
        let TrainStore::Bf16(bf16) = store else {
            panic!("kept as bf16 over the budget");
        };
        assert_eq!(compact.train.nrows(), 0);
        assert_eq!(
            serde_json::to_value(&dense.scaler).unwrap(),
            serde_json::to_value(&compact.scaler).unwrap()
        );
        assert_eq!(dense.val, compact.val);
        assert_eq!(dense.test, compact.test);
        let rows = Bf16Rows {
            values: &bf16,
            dim,
            scaler: &compact.scaler,
        };
        assert_eq!((rows.nrows(), rows.ncols()), (2100, dim));
        let (mut got, mut want) = (vec![0f32; dim], vec![0f32; dim]);
        for i in 0..2100 {
            rows.read_row(i, &mut got);
            for (w, &v) in want.iter_mut().zip(unscaled.train.row(i)) {
                *w = f32::from_bits(u32::from(bf16_bits(v)) << 16);
            }
            compact.scaler.transform_row(&mut want);
            assert_eq!(got, want, "row {i}");
        }
    }

    /// Round to nearest, ties to even, relative error at most 2⁻⁸ (half of 2⁻⁷); NaN stays NaN.
    #[test]
    fn bf16_rounds_to_nearest_even() {
        let widen = |b: u16| f32::from_bits(u32::from(b) << 16);
        assert_eq!(bf16_bits(1.0), 0x3f80);
        assert_eq!(bf16_bits(-2.0), 0xc000);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1.
        assert_eq!(widen(bf16_bits(1.0 + 1.0 / 256.0)), 1.0);
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to the even one.
        assert_eq!(widen(bf16_bits(1.0 + 3.0 / 256.0)), 1.0 + 1.0 / 64.0);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..10_000 {
            let v: f32 = rng.gen_range(-1e6f32..1e6);
            let r = widen(bf16_bits(v));
            assert!((r - v).abs() <= v.abs() / 256.0, "{v} -> {r}");
        }
        assert!(widen(bf16_bits(f32::NAN)).is_nan());
    }
}
