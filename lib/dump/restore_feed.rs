//! Feeding a stored dump into a client program, checked on the way: a restore commits
//! only after the whole stream was read and matched its meta (trailer, size, and for
//! pgsql the rows of every `COPY` block). Until then the client holds an open
//! transaction that a kill of dfkit (its stdin closes) or a failed check rolls back.

use super::codec::open_decoder;
use super::counts::CopyCounter;
use super::stored::Stored;
use super::trailer::{trailer_name, trailer_ok, Tail};
use crate::db::Driver;
use crate::error::{Error, Result};
use crate::exec::{Cmd, Input, Output};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// What one pass over the decompressed dump found.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    /// Decompressed bytes.
    pub(super) raw: u64,
    /// The completion trailer is at the end.
    pub(super) trailer: bool,
    /// The longest line (≈ the longest statement of a mariadb-dump) and its 1-based number.
    pub(super) longest_line: u64,
    pub(super) longest_line_no: u64,
    /// pgsql: rows per table in the dump's `COPY` blocks.
    pub(super) copy_counts: Option<BTreeMap<String, u64>>,
    /// pgsql: the tables of those blocks, in stream order.
    pub(super) copy_order: Vec<String>,
}

/// Follows the stream: size, tail, longest line, COPY rows.
struct Scanner {
    s: Scanned,
    tail: Tail,
    line_len: u64,
    line_no: u64,
    copy: Option<CopyCounter>,
}

impl Scanner {
    fn new(driver: Driver) -> Scanner {
        Scanner {
            s: Scanned::default(),
            tail: Tail::new(8192),
            line_len: 0,
            line_no: 1,
            copy: (driver == Driver::Pgsql).then(CopyCounter::new),
        }
    }

    fn feed(&mut self, b: &[u8]) {
        self.s.raw += b.len() as u64;
        self.tail.push(b);
        if let Some(c) = &mut self.copy {
            c.feed(b);
        }
        let mut at = 0;
        for i in memchr::memchr_iter(b'\n', b) {
            self.end_line((i - at) as u64);
            at = i + 1;
        }
        self.line_len += (b.len() - at) as u64;
    }

    fn end_line(&mut self, more: u64) {
        let len = self.line_len + more;
        if len > self.s.longest_line {
            self.s.longest_line = len;
            self.s.longest_line_no = self.line_no;
        }
        self.line_len = 0;
        self.line_no += 1;
    }

    fn finish(mut self, driver: Driver) -> Scanned {
        if self.line_len > 0 {
            self.end_line(0);
        }
        self.s.trailer = trailer_ok(driver, &self.tail.buf);
        if let Some(c) = &mut self.copy {
            self.s.copy_order = std::mem::take(&mut c.order);
        }
        self.s.copy_counts = self.copy.and_then(CopyCounter::finish);
        self.s
    }
}

pub(super) fn undecompressable(st: &Stored, e: std::io::Error) -> Error {
    Error::bad_data(format!("{} does not decompress: {e}", st.path.display()))
        .with_hint("the dump is damaged; use another backup set")
}

/// Read the whole dump once, with no database touched (MariaDB: checked before
/// anything is dropped, since its DDL cannot be rolled back).
pub(super) fn prescan(st: &Stored) -> Result<Scanned> {
    let mut r = open_decoder(&st.path, st.compression)?;
    let mut sc = Scanner::new(st.driver);
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => sc.feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(undecompressable(st, e)),
        }
    }
    let s = sc.finish(st.driver);
    check_scanned(st, &s)?;
    Ok(s)
}

/// The stream is the one the meta describes: trailer, size, COPY rows (pgsql).
pub(super) fn check_scanned(st: &Stored, s: &Scanned) -> Result<()> {
    if !s.trailer {
        return Err(Error::bad_data(format!(
            "{} is truncated: no {} at its end",
            st.path.display(),
            trailer_name(st.driver)
        ))
        .with_hint("use another backup set"));
    }
    // 0: a meta that did not record it.
    if let Some(want) = Some(st.meta.uncompressed_bytes).filter(|w| *w != 0) {
        if want != s.raw {
            return Err(Error::bad_data(format!(
                "{} decompresses to {} bytes, db.meta.json says {want}",
                st.path.display(),
                s.raw
            ))
            .with_hint("use another backup set"));
        }
    }
    if let (Some(got), Some(want)) = (&s.copy_counts, &st.meta.row_counts) {
        let bad = crate::backup_set::compare_row_counts(want, got, false);
        if let Some(m) = bad.first() {
            return Err(Error::bad_data(format!(
                "{}: the dump's COPY data of {} table(s) differs from db.meta.json (first: {} has {:?} rows, the meta says {:?})",
                st.path.display(),
                bad.len(),
                m.table,
                m.found,
                m.expected
            ))
            .with_hint("use another backup set"));
        }
    }
    Ok(())
}

