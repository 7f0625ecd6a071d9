//! Image augmentation drawn anew for every mini-batch: each training row is an image, moved,
//! mirrored and (for digits) elastically deformed before the forward pass, so no two epochs see
//! the same inputs and no copies are stored.
//!
//! - **Translation** by `(dy, dx)`, each uniform in `[-max_shift, max_shift]`: the pad-and-crop
//!   of Krizhevsky et al. (2012) and of CIFAR-10 training since (pad by `max_shift`, crop back
//!   at a random offset). Vacated pixels are 0 — after the workbench's centring, the training
//!   mean.
//! - **Mirror** left to right with probability 1/2 (photos; never for digits).
//! - **Elastic distortion** (Simard, Steinkraus & Platt, "Best practices for convolutional
//!   neural networks applied to visual document analysis", ICDAR 2003): a displacement field of
//!   `U(-1, 1)` values per pixel and axis, smoothed by a Gaussian of `σ` pixels and scaled by
//!   `α`; the image is resampled bilinearly at the displaced positions. Simard et al. use σ = 4,
//!   α = 34 on 28 x 28 digits.
//!
//! Rows are `height x width x channels` values in row-major H x W x C order (the workbench's raw
//! features). The random draws of a batch are made in row order on one thread and each row is
//! then transformed on its own, so the result does not depend on the number of threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::params::MlpError;

/// Elastic distortion strength and smoothness, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Elastic {
    /// Scale α of the smoothed displacement field.
    pub alpha: f64,
    /// Standard deviation σ of the Gaussian that smooths the field.
    pub sigma: f64,
}

/// What is done to each training row of a mini-batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchAugment {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Largest translation per axis, in pixels (0: none).
    pub max_shift: usize,
    /// Mirror left to right with probability 1/2.
    pub flip: bool,
    pub elastic: Option<Elastic>,
}

/// The augmentations by name (`--mlp-augment`), each sized to the image by one rule, so the
/// same name suits 28 x 28 digits, 32 x 32 thumbnails and 64 x 64 photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AugmentKind {
    #[default]
    None,
    /// Photos: shifts up to 1/8 of the shorter side (4 pixels at 32 x 32, the CIFAR-10
    /// pad-and-crop) and mirrors.
    CropFlip,
    /// Digits and other images whose mirror is another class: shifts up to 1/14 of the shorter
    /// side (2 pixels at 28 x 28), no mirror.
    Translate,
    /// `translate` plus Simard et al.'s elastic field, α = 34 and σ = 4 pixels at 28 x 28,
    /// both scaled with the shorter side.
    Elastic,
}

impl AugmentKind {
    pub const ALL: [AugmentKind; 4] = [
        AugmentKind::None,
        AugmentKind::CropFlip,
        AugmentKind::Translate,
        AugmentKind::Elastic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AugmentKind::None => "none",
            AugmentKind::CropFlip => "crop-flip",
            AugmentKind::Translate => "translate",
            AugmentKind::Elastic => "elastic",
        }
    }

    /// The augmentation for `height x width x channels` images (`None` for [`AugmentKind::None`]).
    pub fn for_image(self, height: usize, width: usize, channels: usize) -> Option<BatchAugment> {
        let side = height.min(width) as f64;
        let shift = |fraction: f64| ((side * fraction).round() as usize).max(1);
        let base = BatchAugment {
            height,
            width,
            channels,
            max_shift: 0,
            flip: false,
            elastic: None,
        };
        match self {
            AugmentKind::None => None,
            AugmentKind::CropFlip => Some(BatchAugment {
                max_shift: shift(1.0 / 8.0),
                flip: true,
                ..base
            }),
            AugmentKind::Translate => Some(BatchAugment {
                max_shift: shift(1.0 / 14.0),
                ..base
            }),
            AugmentKind::Elastic => Some(BatchAugment {
                max_shift: shift(1.0 / 14.0),
                elastic: Some(Elastic {
                    alpha: 34.0 * side / 28.0,
                    sigma: 4.0 * side / 28.0,
                }),
                ..base
            }),
        }
    }
}

impl std::str::FromStr for AugmentKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == norm)
            .ok_or_else(|| {
                format!("unknown --mlp-augment `{s}` (valid: none, crop-flip, translate, elastic)")
            })
    }
}

/// One row's draw.
#[derive(Debug, Clone, Copy)]
struct Draw {
    dy: isize,
    dx: isize,
    flip: bool,
    /// Seed of the row's displacement field (elastic only).
    field_seed: u64,
}

