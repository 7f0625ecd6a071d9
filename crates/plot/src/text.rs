//! Text: DejaVu Sans, embedded in the crate (fonts/, Bitstream Vera licence with public-domain
//! DejaVu changes, see fonts/LICENSE-DejaVu) and registered once with plotters' `ab_glyph`
//! backend, so no picture depends on the fonts installed on the machine.

use std::sync::OnceLock;

use plotters::style::{register_font, FontDesc, FontFamily, FontStyle, TextStyle};

use crate::palette::INK;

const REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// The family name the fonts are registered under.
const FAMILY: &str = "wb-dejavu-sans";

/// Registers the embedded fonts (once per process). `Err` only if a font file in the crate is
/// not a TrueType font, which the tests rule out.
pub(crate) fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for (style, bytes) in [(FontStyle::Normal, REGULAR), (FontStyle::Bold, BOLD)] {
                register_font(FAMILY, style, bytes)
                    .map_err(|_| format!("the embedded {} font does not parse", style.as_str()))?;
            }
            Ok(())
        })
        .clone()
}

/// Regular text of `size` pixels (ab_glyph's scale: ascent to descent), in the ink colour.
pub(crate) fn regular(size: f64) -> TextStyle<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal).color(&INK)
}

/// Bold text of `size` pixels, for titles.
pub(crate) fn bold(size: f64) -> TextStyle<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Bold).color(&INK)
}
