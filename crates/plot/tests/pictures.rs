//! Every picture: written as a PNG of the expected size, with the colours its data asks for
//! where the data puts them; bad input refused with a message naming the file and the
//! problem, and no file (partial or temporary) left behind.

use std::path::{Path, PathBuf};

use image::RgbImage;
use wb_plot::palette::{blues, colour, light};
use wb_plot::*;

fn read(path: &Path) -> RgbImage {
    image::open(path).expect("the PNG decodes").to_rgb8()
}

fn count(img: &RgbImage, c: [u8; 3]) -> usize {
    img.pixels().filter(|p| p.0 == c).count()
}

/// The longest vertical run of pixels of exactly `c` in any column: a bar's height.
fn tallest_run(img: &RgbImage, c: [u8; 3]) -> u32 {
    let mut best = 0;
    for x in 0..img.width() {
        let mut run = 0;
        for y in 0..img.height() {
            run = if img.get_pixel(x, y).0 == c {
                run + 1
            } else {
                0
            };
            best = best.max(run);
        }
    }
    best
}

/// Dark (text) pixels in the band of rows `rows`.
fn ink_in_rows(img: &RgbImage, rows: std::ops::Range<u32>) -> usize {
    rows.flat_map(|y| (0..img.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&v| v < 100))
        .count()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The files in `dir` (to check that nothing but the picture, or nothing at all, is there).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

/// `result` is an invalid-input error naming `file` and containing every phrase, and `file`
/// was not written.
fn assert_refused(result: Result<(), PlotError>, file: &Path, phrases: &[&str]) {
    let err = result.expect_err("bad input must be refused");
    assert!(matches!(err, PlotError::InvalidInput { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    for phrase in phrases {
        assert!(message.contains(phrase), "{message:?} lacks {phrase:?}");
    }
    assert!(!file.exists(), "{} was written", file.display());
    if let Some(dir) = file.parent() {
        assert!(files_in(dir).is_empty(), "left behind: {:?}", files_in(dir));
    }
}

fn bars_input<'a>(
    groups: &'a [String],
    series: &'a [String],
    values: &'a [Vec<Option<f64>>],
) -> GroupedBars<'a> {
    GroupedBars {
        title: "test accuracy\nsubtitle",
        groups,
        series,
        values,
        group_axis: "model",
        value_axis: "test accuracy",
    }
}

#[test]
fn accuracy_bars_are_as_high_as_their_values_and_only_the_png_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bars.png");
    let (groups, series) = (names(&["svm", "mlp"]), names(&["raw", "hog", "gabor"]));
    let values = vec![
        vec![Some(0.5), Some(0.25)],
        vec![Some(1.0), Some(0.75)],
        vec![None, Some(0.125)],
    ];
    accuracy_bars(&file, &bars_input(&groups, &series, &values)).unwrap();
    let img = read(&file);
    assert_eq!(img.width(), 1200, "a few bars fit the standard width");
    assert!(img.height() > 600);
    assert_eq!(files_in(dir.path()), vec![file.clone()]);
    // The tallest bar of each series is its largest value; heights are proportional.
    let (raw, hog, gabor) = (
        tallest_run(&img, colour(0)),
        tallest_run(&img, colour(1)),
        tallest_run(&img, colour(2)),
    );
    assert!(
        (f64::from(hog) / f64::from(raw) - 2.0).abs() < 0.02,
        "{raw} {hog}"
    );
    assert!(
        (f64::from(raw) / f64::from(gabor) - 4.0).abs() < 0.1,
        "{raw} {gabor}"
    );
    assert!(ink_in_rows(&img, 0..60) > 200, "the title is drawn");
    // A missing value draws no bar: gabor's only bar is 0.125 high, under a legend square.
    assert!(gabor < hog / 6);
}

#[test]
fn accuracy_bars_widen_for_many_bars_and_overwrite_an_earlier_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bars.png");
    std::fs::write(&file, b"old").unwrap();
    let groups = names(&["a", "b", "c", "d", "e", "f"]);
    let series = names(&["1", "2", "3", "4", "5", "6", "7", "8"]);
    let values = vec![vec![Some(0.9); 6]; 8];
    accuracy_bars(&file, &bars_input(&groups, &series, &values)).unwrap();
    let img = read(&file);
    assert!(
        img.width() > 1200,
        "48 bars with printed values need more room"
    );
    for s in 0..8 {
        assert!(count(&img, colour(s)) > 1000, "series {s} has bars");
    }
}

