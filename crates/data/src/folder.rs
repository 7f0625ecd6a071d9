//! Image folders: a user's own photos in one of the common layouts, decoded in parallel,
//! resized to one working size.
//!
//! # Layouts ([`FolderLayout`])
//!
//! - `ROOT/<class>/*`: the test split is carved per class with the seed (`test_fraction`,
//!   default 0.2, at least one test image for every class of two or more);
//! - `ROOT/train/<class>/*` alone: the same carve, from `train/`;
//! - `ROOT/{train,test}/<class>/*`;
//! - `ROOT/{train,val}/<class>/*` without `test/`: `val/` is the held-out evaluation set (the
//!   ImageFolder / ImageNet convention) and validation is carved from `train/`
//!   ([`FolderLayout::validation_from_train`] says so);
//! - `ROOT/{train,val,test}/<class>/*`: `val/` is the validation split ([`FolderDataset::val`]);
//! - split folders may be named `training`, `valid`, `validation`, `testing`, in any case;
//! - a labels file ([`FolderParams::labels`], CSV with a header row naming `path` and
//!   `label`; paths relative to the file's folder) and optionally a second one for the test part.
//!
//! Class folders are read recursively (as torchvision's `ImageFolder` does) following symbolic
//! links; a folder reached twice (a link loop) is read once. Class names are sorted; every class
//! needs training images (a class only in `val/` or `test/` is an error naming it); a class
//! without test images is a warning. Files are images by extension, case-insensitively
//! ([`IMAGE_EXTENSIONS`]); other files (`.DS_Store`, `Thumbs.db`, `*.txt`, `*.cache`, ...) and
//! hidden folders are skipped and counted in one warning. An undecodable image is an error
//! naming the file unless `skip_bad_images` (then they are counted in a warning).
//! [`ImageFinder`] finds images in folders named by a caller with the same rules (for applying
//! a trained model to new files).
//!
//! # Working size ([`working_size`])
//!
//! An explicit `image_size` wins. Otherwise, when every image has the same size and neither
//! side exceeds [`DEFAULT_IMAGE_SIDE`] (a dataset stored as thumbnails, e.g. CIFAR-10 as PNG
//! files), that size is kept and nothing is resized; any other folder (photos) is brought to
//! 64x64. Resizing keeps the aspect ratio ([`ResizeMode::Crop`] by default: shorter side to
//! the target, centre crop).
//!
//! # Use
//!
//! ```no_run
//! use wb_data::folder::FolderParams;
//! # fn main() -> Result<(), wb_data::DataError> {
//! let scan = FolderParams::default().check()?.scan("photos".as_ref())?;
//! println!("{}", scan.layout());
//! let bytes = scan.max_image_bytes()?; // compare with a memory budget before loading
//! # let _ = bytes;
//! let loaded = scan.load(Some(&|p: wb_data::folder::LoadProgress| {
//!     eprint!("\r{}/{}", p.done, p.total)
//! }))?;
//! println!("{} at {:.0} images/s", loaded.size, loaded.stats.images_per_second());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fast_image_resize::Resizer;
use rayon::prelude::*;
use serde::Serialize;

use crate::decode::{decode_into, probe, Header};
use crate::layout::{list, LabeledFile};
use crate::{
    human_bytes, image_bytes, stratified_holdout, DataError, Dataset, ImageShape, Images,
    ResizeMode, TrainTest,
};

pub use crate::layout::{
    is_image_name, FolderEntries, FolderLayout, ImageFinder, IMAGE_EXTENSIONS, TEST_NAMES,
    TRAIN_NAMES, VAL_NAMES,
};

/// The side of the default working size (64x64): large enough for HOG's 8-pixel cells to see
/// an object's parts (8x8 cells), small enough that raw pixels (12,288 values) and k-means
/// patches stay fast on a CPU.
pub const DEFAULT_IMAGE_SIDE: usize = 64;

/// The largest working side accepted: 4096 (48 MiB per RGB image). Larger working sizes make no
/// sense for classical features, and refusing them keeps every buffer allocation bounded.
pub const MAX_IMAGE_SIDE: usize = 4096;

/// Images of each class held out as test images by the carve (when the class has two or more).
const TEST_MIN_PER_CLASS: usize = 1;

/// A fixed salt so the test carve's shuffle differs from the validation carve's.
const TEST_SALT: u64 = 0x00f0_1de2;

