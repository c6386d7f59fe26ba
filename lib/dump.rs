//! Dump, restore and verify the system database (df-dump-db).
//!
//! A dump streams the dump program's stdout through a compressor straight into an
//! [`AtomicFile`] in the backup set, hashing as it goes: constant memory whatever the
//! database's size. It is committed under its final name only when the program exited
//! 0, its completion trailer is there and it is non-empty — otherwise nothing appears.
//! `db.meta.json` records what is needed to trust it later (sha256, trailer, row counts).

use crate::atomic::{self, AtomicFile};
use crate::backup_set::BackupSet;
use crate::db::{self, Driver, Role, Session, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::exec::Cmd;
use crate::report::{now_rfc3339, Ctx, Outcome};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The first line MariaDB ≥ 10.5.25 / 10.11.8 writes, which MySQL clients reject.
pub const MARIADB_SANDBOX_LINE: &[u8] = b"/*M!999999\\- enable the sandbox mode */";

/// How the dump is compressed in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

impl Compression {
    pub fn parse(s: &str) -> Option<Compression> {
        match s {
            "zstd" | "zst" => Some(Compression::Zstd),
            "gzip" | "gz" => Some(Compression::Gzip),
            "none" => Some(Compression::None),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
            Compression::None => "none",
        }
    }
    /// The artifact's name in the set.
    pub fn artifact(self) -> &'static str {
        match self {
            Compression::Zstd => "db.sql.zst",
            Compression::Gzip => "db.sql.gz",
            Compression::None => "db.sql",
        }
    }
}

/// Every artifact name a db dump may have (sqlsrv writes a native backup).
pub const ARTIFACTS: [&str; 4] = ["db.sql.zst", "db.sql.gz", "db.sql", "db.bak"];
const SQLSRV_ARTIFACT: &str = "db.bak";

pub struct DumpOptions {
    pub root: PathBuf,
    pub env: Option<PathBuf>,
    pub into: Option<PathBuf>,
    pub compress: Compression,
    pub portable: bool,
}

pub struct RestoreOptions {
    pub root: PathBuf,
    pub env: Option<PathBuf>,
    pub from: PathBuf,
    pub database: Option<String>,
    pub replace: bool,
}

// ---------------------------------------------------------------- streaming pieces

/// Counts and hashes the bytes written through it (the artifact's bytes).
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    fn into_parts(self) -> (W, String, u64) {
        let hex = crate::secret::hex(&self.hasher.finalize());
        (self.inner, hex, self.bytes)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The compressor in front of the artifact file.
enum Sink<W: Write> {
    Zstd(zstd::Encoder<'static, W>),
    Gzip(flate2::write::GzEncoder<W>),
    Plain(W),
}

impl<W: Write> Sink<W> {
    fn new(c: Compression, w: W) -> std::io::Result<Sink<W>> {
        Ok(match c {
            Compression::Zstd => Sink::Zstd(zstd::Encoder::new(w, 3)?),
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                w,
                flate2::Compression::default(),
            )),
            Compression::None => Sink::Plain(w),
        })
    }
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Zstd(e) => e.write_all(b),
            Sink::Gzip(e) => e.write_all(b),
            Sink::Plain(w) => w.write_all(b),
        }
    }
    fn finish(self) -> std::io::Result<W> {
        match self {
            Sink::Zstd(e) => e.finish(),
            Sink::Gzip(e) => e.finish(),
            Sink::Plain(w) => Ok(w),
        }
    }
}

/// A decompressing reader over an artifact.
pub fn open_decoder(path: &Path, c: Compression) -> Result<Box<dyn Read + Send>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let r = std::io::BufReader::with_capacity(1 << 20, f);
    Ok(match c {
        Compression::Zstd => Box::new(
            zstd::Decoder::with_buffer(r).map_err(|e| Error::io("decompressing", path, e))?,
        ),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(r)),
        Compression::None => Box::new(r),
    })
}

/// The last bytes of a stream (for the trailer check), bounded.
struct Tail {
    buf: Vec<u8>,
    cap: usize,
}

impl Tail {
    fn new(cap: usize) -> Tail {
        Tail {
            buf: Vec::with_capacity(cap * 2),
            cap,
        }
    }
    fn push(&mut self, b: &[u8]) {
        if b.len() >= self.cap {
            self.buf.clear();
            self.buf.extend_from_slice(&b[b.len() - self.cap..]);
        } else {
            self.buf.extend_from_slice(b);
            if self.buf.len() > self.cap * 2 {
                let cut = self.buf.len() - self.cap;
                self.buf.drain(..cut);
            }
        }
    }
}

/// Whether `tail` (the end of an uncompressed dump) carries `driver`'s completion trailer.
pub fn trailer_ok(driver: Driver, tail: &[u8]) -> bool {
    let text = String::from_utf8_lossy(tail);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let last_nonempty = || lines.iter().rev().find(|l| !l.is_empty()).copied();
    match driver {
        Driver::Mysql => last_nonempty().is_some_and(|l| l.starts_with("-- Dump completed")),
        Driver::Sqlite => last_nonempty() == Some("COMMIT;"),
        Driver::Pgsql => {
            let Some(i) = lines
                .iter()
                .rposition(|l| *l == "-- PostgreSQL database dump complete")
            else {
                return false;
            };
            // Newer pg_dump follows it with `\unrestrict KEY`; nothing else may follow.
            lines[i + 1..]
                .iter()
                .all(|l| l.is_empty() || *l == "--" || l.starts_with("\\unrestrict "))
        }
        Driver::Sqlsrv => true,
    }
}

