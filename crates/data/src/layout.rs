//! Finding the images of a folder dataset: which layout the folder uses, its class folders
//! (walked recursively, symbolic links followed, loops cut) and labels files.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::DataError;

/// An image file and its class index.
pub(crate) type LabeledFile = (PathBuf, usize);

/// Class folders by name, each with its image files.
type ClassImages = Vec<(String, Vec<PathBuf>)>;

/// File extensions read as images, compared case-insensitively (`.JPG`, `.Jpeg`).
pub const IMAGE_EXTENSIONS: [&str; 14] = [
    "jpg", "jpeg", "jpe", "jfif", "png", "webp", "bmp", "gif", "tif", "tiff", "ppm", "pgm", "pbm",
    "pnm",
];

/// Folder names taken for the training split (any case).
pub const TRAIN_NAMES: [&str; 2] = ["train", "training"];
/// Folder names taken for the validation split (any case).
pub const VAL_NAMES: [&str; 3] = ["val", "valid", "validation"];
/// Folder names taken for the test split (any case).
pub const TEST_NAMES: [&str; 2] = ["test", "testing"];

/// How a folder dataset is organised. The split folders' names are kept as found on disk
/// (`Training`, `valid`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FolderLayout {
    /// `ROOT/<class>/*`: the test split is carved from each class with the seed.
    ClassFolders,
    /// `ROOT/train/<class>/*` and no other split folder: the test split is carved from
    /// `train/` with the seed.
    TrainOnly { train: String },
    /// `ROOT/{train,test}/<class>/*`.
    TrainTest { train: String, test: String },
    /// `ROOT/{train,val}/<class>/*` without a test folder: `val/` is the held-out evaluation
    /// set (the ImageFolder / ImageNet convention) and validation is carved from `train/`.
    TrainValAsTest { train: String, val: String },
    /// `ROOT/{train,val,test}/<class>/*`: `val/` is the validation split, `test/` the test split.
    TrainValTest {
        train: String,
        val: String,
        test: String,
    },
    /// A labels file (`path,label`) for the training images and optionally one for the test
    /// images; without it the test split is carved with the seed.
    LabelsCsv {
        labels: PathBuf,
        test_labels: Option<PathBuf>,
    },
}

impl FolderLayout {
    /// A short stable name for reports: `class-folders`, `train-only`, `train-test`,
    /// `train-val-as-test`, `train-val-test`, `labels-csv`.
    pub fn name(&self) -> &'static str {
        match self {
            FolderLayout::ClassFolders => "class-folders",
            FolderLayout::TrainOnly { .. } => "train-only",
            FolderLayout::TrainTest { .. } => "train-test",
            FolderLayout::TrainValAsTest { .. } => "train-val-as-test",
            FolderLayout::TrainValTest { .. } => "train-val-test",
            FolderLayout::LabelsCsv { .. } => "labels-csv",
        }
    }

    /// Whether the validation split still has to be carved from the training split (every
    /// layout but `{train,val,test}`).
    pub fn validation_from_train(&self) -> bool {
        !matches!(self, FolderLayout::TrainValTest { .. })
    }

    /// Whether the test split was carved from the training images with the seed.
    pub fn test_carved(&self) -> bool {
        matches!(
            self,
            FolderLayout::ClassFolders
                | FolderLayout::TrainOnly { .. }
                | FolderLayout::LabelsCsv {
                    test_labels: None,
                    ..
                }
        )
    }

    /// One sentence for the run summary: the layout and where each split comes from.
    pub fn description(&self) -> String {
        match self {
            FolderLayout::ClassFolders => "class folders ROOT/<class>/*: test split carved from \
                 each class with the seed; validation carved from the rest"
                .into(),
            FolderLayout::TrainOnly { train } => format!(
                "ROOT/{train}/<class>/* only: test split carved from {train}/ with the seed; \
                 validation carved from the rest"
            ),
            FolderLayout::TrainTest { train, test } => format!(
                "ROOT/{{{train},{test}}}/<class>/*: test split from {test}/; validation carved \
                 from {train}/"
            ),
            FolderLayout::TrainValAsTest { train, val } => format!(
                "ROOT/{{{train},{val}}}/<class>/* without a test folder: {val}/ is the test split \
                 (the ImageFolder/ImageNet convention); validation carved from {train}/"
            ),
            FolderLayout::TrainValTest { train, val, test } => format!(
                "ROOT/{{{train},{val},{test}}}/<class>/*: validation split from {val}/, test \
                 split from {test}/"
            ),
            FolderLayout::LabelsCsv {
                labels,
                test_labels: Some(test),
            } => format!(
                "labels file {}: test split from {}; validation carved from the training images",
                labels.display(),
                test.display()
            ),
            FolderLayout::LabelsCsv {
                labels,
                test_labels: None,
            } => format!(
                "labels file {}: test split carved from each class with the seed; validation \
                 carved from the rest",
                labels.display()
            ),
        }
    }
}