impl BatchAugment {
    /// Values per row.
    pub fn row_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Rejects shapes and strengths that cannot work, and rows of another length.
    pub fn check(&self, input_dim: usize) -> Result<(), MlpError> {
        let invalid = |reason: String| Err(MlpError::invalid("augment", reason));
        if self.height == 0 || self.width == 0 || self.channels == 0 {
            return invalid(format!(
                "image shape {}x{}x{} has a zero side",
                self.height, self.width, self.channels
            ));
        }
        if self.row_len() != input_dim {
            return invalid(format!(
                "rows have {input_dim} values but a {}x{}x{} image has {}: on-the-fly \
                 augmentation needs raw pixels as the only features",
                self.height,
                self.width,
                self.channels,
                self.row_len()
            ));
        }
        if self.max_shift >= self.height.min(self.width) {
            return invalid(format!(
                "a shift of up to {} pixels leaves nothing of a {}x{} image",
                self.max_shift, self.height, self.width
            ));
        }
        if let Some(e) = self.elastic {
            if !(e.alpha.is_finite() && e.alpha >= 0.0 && e.sigma.is_finite() && e.sigma > 0.0) {
                return invalid(format!(
                    "elastic α must be ≥ 0 and σ > 0 (finite), got α = {}, σ = {}",
                    e.alpha, e.sigma
                ));
            }
        }
        Ok(())
    }

    /// Writes the augmented rows of `src` into `dst` (both `rows x row_len`, row-major), drawing
    /// from `rng`.
    pub fn apply(&self, src: &[f32], dst: &mut [f32], rng: &mut ChaCha8Rng) {
        let d = self.row_len();
        debug_assert_eq!(src.len(), dst.len());
        let shift = self.max_shift as isize;
        let draws: Vec<Draw> = (0..src.len() / d)
            .map(|_| Draw {
                dy: rng.gen_range(-shift..=shift),
                dx: rng.gen_range(-shift..=shift),
                flip: self.flip && rng.gen::<bool>(),
                field_seed: if self.elastic.is_some() { rng.gen() } else { 0 },
            })
            .collect();
        const ROWS_PER_TASK: usize = 8;
        dst.par_chunks_mut(ROWS_PER_TASK * d)
            .zip(src.par_chunks(ROWS_PER_TASK * d))
            .zip(draws.par_chunks(ROWS_PER_TASK))
            .for_each(|((out, inp), draws)| {
                let mut field = self.elastic.map(Field::new);
                for ((o, i), draw) in out.chunks_exact_mut(d).zip(inp.chunks_exact(d)).zip(draws) {
                    match &mut field {
                        None => self.translate(i, o, draw),
                        Some(field) => self.deform(i, o, draw, field),
                    }
                }
            });
    }

    /// Integer translation and mirror: a pure copy, no interpolation.
    fn translate(&self, src: &[f32], dst: &mut [f32], draw: &Draw) {
        let (h, w, c) = (self.height as isize, self.width as isize, self.channels);
        for y in 0..h {
            let sy = y - draw.dy;
            let out_row = &mut dst[(y * w) as usize * c..((y + 1) * w) as usize * c];
            if !(0..h).contains(&sy) {
                out_row.fill(0.0);
                continue;
            }
            let in_row = &src[(sy * w) as usize * c..((sy + 1) * w) as usize * c];
            for x in 0..w {
                let mirrored = if draw.flip { w - 1 - x } else { x };
                let sx = mirrored - draw.dx;
                let out_px = &mut out_row[x as usize * c..(x as usize + 1) * c];
                if (0..w).contains(&sx) {
                    out_px.copy_from_slice(&in_row[sx as usize * c..(sx as usize + 1) * c]);
                } else {
                    out_px.fill(0.0);
                }
            }
        }
    }

    /// Translation, mirror and elastic field, resampled bilinearly (zeros outside the image).
    fn deform(&self, src: &[f32], dst: &mut [f32], draw: &Draw, field: &mut Field) {
        let (h, w, c) = (self.height, self.width, self.channels);
        field.draw(h, w, draw.field_seed);
        let at = |y: isize, x: isize, ch: usize| -> f32 {
            if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                0.0
            } else {
                src[(y as usize * w + x as usize) * c + ch]
            }
        };
        for y in 0..h {
            for x in 0..w {
                let mirrored = if draw.flip { w - 1 - x } else { x };
                let k = y * w + x;
                let sy = y as f32 - draw.dy as f32 + field.dy[k];
                let sx = mirrored as f32 - draw.dx as f32 + field.dx[k];
                let (y0, x0) = (sy.floor(), sx.floor());
                let (fy, fx) = (sy - y0, sx - x0);
                let (y0, x0) = (y0 as isize, x0 as isize);
                for ch in 0..c {
                    let top = at(y0, x0, ch) * (1.0 - fx) + at(y0, x0 + 1, ch) * fx;
                    let bottom = at(y0 + 1, x0, ch) * (1.0 - fx) + at(y0 + 1, x0 + 1, ch) * fx;
                    dst[k * c + ch] = top * (1.0 - fy) + bottom * fy;
                }
            }
        }
    }
}

