//! phpdotenv's parser, step by step (`Lines`, `EntryParser`, `Lexer`, `Resolver`, the
//! loader), in time linear in the size of the file.

use super::{Entry, EnvFile, Layout, ParseError, Pos, Quote, UNCLOSED};
use crate::secret;
use foldhash::{HashMap, HashMapExt};

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
    // followed by a double quote; in one pass, without building the replaced string.
    let mut count = 0;
    let mut prev: Option<u8> = None;
    let mut i = 0;
    while i < line.len() {
        if line[i] == b'\\' && line.get(i + 1) == Some(&b'\\') {
            i += 2;
            continue;
        }
        if line[i] == b'"' && prev.is_some_and(|p| p != b'\\') {
            count += 1;
        }
        prev = Some(line[i]);
        i += 1;
    }
    if started {
        count > 1
    } else {
        count >= 1
    }
}

/// `Lines::looksLikeMultilineStart`.
pub(super) fn multiline_start(line: &[u8]) -> bool {
    memchr::memmem::find(line, b"=\"").is_some() && !multiline_stop(line, true)
}

fn is_comment_or_blank(s: &[u8]) -> bool {
    let (a, b) = php_trim_range(s);
    a == b || s[a] == b'#'
}

pub(super) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// `EntryParser::parseName`. The name is a part of `name`.
fn parse_name(name: &str) -> std::result::Result<&str, String> {
    let mut name = name;
    // `export` is 6 ASCII bytes, so the 7th character is the 7th byte when it is ASCII.
    if name.starts_with("export")
        && name.len() > 6
        && is_ctype_space(name.as_bytes()[6])
        && name.chars().count() > 8
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
        Ok(name)
    } else {
        Err("an invalid variable name".into())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Tok {
    Newline,
    Space,
    Backslash,
    Single,
    Double,
    Hash,
    Dollar,
    Other,
}

pub(super) fn class(b: u8) -> Tok {
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
fn lex(v: &[u8]) -> impl Iterator<Item = (Tok, usize, usize)> + '_ {
    // An iterator, not a list: no allocation per value.
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= v.len() {
            return None;
        }
        let t = class(v[i]);
        let mut j = i + 1;
        if matches!(t, Tok::Newline | Tok::Space | Tok::Other) {
            while j < v.len() && class(v[j]) == t {
                j += 1;
            }
        }
        let tok = (t, i, j);
        i = j;
        Some(tok)
    })
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

impl RawValue {
    /// A `$` that may start a `${VAR}`; the lexer goes on in `next`.
    fn dollar(&mut self, next: St) -> St {
        self.vars.push(self.chars.len());
        self.chars.push(b'$');
        next
    }

    /// Literal text of the value; the lexer goes on in `next`.
    fn text(&mut self, tok: &[u8], next: St) -> St {
        self.chars.extend_from_slice(tok);
        next
    }
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
                Tok::Dollar => r.dollar(St::Unquoted),
                _ => r.text(tok, St::Unquoted),
            },
            St::SingleQ => {
                if t == Tok::Single {
                    r.content_end = Some(b);
                    St::Whitespace
                } else {
                    r.text(tok, St::SingleQ)
                }
            }
            St::DoubleQ => match t {
                Tok::Double => {
                    r.content_end = Some(b);
                    St::Whitespace
                }
                Tok::Backslash => St::Escape,
                Tok::Dollar => r.dollar(St::DoubleQ),
                _ => r.text(tok, St::DoubleQ),
            },
            St::Escape => match t {
                Tok::Double | Tok::Backslash | Tok::Dollar => r.text(tok, St::DoubleQ),
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

/// One name: its place in the loader's order (None: never defined), the entry that holds
/// its current value (None: unset) and its last entry of any kind.
struct Slot {
    pos: Option<usize>,
    entry: Option<usize>,
    last: usize,
}

/// The loader's repository: name → its [`Slot`]'s number.
struct Repo<'a> {
    ids: HashMap<&'a str, usize>,
    slots: Vec<Slot>,
}

/// The current value of `name`.
fn lookup<'e>(repo: &Repo, entries: &'e [Entry], name: &str) -> Option<&'e str> {
    let i = repo.slots[*repo.ids.get(name)?].entry?;
    entries[i].value.as_deref()
}

/// `Resolver::resolve`: `${NAME}` from the variables defined so far, right to left.
/// (Takes the value's bytes out of `raw`: nothing reads them afterwards.)
fn resolve(
    raw: &mut RawValue,
    repo: &Repo,
    entries: &[Entry],
    unresolved: &mut Vec<String>,
) -> String {
    let chars = std::mem::take(&mut raw.chars);
    if raw.vars.is_empty() {
        // Nothing to expand (most values): the bytes become the string, no copy.
        return String::from_utf8(chars)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    }
    let chars = &chars;
    let mut vars = raw.vars.clone();
    vars.sort_unstable_by(|a, b| b.cmp(a));
    // phpdotenv rebuilds the whole string at each `$`, right to left (quadratic). Here the
    // resolved text from the current `$` to the end is kept reversed in `tail`, so a
    // replacement at its front costs only what it removes and adds. Text left of the
    // current `$` is never changed by a replacement, as in phpdotenv.
    let mut tail: Vec<u8> = Vec::with_capacity(chars.len());
    let mut cut = chars.len();
    for i in vars {
        tail.extend(chars[i..cut].iter().rev());
        cut = i;
        let len = tail.len();
        // The k-th byte of the resolved text from `$` on.
        let at = |k: usize| {
            if k < len {
                Some(tail[len - 1 - k])
            } else {
                None
            }
        };
        if len < 4 || at(0) != Some(b'$') || at(1) != Some(b'{') {
            continue;
        }
        let n = (2..len)
            .take_while(|&k| {
                at(k).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            })
            .count();
        if n == 0 || at(2 + n) != Some(b'}') {
            continue;
        }
        let name_bytes: Vec<u8> = (2..2 + n).filter_map(at).collect();
        let name = String::from_utf8_lossy(&name_bytes).into_owned();
        match lookup(repo, entries, &name) {
            Some(val) => {
                tail.truncate(len - (3 + n));
                tail.extend(val.bytes().rev());
            }
            None => unresolved.push(name),
        }
    }
    let mut s = chars[..cut].to_vec();
    s.extend(tail.iter().rev());
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
    for i in memchr::memchr2_iter(b'\r', b'\n', &raw[from..]).map(|i| i + from) {
        if i < start {
            // The `\n` of a `\r\n` already taken.
            continue;
        }
        out.push(Line { start, end: i });
        start = if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i + 2
        } else {
            i + 1
        };
    }
    // preg_split always yields a last (possibly empty) piece.
    out.push(Line {
        start,
        end: raw.len(),
    });
    out
}

