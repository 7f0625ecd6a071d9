//! The built-in synthetic dataset: 32x32 RGB images in 10 classes, generated from a seed.
//!
//! Each class is told apart by one kind of evidence, so each feature family has classes it
//! should win on:
//! - colour (3 classes): an object of a random shape whose *hue* is the class: one of two
//!   opposite hues (red or cyan, yellow or blue, green or magenta), under random saturation and
//!   brightness. Each class's mean colour is grey, and no weighted sum of a pixel's red, green
//!   and blue ranks both hues of one class above both of another (opposite hues' deviations from
//!   white sum to the same vector for every class), so a linear model of raw pixels cannot tell
//!   these classes apart, while a hue histogram, linear in its bins, can;
//! - shape (4 classes): a grey object whose *outline* (disc, square, triangle, cross) is the
//!   class, under random position, scale, rotation and contrast polarity — HOG's territory;
//! - texture (3 classes): a patch of stripes whose *orientation* is the class, at a random phase,
//!   so the pixel-wise mean of a class is flat — Gabor's territory.
//!
//! Nuisances everywhere: background gradient, small clutter blobs of random colour, pixel noise.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::{Dataset, ImageShape, Images, TrainTest};

pub const SIDE: usize = 32;

/// The class names, in label order.
pub const CLASS_NAMES: [&str; 10] = [
    "red-or-cyan",
    "yellow-or-blue",
    "green-or-magenta",
    "disc",
    "square",
    "triangle",
    "cross",
    "stripes-0deg",
    "stripes-60deg",
    "stripes-120deg",
];

/// Which evidence tells a class apart (the groups of [`CLASS_NAMES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassGroup {
    Colour,
    Shape,
    Texture,
}

/// The group of class `label`.
pub fn class_group(label: usize) -> ClassGroup {
    match label {
        0..=2 => ClassGroup::Colour,
        3..=6 => ClassGroup::Shape,
        _ => ClassGroup::Texture,
    }
}

/// The two opposite hues of each colour class.
const HUES_DEG: [[f32; 2]; 3] = [[0.0, 180.0], [60.0, 240.0], [120.0, 300.0]];
const STRIPE_ANGLES_DEG: [f32; 3] = [0.0, 60.0, 120.0];

/// Sizes and seed of the synthetic dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticParams {
    pub train_size: usize,
    pub test_size: usize,
    pub seed: u64,
}

impl Default for SyntheticParams {
    fn default() -> Self {
        SyntheticParams {
            train_size: 6000,
            test_size: 2000,
            seed: 0,
        }
    }
}

/// Generates the training and test sets (independent draws; labels cycle through the classes).
pub fn generate(params: &SyntheticParams) -> TrainTest {
    TrainTest {
        train: generate_set(params.train_size, params.seed, 0x07a1_4e57),
        test: generate_set(params.test_size, params.seed, 0x07e5_75e7),
    }
}

fn generate_set(n: usize, seed: u64, salt: u64) -> Dataset {
    let shape = ImageShape::new(SIDE, SIDE, 3);
    let mut pixels = vec![0u8; n * shape.len()];
    let labels: Vec<usize> = (0..n).map(|i| i % CLASS_NAMES.len()).collect();
    pixels
        .par_chunks_mut(shape.len())
        .enumerate()
        .for_each(|(i, out)| {
            // One stream per image: the same images whatever the thread count.
            let stream = seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(salt)
                .wrapping_add(i as u64);
            let mut rng = ChaCha8Rng::seed_from_u64(stream);
            render(labels[i], &mut rng, out);
        });
    Dataset {
        images: Images::new(shape, pixels).unwrap_or_else(|| Images::empty(shape)),
        labels,
        class_names: CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
    }
}

#[derive(Clone, Copy)]
enum Outline {
    Disc,
    Square,
    Triangle,
    Cross,
}

const OUTLINES: [Outline; 4] = [
    Outline::Disc,
    Outline::Square,
    Outline::Triangle,
    Outline::Cross,
];

/// Signed distance (pixels, negative inside) of `(u, v)` in the object's frame.
fn signed_distance(outline: Outline, u: f32, v: f32, r: f32) -> f32 {
    match outline {
        Outline::Disc => (u * u + v * v).sqrt() - r,
        Outline::Square => u.abs().max(v.abs()) - 0.8 * r,
        Outline::Triangle => {
            // Equilateral, circumradius r: inradius r/2 along three normals 120° apart
            // (at 90°, 210° and 330°).
            const NORMALS: [(f32, f32); 3] =
                [(0.0, 1.0), (-0.866_025_4, -0.5), (0.866_025_4, -0.5)];
            let d = NORMALS
                .iter()
                .map(|&(nx, ny)| u * nx + v * ny - 0.5 * r)
                .fold(f32::NEG_INFINITY, f32::max);
            d * 1.2
        }
        Outline::Cross => {
            let w = 0.32 * r;
            let bar1 = (u.abs() - r).max(v.abs() - w);
            let bar2 = (u.abs() - w).max(v.abs() - r);
            bar1.min(bar2)
        }
    }
}

fn hsv_to_rgb(h_deg: f32, s: f32, v: f32) -> [f32; 3] {
    let h = h_deg.rem_euclid(360.0) / 60.0;
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    // Ziggurat sampling: a few ns a draw, where Box–Muller's ln/cos dominated generation.
    rng.sample(StandardNormal)
}