impl fmt::Display for FolderLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

/// The files found, before the test split is carved (`test` is empty when
/// [`FolderLayout::test_carved`]).
#[derive(Debug)]
pub(crate) struct Listing {
    pub layout: FolderLayout,
    pub class_names: Vec<String>,
    pub train: Vec<LabeledFile>,
    pub val: Option<Vec<LabeledFile>>,
    pub test: Vec<LabeledFile>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Train,
    Val,
    Test,
}

impl Role {
    fn of(name: &str) -> Option<Role> {
        let lower = name.to_lowercase();
        let lower = lower.as_str();
        if TRAIN_NAMES.contains(&lower) {
            Some(Role::Train)
        } else if VAL_NAMES.contains(&lower) {
            Some(Role::Val)
        } else if TEST_NAMES.contains(&lower) {
            Some(Role::Test)
        } else {
            None
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Role::Train => "training",
            Role::Val => "validation",
            Role::Test => "test",
        }
    }
}

/// Whether a file name has one of the [`IMAGE_EXTENSIONS`].
pub fn is_image_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Finds the layout of `root` (or reads the labels files) and lists every image.
pub(crate) fn list(
    root: &Path,
    labels: Option<&Path>,
    test_labels: Option<&Path>,
) -> Result<Listing, DataError> {
    if let Some(labels) = labels {
        return list_csv(labels, test_labels);
    }
    if !root.is_dir() {
        return Err(DataError::NotFound {
            path: root.to_path_buf(),
        });
    }
    let mut walker = Walker::default();
    let top = walker.entries(root, false)?;
    let mut splits: BTreeMap<Role, Vec<(String, PathBuf)>> = BTreeMap::new();
    let mut others = Vec::new();
    for (name, path) in top.dirs {
        match Role::of(&name) {
            Some(role) => splits.entry(role).or_default().push((name, path)),
            None => others.push(name),
        }
    }
    if splits.is_empty() {
        let mut listing = class_tree(&mut walker, root)?;
        listing.layout = FolderLayout::ClassFolders;
        listing
            .warnings
            .extend(loose_images_warning(root, top.images.len()));
        listing.warnings.extend(walker.warnings());
        return Ok(listing);
    }
    let mut chosen: BTreeMap<Role, (String, PathBuf)> = BTreeMap::new();
    for (role, mut dirs) in splits {
        if dirs.len() > 1 {
            let names: Vec<String> = dirs.iter().map(|(n, _)| format!("{n}/")).collect();
            return Err(DataError::format(
                root,
                format!(
                    "has {} {} folders ({}): keep one",
                    dirs.len(),
                    role.noun(),
                    names.join(", ")
                ),
            ));
        }
        chosen.insert(role, dirs.remove(0));
    }
    let Some((train_name, train_dir)) = chosen.remove(&Role::Train) else {
        let found: Vec<String> = chosen.values().map(|(n, _)| format!("{n}/")).collect();
        return Err(DataError::format(
            root,
            format!(
                "has {} but no training folder (expected ROOT/train/<class>/<images>, or \
                 ROOT/<class>/<images> without split folders)",
                found.join(" and ")
            ),
        ));
    };
    let mut warnings = Vec::new();
    if !others.is_empty() {
        others.sort();
        warnings.push(format!(
            "{}: ignored folder(s) {} beside the split folders (split folders are named \
             train/val/test or training/valid/validation/testing)",
            root.display(),
            others.join(", ")
        ));
    }
    warnings.extend(loose_images_warning(root, top.images.len()));

    let mut train = class_tree(&mut walker, &train_dir)?;
    let val = chosen.remove(&Role::Val);
    let test = chosen.remove(&Role::Test);
    let layout = match (&val, &test) {
        (None, None) => FolderLayout::TrainOnly { train: train_name },
        (None, Some((test, _))) => FolderLayout::TrainTest {
            train: train_name,
            test: test.clone(),
        },
        (Some((val, _)), None) => FolderLayout::TrainValAsTest {
            train: train_name,
            val: val.clone(),
        },
        (Some((val, _)), Some((test, _))) => FolderLayout::TrainValTest {
            train: train_name,
            val: val.clone(),
            test: test.clone(),
        },
    };
    // With no test folder, val/ is the evaluation set.
    let (val_dir, test_dir) = match (val, test) {
        (Some(v), None) => (None, Some(v)),
        (v, t) => (v, t),
    };
    let mut by_name: Vec<(Role, PathBuf, ClassImages)> = Vec::new();
    for (role, dir) in [(Role::Val, val_dir), (Role::Test, test_dir)] {
        if let Some((_, dir)) = dir {
            let classes = walker.class_folders(&dir, false)?;
            warnings.extend(loose_images_warning(&dir, walker.last_loose_images));
            by_name.push((role, dir, classes));
        }
    }
    // Every class must have training images: a class seen only in val/ or test/ could never
    // be predicted, and its images would count as errors.
    for (_, dir, classes) in &by_name {
        if let Some((name, _)) = classes
            .iter()
            .find(|(name, _)| train.class_names.binary_search(name).is_err())
        {
            return Err(DataError::format(
                &dir.join(name),
                format!(
                    "class `{name}` has no folder under {}: every class needs training images",
                    train_dir.display()
                ),
            ));
        }
    }
    let label_of = |name: &str| train.class_names.binary_search_by(|n| n.as_str().cmp(name));
    let mut val_files = None;
    let mut test_files = Vec::new();
    for (role, dir, classes) in by_name {
        let mut files = Vec::new();
        let mut present = BTreeSet::new();
        for (name, images) in classes {
            let Ok(label) = label_of(&name) else {
                continue; // reported above
            };
            if !images.is_empty() {
                present.insert(label);
            }
            files.extend(images.into_iter().map(|p| (p, label)));
        }
        if files.is_empty() {
            return Err(DataError::format(
                &dir,
                format!("holds no {} images in its class folders", role.noun()),
            ));
        }
        let missing: Vec<&str> = (0..train.class_names.len())
            .filter(|l| !present.contains(l))
            .map(|l| train.class_names[l].as_str())
            .collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "{}: no {} images for class(es) {}",
                dir.display(),
                role.noun(),
                missing.join(", ")
            ));
        }
        match role {
            Role::Val => val_files = Some(files),
            _ => test_files = files,
        }
    }
    train.layout = layout;
    train.val = val_files;
    train.test = test_files;
    train.warnings.splice(0..0, warnings);
    train.warnings.extend(walker.warnings());
    Ok(train)
}

