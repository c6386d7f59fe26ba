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
use std::fmt::Write as _;
use std::path::Path;

mod appkey;
mod edit;
mod parse;
use parse::is_valid_name;

pub use appkey::{check_app_key, check_app_key_for, configured_cipher, Cipher};
pub use edit::encode;

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
    /// The number of its name in the file's [`parse::Names`].
    id: u32,
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
    /// The numbers of the names that have a value at the end, in the loader's order (of
    /// first definition; unset names removed): the final variables.
    order: Vec<u32>,
    /// The final variables copied, made when first asked for (a large file's `show`
    /// never needs the copy).
    vars: std::sync::OnceLock<Vec<(String, String)>>,
    /// Every name defined or unset, with its final variable and last entry.
    names: parse::Names,
    /// Lines Laravel silently ignores: (first, last, why).
    ignored: Vec<(usize, usize, &'static str)>,
    crlf: bool,
    /// The cipher APP_KEY is judged against, when the install's is known.
    cipher: Option<Cipher>,
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

/// Why lines after an unclosed `="` are ignored (also a refusal to append after them).
const UNCLOSED: &str = "an opening `=\"` is never closed (multi-line value with no closing quote)";

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
        parse::parse(bytes.into())
    }

    /// [`Self::parse_inner`] of bytes the file then keeps, without a copy.
    pub fn parse_owned(bytes: Vec<u8>) -> std::result::Result<EnvFile, ParseError> {
        parse::parse(bytes.into())
    }

    /// The value Laravel sees for `key` (last definition wins; a bare `KEY` line unsets).
    pub fn get(&self, key: &str) -> Option<&str> {
        let e = self.name(key)?.cur?;
        self.entries[e as usize].value.as_deref()
    }

    fn name(&self, key: &str) -> Option<&parse::Name> {
        let id = self.names.find(&self.raw, key.as_bytes())?;
        Some(&self.names.list[id])
    }

    /// The final variables, in order of first definition.
    pub fn vars(&self) -> &[(String, String)] {
        self.vars.get_or_init(|| {
            self.variables()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
    }

    /// [`Self::vars`], borrowed from the entries: no copy.
    pub fn variables(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.order.iter().map(|&id| {
            let cur = self.names.list[id as usize].cur.unwrap_or_default();
            let e = &self.entries[cur as usize];
            (e.name.as_str(), e.value.as_deref().unwrap_or_default())
        })
    }

    /// Every definition, in file order (duplicates included).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The definition Laravel uses for `key` (the last one).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.name(key).map(|n| &self.entries[n.last as usize])
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
        // The first way of writing it that Laravel reads back as `value` (keeping the
        // spacing before a comment can fail: PHP's trim keeps a \f the lexer skips).
        let mut first_err = None;
        let mut found = None;
        for new in self.edited(key, value)? {
            match EnvFile::parse_inner(&new) {
                Ok(p) if p.get(key) == Some(value) => {
                    found = Some(p);
                    break;
                }
                Ok(_) => {
                    first_err.get_or_insert_with(|| {
                        Error::internal(format!(
                            "editing {key}: Laravel would not read the new value back; nothing \
                             written"
                        ))
                        .with_hint("edit the line by hand")
                    });
                }
                Err(e) => {
                    first_err.get_or_insert_with(|| {
                        Error::internal(format!(
                            "editing {key} would make the file unreadable (line {}); nothing \
                             written",
                            e.line
                        ))
                    });
                }
            }
        }
        let Some(parsed) = found else {
            return Err(first_err
                .unwrap_or_else(|| Error::internal(format!("cannot write {key} on one line"))));
        };
        let cipher = self.cipher.take();
        *self = parsed;
        self.cipher = cipher;
        Ok(true)
    }

    /// Everything about the file the operator should know, as sentences naming key and
    /// line (never a secret value).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        // Names defined more than once, in order of first appearance, with their lines:
        // counted per name number, then the lines of each such name gathered in one list
        // (no lookup by name, no list per name).
        // One pass over the entries (they are large: a 500k-line file's take ~60 MB): each
        // one's name number and line, and the warnings about the entry itself.
        let mut at: Vec<(u32, usize)> = Vec::with_capacity(self.entries.len());
        let mut own = Vec::new();
        for e in &self.entries {
            at.push((e.id, e.line));
            if e.truncated {
                own.push(format!(
                    "{} (line {}): an unquoted `#` starts a comment, so Laravel reads only the part \
                     before it; quote the value if the `#` belongs to it",
                    e.name, e.line
                ));
            }
            for v in &e.unresolved {
                own.push(format!(
                    "{} (line {}): ${{{v}}} is not defined above it in the file; Laravel takes it from \
                     the process environment or leaves it as written",
                    e.name, e.line
                ));
            }
        }
        let names = &self.names.list;
        let mut count = vec![0u32; names.len()];
        for &(id, _) in &at {
            count[id as usize] += 1;
        }
        // `start[id]..start[id + 1]`: where name `id`'s lines go in `lines`.
        let mut start = Vec::with_capacity(names.len() + 1);
        let mut total = 0usize;
        for &c in &count {
            start.push(total);
            if c > 1 {
                total += c as usize;
            }
        }
        start.push(total);
        let mut lines = vec![0usize; total];
        let mut fill = start.clone();
        for &(id, line) in &at {
            let id = id as usize;
            if count[id] > 1 {
                lines[fill[id]] = line;
                fill[id] += 1;
            }
        }
        for &(id, line) in &at {
            let id = id as usize;
            // A name's first entry is the one that fills its first line.
            if count[id] > 1 && lines[start[id]] == line {
                let l = &lines[start[id]..start[id + 1]];
                let name = String::from_utf8_lossy(names[id].bytes(&self.raw));
                let mut s = format!("{name} is defined {} times (lines ", l.len());
                for (k, n) in l.iter().enumerate() {
                    if k > 0 {
                        s.push_str(", ");
                    }
                    let _ = write!(s, "{n}");
                }
                let _ = write!(
                    s,
                    "); Laravel uses the last one (line {})",
                    l.last().copied().unwrap_or(0)
                );
                w.push(s);
            }
        }
        w.extend(own);
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

    /// Judge APP_KEY against this cipher from now on (the install's, see
    /// [`configured_cipher`]); without it, APP_CIPHER in the file or Laravel's default.
    pub fn with_cipher(mut self, cipher: Cipher) -> EnvFile {
        self.cipher = Some(cipher);
        self
    }

    /// The cipher APP_KEY is judged against.
    pub fn cipher(&self) -> Cipher {
        self.cipher
            .clone()
            .unwrap_or_else(|| configured_cipher(None, self))
    }

    /// APP_KEY's shape when Laravel's encrypter accepts it with [`Self::cipher`]:
    /// Ok("base64, 32 bytes" / "raw, 32 bytes"), else Err(why, never the key).
    pub fn app_key(&self) -> std::result::Result<String, String> {
        let line = self.entry("APP_KEY").map(|e| e.line);
        let Some(k) = self.get("APP_KEY") else {
            return Err("APP_KEY is not set: DreamFactory cannot decrypt stored service credentials without the key they were encrypted with".into());
        };
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        check_app_key_for(k, &self.cipher())
            .map_err(|why| format!("APP_KEY{at} is malformed: {why}"))
    }
}

