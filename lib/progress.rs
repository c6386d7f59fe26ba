//! The one progress facility: a live bar on a terminal, plain periodic lines otherwise,
//! nothing with `--quiet`.
//!
//! Long work (dumps, restores, tree snapshots, permission walks) calls
//! [`Progress::set`] as it goes and [`Progress::finish`] at the end. On a terminal the
//! line redraws in place (indicatif); when stderr is a file or a pipe (an Ansible log, a
//! CI job) a line is printed at most every [`PLAIN_EVERY`], so logs show the run is alive
//! without flooding. stdout is never touched: it carries only the JSON report.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a plain (non-terminal) progress line is written.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// What is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Entries,
}

enum Mode {
    Off,
    Bar(ProgressBar),
    Plain { last: Instant },
}

/// A progress indicator on stderr for one piece of long work.
pub struct Progress {
    tool: &'static str,
    what: String,
    unit: Unit,
    mode: Mode,
    pos: u64,
}

impl Progress {
    /// Progress for `what` (e.g. "dumping"), drawn per the context's flags: nothing with
    /// `--quiet`, a bar when stderr is a terminal, plain lines otherwise.
    pub fn new(ctx: &crate::report::Ctx, what: impl Into<String>, unit: Unit) -> Progress {
        let mode = if ctx.common.quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let template = match unit {
                Unit::Bytes => "{prefix}: {msg} {bytes} ({binary_bytes_per_sec}) {elapsed}",
                Unit::Entries => "{prefix}: {msg} {human_pos} entries ({per_sec}) {elapsed}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(ctx.tool);
            Mode::Bar(bar)
        } else {
            Mode::Plain {
                last: Instant::now(),
            }
        };
        let what = what.into();
        if let Mode::Bar(b) = &mode {
            // The message first, so the first frame already names the work.
            b.set_message(what.clone());
            b.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            tool: ctx.tool,
            what,
            unit,
            mode,
            pos: 0,
        }
    }

    /// A progress that shows nothing (for callers without a context).
    pub fn off() -> Progress {
        Progress {
            tool: "",
            what: String::new(),
            unit: Unit::Entries,
            mode: Mode::Off,
            pos: 0,
        }
    }

    /// Set the total when it is known (a bar then shows how far along it is).
    pub fn set_total(&self, total: u64) {
        if let Mode::Bar(b) = &self.mode {
            b.set_length(total);
        }
    }

    /// The amount done so far.
    pub fn set(&mut self, pos: u64) {
        self.pos = pos;
        match &mut self.mode {
            Mode::Off => {}
            Mode::Bar(b) => b.set_position(pos),
            Mode::Plain { last } => {
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    let line = self.line();
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            }
        }
    }

    /// Add to the amount done.
    pub fn inc(&mut self, by: u64) {
        self.set(self.pos.saturating_add(by));
    }

    /// The work is over: clear a bar (the tool logs its own summary line).
    pub fn finish(self) {
        if let Mode::Bar(b) = &self.mode {
            b.finish_and_clear();
        }
    }

    fn line(&self) -> String {
        let amount = match self.unit {
            Unit::Bytes => format!("{} MiB", self.pos >> 20),
            Unit::Entries => format!("{} entries", self.pos),
        };
        format!("{}: {} {}", self.tool, self.what, amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_reads_as_a_sentence() {
        let mut p = Progress::off();
        p.tool = "df-dump-db";
        p.what = "dumping".into();
        p.unit = Unit::Bytes;
        p.set(5 << 20);
        assert_eq!(p.line(), "df-dump-db: dumping 5 MiB");
    }
}
