//! The mysql connection's `'strict' => true|false` entry of config/database.php.
//!
//! The guide's migration step "set `'strict' => false` in config/database.php" as an edit
//! that touches exactly the literal and nothing else: a small PHP tokenizer (strings,
//! comments, brackets) finds the `'mysql' => [ … ]` array among the connections and its
//! top-level `'strict'` key, whatever the spacing or alignment (`'strict'    => true,`),
//! ignoring look-alikes inside comments, strings or nested arrays.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Str(String),
    Word(String),
    Arrow,
    Open(u8),
    Close(u8),
    Comma,
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

/// Tokenize PHP source well enough to find array keys: strings, comments and brackets
/// are understood; everything else is a word or a single punctuation byte.
fn tokenize(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' | b'/' if c == b'#' || b.get(i + 1) == Some(&b'/') => {
                // A line comment ends at the newline (or at `?>`, which config files lack).
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(b.len());
            }
            b'\'' | b'"' => {
                i += 1;
                let mut val = Vec::new();
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        val.push(b[i + 1]);
                        i += 2;
                    } else {
                        val.push(b[i]);
                        i += 1;
                    }
                }
                i = (i + 1).min(b.len());
                out.push(Token {
                    tok: Tok::Str(String::from_utf8_lossy(&val).into_owned()),
                    start,
                    end: i,
                });
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'\\' || c >= 0x80 => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'\\'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(src[start..i].to_string()),
                    start,
                    end: i,
                });
            }
            // `=>`, a bracket, a comma, or any other single byte.
            _ => {
                let (tok, len) = match c {
                    b'=' if b.get(i + 1) == Some(&b'>') => (Tok::Arrow, 2),
                    b'[' | b'(' | b'{' => (Tok::Open(c), 1),
                    b']' | b')' | b'}' => (Tok::Close(c), 1),
                    b',' => (Tok::Comma, 1),
                    _ => (Tok::Other, 1),
                };
                i += len;
                out.push(Token { tok, start, end: i });
            }
        }
    }
    out
}

/// Where the mysql connection's `'strict'` value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictSite {
    /// The literal's value; None when it is an expression such as `env('DB_STRICT', true)`.
    pub value: Option<bool>,
    /// Byte range of the value expression in the file.
    pub start: usize,
    pub end: usize,
    /// 1-based line number of the value.
    pub line: usize,
    /// The value expression as written.
    pub expr: String,
}

/// The token index of the array opened by `KEY => [` or `KEY => array(` at `i` (the
/// key's token), if that is what follows the key.
fn array_after_key(toks: &[Token], i: usize) -> Option<usize> {
    if toks.get(i + 1).map(|t| &t.tok) != Some(&Tok::Arrow) {
        return None;
    }
    match toks.get(i + 2).map(|t| &t.tok) {
        Some(Tok::Open(b'[')) => Some(i + 2),
        Some(Tok::Word(w))
            if w.eq_ignore_ascii_case("array")
                && toks.get(i + 3).map(|t| &t.tok) == Some(&Tok::Open(b'(')) =>
        {
            Some(i + 3)
        }
        _ => None,
    }
}

/// The key of the array that directly contains token `i`, if it has a string key.
fn enclosing_key(toks: &[Token], i: usize) -> Option<&str> {
    let mut depth = 0usize;
    let mut j = i;
    while j > 0 {
        j -= 1;
        match toks[j].tok {
            Tok::Close(_) => depth += 1,
            Tok::Open(_) if depth > 0 => depth -= 1,
            Tok::Open(c) => {
                // `'key' => [` or `'key' => array(`
                let k = if c == b'(' {
                    j.checked_sub(3)?
                } else {
                    j.checked_sub(2)?
                };
                return match &toks[k].tok {
                    Tok::Str(s) if array_after_key(toks, k) == Some(j) => Some(s.as_str()),
                    _ => None,
                };
            }
            _ => {}
        }
    }
    None
}

/// The value of the `'strict' => VALUE` entry whose key is token `i`.
fn site_at(src: &str, toks: &[Token], i: usize) -> Result<StrictSite> {
    // The value runs to the next comma or closing bracket at this depth.
    let vstart = i + 2;
    let mut j = vstart;
    let mut d = 0usize;
    while j < toks.len() {
        match toks[j].tok {
            Tok::Open(_) => d += 1,
            Tok::Close(_) if d == 0 => break,
            Tok::Close(_) => d -= 1,
            Tok::Comma if d == 0 => break,
            _ => {}
        }
        j += 1;
    }
    if j == vstart {
        return Err(Error::bad_data(
            "config/database.php: the mysql 'strict' entry has no value",
        ));
    }
    let (start, end) = (toks[vstart].start, toks[j - 1].end);
    let value = match (&toks[vstart].tok, j - vstart) {
        (Tok::Word(w), 1) if w.eq_ignore_ascii_case("true") => Some(true),
        (Tok::Word(w), 1) if w.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    };
    Ok(StrictSite {
        value,
        start,
        end,
        line: src[..start].matches('\n').count() + 1,
        expr: src[start..end].to_string(),
    })
}

