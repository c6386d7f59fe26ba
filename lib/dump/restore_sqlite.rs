//! sqlite restore: import into a temp file beside the target, check it, then rename it
//! over the target — the live file is never half-written, and a kill at any moment
//! leaves either the old file or the new one. A symlinked target is written through the
//! link (the temp file sits beside the link's target, which is what gets replaced).
//! Temp files of killed restores are swept by the next run.

use super::restore::{data_of, finish_restore, meta_counts};
use super::restore_feed::{client_error_text, stream_into};
use super::stored::Stored;
use super::RestoreOptions;
use crate::atomic;
use crate::backup_set::compare_row_counts;
use crate::db::{self, Driver, Role, Session, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::exec::{Cmd, Input};
use crate::report::data::dump::RestoreData;
use crate::report::{Ctx, Outcome, PlanItem};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Marks a restore's temp file: `.<name>.dfkit-restore.<pid>` (plus sqlite's
/// `-journal`/`-wal`/`-shm` beside it).
const TMP_MARK: &str = ".dfkit-restore.";

const MAINTENANCE_HINT: &str = "another process is writing the database: put DreamFactory in \
maintenance mode (php artisan down) and stop its queue workers and cron jobs, then run the restore again";

/// The file to replace: the target itself, or what its symlink points to.
fn real_target(target: &Path) -> Result<PathBuf> {
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(target).map_err(|e| {
            Error::new(
                ErrorKind::CannotCreate,
                format!(
                    "{} is a symlink whose target cannot be resolved: {e}",
                    target.display()
                ),
            )
            .with_hint("point the link at an existing file, or restore with --database FILE")
        }),
        _ => Ok(target.to_path_buf()),
    }
}

/// Remove temp files of restores whose process is gone.
fn sweep_dead_temps(dir: &Path, name: &str) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}{TMP_MARK}");
    for e in rd.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(pid) = digits.parse::<i32>() else {
            continue;
        };
        let tail = &rest[digits.len()..];
        if !["", "-journal", "-wal", "-shm"].contains(&tail) {
            continue;
        }
        // A zombie, or a live process younger than the file (a reused pid), wrote nothing.
        let alive = pid == std::process::id() as i32
            || e.metadata()
                .map_or(true, |md| crate::atomic::writer_alive(pid, &md));
        if !alive {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Refuse (75) while another connection holds a write lock on `file`, and fold its WAL
/// into the file so nothing committed lives only in `-wal` when it is replaced.
fn quiesce(file: &Path) -> Result<()> {
    let out = Cmd::resolved(db::find_program(Driver::Sqlite, Role::Client)?)
        .args(["-batch", "-bail", "-noheader"])
        .arg(file)
        .stdin(Input::Bytes(
            b".timeout 2000\nBEGIN IMMEDIATE;\nROLLBACK;\nPRAGMA wal_checkpoint(TRUNCATE);\n"
                .to_vec(),
        ))
        .timeout(Duration::from_secs(30))
        .run()?;
    let text = out.combined().to_ascii_lowercase();
    let busy = out
        .stdout_str()
        .lines()
        .last()
        .is_some_and(|l| l.trim().starts_with("1|"));
    if text.contains("locked") || text.contains("busy") || busy {
        return Err(Error::new(
            ErrorKind::Temporary,
            format!(
                "{} is locked by another connection (a write transaction is open); not replacing it",
                file.display()
            ),
        )
        .with_hint(MAINTENANCE_HINT));
    }
    if !out.success() {
        return Err(db::classify(
            &Settings {
                driver: Driver::Sqlite,
                host: String::new(),
                port: 0,
                database: file.to_string_lossy().into_owned(),
                username: String::new(),
                password: String::new(),
                socket: None,
                warnings: vec![],
            },
            &out,
        ));
    }
    Ok(())
}

/// Removes the temp file and its journal unless disarmed.
struct Rm(Option<PathBuf>);

impl Drop for Rm {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(&p);
            let mut j = p.into_os_string();
            j.push("-journal");
            let _ = std::fs::remove_file(j);
        }
    }
}

