//! An in-memory RGB picture that plotters draws on, and its atomic PNG write.

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
        wb_io::write_bytes(file, &png).map_err(|source| PlotError::Write {
            file: file.to_path_buf(),
            source,
        })
    }
}
