//! Colour histograms in HSV (Smith, "Color gamut transform pairs", SIGGRAPH 1978).
//!
//! Per pixel, with `R, G, B` on `[0, 1]`, `V = max`, `delta = max - min`:
//! `S = delta / V` (0 when `delta = 0`) and hue
//! `H = ((G - B)/delta, 2 + (B - R)/delta or 4 + (R - G)/delta, for R, G or B the max) / 6 mod 1`
//! (0 for grays; on ties the later channel's formula wins, as in `skimage.color.rgb2hsv`).
//!
//! - [`Mode::Hue`] (default, 10 bins): CS231n's `color_histogram_hsv`: the fraction of pixels in
//!   each of `bins` equal bins of `255 H` over `[0, 255]`. Bit-exact with skimage's `rgb2hsv`
//!   and `np.histogram` (bin `i` is `[e_i, e_{i+1})` with `e = linspace(0, 255, bins + 1)`, the
//!   last bin closed). Note that, as in CS231n, gray pixels count as hue 0 (red).
//! - [`Mode::PerChannelHsv`]: the hue histogram, then `bins` equal bins of `S` and of `V` on
//!   `[0, 1]` (`3 bins` values).
//! - [`Mode::JointHsv`]: one histogram over `bins^3` (H, S, V) boxes, index `(h bins + s) bins + v`.
//!
//! Every histogram is of pixel fractions and sums to 1.

use serde::{Deserialize, Serialize};
use wb_data::{ImageShape, ImageView};

use crate::hog::named_enum;
use crate::{Extractor, FeatureError};

/// Which HSV histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Hue only (CS231n).
    Hue,
    /// Separate hue, saturation and value histograms, concatenated.
    #[serde(rename = "hsv")]
    PerChannelHsv,
    /// Joint (hue, saturation, value) histogram.
    #[serde(rename = "joint-hsv")]
    JointHsv,
}

named_enum!(Mode, "color.mode", {
    Hue => "hue",
    PerChannelHsv => "hsv" | "per-channel-hsv",
    JointHsv => "joint-hsv" | "joint",
});

/// Colour-histogram parameters. `Default`: CS231n's 10-bin hue histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub mode: Mode,
    /// Bins per channel (the joint histogram has `bins^3`).
    pub bins: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            mode: Mode::Hue,
            bins: 10,
        }
    }
}

/// The joint histogram is capped at this many boxes (a 32x32 image has 1,024 pixels).
pub const MAX_JOINT_DIM: usize = 32_768;

impl Params {
    /// Feature length (independent of the image size).
    pub fn dim(&self) -> usize {
        match self.mode {
            Mode::Hue => self.bins,
            Mode::PerChannelHsv => 3 * self.bins,
            Mode::JointHsv => self.bins.pow(3),
        }
    }