/// How to read an image folder. Check it once with [`FolderParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct FolderParams {
    /// (height, width) every image is brought to; `None`: the rule of [`working_size`].
    pub image_size: Option<(usize, usize)>,
    /// How an image of another aspect ratio is fitted to the working size.
    pub resize: ResizeMode,
    /// Skip undecodable images (counted in a warning) instead of failing.
    pub skip_bad_images: bool,
    /// Fraction of each class held out as the test split when the layout has no test part,
    /// in (0, 1).
    pub test_fraction: f64,
    /// A labels file (`path,label`) listing the training images (and the test images unless
    /// `test_labels` is given); the folder's own structure is then not used.
    pub labels: Option<PathBuf>,
    /// A labels file for the test images (needs `labels`).
    pub test_labels: Option<PathBuf>,
    /// Seed of the test carve.
    pub seed: u64,
}

impl Default for FolderParams {
    fn default() -> Self {
        FolderParams {
            image_size: None,
            resize: ResizeMode::Crop,
            skip_bad_images: false,
            test_fraction: 0.2,
            labels: None,
            test_labels: None,
            seed: 0,
        }
    }
}

impl FolderParams {
    /// Validates the parameters (the test fraction, the image size, the labels files'
    /// combination) once, before any file is read.
    pub fn check(&self) -> Result<ValidFolderParams, DataError> {
        let f = self.test_fraction;
        if !(f.is_finite() && f > 0.0 && f < 1.0) {
            return Err(DataError::Invalid(format!(
                "test fraction {f} must be between 0 and 1 (exclusive): it is the share of each \
                 class held out for testing when the folder has no test split"
            )));
        }
        if let Some((height, width)) = self.image_size {
            let ok = |side: usize| (1..=MAX_IMAGE_SIDE).contains(&side);
            if !ok(height) || !ok(width) {
                return Err(DataError::Invalid(format!(
                    "image size {height}x{width}: each side must be between 1 and \
                     {MAX_IMAGE_SIDE} pixels"
                )));
            }
        }
        if self.test_labels.is_some() && self.labels.is_none() {
            return Err(DataError::Invalid(
                "a test labels file needs a labels file for the training images".into(),
            ));
        }
        Ok(ValidFolderParams {
            params: self.clone(),
        })
    }
}

/// [`FolderParams`] that passed [`FolderParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidFolderParams {
    params: FolderParams,
}

impl ValidFolderParams {
    pub fn params(&self) -> &FolderParams {
        &self.params
    }

    /// Finds the layout and lists every image of `root` (or of the labels files), and carves
    /// the test split when the layout has none. Reads no image.
    pub fn scan(&self, root: &Path) -> Result<FolderScan, DataError> {
        let listing = list(
            root,
            self.params.labels.as_deref(),
            self.params.test_labels.as_deref(),
        )?;
        let mut warnings = listing.warnings;
        let (train, test) = if listing.layout.test_carved() {
            carve_test(
                root,
                listing.train,
                &listing.class_names,
                &self.params,
                &mut warnings,
            )?
        } else {
            (listing.train, listing.test)
        };
        Ok(FolderScan {
            params: self.params.clone(),
            root: root.to_path_buf(),
            layout: listing.layout,
            class_names: listing.class_names,
            train,
            val: listing.val,
            test,
            warnings,
        })
    }

    /// [`scan`](Self::scan) then [`FolderScan::load`].
    pub fn load(
        &self,
        root: &Path,
        progress: Option<&ProgressFn<'_>>,
    ) -> Result<FolderDataset, DataError> {
        self.scan(root)?.load(progress)
    }
}

/// Loads an image folder with `params` (checked here), without a progress callback.
pub fn load_folder(root: &Path, params: &FolderParams) -> Result<FolderDataset, DataError> {
    params.check()?.load(root, None)
}

/// Holds out `test_fraction` of each class with the seed: `round(fraction · N)` test images
/// (raised to one per class of two or more images) shared by [`crate::stratified_quotas`].
fn carve_test(
    root: &Path,
    files: Vec<LabeledFile>,
    class_names: &[String],
    params: &FolderParams,
    warnings: &mut Vec<String>,
) -> Result<(Vec<LabeledFile>, Vec<LabeledFile>), DataError> {
    let n_classes = class_names.len();
    let labels: Vec<usize> = files.iter().map(|(_, l)| *l).collect();
    let mut counts = vec![0usize; n_classes];
    for &l in &labels {
        counts[l] += 1;
    }
    let most: usize = counts.iter().map(|c| c.saturating_sub(1)).sum();
    // Enough for the per-class minimum, so every class of two or more images is tested.
    let floors = counts.iter().filter(|&&c| c >= 2).count() * TEST_MIN_PER_CLASS;
    let total = ((files.len() as f64 * params.test_fraction).round() as usize)
        .max(floors)
        .min(most);
    if total == 0 {
        return Err(DataError::format(
            root,
            format!(
                "{} image(s) are too few to hold out a test split (need two images in a class)",
                files.len()
            ),
        ));
    }
    let (kept, held) = stratified_holdout(
        &labels,
        n_classes,
        total,
        TEST_MIN_PER_CLASS,
        params.seed ^ TEST_SALT,
    )?;
    let mut tested = vec![false; n_classes];
    for &i in &held {
        tested[labels[i]] = true;
    }
    let untested: Vec<&str> = (0..n_classes)
        .filter(|&c| !tested[c])
        .map(|c| class_names[c].as_str())
        .collect();
    if !untested.is_empty() {
        warnings.push(format!(
            "no test images for class(es) {} (a single image, kept for training)",
            untested.join(", ")
        ));
    }
    let mut kept = kept;
    kept.sort_unstable();
    let take = |idx: &[usize]| idx.iter().map(|&i| files[i].clone()).collect::<Vec<_>>();
    Ok((take(&kept), take(&held)))
}

