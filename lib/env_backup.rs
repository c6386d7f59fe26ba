//! df-backup-env's work: save, show and restore the .env file (APP_KEY above all), and
//! snapshot the install tree into a backup set.
//!
//! Secrets never leave: every value of a secret key is registered with
//! [`crate::secret::register`] as the file is parsed, and reports carry fingerprints.

use crate::atomic;
use crate::backup_set::{self, BackupSet};
use crate::envfile::{self, EnvFile};
use crate::error::{Error, ErrorKind, Result};
use crate::report::{now_rfc3339, Ctx, Outcome};
use crate::secret::{self, Fingerprint};
use crate::tree;
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
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

impl Source {
    /// `--from SET|FILE`. A file named `env` beside an `env.meta.json` counts as its set.
    pub fn resolve(from: &Path) -> Result<Source> {
        let md = std::fs::metadata(from).map_err(|e| Error::io("reading", from, e))?;
        if md.is_dir() {
            let set = BackupSet::open(from)?;
            let path = set.path(ENV_ARTIFACT);
            if !path.is_file() {
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
            && dir.join(BackupSet::meta_name(ENV_ARTIFACT)).is_file())
        .then_some(BackupSet { dir });
        Ok(Source {
            path: from.to_path_buf(),
            set,
        })
    }

    /// The bytes, after checking them against the set's meta (sha256 and size): a copy
    /// that does not match is refused (65) before anything is touched.
    pub fn read_verified(&self) -> Result<(Vec<u8>, Option<Value>)> {
        let bytes = std::fs::read(&self.path).map_err(|e| Error::io("reading", &self.path, e))?;
        let Some(set) = &self.set else {
            return Ok((bytes, None));
        };
        let meta: serde_json::Value = set.read_meta(ENV_ARTIFACT)?;
        let want = meta["sha256"].as_str().unwrap_or("");
        let got = secret::sha256_hex(&bytes);
        if want != got || meta["bytes"].as_u64() != Some(bytes.len() as u64) {
            return Err(Error::bad_data(format!(
                "{} does not match its env.meta.json (sha256 {got}, {} bytes; expected {want}, {} bytes)",
                self.path.display(),
                bytes.len(),
                meta["bytes"]
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

fn parse_named(bytes: &[u8], path: &Path) -> Result<EnvFile> {
    EnvFile::parse_inner(bytes).map_err(|e| {
        let place = format!("{} line {}", path.display(), e.line);
        let mut err = Error::bad_data(format!("{place}: {}", e.message))
            .with_data(json!({"file": path.display().to_string(), "line": e.line}));
        if let Some(h) = e.hint {
            err = err.with_hint(h);
        }
        err
    })
}

/// A value for reports: a fingerprint for secret keys, else the value.
fn shown(key: &str, v: Option<&str>) -> Value {
    match v {
        None => Value::Null,
        Some(v) if secret::is_secret_key(key) => json!(Fingerprint::of(v)),
        Some(v) => json!(v),
    }
}

fn summary(env: &EnvFile) -> Value {
    let app_key = env.get("APP_KEY");
    json!({
        "keys": env.vars().iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        "app_key_fingerprint": app_key.map(Fingerprint::of),
        "app_key": match env.app_key() { Ok(s) => json!(s), Err(_) => Value::Null },
        "db_connection": env.get("DB_CONNECTION"),
    })
}

fn mode_str(m: u32) -> String {
    format!("{:04o}", m & 0o7777)
}

/// `save --into SET`: a byte-exact 0600 copy of .env with its meta.
pub fn save(
    ctx: &Ctx,
    env_path: &Path,
    into: Option<&Path>,
    replace: bool,
    allow_invalid_key: bool,
) -> Result<Outcome> {
    let bytes = std::fs::read(env_path).map_err(|e| missing_env(env_path, e))?;
    let md = std::fs::metadata(env_path).map_err(|e| Error::io("inspecting", env_path, e))?;
    let env = parse_named(&bytes, env_path)?;
    let mut warnings = env.warnings();
    if let Err(why) = env.app_key() {
        if !allow_invalid_key {
            return Err(Error::bad_data(format!("{}: {why}", env_path.display())).with_hint(
                "this .env cannot decrypt DreamFactory's stored credentials; is it the right file \
                 (--root / --env)? To back it up anyway, add --allow-invalid-key",
            ));
        }
        warnings.retain(|w| w != &why);
        warnings.push(format!("{why} (saved anyway: --allow-invalid-key)"));
    }
    for w in &warnings {
        ctx.warn(w.clone());
    }
    let sha = secret::sha256_hex(&bytes);
    let set_dir = match into {
        Some(d) => d.to_path_buf(),
        None => Path::new(backup_set::DEFAULT_BASE).join(backup_set::stamp()),
    };
    let dest = set_dir.join(ENV_ARTIFACT);
    let meta_path = set_dir.join(BackupSet::meta_name(ENV_ARTIFACT));
    let existing = std::fs::read(&dest).ok();
    let same = existing.as_deref() == Some(&bytes[..]);
    if existing.is_some() && !same && !replace {
        return Err(Error::new(
            ErrorKind::CannotCreate,
            format!(
                "{} already holds a different .env (sha256 {})",
                dest.display(),
                secret::sha256_hex(existing.as_deref().unwrap_or_default())
            ),
        )
        .with_hint("that backup may be the one you need: save into a new set, or add --replace"));
    }
    let changed = !same || !meta_path.is_file();
    let mut data = json!({
        "set": set_dir.display().to_string(),
        "env": dest.display().to_string(),
        "meta": meta_path.display().to_string(),
        "source": env_path.display().to_string(),
        "sha256": sha,
        "bytes": bytes.len(),
    });
    merge(&mut data, summary(&env));
    if ctx.dry_run() {
        let mut plan = Vec::new();
        if changed {
            if !set_dir.is_dir() {
                plan.push(json!({"action": "create_set", "path": set_dir.display().to_string(), "mode": "0700"}));
            }
            plan.push(json!({"action": "write", "path": dest.display().to_string(), "mode": "0600", "bytes": bytes.len()}));
            plan.push(
                json!({"action": "write", "path": meta_path.display().to_string(), "mode": "0600"}),
            );
        }
        data["plan"] = json!(plan);
        let msg = if changed {
            format!("would save {} to {}", env_path.display(), dest.display())
        } else {
            format!("{} already holds this .env", dest.display())
        };
        return Ok(Outcome::new(changed, msg, data));
    }
    if !changed {
        return Ok(Outcome::new(
            false,
            format!(
                "{} already holds this .env (sha256 {})",
                dest.display(),
                &sha[..12]
            ),
            data,
        ));
    }
    let set = BackupSet::create(Some(&set_dir))?;
    atomic::write_file(&dest, &bytes, 0o600)?;
    let mut meta = json!({
        "artifact": ENV_ARTIFACT,
        "source": env_path.display().to_string(),
        "saved_at": now_rfc3339(),
        "sha256": sha,
        "bytes": bytes.len(),
        "source_mode": mode_str(md.mode()),
        "source_uid": md.uid(),
        "source_gid": md.gid(),
    });
    merge(&mut meta, summary(&env));
    meta["fingerprints"] = env
        .vars()
        .iter()
        .filter(|(k, _)| secret::is_secret_key(k))
        .map(|(k, v)| (k.clone(), json!(Fingerprint::of(v))))
        .collect::<serde_json::Map<_, _>>()
        .into();
    meta["warnings"] = json!(warnings);
    meta["dfkit_version"] = json!(env!("CARGO_PKG_VERSION"));
    set.write_meta(ENV_ARTIFACT, &meta)?;
    Ok(Outcome::new(
        true,
        format!(
            "saved {} to {} ({} bytes, sha256 {})",
            env_path.display(),
            dest.display(),
            bytes.len(),
            &sha[..12]
        ),
        data,
    ))
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

fn missing_env(path: &Path, e: std::io::Error) -> Error {
    let err = Error::io("reading", path, e);
    if err.kind == ErrorKind::MissingInput {
        err.with_hint("no .env there: pass --root DIR (the install) or --env FILE")
    } else {
        err
    }
}

/// `show`: the parsed .env as JSON, secrets as fingerprints, with the warnings.
pub fn show(ctx: &Ctx, env_path: &Path, from: Option<&Path>) -> Result<Outcome> {
    let (path, bytes) = match from {
        Some(f) => {
            let src = Source::resolve(f)?;
            let (b, _) = src.read_verified()?;
            (src.path, b)
        }
        None => (
            env_path.to_path_buf(),
            std::fs::read(env_path).map_err(|e| missing_env(env_path, e))?,
        ),
    };
    let env = parse_named(&bytes, &path)?;
    for w in env.warnings() {
        ctx.warn(w);
    }
    let entries: Vec<Value> = env
        .entries()
        .iter()
        .map(|e| {
            json!({
                "key": e.name,
                "line": e.line,
                "quote": e.quote.as_str(),
                "secret": secret::is_secret_key(&e.name),
                "value": shown(&e.name, e.value.as_deref()),
            })
        })
        .collect();
    let mut data = json!({
        "env": path.display().to_string(),
        "sha256": secret::sha256_hex(&bytes),
        "bytes": bytes.len(),
        "vars": envfile::to_json(&env),
        "entries": entries,
        "app_key_valid": env.app_key().is_ok(),
    });
    merge(&mut data, summary(&env));
    Ok(Outcome::new(
        false,
        format!("{}: {} variables", path.display(), env.vars().len()),
        data,
    ))
}

/// `restore-key --from SET|FILE [--key NAME]…`: put the old values of the keys into the
/// current .env, rewriting only their lines; nothing is written when they are equal.
pub fn restore_key(ctx: &Ctx, env_path: &Path, from: &Path, keys: &[String]) -> Result<Outcome> {
    let keys: Vec<String> = if keys.is_empty() {
        vec!["APP_KEY".into()]
    } else {
        keys.to_vec()
    };
    let src = Source::resolve(from)?;
    let (src_bytes, _) = src.read_verified()?;
    let old = parse_named(&src_bytes, &src.path)?;
    let bytes = std::fs::read(env_path).map_err(|e| {
        missing_env(env_path, e).with_hint(
            "restore-key edits an existing .env; to put the whole file back use `df-backup-env restore`",
        )
    })?;
    let mut env = parse_named(&bytes, env_path)?;
    let mut report = Vec::new();
    for key in &keys {
        let Some(value) = old.get(key) else {
            return Err(Error::missing(format!(
                "{} does not define {key}",
                src.path.display()
            )));
        };
        let before = env.get(key).map(String::from);
        let changed = env.set(key, value)?;
        if key == "APP_KEY" {
            if let Err(why) = envfile::check_app_key(value) {
                ctx.warn(format!("the restored APP_KEY is malformed: {why}"));
            }
        }
        report.push(json!({
            "key": key,
            "changed": changed,
            "line": env.entry(key).map(|e| e.line),
            "before": shown(key, before.as_deref()),
            "after": shown(key, Some(value)),
        }));
    }
    let changed = env.bytes() != &bytes[..];
    let names = keys.join(", ");
    let mut data = json!({
        "env": env_path.display().to_string(),
        "from": src.path.display().to_string(),
        "verified": src.set.is_some(),
        "keys": report,
    });
    if ctx.dry_run() {
        data["plan"] = json!(if changed {
            vec![json!({"action": "edit", "path": env_path.display().to_string(), "keys": keys})]
        } else {
            vec![]
        });
        let msg = if changed {
            format!("would restore {names} into {}", env_path.display())
        } else {
            format!("{names} already as in the backup")
        };
        return Ok(Outcome::new(changed, msg, data));
    }
    if !changed {
        return Ok(Outcome::new(
            false,
            format!(
                "{names} already as in {}; {} untouched",
                src.path.display(),
                env_path.display()
            ),
            data,
        ));
    }
    // Re-check that nobody changed the file meanwhile: our edit is based on `bytes`.
    let now = std::fs::read(env_path).map_err(|e| Error::io("reading", env_path, e))?;
    if now != bytes {
        return Err(Error::new(
            ErrorKind::Temporary,
            format!(
                "{} changed while we worked; nothing written",
                env_path.display()
            ),
        ));
    }
    atomic::replace_file(env_path, env.bytes())?;
    Ok(Outcome::new(
        true,
        format!(
            "restored {names} into {} from {}",
            env_path.display(),
            src.path.display()
        ),
        data,
    ))
}

/// `restore --from SET|FILE`: put the whole .env back, after verifying it. The replaced
/// .env is kept beside it as `.env.before-restore.<stamp>`.
pub fn restore(ctx: &Ctx, env_path: &Path, from: &Path) -> Result<Outcome> {
    let src = Source::resolve(from)?;
    let (bytes, meta) = src.read_verified()?;
    let env = parse_named(&bytes, &src.path)?;
    for w in env.warnings() {
        ctx.warn(w);
    }
    let current = match std::fs::read(env_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("reading", env_path, e)),
    };
    let sha = secret::sha256_hex(&bytes);
    let changed = current.as_deref() != Some(&bytes[..]);
    let keep = env_path.with_file_name(format!(
        "{}.before-restore.{}",
        env_path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        backup_set::stamp()
    ));
    let mut data = json!({
        "env": env_path.display().to_string(),
        "from": src.path.display().to_string(),
        "verified": src.set.is_some(),
        "sha256": sha,
        "bytes": bytes.len(),
        "previous": Value::Null,
    });
    merge(&mut data, summary(&env));
    if changed {
        if let Some(cur) = &current {
            data["previous"] = json!({
                "kept_at": keep.display().to_string(),
                "sha256": secret::sha256_hex(cur),
            });
        }
    }
    if ctx.dry_run() {
        let mut plan = Vec::new();
        if changed {
            if current.is_some() {
                plan.push(json!({"action": "copy", "from": env_path.display().to_string(), "to": keep.display().to_string()}));
            }
            plan.push(json!({"action": "write", "path": env_path.display().to_string(), "bytes": bytes.len()}));
        }
        data["plan"] = json!(plan);
        let msg = if changed {
            format!(
                "would restore {} from {}",
                env_path.display(),
                src.path.display()
            )
        } else {
            format!("{} already equals the backup", env_path.display())
        };
        return Ok(Outcome::new(changed, msg, data));
    }
    if !changed {
        return Ok(Outcome::new(
            false,
            format!(
                "{} already equals {}; untouched",
                env_path.display(),
                src.path.display()
            ),
            data,
        ));
    }
    match &current {
        Some(cur) => {
            let md =
                std::fs::metadata(env_path).map_err(|e| Error::io("inspecting", env_path, e))?;
            write_owned(&keep, cur, md.mode(), md.uid(), md.gid())?;
            atomic::replace_file(env_path, &bytes)?;
        }
        None => {
            // No .env: give it the mode and owner the saved one had.
            let dir = atomic::parent_dir(env_path);
            let dmd = std::fs::metadata(&dir).map_err(|e| Error::io("inspecting", &dir, e))?;
            let m = meta.as_ref();
            let mode = m
                .and_then(|m| m["source_mode"].as_str())
                .and_then(|s| u32::from_str_radix(s, 8).ok())
                .unwrap_or(0o640);
            let uid = m
                .and_then(|m| m["source_uid"].as_u64())
                .map(|u| u as u32)
                .unwrap_or(dmd.uid());
            let gid = m
                .and_then(|m| m["source_gid"].as_u64())
                .map(|g| g as u32)
                .unwrap_or(dmd.gid());
            write_owned(env_path, &bytes, mode, uid, gid)?;
        }
    }
    Ok(Outcome::new(
        true,
        format!(
            "restored {} from {} (sha256 {} verified)",
            env_path.display(),
            src.path.display(),
            &sha[..12]
        ),
        data,
    ))
}

fn write_owned(dest: &Path, bytes: &[u8], mode: u32, uid: u32, gid: u32) -> Result<()> {
    use std::io::Write;
    let mut f = atomic::AtomicFile::create(dest, mode & 0o7777)?;
    if crate::users::is_root() {
        f.set_owner(uid, gid);
    }
    f.write_all(bytes)
        .map_err(|e| Error::io("writing", f.temp_path(), e))?;
    f.commit()
}

/// `snapshot --into SET [--exclude PATH]…`: the install tree into SET/tree.
pub fn snapshot(
    ctx: &Ctx,
    root: Option<&Path>,
    into: Option<&Path>,
    excludes: &[PathBuf],
    replace: bool,
) -> Result<Outcome> {
    let install = crate::install::Install::discover(root)?;
    let root = install
        .root
        .canonicalize()
        .map_err(|e| Error::io("resolving", &install.root, e))?;
    let excludes = tree::normalize_excludes(&root, excludes)?;
    let set_dir = match into {
        Some(d) => d.to_path_buf(),
        None => Path::new(backup_set::DEFAULT_BASE).join(backup_set::stamp()),
    };
    let dest = set_dir.join(TREE_ARTIFACT);
    let meta_path = set_dir.join(BackupSet::meta_name(TREE_ARTIFACT));
    // The set itself may lie inside the install: never copy it into itself.
    let avoid = absolute(&set_dir).filter(|s| s.starts_with(&root));
    let exists = std::fs::symlink_metadata(&dest).is_ok();
    if exists && !replace {
        if meta_path.is_file() {
            let meta: Value = std::fs::read(&meta_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            ctx.warn(format!(
                "{} already holds a snapshot (taken at {}); kept it — add --replace to take a new one",
                dest.display(),
                meta["taken_at"].as_str().unwrap_or("?")
            ));
            return Ok(Outcome::new(
                false,
                format!("{} already holds a snapshot", dest.display()),
                json!({"set": set_dir.display().to_string(), "tree": dest.display().to_string(),
                       "meta": meta_path.display().to_string(), "root": root.display().to_string(),
                       "existing": meta}),
            ));
        }
        return Err(Error::new(
            ErrorKind::CannotCreate,
            format!("{} exists but has no tree.meta.json", dest.display()),
        )
        .with_hint("an interrupted run? add --replace to take the snapshot again"));
    }
    let ex_strings: Vec<String> = excludes.iter().map(|p| p.display().to_string()).collect();
    if ctx.dry_run() {
        let (c, excluded) = tree::scan(&root, &excludes, avoid.as_deref())?;
        let data = json!({
            "set": set_dir.display().to_string(),
            "tree": dest.display().to_string(),
            "root": root.display().to_string(),
            "plan": [{"action": "copy_tree", "from": root.display().to_string(),
                      "to": dest.display().to_string(), "entries": c.entries, "bytes": c.bytes,
                      "excluded": excluded, "replace": exists}],
        });
        return Ok(Outcome::new(
            true,
            format!(
                "would copy {} ({} entries, {} bytes) to {}",
                root.display(),
                c.entries,
                c.bytes,
                dest.display()
            ),
            data,
        ));
    }
    let set = BackupSet::create(Some(&set_dir))?;
    ctx.log(format!("copying {} to {}", root.display(), dest.display()));
    let show = ctx.progress_enabled();
    let mut progress = |c: &tree::Counts| {
        eprint!(
            "\r{}: copied {} entries, {} MiB",
            ctx.tool,
            c.entries,
            c.bytes >> 20
        );
    };
    let progress: Option<&mut dyn FnMut(&tree::Counts)> =
        if show { Some(&mut progress) } else { None };
    let old = set.path(&format!(
        ".{TREE_ARTIFACT}.dfkit-old.{}",
        std::process::id()
    ));
    if exists {
        std::fs::rename(&dest, &old).map_err(|e| Error::io("moving aside", &dest, e))?;
    }
    let snap = match tree::snapshot(&root, &dest, &excludes, avoid.as_deref(), progress) {
        Ok(s) => s,
        Err(e) => {
            if exists {
                let _ = std::fs::rename(&old, &dest);
            }
            return Err(e);
        }
    };
    if show {
        eprintln!();
    }
    if exists {
        std::fs::remove_dir_all(&old)
            .map_err(|e| Error::io("removing the old snapshot", &old, e))?;
    }
    for w in &snap.warnings {
        ctx.warn(w.clone());
    }
    let c = snap.counts;
    let counts = json!({
        "entries": c.entries, "files": c.files, "dirs": c.dirs, "symlinks": c.symlinks,
        "hardlinks": c.hardlinks, "bytes": c.bytes,
    });
    let mut meta = json!({
        "artifact": TREE_ARTIFACT,
        "root": root.display().to_string(),
        "taken_at": now_rfc3339(),
        "excluded": snap.excluded,
        "exclude_args": ex_strings,
        "skipped": snap.skipped,
        "owners_kept": snap.owners_kept,
        "dfkit_version": env!("CARGO_PKG_VERSION"),
    });
    merge(&mut meta, counts.clone());
    set.write_meta(TREE_ARTIFACT, &meta)?;
    let mut data = json!({
        "set": set_dir.display().to_string(),
        "tree": dest.display().to_string(),
        "meta": meta_path.display().to_string(),
        "root": root.display().to_string(),
        "excluded": snap.excluded,
        "skipped": snap.skipped,
        "owners_kept": snap.owners_kept,
        "verified": true,
        "replaced": exists,
    });
    merge(&mut data, counts);
    Ok(Outcome::new(
        true,
        format!(
            "copied {} to {} ({} entries, {} bytes, verified)",
            root.display(),
            dest.display(),
            c.entries,
            c.bytes
        ),
        data,
    ))
}

/// An absolute, symlink-resolved form of a path that may not exist yet.
fn absolute(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let parent = absolute(&atomic::parent_dir(p))?;
    Some(parent.join(p.file_name()?))
}
