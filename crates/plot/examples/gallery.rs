//! Draws every picture wb-plot makes from made-up data into a folder (default
//! `target/gallery/`, out of git's way): `cargo run -p wb-plot --example gallery -- [OUT_DIR]`.
//! It prints the files it wrote; look at each after changing the crate.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/gallery"), PathBuf::from);
    let files = [
        bars(&out)?,
        curves(&out)?,
        confusion(&out)?,
        templates(&out)?,
        first_layer(&out)?,
        atoms(&out)?,
        gabor(&out)?,
        hog(&out)?,
        regions(&out)?,
        histogram(&out)?,
    ];
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn bars(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("accuracy_bars.png");
    let series = names(&["raw", "color", "hog", "gabor", "kmeans", "hog,color"]);
    let groups = names(&["svm", "softmax", "mlp"]);
    let values = vec![
        vec![Some(0.3905), Some(0.4012), Some(0.5231)],
        vec![Some(0.2811), Some(0.2790), Some(0.3012)],
        vec![Some(0.5204), Some(0.5155), Some(0.5832)],
        vec![Some(0.4422), Some(0.4390), None],
        vec![Some(0.6703), Some(0.6650), Some(0.7011)],
        vec![Some(0.5533), Some(0.5490), Some(0.6120)],
    ];
    wb_plot::accuracy_bars(
        &file,
        &wb_plot::GroupedBars {
            title: "test accuracy, cifar-10\n50,000 training images, 10,000 test images",
            groups: &groups,
            series: &series,
            values: &values,
            group_axis: "model",
            value_axis: "test accuracy",
        },
    )?;
    Ok(file)
}

fn curves(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("learning_curves.png");
    // Two made-up runs: a wide network that overfits and a narrow one that does not.
    let run = |epochs: usize, rate: f64, gap: f64, ceiling: f64| -> Vec<wb_plot::EpochPoint> {
        (1..=epochs)
            .map(|e| {
                let t = 1.0 - (-(e as f64) * rate).exp();
                wb_plot::EpochPoint {
                    epoch: e,
                    loss: 2.3 - 1.6 * t,
                    train_accuracy: 0.1 + (ceiling - 0.1) * t,
                    val_accuracy: Some(0.1 + (ceiling - 0.1 - gap) * t),
                }
            })
            .collect()
    };
    let wide = run(30, 0.15, 0.12, 0.78);
    let narrow = run(30, 0.1, 0.03, 0.58);
    wb_plot::learning_curves(
        &file,
        &wb_plot::LearningCurves {
            title: "mlp on raw pixels\nlearning rate 0.01, batch 200, cosine schedule",
            step_axis: "epoch",
            runs: &[
                wb_plot::CurveRun {
                    label: "1000 hidden units",
                    points: &wide,
                },
                wb_plot::CurveRun {
                    label: "100 hidden units",
                    points: &narrow,
                },
            ],
        },
    )?;
    Ok(file)
}

const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

fn confusion(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("confusion_matrix.png");
    let class_names = names(&CLASSES);
    // 1000 test images per class; most on the diagonal, cats and dogs confused.
    let counts: Vec<Vec<usize>> = (0..10)
        .map(|t| {
            let mut row: Vec<usize> = (0..10).map(|p| (t * 7 + p * 3) % 23 + 4).collect();
            if t == 3 {
                row[5] = 210;
            }
            if t == 5 {
                row[3] = 185;
            }
            let off: usize = row
                .iter()
                .enumerate()
                .filter(|&(p, _)| p != t)
                .map(|(_, c)| c)
                .sum();
            row[t] = 1000 - off;
            row
        })
        .collect();
    wb_plot::confusion_matrix(
        &file,
        &wb_plot::ConfusionMatrix {
            title:
                "softmax on hog,color: test confusion\ncifar-10, 10,000 test images, accuracy 0.830",
            class_names: &class_names,
            counts: &counts,
        },
    )?;
    Ok(file)
}

/// A small deterministic generator for made-up noise (xorshift64*), values in -1..1.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        bits as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A `side x side x 3` picture: a blob of colour `rgb` at the centre with a ring around it,
/// plus noise of amplitude `noise`.
fn blob(side: usize, rgb: [f32; 3], ring: f32, noise: f32, seed: u64) -> Vec<f32> {
    let mut rng = Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let c = (side as f32 - 1.0) / 2.0;
    let mut out = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        for x in 0..side {
            let r = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt() / side as f32;
            let core = (-r * r * 30.0).exp();
            let halo = (-(r - 0.35).powi(2) * 200.0).exp() * ring;
            for ch in 0..3 {
                out.push(rgb[ch] * core - 0.5 * rgb[2 - ch] * halo + noise * rng.next());
            }
        }
    }
    out
}

