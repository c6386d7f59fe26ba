//! The PHP side of an upgrade: composer and artisan, run the way the guide means them
//! and safely.
//!
//! * `php` and `composer` (or `composer.phar` in the root) are found on PATH; always
//!   `--no-interaction`; every `migrate*` with `--force` (APP_ENV=production would
//!   otherwise ask and abort); COMPOSER_MEMORY_LIMIT=-1, COMPOSER_ALLOW_SUPERUSER=1 when
//!   composer runs as root.
//! * Run as root, artisan would leave root-owned logs and cache files that make the site
//!   answer 500. So PHP runs as the owner of storage/ (composer as the owner of the root;
//!   `--as-user` overrides both), with a private temporary HOME/COMPOSER_HOME, and
//!   afterwards nothing under storage/ and bootstrap/cache/ is left owned by root.
//! * A failure's output is matched against known texts ([`hints::diagnose`]) so the
//!   error carries a hint ("The MAC is invalid" → restore the APP_KEY, …).
//! * Every command run is reported (masked argv, exit code, duration, output tail), with
//!   the facts read from its output (migrations applied, pending, rolled back).

pub mod hints;
pub mod output;
pub mod strict;

use crate::error::{Error, ErrorKind, Result};
use crate::exec::{Cmd, Input, Output};
use crate::report::{Ctx, Outcome};
use serde_json::{json, Map, Value};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options shared by every subcommand.
#[derive(Debug, Clone)]
pub struct Options {
    /// The install.
    pub root: PathBuf,
    /// `--php PATH` (default: `php` on PATH).
    pub php: Option<PathBuf>,
    /// `--composer PATH` (default: `composer` on PATH, else ROOT/composer.phar).
    pub composer: Option<PathBuf>,
    /// `--as-user USER`: run PHP as this user instead of the owners of storage/ and the root.
    pub as_user: Option<String>,
    /// Kill a command running longer than this.
    pub timeout: Duration,
}

/// How to call `composer install`.
#[derive(Debug, Clone, Default)]
pub struct ComposerFlags {
    /// Install dev requirements too (omit `--no-dev`).
    pub dev: bool,
    /// Check platform requirements (omit `--ignore-platform-reqs`).
    pub platform_reqs: bool,
    /// Extra arguments for `composer install`.
    pub extra: Vec<String>,
}

/// `strict-mode on|off|status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictAction {
    On,
    Off,
    Status,
}

/// Where the maintenance-mode bypass secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// Given on our command line (visible in the process list: discouraged).
    Value(String),
    /// Read from this environment variable.
    Env(String),
    /// Read from the first line of this file.
    File(PathBuf),
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Action {
    ComposerInstall(ComposerFlags),
    Migrate {
        seed: bool,
    },
    Status,
    Clear,
    Fresh {
        yes: bool,
        seed: bool,
    },
    Reset {
        yes: bool,
    },
    Down {
        render: Option<String>,
        secret: Option<SecretSource>,
        retry: Option<u32>,
    },
    Up,
    Repair(ComposerFlags),
    StrictMode(StrictAction),
    Version,
    Run {
        args: Vec<String>,
    },
}

impl Action {
    /// The subcommand's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Action::ComposerInstall(_) => "composer-install",
            Action::Migrate { .. } => "migrate",
            Action::Status => "status",
            Action::Clear => "clear",
            Action::Fresh { .. } => "fresh",
            Action::Reset { .. } => "reset",
            Action::Down { .. } => "down",
            Action::Up => "up",
            Action::Repair(_) => "repair",
            Action::StrictMode(_) => "strict-mode",
            Action::Version => "version",
            Action::Run { .. } => "run",
        }
    }
}

/// Run one subcommand and build its report.
pub fn execute(ctx: &Ctx, opts: &Options, action: Action) -> Result<Outcome> {
    let root = opts.root.clone();
    if !root.is_dir() {
        return Err(
            Error::missing(format!("no DreamFactory install at {}", root.display())).with_hint(
                "pass --root DIR or set DF_ROOT to the install (usually /opt/dreamfactory)",
            ),
        );
    }
    register_env_secrets(&root);
    let mut r = Runner::new(ctx, opts);
    r.facts.insert("subcommand".into(), json!(action.name()));
    r.facts
        .insert("root".into(), json!(root.display().to_string()));
    let res = r.dispatch(action);
    // Whatever happened, nothing PHP wrote may stay root-owned.
    let swept = if r.ran_php && !r.dry_run {
        r.sweep_ownership()
    } else {
        Ok(0)
    };
    let data = r.data();
    match (res, swept) {
        (Ok((changed, msg)), Ok(fixed)) => Ok(Outcome::new(changed || fixed > 0, msg, data)),
        (Ok(_), Err(e)) => Err(e.with_data(data)),
        (Err(mut e), _) => {
            if e.data.is_none() {
                e = e.with_data(data);
            }
            Err(e)
        }
    }
}

/// Register the .env's secret values so no output tail we report can show them.
fn register_env_secrets(root: &Path) {
    if let Ok(env) = crate::envfile::EnvFile::load(&root.join(".env")) {
        for key in [
            "APP_KEY",
            "DB_PASSWORD",
            "JWT_SECRET",
            "REDIS_PASSWORD",
            "DF_LICENSE_KEY",
            "MAIL_PASSWORD",
            "CACHE_PASSWORD",
        ] {
            if let Some(v) = env.get(key) {
                crate::secret::register(v);
            }
        }
    }
}

/// The user a command runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RunAs {
    uid: u32,
    gid: u32,
    /// Whether this differs from us (then we switch uid/gid and give it a private HOME).
    switch: bool,
}

impl RunAs {
    fn json(&self) -> Value {
        json!({
            "user": crate::users::user_name(self.uid),
            "uid": self.uid,
            "gid": self.gid,
        })
    }
}

