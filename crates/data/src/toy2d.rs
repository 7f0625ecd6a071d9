//! Two-dimensional toy datasets for the lecture's decision-region pictures, generated from a seed.
//!
//! - [`rings`]: two concentric rings. No line in the (x, y) plane separates them, but the radius
//!   alone does: the lecture's example of a feature transformation (polar coordinates) turning a
//!   problem a linear classifier cannot solve into one it can.
//! - [`spiral`]: CS231n's spiral ("Putting it together: minimal Neural Network case study"):
//!   K interleaved arms of N points, `r = linspace(0, 1, N)`, `θ = 4k + 4r + noise`,
//!   `(x, y) = (r sin θ, r cos θ)` — the data of ConvNetJS's classify2d demo of capacity and
//!   regularisation.
//!
//! Points of one class are contiguous (class 0 first); the same parameters give the same points.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A labelled 2-D point set.
#[derive(Debug, Clone, PartialEq)]
pub struct Points2d {
    /// `(x, y)` per point.
    pub points: Vec<[f32; 2]>,
    /// Class per point, in `0..n_classes`.
    pub labels: Vec<usize>,
    pub n_classes: usize,
}

impl Points2d {
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// `(x_min, x_max, y_min, y_max)` of the points (all zeros for an empty set).
    pub fn bounds(&self) -> (f32, f32, f32, f32) {
        if self.points.is_empty() {
            return (0.0, 0.0, 0.0, 0.0);
        }
        self.points.iter().fold(
            (
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ),
            |(x0, x1, y0, y1), &[x, y]| (x0.min(x), x1.max(x), y0.min(y), y1.max(y)),
        )
    }
}

/// Radius of the inner ring (class 0) of [`rings`].
pub const INNER_RADIUS: f32 = 0.5;
/// Radius of the outer ring (class 1) of [`rings`].
pub const OUTER_RADIUS: f32 = 1.0;

/// Two concentric rings, class 0 at radius [`INNER_RADIUS`] and class 1 at [`OUTER_RADIUS`],
/// `points_per_class` each: angle uniform in [0, 2π), radius `R + noise · N(0, 1)`.
///
/// With `noise` well below the gap (0.5) the radius separates the classes almost perfectly,
/// while every line through the plane leaves most of both rings on each of its sides.
pub fn rings(points_per_class: usize, noise: f32, seed: u64) -> Points2d {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut points = Vec::with_capacity(2 * points_per_class);
    let mut labels = Vec::with_capacity(2 * points_per_class);
    for (class, radius) in [INNER_RADIUS, OUTER_RADIUS].into_iter().enumerate() {
        for _ in 0..points_per_class {
            let angle = rng.gen_range(0.0..std::f32::consts::TAU);
            let jitter: f32 = rng.sample(StandardNormal);
            let r = radius + noise * jitter;
            points.push([r * angle.cos(), r * angle.sin()]);
            labels.push(class);
        }
    }
    Points2d {
        points,
        labels,
        n_classes: 2,
    }
}

/// CS231n's spiral: `classes` arms of `points_per_class` points. Arm k's i-th point has
/// `r = i / (N − 1)` and `θ = 4k + 4r + noise · N(0, 1)` (radians), at `(r sin θ, r cos θ)`.
///
/// CS231n uses N = 100, K = 3 and noise 0.2; a linear classifier reaches about 50 % on it and
/// a 100-unit ReLU layer about 98 %.
pub fn spiral(points_per_class: usize, classes: usize, noise: f32, seed: u64) -> Points2d {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut points = Vec::with_capacity(classes * points_per_class);
    let mut labels = Vec::with_capacity(classes * points_per_class);
    let steps = points_per_class.saturating_sub(1).max(1) as f32;
    for class in 0..classes {
        for i in 0..points_per_class {
            let r = i as f32 / steps;
            let jitter: f32 = rng.sample(StandardNormal);
            let theta = 4.0 * class as f32 + 4.0 * r + noise * jitter;
            points.push([r * theta.sin(), r * theta.cos()]);
            labels.push(class);
        }
    }
    Points2d {
        points,
        labels,
        n_classes: classes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_have_the_requested_size_and_radii() {
        let data = rings(500, 0.05, 3);
        assert_eq!(data.len(), 1000);
        assert_eq!(data.n_classes, 2);
        for class in 0..2 {
            let radii: Vec<f32> = data
                .points
                .iter()
                .zip(&data.labels)
                .filter(|(_, &y)| y == class)
                .map(|(&[x, y], _)| (x * x + y * y).sqrt())
                .collect();
            assert_eq!(radii.len(), 500);
            let mean = radii.iter().sum::<f32>() / radii.len() as f32;
            let expected = [INNER_RADIUS, OUTER_RADIUS][class];
            assert!(
                (mean - expected).abs() < 0.01,
                "class {class}: mean radius {mean}"
            );
        }
    }

    #[test]
    fn rings_cover_every_direction() {
        // A ring, not an arc: points in all four quadrants of each class.
        let data = rings(200, 0.05, 0);
        for class in 0..2 {
            let mut quadrants = [0usize; 4];
            for (&[x, y], &label) in data.points.iter().zip(&data.labels) {
                if label == class {
                    quadrants[usize::from(x < 0.0) * 2 + usize::from(y < 0.0)] += 1;
                }
            }
            assert!(quadrants.iter().all(|&q| q > 30), "{quadrants:?}");
        }
    }

    #[test]
    fn spiral_without_noise_follows_the_formula() {
        let data = spiral(5, 3, 0.0, 0);
        assert_eq!(data.len(), 15);
        assert_eq!(data.labels, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
        // Arm 1, last point: r = 1, θ = 4 + 4.
        let [x, y] = data.points[9];
        assert!((x - 8f32.sin()).abs() < 1e-6 && (y - 8f32.cos()).abs() < 1e-6);
        // Every arm starts at the origin.
        assert_eq!(data.points[5], [0.0, 0.0]);
        let (x0, x1, y0, y1) = data.bounds();
        assert!(x0 >= -1.0 && x1 <= 1.0 && y0 >= -1.0 && y1 <= 1.0);
    }

    #[test]
    fn same_seed_same_points_other_seed_other_points() {
        assert_eq!(spiral(50, 3, 0.2, 7), spiral(50, 3, 0.2, 7));
        assert_ne!(spiral(50, 3, 0.2, 7), spiral(50, 3, 0.2, 8));
        assert_eq!(rings(50, 0.1, 7), rings(50, 0.1, 7));
        assert_ne!(rings(50, 0.1, 7), rings(50, 0.1, 8));
    }
}
