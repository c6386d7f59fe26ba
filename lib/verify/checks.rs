//! Each check of df-verify, run in order by a [`Verifier`] that shares what one check
//! learnt (the parsed .env, an earlier check's status) with the next.
//!
//! PHP runs through df-artisan's runner, in [`Verifier::artisan`]: the one place
//! df-verify starts PHP (`check_artisan` and `check_migrations` call it).

use super::logs::{app_timezone, scan_logs};
use super::ownership;
use super::set::app_key_fingerprint;
use super::Options;
use crate::backup_set::db_meta::DbMeta;
use crate::backup_set::env_meta::EnvMeta;
use crate::backup_set::{compare_row_counts, BackupSet};
use crate::envfile::EnvFile;
use crate::error::{Error, ErrorKind};
use crate::install::Install;
use crate::report::data::verify::{Check, Status};
use crate::report::Ctx;
use crate::secret::Fingerprint;
use chrono::{DateTime, FixedOffset};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How many offending log lines a report lists (the count is always complete).
const MAX_LOG_LINES: usize = 20;

impl Check {
    fn new(name: &str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name: name.to_string(),
            status,
            detail: detail.into(),
            ..Check::default()
        }
    }
    pub fn pass(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, detail)
    }
    pub fn fail(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Fail, detail)
    }
    pub fn skip(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Skip, detail)
    }
    fn hint(mut self, h: impl Into<String>) -> Check {
        self.hint = Some(h.into());
        self
    }
    /// The same outcome under another check's name (a helper's failure, named by its caller).
    fn named(mut self, name: &str) -> Check {
        self.name = name.to_string();
        self
    }
}

/// State shared by the checks of one run.
pub struct Verifier<'a> {
    ctx: &'a Ctx,
    install: &'a Install,
    opts: &'a Options,
    set: Option<&'a BackupSet>,
    since: Option<(DateTime<FixedOffset>, &'static str)>,
    /// The parsed .env, loaded on first use.
    env: Option<std::result::Result<EnvFile, String>>,
    pub version: Option<String>,
    pub done: Vec<Check>,
    /// Set when running PHP changed something (see [`Verifier::artisan`]).
    pub changed: std::cell::Cell<bool>,
}

impl<'a> Verifier<'a> {
    pub fn new(
        ctx: &'a Ctx,
        install: &'a Install,
        opts: &'a Options,
        set: Option<&'a BackupSet>,
        since: Option<(DateTime<FixedOffset>, &'static str)>,
    ) -> Verifier<'a> {
        Verifier {
            ctx,
            install,
            opts,
            set,
            since,
            env: None,
            version: install.version(),
            done: Vec::new(),
            changed: std::cell::Cell::new(false),
        }
    }

