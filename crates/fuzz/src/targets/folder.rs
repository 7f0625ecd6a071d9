//! Image folders: the scanner and the decode path ([`wb_data::folder::load_folder`]) on a small
//! tree of class folders holding PNG and JPEG files (and the odd non-image file).

use std::io::Cursor;

use image::{DynamicImage, ImageFormat};
use rand::Rng;
use wb_data::folder::{load_folder, FolderDataset, FolderParams};
use wb_data::Dataset;

use crate::{ensure, Budget, Case, Field, Format, Outcome, Target};

/// An image header may claim as many decoded bytes as its format can hold in the file's size
/// (the decoder refuses more: PNG at most 33,024 per byte, JPEG 2,048, plus 1 MiB from any
/// file), and the decoded picture is converted once (to RGB or gray) before it is resized: two
/// buffers of that size per image being decoded, on the two decoding threads of this machine.
const BUDGET: Budget = Budget {
    per_input_byte: 2 * 33_024 + 64,
    constant: 8 << 20,
};

pub const FOLDER: Target = Target {
    name: "image-folder",
    about: "wb_data::folder::load_folder on 2-3 class folders of PNG and JPEG files (scan, decode, resize)",
    budget: BUDGET,
    run: folder,
};

/// The big-endian u16 height and width of a JPEG's first start-of-frame segment.
fn jpeg_fields(bytes: &[u8]) -> Vec<Field> {
    let sof = bytes
        .windows(2)
        .position(|w| w[0] == 0xFF && matches!(w[1], 0xC0..=0xC2));
    match sof {
        Some(i) => [i + 5, i + 7]
            .into_iter()
            .filter(|&o| o + 2 <= bytes.len())
            .map(|offset| Field {
                offset,
                width: 2,
                big_endian: true,
            })
            .collect(),
        None => Vec::new(),
    }
}

/// A random small image encoded as PNG (RGB, RGBA, gray) or JPEG (RGB, gray), with its header
/// size fields for the mutator.
fn random_image(case: &mut Case<'_>) -> (Vec<u8>, Format, &'static str) {
    let e = case.entropy();
    let (w, h) = (e.range(1, 12) as u32, e.range(1, 12) as u32);
    let kind = e.below(5);
    let mut rng = e.rng();
    let rgb = image::RgbImage::from_fn(w, h, |_, _| image::Rgb(rng.gen()));
    let picture = match kind {
        0 | 3 => DynamicImage::ImageRgb8(rgb),
        1 => DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb).to_rgba8()),
        _ => DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb).to_luma8()),
    };
    let (format, ext) = if kind >= 3 {
        (ImageFormat::Jpeg, "jpg")
    } else {
        (ImageFormat::Png, "png")
    };
    let mut bytes = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encode a small image");
    let fields = match format {
        // IHDR's width and height.
        ImageFormat::Png => vec![Field::be_u32(16), Field::be_u32(20)],
        _ => jpeg_fields(&bytes),
    };
    (bytes, Format::binary(fields), ext)
}

fn folder(case: &mut Case<'_>) {
    let n_classes = case.entropy().range(2, 3) as usize;
    let mut written = Vec::new();
    for c in 0..n_classes {
        let n = case.entropy().range(3, 4) as usize;
        for i in 0..n {
            let (bytes, format, ext) = random_image(case);
            let name = format!("class{c}/img{i}.{ext}");
            case.file(&name, bytes, format);
            written.push(name);
        }
        if case.entropy().chance(1, 6) {
            case.file(
                &format!("class{c}/notes.txt"),
                b"not an image\n".to_vec(),
                Format::Text,
            );
        }
    }
    let params = FolderParams {
        image_size: case.entropy().chance(1, 3).then_some((8, 8)),
        seed: 7,
        ..FolderParams::default()
    };
    let dir = case.dir().to_path_buf();
    case.parse(|w| {
        Outcome::of(load_folder(&dir, &params), |loaded: FolderDataset| {
            let shape = loaded.size.shape();
            let classes = loaded.data.train.class_names.len();
            let mut total = 0;
            for (which, d) in [("train", &loaded.data.train), ("test", &loaded.data.test)]
                .into_iter()
                .chain(loaded.val.as_ref().map(|v| ("val", v)))
            {
                check_split(d, which, shape, classes)?;
                total += d.labels.len();
            }
            ensure(total <= written.len(), || {
                format!("{total} images from {} files", written.len())
            })?;
            if w.unchanged {
                ensure(total == written.len(), || {
                    format!("{total} images loaded of the {} valid files", written.len())
                })?;
                let names: Vec<String> = (0..n_classes).map(|c| format!("class{c}")).collect();
                ensure(loaded.data.train.class_names == names, || {
                    format!("classes {:?}", loaded.data.train.class_names)
                })?;
            }
            Ok(())
        })
    });
}

/// Every image has the working size, one label each, in range.
fn check_split(
    d: &Dataset,
    which: &str,
    shape: wb_data::ImageShape,
    classes: usize,
) -> Result<(), String> {
    ensure(d.images.shape() == shape, || {
        format!(
            "{which}: images {:?}, working size {shape:?}",
            d.images.shape()
        )
    })?;
    ensure(
        d.images.len() == d.labels.len() && d.images.pixels().len() == d.images.len() * shape.len(),
        || {
            format!(
                "{which}: {} images, {} labels",
                d.images.len(),
                d.labels.len()
            )
        },
    )?;
    ensure(
        d.class_names.len() == classes && d.labels.iter().all(|&l| l < classes),
        || format!("{which}: labels out of range for {classes} classes"),
    )
}
