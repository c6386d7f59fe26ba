//! Per-phase wall times of a dump or restore, for the benchmarks.

/// With its environment variable set, the time of each phase goes to stderr on the way
/// out (scripts/bench/dump.sh and restore.sh, and docs/benchmarks.md, use them to see
/// where the time goes): even under --quiet, never on stdout.
pub(super) struct Phases {
    label: Option<&'static str>,
    last: std::time::Instant,
    marks: Vec<(&'static str, f64)>,
}

impl Phases {
    /// On when `var` is set; the line starts with `label`.
    pub(super) fn from_env(var: &str, label: &'static str) -> Phases {
        Phases {
            label: std::env::var_os(var).is_some().then_some(label),
            last: std::time::Instant::now(),
            marks: Vec::new(),
        }
    }

    /// The phase `name` ended now.
    pub(super) fn mark(&mut self, name: &'static str) {
        if self.label.is_some() {
            let now = std::time::Instant::now();
            self.marks
                .push((name, (now - self.last).as_secs_f64() * 1000.0));
            self.last = now;
        }
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        if let Some(label) = self.label {
            let parts: Vec<String> = self
                .marks
                .iter()
                .map(|(n, ms)| format!("{n}={ms:.1}ms"))
                .collect();
            eprintln!("{label}: {}", parts.join(" "));
        }
    }
}