/// Longest line held in memory while deciding whether it needs rewriting.
const LINE_CAP: usize = 1 << 20;

/// A streaming, line-based rewrite of dump text in bounded memory.
///
/// * `portable`: drops MariaDB's sandbox-mode first line (MySQL clients reject it).
/// * mysql: removes `DEFINER=`user`@`host`` from trigger/view/routine/event headers, so
///   the dump restores as any user (a non-SUPER user cannot create objects for another
///   definer; the new server's user rarely has the old one's name). Objects then take
///   the restoring user as definer. Only lines starting `/*!` or `CREATE` are looked at,
///   never row data.
pub struct DumpFilter {
    strip_sandbox: bool,
    strip_definers: bool,
    first_line: bool,
    passthrough: bool,
    line: Vec<u8>,
    pub sandbox_line: bool,
    pub definers_removed: u64,
    pub bytes_out: u64,
}

fn definer_re() -> &'static regex::bytes::Regex {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::bytes::Regex::new(r" ?DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`").expect("valid regex")
    })
}

fn prefix_compatible(line: &[u8], pat: &[u8]) -> bool {
    if line.len() >= pat.len() {
        line.starts_with(pat)
    } else {
        pat.starts_with(line)
    }
}

impl DumpFilter {
    pub fn new(portable: bool, mysql: bool) -> DumpFilter {
        DumpFilter {
            strip_sandbox: portable,
            strip_definers: mysql,
            first_line: true,
            passthrough: false,
            line: Vec::new(),
            sandbox_line: false,
            definers_removed: 0,
            bytes_out: 0,
        }
    }

    /// Whether a (partial) line may need rewriting, so must be held until it ends.
    fn candidate(&self, partial: &[u8]) -> bool {
        self.first_line
            || (self.strip_definers
                && (prefix_compatible(partial, b"/*!") || prefix_compatible(partial, b"CREATE")))
    }

    fn emit(&mut self, out: &mut Vec<u8>, b: &[u8]) {
        self.bytes_out += b.len() as u64;
        out.extend_from_slice(b);
    }

    fn emit_line(&mut self, l: &[u8], out: &mut Vec<u8>) {
        let first = std::mem::replace(&mut self.first_line, false);
        if first && l.starts_with(MARIADB_SANDBOX_LINE) {
            self.sandbox_line = true;
            if self.strip_sandbox {
                return;
            }
        }
        if self.strip_definers
            && (l.starts_with(b"/*!") || l.starts_with(b"CREATE"))
            && l.windows(8).any(|w| w == b"DEFINER=")
        {
            let re = definer_re();
            let n = re.find_iter(l).count() as u64;
            if n > 0 {
                self.definers_removed += n;
                let rewritten = re.replace_all(l, &b""[..]).into_owned();
                self.emit(out, &rewritten);
                return;
            }
        }
        self.emit(out, l);
    }

    /// Filter the next chunk of the stream into `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            let nl = input.iter().position(|&b| b == b'\n');
            if self.passthrough {
                match nl {
                    Some(p) => {
                        self.emit(out, &input[..=p]);
                        input = &input[p + 1..];
                        self.passthrough = false;
                    }
                    None => {
                        self.emit(out, input);
                        return;
                    }
                }
                continue;
            }
            match nl {
                Some(p) => {
                    if self.line.is_empty() {
                        self.emit_line(&input[..=p], out);
                    } else {
                        let mut l = std::mem::take(&mut self.line);
                        l.extend_from_slice(&input[..=p]);
                        self.emit_line(&l, out);
                        l.clear();
                        self.line = l;
                    }
                    input = &input[p + 1..];
                }
                None => {
                    self.line.extend_from_slice(input);
                    if !self.candidate(&self.line) || self.line.len() > LINE_CAP {
                        // Too long or uninteresting: pass it through unchanged.
                        let l = std::mem::take(&mut self.line);
                        self.first_line = false;
                        self.emit(out, &l);
                        self.passthrough = true;
                    }
                    return;
                }
            }
        }
    }

    /// The end of the stream: flush a last line without newline.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.line.is_empty() {
            let l = std::mem::take(&mut self.line);
            self.emit_line(&l, out);
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    // libc's memchr is vectorised; this runs over every byte of a pg dump.
    let p = unsafe { libc::memchr(hay.as_ptr().cast(), needle as i32, hay.len()) };
    (!p.is_null()).then(|| p as usize - hay.as_ptr() as usize)
}

/// Exact per-table row counts read from a plain pg_dump stream as it passes: each
/// `COPY schema.table (…) FROM stdin;` block holds one line per row (COPY text format
/// escapes newlines in values) up to the `\.` line. The counts are thus of the very
/// snapshot dumped, and cost no extra connection. Tables are named as
/// [`Session::tables`] names them (`table` in public, else `schema.table`).
pub struct CopyCounter {
    /// The current line so far: outside COPY the whole line (capped); inside COPY only
    /// its first bytes (enough to recognise `\.`).
    line: Vec<u8>,
    /// The current line is longer than what `line` holds.
    long: bool,
    current: Option<(String, u64)>,
    pub counts: BTreeMap<String, u64>,
}

/// COPY headers longer than this (a table with thousands of columns) are not expected.
const COPY_HEADER_CAP: usize = 1 << 20;

impl Default for CopyCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyCounter {
    pub fn new() -> CopyCounter {
        CopyCounter {
            line: Vec::new(),
            long: false,
            current: None,
            counts: BTreeMap::new(),
        }
    }

