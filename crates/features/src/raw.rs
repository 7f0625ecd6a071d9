use crate::{Extractor, Normalization};
use wb_data::{ImageShape, ImageView};

/// Raw pixels scaled to [0, 1], in H x W x C order; centred (not scaled) by the [`crate::Scaler`]
/// with the training mean per pixel, as in CS231n's linear-classifier notebooks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl Extractor for Raw {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn dim(&self, shape: ImageShape) -> usize {
        shape.len()
    }

    fn extract(&self, image: ImageView<'_>, out: &mut [f32]) {
        raw_values(image.pixels, out);
    }

    fn normalization(&self) -> Normalization {
        Normalization::Center
    }
}

/// The raw feature values of `pixels` (one per byte, in order): `p / 255`.
pub fn raw_values(pixels: &[u8], out: &mut [f32]) {
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = p as f32 * (1.0 / 255.0);
    }
}
