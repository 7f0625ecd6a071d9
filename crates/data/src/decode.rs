//! Decoding one image file: format from the content, a size check before any pixel buffer is
//! allocated, EXIF orientation, conversion to RGB (or gray) and the resize to the working size.
//!
//! Conversions (the `image` crate's): palette images are expanded; 16-bit samples are scaled to
//! 8 bits (`v / 257`, rounded); CMYK JPEGs are converted to RGB by the decoder; an alpha channel
//! is dropped, as Pillow's `convert("RGB")` and torchvision's `ImageFolder` loader do, so
//! features match a PyTorch baseline on the same files. Gray images are replicated to RGB
//! unless every image of the dataset is gray (then the batch keeps one channel).

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Seek};
use std::path::Path;

use fast_image_resize::Resizer;
use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageBuffer, ImageDecoder, ImageReader};

use crate::resize::{resize_into, ResizeMode};
use crate::{human_bytes, DataError, ImageShape};

/// The most bytes one decoded image may take before it is resized (the `image` crate's default
/// allocation limit): 512 MiB is a 170-megapixel RGB photo. A file whose header promises more
/// is refused before anything is allocated, so a corrupt or hostile header cannot exhaust memory.
pub const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

/// What the header of an image file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Width and height as displayed (after the EXIF orientation) when `oriented`; as stored
    /// otherwise.
    pub width: u32,
    pub height: u32,
    /// Whether the file stores gray (with or without alpha) samples.
    pub gray: bool,
}

fn bad(path: &Path, reason: impl ToString) -> DataError {
    DataError::BadImage {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The most decoded bytes (as the decoder outputs them) one byte of a file of this format can
/// give, for the formats where that is bounded; `None` for the others (BMP, GIF, TIFF and WebP
/// can legitimately leave most of a picture to a default: an RLE end-of-bitmap, a small frame
/// on a large screen), which are held to [`MAX_DECODED_BYTES`] only.
///
/// - PNG: zlib's largest expansion (1032:1) x 8 (1-bit samples decode to bytes) x 4 (a
///   palette index decodes to RGBA): 33,024.
/// - JPEG (Huffman-coded, the only kind the decoder reads): every 8 x 8 block of the
///   full-resolution component costs at least one bit (its DC code), i.e. 64 pixels of at most
///   3 output bytes per bit: 1,536, rounded up to 2,048.
fn max_expansion(format: image::ImageFormat) -> Option<u64> {
    match format {
        image::ImageFormat::Png => Some(1032 * 8 * 4),
        image::ImageFormat::Jpeg => Some(2048),
        _ => None,
    }
}

/// Header sizes up to this many decoded bytes are accepted from any file, however small.
const EXPANSION_SLACK: u64 = 1 << 20;

/// Opens a decoder on `reader` (format guessed from the content, then from the extension of
/// `path`) and checks the header's size against [`MAX_DECODED_BYTES`] and against what a file
/// of `file_len` bytes can hold ([`max_expansion`]), before any pixel buffer is allocated.
fn open_decoder<'a, R: BufRead + Seek + 'a>(
    path: &Path,
    reader: R,
    file_len: u64,
) -> Result<impl ImageDecoder + 'a, DataError> {
    let mut reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    if reader.format().is_none() {
        if let Ok(format) = image::ImageFormat::from_path(path) {
            reader.set_format(format);
        }
    }
    let format = reader.format();
    let decoder = reader.into_decoder().map_err(|e| bad(path, e))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(bad(
            path,
            format!("the header gives a {width}x{height} image"),
        ));
    }
    let bytes = decoder.total_bytes();
    if bytes > MAX_DECODED_BYTES {
        return Err(bad(
            path,
            format!(
                "{width}x{height} pixels would take {} to decode, over the limit of {} per image",
                human_bytes(bytes),
                human_bytes(MAX_DECODED_BYTES)
            ),
        ));
    }
    if let Some((format, ratio)) = format.and_then(|f| max_expansion(f).map(|r| (f, r))) {
        let most = file_len
            .saturating_mul(ratio)
            .saturating_add(EXPANSION_SLACK);
        if bytes > most {
            return Err(bad(
                path,
                format!(
                    "the header gives {width}x{height} pixels ({}), more than a {file_len}-byte \
                     {format:?} file can hold ({}): a corrupt header",
                    human_bytes(bytes),
                    human_bytes(most)
                ),
            ));
        }
    }
    Ok(decoder)
}

