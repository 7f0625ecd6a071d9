//! What long work tells the person running it, without the engine knowing how it is shown.
//!
//! The engine calls a [`Reporter`]: [`Reporter::start`] opens a stage with a number of steps
//! (the `pipeline` binary draws an indicatif bar for it), [`Reporter::line`] writes one line of
//! text (a warning, an epoch's figures). [`Quiet`] shows nothing; [`Lines`] writes every line
//! to stderr and draws no bars, for programs and tests that use the engine as a library.

/// A stage in progress.
pub trait Stage: Send + Sync {
    /// `n` more steps done.
    fn inc(&self, n: u64);
    /// A line of text, shown above the stage's bar.
    fn line(&self, text: &str);
    /// The stage is over (its bar goes away).
    fn finish(&self);
}

/// Receives the engine's progress and messages.
pub trait Reporter: Send + Sync {
    /// Starts a stage of `total` steps labelled `label`.
    fn start(&self, label: &str, total: u64) -> Box<dyn Stage + '_>;
    /// A line of text for the person running the work (stderr in the binary).
    fn line(&self, text: &str);
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Stage for Quiet {
    fn inc(&self, _: u64) {}
    fn line(&self, _: &str) {}
    fn finish(&self) {}
}

impl Reporter for Quiet {
    fn start(&self, _: &str, _: u64) -> Box<dyn Stage + '_> {
        Box::new(Quiet)
    }
    fn line(&self, _: &str) {}
}

/// Every line on stderr, no bars.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lines;

impl Stage for Lines {
    fn inc(&self, _: u64) {}
    fn line(&self, text: &str) {
        eprintln!("{text}");
    }
    fn finish(&self) {}
}

impl Reporter for Lines {
    fn start(&self, _: &str, _: u64) -> Box<dyn Stage + '_> {
        Box::new(Lines)
    }
    fn line(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// An error and its causes for the user, `: `-separated like `{:#}`, except a cause whose text
/// the message already holds (an I/O error shown by its wrapper and again as its source) is not
/// repeated.
pub fn error_message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}
