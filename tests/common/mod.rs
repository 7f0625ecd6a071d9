//! Helpers shared by the end-to-end tests of the `pipeline` binary.

use std::process::{Command, Output};

/// Runs the binary with `args`, without the user's `PIPELINE_DATA`.
pub fn pipeline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .env_remove("PIPELINE_DATA")
        .output()
        .expect("run pipeline")
}

#[allow(dead_code)] // not every test file reads stdout
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
