//! `pipeline`: the workbench's command line. It parses the flags (`args`), converts them into
//! the engine's parameters, dispatches to `wb_workbench` and prints the results.

mod args;
mod progress;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use wb_workbench::compare::{self, CompareOptions};
use wb_workbench::demo::{self, DemoParams};
use wb_workbench::extract;
use wb_workbench::fitted::{self, FitParams};
use wb_workbench::gradcheck::{self, GradcheckParams};
use wb_workbench::predict::{format_predictions, Predictor};
use wb_workbench::shards;
use wb_workbench::show::{self, ShowParams};
use wb_workbench::stream::{self, StreamParams};
use wb_workbench::{run, saved, threads, RunParams};

use args::extract::ExtractJob;
use args::{Cli, Command};
use progress::Terminal;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // A flag the parser refuses is bad input like any other: exit code 1.
            let _ = e.print();
            return ExitCode::FAILURE;
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    let terminal = Terminal::default();
    match cli.command {
        Command::Run(args) => {
            let mut output = if args.features_from.is_some() {
                let params = StreamParams::try_from(&args)?;
                threads::init(args.data.threads)?;
                stream::run_from_shards(&params, &terminal)?
            } else {
                let params = RunParams::try_from(&args)?;
                threads::init(args.data.threads)?;
                run::run(&params, &terminal)?
            };
            let report = &output.report;
            print!("{}", report.table());
            if let Some(dir) = &args.out {
                let path = dir.join("results.json");
                wb_io::write_json(&path, report)?;
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
            let params = match ExtractJob::try_from(&args)? {
                ExtractJob::Whole(params) => params,
                ExtractJob::Shard(params) => {
                    threads::init(args.data.threads)?;
                    let done = shards::extract_shard(&params, &terminal)?;
                    println!(
                        "extracted shard {} ({} train, {} val, {} test images x {} features) \
                         in {:.2}s: {:.0} images/s on {} threads",
                        params.shard,
                        done.rows.train,
                        done.rows.val,
                        done.rows.test,
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
                    return Ok(());
                }
            };
            threads::init(args.data.threads)?;
            let done = extract::extract(&params, &terminal)?;
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
        Command::FitFeatures(args) => {
            let params = FitParams::try_from(&args)?;
            threads::init(args.data.threads)?;
            let done = fitted::fit_features(&params, &terminal)?;
            println!(
                "fitted {} features ({} dimensions) on {} training images in {:.2}s",
                params.features.label(),
                done.dim,
                done.train_images,
                done.seconds
            );
            println!("wrote {} (checksum {})", done.path.display(), done.checksum);
            Ok(())
        }
        Command::Show(args) => {
            let params = ShowParams::try_from(&args)?;
            threads::init(args.data.threads)?;
            let written = show::show(&params, &terminal)?;
            println!(
                "wrote {} pictures to {}",
                written.len(),
                params.out.display()
            );
            Ok(())
        }
        Command::Compare(args) => {
            let done = compare::compare(&CompareOptions::from(&args), &terminal)?;
            print!("{}", compare::summary_table(&done.results));
            println!("report written to {}", done.report.display());
            Ok(())
        }
        Command::Gradcheck(args) => {
            let params = GradcheckParams::try_from(&args)?;
            let (title, checks) = gradcheck::gradcheck(&params)?;
            println!(
                "gradient check: {title}; {} samples, {} inputs, {} classes",
                params.samples, params.input_dim, params.classes
            );
            print!("{}", gradcheck::table(&checks));
            let failed: Vec<&str> = checks
                .iter()
                .filter(|c| !gradcheck::passes(c))
                .map(|c| c.name.as_str())
                .collect();
            if !failed.is_empty() {
                anyhow::bail!(
                    "gradient check failed for {} (max relative error above {:e}, or no element could be checked)",
                    failed.join(", "),
                    gradcheck::TOLERANCE
                );
            }
            println!(
                "all {} tensors PASS (tolerance {:e})",
                checks.len(),
                gradcheck::TOLERANCE
            );
            Ok(())
        }
        Command::Predict(args) => {
            threads::init(None)?;
            if args.top == 0 {
                anyhow::bail!("--top must be at least 1");
            }
            let predictor = Predictor::load(&args.model_dir)?;
            let predictions = predictor.predict_files(&args.images, &terminal)?;
            print!(
                "{}",
                format_predictions(&predictions, predictor.class_names(), args.top)
            );
            Ok(())
        }
        Command::Demo(args) => {
            threads::init(args.threads())?;
            let report = demo::demo(&DemoParams::from(&args), &terminal)?;
            print!("{}", report.table());
            println!(
                "settings and accuracies written to {}",
                report.json_path().display()
            );
            Ok(())
        }
    }
}