/// The parsed file for reports: every final variable, secrets as fingerprints.
pub fn to_json(env: &EnvFile) -> Value {
    let mut vars = serde_json::Map::new();
    for (k, v) in env.variables() {
        let shown = if secret::is_secret_key(k) {
            json!(secret::Fingerprint::of(v))
        } else {
            json!(v)
        };
        vars.insert(k.to_string(), shown);
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

    /// A large file parses (in linear time: this took minutes when a new name scanned all
    /// earlier ones) and reads right: order, last-wins, unset-then-redefine, expansion.
    #[test]
    fn two_hundred_thousand_lines() {
        let n = 200_000;
        let mut src = String::with_capacity(n * 24);
        for i in 0..n {
            match i % 4 {
                0 => src.push_str(&format!("K{i}=v{i}\n")),
                1 => src.push_str(&format!("export LONGNAME{i}=\"${{K{}}}-x\"\n", i - 1)),
                2 => src.push_str(&format!("# comment {i}\n")),
                _ => src.push_str(&format!(
                    "K{}=again{i}\nK{}\nK{}=back{i}\n",
                    i - 3,
                    i - 3,
                    i - 3
                )),
            }
        }
        let e = EnvFile::parse(src.as_bytes()).unwrap();
        assert_eq!(e.vars().len(), n / 2);
        assert_eq!(e.get("K0"), Some("back3"));
        assert_eq!(e.get("LONGNAME1"), Some("v0-x"));
        // K0 was unset, then defined again: it moved after LONGNAME1.
        assert_eq!(e.vars()[0].0, "LONGNAME1");
        assert_eq!(e.vars()[1].0, "K0");
        assert_eq!(e.entries().len(), n / 4 * 5);
        let dups = e
            .warnings()
            .iter()
            .filter(|w| w.contains("defined 4 times"))
            .count();
        assert_eq!(dups, n / 4);
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

    /// Found by the phpdotenv differential run at 20k cases: a `\f` before an inline
    /// comment is kept by PHP's trim, so an empty value must be written quoted.
    #[test]
    fn edit_before_a_formfeed_comment() {
        let mut e = EnvFile::parse(b"DB_PASSWORD\t= )\x0c#").unwrap();
        assert!(e.set("DB_PASSWORD", "").unwrap());
        assert_eq!(e.get("DB_PASSWORD"), Some(""));
        assert_eq!(e.bytes(), b"DB_PASSWORD\t= \"\"\x0c#");
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
