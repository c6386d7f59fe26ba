//! The .env parser and editor. Its values are the ones Laravel (and so DreamFactory) sees.
//!
//! Laravel reads .env with phpdotenv; this module follows phpdotenv 5.x step by step
//! (`Parser`, `Lines`, `EntryParser`, `Lexer`, `Resolver`), so that a value here is the
//! value there, and a file rejected there is rejected here:
//!
//! - lines split on `\r\n`, `\n` or `\r`; a leading UTF-8 BOM is ignored;
//! - a line containing `="` with an unclosed double quote starts a multi-line value that
//!   runs to the next line with a closing quote (joined with `\n`); if none comes, those
//!   lines are silently ignored — also when the opening line is a comment;
//! - `NAME=VALUE`, both trimmed; `export NAME` is stripped only when the name part is
//!   longer than 8 characters; a name may be quoted; names are `[A-Za-z0-9_.]+`;
//!   a line `NAME` with no `=` unsets NAME;
//! - unquoted: `#` starts a comment even with no space before it; whitespace inside the
//!   value rejects the WHOLE file; `${VAR}` expands from the variables defined above;
//! - `'single'` quotes are literal; `"double"` quotes expand `${VAR}` and know the
//!   escapes `\"` `\\` `\$` `\f` `\n` `\r` `\t` `\v` — any other escape rejects the file.
//!
//! The original bytes are kept (comments, blank lines, CRLF, a missing final newline,
//! duplicate keys). [`EnvFile::set`] rewrites only the line of the definition Laravel
//! uses, quoting the new value when it needs quotes, and leaves the file byte-identical
//! when the value is already the one Laravel reads.

use crate::error::{Error, Result};
use crate::secret;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

/// How a value was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    None,
    Single,
    Double,
}

impl Quote {
    pub fn as_str(self) -> &'static str {
        match self {
            Quote::None => "none",
            Quote::Single => "single",
            Quote::Double => "double",
        }
    }
}

/// One definition in the file (`NAME=value`, or `NAME` alone, which unsets NAME).
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// The value Laravel sees after `${VAR}` expansion; `None` for a bare `NAME` line.
    pub value: Option<String>,
    /// 1-based line numbers of the first and last physical line of the entry.
    pub line: usize,
    pub last_line: usize,
    pub quote: Quote,
    /// Byte range in the file: the entry's lines without the final line terminator.
    span: (usize, usize),
    /// Byte offset of the first `=` in the file (None for a bare `NAME`).
    eq: Option<usize>,
    /// For single-line entries: where the value starts/ends and its inline comment.
    layout: Option<Layout>,
    /// An unquoted `#` cut the value short (a warning, e.g. for passwords).
    pub truncated: bool,
    /// `${VAR}` references left unresolved (VAR not defined above).
    pub unresolved: Vec<String>,
}

/// Byte offsets (in the file) of a single-line entry's value parts.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// First byte after the whitespace that follows `=`.
    value_start: usize,
    /// End of the value as written (after a closing quote).
    content_end: usize,
    /// The `#` of an inline comment that is a real comment (kept by edits).
    comment: Option<usize>,
    /// End of the trimmed value text (end of the comment, if any).
    text_end: usize,
}

/// A parsed .env file: the original bytes and what Laravel makes of them.
#[derive(Debug, Clone, Default)]
pub struct EnvFile {
    raw: Vec<u8>,
    entries: Vec<Entry>,
    /// Final variables in order of first definition (unset names removed).
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
    /// Lines Laravel silently ignores: (first, last, why).
    ignored: Vec<(usize, usize, &'static str)>,
    crlf: bool,
}

/// Why a file is rejected: the line and a message that never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl ParseError {
    fn into_error(self, file: Option<&Path>) -> Error {
        let place = match file {
            Some(p) => format!("{} line {}", p.display(), self.line),
            None => format!(".env line {}", self.line),
        };
        let mut e = Error::bad_data(format!("{place}: {}", self.message)).with_data(json!({
            "file": file.map(|p| p.display().to_string()),
            "line": self.line,
        }));
        if let Some(h) = self.hint {
            e = e.with_hint(h);
        }
        e
    }
}

// ---------------------------------------------------------------------------------------
// phpdotenv, step by step
// ---------------------------------------------------------------------------------------

const UNCLOSED: &str = "an opening `=\"` is never closed (multi-line value with no closing quote)";

/// PHP's default `trim` set. Note: not `\f`.
fn is_php_trim(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0 | 0x0b)
}

fn php_trim_range(s: &[u8]) -> (usize, usize) {
    let mut a = 0;
    let mut b = s.len();
    while a < b && is_php_trim(s[a]) {
        a += 1;
    }
    while b > a && is_php_trim(s[b - 1]) {
        b -= 1;
    }
    (a, b)
}