/// How a feed ended.
pub(super) struct Fed {
    pub(super) out: Output,
    /// `commit` was written: the client got the whole, checked stream.
    pub(super) committed: bool,
    /// Why the commit was withheld (the stream failed its checks).
    pub(super) withheld: Option<Error>,
    /// What the stream held.
    pub(super) scanned: Scanned,
}

/// Decompress the dump once, through the [`Scanner`] and the progress line, into
/// `sink`. `Ok(true)`: all of it was handed over; `Ok(false)`: `sink` refused a chunk
/// (its reader stopped); `Err`: the dump does not decompress.
pub(super) fn pump(
    ctx: &crate::report::Ctx,
    st: &Stored,
    mut decoder: impl Read,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> (std::io::Result<bool>, Scanned) {
    let mut progress =
        crate::progress::Progress::new(ctx, "restoring", crate::progress::Unit::Bytes);
    let mut sc = Scanner::new(st.driver);
    let mut buf = vec![0u8; 256 << 10];
    let fed = loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break Ok(true),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        };
        sc.feed(&buf[..n]);
        progress.inc(n as u64);
        if !sink(&buf[..n]) {
            break Ok(false);
        }
    };
    progress.finish();
    (fed, sc.finish(st.driver))
}

/// Feed the decompressed artifact and then — only when the whole stream was read and
/// passed [`check_scanned`] — `commit` into `cmd`'s stdin.
pub(super) fn stream_into(
    ctx: &crate::report::Ctx,
    cmd: &Cmd,
    st: &Stored,
    commit: &[u8],
) -> Result<Fed> {
    let decoder = open_decoder(&st.path, st.compression)?;
    // Its own process group (lib/exec): a kill of the client's helpers cannot outlive it,
    // and our death closes its stdin — the end of input without a commit.
    let mut run = cmd.clone().stdin(Input::Pipe).start()?;
    let mut stdin = run.take_stdin().expect("piped stdin");
    {
        use std::os::fd::AsRawFd;
        super::proc::grow_pipe(stdin.as_raw_fd());
    }
    // A failed write: the client stopped reading (it failed), its exit status tells why.
    let (fed, scanned) = pump(ctx, st, decoder, |b| stdin.write_all(b).is_ok());
    let mut committed = false;
    let mut withheld = None;
    match &fed {
        Ok(true) => match check_scanned(st, &scanned) {
            Ok(()) => committed = commit.is_empty() || stdin.write_all(commit).is_ok(),
            Err(e) => withheld = Some(e),
        },
        Ok(false) => {}
        Err(_) => run.kill(),
    }
    // Closing stdin without the commit ends the client's input mid-transaction: it
    // exits and the server rolls the transaction back.
    drop(stdin);
    let out = run.finish()?;
    if let Err(e) = fed {
        return Err(undecompressable(st, e));
    }
    Ok(Fed {
        out,
        committed,
        withheld,
        scanned,
    })
}

/// A client's error output fit for a message: its last lines, without statement
/// echoes and row data ([`super::errtext`]).
pub(super) fn client_error_text(out: &Output) -> String {
    super::errtext::last_lines(out.combined().as_bytes(), 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_finds_the_longest_line_across_chunks() {
        let mut sc = Scanner::new(Driver::Mysql);
        sc.feed(b"short\nabcdefghij");
        sc.feed(b"klm\nx\n-- Dump completed on now\n");
        let s = sc.finish(Driver::Mysql);
        assert_eq!((s.longest_line, s.longest_line_no), (24, 4));
        assert!(s.trailer);
        let mut sc = Scanner::new(Driver::Mysql);
        sc.feed(b"a\nbbbbbbbbbbbbb");
        sc.feed(b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n-- Dump completed\n");
        let s = sc.finish(Driver::Mysql);
        assert_eq!((s.longest_line, s.longest_line_no), (46, 2));
    }
}
