//! Every file the pipeline writes goes through [`write_atomic`]: into a temporary file in the
//! same folder, flushed to disk, then renamed over the destination, so an interrupted or failed
//! run never leaves a half-written file in place of an earlier result.

use std::io::{Cursor, Write};
use std::path::Path;

use anyhow::{Context, Result};
use image::{ImageFormat, RgbImage};
use serde::Serialize;
use tempfile::NamedTempFile;

/// Creates `path`'s folder if needed, lets `write` fill a temporary file beside `path`, then
/// renames it over `path`. Errors name `path`.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut NamedTempFile) -> Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    write(&mut tmp)
        .and_then(|()| Ok(tmp.as_file().sync_all()?))
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `bytes` as the whole content of `path`, atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |f| Ok(f.write_all(bytes)?))
}

/// `value` as pretty JSON (and a final newline), atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write_atomic(path, |f| {
        serde_json::to_writer_pretty(&mut *f, value)?;
        Ok(f.write_all(b"\n")?)
    })
}

/// `img` as a PNG, atomically: a reader never sees half a picture.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    write_bytes(path, &bytes)
}
