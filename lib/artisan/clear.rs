//! `clear`: artisan cache:clear and config:clear, each checked against the files.

use super::runner::Runner;
use crate::error::{Error, Result};
use crate::report::data::artisan::ClearData;
use std::path::Path;

pub(super) fn clear(r: &mut Runner, d: &mut ClearData) -> Result<(bool, String)> {
    let config_cache = r.root.join("bootstrap/cache/config.php");
    let cache_data = r.root.join("storage/framework/cache/data");
    let store = cache_store(&r.root);
    let had_config = config_cache.exists();
    let entries_before = count_cache_entries(&cache_data);
    d.cache_store = store.clone();
    let would_change = had_config || entries_before > 0 || store != "file";
    if r.artisan("cache:clear", &["cache:clear".to_string()])?
        .is_none()
    {
        r.artisan("config:clear", &["config:clear".to_string()])?;
        return Ok((
            would_change,
            "would clear the application and config caches".into(),
        ));
    }
    // The cache is gone (or the store said so) even if config:clear then fails.
    r.c.changed |= entries_before > 0 || store != "file";
    r.artisan("config:clear", &["config:clear".to_string()])?;
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

/// Entries of Laravel's file cache: its flush() removes the subdirectories of data/
/// (entries live at data/ab/cd/HASH), so loose files there are not cache entries.
fn count_cache_entries(data: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(data) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| 1 + crate::fsops::count_entries(&e.path()))
        .sum()
}
