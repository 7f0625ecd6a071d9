//! Resizing decoded images to the working size, keeping the aspect ratio.
//!
//! The filter is bilinear with antialiasing: when shrinking, the triangle kernel is widened by
//! the scale factor so every source pixel contributes (Pillow's `Image.resize(BILINEAR)`, which
//! torchvision's `Resize` uses by default). It runs in `fast_image_resize`, which picks its
//! SSE4.1/AVX2 kernels at run time; it was measured against the `image` crate's
//! `imageops::resize` with the same filter (`examples/decode_speed.rs`, BENCHMARKS.md) and
//! kept because it was faster.

use std::fmt;
use std::str::FromStr;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use serde::{Deserialize, Serialize};

use crate::DataError;

/// How an image is fitted to the working size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    /// Scale so the image covers the target (for a square target: the shorter side becomes the
    /// target side), then cut the centre: torchvision's `Resize(S)` + `CenterCrop(S)`. Nothing
    /// is distorted; the edges of the longer side are lost.
    #[default]
    Crop,
    /// Scale so the whole image fits inside the target, centred on black (zero) borders:
    /// nothing is lost or distorted, but part of the input is border.
    Pad,
    /// Scale each axis independently to the target: everything kept, shapes distorted.
    Stretch,
}

impl ResizeMode {
    pub const ALL: [ResizeMode; 3] = [ResizeMode::Crop, ResizeMode::Pad, ResizeMode::Stretch];

    pub fn name(self) -> &'static str {
        match self {
            ResizeMode::Crop => "crop",
            ResizeMode::Pad => "pad",
            ResizeMode::Stretch => "stretch",
        }
    }
}

impl fmt::Display for ResizeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ResizeMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResizeMode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown resize mode `{s}` (valid: crop, pad, stretch)"))
    }
}

/// A region of the source image, in source pixels (fractional: the crop of a 500x375 image to
/// a square starts at x = 62.5).
#[derive(Debug, Clone, Copy, PartialEq)]
struct SourceBox {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

/// Where the scaled image lands in the target: a `width` x `height` block at (`left`, `top`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TargetBox {
    left: usize,
    top: usize,
    width: usize,
    height: usize,
}

/// The source region and the target block for fitting a `src_w` x `src_h` image into
/// `dst_w` x `dst_h` with `mode`.
fn plan(
    (src_w, src_h): (usize, usize),
    (dst_w, dst_h): (usize, usize),
    mode: ResizeMode,
) -> (SourceBox, TargetBox) {
    let (sw, sh, tw, th) = (src_w as f64, src_h as f64, dst_w as f64, dst_h as f64);
    let whole_source = SourceBox {
        left: 0.0,
        top: 0.0,
        width: sw,
        height: sh,
    };
    let whole_target = TargetBox {
        left: 0,
        top: 0,
        width: dst_w,
        height: dst_h,
    };
    match mode {
        ResizeMode::Stretch => (whole_source, whole_target),
        ResizeMode::Crop => {
            // The scale that makes the image cover the target; the part of the source that
            // lands inside the target is (tw / scale) x (th / scale), centred.
            let scale = (tw / sw).max(th / sh);
            let (width, height) = ((tw / scale).min(sw), (th / scale).min(sh));
            let source = SourceBox {
                left: (sw - width) / 2.0,
                top: (sh - height) / 2.0,
                width,
                height,
            };
            (source, whole_target)
        }
        ResizeMode::Pad => {
            let scale = (tw / sw).min(th / sh);
            let width = ((sw * scale).round() as usize).clamp(1, dst_w);
            let height = ((sh * scale).round() as usize).clamp(1, dst_h);
            let target = TargetBox {
                left: (dst_w - width) / 2,
                top: (dst_h - height) / 2,
                width,
                height,
            };
            (whole_source, target)
        }
    }
}

