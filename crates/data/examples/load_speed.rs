//! Times the loaders: `cargo run --release -p wb-data --example load_speed -- [DATA_DIR]`.
//! Without DATA_DIR only the synthetic generator is timed.

use std::time::Instant;

use wb_data::synthetic::{self, SyntheticParams};

fn main() {
    let t = Instant::now();
    let data = synthetic::generate(&SyntheticParams {
        train_size: 10_000,
        test_size: 0,
        seed: 0,
    });
    println!(
        "synthetic: {} images in {:.3}s",
        data.train.len(),
        t.elapsed().as_secs_f64()
    );
    if let Some(dir) = std::env::args().nth(1) {
        let dir = std::path::PathBuf::from(dir);
        let t = Instant::now();
        let cifar = wb_data::locate::resolve_dir(wb_data::DatasetKind::Cifar10, &dir)
            .and_then(|d| wb_data::cifar::load_cifar10(&d));
        match cifar {
            Ok(c) => println!(
                "cifar10: {} + {} images in {:.3}s",
                c.train.len(),
                c.test.len(),
                t.elapsed().as_secs_f64()
            ),
            Err(e) => println!("cifar10: {e}"),
        }
        let t = Instant::now();
        let mnist = wb_data::locate::resolve_dir(wb_data::DatasetKind::Mnist, &dir)
            .and_then(|d| wb_data::idx::load_idx_dataset(&d, wb_data::idx::IdxFlavor::Mnist));
        match mnist {
            Ok(m) => println!(
                "mnist: {} + {} images in {:.3}s",
                m.train.len(),
                m.test.len(),
                t.elapsed().as_secs_f64()
            ),
            Err(e) => println!("mnist: {e}"),
        }
    }
}
