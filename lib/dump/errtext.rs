//! Program output fit for an error message: never row data, never unbounded.
//!
//! A failing client may echo the statement it choked on (the mysql client prints it
//! between `--------------` lines: a 10 MB row is 20 MB of hex), and a dump program's
//! messages may quote values. What reaches `error.message` (and so logs and wrappers'
//! reports) keeps the words and drops the data: echoed statements are removed, long
//! hex runs and overlong words are elided, each line and the whole text are capped.

/// The longest message text kept, in bytes.
pub const CAP: usize = 2048;
/// The longest line kept, in characters.
const LINE_CAP: usize = 240;
/// Hex digit runs at least this long are data (a checksum is 64; blobs are longer).
const HEX_RUN: usize = 65;
/// Words longer than this are data, not prose.
const WORD_CAP: usize = 64;

/// `text` with dump content removed and its size capped at [`CAP`].
pub fn clean(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        // The mysql client's echo of the failing statement comes between separator
        // lines; a bounded capture may have lost the first one, so the lines are judged
        // one by one rather than by pairing separators.
        if line.starts_with("--------------") {
            lines.push("[statement omitted]".to_string());
            continue;
        }
        let l = elide_long_words(&elide_hex(line));
        let l = if l.starts_with("INSERT INTO") || l.starts_with("COPY ") || l.starts_with('(') {
            "[statement omitted]".to_string()
        } else {
            l
        };
        lines.push(cap_chars(&l, LINE_CAP));
    }
    lines.dedup();
    let mut out = lines.join("\n");
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

/// Long runs of hex digits (optionally `0x`-prefixed) become `0x…[N hex digits]`.
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
            if i - start >= HEX_RUN {
                let from = if start >= 2 && &b[start - 2..start] == b"0x" {
                    start - 2
                } else {
                    start
                };
                out.push_str(&s[last..from]);
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

/// Words (runs without whitespace) longer than [`WORD_CAP`] are data, not prose: they
/// become `…[N bytes]`. (Quotes cannot be paired reliably: "Couldn't" has one.)
fn elide_long_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(4096));
    let mut last = 0;
    for (start, word) in words(s) {
        if word.len() > WORD_CAP {
            out.push_str(&s[last..start]);
            out.push_str(&format!("…[{} bytes]", word.len()));
            last = start + word.len();
        }
    }
    out.push_str(&s[last..]);
    out
}

/// `(byte offset, word)` of each whitespace-separated word.
fn words(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.split(char::is_whitespace)
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
}