    fn piece(&mut self, b: &[u8], complete: bool) {
        let cap = if self.current.is_some() {
            3
        } else {
            COPY_HEADER_CAP
        };
        if !self.long {
            if self.line.len() + b.len() > cap {
                self.long = true;
                self.line.clear();
            } else {
                self.line.extend_from_slice(b);
            }
        }
        if !complete {
            return;
        }
        let long = std::mem::replace(&mut self.long, false);
        match &mut self.current {
            Some((_, n)) => {
                if !long && self.line == b"\\." {
                    let (t, n) = self.current.take().expect("in a COPY block");
                    self.counts.insert(t, n);
                } else {
                    *n += 1;
                }
            }
            None => {
                if !long {
                    if let Some(t) = copy_table(&self.line) {
                        self.current = Some((t, 0));
                    }
                }
            }
        }
        self.line.clear();
    }

    /// The next chunk of the stream.
    pub fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match memchr(b'\n', input) {
                Some(p) => {
                    self.piece(&input[..p], true);
                    input = &input[p + 1..];
                }
                None => {
                    self.piece(input, false);
                    return;
                }
            }
        }
    }

    /// The counts, or None when the stream ended inside a COPY block.
    pub fn finish(self) -> Option<BTreeMap<String, u64>> {
        self.current.is_none().then_some(self.counts)
    }
}

/// The table a `COPY … FROM stdin;` line loads, named like [`Session::tables`].
fn copy_table(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"COPY ")?;
    if !line.ends_with(b" FROM stdin;") {
        return None;
    }
    let text = std::str::from_utf8(rest).ok()?;
    let (first, after) = pg_ident(text)?;
    let (schema, name) = match after.strip_prefix('.') {
        Some(r) => (Some(first), pg_ident(r)?.0),
        None => (None, first),
    };
    Some(match schema {
        Some(s) if s != "public" => format!("{s}.{name}"),
        _ => name,
    })
}

/// One identifier as pg_dump prints it: `"…"` with `""` for a quote, or bare up to
/// `.`, space or `(`. Returns it and the rest.
fn pg_ident(s: &str) -> Option<(String, &str)> {
    if let Some(mut r) = s.strip_prefix('"') {
        let mut out = String::new();
        loop {
            let q = r.find('"')?;
            out.push_str(&r[..q]);
            r = &r[q + 1..];
            match r.strip_prefix('"') {
                Some(rest) => {
                    out.push('"');
                    r = rest;
                }
                None => return Some((out, r)),
            }
        }
    }
    let end = s.find(['.', ' ', '(']).unwrap_or(s.len());
    (end > 0).then(|| (s[..end].to_string(), &s[end..]))
}

/// Kills and reaps the dump program when the dump is abandoned early.
struct DumpChild(std::process::Child, bool);

impl DumpChild {
    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let st = self.0.wait();
        self.1 = true;
        st
    }
}

