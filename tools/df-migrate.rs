//! df-migrate — move a DreamFactory instance to a new server in one verified bundle.
use clap::{Parser, Subcommand};
use dfkit::migrate::export::{self, ExportOptions};
use dfkit::migrate::import::{self, ImportOptions};
use dfkit::report::Common;
use dfkit::transfer::SshOptions;
use dfkit::wrapper::{RestartFlags, RunFlags};
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # Old host: .env + database + manifest in one bundle, encrypted for the new host's key
  df-migrate export --root /opt/dreamfactory --into /tmp/df.tar.age --recipient age1…

  # Copy it to the new host and check its sha256 there (never prompts: BatchMode)
  df-migrate push /tmp/df.tar.age --to ssh://root@new-host/var/tmp/df.tar.age
  df-migrate push /tmp/df.tar.age --to docker://df-new/tmp/df.tar.age
  df-migrate push /tmp/df.tar.age --to k8s://prod/dreamfactory-0/app/tmp/df.tar.age

  # New host (a fresh install of the same or a newer release): what would run, then run it
  df-migrate import /var/tmp/df.tar.age --identity /root/df-key.txt --dry-run
  df-migrate import /var/tmp/df.tar.age --identity /root/df-key.txt --yes --user www-data

  # What a bundle holds, every byte checked, nothing changed
  df-migrate inspect /var/tmp/df.tar.age --identity /root/df-key.txt | jq .data.manifest

Import steps, in order: lock, bundle (verify every byte), preflight (driver, tools),
backup (the new instance's .env and database into --into SET), strict (mysql, with
--strict-off), restore (the bundle's dump, --replace: what the guide's migrate:fresh +
migrate:reset + import do), keys (APP_KEY, APP_PREVIOUS_KEYS, JWT_SECRET), migrate, clear,
perms, restart, verify (against the bundle). --skip takes: migrate, clear, perms, restart,
verify. A failure after backup puts the new instance's database and .env back from SET.

Exit codes: 0 done; 1 a step failed (rolled back: see data.rollback); 64 usage (import
without --yes, an encrypted bundle without --identity, a bad URL); 65 the bundle is damaged
or a pushed copy differs; 66 no bundle or install; 69 a tool, program or host is
unavailable; 73 the bundle file exists; 75 another run holds the lock, or `df-migrate
recover` is needed; 77 the identity cannot open the bundle; 78 the bundle's driver differs
from the new install's.";