/// Resizes one interleaved `u8` image (1 or 3 channels) into `out` (`dst_w * dst_h * channels`
/// bytes). `resizer` holds scratch buffers: keep one per thread.
#[allow(clippy::too_many_arguments)]
pub(crate) fn resize_into(
    resizer: &mut Resizer,
    src: &[u8],
    (src_w, src_h): (usize, usize),
    channels: usize,
    out: &mut [u8],
    (dst_w, dst_h): (usize, usize),
    mode: ResizeMode,
) -> Result<(), DataError> {
    let pixel_type = match channels {
        1 => PixelType::U8,
        3 => PixelType::U8x3,
        other => {
            return Err(DataError::Invalid(format!(
                "cannot resize images with {other} channels (1 or 3)"
            )))
        }
    };
    let fail = |e: &dyn fmt::Display| DataError::Invalid(format!("resize failed: {e}"));
    let (source, target) = plan((src_w, src_h), (dst_w, dst_h), mode);
    let src_image =
        ImageRef::new(src_w as u32, src_h as u32, src, pixel_type).map_err(|e| fail(&e))?;
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(source.left, source.top, source.width, source.height);
    if (target.width, target.height) == (dst_w, dst_h) {
        let mut dst = Image::from_slice_u8(dst_w as u32, dst_h as u32, out, pixel_type)
            .map_err(|e| fail(&e))?;
        return resizer
            .resize(&src_image, &mut dst, &options)
            .map_err(|e| fail(&e));
    }
    // Padding: resize into the inner block, then copy it row by row onto a black canvas.
    let mut inner = Image::new(target.width as u32, target.height as u32, pixel_type);
    resizer
        .resize(&src_image, &mut inner, &options)
        .map_err(|e| fail(&e))?;
    out.fill(0);
    let (row_in, row_out) = (target.width * channels, dst_w * channels);
    for (y, row) in inner.buffer().chunks_exact(row_in).enumerate() {
        let start = (target.top + y) * row_out + target.left * channels;
        out[start..start + row_in].copy_from_slice(row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_takes_the_centre_of_the_longer_side() {
        let (source, target) = plan((500, 375), (64, 64), ResizeMode::Crop);
        assert_eq!(
            source,
            SourceBox {
                left: 62.5,
                top: 0.0,
                width: 375.0,
                height: 375.0
            }
        );
        assert_eq!((target.width, target.height), (64, 64));
        // A non-square target: 64 wide, 32 high from a portrait 300x600 image.
        let (source, _) = plan((300, 600), (64, 32), ResizeMode::Crop);
        assert_eq!((source.width, source.height), (300.0, 150.0));
        assert_eq!(source.top, 225.0);
    }

    #[test]
    fn pad_fits_the_whole_image_centred() {
        let (source, target) = plan((500, 250), (64, 64), ResizeMode::Pad);
        assert_eq!((source.width, source.height), (500.0, 250.0));
        assert_eq!(
            target,
            TargetBox {
                left: 0,
                top: 16,
                width: 64,
                height: 32
            }
        );
    }

    #[test]
    fn padded_borders_are_black_and_the_inside_keeps_the_colour() {
        let src = vec![200u8; 40 * 10 * 3];
        let mut out = vec![7u8; 8 * 8 * 3];
        let mut resizer = Resizer::new();
        resize_into(
            &mut resizer,
            &src,
            (40, 10),
            3,
            &mut out,
            (8, 8),
            ResizeMode::Pad,
        )
        .unwrap();
        // 40x10 scaled to 8x2, rows 3 and 4 of 8.
        for y in 0..8 {
            let expected = if (3..5).contains(&y) { 200 } else { 0 };
            assert!(
                out[y * 24..(y + 1) * 24].iter().all(|&v| v == expected),
                "row {y}"
            );
        }
    }

    #[test]
    fn modes_parse_case_insensitively() {
        assert_eq!("Crop".parse::<ResizeMode>().unwrap(), ResizeMode::Crop);
        assert_eq!(
            "stretch".parse::<ResizeMode>().unwrap(),
            ResizeMode::Stretch
        );
        let err = "fill".parse::<ResizeMode>().unwrap_err();
        assert!(err.contains("crop, pad, stretch"), "{err}");
    }
}
