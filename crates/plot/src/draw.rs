//! Drawing helpers shared by the pictures: text placed by its ink (plotters' `ab_glyph` text
//! sits higher than its layout box, so every label goes through [`put`]), title blocks,
//! legends, discs and validation messages.

use plotters::element::{Circle, PathElement, Rectangle, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, FontTransform, RGBColor, ShapeStyle, TextStyle};

use crate::canvas::{Area, DrawFailure};
use crate::palette::rgb;
use crate::text;

/// Type sizes in pixels (the pictures are drawn at twice the size they are read at, so a
/// README that shows them at half width stays sharp).
pub(crate) const TITLE: f64 = 34.0;
pub(crate) const SUBTITLE: f64 = 24.0;
pub(crate) const AXIS_TITLE: f64 = 26.0;
pub(crate) const LABEL: f64 = 22.0;
pub(crate) const SMALL: f64 = 19.0;
/// Space around a picture's content.
pub(crate) const MARGIN: i32 = 24;

/// Width and height in pixels of `s` in `style`'s font (without rotation). The embedded fonts
/// are registered before any picture is laid out, so measuring cannot fail; if it did, a
/// generous estimate keeps the layout usable.
pub(crate) fn measure(s: &str, style: &TextStyle<'_>) -> (i32, i32) {
    let size = style.font.get_size();
    style
        .font
        .transform(FontTransform::None)
        .box_size(s)
        .map(|(w, h)| (w as i32, h as i32))
        .unwrap_or((
            (0.65 * size * s.chars().count() as f64) as i32,
            (0.8 * size) as i32,
        ))
}

pub(crate) fn width(s: &str, style: &TextStyle<'_>) -> i32 {
    measure(s, style).0
}

/// Height of one line of text of `size`, from the top of capitals to the bottom of
/// descenders, plus a little leading.
pub(crate) fn line_height(size: f64) -> i32 {
    (1.05 * size).round() as i32
}

/// Draws `s` so that its ink, not plotters' layout box, sits at (`x`, `y`) as `h`/`v` say:
/// `VPos::Top` puts the top of capitals at `y`, `VPos::Center` centres capitals on `y`,
/// `VPos::Bottom` puts the bottom of descenders at `y`. `rotated` turns the text a quarter to
/// read upwards (then `h` and `v` still refer to the unrotated text).
pub(crate) fn put(
    area: &Area<'_>,
    s: &str,
    (x, y): (i32, i32),
    (h, v): (HPos, VPos),
    style: &TextStyle<'_>,
    rotated: bool,
) -> Result<(), DrawFailure> {
    if s.is_empty() {
        return Ok(());
    }
    // Measured on DejaVu Sans through plotters 0.3.7's ab_glyph backend: ink starts 0.125
    // size above the layout box's top; capitals' centre is 0.21 size above the box's centre;
    // descenders end 0.14 size above the box's bottom.
    let size = style.font.get_size();
    let shift = match v {
        VPos::Top => 0.125,
        VPos::Center => 0.21,
        VPos::Bottom => 0.14,
    } * size;
    let shift = shift.round() as i32;
    let (pos, style) = if rotated {
        // Rotated a quarter turn anticlockwise, the text's "down" points right.
        (
            (x + shift, y),
            style
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(h, v)),
        )
    } else {
        ((x, y + shift), style.pos(Pos::new(h, v)))
    };
    area.draw(&Text::new(s.to_string(), pos, style))?;
    Ok(())
}

/// A title block: the first line of `title` in bold [`TITLE`], every further line (after a
/// `\n`) in regular [`SUBTITLE`]. Returns the height it takes (0 for an empty title).
pub(crate) fn title_height(title: &str) -> i32 {
    title_lines(title)
        .map(|(i, _)| {
            if i == 0 {
                line_height(TITLE) + 6
            } else {
                line_height(SUBTITLE)
            }
        })
        .sum()
}

/// Width of the widest line of a title block.
pub(crate) fn title_width(title: &str) -> i32 {
    title_lines(title)
        .map(|(i, line)| width(line, &title_style(i)))
        .max()
        .unwrap_or(0)
}

