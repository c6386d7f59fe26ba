//! `down` and `up`: maintenance mode, detected through storage/framework/down.

use super::runner::Runner;
use super::{output, SecretSource};
use crate::error::{Error, Result};
use crate::report::data::artisan::MaintenanceData;
use std::path::{Path, PathBuf};

fn down_file(r: &Runner) -> PathBuf {
    r.root.join("storage/framework/down")
}

/// Rewrites the bypass secret of the down file in place (as the owner of storage/, like
/// every PHP run): Laravel's own `down` ignores a site that is already down, and `up`
/// then `down` would open the site for a moment. The script comes on stdin, where PHP
/// defines no STDERR constant: it opens php://stderr itself.
const REPLACE_SECRET: &str = "<?php\n\
$f = getcwd() . '/storage/framework/down';\n\
$d = json_decode(file_get_contents($f), true);\n\
if (!is_array($d)) { fwrite(fopen('php://stderr', 'w'), \"storage/framework/down is not Laravel 8+ JSON\\n\"); exit(65); }\n\
$d['secret'] = getenv('DFKIT_DOWN_SECRET');\n\
$t = $f . '.dfkit-tmp.' . getmypid();\n\
if (file_put_contents($t, json_encode($d, JSON_PRETTY_PRINT)) === false || !rename($t, $f)) { @unlink($t); exit(1); }\n";

/// A plain `artisan down` of Laravel 8 without booting the application: only the
/// autoloader is loaded, to find the framework's maintenance-mode stub and the app's
/// `$except` (what `PreventRequestsDuringMaintenance::getExcludedPaths()` returns when the
/// app does not override it). The payload is DownCommand's, key for key, with its option
/// defaults. Exit 3 (with the reason on stdout): not this case, run artisan instead.
const DOWN_DIRECT: &str = r#"<?php
$root = getcwd();
require $root . '/vendor/autoload.php';
$app = 'Illuminate\Foundation\Application';
$cmd = 'Illuminate\Foundation\Console\DownCommand';
$base = 'Illuminate\Foundation\Http\Middleware\PreventRequestsDuringMaintenance';
$mw = 'App\Http\Middleware\PreventRequestsDuringMaintenance';
if (!class_exists($app) || strncmp(constant($app . '::VERSION'), '8.', 2) !== 0) { echo "not Laravel 8"; exit(3); }
if (!class_exists($cmd) || !class_exists($mw)) { echo "no DownCommand or app middleware"; exit(3); }
$m = new ReflectionClass($mw);
if ($m->getMethod('getExcludedPaths')->getDeclaringClass()->getName() !== $base) { echo "the app overrides getExcludedPaths"; exit(3); }
$stub = dirname((new ReflectionClass($cmd))->getFileName()) . '/stubs/maintenance-mode.stub';
if (!is_file($stub)) { echo "no maintenance-mode stub"; exit(3); }
$f = $root . '/storage/framework/down';
if (is_file($f)) { echo "already down"; exit(0); }
$payload = ['except' => $m->getDefaultProperties()['except'] ?? [], 'redirect' => null, 'retry' => null,
  'refresh' => null, 'secret' => null, 'status' => 503, 'template' => null];
if (file_put_contents($f, json_encode($payload, JSON_PRETTY_PRINT)) === false) exit(1);
if (file_put_contents($root . '/storage/framework/maintenance.php', file_get_contents($stub)) === false) exit(1);
"#;

/// Something in app/ names Laravel's maintenance events (a listener artisan would call).
fn app_listens(root: &Path) -> bool {
    super::app_source::mentions(root, &[b"MaintenanceMode"])
}