#[derive(Parser, Debug)]
#[command(
    name = "df-migrate",
    version,
    about = "Move a DreamFactory instance to a new server: export, push, import, verified end to end",
    after_help = EXAMPLES
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    run: RunFlags,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Old host: .env, database dump and manifest into one bundle file (0600)
    Export {
        /// The bundle file [default: /var/backups/dreamfactory/migrate-<UTC stamp>.tar]
        #[arg(long, value_name = "FILE")]
        into: Option<PathBuf>,
        /// Encrypt for this age public key (age1…; repeatable)
        #[arg(long, value_name = "AGE_PUBLIC_KEY")]
        recipient: Vec<String>,
        /// Encrypt for the age public keys in FILE (one a line)
        #[arg(long, value_name = "FILE")]
        recipients_file: Option<PathBuf>,
    },
    /// Copy a bundle to the new host and check its sha256 there
    Push {
        /// The bundle
        file: PathBuf,
        /// ssh://[user@]host[:port]/path, docker://CONTAINER/path or
        /// k8s://NAMESPACE/POD[/CONTAINER]/path (k8s://NS/POD//path: no container)
        #[arg(long, value_name = "URL")]
        to: String,
        /// ssh/scp -i FILE
        #[arg(long, short = 'i', value_name = "FILE")]
        ssh_key: Option<PathBuf>,
        /// ssh/scp -o OPTION=VALUE (repeatable, e.g. UserKnownHostsFile=FILE)
        #[arg(long, short = 'o', value_name = "OPTION=VALUE")]
        ssh_option: Vec<String>,
    },
    /// New host: verify the bundle, back up the new instance, restore, migrate, verify
    Import {
        /// The bundle
        file: PathBuf,
        /// Yes, replace the new instance's database and keys
        #[arg(long)]
        yes: bool,
        /// The age identity file for an encrypted bundle
        #[arg(long, value_name = "KEYFILE")]
        identity: Option<PathBuf>,
        /// mysql: turn the connection's strict mode off (the guide's 'strict' => false)
        #[arg(long)]
        strict_off: bool,
        /// Leave out a step (repeatable): migrate, clear, perms, restart, verify
        #[arg(long, value_name = "STEP", value_parser = import::parse_skippable)]
        skip: Vec<String>,
        /// Owner of storage/ and bootstrap/cache/ (passed to df-perms)
        #[arg(long, short = 'u', value_name = "USER")]
        user: Option<String>,
        /// Group of storage/ and bootstrap/cache/ (passed to df-perms)
        #[arg(long, short = 'g', value_name = "GROUP")]
        group: Option<String>,
        /// The new instance's backup set [default: /var/backups/dreamfactory/<UTC stamp>]
        #[arg(long, value_name = "SET")]
        into: Option<PathBuf>,
        /// On failure, leave the instance as the failing step left it (recover later)
        #[arg(long)]
        no_rollback: bool,
        #[command(flatten)]
        restart: RestartFlags,
    },
    /// The manifest and a check of every byte; changes nothing
    Inspect {
        /// The bundle
        file: PathBuf,
        /// The age identity file for an encrypted bundle
        #[arg(long, value_name = "KEYFILE")]
        identity: Option<PathBuf>,
    },
    /// Put the install back from its set after an interrupted import
    Recover {
        /// Owner of storage/ and bootstrap/cache/ (passed to df-perms)
        #[arg(long, short = 'u', value_name = "USER")]
        user: Option<String>,
        /// Group of storage/ and bootstrap/cache/ (passed to df-perms)
        #[arg(long, short = 'g', value_name = "GROUP")]
        group: Option<String>,
        /// Leave out a rollback step: perms, restart
        #[arg(long, value_name = "STEP", value_parser = import::parse_skippable)]
        skip: Vec<String>,
        #[command(flatten)]
        restart: RestartFlags,
    },
}

dfkit::has_common!(Args);

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-migrate", |ctx, a| {
        let timeout = a.run.timeout;
        let root = dfkit::install::resolve_root(a.common.root.as_deref());
        match a.cmd {
            Cmd::Export {
                into,
                recipient,
                recipients_file,
            } => export::export(
                ctx,
                &ExportOptions {
                    root,
                    into,
                    recipients: recipient,
                    recipients_file,
                    events: a.run.events,
                    timeout,
                },
            ),
            Cmd::Push {
                file,
                to,
                ssh_key,
                ssh_option,
            } => dfkit::migrate::push::push(
                ctx,
                &file,
                &to,
                &SshOptions {
                    key: ssh_key,
                    options: ssh_option,
                },
                timeout,
            ),
            Cmd::Inspect { file, identity } => {
                dfkit::migrate::inspect(ctx, &file, identity.as_deref())
            }
            Cmd::Import {
                file,
                yes,
                identity,
                strict_off,
                skip,
                user,
                group,
                into,
                no_rollback,
                restart,
            } => import::import(
                ctx,
                &ImportOptions {
                    root,
                    bundle: file,
                    identity,
                    yes,
                    strict_off,
                    skip,
                    user,
                    group,
                    into,
                    events: a.run.events,
                    no_rollback,
                    restart,
                    timeout,
                },
            ),
            Cmd::Recover {
                user,
                group,
                skip,
                restart,
            } => import::recover(
                ctx,
                &ImportOptions {
                    root,
                    user,
                    group,
                    skip,
                    events: a.run.events,
                    restart,
                    timeout,
                    ..Default::default()
                },
            ),
        }
    })
}
