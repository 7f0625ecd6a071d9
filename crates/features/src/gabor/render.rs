//! A picture of the bank for `pipeline show`.

use image::{Rgb, RgbImage};

use super::{kernel, radius_for, sigma_for, Params};
use crate::FeatureError;

/// Gap between cells and around the grid, pixels.
const GAP: u32 = 2;
const BACKGROUND: Rgb<u8> = Rgb([24, 24, 32]);
/// Largest cell side accepted (a 16-filter bank then renders at ~2k x 2k).
const MAX_CELL: usize = 512;

/// The bank's kernels as a grid, one row per frequency and one column per orientation:
/// the real part of each kernel, scaled to fill a `cell x cell` square (nearest-neighbour, so
/// kernel pixels stay visible) and grey-mapped with 0 as mid-grey and ±(largest |value| of
/// that kernel) as white / black.
pub fn render_bank(params: &Params, cell: usize) -> Result<RgbImage, FeatureError> {
    params.validate()?;
    if cell == 0 || cell > MAX_CELL {
        return Err(FeatureError::invalid(
            "cell",
            format!("{cell} pixels per kernel is not in 1..={MAX_CELL}"),
        ));
    }
    let rows = params.frequencies.len() as u32;
    let cols = params.orientations as u32;
    let side = cell as u32;
    let mut img = RgbImage::from_pixel(
        GAP + cols * (side + GAP),
        GAP + rows * (side + GAP),
        BACKGROUND,
    );
    for (i, (frequency, theta)) in params.filters().into_iter().enumerate() {
        let k = kernel(frequency, theta, params.bandwidth, params.n_stds);
        debug_assert_eq!(
            k.radius,
            radius_for(sigma_for(frequency, params.bandwidth), theta, params.n_stds)
        );
        let size = k.size();
        let peak = k.real.iter().fold(0f64, |m, v| m.max(v.abs()));
        let scale = if peak > 0.0 { 1.0 / peak } else { 0.0 };
        let (r, c) = (
            (i / params.orientations) as u32,
            (i % params.orientations) as u32,
        );
        let (ox, oy) = (GAP + c * (side + GAP), GAP + r * (side + GAP));
        for py in 0..cell {
            let ky = py * size / cell;
            for px in 0..cell {
                let kx = px * size / cell;
                let t = (k.real[ky * size + kx] * scale).clamp(-1.0, 1.0);
                let v = (127.5 + 127.5 * t).round() as u8;
                img.put_pixel(ox + px as u32, oy + py as u32, Rgb([v, v, v]));
            }
        }
    }
    Ok(img)
}