/// File counts of a scan, before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileCounts {
    pub train: usize,
    /// `None` unless the layout has a validation folder beside a test folder.
    pub val: Option<usize>,
    pub test: usize,
}

impl FileCounts {
    pub fn total(&self) -> usize {
        self.train + self.val.unwrap_or(0) + self.test
    }
}

/// A scanned folder: the layout, the classes and the files of each split, ready to load.
#[derive(Debug, Clone)]
pub struct FolderScan {
    params: FolderParams,
    root: PathBuf,
    layout: FolderLayout,
    class_names: Vec<String>,
    train: Vec<LabeledFile>,
    val: Option<Vec<LabeledFile>>,
    test: Vec<LabeledFile>,
    warnings: Vec<String>,
}

/// Which pass a [`LoadProgress`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadStage {
    /// Reading every header (sizes, gray or colour, decoder limits): fast.
    ReadingHeaders,
    /// Decoding and resizing.
    Decoding,
}

/// Progress of [`FolderScan::load`]: `done` of `total` files in `stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadProgress {
    pub stage: LoadStage,
    pub done: usize,
    pub total: usize,
}

/// A progress callback, called from the decoding threads after every file (so it must be
/// cheap and thread-safe: an `indicatif::ProgressBar::set_position` is).
pub type ProgressFn<'a> = dyn Fn(LoadProgress) + Sync + 'a;