/// Whether JPEG `bytes` reach their end-of-image marker. The JPEG decoder fills a truncated
/// file's missing part with gray and reports no error (as libjpeg does with a warning), which
/// would train on half-gray pictures; Pillow refuses such files ("image file is truncated"), and
/// so does this loader. The segments are walked by their lengths (an EXIF thumbnail's own
/// markers are inside its APP1 segment and skipped); after each start-of-scan the entropy-coded
/// data runs to the next `FF xx` that is neither a stuffed `FF 00` nor a restart marker.
/// Bytes after the end-of-image marker (some phones append a video there) are allowed.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let mut i = 2; // after SOI
    loop {
        // The next marker: skip stray bytes, then fill bytes (FF FF ...).
        match memchr::memchr(0xFF, &bytes[i.min(n)..]) {
            Some(k) => i += k,
            None => return false,
        }
        while i < n && bytes[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD8 => continue, // markers without a length
            _ => {}
        }
        let Some(len) = bytes.get(i..i + 2) else {
            return false;
        };
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        i += len;
        if len < 2 || i > n {
            return false;
        }
        if marker == 0xDA {
            loop {
                match memchr::memchr(0xFF, &bytes[i..]) {
                    Some(k) => i += k,
                    None => return false,
                }
                match bytes.get(i + 1) {
                    None => return false,
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(_) => break,
                }
            }
        }
    }
}

fn is_gray(color: ColorType) -> bool {
    matches!(
        color,
        ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16
    )
}

fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Reads the header of `path`. The EXIF orientation (a second metadata parse for JPEG) is
/// looked up only when `orient(width, height)` says it matters.
pub(crate) fn probe(path: &Path, orient: impl Fn(u32, u32) -> bool) -> Result<Header, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut decoder = open_decoder(path, BufReader::new(file), len)?;
    let (mut width, mut height) = decoder.dimensions();
    let gray = is_gray(decoder.color_type());
    if width != height && orient(width, height) {
        let orientation = decoder.orientation().map_err(|e| bad(path, e))?;
        if swaps_axes(orientation) {
            (width, height) = (height, width);
        }
    }
    Ok(Header {
        width,
        height,
        gray,
    })
}

/// Decodes `path` into `out` (`shape.len()` bytes, 1 or 3 channels) at `shape`'s size and
/// returns the image's own size as displayed (width, height, after the EXIF orientation).
///
/// The EXIF orientation is applied after resizing (to the transposed target when it swaps the
/// axes): the same pixels as rotating first, since the crop and the padding are centred, at a
/// fraction of the cost for a phone photo stored sideways.
pub(crate) fn decode_into(
    path: &Path,
    shape: ImageShape,
    mode: ResizeMode,
    resizer: &mut Resizer,
    out: &mut [u8],
) -> Result<(u32, u32), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.starts_with(&[0xFF, 0xD8]) && !jpeg_is_complete(&bytes) {
        return Err(bad(
            path,
            "truncated JPEG: the data ends before the end-of-image marker",
        ));
    }
    let mut decoder = open_decoder(path, Cursor::new(bytes.as_slice()), bytes.len() as u64)?;
    let orientation = decoder.orientation().map_err(|e| bad(path, e))?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| bad(path, e))?;
    let (src_w, src_h) = (image.width() as usize, image.height() as usize);
    let pixels = match shape.channels {
        1 => image.into_luma8().into_raw(),
        3 => image.into_rgb8().into_raw(),
        other => {
            return Err(DataError::Invalid(format!(
                "images are decoded to 1 or 3 channels, not {other}"
            )))
        }
    };
    let (dst_w, dst_h) = if swaps_axes(orientation) {
        (shape.height, shape.width)
    } else {
        (shape.width, shape.height)
    };
    let channels = shape.channels;
    let displayed = if swaps_axes(orientation) {
        (src_h as u32, src_w as u32)
    } else {
        (src_w as u32, src_h as u32)
    };
    if orientation == Orientation::NoTransforms {
        fit(
            resizer,
            &pixels,
            (src_w, src_h),
            channels,
            out,
            (dst_w, dst_h),
            mode,
        )?;
        return Ok(displayed);
    }
    let mut small = vec![0u8; out.len()];
    fit(
        resizer,
        &pixels,
        (src_w, src_h),
        channels,
        &mut small,
        (dst_w, dst_h),
        mode,
    )?;
    let (w, h) = (dst_w as u32, dst_h as u32);
    let mut oriented = if channels == 1 {
        ImageBuffer::from_raw(w, h, small).map(DynamicImage::ImageLuma8)
    } else {
        ImageBuffer::from_raw(w, h, small).map(DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| DataError::Invalid("resized buffer does not match its size".into()))?;
    oriented.apply_orientation(orientation);
    out.copy_from_slice(oriented.as_bytes());
    Ok(displayed)
}