pub(super) fn restore_sqlite(
    ctx: &Ctx,
    o: &RestoreOptions,
    settings: &Settings,
    st: &Stored,
    sha: &str,
) -> Result<Outcome> {
    let link = PathBuf::from(&settings.database);
    let target = real_target(&link)?;
    let mut existing = 0;
    let exists = target.is_file();
    if exists {
        let s = Session::open(settings)?;
        existing = s.tables()?.len();
        if existing > 0 && !o.replace {
            return Err(Error::new(
                ErrorKind::CannotCreate,
                format!(
                    "{} is not empty ({existing} tables); not restoring over it",
                    link.display()
                ),
            )
            .with_hint("pass --replace to replace it, or --database FILE for another file"));
        }
    }
    let dir = atomic::parent_dir(&target);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "database.sqlite".into());
    let tmp = dir.join(format!(".{name}{TMP_MARK}{}", std::process::id()));
    let client = Cmd::resolved(db::find_program(Driver::Sqlite, Role::Client)?)
        .args(["-batch", "-bail"])
        .arg(&tmp);
    if ctx.dry_run() {
        let tmp_s = tmp.to_string_lossy().into_owned();
        let plan = vec![
            PlanItem::run(
                client.display(),
                format!(
                    "import {} into a temp file beside the target, then check its row counts",
                    st.path.display()
                ),
            ),
            PlanItem::on_path(
                "rename",
                target.to_string_lossy().into_owned(),
                format!(
                    "{tmp_s} over it (owner and mode kept){}",
                    if exists {
                        ", after checking no writer holds it"
                    } else {
                        ""
                    }
                ),
            ),
        ];
        let data = RestoreData {
            plan: Some(plan),
            ..data_of(settings, st, sha, existing)
        };
        return Ok(Outcome::typed(
            true,
            format!(
                "would restore {} into {}",
                st.path.display(),
                link.display()
            ),
            &data,
        ));
    }
    if exists {
        // Fail before the import, not after it, when a writer is busy.
        quiesce(&target)?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    sweep_dead_temps(&dir, &name);
    let _ = std::fs::remove_file(&tmp);
    let mut guard = Rm(Some(tmp.clone()));
    let mut data = data_of(settings, st, sha, existing);
    let fed = stream_into(ctx, &client, st, b"")?;
    if let Some(e) = fed.withheld {
        let msg = format!("{}; {} left unchanged", e.message, link.display());
        let mut err = Error::new(e.kind, msg);
        err.hint = e.hint;
        return Err(err.with_data(serde_json::to_value(&data).unwrap_or_default()));
    }
    if !fed.out.success() {
        return Err(Error::step(format!(
            "sqlite3 import into {} failed ({}): {}; {} left unchanged",
            tmp.display(),
            fed.out.status_text(),
            client_error_text(&fed.out),
            link.display()
        ))
        .with_data(serde_json::to_value(&data).unwrap_or_default()));
    }
    let tmp_settings = settings.with_database(&tmp.to_string_lossy(), &o.root);
    let got = Session::open(&tmp_settings)?.row_counts()?;
    let mismatches = compare_row_counts(&meta_counts(st), &got, false);
    if !mismatches.is_empty() {
        data.mismatches = mismatches;
        return Err(Error::bad_data(format!(
            "the restored copy differs in row count from the dump's meta in {} table(s); {} left unchanged",
            data.mismatches.len(),
            link.display()
        ))
        .with_data(serde_json::to_value(&data).unwrap_or_default()));
    }
    // Keep the old file's owner and mode (the web server must still write it).
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (uid, gid, mode) = match std::fs::metadata(&target) {
            Ok(m) => (m.uid(), m.gid(), m.mode() & 0o7777),
            Err(_) => {
                let m = std::fs::metadata(&dir).map_err(|e| Error::io("reading", &dir, e))?;
                (m.uid(), m.gid(), 0o660)
            }
        };
        let _ = std::os::unix::fs::chown(&tmp, Some(uid), Some(gid));
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("setting mode of", &tmp, e))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("syncing", &tmp, e))?;
    }
    if target.is_file() {
        // Again, right before the swap: a writer that started meanwhile would lose its
        // work to the rename; and the WAL is emptied so the old file is whole on its own.
        quiesce(&target)?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| Error::io("renaming into", &target, e))?;
    guard.0 = None;
    // Only now: the old WAL is empty (checkpointed), so a kill before this is harmless,
    // while removing it before the rename could have lost the old file's last commits.
    for suffix in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(dir.join(format!("{name}{suffix}")));
    }
    atomic::sync_dir(&dir)?;
    data.changed = true;
    let final_session = Session::open(settings)?;
    finish_restore(&final_session, settings, st, data)
}
