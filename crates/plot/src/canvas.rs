//! An in-memory RGB picture that plotters draws on, and its atomic PNG write.

use std::io::Write;
use std::path::Path;

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use plotters::chart::ChartContext;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::{cartesian::Cartesian2d, Shift};
use plotters::prelude::{BitMapBackend, DrawingArea, IntoDrawingArea};
use plotters::style::WHITE;

use crate::PlotError;

/// Largest side of any picture, pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest picture, pixels (an RGB buffer of 192 MiB).
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;

/// A failure inside plotters, turned into [`PlotError::Draw`] with the file name by
/// [`Canvas::draw`]. (Any error converts into it, so drawing code can use `?`.)
pub(crate) struct DrawFailure(String);

impl<E: std::error::Error> From<E> for DrawFailure {
    fn from(e: E) -> Self {
        DrawFailure(e.to_string())
    }
}

impl DrawFailure {
    pub(crate) fn message(message: String) -> DrawFailure {
        DrawFailure(message)
    }
}

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
/// A chart with real-valued axes on a canvas.
pub(crate) type Chart<'a> =
    ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Registers the embedded fonts (needed before any text is measured for a layout).
pub(crate) fn prepare(file: &Path) -> Result<(), PlotError> {
    crate::text::register().map_err(|message| PlotError::Draw {
        file: file.to_path_buf(),
        message,
    })
}

/// A white `width x height` RGB picture.
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    /// Checks the size before allocating: each side in 1..=[`MAX_SIDE`], at most
    /// [`MAX_PIXELS`] in all.
    pub(crate) fn new(file: &Path, width: u32, height: u32) -> Result<Canvas, PlotError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(PlotError::invalid(
                file,
                format!("the picture would be {width}x{height} pixels; each side must be in 1..={MAX_SIDE}"),
            ));
        }
        if u64::from(width) * u64::from(height) > MAX_PIXELS {
            return Err(PlotError::invalid(
                file,
                format!(
                    "the picture would be {width}x{height} pixels, more than {MAX_PIXELS} in all"
                ),
            ));
        }
        prepare(file)?;
        Ok(Canvas {
            width,
            height,
            pixels: vec![255; 3 * width as usize * height as usize],
        })
    }

    /// Runs `draw` on the whole picture (white already); errors name `file`.
    pub(crate) fn draw(
        &mut self,
        file: &Path,
        draw: impl FnOnce(&Area<'_>) -> Result<(), DrawFailure>,
    ) -> Result<(), PlotError> {
        let result = {
            let root = BitMapBackend::with_buffer(&mut self.pixels, (self.width, self.height))
                .into_drawing_area();
            root.fill(&WHITE)
                .map_err(DrawFailure::from)
                .and_then(|()| draw(&root))
                .and_then(|()| root.present().map_err(DrawFailure::from))
        };
        result.map_err(|DrawFailure(message)| PlotError::Draw {
            file: file.to_path_buf(),
            message,
        })
    }

    /// Encodes the picture as PNG and writes it to `file` atomically: into a temporary file in
    /// the same folder (created if missing), flushed, then renamed over `file`.
    pub(crate) fn save(&self, file: &Path) -> Result<(), PlotError> {
        let mut png = Vec::new();
        PngEncoder::new(&mut png)
            .write_image(
                &self.pixels,
                self.width,
                self.height,
                ExtendedColorType::Rgb8,
            )
            .map_err(|source| PlotError::Encode {
                file: file.to_path_buf(),
                source,
            })?;
        write_atomic(file, &png)
    }
}

/// `bytes` as the whole content of `file`, through a temporary file and a rename, so a reader
/// never sees half a picture and a failure leaves any earlier `file` in place.
fn write_atomic(file: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    let write_error = |source| PlotError::Write {
        file: file.to_path_buf(),
        source,
    };
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_error)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
    tmp.write_all(bytes)
        .and_then(|()| readable_permissions(tmp.as_file(), file))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(write_error)?;
    tmp.persist(file).map_err(|e| write_error(e.error))?;
    Ok(())
}

/// The temporary file is created private (mode 0600); a picture is meant to be shared, so it
/// gets the mode of the file it replaces, or else 0644 (what a umask of 022 gives).
#[cfg(unix)]
fn readable_permissions(tmp: &std::fs::File, destination: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(destination)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    tmp.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn readable_permissions(_: &std::fs::File, _: &Path) -> std::io::Result<()> {
    Ok(())
}