/// Copies when the sizes already match, else resizes.
fn fit(
    resizer: &mut Resizer,
    src: &[u8],
    src_size: (usize, usize),
    channels: usize,
    out: &mut [u8],
    dst_size: (usize, usize),
    mode: ResizeMode,
) -> Result<(), DataError> {
    if src_size == dst_size {
        out.copy_from_slice(src);
        Ok(())
    } else {
        resize_into(resizer, src, src_size, channels, out, dst_size, mode)
    }
}

/// Decodes one image file to `shape` (height x width x 1 or 3 channels) with `mode`: the same
/// decoding, orientation, colour conversion and resizing as the folder loader, for applying a
/// trained model to new files. Returns `shape.len()` bytes, row-major, channels interleaved.
pub fn load_image(path: &Path, shape: ImageShape, mode: ResizeMode) -> Result<Vec<u8>, DataError> {
    if shape.is_empty() {
        return Err(DataError::Invalid(format!(
            "cannot decode to an empty {}x{}x{} shape",
            shape.height, shape.width, shape.channels
        )));
    }
    let mut out = vec![0u8; shape.len()];
    load_image_into(path, shape, mode, &mut out)?;
    Ok(out)
}

thread_local! {
    /// One resizer per thread: it keeps its scratch buffers between images.
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// [`load_image`] into `out` (exactly `shape.len()` bytes), for decoding many files in parallel
/// into one buffer. Returns the file's own size as displayed (width, height, after the EXIF
/// orientation), so a caller can tell which images were resized.
pub fn load_image_into(
    path: &Path,
    shape: ImageShape,
    mode: ResizeMode,
    out: &mut [u8],
) -> Result<(u32, u32), DataError> {
    if shape.is_empty() || out.len() != shape.len() {
        return Err(DataError::Invalid(format!(
            "cannot decode {} into {} bytes as a {}x{}x{} image",
            path.display(),
            out.len(),
            shape.height,
            shape.width,
            shape.channels
        )));
    }
    RESIZER.with(|resizer| match resizer.try_borrow_mut() {
        Ok(mut resizer) => decode_into(path, shape, mode, &mut resizer, out),
        // Only reachable if decoding re-entered itself on this thread: use a fresh resizer.
        Err(_) => decode_into(path, shape, mode, &mut Resizer::new(), out),
    })
}

#[cfg(test)]
mod tests {
    use super::jpeg_is_complete;

    #[test]
    fn jpeg_completeness_follows_the_segments() {
        // SOI, APP1 holding a fake thumbnail with its own SOS/EOI, SOS with stuffed FF 00 and
        // a restart marker in the data, EOI, then trailing bytes.
        let mut j = vec![0xFF, 0xD8];
        j.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xDA, 0xFF, 0xD9, 0x00, 0x00]);
        j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        j.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        let body = j.clone();
        j.extend_from_slice(&[0xFF, 0xD9, 0x66, 0x77]);
        assert!(jpeg_is_complete(&j));
        assert!(!jpeg_is_complete(&body), "cut in the entropy-coded data");
        assert!(!jpeg_is_complete(&j[..8]), "cut inside the APP1 segment");
        assert!(!jpeg_is_complete(&[0xFF, 0xD8]));
    }
}