impl Drop for DumpChild {
    fn drop(&mut self) {
        if !self.1 {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A thread joined when dropped (its own session's credential dir is then removed
/// even when the dump is abandoned).
struct Joined<T>(Option<std::thread::JoinHandle<T>>);

impl<T> Joined<T> {
    fn join(mut self) -> Option<T> {
        self.0.take().and_then(|h| h.join().ok())
    }
}

impl<T> Drop for Joined<T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// Remove temp files a killed earlier run left in the set (their pid is gone).
fn clean_stale_temps(set: &BackupSet) {
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

/// argv as recorded in meta/plans: masked, with the throwaway credential path named
/// for what it is.
fn recorded_argv(cmd: &Cmd, session: &Session) -> Vec<String> {
    let cred = session
        .cred_file()
        .map(|p| p.to_string_lossy().into_owned());
    cmd.argv_masked()
        .into_iter()
        .map(|a| match &cred {
            Some(c) if a.contains(c.as_str()) => a.replace(c.as_str(), "<0600 temp file>"),
            _ => a,
        })
        .collect()
}

/// The dump command for a driver (sqlsrv is handled apart: it is not a stream).
fn dump_command(session: &Session) -> Result<(Cmd, Option<Vec<u8>>)> {
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

/// Raise a pipe's capacity so the dump program rarely waits on us (best effort).
fn grow_pipe(fd: std::os::fd::RawFd) {
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
    }
}

fn read_stderr_thread(r: Option<std::process::ChildStderr>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        // Keep the last 64 KiB: enough for any error, bounded for chatty programs.
        let mut tail = Tail::new(64 << 10);
        if let Some(mut r) = r {
            let mut b = [0u8; 8192];
            while let Ok(n) = r.read(&mut b) {
                if n == 0 {
                    break;
                }
                tail.push(&b[..n]);
            }
        }
        tail.buf
    })
}

// ---------------------------------------------------------------- dump

/// Per-phase wall times, printed to stderr when `DFKIT_DUMP_PHASES` is set (for
/// scripts/bench/dump.sh; even under --quiet, never on stdout).
struct Phases {
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
        return Ok(Outcome::new(
            true,
            format!("would dump {} into {}", settings.describe(), dest.display()),
            json!({
                "driver": settings.driver,
                "database": settings.database,
                "plan": {
                    "commands": [argv.join(" ")],
                    "artifact": dest,
                    "compression": o.compress.as_str(),
                    "portable": o.portable,
                }
            }),
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
    let meta = json!({
        "artifact": artifact,
        "driver": settings.driver,
        "database": db_label(&settings),
        "host": host_label(&settings),
        "server_version": server_version,
        "dump_program": cmd.program(),
        "dump_argv": argv,
        "sha256": sha256,
        "bytes": bytes,
        "uncompressed_bytes": written_bytes,
        "compression": o.compress.as_str(),
        "portable": o.portable,
        "sandbox_line": if !sandbox_line { "absent" } else if o.portable { "stripped" } else { "present" },
        "definers_removed": filter.definers_removed,
        "trailer_verified": true,
        "tables": row_counts.len(),
        "row_counts": row_counts,
        "created_at": now_rfc3339(),
        "dfkit_version": env!("CARGO_PKG_VERSION"),
    });
    let meta_path = set.write_meta(artifact, &meta)?;
    phases.mark("meta");
    let mut data = meta;
    data["set"] = json!(set.dir);
    data["path"] = json!(dest);
    data["meta_path"] = json!(meta_path);
    Ok(Outcome::new(
        true,
        format!(
            "dumped {} ({} tables, {} bytes {}) into {}",
            settings.describe(),
            row_counts.len(),
            bytes,
            o.compress.as_str(),
            dest.display()
        ),
        data,
    ))
}

fn trailer_name(d: Driver) -> &'static str {
    match d {
        Driver::Mysql => "`-- Dump completed`",
        Driver::Pgsql => "`-- PostgreSQL database dump complete`",
        Driver::Sqlite => "`COMMIT;` at the end",
        Driver::Sqlsrv => "`BACKUP DATABASE successfully processed`",
    }
}

fn db_label(s: &Settings) -> String {
    s.database.clone()
}

fn host_label(s: &Settings) -> Value {
    match s.driver {
        Driver::Sqlite => Value::Null,
        _ => json!(s
            .socket
            .clone()
            .unwrap_or_else(|| format!("{}:{}", s.host, s.port))),
    }
}

/// A T-SQL string literal N'…'.
fn tsql_string(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

/// A T-SQL identifier [...].
fn tsql_ident(s: &str) -> String {
    format!("[{}]", s.replace(']', "]]"))
}

/// sqlsrv: `BACKUP DATABASE … TO DISK` through sqlcmd (password in SQLCMDPASSWORD).
/// The server writes the file itself, so this works when SQL Server runs on this host
/// (or shares the set's filesystem) and may write into the set.
fn dump_sqlsrv(ctx: &Ctx, o: &DumpOptions, session: &Session) -> Result<Outcome> {
    let s = &session.settings;
    let set_dir = o.into.clone().unwrap_or_else(|| {
        PathBuf::from(crate::backup_set::DEFAULT_BASE).join(crate::backup_set::stamp())
    });
    let set_dir = if set_dir.is_absolute() {
        set_dir
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("resolving", &set_dir, e))?
            .join(set_dir)
    };
    let dest = set_dir.join(SQLSRV_ARTIFACT);
    let tmp = set_dir.join(format!(
        ".{SQLSRV_ARTIFACT}.dfkit-tmp.{}.0",
        std::process::id()
    ));
    let query = format!(
        "BACKUP DATABASE {} TO DISK = {} WITH COPY_ONLY, INIT, CHECKSUM",
        tsql_ident(&s.database),
        tsql_string(&tmp.to_string_lossy())
    );
    let cmd = session
        .command(Role::Dump)?
        .args(["-d", "master", "-b", "-C", "-Q"])
        .arg(&query);
    let argv = recorded_argv(&cmd, session);
    if ctx.dry_run() {
        return Ok(Outcome::new(
            true,
            format!("would back up {} into {}", s.describe(), dest.display()),
            json!({"driver": s.driver, "database": s.database,
                   "plan": {"commands": [cmd.display()], "artifact": dest}}),
        ));
    }
    let set = BackupSet::create(Some(&set_dir))?;
    clean_stale_temps(&set);
    let out = cmd.run()?;
    let cleanup = || {
        let _ = std::fs::remove_file(&tmp);
    };
    if !out.success() {
        cleanup();
        let e = db::classify(s, &out);
        return Err(Error::new(
            e.kind,
            format!(
                "sqlcmd BACKUP DATABASE failed ({}): {}",
                out.status_text(),
                out.tail(5)
            ),
        )
        .with_hint(e.hint.unwrap_or_default()));
    }
    let trailer = out
        .stdout_str()
        .contains("BACKUP DATABASE successfully processed");
    let md = std::fs::metadata(&tmp).ok().filter(|m| m.len() > 0);
    if !trailer || md.is_none() {
        cleanup();
        return Err(Error::step(format!(
            "sqlcmd exited 0 but {}; no backup written",
            if !trailer {
                "did not report `BACKUP DATABASE successfully processed`"
            } else {
                "no backup file appeared in the set"
            }
        ))
        .with_hint("SQL Server writes the file on its own host: run df-dump-db where the server can write into the set directory"));
    }
    let (sha256, bytes) =
        crate::secret::sha256_file(&tmp).map_err(|e| Error::io("hashing", &tmp, e))?;
    let _ = md;
    std::fs::rename(&tmp, &dest).map_err(|e| Error::io("renaming into", &dest, e))?;
    atomic::sync_dir(&set.dir)?;
    let meta = json!({
        "artifact": SQLSRV_ARTIFACT,
        "driver": s.driver,
        "database": s.database,
        "host": host_label(s),
        "server_version": Value::Null,
        "dump_program": cmd.program(),
        "dump_argv": argv,
        "sha256": sha256,
        "bytes": bytes,
        "uncompressed_bytes": bytes,
        "compression": "none",
        "portable": false,
        "trailer_verified": true,
        "tables": Value::Null,
        "row_counts": Value::Null,
        "created_at": now_rfc3339(),
        "dfkit_version": env!("CARGO_PKG_VERSION"),
    });
    ctx.warn("sqlsrv: per-table row counts are not recorded for SQL Server backups");
    let meta_path = set.write_meta(SQLSRV_ARTIFACT, &meta)?;
    let mut data = meta;
    data["set"] = json!(set.dir);
    data["path"] = json!(dest);
    data["meta_path"] = json!(meta_path);
    Ok(Outcome::new(
        true,
        format!("backed up {} into {}", s.describe(), dest.display()),
        data,
    ))
}

// ---------------------------------------------------------------- verify

/// A set's dump artifact and its meta.
struct Stored {
    path: PathBuf,
    artifact: String,
    meta: Value,
    driver: Driver,
    compression: Compression,
}

fn open_stored(from: &Path) -> Result<Stored> {
    let set = BackupSet::open(from)?;
    let meta_path = set.path("db.meta.json");
    if !meta_path.is_file() {
        return Err(Error::missing(format!(
            "no database dump in {} (db.meta.json missing)",
            set.dir.display()
        )));
    }
    let meta: serde_json::Value = set.read_meta("db.sql")?;
    let artifact = meta["artifact"]
        .as_str()
        .filter(|a| ARTIFACTS.contains(a))
        .ok_or_else(|| Error::bad_data(format!("{} names no known artifact", meta_path.display())))?
        .to_string();
    let path = set.path(&artifact);
    if !path.is_file() {
        return Err(Error::missing(format!("{} is missing", path.display())));
    }
    let driver = meta["driver"]
        .as_str()
        .and_then(Driver::parse)
        .ok_or_else(|| Error::bad_data(format!("{} names no known driver", meta_path.display())))?;
    let compression = meta["compression"]
        .as_str()
        .and_then(Compression::parse)
        .ok_or_else(|| {
            Error::bad_data(format!(
                "{} names no known compression",
                meta_path.display()
            ))
        })?;
    Ok(Stored {
        path,
        artifact,
        meta,
        driver,
        compression,
    })
}

/// sha256 of the artifact equals the meta's (65 otherwise).
fn check_sha(st: &Stored) -> Result<String> {
    let (got, _) =
        crate::secret::sha256_file(&st.path).map_err(|e| Error::io("hashing", &st.path, e))?;
    let want = st.meta["sha256"].as_str().unwrap_or("");
    if got != want {
        return Err(Error::bad_data(format!(
            "{}: sha256 {} does not match db.meta.json ({})",
            st.path.display(),
            got,
            want
        ))
        .with_hint("the dump is corrupt or was changed; use another backup set"));
    }
    Ok(got)
}

/// `df-dump-db verify`: checksum, full decompression, trailer — no database needed.
pub fn verify(_ctx: &Ctx, from: &Path) -> Result<Outcome> {
    let st = open_stored(from)?;
    let sha = check_sha(&st)?;
    let mut raw: u64 = 0;
    let mut trailer = true;
    if st.driver != Driver::Sqlsrv {
        let mut r = open_decoder(&st.path, st.compression)?;
        let mut tail = Tail::new(8192);
        let mut buf = vec![0u8; 256 << 10];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    raw += n as u64;
                    tail.push(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::bad_data(format!(
                        "{} does not decompress: {e}",
                        st.path.display()
                    )))
                }
            }
        }
        trailer = trailer_ok(st.driver, &tail.buf);
        if !trailer {
            return Err(Error::bad_data(format!(
                "{} is truncated: no {} at its end",
                st.path.display(),
                trailer_name(st.driver)
            )));
        }
        if let Some(want) = st.meta["uncompressed_bytes"].as_u64() {
            if want != raw {
                return Err(Error::bad_data(format!(
                    "{} decompresses to {raw} bytes, db.meta.json says {want}",
                    st.path.display()
                )));
            }
        }
    }
    Ok(Outcome::new(
        false,
        format!(
            "{} is intact ({} bytes)",
            st.path.display(),
            st.meta["bytes"]
        ),
        json!({
            "path": st.path,
            "artifact": st.artifact,
            "driver": st.driver,
            "sha256": sha,
            "sha256_ok": true,
            "bytes": st.meta["bytes"],
            "uncompressed_bytes": if st.driver == Driver::Sqlsrv { st.meta["bytes"].clone() } else { json!(raw) },
            "trailer_verified": trailer,
            "compression": st.compression.as_str(),
        }),
    ))
}

// ---------------------------------------------------------------- restore

/// SQL that empties the target before a `--replace` restore.
fn drop_sql(session: &Session) -> Result<Option<String>> {
    Ok(match session.settings.driver {
        Driver::Mysql => {
            let rows = session.query(
                "SELECT table_type, table_name FROM information_schema.tables \
                 WHERE table_schema = DATABASE();",
            )?;
            if rows.is_empty() {
                return Ok(None);
            }
            let mut sql = String::from("SET FOREIGN_KEY_CHECKS=0;\n");
            for r in rows.iter().filter(|r| r.len() == 2) {
                let what = if r[0] == "VIEW" { "VIEW" } else { "TABLE" };
                sql.push_str(&format!(
                    "DROP {what} IF EXISTS {};\n",
                    db::quote_table(Driver::Mysql, &r[1])
                ));
            }
            Some(sql)
        }
        // Every user schema goes (the dump recreates it); public is emptied in place
        // because it belongs to the database and the dump does not create it.
        Driver::Pgsql => Some(
            r#"DO $dfkit$ DECLARE r record; BEGIN
  FOR r IN SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\_%' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                     WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS sig, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
      CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.sig);
  END LOOP;
  FOR r IN SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND (t.typtype IN ('e', 'd')
             OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')) LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
      CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.typname);
  END LOOP;
END $dfkit$;
"#
            .to_string(),
        ),
        _ => None,
    })
}