/// Draws one image of class `label` into `out` (32x32x3).
fn render(label: usize, rng: &mut ChaCha8Rng, out: &mut [u8]) {
    let mut img = [[0f32; 3]; SIDE * SIDE];

    // Background: grey level with a linear gradient.
    let base = rng.gen_range(0.3..0.7f32);
    let (gdx, gdy) = (
        rng.gen_range(-0.006..0.006f32),
        rng.gen_range(-0.006..0.006f32),
    );
    for y in 0..SIDE {
        for x in 0..SIDE {
            let g = base + gdx * (x as f32 - 16.0) + gdy * (y as f32 - 16.0);
            img[y * SIDE + x] = [g, g, g];
        }
    }
    // Clutter: small soft blobs of random, moderately saturated colour.
    for _ in 0..rng.gen_range(2..5) {
        let (bx, by) = (rng.gen_range(0.0..32.0f32), rng.gen_range(0.0..32.0f32));
        let br = rng.gen_range(1.5..3.5f32);
        let colour = hsv_to_rgb(
            rng.gen_range(0.0..360.0),
            rng.gen_range(0.0..0.5),
            rng.gen_range(0.2..0.9),
        );
        paint(
            &mut img,
            (bx, by, br),
            |x, y| {
                let d = ((x - bx).powi(2) + (y - by).powi(2)).sqrt() - br;
                0.6 * (0.5 - d).clamp(0.0, 1.0)
            },
            |_, _| colour,
        );
    }

    // The object.
    let (cx, cy) = (rng.gen_range(12.0..20.0f32), rng.gen_range(12.0..20.0f32));
    let angle = rng.gen_range(0.0..std::f32::consts::TAU);
    let (sin, cos) = angle.sin_cos();
    let frame = move |x: f32, y: f32| {
        let (dx, dy) = (x - cx, y - cy);
        (dx * cos + dy * sin, -dx * sin + dy * cos)
    };
    match class_group(label) {
        ClassGroup::Colour => {
            let outline = OUTLINES[rng.gen_range(0..OUTLINES.len())];
            let r = rng.gen_range(6.0..10.0f32);
            let colour = hsv_to_rgb(
                HUES_DEG[label][rng.gen_range(0..2)] + rng.gen_range(-12.0..12.0),
                rng.gen_range(0.55..1.0),
                rng.gen_range(0.3..1.0),
            );
            paint(
                &mut img,
                // Every outline lies within 1.2 r of its centre (the cross's arm tips: 1.05 r).
                (cx, cy, 1.2 * r),
                |x, y| {
                    let (u, v) = frame(x, y);
                    (0.5 - signed_distance(outline, u, v, r)).clamp(0.0, 1.0)
                },
                |_, _| colour,
            );
        }
        ClassGroup::Shape => {
            let outline = OUTLINES[label - 3];
            let r = rng.gen_range(7.0..11.0f32);
            let polarity = if rng.gen::<bool>() { 1.0 } else { -1.0 };
            let level = (base + polarity * rng.gen_range(0.25..0.45f32)).clamp(0.02, 0.98);
            let colour = hsv_to_rgb(rng.gen_range(0.0..360.0), rng.gen_range(0.0..0.2), level);
            paint(
                &mut img,
                // Every outline lies within 1.2 r of its centre (the cross's arm tips: 1.05 r).
                (cx, cy, 1.2 * r),
                |x, y| {
                    let (u, v) = frame(x, y);
                    (0.5 - signed_distance(outline, u, v, r)).clamp(0.0, 1.0)
                },
                |_, _| colour,
            );
        }
        ClassGroup::Texture => {
            let theta = (STRIPE_ANGLES_DEG[label - 7] + rng.gen_range(-6.0..6.0f32)).to_radians();
            let freq = rng.gen_range(0.18..0.26f32);
            let phase = rng.gen_range(0.0..std::f32::consts::TAU);
            let amp = rng.gen_range(0.2..0.35f32);
            let mean = rng.gen_range(0.35..0.65f32);
            let tint = hsv_to_rgb(rng.gen_range(0.0..360.0), rng.gen_range(0.0..0.2), 1.0);
            let r = rng.gen_range(10.0..14.0f32);
            let (ts, tc) = theta.sin_cos();
            paint(
                &mut img,
                (cx, cy, r),
                |x, y| {
                    let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() - r;
                    (0.5 - d).clamp(0.0, 1.0)
                },
                |x, y| {
                    let s = mean
                        + amp * (std::f32::consts::TAU * freq * (x * tc + y * ts) + phase).sin();
                    [s * tint[0], s * tint[1], s * tint[2]]
                },
            );
        }
    }

    let noise = 0.03;
    for (px, o) in img.iter().zip(out.chunks_exact_mut(3)) {
        for c in 0..3 {
            let v = px[c] + noise * gaussian(rng);
            o[c] = (v * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Alpha-blends `colour(x, y)` with coverage `alpha(x, y)` at every pixel centre within
/// `reach` of `(cx, cy)`.
fn paint(
    img: &mut [[f32; 3]; SIDE * SIDE],
    (cx, cy, reach): (f32, f32, f32),
    alpha: impl Fn(f32, f32) -> f32,
    colour: impl Fn(f32, f32) -> [f32; 3],
) {
    // Only pixels within `reach` of the centre can be covered: skip the rest.
    let span = |c: f32| {
        let lo = (c - reach - 1.0).floor().max(0.0) as usize;
        let hi = ((c + reach + 1.0).ceil().max(0.0) as usize).min(SIDE);
        lo..hi
    };
    for y in span(cy) {
        for x in span(cx) {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let a = alpha(fx, fy);
            if a > 0.0 {
                let c = colour(fx, fy);
                let p = &mut img[y * SIDE + x];
                for k in 0..3 {
                    p[k] = p[k] * (1.0 - a) + c[k] * a;
                }
            }
        }
    }
}
