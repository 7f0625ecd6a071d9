//! Applies a saved model to image files, folders and wildcard patterns (`pipeline predict`).
//!
//! # Inputs ([`PredictParams::inputs`])
//!
//! - an image file: predicted whatever its extension (the format is read from the content);
//! - a folder: every image under it, recursively, found as the folder loader finds them
//!   ([`wb_data::folder::ImageFinder`]: symbolic links followed, each real folder once, hidden
//!   folders skipped; files without an image extension skipped and counted in one warning);
//! - a wildcard pattern the shell did not expand (`'photos/*.jpg'`, `'data/**/*.png'`;
//!   `*` and `?` do not cross `/` or match a leading dot): its matching images, and the folders
//!   it matches read as folders; a pattern that matches nothing is an error naming it.
//!
//! # True classes
//!
//! A folder whose sub-folders are named after classes of the model is a labelled folder (the
//! `ROOT/<class>/*` layout): each image's true class is its class folder's name. A folder with
//! split folders (`train/`, `val/`, `test/` and their aliases) whose class folders are named so
//! is read the same way, split by split. The report then has the accuracy, the balanced
//! accuracy and the confusion matrix over those images ([`Evaluation`]). Sub-folders of a
//! labelled folder that name no class of the model are named in a warning: their images are
//! predicted but left out of the accuracy. Images directly in the folder, in a folder without
//! class sub-folders, or named one by one have no true class.
//!
//! # Decoding and scores
//!
//! Images are decoded in parallel (rayon) by [`wb_data::load_image_into`], exactly as the folder
//! loader decoded the training images (EXIF orientation, colour conversion to the model's
//! channels), and fitted to the model's working size with the resize mode it was trained with
//! ([`Preprocessing::resize`](crate::saved::Preprocessing::resize)). They go through the model
//! in batches of at most [`BATCH_IMAGES`] images (and [`BATCH_BYTES`] of pixels), so memory
//! stays bounded on any number of files. An undecodable file is an error naming it unless
//! `skip_bad_images` (then it is listed in [`PredictSummary::skipped`]).
//!
//! # Probabilities
//!
//! `p_j = e^{s_j} / Σ_k e^{s_k}`, the softmax of the class scores `s`. For a softmax-trained
//! model (linear or MLP) that is the model's own estimate of P(class | image), fitted by
//! cross-entropy. For an SVM (any of its hinge losses) or a squared-loss model it is the
//! softmax of margins: it ranks the classes like the scores do, but is not a calibrated
//! probability ([`probability_meaning`]).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use wb_data::folder::{
    is_image_name, FolderEntries, ImageFinder, MAX_IMAGE_SIDE, TEST_NAMES, TRAIN_NAMES, VAL_NAMES,
};
use wb_data::{human_bytes, image_bytes, DataError, Images, ResizeMode};
use wb_features::FittedFeatures;
use wb_linear::LossKind;

use crate::progress::Reporter;
use crate::report::ClassReport;
use crate::saved::{self, Loaded};

/// Classes listed per image when the caller does not say (fewer when the model has fewer).
pub const DEFAULT_TOP_K: usize = 3;

/// The most images decoded and scored together.
pub const BATCH_IMAGES: usize = 256;

/// The most pixel bytes decoded together (a batch of large working sizes holds fewer images).
pub const BATCH_BYTES: usize = 64 << 20;

/// What to predict and how. Check it once with [`PredictParams::check`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PredictParams {
    /// Image files, folders and wildcard patterns, in the order the predictions are listed.
    pub inputs: Vec<PathBuf>,
    /// Classes listed per image, most probable first; `None`: [`DEFAULT_TOP_K`]. More than the
    /// model's classes lists them all (with a warning).
    pub top_k: Option<usize>,
    /// Skip undecodable images (listed in the summary) instead of failing on the first.
    pub skip_bad_images: bool,
    /// The CSV file the predictions will be written to, if any; the summary goes beside it
    /// ([`summary_path`]).
    pub out: Option<PathBuf>,
}

/// [`PredictParams`] that passed [`PredictParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidPredictParams {
    params: PredictParams,
}

