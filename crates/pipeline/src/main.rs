//! `pipeline`: the workbench's command-line driver. Thin: parse, dispatch, report.

mod atomic;
mod cli;
mod compare;
mod demo;
mod extract;
mod feature_args;
mod font;
mod gradcheck;
mod load;
mod palette;
mod predict;
mod progress;
mod report;
mod run;
mod saved;
mod show;
mod train;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => {
            set_threads(args.data.threads)?;
            let mut output = run::run(&args)?;
            let report = &output.report;
            print!("{}", report.table());
            if let Some(dir) = &args.out {
                let path = dir.join("results.json");
                atomic::write_json(&path, report)?;
                println!("results written to {}", path.display());
                let preprocessing = saved::Preprocessing::new(
                    report.data.dataset.to_string(),
                    report.data.image_shape,
                    report.data.class_names.clone(),
                    &output.fitted,
                    &output.scaler,
                );
                let model_dir = dir.join("model");
                saved::save(&model_dir, &mut output.model, &preprocessing)?;
                println!("model saved to {}", model_dir.display());
            }
            Ok(())
        }
        Command::Extract(args) => {
            set_threads(args.data.threads)?;
            let done = extract::extract(&args)?;
            println!(
                "extracted {} images x {} features in {:.2}s: {:.0} images/s on {} threads",
                done.images,
                done.dim,
                done.seconds,
                done.images_per_second(),
                rayon::current_num_threads()
            );
            println!(
                "wrote {} ({:.1} MB)",
                done.path.display(),
                done.bytes as f64 / 1e6
            );
            Ok(())
        }
        Command::Show(args) => {
            set_threads(args.data.threads)?;
            let written = show::show(&args)?;
            println!("wrote {} pictures to {}", written.len(), args.out.display());
            Ok(())
        }
        Command::Compare(args) => {
            let report = compare::compare(&args)?;
            println!("report written to {}", report.display());
            Ok(())
        }
        Command::Gradcheck(args) => gradcheck::gradcheck(&args),
        Command::Predict(args) => {
            set_threads(None)?;
            predict::predict(&args)
        }
        Command::Demo(args) => {
            set_threads(args.threads())?;
            demo::demo(&args)
        }
    }
}

/// One thread count for rayon (features) and matrixmultiply (GEMM), so runs are reproducible.
fn set_threads(threads: Option<usize>) -> Result<()> {
    let n = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if n == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    // matrixmultiply reads this once, at its first product.
    std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| anyhow::anyhow!("cannot start {n} threads: {e}"))
}
