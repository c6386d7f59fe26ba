//! `run -- ARGS…` (any artisan command) and `version`.
//!
//! `run` guards what Laravel guards: a command with Laravel's ConfirmableTrait asks
//! before it runs in production, and with `--no-interaction` it aborts; dfkit adds
//! `--force` so it can run at all, and so asks for the confirmation itself: `--yes`.
//! Secret-bearing options (`--secret=X`, `--password X`, …) travel to artisan through
//! the environment (never argv) and show as `***` in every report.

use super::output;
use super::runner::{cap, Runner};
use crate::error::{Error, Result};
use crate::report::data::artisan::{RunData, VersionData};

/// Laravel 8's commands that use Illuminate\Console\ConfirmableTrait (grep of
/// /usr/share/php/Illuminate): they ask in production, and change or destroy data.
const CONFIRMABLE: [&str; 9] = [
    "migrate",
    "migrate:fresh",
    "migrate:refresh",
    "migrate:reset",
    "migrate:rollback",
    "db:seed",
    "db:wipe",
    "key:generate",
    "queue:clear",
];

/// Whether `token` names `command` the way Symfony's console resolves a name: exactly,
/// or abbreviated segment by segment (`mi:fr` is `migrate:fresh`), case-insensitively.
fn abbreviates(token: &str, command: &str) -> bool {
    let t: Vec<String> = token.split(':').map(str::to_ascii_lowercase).collect();
    let c: Vec<&str> = command.split(':').collect();
    t.len() == c.len()
        && t.iter()
            .zip(&c)
            .all(|(a, b)| !a.is_empty() && b.starts_with(a.as_str()))
}

/// The confirmable command that `args` would run, if any. Every word before `--`
/// that is not an option counts (artisan's global options may take values, so the
/// command's position is not fixed): refusing too much is safe, running too much is not.
pub fn confirmable_command(args: &[String]) -> Option<&'static str> {
    let opts: Vec<&String> = args.iter().take_while(|a| *a != "--").collect();
    // `--help`, `help COMMAND` and `list` only print text.
    let first = opts.iter().find(|a| !a.starts_with('-'));
    if opts.iter().any(|a| *a == "--help" || *a == "-h")
        || first.is_some_and(|a| a.eq_ignore_ascii_case("help") || a.eq_ignore_ascii_case("list"))
    {
        return None;
    }
    args.iter()
        .take_while(|a| *a != "--")
        .filter(|a| !a.starts_with('-'))
        .find_map(|a| {
            // An exact name wins over an abbreviation (`migrate` is not `migrate:*`).
            CONFIRMABLE
                .iter()
                .find(|c| c.eq_ignore_ascii_case(a))
                .or_else(|| CONFIRMABLE.iter().find(|c| abbreviates(a, c)))
                .copied()
        })
}

/// Add `--force` after a confirmable command's name (migrate*, db:seed, …): in
/// production they would otherwise ask, and with --no-interaction, abort.
pub fn with_force(mut args: Vec<String>) -> Vec<String> {
    let before_dashes = args.iter().take_while(|a| *a != "--");
    if confirmable_command(&args).is_some() && !before_dashes.clone().any(|a| a == "--force") {
        args.insert(1, "--force".into());
    }
    args
}

/// Whether an option's name says its value is a secret (as for .env keys: KEY,
/// PASSWORD, PASS, SECRET, TOKEN).
fn secret_option(name: &str) -> bool {
    crate::secret::is_secret_key(&name.replace('-', "_"))
}

/// `args` as a report may show them: the values of secret-bearing options
/// (`--secret=X`, `--secret X`, `--password=X`, `--api-token X`, …) replaced by `***`.
/// Each such value is registered with [`crate::secret::register`] as well, so it is
/// masked in output too.
pub fn mask_secret_args(args: &[String]) -> Vec<String> {
    let mut shown = Vec::with_capacity(args.len());
    let mut next_is_secret = false;
    let mut options = true;
    for a in args {
        if next_is_secret {
            crate::secret::register(a);
            shown.push("***".to_string());
            next_is_secret = false;
            continue;
        }
        if a == "--" {
            options = false;
        }
        match a.strip_prefix("--").filter(|_| options) {
            Some(opt) if !opt.is_empty() => match opt.split_once('=') {
                Some((name, value)) if secret_option(name) => {
                    crate::secret::register(value);
                    shown.push(format!("--{name}=***"));
                }
                Some(_) => shown.push(a.clone()),
                None => {
                    next_is_secret = secret_option(opt);
                    shown.push(a.clone());
                }
            },
            _ => shown.push(a.clone()),
        }
    }
    shown
}