#[test]
fn accuracy_bars_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bars.png");
    let (g, s) = (names(&["svm"]), names(&["raw"]));
    assert_refused(
        accuracy_bars(&file, &bars_input(&[], &s, &[vec![]])),
        &file,
        &["no groups"],
    );
    assert_refused(
        accuracy_bars(&file, &bars_input(&g, &[], &[])),
        &file,
        &["no series"],
    );
    assert_refused(
        accuracy_bars(&file, &bars_input(&g, &s, &[])),
        &file,
        &["1 series but 0 rows"],
    );
    assert_refused(
        accuracy_bars(&file, &bars_input(&g, &s, &[vec![Some(0.5), Some(0.5)]])),
        &file,
        &["series 0 ('raw')", "2 values for 1 groups"],
    );
    assert_refused(
        accuracy_bars(&file, &bars_input(&g, &s, &[vec![Some(1.5)]])),
        &file,
        &["'svm'", "1.5", "outside 0..=1"],
    );
    assert_refused(
        accuracy_bars(&file, &bars_input(&g, &s, &[vec![Some(f64::NAN)]])),
        &file,
        &["NaN"],
    );
}

fn epochs(n: usize, top: f64) -> Vec<EpochPoint> {
    (1..=n)
        .map(|e| EpochPoint {
            epoch: e,
            loss: 2.0 / e as f64,
            train_accuracy: top * e as f64 / n as f64,
            val_accuracy: Some(0.9 * top * e as f64 / n as f64),
        })
        .collect()
}

#[test]
fn learning_curves_draw_every_run_in_its_colour() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("curves.png");
    let (a, b) = (epochs(10, 0.9), epochs(25, 0.6));
    let runs = [
        CurveRun {
            label: "wide",
            points: &a,
        },
        CurveRun {
            label: "narrow",
            points: &b,
        },
    ];
    learning_curves(
        &file,
        &LearningCurves {
            title: "mlp",
            runs: &runs,
            step_axis: "epoch",
        },
    )
    .unwrap();
    let img = read(&file);
    assert_eq!(img.width(), 2 * 24 + 2 * 660 + 40);
    // Lines are anti-aliased, but their cores (and the legend samples) are the exact colour.
    for k in 0..2 {
        assert!(
            count(&img, colour(k)) > 500,
            "run {k}: {}",
            count(&img, colour(k))
        );
    }
    // The left panel holds the loss, the right the accuracies: both show both runs.
    let half = img.width() / 2;
    for k in 0..2 {
        let left = (0..half)
            .flat_map(|x| (200..img.height()).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == colour(k))
            .count();
        let right = (half..img.width())
            .flat_map(|x| (200..img.height()).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == colour(k))
            .count();
        assert!(left > 200 && right > 400, "run {k}: {left} {right}");
    }
}

#[test]
fn learning_curves_draw_a_single_epoch_and_runs_without_validation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.png");
    let point = [EpochPoint {
        epoch: 1,
        loss: 0.0,
        train_accuracy: 1.0,
        val_accuracy: None,
    }];
    let runs = [CurveRun {
        label: "",
        points: &point,
    }];
    learning_curves(
        &file,
        &LearningCurves {
            title: "",
            runs: &runs,
            step_axis: "iteration",
        },
    )
    .unwrap();
    assert!(count(&read(&file), colour(0)) > 50, "the markers are drawn");
}

