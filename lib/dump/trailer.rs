//! The completion trailer each dump program writes last, and the bounded tail of a
//! stream it is looked for in.

use crate::db::Driver;

/// The last bytes of a stream (for the trailer check), bounded.
pub(super) struct Tail {
    pub(super) buf: Vec<u8>,
    cap: usize,
}

impl Tail {
    pub(super) fn new(cap: usize) -> Tail {
        Tail {
            buf: Vec::with_capacity(cap * 2),
            cap,
        }
    }
    pub(super) fn push(&mut self, b: &[u8]) {
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

pub(super) fn trailer_name(d: Driver) -> &'static str {
    match d {
        Driver::Mysql => "`-- Dump completed`",
        Driver::Pgsql => "`-- PostgreSQL database dump complete`",
        Driver::Sqlite => "`COMMIT;`",
        Driver::Sqlsrv => "`BACKUP DATABASE successfully processed`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers() {
        let cases: &[(Driver, &[u8], bool)] = &[
            (
                Driver::Mysql,
                b"x\n-- Dump completed on 2026-01-01 10:00:00\n",
                true,
            ),
            (Driver::Mysql, b"-- Dump completed\nINSERT INTO x;\n", false),
            (
                Driver::Pgsql,
                b"--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc123\n\n",
                true,
            ),
            (
                Driver::Pgsql,
                b"-- PostgreSQL database dump complete\n--\n\n",
                true,
            ),
            (
                Driver::Pgsql,
                b"-- PostgreSQL database dump complete\nCREATE TABLE x();\n",
                false,
            ),
            (Driver::Sqlite, b"INSERT INTO t VALUES(1);\nCOMMIT;\n", true),
            (
                Driver::Sqlite,
                b"COMMIT;\nROLLBACK; -- due to errors\n",
                false,
            ),
            // Binary row data (escaped, not hex) before the trailer does not matter.
            (
                Driver::Mysql,
                b"(1,'\xff\xfe\\0\xc3');\n-- Dump completed on 2026-01-01\n",
                true,
            ),
        ];
        for (driver, tail, ok) in cases {
            assert_eq!(
                trailer_ok(*driver, tail),
                *ok,
                "{driver}: {}",
                String::from_utf8_lossy(tail)
            );
        }
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
}