/// The ARGV shim for arguments that must not appear in a process list (`down --secret`):
/// php reads this program from stdin and hands artisan the argv from the environment.
const ARGV_SHIM: &str = "<?php\n\
$a = json_decode(getenv('DFKIT_ARTISAN_ARGV'), true);\n\
putenv('DFKIT_ARTISAN_ARGV');\n\
unset($_ENV['DFKIT_ARTISAN_ARGV'], $_SERVER['DFKIT_ARTISAN_ARGV']);\n\
$_SERVER['argv'] = $argv = $a;\n\
$_SERVER['argc'] = $argc = count($a);\n\
require getcwd() . '/artisan';\n";

struct Runner<'a> {
    ctx: &'a Ctx,
    opts: &'a Options,
    root: PathBuf,
    dry_run: bool,
    php: Option<PathBuf>,
    steps: Vec<Value>,
    plan: Vec<Value>,
    facts: Map<String, Value>,
    homes: Vec<(u32, tempfile::TempDir)>,
    ran_php: bool,
    ownership_fixed: u64,
    diagnosis: Option<&'static str>,
}

impl<'a> Runner<'a> {
    fn new(ctx: &'a Ctx, opts: &'a Options) -> Runner<'a> {
        Runner {
            ctx,
            opts,
            root: opts.root.clone(),
            dry_run: ctx.dry_run(),
            php: None,
            steps: Vec::new(),
            plan: Vec::new(),
            facts: Map::new(),
            homes: Vec::new(),
            ran_php: false,
            ownership_fixed: 0,
            diagnosis: None,
        }
    }

    fn data(&self) -> Value {
        let mut m = self.facts.clone();
        m.insert("steps".into(), json!(self.steps));
        m.insert("ownership_fixed".into(), json!(self.ownership_fixed));
        if self.dry_run {
            m.insert("plan".into(), json!(self.plan));
        }
        if let Some(d) = self.diagnosis {
            m.insert("diagnosis".into(), json!(d));
        }
        Value::Object(m)
    }

    fn dispatch(&mut self, action: Action) -> Result<(bool, String)> {
        match action {
            Action::ComposerInstall(f) => self.composer_install(&f),
            Action::Migrate { seed } => self.migrate(seed),
            Action::Status => self.status(),
            Action::Clear => self.clear(),
            Action::Fresh { yes, seed } => self.fresh(yes, seed),
            Action::Reset { yes } => self.reset(yes),
            Action::Down {
                render,
                secret,
                retry,
            } => self.down(render, secret, retry),
            Action::Up => self.up(),
            Action::Repair(f) => self.repair(&f),
            Action::StrictMode(a) => self.strict_mode(a),
            Action::Version => self.version(),
            Action::Run { args } => self.run_args(args),
        }
    }

    // ---- programs and users -------------------------------------------------------

    fn php(&mut self) -> Result<PathBuf> {
        if let Some(p) = &self.php {
            return Ok(p.clone());
        }
        let p = match &self.opts.php {
            Some(p) => crate::exec::find_program(p)
                .map_err(|e| e.with_hint("--php must name an executable php binary"))?,
            None => crate::exec::find_program("php").map_err(|e| {
                e.with_hint("install PHP's CLI (e.g. apt-get install php-cli) or pass --php PATH")
            })?,
        };
        self.facts
            .insert("php".into(), json!(p.display().to_string()));
        self.php = Some(p.clone());
        Ok(p)
    }

    /// The composer program and the arguments that precede composer's own.
    fn composer(&mut self) -> Result<(PathBuf, Vec<OsString>)> {
        let phar = |r: &mut Runner, p: PathBuf| -> Result<(PathBuf, Vec<OsString>)> {
            r.facts
                .insert("composer".into(), json!(p.display().to_string()));
            Ok((r.php()?, vec![p.into_os_string()]))
        };
        match &self.opts.composer {
            Some(p) if p.extension().is_some_and(|e| e == "phar") => {
                if !p.is_file() {
                    return Err(Error::unavailable(format!("{} not found", p.display())));
                }
                phar(self, p.clone())
            }
            Some(p) => {
                let p = crate::exec::find_program(p)?;
                self.facts
                    .insert("composer".into(), json!(p.display().to_string()));
                Ok((p, vec![]))
            }
            None => match crate::exec::find_program("composer") {
                Ok(p) => {
                    self.facts
                        .insert("composer".into(), json!(p.display().to_string()));
                    Ok((p, vec![]))
                }
                Err(e) => {
                    let local = self.root.join("composer.phar");
                    if local.is_file() {
                        phar(self, local)
                    } else {
                        Err(e.with_hint(
                            "install composer (e.g. apt-get install composer), put composer.phar \
                             in the install root, or pass --composer PATH",
                        ))
                    }
                }
            },
        }
    }

    /// Who runs PHP for `owner_of` (storage/ for artisan, the root for composer).
    fn run_as(&self, owner_of: &Path) -> Result<RunAs> {
        let me = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        if !crate::users::is_root() {
            // Not root: we cannot switch, and whatever we write is ours anyway.
            return Ok(RunAs {
                uid: me.0,
                gid: me.1,
                switch: false,
            });
        }
        let (uid, gid) = match &self.opts.as_user {
            Some(u) => {
                let uid = crate::users::resolve_user(u)?;
                (uid, crate::users::primary_gid(uid).unwrap_or(uid))
            }
            None => {
                let p = if owner_of.exists() {
                    owner_of
                } else {
                    &self.root
                };
                crate::users::owner_of(p)?
            }
        };
        Ok(RunAs {
            uid,
            gid,
            switch: uid != me.0,
        })
    }

    fn artisan_user(&self) -> Result<RunAs> {
        self.run_as(&self.root.join("storage"))
    }

    fn composer_user(&self) -> Result<RunAs> {
        self.run_as(&self.root)
    }

    /// A private HOME for a user we switch to (its own home may be unwritable, e.g.
    /// www-data's /var/www, and root's must not be touched).
    fn home_for(&mut self, who: RunAs) -> Result<PathBuf> {
        if let Some((_, d)) = self.homes.iter().find(|(u, _)| *u == who.uid) {
            return Ok(d.path().to_path_buf());
        }
        let d = tempfile::Builder::new()
            .prefix("dfkit-home-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary HOME in", &std::env::temp_dir(), e))?;
        std::os::unix::fs::chown(d.path(), Some(who.uid), Some(who.gid))
            .map_err(|e| Error::io("handing over", d.path(), e))?;
        let p = d.path().to_path_buf();
        self.homes.push((who.uid, d));
        Ok(p)
    }

    /// Refuse early when the user we switch to cannot reach the install: PHP would
    /// otherwise fail obscurely, or — worse — Laravel would silently boot without an
    /// unreadable .env and migrate some other database.
    fn check_access(&self, who: RunAs, files: &[&str]) -> Result<()> {
        if !who.switch {
            return Ok(());
        }
        for f in files {
            let p = self.root.join(f);
            if !p.exists() {
                continue;
            }
            if let Some(blocker) = inaccessible(&p, who.uid, who.gid) {
                let name = crate::users::user_name(who.uid);
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "{} cannot read {} ({} is not accessible to it)",
                        name,
                        p.display(),
                        blocker.display()
                    ),
                )
                .with_hint(format!(
                    "PHP runs as {name}, the owner of storage/ (the web server reads these files as \
                     that user too): make them readable (e.g. chgrp {name} .env && chmod 640 .env), \
                     or pass --as-user USER"
                )));
            }
        }
        Ok(())
    }

    fn base_cmd(&mut self, who: RunAs, program: &Path) -> Result<Cmd> {
        let mut c = Cmd::resolved(program)
            .current_dir(&self.root)
            .timeout(self.opts.timeout)
            .env("COMPOSER_MEMORY_LIMIT", "-1")
            .env("COMPOSER_NO_INTERACTION", "1");
        let need_home = who.switch
            || (std::env::var_os("HOME").is_none() && std::env::var_os("COMPOSER_HOME").is_none());
        if need_home {
            let home = self.home_for(who)?;
            c = c
                .env("HOME", &home)
                .env("COMPOSER_HOME", home.join("composer"))
                .env("COMPOSER_CACHE_DIR", home.join("composer-cache"))
                .env_remove("XDG_CONFIG_HOME")
                .env_remove("XDG_CACHE_HOME")
                .env_remove("XDG_DATA_HOME");
        }
        if who.switch {
            c = c.as_user(who.uid, who.gid);
        } else if crate::users::is_root() {
            c = c.env("COMPOSER_ALLOW_SUPERUSER", "1");
        }
        Ok(c)
    }

    // ---- running steps ------------------------------------------------------------

    /// Run (or plan) one command. `shown` is the masked command line for the report.
    fn step(&mut self, name: &str, cmd: Cmd, shown: String, who: RunAs) -> Result<Option<Output>> {
        let user = crate::users::user_name(who.uid);
        if self.dry_run {
            self.plan
                .push(json!({"step": name, "command": shown, "user": user}));
            return Ok(None);
        }
        self.ctx.log(format!("{name}: {shown} (as {user})"));
        self.ran_php = true;
        let out = cmd.run()?;
        let combined = crate::secret::scrub(&out.combined());
        self.steps.push(json!({
            "step": name,
            "command": shown,
            "user": user,
            "exit_code": out.code,
            "duration_ms": out.duration.as_millis() as u64,
            "output_tail": tail(&combined, 20),
        }));
        Ok(Some(out))
    }

    /// A failed step's error, with a diagnosis when the output is a known failure.
    fn failure(&mut self, name: &str, out: &Output) -> Error {
        let text = crate::secret::scrub(&output::strip_ansi(&out.combined()));
        let last = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("at ") && !l.starts_with('#'))
            .find(|l| hints::diagnose(l).is_some())
            .or_else(|| text.lines().map(str::trim).rfind(|l| !l.is_empty()))
            .unwrap_or("")
            .to_string();
        let mut e = Error::step(format!("{name} failed ({}): {last}", out.status_text()));
        if out.timed_out {
            e = e.with_hint(format!(
                "the command ran longer than --timeout ({} s); raise it for large databases",
                self.opts.timeout.as_secs()
            ));
        } else if let Some(d) = hints::diagnose(&text) {
            self.diagnosis = Some(d.id);
            e.kind = d.kind;
            e = e.with_hint(d.hint);
        }
        e
    }

    /// `php artisan --no-interaction ARGS…`, checked. Returns None on a dry run.
    fn artisan(&mut self, name: &str, args: &[String]) -> Result<Option<Output>> {
        self.artisan_secret(name, args, &[])
    }

    /// Like [`Runner::artisan`], but `secret_args` (`--opt`, value) travel through the
    /// environment and the ARGV shim instead of argv, and show as `***`.
    fn artisan_secret(
        &mut self,
        name: &str,
        args: &[String],
        secret_args: &[(String, String)],
    ) -> Result<Option<Output>> {
        self.require_artisan()?;
        let who = self.artisan_user()?;
        if !self.dry_run {
            self.check_access(who, &["artisan", ".env", "vendor/autoload.php"])?;
            if who.switch {
                // Root-owned leftovers of earlier runs would block the user we switch to.
                self.sweep_ownership()?;
            }
        }
        self.facts.insert("run_as".into(), who.json());
        let php = self.php()?;
        let mut argv: Vec<String> = vec!["artisan".into(), "--no-interaction".into()];
        argv.extend(args.iter().cloned());
        let cmd = self.base_cmd(who, &php)?;
        let (cmd, shown) = if secret_args.is_empty() {
            let shown = display_line(&php, &argv);
            (cmd.args(&argv), shown)
        } else {
            let mut shown_argv = argv.clone();
            for (opt, val) in secret_args {
                crate::secret::register(val);
                argv.push(format!("{opt}={val}"));
                shown_argv.push(format!("{opt}=***"));
            }
            let payload = serde_json::to_string(&argv).expect("strings serialize");
            let cmd = cmd
                .secret_env("DFKIT_ARTISAN_ARGV", &payload)
                .stdin(Input::Bytes(ARGV_SHIM.as_bytes().to_vec()));
            (cmd, display_line(&php, &shown_argv))
        };
        let out = self.step(name, cmd, shown, who)?;
        match out {
            Some(o) if !o.success() => Err(self.failure(name, &o)),
            o => Ok(o),
        }
    }

    fn require_artisan(&self) -> Result<()> {
        let a = self.root.join("artisan");
        if a.is_file() {
            Ok(())
        } else {
            Err(Error::missing(format!(
                "{} has no artisan script: not a DreamFactory/Laravel install",
                self.root.display()
            ))
            .with_hint("pass --root DIR or set DF_ROOT to the install (usually /opt/dreamfactory)"))
        }
    }

    /// `composer ARGS…`, checked.
    fn composer_run(&mut self, name: &str, args: &[String]) -> Result<Option<Output>> {
        if !self.root.join("composer.json").is_file() {
            return Err(
                Error::missing(format!("{} has no composer.json", self.root.display()))
                    .with_hint("pass --root DIR (the DreamFactory install)"),
            );
        }
        let who = self.composer_user()?;
        self.facts.insert("composer_run_as".into(), who.json());
        let (prog, pre) = self.composer()?;
        let mut argv: Vec<String> = pre
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        argv.extend(args.iter().cloned());
        argv.push("--no-interaction".into());
        let shown = display_line(&prog, &argv);
        let cmd = self.base_cmd(who, &prog)?.args(&argv);
        let out = self.step(name, cmd, shown, who)?;
        match out {
            Some(o) if !o.success() => Err(self.failure(name, &o)),
            o => Ok(o),
        }
    }

    fn plan_fs(&mut self, step: &str, path: &Path) {
        self.plan
            .push(json!({"step": step, "path": path.display().to_string()}));
    }

    fn record_fs(&mut self, step: &str, path: &Path) {
        self.ctx.log(format!("{step}: {}", path.display()));
        self.steps
            .push(json!({"step": step, "path": path.display().to_string()}));
    }

    /// Give root-owned entries under storage/ and bootstrap/cache/ to the owner of that
    /// directory (when it is not root). Symlinks are never followed.
    fn sweep_ownership(&mut self) -> Result<u64> {
        if !crate::users::is_root() {
            return Ok(0);
        }
        let mut n = 0;
        for rel in ["storage", "bootstrap/cache"] {
            let top = self.root.join(rel);
            let Ok(md) = std::fs::symlink_metadata(&top) else {
                continue;
            };
            if !md.is_dir() || md.uid() == 0 {
                continue;
            }
            n += give_root_owned(self.ctx, &self.root, rel)?;
        }
        if n > 0 {
            self.ctx.log(format!(
                "gave {n} root-owned entries under storage/ and bootstrap/cache/ back to their owner"
            ));
        }
        self.ownership_fixed += n;
        Ok(n)
    }

    // ---- subcommands --------------------------------------------------------------

    fn composer_install(&mut self, f: &ComposerFlags) -> Result<(bool, String)> {
        let had_autoload = self.root.join("vendor/autoload.php").is_file();
        let had_lock = self.root.join("composer.lock").is_file();
        let mut args = vec!["install".to_string()];
        if !f.dev {
            args.push("--no-dev".into());
        }
        if !f.platform_reqs {
            args.push("--ignore-platform-reqs".into());
        }
        args.push("--no-progress".into());
        args.extend(f.extra.iter().cloned());
        let Some(out) = self.composer_run("composer install", &args)? else {
            return Ok((true, "would run composer install".into()));
        };
        let rep = output::parse_composer(&out.combined());
        if !self.root.join("vendor/autoload.php").is_file() {
            return Err(Error::step(
                "composer install succeeded but vendor/autoload.php is missing",
            )
            .with_hint("check composer.json's vendor-dir and autoload settings"));
        }
        let lock_created = !had_lock && self.root.join("composer.lock").is_file();
        self.facts
            .insert("operations".into(), json!(rep.operations));
        self.facts
            .insert("lock_created".into(), json!(lock_created));
        let changed = !had_autoload || lock_created || !rep.operations.is_empty();
        let msg = if changed {
            format!(
                "composer install: {} package operation(s){}",
                rep.operations.len(),
                if had_autoload {
                    ""
                } else {
                    ", vendor/ created"
                }
            )
        } else {
            "composer install: nothing to install".into()
        };
        Ok((changed, msg))
    }

    fn migrate(&mut self, seed: bool) -> Result<(bool, String)> {
        let mut args = vec!["migrate".to_string(), "--force".into()];
        if seed {
            args.push("--seed".into());
        }
        self.facts.insert("seed".into(), json!(seed));
        let res = self.artisan("migrate", &args);
        let out = match res {
            Ok(Some(o)) => o,
            Ok(None) => return Ok((true, "would run migrate".into())),
            Err(e) => {
                self.migrate_facts_from_last_step();
                return Err(e);
            }
        };
        let rep = output::parse_migrate(&out.combined());
        self.facts.insert("migrated".into(), json!(rep.migrated));
        let n = rep.migrated.len();
        let msg = if n == 0 {
            "nothing to migrate".to_string()
        } else {
            format!("migrated {n}: {}", rep.migrated.join(", "))
        };
        Ok((n > 0, msg))
    }

    /// After a failed migration: which ran before it, and which one failed.
    fn migrate_facts_from_last_step(&mut self) {
        let tail = self
            .steps
            .last()
            .and_then(|s| s["output_tail"].as_str())
            .unwrap_or("")
            .to_string();
        let rep = output::parse_migrate(&tail);
        self.facts.insert("migrated".into(), json!(rep.migrated));
        if let Some(f) = rep.failed {
            self.facts.insert("failed_migration".into(), json!(f));
        }
    }

    fn status(&mut self) -> Result<(bool, String)> {
        let res = self.artisan("migrate:status", &["migrate:status".to_string()]);
        let out = match res {
            Ok(Some(o)) => o,
            Ok(None) => return Ok((false, "would run migrate:status".into())),
            Err(mut e) => {
                let last = self
                    .steps
                    .last()
                    .and_then(|s| s["output_tail"].as_str())
                    .unwrap_or("");
                if last.contains("Migration table not found") && e.hint.is_none() {
                    e = e.with_hint(
                        "the database has no migrations table: a fresh database needs \
                         `df-artisan migrate --seed`; otherwise check DB_* in .env",
                    );
                }
                return Err(e);
            }
        };
        let rows = output::parse_status(&out.combined());
        let pending: Vec<&str> = rows
            .iter()
            .filter(|r| !r.ran)
            .map(|r| r.name.as_str())
            .collect();
        let ran = rows.iter().filter(|r| r.ran).count();
        self.facts.insert("pending".into(), json!(pending));
        self.facts.insert("ran".into(), json!(ran));
        let msg = if pending.is_empty() {
            format!("no pending migrations ({ran} ran)")
        } else {
            format!("{} pending: {}", pending.len(), pending.join(", "))
        };
        Ok((false, msg))
    }

    fn clear(&mut self) -> Result<(bool, String)> {
        let config_cache = self.root.join("bootstrap/cache/config.php");
        let cache_data = self.root.join("storage/framework/cache/data");
        let store = cache_store(&self.root);
        let had_config = config_cache.exists();
        let entries_before = count_cache_entries(&cache_data);
        self.facts.insert("cache_store".into(), json!(store));
        let would_change = had_config || entries_before > 0 || store != "file";
        if self
            .artisan("cache:clear", &["cache:clear".to_string()])?
            .is_none()
        {
            self.artisan("config:clear", &["config:clear".to_string()])?;
            return Ok((
                would_change,
                "would clear the application and config caches".into(),
            ));
        }
        self.artisan("config:clear", &["config:clear".to_string()])?;
        if config_cache.exists() {
            return Err(Error::step(format!(
                "config:clear reported success but {} is still there",
                config_cache.display()
            ))
            .with_hint("remove it by hand and check bootstrap/cache/ ownership (df-perms)"));
        }
        if store == "file" {
            let left = count_cache_entries(&cache_data);
            if left > 0 {
                return Err(Error::step(format!(
                    "cache:clear reported success but {} still holds {left} entries",
                    cache_data.display()
                ))
                .with_hint("check storage/ ownership (df-perms), or run `df-artisan repair`"));
            }
        }
        self.facts
            .insert("config_cache_removed".into(), json!(had_config));
        self.facts
            .insert("cache_entries_removed".into(), json!(entries_before));
        Ok((
            would_change,
            format!(
                "caches cleared (config cache {}, {entries_before} file-cache entries)",
                if had_config { "removed" } else { "absent" }
            ),
        ))
    }

    fn destructive_guard(&self, what: &str, yes: bool) -> Result<()> {
        if yes || self.dry_run {
            return Ok(());
        }
        Err(Error::usage(format!(
            "{what} drops the tables of the system database; refusing without --yes"
        ))
        .with_hint("back the database up first (`df-dump-db dump --into SET`), then add --yes"))
    }

    fn fresh(&mut self, yes: bool, seed: bool) -> Result<(bool, String)> {
        self.destructive_guard("migrate:fresh", yes)?;
        let mut args = vec!["migrate:fresh".to_string(), "--force".into()];
        if seed {
            args.push("--seed".into());
        }
        let out = match self.artisan("migrate:fresh", &args) {
            Ok(Some(o)) => o,
            Ok(None) => return Ok((true, "would drop every table and migrate afresh".into())),
            Err(e) => {
                self.migrate_facts_from_last_step();
                return Err(e);
            }
        };
        let rep = output::parse_migrate(&out.combined());
        self.facts
            .insert("dropped_all".into(), json!(rep.dropped_all));
        self.facts.insert("migrated".into(), json!(rep.migrated));
        Ok((
            true,
            format!(
                "dropped all tables and migrated {} afresh",
                rep.migrated.len()
            ),
        ))
    }

    fn reset(&mut self, yes: bool) -> Result<(bool, String)> {
        self.destructive_guard("migrate:reset", yes)?;
        let args = vec!["migrate:reset".to_string(), "--force".into()];
        let out = match self.artisan("migrate:reset", &args)? {
            Some(o) => o,
            None => return Ok((true, "would roll back every migration".into())),
        };
        let rep = output::parse_migrate(&out.combined());
        self.facts
            .insert("rolled_back".into(), json!(rep.rolled_back));
        let n = rep.rolled_back.len();
        Ok((
            n > 0,
            if n == 0 {
                "nothing to roll back".into()
            } else {
                format!("rolled back {n} migration(s)")
            },
        ))
    }

    fn down_file(&self) -> PathBuf {
        self.root.join("storage/framework/down")
    }

    fn down(
        &mut self,
        render: Option<String>,
        secret: Option<SecretSource>,
        retry: Option<u32>,
    ) -> Result<(bool, String)> {
        self.require_artisan()?;
        if self.down_file().exists() {
            self.facts.insert("was_down".into(), json!(true));
            return Ok((false, "already in maintenance mode".into()));
        }
        self.facts.insert("was_down".into(), json!(false));
        let secret = match secret {
            None => None,
            Some(SecretSource::Value(v)) => {
                self.ctx.warn(
                    "--secret on the command line is visible in the process list; prefer --secret-env or --secret-file",
                );
                Some(v)
            }
            Some(SecretSource::Env(k)) => {
                Some(std::env::var(&k).map_err(|_| {
                    Error::usage(format!("--secret-env {k}: the variable is not set"))
                })?)
            }
            Some(SecretSource::File(p)) => {
                let s = std::fs::read_to_string(&p).map_err(|e| Error::io("reading", &p, e))?;
                Some(s.lines().next().unwrap_or("").trim().to_string())
            }
        };
        if let Some(s) = &secret {
            if s.is_empty() {
                return Err(Error::usage("the maintenance bypass secret is empty"));
            }
            crate::secret::register(s);
        }
        let mut args = vec!["down".to_string()];
        let mut render = render;
        if (render.is_some() || secret.is_some()) && !self.dry_run {
            // --render/--secret came with Laravel 8 (DreamFactory 5+): ask this install.
            let help = self
                .artisan("down --help", &["down".to_string(), "--help".to_string()])?
                .map(|o| o.combined())
                .unwrap_or_default();
            if secret.is_some() && !output::help_has_option(&help, "secret") {
                return Err(Error::unavailable(
                    "this install's `artisan down` has no --secret option (Laravel < 8)",
                )
                .with_hint("drop --secret; older releases allow bypass by IP with --allow"));
            }
            if render.is_some() && !output::help_has_option(&help, "render") {
                self.ctx.warn(
                    "this install's `artisan down` has no --render option (Laravel < 8); ignored",
                );
                render = None;
            }
        }
        if let Some(v) = render {
            args.push(format!("--render={v}"));
        }
        if let Some(n) = retry {
            args.push(format!("--retry={n}"));
        }
        let secret_args: Vec<(String, String)> = secret
            .map(|s| vec![("--secret".to_string(), s)])
            .unwrap_or_default();
        if self.artisan_secret("down", &args, &secret_args)?.is_none() {
            return Ok((true, "would enter maintenance mode".into()));
        }
        if !self.down_file().exists() {
            return Err(Error::step(format!(
                "artisan down reported success but {} was not written",
                self.down_file().display()
            ))
            .with_hint("this Laravel keeps maintenance mode elsewhere (cache driver?) or storage/ is not writable"));
        }
        Ok((true, "maintenance mode on".into()))
    }

    fn up(&mut self) -> Result<(bool, String)> {
        self.require_artisan()?;
        if !self.down_file().exists() {
            self.facts.insert("was_down".into(), json!(false));
            return Ok((false, "not in maintenance mode".into()));
        }
        self.facts.insert("was_down".into(), json!(true));
        if self.artisan("up", &["up".to_string()])?.is_none() {
            return Ok((true, "would leave maintenance mode".into()));
        }
        if self.down_file().exists() {
            return Err(Error::step(format!(
                "artisan up reported success but {} is still there",
                self.down_file().display()
            ))
            .with_hint("check storage/framework/ ownership (df-perms)"));
        }
        Ok((true, "maintenance mode off".into()))
    }

    fn repair(&mut self, f: &ComposerFlags) -> Result<(bool, String)> {
        self.require_artisan()?;
        self.composer_run("composer clear-cache", &["clear-cache".to_string()])?;
        // Caches first: they only ever get rebuilt.
        for rel in [
            "bootstrap/cache/compiled.php",
            "bootstrap/cache/services.php",
            "bootstrap/cache/packages.php",
        ] {
            let p = self.root.join(rel);
            if std::fs::symlink_metadata(&p).is_ok() {
                if self.dry_run {
                    self.plan_fs("remove", &p);
                } else {
                    std::fs::remove_file(&p).map_err(|e| Error::io("removing", &p, e))?;
                    self.record_fs("remove", &p);
                }
            }
        }
        let cache = self.root.join("storage/framework/cache");
        if self.dry_run {
            self.plan_fs("empty (keeping .gitignore)", &cache);
        } else {
            let n = empty_dir_keep_gitignore(&cache)?;
            self.record_fs("empty (keeping .gitignore)", &cache);
            self.facts.insert("cache_entries_removed".into(), json!(n));
        }
        // vendor/ is moved aside, not deleted, so a failed reinstall can put it back:
        // a repair must not leave the site worse than it found it.
        let vendor = self.root.join("vendor");
        let aside = self
            .root
            .join(format!(".vendor.dfkit-old.{}", std::process::id()));
        let had_vendor = std::fs::symlink_metadata(&vendor).is_ok();
        if had_vendor {
            if self.dry_run {
                self.plan_fs("remove", &vendor);
            } else {
                std::fs::rename(&vendor, &aside)
                    .map_err(|e| Error::io("moving aside", &vendor, e))?;
                self.record_fs("move aside", &vendor);
            }
        }
        match self.composer_install(f) {
            Ok(_) if self.dry_run => Ok((
                true,
                "would remove caches and vendor/, then reinstall".into(),
            )),
            Ok(_) => {
                if had_vendor {
                    remove_any(&aside)?;
                    self.record_fs("remove old", &aside);
                }
                Ok((true, "repaired: caches removed, vendor/ reinstalled".into()))
            }
            Err(e) => {
                if had_vendor {
                    let _ = remove_any(&vendor);
                    if std::fs::rename(&aside, &vendor).is_ok() {
                        self.record_fs("restore old", &vendor);
                    } else {
                        self.facts.insert(
                            "old_vendor_left_at".into(),
                            json!(aside.display().to_string()),
                        );
                    }
                }
                Err(e)
            }
        }
    }

    fn strict_mode(&mut self, a: StrictAction) -> Result<(bool, String)> {
        let path = self.root.join("config/database.php");
        let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::bad_data(format!("{} is not UTF-8", path.display())))?;
        self.facts
            .insert("file".into(), json!(path.display().to_string()));
        let (new_text, changed, site) = match a {
            StrictAction::Status => {
                let site = strict::find(&text)?;
                (text.clone(), false, site)
            }
            StrictAction::On => strict::set(&text, true)?,
            StrictAction::Off => strict::set(&text, false)?,
        };
        self.facts.insert("line".into(), json!(site.line));
        self.facts.insert("strict_before".into(), json!(site.value));
        let after = match a {
            StrictAction::Status => site.value,
            StrictAction::On => Some(true),
            StrictAction::Off => Some(false),
        };
        self.facts.insert("strict".into(), json!(after));
        if a == StrictAction::Status {
            let shown = match site.value {
                Some(true) => "on".to_string(),
                Some(false) => "off".to_string(),
                None => format!("`{}`", site.expr),
            };
            return Ok((
                false,
                format!("mysql strict mode is {shown} (line {})", site.line),
            ));
        }
        let word = if a == StrictAction::On { "on" } else { "off" };
        if !changed {
            return Ok((false, format!("mysql strict mode already {word}")));
        }
        if self.dry_run {
            self.plan.push(json!({
                "step": "edit",
                "path": path.display().to_string(),
                "line": site.line,
                "from": site.expr,
                "to": if a == StrictAction::On { "true" } else { "false" },
            }));
            return Ok((true, format!("would turn mysql strict mode {word}")));
        }
        crate::atomic::replace_file(&path, new_text.as_bytes())?;
        self.record_fs("edit", &path);
        if self.root.join("bootstrap/cache/config.php").exists() {
            self.ctx.warn(
                "the configuration is cached (bootstrap/cache/config.php): run `df-artisan clear` for the change to apply",
            );
        }
        Ok((
            true,
            format!(
                "mysql strict mode turned {word} (config/database.php line {})",
                site.line
            ),
        ))
    }

    fn version(&mut self) -> Result<(bool, String)> {
        let df = crate::install::Install::at(&self.root).version();
        self.facts.insert("df_version".into(), json!(df));
        let out = self.artisan("artisan --version", &["--version".to_string()])?;
        let laravel = out
            .as_ref()
            .and_then(|o| output::parse_laravel_version(&o.combined()));
        self.facts.insert("laravel_version".into(), json!(laravel));
        Ok((
            false,
            format!(
                "DreamFactory {}, Laravel {}",
                df.as_deref().unwrap_or("unknown"),
                laravel.as_deref().unwrap_or("unknown")
            ),
        ))
    }

    fn run_args(&mut self, args: Vec<String>) -> Result<(bool, String)> {
        if args.is_empty() {
            return Err(Error::usage(
                "run needs an artisan command, e.g. `run -- route:list`",
            ));
        }
        let args = with_force(args);
        let name = format!("artisan {}", args[0]);
        let out = self.artisan(&name, &args)?;
        let Some(out) = out else {
            return Ok((true, format!("would run {name}")));
        };
        let text = crate::secret::scrub(&out.stdout_str());
        self.facts
            .insert("output".into(), json!(cap(&text, 64 * 1024)));
        // An arbitrary command may have changed anything; we cannot tell.
        Ok((true, format!("{name}: exit 0")))
    }
}

