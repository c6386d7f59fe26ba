//! `df-migrate export`: the old instance's .env and database, with a manifest, in one
//! bundle file.

use super::Run;
use crate::backup_set::db_meta::DbMeta;
use crate::backup_set::env_meta::EnvMeta;
use crate::backup_set::BackupSet;
use crate::bundle::{self, Manifest, Member};
use crate::children::args;
use crate::error::{Error, ErrorKind, Result};
use crate::report::data::git::StatusData;
use crate::report::data::migrate::ExportData;
use crate::report::{Ctx, Outcome};
use serde_json::Value;
use std::ffi::OsString;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to export and how.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub root: PathBuf,
    /// The bundle file [default: /var/backups/dreamfactory/migrate-<stamp>.tar(.age)].
    pub into: Option<PathBuf>,
    /// age X25519 recipients (`age1…`).
    pub recipients: Vec<String>,
    pub recipients_file: Option<PathBuf>,
    pub events: Option<PathBuf>,
    pub timeout: Duration,
}

/// Export the install at `opts.root` into one bundle.
pub fn export(ctx: &Ctx, opts: &ExportOptions) -> Result<Outcome> {
    let mut recipients = Vec::new();
    for r in &opts.recipients {
        recipients.push(bundle::parse_recipient(r)?);
    }
    if let Some(f) = &opts.recipients_file {
        recipients.extend(bundle::read_recipients_file(f)?);
    }
    let encrypted = !recipients.is_empty();
    let dest = match &opts.into {
        Some(p) => p.clone(),
        None => PathBuf::from(crate::backup_set::DEFAULT_BASE).join(format!(
            "migrate-{}.tar{}",
            crate::backup_set::stamp(),
            if encrypted { ".age" } else { "" }
        )),
    };
    if !opts.root.join("artisan").is_file() {
        return Err(Error::missing(format!(
            "no DreamFactory install at {} (no artisan file)",
            opts.root.display()
        ))
        .with_hint("pass --root DIR or set DF_ROOT"));
    }
    if !ctx.dry_run() {
        // A run killed after its bundle was in place but before its private set was
        // removed left that set beside it: swept here too, before refusing below.
        crate::atomic::sweep_stale(&crate::atomic::parent_dir(&dest));
    }
    if dest.exists() {
        return Err(Error::new(
            ErrorKind::CannotCreate,
            format!("{} exists already", dest.display()),
        )
        .with_hint("remove it or name another file with --into FILE"));
    }
    let mut run = Run::new(ctx, &opts.root, opts.timeout, opts.events.as_deref())?;
    let mut data = ExportData {
        root: opts.root.display().to_string(),
        bundle: dest.display().to_string(),
        encrypted,
        recipients: recipients.len(),
        ..Default::default()
    };
    let r = export_steps(&mut run, opts, &dest, &recipients, &mut data);
    data.steps = std::mem::take(&mut run.steps);
    match r {
        Ok(msg) => {
            // A dry run would change: it reports so, as every tool does.
            let changed = true;
            run.emit(crate::events::Event::Summary {
                ok: true,
                changed,
                msg: msg.clone(),
                failed_step: None,
                set: None,
            });
            Ok(Outcome::typed(changed, msg, &data))
        }
        Err(e) => {
            run.emit(crate::events::Event::Summary {
                ok: false,
                changed: false,
                msg: e.message.clone(),
                failed_step: data
                    .steps
                    .iter()
                    .rev()
                    .find(|s| !s.ok)
                    .map(|s| s.name.clone()),
                set: None,
            });
            let v = serde_json::to_value(&data).unwrap_or(Value::Null);
            Err(e.with_data(v))
        }
    }
}