/// The class folders of `dir` as the training tree: every class must hold an image.
fn class_tree(walker: &mut Walker, dir: &Path) -> Result<Listing, DataError> {
    let classes = walker.class_folders(dir, true)?;
    let mut warnings = Vec::new();
    warnings.extend(loose_images_warning(dir, walker.last_loose_images));
    let class_names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
    let mut train = Vec::new();
    for (label, (_, images)) in classes.into_iter().enumerate() {
        train.extend(images.into_iter().map(|p| (p, label)));
    }
    Ok(Listing {
        layout: FolderLayout::ClassFolders,
        class_names,
        train,
        val: None,
        test: Vec::new(),
        warnings,
    })
}

fn loose_images_warning(dir: &Path, count: usize) -> Option<String> {
    (count > 0).then(|| {
        format!(
            "{}: ignored {count} image file(s) outside the class folders (images belong in \
             {}/<class>/)",
            dir.display(),
            dir.display()
        )
    })
}

/// What a directory holds (symbolic links resolved), sorted by name.
#[derive(Default)]
struct Entries {
    dirs: Vec<(String, PathBuf)>,
    /// Image files directly in the directory.
    images: Vec<PathBuf>,
}

/// Walks folders, following symbolic links, visiting each real folder once, and counts what it
/// skips for one warning each.
#[derive(Default)]
struct Walker {
    /// Canonical paths of the folders already walked: a link back to an ancestor (a loop) or
    /// a second link to the same folder is not walked again.
    visited: HashSet<PathBuf>,
    revisited: Vec<PathBuf>,
    broken_links: Vec<PathBuf>,
    /// Skipped files by kind (`.DS_Store`, `*.txt`, ...).
    skipped: BTreeMap<String, usize>,
    /// Image files found directly in the last folder passed to `class_folders`.
    last_loose_images: usize,
}

