//! df-verify: the guide's verification list ("version in the admin UI, APIs work, users
//! intact, system logs clean") as named checks, each `pass`, `fail` or `skip` with a detail.
//!
//! | check | passes when |
//! |---|---|
//! | `env` | .env parses as Laravel parses it; APP_KEY present and well-formed |
//! | `version` | config/app.php names a version (equal to `--expect-version` when given) |
//! | `ownership` | nothing under storage/ and bootstrap/cache/ is root-owned (when they are the web user's) |
//! | `artisan` | `php artisan --version` exits 0 |
//! | `database` | the system database named by .env answers |
//! | `migrations` | `migrate:status` lists no pending migration |
//! | `row_counts` | (`--against SET`) every table of SET/db.meta.json has at least its rows (`--exact`: equal) |
//! | `app_key` | (`--against SET`) APP_KEY's fingerprint equals SET/env.meta.json's |
//! | `http` | (`--url`) GET answers 2xx; a `/status` URL must also show the version |
//! | `logs` | no ERROR/CRITICAL/ALERT/EMERGENCY line in storage/logs/*.log since `--since` |
//!
//! A check that cannot run (no `--against`, no php, nothing to compare) is `skip` with the
//! reason; skips never fail the run. Any `fail` makes the run fail with `step_failed`
//! (exit 1), the full list of checks still in `data`. df-verify only reads: what is wrong
//! is reported with the command that fixes it, never fixed.
//!
//! Modules: [`checks`] (each check), [`logs`] (log headers, timezone, the scan from the
//! end), [`set`] (what a backup set recorded), [`ownership`] (root-owned files).

pub mod checks;
pub mod logs;
pub mod ownership;
pub mod set;

pub use crate::report::data::verify::{Check, Status};
pub use checks::{body_shows_version, compare_counts};

use crate::backup_set::BackupSet;
use crate::error::{Error, ErrorKind, Result};
use crate::http::Tls;
use crate::install::Install;
use crate::report::data::verify::VerifyData;
use crate::report::{Ctx, Outcome, PlanItem};
use chrono::{DateTime, FixedOffset};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Every check, in the order they run.
pub const CHECKS: [&str; 10] = [
    "env",
    "version",
    "ownership",
    "artisan",
    "database",
    "migrations",
    "row_counts",
    "app_key",
    "http",
    "logs",
];

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A backup set to compare with (row counts, APP_KEY fingerprint, log time).
    pub against: Option<PathBuf>,
    /// Row counts must be equal, not merely at least (after a migration).
    pub exact: bool,
    /// URL to probe.
    pub url: Option<String>,
    /// How the certificate of an `https://` URL is checked.
    pub tls: Tls,
    /// Log lines at or after this time count; default: the set's time.
    pub since: Option<DateTime<FixedOffset>>,
    /// The version config/app.php must name.
    pub expect_version: Option<String>,
    /// Run only these checks (empty: all).
    pub only: Vec<String>,
    /// Do not run these checks.
    pub skip: Vec<String>,
    /// The php binary (default: `php` on PATH).
    pub php: Option<PathBuf>,
    /// Time limit for each artisan command and for the HTTP probe.
    pub timeout: Duration,
}

/// Parse an RFC 3339 time (`--since`).
pub fn parse_since(s: &str) -> std::result::Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-11-25T20:30:00Z: {e}"))
}

/// The checks that will run, in order: `only` (or all) minus `skip`. Unknown names → usage.
pub fn select(only: &[String], skip: &[String]) -> Result<Vec<&'static str>> {
    for n in only.iter().chain(skip) {
        if !CHECKS.contains(&n.as_str()) {
            return Err(Error::usage(format!("unknown check `{n}`"))
                .with_hint(format!("checks are: {}", CHECKS.join(", "))));
        }
    }
    Ok(CHECKS
        .iter()
        .copied()
        .filter(|c| only.is_empty() || only.iter().any(|o| o == c))
        .filter(|c| !skip.iter().any(|s| s == c))
        .collect())
}