fn export_steps(
    run: &mut Run,
    opts: &ExportOptions,
    dest: &Path,
    recipients: &[age::x25519::Recipient],
    data: &mut ExportData,
) -> Result<String> {
    let dry = run.ctx.dry_run();
    // The private set: 0700, beside the bundle (same disk), swept on every exit path.
    let tmp = if dry {
        bundle::private_tempdir(&std::env::temp_dir())?
    } else {
        bundle::private_tempdir(&crate::atomic::parent_dir(dest))?
    };
    let set_dir = tmp.path().join("set");
    let into = || vec![OsString::from("--into"), set_dir.clone().into_os_string()];
    let mut a = args(["save"]);
    a.extend(into());
    run.child::<Value>("save", "df-backup-env", a)?;
    let mut a = args(["dump"]);
    a.extend(into());
    run.child::<Value>("dump", "df-dump-db", a)?;
    // The commit and version: a checkout that is not git still exports (null commit).
    let status = run
        .children
        .with_dry_run(false)
        .run::<StatusData>("df-git-update", &args(["status"]));
    let status = match status {
        Ok(s) if s.ok() => s.report.data,
        Ok(s) => {
            run.ctx.warn(format!(
                "df-git-update status: {} (the manifest names no commit)",
                s.report.msg
            ));
            StatusData::default()
        }
        Err(e) => {
            run.ctx.warn(format!("df-git-update status: {}", e.message));
            StatusData::default()
        }
    };
    if dry {
        return Ok(format!(
            "would export {} into {}{}; nothing changed",
            opts.root.display(),
            dest.display(),
            if recipients.is_empty() {
                String::new()
            } else {
                format!(", encrypted for {} recipient(s)", recipients.len())
            }
        ));
    }
    let set = BackupSet::open(&set_dir)?;
    let env = set.read_meta::<EnvMeta>("env")?.summary;
    let dump: DbMeta = set.read_meta("db.sql")?;
    let mut members = Vec::new();
    for name in [
        "env",
        "env.meta.json",
        dump.artifact.as_str(),
        "db.meta.json",
    ] {
        let p = set.path(name);
        let (sha256, bytes) =
            crate::checksum::sha256_file(&p).map_err(|e| Error::io("reading", &p, e))?;
        members.push(Member {
            name: name.to_string(),
            sha256,
            bytes,
        });
    }
    let tool_versions = run
        .steps
        .iter()
        .filter_map(|s| s.report.as_ref())
        .filter_map(|r| {
            Some((
                r["tool"].as_str()?.to_string(),
                r["version"].as_str()?.to_string(),
            ))
        })
        .chain([(
            run.ctx.tool.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )])
        .collect();
    let manifest = Manifest {
        format: bundle::FORMAT.into(),
        created_at: crate::report::now_rfc3339(),
        host: crate::lock::hostname(),
        root: opts.root.display().to_string(),
        driver: match dump.driver {
            Some(d) => d.as_str().to_string(),
            None => env.db_connection.clone().unwrap_or_default(),
        },
        df_version: status.version.clone(),
        commit: Some(status.head.clone()).filter(|h| !h.is_empty()),
        app_key_fingerprint: env.app_key_fingerprint.clone(),
        env_keys: env.keys.clone(),
        row_counts: dump.row_counts.clone().unwrap_or_default(),
        dump: dump.artifact.clone(),
        members,
        tool_versions,
    };
    data.manifest = Some(manifest.clone());
    run.own("pack", |_| {
        let bytes = if recipients.is_empty() {
            let mut out = crate::atomic::AtomicFile::create(dest, 0o600)?;
            let n = bundle::write_tar(&set.dir, &manifest, &mut out)?;
            out.commit()?;
            n
        } else {
            let plain = tmp.path().join("bundle.tar");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&plain)
                .map_err(|e| Error::io("creating", &plain, e))?;
            let n = bundle::write_tar(&set.dir, &manifest, std::io::BufWriter::new(f))?;
            bundle::encrypt(&plain, dest, recipients)?;
            n
        };
        let msg = format!(
            "{} members, {bytes} bytes of tar{}",
            manifest.members.len() + 2,
            if recipients.is_empty() {
                String::new()
            } else {
                format!(", encrypted for {} age recipient(s)", recipients.len())
            }
        );
        Ok(((), true, msg))
    })?;
    let (sha256, bytes) =
        crate::checksum::sha256_file(dest).map_err(|e| Error::io("reading", dest, e))?;
    data.sha256 = sha256.clone();
    data.bytes = bytes;
    Ok(format!(
        "exported {} ({} {}, {} tables, APP_KEY {}) into {} ({bytes} bytes, sha256 {}){}",
        opts.root.display(),
        manifest.driver,
        manifest.df_version.as_deref().unwrap_or("?"),
        manifest.row_counts.len(),
        manifest.app_key_fingerprint.as_deref().unwrap_or("?"),
        dest.display(),
        &sha256[..12],
        if recipients.is_empty() {
            ""
        } else {
            ", encrypted"
        }
    ))
}
