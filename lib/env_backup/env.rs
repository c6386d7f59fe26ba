//! save, show, restore-key and restore: the .env file.

use super::show::ShowView;
use super::{
    exists, install_base, missing_env, parse_named, shown, summary, summary_but_keys, sweep,
    sweep_set, Source, ENV_ARTIFACT,
};
use crate::atomic;
use crate::backup_set::env_meta::EnvMeta;
use crate::backup_set::{self, BackupSet};
use crate::envfile;
use crate::error::{Error, ErrorKind, Result};
use crate::report::data::backup_env::{
    KeyChange, PreviousEnv, RestoreData, RestoreKeyData, SaveData,
};
use crate::report::{now_rfc3339, Ctx, Outcome, PlanItem};
use crate::secret::{self, Fingerprint};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

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
    let env = parse_named(&bytes, env_path, Some(&install_base(env_path)))?;
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
    let sha = crate::checksum::sha256_hex(&bytes);
    let set_dir = match into {
        Some(d) => d.to_path_buf(),
        None => Path::new(backup_set::DEFAULT_BASE).join(backup_set::stamp()),
    };
    let dest = set_dir.join(ENV_ARTIFACT);
    let meta_path = set_dir.join(BackupSet::meta_name(ENV_ARTIFACT));
    let existing = match std::fs::read(&dest) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("reading", &dest, e)),
    };
    let same = existing.as_deref() == Some(&bytes[..]);
    // A copy without its env.meta.json is an interrupted save (the meta is written
    // last): incomplete, so this run replaces it.
    let incomplete = existing.is_some() && !same && !exists(&meta_path)?;
    if incomplete && !replace {
        ctx.warn(format!(
            "{} has no env.meta.json (an interrupted save): replacing it",
            dest.display()
        ));
    }
    if existing.is_some() && !same && !replace && !incomplete {
        return Err(Error::new(
            ErrorKind::CannotCreate,
            format!(
                "{} already holds a different .env (sha256 {})",
                dest.display(),
                crate::checksum::sha256_hex(existing.as_deref().unwrap_or_default())
            ),
        )
        .with_hint("that backup may be the one you need: save into a new set, or add --replace"));
    }
    let changed = !same || !exists(&meta_path)?;
    let mut data = SaveData {
        set: set_dir.display().to_string(),
        env: dest.display().to_string(),
        meta: meta_path.display().to_string(),
        source: env_path.display().to_string(),
        sha256: sha.clone(),
        bytes: bytes.len() as u64,
        summary: summary(&env),
        plan: None,
    };
    if ctx.dry_run() {
        let mut plan = Vec::new();
        if changed {
            if !exists(&set_dir)? {
                plan.push(PlanItem::on_path(
                    "create_set",
                    set_dir.display().to_string(),
                    "create the backup set, mode 0700",
                ));
            }
            plan.push(PlanItem::on_path(
                "write",
                dest.display().to_string(),
                format!(
                    "a byte-exact copy of {} ({} bytes), mode 0600",
                    env_path.display(),
                    bytes.len()
                ),
            ));
            plan.push(PlanItem::on_path(
                "write",
                meta_path.display().to_string(),
                "env.meta.json, mode 0600",
            ));
        }
        data.plan = Some(plan);
        let msg = if changed {
            format!("would save {} to {}", env_path.display(), dest.display())
        } else {
            format!("{} already holds this .env", dest.display())
        };
        return Ok(Outcome::typed(changed, msg, &data));
    }
    if !changed {
        return Ok(Outcome::typed(
            false,
            format!(
                "{} already holds this .env (sha256 {})",
                dest.display(),
                &sha[..12]
            ),
            &data,
        ));
    }
    let set = BackupSet::create(Some(&set_dir))?;
    sweep_set(ctx, &set.dir);
    if existing.is_some() && !same && exists(&meta_path)? {
        // The old meta goes first: a run killed from here on leaves a copy without meta
        // (incomplete, replaced by the next run), never an old meta beside a new copy.
        std::fs::remove_file(&meta_path).map_err(|e| Error::io("removing", &meta_path, e))?;
        atomic::sync_dir(&set.dir)?;
    }
    atomic::write_file(&dest, &bytes, 0o600)?;
    let meta = EnvMeta {
        artifact: ENV_ARTIFACT.into(),
        source: env_path.display().to_string(),
        saved_at: now_rfc3339(),
        sha256: sha.clone(),
        bytes: bytes.len() as u64,
        source_mode: format!("{:04o}", md.mode() & 0o7777),
        source_uid: md.uid(),
        source_gid: md.gid(),
        summary: summary(&env),
        fingerprints: env
            .variables()
            .filter(|(k, _)| secret::is_secret_key(k))
            .map(|(k, v)| (k.to_string(), Fingerprint::of(v).0))
            .collect(),
        warnings,
        dfkit_version: env!("CARGO_PKG_VERSION").into(),
    };
    set.write_meta(ENV_ARTIFACT, &meta)?;
    Ok(Outcome::typed(
        true,
        format!(
            "saved {} to {} ({} bytes, sha256 {})",
            env_path.display(),
            dest.display(),
            bytes.len(),
            &sha[..12]
        ),
        &data,
    ))
}