    pub fn run_check(&mut self, name: &str) -> Check {
        match name {
            "env" => self.check_env(),
            "version" => self.check_version(),
            "ownership" => self.check_ownership(),
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
        Check {
            app_key: fp.map(|f| f.0),
            db_connection: conn,
            warnings: Some(warnings),
            ..c
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
            Some(want) if want != &v => Check {
                version: Some(v.clone()),
                expected: Some(want.clone()),
                ..Check::fail(N, format!("config/app.php says {v}, expected {want}"))
            },
            _ => Check {
                version: Some(v.clone()),
                ..Check::pass(N, format!("DreamFactory {v}"))
            },
        }
    }

    /// Root-owned files where PHP writes: reported with the fix, never changed here.
    fn check_ownership(&mut self) -> Check {
        const N: &str = "ownership";
        let found = ownership::root_owned(self.install);
        if found.owners.is_empty() {
            return Check::pass(
                N,
                "storage/ and bootstrap/cache/ are root's own (or absent): nothing is out of place",
            );
        }
        let base = |c: Check, found: &ownership::Found| Check {
            root_owned: Some(found.listed.clone()),
            root_owned_count: Some(found.count),
            ..c
        };
        if found.count == 0 && !found.unreadable.is_empty() {
            return Check::fail(N, format!("cannot walk: {}", found.unreadable.join("; ")))
                .hint("run df-verify as root, or as the owner of storage/");
        }
        if found.count == 0 {
            return base(
                Check::pass(
                    N,
                    format!(
                        "nothing root-owned under {}",
                        found
                            .owners
                            .iter()
                            .map(|(d, _, _)| format!("{d}/"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                ),
                &found,
            );
        }
        let (_, uid, gid) = &found.owners[0];
        let (user, group) = (
            crate::users::user_name(*uid),
            crate::users::group_name(*gid),
        );
        let first: Vec<&str> = found.listed.iter().take(3).map(String::as_str).collect();
        let c = Check::fail(
            N,
            format!(
                "{} root-owned entr{} where PHP (as {user}) must write: {}{}",
                found.count,
                if found.count == 1 { "y" } else { "ies" },
                first.join(", "),
                if found.count > 3 { ", …" } else { "" }
            ),
        )
        .hint(format!(
            "the site may answer 500 when PHP cannot write them; give them back: `df-perms --root {} --user {user} --group {group}`",
            self.install.root.display()
        ));
        base(c, &found)
    }

    /// Run a df-artisan action: PHP as the owner of storage/, without the sweep (a check
    /// only reads; root-owned files stay as they are, for the `ownership` check to report).
    /// The one place df-verify runs PHP. `Err(check)` is a skip when php is missing, else
    /// a failure, named later.
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
                // A runner that hands root-owned files back changed the install: say so
                // (the `ownership` check reports such files; fixing them is df-perms' job).
                let fixed = o.data["ownership_fixed"].as_u64().unwrap_or(0);
                if fixed > 0 {
                    self.changed.set(true);
                    self.ctx.warn(format!(
                        "df-artisan's runner handed {fixed} root-owned file(s) under storage/ and bootstrap/cache/ back to their owner"
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
                    Some(v) => Check {
                        laravel_version: Some(v.clone()),
                        ..Check::pass(N, format!("php artisan --version: Laravel {v}"))
                    },
                    None => Check::fail(N, "php artisan --version printed no Laravel version")
                        .hint("is this a Laravel (DreamFactory) install?"),
                }
            }
            Err(c) => c.named(N),
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
            Err(c) => return c.named(N),
        };
        let what = session.settings.describe();
        let driver = Some(session.settings.driver.as_str().to_string());
        match session.ping() {
            Ok(version) => Check {
                driver,
                server_version: Some(version.clone()),
                size_bytes: session.size_bytes(),
                ..Check::pass(N, format!("{what} answers (server {version})"))
            },
            Err(e) => {
                let hint = e.hint.unwrap_or_else(|| {
                    "check DB_HOST/DB_PORT/DB_DATABASE/DB_USERNAME/DB_PASSWORD in .env and that the server runs".into()
                });
                Check {
                    driver,
                    ..Check::fail(N, e.message).hint(hint)
                }
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
            Err(c) => return c.named(N),
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
            Check {
                ran: Some(ran),
                ..Check::pass(N, format!("no pending migrations ({ran} ran)"))
            }
        } else {
            Check {
                ran: Some(ran),
                ..Check::fail(
                    N,
                    format!("{} pending: {}", pending.len(), pending.join(", ")),
                )
                .hint("run `df-artisan migrate --seed`")
            }
            .with_pending(pending)
        }
    }

    fn check_row_counts(&mut self) -> Check {
        const N: &str = "row_counts";
        let Some(set) = self.set else {
            return Check::skip(N, "no --against SET to compare with");
        };
        let want = match set.read_meta::<DbMeta>("db.sql") {
            Ok(meta) => match meta.row_counts {
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
            Err(c) => return c.named(N),
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
        let want = match set.read_meta::<EnvMeta>("env") {
            Ok(meta) => match app_key_fingerprint(&meta) {
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
        let c = match &have {
            Some(h) if h.0 == want => Check::pass(N, format!("APP_KEY {h} equals the set's")),
            Some(h) => Check::fail(N, format!("APP_KEY {h} differs from the set's {want}"))
                .hint("data encrypted with the old key gives \"The MAC is invalid\": `df-backup-env restore-key --from SET`"),
            None => Check::fail(N, format!("APP_KEY is not set; the set's is {want}"))
                .hint("`df-backup-env restore-key --from SET`"),
        };
        Check {
            have: have.map(|h| h.0),
            want: Some(want),
            ..c
        }
    }

    fn check_http(&mut self) -> Check {
        const N: &str = "http";
        let Some(url) = self.opts.url.clone() else {
            return Check::skip(N, "no --url to probe (DreamFactory answers GET /status)");
        };
        let resp = crate::http::Url::parse(&url).and_then(|u| {
            crate::http::get_url(
                &u,
                self.opts.timeout,
                crate::http::DEFAULT_BODY_CAP,
                &self.opts.tls,
            )
        });
        let (code, body) = match resp {
            Ok(r) => (r.status, r.text()),
            Err(e) => {
                let hint = e
                    .hint
                    .unwrap_or_else(|| "is the web server running? `df-restart`".into());
                return Check {
                    url: Some(url.clone()),
                    ..Check::fail(N, e.message).hint(hint)
                };
            }
        };
        let with = |c: Check| Check {
            url: Some(url.clone()),
            status_code: Some(code),
            ..c
        };
        if !(200..300).contains(&code) {
            let snippet: String = body.chars().take(200).collect();
            return with(
                Check::fail(N, format!("GET {url} answered {code}: {}", snippet.trim()))
                    .hint("read storage/logs/ and the web server's error log"),
            );
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
                    return with(Check::fail(
                        N,
                        format!(
                            "GET {url} answered {code} without version {v}: {}",
                            snippet.trim()
                        ),
                    )
                    .hint("the web server may serve another install or stale code (opcache: restart php-fpm)"));
                }
                return with(Check::pass(
                    N,
                    format!("GET {url} answered {code} with version {v}"),
                ));
            }
        }
        with(Check::pass(N, format!("GET {url} answered {code}")))
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
        let install = self.install;
        let zone = match app_timezone(install, self.env().ok()) {
            Ok(z) => z,
            Err(e) => {
                let mut c = Check::fail(N, e.message);
                c.hint = e.hint;
                return c;
            }
        };
        match scan_logs(&dir, since, &zone.zone) {
            Ok(scan) => {
                let base = |c: Check| Check {
                    since: Some(since.to_rfc3339()),
                    since_from: Some(from.to_string()),
                    timezone: Some(zone.name.clone()),
                    files: Some(scan.files.clone()),
                    ..c
                };
                if scan.hits.is_empty() {
                    return base(Check::pass(
                        N,
                        format!(
                            "no ERROR/CRITICAL/ALERT/EMERGENCY lines since {} in {} file(s) (times in {})",
                            since.to_rfc3339(),
                            scan.files.len(),
                            zone.name
                        ),
                    ));
                }
                let first: Vec<String> = scan
                    .hits
                    .iter()
                    .take(3)
                    .map(|h| format!("{}:{}: {}", h.file, h.line, h.text))
                    .collect();
                let c = Check::fail(
                    N,
                    format!(
                        "{} new error line(s) since {}: {}",
                        scan.hits.len(),
                        since.to_rfc3339(),
                        first.join(" | ")
                    ),
                )
                .hint("read the named lines (and the stack traces after them)");
                Check {
                    count: Some(scan.hits.len()),
                    lines: Some(scan.hits.iter().take(MAX_LOG_LINES).cloned().collect()),
                    ..base(c)
                }
            }
            Err(e) if e.kind == ErrorKind::MissingInput => {
                Check::skip(N, format!("no log directory: {}", e.message))
            }
            Err(e) => Check::fail(N, e.message),
        }
    }
}

impl Check {
    fn with_pending(mut self, pending: Vec<String>) -> Check {
        self.pending = Some(pending);
        self
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

/// Compare a set's per-table row counts with the current ones, through the one row-count
/// comparison of dfkit ([`compare_row_counts`]).
pub fn compare_counts(
    want: &BTreeMap<String, u64>,
    have: &BTreeMap<String, u64>,
    exact: bool,
) -> Check {
    const N: &str = "row_counts";
    let mismatched = compare_row_counts(want, have, !exact);
    let bad: Vec<String> = mismatched
        .iter()
        .map(|m| match (m.found, m.expected) {
            (None, Some(w)) => format!("{}: missing (want {w})", m.table),
            (Some(h), Some(w)) => format!("{}: have {h}, want {w}", m.table),
            (h, w) => format!("{}: have {h:?}, want {w:?}", m.table),
        })
        .collect();
    let extra: Vec<String> = have
        .keys()
        .filter(|t| !want.contains_key(*t))
        .cloned()
        .collect();
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
    Check {
        compared: Some(want.len()),
        exact: Some(exact),
        mismatched: Some(mismatched),
        extra_tables: Some(extra),
        ..c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let m = c.mismatched.unwrap();
        assert_eq!(m[0].table, "service");
        assert_eq!((m[0].expected, m[0].found), (Some(3), None));
        assert_eq!((m[1].expected, m[1].found), (Some(2), Some(1)));
    }
}
