//! `df-dump-db dump` for the streamed drivers (mysql, pgsql, sqlite).
//!
//! The dump program runs through [`crate::exec`] in its own process group, with a
//! deadline (`--timeout`): its stdout streams through the filter and the row counters
//! into the compressor and the artifact's temp file; a stuck program or a grandchild
//! holding the pipe is killed with its group. The artifact appears under its name only
//! when the program exited 0, its trailer is there and the counts were read.

use super::codec::{HashWriter, Sink, ARTIFACTS};
use super::counts::CopyCounter;
use super::errtext;
use super::filter::DumpFilter;
use super::mysql_counts::InsertCounter;
use super::phases::Phases;
use super::proc::{grow_pipe, recorded_argv};
use super::sqlite_counts;
use super::sqlsrv::dump_sqlsrv;
use super::sweep;
use super::trailer::{trailer_name, trailer_ok, Tail};
use super::DumpOptions;
use crate::atomic::AtomicFile;
use crate::backup_set::db_meta::{DbMeta, DB_META};
use crate::backup_set::BackupSet;
use crate::db::{self, Driver, Role, Session, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::exec::{Cmd, Input};
use crate::progress::{Progress, Unit};
use crate::report::data::dump::DumpData;
use crate::report::{now_rfc3339, Ctx, Outcome};
use std::io::Read;
use std::path::{Path, PathBuf};

/// mariadb-dump's `--max-allowed-packet`: the largest row it can fetch. Its own default
/// (16 MiB) fails on rows the server holds happily (the server's limit is what
/// counts); 1 GiB is the protocol's maximum.
pub(super) const MYSQL_MAX_ALLOWED_PACKET: u64 = 1 << 30;

/// The set directory a dump goes to: `--into`, or a new stamped one.
pub(super) fn set_dir(o: &DumpOptions) -> PathBuf {
    o.into.clone().unwrap_or_else(|| {
        PathBuf::from(crate::backup_set::DEFAULT_BASE).join(crate::backup_set::stamp())
    })
}

/// Refuse (73) to replace a dump the set already holds, unless `--replace`: a re-run
/// with a fixed set name must not destroy the pre-upgrade backup. Returns whether one
/// is there (and will be replaced).
pub(super) fn check_existing(dir: &Path, replace: bool) -> Result<bool> {
    let mut found = None;
    for name in ARTIFACTS.iter().copied().chain([DB_META]) {
        let p = dir.join(name);
        match std::fs::symlink_metadata(&p) {
            Ok(_) => {
                found = Some(p);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => break,
            Err(e) => return Err(Error::io("checking", &p, e)),
        }
    }
    let Some(p) = found else {
        return Ok(false);
    };
    // The meta is written last: an artifact without it is an interrupted dump
    // (incomplete, unusable for a restore), which this run replaces.
    if replace || !dir.join(DB_META).exists() {
        return Ok(true);
    }
    let when = std::fs::read(dir.join(DB_META))
        .ok()
        .and_then(|b| serde_json::from_slice::<DbMeta>(&b).ok())
        .map(|m| format!(" (taken {})", m.created_at))
        .unwrap_or_default();
    Err(Error::new(
        ErrorKind::CannotCreate,
        format!(
            "{} already holds a database dump{when} ({}); not replacing it",
            dir.display(),
            p.display()
        ),
    )
    .with_hint("pass --replace to replace it, or --into a new set directory"))
}

/// The dump command for a driver (sqlsrv is handled apart: it is not a stream).
pub(super) fn dump_command(session: &Session) -> Result<Cmd> {
    let cmd = session.command(Role::Dump)?;
    Ok(match session.settings.driver {
        // No --hex-blob: it doubles every binary value, so a 10 MB BLOB became a 20 MB
        // statement that a server with the default 16 MB max_allowed_packet refuses,
        // where a plain mariadb-dump (binary values escaped, ~1.02×) restores. The dump
        // is thus bytes, not UTF-8 text: every stage after it (filter, counters,
        // trailer, error text) works on bytes. The longest statement is still recorded
        // (max_statement_bytes) for the restore to check against the server's limit.
        Driver::Mysql => cmd
            .args([
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "--no-tablespaces",
                "--default-character-set=utf8mb4",
            ])
            .arg(format!("--max-allowed-packet={MYSQL_MAX_ALLOWED_PACKET}"))
            .arg(session.database_arg()),
        // --no-owner/--no-privileges: the dump restores as whichever user the new
        // instance's .env names, into a database of any name.
        Driver::Pgsql => cmd
            .args(["-F", "p", "--no-owner", "--no-privileges"])
            .arg(session.database_arg()),
        // `.dump` inside BEGIN IMMEDIATE (see sqlite_counts): one consistent snapshot,
        // writers held off; never a raw copy of a live (WAL) file. The path is made
        // absolute: the program runs in the set directory.
        Driver::Sqlite => cmd.arg("-bail").arg(
            std::path::absolute(&session.settings.database)
                .unwrap_or_else(|_| PathBuf::from(&session.settings.database)),
        ),
        Driver::Sqlsrv => unreachable!("sqlsrv dumps through BACKUP DATABASE"),
    })
}

/// Removes a file when dropped (the sqlite counts file, whatever happens).
struct RmOnDrop(PathBuf);

impl Drop for RmOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Where the row counts come from, per driver.
enum Counter {
    Copy(CopyCounter),
    Inserts(InsertCounter),
    Sqlite(RmOnDrop),
}

/// `df-dump-db dump`.
pub fn dump(ctx: &Ctx, o: &DumpOptions) -> Result<Outcome> {
    let mut phases = Phases::from_env("DFKIT_DUMP_PHASES", "df-dump-db phases");
    let settings = Settings::load(&o.root, o.env.as_deref())?;
    for w in &settings.warnings {
        ctx.warn(w.clone());
    }
    let session = Session::open(&settings)?;
    if settings.driver == Driver::Sqlsrv {
        return dump_sqlsrv(ctx, o, &session);
    }
    if settings.driver == Driver::Sqlite && !Path::new(&settings.database).is_file() {
        return Err(
            Error::missing(format!("no SQLite database at {}", settings.database))
                .with_hint("check DB_DATABASE / DF_SQLITE_STORAGE in .env"),
        );
    }
    let dir = set_dir(o);
    let replaced = check_existing(&dir, o.replace)?;
    if replaced && !o.replace {
        ctx.warn(format!(
            "{} holds a dump without {DB_META} (an interrupted dump): replacing it",
            dir.display()
        ));
    }
    let cmd = dump_command(&session)?;
    let argv = recorded_argv(&cmd, &session);
    let artifact = o.compress.artifact();
    let driver = settings.driver;
    if ctx.dry_run() {
        let shown = o
            .into
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::backup_set::DEFAULT_BASE).join("<stamp>"));
        let dest = shown.join(artifact);
        let data = DumpData {
            meta: DbMeta {
                artifact: artifact.to_string(),
                driver: Some(driver),
                database: db_label(&settings),
                host: host_label(&settings),
                dump_program: cmd.program().to_path_buf(),
                dump_argv: argv.clone(),
                compression: o.compress.as_str().to_string(),
                portable: o.portable,
                ..DbMeta::default()
            },
            replaced,
            plan: super::dump_plan(argv.join(" "), &dest, o.compress.as_str(), o.portable),
            ..DumpData::default()
        };
        return Ok(Outcome::typed(
            true,
            format!("would dump {} into {}", settings.describe(), dest.display()),
            &data,
        ));
    }
    phases.mark("setup");

    let mut cmd = cmd.pipe_stdout();
    if let Some(t) = o.timeout {
        cmd = cmd.timeout(t);
    }
    // sqlite is local and cheap: check it and create the set first, so the counts
    // file can live there.
    let mut early = None;
    let mut counter = match driver {
        Driver::Sqlite => {
            // The version and the tables in one sqlite3 run.
            let survey = session.survey()?;
            let (version, tables) = (survey.version, survey.tables);
            let set = BackupSet::create(Some(&dir))?;
            sweep::sweep_around(&set.dir);
            let name = sqlite_counts::counts_file_name();
            let guard = RmOnDrop(set.path(&name));
            cmd = cmd
                .current_dir(&set.dir)
                .stdin(Input::Bytes(sqlite_counts::script(&tables, &name)));
            early = Some((version, set));
            Counter::Sqlite(guard)
        }
        Driver::Pgsql => Counter::Copy(CopyCounter::new()),
        _ => Counter::Inserts(InsertCounter::new()),
    };
    let mut running = cmd.start()?;
    let mut out = running.take_stdout().expect("stdout piped");
    {
        use std::os::fd::AsRawFd;
        grow_pipe(out.as_raw_fd());
    }
    phases.mark("spawn");

    // Servers: the dump program connects and starts while we check that the server is
    // there and takes our credentials. Nothing is written before the check passes (the
    // pipe holds what the program writes meanwhile); a failed check drops `running`,
    // which kills the program's group.
    let (server_version, set) = match early {
        Some(x) => x,
        None => {
            let v = session.ping()?;
            let set = BackupSet::create(Some(&dir))?;
            sweep::sweep_around(&set.dir);
            (v, set)
        }
    };
    phases.mark("ping");
    let dest = set.path(artifact);
    ctx.log(format!(
        "dumping {} into {}",
        settings.describe(),
        dest.display()
    ));
    phases.mark("set");

    let file = AtomicFile::create(&dest, 0o600)?;
    let mut sink = Sink::new(o.compress, HashWriter::new(file))
        .map_err(|e| Error::io("starting compression of", &dest, e))?;
    let mut tail = Tail::new(8192);
    let mut raw_bytes: u64 = 0;
    let mut filter = DumpFilter::new(o.portable, driver == Driver::Mysql);
    let filtering = o.portable || driver == Driver::Mysql;
    let mut filtered: Vec<u8> = Vec::with_capacity(512 << 10);
    let mut buf = vec![0u8; 256 << 10];
    let mut progress = Progress::new(ctx, format!("dumping {}", settings.describe()), Unit::Bytes);
    let mut io_err: Option<Error> = None;
    loop {
        let n = match out.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                io_err = Some(Error::io("reading the dump from", cmd.program(), e));
                break;
            }
        };
        raw_bytes += n as u64;
        match &mut counter {
            Counter::Copy(c) => c.feed(&buf[..n]),
            Counter::Inserts(c) => c.feed(&buf[..n]),
            Counter::Sqlite(_) => {}
        }
        // Only mysql dumps (and --portable) need rewriting; others go straight through.
        let chunk: &[u8] = if filtering {
            filtered.clear();
            filter.feed(&buf[..n], &mut filtered);
            &filtered
        } else {
            filter.bytes_out += n as u64;
            &buf[..n]
        };
        tail.push(chunk);
        if let Err(e) = sink.write_all(chunk) {
            io_err = Some(Error::io("writing", &dest, e));
            break;
        }
        progress.set(raw_bytes);
    }
    if io_err.is_none() {
        filtered.clear();
        filter.finish(&mut filtered);
        tail.push(&filtered);
        if let Err(e) = sink.write_all(&filtered) {
            io_err = Some(Error::io("writing", &dest, e));
        }
    }
    progress.finish();
    phases.mark("stream");
    let sandbox_line = filter.sandbox_line;
    let written_bytes = filter.bytes_out;
    if io_err.is_some() {
        running.kill();
    }
    drop(out);
    let output = running.finish()?;
    phases.mark("wait");
    if let Some(e) = io_err {
        return Err(e.context("dump not written"));
    }
    let program = cmd.program().display().to_string();
    if output.timed_out {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "{program} did not finish within --timeout {}; it was killed, no dump written",
                humantime::format_duration(o.timeout.unwrap_or_default())
            ),
        )
        .with_hint(
            "a larger database needs a longer --timeout; check the server is not stuck on a lock",
        ));
    }
    if !output.success() {
        return Err(program_failed(&settings, &program, &output));
    }
    if raw_bytes == 0 {
        return Err(Error::step(format!(
            "{program} wrote nothing; no dump written"
        )));
    }
    if !trailer_ok(driver, &tail.buf) {
        return Err(Error::step(format!(
            "{program} exited 0 but its output lacks the completion trailer ({}); the dump is incomplete, none written",
            trailer_name(driver)
        )));
    }
    let (row_counts, source, max_statement) = match counter {
        Counter::Copy(c) => (
            c.finish().ok_or_else(|| {
                Error::step(format!(
                    "{program} ended inside a COPY block; the dump is incomplete, none written"
                ))
            })?,
            "dump",
            None,
        ),
        Counter::Inserts(c) => {
            let max = Some(c.max_statement);
            match c.finish() {
                Some(counts) => (counts, "dump", max),
                None => {
                    // Should not happen with the options we pass; counted apart then.
                    ctx.warn(
                        "the dump holds INSERT statements dfkit cannot count; row counts                          come from COUNT(*) queries after the dump and may differ under                          live writes",
                    );
                    (session.row_counts()?, "query", max)
                }
            }
        }
        Counter::Sqlite(guard) => {
            let (counts, uncounted) = sqlite_counts::read_counts(&guard.0)?;
            if !uncounted.is_empty() {
                ctx.warn(format!(
                    "table(s) created while the dump started are dumped but not counted: {}",
                    uncounted.join(", ")
                ));
            }
            (counts, "dump", None)
        }
    };
    phases.mark("counts");
    let hw = sink
        .finish()
        .map_err(|e| Error::io("finishing compression of", &dest, e))?;
    let (file, sha256, bytes) = hw.into_parts();
    phases.mark("finish");
    if replaced {
        // The old meta goes first: a run killed from here on leaves a dump without meta
        // (incomplete, replaced by the next run), never an old meta beside a new dump.
        let _ = std::fs::remove_file(set.path(DB_META));
    }
    file.commit()?;
    phases.mark("fsync");
    // One dump per set: an older artifact in another compression would mislead.
    for a in ARTIFACTS {
        if a != artifact {
            let _ = std::fs::remove_file(set.path(a));
        }
    }
    if sandbox_line && !o.portable {
        ctx.warn(
            "the dump starts with MariaDB's sandbox-mode line, which MySQL clients reject; \
             use --portable to restore into MySQL",
        );
    }
    let tables = row_counts.len();
    let meta = DbMeta {
        artifact: artifact.to_string(),
        driver: Some(driver),
        database: db_label(&settings),
        host: host_label(&settings),
        server_version: Some(server_version),
        dump_program: cmd.program().to_path_buf(),
        dump_argv: argv,
        sha256,
        bytes,
        uncompressed_bytes: written_bytes,
        compression: o.compress.as_str().to_string(),
        portable: o.portable,
        sandbox_line: Some(
            if !sandbox_line {
                "absent"
            } else if o.portable {
                "stripped"
            } else {
                "present"
            }
            .to_string(),
        ),
        definers_removed: Some(filter.definers_removed),
        max_allowed_packet: (driver == Driver::Mysql).then_some(MYSQL_MAX_ALLOWED_PACKET),
        max_statement_bytes: max_statement,
        trailer_verified: true,
        tables: Some(tables as u64),
        row_counts: Some(row_counts),
        row_counts_source: Some(source.to_string()),
        created_at: now_rfc3339(),
        dfkit_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let mut data = DumpData {
        meta,
        set: Some(set.dir.clone()),
        path: Some(dest.clone()),
        meta_path: None,
        replaced,
        plan: Vec::new(),
        changed: None,
    };
    data.meta_path = Some(write_meta(&set, &data)?);
    phases.mark("meta");
    Ok(Outcome::typed(
        true,
        format!(
            "dumped {} ({} tables, {} bytes {}) into {}",
            settings.describe(),
            tables,
            bytes,
            o.compress.as_str(),
            dest.display()
        ),
        &data,
    ))
}