pub(super) fn run(
    r: &mut Runner,
    d: &mut RunData,
    args: Vec<String>,
    yes: bool,
) -> Result<(bool, String)> {
    if args.is_empty() {
        return Err(Error::usage(
            "run needs an artisan command, e.g. `run -- route:list`",
        ));
    }
    let confirmable = confirmable_command(&args);
    d.confirmable = confirmable.is_some();
    d.command = confirmable.map(str::to_string).unwrap_or_else(|| {
        args.iter()
            .find(|a| !a.starts_with('-'))
            .cloned()
            .unwrap_or_default()
    });
    if let Some(c) = confirmable {
        if !yes && !r.dry_run {
            return Err(Error::usage(format!(
                "artisan {c} asks for confirmation in production (it changes or drops data); \
                 refusing without --yes"
            ))
            .with_hint(format!(
                "back the database up first (`df-dump-db dump --into SET`), then \
                 `df-artisan run --yes -- {}`; for migrations, `df-artisan migrate` needs no --yes",
                mask_secret_args(&args)
                    .iter()
                    .map(|a| crate::exec::shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
    }
    let args = with_force(args);
    let shown = mask_secret_args(&args);
    let name = format!("artisan {}", d.command);
    let Some(out) = r.artisan_unchecked(&name, &args, &shown)? else {
        return Ok((true, format!("would run {name}")));
    };
    let text = crate::secret::scrub(&out.stdout_str());
    d.output = cap(&text, 64 * 1024);
    if !out.success() {
        return Err(r.failure(&name, &out));
    }
    // Laravel sometimes reports a failure and still exits 0 (cache:clear's "Failed to
    // clear cache", a PHP warning about a log it cannot open): say so.
    let all = crate::secret::scrub(&output::strip_ansi(&out.combined()));
    d.permission_errors = output::permission_errors(&all);
    if let Some(first) = d.permission_errors.first() {
        let diag = super::hints::diagnose(&all)
            .filter(|d| d.id == "storage_permissions")
            .map(|d| (d.id, d.hint))
            .unwrap_or((
                "permission_denied",
                "PHP could not open a file it needed: check the owner and mode of the file \
                 named (df-perms gives storage/ and bootstrap/cache/ to the web user)"
                    .to_string(),
            ));
        r.c.diagnosis = Some(diag.0.to_string());
        r.ctx.warn(format!(
            "{name} exited 0 but reported a permission problem: {first} — {}",
            diag.1
        ));
    }
    // An arbitrary command may have changed anything; we cannot tell.
    Ok((true, format!("{name}: exit 0")))
}

pub(super) fn version(r: &mut Runner, d: &mut VersionData) -> Result<(bool, String)> {
    d.df_version = crate::install::Install::at(&r.root).version();
    let out = r.artisan("artisan --version", &["--version".to_string()])?;
    d.laravel_version = out
        .as_ref()
        .and_then(|o| output::parse_laravel_version(&o.combined()));
    Ok((
        false,
        format!(
            "DreamFactory {}, Laravel {}",
            d.df_version.as_deref().unwrap_or("unknown"),
            d.laravel_version.as_deref().unwrap_or("unknown")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn force_is_added_to_confirmable_commands_only() {
        assert_eq!(with_force(v(&["migrate"])), v(&["migrate", "--force"]));
        assert_eq!(
            with_force(v(&["migrate:fresh", "--seed"])),
            v(&["migrate:fresh", "--force", "--seed"])
        );
        assert_eq!(with_force(v(&["db:seed"])), v(&["db:seed", "--force"]));
        assert_eq!(
            with_force(v(&["migrate", "--force"])),
            v(&["migrate", "--force"])
        );
        assert_eq!(with_force(v(&["route:list"])), v(&["route:list"]));
        // `--force` after `--` is an argument, not the option.
        assert_eq!(
            with_force(v(&["migrate", "--", "--force"])),
            v(&["migrate", "--force", "--", "--force"])
        );
        // migrate:status has no --force option (it would fail with one).
        assert_eq!(with_force(v(&["migrate:status"])), v(&["migrate:status"]));
    }

    #[test]
    fn confirmable_commands_are_found_however_spelled() {
        for (args, want) in [
            (&["migrate:fresh"][..], Some("migrate:fresh")),
            (&["migrate"], Some("migrate")),
            (&["mi:fr", "--seed"], Some("migrate:fresh")),
            (&["MIGRATE:RESET"], Some("migrate:reset")),
            (&["-v", "db:wipe"], Some("db:wipe")),
            (
                &["--env=production", "migrate:refresh"],
                Some("migrate:refresh"),
            ),
            (
                &["--env", "production", "migrate:rollback"],
                Some("migrate:rollback"),
            ),
            (&["db:seed", "--class=X"], Some("db:seed")),
            (&["key:gen"], Some("key:generate")),
            (&["queue:clear"], Some("queue:clear")),
            (&["migrate:status"], None),
            (&["route:list"], None),
            (&["config:cache"], None),
            (&["cache:clear"], None),
            (&["db"], None),
            (&["help", "migrate:fresh"], None),
            (&["migrate:fresh", "--help"], None),
            (&["list", "migrate"], None),
            (&["migrate:fresh", "--", "--help"], Some("migrate:fresh")),
        ] {
            assert_eq!(confirmable_command(&v(args)), want, "{args:?}");
        }
    }

    #[test]
    fn secret_options_are_masked() {
        let shown = mask_secret_args(&v(&[
            "down",
            "--secret=s3cret-value-1",
            "--password",
            "pw-value-22",
            "--retry=60",
            "--api-token=tok-value-3",
            "--render",
            "errors::503",
            "--",
            "--secret=literal",
        ]));
        assert_eq!(
            shown,
            v(&[
                "down",
                "--secret=***",
                "--password",
                "***",
                "--retry=60",
                "--api-token=***",
                "--render",
                "errors::503",
                "--",
                "--secret=literal",
            ])
        );
        assert_eq!(crate::secret::scrub("x pw-value-22 y"), "x *** y");
    }
}