/// `ctype_space`: space, \t, \n, \v, \f, \r.
fn is_ctype_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `Lines::looksLikeMultilineStop`.
fn multiline_stop(line: &[u8], started: bool) -> bool {
    if line == b"\"" {
        return true;
    }
    // str_replace('\\\\', '', $line), then count positions where a non-backslash is
    // followed by a double quote.
    let mut s = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] == b'\\' && line.get(i + 1) == Some(&b'\\') {
            i += 2;
        } else {
            s.push(line[i]);
            i += 1;
        }
    }
    let count = s
        .windows(2)
        .filter(|w| w[0] != b'\\' && w[1] == b'"')
        .count();
    if started {
        count > 1
    } else {
        count >= 1
    }
}

/// `Lines::looksLikeMultilineStart`.
fn multiline_start(line: &[u8]) -> bool {
    line.windows(2).any(|w| w == b"=\"") && !multiline_stop(line, true)
}

fn is_comment_or_blank(s: &[u8]) -> bool {
    let (a, b) = php_trim_range(s);
    a == b || s[a] == b'#'
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// `EntryParser::parseName`.
fn parse_name(name: &str) -> std::result::Result<String, String> {
    let mut name = name;
    let chars: Vec<char> = name.chars().collect();
    if chars.len() > 8
        && name.starts_with("export")
        && chars[6].is_ascii()
        && is_ctype_space(chars[6] as u8)
    {
        name = name[6..].trim_start_matches([' ', '\t', '\n', '\r', '\0', '\x0b']);
    }
    let n = name.chars().count();
    if n >= 3 {
        let first = name.chars().next();
        let last = name.chars().last();
        if first == last && (first == Some('"') || first == Some('\'')) {
            name = &name[1..name.len() - 1];
        }
    }
    if is_valid_name(name) {
        Ok(name.to_string())
    } else {
        Err("an invalid variable name".into())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    Newline,
    Space,
    Backslash,
    Single,
    Double,
    Hash,
    Dollar,
    Other,
}

fn class(b: u8) -> Tok {
    match b {
        b'\r' | b'\n' => Tok::Newline,
        b' ' | b'\t' | 0x0b | 0x0c => Tok::Space,
        b'\\' => Tok::Backslash,
        b'\'' => Tok::Single,
        b'"' => Tok::Double,
        b'#' => Tok::Hash,
        b'$' => Tok::Dollar,
        _ => Tok::Other,
    }
}

/// `Lexer::lex`: runs of newlines, of other whitespace, of "other" bytes; the rest single.
/// (phpdotenv caps runs at 1000 bytes; splitting a run never changes the result.)
fn lex(v: &[u8]) -> Vec<(Tok, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let t = class(v[i]);
        let mut j = i + 1;
        if matches!(t, Tok::Newline | Tok::Space | Tok::Other) {
            while j < v.len() && class(v[j]) == t {
                j += 1;
            }
        }
        out.push((t, i, j));
        i = j;
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Initial,
    Unquoted,
    SingleQ,
    DoubleQ,
    Escape,
    Whitespace,
    Comment,
}

/// A value before `${VAR}` resolution.
#[derive(Debug, Default)]
struct RawValue {
    chars: Vec<u8>,
    /// Byte offsets in `chars` of `$` that may start a `${VAR}`.
    vars: Vec<usize>,
    quote: Option<Quote>,
    /// Offset (in the value text) where the written value ends.
    content_end: Option<usize>,
    /// Offset of the `#` that started a comment, and whether it cut an unquoted value.
    comment: Option<(usize, bool)>,
}

/// `EntryParser::parseValue` on the trimmed value text.
fn parse_value(v: &[u8]) -> std::result::Result<RawValue, (String, Option<String>)> {
    let mut r = RawValue::default();
    if v.is_empty() {
        return Ok(r);
    }
    let mut st = St::Initial;
    for (t, a, b) in lex(v) {
        let tok = &v[a..b];
        let next = match st {
            St::Initial | St::Unquoted => match t {
                Tok::Single if st == St::Initial => {
                    r.quote = Some(Quote::Single);
                    St::SingleQ
                }
                Tok::Double if st == St::Initial => {
                    r.quote = Some(Quote::Double);
                    St::DoubleQ
                }
                Tok::Hash => {
                    r.comment = Some((a, true));
                    r.content_end.get_or_insert(a);
                    St::Comment
                }
                Tok::Newline | Tok::Space if st == St::Unquoted => {
                    r.content_end.get_or_insert(a);
                    St::Whitespace
                }
                Tok::Dollar => {
                    r.vars.push(r.chars.len());
                    r.chars.push(b'$');
                    St::Unquoted
                }
                _ => {
                    r.chars.extend_from_slice(tok);
                    St::Unquoted
                }
            },
            St::SingleQ => {
                if t == Tok::Single {
                    r.content_end = Some(b);
                    St::Whitespace
                } else {
                    r.chars.extend_from_slice(tok);
                    St::SingleQ
                }
            }
            St::DoubleQ => match t {
                Tok::Double => {
                    r.content_end = Some(b);
                    St::Whitespace
                }
                Tok::Backslash => St::Escape,
                Tok::Dollar => {
                    r.vars.push(r.chars.len());
                    r.chars.push(b'$');
                    St::DoubleQ
                }
                _ => {
                    r.chars.extend_from_slice(tok);
                    St::DoubleQ
                }
            },
            St::Escape => match t {
                Tok::Double | Tok::Backslash | Tok::Dollar => {
                    r.chars.extend_from_slice(tok);
                    St::DoubleQ
                }
                Tok::Other if b"fnrtv".contains(&tok[0]) => {
                    r.chars.push(match tok[0] {
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        _ => 0x0b,
                    });
                    r.chars.extend_from_slice(&tok[1..]);
                    St::DoubleQ
                }
                _ => return Err((
                    "an unexpected escape sequence in a double-quoted value".into(),
                    Some(
                        "inside double quotes only \\\" \\\\ \\$ \\n \\r \\t \\f \\v are allowed; \
                             write a literal backslash as \\\\"
                            .into(),
                    ),
                )),
            },
            St::Whitespace => match t {
                Tok::Hash => {
                    r.comment = Some((a, false));
                    St::Comment
                }
                Tok::Newline | Tok::Space => St::Whitespace,
                _ => {
                    return Err((
                        "unexpected whitespace: a value with spaces must be quoted \
                         (Laravel rejects the whole file, DreamFactory would not start)"
                            .into(),
                        Some("put the value in double quotes: NAME=\"a b c\"".into()),
                    ))
                }
            },
            St::Comment => St::Comment,
        };
        st = next;
    }
    match st {
        St::SingleQ | St::DoubleQ | St::Escape => Err((
            "a missing closing quote (Laravel rejects the whole file)".into(),
            Some("close the quoted value on the same line, or on a later line for a double-quoted multi-line value".into()),
        )),
        _ => Ok(r),
    }
}

/// `Resolver::resolve`: `${NAME}` from the variables defined so far, right to left.
fn resolve(raw: &RawValue, repo: &HashMap<String, String>, unresolved: &mut Vec<String>) -> String {
    let mut s = raw.chars.clone();
    let mut vars = raw.vars.clone();
    vars.sort_unstable_by(|a, b| b.cmp(a));
    for i in vars {
        let rest = &s[i..];
        if rest.len() < 4 || &rest[..2] != b"${" {
            continue;
        }
        let n = rest[2..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'.')
            .count();
        if n == 0 || rest.get(2 + n) != Some(&b'}') {
            continue;
        }
        let name = String::from_utf8_lossy(&rest[2..2 + n]).into_owned();
        match repo.get(&name) {
            Some(val) => {
                let mut out = s[..i].to_vec();
                out.extend_from_slice(val.as_bytes());
                out.extend_from_slice(&s[i + 3 + n..]);
                s = out;
            }
            None => unresolved.push(name),
        }
    }
    // Only ASCII boundaries were split or joined, so this stays valid UTF-8.
    String::from_utf8(s).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A physical line: start, end of content, end including its terminator.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
}

fn split_lines(raw: &[u8], from: usize) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = from;
    let mut i = from;
    while i < raw.len() {
        match raw[i] {
            b'\r' => {
                out.push(Line { start, end: i });
                i += if raw.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                start = i;
            }
            b'\n' => {
                out.push(Line { start, end: i });
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    // preg_split always yields a last (possibly empty) piece.
    out.push(Line {
        start,
        end: raw.len(),
    });
    out
}

impl EnvFile {
    /// Parse .env bytes; a file Laravel would reject is a `bad_data` error naming the line.
    pub fn parse(bytes: &[u8]) -> Result<EnvFile> {
        Self::parse_inner(bytes).map_err(|e| e.into_error(None))
    }

    /// Read and parse a .env file (missing → 66, unparseable → 65 naming file and line).
    pub fn load(path: &Path) -> Result<EnvFile> {
        let bytes = std::fs::read(path).map_err(|e| {
            let err = Error::io("reading", path, e);
            if err.kind == crate::error::ErrorKind::MissingInput {
                err.with_hint("no .env there: pass --root DIR (or --env FILE) for the install")
            } else {
                err
            }
        })?;
        Self::parse_inner(&bytes).map_err(|e| e.into_error(Some(path)))
    }

    /// Parse, returning the bare [`ParseError`] (used by the differential tests).
    pub fn parse_inner(bytes: &[u8]) -> std::result::Result<EnvFile, ParseError> {
        if let Err(e) = std::str::from_utf8(bytes) {
            let at = e.valid_up_to();
            let line = split_lines(&bytes[..at], 0).len();
            return Err(ParseError {
                line,
                message: format!("not valid UTF-8 (byte {})", at + 1),
                hint: Some("save the file as UTF-8".into()),
            });
        }
        let bom = if bytes.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let lines = split_lines(bytes, bom);
        let crlf = bytes.windows(2).any(|w| w == b"\r\n");

        // Lines::process — group physical lines into entries.
        struct Group {
            first: usize,
            last: usize,
            text: Vec<u8>,
        }
        let mut groups = Vec::new();
        let mut ignored = Vec::new();
        let mut multiline = false;
        let mut buf: Vec<usize> = Vec::new();
        for (idx, l) in lines.iter().enumerate() {
            let line = &bytes[l.start..l.end];
            let started = multiline_start(line);
            if started {
                multiline = true;
            }
            let mut group = Group {
                first: idx,
                last: idx,
                text: line.to_vec(),
            };
            if multiline {
                buf.push(idx);
                if multiline_stop(line, started) {
                    multiline = false;
                    let parts: Vec<&[u8]> = buf
                        .iter()
                        .map(|&k| &bytes[lines[k].start..lines[k].end])
                        .collect();
                    group = Group {
                        first: buf[0],
                        last: idx,
                        text: parts.join(&b"\n"[..]),
                    };
                    buf.clear();
                }
            }
            if !multiline {
                if !is_comment_or_blank(&group.text) {
                    groups.push(group);
                } else if group.last > group.first {
                    ignored.push((
                        group.first + 1,
                        group.last + 1,
                        "a comment line containing `=\"` opened a multi-line value",
                    ));
                }
            }
        }
        if let (Some(&a), Some(&b)) = (buf.first(), buf.last()) {
            // Trailing blank pieces after a final newline are not real lines.
            let last_real = if lines[b].start == lines[b].end && b > a {
                b - 1
            } else {
                b
            };
            ignored.push((a + 1, last_real + 1, UNCLOSED));
        }

        // EntryParser::parse on each entry, then the Loader (resolution, last wins).
        let mut repo: HashMap<String, String> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut entries = Vec::new();
        let mut pending = Vec::new();
        for g in &groups {
            let line_no = g.first + 1;
            let err = |message: String, hint: Option<String>| ParseError {
                line: line_no,
                message,
                hint,
            };
            let text = &g.text;
            let eq = text.iter().position(|&b| b == b'=');
            let (name_part, value_part, value_off) = match eq {
                Some(p) => {
                    let (na, nb) = php_trim_range(&text[..p]);
                    let (va, vb) = php_trim_range(&text[p + 1..]);
                    (
                        &text[na..nb],
                        Some(&text[p + 1 + va..p + 1 + vb]),
                        p + 1 + va,
                    )
                }
                None => (&text[..], None, 0),
            };
            if eq.is_some() && name_part.is_empty() {
                return Err(err(
                    "a line starting with `=` (no variable name)".into(),
                    Some("write NAME=value, or comment the line out with #".into()),
                ));
            }
            let name = parse_name(std::str::from_utf8(name_part).unwrap_or("")).map_err(|m| {
                err(
                    m,
                    Some(
                        "names are letters, digits, _ and . (an optional `export ` prefix); \
                         comment the line out with # if it is not a variable"
                            .into(),
                    ),
                )
            })?;
            let raw = match value_part {
                Some(v) => Some(parse_value(v).map_err(|(m, h)| err(format!("{name}: {m}"), h))?),
                None => None,
            };
            pending.push((g, name, raw, eq, value_off));
        }
        for (g, name, raw, eq, value_off) in pending {
            let mut unresolved = Vec::new();
            let value = raw.as_ref().map(|r| resolve(r, &repo, &mut unresolved));
            let l0 = lines[g.first];
            let span = (l0.start, lines[g.last].end);
            let single = g.first == g.last;
            let layout = match (&raw, eq) {
                (Some(r), Some(_)) if single => {
                    let vlen = value_part_len(&g.text, value_off);
                    let content_end = r.content_end.unwrap_or(vlen);
                    let comment = match r.comment {
                        Some((c, truncating))
                            if !truncating || c == 0 && value_off > eq.unwrap_or(0) + 1 =>
                        {
                            Some(l0.start + value_off + c)
                        }
                        _ => None,
                    };
                    Some(Layout {
                        value_start: l0.start + value_off,
                        content_end: l0.start + value_off + content_end,
                        comment,
                        text_end: l0.start + value_off + vlen,
                    })
                }
                _ => None,
            };
            // `A=#x` (no space before #) or `A=x#y` cut the value; `A= # note` does not.
            let truncated = match (&raw, eq) {
                (Some(r), Some(p)) => match r.comment {
                    Some((0, true)) => value_off == p + 1,
                    Some((_, t)) => t,
                    None => false,
                },
                _ => false,
            };
            let quote = raw.as_ref().and_then(|r| r.quote).unwrap_or(Quote::None);
            match &value {
                Some(v) => {
                    if secret::is_secret_key(&name) {
                        secret::register(v);
                        if let Some(l) = layout {
                            // The value as written, and (when `#` cut it) all of it.
                            let end = if truncated { l.text_end } else { l.content_end };
                            if let Ok(t) = std::str::from_utf8(&bytes[l.value_start..end]) {
                                secret::register(t);
                            }
                        }
                    }
                    if !repo.contains_key(&name) {
                        order.retain(|n| n != &name);
                        order.push(name.clone());
                    }
                    repo.insert(name.clone(), v.clone());
                }
                None => {
                    repo.remove(&name);
                }
            }
            entries.push(Entry {
                name,
                value,
                line: g.first + 1,
                last_line: g.last + 1,
                quote,
                span,
                eq: eq.map(|p| l0.start + p),
                layout,
                truncated,
                unresolved,
            });
        }
        let vars: Vec<(String, String)> = order
            .into_iter()
            .filter_map(|n| repo.get(&n).map(|v| (n.clone(), v.clone())))
            .collect();
        let index = vars
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        Ok(EnvFile {
            raw: bytes.to_vec(),
            entries,
            vars,
            index,
            ignored,
            crlf,
        })
    }

    /// The value Laravel sees for `key` (last definition wins; a bare `KEY` line unsets).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.index.get(key).map(|&i| self.vars[i].1.as_str())
    }

    /// The final variables, in order of first definition.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// Every definition, in file order (duplicates included).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The definition Laravel uses for `key` (the last one).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.name == key)
    }

    /// The file's bytes, exactly as read (or as edited).
    pub fn bytes(&self) -> &[u8] {
        &self.raw
    }

    /// Set `key` to `value` as Laravel will read it. Rewrites only the line of the
    /// definition Laravel uses (the last), or appends `KEY=value`. Returns whether the
    /// bytes changed: when Laravel already reads `value`, nothing changes at all.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        if !is_valid_name(key) {
            return Err(Error::usage(format!(
                "`{key}` is not a valid .env name (letters, digits, _ and .)"
            )));
        }
        if self.get(key) == Some(value) {
            return Ok(false);
        }
        let new = self.edited(key, value)?;
        let parsed = EnvFile::parse_inner(&new).map_err(|e| {
            Error::internal(format!(
                "editing {key} would make the file unreadable (line {}); nothing written",
                e.line
            ))
        })?;
        if parsed.get(key) != Some(value) {
            return Err(Error::internal(format!(
                "editing {key}: Laravel would not read the new value back; nothing written"
            ))
            .with_hint("edit the line by hand"));
        }
        *self = parsed;
        Ok(true)
    }

    fn edited(&self, key: &str, value: &str) -> Result<Vec<u8>> {
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
            return Ok(out);
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
        let line = candidates
            .into_iter()
            .find(|l| !multiline_start(l.as_bytes()))
            .ok_or_else(|| Error::internal(format!("cannot write {key} on one line")))?;
        let mut out = raw[..start].to_vec();
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(&raw[end..]);
        Ok(out)
    }

    /// Everything about the file the operator should know, as sentences naming key and
    /// line (never a secret value).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let mut seen: Vec<(&str, Vec<usize>)> = Vec::new();
        for e in &self.entries {
            match seen.iter_mut().find(|(n, _)| *n == e.name) {
                Some((_, v)) => v.push(e.line),
                None => seen.push((&e.name, vec![e.line])),
            }
        }
        for (name, lines) in &seen {
            if lines.len() > 1 {
                let l: Vec<String> = lines.iter().map(|n| n.to_string()).collect();
                w.push(format!(
                    "{name} is defined {} times (lines {}); Laravel uses the last one (line {})",
                    lines.len(),
                    l.join(", "),
                    lines.last().copied().unwrap_or(0)
                ));
            }
        }
        for e in &self.entries {
            if e.truncated {
                w.push(format!(
                    "{} (line {}): an unquoted `#` starts a comment, so Laravel reads only the part \
                     before it; quote the value if the `#` belongs to it",
                    e.name, e.line
                ));
            }
            for v in &e.unresolved {
                w.push(format!(
                    "{} (line {}): ${{{v}}} is not defined above it in the file; Laravel takes it from \
                     the process environment or leaves it as written",
                    e.name, e.line
                ));
            }
        }
        for (a, b, why) in &self.ignored {
            let lines = if a == b {
                format!("line {a} is")
            } else {
                format!("lines {a}-{b} are")
            };
            w.push(format!("{lines} ignored by Laravel: {why}"));
        }
        w.extend(self.semantic_warnings());
        w
    }

    /// Warnings about DreamFactory settings (APP_KEY, DB_CONNECTION, CACHE_STORE).
    pub fn semantic_warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Err(why) = self.app_key() {
            w.push(why);
        }
        let drivers = ["sqlite", "mysql", "pgsql", "sqlsrv"];
        match (self.get("DB_CONNECTION"), self.get("DB_DRIVER")) {
            (Some(c), _) if !drivers.contains(&c) => w.push(format!(
                "DB_CONNECTION=`{c}` is not one of sqlite, mysql, pgsql, sqlsrv"
            )),
            (None, Some(_)) => w.push(
                "DB_DRIVER is set but DB_CONNECTION is not: DreamFactory 7.x ignores DB_DRIVER and \
                 silently falls back to sqlite; set DB_CONNECTION"
                    .into(),
            ),
            (None, None) => w.push("DB_CONNECTION is not set: DreamFactory falls back to sqlite".into()),
            _ => {}
        }
        if self.get("CACHE_DRIVER").is_some() && self.get("CACHE_STORE").is_none() {
            w.push(
                "CACHE_DRIVER is set but CACHE_STORE is not: DreamFactory 7.1 renamed it to \
                 CACHE_STORE and ignores CACHE_DRIVER"
                    .into(),
            );
        }
        w
    }

    /// APP_KEY's shape: Ok("base64:N bytes" / "raw N bytes") or Err(why, never the key).
    pub fn app_key(&self) -> std::result::Result<String, String> {
        let line = self.entry("APP_KEY").map(|e| e.line);
        let Some(k) = self.get("APP_KEY") else {
            return Err("APP_KEY is not set: DreamFactory cannot decrypt stored service credentials without the key they were encrypted with".into());
        };
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        check_app_key(k).map_err(|why| format!("APP_KEY{at} is malformed: {why}"))
    }
}

