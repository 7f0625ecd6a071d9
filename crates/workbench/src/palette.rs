//! The colours of every plot: matplotlib's "tab10", which CS231n's figures use and which stays
//! distinct in print and for most colour-blind readers.

use image::Rgb;

const TAB10: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// Colour `i` of the palette (it repeats after ten).
pub fn colour(i: usize) -> Rgb<u8> {
    Rgb(TAB10[i % TAB10.len()])
}