fn templates(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("templates.png");
    let pictures: Vec<Vec<f32>> = (0..10)
        .map(|k| {
            let rgb = wb_plot::palette::colour(k).map(|v| f32::from(v) / 255.0 - 0.4);
            blob(32, rgb, 1.0, 0.25, k as u64 + 1)
        })
        .collect();
    let tiles: Vec<wb_plot::Tile<'_>> = pictures
        .iter()
        .zip(CLASSES)
        .map(|(values, caption)| wb_plot::Tile {
            values,
            height: 32,
            width: 32,
            channels: 3,
            caption,
        })
        .collect();
    wb_plot::image_grid(
        &file,
        &wb_plot::ImageGrid {
            title: "svm templates on raw pixels\none weight row per class, each stretched from its smallest to its largest weight",
            tiles: &tiles,
            columns: 5,
            scaling: wb_plot::Scaling::MinMax,
            row_labels: &[],
            column_labels: &[],
        },
    )?;
    Ok(file)
}

fn first_layer(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("mlp_first_layer.png");
    let pictures: Vec<Vec<f32>> = (0..100)
        .map(|k| {
            let rgb = wb_plot::palette::colour(k).map(|v| f32::from(v) / 255.0 - 0.5);
            blob(32, rgb, (k % 3) as f32, 0.6, 100 + k as u64)
        })
        .collect();
    let tiles: Vec<wb_plot::Tile<'_>> = pictures
        .iter()
        .map(|values| wb_plot::Tile {
            values,
            height: 32,
            width: 32,
            channels: 3,
            caption: "",
        })
        .collect();
    wb_plot::image_grid(
        &file,
        &wb_plot::ImageGrid {
            title: "mlp first layer: 100 of 1000 hidden units\neach unit's input weights as a 32x32 picture, stretched on its own",
            tiles: &tiles,
            columns: 10,
            scaling: wb_plot::Scaling::MinMax,
            row_labels: &[],
            column_labels: &[],
        },
    )?;
    Ok(file)
}

fn atoms(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("kmeans_atoms.png");
    // 6x6 patches: oriented edges and colour blobs.
    let pictures: Vec<Vec<f32>> = (0..64)
        .map(|k| {
            let angle = k as f32 * 0.7;
            let (s, c) = angle.sin_cos();
            let tint = wb_plot::palette::colour(k % 10).map(|v| f32::from(v) / 255.0);
            (0..36)
                .flat_map(|i| {
                    let (y, x) = ((i / 6) as f32 - 2.5, (i % 6) as f32 - 2.5);
                    let edge = (x * c + y * s).tanh();
                    tint.map(|t| {
                        if k % 4 == 0 {
                            t
                        } else {
                            edge * (0.6 + 0.4 * t)
                        }
                    })
                })
                .collect()
        })
        .collect();
    let tiles: Vec<wb_plot::Tile<'_>> = pictures
        .iter()
        .map(|values| wb_plot::Tile {
            values,
            height: 6,
            width: 6,
            channels: 3,
            caption: "",
        })
        .collect();
    wb_plot::image_grid(
        &file,
        &wb_plot::ImageGrid {
            title:
                "k-means dictionary: 64 atoms of 6x6 pixels\nun-whitened, each stretched on its own",
            tiles: &tiles,
            columns: 8,
            scaling: wb_plot::Scaling::MinMax,
            row_labels: &[],
            column_labels: &[],
        },
    )?;
    Ok(file)
}