/// Feed `prefix` then the decompressed artifact into `cmd`'s stdin; returns its output.
fn stream_into(cmd: &Cmd, prefix: &[u8], st: &Stored) -> Result<crate::exec::Output> {
    let mut decoder = open_decoder(&st.path, st.compression)?;
    let mut c = cmd.command();
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| Error::unavailable(format!("cannot run {}: {e}", cmd.program().display())))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let out_reader = read_stderr_like(child.stdout.take());
    let err_reader = read_stderr_thread(child.stderr.take());
    let mut feed = || -> std::io::Result<Option<std::io::Error>> {
        if let Err(e) = stdin.write_all(prefix) {
            return Ok(Some(e));
        }
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match decoder.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Err(e) = stdin.write_all(&buf[..n]) {
                // The client stopped reading (it failed): its exit status tells why.
                return Ok(Some(e));
            }
        }
    };
    let fed = feed();
    drop(stdin);
    if fed.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| Error::io("waiting for", cmd.program(), e))?;
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    if let Err(e) = fed {
        return Err(Error::bad_data(format!(
            "{} does not decompress: {e}",
            st.path.display()
        )));
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(crate::exec::Output {
        code: status.code(),
        signal: status.signal(),
        stdout,
        stderr,
        duration: Default::default(),
        timed_out: false,
    })
}