#[test]
fn learning_curves_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("curves.png");
    let curves = |runs| LearningCurves {
        title: "t",
        runs,
        step_axis: "epoch",
    };
    assert_refused(learning_curves(&file, &curves(&[])), &file, &["no runs"]);
    let empty = [CurveRun {
        label: "wide",
        points: &[],
    }];
    assert_refused(
        learning_curves(&file, &curves(&empty)),
        &file,
        &["run 0 ('wide') has no epochs"],
    );
    let mut diverged = epochs(5, 0.5);
    diverged[3].loss = f64::NAN;
    let runs = [CurveRun {
        label: "x",
        points: &diverged,
    }];
    assert_refused(
        learning_curves(&file, &curves(&runs)),
        &file,
        &["loss at epoch 4 is NaN", "diverged"],
    );
    let mut backwards = epochs(5, 0.5);
    backwards[2].epoch = 1;
    let runs = [CurveRun {
        label: "x",
        points: &backwards,
    }];
    assert_refused(
        learning_curves(&file, &curves(&runs)),
        &file,
        &["epoch 1 follows epoch 2"],
    );
    let mut beyond = epochs(5, 0.5);
    beyond[0].val_accuracy = Some(1.2);
    let runs = [CurveRun {
        label: "x",
        points: &beyond,
    }];
    assert_refused(
        learning_curves(&file, &curves(&runs)),
        &file,
        &["validation accuracy at epoch 1 is 1.2"],
    );
}

#[test]
fn the_confusion_matrix_shades_cells_by_their_share_of_the_true_class() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confusion.png");
    let classes = names(&["cat", "dog", "ship"]);
    // cat: all right; dog: half taken for cats; ship: never seen (an empty row).
    let counts = vec![vec![10, 0, 0], vec![5, 5, 0], vec![0, 0, 0]];
    confusion_matrix(
        &file,
        &ConfusionMatrix {
            title: "confusion",
            class_names: &classes,
            counts: &counts,
        },
    )
    .unwrap();
    let img = read(&file);
    // 3 classes: 80-pixel cells, drawn 79 pixels wide with a 1-pixel seam.
    let cell_area = 79 * 79;
    // The whole-row cell is darkest blue (bar text aside); the two half cells mid-blue; the
    // six empty cells (and the empty row) the lightest.
    let full = count(&img, blues(1.0));
    let half = count(&img, blues(0.5));
    let none = count(&img, blues(0.0));
    assert!(full > cell_area / 2 && full < 2 * cell_area, "{full}");
    assert!(half > cell_area && half < 3 * cell_area, "{half}");
    assert!(none > 5 * cell_area, "{none}");
}

#[test]
fn the_confusion_matrix_fits_many_classes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confusion100.png");
    let classes: Vec<String> = (0..100).map(|k| format!("class {k}")).collect();
    let counts: Vec<Vec<usize>> = (0..100)
        .map(|t| (0..100).map(|p| usize::from(t == p) * 100).collect())
        .collect();
    confusion_matrix(
        &file,
        &ConfusionMatrix {
            title: "cifar-100",
            class_names: &classes,
            counts: &counts,
        },
    )
    .unwrap();
    let img = read(&file);
    assert!(img.width() > 1400 && img.width() < 2400, "{}", img.width());
    // 100 diagonal cells of 13x13 pixels in the darkest shade (14-pixel cells, no text).
    assert!(count(&img, blues(1.0)) >= 100 * 13 * 13);
}

#[test]
fn the_confusion_matrix_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("confusion.png");
    let m = |class_names, counts| ConfusionMatrix {
        title: "t",
        class_names,
        counts,
    };
    assert_refused(
        confusion_matrix(&file, &m(&[], &[])),
        &file,
        &["no classes"],
    );
    let two = names(&["a", "b"]);
    let one_row = [vec![1, 2]];
    assert_refused(
        confusion_matrix(&file, &m(&two, &one_row)),
        &file,
        &["2 class names but 1 rows"],
    );
    let ragged = [vec![1, 2], vec![3]];
    assert_refused(
        confusion_matrix(&file, &m(&two, &ragged)),
        &file,
        &["row 1 ('b') has 1 counts for 2 classes"],
    );
}

fn tile<'a>(values: &'a [f32], side: usize, channels: usize, caption: &'a str) -> Tile<'a> {
    Tile {
        values,
        height: side,
        width: side,
        channels,
        caption,
    }
}

