//! Per-table row counts read from a pg_dump stream itself.

use memchr::memchr;
use std::collections::BTreeMap;

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
    /// The tables in the order of their COPY blocks (psql reports `COPY n` in this order).
    pub order: Vec<String>,
}

/// COPY headers longer than this (a table with thousands of columns) are not expected.
pub(super) const COPY_HEADER_CAP: usize = 1 << 20;

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
            order: Vec::new(),
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
                    self.order.push(t.clone());
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
pub(super) fn copy_table(line: &[u8]) -> Option<String> {
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
pub(super) fn pg_ident(s: &str) -> Option<(String, &str)> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
