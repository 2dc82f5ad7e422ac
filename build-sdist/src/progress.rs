//! What the builds show while they run: on a terminal, a spinner per active build
//! with its elapsed time; elsewhere, and when each ends, one plain line.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressFinish, ProgressStyle};

#[derive(Debug)]
pub struct Progress {
    bars: Option<MultiProgress>,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress {
            bars: (!quiet && std::io::stderr().is_terminal()).then(MultiProgress::new),
            quiet,
        }
    }

    /// A spinner for one build, until it is dropped or finished.
    pub fn building(&self, name: &str, version: &str) -> ProgressBar {
        let Some(bars) = &self.bars else {
            return ProgressBar::hidden();
        };
        // Cleared when dropped too: a failed build's error is printed below.
        let bar = bars.add(ProgressBar::new_spinner().with_finish(ProgressFinish::AndClear));
        if let Ok(style) = ProgressStyle::with_template("  {spinner} building {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(format!("{name} {version}"));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A line above the spinners (or on stderr).
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => eprintln!("{text}"),
        }
    }
}
