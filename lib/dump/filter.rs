//! The streaming rewrite of mysql dump text (sandbox line, DEFINER clauses).

/// The first line MariaDB ≥ 10.5.25 / 10.11.8 writes, which MySQL clients reject.
pub const MARIADB_SANDBOX_LINE: &[u8] = b"/*M!999999\\- enable the sandbox mode */";

/// Longest line held in memory while deciding whether it needs rewriting.
pub(super) const LINE_CAP: usize = 1 << 20;

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

pub(super) fn definer_re() -> &'static regex::bytes::Regex {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::bytes::Regex::new(r" ?DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`").expect("valid regex")
    })
}

pub(super) fn prefix_compatible(line: &[u8], pat: &[u8]) -> bool {
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
            && memchr::memmem::find(l, b"DEFINER=").is_some()
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
            let nl = memchr::memchr(b'\n', input);
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // Escaped binary row data (no --hex-blob) passes through byte for byte, even
        // where it looks like a header.
        let mut bin = b"INSERT INTO `b` VALUES\n(1,'\xff\xfe\\0CREATE DEFINER=`a`@`b`".to_vec();
        bin.extend_from_slice(b"\xc3'),\n(2,'/*!\x80');\n-- Dump completed\n");
        for chunk in [1usize, 3, 4096] {
            let mut f = DumpFilter::new(true, true);
            let mut out = Vec::new();
            for c in bin.chunks(chunk) {
                f.feed(c, &mut out);
            }
            f.finish(&mut out);
            assert_eq!(out, bin, "chunk {chunk}");
            assert_eq!(f.definers_removed, 0);
        }
    }
}