fn read_stderr_like(r: Option<std::process::ChildStdout>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut tail = Tail::new(64 << 10);
        if let Some(mut r) = r {
            let mut b = [0u8; 8192];
            while let Ok(n) = r.read(&mut b) {
                if n == 0 {
                    break;
                }
                tail.push(&b[..n]);
            }
        }
        tail.buf
    })
}

/// Tables whose row count differs from the meta's: (table, expected, found).
fn compare_counts(want: &Value, got: &BTreeMap<String, u64>) -> (Vec<Value>, usize) {
    let mut mismatches = Vec::new();
    let mut checked = 0;
    if let Some(w) = want.as_object() {
        for (t, n) in w {
            checked += 1;
            let n = n.as_u64();
            let g = got.get(t).copied();
            if n != g {
                mismatches.push(json!({"table": t, "expected": n, "found": g}));
            }
        }
    }
    (mismatches, checked)
}

/// `df-dump-db restore`.
pub fn restore(ctx: &Ctx, o: &RestoreOptions) -> Result<Outcome> {
    let st = open_stored(&o.from)?;
    let sha = check_sha(&st)?;
    let mut settings = Settings::load(&o.root, o.env.as_deref())?;
    if let Some(name) = &o.database {
        settings = settings.with_database(name, &o.root);
    }
    if settings.driver != st.driver {
        return Err(Error::config(format!(
            "the set holds a {} dump but .env says DB_CONNECTION={}",
            st.driver, settings.driver
        ))
        .with_hint("restore on an instance using the same database driver"));
    }
    if st.driver == Driver::Sqlsrv {
        return restore_sqlsrv(ctx, o, &settings, &st);
    }
    if st.driver == Driver::Sqlite {
        return restore_sqlite(ctx, o, &settings, &st, &sha);
    }
    let session = Session::open(&settings)?;
    session.ping()?;
    let existing = session.tables()?;
    if !existing.is_empty() && !o.replace {
        return Err(Error::new(
            ErrorKind::CannotCreate,
            format!(
                "{} is not empty ({} tables); not restoring over it",
                settings.describe(),
                existing.len()
            ),
        )
        .with_hint(
            "pass --replace to drop its tables first, or --database NAME for an empty one",
        ));
    }
    let client = session.command(Role::Client)?;
    let client = match st.driver {
        Driver::Mysql => client.arg("--batch").arg(session.database_arg()),
        // One transaction: a failed import (or the drop before it) leaves the target as it was.
        _ => client
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-f",
                "-",
            ])
            .arg(session.database_arg()),
    };
    let argv = recorded_argv(&client, &session);
    if ctx.dry_run() {
        return Ok(Outcome::new(
            true,
            format!(
                "would restore {} into {}",
                st.path.display(),
                settings.describe()
            ),
            json!({"plan": {"commands": [argv.join(" ")], "replace": o.replace,
                   "drop_tables": existing}}),
        ));
    }
    let mut prefix = Vec::new();
    if !existing.is_empty() {
        if let Some(sql) = drop_sql(&session)? {
            match st.driver {
                // Same transaction as the import (psql -1).
                Driver::Pgsql => prefix = sql.into_bytes(),
                _ => {
                    ctx.log(format!(
                        "dropping {} tables in {}",
                        existing.len(),
                        settings.describe()
                    ));
                    session.query(&sql)?;
                }
            }
        }
    }
    ctx.log(format!(
        "restoring {} into {}",
        st.path.display(),
        settings.describe()
    ));
    let out = stream_into(&client, &prefix, &st)?;
    if !out.success() {
        let e = db::classify(&settings, &out);
        return Err(Error::new(
            if e.kind == ErrorKind::StepFailed {
                ErrorKind::StepFailed
            } else {
                e.kind
            },
            format!(
                "importing into {} failed ({}): {}",
                settings.describe(),
                out.status_text(),
                out.tail(5)
            ),
        )
        .with_data(json!({"changed": st.driver == Driver::Mysql})));
    }
    finish_restore(&session, &settings, &st, &sha, existing.len())
}

