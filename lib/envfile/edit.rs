//! Editing a .env: rewrite only the line of the definition Laravel uses.

use super::parse::{class, multiline_start, Tok};
use super::{EnvFile, Quote, UNCLOSED};
use crate::error::{Error, Result};

impl EnvFile {
    /// The file with `key` set, in each way worth trying, best first (the caller keeps
    /// the first that reads back as `value`).
    pub(super) fn edited(&self, key: &str, value: &str) -> Result<Vec<Vec<u8>>> {
        let raw = &self.raw;
        let Some(e) = self.entry(key) else {
            if let Some((a, _, _)) = self.ignored.iter().find(|i| i.2 == UNCLOSED) {
                return Err(Error::bad_data(format!(
                    "cannot add {key}: from line {a} on, Laravel ignores the file ({UNCLOSED})"
                ))
                .with_hint(format!("close or remove the quote on line {a} first")));
            }
            // Append, in the file's own line-ending style.
            let eol: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
            let line = format!("{key}={}", encode(value, Quote::None));
            let mut out = raw.clone();
            let ends_with_eol = raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r');
            if raw.is_empty() || ends_with_eol {
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(eol);
            } else {
                out.extend_from_slice(eol);
                out.extend_from_slice(line.as_bytes());
            }
            return Ok(vec![out]);
        };
        let (start, end) = e.span;
        let text = |a: usize, b: usize| String::from_utf8_lossy(&raw[a..b]).into_owned();
        let candidates: Vec<String> = match (e.eq, e.layout) {
            (None, _) => vec![format!(
                "{}={}",
                text(start, end),
                encode(value, Quote::None)
            )],
            (Some(eq), Some(l)) => {
                let prefix = text(start, eq + 1);
                let lead = text(eq + 1, l.value_start);
                let mut c = Vec::new();
                for style in [e.quote, Quote::Double] {
                    let enc = encode(value, style);
                    let line = match l.comment {
                        Some(h) => {
                            let (lead, ws) = if l.content_end <= l.value_start {
                                (String::new(), lead.clone())
                            } else {
                                (lead.clone(), text(l.content_end, h))
                            };
                            // Keep the spacing before the comment when the lexer sees it
                            // as whitespace (PHP's trim also eats NUL and \v, it does not).
                            let quoted = enc.ends_with(['"', '\'']);
                            let ws_ok = ws.bytes().all(|b| class(b) == Tok::Space);
                            let ws = if ws_ok && (quoted || !ws.is_empty()) {
                                ws
                            } else {
                                " ".to_string()
                            };
                            format!("{prefix}{lead}{enc}{ws}{}", text(h, l.text_end))
                        }
                        None if value.is_empty() => format!("{prefix}{enc}"),
                        None => format!("{prefix}{lead}{enc}"),
                    };
                    c.push(line);
                }
                c.push(format!("{prefix}{}", encode(value, Quote::Double)));
                c
            }
            (Some(eq), None) => vec![format!(
                "{}{}",
                text(start, eq + 1),
                encode(value, Quote::Double)
            )],
        };
        let files: Vec<Vec<u8>> = candidates
            .into_iter()
            .filter(|l| !multiline_start(l.as_bytes()))
            .map(|line| {
                let mut out = raw[..start].to_vec();
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(&raw[end..]);
                out
            })
            .collect();
        if files.is_empty() {
            return Err(Error::internal(format!("cannot write {key} on one line")));
        }
        Ok(files)
    }
}

/// The text that makes phpdotenv read exactly `value`, in `style` when it can.
pub fn encode(value: &str, style: Quote) -> String {
    let plain = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.:/@+=,%~^".contains(&b));
    match style {
        Quote::None if plain => value.to_string(),
        Quote::Single if !value.contains(['\'', '\n', '\r']) => format!("'{value}'"),
        _ => {
            let mut s = String::with_capacity(value.len() + 2);
            s.push('"');
            for c in value.chars() {
                match c {
                    '\\' => s.push_str("\\\\"),
                    '"' => s.push_str("\\\""),
                    '$' => s.push_str("\\$"),
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    c => s.push(c),
                }
            }
            s.push('"');
            s
        }
    }
}
