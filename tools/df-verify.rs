//! df-verify — the guide's verification list as checks: .env and APP_KEY, version,
//! artisan, database, migrations, row counts and APP_KEY against a backup set, HTTP, logs.
use clap::Parser;
use dfkit::install::Install;
use dfkit::report::Common;
use dfkit::verify::{self, Options};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "\
Checks: env, version, ownership, artisan, database, migrations, row_counts, app_key, http, logs.
Each is pass, fail or skip (with the reason); exit 0 only when none failed, 1 otherwise.
(--check is every dfkit tool's alias of --dry-run; select checks with --only/--skip.)

Examples:
  # After a minor upgrade: compare with the set taken before it, probe the site
  df-verify --root /opt/dreamfactory --against /var/backups/dreamfactory/20261125T203000Z \\
      --url http://127.0.0.1/status

  # After a migration to a new server: row counts must be equal
  df-verify --against ./set --exact --url http://127.0.0.1/status

  # Only the log scan, for the last hour; list the offending lines
  df-verify --only logs --since \"$(date -u -d '1 hour ago' +%FT%TZ)\" \\
      | jq -r '.data.checks[] | select(.status==\"fail\") | .lines[] | \"\\(.file):\\(.line): \\(.text)\"'

  # Which checks failed, and why
  df-verify --against SET | jq -r '.data.checks[] | select(.status==\"fail\") | .name+\": \"+.detail'
";

#[derive(Parser, Debug)]
#[command(
    name = "df-verify",
    version,
    about = "Verify a DreamFactory install after an upgrade or migration; one JSON report on stdout",
    after_help = EXAMPLES
)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// Compare with this backup set: row counts (db.meta.json), APP_KEY fingerprint
    /// (env.meta.json), and scan logs from its time
    #[arg(long, value_name = "SET")]
    against: Option<PathBuf>,
    /// Row counts must equal the set's (after a migration), not merely be at least them
    #[arg(long, requires = "against")]
    exact: bool,
    /// URL to probe (e.g. http://127.0.0.1/status; a /status URL must show the version)
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Trust the CA certificates (PEM) in this file for an https:// --url, instead of
    /// the system's roots
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Do not verify the certificate of an https:// --url
    #[arg(long, conflicts_with = "ca_file")]
    insecure: bool,
    /// Scan logs for lines at or after this RFC 3339 time [default: the set's time]
    #[arg(long, value_name = "TIME", value_parser = verify::parse_since)]
    since: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// The version config/app.php must name (e.g. the release just installed)
    #[arg(long, value_name = "X.Y.Z")]
    expect_version: Option<String>,
    /// Run only this check (repeatable)
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// Do not run this check (repeatable)
    #[arg(long, value_name = "NAME")]
    skip: Vec<String>,
    /// The php binary [default: php on PATH]
    #[arg(long, value_name = "PATH")]
    php: Option<PathBuf>,
    /// Time allowed for each artisan command and for the HTTP probe (seconds, or 30s, 2m)
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = dfkit::duration::parse)]
    timeout: Duration,
}

dfkit::has_common!(Args);

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-verify", |ctx, args| {
        let install = Install::discover(args.common.root.as_deref())?;
        let opts = Options {
            against: args.against,
            exact: args.exact,
            url: args.url,
            tls: dfkit::http::Tls {
                ca_file: args.ca_file,
                insecure: args.insecure,
            },
            since: args.since,
            expect_version: args.expect_version,
            only: args.only,
            skip: args.skip,
            php: args.php,
            timeout: args.timeout,
        };
        verify::verify(ctx, &install, &opts)
    })
}