/// Check an APP_KEY value: `base64:` + 16/24/32 decoded bytes, or 16/24/32 raw bytes.
pub fn check_app_key(k: &str) -> std::result::Result<String, String> {
    const OK: [usize; 3] = [16, 24, 32];
    if let Some(b64) = k.strip_prefix("base64:") {
        let n = base64_decoded_len(b64)
            .ok_or_else(|| "the part after `base64:` is not valid base64".to_string())?;
        if OK.contains(&n) {
            Ok(format!("base64, {n} bytes"))
        } else {
            Err(format!("it decodes to {n} bytes; expected 16, 24 or 32"))
        }
    } else if k.is_empty() {
        Err("it is empty".into())
    } else if OK.contains(&k.len()) {
        Ok(format!("raw, {} bytes", k.len()))
    } else {
        Err(format!(
            "it is {} bytes; expected `base64:` + 16/24/32 bytes, or a 16/24/32-character key",
            k.len()
        ))
    }
}

/// Length of standard base64 (padding optional) once decoded; None if not base64.
fn base64_decoded_len(s: &str) -> Option<usize> {
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    match body.len() % 4 {
        1 => None,
        r => Some(body.len() / 4 * 3 + if r == 0 { 0 } else { r - 1 }),
    }
}

/// Length of the trimmed value text starting at `off` in an entry's text.
fn value_part_len(text: &[u8], off: usize) -> usize {
    let (_, b) = php_trim_range(&text[off..]);
    b
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

/// The parsed file for reports: every final variable, secrets as fingerprints.
pub fn to_json(env: &EnvFile) -> Value {
    let mut vars = serde_json::Map::new();
    for (k, v) in env.vars() {
        let shown = if secret::is_secret_key(k) {
            json!(secret::Fingerprint::of(v))
        } else {
            json!(v)
        };
        vars.insert(k.clone(), shown);
    }
    Value::Object(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(src: &str) -> Vec<(String, String)> {
        EnvFile::parse(src.as_bytes()).unwrap().vars().to_vec()
    }

    fn get(src: &str, k: &str) -> Option<String> {
        EnvFile::parse(src.as_bytes())
            .unwrap()
            .get(k)
            .map(String::from)
    }

    fn rejected_line(src: &str) -> usize {
        EnvFile::parse_inner(src.as_bytes()).unwrap_err().line
    }

    #[test]
    fn design_table() {
        let src = "A=x#y\nC=\"x#y\"\nE='p#q'\nV=v\nB=\"${V}-dq\"\nG=${A}-2\nS='${A}-sq'\n\
                   D=\"esc\\\"q\\\\n\"\nW=  spaced  \nH=\"multi\nline\"\nexport APP_URL=x\n";
        let e = EnvFile::parse(src.as_bytes()).unwrap();
        assert_eq!(e.get("A"), Some("x"));
        assert_eq!(e.get("C"), Some("x#y"));
        assert_eq!(e.get("E"), Some("p#q"));
        assert_eq!(e.get("B"), Some("v-dq"));
        assert_eq!(e.get("G"), Some("x-2"));
        assert_eq!(e.get("S"), Some("${A}-sq"));
        assert_eq!(e.get("D"), Some("esc\"q\\n"));
        assert_eq!(e.get("W"), Some("spaced"));
        assert_eq!(e.get("H"), Some("multi\nline"));
        assert_eq!(e.get("APP_URL"), Some("x"));
        assert_eq!(rejected_line("X=1\nH=a b c\n"), 2);
        assert_eq!(rejected_line("export I=1\n"), 1);
    }

    /// Golden: a DreamFactory-style .env with CRLF, no final newline, a duplicate,
    /// `export`, quoting, expansion, a multi-line value and a `#`-cut password.
    #[test]
    fn golden_dreamfactory_env() {
        let src = [
            "##=====================================",
            "## Environment Settings",
            "APP_NAME=DreamFactory",
            "APP_KEY=base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k=",
            "APP_DEBUG=false",
            "#APP_LOG_LEVEL=warning",
            "APP_URL=http://127.0.0.1",
            "",
            "## Database Settings",
            "DB_CONNECTION=pgsql",
            "DB_PASSWORD=abc#def",
            "REDIS_PASSWORD=\"p w\\\"q\"",
            "DF_SQLITE_STORAGE='${APP_URL}'",
            "export DF_INSTALL=GitHub",
            "DF_CACHE_PATH=\"${APP_URL}/cache\" # expanded",
            "DF_MOTD=\"line one",
            "line two\"",
            "CACHE_DRIVER=file",
            "APP_DEBUG=true",
        ]
        .join("\r\n");
        let e = EnvFile::parse(src.as_bytes()).unwrap();
        let got: Vec<(&str, &str)> = e
            .vars()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("APP_NAME", "DreamFactory"),
                (
                    "APP_KEY",
                    "base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k="
                ),
                ("APP_DEBUG", "true"),
                ("APP_URL", "http://127.0.0.1"),
                ("DB_CONNECTION", "pgsql"),
                ("DB_PASSWORD", "abc"),
                ("REDIS_PASSWORD", "p w\"q"),
                ("DF_SQLITE_STORAGE", "${APP_URL}"),
                ("DF_INSTALL", "GitHub"),
                ("DF_CACHE_PATH", "http://127.0.0.1/cache"),
                ("DF_MOTD", "line one\nline two"),
                ("CACHE_DRIVER", "file"),
            ]
        );
        assert_eq!(
            e.entry("DF_MOTD").map(|x| (x.line, x.last_line)),
            Some((16, 17))
        );
        assert_eq!(
            e.warnings(),
            [
                "APP_DEBUG is defined 2 times (lines 5, 19); Laravel uses the last one (line 19)",
                "DB_PASSWORD (line 11): an unquoted `#` starts a comment, so Laravel reads only the \
                 part before it; quote the value if the `#` belongs to it",
                "CACHE_DRIVER is set but CACHE_STORE is not: DreamFactory 7.1 renamed it to \
                 CACHE_STORE and ignores CACHE_DRIVER",
            ]
        );
        assert_eq!(e.app_key(), Ok("base64, 32 bytes".to_string()));
        // Editing APP_DEBUG rewrites its last line only; the file keeps CRLF and no final EOL.
        let mut e2 = e.clone();
        assert!(e2.set("APP_DEBUG", "false").unwrap());
        assert_eq!(
            e2.bytes(),
            src.replace("\r\nAPP_DEBUG=true", "\r\nAPP_DEBUG=false")
                .as_bytes()
        );
    }

    #[test]
    fn bare_name_unsets_and_last_wins() {
        assert_eq!(get("A=1\nA\n", "A"), None);
        assert_eq!(get("A=1\nA=2\n", "A"), Some("2".into()));
        assert_eq!(
            vals("A=1\nB=2\nA=3"),
            vec![("A".into(), "3".into()), ("B".into(), "2".into())]
        );
    }

    #[test]
    fn quirks() {
        // Unclosed multi-line at EOF: the lines are ignored, the file still loads.
        let e = EnvFile::parse(b"A=1\nB=\"open\nC=2\n").unwrap();
        assert_eq!(e.get("B"), None);
        assert_eq!(e.get("C"), None);
        assert!(
            e.warnings()
                .iter()
                .any(|w| w.contains("lines 2-3 are ignored")),
            "{:?}",
            e.warnings()
        );
        // A comment with `="` swallows the lines up to the next quote.
        let e = EnvFile::parse(b"# X=\"a\nB=1\nC=\"z\"\nD=2\n").unwrap();
        assert_eq!(e.get("B"), None);
        assert_eq!(e.get("D"), Some("2"));
        // CR alone is a line break; BOM ignored.
        assert_eq!(get("\u{feff}A=1\rB=2", "B"), Some("2".into()));
        assert_eq!(get("A=\"a\\tb\\$c\"", "A"), Some("a\tb$c".into()));
        assert_eq!(rejected_line("A=\"a\\qb\""), 1);
        assert_eq!(get("A=${B}", "A"), Some("${B}".into()));
        assert_eq!(get("\"Q\"=1", "Q"), Some("1".into()));
        assert_eq!(get("export  LONGNAME=1", "LONGNAME"), Some("1".into()));
        assert_eq!(get("A=it's", "A"), Some("it's".into()));
        assert_eq!(rejected_line("A=1\n=x\n"), 2);
        assert_eq!(rejected_line("A=1\nB=\"x\"y\n"), 2);
    }

    #[test]
    fn invalid_utf8_names_line() {
        let e = EnvFile::parse_inner(b"A=1\r\nB=\xff\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn app_key_shapes() {
        assert!(check_app_key("base64:AAAAAAAAAAAAAAAAAAAAAA==").is_ok()); // 16
        assert!(check_app_key("base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok()); // 32
        assert!(check_app_key("base64:AAAA").is_err());
        assert!(check_app_key("base64:!!!!").is_err());
        assert!(check_app_key("0123456789abcdef").is_ok());
        assert!(check_app_key("short").is_err());
        assert!(check_app_key("").is_err());
    }

    #[test]
    fn edit_rewrites_one_line_and_keeps_comments() {
        let src = "# head\r\nA=1 # note\r\nexport BB='x'\r\nC=\"q\"#c\r\nD=x#y";
        let mut e = EnvFile::parse(src.as_bytes()).unwrap();
        assert!(!e.set("A", "1").unwrap());
        assert_eq!(e.bytes(), src.as_bytes());
        assert!(e.set("A", "two words").unwrap());
        assert!(e.set("BB", "y z").unwrap());
        assert!(e.set("C", "r").unwrap());
        assert!(e.set("D", "p#q").unwrap());
        assert_eq!(
            String::from_utf8(e.bytes().to_vec()).unwrap(),
            "# head\r\nA=\"two words\" # note\r\nexport BB='y z'\r\nC=\"r\"#c\r\nD=\"p#q\""
        );
        assert!(e.set("NEW", "v").unwrap());
        assert!(e.bytes().ends_with(b"D=\"p#q\"\r\nNEW=v"));
    }

    #[test]
    fn edit_multiline_and_bare() {
        let mut e = EnvFile::parse(b"H=\"a\nb\"\nK\nZ=1\n").unwrap();
        e.set("H", "c").unwrap();
        e.set("K", "k$v").unwrap();
        assert_eq!(e.bytes(), b"H=\"c\"\nK=\"k\\$v\"\nZ=1\n");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// A well-formed .env line: NAME=value in some quoting, with or without comments.
        fn line(i: usize) -> impl Strategy<Value = String> {
            let name = format!("K{i}");
            let v = "[a-zA-Z0-9_./:+=-]{0,10}";
            prop_oneof![
                (Just(name.clone()), v).prop_map(|(n, v)| format!("{n}={v}")),
                (Just(name.clone()), "[a-z #'$]{0,10}").prop_map(|(n, v)| format!("{n}=\"{v}\"")),
                (Just(name.clone()), "[a-z #\"]{0,10}").prop_map(|(n, v)| format!("{n}='{v}'")),
                (Just(name.clone()), v).prop_map(|(n, v)| format!("export {n}={v} # note")),
                Just(format!("# {name}=commented out")),
                Just(String::new()),
            ]
        }

        fn file() -> impl Strategy<Value = String> {
            (2usize..10)
                .prop_flat_map(|n| {
                    let lines: Vec<_> = (0..n).map(line).collect();
                    (
                        lines,
                        prop::sample::select(vec!["\n", "\r\n"]),
                        any::<bool>(),
                        0..n,
                    )
                })
                .prop_map(|(lines, eol, final_eol, dup)| {
                    let mut l = lines;
                    // A duplicate definition now and then: the last one is the one edited.
                    if !l[dup].is_empty() && !l[dup].starts_with('#') {
                        l.push(format!("K{dup}=again"));
                    }
                    let mut s = l.join(eol);
                    if final_eol {
                        s.push_str(eol);
                    }
                    s
                })
        }

        proptest! {
            #[test]
            fn editing_one_key_changes_only_its_line(
                src in file(),
                pick in any::<prop::sample::Index>(),
                value in "\\PC{0,12}",
            ) {
                let before = EnvFile::parse(src.as_bytes()).unwrap();
                prop_assume!(!before.vars().is_empty());
                let (key, old) = before.vars()[pick.index(before.vars().len())].clone();

                // A no-op edit leaves every byte alone.
                let mut same = before.clone();
                prop_assert!(!same.set(&key, &old).unwrap());
                prop_assert_eq!(same.bytes(), src.as_bytes());

                let mut after = before.clone();
                let changed = after.set(&key, &value).unwrap();
                prop_assert_eq!(changed, old != value);
                prop_assert_eq!(after.get(&key), Some(value.as_str()));
                // Every other variable keeps its value.
                for (k, v) in before.vars() {
                    if k != &key {
                        prop_assert_eq!(after.get(k), Some(v.as_str()));
                    }
                }
                // The bytes before and after the edited line are untouched.
                let (a, b) = before.entry(&key).unwrap().span;
                let new = after.bytes();
                let tail = src.len() - b;
                prop_assert_eq!(&new[..a], &src.as_bytes()[..a]);
                prop_assert_eq!(&new[new.len() - tail..], &src.as_bytes()[b..]);
                prop_assert!(!new[a..new.len() - tail].contains(&b'\n'));
            }
        }
    }
}
