//! Decode + resize speed on photo-like JPEGs, and the `image` crate's resize against
//! `fast_image_resize` (the one the loader uses).
//!
//! No photo collection ships with the workbench, so the example makes one: the first `--count`
//! CIFAR-10 training images, each upscaled to 500x375 (Lanczos3), given photographic detail
//! (three octaves of value noise at 32, 8 and 2 pixel spacing, amplitudes 12, 10 and 12 levels,
//! the same for the three channels, plus per-pixel, per-channel Gaussian noise of sigma 6) and
//! saved as quality-90 4:2:0 JPEG in `--photos DIR/<class>/NNNNN.jpg` (a temporary folder
//! unless given; kept when given). The detail matters: JPEG decoding time grows with the
//! entropy-coded bits, and a smooth upscale compresses to ~1 bit/pixel where these files take
//! ~2.5 (a mean of ~60 kB), the size of ordinary web photos at this resolution.
//!
//! ```sh
//! cargo run --release -p wb-data --example decode_speed -- \
//!     --data-dir /work/shared/datasets --count 2000 --photos /tmp/photos --rounds 3
//! ```
//!
//! Prints, per round: the folder loader end to end (headers + decode + resize to 64x64 crop, on
//! the current rayon threads); decode alone; and resize alone on decoded images with each
//! library, one thread. The medians go in BENCHMARKS.md with `bench/peers/decode_resize.sh`,
//! which also runs Pillow on the same files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use fast_image_resize as fr;
use image::imageops::FilterType;
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use wb_data::cifar::load_cifar10;
use wb_data::folder::FolderParams;
use wb_data::locate::resolve_dir;
use wb_data::DatasetKind;

const PHOTO_W: u32 = 500;
const PHOTO_H: u32 = 375;
const SIDE: u32 = 64;
/// Texture octaves: (grid spacing in pixels, amplitude in levels).
const OCTAVES: [(usize, f32); 3] = [(32, 12.0), (8, 10.0), (2, 12.0)];
/// Per-pixel Gaussian noise, levels.
const SENSOR_SIGMA: f32 = 6.0;

struct Args {
    data_dir: PathBuf,
    count: usize,
    photos: Option<PathBuf>,
    rounds: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data_dir: std::env::var_os("WB_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/work/shared/datasets")),
        count: 2000,
        photos: None,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--data-dir" => args.data_dir = PathBuf::from(value()?),
            "--count" => args.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--photos" => args.photos = Some(PathBuf::from(value()?)),
            "--rounds" => args.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.count == 0 || args.rounds == 0 {
        return Err("--count and --rounds must be at least 1".into());
    }
    Ok(args)
}

/// Bilinearly interpolated random values on a grid of `spacing` pixels, in [-1, 1].
fn value_noise(rng: &mut ChaCha8Rng, w: usize, h: usize, spacing: usize) -> Vec<f32> {
    let (gw, gh) = (w / spacing + 2, h / spacing + 2);
    let grid: Vec<f32> = (0..gw * gh).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let fy = y as f32 / spacing as f32;
        let (y0, ty) = (fy as usize, fy.fract());
        for x in 0..w {
            let fx = x as f32 / spacing as f32;
            let (x0, tx) = (fx as usize, fx.fract());
            let g = |gx: usize, gy: usize| grid[gy * gw + gx];
            let top = g(x0, y0) * (1.0 - tx) + g(x0 + 1, y0) * tx;
            let bottom = g(x0, y0 + 1) * (1.0 - tx) + g(x0 + 1, y0 + 1) * tx;
            out[y * w + x] = top * (1.0 - ty) + bottom * ty;
        }
    }
    out
}