impl FolderScan {
    pub fn layout(&self) -> &FolderLayout {
        &self.layout
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    pub fn file_counts(&self) -> FileCounts {
        FileCounts {
            train: self.train.len(),
            val: self.val.as_ref().map(Vec::len),
            test: self.test.len(),
        }
    }

    /// Warnings from the scan (skipped files, classes without test images, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// An upper bound on the bytes the decoded images will take: every file at the explicit
    /// size, or at 64x64 (the default rule never exceeds it), with 3 channels
    /// ([`image_bytes`], checked arithmetic). Call it before [`load`](Self::load) to refuse a
    /// run over a memory budget.
    pub fn max_image_bytes(&self) -> Result<u64, DataError> {
        let (height, width) = self
            .params
            .image_size
            .unwrap_or((DEFAULT_IMAGE_SIDE, DEFAULT_IMAGE_SIDE));
        image_bytes(
            self.file_counts().total(),
            ImageShape::new(height, width, 3),
        )
    }

    /// Reads every header, chooses the working size and the channels, then decodes and resizes
    /// every image in parallel (rayon's current pool), calling `progress` after each file.
    pub fn load(self, progress: Option<&ProgressFn<'_>>) -> Result<FolderDataset, DataError> {
        let start = Instant::now();
        let params = &self.params;
        let mut warnings = self.warnings;
        let report = |stage, done, total| {
            if let Some(progress) = progress {
                progress(LoadProgress { stage, done, total });
            }
        };

        // Pass 1: headers of every file, in one parallel pass over all splits.
        let splits: Vec<&[LabeledFile]> = std::iter::once(self.train.as_slice())
            .chain(self.val.as_deref())
            .chain(std::iter::once(self.test.as_slice()))
            .collect();
        let all: Vec<&LabeledFile> = splits.iter().flat_map(|s| s.iter()).collect();
        let total = all.len();
        let done = AtomicUsize::new(0);
        // The orientation matters only to the uniform-size rule, i.e. for small images.
        let small =
            |w: u32, h: u32| params.image_size.is_none() && w.max(h) as usize <= DEFAULT_IMAGE_SIDE;
        let headers: Vec<Result<Header, DataError>> = all
            .par_iter()
            .map(|(path, _)| {
                let header = probe(path, small);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                report(LoadStage::ReadingHeaders, n, total);
                header
            })
            .collect();
        let mut bad = BadImages::new(params.skip_bad_images);
        let mut kept_headers = Vec::with_capacity(total);
        let mut keep = Vec::with_capacity(total);
        for result in headers {
            match result {
                Ok(h) => {
                    kept_headers.push((h.width, h.height));
                    keep.push(Some(h));
                }
                Err(e) => {
                    bad.add(e)?;
                    keep.push(None);
                }
            }
        }
        if kept_headers.is_empty() {
            return Err(DataError::format(&self.root, "no decodable images"));
        }
        let size = working_size(params.image_size, &kept_headers);
        let gray = keep.iter().flatten().all(|h| h.gray);
        let shape = ImageShape::new(size.height, size.width, if gray { 1 } else { 3 });

        // Pass 2: decode each split into its own buffer.
        let done = AtomicUsize::new(0);
        let mut decoded = Vec::with_capacity(splits.len());
        let mut offset = 0;
        for files in &splits {
            let ok = &keep[offset..offset + files.len()];
            offset += files.len();
            let files: Vec<&LabeledFile> = files
                .iter()
                .zip(ok)
                .filter_map(|(f, h)| h.map(|_| f))
                .collect();
            let (images, labels) = decode_split(&files, shape, params.resize, &mut bad, |n| {
                let n = done.fetch_add(n, Ordering::Relaxed) + n;
                report(LoadStage::Decoding, n, total);
            })?;
            decoded.push(Dataset {
                images,
                labels,
                class_names: self.class_names.clone(),
            });
        }
        let test = decoded
            .pop()
            .unwrap_or_else(|| empty(shape, &self.class_names));
        let val = if self.val.is_some() {
            decoded.pop()
        } else {
            None
        };
        let train = decoded
            .pop()
            .unwrap_or_else(|| empty(shape, &self.class_names));
        if let Some(class) = train.class_counts().iter().position(|&c| c == 0) {
            return Err(DataError::format(
                &self.root,
                format!(
                    "class `{}` has no decodable training images",
                    self.class_names[class]
                ),
            ));
        }
        warnings.extend(bad.warning());
        let stats = DecodeStats {
            images: train.len() + val.as_ref().map_or(0, Dataset::len) + test.len(),
            skipped: bad.count,
            seconds: start.elapsed().as_secs_f64(),
            threads: rayon::current_num_threads(),
        };
        Ok(FolderDataset {
            data: TrainTest { train, test },
            val,
            layout: self.layout,
            size: WorkingSize {
                height: size.height,
                width: size.width,
                channels: shape.channels,
                rule: size.rule,
            },
            warnings,
            stats,
        })
    }
}

fn empty(shape: ImageShape, class_names: &[String]) -> Dataset {
    Dataset {
        images: Images::empty(shape),
        labels: Vec::new(),
        class_names: class_names.to_vec(),
    }
}

/// Decodes `files` into one buffer (allocated up front, fallibly), each worker writing its
/// image's slot; failed slots are removed when `bad` allows skipping. `progress(n)` reports
/// `n` more files done.
fn decode_split(
    files: &[&LabeledFile],
    shape: ImageShape,
    mode: ResizeMode,
    bad: &mut BadImages,
    progress: impl Fn(usize) + Sync,
) -> Result<(Images, Vec<usize>), DataError> {
    let per_image = shape.len();
    let bytes = image_bytes(files.len(), shape)?;
    let mut pixels = Vec::new();
    usize::try_from(bytes)
        .ok()
        .and_then(|b| pixels.try_reserve_exact(b).ok())
        .ok_or_else(|| {
            DataError::Invalid(format!(
                "cannot allocate {} for {} images of {}x{}x{}: choose a smaller image size",
                human_bytes(bytes),
                files.len(),
                shape.height,
                shape.width,
                shape.channels
            ))
        })?;
    pixels.resize(files.len() * per_image, 0);
    let results: Vec<Result<(), DataError>> = pixels
        .par_chunks_mut(per_image)
        .zip(files.par_iter())
        .map_init(Resizer::new, |resizer, (slot, (path, _))| {
            let result = decode_into(path, shape, mode, resizer, slot).map(|_| ());
            progress(1);
            result
        })
        .collect();
    let mut labels = Vec::with_capacity(files.len());
    let mut write = 0;
    for (read, (result, (_, label))) in results.into_iter().zip(files).enumerate() {
        match result {
            Ok(()) => {
                if write != read {
                    pixels.copy_within(read * per_image..(read + 1) * per_image, write * per_image);
                }
                labels.push(*label);
                write += 1;
            }
            Err(e) => bad.add(e)?,
        }
    }
    pixels.truncate(write * per_image);
    let images = if write == 0 {
        Images::empty(shape)
    } else {
        Images::new(shape, pixels)
            .ok_or_else(|| DataError::Invalid("decoded buffer does not match its shape".into()))?
    };
    Ok((images, labels))
}

/// Undecodable images met so far.
#[derive(Debug)]
struct BadImages {
    skip: bool,
    count: usize,
    first: Option<String>,
}

impl BadImages {
    fn new(skip: bool) -> Self {
        BadImages {
            skip,
            count: 0,
            first: None,
        }
    }

