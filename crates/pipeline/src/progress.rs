//! Progress on the terminal: an indicatif bar per stage when stderr is a terminal, plain lines
//! otherwise (logs, CI).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wb_workbench::{Reporter, Stage};

/// The binary's [`Reporter`]: bars on a terminal, lines on stderr.
#[derive(Default)]
pub struct Terminal {
    /// The bar being drawn, so that lines go above it instead of through it.
    current: Mutex<Option<ProgressBar>>,
}

struct Bar<'a> {
    bar: Option<ProgressBar>,
    owner: &'a Terminal,
}

impl Reporter for Terminal {
    fn start(&self, label: &str, total: u64) -> Box<dyn Stage + '_> {
        if !std::io::stderr().is_terminal() {
            return Box::new(Bar {
                bar: None,
                owner: self,
            });
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut current) = self.current.lock() {
            *current = Some(bar.clone());
        }
        Box::new(Bar {
            bar: Some(bar),
            owner: self,
        })
    }

    fn line(&self, text: &str) {
        match self.current.lock().ok().and_then(|c| c.clone()) {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Stage for Bar<'_> {
    fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            if let Ok(mut current) = self.owner.current.lock() {
                *current = None;
            }
        }
    }
}