/// Parse `bytes` as phpdotenv does; a rejected file is a [`ParseError`] naming the line.
pub(super) fn parse(bytes: &[u8]) -> std::result::Result<EnvFile, ParseError> {
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
    struct Group<'a> {
        first: usize,
        last: usize,
        /// The line itself, or a multi-line value's lines joined.
        text: std::borrow::Cow<'a, [u8]>,
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
            text: std::borrow::Cow::Borrowed(line),
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
                    text: std::borrow::Cow::Owned(parts.join(&b"\n"[..])),
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
    // The loader's repository: name → its place in `order` and the entry holding its value
    // (None: unset). `order` holds names in order of first definition; one map, so no
    // scan of earlier names per definition. Names are borrowed from the input.
    let mut repo = Repo {
        ids: HashMap::with_capacity(groups.len()),
        slots: Vec::with_capacity(groups.len()),
    };
    let mut order: Vec<Option<usize>> = Vec::with_capacity(groups.len());
    // One pass: parse an entry, then load it. phpdotenv parses every entry before loading
    // any, but a rejected entry rejects the whole file either way, and `${VAR}` only sees
    // what is above it, so the values are the same — without a list of parsed entries.
    let mut entries = Vec::with_capacity(groups.len());
    for g in &groups {
        let line_no = g.first + 1;
        let err = |message: String, hint: Option<String>| ParseError {
            line: line_no,
            message,
            hint,
        };
        let text = &g.text;
        let eq = memchr::memchr(b'=', text);
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
        let mut raw = raw;
        let mut unresolved = Vec::new();
        let value = raw
            .as_mut()
            .map(|r| resolve(r, &repo, &entries, &mut unresolved));
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
                if secret::is_secret_key(name) {
                    register_secret(v);
                    if let Some(l) = layout {
                        // The value as written, and (when `#` cut it) all of it.
                        let end = if truncated { l.text_end } else { l.content_end };
                        if let Ok(t) = std::str::from_utf8(&bytes[l.value_start..end]) {
                            register_secret(t);
                        }
                    }
                }
                let at = entries.len();
                match repo.ids.get(name) {
                    Some(&id) => {
                        let s = &mut repo.slots[id];
                        if s.entry.is_none() {
                            // Defined again after an unset: it moves to the end, as a PHP
                            // array key does. The old place becomes a hole.
                            if let Some(p) = s.pos {
                                order[p] = None;
                            }
                            s.pos = Some(order.len());
                            order.push(Some(id));
                        }
                        s.entry = Some(at);
                        s.last = at;
                    }
                    None => {
                        order.push(Some(repo.slots.len()));
                        repo.ids.insert(name, repo.slots.len());
                        repo.slots.push(Slot {
                            pos: Some(order.len() - 1),
                            entry: Some(at),
                            last: at,
                        });
                    }
                }
            }
            None => match repo.ids.get(name) {
                Some(&id) => {
                    repo.slots[id].entry = None;
                    repo.slots[id].last = entries.len();
                }
                None => {
                    // Unset before any definition: only its entry is remembered.
                    repo.ids.insert(name, repo.slots.len());
                    repo.slots.push(Slot {
                        pos: None,
                        entry: None,
                        last: entries.len(),
                    });
                }
            },
        }
        entries.push(Entry {
            name: name.to_string(),
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
    // The final variables in order, each name's variable and last entry: no lookup by
    // name (the slots say it all).
    let mut var_of = vec![None; repo.slots.len()];
    let mut vars: Vec<(String, String)> = Vec::with_capacity(order.len());
    for id in order.into_iter().flatten() {
        if let Some(e) = repo.slots[id].entry {
            let e = &entries[e];
            var_of[id] = Some(vars.len());
            vars.push((e.name.clone(), e.value.clone().unwrap_or_default()));
        }
    }
    let mut index = HashMap::with_capacity(repo.slots.len());
    for (id, s) in repo.slots.iter().enumerate() {
        index.insert(
            entries[s.last].name.clone(),
            Pos {
                var: var_of[id],
                entry: s.last,
            },
        );
    }
    Ok(EnvFile {
        raw: bytes.to_vec(),
        entries,
        vars,
        index,
        ignored,
        crlf,
        cipher: None,
    })
}

/// Length of the trimmed value text starting at `off` in an entry's text.
fn value_part_len(text: &[u8], off: usize) -> usize {
    let (_, b) = php_trim_range(&text[off..]);
    b
}

/// Register a secret value for masking, except the JSON words `null`, `true` and `false`:
/// Laravel reads those as no value at all, and masking them in the report's JSON text
/// would break the JSON itself.
fn register_secret(v: &str) {
    if !matches!(v, "null" | "true" | "false") {
        secret::register(v);
    }
}
