//! MariaDB/MySQL: the scratch import over several client connections at once.
//!
//! One `mariadb` client applies a dump one statement at a time, so the server loads a
//! large table on one core. Here the dump still streams once, in order, into connection
//! 0; only the `INSERT` statements of a table's data section (between mariadb-dump's
//! `LOCK TABLES `t` WRITE;` and `UNLOCK TABLES;`) after its first one go to whichever
//! connection has the least waiting in its pipe. The rows land in the scratch database
//! (restore_mysql), which nothing else reads before the swap, and the row counts are
//! checked there before it, so an import that went wrong in any way never reaches the
//! target.
//!
//! Order is kept where it matters, by a round trip (`SELECT 'dfkit-sync-N';`, its echo
//! read back from the client's stdout):
//! - a table's first `INSERT` goes to connection 0 behind its `CREATE TABLE`; before the
//!   second goes anywhere else, connection 0 has executed both (the table exists and is
//!   no longer empty: two first inserts into an empty InnoDB table can deadlock);
//! - before anything that follows the data (`ENABLE KEYS`, `UNLOCK TABLES`, the table's
//!   triggers, the next table), every connection has executed what it was given, so a
//!   trigger never fires on restored rows.
//!
//! The `LOCK TABLES ... WRITE` line is dropped (it would hold the other connections
//! off), and every connection first runs the dump's header (`SET NAMES`, `TIME_ZONE`,
//! `SQL_MODE`, `UNIQUE_CHECKS`/`FOREIGN_KEY_CHECKS`), so the rows are read as the dump
//! wrote them. A dump whose header does not set the character set is fed to connection 0
//! alone. Memory stays flat: lines are streamed through, never held whole.

use super::codec::open_decoder;
use super::restore_feed::{check_scanned, pump, undecompressable, Fed};
use super::stored::Stored;
use crate::error::{Error, Result};
use crate::exec::{Cmd, Input, Output, Running};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::process::{ChildStdin, ChildStdout};

/// How many bytes of a line are looked at to classify it.
const HEAD: usize = 256;

/// A header longer than this is not mariadb-dump's (a few hundred bytes).
const HEADER_CAP: usize = 64 << 10;

/// One client connection.
struct Conn {
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    used: bool,
}

impl Conn {
    /// Bytes written to this connection that its client has not read yet.
    fn waiting(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD on a pipe (either end) stores the bytes in it into `n`.
        let ok =
            unsafe { libc::ioctl(self.stdin.get_ref().as_raw_fd(), libc::FIONREAD, &mut n) } == 0;
        self.stdin.buffer().len() + if ok { n.max(0) as usize } else { 0 }
    }
}

/// Where the current line goes.
#[derive(Clone, Copy)]
enum Dest {
    Conn(usize),
    Drop,
}

/// The dump's lines, routed to the connections.
struct Router {
    conns: Vec<Conn>,
    /// The start of the current line while it is being classified.
    head: Vec<u8>,
    /// The current line's destination once classified.
    dest: Option<Dest>,
    /// The current line's last byte so far (a statement ends with a line ending in `;`).
    last: u8,
    /// The dump's header, while it is being read; `None` once it ended.
    header: Option<Vec<u8>>,
    /// The header set the character set: other connections may take rows.
    fan_out: bool,
    delimiter_is_semicolon: bool,
    /// Inside a table's data section.
    in_data: bool,
    /// The section's first INSERT has been sent (to connection 0).
    first_insert_sent: bool,
    /// Other connections took part of this section: a barrier is due before its end.
    spread: bool,
    /// The connection of the INSERT statement being streamed.
    insert: Option<usize>,
    /// Markers sent so far.
    seq: u64,
    /// The most connections that took rows of one section.
    most_used: usize,
    /// The connection picked last.
    last_pick: usize,
}

/// Feeding stopped early: a client stopped reading or closed its output (its exit
/// status tells why).
struct Stop;

impl From<std::io::Error> for Stop {
    fn from(_: std::io::Error) -> Stop {
        Stop
    }
}

