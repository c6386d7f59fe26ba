//! Program output fit for an error message: never row data, never unbounded.
//!
//! A failing client may echo the statement it choked on (the mysql client prints it
//! between `--------------` lines, MariaDB quotes it in `near '…'`, psql in `LINE n:`
//! with a caret under it), and a dump program's messages may quote values. MariaDB
//! dumps carry binary values as escaped bytes (no `--hex-blob`), so such a quote may be
//! raw binary: output is read as bytes and decoded lossily, and a word holding a byte
//! that is not text (U+FFFD from the decoding, a control character) is data. What
//! reaches `error.message` (and so logs and wrappers' reports) keeps the words and
//! drops the data: echoed statements are removed, hex runs, binary and overlong words
//! are elided, each line and the whole text are capped.

/// The longest message text kept, in bytes.
pub const CAP: usize = 2048;
/// The longest line kept, in characters.
const LINE_CAP: usize = 240;
/// Hex digit runs at least this long are data (a checksum is 64; blobs are longer).
const HEX_RUN: usize = 65;
/// `0x` literals with at least this many digits are data.
const HEX_LITERAL: usize = 16;
/// Words longer than this are data, not prose.
const WORD_CAP: usize = 64;

/// `text` with dump content removed, one line per line, its size capped at [`CAP`].
pub fn clean(text: &str) -> String {
    cap_total(message_lines(text).join("\n"))
}

/// A client's output (any bytes) fit for a message: its last `n` lines after
/// [`clean`]'s rules, joined with ` | `.
pub fn last_lines(output: &[u8], n: usize) -> String {
    let lines = message_lines(&String::from_utf8_lossy(output));
    let start = lines.len().saturating_sub(n);
    cap_total(lines[start..].join(" | "))
}

/// The lines worth keeping, each cleaned: statement echoes become one
/// `[statement omitted]` (psql's `LINE n:` echo and its caret go), blank lines go.
fn message_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut skip_caret = false;
    for line in text.lines() {
        let t = line.trim_end();
        if std::mem::take(&mut skip_caret) && t.trim_start().starts_with('^') {
            continue;
        }
        if psql_echo(t) {
            skip_caret = true;
            continue;
        }
        if t.trim().is_empty() {
            continue;
        }
        // The mysql client's echo of the failing statement comes between separator
        // lines; a bounded capture may have lost the first one, so the lines are judged
        // one by one rather than by pairing separators.
        let echo = t.starts_with("--------------")
            || t.starts_with("INSERT INTO")
            || t.starts_with("COPY ")
            || t.starts_with('(');
        let l = if echo {
            "[statement omitted]".to_string()
        } else {
            cap_chars(&elide_words(&elide_hex(&elide_near(t))), LINE_CAP)
        };
        if lines.last() != Some(&l) {
            lines.push(l);
        }
    }
    lines
}

/// psql's `LINE 12: <statement text>`.
fn psql_echo(t: &str) -> bool {
    t.strip_prefix("LINE ")
        .and_then(|r| r.split(':').next())
        .is_some_and(|n| n.parse::<u64>().is_ok())
}

fn cap_total(mut out: String) -> String {
    if out.len() > CAP {
        let mut cut = CAP;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(" …[cut]");
    }
    out
}

fn cap_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{} …[{} bytes cut]", &s[..i], s.len() - i),
        None => s.to_string(),
    }
}

/// MariaDB's `near '<statement text>' at line N` quotes the statement (row data, maybe
/// binary): the quote becomes `near '…[N bytes]'`.
fn elide_near(s: &str) -> String {
    const NEAR: &str = "near '";
    let Some(start) = s.find(NEAR).map(|i| i + NEAR.len()) else {
        return s.to_string();
    };
    let end = s
        .rfind("' at line ")
        .filter(|e| *e >= start)
        .unwrap_or(s.len());
    if end == start {
        return s.to_string();
    }
    format!("{}…[{} bytes]{}", &s[..start], end - start, &s[end..])
}

/// Long runs of hex digits (bare, or a `0x` literal) become `0x…[N hex digits]`.
fn elide_hex(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len().min(4096));
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i].is_ascii_hexdigit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            let literal = start >= 2 && b[start - 2..start].eq_ignore_ascii_case(b"0x");
            if i - start >= HEX_RUN || (literal && i - start >= HEX_LITERAL) {
                out.push_str(&s[last..if literal { start - 2 } else { start }]);
                out.push_str(&format!("0x…[{} hex digits]", i - start));
                last = i;
            }
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last..]);
    out
}