/// The direct `down`: Some(true) done, None not applicable (run artisan).
fn down_direct(r: &mut Runner, d: &mut MaintenanceData) -> Result<Option<(bool, String)>> {
    if app_listens(&r.root) {
        return Ok(None);
    }
    let who = r.artisan_user()?;
    // `php -n` first: no php.ini, no extension modules. The script needs none (json is
    // part of PHP 8), and PHP starts in half the time: this is the first moment of the
    // maintenance window. An autoloader that needs an extension dies at load time, with
    // 255 and before writing anything: then the script runs again with php.ini.
    let bare = r.php.php_program(who, DOWN_DIRECT)?.arg("-n");
    let shown = |r: &mut Runner, n: &str| -> Result<String> {
        Ok(format!(
            "{}{n} (stdin: write storage/framework/down and maintenance.php as artisan down does, \
             autoloader only; artisan down if this is not Laravel 8)",
            r.php.php()?.display()
        ))
    };
    let line = shown(r, " -n")?;
    let Some(mut out) = r.step("down (direct)", bare, line, who)? else {
        d.is_down = true;
        return Ok(Some((true, "would enter maintenance mode".into())));
    };
    if out.code == Some(255) && !down_file(r).exists() {
        r.ctx.log(
            "direct down under `php -n` failed at load (an extension the autoloader needs?): \
             running it with php.ini",
        );
        let cmd = r.php.php_program(who, DOWN_DIRECT)?;
        let line = shown(r, "")?;
        out = r
            .step("down (direct)", cmd, line, who)?
            .expect("not a dry run");
    }
    if out.code == Some(3) {
        r.ctx.log(format!(
            "direct down not applicable ({}): running artisan down",
            String::from_utf8_lossy(&out.stdout).trim()
        ));
        return Ok(None);
    }
    d.is_down = down_file(r).exists();
    r.c.changed |= d.is_down;
    if !out.success() {
        return Err(r.failure("down (direct)", &out));
    }
    if !d.is_down {
        return Err(
            Error::step(format!("{} was not written", down_file(r).display()))
                .with_hint("check storage/framework/ ownership (df-perms)"),
        );
    }
    d.direct = true;
    Ok(Some((true, "maintenance mode on".into())))
}

fn read_secret(r: &Runner, source: SecretSource) -> Result<String> {
    let s = match source {
        SecretSource::Value(v) => {
            r.ctx.warn(
                "--secret on the command line is visible in the process list; prefer --secret-env or --secret-file",
            );
            v
        }
        SecretSource::Env(k) => std::env::var(&k)
            .map_err(|_| Error::usage(format!("--secret-env {k}: the variable is not set")))?,
        SecretSource::File(p) => {
            let s = std::fs::read_to_string(&p).map_err(|e| Error::io("reading", &p, e))?;
            s.lines().next().unwrap_or("").trim().to_string()
        }
    };
    if s.is_empty() {
        return Err(Error::usage("the maintenance bypass secret is empty"));
    }
    crate::secret::register(&s);
    Ok(s)
}

/// `artisan down --help` (Laravel ≥ 8 has --render and --secret).
fn down_help(r: &mut Runner) -> Result<String> {
    Ok(
        r.artisan("down --help", &["down".to_string(), "--help".to_string()])?
            .map(|o| o.combined())
            .unwrap_or_default(),
    )
}

fn no_secret_option() -> Error {
    Error::unavailable("this install's `artisan down` has no --secret option (Laravel < 8)")
        .with_hint("drop --secret; older releases allow bypass by IP with --allow")
}