    /// Counts `error` when skipping, else returns it.
    fn add(&mut self, error: DataError) -> Result<(), DataError> {
        if !self.skip {
            return Err(error);
        }
        self.count += 1;
        self.first.get_or_insert_with(|| error.to_string());
        Ok(())
    }

    fn warning(&self) -> Option<String> {
        self.first.as_ref().map(|first| {
            format!(
                "skipped {} undecodable image(s) (skip_bad_images), the first: {first}",
                self.count
            )
        })
    }
}

/// How the working size was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SizeRule {
    /// Given by the caller.
    Explicit,
    /// Every image had this size, at most [`DEFAULT_IMAGE_SIDE`] on each side: kept as is.
    Uniform,
    /// [`DEFAULT_IMAGE_SIDE`] square, for images of differing or larger sizes (photos).
    Default,
}

/// The chosen working size before the channel count is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeChoice {
    pub height: usize,
    pub width: usize,
    pub rule: SizeRule,
}

/// The working-size rule: `explicit` (height, width) if given; else the images' common size
/// when every image has the same (displayed) size with both sides at most
/// [`DEFAULT_IMAGE_SIDE`] (thumbnail datasets such as CIFAR-10 or MNIST saved as PNG keep their
/// pixels exactly); else `DEFAULT_IMAGE_SIDE` x `DEFAULT_IMAGE_SIDE`. Never "the first
/// file's size". `sizes` are (width, height) pairs.
pub fn working_size(explicit: Option<(usize, usize)>, sizes: &[(u32, u32)]) -> SizeChoice {
    if let Some((height, width)) = explicit {
        return SizeChoice {
            height,
            width,
            rule: SizeRule::Explicit,
        };
    }
    if let Some(&(w, h)) = sizes.first() {
        let small = (w.max(h) as usize) <= DEFAULT_IMAGE_SIDE;
        if small && sizes.iter().all(|&s| s == (w, h)) {
            return SizeChoice {
                height: h as usize,
                width: w as usize,
                rule: SizeRule::Uniform,
            };
        }
    }
    SizeChoice {
        height: DEFAULT_IMAGE_SIDE,
        width: DEFAULT_IMAGE_SIDE,
        rule: SizeRule::Default,
    }
}

/// The size and channels the images were decoded to, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WorkingSize {
    pub height: usize,
    pub width: usize,
    /// 1 when every image was gray, else 3.
    pub channels: usize,
    pub rule: SizeRule,
}

impl WorkingSize {
    pub fn shape(&self) -> ImageShape {
        ImageShape::new(self.height, self.width, self.channels)
    }
}

impl fmt::Display for WorkingSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let colour = if self.channels == 1 { "gray" } else { "RGB" };
        let why = match self.rule {
            SizeRule::Explicit => "as asked".to_string(),
            SizeRule::Uniform => "every image's own size, not resized".to_string(),
            SizeRule::Default => "the default for images of differing or larger sizes; an \
                                  explicit image size changes it"
                .to_string(),
        };
        write!(f, "{}x{} {colour} ({why})", self.height, self.width)
    }
}

/// Decoding figures for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DecodeStats {
    /// Images decoded (all splits).
    pub images: usize,
    /// Undecodable images skipped.
    pub skipped: usize,
    /// Wall time of the headers and decoding passes.
    pub seconds: f64,
    /// Rayon threads used.
    pub threads: usize,
}

impl DecodeStats {
    pub fn images_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.images as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A loaded folder.
#[derive(Debug)]
pub struct FolderDataset {
    /// The training split and the test split (for [`FolderLayout::TrainValAsTest`]: `val/`).
    pub data: TrainTest,
    /// The validation split when the layout has one (`{train,val,test}`); `None`: carve it
    /// from `data.train`.
    pub val: Option<Dataset>,
    pub layout: FolderLayout,
    pub size: WorkingSize,
    /// Everything the user should see: skipped files, classes without test images, ...
    pub warnings: Vec<String>,
    pub stats: DecodeStats,
}
