//! sqlite: row counts taken inside the dump's own transaction.
//!
//! The dump runs `.dump` inside `BEGIN IMMEDIATE`: writers are held off from the first
//! statement to the `ROLLBACK`, so counts taken in the same transaction, just before
//! `.dump`, describe exactly the rows dumped (with a live writer in WAL mode, counts
//! taken before the transaction were thousands of rows off). They go to a file in the
//! set (`.output`), never into the dump. Names travel hex-encoded, so a table name
//! with a newline or `|` reads back whole.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The counts file's name in the set (the dump program runs in the set directory).
pub(super) fn counts_file_name() -> String {
    format!(".db.counts.dfkit-tmp.{}", std::process::id())
}

fn sql_ident(t: &str) -> String {
    format!("\"{}\"", t.replace('"', "\"\""))
}

/// The sqlite3 script: counts of `tables` and the table list, in the transaction,
/// into `counts_file`; then the dump on stdout.
pub(super) fn script(tables: &[String], counts_file: &str) -> Vec<u8> {
    let mut s =
        String::from(".timeout 10000\nBEGIN IMMEDIATE;\n.headers off\n.mode list\n.separator |\n");
    s.push_str(&format!(".output {counts_file}\n"));
    // Batches keep each statement a sane size on databases with many tables.
    for chunk in tables.chunks(200) {
        let parts: Vec<String> = chunk
            .iter()
            .map(|t| {
                format!(
                    "SELECT 'C', '{}', count(*) FROM {}",
                    crate::checksum::hex(t.as_bytes()),
                    sql_ident(t)
                )
            })
            .collect();
        s.push_str(&parts.join(" UNION ALL "));
        s.push_str(";\n");
    }
    s.push_str(
        "SELECT 'T', hex(name) FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\';\n",
    );
    s.push_str(".output\n.dump\nROLLBACK;\n");
    s.into_bytes()
}

fn unhex(h: &str) -> Option<String> {
    Some(crate::db::unhex(h)).filter(|s| !s.is_empty())
}

/// The counts file: (table → rows, tables in the transaction that were not counted —
/// created after the list was taken).
pub(super) fn read_counts(path: &Path) -> Result<(BTreeMap<String, u64>, Vec<String>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let bad = || {
        Error::internal(format!(
            "{}: unexpected sqlite3 output while counting rows",
            path.display()
        ))
    };
    let mut counts = BTreeMap::new();
    let mut listed = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        match f.as_slice() {
            ["C", name, n] => {
                let n = n.trim().parse().map_err(|_| bad())?;
                counts.insert(unhex(name).ok_or_else(bad)?, n);
            }
            ["T", name] => listed.push(unhex(name).ok_or_else(bad)?),
            _ => return Err(bad()),
        }
    }
    let uncounted = listed
        .into_iter()
        .filter(|t| !counts.contains_key(t))
        .collect();
    Ok((counts, uncounted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_travel_hex_encoded() {
        let s = String::from_utf8(script(&["a\nb".into(), "q\"|".into()], ".c")).unwrap();
        assert!(
            s.contains("SELECT 'C', '610a62', count(*) FROM \"a\nb\""),
            "{s}"
        );
        assert!(s.contains("FROM \"q\"\"|\""), "{s}");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c");
        std::fs::write(&p, "C|610a62|3\nC|71227c|0\nT|610a62\nT|71227c\nT|6e6577\n").unwrap();
        let (counts, uncounted) = read_counts(&p).unwrap();
        assert_eq!(counts["a\nb"], 3);
        assert_eq!(counts["q\"|"], 0);
        assert_eq!(uncounted, vec!["new".to_string()]);
    }
}