/// Find the mysql connection's top-level `'strict'` entry: the one PHP evaluates. In a
/// PHP array literal the last of duplicate keys wins, so that is the last `'strict'` of
/// the last `'mysql'` array among the `'connections'` (of any `'mysql'` array when
/// the file has no `'connections'` key).
pub fn find(src: &str) -> Result<StrictSite> {
    let toks = tokenize(src);
    let mut any = None;
    let mut in_connections = None;
    for i in 0..toks.len() {
        if toks[i].tok != Tok::Str("mysql".into()) {
            continue;
        }
        if let Some(open) = array_after_key(&toks, i) {
            any = Some(open);
            if enclosing_key(&toks, i) == Some("connections") {
                in_connections = Some(open);
            }
        }
    }
    let open = in_connections.or(any).ok_or_else(|| {
        Error::bad_data("config/database.php has no 'mysql' connection array")
            .with_hint("strict-mode only applies to the mysql connection (MySQL/MariaDB)")
    })?;
    let mut depth = 0usize;
    let mut last = None;
    for i in open..toks.len() {
        match &toks[i].tok {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Str(s)
                if depth == 1
                    && s == "strict"
                    && toks.get(i + 1).map(|t| &t.tok) == Some(&Tok::Arrow) =>
            {
                last = Some(i);
            }
            _ => {}
        }
    }
    match last {
        Some(i) => site_at(src, &toks, i),
        None => Err(Error::bad_data(
            "config/database.php: the mysql connection has no 'strict' entry",
        )
        .with_hint(
            "add `'strict' => true,` (or false) to the 'mysql' connection by hand; \
                     without it the server's own sql_mode applies",
        )),
    }
}