enum Kind {
    Dir,
    File,
    Broken,
    Other,
}

impl Walker {
    fn kind(&mut self, entry: &fs::DirEntry, dir: &Path) -> Result<Kind, DataError> {
        let file_type = entry.file_type().map_err(|e| DataError::io(dir, e))?;
        let file_type = if file_type.is_symlink() {
            match fs::metadata(entry.path()) {
                Ok(meta) => meta.file_type(),
                Err(_) => return Ok(Kind::Broken),
            }
        } else {
            file_type
        };
        Ok(if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            Kind::File
        } else {
            Kind::Other
        })
    }

    /// The entries of `dir`: sub-folders (hidden ones and `__MACOSX` skipped and counted) and
    /// the image files directly in it. Other files there are counted as skipped with
    /// `count_other_files`, else ignored silently (a README beside a dataset's class folders
    /// is normal).
    fn entries(&mut self, dir: &Path, count_other_files: bool) -> Result<Entries, DataError> {
        let mut out = Entries::default();
        for entry in fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
            let entry = entry.map_err(|e| DataError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match self.kind(&entry, dir)? {
                Kind::Dir if skipped_dir_name(&name) => {
                    *self.skipped.entry(format!("folder {name}/")).or_default() += 1;
                }
                Kind::Dir => out.dirs.push((name, entry.path())),
                Kind::File if is_image_name(&name) && !name.starts_with('.') => {
                    out.images.push(entry.path())
                }
                Kind::Broken => self.broken_links.push(entry.path()),
                Kind::File | Kind::Other if count_other_files => self.skip(&name),
                Kind::File | Kind::Other => {}
            }
        }
        out.dirs.sort();
        out.images.sort();
        Ok(out)
    }

    /// The class folders of `dir` (sorted by name) with their images (sorted by path). With
    /// `need_images`, a class folder without images is an error; without it, an empty folder
    /// is returned with no images (the caller warns).
    fn class_folders(&mut self, dir: &Path, need_images: bool) -> Result<ClassImages, DataError> {
        let entries = self.entries(dir, false)?;
        self.last_loose_images = entries.images.len();
        if entries.dirs.is_empty() {
            return Err(DataError::format(
                dir,
                "no class folders (expected <root>/<class>/<image files>)",
            ));
        }
        let mut classes = Vec::with_capacity(entries.dirs.len());
        for (name, path) in entries.dirs {
            let mut images = Vec::new();
            self.walk(&path, &mut images)?;
            images.sort();
            if need_images && images.is_empty() {
                return Err(DataError::format(&path, "class folder holds no images"));
            }
            classes.push((name, images));
        }
        Ok(classes)
    }

    /// Appends the image files under `dir` (recursively) to `out`.
    fn walk(&mut self, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
        let canonical = fs::canonicalize(dir).map_err(|e| DataError::io(dir, e))?;
        if !self.visited.insert(canonical) {
            self.revisited.push(dir.to_path_buf());
            return Ok(());
        }
        for entry in fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
            let entry = entry.map_err(|e| DataError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match self.kind(&entry, dir)? {
                Kind::Dir if skipped_dir_name(&name) => {
                    *self.skipped.entry(format!("folder {name}/")).or_default() += 1;
                }
                Kind::Dir => self.walk(&entry.path(), out)?,
                Kind::File if is_image_name(&name) && !name.starts_with('.') => {
                    out.push(entry.path())
                }
                Kind::Broken => self.broken_links.push(entry.path()),
                Kind::File | Kind::Other => self.skip(&name),
            }
        }
        Ok(())
    }

    /// Counts a file that is not an image, by kind, for the warning.
    fn skip(&mut self, name: &str) {
        *self.skipped.entry(skip_kind(name)).or_default() += 1;
    }

    /// One warning line per kind of thing skipped.
    fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.skipped.is_empty() {
            let total: usize = self.skipped.values().sum();
            let mut kinds: Vec<(&String, &usize)> = self.skipped.iter().collect();
            kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let shown: Vec<String> = kinds
                .iter()
                .take(MAX_KINDS_SHOWN)
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            let more = kinds.len().saturating_sub(MAX_KINDS_SHOWN);
            let more = if more > 0 {
                format!(" and {more} more kind(s)")
            } else {
                String::new()
            };
            warnings.push(format!(
                "skipped {total} file(s) that are not images: {}{more}",
                shown.join(", ")
            ));
        }
        if !self.broken_links.is_empty() {
            warnings.push(format!(
                "skipped {} broken symbolic link(s), e.g. {}",
                self.broken_links.len(),
                self.broken_links[0].display()
            ));
        }
        if !self.revisited.is_empty() {
            warnings.push(format!(
                "skipped {} folder link(s) to a folder already read (a loop or a second link), \
                 e.g. {}",
                self.revisited.len(),
                self.revisited[0].display()
            ));
        }
        warnings
    }
}

