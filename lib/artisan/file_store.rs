//! Laravel's file cache store as `artisan cache:clear` empties it, done without booting
//! the application when the install plainly uses that store (issue 11: the maintenance
//! window).
//!
//! What artisan does on disk (read in Laravel 8.83, Debian's php-laravel-framework):
//! * `FileStore::flush()` removes every subdirectory of the store's directory that Symfony
//!   Finder lists — not dot-named ones (`ignoreDotFiles`), not `_svn`, `CVS`, `_darcs`
//!   (`ignoreVCS`) — each with everything in it. Loose files there (`.gitignore`) stay.
//! * `ClearCommand::flushFacades()` unlinks the non-dot, non-directory entries of
//!   storage/framework/cache whose full path matches `/facade-.*\.php$/`.
//! * `config:clear` unlinks bootstrap/cache/config.php; the direct path is taken only
//!   when there is none (a cached config decides the store).
//!
//! Anything unusual — a store or path other than the stock `file` one, a cached config,
//! an environment override, a symlink on the way, an entry Finder would treat oddly
//! (a symlink, a FIFO: Finder calls every non-file a directory) — returns the reason, and
//! the caller boots Laravel instead. Directories are opened without following symlinks
//! (root removes entries in a tree the web user can write), and entries are removed
//! relative to those descriptors.

use crate::envfile::EnvFile;
use crate::perms::sys;
use nix::dir::Dir;
use regex::Regex;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Names a listener or provider in app/ would use to see the flush or change the store.
pub(super) const APP_NEEDLES: &[&[u8]] = &[
    b"cache:clearing",
    b"cache:cleared",
    b"cache:*",
    b"Cache\\Events",
    b"Cache\\\\Events",
    b"cache.default",
    b"cache.stores",
    b"useStoragePath",
];

/// Directory names Finder's `ignoreVCS` skips that are not dot-named.
const VCS_NAMES: [&str; 3] = ["_svn", "CVS", "_darcs"];

/// A subdirectory of the store's directory that `flush()` removes (by name; the caller
/// checks it is a directory).
pub(super) fn flushed_name(name: &OsStr) -> bool {
    let b = name.as_bytes();
    !b.starts_with(b".") && !VCS_NAMES.iter().any(|v| v.as_bytes() == b)
}

/// `preg_match('/facade-.*\.php$/', $path)` for a path without a newline (the caller
/// refuses those: `.` and `$` treat a newline specially).
pub(super) fn facade_path(path: &[u8]) -> bool {
    path.len() >= 4
        && path.ends_with(b".php")
        && memchr::memmem::find(&path[..path.len() - 4], b"facade-").is_some()
}

/// How many real-time facade files flushFacades() would remove (read by path, for the
/// report of the PHP path; the direct path lists them in [`Flush::facades`]).
pub(super) fn facade_count(root: &Path) -> u64 {
    let Ok(real) = std::fs::canonicalize(root) else {
        return 0;
    };
    let dir = real.join("storage/framework/cache");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| {
            let n = e.file_name();
            !n.as_bytes().starts_with(b".")
                && facade_path(dir.join(&n).as_os_str().as_bytes())
                && !e.path().is_dir()
        })
        .count() as u64
}

/// What a direct `cache:clear` removes, with the directories held open.
pub(super) struct Flush {
    cache: Dir,
    data: Option<Dir>,
    /// ROOT/storage/framework/cache as given (for messages).
    pub cache_dir: PathBuf,
    /// Its data/, the store's directory.
    pub data_dir: PathBuf,
    /// data/'s subdirectories flush() removes, in Finder's order (by name).
    pub entries: Vec<OsString>,
    /// storage/framework/cache's real-time facade files flushFacades() removes.
    pub facades: Vec<OsString>,
}

/// The direct flush of this install's cache, or why artisan must run instead.
pub(super) fn direct(root: &Path) -> Result<Flush, String> {
    let env = crate::envfile::EnvFile::load(&root.join(".env"))
        .map_err(|e| format!(".env: {}", e.message))?;
    check_environment(root, &env)?;
    check_config(root, &env)?;
    if super::app_source::mentions(root, APP_NEEDLES) {
        return Err("app/ names the cache:clear events or the cache config".into());
    }
    open(root)
}

fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// The variables that pick the store, its directory or the config cache: unset, or the
/// stock value, both in our environment (PHP inherits it, and phpdotenv does not
/// override it) and in .env.
fn check_environment(root: &Path, env: &EnvFile) -> Result<(), String> {
    let config = root.join("bootstrap/cache/config.php");
    if std::fs::symlink_metadata(&config).is_ok() {
        return Err("a cached config (bootstrap/cache/config.php) decides the store".into());
    }
    for name in ["CACHE_STORE", "CACHE_DRIVER"] {
        for (src, v) in [
            ("environment", process_env(name)),
            (".env", env.get(name).map(str::to_string)),
        ] {
            if v.as_deref().is_some_and(|v| v != "file") {
                return Err(format!("{name} in the {src} is not `file`"));
            }
        }
    }
    for name in ["APP_CONFIG_CACHE", "APP_BASE_PATH", "LARAVEL_STORAGE_PATH"] {
        if process_env(name).is_some() || env.get(name).is_some() {
            return Err(format!("{name} is set"));
        }
    }
    if let Some(app_env) = process_env("APP_ENV") {
        // Laravel then reads .env.APP_ENV instead, when it exists.
        if app_env.contains('/') || root.join(format!(".env.{app_env}")).exists() {
            return Err(format!(
                "APP_ENV={app_env} in the environment selects another .env"
            ));
        }
    }
    let app = std::fs::read(root.join("bootstrap/app.php"))
        .map_err(|e| format!("bootstrap/app.php: {e}"))?;
    if memchr::memmem::find(&app, b"toragePath").is_some() {
        return Err("bootstrap/app.php sets the storage path".into());
    }
    Ok(())
}

/// config/cache.php names the store the stock way: `'default' => env('CACHE_DRIVER' or
/// 'CACHE_STORE', 'file')`, and a `'file'` store of `'driver' => 'file'` whose `'path'`
/// is `storage_path('framework/cache/data')`, possibly inside `env('NAME', …)` for
/// variables that are unset. Checked on the text, conservatively: a second `'default' =>`
/// or `'file' => [` anywhere (a comment included) is already unusual.
fn check_config(root: &Path, env: &EnvFile) -> Result<(), String> {
    let text = std::fs::read_to_string(root.join("config/cache.php"))
        .map_err(|e| format!("config/cache.php: {e}"))?;
    stock_config(&text, &|name| {
        process_env(name).is_some() || env.get(name).is_some()
    })
}

fn stock_config(text: &str, is_set: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let unusual = |what: &str| Err(format!("config/cache.php: {what} is not the stock one"));
    let default_key = Regex::new(r"'default'\s*=>").expect("regex");
    let default =
        Regex::new(r"^'default'\s*=>\s*env\(\s*'CACHE_(DRIVER|STORE)'\s*,\s*'file'\s*\)\s*,")
            .expect("regex");
    let keys: Vec<_> = default_key.find_iter(text).collect();
    if keys.len() != 1 || !default.is_match(&text[keys[0].start()..]) {
        return unusual("the default store");
    }
    let file_key = Regex::new(r"'file'\s*=>\s*\[").expect("regex");
    let stores: Vec<_> = file_key.find_iter(text).collect();
    if stores.len() != 1 {
        return unusual("the file store");
    }
    let rest = &text[stores[0].end()..];
    let Some(body) = rest.find(']').map(|i| &rest[..i]) else {
        return unusual("the file store");
    };
    let store = Regex::new(
        r"^\s*'driver'\s*=>\s*'file'\s*,\s*'path'\s*=>\s*((?:env\(\s*'[A-Z0-9_]+'\s*,\s*)*)storage_path\(\s*'framework/cache/data'\s*\)((?:\s*\))*)\s*,?\s*$",
    )
    .expect("regex");
    let Some(c) = store.captures(body) else {
        return unusual("the file store");
    };
    let names: Vec<&str> = Regex::new(r"'([A-Z0-9_]+)'")
        .expect("regex")
        .captures_iter(&c[1])
        .map(|m| m.get(1).expect("group").as_str())
        .collect();
    if names.len() != c[2].matches(')').count() {
        return unusual("the file store's path");
    }
    if let Some(n) = names.iter().find(|n| is_set(n)) {
        return Err(format!(
            "{n} is set: the file store's path is not the stock one"
        ));
    }
    Ok(())
}