fn grid<'a>(tiles: &'a [Tile<'a>], columns: usize, scaling: Scaling) -> ImageGrid<'a> {
    ImageGrid {
        title: "grid",
        tiles,
        columns,
        scaling,
        row_labels: &[],
        column_labels: &[],
    }
}

#[test]
fn grid_tiles_are_enlarged_by_a_whole_factor_and_scaled_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grid.png");
    // Min-max: a 2x2 grey tile with values 1, 2, 3, 5 shades 0, 1/4, 1/2, 1.
    let minmax = [1.0, 2.0, 3.0, 5.0];
    // A red and a green tile on the fixed 0..1 scale.
    let red: Vec<f32> = [1.0, 0.0, 0.0].repeat(4);
    let green: Vec<f32> = [0.0, 1.0, 0.0].repeat(4);
    let tiles = [
        tile(&minmax, 2, 1, "a"),
        tile(&red, 2, 3, "b"),
        tile(&green, 2, 3, "c"),
    ];
    image_grid(&file, &grid(&tiles, 3, Scaling::MinMax)).unwrap();
    let img = read(&file);
    // Columns of (1200 - 48) / 3 - 12 = 372 pixels, tiles capped at 512 / 3 = 170: 2-pixel
    // tiles enlarged 85x.
    let quarter = 85 * 85;
    assert_eq!(
        count(&img, [0, 0, 0]) / quarter,
        1,
        "the smallest value is black"
    );
    assert!(count(&img, [64, 64, 64]) >= quarter);
    assert!(count(&img, [128, 128, 128]) >= quarter);
    // Min-max stretches the red tile's channels together: red stays red.
    assert!(count(&img, [255, 0, 0]) >= 4 * quarter);
    assert!(count(&img, [0, 255, 0]) >= 4 * quarter);

    let file = dir.path().join("fixed.png");
    image_grid(&file, &grid(&tiles, 3, Scaling::Range { lo: 0.0, hi: 4.0 })).unwrap();
    // On 0..4, the grey tile's 1, 2, 3 are 64, 128, 191 and 5 clamps to white.
    let img = read(&file);
    assert!(count(&img, [191, 191, 191]) >= quarter);
    assert!(
        count(&img, [64, 0, 0]) >= 4 * quarter,
        "1 of 4 on the red channel"
    );
}

#[test]
fn symmetric_scaling_puts_zero_at_mid_grey() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gabor.png");
    let kernel = [-2.0, 0.0, 0.0, 1.0];
    let small = [0.5];
    let tiles = [tile(&kernel, 2, 1, ""), tile(&small, 1, 1, "")];
    let rows = names(&["f = 0.1"]);
    let columns = names(&["0°", "90°"]);
    image_grid(
        &file,
        &ImageGrid {
            row_labels: &rows,
            column_labels: &columns,
            ..grid(&tiles, 2, Scaling::Symmetric)
        },
    )
    .unwrap();
    let img = read(&file);
    // Two columns: tiles up to 512 / 2 = 256 pixels, so the 2x2 kernel is enlarged 128x. -2
    // is black, 0 mid-grey (twice), 1 three-quarters; the 1x1 tile fills the same 256-pixel
    // square (its value is its own peak: white).
    let quarter = 128 * 128;
    assert_eq!(count(&img, [0, 0, 0]) / quarter, 1);
    assert_eq!(count(&img, [128, 128, 128]) / quarter, 2);
    assert_eq!(count(&img, [191, 191, 191]) / quarter, 1);
    assert!(count(&img, [255, 255, 255]) >= 256 * 256);
}

#[test]
fn the_image_grid_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grid.png");
    assert_refused(
        image_grid(&file, &grid(&[], 3, Scaling::MinMax)),
        &file,
        &["no tiles"],
    );
    let v = [0.0; 12];
    let good = [tile(&v[..4], 2, 1, "")];
    assert_refused(
        image_grid(&file, &grid(&good, 0, Scaling::MinMax)),
        &file,
        &["columns is 0"],
    );
    let short = [tile(&v[..5], 2, 1, "x")];
    assert_refused(
        image_grid(&file, &grid(&short, 1, Scaling::MinMax)),
        &file,
        &["tile 0 ('x') has 5 values for 2x2x1"],
    );
    let four_channels = [Tile {
        channels: 4,
        ..tile(&v[..], 1, 1, "")
    }];
    assert_refused(
        image_grid(&file, &grid(&four_channels, 1, Scaling::MinMax)),
        &file,
        &["4 channels"],
    );
    let nan = [f32::NAN, 0.0, 0.0, 0.0];
    let bad = [tile(&nan, 2, 1, "")];
    assert_refused(
        image_grid(&file, &grid(&bad, 1, Scaling::MinMax)),
        &file,
        &["value 0 is NaN"],
    );
    assert_refused(
        image_grid(&file, &grid(&good, 1, Scaling::Range { lo: 1.0, hi: 1.0 })),
        &file,
        &["1..1"],
    );
    let labels = names(&["a", "b"]);
    assert_refused(
        image_grid(
            &file,
            &ImageGrid {
                row_labels: &labels,
                ..grid(&good, 1, Scaling::MinMax)
            },
        ),
        &file,
        &["2 row labels for 1 rows"],
    );
}

