//! phpdotenv's parser, step by step (`Lines`, `EntryParser`, `Lexer`, `Resolver`, the
//! loader), in time linear in the size of the file.

use super::{Entry, EnvFile, Layout, ParseError, Quote, UNCLOSED};
use crate::secret;
use std::hash::BuildHasher;

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
    // (memchr per line, not memmem: building a searcher costs more than a short line.)
    memchr::memchr_iter(b'=', line).any(|i| line.get(i + 1) == Some(&b'"'))
        && !multiline_stop(line, true)
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
    // A value is never longer than its text: one allocation.
    r.chars.reserve_exact(v.len());
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

/// Every name defined or unset in a file, once, numbered in order of first appearance
/// and found by its bytes. The table holds only numbers: a name's bytes stay in the file.
#[derive(Clone, Default)]
pub(super) struct Names {
    pub list: Vec<Name>,
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

/// A name of the file: where its bytes are, the entry holding its value, its last entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Name {
    /// Byte offset in the file of the name as first written (names are ASCII).
    at: usize,
    len: u32,
    /// The entry holding its current value (after parsing: the value Laravel reads);
    /// None when unset.
    pub cur: Option<u32>,
    /// Its last entry, of any kind.
    pub last: u32,
}

impl Name {
    pub fn bytes<'r>(&self, raw: &'r [u8]) -> &'r [u8] {
        &raw[self.at..self.at + self.len as usize]
    }
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.list).finish()
    }
}

impl Names {
    fn with_capacity(n: usize) -> Names {
        Names {
            list: Vec::with_capacity(n),
            table: hashbrown::HashTable::with_capacity(n),
            hasher: Default::default(),
        }
    }

    /// The number of `name` (in a file whose bytes are `raw`).
    pub fn find(&self, raw: &[u8], name: &[u8]) -> Option<usize> {
        let list = &self.list;
        self.table
            .find(self.hasher.hash_one(name), |&id| {
                list[id as usize].bytes(raw) == name
            })
            .map(|&id| id as usize)
    }

    /// The number of the name at `at..at + len` in `raw`, and whether it is new (then
    /// numbered, with `last` as its last entry).
    fn find_or_add(&mut self, raw: &[u8], at: usize, len: usize, last: usize) -> (usize, bool) {
        let name = &raw[at..at + len];
        let Names {
            list,
            table,
            hasher,
        } = self;
        let entry = table.entry(
            hasher.hash_one(name),
            |&id| list[id as usize].bytes(raw) == name,
            |&id| hasher.hash_one(list[id as usize].bytes(raw)),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(o) => (*o.get() as usize, false),
            hashbrown::hash_table::Entry::Vacant(v) => {
                let id = list.len();
                v.insert(number(id));
                list.push(Name {
                    at,
                    len: number(len),
                    cur: None,
                    last: number(last),
                });
                (id, true)
            }
        }
    }
}

/// An index as the `u32` the parser keeps (a .env of 4 Gi entries cannot be read anyway).
fn number(i: usize) -> u32 {
    u32::try_from(i).expect("a .env of fewer than 4 Gi lines")
}

/// `Resolver::resolve`: `${NAME}` from the variables defined so far, right to left.
/// (Takes the value's bytes out of `raw`: nothing reads them afterwards.)
fn resolve(
    raw: &mut RawValue,
    loader: &Loader,
    unresolved: &mut Vec<String>,
    name: &mut Vec<u8>,
) -> String {
    let chars = std::mem::take(&mut raw.chars);
    if raw.vars.is_empty() {
        // Nothing to expand (most values): the bytes become the string, no copy.
        return String::from_utf8(chars)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    }
    let chars = &chars;
    // phpdotenv rebuilds the whole string at each `$`, right to left (quadratic). Here the
    // resolved text from the current `$` to the end is kept reversed in `tail`, so a
    // replacement at its front costs only what it removes and adds. Text left of the
    // current `$` is never changed by a replacement, as in phpdotenv.
    let mut tail: Vec<u8> = Vec::with_capacity(chars.len() + 16);
    let mut cut = chars.len();
    // `vars` are in increasing order (pushed as the value grew): right to left is reversed.
    for &i in raw.vars.iter().rev() {
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
        name.clear();
        name.extend((2..2 + n).filter_map(at));
        match loader.lookup(name) {
            Some(val) => {
                tail.truncate(len - (3 + n));
                tail.extend(val.bytes().rev());
            }
            None => unresolved.push(String::from_utf8_lossy(name).into_owned()),
        }
    }
    let mut s = Vec::with_capacity(cut + tail.len());
    s.extend_from_slice(&chars[..cut]);
    s.extend(tail.iter().rev());
    // Only ASCII boundaries were split or joined, so this stays valid UTF-8.
    String::from_utf8(s).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Physical lines from `start`, as (start, end of content): split on `\r\n`, `\n` or
/// `\r`; as preg_split, always a last (possibly empty) piece.
struct Lines<'a> {
    raw: &'a [u8],
    start: usize,
    done: bool,
}