fn open_in(parent: &Dir, name: &str, shown: &Path) -> Result<Dir, String> {
    let c = CString::new(name).expect("no NUL");
    sys::open_dir_at(parent.as_raw_fd(), &c).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
            format!("{} is not a plain directory (a symlink?)", shown.display())
        }
        _ => format!("{}: {e}", shown.display()),
    })
}

fn names(dir: &Dir) -> Result<Vec<OsString>, String> {
    // A fresh descriptor for the listing, so `dir` itself stays usable.
    let mut d = sys::open_dir_at(dir.as_raw_fd(), c".").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e.map_err(|e| e.to_string())?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(out)
}

fn lstat(dir: &Dir, name: &OsStr) -> io::Result<nix::sys::stat::FileStat> {
    let c = CString::new(name.as_bytes()).expect("no NUL in a file name");
    sys::lstat_at(dir.as_raw_fd(), &c)
}

fn kind(st: &nix::sys::stat::FileStat) -> libc::mode_t {
    st.st_mode & libc::S_IFMT
}

fn open(root: &Path) -> Result<Flush, String> {
    let cache_dir = root.join("storage/framework/cache");
    let data_dir = cache_dir.join("data");
    let top = sys::open_root(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let storage = open_in(&top, "storage", &root.join("storage"))?;
    let framework = open_in(&storage, "framework", &root.join("storage/framework"))?;
    let cache = open_in(&framework, "cache", &cache_dir)?;
    let data = match open_in(&cache, "data", &data_dir) {
        Ok(d) => Some(d),
        // flush() finds no directory and removes nothing; the facades still go.
        Err(_) if lstat(&cache, OsStr::new("data")).is_err_and(|e| sys::is_gone(&e)) => None,
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    if let Some(data) = &data {
        if !Path::new(&format!("/proc/self/fd/{}", data.as_raw_fd())).is_dir() {
            return Err("no /proc/self/fd to remove entries through".into());
        }
        for name in names(data)? {
            if name.as_bytes().starts_with(b".") {
                continue; // Finder skips dot-named entries: flush() keeps them.
            }
            let st = lstat(data, &name).map_err(|e| format!("{name:?}: {e}"))?;
            match kind(&st) {
                libc::S_IFREG => {} // a loose file: not an entry, kept
                libc::S_IFDIR if flushed_name(&name) => entries.push(name),
                libc::S_IFDIR => {
                    return Err(format!(
                        "{} is a version-control directory Finder skips",
                        data_dir.join(&name).display()
                    ))
                }
                _ => {
                    return Err(format!(
                        "{} is not a plain file or directory",
                        data_dir.join(&name).display()
                    ))
                }
            }
        }
    }
    // preg_match sees the path Laravel builds from its base path: the root's real path.
    let real = std::fs::canonicalize(root)
        .map_err(|e| format!("{}: {e}", root.display()))?
        .join("storage/framework/cache");
    if real.as_os_str().as_bytes().contains(&b'\n') {
        return Err("the install's path has a newline".into());
    }
    let mut facades = Vec::new();
    for name in names(&cache)? {
        let b = name.as_bytes();
        if b.starts_with(b".") {
            continue;
        }
        if b.contains(&b'\n') {
            return Err(format!("{name:?} in {} has a newline", cache_dir.display()));
        }
        if !facade_path(real.join(&name).as_os_str().as_bytes()) {
            continue;
        }
        let st = lstat(&cache, &name).map_err(|e| format!("{name:?}: {e}"))?;
        if kind(&st) != libc::S_IFREG {
            return Err(format!(
                "{} is not a plain file",
                cache_dir.join(&name).display()
            ));
        }
        facades.push(name);
    }
    Ok(Flush {
        cache,
        data,
        cache_dir,
        data_dir,
        entries,
        facades,
    })
}

impl Flush {
    /// Remove one of [`Flush::entries`] and everything in it; returns how many entries
    /// that was (the directory and what it held). std's `remove_dir_all` opens each level
    /// without following symlinks; the path reaches the entry through data/'s descriptor.
    pub fn remove_entry(&self, name: &OsStr) -> io::Result<u64> {
        let data = self.data.as_ref().expect("entries come from data/");
        let p = PathBuf::from(format!("/proc/self/fd/{}", data.as_raw_fd())).join(name);
        let n = 1 + crate::fsops::count_entries(&p);
        std::fs::remove_dir_all(&p)?;
        Ok(n)
    }

    /// Unlink one of [`Flush::facades`].
    pub fn remove_facade(&self, name: &OsStr) -> io::Result<()> {
        nix::unistd::unlinkat(
            Some(self.cache.as_raw_fd()),
            name,
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        )
        .map_err(|e| io::Error::from_raw_os_error(e as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKELETON: &str = "<?php\nreturn [\n    'default' => env('CACHE_DRIVER', 'file'),\n    'stores' => [\n        'array' => ['driver' => 'array', 'serialize' => false],\n        'file' => [\n            'driver' => 'file',\n            'path' => storage_path('framework/cache/data'),\n        ],\n    ],\n    'prefix' => env('CACHE_PREFIX', 'dreamfactory_cache'),\n];\n";

    #[test]
    fn the_stock_configs_pass() {
        let unset = |_: &str| false;
        assert_eq!(stock_config(SKELETON, &unset), Ok(()));
        // DreamFactory 7's: CACHE_STORE, and the path behind two variables.
        let df7 = "'default' => env('CACHE_STORE', 'file'),\n'stores' => [\n 'file' => [\n  'driver' => 'file',\n  'path' => env('CACHE_PATH', env('DF_CACHE_PATH', storage_path('framework/cache/data'))),\n ],\n 'redis' => ['connection' => 'default'],\n],";
        assert_eq!(stock_config(df7, &unset), Ok(()));
        assert!(stock_config(df7, &|n| n == "DF_CACHE_PATH")
            .unwrap_err()
            .contains("DF_CACHE_PATH"));
    }

    #[test]
    fn anything_unusual_is_refused() {
        let unset = |_: &str| false;
        for (from, to) in [
            ("'file'),\n    'stores'", "'redis'),\n    'stores'"),
            ("env('CACHE_DRIVER', 'file')", "'file'"),
            ("env('CACHE_DRIVER', 'file')", "env('MY_CACHE', 'file')"),
            (
                "storage_path('framework/cache/data')",
                "storage_path('framework/cache')",
            ),
            ("storage_path('framework/cache/data')", "'/var/cache/df'"),
            (
                "storage_path('framework/cache/data')",
                "env('X', storage_path('framework/cache/data')",
            ),
            (
                "'driver' => 'file',\n            'path'",
                "'driver' => 'redis',\n            'path'",
            ),
            (
                "'prefix'",
                "// 'default' => env('CACHE_DRIVER', 'file'),\n'prefix'",
            ),
            ("'array' =>", "'file' => ['driver' => 'file'],\n'array' =>"),
            (
                "storage_path('framework/cache/data'),\n",
                "storage_path('framework/cache/data'),\n'lock_path' => '/tmp',\n",
            ),
        ] {
            let text = SKELETON.replacen(from, to, 1);
            assert_ne!(text, SKELETON, "{from}");
            assert!(stock_config(&text, &unset).is_err(), "accepted: {text}");
        }
    }

    #[test]
    fn facade_paths_match_as_preg_match_does() {
        for (p, m) in [
            ("/x/storage/framework/cache/facade-abc123.php", true),
            ("/x/storage/framework/cache/facade-.php", true),
            ("/x/storage/framework/cache/facade.php", false),
            ("/x/storage/framework/cache/facade-abc.php.bak", false),
            ("/x/storage/framework/cache/my-facade-x.php", true),
            ("/srv/facade-site/storage/framework/cache/other.php", true),
            ("/x/storage/framework/cache/.php", false),
        ] {
            assert_eq!(facade_path(p.as_bytes()), m, "{p}");
        }
        assert!(flushed_name(OsStr::new("ab")) && flushed_name(OsStr::new("svn")));
        assert!(!flushed_name(OsStr::new(".ab")) && !flushed_name(OsStr::new("CVS")));
    }
}
