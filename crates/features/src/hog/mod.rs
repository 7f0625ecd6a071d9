//! Histogram of Oriented Gradients (Dalal & Triggs, "Histograms of Oriented Gradients for Human
//! Detection", CVPR 2005), in the variants that matter for small-image classification.
//!
//! Pipeline for an `H x W` image with cells of `c x c` pixels and `n` orientation bins:
//!
//! 1. **Intensity**: grayscale `Y = wR*R + wG*G + wB*B` on `[0, 1]` ([`Luma`]), or per pixel the
//!    colour channel of largest gradient magnitude ([`ChannelMode::MaxGradient`], as Dalal & Triggs
//!    and `skimage.feature.hog(..., channel_axis=-1)` do).
//! 2. **Gradient**: `gx = I[y, x+1] - I[y, x-1]`, `gy = I[y+1, x] - I[y-1, x]` (the `[-1, 0, 1]`
//!    mask, zero on the image border, [`Gradient::Central`]) or CS231n's forward differences
//!    ([`Gradient::Forward`]). Magnitude `m = sqrt(gx^2 + gy^2)`, unsigned orientation
//!    `theta = atan2(gy, gx) mod 180 deg`.
//! 3. **Cell histograms** over the `floor(H/c) x floor(W/c)` grid (pixels past the last full
//!    cell are dropped, as in skimage): [`Binning::Hard`] adds `m` to the bin
//!    `floor(theta / (180/n))` of the pixel's cell; [`Binning::Interpolated`] splits `m` linearly
//!    between the two nearest bin centres and bilinearly between the four nearest cell centres
//!    (Dalal & Triggs' trilinear voting, as OpenCV's `HOGDescriptor`); [`Binning::Cs231n`]
//!    reproduces CS231n's `hog_feature`. Every cell value is divided by the cell area `c^2`
//!    (a cell *mean*, as skimage and CS231n's `uniform_filter` do).
//! 4. **Block normalisation** over every `b x b` block of cells (stride one cell), `v` the block's
//!    `b*b*n` values, `eps = 1e-5` ([`BlockNorm`]): L1 `v / (|v|_1 + eps)`, L1-sqrt
//!    `sqrt(v / (|v|_1 + eps))`, L2 `v / sqrt(|v|_2^2 + eps^2)`, L2-Hys = L2, clip at 0.2, L2 again;
//!    OpenCV's L2-Hys `v / (|v|_2 + 0.1 len)`, clip at 0.2, `v / (|v|_2 + 1e-3)` (its `0.1 len` on
//!    its 0-255 vote sums, so `0.1 len / (255 c^2)` on the cell means here).
//!    Without normalisation the cell histograms are the features.
//!    With [`BlockWindow::OpenCvGaussian`] each block instead votes its own cells from its own
//!    pixels, weighted by a Gaussian centred on the block, as OpenCV's `HOGDescriptor` does
//!    (see [`window`]).
//!
//! Output order is skimage's: blocks row-major, cells in a block row-major, then bins. So
//! `dim = (Cy-b+1)(Cx-b+1) b^2 n`, or `Cy Cx n` without block normalisation
//! (a 320x240 image with 8x8 cells: 40 x 30 x 9 = 10,800).
//!
//! **scikit-image parity.** With `gradient: Central, binning: Hard, luma: Rec709` the output
//! equals `skimage.feature.hog` (0.26) on `rgb2gray(image)` (or on `image/255` with
//! `channel_axis=-1` for [`ChannelMode::MaxGradient`]) to float rounding: the gradient is computed
//! in `f64` from skimage's exact grayscale, bins are decided exactly as skimage's
//! `np.rad2deg(np.arctan2(gy, gx)) % 180` against edges `i*180/n` (a cheap sign test against the
//! bin boundaries, with the exact formula only for the rare pixels within 1e-9 of an edge), the
//! cell sums are accumulated in `f32` as skimage's Cython loop does, and the block formulas and
//! `eps` are skimage's.
//!
//! **OpenCV parity.** The `dalal-triggs` (alias `opencv`) preset equals OpenCV 4's
//! `HOGDescriptor((w, h), (16, 16), (8, 8), (8, 8), 9).compute(image)` on 1-channel or RGB u8
//! images to within 2e-7 (`tests/fixtures/hog_opencv.json`, 4 images; 1e-6 asserted), up to
//! the order of the values (OpenCV lists blocks and cells column by column).
//!
//! **Speed.** The gradient, orientation and vote-weight loops are compiled for the best
//! instruction set the CPU has ([`SimdLevel::active`], overridable with `WB_SIMD`); with
//! AVX-512 the votes are added as masked 16-lane vectors, one register per cell (`votes.rs`).
//! Every level gives bit-identical features.

mod kernels;
pub mod window;

use std::cell::RefCell;
use std::f64::consts::PI;

use serde::{Deserialize, Serialize};
use wb_data::{ImageShape, ImageView};

use crate::simd::SimdLevel;
use crate::{Extractor, FeatureError};
use kernels::{Kernels, RowVotes, Scalar};

/// Parses `s` as one of `choices` (case-insensitive), else an error naming `param` and the
/// valid values.
pub(crate) fn parse_choice<T: Copy>(
    param: &str,
    s: &str,
    choices: &[(&str, T)],
) -> Result<T, FeatureError> {
    let t = s.trim();
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(t))
        .map(|&(_, v)| v)
        .ok_or_else(|| {
            let mut valid: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            valid.dedup();
            FeatureError::invalid(
                param,
                format!("unknown value `{t}` (valid: {})", valid.join(", ")),
            )
        })
}

macro_rules! named_enum {
    ($ty:ident, $param:literal, { $($variant:ident => $name:literal $(| $alias:literal)*),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name used on the command line and in JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::FeatureError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::hog::parse_choice($param, s, &[$(($name, $ty::$variant) $(, ($alias, $ty::$variant))*),+])
            }
        }
    };
}
pub(crate) use named_enum;

/// Block normalisation (Dalal & Triggs section 6.4; formulas and `eps = 1e-5` as skimage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockNorm {
    /// No blocks: the cell histograms are the features.
    None,
    /// `v / (|v|_1 + eps)`
    L1,
    /// `sqrt(v / (|v|_1 + eps))`
    L1Sqrt,
    /// `v / sqrt(|v|_2^2 + eps^2)`
    L2,
    /// L2, then clip at 0.2, then L2 again (Lowe's SIFT normalisation).
    L2Hys,
    /// OpenCV's L2-Hys: `v / (|v|_2 + 0.1 len)`, clip at 0.2, `v / (|v|_2 + 1e-3)`, with
    /// OpenCV's `0.1 len` (len = `b*b*n`) on its sums of 0-255 gradients, that is
    /// `0.1 len / (255 c^2)` on this module's cell means of `[0, 1]` gradients.
    #[serde(rename = "l2-hys-opencv")]
    L2HysOpenCv,
}

