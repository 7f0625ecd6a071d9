//! Writes the default Gabor bank's kernels (real part, grey-mapped) as a PNG grid: one row per
//! frequency, one column per orientation.
//!
//! cargo run --release -p wb-features --example gabor_render -- bank.png [cell pixels (48)]

use wb_features::gabor::{render_bank, Params};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: gabor_render OUT.png [cell pixels (48)]");
        std::process::exit(2);
    };
    let cell: usize = match args.next().map(|s| s.parse()) {
        None => 48,
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            eprintln!("cell pixels: {e}");
            std::process::exit(2);
        }
    };
    let image = match render_bank(&Params::default(), cell) {
        Ok(image) => image,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = image.save(&path) {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(1);
    }
    println!("wrote {path} ({}x{})", image.width(), image.height());
}