/// The pixels of the right (glyph) panel of a HOG picture whose red is high and blue low:
/// the strokes (the dimmed image under them is grey).
fn stroke_pixels(
    img: &RgbImage,
    x_range: std::ops::Range<u32>,
    y_range: std::ops::Range<u32>,
) -> usize {
    x_range
        .flat_map(|x| y_range.clone().map(move |y| (x, y)))
        .filter(|&(x, y)| {
            let [r, _, b] = img.get_pixel(x, y).0;
            r > 40 && i32::from(r) - i32::from(b) > 25
        })
        .count()
}

#[test]
fn hog_glyphs_draw_strokes_only_in_cells_with_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hog.png");
    let pixels = vec![200u8; 16 * 16];
    // 2x2 cells of 8 pixels, 4 orientations; only the top-left cell has a gradient.
    let mut histograms = vec![0.0f32; 2 * 2 * 4];
    histograms[0] = 1.0;
    hog_glyphs(
        &file,
        &HogGlyphs {
            title: "hog",
            image: Picture {
                pixels: &pixels,
                height: 16,
                width: 16,
                channels: 1,
            },
            cell_size: 8,
            cell_rows: 2,
            cell_cols: 2,
            orientations: 4,
            histograms: &histograms,
        },
    )
    .unwrap();
    let img = read(&file);
    // 16 pixels scaled 32x: two 512-pixel panels, the image left, the glyphs right.
    assert!(img.width() >= 2 * 512 + 32);
    assert!(
        count(&img, [200, 200, 200]) >= 512 * 512,
        "the image at full brightness"
    );
    assert!(
        count(&img, [90, 90, 90]) > 3 * 256 * 256,
        "the dimmed copy (45 % of 200)"
    );
    // Find the right panel: the first column and row mostly of the dimmed grey (anti-aliased
    // text has a few such pixels too).
    let dimmed = |x: u32, y: u32| img.get_pixel(x, y).0 == [90, 90, 90];
    let left_edge = (0..img.width())
        .find(|&x| (0..img.height()).filter(|&y| dimmed(x, y)).count() > 400)
        .unwrap();
    let top_edge = (0..img.height())
        .find(|&y| (0..img.width()).filter(|&x| dimmed(x, y)).count() > 400)
        .unwrap();
    let (x0, y0) = (left_edge, top_edge);
    let top_left = stroke_pixels(&img, x0..x0 + 256, y0..y0 + 256);
    let elsewhere = stroke_pixels(&img, x0 + 256..x0 + 512, y0..y0 + 512)
        + stroke_pixels(&img, x0..x0 + 256, y0 + 256..y0 + 512);
    assert!(top_left > 300, "one bright stroke: {top_left}");
    assert_eq!(elsewhere, 0);
}

#[test]
fn hog_glyphs_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hog.png");
    let pixels = vec![0u8; 16 * 16 * 3];
    let histograms = vec![0.0f32; 2 * 2 * 9];
    let good = HogGlyphs {
        title: "hog",
        image: Picture {
            pixels: &pixels,
            height: 16,
            width: 16,
            channels: 3,
        },
        cell_size: 8,
        cell_rows: 2,
        cell_cols: 2,
        orientations: 9,
        histograms: &histograms,
    };
    let short = HogGlyphs {
        histograms: &histograms[1..],
        ..good
    };
    assert_refused(
        hog_glyphs(&file, &short),
        &file,
        &["35 histogram values", "= 36"],
    );
    let too_many_cells = HogGlyphs {
        cell_rows: 3,
        ..good
    };
    assert_refused(
        hog_glyphs(&file, &too_many_cells),
        &file,
        &["do not fit a 16x16 image"],
    );
    let bad_image = HogGlyphs {
        image: Picture {
            pixels: &pixels[1..],
            ..good.image
        },
        ..good
    };
    assert_refused(
        hog_glyphs(&file, &bad_image),
        &file,
        &["767 bytes for 16x16x3"],
    );
    let mut negative = histograms.clone();
    negative[5] = -1.0;
    let negative = HogGlyphs {
        histograms: &negative,
        ..good
    };
    assert_refused(
        hog_glyphs(&file, &negative),
        &file,
        &["histogram value 5 is -1"],
    );
}

