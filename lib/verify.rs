//! df-verify: the guide's verification list ("version in the admin UI, APIs work, users
//! intact, system logs clean") as named checks, each `pass`, `fail` or `skip` with a detail.
//!
//! | check | passes when |
//! |---|---|
//! | `env` | .env parses as Laravel parses it; APP_KEY present and well-formed |
//! | `version` | config/app.php names a version (equal to `--expect-version` when given) |
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
//! (exit 1), the full list of checks still in `data`.

use crate::backup_set::BackupSet;
use crate::envfile::EnvFile;
use crate::error::{Error, ErrorKind, Result};
use crate::install::Install;
use crate::report::{Ctx, Outcome};
use crate::secret::Fingerprint;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use regex::Regex;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Every check, in the order they run.
pub const CHECKS: [&str; 9] = [
    "env",
    "version",
    "artisan",
    "database",
    "migrations",
    "row_counts",
    "app_key",
    "http",
    "logs",
];

/// How many offending log lines a report lists (the count is always complete).
const MAX_LOG_LINES: usize = 20;
/// Log lines are cut to this many characters in reports.
const MAX_LINE_CHARS: usize = 400;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One check's result: `{name, status, detail, hint?, …check-specific fields}`.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
    pub extra: Map<String, Value>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            hint: None,
            extra: Map::new(),
        }
    }
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, detail)
    }
    pub fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Fail, detail)
    }
    pub fn skip(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Skip, detail)
    }
    fn hint(mut self, h: impl Into<String>) -> Check {
        self.hint = Some(h.into());
        self
    }
    fn with(mut self, k: &str, v: Value) -> Check {
        self.extra.insert(k.to_string(), v);
        self
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("status".into(), json!(self.status.as_str()));
        m.insert("detail".into(), json!(one_line(&self.detail)));
        if let Some(h) = &self.hint {
            m.insert("hint".into(), json!(h));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A backup set to compare with (row counts, APP_KEY fingerprint, log time).
    pub against: Option<PathBuf>,
    /// Row counts must be equal, not merely at least (after a migration).
    pub exact: bool,
    /// URL to probe.
    pub url: Option<String>,
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
fn plan_line(name: &str, install: &Install, opts: &Options) -> String {
    match name {
        "env" => format!("parse {} and validate APP_KEY", install.env_path().display()),
        "version" => format!("read the version from {}", install.path("config/app.php").display()),
        "artisan" => "php artisan --version".into(),
        "database" => "connect to the database named by .env".into(),
        "migrations" => "php artisan migrate:status --no-interaction".into(),
        "row_counts" => match &opts.against {
            Some(s) => format!(
                "count rows per table and compare with {} ({})",
                s.join("db.meta.json").display(),
                if opts.exact { "equal" } else { "at least" }
            ),
            None => "skip: no --against SET".into(),
        },
        "app_key" => match &opts.against {
            Some(s) => format!(
                "compare the APP_KEY fingerprint with {}",
                s.join("env.meta.json").display()
            ),
            None => "skip: no --against SET".into(),
        },
        "http" => match &opts.url {
            Some(u) => format!("GET {u}"),
            None => "skip: no --url".into(),
        },
        "logs" => format!(
            "scan {}/*.log for ERROR/CRITICAL/ALERT/EMERGENCY lines since --since or the set's time",
            install.path("storage/logs").display()
        ),
        _ => String::new(),
    }
}

/// Run the selected checks and report. Exit 0 only when none failed.
pub fn verify(ctx: &Ctx, install: &Install, opts: &Options) -> Result<Outcome> {
    let selected = select(&opts.only, &opts.skip)?;
    if let Some(url) = &opts.url {
        crate::http::Url::parse(url)?;
    }
    let set = match &opts.against {
        Some(dir) => Some(BackupSet::open(dir)?),
        None => None,
    };
    if ctx.dry_run() {
        let plan: Vec<Value> = selected
            .iter()
            .map(|c| json!({"check": c, "action": plan_line(c, install, opts)}))
            .collect();
        let data = json!({
            "root": install.root,
            "against": opts.against,
            "plan": plan,
        });
        return Ok(Outcome::new(
            false,
            format!(
                "would run {} checks: {}",
                selected.len(),
                selected.join(", ")
            ),
            data,
        ));
    }

    let since = match opts.since {
        Some(t) => Some((t, "--since")),
        None => set
            .as_ref()
            .and_then(set_time)
            .map(|t| (t, "the set's time")),
    };
    let mut v = Verifier {
        ctx,
        install,
        opts,
        set: set.as_ref(),
        since,
        env: None,
        version: install.version(),
        done: Vec::new(),
        changed: std::cell::Cell::new(false),
    };
    for name in &selected {
        let t0 = Instant::now();
        let check = v.run_check(name);
        ctx.log(format!(
            "{}: {} — {}",
            check.name,
            check.status.as_str(),
            one_line(&check.detail)
        ));
        let check = check.with("duration_ms", json!(t0.elapsed().as_millis() as u64));
        v.done.push(check);
    }

    let count = |s: Status| v.done.iter().filter(|c| c.status == s).count();
    let (passed, failed, skipped) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip),
    );
    let data = json!({
        "changed": v.changed.get(),
        "root": install.root,
        "version": v.version,
        "against": opts.against,
        "exact": opts.exact,
        "since": since.map(|(t, _)| t.to_rfc3339()),
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "checks": v.done.iter().map(Check::to_json).collect::<Vec<_>>(),
    });
    if failed == 0 {
        let msg = format!(
            "{} checks passed{}",
            passed,
            if skipped > 0 {
                format!(
                    ", {} skipped ({})",
                    skipped,
                    names_with(&v.done, Status::Skip)
                )
            } else {
                String::new()
            }
        );
        return Ok(Outcome::new(v.changed.get(), msg, data));
    }
    let failing: Vec<&Check> = v.done.iter().filter(|c| c.status == Status::Fail).collect();
    let msg = format!(
        "{} of {} checks failed: {}",
        failed,
        passed + failed,
        failing
            .iter()
            .map(|c| format!("{} ({})", c.name, one_line(&c.detail)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let mut err = Error::new(ErrorKind::StepFailed, msg).with_data(data);
    let hints: Vec<String> = failing
        .iter()
        .filter_map(|c| c.hint.as_ref().map(|h| format!("{}: {h}", c.name)))
        .collect();
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
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// State shared by the checks of one run.
struct Verifier<'a> {
    ctx: &'a Ctx,
    install: &'a Install,
    opts: &'a Options,
    set: Option<&'a BackupSet>,
    since: Option<(DateTime<FixedOffset>, &'static str)>,
    /// The parsed .env, loaded on first use.
    env: Option<std::result::Result<EnvFile, String>>,
    version: Option<String>,
    done: Vec<Check>,
    /// Set when a check's helper changed something (see [`Verifier::artisan`]).
    changed: std::cell::Cell<bool>,
}

impl Verifier<'_> {
    fn run_check(&mut self, name: &str) -> Check {
        match name {
            "env" => self.check_env(),
            "version" => self.check_version(),
            "artisan" => self.check_artisan(),
            "database" => self.check_database(),
            "migrations" => self.check_migrations(),
            "row_counts" => self.check_row_counts(),
            "app_key" => self.check_app_key(),
            "http" => self.check_http(),
            "logs" => self.check_logs(),
            other => unreachable!("unknown check {other}"),
        }
    }

    /// The status of an earlier check of this run, if it ran.
    fn status_of(&self, name: &str) -> Option<Status> {
        self.done.iter().find(|c| c.name == name).map(|c| c.status)
    }

    fn env(&mut self) -> std::result::Result<&EnvFile, String> {
        if self.env.is_none() {
            let p = self.install.env_path();
            self.env = Some(EnvFile::load(&p).map_err(|e| e.message));
        }
        match self.env.as_ref().expect("loaded above") {
            Ok(e) => Ok(e),
            Err(m) => Err(m.clone()),
        }
    }

    fn check_env(&mut self) -> Check {
        const N: &str = "env";
        let ctx = self.ctx;
        let env = match self.env() {
            Ok(e) => e,
            Err(m) => return Check::fail(N, m).hint(
                "DreamFactory will not boot with this .env; `df-backup-env show` names the line",
            ),
        };
        let fp = env.get("APP_KEY").map(Fingerprint::of);
        let conn = env.get("DB_CONNECTION").map(str::to_string);
        let warnings = env.warnings();
        // Also in the report's warnings: they matter beyond this one check.
        for w in &warnings {
            ctx.warn(format!(".env: {w}"));
        }
        let c = match env.app_key() {
            Ok(shape) => Check::pass(
                N,
                format!(
                    "parses; APP_KEY {} ({shape}); DB_CONNECTION={}",
                    fp.as_ref().map(|f| f.0.as_str()).unwrap_or(""),
                    conn.as_deref().unwrap_or("(unset)")
                ),
            ),
            Err(why) => Check::fail(N, why).hint(
                "put back the APP_KEY the data was encrypted with: `df-backup-env restore-key --from SET`",
            ),
        };
        c.with("app_key", json!(fp))
            .with("db_connection", json!(conn))
            .with("warnings", json!(warnings))
    }

    fn check_version(&mut self) -> Check {
        const N: &str = "version";
        let file = self.install.path("config/app.php");
        let Some(v) = self.version.clone() else {
            return Check::fail(
                N,
                format!("no 'version' => 'x.y.z' entry in {}", file.display()),
            )
            .hint("is --root a DreamFactory install, and is its code checked out completely?");
        };
        match &self.opts.expect_version {
            Some(want) if want != &v => {
                Check::fail(N, format!("config/app.php says {v}, expected {want}"))
                    .with("version", json!(v))
                    .with("expected", json!(want))
            }
            _ => Check::pass(N, format!("DreamFactory {v}")).with("version", json!(v)),
        }
    }

    /// Run a df-artisan action: PHP as the owner of storage/, without the sweep (a check
    /// only reads; root-owned files stay as they are).
    /// `Err(check)` is a skip when php is missing, else a failure, named later.
    fn artisan(&self, action: crate::artisan::Action) -> std::result::Result<Value, Box<Check>> {
        let php = self
            .opts
            .php
            .clone()
            .unwrap_or_else(|| PathBuf::from("php"));
        if crate::exec::find_program(&php).is_err() {
            return Err(Box::new(Check::skip(
                "",
                format!(
                    "{} not found (install php-cli or give --php)",
                    php.display()
                ),
            )));
        }
        let opts = crate::artisan::Options {
            root: self.install.root.clone(),
            php: self.opts.php.clone(),
            composer: None,
            as_user: None,
            timeout: self.opts.timeout,
        };
        // df-artisan's own dry-run flag must be off: df-verify's --dry-run never gets here.
        // A check only reads: PHP runs as df-artisan runs it, without the sweep.
        match crate::artisan::execute_without_sweep(self.ctx, &opts, action) {
            Ok(o) => {
                // The runner hands root-owned files under storage/ back to their owner
                // after PHP ran: the only change df-verify can make, and it says so.
                let fixed = o.data["ownership_fixed"].as_u64().unwrap_or(0);
                if fixed > 0 {
                    self.changed.set(true);
                    self.ctx.warn(format!(
                        "handed {fixed} root-owned file(s) under storage/ and bootstrap/cache/ back to their owner"
                    ));
                }
                Ok(o.data)
            }
            Err(e) => {
                let mut c = Check::fail("", e.message);
                c.hint = e.hint;
                Err(Box::new(c))
            }
        }
    }

    fn check_artisan(&mut self) -> Check {
        const N: &str = "artisan";
        match self.artisan(crate::artisan::Action::Version) {
            Ok(data) => {
                let laravel = data["laravel_version"].as_str().map(str::to_string);
                match laravel {
                    Some(v) => Check::pass(N, format!("php artisan --version: Laravel {v}"))
                        .with("laravel_version", json!(v)),
                    None => Check::fail(N, "php artisan --version printed no Laravel version")
                        .hint("is this a Laravel (DreamFactory) install?"),
                }
            }
            Err(c) => Check { name: N, ..*c },
        }
    }

    /// A database session from the .env's DB_* settings.
    fn db_session(&mut self) -> std::result::Result<crate::db::Session, Box<Check>> {
        let root = self.install.root.clone();
        let env = self
            .env()
            .map_err(|m| Box::new(Check::skip("", format!("cannot read DB settings: {m}"))))?;
        let failed = |e: Error| Box::new(Check::fail("", e.message));
        let settings = crate::db::Settings::from_env(env, &root).map_err(failed)?;
        crate::db::Session::open(&settings).map_err(failed)
    }

    fn check_database(&mut self) -> Check {
        const N: &str = "database";
        let session = match self.db_session() {
            Ok(s) => s,
            Err(c) => return Check { name: N, ..*c },
        };
        let what = session.settings.describe();
        match session.ping() {
            Ok(version) => Check::pass(N, format!("{what} answers (server {version})"))
                .with("driver", json!(session.settings.driver.as_str()))
                .with("server_version", json!(version)),
            Err(e) => {
                let hint = e.hint.unwrap_or_else(|| {
                    "check DB_HOST/DB_PORT/DB_DATABASE/DB_USERNAME/DB_PASSWORD in .env and that the server runs".into()
                });
                Check::fail(N, e.message)
                    .hint(hint)
                    .with("driver", json!(session.settings.driver.as_str()))
            }
        }
    }

    fn check_migrations(&mut self) -> Check {
        const N: &str = "migrations";
        if self.status_of("database") == Some(Status::Fail) {
            return Check::skip(N, "the database is unreachable");
        }
        if self.status_of("artisan") == Some(Status::Fail) {
            return Check::skip(N, "php artisan does not run");
        }
        let data = match self.artisan(crate::artisan::Action::Status) {
            Ok(d) => d,
            Err(c) => return Check { name: N, ..*c },
        };
        let pending: Vec<String> = data["pending"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let ran = data["ran"].as_u64().unwrap_or(0);
        if pending.is_empty() {
            Check::pass(N, format!("no pending migrations ({ran} ran)")).with("ran", json!(ran))
        } else {
            Check::fail(
                N,
                format!("{} pending: {}", pending.len(), pending.join(", ")),
            )
            .hint("run `df-artisan migrate --seed`")
            .with("pending", json!(pending))
            .with("ran", json!(ran))
        }
    }

    fn check_row_counts(&mut self) -> Check {
        const N: &str = "row_counts";
        let Some(set) = self.set else {
            return Check::skip(N, "no --against SET to compare with");
        };
        let want = match set.read_meta::<serde_json::Value>("db.sql") {
            Ok(meta) => match set_row_counts(&meta) {
                Some(w) => w,
                None => {
                    return Check::skip(
                        N,
                        format!(
                            "{} holds no per-table row counts",
                            set.path("db.meta.json").display()
                        ),
                    )
                }
            },
            Err(e) if e.kind == ErrorKind::MissingInput => {
                return Check::skip(N, format!("the set has no database dump: {}", e.message))
            }
            Err(e) => return Check::fail(N, e.message),
        };
        if self.status_of("database") == Some(Status::Fail) {
            return Check::skip(N, "the database is unreachable");
        }
        let session = match self.db_session() {
            Ok(s) => s,
            Err(c) => return Check { name: N, ..*c },
        };
        let have = match session.row_counts() {
            Ok(h) => h,
            Err(e) => return Check::fail(N, format!("counting rows: {}", e.message)),
        };
        compare_counts(&want, &have, self.opts.exact)
    }

    fn check_app_key(&mut self) -> Check {
        const N: &str = "app_key";
        let Some(set) = self.set else {
            return Check::skip(N, "no --against SET to compare with");
        };
        let want = match set.read_meta::<serde_json::Value>("env") {
            Ok(meta) => match set_app_key_fingerprint(&meta) {
                Some(w) => w,
                None => {
                    return Check::skip(
                        N,
                        format!(
                            "{} records no APP_KEY fingerprint",
                            set.path("env.meta.json").display()
                        ),
                    )
                }
            },
            Err(e) if e.kind == ErrorKind::MissingInput => {
                return Check::skip(N, format!("the set has no .env backup: {}", e.message))
            }
            Err(e) => return Check::fail(N, e.message),
        };
        let have = match self.env() {
            Ok(env) => env.get("APP_KEY").map(Fingerprint::of),
            Err(m) => return Check::fail(N, format!("cannot read .env: {m}")),
        };
        match have {
            Some(h) if h.0 == want => Check::pass(N, format!("APP_KEY {h} equals the set's"))
                .with("have", json!(h))
                .with("want", json!(want)),
            Some(h) => Check::fail(N, format!("APP_KEY {h} differs from the set's {want}"))
                .hint("data encrypted with the old key gives \"The MAC is invalid\": `df-backup-env restore-key --from SET`")
                .with("have", json!(h))
                .with("want", json!(want)),
            None => Check::fail(N, format!("APP_KEY is not set; the set's is {want}"))
                .hint("`df-backup-env restore-key --from SET`")
                .with("want", json!(want)),
        }
    }

    fn check_http(&mut self) -> Check {
        const N: &str = "http";
        let Some(url) = self.opts.url.clone() else {
            return Check::skip(N, "no --url to probe (DreamFactory answers GET /status)");
        };
        let resp = match crate::http::get(&url, self.opts.timeout) {
            Ok(r) => (r.status, r.text()),
            Err(e) => {
                return Check::fail(N, format!("GET {url}: {}", e.message))
                    .hint("is the web server running? `df-restart`")
                    .with("url", json!(url))
            }
        };
        let (code, body) = resp;
        let base = Check::pass(N, "")
            .with("url", json!(url))
            .with("status_code", json!(code));
        if !(200..300).contains(&code) {
            let snippet: String = body.chars().take(200).collect();
            return Check {
                status: Status::Fail,
                detail: format!("GET {url} answered {code}: {}", snippet.trim()),
                ..base
            }
            .hint("read storage/logs/ and the web server's error log");
        }
        // DreamFactory's GET /status reports its version: a proof that PHP, not a
        // placeholder page, answered — and that it is the code we expect.
        let is_status = url
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_end_matches('/')
            .ends_with("/status");
        if is_status {
            if let Some(v) = self.version.clone() {
                if !body_shows_version(&body, &v) {
                    let snippet: String = body.chars().take(200).collect();
                    return Check {
                        status: Status::Fail,
                        detail: format!(
                            "GET {url} answered {code} without version {v}: {}",
                            snippet.trim()
                        ),
                        ..base
                    }
                    .hint("the web server may serve another install or stale code (opcache: restart php-fpm)");
                }
                return Check {
                    detail: format!("GET {url} answered {code} with version {v}"),
                    ..base
                };
            }
        }
        Check {
            detail: format!("GET {url} answered {code}"),
            ..base
        }
    }

    fn check_logs(&mut self) -> Check {
        const N: &str = "logs";
        let Some((since, from)) = self.since else {
            return Check::skip(
                N,
                "no --since and no --against SET: no time to scan from (e.g. --since 2026-11-25T20:30:00Z)",
            );
        };
        let dir = self.install.path("storage/logs");
        if let Some(tz) = app_timezone(self.install) {
            if tz != "UTC" {
                self.ctx.warn(format!(
                    "config/app.php sets timezone {tz}; log times without an offset are read as UTC"
                ));
            }
        }
        match scan_logs(&dir, since) {
            Ok(scan) => {
                let base = |c: Check| {
                    c.with("since", json!(since.to_rfc3339()))
                        .with("since_from", json!(from))
                        .with("files", json!(scan.files))
                };
                if scan.hits.is_empty() {
                    return base(Check::pass(
                        N,
                        format!(
                            "no ERROR/CRITICAL/ALERT/EMERGENCY lines since {} in {} file(s)",
                            since.to_rfc3339(),
                            scan.files.len()
                        ),
                    ));
                }
                let first: Vec<String> = scan
                    .hits
                    .iter()
                    .take(3)
                    .map(|h| format!("{}:{}: {}", h.file, h.line, h.text))
                    .collect();
                let lines: Vec<Value> = scan
                    .hits
                    .iter()
                    .take(MAX_LOG_LINES)
                    .map(|h| json!({"file": h.file, "line": h.line, "level": h.level, "text": h.text}))
                    .collect();
                base(
                    Check::fail(
                        N,
                        format!(
                            "{} new error line(s) since {}: {}",
                            scan.hits.len(),
                            since.to_rfc3339(),
                            first.join(" | ")
                        ),
                    )
                    .hint("read the named lines (and the stack traces after them)")
                    .with("count", json!(scan.hits.len()))
                    .with("lines", json!(lines)),
                )
            }
            Err(e) if e.kind == ErrorKind::MissingInput => {
                Check::skip(N, format!("no log directory: {}", e.message))
            }
            Err(e) => Check::fail(N, e.message),
        }
    }
}

/// Whether a response body names `version`: as a JSON string value anywhere (DreamFactory:
/// `{"platform":{"version":"7.7.0",…}}`), or, for a body that is not JSON, as a word.
pub fn body_shows_version(body: &str, version: &str) -> bool {
    fn walk(v: &Value, want: &str) -> bool {
        match v {
            Value::String(s) => s == want,
            Value::Array(a) => a.iter().any(|x| walk(x, want)),
            Value::Object(m) => m.values().any(|x| walk(x, want)),
            _ => false,
        }
    }
    match serde_json::from_str::<Value>(body) {
        Ok(v) => walk(&v, version),
        Err(_) => body.match_indices(version).any(|(i, m)| {
            let before = body[..i].chars().next_back();
            let after = body[i + m.len()..].chars().next();
            let part = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.');
            !part(before) && !part(after)
        }),
    }
}

/// Compare a set's per-table row counts with the current ones.
pub fn compare_counts(
    want: &BTreeMap<String, u64>,
    have: &BTreeMap<String, u64>,
    exact: bool,
) -> Check {
    const N: &str = "row_counts";
    let mut bad: Vec<String> = Vec::new();
    let mut short: Vec<Value> = Vec::new();
    for (table, &w) in want {
        match have.get(table) {
            None => {
                bad.push(format!("{table}: missing (want {w})"));
                short.push(json!({"table": table, "have": null, "want": w}));
            }
            Some(&h) if h < w || (exact && h != w) => {
                bad.push(format!("{table}: have {h}, want {w}"));
                short.push(json!({"table": table, "have": h, "want": w}));
            }
            Some(_) => {}
        }
    }
    let extra: Vec<&String> = have.keys().filter(|t| !want.contains_key(*t)).collect();
    let rows: u64 = want.values().sum();
    let rel = if exact { "equal to" } else { "at least" };
    let c = if bad.is_empty() {
        Check::pass(
            N,
            format!(
                "{} tables ({} rows in the set), each {rel} the set's count",
                want.len(),
                rows
            ),
        )
    } else {
        Check::fail(N, bad.join("; ")).hint(
            "rows were lost: restore the set's dump (`df-dump-db restore --from SET --replace`) or find what deleted them",
        )
    };
    c.with("compared", json!(want.len()))
        .with("exact", json!(exact))
        .with("mismatched", json!(short))
        .with("extra_tables", json!(extra))
}

/// The per-table row counts df-dump-db recorded in db.meta.json: `row_counts`, an object
/// `{table: rows}` (null for a SQL Server backup, which has none).
pub fn set_row_counts(meta: &Value) -> Option<BTreeMap<String, u64>> {
    meta.get("row_counts")?
        .as_object()?
        .iter()
        .map(|(t, n)| Some((t.clone(), n.as_u64()?)))
        .collect()
}

/// The APP_KEY fingerprint df-backup-env recorded in env.meta.json.
pub fn set_app_key_fingerprint(meta: &Value) -> Option<String> {
    [
        meta.get("app_key_fingerprint"),
        meta.get("fingerprints").and_then(|v| v.get("APP_KEY")),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find(|s| s.starts_with("sha256:"))
    .map(str::to_string)
}

/// When a backup set was made: the earliest `created_at`/`saved_at` of its manifest and
/// metas, else the UTC stamp of its directory name (`20261125T203000Z`), else the oldest
/// meta file's mtime.
pub fn set_time(set: &BackupSet) -> Option<DateTime<FixedOffset>> {
    let mut times = Vec::new();
    for f in ["manifest.json", "env.meta.json", "db.meta.json"] {
        let Ok(text) = std::fs::read(set.path(f)) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&text) else {
            continue;
        };
        for k in ["created_at", "saved_at"] {
            if let Some(t) = v
                .get(k)
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            {
                times.push(t);
            }
        }
    }
    if let Some(t) = times.into_iter().min() {
        return Some(t);
    }
    if let Some(name) = set.dir.file_name().and_then(|n| n.to_str()) {
        if let Ok(t) = NaiveDateTime::parse_from_str(name, "%Y%m%dT%H%M%SZ") {
            return Some(Utc.from_utc_datetime(&t).fixed_offset());
        }
    }
    let rd = std::fs::read_dir(&set.dir).ok()?;
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".meta.json"))
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .min()
        .map(|t| DateTime::<Utc>::from(t).fixed_offset())
}

/// `'timezone' => 'X'` of config/app.php.
fn app_timezone(install: &Install) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"(?m)^\s*['"]timezone['"]\s*=>\s*['"]([^'"]+)['"]"#).expect("valid regex")
    });
    let text = std::fs::read_to_string(install.path("config/app.php")).ok()?;
    re.captures(&text).map(|c| c[1].to_string())
}