impl PredictParams {
    /// Validates the settings before any file is read.
    pub fn check(&self) -> Result<ValidPredictParams> {
        if self.inputs.is_empty() {
            bail!("name at least one image file, folder or wildcard pattern to predict");
        }
        if self.top_k == Some(0) {
            bail!("--top-k 0: list at least one class per image (default {DEFAULT_TOP_K})");
        }
        if let Some(out) = &self.out {
            summary_path(out)?;
        }
        Ok(ValidPredictParams {
            params: self.clone(),
        })
    }
}

impl ValidPredictParams {
    pub fn params(&self) -> &PredictParams {
        &self.params
    }
}

/// Where the JSON summary of a prediction run written to `csv` goes: beside it, with the
/// extension `.json` (`predictions.csv` → `predictions.json`).
pub fn summary_path(csv: &Path) -> Result<PathBuf> {
    if csv.file_name().is_none() {
        bail!(
            "--out {}: name a file for the predictions (e.g. predictions.csv)",
            csv.display()
        );
    }
    let json = csv.with_extension("json");
    if json == csv {
        bail!(
            "--out {}: this is where the JSON summary goes; name the CSV file (e.g. predictions.csv)",
            csv.display()
        );
    }
    Ok(json)
}

/// Where an image's true class comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    /// Not in a class folder: no true class.
    Unlabelled,
    /// In the class folder of the model's class with this index.
    Class(usize),
    /// In a class folder whose name is no class of the model (kept out of the accuracy).
    OtherClass(String),
}

/// One image's class probabilities, in the model's class order.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub path: PathBuf,
    pub probabilities: Vec<f32>,
    pub truth: Truth,
}

impl Prediction {
    /// Class indices, most probable first (ties: the lower index first, as the models' argmax).
    pub fn ranked(&self) -> Vec<usize> {
        let p = &self.probabilities;
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        order
    }

    /// The predicted class: the most probable one.
    pub fn predicted(&self) -> usize {
        self.ranked()[0]
    }
}

/// How well the predictions match the class folders.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Images with a true class of the model (the ones counted).
    pub images: usize,
    pub correct: usize,
    /// `correct / images`.
    pub accuracy: f64,
    /// The mean recall over the classes with images ([`ClassReport::balanced_accuracy`]).
    pub balanced_accuracy: f64,
    /// Recall per class and the confusion matrix (rows: true class, columns: predicted).
    pub per_class: ClassReport,
    /// Images in folders named after no class of the model, by folder name: predicted, not
    /// counted.
    pub other_classes: BTreeMap<String, usize>,
}

impl Evaluation {
    /// The accuracies and the confusion matrix as text.
    pub fn text(&self) -> String {
        let mut out = format!(
            "accuracy {:.4} ({} of {} images in class folders), balanced accuracy {:.4}\n",
            self.accuracy, self.correct, self.images, self.balanced_accuracy
        );
        if !self.other_classes.is_empty() {
            let n: usize = self.other_classes.values().sum();
            out += &format!(
                "not counted: {n} image(s) in folders named after no class of the model\n"
            );
        }
        out += "confusion matrix (rows: true class from the folder name, columns: predicted)\n";
        out += &self.per_class.confusion_table();
        out
    }
}

/// An image that could not be decoded (with `skip_bad_images`).
#[derive(Debug, Clone, Serialize)]
pub struct SkippedImage {
    pub path: PathBuf,
    pub reason: String,
}

/// Seconds per stage of a prediction run.
#[derive(Debug, Clone, Serialize)]
pub struct PredictTimings {
    /// Loading the model.
    pub load: f64,
    /// Listing the files (folders walked, patterns expanded).
    pub scan: f64,
    /// Decoding and resizing.
    pub decode: f64,
    /// Features, standardisation and scores.
    pub model: f64,
}

/// Everything about a prediction run but the per-image probabilities: what was predicted, how,
/// the evaluation against class folders, the warnings and the speed. Serialised as the JSON
/// summary beside the CSV.
#[derive(Debug, Clone, Serialize)]
pub struct PredictSummary {
    /// The model's metadata file.
    pub model: PathBuf,
    pub class_names: Vec<String>,
    /// Height, width, channels every image was brought to.
    pub image_shape: [usize; 3],
    pub resize: ResizeMode,
    /// What the CSV's probabilities are ([`probability_meaning`]).
    pub probability: String,
    pub top_k: usize,
    /// Images predicted.
    pub images: usize,
    /// Of them, images whose own size differed from `image_shape` (fitted with `resize`).
    pub resized: usize,
    pub skipped: Vec<SkippedImage>,
    /// `None` unless some image lies in a class folder named after a class of the model.
    pub evaluation: Option<Evaluation>,
    pub warnings: Vec<String>,
    pub threads: usize,
    /// Wall time from loading the model to the last score.
    pub seconds: f64,
    pub images_per_second: f64,
    pub timings_s: PredictTimings,
}

