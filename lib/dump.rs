//! Dump, restore and verify the system database (df-dump-db).
//!
//! A dump streams the dump program's stdout through a compressor straight into an
//! [`AtomicFile`] in the backup set, hashing as it goes: constant memory whatever the
//! database's size. It is committed under its final name only when the program exited
//! 0, its completion trailer is there and it is non-empty — otherwise nothing appears.
//! `db.meta.json` records what is needed to trust it later (sha256, trailer, row counts).

mod codec;
mod counts;
mod dumper;
pub mod errtext;
mod filter;
mod mysql_counts;
mod phases;
mod proc;
mod restore;
mod restore_fanout;
mod restore_feed;
mod restore_mysql;
mod restore_sqlite;
mod sqlite_counts;
mod sqlsrv;
mod stored;
mod sweep;
mod trailer;
mod verify;

pub use codec::{open_decoder, Compression, HashWriter, ARTIFACTS};
pub use counts::CopyCounter;
pub use dumper::dump;
pub use filter::{DumpFilter, MARIADB_SANDBOX_LINE};
pub use mysql_counts::InsertCounter;
pub use restore::restore;
pub use trailer::trailer_ok;
pub use verify::verify;

use std::path::PathBuf;

pub struct DumpOptions {
    pub root: PathBuf,
    pub env: Option<PathBuf>,
    pub into: Option<PathBuf>,
    pub compress: Compression,
    pub portable: bool,
    /// Replace a dump the set already holds (refused otherwise).
    pub replace: bool,
    /// Kill the dump program (and its process group) after this long.
    pub timeout: Option<std::time::Duration>,
}

pub struct RestoreOptions {
    pub root: PathBuf,
    pub env: Option<PathBuf>,
    pub from: PathBuf,
    pub database: Option<String>,
    pub replace: bool,
    /// mysql `--replace` (through a scratch database): client connections that load a
    /// large table's rows side by side; `None`: [`RestoreOptions::default_jobs`].
    pub jobs: Option<usize>,
}

impl RestoreOptions {
    /// The CPUs this process may use, at most 4 (a server's load gains little beyond).
    pub fn default_jobs() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    }
}

/// `data.plan` of a dump's dry run, in the shared shape: the dump command, then the
/// artifact it would write.
pub(crate) fn dump_plan(
    command: String,
    dest: &std::path::Path,
    compression: &str,
    portable: bool,
) -> Vec<crate::report::PlanItem> {
    use crate::report::PlanItem;
    vec![
        PlanItem::run(
            command,
            "dump the database; its output is streamed through the compressor",
        ),
        PlanItem::on_path(
            "write",
            dest.display().to_string(),
            format!(
                "the artifact ({compression}{}), then db.meta.json, each atomically",
                if portable { ", --portable" } else { "" }
            ),
        ),
    ]
}