fn is_header_line(line: &[u8]) -> bool {
    line.is_empty()
        || line.starts_with(b"--")
        || line.starts_with(super::filter::MARIADB_SANDBOX_LINE)
        || ((line.starts_with(b"/*!") || line.starts_with(b"/*M!"))
            && contains(line, b" SET ")
            && line.ends_with(b"*/;"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl Router {
    fn send(&mut self, to: usize, b: &[u8]) -> std::result::Result<(), Stop> {
        self.conns[to].stdin.write_all(b)?;
        Ok(())
    }

    /// Wait until each of `which` has executed everything it was sent.
    fn sync(&mut self, which: &[usize]) -> std::result::Result<(), Stop> {
        let mut markers = Vec::new();
        for &i in which {
            self.seq += 1;
            let m = format!("dfkit-sync-{}", self.seq);
            let c = &mut self.conns[i];
            c.stdin.write_all(format!("SELECT '{m}';\n").as_bytes())?;
            c.stdin.flush()?;
            markers.push((i, m));
        }
        let mut line = Vec::new();
        for (i, m) in markers {
            loop {
                line.clear();
                if self.conns[i].stdout.read_until(b'\n', &mut line)? == 0 {
                    return Err(Stop);
                }
                if line.strip_suffix(b"\n").unwrap_or(&line) == m.as_bytes() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Every connection that took rows of this section has executed them.
    fn barrier(&mut self) -> std::result::Result<(), Stop> {
        if self.spread {
            let used: Vec<usize> = (0..self.conns.len())
                .filter(|&i| i == 0 || self.conns[i].used)
                .collect();
            self.most_used = self.most_used.max(used.len());
            self.sync(&used)?;
            for c in &mut self.conns {
                c.used = false;
            }
            self.spread = false;
        }
        Ok(())
    }

    /// The header ended: the other connections run it too.
    fn end_header(&mut self) -> std::result::Result<(), Stop> {
        if let Some(h) = self.header.take() {
            self.fan_out = self.conns.len() > 1 && contains(&h, b"SET NAMES ");
            if self.fan_out {
                for i in 1..self.conns.len() {
                    self.send(i, &h)?;
                    self.conns[i].stdin.flush()?;
                }
            }
        }
        Ok(())
    }

    /// The connection for the next INSERT of a data section.
    fn pick(&mut self) -> std::result::Result<usize, Stop> {
        if !self.fan_out || !self.first_insert_sent {
            return Ok(0);
        }
        if !self.spread {
            // The table exists and holds its first rows before others insert.
            self.sync(&[0])?;
            self.spread = true;
        }
        // The least waiting; among equals (a client that read its statement and one that
        // is idle both show none) the next in turn.
        let n = self.conns.len();
        let best = (1..=n)
            .map(|k| (self.last_pick + k) % n)
            .min_by_key(|&i| self.conns[i].waiting())
            .unwrap_or(0);
        self.conns[best].used = true;
        self.last_pick = best;
        Ok(best)
    }

    /// Decide where a line goes from its start (`complete`: the whole line, without its
    /// newline).
    fn classify(&mut self, head: &[u8], complete: bool) -> std::result::Result<Dest, Stop> {
        if let Some(c) = self.insert {
            return Ok(Dest::Conn(c));
        }
        if self.header.is_some() {
            let held = self.header.as_ref().map_or(0, Vec::len);
            if complete && is_header_line(head) && held < HEADER_CAP {
                if let Some(h) = &mut self.header {
                    h.extend_from_slice(head);
                    h.push(b'\n');
                }
                return Ok(Dest::Conn(0));
            }
            if held >= HEADER_CAP {
                // Not a mariadb-dump header: connection 0 alone.
                self.header = None;
            }
            self.end_header()?;
        }
        if complete && head.starts_with(b"DELIMITER ") {
            self.barrier()?;
            self.delimiter_is_semicolon = head[10..].trim_ascii() == b";";
            return Ok(Dest::Conn(0));
        }
        if !self.delimiter_is_semicolon {
            return Ok(Dest::Conn(0));
        }
        if !self.in_data {
            if complete && head.starts_with(b"LOCK TABLES `") && head.ends_with(b"` WRITE;") {
                self.in_data = true;
                self.first_insert_sent = false;
                return Ok(Dest::Drop);
            }
            return Ok(Dest::Conn(0));
        }
        if head.starts_with(b"INSERT INTO `") {
            let c = self.pick()?;
            self.insert = Some(c);
            return Ok(Dest::Conn(c));
        }
        self.barrier()?;
        if complete && head == b"UNLOCK TABLES;" {
            self.in_data = false;
        }
        Ok(Dest::Conn(0))
    }

    /// The current line ended (its newline was sent).
    fn end_line(&mut self) -> std::result::Result<(), Stop> {
        if let Some(c) = self.insert {
            if self.last == b';' {
                self.insert = None;
                self.first_insert_sent = true;
                // The client can start on it now.
                self.conns[c].stdin.flush()?;
            }
        }
        self.dest = None;
        self.last = 0;
        Ok(())
    }

    fn emit(&mut self, dest: Dest, b: &[u8]) -> std::result::Result<(), Stop> {
        if let Some(&l) = b.last() {
            self.last = l;
        }
        match dest {
            Dest::Conn(c) => self.send(c, b),
            Dest::Drop => Ok(()),
        }
    }

    /// The line's start so far plus `more`: classified, sent, and its destination kept
    /// for the rest of the line.
    fn route_head(&mut self, more: &[u8], complete: bool) -> std::result::Result<Dest, Stop> {
        let mut head = std::mem::take(&mut self.head);
        head.extend_from_slice(more);
        let d = self.classify(&head, complete)?;
        self.dest = Some(d);
        self.emit(d, &head)?;
        head.clear();
        self.head = head;
        Ok(d)
    }

    /// Route a chunk of the dump.
    fn feed(&mut self, mut b: &[u8]) -> std::result::Result<(), Stop> {
        while !b.is_empty() {
            let nl = memchr::memchr(b'\n', b);
            match self.dest {
                Some(d) => {
                    // The rest of a classified line.
                    let end = nl.map_or(b.len(), |i| i + 1);
                    let part = &b[..nl.unwrap_or(b.len())];
                    self.emit(d, part)?;
                    if nl.is_some() {
                        if let Dest::Conn(c) = d {
                            self.send(c, b"\n")?;
                        }
                        self.end_line()?;
                    }
                    b = &b[end..];
                }
                None => {
                    let line_end = nl.unwrap_or(b.len());
                    let room = HEAD - self.head.len();
                    if line_end <= room && nl.is_some() {
                        // The whole line is here: classify it complete.
                        let d = self.route_head(&b[..line_end], true)?;
                        if let Dest::Conn(c) = d {
                            self.send(c, b"\n")?;
                        }
                        self.end_line()?;
                        b = &b[line_end + 1..];
                    } else if line_end < room {
                        // The chunk ended inside a short line.
                        self.head.extend_from_slice(b);
                        b = &[];
                    } else {
                        // A long line: classified from its start, then streamed.
                        self.route_head(&b[..room], false)?;
                        b = &b[room..];
                    }
                }
            }
        }
        Ok(())
    }

    /// The end of the dump: the last line (without a newline), then everything flushed.
    fn finish(&mut self) -> std::result::Result<(), Stop> {
        if self.dest.is_none() && !self.head.is_empty() {
            self.route_head(&[], true)?;
        }
        self.barrier()?;
        for c in &mut self.conns {
            c.stdin.flush()?;
        }
        Ok(())
    }
}

/// What a side-by-side import did.
pub(super) struct FanOut {
    pub(super) fed: Fed,
    /// The most connections that loaded one table's rows at once (1: none were spread).
    pub(super) connections: usize,
}

/// Stream the dump into `jobs` clients made from `cmd` (a `mariadb --batch … scratch`),
/// spreading the rows of large tables over them; the stream's checks
/// ([`check_scanned`]) as in [`super::restore_feed::stream_into`]. `fed.out` is the
/// first failed client's output, else connection 0's.
pub(super) fn stream_fanned_out(
    ctx: &crate::report::Ctx,
    cmd: &Cmd,
    st: &Stored,
    jobs: usize,
) -> Result<FanOut> {
    let decoder = open_decoder(&st.path, st.compression)?;
    let client = cmd
        .clone()
        .args(["--skip-column-names", "--unbuffered"])
        .stdin(Input::Pipe)
        .pipe_stdout();
    // Started here, on the thread that waits for them (lib/exec's death signal).
    let mut runs: Vec<Running> = Vec::with_capacity(jobs);
    let mut conns = Vec::with_capacity(jobs);
    for _ in 0..jobs.max(1) {
        let mut run = client.start()?;
        let stdin = run.take_stdin().expect("piped stdin");
        let stdout = run.take_stdout().expect("piped stdout");
        super::proc::grow_pipe(stdin.as_raw_fd());
        conns.push(Conn {
            stdin: BufWriter::with_capacity(256 << 10, stdin),
            stdout: BufReader::new(stdout),
            used: false,
        });
        runs.push(run);
    }
    let mut r = Router {
        conns,
        head: Vec::with_capacity(HEAD),
        dest: None,
        last: 0,
        header: Some(Vec::new()),
        fan_out: false,
        delimiter_is_semicolon: true,
        in_data: false,
        first_insert_sent: false,
        spread: false,
        insert: None,
        seq: 0,
        most_used: 1,
        last_pick: 0,
    };
    // Ok(true) and finished: all of it went to the clients; Ok(false): one stopped.
    let (fed, scanned) = pump(ctx, st, decoder, |b| r.feed(b).is_ok());
    let fed = fed.map(|all| all && r.finish().is_ok());
    let connections = r.most_used;
    let mut withheld = match &fed {
        Ok(true) => check_scanned(st, &scanned).err(),
        _ => None,
    };
    if fed.is_err() {
        for run in &mut runs {
            run.kill();
        }
    }
    // End of input for every client at once; each exits when it has executed its part.
    drop(r);
    let mut outs: Vec<Output> = Vec::with_capacity(runs.len());
    for run in runs {
        outs.push(run.finish()?);
    }
    let fed = fed.map_err(|e| undecompressable(st, e))?;
    let failed = outs.iter().position(|o| !o.success());
    if failed.is_none() && !fed && withheld.is_none() {
        // Every client exited 0, yet one stopped reading: never take that for done.
        withheld = Some(Error::step(
            "a client connection stopped reading the dump before its end".to_string(),
        ));
    }
    let out = outs.swap_remove(failed.unwrap_or(0));
    Ok(FanOut {
        fed: Fed {
            out,
            committed: fed && withheld.is_none(),
            withheld,
            scanned,
        },
        connections,
    })
}

/// A client of a side-by-side import failed on a lock conflict between its connections
/// (deadlock, lock wait timeout), not on the dump: one connection will do.
pub(super) fn lock_conflict(out: &Output) -> bool {
    let text = out.combined();
    text.contains("ERROR 1213 ") || text.contains("ERROR 1205 ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_are_the_dumps_settings_and_comments() {
        assert!(is_header_line(b""));
        assert!(is_header_line(b"-- MariaDB dump 10.19"));
        assert!(is_header_line(b"/*!40101 SET NAMES utf8mb4 */;"));
        assert!(is_header_line(
            b"/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */;"
        ));
        assert!(is_header_line(b"/*M!999999\\- enable the sandbox mode */ "));
        assert!(!is_header_line(b"DROP TABLE IF EXISTS `t`;"));
        assert!(!is_header_line(b"/*!50001 CREATE VIEW `v` AS SELECT 1 */;"));
    }

    fn failed_with(stderr: &str) -> Output {
        Output {
            code: Some(1),
            signal: None,
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
            duration: std::time::Duration::ZERO,
            timed_out: false,
        }
    }

    #[test]
    fn only_lock_conflicts_are_retried_over_one_connection() {
        let deadlock = "ERROR 1213 (40001) at line 12: Deadlock found when trying to get lock; try restarting transaction";
        assert!(lock_conflict(&failed_with(deadlock)));
        let timeout =
            "ERROR 1205 (HY000) at line 3: Lock wait timeout exceeded; try restarting transaction";
        assert!(lock_conflict(&failed_with(timeout)));
        let dump_error = "ERROR 1146 (42S02) at line 1033: Table 'x.wide' doesn't exist";
        assert!(!lock_conflict(&failed_with(dump_error)));
        assert!(!lock_conflict(&failed_with(
            "ERROR 12130 (HY000): something else"
        )));
    }
}
