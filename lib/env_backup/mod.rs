//! df-backup-env's work: save, show and restore the .env file (APP_KEY above all)
//! ([`env`]), and snapshot the install tree into a backup set and put parts of it back
//! ([`snapshot`]).
//!
//! Secrets never leave: every value of a secret key is registered with
//! [`crate::secret::register`] as the file is parsed, and reports carry fingerprints.
//! Every directory written into is first swept of the temporaries dead dfkit runs left
//! there ([`crate::atomic::sweep_stale`]).

mod env;
mod show;
mod snapshot;

pub use env::{restore, restore_key, save, show};
pub use snapshot::{restore_tree, snapshot};

use crate::atomic;
use crate::backup_set::env_meta::EnvMeta;
use crate::backup_set::BackupSet;
use crate::envfile::{self, EnvFile};
use crate::error::{Error, ErrorKind, Result};
use crate::report::data::backup_env::EnvSummary;
use crate::report::Ctx;
use crate::secret::{self, Fingerprint};
use serde_json::json;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The artifact name of the .env copy in a set, and of the tree snapshot.
pub const ENV_ARTIFACT: &str = "env";
pub const TREE_ARTIFACT: &str = "tree";

/// Where a backup comes from: a set directory (verified against env.meta.json) or a file.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub set: Option<BackupSet>,
}

/// Whether `p` exists (without following a final symlink). Only "not found" is "no":
/// permission denied is an error (77), never read as "missing".
pub(crate) fn exists(p: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("inspecting", p, e)),
    }
}

impl Source {
    /// `--from SET|FILE`. A file named `env` beside an `env.meta.json` counts as its set.
    pub fn resolve(from: &Path) -> Result<Source> {
        let md = std::fs::metadata(from).map_err(|e| Error::io("reading", from, e))?;
        if md.is_dir() {
            let set = BackupSet::open(from)?;
            let path = set.path(ENV_ARTIFACT);
            if !exists(&path)? {
                return Err(Error::missing(format!(
                    "backup set {} holds no env file",
                    from.display()
                ))
                .with_hint("save one first: df-backup-env save --into SET"));
            }
            return Ok(Source {
                path,
                set: Some(set),
            });
        }
        let dir = atomic::parent_dir(from);
        let set = (from.file_name() == Some(ENV_ARTIFACT.as_ref())
            && exists(&dir.join(BackupSet::meta_name(ENV_ARTIFACT)))?)
        .then_some(BackupSet { dir });
        Ok(Source {
            path: from.to_path_buf(),
            set,
        })
    }

    /// The bytes, after checking them against the set's meta (sha256 and size): a copy
    /// that does not match is refused (65) before anything is touched.
    pub fn read_verified(&self) -> Result<(Vec<u8>, Option<EnvMeta>)> {
        let bytes = std::fs::read(&self.path).map_err(|e| Error::io("reading", &self.path, e))?;
        let Some(set) = &self.set else {
            return Ok((bytes, None));
        };
        let meta: EnvMeta = set.read_meta(ENV_ARTIFACT)?;
        let got = crate::checksum::sha256_hex(&bytes);
        if meta.sha256 != got || meta.bytes != bytes.len() as u64 {
            return Err(Error::bad_data(format!(
                "{} does not match its env.meta.json (sha256 {got}, {} bytes; expected {}, {} bytes)",
                self.path.display(),
                bytes.len(),
                meta.sha256,
                meta.bytes
            ))
            .with_hint("the backup is damaged or was changed; use another set, or pass the file itself if you trust it"));
        }
        Ok((bytes, Some(meta)))
    }
}

/// The .env to work on: `--env FILE`, else ROOT/.env (the root must exist: 66).
pub fn env_path(root: Option<&Path>, env: Option<&Path>) -> Result<PathBuf> {
    match env {
        Some(p) => Ok(p.to_path_buf()),
        None => Ok(crate::install::Install::discover(root)?.env_path()),
    }
}