fn gabor(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("gabor_bank.png");
    let frequencies = [0.05f32, 0.1, 0.2, 0.4];
    let orientations = 8;
    // Real part of a Gabor kernel: a cosine of `frequency` cycles per pixel across `theta`
    // under a Gaussian of sigma ~ 0.56 / frequency (bandwidth 1), cut at 3 sigma.
    let kernels: Vec<(usize, Vec<f32>)> = frequencies
        .iter()
        .flat_map(|&f| {
            (0..orientations).map(move |o| {
                let theta = o as f32 * std::f32::consts::PI / orientations as f32;
                let sigma = 0.56 / f;
                let radius = (3.0 * sigma).ceil() as i32;
                let side = (2 * radius + 1) as usize;
                let values = (0..side * side)
                    .map(|i| {
                        let (y, x) = (
                            (i / side) as f32 - radius as f32,
                            (i % side) as f32 - radius as f32,
                        );
                        let along = x * theta.cos() + y * theta.sin();
                        (-(x * x + y * y) / (2.0 * sigma * sigma)).exp()
                            * (2.0 * std::f32::consts::PI * f * along).cos()
                    })
                    .collect();
                (side, values)
            })
        })
        .collect();
    let tiles: Vec<wb_plot::Tile<'_>> = kernels
        .iter()
        .map(|(side, values)| wb_plot::Tile {
            values,
            height: *side,
            width: *side,
            channels: 1,
            caption: "",
        })
        .collect();
    let rows: Vec<String> = frequencies.iter().map(|f| format!("f = {f}")).collect();
    let columns: Vec<String> = (0..orientations)
        .map(|o| format!("{}°", o as f32 * 180.0 / orientations as f32))
        .collect();
    wb_plot::image_grid(
        &file,
        &wb_plot::ImageGrid {
            title: "gabor bank: 4 frequencies x 8 orientations\nreal part of each kernel; 0 is mid-grey, each kernel stretched to its peak",
            tiles: &tiles,
            columns: orientations,
            scaling: wb_plot::Scaling::Symmetric,
            row_labels: &rows,
            column_labels: &columns,
        },
    )?;
    Ok(file)
}

fn hog(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("hog_glyphs.png");
    // A 32x32 picture: an orange disc on a blue background; its gradients point radially, so
    // the strokes (along the edges) run round the disc.
    let side = 32;
    let pixels: Vec<u8> = (0..side * side)
        .flat_map(|i| {
            let (y, x) = ((i / side) as f32 - 15.5, (i % side) as f32 - 15.5);
            if (x * x + y * y).sqrt() < 10.0 {
                [240, 140, 40]
            } else {
                [40, 80, 160]
            }
        })
        .collect();
    let (cells, cell, bins) = (4, 8, 9);
    let histograms: Vec<f32> = (0..cells * cells)
        .flat_map(|k| {
            // The gradient direction at the cell centre is radial: angle of (x, y) from the
            // image centre, folded to 0..π.
            let (y, x) = (
                ((k / cells) as f32 + 0.5) * cell as f32 - 16.0,
                ((k % cells) as f32 + 0.5) * cell as f32 - 16.0,
            );
            let angle = y.atan2(x).rem_euclid(std::f32::consts::PI);
            let edge = (-(((x * x + y * y).sqrt() - 10.0) / 6.0).powi(2)).exp();
            (0..bins).map(move |b| {
                let centre = (b as f32 + 0.5) * std::f32::consts::PI / bins as f32;
                let d = (angle - centre)
                    .abs()
                    .min(std::f32::consts::PI - (angle - centre).abs());
                0.05 + edge * (-(d * d) / 0.05).exp()
            })
        })
        .collect();
    wb_plot::hog_glyphs(
        &file,
        &wb_plot::HogGlyphs {
            title: "what hog sees in training image 0 (class: disc)\nstroke brightness: the bin's share of the largest bin",
            image: wb_plot::Picture {
                pixels: &pixels,
                height: side,
                width: side,
                channels: 3,
            },
            cell_size: cell,
            cell_rows: cells,
            cell_cols: cells,
            orientations: bins,
            histograms: &histograms,
        },
    )?;
    Ok(file)
}

/// CS231n's spiral: `classes` arms of `per_class` points.
fn spiral(per_class: usize, classes: usize, seed: u64) -> (Vec<[f32; 2]>, Vec<usize>) {
    let mut rng = Noise(seed | 1);
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for k in 0..classes {
        for i in 0..per_class {
            let r = i as f32 / per_class as f32;
            let t = k as f32 * 4.0 + 4.0 * r + 0.2 * rng.next();
            points.push([r * t.sin(), r * t.cos()]);
            labels.push(k);
        }
    }
    (points, labels)
}

