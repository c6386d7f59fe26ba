//! `SET/db.meta.json`: what df-dump-db recorded about a database dump, so that it can be
//! trusted later (checksum, trailer, row counts) and restored the way it was taken.
//!
//! Written once, atomically, after the artifact is committed; read by `df-dump-db
//! verify`/`restore`, df-verify (`row_counts`) and the wrappers. Every field has a
//! default so a meta written by an older dfkit still reads.
//!
//! ```json
//! {"artifact": "db.sql.zst", "driver": "mysql", "database": "df", "host": "127.0.0.1:3306",
//!  "server_version": "10.11.6-MariaDB", "dump_program": "/usr/bin/mariadb-dump",
//!  "dump_argv": ["mariadb-dump", "--defaults-extra-file=<0600 temp file>", "…", "df"],
//!  "sha256": "…", "bytes": 1234, "uncompressed_bytes": 9876, "compression": "zstd",
//!  "portable": false, "sandbox_line": "absent", "definers_removed": 0,
//!  "max_allowed_packet": 1073741824, "trailer_verified": true, "tables": 2,
//!  "row_counts": {"user": 3, "service": 12}, "row_counts_source": "dump",
//!  "created_at": "2026-11-29T08:00:00Z", "dfkit_version": "0.1.0"}
//! ```

use crate::db::Driver;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The meta file's name in a set.
pub const DB_META: &str = "db.meta.json";

/// `SET/db.meta.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DbMeta {
    /// The artifact's file name in the set: `db.sql.zst`, `db.sql.gz`, `db.sql` or `db.bak`
    /// (sqlsrv).
    pub artifact: String,
    /// `sqlite`, `mysql`, `pgsql` or `sqlsrv`.
    pub driver: Option<Driver>,
    /// The database name (sqlite: the file's path).
    pub database: String,
    /// `host:port` or the socket; null for sqlite.
    pub host: Option<String>,
    /// What the server reported, e.g. `10.11.6-MariaDB-0+deb12u1`, `15.8 (Debian …)`,
    /// `3.40.1`; null for sqlsrv.
    pub server_version: Option<String>,
    /// The dump program's path.
    pub dump_program: PathBuf,
    /// Its argv, masked; the credential file shown as `<0600 temp file>`.
    pub dump_argv: Vec<String>,
    /// Hex SHA-256 of the artifact file.
    pub sha256: String,
    /// Size of the artifact file.
    pub bytes: u64,
    /// Size of the SQL text (for sqlsrv: of the backup file).
    pub uncompressed_bytes: u64,
    /// `zstd`, `gzip` or `none`.
    pub compression: String,
    /// `--portable` was given.
    pub portable: bool,
    /// MariaDB's sandbox-mode first line: `absent`, `present` or `stripped` (absent for
    /// sqlsrv).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_line: Option<String>,
    /// `DEFINER=` clauses removed (mysql).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definers_removed: Option<u64>,
    /// mysql: the `--max-allowed-packet` the dump was taken with, in bytes. A restore's
    /// client must allow at least as much (the server's `max_allowed_packet` must hold the
    /// largest row, as for any mariadb-dump).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_allowed_packet: Option<u64>,
    /// mysql: the longest INSERT statement in the dump, in bytes: the server's
    /// `max_allowed_packet` must be at least this for the dump to restore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_statement_bytes: Option<u64>,
    /// The completion trailer was seen (always true in a written meta).
    pub trailer_verified: bool,
    /// Number of tables counted (null for sqlsrv).
    pub tables: Option<u64>,
    /// Table → exact row count of the snapshot dumped (null for sqlsrv).
    pub row_counts: Option<BTreeMap<String, u64>>,
    /// Where `row_counts` come from: `dump` (counted in the dump stream itself: the
    /// very snapshot dumped), or `query` (`COUNT(*)` queries: metas written before dfkit
    /// counted the stream); null for sqlsrv.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_counts_source: Option<String>,
    /// When the dump was taken, RFC 3339 UTC.
    pub created_at: String,
    /// The dfkit version that wrote it.
    pub dfkit_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_sqlsrv_metas_read() {
        let m: DbMeta = serde_json::from_str(
            r#"{"artifact":"db.bak","driver":"sqlsrv","database":"x","host":"h:1433",
                "server_version":null,"dump_program":"/usr/bin/sqlcmd","dump_argv":[],
                "sha256":"ab","bytes":3,"uncompressed_bytes":3,"compression":"none",
                "portable":false,"trailer_verified":true,"tables":null,"row_counts":null,
                "created_at":"2026-01-01T00:00:00Z","dfkit_version":"0.1.0"}"#,
        )
        .unwrap();
        assert_eq!(m.driver, Some(Driver::Sqlsrv));
        assert!(m.row_counts.is_none() && m.sandbox_line.is_none());
        let back = serde_json::to_value(&m).unwrap();
        assert!(back.get("sandbox_line").is_none());
        assert!(back["row_counts"].is_null());
    }
}