/// A 500x375 photo-like JPEG (quality 90, 4:2:0) from a 32x32 CIFAR image.
fn make_photo(pixels: &[u8], seed: u64) -> Vec<u8> {
    let src = fr::images::ImageRef::new(32, 32, pixels, fr::PixelType::U8x3).expect("32x32 RGB");
    let mut big = fr::images::Image::new(PHOTO_W, PHOTO_H, fr::PixelType::U8x3);
    fr::Resizer::new()
        .resize(
            &src,
            &mut big,
            &fr::ResizeOptions::new()
                .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3)),
        )
        .expect("upscale");
    let (w, h) = (PHOTO_W as usize, PHOTO_H as usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let octaves: Vec<(Vec<f32>, f32)> = OCTAVES
        .into_iter()
        .map(|(spacing, amplitude)| (value_noise(&mut rng, w, h, spacing), amplitude))
        .collect();
    let sensor = Normal::new(0.0f32, SENSOR_SIGMA).expect("sigma > 0");
    let mut rgb = big.into_vec();
    for (i, px) in rgb.chunks_exact_mut(3).enumerate() {
        let texture: f32 = octaves.iter().map(|(n, a)| n[i] * a).sum();
        for v in px {
            let noisy = *v as f32 + texture + sensor.sample(&mut rng);
            *v = noisy.round().clamp(0.0, 255.0) as u8;
        }
    }
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    enc.encode(
        &rgb,
        PHOTO_W as u16,
        PHOTO_H as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .expect("encode");
    out
}

/// Writes the photos unless `dir` already holds `count` of them; returns their paths.
fn ensure_photos(dir: &Path, data_dir: &Path, count: usize) -> Result<Vec<PathBuf>, String> {
    let existing = list_jpegs(dir);
    if existing.len() >= count {
        return Ok(existing.into_iter().take(count).collect());
    }
    let cifar_dir = resolve_dir(DatasetKind::Cifar10, data_dir).map_err(|e| e.to_string())?;
    let data = load_cifar10(&cifar_dir).map_err(|e| e.to_string())?;
    let train = &data.train;
    let n = count.min(train.len());
    let t = Instant::now();
    let files: Vec<(PathBuf, Vec<u8>)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let class = &train.class_names[train.labels[i]];
            let path = dir.join(class).join(format!("{i:05}.jpg"));
            (path, make_photo(train.images.get(i).pixels, i as u64))
        })
        .collect();
    for (path, bytes) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    eprintln!("wrote {n} photos in {:.1}s", t.elapsed().as_secs_f64());
    Ok(list_jpegs(dir))
}

fn list_jpegs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(classes) = std::fs::read_dir(dir) else {
        return out;
    };
    for class in classes.flatten() {
        if let Ok(files) = std::fs::read_dir(class.path()) {
            out.extend(
                files
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "jpg")),
            );
        }
    }
    out.sort();
    out
}

fn decode(path: &Path) -> RgbImage {
    image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .expect("open")
        .decode()
        .expect("decode")
        .into_rgb8()
}

/// The `image` crate's way to torchvision's Resize(64) + CenterCrop(64): resize the shorter
/// side to 64 with the (antialiased) triangle filter, then crop the centre.
fn resize_image_crate(img: &RgbImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let scale = SIDE as f64 / w.min(h) as f64;
    let (rw, rh) = (
        ((w as f64 * scale).round() as u32).max(SIDE),
        ((h as f64 * scale).round() as u32).max(SIDE),
    );
    let resized = image::imageops::resize(img, rw, rh, FilterType::Triangle);
    let (x, y) = ((rw - SIDE) / 2, (rh - SIDE) / 2);
    image::imageops::crop_imm(&resized, x, y, SIDE, SIDE)
        .to_image()
        .into_raw()
}

/// The loader's resize: `fast_image_resize`, bilinear convolution, centre crop box.
fn resize_fir(resizer: &mut fr::Resizer, img: &RgbImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let src = fr::images::ImageRef::new(w, h, img.as_raw(), fr::PixelType::U8x3).expect("rgb");
    let mut dst = fr::images::Image::new(SIDE, SIDE, fr::PixelType::U8x3);
    let side = w.min(h) as f64;
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear))
        .crop((w as f64 - side) / 2.0, (h as f64 - side) / 2.0, side, side);
    resizer.resize(&src, &mut dst, &options).expect("resize");
    dst.into_vec()
}