/// One offending log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHit {
    /// Path relative to the install root, e.g. `storage/logs/dreamfactory.log`.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    pub level: String,
    pub text: String,
}

/// The result of scanning a log directory.
#[derive(Debug, Default)]
pub struct LogScan {
    pub files: Vec<String>,
    pub hits: Vec<LogHit>,
}

/// The time and level of a Laravel/Monolog log line header, e.g.
/// `[2026-11-25 20:30:00] production.ERROR: message` (times without an offset are UTC).
pub fn parse_log_header(line: &str) -> Option<(DateTime<FixedOffset>, &str)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"^\[(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\] [^\s\[\]]+?\.([A-Z]+):",
        )
        .expect("valid regex")
    });
    let c = re.captures(line)?;
    let naive =
        NaiveDateTime::parse_from_str(&format!("{} {}", &c[1], &c[2]), "%Y-%m-%d %H:%M:%S").ok()?;
    let t = match c.get(4).map(|m| m.as_str()) {
        None | Some("Z") => Utc.from_utc_datetime(&naive).fixed_offset(),
        Some(off) => {
            let off = off.replace(':', "");
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let h: i32 = off[1..3].parse().ok()?;
            let m: i32 = off[3..5].parse().ok()?;
            let fo = FixedOffset::east_opt(sign * (h * 3600 + m * 60))?;
            fo.from_local_datetime(&naive).single()?
        }
    };
    Some((t, c.get(5)?.as_str()))
}