named_enum!(BlockNorm, "hog.block_norm", {
    None => "none",
    L1 => "l1",
    L1Sqrt => "l1-sqrt",
    L2 => "l2",
    L2Hys => "l2-hys",
    L2HysOpenCv => "l2-hys-opencv",
});

/// How the pixels of a block vote (Dalal & Triggs section 6.4, "Gaussian spatial window").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockWindow {
    /// No window: one cell-histogram grid, each cell shared by every block that contains it.
    #[default]
    None,
    /// OpenCV's `HOGDescriptor`: every block builds its own cell histograms from its own
    /// `B x B` pixels (`B = b c`), each pixel's vote weighted by
    /// `exp(-((i - B/2)^2 + (j - B/2)^2) / (2 sigma^2))` at block pixel `(i, j)`, with OpenCV's
    /// default `sigma = (B + B) / 8` (its `winSigma`; Dalal & Triggs used `B / 2`). Votes are
    /// trilinear within the block, orientations come from OpenCV's `fastAtan2` polynomial (error
    /// up to 0.01 degrees), so that the output equals OpenCV's. Needs interpolated binning and
    /// block normalisation.
    #[serde(rename = "opencv-gaussian")]
    OpenCvGaussian,
}

named_enum!(BlockWindow, "hog.block_window", {
    None => "none",
    OpenCvGaussian => "opencv-gaussian" | "gaussian",
});

/// Which intensity the gradient is taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelMode {
    /// Grayscale with the [`Luma`] weights.
    Gray,
    /// Per pixel, the colour channel (on `[0, 1]`) of largest gradient magnitude, first channel on
    /// ties (Dalal & Triggs; skimage with `channel_axis=-1`).
    #[serde(rename = "max")]
    MaxGradient,
}

named_enum!(ChannelMode, "hog.channel_mode", {
    Gray => "gray" | "grey",
    MaxGradient => "max" | "max-gradient",
});

/// How a pixel's gradient votes into the cell histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Binning {
    /// All of `m` to bin `floor(theta / (180/n))` of the pixel's own cell (skimage).
    Hard,
    /// `m` split linearly between the two nearest bin centres `(i + 1/2) 180/n` (circularly) and
    /// bilinearly between the four nearest cell centres; votes that would land outside the grid
    /// are dropped (Dalal & Triggs' trilinear interpolation, OpenCV).
    Interpolated,
    /// CS231n's `hog_feature`: orientation `atan2(gy, gx) + 90 deg`, binned over `[0, 180)`, so
    /// bins are centred on multiples of `180/n` and pixels whose gradient points left
    /// (`gx < 0`) are dropped. Reproduced because it is the variant CS231n's numbers come from.
    Cs231n,
}

named_enum!(Binning, "hog.binning", {
    Hard => "hard",
    Interpolated => "interpolated" | "interp",
    Cs231n => "cs231n",
});

/// The derivative mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gradient {
    /// `[-1, 0, 1]`, zero on the first and last row/column (skimage; best in Dalal & Triggs).
    Central,
    /// `np.diff`: `I[x+1] - I[x]`, zero on the last row/column (CS231n).
    Forward,
}

named_enum!(Gradient, "hog.gradient", {
    Central => "central",
    Forward => "forward",
});

/// Grayscale weights for [`ChannelMode::Gray`] (RGB images; one-channel images are used as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Luma {
    /// `0.2125 R + 0.7154 G + 0.0721 B` on `[0, 1]` (Rec. 709; `skimage.color.rgb2gray`,
    /// bit for bit).
    Rec709,
    /// `0.299 R + 0.587 G + 0.144 B` on `[0, 1]`: CS231n's `rgb2gray` (its blue weight is 0.144,
    /// not Rec. 601's 0.114).
    Cs231n,
}

named_enum!(Luma, "hog.luma", {
    Rec709 => "rec709" | "skimage",
    Cs231n => "cs231n",
});

/// Named parameter sets, for comparing the published variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The workbench default ([`Params::default`]).
    Default,
    /// `skimage.feature.hog` defaults: 9 bins, 8x8 cells, 3x3 blocks, L2-Hys, hard binning.
    Skimage,
    /// CS231n's `hog_feature`: 9 bins, 8x8 cells, no blocks, forward differences, its binning
    /// and grayscale.
    Cs231n,
    /// OpenCV's `HOGDescriptor` with its defaults (Dalal & Triggs' R-HOG as OpenCV implements
    /// it): 9 bins, 8x8 cells, 2x2 blocks, trilinear votes within each block under OpenCV's
    /// Gaussian window, OpenCV's L2-Hys, gradient of the dominant colour channel. Equal to
    /// OpenCV's output to 2e-7 (see the module docs).
    DalalTriggs,
}

named_enum!(Preset, "hog.preset", {
    Default => "default",
    Skimage => "skimage",
    Cs231n => "cs231n",
    DalalTriggs => "dalal-triggs" | "opencv",
});

/// HOG parameters. `Default`: 9 bins over 0-180 deg, 8x8 cells, 2x2 blocks with L2-Hys,
/// grayscale, central differences, interpolated votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Cell side in pixels.
    pub cell_size: usize,
    /// Orientation bins over 0-180 deg (unsigned gradients).
    pub orientations: usize,
    /// Block side in cells (ignored when `block_norm` is `none`).
    pub block_size: usize,
    pub block_norm: BlockNorm,
    pub channel_mode: ChannelMode,
    pub binning: Binning,
    pub gradient: Gradient,
    pub luma: Luma,
    /// Per-block Gaussian voting as OpenCV (default: none).
    pub block_window: BlockWindow,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            cell_size: 8,
            orientations: 9,
            block_size: 2,
            block_norm: BlockNorm::L2Hys,
            channel_mode: ChannelMode::Gray,
            binning: Binning::Interpolated,
            gradient: Gradient::Central,
            luma: Luma::Rec709,
            block_window: BlockWindow::None,
        }
    }
}

impl Params {
    /// The parameters of a named variant.
    pub fn preset(preset: Preset) -> Params {
        let base = Params::default();
        match preset {
            Preset::Default => base,
            Preset::Skimage => Params {
                block_size: 3,
                block_norm: BlockNorm::L2Hys,
                binning: Binning::Hard,
                ..base
            },
            Preset::Cs231n => Params {
                block_norm: BlockNorm::None,
                binning: Binning::Cs231n,
                gradient: Gradient::Forward,
                luma: Luma::Cs231n,
                ..base
            },
            Preset::DalalTriggs => Params {
                block_size: 2,
                block_norm: BlockNorm::L2HysOpenCv,
                binning: Binning::Interpolated,
                channel_mode: ChannelMode::MaxGradient,
                block_window: BlockWindow::OpenCvGaussian,
                ..base
            },
        }
    }

