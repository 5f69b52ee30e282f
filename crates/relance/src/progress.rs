//! Progress of a long job on stderr: a line rewritten in place on a terminal (count, rate, time
//! left), a line every `LINE_EVERY` items otherwise.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

const LINE_EVERY: u64 = 10_000;
/// How often a terminal line is redrawn.
const REDRAW: Duration = Duration::from_millis(200);

/// One job's progress.
pub(crate) struct Progress {
    what: &'static str,
    terminal: bool,
    started: Instant,
    drawn: Option<Instant>,
    last: u64,
}

impl Progress {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            drawn: None,
            last: 0,
        }
    }

    /// `done` items of `of` (0 when the total is unknown).
    pub(crate) fn tick(&mut self, done: u64, of: u64) {
        if self.terminal {
            let due = self.drawn.is_none_or(|t| t.elapsed() >= REDRAW);
            if done == of || due {
                eprint!("\r{}\x1b[K", self.line(done, of));
                self.drawn = Some(Instant::now());
                self.last = done;
            }
        } else if done / LINE_EVERY > self.last / LINE_EVERY {
            eprintln!("{}", self.line(done, of));
            self.last = done;
        }
    }

    /// `what done / of  (rate/s, time left)`.
    fn line(&self, done: u64, of: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let mut line = format!("{} {done}", self.what);
        if of > 0 {
            line.push_str(&format!(" / {of}"));
        }
        line.push_str(&format!("  {rate:.0}/s"));
        if of > done && rate > 0.0 {
            let left = ((of - done) as f64 / rate).ceil() as u64;
            line.push_str(&format!(", {}:{:02} left", left / 60, left % 60));
        }
        line
    }

    pub(crate) fn done(&self) {
        if self.terminal && self.last > 0 {
            eprintln!();
        }
    }
}

impl relance_audit::Progress for Progress {
    fn tick(&mut self, done: u64) {
        Progress::tick(self, done, 0);
    }
}
