//! Draws every picture wb-plot makes from made-up data into a folder (default `gallery/`):
//! `cargo run -p wb-plot --example gallery -- OUT_DIR`.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("gallery"), PathBuf::from);
    let files = [bars(&out)?];
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
