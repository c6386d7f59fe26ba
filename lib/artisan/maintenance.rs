//! `down` and `up`: maintenance mode, detected through storage/framework/down.

use super::runner::Runner;
use super::{output, SecretSource};
use crate::error::{Error, Result};
use crate::report::data::artisan::MaintenanceData;
use std::path::PathBuf;

fn down_file(r: &Runner) -> PathBuf {
    r.root.join("storage/framework/down")
}

/// Rewrites the bypass secret of the down file in place (as the owner of storage/, like
/// every PHP run): Laravel's own `down` ignores a site that is already down, and `up`
/// then `down` would open the site for a moment.
const REPLACE_SECRET: &str = "<?php\n\
$f = getcwd() . '/storage/framework/down';\n\
$d = json_decode(file_get_contents($f), true);\n\
if (!is_array($d)) { fwrite(STDERR, \"storage/framework/down is not Laravel 8+ JSON\\n\"); exit(65); }\n\
$d['secret'] = getenv('DFKIT_DOWN_SECRET');\n\
$t = $f . '.dfkit-tmp.' . getmypid();\n\
if (file_put_contents($t, json_encode($d, JSON_PRETTY_PRINT)) === false || !rename($t, $f)) { @unlink($t); exit(1); }\n";

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
    if !out.success() {
        return Err(r.failure("replace bypass secret", &out));
    }
    d.secret_replaced = true;
    Ok((
        true,
        "already in maintenance mode; bypass secret replaced".into(),
    ))
}

pub(super) fn up(r: &mut Runner, d: &mut MaintenanceData) -> Result<(bool, String)> {
    r.require_artisan()?;
    if !down_file(r).exists() {
        return Ok((false, "not in maintenance mode".into()));
    }
    d.was_down = true;
    d.is_down = true;
    let Some(out) = r.artisan_unchecked("up", &["up".to_string()], &["up".to_string()])? else {
        d.is_down = false;
        return Ok((true, "would leave maintenance mode".into()));
    };
    d.is_down = down_file(r).exists();
    r.c.changed |= !d.is_down;
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