/// CPU seconds this process has used (user + system, all threads), from /proc/self/stat
/// (fields 14 and 15, in clock ticks of 1/100 s); 0 where /proc is missing.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn first_line(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l.split(':').nth(1).unwrap_or(l).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let temp;
    let dir = match &args.photos {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().expect("temporary folder");
            temp.path().to_path_buf()
        }
    };
    let files = match ensure_photos(&dir, &args.data_dir, args.count) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mean_kb = bytes as f64 / files.len() as f64 / 1000.0;
    println!(
        "photos: {} JPEGs {PHOTO_W}x{PHOTO_H} q90 4:2:0 in {}, mean {mean_kb:.1} kB ({:.2} bits/pixel)",
        files.len(),
        dir.display(),
        bytes as f64 * 8.0 / files.len() as f64 / (PHOTO_W * PHOTO_H) as f64
    );
    println!(
        "cpu: {}; threads: {}; load average: {}",
        first_line("/proc/cpuinfo", "model name"),
        rayon::current_num_threads(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    // Resize-alone inputs: the first 200 photos, decoded once.
    let sample: Vec<RgbImage> = files.iter().take(200).map(|f| decode(f)).collect();
    let params = FolderParams {
        image_size: Some((SIDE as usize, SIDE as usize)),
        ..FolderParams::default()
    }
    .check()
    .expect("valid parameters");
    let (mut loader, mut decode_only, mut image_rs, mut fir) = (vec![], vec![], vec![], vec![]);
    let mut per_cpu_second = vec![];
    for round in 0..args.rounds {
        let cpu = cpu_seconds();
        let loaded = params.load(&dir, None).expect("load the photo folder");
        let cpu = cpu_seconds() - cpu;
        assert_eq!(loaded.stats.images, files.len());
        loader.push(loaded.stats.images_per_second());
        per_cpu_second.push(files.len() as f64 / cpu.max(0.01));

        let t = Instant::now();
        let decoded: usize = files.par_iter().map(|f| decode(f).width() as usize).sum();
        assert!(decoded > 0);
        decode_only.push(files.len() as f64 / t.elapsed().as_secs_f64());

        // Alternate which resizer goes first, so neither always runs on a warmer machine.
        let run_image = |out: &mut Vec<f64>| {
            let t = Instant::now();
            let n: usize = sample.iter().map(|i| resize_image_crate(i).len()).sum();
            assert_eq!(n, sample.len() * (SIDE * SIDE * 3) as usize);
            out.push(sample.len() as f64 / t.elapsed().as_secs_f64());
        };
        let run_fir = |out: &mut Vec<f64>| {
            let mut resizer = fr::Resizer::new();
            let t = Instant::now();
            let n: usize = sample
                .iter()
                .map(|i| resize_fir(&mut resizer, i).len())
                .sum();
            assert_eq!(n, sample.len() * (SIDE * SIDE * 3) as usize);
            out.push(sample.len() as f64 / t.elapsed().as_secs_f64());
        };
        if round % 2 == 0 {
            run_image(&mut image_rs);
            run_fir(&mut fir);
        } else {
            run_fir(&mut fir);
            run_image(&mut image_rs);
        }
        println!(
            "round {}: loader {:.0} images/s ({:.0} per CPU-second); decode only {:.0}/s; \
             resize only (1 thread): image {:.0}/s, fast_image_resize {:.0}/s",
            round + 1,
            loader[round],
            per_cpu_second[round],
            decode_only[round],
            image_rs[round],
            fir[round]
        );
    }
    println!(
        "median of {}: loader (headers + decode + resize to {SIDE}x{SIDE} crop, {} threads) \
         {:.0} images/s, {:.0} per CPU-second; decode only {:.0}/s; resize only, 1 thread: \
         image::imageops::resize (Triangle) {:.0}/s, fast_image_resize (Bilinear) {:.0}/s",
        args.rounds,
        rayon::current_num_threads(),
        median(loader),
        median(per_cpu_second),
        median(decode_only),
        median(image_rs),
        median(fir)
    );
}
