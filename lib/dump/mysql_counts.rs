//! Per-table row counts read from a mariadb-dump / mysqldump stream itself.
//!
//! The counts are of the very snapshot dumped (`--single-transaction`), whatever
//! writers do meanwhile, and cost no extra connection. Each base table whose data is
//! dumped gets a `-- Dumping data for table `t`` comment (so empty tables count 0), and
//! its rows come as extended inserts:
//!
//! ```sql
//! INSERT INTO `t` VALUES (1,'a'),(2,'),(\'x')');     -- mysqldump, MariaDB < 10.5
//! INSERT INTO `t` VALUES
//! (1,'a'),
//! (2,'b');                                            -- MariaDB ≥ 10.5
//! ```
//!
//! A row is a `(` at parenthesis depth 0 outside a string. Strings are single-quoted
//! with backslash escapes (mariadb-dump writes `\'`, never `''`, but `''` parses the
//! same: two adjacent strings); binary values come as `0x…` or escaped strings; no
//! value has a parenthesis outside a string. So a `),(` inside a string is never
//! mistaken for a row boundary.

use memchr::{memchr, memchr2, memchr3};
use std::collections::BTreeMap;

/// A statement header longer than this is not an INSERT we recognise (a table name is
/// at most 64 characters).
const HEAD_CAP: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// At the start of a line, collecting it into `head` until we know what it is.
    Head,
    /// Skipping to the end of the line.
    Skip,
    /// Inside an INSERT's VALUES list.
    Values,
}

/// Counts rows per table in a mysql dump as it streams past, in bounded memory.
pub struct InsertCounter {
    st: St,
    head: Vec<u8>,
    table: String,
    depth: u32,
    in_str: bool,
    esc: bool,
    /// Bytes of the current INSERT statement so far.
    stmt: u64,
    /// INSERT lines whose header could not be read (then the counts are not trusted).
    unparsed: u64,
    /// The longest INSERT statement, in bytes (what a restore must be able to send).
    pub max_statement: u64,
    pub counts: BTreeMap<String, u64>,
}

impl Default for InsertCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// A backtick-quoted name at the start of `b` (`` ` `` doubled inside): the name and
/// the bytes after it; None when `b` ends first.
fn backticked(b: &[u8]) -> Option<(String, &[u8])> {
    let mut r = b.strip_prefix(b"`")?;
    let mut name = Vec::new();
    loop {
        let q = memchr(b'`', r)?;
        name.extend_from_slice(&r[..q]);
        r = &r[q + 1..];
        match r.first() {
            Some(b'`') => {
                name.push(b'`');
                r = &r[1..];
            }
            Some(_) => return Some((String::from_utf8_lossy(&name).into_owned(), r)),
            None => return None,
        }
    }
}

fn prefix_compatible(line: &[u8], pat: &[u8]) -> bool {
    if line.len() >= pat.len() {
        line.starts_with(pat)
    } else {
        pat.starts_with(line)
    }
}

const INSERT: &[u8] = b"INSERT INTO `";
const DATA_COMMENT: &[u8] = b"-- Dumping data for table `";

/// What a line's beginning says.
enum Head {
    /// Not enough bytes yet.
    More,
    /// Not interesting (or fully handled): skip the rest of the line.
    Skip,
    /// An INSERT into the table; VALUES start after `usize` bytes of the head.
    Insert(String, usize),
}

impl InsertCounter {
    pub fn new() -> InsertCounter {
        InsertCounter {
            st: St::Head,
            head: Vec::new(),
            table: String::new(),
            depth: 0,
            in_str: false,
            esc: false,
            stmt: 0,
            unparsed: 0,
            max_statement: 0,
            counts: BTreeMap::new(),
        }
    }