    /// Cells along (rows, columns) for images of `shape`.
    pub fn cell_grid(&self, shape: ImageShape) -> (usize, usize) {
        let c = self.cell_size.max(1);
        (shape.height / c, shape.width / c)
    }

    /// Feature length for images of `shape` (0 if the parameters do not fit it; see [`check`]).
    ///
    /// [`check`]: Params::check
    pub fn dim(&self, shape: ImageShape) -> usize {
        let (cy, cx) = self.cell_grid(shape);
        let n = self.orientations;
        if self.block_norm == BlockNorm::None {
            return cy * cx * n;
        }
        let b = self.block_size;
        if b == 0 || b > cy || b > cx {
            return 0;
        }
        (cy - b + 1) * (cx - b + 1) * b * b * n
    }

    /// Rejects parameters that cannot work for images of `shape`, naming the parameter.
    pub fn check(&self, shape: ImageShape) -> Result<(), FeatureError> {
        if shape.is_empty() {
            return Err(FeatureError::invalid(
                "image shape",
                "images have no pixels",
            ));
        }
        if self.cell_size == 0 {
            return Err(FeatureError::invalid(
                "hog.cell_size",
                "must be at least 1 pixel",
            ));
        }
        if self.cell_size > shape.height || self.cell_size > shape.width {
            return Err(FeatureError::invalid(
                "hog.cell_size",
                format!(
                    "a {c}x{c} cell is larger than the {}x{} image",
                    shape.height,
                    shape.width,
                    c = self.cell_size
                ),
            ));
        }
        if self.orientations == 0 {
            return Err(FeatureError::invalid(
                "hog.orientations",
                "must be at least 1 bin",
            ));
        }
        if self.orientations > 180 {
            return Err(FeatureError::invalid(
                "hog.orientations",
                format!(
                    "{} bins is more than one per degree (at most 180)",
                    self.orientations
                ),
            ));
        }
        if self.block_window != BlockWindow::None {
            if self.block_norm == BlockNorm::None {
                return Err(FeatureError::invalid(
                    "hog.block_window",
                    "a block window needs blocks (block_norm none has none)",
                ));
            }
            if self.binning != Binning::Interpolated {
                return Err(FeatureError::invalid(
                    "hog.block_window",
                    format!(
                        "the {} window votes trilinearly as OpenCV does: use binning \
                         interpolated, not {}",
                        self.block_window, self.binning
                    ),
                ));
            }
        }
        if self.block_norm != BlockNorm::None {
            let (cy, cx) = self.cell_grid(shape);
            if self.block_size == 0 {
                return Err(FeatureError::invalid(
                    "hog.block_size",
                    "must be at least 1 cell (or use block_norm none)",
                ));
            }
            if self.block_size > cy || self.block_size > cx {
                return Err(FeatureError::invalid(
                    "hog.block_size",
                    format!(
                        "a {b}x{b}-cell block does not fit the {cy}x{cx} cell grid of a {}x{} \
                         image with {c}x{c} cells",
                        shape.height,
                        shape.width,
                        b = self.block_size,
                        c = self.cell_size
                    ),
                ));
            }
        }
        Ok(())
    }

    /// One-line description, e.g. `hog(cell 8, 9 bins, block 2 l2-hys, gray, central, interpolated)`.
    pub fn describe(&self) -> String {
        let block = if self.block_norm == BlockNorm::None {
            "no blocks".to_string()
        } else if self.block_window == BlockWindow::None {
            format!("block {} {}", self.block_size, self.block_norm)
        } else {
            format!(
                "block {} {} {} window",
                self.block_size, self.block_norm, self.block_window
            )
        };
        let channel = match self.channel_mode {
            ChannelMode::Gray => format!("gray {}", self.luma),
            ChannelMode::MaxGradient => "max-gradient channel".to_string(),
        };
        format!(
            "hog(cell {}, {} bins, {block}, {channel}, {} gradient, {} binning)",
            self.cell_size, self.orientations, self.gradient, self.binning
        )
    }
}

/// Cell histograms before block normalisation: `values[(row * cols + col) * orientations + bin]`,
/// each the mean vote per pixel of the cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellGrid {
    pub rows: usize,
    pub cols: usize,
    pub orientations: usize,
    pub values: Vec<f32>,
}

impl CellGrid {
    /// The `orientations` values of cell (`row`, `col`).
    pub fn cell(&self, row: usize, col: usize) -> &[f32] {
        let n = self.orientations;
        let start = (row * self.cols + col) * n;
        &self.values[start..start + n]
    }
}

const EPS: f64 = 1e-5;
/// Half-width (radians) of the band around each bin edge where the fast `f32` orientation is
/// not trusted and skimage's exact formula decides. The fast angle is off by at most ~1.1e-5 rad
/// (the polynomial's 1e-5 plus `f32` rounding), so outside the band both agree.
const EDGE_BAND: f32 = 5e-5;

/// The HOG extractor, built from checked [`Params`].
#[derive(Debug, Clone)]
pub struct Hog {
    params: Params,
    /// Grayscale weights (R, G, B).
    weights: [f64; 3],
    /// `v / 255`, the channel value on `[0, 1]` (the fixtures' `image / 255`).
    unit_lut: [f64; 256],
    /// skimage's bin for the directions whose `atan2` is exact and can sit right on an edge,
    /// where it does not depend on the magnitude: `gy = 0` (gx > 0, gx < 0), `gx = 0`
    /// (gy > 0, gy < 0), `|gx| = |gy|` (quadrants ++, -+, --, +-).
    tie_bins: [Option<usize>; 8],
    /// The instruction set the kernels run with.
    simd: SimdLevel,
    /// OpenCV's per-block pixel weights (for [`BlockWindow::OpenCvGaussian`]).
    window: Option<window::Window>,
}

#[derive(Default)]
struct Scratch {
    /// Intensity plane.
    plane: Vec<f64>,
    /// Exact gradients of the whole image.
    gx: Vec<f64>,
    gy: Vec<f64>,
    /// One row's pixels whose channels tie (max-gradient mode).
    ties: Vec<u8>,
    /// One row: orientation in bin units (`theta * n / pi`, in `[0, n]`) and magnitude.
    pos: Vec<f32>,
    mag: Vec<f32>,
    /// One row's bins and vote weights.
    votes: RowVotes,
    hist: Vec<f32>,
    /// Vote accumulators: two copies (even and odd pixels) so consecutive votes into the same
    /// bin do not wait on each other.
    acc: Vec<f32>,
    cells: Vec<f32>,
    blocks: Blocks,
    /// Trilinear votes: each pixel column's left cell column (padded grid) and its weight
    /// towards the next one; each pixel row's (cell row, weight).
    col_index: Vec<u32>,
    col_weight: Vec<f32>,
    row_cell: Vec<(usize, f32)>,
    /// (height, width, cell size) the three tables above were made for.
    cell_tables_for: (usize, usize, usize),
    /// The OpenCV window path's per-pixel bins and weights.
    window: window::Scratch,
}