#[test]
fn the_window_is_a_padded_square_and_cells_run_from_the_top_left() {
    let w = Window::around(&[[-1.0, 0.0], [1.0, 2.0], [f32::NAN, 9.0]]);
    // Span 2 on both axes, padded to 2.4, centred on (0, 1); the NaN point is ignored.
    let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
    assert!(close(w.x_min, -1.2) && close(w.x_max, 1.2));
    assert!(close(w.y_min, -0.2) && close(w.y_max, 2.2));
    let c = w.cell_centres(4, 2);
    assert_eq!(c.len(), 8);
    // Top-left cell first (smallest x, largest y); bottom-right last.
    assert!(close(c[0][0], -1.2 + 0.3) && close(c[0][1], 2.2 - 0.6));
    assert!(close(c[7][0], 1.2 - 0.3) && close(c[7][1], -0.2 + 0.6));
    assert_eq!(Window::around(&[]).x_max - Window::around(&[]).x_min, 2.4);
}

#[test]
fn decision_regions_shade_the_predicted_class_and_draw_points_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regions.png");
    let points = [[-1.0f32, 0.0], [1.0, 0.0]];
    let labels = [0usize, 1];
    let window = Window {
        x_min: -2.0,
        x_max: 2.0,
        y_min: -2.0,
        y_max: 2.0,
    };
    // Left half class 0, right half class 1; a second panel predicts class 2 everywhere.
    let left_right: Vec<usize> = window
        .cell_centres(10, 10)
        .iter()
        .map(|c| usize::from(c[0] > 0.0))
        .collect();
    let all_two = [2usize; 4];
    let panel = |predicted, columns, title| RegionPanel {
        title,
        window,
        grid_columns: columns,
        grid_rows: columns,
        predicted,
        points: &points,
        labels: &labels,
    };
    let row = [
        panel(&left_right, 10, "split\ntrain 1.00"),
        panel(&all_two[..], 2, "constant"),
    ];
    let classes = names(&["left", "right", "other"]);
    decision_regions(
        &file,
        &DecisionRegions {
            title: "regions",
            rows: &[RegionRow {
                heading: "row",
                panels: &row,
            }],
            panel_size: 200,
            class_names: &classes,
        },
    )
    .unwrap();
    let img = read(&file);
    assert!(img.width() >= 2 * 200 + 28);
    // Each half of the first panel is 100x200 pixels of its light shade (points aside).
    for k in [0, 1] {
        let n = count(&img, light(k));
        assert!(n > 100 * 200 - 2000 && n <= 100 * 200, "class {k}: {n}");
    }
    assert!(count(&img, light(2)) > 200 * 200 - 4000);
    // Four discs (two per panel) plus three legend dots in the strong colours.
    for k in [0, 1] {
        assert!(count(&img, colour(k)) > 2 * 20, "points of class {k}");
    }
}

#[test]
fn decision_regions_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regions.png");
    let window = Window::around(&[[0.0, 0.0], [1.0, 1.0]]);
    let predicted = [0usize; 4];
    let good = RegionPanel {
        title: "mlp",
        window,
        grid_columns: 2,
        grid_rows: 2,
        predicted: &predicted,
        points: &[[0.0, 0.0]],
        labels: &[0],
    };
    let draw = |panels: &[RegionPanel<'_>], names: &[String], size| {
        decision_regions(
            &file,
            &DecisionRegions {
                title: "t",
                rows: &[RegionRow {
                    heading: "",
                    panels,
                }],
                panel_size: size,
                class_names: names,
            },
        )
    };
    assert_refused(draw(&[], &[], 200), &file, &["no panels"]);
    assert_refused(draw(&[good], &[], 10), &file, &["panel size 10"]);
    let short = RegionPanel {
        predicted: &predicted[..3],
        ..good
    };
    assert_refused(
        draw(&[short], &[], 200),
        &file,
        &["panel 0 ('mlp')", "3 predictions for a 2x2 grid"],
    );
    let unlabelled = RegionPanel {
        labels: &[],
        ..good
    };
    assert_refused(
        draw(&[unlabelled], &[], 200),
        &file,
        &["1 points but 0 labels"],
    );
    let flat = RegionPanel {
        window: Window {
            y_max: window.y_min,
            ..window
        },
        ..good
    };
    assert_refused(
        draw(&[flat], &[], 200),
        &file,
        &["not a finite, non-empty rectangle"],
    );
    let far = [3usize; 4];
    let unnamed = RegionPanel {
        predicted: &far,
        ..good
    };
    assert_refused(
        draw(&[unnamed], &names(&["a", "b"]), 200),
        &file,
        &["class 3 has no name"],
    );
}