impl Iterator for Lines<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        if self.done {
            return None;
        }
        let start = self.start;
        match memchr::memchr2(b'\r', b'\n', &self.raw[start..]) {
            Some(k) => {
                let i = start + k;
                self.start = if self.raw[i] == b'\r' && self.raw.get(i + 1) == Some(&b'\n') {
                    i + 2
                } else {
                    i + 1
                };
                Some((start, i))
            }
            None => {
                self.done = true;
                Some((start, self.raw.len()))
            }
        }
    }
}

fn lines(raw: &[u8], start: usize) -> Lines<'_> {
    Lines {
        raw,
        start,
        done: false,
    }
}

/// An entry's lines (`Lines::process`): one line, or a multi-line value's lines joined.
struct Group<'a> {
    /// 0-based numbers of its first and last line.
    first: usize,
    last: usize,
    /// Byte offsets in the file of its start and of the end of its last line's content.
    start: usize,
    end: usize,
    text: std::borrow::Cow<'a, [u8]>,
}

/// Parse `input` as phpdotenv does; a rejected file is a [`ParseError`] naming the line.
/// The file keeps `input` (copied only when borrowed).
pub(super) fn parse(input: std::borrow::Cow<'_, [u8]>) -> std::result::Result<EnvFile, ParseError> {
    let bytes: &[u8] = &input;
    if let Err(e) = std::str::from_utf8(bytes) {
        let at = e.valid_up_to();
        return Err(ParseError {
            line: lines(&bytes[..at], 0).count(),
            message: format!("not valid UTF-8 (byte {})", at + 1),
            hint: Some("save the file as UTF-8".into()),
        });
    }
    let bom = if bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    // Room for an entry per line (an estimate: no table grows while loading).
    let mut loader = Loader::new(bytes, memchr::memchr_iter(b'\n', bytes).count() + 1);

    // Lines::process — group physical lines into entries, each loaded as soon as it is
    // complete: one pass, no list of lines or of entries' texts.
    let mut multiline = false;
    // The lines of an open multi-line value: (number, start, end).
    let mut buf: Vec<(usize, usize, usize)> = Vec::new();
    for (idx, (start, end)) in lines(bytes, bom).enumerate() {
        let line = &bytes[start..end];
        let started = multiline_start(line);
        if started {
            multiline = true;
        }
        let group = if multiline {
            buf.push((idx, start, end));
            if !multiline_stop(line, started) {
                continue;
            }
            multiline = false;
            let mut text = Vec::new();
            for (k, &(_, a, b)) in buf.iter().enumerate() {
                if k > 0 {
                    text.push(b'\n');
                }
                text.extend_from_slice(&bytes[a..b]);
            }
            let (first, start, _) = buf[0];
            buf.clear();
            Group {
                first,
                last: idx,
                start,
                end,
                text: std::borrow::Cow::Owned(text),
            }
        } else {
            Group {
                first: idx,
                last: idx,
                start,
                end,
                text: std::borrow::Cow::Borrowed(line),
            }
        };
        if !is_comment_or_blank(&group.text) {
            loader.load(&group)?;
        } else if group.last > group.first {
            loader.ignored.push((
                group.first + 1,
                group.last + 1,
                "a comment line containing `=\"` opened a multi-line value",
            ));
        }
    }
    if let (Some(&(a, _, _)), Some(&(b, bs, be))) = (buf.first(), buf.last()) {
        // Trailing blank pieces after a final newline are not real lines.
        let last_real = if bs == be && b > a { b - 1 } else { b };
        loader.ignored.push((a + 1, last_real + 1, UNCLOSED));
    }
    let mut file = loader.finish();
    file.raw = input.into_owned();
    Ok(file)
}