/// A k-nearest-neighbour vote: a stand-in classifier whose boundaries get smoother with k.
fn knn(points: &[[f32; 2]], labels: &[usize], k: usize, at: [f32; 2]) -> usize {
    let mut d: Vec<(f32, usize)> = points
        .iter()
        .zip(labels)
        .map(|(p, &l)| ((p[0] - at[0]).powi(2) + (p[1] - at[1]).powi(2), l))
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut votes = [0usize; 3];
    for &(_, l) in d.iter().take(k) {
        votes[l] += 1;
    }
    (0..3).max_by_key(|&c| votes[c]).unwrap_or(0)
}

fn regions(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("decision_regions.png");
    let (points, labels) = spiral(100, 3, 7);
    let window = wb_plot::Window::around(&points);
    let grid = 150;
    let centres = window.cell_centres(grid, grid);
    let panel_data: Vec<(String, Vec<usize>)> = [1, 5, 15, 40, 90, 200]
        .iter()
        .map(|&k| {
            let predicted: Vec<usize> = centres
                .iter()
                .map(|&c| knn(&points, &labels, k, c))
                .collect();
            let train = points
                .iter()
                .zip(&labels)
                .filter(|&(&p, &l)| knn(&points, &labels, k, p) == l)
                .count() as f64
                / points.len() as f64;
            let plural = if k == 1 { "" } else { "s" };
            let title = format!(
                "{k} neighbour{plural}\ntrain {train:.2}, test {:.2}",
                train - 0.03
            );
            (title, predicted)
        })
        .collect();
    let panels: Vec<wb_plot::RegionPanel<'_>> = panel_data
        .iter()
        .map(|(title, predicted)| wb_plot::RegionPanel {
            title,
            window,
            grid_columns: grid,
            grid_rows: grid,
            predicted,
            points: &points,
            labels: &labels,
        })
        .collect();
    let class_names = names(&["arm 0", "arm 1", "arm 2"]);
    wb_plot::decision_regions(
        &file,
        &wb_plot::DecisionRegions {
            title: "spiral: k-nearest-neighbour votes\nshade: the class predicted there; dots: training points",
            rows: &[
                wb_plot::RegionRow {
                    heading: "few neighbours: intricate boundaries",
                    panels: &panels[..3],
                },
                wb_plot::RegionRow {
                    heading: "many neighbours: smoother boundaries",
                    panels: &panels[3..],
                },
            ],
            panel_size: 360,
            class_names: &class_names,
        },
    )?;
    Ok(file)
}

/// HSV to RGB, all in 0..1.
fn hsv(h: f32, s: f32, v: f32) -> [u8; 3] {
    let h6 = h.rem_euclid(1.0) * 6.0;
    let f = h6 - h6.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match h6.floor() as i32 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r, g, b].map(|c| (c * 255.0).round() as u8)
}

fn histogram(out: &Path) -> Result<PathBuf, wb_plot::PlotError> {
    let file = out.join("colour_histogram.png");
    let bins = 10;
    let centre = |i: usize| (i as f32 + 0.5) / bins as f32;
    let shares = |peak: f32| -> Vec<f32> {
        let raw: Vec<f32> = (0..bins)
            .map(|i| 0.02 + (-(centre(i) - peak).powi(2) * 40.0).exp())
            .collect();
        let total: f32 = raw.iter().sum();
        raw.iter().map(|v| v / total).collect()
    };
    let (hue, saturation, value) = (shares(0.08), shares(0.7), shares(0.55));
    let hue_colours: Vec<[u8; 3]> = (0..bins).map(|i| hsv(centre(i), 1.0, 1.0)).collect();
    let sat_colours: Vec<[u8; 3]> = (0..bins).map(|i| hsv(0.0, centre(i), 1.0)).collect();
    let value_colours: Vec<[u8; 3]> = (0..bins).map(|i| hsv(0.0, 0.0, centre(i))).collect();
    wb_plot::colour_histogram(
        &file,
        &wb_plot::ColourHistogram {
            title: "colour histogram of training image 0\nper-channel hsv, 10 bins each",
            groups: &[
                wb_plot::HistogramGroup {
                    label: "hue",
                    values: &hue,
                    colours: &hue_colours,
                },
                wb_plot::HistogramGroup {
                    label: "saturation",
                    values: &saturation,
                    colours: &sat_colours,
                },
                wb_plot::HistogramGroup {
                    label: "value",
                    values: &value,
                    colours: &value_colours,
                },
            ],
            value_axis: "share of pixels",
        },
    )?;
    Ok(file)
}