/// The file with the mysql `'strict'` literal set to `on`, and whether that changed it.
/// Every other byte is kept. A non-literal value (e.g. `env('DB_STRICT', true)`) is
/// refused: rewriting it would silently drop the operator's indirection.
pub fn set(src: &str, on: bool) -> Result<(String, bool, StrictSite)> {
    let site = find(src)?;
    match site.value {
        Some(v) if v == on => Ok((src.to_string(), false, site)),
        Some(_) => {
            let word = if on { "true" } else { "false" };
            // Keep the file's spelling (TRUE/True/true).
            let word = if site.expr.chars().all(|c| c.is_ascii_uppercase()) {
                word.to_ascii_uppercase()
            } else if site.expr.starts_with(|c: char| c.is_ascii_uppercase()) {
                let mut w = word.to_string();
                w[..1].make_ascii_uppercase();
                w
            } else {
                word.to_string()
            };
            let mut out = String::with_capacity(src.len() + 1);
            out.push_str(&src[..site.start]);
            out.push_str(&word);
            out.push_str(&src[site.end..]);
            Ok((out, true, site))
        }
        None => Err(Error::bad_data(format!(
            "config/database.php line {}: the mysql 'strict' value is `{}`, not true/false",
            site.line, site.expr
        ))
        .with_hint("edit that line by hand (or set the variable it reads in .env)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LARAVEL8: &str = r#"<?php

use Illuminate\Support\Str;

return [
    // 'strict' => false, in a comment must not count
    'default' => env('DB_CONNECTION', 'mysql'),

    'connections' => [

        'sqlite' => [
            'driver' => 'sqlite',
            'strict' => false, # not this one either
        ],

        'mysql' => [
            'driver' => 'mysql',
            'url' => env('DATABASE_URL'),
            'charset' => 'utf8mb4',
            'prefix' => '',
            'strict' => true,
            'engine' => null,
            'options' => extension_loaded('pdo_mysql') ? array_filter([
                PDO::MYSQL_ATTR_SSL_CA => env('MYSQL_ATTR_SSL_CA'),
                'strict' => 'nested, not this',
            ]) : [],
        ],

        'pgsql' => [
            'driver' => 'pgsql',
        ],
    ],
];
"#;

    #[test]
    fn finds_the_mysql_entry_only() {
        let s = find(LARAVEL8).unwrap();
        assert_eq!(s.value, Some(true));
        assert_eq!(s.line, 21);
        assert_eq!(&LARAVEL8[s.start..s.end], "true");
    }

    #[test]
    fn off_then_on_round_trips_one_word() {
        let (off, changed, _) = set(LARAVEL8, false).unwrap();
        assert!(changed);
        assert_eq!(
            off,
            LARAVEL8.replace("'strict' => true,", "'strict' => false,")
        );
        let (again, changed, _) = set(&off, false).unwrap();
        assert!(!changed);
        assert_eq!(again, off);
        let (on, changed, _) = set(&off, true).unwrap();
        assert!(changed);
        assert_eq!(on, LARAVEL8);
    }

    #[test]
    fn aligned_spacing_and_old_array_syntax() {
        let src = "<?php\nreturn array(\n  'connections' => array(\n    'mysql' => array(\n        'driver'    => 'mysql',\n        'strict'    => true,\n    ),\n  ),\n);\n";
        let (out, changed, site) = set(src, false).unwrap();
        assert!(changed);
        assert_eq!(site.line, 6);
        assert_eq!(
            out,
            src.replace("'strict'    => true,", "'strict'    => false,")
        );
        // Double quotes, uppercase literal, last entry without a trailing comma.
        let src = "<?php return [\"connections\" => [\"mysql\" => [\"strict\"\t=>\tTRUE]]];";
        let (out, _, _) = set(src, false).unwrap();
        assert_eq!(out, src.replace("TRUE", "FALSE"));
    }

    #[test]
    fn the_key_php_uses_wins() {
        // Duplicate keys: PHP keeps the last one, so that is the one to edit.
        let src = "<?php return ['connections' => [\n  'mysql' => [\n    'strict' => true,\n    'engine' => null,\n    'strict' => false,\n  ],\n]];\n";
        let s = find(src).unwrap();
        assert_eq!((s.value, s.line), (Some(false), 5));
        let (out, changed, _) = set(src, true).unwrap();
        assert!(changed);
        assert_eq!(out, src.replace("'strict' => false,", "'strict' => true,"));
        // A duplicate 'mysql' connection: the last one; a 'mysql' key elsewhere is not it.
        let src = "<?php return ['redis' => ['mysql' => ['strict' => false]], 'connections' => ['mysql' => ['strict' => false], 'mysql' => ['strict' => true]], 'x' => ['mysql' => ['strict' => false]]];";
        let s = find(src).unwrap();
        assert_eq!(s.value, Some(true));
        assert_eq!(&src[s.start - 12..s.end], "'strict' => true");
        // Old array() syntax inside 'connections'.
        let src = "<?php return array('connections' => array('mysql' => array('strict' => TRUE), 'mysql' => array('strict' => FALSE)));";
        assert_eq!(find(src).unwrap().value, Some(false));
    }

    #[test]
    fn non_literal_and_missing_are_bad_data() {
        let src = "<?php return ['connections' => ['mysql' => ['strict' => env('DB_STRICT', true), 'x' => 1]]];";
        let s = find(src).unwrap();
        assert_eq!(s.value, None);
        assert_eq!(s.expr, "env('DB_STRICT', true)");
        let e = set(src, false).unwrap_err();
        assert_eq!(e.kind.exit_code(), 65);
        let e = find("<?php return ['connections' => ['mysql' => ['driver' => 'mysql']]];")
            .unwrap_err();
        assert!(e.message.contains("no 'strict' entry"));
        let e =
            find("<?php return ['connections' => ['sqlite' => ['strict' => true]]];").unwrap_err();
        assert!(e.message.contains("no 'mysql'"));
    }

    proptest! {
        // Whatever the spacing around `=>` and whatever surrounds the entry, only the
        // literal changes, and setting it back restores the original bytes.
        #[test]
        fn only_the_literal_changes(
            pre in "[ \t]{0,8}",
            mid in "[ \t]{0,12}",
            before in "[a-z ]{0,20}",
            start_on in any::<bool>(),
        ) {
            let lit = if start_on { "true" } else { "false" };
            let src = format!(
                "<?php\n// {before}\nreturn ['connections' => [\n  'mysql' => [\n{pre}'strict'{mid}=>{mid}{lit},\n  ],\n]];\n"
            );
            let (flipped, changed, site) = set(&src, !start_on).unwrap();
            prop_assert!(changed);
            prop_assert_eq!(&flipped[..site.start], &src[..site.start]);
            prop_assert_eq!(&flipped[flipped.len() - (src.len() - site.end)..], &src[site.end..]);
            let (back, _, _) = set(&flipped, start_on).unwrap();
            prop_assert_eq!(back, src.clone());
            let (same, changed, _) = set(&src, start_on).unwrap();
            prop_assert!(!changed);
            prop_assert_eq!(same, src);
        }
    }
}
