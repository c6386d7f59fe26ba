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
use crate::exec::Cmd;
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
        stand_in::check_url(url)?;
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
        return Ok(Outcome::new(false, msg, data));
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
        let env = match self.env() {
            Ok(e) => e,
            Err(m) => return Check::fail(N, m).hint(
                "DreamFactory will not boot with this .env; `df-backup-env show` names the line",
            ),
        };
        let Some(key) = env.get("APP_KEY") else {
            return Check::fail(N, "APP_KEY is not set in .env").hint(
                "put the APP_KEY the data was encrypted with back: `df-backup-env restore-key --from SET`",
            );
        };
        let fp = Fingerprint::of(key);
        let conn = env.get("DB_CONNECTION").map(str::to_string);
        match app_key_shape(key) {
            Ok(shape) => Check::pass(
                N,
                format!(
                    "parses; APP_KEY {fp} ({shape}); DB_CONNECTION={}",
                    conn.as_deref().unwrap_or("(unset)")
                ),
            )
            .with("app_key", json!(fp))
            .with("db_connection", json!(conn)),
            Err(why) => Check::fail(N, format!("APP_KEY {fp} is malformed: {why}"))
                .hint("APP_KEY must be base64: + 16/24/32 bytes, or a raw 16/24/32-character key")
                .with("app_key", json!(fp)),
        }
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

    /// `php artisan ARGS` as the owner of storage/ (so nothing it logs stays root-owned).
    fn artisan(&self, args: &[&str]) -> std::result::Result<crate::exec::Output, Check> {
        let php = match &self.opts.php {
            Some(p) => Cmd::resolved(p),
            None => match Cmd::new("php") {
                Ok(c) => c,
                Err(_) => return Err(Check::skip("", "php not found on PATH (give --php)")),
            },
        };
        if !self.install.path("artisan").is_file() {
            return Err(Check::fail(
                "",
                format!("no artisan script in {}", self.install.root.display()),
            ));
        }
        let mut cmd = php
            .arg("artisan")
            .args(args)
            .current_dir(&self.install.root)
            // Symfony console wraps its error boxes at the terminal width: keep lines whole.
            .env("COLUMNS", "1000")
            .timeout(self.opts.timeout);
        if crate::users::is_root() {
            if let Ok((uid, gid)) = crate::users::owner_of(&self.install.path("storage")) {
                if uid != 0 {
                    cmd = cmd.as_user(uid, gid);
                }
            }
        }
        cmd.run().map_err(|e| Check::fail("", e.message))
    }

    fn check_artisan(&mut self) -> Check {
        const N: &str = "artisan";
        let out = match self.artisan(&["--version", "--no-interaction"]) {
            Ok(o) => o,
            Err(c) => return Check { name: N, ..c },
        };
        if out.success() {
            let line = out.stdout_str().trim().to_string();
            Check::pass(N, line.clone()).with("output", json!(line))
        } else {
            Check::fail(
                N,
                format!(
                    "php artisan --version: {}: {}",
                    out.status_text(),
                    out.tail(3)
                ),
            )
            .hint("`df-artisan repair` reinstalls vendor/ and clears compiled caches")
        }
    }

    fn check_database(&mut self) -> Check {
        const N: &str = "database";
        let install = self.install.clone();
        let env = match self.env() {
            Ok(e) => e,
            Err(m) => return Check::skip(N, format!("cannot read DB settings: {m}")),
        };
        match stand_in::db_ping(&install, env) {
            Ok(d) => Check::pass(N, d),
            Err(e) => Check::fail(N, e.message)
                .hint("check DB_HOST/DB_PORT/DB_DATABASE/DB_USERNAME/DB_PASSWORD in .env and that the server runs"),
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
        let out = match self.artisan(&["migrate:status", "--no-interaction"]) {
            Ok(o) => o,
            Err(c) => return Check { name: N, ..c },
        };
        match stand_in::parse_migrate_status(&out) {
            Ok(pending) if pending.is_empty() => Check::pass(N, "no pending migrations"),
            Ok(pending) => Check::fail(
                N,
                format!("{} pending: {}", pending.len(), pending.join(", ")),
            )
            .hint("run `df-artisan migrate --seed`")
            .with("pending", json!(pending)),
            Err(m) => Check::fail(N, m),
        }
    }

    fn check_row_counts(&mut self) -> Check {
        const N: &str = "row_counts";
        let Some(set) = self.set else {
            return Check::skip(N, "no --against SET to compare with");
        };
        let want = match set.read_meta("db.sql") {
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
        let install = self.install.clone();
        let env = match self.env() {
            Ok(e) => e,
            Err(m) => return Check::skip(N, format!("cannot read DB settings: {m}")),
        };
        let have = match stand_in::db_row_counts(&install, env) {
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
        let want = match set.read_meta("env") {
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
        let resp = match stand_in::http_get(&url, self.opts.timeout) {
            Ok(r) => r,
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

/// The per-table row counts recorded in a db.meta.json: `row_counts` or `tables` as an
/// object `{table: rows}` or an array of `{name|table, rows|count}`.
pub fn set_row_counts(meta: &Value) -> Option<BTreeMap<String, u64>> {
    for key in ["row_counts", "tables", "rows"] {
        let Some(v) = meta.get(key) else { continue };
        let mut out = BTreeMap::new();
        match v {
            Value::Object(m) => {
                for (t, n) in m {
                    let n = n
                        .as_u64()
                        .or_else(|| n.get("rows").and_then(Value::as_u64))?;
                    out.insert(t.clone(), n);
                }
            }
            Value::Array(a) => {
                for e in a {
                    let t = e.get("name").or_else(|| e.get("table"))?.as_str()?;
                    let n = e.get("rows").or_else(|| e.get("count"))?.as_u64()?;
                    out.insert(t.to_string(), n);
                }
            }
            _ => continue,
        }
        return Some(out);
    }
    None
}

/// The APP_KEY fingerprint recorded in an env.meta.json.
pub fn set_app_key_fingerprint(meta: &Value) -> Option<String> {
    let candidates = [
        meta.get("app_key_fingerprint"),
        meta.get("app_key")
            .and_then(|v| v.get("fingerprint").or(Some(v))),
        meta.get("fingerprints").and_then(|v| v.get("APP_KEY")),
        meta.get("secrets").and_then(|v| v.get("APP_KEY")),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|s| s.starts_with("sha256:"))
        .map(str::to_string)
}

/// When a backup set was made: a `created_at` in its manifest or metas, else the UTC
/// stamp of its directory name (`20261125T203000Z`), else the oldest meta file's mtime.
pub fn set_time(set: &BackupSet) -> Option<DateTime<FixedOffset>> {
    for f in ["manifest.json", "env.meta.json", "db.meta.json"] {
        let Ok(text) = std::fs::read(set.path(f)) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&text) else {
            continue;
        };
        if let Some(t) = v
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        {
            return Some(t);
        }
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

/// Whether an APP_KEY is one Laravel's encrypter accepts: `base64:` + 16/24/32 decoded
/// bytes, or a raw 16/24/32-byte key. Returns a description of its shape.
pub fn app_key_shape(key: &str) -> std::result::Result<String, String> {
    if key.is_empty() {
        return Err("empty".into());
    }
    if let Some(b64) = key.strip_prefix("base64:") {
        let bytes = base64_decode(b64).ok_or("base64: prefix but the rest is not base64")?;
        return match bytes.len() {
            16 | 24 | 32 => Ok(format!("base64, {} bytes", bytes.len())),
            n => Err(format!("decodes to {n} bytes, not 16, 24 or 32")),
        };
    }
    match key.len() {
        16 | 24 | 32 => Ok(format!("raw, {} bytes", key.len())),
        n => Err(format!(
            "{n} bytes and no base64: prefix (want 16, 24 or 32)"
        )),
    }
}

/// Standard base64 with optional padding (what `php artisan key:generate` writes).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return None; // a lone trailing character cannot encode a byte
    }
    Some(out)
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

/// STAND-INS for pieces other modules own (lib/db.rs, lib/artisan.rs, lib/http.rs).
/// Replaced by calls into those modules as they land; see the report of the verify branch.
mod stand_in {
    use super::*;

    /// Ping the database; a one-line description on success.
    pub fn db_ping(install: &Install, env: &EnvFile) -> Result<String> {
        let counts = db_row_counts(install, env)?;
        Ok(format!("sqlite: {} tables", counts.len()))
    }

    fn sqlite_path(install: &Install, env: &EnvFile) -> Result<PathBuf> {
        let driver = env.get("DB_CONNECTION").unwrap_or("sqlite");
        if driver != "sqlite" {
            return Err(Error::unavailable(format!(
                "DB_CONNECTION={driver}: not supported yet"
            )));
        }
        let db = env.get("DB_DATABASE").unwrap_or("");
        let p = if db.is_empty() {
            install.path("storage/databases/database.sqlite")
        } else if Path::new(db).is_absolute() {
            PathBuf::from(db)
        } else {
            install.path("storage/databases").join(db)
        };
        if !p.is_file() {
            return Err(Error::unavailable(format!(
                "sqlite database {} does not exist",
                p.display()
            )));
        }
        Ok(p)
    }

    /// Rows per table.
    pub fn db_row_counts(install: &Install, env: &EnvFile) -> Result<BTreeMap<String, u64>> {
        let p = sqlite_path(install, env)?;
        let sqlite = |sql: &str| -> Result<String> {
            let out = Cmd::new("sqlite3")?
                .args(["-readonly", "-batch", "-separator", "\t"])
                .arg(&p)
                .arg(sql)
                .timeout(Duration::from_secs(60))
                .run_ok()
                .map_err(|e| Error::unavailable(e.message))?;
            Ok(out.stdout_str())
        };
        let tables: Vec<String> = sqlite(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .lines()
        .map(str::to_string)
        .collect();
        let mut out = BTreeMap::new();
        if tables.is_empty() {
            return Ok(out);
        }
        let q = tables
            .iter()
            .map(|t| {
                let lit = t.replace('\'', "''");
                let id = t.replace('"', "\"\"");
                format!("SELECT '{lit}', COUNT(*) FROM \"{id}\"")
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        for line in sqlite(&q)?.lines() {
            if let Some((t, n)) = line.rsplit_once('\t') {
                out.insert(t.to_string(), n.trim().parse().unwrap_or(0));
            }
        }
        Ok(out)
    }

    /// Pending migrations from `migrate:status` output (Laravel 8 table or 9+ list).
    pub fn parse_migrate_status(
        out: &crate::exec::Output,
    ) -> std::result::Result<Vec<String>, String> {
        let text = out.combined();
        if text.contains("Migration table not found") {
            return Err("the migrations table does not exist (never migrated)".into());
        }
        if !out.success() {
            return Err(format!(
                "php artisan migrate:status: {}: {}",
                out.status_text(),
                out.tail(3)
            ));
        }
        let mut pending = Vec::new();
        for line in text.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() >= 4 && cells[1] == "No" {
                pending.push(cells[2].to_string());
            } else if line.trim_end().ends_with("Pending") {
                if let Some(name) = line.split_whitespace().next() {
                    pending.push(name.to_string());
                }
            }
        }
        Ok(pending)
    }

    /// A URL the probe can GET (else a usage error, before any check runs).
    pub fn check_url(url: &str) -> Result<()> {
        match url.strip_prefix("http://") {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
            _ => Err(
                Error::usage(format!("bad URL {url:?}: give http://host[:port]/path"))
                    .with_hint("probe the plain-HTTP listener, e.g. http://127.0.0.1/status"),
            ),
        }
    }

    /// GET a plain-http URL: (status code, body).
    pub fn http_get(url: &str, timeout: Duration) -> Result<(u16, String)> {
        use std::io::{Read, Write};
        use std::net::{TcpStream, ToSocketAddrs};
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| Error::usage(format!("{url}: only http:// URLs are supported")))?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr_s = if hostport.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:80")
        };
        let addr = addr_s
            .to_socket_addrs()
            .map_err(|e| Error::unavailable(format!("resolving {hostport}: {e}")))?
            .next()
            .ok_or_else(|| Error::unavailable(format!("{hostport} has no address")))?;
        let mut s = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| Error::unavailable(format!("connecting to {addr}: {e}")))?;
        let _ = s.set_read_timeout(Some(timeout));
        let _ = s.set_write_timeout(Some(timeout));
        // One write: some servers (php -S) reject a request head that arrives in pieces.
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: dfkit\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .map_err(|e| Error::unavailable(format!("sending request: {e}")))?;
        let mut buf = Vec::new();
        s.take(1 << 20)
            .read_to_end(&mut buf)
            .map_err(|e| Error::unavailable(format!("reading response: {e}")))?;
        let text = String::from_utf8_lossy(&buf);
        let status = text
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Error::unavailable("no HTTP status line in the response"))?;
        let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        Ok((status, body.to_string()))
    }
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
    fn app_keys() {
        // 32 zero bytes, base64.
        let k = format!("base64:{}", "A".repeat(43) + "=");
        assert_eq!(app_key_shape(&k).unwrap(), "base64, 32 bytes");
        assert_eq!(app_key_shape("0123456789abcdef").unwrap(), "raw, 16 bytes");
        assert!(app_key_shape("base64:AAAA")
            .unwrap_err()
            .contains("3 bytes"));
        assert!(app_key_shape("base64:!!!").is_err());
        assert!(app_key_shape("short").is_err());
        assert!(app_key_shape("").is_err());
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
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
        let a = set_row_counts(&json!({"row_counts": {"user": 2}})).unwrap();
        let b = set_row_counts(&json!({"tables": [{"name": "user", "rows": 2}]})).unwrap();
        assert_eq!(a, b);
        assert!(set_row_counts(&json!({"driver": "sqlite"})).is_none());
        assert_eq!(
            set_app_key_fingerprint(&json!({"app_key_fingerprint": "sha256:abc"})).as_deref(),
            Some("sha256:abc")
        );
        assert_eq!(
            set_app_key_fingerprint(&json!({"app_key": {"fingerprint": "sha256:abc"}})).as_deref(),
            Some("sha256:abc")
        );
    }
}