/// Words (runs without whitespace) longer than [`WORD_CAP`], or holding a byte that is
/// not text, are data: they become `…[N bytes]`. (Quotes cannot be paired reliably:
/// "Couldn't" has one.)
fn elide_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(4096));
    let mut last = 0;
    for (start, word) in words(s) {
        let binary = word
            .chars()
            .any(|c| c == char::REPLACEMENT_CHARACTER || c.is_control());
        if word.len() > WORD_CAP || binary {
            out.push_str(&s[last..start]);
            out.push_str(&format!("…[{} bytes]", word.len()));
            last = start + word.len();
        }
    }
    out.push_str(&s[last..]);
    out
}

/// `(byte offset, word)` of each word (split at spaces and tabs; other control
/// characters stay inside words, and mark them as data).
fn words(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(move |w| (w.as_ptr() as usize - s.as_ptr() as usize, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_statements_and_long_data_are_dropped() {
        let hex = "AB".repeat(60_000);
        let text = format!(
            "--------------\nINSERT INTO `b` VALUES\n(2,0x{hex})\n--------------\n\n\
             ERROR 2006 (HY000) at line 42: Server has gone away\n\
             mariadb-dump: Couldn't execute 'SELECT x FROM t WHERE v = ''{}''': boom\n\
             got 0x{hex} here\n",
            "s".repeat(500)
        );
        let c = clean(&text);
        assert!(c.len() <= CAP + 16, "{}", c.len());
        assert!(!c.contains("ABABABAB"), "{c}");
        assert!(!c.contains(&"s".repeat(100)), "{c}");
        assert!(
            c.contains("ERROR 2006 (HY000) at line 42: Server has gone away"),
            "{c}"
        );
        assert!(c.contains("[statement omitted]"));
        assert!(c.contains("0x…[120000 hex digits]"), "{c}");
        let c = clean(&"é ".repeat(10_000));
        assert!(c.chars().count() < 300 && c.contains("bytes cut"), "{c}");
        assert_eq!(clean(&"é".repeat(10_000)), "…[20000 bytes]");
        assert_eq!(clean("short and sweet"), "short and sweet");
    }

    #[test]
    fn binary_row_data_never_reaches_a_message() {
        // What the mysql client says about an escaped binary value (no --hex-blob):
        // raw bytes, invalid UTF-8, control characters (an ESC could drive a terminal).
        let mut raw = b"ERROR 1064 (42000) at line 7: You have an error in your SQL syntax; \
            check the manual for the right syntax to use near '"
            .to_vec();
        raw.extend_from_slice(&[0xff, 0xfe, b'a', 0x1b, b'[', b'2', b'J', b' ', 0xc3, b'x']);
        raw.extend_from_slice(b"' at line 1\nstray \x01\x02 bytes \xe0\\0 here\n");
        let c = last_lines(&raw, 5);
        assert!(c.contains("ERROR 1064 (42000) at line 7"), "{c}");
        assert!(c.contains("near '…[16 bytes]' at line 1"), "{c}");
        assert!(
            !c.contains('\u{fffd}') && !c.chars().any(char::is_control),
            "{c:?}"
        );
        assert!(
            c.contains("stray …[2 bytes] bytes …[5 bytes] here"),
            "{c:?}"
        );
    }

    #[test]
    fn client_output_keeps_the_words_and_drops_echoes() {
        let hex = format!("0x{}", "41".repeat(60_000));
        let e = last_lines(
            format!("ERROR 1064 (42000) at line 7: You have an error near '{hex}' at line 1\n")
                .as_bytes(),
            5,
        );
        assert!(e.len() < 400, "{e}");
        assert!(e.contains("at line 7") && !e.contains("4141"), "{e}");
        let e = last_lines(
            b"psql:<stdin>:12: ERROR:  column \"nope\" does not exist\nLINE 1: select nope, 'secret row';\n               ^\n",
            5,
        );
        assert_eq!(e, "psql:<stdin>:12: ERROR:  column \"nope\" does not exist");
        assert_eq!(
            last_lines(b"short 0x0123456789abcdef0 lit\n", 5),
            "short 0x…[17 hex digits] lit"
        );
    }
}
