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
use wb_workbench::predict::{format_predictions, PredictParams, Predictor};
use wb_workbench::shards;
use wb_workbench::show::{self, ShowParams};
use wb_workbench::stream::{self, StreamParams};
use wb_workbench::{run, threads, RunParams};

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
            eprintln!("error: {}", wb_workbench::progress::error_message(&e));
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
            print!("{}", output.report.table());
            if let Some(dir) = &args.out {
                print!("{}", output.save(dir)?);
            }
            Ok(())
        }
        Command::Extract(args) => {
            let params = match ExtractJob::try_from(&args)? {
                ExtractJob::Whole(params) => params,
                ExtractJob::Shard(params) => {
                    threads::init(args.data.threads)?;
                    let done = shards::extract_shard(&params, &terminal)?;
                    print!("{}", done.summary(&params.shard));
                    return Ok(());
                }
            };
            threads::init(args.data.threads)?;
            print!("{}", extract::extract(&params, &terminal)?.summary());
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
            let check = gradcheck::gradcheck(&params)?;
            println!(
                "gradient check: {}; {} samples, {} inputs, {} classes",
                check.title, params.samples, params.input_dim, params.classes
            );
            print!("{}", gradcheck::table(&check));
            println!("{}", check.verdict()?);
            Ok(())
        }
        Command::Predict(args) => {
            let params = PredictParams::from(&args).check()?;
            threads::init(args.threads)?;
            let predictor = Predictor::load(&args.model_dir)?;
            let output = predictor.predict(&params, &terminal)?;
            let summary = &output.summary;
            match &args.out {
                Some(csv) => {
                    let json = output.write(csv)?;
                    println!(
                        "{} prediction(s) written to {} (summary: {})",
                        summary.images,
                        csv.display(),
                        json.display()
                    );
                }
                None => print!(
                    "{}",
                    format_predictions(&output.predictions, &summary.class_names, summary.top_k)
                ),
            }
            if let Some(evaluation) = &summary.evaluation {
                print!("{}", evaluation.text());
            }
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