impl PredictSummary {
    /// One line: images, time, speed and where it went.
    pub fn speed_line(&self) -> String {
        let t = &self.timings_s;
        format!(
            "predicted {} image(s) in {:.3}s: {:.0} images/s on {} thread(s) (model load \
             {:.3}s, scan {:.3}s, decode {:.3}s, features and scores {:.3}s)",
            self.images,
            self.seconds,
            self.images_per_second,
            self.threads,
            t.load,
            t.scan,
            t.decode,
            t.model
        )
    }
}

/// The predictions, in input order, and their summary.
#[derive(Debug, Clone)]
pub struct PredictOutput {
    pub predictions: Vec<Prediction>,
    pub summary: PredictSummary,
}

impl PredictOutput {
    /// The predictions as CSV: `path,predicted,probability,top1,p1,...,topK,pK` (K =
    /// `summary.top_k`), one row per image in input order; probabilities printed exactly
    /// (shortest representation that reads back to the same `f32`).
    pub fn csv(&self) -> Result<Vec<u8>> {
        let names = &self.summary.class_names;
        let k = self.summary.top_k;
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["path".to_string(), "predicted".into(), "probability".into()];
        for i in 1..=k {
            header.push(format!("top{i}"));
            header.push(format!("p{i}"));
        }
        writer.write_record(&header)?;
        for p in &self.predictions {
            let order = p.ranked();
            let best = order[0];
            let mut row = vec![
                p.path.display().to_string(),
                names[best].clone(),
                p.probabilities[best].to_string(),
            ];
            for &j in &order[..k] {
                row.push(names[j].clone());
                row.push(p.probabilities[j].to_string());
            }
            writer.write_record(&row)?;
        }
        writer
            .into_inner()
            .map_err(|e| anyhow!("cannot format the predictions as CSV: {e}"))
    }

    /// Writes the CSV to `csv` and the summary to [`summary_path`]`(csv)`, each atomically;
    /// returns the summary's path.
    pub fn write(&self, csv: &Path) -> Result<PathBuf> {
        let json = summary_path(csv)?;
        wb_io::write_bytes(csv, &self.csv()?)?;
        wb_io::write_json(&json, &self.summary)?;
        Ok(json)
    }
}

/// What the probabilities of a model trained with `loss` mean, for the summary.
pub fn probability_meaning(loss: LossKind) -> &'static str {
    match loss {
        LossKind::Softmax => {
            "softmax of the scores: the model's estimate of P(class | image), fitted by \
             cross-entropy"
        }
        LossKind::Hinge | LossKind::SquaredHinge | LossKind::OvrSquaredHinge => {
            "softmax of the SVM's margins: ranks the classes like the scores, not a calibrated \
             probability"
        }
        LossKind::Squared => {
            "softmax of the least-squares scores: ranks the classes like the scores, not a \
             calibrated probability"
        }
    }
}

/// A saved model ready to apply: the classifier and its rebuilt preprocessing, checked to fit
/// each other.
pub struct Predictor {
    loaded: Loaded,
    fitted: FittedFeatures,
    load_seconds: f64,
}