thread_local! {
    // Reused across images so the hot path never allocates once warmed up.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}
/// `v` zeroed, `len` long.
fn resize<T: Copy + Default>(v: &mut Vec<T>, len: usize) {
    if v.len() == len {
        v.fill(T::default());
    } else {
        v.clear();
        v.resize(len, T::default());
    }
}

/// `v` exactly `len` long, contents unspecified (for buffers that are fully overwritten).
fn set_len<T: Copy + Default>(v: &mut Vec<T>, len: usize) {
    if v.len() != len {
        resize(v, len);
    }
}

/// numpy's `%` on floats (`npy_divmod`): the result takes the sign of the divisor.
/// Shared with the hue histogram, which reproduces skimage's `rgb2hsv`.
pub(crate) fn py_remainder(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m + b
        } else {
            m
        }
    } else {
        0.0f64.copysign(b)
    }
}

/// skimage's bin for a gradient, bit-exact: `np.rad2deg(np.arctan2(gy, gx)) % 180` tested against
/// `[i*180/n, (i+1)*180/n)`. `None` when it falls in no bin (an angle a hair below 0 rounds to 180
/// after `% 180`; skimage then drops the pixel).
fn skimage_bin(gx: f64, gy: f64, n: usize) -> Option<usize> {
    let deg = py_remainder(gy.atan2(gx) * (180.0 / PI), 180.0);
    let per = 180.0 / n as f64;
    (0..n).find(|&i| deg < per * (i + 1) as f64 && deg >= per * i as f64)
}

static WIDE_KERNELS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether the colour histogram's AVX2 + FMA copy may be used (default: yes, when the CPU has
/// it). For the test that checks both copies give identical features; HOG's own levels are
/// chosen per extractor with [`Hog::with_simd`].
#[doc(hidden)]
pub fn set_wide_kernels(enabled: bool) {
    WIDE_KERNELS.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// True when the colour histogram's AVX2 + FMA copy should run.
#[inline]
pub(crate) fn use_wide_kernels() -> bool {
    WIDE_KERNELS.load(std::sync::atomic::Ordering::Relaxed)
        && SimdLevel::active() >= SimdLevel::Avx2
}

/// Where an image's gradients come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    Image(ImageView<'a>),
    /// A given intensity plane, `height x width`.
    Plane(&'a [f64], usize, usize),
}

impl Source<'_> {
    fn size(&self) -> (usize, usize) {
        match self {
            Source::Image(im) => (im.height(), im.width()),
            Source::Plane(_, h, w) => (*h, *w),
        }
    }
}

impl Hog {
    /// Checks `params` against `shape` and prepares the tables.
    pub fn new(params: Params, shape: ImageShape) -> Result<Hog, FeatureError> {
        params.check(shape)?;
        Ok(Hog::prepared(params))
    }

    /// Prepares the tables without checking: only for parameters already accepted by
    /// [`Params::check`] for the shape of the images it will see (as [`crate::FeatureSpec::fit`]
    /// does).
    pub fn prepared(params: Params) -> Hog {
        let n = params.orientations.max(1);
        let weights = match params.luma {
            Luma::Rec709 => [0.2125, 0.7154, 0.0721],
            Luma::Cs231n => [0.299, 0.587, 0.144],
        };
        let mut unit_lut = [0.0; 256];
        for (v, u) in unit_lut.iter_mut().enumerate() {
            *u = v as f64 / 255.0;
        }
        let tie = |gx: f64, gy: f64| skimage_bin(gx, gy, n);
        let tie_bins = [
            tie(1.0, 0.0),
            tie(-1.0, 0.0),
            tie(0.0, 1.0),
            tie(0.0, -1.0),
            tie(1.0, 1.0),
            tie(-1.0, 1.0),
            tie(-1.0, -1.0),
            tie(1.0, -1.0),
        ];
        let window = (params.block_window == BlockWindow::OpenCvGaussian
            && params.block_norm != BlockNorm::None)
            .then(|| window::Window::new(params.cell_size.max(1), params.block_size.max(1)));
        Hog {
            params,
            weights,
            unit_lut,
            tie_bins,
            simd: SimdLevel::active(),
            window,
        }
    }

