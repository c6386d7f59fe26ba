//! The `data` object of every tool's report, as typed structs.
//!
//! The JSON contract lives here: each tool's `data` is a `#[derive(Serialize, Deserialize,
//! JsonSchema)]` type in the submodule named for the tool, documented in rustdoc on the
//! type. Tools build these types and serialize them ([`crate::report::Outcome::typed`]);
//! the wrappers (df-upgrade, df-migrate) deserialize exactly these types from their
//! children's stdout ([`crate::report::Report`]). docs/json.md repeats the field names for
//! people; `tests/docs_json.rs` keeps the two in step through [`schemas`].

pub mod artisan;
pub mod backup_env;
pub mod dump;
pub mod git;
pub mod migrate;
pub mod perms;
pub mod restart;
pub mod upgrade;
pub mod verify;

/// Every tool's data schemas, as `(tool, subcommand, schema)`; the subcommand is `""` for
/// tools without subcommands. Used by the docs test and by `--schema`.
pub fn schemas() -> Vec<(&'static str, &'static str, schemars::Schema)> {
    let mut all = Vec::new();
    for (tool, list) in [
        ("df-artisan", artisan::schemas()),
        ("df-backup-env", backup_env::schemas()),
        ("df-dump-db", dump::schemas()),
        ("df-git-update", git::schemas()),
        ("df-migrate", migrate::schemas()),
        ("df-perms", perms::schemas()),
        ("df-restart", restart::schemas()),
        ("df-upgrade", upgrade::schemas()),
        ("df-verify", verify::schemas()),
    ] {
        for (sub, schema) in list {
            all.push((tool, sub, schema));
        }
    }
    all
}

/// `data` of a failed run that stopped on a malformed .env (any tool that reads one):
/// where the bad line is. The envelope's `error` (kind `bad_data`, exit 65) says what is
/// wrong with it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct EnvParseErrorData {
    /// The .env read (null when it was not read from a file).
    pub file: Option<String>,
    /// The 1-based line number.
    pub line: u64,
}
