//! `df-dump-db dump` for the streamed drivers (mysql, pgsql, sqlite).

use super::codec::{HashWriter, Sink, ARTIFACTS};
use super::counts::CopyCounter;
use super::filter::DumpFilter;
use super::proc::{grow_pipe, read_stderr_thread, recorded_argv, DumpChild, Joined};
use super::sqlsrv::dump_sqlsrv;
use super::trailer::{trailer_name, trailer_ok, Tail};
use super::DumpOptions;
use crate::atomic::AtomicFile;
use crate::backup_set::db_meta::DbMeta;
use crate::backup_set::BackupSet;
use crate::db::{self, Driver, Role, Session, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::exec::Cmd;
use crate::report::data::dump::{DumpData, DumpPlan};
use crate::report::{now_rfc3339, Ctx, Outcome};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Remove temp files a killed earlier run left in the set (their pid is gone).
pub(super) fn clean_stale_temps(set: &BackupSet) {
    let Ok(rd) = std::fs::read_dir(&set.dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = ARTIFACTS
            .iter()
            .find_map(|a| name.strip_prefix(&format!(".{a}.dfkit-tmp.")))
        else {
            continue;
        };
        let pid: Option<i32> = rest.split('.').next().and_then(|p| p.parse().ok());
        if let Some(pid) = pid {
            let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
            if !alive {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The dump command for a driver (sqlsrv is handled apart: it is not a stream).
pub(super) fn dump_command(session: &Session) -> Result<(Cmd, Option<Vec<u8>>)> {
    let cmd = session.command(Role::Dump)?;
    Ok(match session.settings.driver {
        Driver::Mysql => (
            cmd.args([
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "--hex-blob",
                "--no-tablespaces",
                "--default-character-set=utf8mb4",
            ])
            .arg(session.database_arg()),
            None,
        ),
        // --no-owner/--no-privileges: the dump restores as whichever user the new
        // instance's .env names, into a database of any name.
        Driver::Pgsql => (
            cmd.args(["-F", "p", "--no-owner", "--no-privileges"])
                .arg(session.database_arg()),
            None,
        ),
        // `.dump` inside BEGIN IMMEDIATE: one consistent snapshot, writers held off;
        // never a raw copy of a live (WAL) file.
        Driver::Sqlite => (
            cmd.arg("-bail").arg(&session.settings.database),
            Some(b".timeout 10000\nBEGIN IMMEDIATE;\n.dump\nROLLBACK;\n".to_vec()),
        ),
        Driver::Sqlsrv => unreachable!("sqlsrv dumps through BACKUP DATABASE"),
    })
}

/// Per-phase wall times, printed to stderr when `DFKIT_DUMP_PHASES` is set (for
/// scripts/bench/dump.sh; even under --quiet, never on stdout).
pub(super) struct Phases {
    on: bool,
    last: std::time::Instant,
    marks: Vec<(&'static str, u128)>,
}

impl Phases {
    fn new() -> Phases {
        Phases {
            on: std::env::var_os("DFKIT_DUMP_PHASES").is_some(),
            last: std::time::Instant::now(),
            marks: Vec::new(),
        }
    }
    fn mark(&mut self, name: &'static str) {
        if self.on {
            let now = std::time::Instant::now();
            self.marks.push((name, (now - self.last).as_micros()));
            self.last = now;
        }
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        if self.on {
            let parts: Vec<String> = self
                .marks
                .iter()
                .map(|(n, us)| format!("{n}={:.1}ms", *us as f64 / 1000.0))
                .collect();
            eprintln!("df-dump-db phases: {}", parts.join(" "));
        }
    }
}

/// `df-dump-db dump`.
pub fn dump(ctx: &Ctx, o: &DumpOptions) -> Result<Outcome> {
    let mut phases = Phases::new();
    let settings = Settings::load(&o.root, o.env.as_deref())?;
    for w in &settings.warnings {
        ctx.warn(w.clone());
    }
    // Shared with the row-count thread (one credential file).
    let session = std::sync::Arc::new(Session::open(&settings)?);
    if settings.driver == Driver::Sqlsrv {
        return dump_sqlsrv(ctx, o, &session);
    }
    if settings.driver == Driver::Sqlite && !Path::new(&settings.database).is_file() {
        return Err(
            Error::missing(format!("no SQLite database at {}", settings.database))
                .with_hint("check DB_DATABASE / DF_SQLITE_STORAGE in .env"),
        );
    }
    let (cmd, stdin_script) = dump_command(&session)?;
    let argv = recorded_argv(&cmd, &session);
    let artifact = o.compress.artifact();
    if ctx.dry_run() {
        let dest = o
            .into
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::backup_set::DEFAULT_BASE).join("<stamp>"))
            .join(artifact);
        let data = DumpData {
            meta: DbMeta {
                artifact: artifact.to_string(),
                driver: Some(settings.driver),
                database: db_label(&settings),
                host: host_label(&settings),
                dump_program: cmd.program().to_path_buf(),
                dump_argv: argv.clone(),
                compression: o.compress.as_str().to_string(),
                portable: o.portable,
                ..DbMeta::default()
            },
            plan: Some(DumpPlan {
                commands: vec![argv.join(" ")],
                artifact: dest.clone(),
                compression: o.compress.as_str().to_string(),
                portable: o.portable,
            }),
            ..DumpData::default()
        };
        return Ok(Outcome::typed(
            true,
            format!("would dump {} into {}", settings.describe(), dest.display()),
            &data,
        ));
    }

    phases.mark("setup");
    let driver = settings.driver;
    // sqlite is local and cheap: check and count first (the dump holds BEGIN IMMEDIATE).
    let sqlite_pre = if driver == Driver::Sqlite {
        Some((session.ping()?, session.row_counts()?))
    } else {
        None
    };

    let mut cmd = cmd;
    let script_file;
    if let Some(script) = stdin_script {
        // Fed from a file: sqlite3 reads its commands from stdin.
        let mut f = tempfile::NamedTempFile::new()
            .map_err(|e| Error::io("creating", Path::new("sqlite3 script"), e))?;
        f.write_all(&script)
            .map_err(|e| Error::io("writing", f.path(), e))?;
        cmd = cmd.stdin(crate::exec::Input::File(f.path().to_path_buf()));
        script_file = Some(f);
    } else {
        script_file = None;
    }
    let mut child = DumpChild(cmd.spawn_with_stdout(Stdio::piped())?, false);
    let mut out = child.0.stdout.take().expect("piped stdout");
    {
        use std::os::fd::AsRawFd;
        grow_pipe(out.as_raw_fd());
    }
    let err_reader = read_stderr_thread(child.0.stderr.take());
    phases.mark("spawn");

    // Servers: the dump program connects and starts while we check that the server is
    // there and takes our credentials. Nothing is written before the check passes (the
    // pipe holds what the program writes meanwhile); a failed check kills the program.
    let server_version = match &sqlite_pre {
        Some((v, _)) => v.clone(),
        None => session.ping()?,
    };
    phases.mark("ping");
    // Row counts: pgsql from the dump stream itself (the very snapshot dumped); mysql
    // from a second connection counting while the dump runs (about the same moment —
    // mariadb-dump's snapshot cannot be shared).
    let counts_thread = (driver == Driver::Mysql).then(|| {
        let s = std::sync::Arc::clone(&session);
        Joined(Some(std::thread::spawn(move || s.row_counts())))
    });
    let mut copy_counter = (driver == Driver::Pgsql).then(CopyCounter::new);

    let set = BackupSet::create(o.into.as_deref())?;
    clean_stale_temps(&set);
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
    let mut filter = DumpFilter::new(o.portable, settings.driver == Driver::Mysql);
    let filtering = o.portable || settings.driver == Driver::Mysql;
    let mut filtered: Vec<u8> = Vec::with_capacity(512 << 10);
    let mut buf = vec![0u8; 256 << 10];
    let progress = ctx.progress_enabled();
    let mut next_progress = 64u64 << 20;
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
        if let Some(c) = &mut copy_counter {
            c.feed(&buf[..n]);
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
        if progress && raw_bytes >= next_progress {
            ctx.log(format!("{} MiB dumped", raw_bytes >> 20));
            next_progress += 64 << 20;
        }
    }
    if io_err.is_none() {
        filtered.clear();
        filter.finish(&mut filtered);
        tail.push(&filtered);
        if let Err(e) = sink.write_all(&filtered) {
            io_err = Some(Error::io("writing", &dest, e));
        }
    }
    phases.mark("stream");
    let sandbox_line = filter.sandbox_line;
    let written_bytes = filter.bytes_out;
    if io_err.is_some() {
        let _ = child.0.kill();
    }
    drop(out);
    let status = child
        .wait()
        .map_err(|e| Error::io("waiting for", cmd.program(), e))?;
    drop(script_file);
    let stderr = err_reader.join().unwrap_or_default();
    phases.mark("wait");
    if let Some(e) = io_err {
        return Err(e.context("dump not written"));
    }
    use std::os::unix::process::ExitStatusExt;
    let output = crate::exec::Output {
        code: status.code(),
        signal: status.signal(),
        stdout: Vec::new(),
        stderr,
        duration: Default::default(),
        timed_out: false,
    };
    if !output.success() {
        let e = db::classify(&settings, &output);
        let kind = if e.kind == ErrorKind::StepFailed {
            ErrorKind::StepFailed
        } else {
            e.kind
        };
        return Err(Error::new(
            kind,
            format!(
                "{} failed ({}); no dump written: {}",
                cmd.program().display(),
                output.status_text(),
                output.tail(5)
            ),
        )
        .with_hint(e.hint.unwrap_or_default()));
    }
    if raw_bytes == 0 {
        return Err(Error::step(format!(
            "{} wrote nothing; no dump written",
            cmd.program().display()
        )));
    }
    if !trailer_ok(settings.driver, &tail.buf) {
        return Err(Error::step(format!(
            "{} exited 0 but its output lacks the completion trailer ({}); the dump is incomplete, none written",
            cmd.program().display(),
            trailer_name(settings.driver)
        )));
    }
    let row_counts = match (sqlite_pre, counts_thread, copy_counter) {
        (Some((_, c)), _, _) => c,
        (_, Some(t), _) => t
            .join()
            .unwrap_or_else(|| Err(Error::internal("the row-count thread panicked")))
            .map_err(|e| e.context("counting rows; no dump written"))?,
        (_, _, Some(c)) => c.finish().ok_or_else(|| {
            Error::step(format!(
                "{} ended inside a COPY block; the dump is incomplete, none written",
                cmd.program().display()
            ))
        })?,
        _ => unreachable!("every streamed driver has a row-count source"),
    };
    phases.mark("counts");
    let hw = sink
        .finish()
        .map_err(|e| Error::io("finishing compression of", &dest, e))?;
    let (file, sha256, bytes) = hw.into_parts();
    phases.mark("finish");
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
        max_allowed_packet: None,
        trailer_verified: true,
        tables: Some(tables as u64),
        row_counts: Some(row_counts),
        row_counts_source: Some(
            if driver == Driver::Pgsql {
                "dump"
            } else {
                "query"
            }
            .to_string(),
        ),
        created_at: now_rfc3339(),
        dfkit_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let meta_path = set.write_meta(artifact, &meta)?;
    phases.mark("meta");
    let data = DumpData {
        meta,
        set: Some(set.dir.clone()),
        path: Some(dest.clone()),
        meta_path: Some(meta_path),
        ..DumpData::default()
    };
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