/// phpdotenv's `EntryParser::parse` on each entry, then its loader (resolution, last
/// wins). phpdotenv parses every entry before loading any, but a rejected entry rejects
/// the whole file either way, and `${VAR}` only sees what is above it, so the values are
/// the same — without a list of parsed entries.
struct Loader<'a> {
    bytes: &'a [u8],
    entries: Vec<Entry>,
    names: Names,
    /// Per name (by number): its place in `order` (None: not defined now or never).
    pos: Vec<Option<u32>>,
    /// Names in the loader's order (of first definition; a name defined again after an
    /// unset moves to the end, as a PHP array key does: its old place becomes a hole).
    order: Vec<Option<u32>>,
    ignored: Vec<(usize, usize, &'static str)>,
    /// Scratch space for a `${NAME}` being resolved.
    scratch: Vec<u8>,
}

impl<'a> Loader<'a> {
    fn new(bytes: &'a [u8], n: usize) -> Loader<'a> {
        let mut entries = Vec::with_capacity(n);
        crate::hugepages::advise(&mut entries);
        Loader {
            bytes,
            entries,
            names: Names::with_capacity(n),
            pos: Vec::with_capacity(n),
            order: Vec::with_capacity(n),
            ignored: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The current value of `name`.
    fn lookup(&self, name: &[u8]) -> Option<&str> {
        let id = self.names.find(self.bytes, name)?;
        let e = self.names.list[id].cur?;
        self.entries[e as usize].value.as_deref()
    }

    fn load(&mut self, g: &Group) -> std::result::Result<(), ParseError> {
        let bytes = self.bytes;
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
        // The name is a part of the entry's first line, which is in the file at `start`.
        let name_at = g.start + (name.as_ptr() as usize - text.as_ptr() as usize);
        let raw = match value_part {
            Some(v) => Some(parse_value(v).map_err(|(m, h)| err(format!("{name}: {m}"), h))?),
            None => None,
        };
        let mut raw = raw;
        let mut unresolved = Vec::new();
        let mut scratch = std::mem::take(&mut self.scratch);
        let value = raw
            .as_mut()
            .map(|r| resolve(r, self, &mut unresolved, &mut scratch));
        self.scratch = scratch;
        let single = g.first == g.last;
        let layout = match (&raw, eq) {
            (Some(r), Some(_)) if single => {
                let vlen = value_part_len(&g.text, value_off);
                let content_end = r.content_end.unwrap_or(vlen);
                let comment = match r.comment {
                    Some((c, truncating))
                        if !truncating || c == 0 && value_off > eq.unwrap_or(0) + 1 =>
                    {
                        Some(g.start + value_off + c)
                    }
                    _ => None,
                };
                Some(Layout {
                    value_start: g.start + value_off,
                    content_end: g.start + value_off + content_end,
                    comment,
                    text_end: g.start + value_off + vlen,
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
        let at = self.entries.len();
        let (id, new) = self.names.find_or_add(bytes, name_at, name.len(), at);
        if new {
            self.pos.push(None);
        }
        let n = &mut self.names.list[id];
        n.last = number(at);
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
                if n.cur.is_none() {
                    // New, or defined again after an unset: (to) the end of the order.
                    if let Some(p) = self.pos[id] {
                        self.order[p as usize] = None;
                    }
                    self.pos[id] = Some(number(self.order.len()));
                    self.order.push(Some(number(id)));
                }
                n.cur = Some(number(at));
            }
            // Unset (before any definition, only its entry is remembered).
            None => n.cur = None,
        }
        self.entries.push(Entry {
            name: name.to_string(),
            value,
            line: g.first + 1,
            last_line: g.last + 1,
            quote,
            id: number(id),
            span: (g.start, g.end),
            eq: eq.map(|p| g.start + p),
            layout,
            truncated,
            unresolved,
        });
        Ok(())
    }

    /// The parsed file, but its bytes. The final variables are the names in order that
    /// have a value (not copied: see [`EnvFile::vars`]).
    fn finish(self) -> EnvFile {
        let Loader {
            bytes,
            entries,
            names,
            order,
            ignored,
            ..
        } = self;
        let order = order
            .into_iter()
            .flatten()
            .filter(|&id| names.list[id as usize].cur.is_some())
            .collect();
        EnvFile {
            raw: Vec::new(),
            crlf: memchr::memmem::find(bytes, b"\r\n").is_some(),
            entries,
            order,
            vars: Default::default(),
            names,
            ignored,
            cipher: None,
        }
    }
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
