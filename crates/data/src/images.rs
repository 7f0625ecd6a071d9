//! The in-memory image batch: `u8` pixels, N x H x W x C, one contiguous buffer.

use serde::{Deserialize, Serialize};

/// Shape of one image: height, width and channel count (1 = gray, 3 = RGB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl ImageShape {
    pub fn new(height: usize, width: usize, channels: usize) -> Self {
        Self {
            height,
            width,
            channels,
        }
    }

    /// Number of `u8` values in one image.
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A borrowed image: row-major H x W x C `u8` pixels (interleaved channels).
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    pub shape: ImageShape,
    pub pixels: &'a [u8],
}

impl<'a> ImageView<'a> {
    /// Wraps a pixel slice; `None` if its length does not match the shape.
    pub fn new(shape: ImageShape, pixels: &'a [u8]) -> Option<Self> {
        (pixels.len() == shape.len()).then_some(Self { shape, pixels })
    }

    pub fn height(&self) -> usize {
        self.shape.height
    }

    pub fn width(&self) -> usize {
        self.shape.width
    }

    pub fn channels(&self) -> usize {
        self.shape.channels
    }

    /// Pixel value at row `y`, column `x`, channel `c`.
    #[inline]
    pub fn get(&self, y: usize, x: usize, c: usize) -> u8 {
        self.pixels[(y * self.shape.width + x) * self.shape.channels + c]
    }
}

/// A batch of images of one shape, stored as N x H x W x C `u8` in one buffer
/// (CIFAR-10's 60,000 images take 184 MB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    shape: ImageShape,
    pixels: Vec<u8>,
}

impl Images {
    /// Builds a batch; `None` if `pixels.len()` is not a multiple of the image size.
    pub fn new(shape: ImageShape, pixels: Vec<u8>) -> Option<Self> {
        if shape.is_empty() || !pixels.len().is_multiple_of(shape.len()) {
            return None;
        }
        Some(Self { shape, pixels })
    }

    /// An empty batch of the given shape.
    pub fn empty(shape: ImageShape) -> Self {
        Self {
            shape,
            pixels: Vec::new(),
        }
    }

    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        if self.shape.is_empty() {
            0
        } else {
            self.pixels.len() / self.shape.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole buffer, N x H x W x C.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Image `i`.
    pub fn get(&self, i: usize) -> ImageView<'_> {
        let n = self.shape.len();
        ImageView {
            shape: self.shape,
            pixels: &self.pixels[i * n..(i + 1) * n],
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = ImageView<'_>> + '_ {
        self.pixels
            .chunks_exact(self.shape.len())
            .map(|p| ImageView {
                shape: self.shape,
                pixels: p,
            })
    }

    /// A new batch holding the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Images {
        let n = self.shape.len();
        let mut pixels = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * n..(i + 1) * n]);
        }
        Images {
            shape: self.shape,
            pixels,
        }
    }

    /// Every image mirrored left to right (the classic CIFAR augmentation).
    pub fn flipped_horizontally(&self) -> Images {
        let ImageShape {
            width, channels, ..
        } = self.shape;
        let row = width * channels;
        let mut pixels = self.pixels.clone();
        for out_row in pixels.chunks_exact_mut(row) {
            for x in 0..width / 2 {
                let (a, b) = (x * channels, (width - 1 - x) * channels);
                for c in 0..channels {
                    out_row.swap(a + c, b + c);
                }
            }
        }
        Images {
            shape: self.shape,
            pixels,
        }
    }

    /// Every image moved `dx` pixels right and `dy` pixels down; the pixels that enter at the
    /// edge repeat the edge (for digits on a black background: black).
    pub fn shifted(&self, dx: isize, dy: isize) -> Images {
        let ImageShape {
            height,
            width,
            channels,
        } = self.shape;
        let n = self.shape.len();
        let mut pixels = vec![0u8; self.pixels.len()];
        let clamp = |v: isize, len: usize| v.clamp(0, len as isize - 1) as usize;
        for (src, dst) in self.pixels.chunks_exact(n).zip(pixels.chunks_exact_mut(n)) {
            for y in 0..height {
                let sy = clamp(y as isize - dy, height);
                for x in 0..width {
                    let sx = clamp(x as isize - dx, width);
                    let (d, s) = ((y * width + x) * channels, (sy * width + sx) * channels);
                    dst[d..d + channels].copy_from_slice(&src[s..s + channels]);
                }
            }
        }
        Images {
            shape: self.shape,
            pixels,
        }
    }

    /// Appends every image of `other` (same shape).
    pub fn extend(&mut self, other: &Images) {
        assert_eq!(self.shape, other.shape, "image shape mismatch");
        self.pixels.extend_from_slice(&other.pixels);
    }

    /// Appends one image; its length must match the shape.
    pub fn push(&mut self, pixels: &[u8]) {
        assert_eq!(pixels.len(), self.shape.len(), "image size mismatch");
        self.pixels.extend_from_slice(pixels);
    }
}

/// The bytes `n_images` images of `shape` take as `u8` pixels (`n · height · width · channels`),
/// checked: an overflow is an error naming the sizes instead of a wrapped number. Call it
/// before loading to compare with a memory budget.
pub fn image_bytes(n_images: usize, shape: ImageShape) -> Result<u64, crate::DataError> {
    [shape.height, shape.width, shape.channels]
        .into_iter()
        .try_fold(n_images as u64, |acc, d| acc.checked_mul(d as u64))
        .ok_or_else(|| {
            crate::DataError::Invalid(format!(
                "{n_images} images of {}x{}x{} overflow a 64-bit byte count",
                shape.height, shape.width, shape.channels
            ))
        })
}

/// `bytes` for people: "512 MiB", "3.1 GiB", "870 KiB", "12 B" (binary units, one decimal
/// below 10).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_bytes_multiplies_and_refuses_overflow() {
        assert_eq!(
            image_bytes(50_000, ImageShape::new(32, 32, 3)).unwrap(),
            153_600_000
        );
        let err = image_bytes(usize::MAX, ImageShape::new(4096, 4096, 3)).unwrap_err();
        assert!(err.to_string().contains("overflow"), "{err}");
    }

    #[test]
    fn human_bytes_picks_the_unit() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(512 * 1024 * 1024), "512 MiB");
        assert_eq!(human_bytes(3_300_000_000), "3.1 GiB");
    }
}