fn is_alarm_level(level: &str) -> bool {
    matches!(level, "ERROR" | "CRITICAL" | "ALERT" | "EMERGENCY")
}

/// Scan one log for alarm lines at or after `since`. `name` is how hits name the file.
pub fn scan_log(
    r: impl BufRead,
    name: &str,
    since: DateTime<FixedOffset>,
    hits: &mut Vec<LogHit>,
) -> std::io::Result<()> {
    let mut r = r;
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        n += 1;
        // Only header lines start with '['; stack-trace lines are skipped cheaply.
        if buf.first() != Some(&b'[') {
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some((t, level)) = parse_log_header(line) {
            if is_alarm_level(level) && t >= since {
                let text: String = line.chars().take(MAX_LINE_CHARS).collect();
                hits.push(LogHit {
                    file: name.to_string(),
                    line: n,
                    level: level.to_string(),
                    text: crate::secret::scrub(&text),
                });
            }
        }
    }
}

/// Scan `dir/*.log` (DreamFactory: dreamfactory.log, daily dreamfactory-DATE.log,
/// laravel.log). Files not modified since `since` cannot hold new lines and are not read.
pub fn scan_logs(dir: &Path, since: DateTime<FixedOffset>) -> Result<LogScan> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("reading", dir, e))?;
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log") && p.is_file())
        .collect();
    paths.sort();
    let mut scan = LogScan::default();
    let since_sys: std::time::SystemTime = since.with_timezone(&Utc).into();
    for p in paths {
        let name = format!(
            "storage/logs/{}",
            p.file_name().unwrap_or_default().to_string_lossy()
        );
        let md = std::fs::metadata(&p).map_err(|e| Error::io("inspecting", &p, e))?;
        if md.modified().is_ok_and(|m| m < since_sys) {
            continue;
        }
        let f = std::fs::File::open(&p).map_err(|e| Error::io("reading", &p, e))?;
        scan_log(std::io::BufReader::new(f), &name, since, &mut scan.hits)
            .map_err(|e| Error::io("reading", &p, e))?;
        scan.files.push(name);
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn log_headers() {
        let (ts, lvl) =
            parse_log_header("[2026-11-25 20:30:00] production.ERROR: boom {\"x\":1}").unwrap();
        assert_eq!(ts, t("2026-11-25T20:30:00Z"));
        assert_eq!(lvl, "ERROR");
        let (ts, lvl) =
            parse_log_header("[2026-11-25T21:30:00.123456+01:00] local.CRITICAL: x").unwrap();
        assert_eq!(ts, t("2026-11-25T20:30:00Z"));
        assert_eq!(lvl, "CRITICAL");
        assert!(parse_log_header("#0 /opt/df/vendor/x.php(12): foo()").is_none());
        assert!(parse_log_header("[stacktrace]").is_none());
        assert!(parse_log_header("[2026-11-25 20:30:00] production.INFO: ok").is_some());
    }

    #[test]
    fn scan_finds_new_alarm_lines_only() {
        let log = "\
[2026-11-25 20:00:00] production.ERROR: old error
#0 trace
[2026-11-25 20:30:00] production.INFO: upgrade started
[2026-11-25 20:30:00] production.ERROR: at the boundary
[stacktrace]
[2026-11-25 20:31:00] production.WARNING: only a warning
[2026-11-25 20:32:00] production.EMERGENCY: disk full
[2026-11-25 20:33:00] production.ALERT: alert
";
        let mut hits = Vec::new();
        scan_log(
            log.as_bytes(),
            "storage/logs/dreamfactory.log",
            t("2026-11-25T20:30:00Z"),
            &mut hits,
        )
        .unwrap();
        let got: Vec<(usize, &str)> = hits.iter().map(|h| (h.line, h.level.as_str())).collect();
        assert_eq!(got, vec![(4, "ERROR"), (7, "EMERGENCY"), (8, "ALERT")]);
        assert_eq!(
            hits[0].text,
            "[2026-11-25 20:30:00] production.ERROR: at the boundary"
        );
    }

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

    #[test]
    fn version_in_body() {
        assert!(body_shows_version(
            r#"{"platform":{"version":"7.0.0"}}"#,
            "7.0.0"
        ));
        assert!(!body_shows_version(
            r#"{"platform":{"version":"17.0.0"}}"#,
            "7.0.0"
        ));
        assert!(body_shows_version("<h1>DreamFactory 7.0.0</h1>", "7.0.0"));
        assert!(!body_shows_version("<h1>DreamFactory 7.0.01</h1>", "7.0.0"));
    }

    #[test]
    fn counts_compare() {
        let want: BTreeMap<String, u64> = [("user".into(), 2), ("service".into(), 3)].into();
        let mut have = want.clone();
        have.insert("extra".into(), 1);
        assert_eq!(compare_counts(&want, &have, false).status, Status::Pass);
        have.insert("service".into(), 4);
        assert_eq!(compare_counts(&want, &have, false).status, Status::Pass);
        let c = compare_counts(&want, &have, true);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.detail, "service: have 4, want 3");
        have.insert("user".into(), 1);
        have.remove("service");
        let c = compare_counts(&want, &have, false);
        assert_eq!(c.detail, "service: missing (want 3); user: have 1, want 2");
    }

    #[test]
    fn set_meta_shapes() {
        let a =
            set_row_counts(&json!({"tables": 2, "row_counts": {"user": 2, "role": 0}})).unwrap();
        assert_eq!(a, [("role".to_string(), 0), ("user".to_string(), 2)].into());
        assert!(set_row_counts(&json!({"tables": null, "row_counts": null})).is_none());
        assert_eq!(
            set_app_key_fingerprint(
                &json!({"app_key_fingerprint": "sha256:abc", "app_key": "base64, 32 bytes"})
            )
            .as_deref(),
            Some("sha256:abc")
        );
        assert!(set_app_key_fingerprint(&json!({"app_key": "base64, 32 bytes"})).is_none());
    }
}
