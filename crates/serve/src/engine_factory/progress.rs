//! Download progress on the terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Receives download progress.
pub trait Progress {
    /// A download of `total` bytes starts, `done` of them already on disk.
    fn start(&mut self, what: &str, total: u64, done: u64);
    /// `n` more bytes arrived.
    fn advance(&mut self, n: u64);
    /// The download is complete.
    fn finish(&mut self);
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: u64, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// A progress bar on stderr when it is a terminal, else a log line every
/// ten seconds.
#[derive(Debug)]
pub struct TerminalProgress {
    what: String,
    total: u64,
    done: u64,
    started: Instant,
    resumed_from: u64,
    last: Option<Instant>,
    tty: bool,
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self {
            what: String::new(),
            total: 0,
            done: 0,
            started: Instant::now(),
            resumed_from: 0,
            last: None,
            tty: std::io::stderr().is_terminal(),
        }
    }
}

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

impl TerminalProgress {
    fn draw(&mut self, force: bool) {
        let every = if self.tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(10)
        };
        if !force && self.last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = (self.done - self.resumed_from) as f64 / secs / 1e6;
        let frac = if self.total > 0 {
            self.done as f64 / self.total as f64
        } else {
            1.0
        };
        if self.tty {
            let width = 30;
            let filled = ((frac * width as f64) as usize).min(width);
            let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\rdownloading {} [{bar}] {:5.1}% {:.2}/{:.2} GiB {rate:6.1} MB/s",
                self.what,
                frac * 100.0,
                gib(self.done),
                gib(self.total)
            );
            let _ = err.flush();
        } else {
            tracing::info!(
                repo = %self.what,
                percent = format!("{:.1}", frac * 100.0),
                mb_per_s = format!("{rate:.1}"),
                "downloading"
            );
        }
    }
}

impl Progress for TerminalProgress {
    fn start(&mut self, what: &str, total: u64, done: u64) {
        self.what = what.to_owned();
        self.total = total;
        self.done = done;
        self.resumed_from = done;
        self.started = Instant::now();
        if total > done {
            if done > 0 {
                tracing::info!(repo = %what, "resuming an interrupted download");
            }
            self.draw(true);
        }
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        self.draw(false);
    }

    fn finish(&mut self) {
        if self.total > self.resumed_from {
            self.draw(true);
            if self.tty {
                let _ = writeln!(std::io::stderr());
            }
        }
    }
}