const MAX_KINDS_SHOWN: usize = 6;

/// What a folder holds at its top level: its sub-folders and its image files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderEntries {
    /// Sub-folders by name (symbolic links followed; hidden ones and `__MACOSX` left out),
    /// sorted.
    pub folders: Vec<(String, PathBuf)>,
    /// Image files directly in the folder, sorted.
    pub images: Vec<PathBuf>,
}

/// Finds image files the way the folder loader does, for callers that name the files and
/// folders themselves (applying a model to new images): folders are walked recursively
/// following symbolic links, each real folder once (a link loop is cut); hidden folders and
/// `__MACOSX` are skipped; files without an image extension ([`is_image_name`]) are skipped.
/// Everything skipped, over all calls, is reported by [`ImageFinder::warnings`] in one line per
/// kind (files that are not images, broken links, folders reached twice).
#[derive(Default)]
pub struct ImageFinder {
    walker: Walker,
}

impl ImageFinder {
    pub fn new() -> ImageFinder {
        ImageFinder::default()
    }

    /// Every image file under `dir`, recursively, sorted by path.
    pub fn images_under(&mut self, dir: &Path) -> Result<Vec<PathBuf>, DataError> {
        let mut images = Vec::new();
        self.walker.walk(dir, &mut images)?;
        images.sort();
        Ok(images)
    }

    /// The sub-folders and image files directly in `dir`; its other files are counted as
    /// skipped. `dir` counts as read: a link back to it from below is not followed.
    pub fn entries(&mut self, dir: &Path) -> Result<FolderEntries, DataError> {
        let canonical = fs::canonicalize(dir).map_err(|e| DataError::io(dir, e))?;
        self.walker.visited.insert(canonical);
        let entries = self.walker.entries(dir, true)?;
        Ok(FolderEntries {
            folders: entries.dirs,
            images: entries.images,
        })
    }

    /// Counts `path`, found by the caller (a wildcard pattern's match), as a file that is not an
    /// image.
    pub fn skip_file(&mut self, path: &Path) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.walker.skip(&name);
    }

    /// One line per kind of thing skipped so far: `skipped 3 file(s) that are not images: 2
    /// *.txt, 1 .DS_Store`, broken links, folders reached twice.
    pub fn warnings(&self) -> Vec<String> {
        self.walker.warnings()
    }
}

/// Folders never read as classes or walked: hidden ones (`.ipynb_checkpoints`, `.git`) and
/// macOS archive metadata (`__MACOSX`).
fn skipped_dir_name(name: &str) -> bool {
    name.starts_with('.') || name == "__MACOSX"
}