pub(super) fn down(
    r: &mut Runner,
    d: &mut MaintenanceData,
    render: Option<String>,
    secret: Option<SecretSource>,
    retry: Option<u32>,
    artisan: bool,
) -> Result<(bool, String)> {
    r.require_artisan()?;
    let secret = secret.map(|s| read_secret(r, s)).transpose()?;
    if down_file(r).exists() {
        d.was_down = true;
        d.is_down = true;
        return match secret {
            None => Ok((false, "already in maintenance mode".into())),
            Some(s) => replace_secret(r, d, &s),
        };
    }
    if !artisan && render.is_none() && secret.is_none() && retry.is_none() {
        if let Some(done) = down_direct(r, d)? {
            return Ok(done);
        }
    }
    let mut args = vec!["down".to_string()];
    let mut render = render;
    if (render.is_some() || secret.is_some()) && !r.dry_run {
        // --render/--secret came with Laravel 8 (DreamFactory 5+): ask this install.
        let help = down_help(r)?;
        if secret.is_some() && !output::help_has_option(&help, "secret") {
            return Err(no_secret_option());
        }
        if render.is_some() && !output::help_has_option(&help, "render") {
            r.ctx.warn(
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
    let mut shown = args.clone();
    if let Some(s) = &secret {
        args.push(format!("--secret={s}"));
        shown.push("--secret=***".into());
    }
    let Some(out) = r.artisan_unchecked("down", &args, &shown)? else {
        d.is_down = true;
        return Ok((true, "would enter maintenance mode".into()));
    };
    d.is_down = down_file(r).exists();
    r.c.changed |= d.is_down;
    if !out.success() {
        return Err(r.failure("down", &out));
    }
    if !d.is_down {
        return Err(Error::step(format!(
            "artisan down reported success but {} was not written",
            down_file(r).display()
        ))
        .with_hint("this Laravel keeps maintenance mode elsewhere (cache driver?) or storage/ is not writable"));
    }
    Ok((true, "maintenance mode on".into()))
}

/// Remove storage/framework/down, then maintenance.php (absent is fine).
fn remove_maintenance_files(r: &Runner) -> std::result::Result<(), String> {
    for f in [
        down_file(r),
        r.root.join("storage/framework/maintenance.php"),
    ] {
        match std::fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("removing {}: {e}", f.display())),
        }
    }
    Ok(())
}

/// `down --secret…` on a site already down: the new secret must be the one in force,
/// or the operator's bypass link would silently not work.
fn replace_secret(r: &mut Runner, d: &mut MaintenanceData, secret: &str) -> Result<(bool, String)> {
    let path = down_file(r);
    let current: Option<String> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("secret").and_then(|s| s.as_str().map(str::to_string)));
    if current.as_deref() == Some(secret) {
        return Ok((
            false,
            "already in maintenance mode with this bypass secret".into(),
        ));
    }
    if r.dry_run {
        r.plan_fs(
            "write",
            &path,
            "already down: replace the bypass secret (no moment up)",
        );
        return Ok((
            true,
            "already in maintenance mode; would replace the bypass secret".into(),
        ));
    }
    if !output::help_has_option(&down_help(r)?, "secret") {
        return Err(no_secret_option());
    }
    let who = r.artisan_user()?;
    let cmd = r
        .php
        .php_stdin(who, REPLACE_SECRET, "DFKIT_DOWN_SECRET", secret)?;
    let shown = format!(
        "{} (stdin: set the secret of storage/framework/down to ***)",
        r.php.php()?.display()
    );
    let out = r
        .step("replace bypass secret", cmd, shown, who)?
        .expect("not a dry run");
    if out.code == Some(65) {
        return Err(Error::bad_data(format!(
            "{} is not Laravel 8+ JSON: its bypass secret cannot be replaced",
            down_file(r).display()
        ))
        .with_hint(
            "an older Laravel wrote it: `df-artisan up`, then `df-artisan down --secret-env VAR`",
        ));
    }
    if !out.success() {
        return Err(r.failure("replace bypass secret", &out));
    }
    d.secret_replaced = true;
    Ok((
        true,
        "already in maintenance mode; bypass secret replaced".into(),
    ))
}

pub(super) fn up(r: &mut Runner, d: &mut MaintenanceData, artisan: bool) -> Result<(bool, String)> {
    r.require_artisan()?;
    if !down_file(r).exists() {
        return Ok((false, "not in maintenance mode".into()));
    }
    d.was_down = true;
    d.is_down = true;
    if !artisan && !app_listens(&r.root) {
        // What `artisan up` does (Laravel 7 to 9, and 10+ with the file driver, which the
        // down file shows): remove the down file, then the pre-rendered page.
        if r.dry_run {
            r.plan_fs(
                "remove",
                &down_file(r),
                "maintenance mode off, as artisan up does",
            );
            d.is_down = false;
            return Ok((true, "would leave maintenance mode".into()));
        }
        remove_maintenance_files(r).map_err(|e| {
            Error::step(e).with_hint("check storage/framework/ ownership (df-perms)")
        })?;
        d.is_down = false;
        d.direct = true;
        r.c.changed = true;
        return Ok((true, "maintenance mode off".into()));
    }
    let Some(out) = r.artisan_unchecked("up", &["up".to_string()], &["up".to_string()])? else {
        d.is_down = false;
        return Ok((true, "would leave maintenance mode".into()));
    };
    d.is_down = down_file(r).exists();
    r.c.changed |= !d.is_down;
    if !out.success() && d.is_down {
        // artisan could not run (a broken vendor/, a fatal error at boot): a site must
        // never stay in maintenance mode because of that, so do what `artisan up` does —
        // remove the down file (and Laravel 8's pre-rendered maintenance page).
        let failure = r.failure("up", &out);
        if let Err(e) = remove_maintenance_files(r) {
            return Err(failure.context(e));
        }
        d.is_down = false;
        d.removed_directly = true;
        r.c.changed = true;
        r.ctx.warn(format!(
            "artisan up failed ({}); removed storage/framework/down directly",
            failure.message
        ));
        return Ok((
            true,
            "maintenance mode off (artisan could not run: the down file was removed directly)"
                .into(),
        ));
    }
    if !out.success() {
        return Err(r.failure("up", &out));
    }
    if d.is_down {
        return Err(Error::step(format!(
            "artisan up reported success but {} is still there",
            down_file(r).display()
        ))
        .with_hint("check storage/framework/ ownership (df-perms)"));
    }
    Ok((true, "maintenance mode off".into()))
}