    /// The same extractor running its kernels at `level` instead of the process's
    /// [`SimdLevel::active`] (for tests and benchmarks that compare the levels; they give
    /// identical features). Fails if the CPU lacks the level.
    #[doc(hidden)]
    pub fn with_simd(mut self, level: SimdLevel) -> Result<Hog, FeatureError> {
        if !level.supported() {
            return Err(FeatureError::invalid(
                "simd level",
                format!(
                    "{level} is not supported by this CPU (best: {})",
                    SimdLevel::detected()
                ),
            ));
        }
        self.simd = level;
        Ok(self)
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The instruction set the kernels run with.
    pub fn simd(&self) -> SimdLevel {
        self.simd
    }

    /// The cell histograms of `image` (before block normalisation; without the per-block
    /// window of [`BlockWindow::OpenCvGaussian`], whose cells belong to each block).
    pub fn cell_histograms(&self, image: ImageView<'_>) -> Result<CellGrid, FeatureError> {
        self.params.check(image.shape)?;
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let (rows, cols) = self.run(Source::Image(image), &mut s, None);
            Ok(CellGrid {
                rows,
                cols,
                orientations: self.params.orientations,
                values: s.cells.clone(),
            })
        })
    }

    /// HOG of a grayscale image given as `f64` values (row-major `height x width`), e.g. to
    /// compare with skimage on its own `rgb2gray` output. `out.len()` must be the `dim`.
    pub fn extract_gray_f64(
        &self,
        gray: &[f64],
        height: usize,
        width: usize,
        out: &mut [f32],
    ) -> Result<(), FeatureError> {
        let shape = ImageShape::new(height, width, 1);
        self.params.check(shape)?;
        if gray.len() != height * width {
            return Err(FeatureError::invalid(
                "gray",
                format!("{} values for a {height}x{width} image", gray.len()),
            ));
        }
        let dim = self.params.dim(shape);
        if out.len() != dim {
            return Err(FeatureError::invalid(
                "out",
                format!("length {} but the feature length is {dim}", out.len()),
            ));
        }
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            self.run(Source::Plane(gray, height, width), &mut s, Some(out));
        });
        Ok(())
    }

    /// Gradients and cell histograms into `s.cells`, then, with `out`, the features; returns
    /// the cell grid size. Runs the body compiled for the extractor's instruction set (same
    /// results at every level).
    fn run(&self, src: Source<'_>, s: &mut Scratch, out: Option<&mut [f32]>) -> (usize, usize) {
        #[cfg(target_arch = "x86_64")]
        match self.simd {
            SimdLevel::Avx512 => {
                if let Some(v) = kernels::Avx512::new() {
                    // SAFETY: `Avx512::new` checked the CPU for AVX-512 (and AVX2 + FMA).
                    return unsafe { self.run_avx512(v, src, s, out) };
                }
            }
            // SAFETY: `with_simd` and `SimdLevel::active` only choose supported levels.
            SimdLevel::Avx2 => return unsafe { self.run_avx2(src, s, out) },
            SimdLevel::Portable => {}
        }
        self.run_body(Scalar, src, s, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")]
    unsafe fn run_avx512(
        &self,
        v: kernels::Avx512,
        src: Source<'_>,
        s: &mut Scratch,
        out: Option<&mut [f32]>,
    ) -> (usize, usize) {
        self.run_body(v, src, s, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(
        &self,
        src: Source<'_>,
        s: &mut Scratch,
        out: Option<&mut [f32]>,
    ) -> (usize, usize) {
        self.run_body(Scalar, src, s, out)
    }

    #[inline(always)]
    fn run_body<V: Kernels>(
        &self,
        v: V,
        src: Source<'_>,
        s: &mut Scratch,
        out: Option<&mut [f32]>,
    ) -> (usize, usize) {
        let (h, w) = src.size();
        self.gradients(v, src, s);
        let c = self.params.cell_size;
        let (rows, cols) = (h / c, w / c);
        let out = match (&self.window, out) {
            (Some(win), Some(out)) => {
                win.features(v, &self.params, &s.gx, &s.gy, h, w, &mut s.window, out);
                return (rows, cols);
            }
            (_, out) => out,
        };
        match self.params.binning {
            Binning::Hard | Binning::Cs231n => self.hard_votes(v, s, w, rows, cols),
            Binning::Interpolated => self.interpolated_votes(v, s, h, w, rows, cols),
        }
        if let Some(out) = out {
            self.normalize_blocks(s, rows, cols, out);
        }
        (rows, cols)
    }

    /// `s.gx`, `s.gy`: the gradient of the intensity plane, or of the dominant channel.
    #[inline(always)]
    fn gradients<V: Kernels>(&self, v: V, src: Source<'_>, s: &mut Scratch) {
        let (h, w) = src.size();
        set_len(&mut s.gx, h * w);
        set_len(&mut s.gy, h * w);
        let gradient = self.params.gradient;
        match src {
            Source::Image(im)
                if im.channels() >= 3 && self.params.channel_mode == ChannelMode::MaxGradient =>
            {
                self.max_channel_gradients(im, &mut s.gx, &mut s.gy, &mut s.ties)
            }
            Source::Image(im) => {
                self.gray_plane(v, im, &mut s.plane);
                gradients_of_plane(&s.plane, h, w, gradient, &mut s.gx, &mut s.gy);
            }
            Source::Plane(p, _, _) => gradients_of_plane(p, h, w, gradient, &mut s.gx, &mut s.gy),
        }
    }

    /// Grayscale `fma(B, wB, fma(R, wR, G * wG))` per pixel on `v * (1/255)`: skimage's
    /// `rgb2gray` is `rgb @ weights`, which numpy hands to BLAS, whose kernel evaluates exactly
    /// this fused sequence (found by matching the fixtures' `gray_input` bit for bit; plain
    /// left-to-right sums differ in 1 of 7 pixels by an ulp, enough to move pixels across bin
    /// edges). One-channel images: `v / 255`.
    #[inline(always)]
    fn gray_plane<V: Kernels>(&self, v: V, image: ImageView<'_>, plane: &mut Vec<f64>) {
        let ch = image.channels();
        set_len(plane, image.height() * image.width());
        if ch >= 3 {
            v.gray(image.pixels, ch, self.weights, plane);
        } else {
            for (g, p) in plane.iter_mut().zip(image.pixels.chunks_exact(ch)) {
                *g = self.unit_lut[p[0] as usize];
            }
        }
    }

    /// Per pixel, the gradient of the channel (on `[0, 1]`, `v / 255`) with the largest
    /// magnitude, first on ties, as skimage's `argmax` over `np.hypot`. The u8 differences order
    /// the magnitudes exactly whenever their integer squared norms differ (those differ by at
    /// least 1 in 130,050, far above float error); only integer ties need the float `hypot`.
    ///
    /// Inner pixels take a branch-free path that decides by the integer norms and marks the
    /// ties; image borders and the marked pixels take [`Hog::max_channel_pixel`].
    #[inline(always)]
    fn max_channel_gradients(
        &self,
        image: ImageView<'_>,
        gx: &mut [f64],
        gy: &mut [f64],
        ties: &mut Vec<u8>,
    ) {
        let (h, w, ch) = (image.height(), image.width(), image.channels());
        let px = image.pixels;
        let lut = &self.unit_lut;
        let central = self.params.gradient == Gradient::Central;
        // Columns whose neighbours are x + 1 and x - back.
        let (back, inner) = if central {
            (1, 1..w.saturating_sub(1))
        } else {
            (0, 0..w.saturating_sub(1))
        };
        set_len(ties, w);
        for y in 0..h {
            let (ya, yb) = self.neighbours(y, h);
            let (row, ra, rb) = (
                &px[y * w * ch..(y + 1) * w * ch],
                &px[ya * w * ch..(ya + 1) * w * ch],
                &px[yb * w * ch..(yb + 1) * w * ch],
            );
            let (gxr, gyr) = (&mut gx[y * w..(y + 1) * w], &mut gy[y * w..(y + 1) * w]);
            for x in inner.clone() {
                let (a, b, j) = ((x + 1) * ch, (x - back) * ch, x * ch);
                let d = |c: usize| {
                    let dx = row[a + c] as i32 - row[b + c] as i32;
                    let dy = ra[j + c] as i32 - rb[j + c] as i32;
                    dx * dx + dy * dy
                };
                let (m0, m1, m2) = (d(0), d(1), d(2));
                let m01 = m0.max(m1);
                let best = if m2 > m01 { 2 } else { (m1 > m0) as usize };
                ties[x] = (((m1 == m0) & (m1 > 0)) | ((m2 == m01) & (m2 > 0))) as u8;
                gxr[x] = lut[row[a + best] as usize] - lut[row[b + best] as usize];
                gyr[x] = lut[ra[j + best] as usize] - lut[rb[j + best] as usize];
            }
            for x in 0..w {
                if !inner.contains(&x) || ties[x] != 0 {
                    (gxr[x], gyr[x]) = self.max_channel_pixel(image, y, x);
                }
            }
        }
    }

    /// Neighbours (a, b) of `i` for the difference `v[a] - v[b]` along an axis of `n` pixels;
    /// `(i, i)` where the mask leaves the image, which gives exactly 0.
    #[inline(always)]
    fn neighbours(&self, i: usize, n: usize) -> (usize, usize) {
        if self.params.gradient == Gradient::Central {
            if i > 0 && i + 1 < n {
                (i + 1, i - 1)
            } else {
                (i, i)
            }
        } else if i + 1 < n {
            (i + 1, i)
        } else {
            (i, i)
        }
    }

    /// The dominant channel's gradient at pixel (`y`, `x`), ties decided by the float `hypot`.
    fn max_channel_pixel(&self, image: ImageView<'_>, y: usize, x: usize) -> (f64, f64) {
        let (h, w, ch) = (image.height(), image.width(), image.channels());
        let px = image.pixels;
        let lut = &self.unit_lut;
        let (ya, yb) = self.neighbours(y, h);
        let (xa, xb) = self.neighbours(x, w);
        let (ia, ib) = ((y * w + xa) * ch, (y * w + xb) * ch);
        let (ja, jb) = ((ya * w + x) * ch, (yb * w + x) * ch);
        let fgrad = |c: usize| {
            (
                lut[px[ia + c] as usize] - lut[px[ib + c] as usize],
                lut[px[ja + c] as usize] - lut[px[jb + c] as usize],
            )
        };
        let mut best = 0;
        let mut best_m2 = -1i32;
        for c in 0..3 {
            let dx = px[ia + c] as i32 - px[ib + c] as i32;
            let dy = px[ja + c] as i32 - px[jb + c] as i32;
            let m2 = dx * dx + dy * dy;
            if m2 > best_m2 {
                best_m2 = m2;
                best = c;
            } else if m2 == best_m2 && m2 > 0 {
                // The same four values (grayscale-like pixels) give the same float gradient.
                let same = [ia, ib, ja, jb].iter().all(|&i| px[i + c] == px[i + best]);
                if !same {
                    let (bx, by) = fgrad(best);
                    let (cx, cy) = fgrad(c);
                    if cx.hypot(cy) > bx.hypot(by) {
                        best = c;
                    }
                }
            }
        }
        fgrad(best)
    }

    /// skimage's bin for a gradient near a bin edge (exact; see [`skimage_bin`]).
    #[cold]
    fn exact_bin(&self, gx: f64, gy: f64) -> Option<usize> {
        let t = &self.tie_bins;
        if gy == 0.0 {
            t[(gx < 0.0) as usize]
        } else if gx == 0.0 {
            t[2 + (gy < 0.0) as usize]
        } else if gx.abs() == gy.abs() {
            t[4 + match (gx > 0.0, gy > 0.0) {
                (true, true) => 0,
                (false, true) => 1,
                (false, false) => 2,
                (true, false) => 3,
            }]
        } else {
            skimage_bin(gx, gy, self.params.orientations)
        }
    }

    /// Hard (skimage) and CS231n votes: each pixel of the cell grid adds its magnitude to one bin
    /// of its own cell.
    #[inline(always)]
    fn hard_votes<V: Kernels>(&self, v: V, s: &mut Scratch, w: usize, rows: usize, cols: usize) {
        let n = self.params.orientations;
        let c = self.params.cell_size;
        let gw = cols * c;
        let cs231n = self.params.binning == Binning::Cs231n;
        let bins_per_rad = n as f32 / std::f32::consts::PI;
        let band = EDGE_BAND * bins_per_rad;
        let Scratch {
            gx,
            gy,
            pos,
            mag,
            votes,
            hist,
            acc,
            cells,
            ..
        } = s;
        let cs = v.cell_stride(n);
        resize(hist, rows * cols * n);
        resize(acc, 2 * cols * cs);
        set_len(pos, gw);
        set_len(mag, gw);
        votes.resize(gw);
        for y in 0..rows * c {
            let gxr = &gx[y * w..y * w + gw];
            let gyr = &gy[y * w..y * w + gw];
            v.orient_row(cs231n, gxr, gyr, pos, mag, bins_per_rad);
            if kernels::hard_bins(pos, mag, n, band, !cs231n, votes) {
                // Near an edge the exact formula decides (rare); a pixel skimage drops votes 0.
                for x in 0..gw {
                    if votes.near[x] != 0 {
                        match self.exact_bin(gxr[x], gyr[x]) {
                            Some(b) => votes.b0[x] = b as u32,
                            None => votes.w00[x] = 0.0,
                        }
                    }
                }
            }
            let (even, odd) = acc.split_at_mut(cols * cs);
            v.hard_row(votes, c, n, cs, even, odd);
            if (y + 1) % c == 0 {
                let cy = y / c;
                for (cx, h) in hist[cy * cols * n..(cy + 1) * cols * n]
                    .chunks_exact_mut(n)
                    .enumerate()
                {
                    let (e, o) = (&even[cx * cs..cx * cs + n], &odd[cx * cs..cx * cs + n]);
                    for ((h, e), o) in h.iter_mut().zip(e).zip(o) {
                        *h = *e + *o;
                    }
                }
                even.fill(0.0);
                odd.fill(0.0);
            }
        }
        let inv_area = 1.0 / (c * c) as f32;
        cells.clear();
        cells.extend(hist.iter().map(|&v| v * inv_area));
    }

    /// Trilinear votes (orientation x 2 cells x 2 cells), into a grid padded by one cell before
    /// and two after (pixels past the last full cell reach one further) so border pixels need no
    /// tests; the padding is dropped at the end.
    #[inline(always)]
    fn interpolated_votes<V: Kernels>(
        &self,
        v: V,
        s: &mut Scratch,
        h: usize,
        w: usize,
        rows: usize,
        cols: usize,
    ) {
        let n = self.params.orientations;
        let c = self.params.cell_size;
        let pcols = cols + 3;
        let cs = v.cell_stride(n);
        let stride = pcols * cs;
        let Scratch {
            gx,
            gy,
            pos,
            mag,
            votes,
            hist,
            acc,
            cells,
            col_index,
            col_weight,
            row_cell,
            cell_tables_for,
            ..
        } = s;
        resize(hist, (rows + 3) * stride);
        set_len(pos, w);
        set_len(mag, w);
        votes.resize(w);
        if *cell_tables_for != (h, w, c) {
            col_index.clear();
            col_weight.clear();
            for i in 0..w {
                let (j, wx) = cell_position(i, c);
                col_index.push(j as u32);
                col_weight.push(wx);
            }
            row_cell.clear();
            row_cell.extend((0..h).map(|i| cell_position(i, c)));
            *cell_tables_for = (h, w, c);
        }
        let bins_per_rad = n as f32 / std::f32::consts::PI;
        set_len(acc, 2 * stride);
        for y in 0..h {
            v.orient_row(
                false,
                &gx[y * w..(y + 1) * w],
                &gy[y * w..(y + 1) * w],
                pos,
                mag,
                bins_per_rad,
            );
            kernels::interpolated_weights(pos, mag, col_weight, n, votes);
            // Orientation and column interpolation of the row; the row weights are applied
            // once per cell column (they are the same for every pixel of the row).
            let (ry, wy) = row_cell[y];
            let (upper, lower) = hist.split_at_mut((ry + 1) * stride);
            let (top, bottom) = (&mut upper[ry * stride..], &mut lower[..stride]);
            v.interpolated_row(votes, col_index, n, cs, wy, acc, top, bottom);
        }
        let inv_area = 1.0 / (c * c) as f32;
        cells.clear();
        for cy in 0..rows {
            for cx in 0..cols {
                let start = (cy + 1) * stride + (cx + 1) * cs;
                cells.extend(hist[start..start + n].iter().map(|&v| v * inv_area));
            }
        }
    }

    /// Block normalisation of `s.cells` into `out` (skimage's formulas, in `f64`).
    #[inline(always)]
    fn normalize_blocks(&self, s: &mut Scratch, rows: usize, cols: usize, out: &mut [f32]) {
        let n = self.params.orientations;
        let norm = self.params.block_norm;
        if norm == BlockNorm::None {
            out.copy_from_slice(&s.cells);
            return;
        }
        let b = self.params.block_size;
        let len = b * b * n;
        let (nby, nbx) = (rows + 1 - b, cols + 1 - b);
        let nb = nby * nbx;
        let blocks = &mut s.blocks;
        set_len(&mut blocks.values, len * nb);
        // Block j = (by, bx), value k = (cell row i of the block, then the b cells x n bins of
        // that row, contiguous in `cells`).
        for by in 0..nby {
            for bx in 0..nbx {
                let j = by * nbx + bx;
                for i in 0..b {
                    let start = ((by + i) * cols + bx) * n;
                    for (q, &v) in s.cells[start..start + b * n].iter().enumerate() {
                        blocks.values[(i * b * n + q) * nb + j] = v as f64;
                    }
                }
            }
        }
        blocks.normalize(nb, norm, opencv_eps(len, self.params.cell_size));
        blocks.write(nb, out);
    }
}

/// Blocks to normalise, held value-major: `values[k * count + j]` is value `k` of block `j`.
/// Each block's sums run over its values in order, so every block is normalised exactly as on
/// its own (skimage's `_hog_normalize_block`, dividing by the norm as a multiplication by its
/// reciprocal, which differs by at most an ulp of `f64`); the blocks are processed side by
/// side so that the loops vectorise across blocks.
#[derive(Default)]
struct Blocks {
    values: Vec<f64>,
    sums: Vec<f64>,
    scale: Vec<f64>,
}

impl Blocks {
    /// Normalises the `count` blocks in place; `opencv_eps` is [`BlockNorm::L2HysOpenCv`]'s
    /// first epsilon.
    #[inline(always)]
    fn normalize(&mut self, count: usize, norm: BlockNorm, opencv_eps: f64) {
        let Blocks {
            values,
            sums,
            scale,
        } = self;
        set_len(sums, count);
        set_len(scale, count);
        // sums[j] = f(v_0j) + f(v_1j) + ..., in that order.
        #[inline(always)]
        fn sum(count: usize, values: &[f64], sums: &mut [f64], f: impl Fn(f64) -> f64) {
            sums.fill(0.0);
            for row in values.chunks_exact(count) {
                for (s, &v) in sums.iter_mut().zip(row) {
                    *s += f(v);
                }
            }
        }
        #[inline(always)]
        fn apply(count: usize, values: &mut [f64], scale: &[f64], f: impl Fn(f64, f64) -> f64) {
            for row in values.chunks_exact_mut(count) {
                for (v, &r) in row.iter_mut().zip(scale) {
                    *v = f(*v, r);
                }
            }
        }
        let square = |x: f64| x * x;
        // r_j = f(sums[j]) for every block.
        let scales = |sums: &[f64], scale: &mut [f64], f: &dyn Fn(f64) -> f64| {
            for (r, &s) in scale.iter_mut().zip(sums) {
                *r = f(s);
            }
        };
        match norm {
            BlockNorm::None => {}
            BlockNorm::L1 | BlockNorm::L1Sqrt => {
                sum(count, values, sums, f64::abs);
                scales(sums, scale, &|s| 1.0 / (s + EPS));
                if norm == BlockNorm::L1 {
                    apply(count, values, scale, |v, r| v * r);
                } else {
                    apply(count, values, scale, |v, r| (v * r).sqrt());
                }
            }
            BlockNorm::L2 | BlockNorm::L2Hys => {
                sum(count, values, sums, square);
                scales(sums, scale, &|s| 1.0 / (s + EPS * EPS).sqrt());
                if norm == BlockNorm::L2Hys {
                    apply(count, values, scale, |v, r| (v * r).min(0.2));
                    sum(count, values, sums, square);
                    scales(sums, scale, &|s| 1.0 / (s + EPS * EPS).sqrt());
                }
                apply(count, values, scale, |v, r| v * r);
            }
            BlockNorm::L2HysOpenCv => {
                sum(count, values, sums, square);
                scales(sums, scale, &|s| 1.0 / (s.sqrt() + opencv_eps));
                apply(count, values, scale, |v, r| (v * r).min(0.2));
                sum(count, values, sums, square);
                scales(sums, scale, &|s| 1.0 / (s.sqrt() + 1e-3));
                apply(count, values, scale, |v, r| v * r);
            }
        }
    }

    /// The `count` blocks one after another (block-major) as `f32`.
    #[inline(always)]
    fn write(&self, count: usize, out: &mut [f32]) {
        let len = self.values.len() / count.max(1);
        for (j, block) in out.chunks_exact_mut(len).take(count).enumerate() {
            for (k, o) in block.iter_mut().enumerate() {
                *o = self.values[k * count + j] as f32;
            }
        }
    }
}

/// Pixel `i`'s cell position for trilinear votes: cell centres sit at `(j + 1/2) c`; `u` is the
/// pixel centre in cell-centre units; returns the left cell in the grid padded by one cell
/// (`floor(u) + 1`) and the weight `u - floor(u)` towards the next one.
#[inline(always)]
fn cell_position(i: usize, c: usize) -> (usize, f32) {
    let u = (i as f32 + 0.5) / c as f32 - 0.5;
    let j = u.floor();
    ((j + 1.0) as usize, u - j)
}

/// OpenCV's L2-Hys `0.1 len` (on sums of 0-255 gradients) in this module's units (cell means
/// of `[0, 1]` gradients).
fn opencv_eps(len: usize, cell_size: usize) -> f64 {
    0.1 * len as f64 / (255.0 * (cell_size * cell_size) as f64)
}

/// `gx`, `gy` of one intensity plane (zero where the mask leaves the image).
#[inline(always)]
fn gradients_of_plane(
    p: &[f64],
    h: usize,
    w: usize,
    gradient: Gradient,
    gx: &mut [f64],
    gy: &mut [f64],
) {
    for y in 0..h {
        let row = &p[y * w..(y + 1) * w];
        let gxr = &mut gx[y * w..(y + 1) * w];
        gxr.fill(0.0);
        match gradient {
            Gradient::Central => {
                if w >= 3 {
                    for ((g, &a), &b) in gxr[1..w - 1].iter_mut().zip(&row[2..]).zip(&row[..w - 2])
                    {
                        *g = a - b;
                    }
                }
            }
            Gradient::Forward => {
                for ((g, &a), &b) in gxr[..w - 1].iter_mut().zip(&row[1..]).zip(&row[..w - 1]) {
                    *g = a - b;
                }
            }
        }
        let rows = match gradient {
            Gradient::Central => (y + 1 < h && y > 0).then(|| (y + 1, y - 1)),
            Gradient::Forward => (y + 1 < h).then_some((y + 1, y)),
        };
        let gyr = &mut gy[y * w..(y + 1) * w];
        match rows {
            Some((a, b)) => {
                for ((g, &va), &vb) in gyr
                    .iter_mut()
                    .zip(&p[a * w..(a + 1) * w])
                    .zip(&p[b * w..(b + 1) * w])
                {
                    *g = va - vb;
                }
            }
            None => gyr.fill(0.0),
        }
    }
}

/// The intensity plane HOG uses for [`ChannelMode::Gray`]: for RGB(A) images
/// `wR R + wG G + wB B` on `[0, 1]` with the [`Luma`] weights (for [`Luma::Rec709`] exactly
/// `skimage.color.rgb2gray`), for one-channel images `v / 255`. Row-major `height x width`.
pub fn grayscale(image: ImageView<'_>, luma: Luma) -> Vec<f64> {
    let hog = Hog::prepared(Params {
        luma,
        ..Params::default()
    });
    let mut plane = Vec::with_capacity(image.height() * image.width());
    hog.gray_plane(Scalar, image, &mut plane);
    plane
}

impl Extractor for Hog {
    fn name(&self) -> &'static str {
        "hog"
    }

    fn dim(&self, shape: ImageShape) -> usize {
        self.params.dim(shape)
    }

    fn extract(&self, image: ImageView<'_>, out: &mut [f32]) {
        debug_assert_eq!(out.len(), self.params.dim(image.shape));
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            self.run(Source::Image(image), &mut s, Some(out));
        });
    }
}