impl Predictor {
    /// Loads the model saved in `dir` (or `dir/model/`) and checks that its image shape,
    /// feature settings, standardiser, weights and class names agree.
    pub fn load(dir: &Path) -> Result<Predictor> {
        let start = Instant::now();
        let loaded = saved::load(dir)?;
        let prep = &loaded.preprocessing;
        let meta = loaded.meta_path.display();
        let [h, w, c] = prep.image_shape;
        let side_ok = |s: usize| (1..=MAX_IMAGE_SIDE).contains(&s);
        if !side_ok(h) || !side_ok(w) || !(c == 1 || c == 3) {
            bail!(
                "{meta}: image shape {h}x{w}x{c}: sides must be 1 to {MAX_IMAGE_SIDE} pixels and \
                 channels 1 (gray) or 3 (RGB)"
            );
        }
        let fitted = prep
            .fitted_features()
            .with_context(|| format!("{meta}: invalid feature settings"))?;
        let (dim, scaler_dim, model_dim) =
            (fitted.dim(), prep.scaler.mean.len(), loaded.input_dim());
        if dim != model_dim || scaler_dim != model_dim || prep.scaler.inv_std.len() != model_dim {
            bail!(
                "{meta}: the feature settings `{}` give {dim} dimensions and the standardiser has \
                 {scaler_dim}, but the weights expect {model_dim}",
                prep.features.label()
            );
        }
        if prep.class_names.len() != loaded.n_classes() {
            bail!(
                "{meta}: {} class names for a model with {} classes",
                prep.class_names.len(),
                loaded.n_classes()
            );
        }
        Ok(Predictor {
            loaded,
            fitted,
            load_seconds: start.elapsed().as_secs_f64(),
        })
    }

    pub fn class_names(&self) -> &[String] {
        &self.loaded.preprocessing.class_names
    }

    /// The softmax of the model's scores for `images` (in the model's shape), one row each.
    fn probabilities(&self, images: &Images) -> Result<ndarray::Array2<f32>> {
        let mut x = self.fitted.transform(images, &|_| {})?;
        self.loaded.preprocessing.scaler.transform_inplace(&mut x);
        Ok(wb_linear::loss::softmax_rows(
            self.loaded.scores(x.view()).view(),
        ))
    }