    /// Rejects parameters that cannot work for images of `shape`, naming the parameter.
    pub fn check(&self, shape: ImageShape) -> Result<(), FeatureError> {
        if shape.is_empty() {
            return Err(FeatureError::invalid(
                "image shape",
                "images have no pixels",
            ));
        }
        if shape.channels != 3 {
            return Err(FeatureError::invalid(
                "color",
                format!(
                    "colour histograms need RGB images, these have {} channel(s)",
                    shape.channels
                ),
            ));
        }
        if self.bins == 0 {
            return Err(FeatureError::invalid("color.bins", "must be at least 1"));
        }
        if self.bins > 1024 {
            return Err(FeatureError::invalid(
                "color.bins",
                format!("{} bins is more than 1024", self.bins),
            ));
        }
        if self.mode == Mode::JointHsv && self.bins.pow(3) > MAX_JOINT_DIM {
            return Err(FeatureError::invalid(
                "color.bins",
                format!(
                    "a joint histogram of {b}^3 = {} boxes exceeds {MAX_JOINT_DIM}",
                    self.bins.pow(3),
                    b = self.bins
                ),
            ));
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        format!("color({} histogram, {} bins)", self.mode, self.bins)
    }
}

/// (hue in `[0, 1)`, saturation, value) exactly as `skimage.color.rgb2hsv` computes them from
/// a u8 pixel (`img_as_float` multiplies by `1/255`). Written with selects rather than branches
/// so loops over pixels vectorise.
#[inline(always)]
pub fn rgb_to_hsv(rgb: [u8; 3]) -> (f64, f64, f64) {
    const K: f64 = 1.0 / 255.0;
    let (r, g, b) = (rgb[0] as f64 * K, rgb[1] as f64 * K, rgb[2] as f64 * K);
    let v = r.max(g).max(b);
    let delta = v - r.min(g).min(b);
    // skimage assigns red, then green, then blue: the last channel equal to the max wins.
    let (num, offset) = if b == v {
        (r - g, 4.0)
    } else if g == v {
        (b - r, 2.0)
    } else {
        (g - b, 0.0)
    };
    // h / 6 lies in (-1/6, 1), where numpy's `% 1.0` is the identity or `+ 1` (and skips fmod).
    let h6 = (offset + num / delta) / 6.0;
    let h = if h6 < 0.0 { h6 + 1.0 } else { h6 };
    if delta == 0.0 {
        (0.0, 0.0, v)
    } else {
        (h, delta / v, v)
    }
}

/// Equal-width bins over `[0, hi]` with numpy's edges `e_i = i * (hi / bins)` (`np.linspace`),
/// the last edge exactly `hi`, the last bin closed: bins as `np.histogram` counts them.
#[derive(Debug, Clone)]
struct Bins {
    edges: Vec<f64>,
}

impl Bins {
    fn new(bins: usize, hi: f64) -> Bins {
        let step = hi / bins as f64;
        let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step).collect();
        edges[bins] = hi;
        Bins { edges }
    }

    /// The bin of `x`, which must lie in `[0, hi]` (one multiplication, then at most one step
    /// to agree with the actual edges).
    #[inline(always)]
    fn index(&self, x: f64, scale: f64) -> usize {
        let n = self.edges.len() - 1;
        let i = ((x * scale) as usize).min(n - 1);
        if x < self.edges[i] {
            i.saturating_sub(1)
        } else if i + 1 < n && x >= self.edges[i + 1] {
            i + 1
        } else {
            i
        }
    }
}

/// The colour-histogram extractor, built from checked [`Params`].
#[derive(Debug, Clone)]
pub struct ColorHistogram {
    params: Params,
    hue: Bins,
    unit: Bins,
}

impl ColorHistogram {
    pub fn new(params: Params, shape: ImageShape) -> Result<ColorHistogram, FeatureError> {
        params.check(shape)?;
        Ok(ColorHistogram::prepared(params))
    }