/// Add `--force` after a confirmable command's name (migrate*, db:seed): in production
/// they would otherwise ask, and with --no-interaction, abort.
pub fn with_force(mut args: Vec<String>) -> Vec<String> {
    let confirmable = args
        .first()
        .is_some_and(|c| c.starts_with("migrate") || c == "db:seed");
    let before_dashes = args.iter().take_while(|a| *a != "--");
    if confirmable && !before_dashes.clone().any(|a| a == "--force") {
        args.insert(1, "--force".into());
    }
    args
}

/// A masked, shell-quoted command line for reports.
fn display_line(program: &Path, argv: &[String]) -> String {
    std::iter::once(program.display().to_string())
        .chain(argv.iter().cloned())
        .map(|a| crate::exec::shell_quote(&crate::secret::scrub(&a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `n` non-empty lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// At most `max` bytes of `s` (on a char boundary), marked when cut.
fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[… {} bytes cut]", &s[..end], s.len() - end)
}

/// The cache store Laravel will use, from .env (CACHE_STORE since DF 7.1, CACHE_DRIVER before).
fn cache_store(root: &Path) -> String {
    crate::envfile::EnvFile::load(&root.join(".env"))
        .ok()
        .and_then(|e| {
            e.get("CACHE_STORE")
                .or_else(|| e.get("CACHE_DRIVER"))
                .map(str::to_string)
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "file".into())
}

/// Entries under `dir` (recursively), not counting .gitignore files.
fn count_entries(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        if e.file_name() == ".gitignore" {
            continue;
        }
        n += 1;
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            n += count_entries(&e.path());
        }
    }
    n
}

/// Entries of Laravel's file cache: its flush() removes the subdirectories of data/
/// (entries live at data/ab/cd/HASH), so loose files there are not cache entries.
fn count_cache_entries(data: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(data) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| 1 + count_entries(&e.path()))
        .sum()
}

/// Remove a file, symlink or directory tree (symlinks are removed, never followed).
fn remove_any(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspecting", p, e)),
        Ok(md) if md.is_dir() => {
            std::fs::remove_dir_all(p).map_err(|e| Error::io("removing", p, e))
        }
        Ok(_) => std::fs::remove_file(p).map_err(|e| Error::io("removing", p, e)),
    }
}

