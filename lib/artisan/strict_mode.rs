//! `strict-mode on|off|status`: the mysql connection's `'strict'` literal in
//! config/database.php, edited atomically (through a symlink, at its target).

use super::runner::Runner;
use super::{strict, StrictAction};
use crate::error::{Error, Result};
use crate::report::data::artisan::StrictModeData;

pub(super) fn run(
    r: &mut Runner,
    d: &mut StrictModeData,
    a: StrictAction,
) -> Result<(bool, String)> {
    let path = r.root.join("config/database.php");
    d.file = path.display().to_string();
    // A symlinked config (config management, a shared volume) is edited at its target:
    // replacing the link by a regular file would silently detach the install from it.
    let target = match std::fs::symlink_metadata(&path) {
        Ok(md) if md.file_type().is_symlink() => {
            let t = std::fs::canonicalize(&path).map_err(|e| {
                Error::io("resolving the symlink", &path, e)
                    .with_hint("config/database.php is a symlink whose target is missing")
            })?;
            d.target = Some(t.display().to_string());
            t
        }
        _ => path.clone(),
    };
    let md = std::fs::metadata(&target).map_err(|e| Error::io("reading", &target, e))?;
    if !md.is_file() {
        return Err(Error::bad_data(format!(
            "{} is not a regular file",
            target.display()
        )));
    }
    let bytes = std::fs::read(&target).map_err(|e| Error::io("reading", &target, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::bad_data(format!("{} is not UTF-8", target.display())))?;
    let (new_text, changed, site) = match a {
        StrictAction::Status => {
            let site = strict::find(&text)?;
            (text.clone(), false, site)
        }
        StrictAction::On => strict::set(&text, true)?,
        StrictAction::Off => strict::set(&text, false)?,
    };
    d.line = site.line;
    d.strict_before = site.value;
    d.strict = match a {
        StrictAction::Status => site.value,
        StrictAction::On => Some(true),
        StrictAction::Off => Some(false),
    };
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
    if r.dry_run {
        let to = if a == StrictAction::On {
            "true"
        } else {
            "false"
        };
        r.plan_fs(
            "edit",
            &target,
            &format!("line {}: 'strict' => {} becomes {to}", site.line, site.expr),
        );
        return Ok((true, format!("would turn mysql strict mode {word}")));
    }
    crate::atomic::replace_file(&target, new_text.as_bytes())?;
    r.record_fs("edit", &target);
    if r.root.join("bootstrap/cache/config.php").exists() {
        r.ctx.warn(
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