fn title_lines(title: &str) -> impl Iterator<Item = (usize, &str)> {
    title
        .lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
}

fn title_style(line: usize) -> TextStyle<'static> {
    if line == 0 {
        text::bold(TITLE)
    } else {
        text::regular(SUBTITLE).color(&crate::palette::MUTED)
    }
}

/// Draws a title block with its top-left corner at (`x`, `y`); returns its height.
pub(crate) fn title_block(
    area: &Area<'_>,
    title: &str,
    (x, y): (i32, i32),
) -> Result<i32, DrawFailure> {
    let mut top = y;
    for (i, line) in title_lines(title) {
        put(
            area,
            line,
            (x, top),
            (HPos::Left, VPos::Top),
            &title_style(i),
            false,
        )?;
        top += if i == 0 {
            line_height(TITLE) + 6
        } else {
            line_height(SUBTITLE)
        };
    }
    Ok(top - y)
}

/// What a legend entry shows before its label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mark {
    /// A filled square (bars).
    Square([u8; 3]),
    /// A line sample, solid or dashed (curves).
    Line { colour: [u8; 3], dashed: bool },
    /// A disc with a dark rim (points).
    Dot([u8; 3]),
}

const MARK_W: i32 = 36;
const MARK_GAP: i32 = 10;
const ENTRY_GAP: i32 = 30;

/// A legend laid out in rows no wider than a limit.
pub(crate) struct Legend {
    entries: Vec<(Mark, String, i32, i32)>,
    height: i32,
}

impl Legend {
    /// Lays `entries` out left to right from x = 0, wrapping before `max_width`.
    pub(crate) fn new(entries: Vec<(Mark, String)>, max_width: i32) -> Legend {
        let style = text::regular(LABEL);
        let row_h = line_height(LABEL) + 10;
        let (mut x, mut y) = (0, 0);
        let mut placed = Vec::new();
        for (mark, label) in entries {
            let w = MARK_W + MARK_GAP + width(&label, &style);
            if x > 0 && x + w > max_width {
                (x, y) = (0, y + row_h);
            }
            placed.push((mark, label, x, y));
            x += w + ENTRY_GAP;
        }
        let height = if placed.is_empty() { 0 } else { y + row_h };
        Legend {
            entries: placed,
            height,
        }
    }

    pub(crate) fn height(&self) -> i32 {
        self.height
    }

    /// Width of the widest row.
    pub(crate) fn width(&self) -> i32 {
        let style = text::regular(LABEL);
        self.entries
            .iter()
            .map(|(_, label, x, _)| x + MARK_W + MARK_GAP + width(label, &style))
            .max()
            .unwrap_or(0)
    }

    /// Draws the legend with its top-left corner at `origin`.
    pub(crate) fn draw(&self, area: &Area<'_>, origin: (i32, i32)) -> Result<(), DrawFailure> {
        let style = text::regular(LABEL);
        for (mark, label, x, y) in &self.entries {
            let (x, cy) = (origin.0 + x, origin.1 + y + line_height(LABEL) / 2);
            match *mark {
                Mark::Square(c) => {
                    area.draw(&Rectangle::new(
                        [(x + 8, cy - 10), (x + 28, cy + 10)],
                        rgb(c).filled(),
                    ))?;
                }
                Mark::Line { colour, dashed } => {
                    let s = rgb(colour).stroke_width(4);
                    if dashed {
                        for k in 0..3 {
                            let x0 = x + k * 13;
                            area.draw(&PathElement::new(vec![(x0, cy), (x0 + 8, cy)], s))?;
                        }
                    } else {
                        area.draw(&PathElement::new(vec![(x, cy), (x + MARK_W, cy)], s))?;
                    }
                }
                Mark::Dot(c) => disc(area, (x + MARK_W / 2, cy), 9, c)?,
            }
            put(
                area,
                label,
                (x + MARK_W + MARK_GAP, cy),
                (HPos::Left, VPos::Center),
                &style,
                false,
            )?;
        }
        Ok(())
    }
}

