//! Mutation fuzzing, on stable Rust, of every parser of outside data in the workbench.
//!
//! Each [`Target`] is one function: it builds a valid input (files written by the test, varied
//! by the case's random choices), then hands the parser to [`Case::parse`]. The harness mutates
//! the files (bit flips, truncation, extension, header fields set to 0 / huge / negative as
//! unsigned, structure-aware edits of gzip payloads, JSON / TOML values and safetensors
//! headers), runs the parser once, and judges the outcome:
//!
//! - `Ok` is fine when the target's consistency check holds (shapes agree; the unmutated input
//!   reads back exactly what was written);
//! - an error is fine when its message names the file (its folder's path is in it) and the
//!   problem;
//! - anything else is a defect: a panic, an inconsistent `Ok`, a refused valid input, an error
//!   naming no file, memory over the target's [`Budget`] (peak live heap bytes or one
//!   allocation above `k x real input size + c`, measured by [`CountingAlloc`]), a slow case;
//!   a hang aborts the run with the case to rerun.
//!
//! Randomness comes from an [`Entropy`] byte string ([`arbitrary::Unstructured`]): ChaCha8 from
//! (seed, target, case index) in [`run`], libFuzzer's input in `cargo fuzz` ([`run_entropy`]).
//!
//! Binaries: `wb-fuzz` (the CLI used by `scripts/fuzz.sh`), and the `fuzz` integration test
//! (a few thousand cases per target inside `cargo test --workspace`; `WB_FUZZ_CASES` scales it).

pub mod alloc;
pub mod entropy;
pub mod harness;
pub mod mutate;
pub mod targets;

pub use alloc::{CountingAlloc, Usage};
pub use entropy::Entropy;
pub use harness::{
    case_entropy, ensure, fuzz_one, measure, run, run_entropy, Budget, Case, CaseResult, Config,
    Defect, Outcome, Report, Target, Verdict, Written,
};
pub use mutate::{Field, Format};