    /// Prepares the bins without checking: only for parameters already accepted by
    /// [`Params::check`] (as [`crate::FeatureSpec::fit`] does).
    pub fn prepared(params: Params) -> ColorHistogram {
        let bins = params.bins.max(1);
        ColorHistogram {
            hue: Bins::new(bins, 255.0),
            unit: Bins::new(bins, 1.0),
            params,
        }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Counts per bin, then fractions into `out`. Runs a copy compiled for AVX2 + FMA when the
    /// CPU has them (same operations, wider loops).
    fn histogram(&self, image: ImageView<'_>, out: &mut [f32]) {
        COUNTS.with(|counts| {
            let mut counts = counts.borrow_mut();
            counts.clear();
            counts.resize(out.len(), 0);
            #[cfg(target_arch = "x86_64")]
            {
                if crate::hog::use_wide_kernels() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked by use_wide_kernels).
                    unsafe { self.count_avx2(image, &mut counts) };
                    return fractions(&counts, image, out);
                }
            }
            self.count(image, &mut counts);
            fractions(&counts, image, out)
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn count_avx2(&self, image: ImageView<'_>, counts: &mut [u32]) {
        self.count(image, counts)
    }

    /// HSV of a chunk of pixels at a time (branch-free, vectorisable), then the bins.
    #[inline(always)]
    fn count(&self, image: ImageView<'_>, counts: &mut [u32]) {
        const CHUNK: usize = 64;
        let ch = image.channels();
        let nb = self.params.bins;
        let hue_scale = nb as f64 / 255.0;
        let unit_scale = nb as f64;
        let mut hue = [0f64; CHUNK];
        let mut sat = [0f64; CHUNK];
        let mut val = [0f64; CHUNK];
        for chunk in image.pixels.chunks(CHUNK * ch) {
            let len = chunk.len() / ch;
            for (i, p) in chunk.chunks_exact(ch).enumerate() {
                let (h, s, v) = rgb_to_hsv([p[0], p[1], p[2]]);
                hue[i] = h * 255.0;
                sat[i] = s;
                val[i] = v;
            }
            for i in 0..len {
                // 255 * hue < 255, so every pixel has a hue bin.
                let hb = self.hue.index(hue[i], hue_scale);
                match self.params.mode {
                    Mode::Hue => counts[hb] += 1,
                    Mode::PerChannelHsv => {
                        counts[hb] += 1;
                        counts[nb + self.unit.index(sat[i], unit_scale)] += 1;
                        counts[2 * nb + self.unit.index(val[i], unit_scale)] += 1;
                    }
                    Mode::JointHsv => {
                        let sb = self.unit.index(sat[i], unit_scale);
                        let vb = self.unit.index(val[i], unit_scale);
                        counts[(hb * nb + sb) * nb + vb] += 1;
                    }
                }
            }
        }
    }
}

thread_local! {
    // Per-thread bin counts, reused across images.
    static COUNTS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Counts to fractions of the pixel count (counting in u32 keeps them exact until this one
/// division).
fn fractions(counts: &[u32], image: ImageView<'_>, out: &mut [f32]) {
    let pixels = (image.height() * image.width()).max(1) as f64;
    for (o, &c) in out.iter_mut().zip(counts) {
        *o = (c as f64 / pixels) as f32;
    }
}

impl Extractor for ColorHistogram {
    fn name(&self) -> &'static str {
        "color"
    }

    fn dim(&self, _shape: ImageShape) -> usize {
        self.params.dim()
    }

    fn extract(&self, image: ImageView<'_>, out: &mut [f32]) {
        self.histogram(image, out);
    }
}

/// HSV to RGB on `[0, 1]` (for drawing).
fn hsv_to_rgb(h: f64, s: f64, v: f64) -> [f32; 3] {
    let h6 = crate::hog::py_remainder(h, 1.0) * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match i as i32 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r as f32, g as f32, b as f32]
}

/// The colour of every bin's centre, in feature order, for drawing the histogram: hue bins in
/// full-saturation hue; saturation bins from white to red; value bins in gray levels; joint
/// boxes in their own HSV colour (value from 0.25 up, so dark boxes stay visible).
pub fn bin_colours(params: &Params) -> Vec<[u8; 3]> {
    let nb = params.bins.max(1);
    let centre = |i: usize| (i as f64 + 0.5) / nb as f64;
    (0..params.dim())
        .map(|i| match params.mode {
            Mode::Hue => hsv_to_rgb(centre(i), 1.0, 1.0),
            Mode::PerChannelHsv => match i / nb {
                0 => hsv_to_rgb(centre(i % nb), 1.0, 1.0),
                1 => hsv_to_rgb(0.0, centre(i % nb), 1.0),
                _ => {
                    let g = centre(i % nb) as f32;
                    [g, g, g]
                }
            },
            Mode::JointHsv => hsv_to_rgb(
                centre(i / (nb * nb)),
                centre((i / nb) % nb),
                0.25 + 0.75 * centre(i % nb),
            ),
        })
        .map(|c| c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))
        .collect()
}

/// The histogram's parts in feature order: a name and the range of bins it covers (one part,
/// except `hsv`'s three channels).
pub fn bin_groups(params: &Params) -> Vec<(&'static str, std::ops::Range<usize>)> {
    let nb = params.bins;
    match params.mode {
        Mode::Hue => vec![("hue", 0..nb)],
        Mode::PerChannelHsv => vec![
            ("hue", 0..nb),
            ("saturation", nb..2 * nb),
            ("value", 2 * nb..3 * nb),
        ],
        Mode::JointHsv => vec![("hue x saturation x value", 0..params.dim())],
    }
}
