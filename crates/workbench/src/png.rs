//! Pictures are written like every other file: encoded in memory, then atomically.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result};
use image::{ImageFormat, RgbImage};

/// `img` as a PNG, atomically: a reader never sees half a picture.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    Ok(wb_io::write_bytes(path, &bytes)?)
}