/// Write the set's db.meta.json. The artifact is already in place, so a failure here
/// (a full disk) reports `changed: true`, names the meta's final path (not the temp
/// file's) and carries what was dumped.
pub(super) fn write_meta(set: &BackupSet, data: &DumpData) -> Result<PathBuf> {
    set.write_meta(&data.meta.artifact, &data.meta)
        .map_err(|e| {
            let cause = e.chain.last().cloned().unwrap_or_else(|| e.message.clone());
            let partial = serde_json::to_value(DumpData {
                changed: Some(true),
                ..data.clone()
            })
            .unwrap_or_default();
            Error::new(
                e.kind,
                format!(
                    "the dump was written to {}, but writing {} failed: {cause}",
                    set.path(&data.meta.artifact).display(),
                    set.path(DB_META).display()
                ),
            )
            .with_hint(
                "without db.meta.json the dump cannot be verified or restored: free space \
                 in the set's filesystem, then dump again with --replace",
            )
            .with_data(partial)
        })
}

/// The dump program failed: its kind (credentials 78, unreachable 69, a held lock 75,
/// else 1) and its last words, without any row data.
fn program_failed(settings: &Settings, program: &str, output: &crate::exec::Output) -> Error {
    let e = db::classify(settings, output);
    let said = errtext::clean(&output.tail(5));
    let locked =
        settings.driver == Driver::Sqlite && output.stderr_str().contains("database is locked");
    let (kind, hint) = if locked {
        (
            ErrorKind::Temporary,
            Some(
                "another process holds a write transaction on the database; retry, or put \
                 DreamFactory in maintenance mode (php artisan down) during the dump"
                    .to_string(),
            ),
        )
    } else {
        (e.kind, e.hint)
    };
    let err = Error::new(
        kind,
        format!(
            "{program} failed ({}); no dump written: {said}",
            output.status_text()
        ),
    );
    match hint {
        Some(h) if !h.is_empty() => err.with_hint(h),
        _ => err,
    }
}

pub(super) fn db_label(s: &Settings) -> String {
    s.database.clone()
}

pub(super) fn host_label(s: &Settings) -> Option<String> {
    match s.driver {
        Driver::Sqlite => None,
        _ => Some(
            s.socket
                .clone()
                .unwrap_or_else(|| format!("{}:{}", s.host, s.port)),
        ),
    }
}