/// How a skipped file is counted: `._*` (macOS metadata), a hidden file or a well-known junk
/// file by name (`.DS_Store`, `Thumbs.db`), else by extension (`*.txt`).
fn skip_kind(name: &str) -> String {
    if name.starts_with("._") {
        return "._* (macOS metadata)".into();
    }
    if name.starts_with('.') {
        return name.to_string();
    }
    let lower = name.to_ascii_lowercase();
    if lower == "thumbs.db" || lower == "desktop.ini" {
        return name.to_string();
    }
    match Path::new(&lower).extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("*.{ext}"),
        None => "without extension".into(),
    }
}

/// One row of a labels file.
struct LabelRow {
    path: PathBuf,
    label: String,
    line: u64,
}

/// Reads `path,label` rows (a header row naming the two columns, any order, other columns
/// ignored; RFC 4180 quoting; paths relative to the file's folder).
fn read_labels(csv_path: &Path) -> Result<Vec<LabelRow>, DataError> {
    let format = |reason: String| DataError::format(csv_path, reason);
    let file = fs::File::open(csv_path).map_err(|e| DataError::io(csv_path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| format(format!("cannot read the header row: {e}")))?
        .clone();
    let column = |want: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(want))
    };
    let (Some(path_col), Some(label_col)) = (column("path"), column("label")) else {
        return Err(format(format!(
            "the header row must name the columns `path` and `label` (found: {})",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    };
    let base = csv_path.parent().unwrap_or(Path::new(""));
    let mut rows = Vec::new();
    let mut seen: HashMap<PathBuf, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| format(format!("{e}")))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|field| field.is_empty()) {
            continue;
        }
        let (Some(rel), Some(label)) = (record.get(path_col), record.get(label_col)) else {
            return Err(format(format!("line {line}: expected a path and a label")));
        };
        if rel.is_empty() || label.is_empty() {
            return Err(format(format!("line {line}: empty path or label")));
        }
        let path = base.join(rel);
        if !path.is_file() {
            return Err(format(format!(
                "line {line}: {}: not found",
                path.display()
            )));
        }
        if let Some(first) = seen.insert(path.clone(), line) {
            return Err(format(format!(
                "line {line}: {rel} is listed again (first on line {first})"
            )));
        }
        rows.push(LabelRow {
            path,
            label: label.to_string(),
            line,
        });
    }
    if rows.is_empty() {
        return Err(format("lists no images".into()));
    }
    Ok(rows)
}

fn list_csv(labels: &Path, test_labels: Option<&Path>) -> Result<Listing, DataError> {
    let train_rows = read_labels(labels)?;
    let class_names: Vec<String> = train_rows
        .iter()
        .map(|r| r.label.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let label_of = |name: &str| class_names.binary_search_by(|n| n.as_str().cmp(name));
    let train: Vec<LabeledFile> = train_rows
        .into_iter()
        .map(|r| {
            let label = label_of(&r.label).unwrap_or_default();
            (r.path, label)
        })
        .collect();
    let mut warnings = Vec::new();
    let mut test = Vec::new();
    if let Some(test_csv) = test_labels {
        let in_train: HashSet<&PathBuf> = train.iter().map(|(p, _)| p).collect();
        let mut present = BTreeSet::new();
        for row in read_labels(test_csv)? {
            let Ok(label) = label_of(&row.label) else {
                return Err(DataError::format(
                    test_csv,
                    format!(
                        "line {}: class `{}` has no training images in {}",
                        row.line,
                        row.label,
                        labels.display()
                    ),
                ));
            };
            if in_train.contains(&row.path) {
                return Err(DataError::format(
                    test_csv,
                    format!(
                        "line {}: {} is also a training image in {}",
                        row.line,
                        row.path.display(),
                        labels.display()
                    ),
                ));
            }
            present.insert(label);
            test.push((row.path, label));
        }
        let missing: Vec<&str> = (0..class_names.len())
            .filter(|l| !present.contains(l))
            .map(|l| class_names[l].as_str())
            .collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "{}: no test images for class(es) {}",
                test_csv.display(),
                missing.join(", ")
            ));
        }
    }
    // Sorted by path like the folder layouts, so the order does not depend on the file's rows.
    let mut train = train;
    train.sort();
    test.sort();
    Ok(Listing {
        layout: FolderLayout::LabelsCsv {
            labels: labels.to_path_buf(),
            test_labels: test_labels.map(Path::to_path_buf),
        },
        class_names,
        train,
        val: None,
        test,
        warnings,
    })
}