/// `show`: the parsed .env as JSON, secrets as fingerprints, with the warnings.
pub fn show(ctx: &Ctx, env_path: &Path, from: Option<&Path>) -> Result<Outcome> {
    let (path, bytes, cipher) = match from {
        Some(f) => {
            let src = Source::resolve(f)?;
            let (b, meta) = src.read_verified()?;
            // The cipher recorded with the copy, when the save recorded one.
            let cipher = meta
                .map(|m| m.summary.cipher)
                .filter(|c| !c.name.is_empty());
            (src.path, b, cipher)
        }
        None => (
            env_path.to_path_buf(),
            std::fs::read(env_path).map_err(|e| missing_env(env_path, e))?,
            None,
        ),
    };
    let base = match from {
        Some(_) => None,
        None => Some(install_base(env_path)),
    };
    let (sha256, size) = (crate::checksum::sha256_hex(&bytes), bytes.len());
    // The parsed file keeps the bytes (no copy of a large file).
    let mut env = parse_named(bytes, &path, base.as_deref())?;
    if let Some(c) = cipher {
        env = env.with_cipher(c);
    }
    for w in env.warnings() {
        ctx.warn(w);
    }
    let msg = format!("{}: {} variables", path.display(), env.variables().len());
    // About the JSON's size: each value and name shows up in `entries`, `vars` and `keys`.
    let hint = 3 * size + 64 * env.entries().len() + 16 * env.variables().len();
    let data = ShowView {
        env: path.display().to_string(),
        sha256,
        bytes: size as u64,
        app_key_valid: env.app_key().is_ok(),
        summary: summary_but_keys(&env),
        file: env,
    };
    // Large: a .env of 500k lines makes a report of ~50 MB.
    Ok(Outcome::typed_large(false, msg, data).with_size_hint(hint))
}

/// `restore-key --from SET|FILE [--key NAME]…`: put the old values of the keys into the
/// current .env, rewriting only their lines; nothing is written when they are equal. A
/// symlinked .env is written through (its target gets the edit; the link stays).
pub fn restore_key(ctx: &Ctx, env_path: &Path, from: &Path, keys: &[String]) -> Result<Outcome> {
    let keys: Vec<String> = if keys.is_empty() {
        vec!["APP_KEY".into()]
    } else {
        keys.to_vec()
    };
    let src = Source::resolve(from)?;
    let (src_bytes, _) = src.read_verified()?;
    let base = install_base(env_path);
    let old = parse_named(&src_bytes, &src.path, Some(&base))?;
    let bytes = std::fs::read(env_path).map_err(|e| {
        missing_env(env_path, e).with_hint(
            "restore-key edits an existing .env; to put the whole file back use `df-backup-env restore`",
        )
    })?;
    let target = atomic::write_target(env_path)?;
    let mut env = parse_named(&bytes, env_path, Some(&base))?;
    let mut report = Vec::new();
    for key in &keys {
        let Some(value) = old.get(key) else {
            return Err(
                Error::missing(format!("{} does not define {key}", src.path.display())).with_hint(
                    "name keys the backup has (df-backup-env show --from SET lists them)",
                ),
            );
        };
        let before = env.get(key).map(String::from);
        let changed = env.set(key, value)?;
        if key == "APP_KEY" {
            if let Err(why) = envfile::check_app_key_for(value, &env.cipher()) {
                ctx.warn(format!("the restored APP_KEY is malformed: {why}"));
            }
        }
        report.push(KeyChange {
            key: key.clone(),
            changed,
            line: env.entry(key).map(|e| e.line as u64),
            before: shown(key, before.as_deref()),
            after: shown(key, Some(value)),
        });
    }
    let changed = env.bytes() != &bytes[..];
    let names = keys.join(", ");
    let mut data = RestoreKeyData {
        env: env_path.display().to_string(),
        target: target.display().to_string(),
        from: src.path.display().to_string(),
        verified: src.set.is_some(),
        keys: report,
        plan: None,
    };
    if ctx.dry_run() {
        data.plan = Some(if changed {
            vec![PlanItem::on_path(
                "edit",
                target.display().to_string(),
                format!("set {names} from {} (only their lines)", src.path.display()),
            )]
        } else {
            vec![]
        });
        let msg = if changed {
            format!("would restore {names} into {}", env_path.display())
        } else {
            format!("{names} already as in the backup")
        };
        return Ok(Outcome::typed(changed, msg, &data));
    }
    sweep_beside(ctx, env_path, &target);
    if !changed {
        return Ok(Outcome::typed(
            false,
            format!(
                "{names} already as in {}; {} untouched",
                src.path.display(),
                env_path.display()
            ),
            &data,
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
        )
        .with_hint("run it again"));
    }
    atomic::replace_file(env_path, env.bytes())?;
    Ok(Outcome::typed(
        true,
        format!(
            "restored {names} into {} from {}",
            env_path.display(),
            src.path.display()
        ),
        &data,
    ))
}