/// HOG glyphs over the image: the grayscale upscaled `scale` times (dimmed), and in every cell
/// one line per orientation bin through the cell centre, along the *edge* direction of the bin
/// centre (perpendicular to the gradient), brightness proportional to the bin's value over the
/// largest bin of the image. Uses the cell histograms (before block normalisation).
pub fn render_glyphs(
    image: ImageView<'_>,
    params: &Params,
    scale: usize,
) -> Result<image::RgbImage, FeatureError> {
    if scale == 0 || scale > 64 {
        return Err(FeatureError::invalid(
            "scale",
            format!("{scale} is outside 1..=64"),
        ));
    }
    let hog = Hog::new(params.clone(), image.shape)?;
    let grid = hog.cell_histograms(image)?;
    let (h, w) = (image.height(), image.width());
    let mut plane = Vec::new();
    hog.gray_plane(Scalar, image, &mut plane);
    let (ow, oh) = ((w * scale) as u32, (h * scale) as u32);
    let mut canvas = vec![[0f32; 3]; (ow * oh) as usize];
    for y in 0..h * scale {
        for x in 0..w * scale {
            let g = (plane[(y / scale) * w + x / scale] * 0.45).clamp(0.0, 1.0) as f32;
            canvas[y * w * scale + x] = [g, g, g];
        }
    }
    let max = grid.values.iter().copied().fold(0.0f32, f32::max);
    let n = grid.orientations;
    let cell_px = (params.cell_size * scale) as f64;
    let radius = 0.45 * cell_px;
    for cy in 0..grid.rows {
        for cx in 0..grid.cols {
            let centre = ((cx as f64 + 0.5) * cell_px, (cy as f64 + 0.5) * cell_px);
            for (bin, &v) in grid.cell(cy, cx).iter().enumerate() {
                if max <= 0.0 || v <= 0.0 {
                    continue;
                }
                let strength = v / max;
                // Gradient angle of the bin centre (image y points down); the edge runs across it.
                let theta = (bin as f64 + 0.5) * PI / n as f64;
                let (dx, dy) = (-theta.sin() * radius, theta.cos() * radius);
                draw_line(
                    &mut canvas,
                    (ow as usize, oh as usize),
                    (centre.0 - dx, centre.1 - dy),
                    (centre.0 + dx, centre.1 + dy),
                    [strength, strength * 0.95, strength * 0.55],
                );
            }
        }
    }
    let mut img = image::RgbImage::new(ow, oh);
    for (p, c) in img.pixels_mut().zip(&canvas) {
        *p = image::Rgb(c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8));
    }
    Ok(img)
}

/// Additive anti-aliasing-free line (DDA), clipped to the canvas.
fn draw_line(
    canvas: &mut [[f32; 3]],
    (w, h): (usize, usize),
    from: (f64, f64),
    to: (f64, f64),
    colour: [f32; 3],
) {
    let steps = ((to.0 - from.0).abs().max((to.1 - from.1).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let x = from.0 + (to.0 - from.0) * t;
        let y = from.1 + (to.1 - from.1) * t;
        if x < 0.0 || y < 0.0 {
            continue;
        }
        let (xi, yi) = (x as usize, y as usize);
        if xi < w && yi < h {
            let p = &mut canvas[yi * w + xi];
            for c in 0..3 {
                p[c] += colour[c];
            }
        }
    }
}
