//! Pictures of what the extractors see, for people (`pipeline show`).
//!
//! Writes into `out`: `image.png` (training image `index`, upscaled), and for the
//! extractors named in the feature set: `hog.png` (HOG glyphs over that image),
//! `color_histogram.png` (its colour histogram), `gabor_bank.png` (the filter bank's kernels)
//! and `kmeans_atoms.png` (the dictionary learned from the training split).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use wb_features::{color, gabor, hog, kmeans, Extractor, FeatureKind, FeatureSpec};

use crate::data::{load, DataParams};
use crate::feature_options::{self, name_option};
use crate::progress::Reporter;

/// What to draw.
#[derive(Debug, Clone)]
pub struct ShowParams {
    pub data: DataParams,
    /// The extractors to picture (k-means fits a dictionary on the training split).
    pub features: FeatureSpec,
    /// Folder to write the PNGs into (created if missing).
    pub out: PathBuf,
    /// Which training image to draw (0-based).
    pub index: usize,
}

/// Draws the pictures; returns the files written.
pub fn show(args: &ShowParams, reporter: &dyn Reporter) -> Result<Vec<PathBuf>> {
    let spec = &args.features;
    let (splits, info) = load(&args.data)?;
    for w in &info.warnings {
        reporter.line(&format!("warning: {w}"));
    }
    let train = &splits.train;
    feature_options::check(spec, train.images.shape())?;
    if args.index >= train.len() {
        bail!(
            "--index {} is past the training split's {} images",
            args.index,
            train.len()
        );
    }
    let image = train.images.get(args.index);
    let class = train
        .class_names
        .get(train.labels[args.index])
        .map_or("?", String::as_str);
    reporter.line(&format!(
        "drawing training image {} of {} (class {class})",
        args.index, info.dataset
    ));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;

    let mut written = Vec::new();
    let mut done = |name: &str| {
        let path = args.out.join(name);
        reporter.line(&format!("  {}", path.display()));
        written.push(path);
    };
    let s = image.shape;
    let picture = wb_plot::Picture {
        pixels: image.pixels,
        height: s.height,
        width: s.width,
        channels: s.channels,
    };
    let pixels: Vec<f32> = image.pixels.iter().map(|&p| f32::from(p)).collect();
    wb_plot::image_grid(
        &args.out.join("image.png"),
        &wb_plot::ImageGrid {
            title: &format!(
                "training image {} of {}\n{}x{} pixels",
                args.index, info.dataset, s.height, s.width
            ),
            tiles: &[wb_plot::Tile {
                values: &pixels,
                height: s.height,
                width: s.width,
                channels: s.channels,
                caption: class,
            }],
            columns: 1,
            scaling: wb_plot::Scaling::Range { lo: 0.0, hi: 255.0 },
            row_labels: &[],
            column_labels: &[],
        },
    )?;
    done("image.png");
    let named = |kind| spec.parts.contains(&kind);
    if named(FeatureKind::Hog) {
        let extractor = hog::Hog::new(spec.hog.clone(), s).map_err(name_option)?;
        let cells = extractor.cell_histograms(image).map_err(name_option)?;
        wb_plot::hog_glyphs(
            &args.out.join("hog.png"),
            &wb_plot::HogGlyphs {
                title: &format!(
                    "hog cell histograms\n{} px cells, {} orientations, before block normalisation",
                    spec.hog.cell_size, spec.hog.orientations
                ),
                image: picture,
                cell_size: spec.hog.cell_size,
                cell_rows: cells.rows,
                cell_cols: cells.cols,
                orientations: cells.orientations,
                histograms: &cells.values,
            },
        )?;
        done("hog.png");
    }
    if named(FeatureKind::Color) {
        let extractor = color::ColorHistogram::new(spec.color.clone(), s).map_err(name_option)?;
        let mut values = vec![0f32; extractor.dim(s)];
        extractor.extract(image, &mut values);
        let colours = color::bin_colours(&spec.color);
        let groups: Vec<wb_plot::HistogramGroup<'_>> = color::bin_groups(&spec.color)
            .into_iter()
            .map(|(label, range)| wb_plot::HistogramGroup {
                label,
                values: &values[range.clone()],
                colours: &colours[range],
            })
            .collect();
        wb_plot::colour_histogram(
            &args.out.join("color_histogram.png"),
            &wb_plot::ColourHistogram {
                title: &format!(
                    "colour histogram ({})\n{} bins per channel",
                    spec.color.mode, spec.color.bins
                ),
                groups: &groups,
                value_axis: "share of pixels",
            },
        )?;
        done("color_histogram.png");
    }
    if named(FeatureKind::Gabor) {
        let g = &spec.gabor;
        g.validate().map_err(name_option)?;
        let kernels: Vec<(Vec<f32>, usize)> = g
            .filters()
            .into_iter()
            .map(|(f, theta)| {
                let k = gabor::kernel(f, theta, g.bandwidth, g.n_stds);
                (k.real.iter().map(|&v| v as f32).collect(), k.size())
            })
            .collect();
        let tiles: Vec<wb_plot::Tile<'_>> = kernels
            .iter()
            .map(|(values, size)| wb_plot::Tile {
                values,
                height: *size,
                width: *size,
                channels: 1,
                caption: "",
            })
            .collect();
        let row_labels: Vec<String> = g.frequencies.iter().map(|f| format!("f = {f}")).collect();
        let column_labels: Vec<String> = (0..g.orientations)
            .map(|i| format!("{:.0}°", 180.0 * i as f64 / g.orientations as f64))
            .collect();
        wb_plot::image_grid(
            &args.out.join("gabor_bank.png"),
            &wb_plot::ImageGrid {
                title: &format!(
                    "gabor bank: {} filters, real parts\nrows: frequency (cycles/pixel); columns: orientation",
                    kernels.len()
                ),
                tiles: &tiles,
                columns: g.orientations,
                scaling: wb_plot::Scaling::Symmetric,
                row_labels: &row_labels,
                column_labels: &column_labels,
            },
        )?;
        done("gabor_bank.png");
    }
    if named(FeatureKind::Kmeans) {
        let t = Instant::now();
        let dict = kmeans::Dictionary::fit(&train.images, &spec.kmeans, args.data.seed)
            .map_err(name_option)?;
        reporter.line(&format!(
            "fitted {} atoms on {} patches of {} training images{} in {:.1}s",
            dict.num_centroids(),
            spec.kmeans.patches,
            train.len(),
            info.augment_note(),
            t.elapsed().as_secs_f64()
        ));
        let atoms = atoms_in_pixels(&dict);
        let p = dict.params().patch_size;
        let tiles: Vec<wb_plot::Tile<'_>> = atoms
            .iter()
            .map(|values| wb_plot::Tile {
                values,
                height: p,
                width: p,
                channels: dict.channels(),
                caption: "",
            })
            .collect();
        wb_plot::image_grid(
            &args.out.join("kmeans_atoms.png"),
            &wb_plot::ImageGrid {
                title: &format!(
                    "k-means dictionary: {} atoms of {p}x{p} pixels\nun-whitened, each stretched to its own range",
                    atoms.len()
                ),
                tiles: &tiles,
                columns: (atoms.len() as f64).sqrt().ceil() as usize,
                scaling: wb_plot::Scaling::MinMax,
                row_labels: &[],
                column_labels: &[],
            },
        )?;
        done("kmeans_atoms.png");
    }
    Ok(written)
}

/// Each centroid back in pixel space, `W⁻¹ c + μ`: the dictionary lives in the whitened space
/// (`W` symmetric positive definite, eigenvalues `(λ + ε)^(-1/2)`), people look at patches.
fn atoms_in_pixels(dict: &kmeans::Dictionary) -> Vec<Vec<f32>> {
    let d = dict.patch_dim();
    let w: Vec<f64> = dict.whitening().iter().map(|&v| f64::from(v)).collect();
    let unwhiten = kmeans::symmetric_eigen(&w, d)
        .map(|e| e.compose(|l| if l > 0.0 { 1.0 / l } else { 0.0 }))
        .unwrap_or_else(|_| vec![0.0; d * d]);
    dict.centroids()
        .chunks_exact(d)
        .map(|c| {
            (0..d)
                .map(|i| {
                    let x: f64 = (0..d).map(|j| unwhiten[i * d + j] * f64::from(c[j])).sum();
                    (x + f64::from(dict.mean()[i])) as f32
                })
                .collect()
        })
        .collect()
}