/// `restore --from SET|FILE`: put the whole .env back, after verifying it. The replaced
/// .env is kept beside it as `.env.before-restore.<stamp>`. A symlinked .env is written
/// through.
pub fn restore(ctx: &Ctx, env_path: &Path, from: &Path) -> Result<Outcome> {
    let src = Source::resolve(from)?;
    let (bytes, meta) = src.read_verified()?;
    let env = parse_named(&bytes, &src.path, Some(&install_base(env_path)))?;
    for w in env.warnings() {
        ctx.warn(w);
    }
    let current = match std::fs::read(env_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("reading", env_path, e)),
    };
    let target = atomic::write_target(env_path)?;
    let sha = crate::checksum::sha256_hex(&bytes);
    let changed = current.as_deref() != Some(&bytes[..]);
    let keep = env_path.with_file_name(format!(
        "{}.before-restore.{}",
        env_path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        backup_set::stamp()
    ));
    let mut data = RestoreData {
        env: env_path.display().to_string(),
        target: target.display().to_string(),
        from: src.path.display().to_string(),
        verified: src.set.is_some(),
        sha256: sha.clone(),
        bytes: bytes.len() as u64,
        previous: None,
        summary: summary(&env),
        plan: None,
    };
    if changed {
        if let Some(cur) = &current {
            data.previous = Some(PreviousEnv {
                kept_at: keep.display().to_string(),
                sha256: crate::checksum::sha256_hex(cur),
            });
        }
    }
    if ctx.dry_run() {
        let mut plan = Vec::new();
        if changed {
            if current.is_some() {
                plan.push(PlanItem::on_path(
                    "copy",
                    keep.display().to_string(),
                    format!("keep the current {} here", env_path.display()),
                ));
            }
            plan.push(PlanItem::on_path(
                "write",
                target.display().to_string(),
                format!("{} bytes from {}", bytes.len(), src.path.display()),
            ));
        }
        data.plan = Some(plan);
        let msg = if changed {
            format!(
                "would restore {} from {}",
                env_path.display(),
                src.path.display()
            )
        } else {
            format!("{} already equals the backup", env_path.display())
        };
        return Ok(Outcome::typed(changed, msg, &data));
    }
    sweep_beside(ctx, env_path, &target);
    if !changed {
        return Ok(Outcome::typed(
            false,
            format!(
                "{} already equals {}; untouched",
                env_path.display(),
                src.path.display()
            ),
            &data,
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
            let dir = atomic::parent_dir(&target);
            let dmd = std::fs::metadata(&dir).map_err(|e| Error::io("inspecting", &dir, e))?;
            let m = meta.as_ref();
            let mode = m
                .and_then(|m| u32::from_str_radix(&m.source_mode, 8).ok())
                .unwrap_or(0o640);
            let uid = m.map(|m| m.source_uid).unwrap_or(dmd.uid());
            let gid = m.map(|m| m.source_gid).unwrap_or(dmd.gid());
            write_owned(&target, &bytes, mode, uid, gid)?;
        }
    }
    Ok(Outcome::typed(
        true,
        format!(
            "restored {} from {} (sha256 {} verified)",
            env_path.display(),
            src.path.display(),
            &sha[..12]
        ),
        &data,
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

/// A killed writer's temporaries beside the .env (and beside the file a symlinked .env
/// leads to) go even when nothing is to be written: a recovery's restore is often a
/// no-op, and it is the next writer there.
fn sweep_beside(ctx: &Ctx, env_path: &Path, target: &Path) {
    sweep(ctx, &atomic::parent_dir(env_path));
    sweep(ctx, &atomic::parent_dir(target));
}
