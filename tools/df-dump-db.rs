//! df-dump-db — dump, restore and verify DreamFactory's system database.
use clap::{Parser, Subcommand};
use dfkit::dump::{Compression, DumpOptions, RestoreOptions};
use dfkit::install::resolve_root;
use dfkit::report::Common;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # dump the system database of /opt/dreamfactory into a backup set (zstd)
  df-dump-db dump --into /var/backups/dreamfactory/pre-upgrade | jq -r .data.sha256

  # check a set's dump without any database: checksum, decompression, trailer
  df-dump-db verify --from /var/backups/dreamfactory/pre-upgrade && echo intact

  # restore it into a fresh database named in the new server's .env, then check rows
  df-dump-db restore --root /opt/dreamfactory --from ./set --database df_new \\
    | jq '.data.mismatches'

  # a rollback's restore over the full database, on a server that others share:
  # one client connection (MariaDB loads a large table over several by default)
  df-dump-db restore --from ./set --replace --jobs 1

  # a dump a MySQL (not MariaDB) client can import
  df-dump-db dump --into ./set --portable --compress none && mysql df < ./set/db.sql";

#[derive(Parser, Debug)]
#[command(name = "df-dump-db", version, after_help = EXAMPLES,
    about = "Dump, restore and verify DreamFactory's system database (sqlite, mysql, pgsql, sqlsrv)")]
struct Args {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Dump the database named by .env into a backup set (db.sql.zst + db.meta.json)
    Dump {
        /// The backup set directory [default: /var/backups/dreamfactory/<UTC stamp>]
        #[arg(long, value_name = "SET")]
        into: Option<PathBuf>,
        /// Read DB_* from this file instead of ROOT/.env
        #[arg(long, value_name = "FILE")]
        env: Option<PathBuf>,
        /// Compression of the artifact
        #[arg(long, default_value = "zstd", value_parser = ["zstd", "gzip", "none"])]
        compress: String,
        /// Strip MariaDB's sandbox-mode first line so MySQL clients accept the dump
        #[arg(long)]
        portable: bool,
        /// Replace the dump the set already holds (refused otherwise: exit 73)
        #[arg(long)]
        replace: bool,
        /// Kill the dump program after this long ("90m", "2h", seconds)
        #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = dfkit::duration::parse)]
        timeout: std::time::Duration,
    },
    /// Restore a set's dump into the database named by .env (or --database)
    Restore {
        /// The backup set directory
        #[arg(long, value_name = "SET")]
        from: PathBuf,
        /// Read DB_* from this file instead of ROOT/.env
        #[arg(long, value_name = "FILE")]
        env: Option<PathBuf>,
        /// Restore into this database (sqlite: this file) instead of DB_DATABASE
        #[arg(long, value_name = "NAME")]
        database: Option<String>,
        /// Drop the target's tables first when it is not empty
        #[arg(long)]
        replace: bool,
        /// MariaDB/MySQL --replace: load large tables over up to N client connections at
        /// once [default: the CPUs, at most 4; 1: one connection]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: Option<u16>,
    },
    /// Check a set's dump: sha256, full decompression, completion trailer
    Verify {
        /// The backup set directory (or its db.sql.zst)
        #[arg(long, value_name = "SET")]
        from: PathBuf,
    },
}

dfkit::has_common!(Args);

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-dump-db", |ctx, args| {
        let root = resolve_root(args.common.root.as_deref());
        match args.cmd {
            Sub::Dump {
                into,
                env,
                compress,
                portable,
                replace,
                timeout,
            } => dfkit::dump::dump(
                ctx,
                &DumpOptions {
                    root,
                    env,
                    into,
                    compress: Compression::parse(&compress)
                        .ok_or_else(|| dfkit::Error::usage("--compress: zstd, gzip or none"))?,
                    portable,
                    replace,
                    timeout: Some(timeout),
                },
            ),
            Sub::Restore {
                from,
                env,
                database,
                replace,
                jobs,
            } => dfkit::dump::restore(
                ctx,
                &RestoreOptions {
                    root,
                    env,
                    from,
                    database,
                    replace,
                    jobs: jobs.map(usize::from),
                },
            ),
            Sub::Verify { from } => dfkit::dump::verify(ctx, &from),
        }
    })
}
