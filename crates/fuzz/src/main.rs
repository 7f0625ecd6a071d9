//! `wb-fuzz`: runs the fuzz targets and prints one summary per target.
//!
//! ```text
//! wb-fuzz [TARGET...] [--cases N] [--seed S] [--case I] [--replay FILE] [--errors K] [--list]
//! ```
//! No target names = all targets. `--cases` is per target (default: `WB_FUZZ_CASES`, else
//! 100000). `--case I` reruns one case; `--replay FILE` runs the case whose entropy bytes are in
//! FILE (a saved `entropy.bin` or a `cargo fuzz` artifact). `--errors K` lists the K most
//! frequent error kinds per target. Exit status: 0 no defect, 1 defects, 2 bad usage.

use std::process::ExitCode;

use wb_fuzz::{targets, Config, Verdict};

#[global_allocator]
static ALLOC: wb_fuzz::CountingAlloc = wb_fuzz::CountingAlloc;

fn usage(message: &str) -> ExitCode {
    eprintln!("wb-fuzz: {message}\nusage: wb-fuzz [TARGET...] [--cases N] [--seed S] [--case I] [--replay FILE] [--errors K] [--list]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut config = match Config::from_env(100_000) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let mut names = Vec::new();
    let mut replay = None;
    let mut top_errors = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| -> Result<String, ExitCode> {
            args.next()
                .ok_or_else(|| usage(&format!("{flag} needs a value")))
        };
        let number = |flag: &str, v: String| -> Result<u64, ExitCode> {
            v.parse()
                .map_err(|_| usage(&format!("{flag} {v}: not a non-negative integer")))
        };
        let parsed = match arg.as_str() {
            "--cases" => value("--cases")
                .and_then(|v| number("--cases", v))
                .map(|n| config.cases = n),
            "--seed" => value("--seed")
                .and_then(|v| number("--seed", v))
                .map(|n| config.seed = n),
            "--case" => value("--case")
                .and_then(|v| number("--case", v))
                .map(|n| config.only_case = Some(n)),
            "--errors" => value("--errors")
                .and_then(|v| number("--errors", v))
                .map(|n| top_errors = n as usize),
            "--replay" => value("--replay").map(|v| replay = Some(v)),
            "--list" => {
                for t in targets::all() {
                    println!("{:<14} {}", t.name, t.about);
                }
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => return usage("fuzzes the workbench's parsers"),
            flag if flag.starts_with('-') => Err(usage(&format!("unknown option {flag}"))),
            name => {
                names.push(name.to_string());
                Ok(())
            }
        };
        if let Err(code) = parsed {
            return code;
        }
    }
    let chosen: Vec<_> = if names.is_empty() {
        targets::all()
    } else {
        let mut chosen = Vec::new();
        for n in &names {
            match targets::find(n) {
                Some(t) => chosen.push(t),
                None => return usage(&format!("no target `{n}` (see --list)")),
            }
        }
        chosen
    };

    if let Some(file) = replay {
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => return usage(&format!("{file}: {e}")),
        };
        let mut failed = false;
        for target in &chosen {
            let result = wb_fuzz::run_entropy(target, &bytes);
            println!(
                "{}: {:?}\n  peak {} B, largest {} B, input {} B, {:.2} ms\n  mutations: {}",
                target.name,
                result.verdict,
                result.usage.peak,
                result.usage.largest,
                result.input_bytes,
                result.elapsed.as_secs_f64() * 1e3,
                result.log.join(" | ")
            );
            failed |= matches!(result.verdict, Verdict::Defect(_));
        }
        return if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }

    println!("seed {}, {} cases per target", config.seed, config.cases);
    let mut failed = false;
    let (mut total_cases, mut total_seconds) = (0u64, 0f64);
    for target in &chosen {
        let report = wb_fuzz::run(target, &config);
        println!("{}", report.summary(top_errors));
        total_cases += report.cases;
        total_seconds += report.seconds;
        failed |= !report.passed();
    }
    println!(
        "total: {total_cases} cases in {total_seconds:.1} s, {}",
        if failed { "DEFECTS FOUND" } else { "0 defects" }
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