#[test]
fn colour_histogram_bars_take_their_bins_colours_and_heights() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("histogram.png");
    let (red, blue, white) = ([255, 0, 0], [0, 0, 255], [255, 255, 255]);
    let groups = [
        HistogramGroup {
            label: "hue",
            values: &[0.4, 0.2],
            colours: &[red, blue],
        },
        HistogramGroup {
            label: "value",
            values: &[0.1],
            colours: &[white],
        },
    ];
    colour_histogram(
        &file,
        &ColourHistogram {
            title: "colour",
            groups: &groups,
            value_axis: "share of pixels",
        },
    )
    .unwrap();
    let img = read(&file);
    assert_eq!(img.width(), 1200);
    let (r, b) = (tallest_run(&img, red), tallest_run(&img, blue));
    assert!(r > 300, "{r}");
    assert!((f64::from(r) / f64::from(b) - 2.0).abs() < 0.02, "{r} {b}");
}

#[test]
fn colour_histogram_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("histogram.png");
    let draw = |groups: &[HistogramGroup<'_>]| {
        colour_histogram(
            &file,
            &ColourHistogram {
                title: "t",
                groups,
                value_axis: "",
            },
        )
    };
    assert_refused(draw(&[]), &file, &["no bins"]);
    let mismatched = HistogramGroup {
        label: "hue",
        values: &[0.5, 0.5],
        colours: &[[0, 0, 0]],
    };
    assert_refused(
        draw(&[mismatched]),
        &file,
        &["group 0 ('hue') has 2 values but 1 colours"],
    );
    let negative = HistogramGroup {
        label: "",
        values: &[-0.5],
        colours: &[[0, 0, 0]],
    };
    assert_refused(draw(&[negative]), &file, &["bin 0 is -0.5"]);
}

#[test]
fn a_picture_too_large_to_allocate_is_refused_before_drawing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.png");
    let v = vec![0.0f32; 4];
    let tiles: Vec<Tile<'_>> = (0..20_000).map(|_| tile(&v, 2, 1, "")).collect();
    assert_refused(
        image_grid(&file, &grid(&tiles, 1, Scaling::MinMax)),
        &file,
        &["each side must be in 1..=16384"],
    );
}

#[test]
fn a_folder_that_cannot_be_created_is_a_write_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"").unwrap();
    let file = blocker.join("bars.png");
    let (g, s) = (names(&["svm"]), names(&["raw"]));
    let err = accuracy_bars(&file, &bars_input(&g, &s, &[vec![Some(0.5)]])).unwrap_err();
    assert!(matches!(err, PlotError::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("bars.png"), "{err}");
}

#[test]
fn pictures_land_in_folders_that_do_not_exist_yet() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a/b/bars.png");
    let (g, s) = (names(&["svm"]), names(&["raw"]));
    accuracy_bars(&file, &bars_input(&g, &s, &[vec![Some(0.5)]])).unwrap();
    assert_eq!(files_in(&dir.path().join("a/b")), vec![file]);
}

#[cfg(unix)]
#[test]
fn pictures_are_readable_by_others_and_keep_the_mode_of_the_file_they_replace() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bars.png");
    let (g, s) = (names(&["svm"]), names(&["raw"]));
    let draw = || accuracy_bars(&file, &bars_input(&g, &s, &[vec![Some(0.5)]])).unwrap();
    let mode = || std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    draw();
    assert_eq!(mode(), 0o644);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    draw();
    assert_eq!(mode(), 0o640);
}