/// A disc of `radius` in `colour` with a dark rim.
pub(crate) fn disc(
    area: &Area<'_>,
    centre: (i32, i32),
    radius: i32,
    colour: [u8; 3],
) -> Result<(), DrawFailure> {
    area.draw(&Circle::new(
        centre,
        radius + 1,
        RGBColor(40, 40, 40).filled(),
    ))?;
    area.draw(&Circle::new(centre, radius, rgb(colour).filled()))?;
    Ok(())
}

/// A one-pixel rectangle outline.
pub(crate) fn outline(
    area: &Area<'_>,
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
    style: ShapeStyle,
) -> Result<(), DrawFailure> {
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], style))?;
    Ok(())
}

/// An RGB buffer drawn with its top-left pixel at `origin` (plotters' bitmap blit).
pub(crate) fn blit(
    area: &Area<'_>,
    origin: (i32, i32),
    (w, h): (u32, u32),
    rgb: Vec<u8>,
) -> Result<(), DrawFailure> {
    let element = plotters::element::BitMapElement::with_owned_buffer(origin, (w, h), rgb)
        .ok_or_else(|| {
            DrawFailure::message(format!("a {w}x{h} bitmap has the wrong buffer size"))
        })?;
    area.draw(&element)?;
    Ok(())
}

/// "item 3" or "item 'raw'": how validation messages name an entry.
pub(crate) fn describe(kind: &str, index: usize, name: &str) -> String {
    if name.is_empty() {
        format!("{kind} {index}")
    } else {
        format!("{kind} {index} ('{name}')")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::{BitMapBackend, IntoDrawingArea};

    /// The bounding box (x0, y0, x1, y1) of dark pixels after drawing `s` with [`put`].
    fn ink(s: &str, at: (i32, i32), anchor: (HPos, VPos), rotated: bool) -> (u32, u32, u32, u32) {
        text::register().unwrap();
        let (w, h) = (400u32, 400u32);
        let mut buf = vec![255u8; (3 * w * h) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            put(&root, s, at, anchor, &text::regular(40.0), rotated)
                .unwrap_or_else(|_| panic!("draw"));
        }
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for y in 0..h {
            for x in 0..w {
                if buf[((y * w + x) * 3) as usize] < 128 {
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                }
            }
        }
        (x0, y0, x1, y1)
    }

    #[test]
    fn text_ink_sits_where_put_says() {
        let near = |a: u32, b: i32| (a as i32 - b).abs() <= 2;
        // Capitals' top at y for Top, their middle at y for Center.
        let (_, top, _, _) = ink("HE", (100, 200), (HPos::Left, VPos::Top), false);
        assert!(near(top, 200), "{top}");
        let (_, y0, _, y1) = ink("HE", (100, 200), (HPos::Left, VPos::Center), false);
        assert!(near((y0 + y1) / 2, 200), "{y0} {y1}");
        // Descenders end at y for Bottom.
        let (_, _, _, bottom) = ink("gy", (100, 200), (HPos::Left, VPos::Bottom), false);
        assert!(near(bottom, 200), "{bottom}");
        // Left / centre / right alignment.
        let (x0, _, _, _) = ink("HE", (100, 200), (HPos::Left, VPos::Top), false);
        assert!(near(x0, 100) || near(x0, 102), "{x0}");
        let (x0, _, x1, _) = ink("HE", (200, 200), (HPos::Center, VPos::Top), false);
        assert!(((x0 + x1) as i32 / 2 - 200).abs() <= 3, "{x0} {x1}");
        // Rotated to read upwards, centred on x: the capitals' middle is at x, the text runs up
        // from y.
        let (x0, _, x1, y1) = ink("HE", (200, 300), (HPos::Left, VPos::Center), true);
        assert!(near((x0 + x1) / 2, 200), "{x0} {x1}");
        assert!((290..=302).contains(&y1), "{y1}");
    }
}