/// `rm -rf DIR/*` keeping DIR/.gitignore; returns the number of top-level entries removed.
fn empty_dir_keep_gitignore(dir: &Path) -> Result<u64> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("reading", dir, e)),
    };
    let mut n = 0;
    for e in rd {
        let e = e.map_err(|e| Error::io("reading", dir, e))?;
        if e.file_name() == ".gitignore" {
            continue;
        }
        remove_any(&e.path())?;
        n += 1;
    }
    Ok(n)
}

/// Hand every root-owned entry under `root`/`rel` back to the owner of `rel`, through
/// the one safe walk (by descriptor, never by path: see `perms::walk`); returns how many.
fn give_root_owned(ctx: &Ctx, root: &Path, rel: &str) -> Result<u64> {
    let swept = crate::perms::sweep_root_owned(Some(ctx), root, Path::new(rel), false)?;
    Ok(swept.counts.chowned)
}

/// The first path component that `uid:gid` (without supplementary groups, as our
/// children run) cannot traverse, or `path` itself when it cannot read it; None if readable.
fn inaccessible(path: &Path, uid: u32, gid: u32) -> Option<PathBuf> {
    let allowed = |p: &Path, bit: u32| -> bool {
        let Ok(md) = std::fs::metadata(p) else {
            return false;
        };
        let mode = md.mode();
        if uid == 0 {
            return true;
        }
        if md.uid() == uid {
            mode & (bit << 6) != 0
        } else if md.gid() == gid {
            mode & (bit << 3) != 0
        } else {
            mode & bit != 0
        }
    };
    let abs = std::fs::canonicalize(path).ok()?;
    let mut cur = PathBuf::from("/");
    for c in abs.parent()?.components().skip(1) {
        cur.push(c);
        if !allowed(&cur, 0o1) {
            return Some(cur);
        }
    }
    if !allowed(&abs, 0o4) {
        return Some(abs);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_is_added_to_confirmable_commands_only() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(with_force(v(&["migrate"])), v(&["migrate", "--force"]));
        assert_eq!(
            with_force(v(&["migrate:fresh", "--seed"])),
            v(&["migrate:fresh", "--force", "--seed"])
        );
        assert_eq!(with_force(v(&["db:seed"])), v(&["db:seed", "--force"]));
        assert_eq!(
            with_force(v(&["migrate", "--force"])),
            v(&["migrate", "--force"])
        );
        assert_eq!(with_force(v(&["route:list"])), v(&["route:list"]));
        // `--force` after `--` is an argument, not the option.
        assert_eq!(
            with_force(v(&["migrate", "--", "--force"])),
            v(&["migrate", "--force", "--", "--force"])
        );
    }

    #[test]
    fn display_masks_registered_secrets() {
        crate::secret::register("s3cr3t-bypass");
        let s = display_line(
            Path::new("/usr/bin/php"),
            &[
                "artisan".into(),
                "down".into(),
                "--secret=s3cr3t-bypass".into(),
            ],
        );
        assert_eq!(s, "/usr/bin/php artisan down '--secret=***'");
    }

    #[test]
    fn tail_and_cap() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(cap("abcdef", 3), "abc\n[… 3 bytes cut]");
        assert_eq!(cap("é", 1), "\n[… 2 bytes cut]");
    }

    #[test]
    fn empties_cache_keeping_gitignore_and_counts() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("cache");
        std::fs::create_dir_all(c.join("data/ab/cd")).unwrap();
        std::fs::write(c.join(".gitignore"), "*\n").unwrap();
        std::fs::write(c.join("data/ab/cd/x"), "v").unwrap();
        std::fs::write(c.join("data/.gitignore"), "*\n").unwrap();
        // A symlink pointing outside must be removed, not followed.
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "k").unwrap();
        std::os::unix::fs::symlink(&outside, c.join("link")).unwrap();
        assert_eq!(count_entries(&c), 5); // data, ab, cd, x, link
        assert_eq!(empty_dir_keep_gitignore(&c).unwrap(), 2);
        assert!(c.join(".gitignore").exists());
        assert!(!c.join("data").exists());
        assert!(outside.join("keep").exists());
        assert_eq!(empty_dir_keep_gitignore(&d.path().join("none")).unwrap(), 0);
    }

    #[test]
    fn root_owned_entries_are_handed_over() {
        assert!(
            crate::users::is_root(),
            "this test needs root (CI runs as root)"
        );
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("storage");
        std::fs::create_dir_all(s.join("logs")).unwrap();
        std::fs::write(s.join("logs/laravel.log"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", s.join("evil")).unwrap();
        std::os::unix::fs::chown(&s, Some(4242), Some(4243)).unwrap();
        let ctx = Ctx::new("df-artisan", Default::default());
        let n = give_root_owned(&ctx, d.path(), "storage").unwrap();
        assert_eq!(n, 3); // logs, laravel.log, the symlink itself
        let f = std::fs::metadata(s.join("logs/laravel.log")).unwrap();
        assert_eq!((f.uid(), f.gid()), (4242, 4243));
        assert_eq!(std::fs::metadata("/etc/passwd").unwrap().uid(), 0);
        assert_eq!(give_root_owned(&ctx, d.path(), "storage").unwrap(), 0);
    }

    #[test]
    fn access_check_follows_bits() {
        use std::os::unix::fs::PermissionsExt;
        assert!(
            crate::users::is_root(),
            "this test needs root (CI runs as root)"
        );
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("app");
        std::fs::create_dir(&sub).unwrap();
        let f = sub.join(".env");
        std::fs::write(&f, "A=1").unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(inaccessible(&f, 0, 0).is_none());
        assert_eq!(
            inaccessible(&f, 4242, 4242).as_deref(),
            Some(f.canonicalize().unwrap().as_path())
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(inaccessible(&f, 4242, 4242).is_none());
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            inaccessible(&f, 4242, 4242).as_deref(),
            Some(sub.canonicalize().unwrap().as_path())
        );
    }
}