/// The .env a command will WRITE: `--env FILE` as given, else ROOT/.env of a root that
/// is an install (artisan, .env or .env-dist, config/ — else 66 before anything changes).
pub fn env_path_to_write(root: Option<&Path>, env: Option<&Path>) -> Result<PathBuf> {
    match env {
        Some(p) => Ok(p.to_path_buf()),
        None => Ok(crate::install::Install::discover_checked(root)?.env_path()),
    }
}

/// Parse .env bytes read from `path`, judging APP_KEY with the cipher of the install at
/// `base` (its config/app.php; see [`envfile::configured_cipher`]).
/// The file keeps the bytes: given owned, they are not copied.
pub(crate) fn parse_named<'a>(
    bytes: impl Into<Cow<'a, [u8]>>,
    path: &Path,
    base: Option<&Path>,
) -> Result<EnvFile> {
    let parsed = match bytes.into() {
        Cow::Borrowed(b) => EnvFile::parse_inner(b),
        Cow::Owned(b) => EnvFile::parse_owned(b),
    };
    let env = parsed.map_err(|e| {
        let place = format!("{} line {}", path.display(), e.line);
        let mut err = Error::bad_data(format!("{place}: {}", e.message))
            .with_data(json!({"file": path.display().to_string(), "line": e.line}));
        if let Some(h) = e.hint.filter(|h| !h.is_empty()) {
            err = err.with_hint(h);
        }
        err
    })?;
    let cipher = envfile::configured_cipher(base, &env);
    Ok(env.with_cipher(cipher))
}

/// The install whose config/app.php decides the cipher: the directory of the .env.
pub(crate) fn install_base(env_path: &Path) -> PathBuf {
    atomic::parent_dir(env_path)
}

/// A value for reports: a fingerprint for secret keys, else the value.
pub(crate) fn shown(key: &str, v: Option<&str>) -> Option<String> {
    v.map(|v| {
        if secret::is_secret_key(key) {
            Fingerprint::of(v).0
        } else {
            v.to_string()
        }
    })
}

pub(crate) fn summary(env: &EnvFile) -> EnvSummary {
    EnvSummary {
        keys: env.variables().map(|(k, _)| k.to_string()).collect(),
        ..summary_but_keys(env)
    }
}

/// [`summary`] with `keys` left empty (`show` writes them straight from the file).
pub(crate) fn summary_but_keys(env: &EnvFile) -> EnvSummary {
    EnvSummary {
        keys: Vec::new(),
        app_key_fingerprint: env.get("APP_KEY").map(|k| Fingerprint::of(k).0),
        app_key: env.app_key().ok(),
        cipher: env.cipher(),
        db_connection: env.get("DB_CONNECTION").map(String::from),
    }
}

pub(crate) fn missing_env(path: &Path, e: std::io::Error) -> Error {
    let err = Error::io("reading", path, e);
    if err.kind == ErrorKind::MissingInput {
        err.with_hint("no .env there: pass --root DIR (the install) or --env FILE")
    } else {
        err
    }
}

/// Sweep a directory about to be written into, saying what was removed.
pub(crate) fn sweep(ctx: &Ctx, dir: &Path) {
    say_swept(ctx, atomic::sweep_stale(dir));
}

/// Sweep a backup set about to be written into, and the sets beside it
/// ([`atomic::sweep_around`]): a killed wrapper's set is usually a sibling of the next one.
pub(crate) fn sweep_set(ctx: &Ctx, dir: &Path) {
    say_swept(ctx, atomic::sweep_around(dir));
}

fn say_swept(ctx: &Ctx, removed: Vec<PathBuf>) {
    for p in removed {
        ctx.log(format!(
            "removed {} (left by a dfkit run that died)",
            p.display()
        ));
    }
}

/// An absolute, symlink-resolved form of a path that may not exist yet.
pub(crate) fn absolute(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let parent = absolute(&atomic::parent_dir(p))?;
    Some(parent.join(p.file_name()?))
}