/// A smoothed displacement field, its scratch space and its Gaussian (reused across the rows
/// of a task).
struct Field {
    alpha: f32,
    kernel: Vec<f32>,
    dy: Vec<f32>,
    dx: Vec<f32>,
    scratch: Vec<f32>,
}

impl Field {
    /// The normalised Gaussian of `e.sigma`, cut at 3σ.
    fn new(e: Elastic) -> Field {
        let radius = (3.0 * e.sigma).ceil().max(1.0) as isize;
        let weights: Vec<f64> = (-radius..=radius)
            .map(|t| (-(t * t) as f64 / (2.0 * e.sigma * e.sigma)).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        Field {
            alpha: e.alpha as f32,
            kernel: weights.iter().map(|v| (v / total) as f32).collect(),
            dy: Vec::new(),
            dx: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Draws the `h x w` field of `seed`: U(-1, 1) per pixel and axis, smoothed, times α.
    fn draw(&mut self, h: usize, w: usize, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for plane in [&mut self.dy, &mut self.dx] {
            plane.clear();
            plane.extend((0..h * w).map(|_| rng.gen_range(-1.0f32..=1.0)));
            self.scratch.clear();
            self.scratch.resize(h * w, 0.0);
            // Along rows into the scratch plane, then along columns back.
            blur_lines(plane, &mut self.scratch, h, w, 1, w, &self.kernel);
            blur_lines(&self.scratch, plane, w, h, w, 1, &self.kernel);
            plane.iter_mut().for_each(|v| *v *= self.alpha);
        }
    }
}

/// One pass of a separable blur of a plane, values outside counting as 0 (as in
/// `scipy.ndimage.gaussian_filter(mode="constant")` used by Simard-style implementations):
/// `lines` lines of `len` values, consecutive values `step` apart, consecutive lines `stride`
/// apart (rows: step 1, stride w; columns: step w, stride 1).
fn blur_lines(
    src: &[f32],
    dst: &mut [f32],
    lines: usize,
    len: usize,
    step: usize,
    stride: usize,
    kernel: &[f32],
) {
    let r = (kernel.len() / 2) as isize;
    for line in 0..lines {
        let at = |i: usize| line * stride + i * step;
        for i in 0..len {
            let mut s = 0.0;
            for (t, &k) in kernel.iter().enumerate() {
                let j = i as isize + t as isize - r;
                if (0..len as isize).contains(&j) {
                    s += k * src[at(j as usize)];
                }
            }
            dst[at(i)] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(h: usize, w: usize, c: usize, max_shift: usize, flip: bool) -> BatchAugment {
        BatchAugment {
            height: h,
            width: w,
            channels: c,
            max_shift,
            flip,
            elastic: None,
        }
    }

    fn image(h: usize, w: usize, c: usize) -> Vec<f32> {
        (0..h * w * c).map(|i| i as f32 + 1.0).collect()
    }

    #[test]
    fn no_shift_no_flip_is_the_identity() {
        let a = shape(5, 4, 3, 0, false);
        let src = image(5, 4, 3);
        let mut dst = vec![0.0; src.len()];
        a.apply(&src, &mut dst, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(dst, src);
    }

    #[test]
    fn a_translation_moves_pixels_and_fills_with_zero() {
        let a = shape(4, 4, 1, 1, false);
        let src = image(4, 4, 1);
        let mut dst = vec![0.0; 16];
        a.translate(
            &src,
            &mut dst,
            &Draw {
                dy: 1,
                dx: -1,
                flip: false,
                field_seed: 0,
            },
        );
        // Row 0 is vacated; out(y, x) = in(y - 1, x + 1); the last column is vacated.
        assert_eq!(&dst[..4], &[0.0; 4]);
        assert_eq!(&dst[4..8], &[2.0, 3.0, 4.0, 0.0]);
        assert_eq!(&dst[12..16], &[10.0, 11.0, 12.0, 0.0]);
    }

    #[test]
    fn a_mirror_reverses_pixels_and_keeps_channel_order() {
        let a = shape(1, 3, 2, 0, true);
        let src = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut dst = vec![0.0; 6];
        a.translate(
            &src,
            &mut dst,
            &Draw {
                dy: 0,
                dx: 0,
                flip: true,
                field_seed: 0,
            },
        );
        assert_eq!(dst, vec![5.0, 6.0, 3.0, 4.0, 1.0, 2.0]);
    }

    #[test]
    fn batches_see_every_shift_and_both_mirrors() {
        // One lit pixel left of centre: its position in each output row tells the draw.
        let a = shape(9, 9, 1, 2, true);
        let rows = 400;
        let mut src = vec![0.0; rows * 81];
        for r in 0..rows {
            src[r * 81 + 4 * 9 + 3] = 1.0;
        }
        let mut dst = vec![0.0; src.len()];
        a.apply(&src, &mut dst, &mut ChaCha8Rng::seed_from_u64(3));
        let mut positions = std::collections::BTreeSet::new();
        let mut mirrored = 0;
        for row in dst.chunks_exact(81) {
            let lit: Vec<usize> = (0..81).filter(|&i| row[i] != 0.0).collect();
            assert_eq!(lit.len(), 1, "a shift of ≤ 2 keeps the pixel inside");
            let (y, x) = (lit[0] / 9, lit[0] % 9);
            assert!((2..=6).contains(&y) && (1..=7).contains(&x), "({y}, {x})");
            positions.insert((y, x));
            // Unmirrored x is 3 ± 2, mirrored 5 ± 2: x = 6 or 7 can only come from a mirror.
            mirrored += (x >= 6) as usize;
        }
        assert_eq!(positions.len(), 5 * 7, "every reachable position is drawn");
        assert!((40..120).contains(&mirrored), "{mirrored} rows at x ≥ 6");
    }

    #[test]
    fn the_result_does_not_depend_on_the_thread_count() {
        let a = BatchAugment {
            elastic: Some(Elastic {
                alpha: 8.0,
                sigma: 3.0,
            }),
            ..shape(12, 10, 3, 2, true)
        };
        let rows = 37;
        let src: Vec<f32> = (0..rows * a.row_len()).map(|i| (i % 97) as f32).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let mut dst = vec![0.0; src.len()];
            pool.install(|| a.apply(&src, &mut dst, &mut ChaCha8Rng::seed_from_u64(9)));
            dst
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn a_zero_elastic_field_is_the_plain_translation() {
        let base = shape(6, 7, 2, 2, true);
        let elastic = BatchAugment {
            elastic: Some(Elastic {
                alpha: 0.0,
                sigma: 4.0,
            }),
            ..base
        };
        let src = image(6, 7, 2);
        let draw = Draw {
            dy: -1,
            dx: 2,
            flip: true,
            field_seed: 5,
        };
        let mut plain = vec![0.0; src.len()];
        let mut deformed = vec![0.0; src.len()];
        base.translate(&src, &mut plain, &draw);
        let mut field = Field::new(elastic.elastic.expect("set"));
        elastic.deform(&src, &mut deformed, &draw, &mut field);
        assert_eq!(plain, deformed);
    }

    #[test]
    fn an_elastic_field_is_smooth_and_bounded_by_alpha() {
        let mut field = Field::new(Elastic {
            alpha: 34.0,
            sigma: 4.0,
        });
        field.draw(28, 28, 11);
        let max = field
            .dx
            .iter()
            .chain(&field.dy)
            .fold(0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.1 && max < 34.0, "max displacement {max}");
        // Neighbours differ far less than independent U(-1, 1) draws scaled by α would.
        let step: f32 = (0..27)
            .map(|x| (field.dx[x + 1] - field.dx[x]).abs())
            .sum::<f32>()
            / 27.0;
        assert!(step < 0.25 * max, "mean neighbour step {step}, max {max}");
    }

    #[test]
    fn named_kinds_follow_the_image_size() {
        let cifar = AugmentKind::CropFlip.for_image(32, 32, 3).expect("some");
        assert_eq!((cifar.max_shift, cifar.flip), (4, true));
        let mnist = AugmentKind::Translate.for_image(28, 28, 1).expect("some");
        assert_eq!((mnist.max_shift, mnist.flip), (2, false));
        let photo = AugmentKind::CropFlip.for_image(64, 48, 3).expect("some");
        assert_eq!(photo.max_shift, 6);
        let e = AugmentKind::Elastic.for_image(28, 28, 1).expect("some");
        assert_eq!(
            e.elastic,
            Some(Elastic {
                alpha: 34.0,
                sigma: 4.0
            })
        );
        assert_eq!(AugmentKind::None.for_image(28, 28, 1), None);
        for k in AugmentKind::ALL {
            assert_eq!(k.name().parse::<AugmentKind>(), Ok(k));
        }
        assert!("crop"
            .parse::<AugmentKind>()
            .unwrap_err()
            .contains("crop-flip"));
    }

    #[test]
    fn check_names_the_problem() {
        let a = shape(32, 32, 3, 4, true);
        assert!(a.check(3072).is_ok());
        let e = a.check(334).unwrap_err().to_string();
        assert!(e.contains("raw pixels"), "{e}");
        let e = shape(4, 4, 1, 4, false).check(16).unwrap_err().to_string();
        assert!(e.contains("leaves nothing"), "{e}");
    }
}