    /// Finds the images of `params`, decodes them in parallel in batches, scores them and
    /// evaluates the ones in class folders. Warnings and progress go to `reporter`.
    pub fn predict(
        &self,
        params: &ValidPredictParams,
        reporter: &dyn Reporter,
    ) -> Result<PredictOutput> {
        let params = &params.params;
        let start = Instant::now();
        let class_names = self.class_names();
        let n_classes = class_names.len();
        let prep = &self.loaded.preprocessing;
        let shape = prep.shape();
        let mut warnings = Vec::new();
        let top_k = match params.top_k {
            None => DEFAULT_TOP_K.min(n_classes),
            Some(k) if k > n_classes => {
                warnings.push(format!(
                    "--top-k {k} is more than the model's {n_classes} classes: listing all {n_classes}"
                ));
                n_classes
            }
            Some(k) => k,
        };

        let inputs = collect_inputs(&params.inputs, class_names, &mut warnings)?;
        let scan_seconds = start.elapsed().as_secs_f64();
        for w in &warnings {
            reporter.line(&format!("warning: {w}"));
        }
        if inputs.is_empty() {
            let named: Vec<String> = params
                .inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            bail!("no image files in {}", named.join(", "));
        }

        let per_image = shape.len();
        let batch_len = (BATCH_BYTES / per_image).clamp(1, BATCH_IMAGES);
        let batch_bytes = image_bytes(batch_len, shape)?;
        let (w, h) = (shape.width as u32, shape.height as u32);
        let stage = reporter.start("predict", inputs.len() as u64);
        let mut predictions = Vec::with_capacity(inputs.len());
        let mut skipped = Vec::new();
        let mut resized = 0;
        let (mut decode_seconds, mut model_seconds) = (0.0, 0.0);
        let failed = |e: anyhow::Error| {
            stage.finish();
            e
        };
        for batch in inputs.chunks(batch_len) {
            let t = Instant::now();
            let mut pixels = Vec::new();
            pixels
                .try_reserve_exact(batch.len() * per_image)
                .map_err(|_| {
                    failed(anyhow!(
                        "cannot allocate {} for a batch of {batch_len} images of {}x{}x{}",
                        human_bytes(batch_bytes),
                        shape.height,
                        shape.width,
                        shape.channels
                    ))
                })?;
            pixels.resize(batch.len() * per_image, 0);
            let decoded: Vec<Result<(u32, u32), DataError>> = pixels
                .par_chunks_mut(per_image)
                .zip(batch.par_iter())
                .map(|(slot, input)| {
                    let result = wb_data::load_image_into(&input.path, shape, prep.resize, slot);
                    stage.inc(1);
                    result
                })
                .collect();
            let mut kept = Vec::with_capacity(batch.len());
            for (read, (result, input)) in decoded.into_iter().zip(batch).enumerate() {
                match result {
                    Ok(size) => {
                        if size != (w, h) {
                            resized += 1;
                        }
                        let write = kept.len();
                        if write != read {
                            pixels.copy_within(
                                read * per_image..(read + 1) * per_image,
                                write * per_image,
                            );
                        }
                        kept.push(input);
                    }
                    Err(e) if params.skip_bad_images => skipped.push(SkippedImage {
                        path: input.path.clone(),
                        reason: e.to_string(),
                    }),
                    Err(e) => {
                        return Err(failed(anyhow!(
                            "{e} (--skip-bad-images skips undecodable files)"
                        )))
                    }
                }
            }
            decode_seconds += t.elapsed().as_secs_f64();
            if kept.is_empty() {
                continue;
            }
            let t = Instant::now();
            pixels.truncate(kept.len() * per_image);
            let images = Images::new(shape, pixels)
                .ok_or_else(|| failed(anyhow!("decoded batch does not match its shape")))?;
            let probabilities = self.probabilities(&images).map_err(failed)?;
            predictions.extend(
                kept.into_iter()
                    .zip(probabilities.rows())
                    .map(|(input, row)| Prediction {
                        path: input.path.clone(),
                        probabilities: row.to_vec(),
                        truth: input.truth.clone(),
                    }),
            );
            model_seconds += t.elapsed().as_secs_f64();
        }
        stage.finish();
        if let Some(first) = skipped.first() {
            let warning = format!(
                "skipped {} undecodable image(s) (--skip-bad-images), the first: {}",
                skipped.len(),
                first.reason
            );
            reporter.line(&format!("warning: {warning}"));
            warnings.push(warning);
        }
        if predictions.is_empty() {
            bail!(
                "none of the {} image(s) could be decoded; the first: {}",
                inputs.len(),
                skipped.first().map_or("", |s| s.reason.as_str())
            );
        }
        if resized > 0 {
            reporter.line(&format!(
                "{resized} of {} image(s) resized to the model's {}x{} ({}, as in training)",
                predictions.len(),
                shape.height,
                shape.width,
                prep.resize
            ));
        }
        let evaluation = evaluate(&predictions, class_names);
        let seconds = start.elapsed().as_secs_f64() + self.load_seconds;
        let summary = PredictSummary {
            model: self.loaded.meta_path.clone(),
            class_names: class_names.to_vec(),
            image_shape: prep.image_shape,
            resize: prep.resize,
            probability: probability_meaning(self.loaded.loss()).to_string(),
            top_k,
            images: predictions.len(),
            resized,
            skipped,
            evaluation,
            warnings,
            threads: rayon::current_num_threads(),
            seconds,
            images_per_second: if seconds > 0.0 {
                predictions.len() as f64 / seconds
            } else {
                0.0
            },
            timings_s: PredictTimings {
                load: self.load_seconds,
                scan: scan_seconds,
                decode: decode_seconds,
                model: model_seconds,
            },
        };
        reporter.line(&summary.speed_line());
        Ok(PredictOutput {
            predictions,
            summary,
        })
    }
}

/// The accuracy, balanced accuracy and confusion matrix over the predictions with a true class;
/// `None` when there are none.
fn evaluate(predictions: &[Prediction], class_names: &[String]) -> Option<Evaluation> {
    let mut predicted = Vec::new();
    let mut truth = Vec::new();
    let mut other_classes: BTreeMap<String, usize> = BTreeMap::new();
    for p in predictions {
        match &p.truth {
            Truth::Class(t) => {
                predicted.push(p.predicted());
                truth.push(*t);
            }
            Truth::OtherClass(name) => *other_classes.entry(name.clone()).or_default() += 1,
            Truth::Unlabelled => {}
        }
    }
    if truth.is_empty() {
        return None;
    }
    let per_class = ClassReport::new(&predicted, &truth, class_names);
    let (correct, images) = per_class.correct_of_total();
    Some(Evaluation {
        images,
        correct,
        accuracy: correct as f64 / images as f64,
        balanced_accuracy: per_class.balanced_accuracy,
        per_class,
        other_classes,
    })
}

