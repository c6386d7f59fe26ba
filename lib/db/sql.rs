//! SQL text: quoting, and reading the clients' tab-separated output.

use super::Driver;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Bytes from sqlite's `hex()` (upper-case pairs) as text; "" when malformed.
pub(crate) fn unhex(h: &str) -> String {
    let bytes: Option<Vec<u8>> = (0..h.len() / 2)
        .map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    match bytes {
        Some(b) if h.len().is_multiple_of(2) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    }
}

/// One PostgreSQL identifier, double-quoted.
pub fn pg_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A field of `mysql --batch` output as it is in the database: the client writes a
/// backslash, tab, newline and NUL as `\\`, `\t`, `\n`, `\0`.
pub fn mysql_unescape(f: &str) -> String {
    if !f.contains('\\') {
        return f.to_string();
    }
    let mut out = String::with_capacity(f.len());
    let mut it = f.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `name<TAB>count` rows into a map.
pub(super) fn parse_counts(rows: Vec<Vec<String>>) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for row in rows {
        if row.len() >= 2 {
            let n = row[1].trim().parse().map_err(|_| {
                Error::internal(format!(
                    "row count of {} is not a number: {}",
                    row[0], row[1]
                ))
            })?;
            counts.insert(row[0].clone(), n);
        }
    }
    Ok(counts)
}

/// A SQL string literal valid in all four dialects (no backslashes in table names).
pub(super) fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A table name quoted for `driver` (pgsql `schema.table` split on the first dot).
pub fn quote_table(driver: Driver, t: &str) -> String {
    match driver {
        Driver::Mysql => format!("`{}`", t.replace('`', "``")),
        Driver::Sqlsrv => format!("[{}]", t.replace(']', "]]")),
        Driver::Sqlite => format!("\"{}\"", t.replace('"', "\"\"")),
        Driver::Pgsql => {
            let q = |x: &str| format!("\"{}\"", x.replace('"', "\"\""));
            match t.split_once('.') {
                Some((schema, name)) => format!("{}.{}", q(schema), q(name)),
                None => format!("public.{}", q(t)),
            }
        }
    }
}