    /// Decide what the line in `head` is, as far as it goes (`complete`: the whole line).
    fn judge(&mut self, complete: bool) -> Head {
        let h = &self.head[..];
        if h.starts_with(DATA_COMMENT) {
            return match backticked(&h[DATA_COMMENT.len() - 1..]) {
                Some((name, _)) => {
                    self.counts.entry(name).or_insert(0);
                    Head::Skip
                }
                None if complete || h.len() > HEAD_CAP => Head::Skip,
                None => Head::More,
            };
        }
        if h.starts_with(INSERT) {
            let Some((name, rest)) = backticked(&h[INSERT.len() - 1..]) else {
                if complete || h.len() > HEAD_CAP {
                    self.unparsed += 1;
                    return Head::Skip;
                }
                return Head::More;
            };
            const VALUES: &[u8] = b" VALUES";
            if rest.len() <= VALUES.len() {
                if complete || h.len() > HEAD_CAP {
                    self.unparsed += 1;
                    return Head::Skip;
                }
                return Head::More;
            }
            if rest.starts_with(VALUES) && matches!(rest[VALUES.len()], b' ' | b'\n' | b'(') {
                let at = h.len() - rest.len() + VALUES.len();
                return Head::Insert(name, at);
            }
            // e.g. a column list (--complete-insert): not what we run.
            self.unparsed += 1;
            return Head::Skip;
        }
        if prefix_compatible(h, INSERT) || prefix_compatible(h, DATA_COMMENT) {
            if complete {
                return Head::Skip;
            }
            return Head::More;
        }
        Head::Skip
    }