/// A file to predict and its true class.
#[derive(Debug, Clone)]
struct Input {
    path: PathBuf,
    truth: Truth,
}

/// Whether `s` holds a wildcard the `glob` crate expands.
fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Every file named by `args` (files, folders, patterns) in order, each once, with its true
/// class; warnings for skipped files, folders of unknown classes and repeats.
fn collect_inputs(
    args: &[PathBuf],
    class_names: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<Input>> {
    let mut finder = ImageFinder::new();
    let mut inputs = Vec::new();
    let mut other_classes: BTreeMap<String, usize> = BTreeMap::new();
    for arg in args {
        let text = arg.to_string_lossy();
        if arg.is_dir() {
            folder_inputs(
                arg,
                class_names,
                &mut finder,
                &mut inputs,
                &mut other_classes,
                warnings,
            )?;
        } else if arg.exists() {
            inputs.push(Input {
                path: arg.clone(),
                truth: Truth::Unlabelled,
            });
        } else if is_pattern(&text) {
            pattern_inputs(
                &text,
                class_names,
                &mut finder,
                &mut inputs,
                &mut other_classes,
                warnings,
            )?;
        } else {
            bail!(
                "{}: not found (expected an image file, a folder or a wildcard pattern)",
                arg.display()
            );
        }
    }
    warnings.extend(finder.warnings());
    if !other_classes.is_empty() {
        let folders: Vec<String> = other_classes
            .iter()
            .map(|(name, n)| format!("{name}/ ({n} image(s))"))
            .collect();
        warnings.push(format!(
            "class folder(s) named after no class of the model: {}; their images are predicted \
             but left out of the accuracy (the model's classes: {})",
            folders.join(", "),
            class_names.join(", ")
        ));
    }
    // Each file once (a folder and a file in it, two links to one file), first mention kept.
    let mut seen = HashSet::new();
    let before = inputs.len();
    inputs.retain(|input| {
        let key = std::fs::canonicalize(&input.path).unwrap_or_else(|_| input.path.clone());
        seen.insert(key)
    });
    if inputs.len() < before {
        warnings.push(format!(
            "{} image(s) named more than once are predicted once",
            before - inputs.len()
        ));
    }
    Ok(inputs)
}

/// The images matching `pattern` (sorted); matched folders are read as folders.
fn pattern_inputs(
    pattern: &str,
    class_names: &[String],
    finder: &mut ImageFinder,
    inputs: &mut Vec<Input>,
    other_classes: &mut BTreeMap<String, usize>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths =
        glob::glob_with(pattern, options).map_err(|e| anyhow!("pattern `{pattern}`: {e}"))?;
    let (before, mut matched) = (inputs.len(), 0usize);
    for entry in paths {
        let path = entry.map_err(|e| {
            anyhow!(
                "pattern `{pattern}`: cannot read {}: {}",
                e.path().display(),
                e.error()
            )
        })?;
        matched += 1;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if path.is_dir() {
            folder_inputs(&path, class_names, finder, inputs, other_classes, warnings)?;
        } else if name.as_deref().is_some_and(is_image_name) {
            inputs.push(Input {
                path,
                truth: Truth::Unlabelled,
            });
        } else {
            finder.skip_file(&path);
        }
    }
    if matched == 0 {
        bail!("no file matches the pattern `{pattern}`");
    }
    if inputs.len() == before {
        bail!("the pattern `{pattern}` matches {matched} path(s) but no image file");
    }
    Ok(())
}

fn is_split_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    [&TRAIN_NAMES[..], &VAL_NAMES[..], &TEST_NAMES[..]]
        .iter()
        .any(|names| names.contains(&lower.as_str()))
}