/// What each check does, for `data.plan` of a dry run.
fn plan_item(name: &str, install: &Install, opts: &Options) -> PlanItem {
    let at = |rel: &str| install.path(rel).display().to_string();
    let item = |path: Option<String>, detail: String| PlanItem {
        action: "check".into(),
        command: None,
        path,
        detail: format!("{name}: {detail}"),
    };
    match name {
        "env" => item(
            Some(install.env_path().display().to_string()),
            "parse .env and validate APP_KEY".into(),
        ),
        "version" => item(Some(at("config/app.php")), "read the version".into()),
        "ownership" => item(
            Some(at("storage")),
            "list root-owned entries under storage/ and bootstrap/cache/".into(),
        ),
        "artisan" => PlanItem {
            command: Some("php artisan --version".into()),
            ..item(None, "run artisan".into())
        },
        "database" => item(None, "connect to the database named by .env".into()),
        "migrations" => PlanItem {
            command: Some("php artisan migrate:status --no-interaction".into()),
            ..item(None, "list pending migrations".into())
        },
        "row_counts" => match &opts.against {
            Some(s) => item(
                Some(s.join("db.meta.json").display().to_string()),
                format!(
                    "count rows per table and compare with the set ({})",
                    if opts.exact { "equal" } else { "at least" }
                ),
            ),
            None => item(None, "skip: no --against SET".into()),
        },
        "app_key" => match &opts.against {
            Some(s) => item(
                Some(s.join("env.meta.json").display().to_string()),
                "compare the APP_KEY fingerprint with the set's".into(),
            ),
            None => item(None, "skip: no --against SET".into()),
        },
        "http" => match &opts.url {
            Some(u) => item(None, format!("GET {u}")),
            None => item(None, "skip: no --url".into()),
        },
        "logs" => item(
            Some(at("storage/logs")),
            "scan *.log for ERROR/CRITICAL/ALERT/EMERGENCY lines since --since or the set's time"
                .into(),
        ),
        _ => item(None, String::new()),
    }
}

/// Run the selected checks and report. Exit 0 only when none failed.
pub fn verify(ctx: &Ctx, install: &Install, opts: &Options) -> Result<Outcome> {
    let selected = select(&opts.only, &opts.skip)?;
    if let Some(url) = &opts.url {
        crate::http::Url::parse(url)?;
        opts.tls.check()?;
    }
    let set = match &opts.against {
        Some(dir) => Some(BackupSet::open(dir)?),
        None => None,
    };
    let mut data = VerifyData {
        root: install.root.display().to_string(),
        against: opts.against.as_ref().map(|p| p.display().to_string()),
        exact: opts.exact,
        ..VerifyData::default()
    };
    if ctx.dry_run() {
        data.plan = selected
            .iter()
            .map(|c| plan_item(c, install, opts))
            .collect();
        return Ok(Outcome::typed(
            false,
            format!(
                "would run {} checks: {}",
                selected.len(),
                selected.join(", ")
            ),
            &data,
        ));
    }

    let since = match opts.since {
        Some(t) => Some((t, "--since")),
        None => set
            .as_ref()
            .and_then(set::set_time)
            .map(|t| (t, "the set's time")),
    };
    let mut v = checks::Verifier::new(ctx, install, opts, set.as_ref(), since);
    for name in &selected {
        let t0 = Instant::now();
        let mut check = v.run_check(name);
        check.detail = one_line(&check.detail);
        ctx.log(format!(
            "{}: {} — {}",
            check.name,
            check.status.as_str(),
            check.detail
        ));
        check.duration_ms = t0.elapsed().as_millis() as u64;
        v.done.push(check);
    }

    let count = |s: Status| v.done.iter().filter(|c| c.status == s).count();
    let (passed, failed, skipped) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip),
    );
    data.changed = v.changed.get();
    data.version = v.version.clone();
    data.since = since.map(|(t, _)| t.to_rfc3339());
    data.passed = passed;
    data.failed = failed;
    data.skipped = skipped;
    data.checks = std::mem::take(&mut v.done);
    if failed == 0 {
        let msg = format!(
            "{} checks passed{}",
            passed,
            if skipped > 0 {
                format!(
                    ", {} skipped ({})",
                    skipped,
                    names_with(&data.checks, Status::Skip)
                )
            } else {
                String::new()
            }
        );
        return Ok(Outcome::typed(data.changed, msg, &data));
    }
    let failing: Vec<&Check> = data
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .collect();
    let msg = format!(
        "{} of {} checks failed: {}",
        failed,
        passed + failed,
        failing
            .iter()
            .map(|c| format!("{} ({})", c.name, c.detail))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let hints: Vec<String> = failing
        .iter()
        .filter_map(|c| c.hint.as_ref().map(|h| format!("{}: {h}", c.name)))
        .collect();
    let mut err = Error::new(ErrorKind::StepFailed, msg)
        .with_data(serde_json::to_value(&data).unwrap_or_default());
    if !hints.is_empty() {
        err = err.with_hint(hints.join("; "));
    }
    Err(err)
}

/// A detail on one line: a program's multi-line message (artisan boxes its errors and
/// wraps them) collapsed to single spaces.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn names_with(checks: &[Check], s: Status) -> String {
    checks
        .iter()
        .filter(|c| c.status == s)
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection() {
        assert_eq!(select(&[], &[]).unwrap(), CHECKS.to_vec());
        assert_eq!(
            select(&["logs".into(), "env".into()], &[]).unwrap(),
            vec!["env", "logs"]
        );
        assert!(!select(&[], &["http".into()]).unwrap().contains(&"http"));
        let e = select(&["nope".into()], &[]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
    }
}