    /// The next chunk of the stream.
    pub fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match self.st {
                St::Skip => match memchr(b'\n', input) {
                    Some(p) => {
                        input = &input[p + 1..];
                        self.st = St::Head;
                    }
                    None => return,
                },
                St::Head => {
                    let nl = memchr(b'\n', input);
                    let end = nl.map_or(input.len(), |p| p + 1);
                    let before = self.head.len();
                    self.head.extend_from_slice(&input[..end]);
                    match self.judge(nl.is_some()) {
                        Head::More => {
                            input = &input[end..];
                        }
                        Head::Skip => {
                            self.head.clear();
                            input = &input[end..];
                            self.st = if nl.is_some() { St::Head } else { St::Skip };
                        }
                        Head::Insert(table, at) => {
                            // Resume right after `VALUES` in this chunk.
                            let used = at - before;
                            self.stmt = at as u64;
                            self.head.clear();
                            self.table = table;
                            self.counts.entry(self.table.clone()).or_insert(0);
                            self.depth = 0;
                            self.in_str = false;
                            self.esc = false;
                            self.st = St::Values;
                            input = &input[used..];
                        }
                    }
                }
                St::Values => input = self.values(input),
            }
        }
    }

    /// Scan VALUES bytes; returns what is left after the statement's `;` (or nothing).
    fn values<'a>(&mut self, input: &'a [u8]) -> &'a [u8] {
        let mut i = 0;
        while i < input.len() {
            if self.esc {
                self.esc = false;
                i += 1;
                continue;
            }
            let rest = &input[i..];
            if self.in_str {
                match memchr2(b'\\', b'\'', rest) {
                    Some(p) => {
                        i += p + 1;
                        if rest[p] == b'\\' {
                            self.esc = true;
                        } else {
                            self.in_str = false;
                        }
                    }
                    None => i = input.len(),
                }
                continue;
            }
            let Some(p) = memchr3(b'\'', b'(', b')', rest).map(|p| {
                // A `;` before the next interesting byte ends the statement.
                match memchr(b';', &rest[..p]) {
                    Some(q) if self.depth == 0 => q,
                    _ => p,
                }
            }) else {
                if self.depth == 0 {
                    if let Some(q) = memchr(b';', rest) {
                        return self.end_statement(input, i + q);
                    }
                }
                i = input.len();
                continue;
            };
            match rest[p] {
                b'\'' => self.in_str = true,
                b'(' => {
                    if self.depth == 0 {
                        *self.counts.get_mut(&self.table).expect("registered") += 1;
                    }
                    self.depth += 1;
                }
                b')' => self.depth = self.depth.saturating_sub(1),
                _ => return self.end_statement(input, i + p),
            }
            i += p + 1;
        }
        self.stmt += input.len() as u64;
        &input[input.len()..]
    }

    fn end_statement<'a>(&mut self, input: &'a [u8], semi: usize) -> &'a [u8] {
        self.stmt += semi as u64 + 1;
        self.max_statement = self.max_statement.max(self.stmt);
        self.stmt = 0;
        self.st = St::Skip;
        &input[semi + 1..]
    }

    /// The counts, or None when the stream ended inside an INSERT or held one we could
    /// not read.
    pub fn finish(self) -> Option<BTreeMap<String, u64>> {
        (self.st != St::Values && self.unparsed == 0).then_some(self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &[u8] = b"-- MariaDB dump 10.19\n\
--\n-- Table structure for table `user`\n--\n\n\
CREATE TABLE `user` (\n  `id` int(11) NOT NULL,\n  `name` varchar(255)\n);\n\
--\n-- Dumping data for table `user`\n--\n\n\
LOCK TABLES `user` WRITE;\n\
INSERT INTO `user` VALUES\n(1,'a),(b'),\n(2,'it\\'s (x)'),\n(3,'back\\\\'),\n(4,0xDEAD);\n\
INSERT INTO `user` VALUES (5,NULL),(6,'\\n;\\''),(7,'');\n\
UNLOCK TABLES;\n\
--\n-- Dumping data for table `empty`\n--\n\n\
--\n-- Dumping data for table `we``ird`\n--\n\n\
INSERT INTO `we``ird` VALUES (1,'INSERT INTO `user` VALUES (9);');\n\
/*!50003 CREATE*/ /*!50017 DEFINER=`u`@`%`*/ /*!50003 TRIGGER t BEFORE INSERT ON `user` FOR EACH ROW SET @a=(1) */;;\n\
-- Dump completed on 2026-11-29 08:00:00\n";

    #[test]
    fn counts_rows_of_extended_inserts_in_any_chunking() {
        for chunk in [4096usize, 1, 2, 3, 7, 64] {
            let mut c = InsertCounter::new();
            for part in DUMP.chunks(chunk) {
                c.feed(part);
            }
            let max = c.max_statement;
            let counts = c.finish().expect("complete");
            let want: BTreeMap<String, u64> = [("user", 7), ("empty", 0), ("we`ird", 1)]
                .into_iter()
                .map(|(t, n)| (t.to_string(), n))
                .collect();
            assert_eq!(counts, want, "chunk {chunk}");
            assert_eq!(
                max,
                "INSERT INTO `user` VALUES\n(1,'a),(b'),\n(2,'it\\'s (x)'),\n(3,'back\\\\'),\n(4,0xDEAD);"
                    .len() as u64,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn binary_values_escaped_as_mariadb_dump_writes_them_are_bytes_not_text() {
        // Without --hex-blob a BLOB is an escaped string of raw bytes: invalid UTF-8,
        // parentheses, semicolons and quotes (escaped) inside it.
        let mut dump = b"-- Dumping data for table `b`\nINSERT INTO `b` VALUES\n(1,'".to_vec();
        dump.extend_from_slice(b"\xff\xfe(;)\\'\xc3\\0\x80),(");
        dump.extend_from_slice(b"'),\n(2,'\xe0\\\\');\n-- Dump completed\n");
        for chunk in [1usize, 2, 5, 4096] {
            let mut c = InsertCounter::new();
            for part in dump.chunks(chunk) {
                c.feed(part);
            }
            assert_eq!(c.finish().expect("complete")["b"], 2, "chunk {chunk}");
        }
    }

    #[test]
    fn a_cut_off_insert_is_not_counted() {
        let mut c = InsertCounter::new();
        c.feed(b"INSERT INTO `t` VALUES (1,'a'),(2,'b");
        assert!(c.finish().is_none());
        let mut c = InsertCounter::new();
        c.feed(b"INSERT INTO `t` (`a`) VALUES (1);\n");
        assert!(c.finish().is_none(), "an unread header is not trusted");
    }
}