/// The images under `dir`: with class folders (or split folders holding class folders), each
/// with its true class; otherwise all of them without one.
fn folder_inputs(
    dir: &Path,
    class_names: &[String],
    finder: &mut ImageFinder,
    inputs: &mut Vec<Input>,
    other_classes: &mut BTreeMap<String, usize>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let is_class = |name: &str| class_names.iter().any(|c| c == name);
    let top = finder.entries(dir)?;
    if top.folders.iter().any(|(name, _)| is_class(name)) {
        return class_folder_inputs(top, class_names, finder, inputs, other_classes);
    }
    let mut split_entries = Vec::new();
    for (name, path) in top.folders.iter().filter(|(name, _)| is_split_name(name)) {
        split_entries.push((name.clone(), finder.entries(path)?));
    }
    let labelled_splits = split_entries
        .iter()
        .any(|(_, e)| e.folders.iter().any(|(name, _)| is_class(name)));
    if labelled_splits {
        if split_entries.len() > 1 {
            let names: Vec<String> = split_entries.iter().map(|(n, _)| format!("{n}/")).collect();
            // Suggest the held-out split: test/ if there is one, else val/.
            let held_out = [&TEST_NAMES[..], &VAL_NAMES[..]].iter().find_map(|names| {
                split_entries
                    .iter()
                    .find(|(n, _)| names.contains(&n.to_lowercase().as_str()))
            });
            let example = held_out.unwrap_or(&split_entries[0]).0.as_str();
            warnings.push(format!(
                "{}: split folders {} are all predicted and counted together; name one of them \
                 (e.g. {}) to evaluate it alone",
                dir.display(),
                names.join(", "),
                dir.join(example).display()
            ));
        }
        unlabelled(&top.images, inputs);
        for (name, path) in &top.folders {
            if !is_split_name(name) {
                for path in finder.images_under(path)? {
                    inputs.push(Input {
                        path,
                        truth: Truth::Unlabelled,
                    });
                }
            }
        }
        for (_, entries) in split_entries {
            class_folder_inputs(entries, class_names, finder, inputs, other_classes)?;
        }
        return Ok(());
    }
    // No class folders anywhere: every image, without a true class.
    unlabelled(&top.images, inputs);
    let mut splits = split_entries.into_iter().peekable();
    for (name, path) in &top.folders {
        if splits.peek().is_some_and(|(n, _)| n == name) {
            // Already listed one level down: walk its sub-folders, keep its images.
            let Some((_, entries)) = splits.next() else {
                continue;
            };
            unlabelled(&entries.images, inputs);
            for (_, sub) in &entries.folders {
                for path in finder.images_under(sub)? {
                    inputs.push(Input {
                        path,
                        truth: Truth::Unlabelled,
                    });
                }
            }
        } else {
            for path in finder.images_under(path)? {
                inputs.push(Input {
                    path,
                    truth: Truth::Unlabelled,
                });
            }
        }
    }
    Ok(())
}

fn unlabelled(images: &[PathBuf], inputs: &mut Vec<Input>) {
    inputs.extend(images.iter().map(|path| Input {
        path: path.clone(),
        truth: Truth::Unlabelled,
    }));
}

/// The images of a folder of class folders: loose images without a true class, each class
/// folder's images (recursively) with its class.
fn class_folder_inputs(
    entries: FolderEntries,
    class_names: &[String],
    finder: &mut ImageFinder,
    inputs: &mut Vec<Input>,
    other_classes: &mut BTreeMap<String, usize>,
) -> Result<()> {
    unlabelled(&entries.images, inputs);
    for (name, path) in entries.folders {
        let images = finder.images_under(&path)?;
        let truth = match class_names.iter().position(|c| *c == name) {
            Some(class) => Truth::Class(class),
            None => {
                *other_classes.entry(name.clone()).or_default() += images.len();
                Truth::OtherClass(name)
            }
        };
        inputs.extend(images.into_iter().map(|path| Input {
            path,
            truth: truth.clone(),
        }));
    }
    Ok(())
}

/// Each prediction as `path: class (p)` and its `top` classes with probabilities.
pub fn format_predictions(
    predictions: &[Prediction],
    class_names: &[String],
    top: usize,
) -> String {
    let top = top.min(class_names.len());
    let width = class_names.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut out = String::new();
    for p in predictions {
        let order = p.ranked();
        let best = order[0];
        out += &format!(
            "{}: {} ({:.4})\n",
            p.path.display(),
            class_names[best],
            p.probabilities[best]
        );
        for &j in &order[..top] {
            out += &format!(
                "    {:<width$}  {:.4}\n",
                class_names[j], p.probabilities[j]
            );
        }
    }
    out
}