fn finish_restore(
    session: &Session,
    settings: &Settings,
    st: &Stored,
    sha: &str,
    dropped: usize,
) -> Result<Outcome> {
    let got = session.row_counts()?;
    let (mismatches, checked) = compare_counts(&st.meta["row_counts"], &got);
    let data = json!({
        "driver": settings.driver,
        "database": settings.database,
        "from": st.path,
        "sha256": sha,
        "replaced_tables": dropped,
        "tables_checked": checked,
        "row_counts": got,
        "mismatches": mismatches,
        "changed": true,
    });
    if !mismatches.is_empty() {
        return Err(Error::bad_data(format!(
            "restored into {}, but {} table(s) differ in row count from the dump's meta",
            settings.describe(),
            mismatches.len()
        ))
        .with_data(data));
    }
    Ok(Outcome::new(
        true,
        format!(
            "restored {} into {} ({} tables, row counts match)",
            st.path.display(),
            settings.describe(),
            checked
        ),
        data,
    ))
}

/// sqlite: import into a temp file beside the target, check it, then rename it into
/// place — the live file is never half-written.
fn restore_sqlite(
    ctx: &Ctx,
    o: &RestoreOptions,
    settings: &Settings,
    st: &Stored,
    sha: &str,
) -> Result<Outcome> {
    let target = PathBuf::from(&settings.database);
    let mut existing = 0;
    if target.is_file() {
        let s = Session::open(settings)?;
        existing = s.tables()?.len();
        if existing > 0 && !o.replace {
            return Err(Error::new(
                ErrorKind::CannotCreate,
                format!(
                    "{} is not empty ({existing} tables); not restoring over it",
                    target.display()
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
    let tmp = dir.join(format!(".{name}.dfkit-restore.{}", std::process::id()));
    let client = Cmd::resolved(db::find_program(Driver::Sqlite, Role::Client)?)
        .args(["-batch", "-bail"])
        .arg(&tmp);
    if ctx.dry_run() {
        return Ok(Outcome::new(
            true,
            format!(
                "would restore {} into {}",
                st.path.display(),
                target.display()
            ),
            json!({"plan": {"commands": [client.display()], "target": target, "replace": o.replace}}),
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    let _ = std::fs::remove_file(&tmp);
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let guard = Rm(tmp.clone());
    let out = stream_into(&client, b"", st)?;
    if !out.success() {
        return Err(Error::step(format!(
            "sqlite3 import into {} failed ({}): {}",
            tmp.display(),
            out.status_text(),
            out.tail(5)
        )));
    }
    let tmp_settings = settings.with_database(&tmp.to_string_lossy(), &o.root);
    let session = Session::open(&tmp_settings)?;
    let got = session.row_counts()?;
    let (mismatches, _) = compare_counts(&st.meta["row_counts"], &got);
    if !mismatches.is_empty() {
        return Err(Error::bad_data(format!(
            "the restored copy differs in row count from the dump's meta in {} table(s); {} left unchanged",
            mismatches.len(),
            target.display()
        ))
        .with_data(json!({"mismatches": mismatches})));
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
    // A stale WAL beside the new file would be replayed into it.
    for suffix in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(dir.join(format!("{name}{suffix}")));
    }
    std::fs::rename(&tmp, &target).map_err(|e| Error::io("renaming into", &target, e))?;
    std::mem::forget(guard);
    atomic::sync_dir(&dir)?;
    let final_session = Session::open(settings)?;
    finish_restore(&final_session, settings, st, sha, existing)
}

/// sqlsrv: `RESTORE DATABASE … FROM DISK` through sqlcmd (row counts are not recorded
/// for SQL Server backups, so none are compared).
fn restore_sqlsrv(ctx: &Ctx, o: &RestoreOptions, s: &Settings, st: &Stored) -> Result<Outcome> {
    let session = Session::open(s)?;
    let path = std::fs::canonicalize(&st.path).map_err(|e| Error::io("resolving", &st.path, e))?;
    let mut query = format!(
        "RESTORE DATABASE {} FROM DISK = {}",
        tsql_ident(&s.database),
        tsql_string(&path.to_string_lossy())
    );
    if o.replace {
        query.push_str(" WITH REPLACE");
    }
    let cmd = session
        .command(Role::Client)?
        .args(["-d", "master", "-b", "-C", "-Q"])
        .arg(&query);
    if ctx.dry_run() {
        return Ok(Outcome::new(
            true,
            format!("would restore {} into {}", st.path.display(), s.describe()),
            json!({"plan": {"commands": [cmd.display()]}}),
        ));
    }
    let out = cmd.run()?;
    if !out.success() {
        let e = db::classify(s, &out);
        return Err(Error::new(
            e.kind,
            format!(
                "sqlcmd RESTORE DATABASE failed ({}): {}",
                out.status_text(),
                out.tail(5)
            ),
        ));
    }
    ctx.warn("sqlsrv: row counts are not compared for SQL Server backups");
    Ok(Outcome::new(
        true,
        format!("restored {} into {}", st.path.display(), s.describe()),
        json!({"driver": s.driver, "database": s.database, "from": st.path, "changed": true}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers() {
        assert!(trailer_ok(
            Driver::Mysql,
            b"x\n-- Dump completed on 2026-01-01 10:00:00\n"
        ));
        assert!(!trailer_ok(
            Driver::Mysql,
            b"-- Dump completed\nINSERT INTO x;\n"
        ));
        assert!(trailer_ok(
            Driver::Pgsql,
            b"--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc123\n\n"
        ));
        assert!(trailer_ok(
            Driver::Pgsql,
            b"-- PostgreSQL database dump complete\n--\n\n"
        ));
        assert!(!trailer_ok(
            Driver::Pgsql,
            b"-- PostgreSQL database dump complete\nCREATE TABLE x();\n"
        ));
        assert!(trailer_ok(
            Driver::Sqlite,
            b"INSERT INTO t VALUES(1);\nCOMMIT;\n"
        ));
        assert!(!trailer_ok(
            Driver::Sqlite,
            b"COMMIT;\nROLLBACK; -- due to errors\n"
        ));
    }

    #[test]
    fn filter_strips_sandbox_and_definers_only_where_asked() {
        let input: &[u8] = b"/*M!999999\\- enable the sandbox mode */\n-- MariaDB dump\n\
/*!50003 CREATE*/ /*!50017 DEFINER=`u_a`@`%`*/ /*!50003 TRIGGER t AFTER INSERT ON x FOR EACH ROW SET @a=1 */;;\n\
INSERT INTO x VALUES ('DEFINER=`a`@`b`');\n\
CREATE DEFINER=`root`@`localhost` PROCEDURE p() BEGIN END ;;\n-- Dump completed";
        for chunk in [1usize, 3, 7, 64, 4096] {
            let mut f = DumpFilter::new(true, true);
            let mut out = Vec::new();
            for c in input.chunks(chunk) {
                f.feed(c, &mut out);
            }
            f.finish(&mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with("-- MariaDB dump\n"), "{chunk}: {text}");
            assert!(
                text.contains("/*!50003 CREATE*/ /*!50017*/ /*!50003 TRIGGER"),
                "{text}"
            );
            assert!(
                text.contains("VALUES ('DEFINER=`a`@`b`')"),
                "row data untouched"
            );
            assert!(text.contains("CREATE PROCEDURE p()"), "{text}");
            assert!(text.ends_with("-- Dump completed"));
            assert_eq!(f.definers_removed, 2);
            assert!(f.sandbox_line);
            assert_eq!(f.bytes_out, text.len() as u64);
        }
        let mut f = DumpFilter::new(false, false);
        let mut out = Vec::new();
        f.feed(input, &mut out);
        f.finish(&mut out);
        assert_eq!(
            out, input,
            "pgsql/sqlite without --portable: byte-identical"
        );
    }

    #[test]
    fn copy_counter_counts_rows_per_table_across_chunks() {
        let dump: &[u8] = b"--\n-- PostgreSQL database dump\n--\n\
CREATE TABLE public.t (id integer);\n\
COPY public.\"user\" (id, name, note) FROM stdin;\n\
1\tAdmin\ta\\nb\n\
2\tO'Brien \\\\ x\t\\.\n\
3\tx\t\\N\n\
\\.\n\
\n\
COPY public.service (id) FROM stdin;\n\
\\.\n\
COPY \"My Schema\".\"we\"\"ird\" (a) FROM stdin;\n\
1\n\
\n\
\\.\n\
COPY other.t2  FROM stdin;\n\
\n\
\\.\n\
-- PostgreSQL database dump complete\n";
        for chunk in [1usize, 2, 3, 5, 4096] {
            let mut c = CopyCounter::new();
            for part in dump.chunks(chunk) {
                c.feed(part);
            }
            let counts = c.finish().expect("not inside a COPY block");
            let want: BTreeMap<String, u64> = [
                ("user", 3),
                ("service", 0),
                ("My Schema.we\"ird", 2),
                ("other.t2", 1),
            ]
            .into_iter()
            .map(|(t, n)| (t.to_string(), n))
            .collect();
            assert_eq!(counts, want, "chunk {chunk}");
        }
        let mut c = CopyCounter::new();
        c.feed(b"COPY public.t (a) FROM stdin;\n1\n2\n");
        assert!(c.finish().is_none(), "a cut-off COPY block is not counted");
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut t = Tail::new(4);
        t.push(b"abcdef");
        t.push(b"gh");
        assert!(t.buf.ends_with(b"efgh"));
        let mut t = Tail::new(4);
        for c in b"0123456789" {
            t.push(&[*c]);
        }
        assert!(t.buf.ends_with(b"6789"));
        assert!(t.buf.len() <= 8);
    }

    #[test]
    fn compressions_round_trip() {
        for c in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join(c.artifact());
            let f = AtomicFile::create(&p, 0o600).unwrap();
            let mut s = Sink::new(c, HashWriter::new(f)).unwrap();
            s.write_all(b"hello dump\n").unwrap();
            let (f, sha, n) = s.finish().unwrap().into_parts();
            f.commit().unwrap();
            assert_eq!(std::fs::metadata(&p).unwrap().len(), n);
            assert_eq!(crate::secret::sha256_file(&p).unwrap().0, sha);
            let mut back = String::new();
            open_decoder(&p, c)
                .unwrap()
                .read_to_string(&mut back)
                .unwrap();
            assert_eq!(back, "hello dump\n");
        }
    }
}
