//! `clear`: artisan cache:clear and config:clear, each checked against the files — or,
//! when the install plainly uses Laravel's file cache and has no cached config, their
//! effect on disk done directly, without booting the application ([`super::file_store`]).

use super::file_store::{self, Flush};
use super::runner::Runner;
use crate::error::{Error, Result};
use crate::report::data::artisan::ClearData;
use std::path::Path;

/// `artisan cache:clear` then `config:clear` in one PHP process: the application boots
/// once, as artisan boots it, and the console kernel runs both commands in order. Exit 10:
/// cache:clear failed; 11: config:clear failed (the cache is cleared by then). The script
/// comes on stdin, where PHP defines no STDERR constant: it opens php://stderr itself.
const CLEAR_BOTH: &str = r#"<?php
define('LARAVEL_START', microtime(true));
$stderr = fopen('php://stderr', 'w');
require getcwd() . '/vendor/autoload.php';
$app = require getcwd() . '/bootstrap/app.php';
$kernel = $app->make(Illuminate\Contracts\Console\Kernel::class);
$rc = 0;
foreach (['cache:clear' => 10, 'config:clear' => 11] as $cmd => $fail) {
    try {
        $code = $kernel->call($cmd);
        echo $kernel->output();
    } catch (Throwable $e) {
        fwrite($stderr, get_class($e) . ': ' . $e->getMessage() . "
");
        $code = 1;
    }
    if ($code !== 0) { fwrite($stderr, "$cmd failed
"); $rc = $fail; break; }
}
$kernel->terminate(new Symfony\Component\Console\Input\ArrayInput([]), $rc);
exit($rc);
"#;

/// `clear`: the direct path unless `artisan` (`--artisan`) or the install is not plainly
/// the stock file store; then one PHP process runs both commands.
pub(super) fn clear(r: &mut Runner, d: &mut ClearData, artisan: bool) -> Result<(bool, String)> {
    if !artisan {
        r.require_artisan()?;
        match file_store::direct(&r.root) {
            Ok(flush) => return clear_direct(r, d, flush),
            Err(why) => r.ctx.log(format!(
                "direct clear not applicable ({why}): running artisan cache:clear and config:clear"
            )),
        }
    }
    clear_php(r, d)
}

/// What `cache:clear` then `config:clear` do to the file store, without PHP: the
/// store's entries, then the real-time facade files (config.php is absent, or the direct
/// path was not taken). Stops at the first removal that fails and says what is left.
fn clear_direct(r: &mut Runner, d: &mut ClearData, f: Flush) -> Result<(bool, String)> {
    d.cache_store = cache_store(&r.root);
    d.direct = true;
    let entries_before = count_cache_entries(&f.data_dir);
    let would_change = entries_before > 0 || !f.facades.is_empty();
    if r.dry_run {
        for name in &f.entries {
            r.plan_fs(
                "remove",
                &f.data_dir.join(name),
                "a file-cache entry, as artisan cache:clear does (no PHP run)",
            );
        }
        for name in &f.facades {
            r.plan_fs(
                "remove",
                &f.cache_dir.join(name),
                "a real-time facade file, as artisan cache:clear does (no PHP run)",
            );
        }
        return Ok((
            would_change,
            "would clear the application and config caches".into(),
        ));
    }
    let mut removed = 0;
    let mut failed = None;
    for name in &f.entries {
        match f.remove_entry(name) {
            Ok(n) => removed += n,
            Err(e) => {
                failed = Some(format!("removing {}: {e}", f.data_dir.join(name).display()));
                removed = entries_before.saturating_sub(count_cache_entries(&f.data_dir));
                break;
            }
        }
    }
    if removed > 0 {
        r.record_fs("remove file-cache entries", &f.data_dir);
    }
    let mut facades = 0;
    if failed.is_none() {
        for name in &f.facades {
            let p = f.cache_dir.join(name);
            if let Err(e) = f.remove_facade(name) {
                failed = Some(format!("removing {}: {e}", p.display()));
                break;
            }
            r.record_fs("remove", &p);
            facades += 1;
        }
    }
    d.cache_entries_removed = removed;
    r.c.changed |= removed > 0 || facades > 0;
    if let Some(cause) = failed {
        return Err(Error::step(format!(
            "cache:clear (direct): {cause}; {removed} of {entries_before} file-cache entries and \
             {facades} of {} real-time facade files removed, the rest is still there",
            f.facades.len()
        ))
        .with_hint("check storage/ ownership (df-perms), or run `df-artisan repair`"));
    }
    Ok((
        would_change,
        format!("caches cleared without booting Laravel (config cache absent, {removed} file-cache entries)"),
    ))
}

/// `cache:clear` and `config:clear` in one PHP process, each checked against the files.
fn clear_php(r: &mut Runner, d: &mut ClearData) -> Result<(bool, String)> {
    let config_cache = r.root.join("bootstrap/cache/config.php");
    let cache_data = r.root.join("storage/framework/cache/data");
    let store = cache_store(&r.root);
    let had_config = config_cache.exists();
    let entries_before = count_cache_entries(&cache_data);
    let facades = file_store::facade_count(&r.root);
    d.cache_store = store.clone();
    let would_change = had_config || entries_before > 0 || facades > 0 || store != "file";
    let who = r.artisan_user()?;
    let cmd = r.php.php_program(who, CLEAR_BOTH)?;
    r.c.php = Some(r.php.php()?.display().to_string());
    let shown = format!(
        "{} (stdin: boot the application once, then artisan cache:clear and config:clear)",
        r.php.php()?.display()
    );
    let Some(out) = r.step("cache:clear + config:clear", cmd, shown, who)? else {
        return Ok((
            would_change,
            "would clear the application and config caches".into(),
        ));
    };
    if out.code == Some(11) {
        // The cache is gone (or the store said so) even though config:clear then failed.
        r.c.changed |= entries_before > 0 || facades > 0 || store != "file";
        return Err(r.failure("config:clear", &out));
    }
    if !out.success() {
        return Err(r.failure("cache:clear", &out));
    }
    r.c.changed |= entries_before > 0 || facades > 0 || store != "file";
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
    d.config_cache_removed = had_config;
    d.cache_entries_removed = entries_before;
    Ok((
        would_change,
        format!(
            "caches cleared (config cache {}, {entries_before} file-cache entries)",
            if had_config { "removed" } else { "absent" }
        ),
    ))
}

/// The cache store Laravel will use, from .env (CACHE_STORE since DF 7.1, CACHE_DRIVER before).
/// A variable PHP inherits wins over .env's (phpdotenv does not overwrite the environment).
fn cache_store(root: &Path) -> String {
    let file = crate::envfile::EnvFile::load(&root.join(".env")).ok();
    let value = |k: &str| {
        std::env::var(k)
            .ok()
            .or_else(|| file.as_ref().and_then(|e| e.get(k)).map(str::to_string))
            .filter(|s| !s.is_empty())
    };
    value("CACHE_STORE")
        .or_else(|| value("CACHE_DRIVER"))
        .unwrap_or_else(|| "file".into())
}

/// Entries of Laravel's file cache: its flush() removes the subdirectories of data/
/// (entries live at data/ab/cd/HASH) that Finder lists (not dot-named ones), so loose
/// files there are not cache entries.
fn count_cache_entries(data: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(data) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| {
            e.file_type().is_ok_and(|t| t.is_dir()) && file_store::flushed_name(&e.file_name())
        })
        .map(|e| 1 + crate::fsops::count_entries(&e.path()))
        .sum()
}
