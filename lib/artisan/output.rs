//! Reading facts out of artisan's and composer's output.
//!
//! Two generations of Laravel output are understood: Laravel ≤ 8 (DreamFactory ≤ 5.x,
//! `Migrated:  NAME (12.3ms)`, an ASCII table for `migrate:status`) and Laravel ≥ 9
//! (DreamFactory 6/7, `  NAME ........ 12ms DONE`, `NAME ..... [1] Ran` / `Pending`).

use regex::Regex;
use std::sync::OnceLock;

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("valid regex"))
}

/// `text` without ANSI colour sequences (in case a terminal-like output slipped through).
pub fn strip_ansi(text: &str) -> String {
    static ANSI: OnceLock<Regex> = OnceLock::new();
    re(&ANSI, r"\x1b\[[0-9;?]*[A-Za-z]")
        .replace_all(text, "")
        .into_owned()
}

/// What a `migrate`, `migrate:fresh`, `migrate:reset` run reported.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Migrations applied, in order.
    pub migrated: Vec<String>,
    /// Migrations rolled back, in order.
    pub rolled_back: Vec<String>,
    /// "Nothing to migrate." (or "Nothing to rollback.") was printed.
    pub nothing_to_do: bool,
    /// A migration that started and did not finish (the one that failed).
    pub failed: Option<String>,
    /// "Dropped all tables successfully." (migrate:fresh).
    pub dropped_all: bool,
}

/// Parse the output of `migrate`, `migrate:fresh` or `migrate:reset`.
pub fn parse_migrate(output: &str) -> MigrateReport {
    static OLD: OnceLock<Regex> = OnceLock::new();
    static NEW: OnceLock<Regex> = OnceLock::new();
    let old = re(
        &OLD,
        r"^\s*(Migrating|Migrated|Rolling back|Rolled back):\s+(\S+)",
    );
    // Laravel ≥ 9: "  2014_10_12_000000_create_users_table ........ 12.5ms DONE"
    let new = re(
        &NEW,
        r"^\s*([A-Za-z0-9_.-]+)\s+\.+\s*(?:[0-9.]+\s*m?s\s+)?(DONE|FAIL)\s*$",
    );
    let mut r = MigrateReport::default();
    // Laravel ≥ 9 prints "INFO  Running migrations." / "INFO  Rolling back migrations."
    // before its DONE lines; which list a DONE line belongs to depends on it.
    let mut rolling_back = false;
    let mut started: Option<String> = None;
    for line in strip_ansi(output).lines() {
        let t = line.trim();
        if t.contains("Nothing to migrate") || t.contains("Nothing to rollback") {
            r.nothing_to_do = true;
        }
        if t.contains("Dropped all tables successfully") || t.starts_with("Dropping all tables") {
            r.dropped_all = r.dropped_all || t.contains("successfully") || t.ends_with("DONE");
        }
        if t.contains("Rolling back migrations") {
            rolling_back = true;
        } else if t.contains("Running migrations") {
            rolling_back = false;
        }
        if let Some(c) = old.captures(line) {
            let name = c[2].to_string();
            match &c[1] {
                "Migrating" | "Rolling back" => started = Some(name),
                "Migrated" => {
                    started = None;
                    r.migrated.push(name)
                }
                _ => {
                    started = None;
                    r.rolled_back.push(name)
                }
            }
        } else if let Some(c) = new.captures(line) {
            let name = c[1].to_string();
            if &c[2] == "FAIL" {
                r.failed = Some(name);
            } else if rolling_back {
                r.rolled_back.push(name);
            } else {
                r.migrated.push(name);
            }
        }
    }
    if r.failed.is_none() {
        r.failed = started;
    }
    r
}

/// One row of `migrate:status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub name: String,
    pub ran: bool,
    pub batch: Option<u32>,
}

/// Parse `migrate:status` (the Laravel ≤ 8 table or the Laravel ≥ 9 dotted list).
pub fn parse_status(output: &str) -> Vec<MigrationStatus> {
    static OLD: OnceLock<Regex> = OnceLock::new();
    static NEW: OnceLock<Regex> = OnceLock::new();
    let old = re(
        &OLD,
        r"^\|\s*(Yes|No|Y|N)\s*\|\s*(\S+)\s*\|\s*(\d*)\s*\|\s*$",
    );
    let new = re(
        &NEW,
        r"^\s*([A-Za-z0-9_.-]+)\s+\.+\s*(?:\[(\d+)\]\s+)?(Ran|Pending)\s*$",
    );
    let mut rows = Vec::new();
    for line in strip_ansi(output).lines() {
        if let Some(c) = old.captures(line) {
            rows.push(MigrationStatus {
                name: c[2].to_string(),
                ran: c[1].starts_with('Y'),
                batch: c[3].parse().ok(),
            });
        } else if let Some(c) = new.captures(line) {
            rows.push(MigrationStatus {
                name: c[1].to_string(),
                ran: &c[3] == "Ran",
                batch: c.get(2).and_then(|b| b.as_str().parse().ok()),
            });
        }
    }
    rows
}

/// The Laravel version in `php artisan --version` ("Laravel Framework 8.83.27").
pub fn parse_laravel_version(output: &str) -> Option<String> {
    static V: OnceLock<Regex> = OnceLock::new();
    re(&V, r"Laravel Framework\s+v?([0-9][0-9A-Za-z.\-]*)")
        .captures(output)
        .map(|c| c[1].to_string())
}

/// Whether `artisan down --help` lists an option (e.g. "secret", "render").
pub fn help_has_option(help: &str, option: &str) -> bool {
    let needle = format!("--{option}");
    help.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == '=' || c == ',')
        .any(|w| w == needle)
}

/// What `composer install` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ComposerReport {
    /// "Nothing to install, update or remove".
    pub nothing_to_do: bool,
    /// Packages installed/updated/removed ("  - Installing vendor/pkg (1.2.3): …").
    pub operations: Vec<String>,
}

/// Parse `composer install` output (composer 2 prints progress on stderr).
pub fn parse_composer(output: &str) -> ComposerReport {
    static OP: OnceLock<Regex> = OnceLock::new();
    let op = re(
        &OP,
        r"^\s*-\s+(Installing|Updating|Upgrading|Downgrading|Removing)\s+(\S+)(?:\s+\(([^)]*)\))?",
    );
    let mut r = ComposerReport::default();
    for line in strip_ansi(output).lines() {
        if line.contains("Nothing to install, update or remove") {
            r.nothing_to_do = true;
        }
        if let Some(c) = op.captures(line) {
            let mut s = format!("{} {}", c[1].to_ascii_lowercase(), &c[2]);
            if let Some(v) = c.get(3) {
                s.push_str(&format!(" ({})", v.as_str()));
            }
            r.operations.push(s);
        }
    }
    r
}

/// The line (or lines) of a failed command's output that say why it failed, rather
/// than its last line, which is often noise: composer's usage synopsis after an
/// exception (`install [--prefer-source] …`), "Read <…troubleshooting.md>", a stack
/// frame. In order: composer's first problem, the message of a console exception block
/// (`In JsonFile.php line 347:` + message), a line naming a known failure, the last
/// line that is none of the noise.
pub fn failure_cause(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let meaningful =
        |l: &&str| !l.is_empty() && !l.starts_with("at ") && !l.starts_with('#') && !is_synopsis(l);
    // composer: "Problem 1" then "- Root composer.json requires x/y, it could not be found …"
    if let Some(i) = lines.iter().position(|l| l.starts_with("Problem 1")) {
        if let Some(b) = lines[i + 1..].iter().find(|l| l.starts_with("- ")) {
            return format!(
                "requirements could not be resolved: {}",
                b.trim_start_matches("- ")
            );
        }
    }
    static BLOCK: OnceLock<Regex> = OnceLock::new();
    let block = re(
        &BLOCK,
        r"^(In \S+ line \d+:|\[[A-Za-z0-9_\\]+(Exception|Error)\])$",
    );
    if let Some(i) = lines.iter().rposition(|l| block.is_match(l)) {
        let msg: Vec<&str> = lines[i + 1..]
            .iter()
            .skip_while(|l| l.is_empty())
            .take_while(|l| !l.is_empty() && !is_synopsis(l))
            .take(4)
            .copied()
            .collect();
        if !msg.is_empty() {
            return msg.join(" ");
        }
    }
    if let Some(l) = lines
        .iter()
        .filter(|l| meaningful(l))
        .find(|l| super::hints::diagnose(l).is_some())
    {
        return l.to_string();
    }
    lines
        .iter()
        .rfind(|l| meaningful(l) && !l.starts_with("Read <"))
        .or_else(|| lines.iter().rfind(|l| !l.is_empty()))
        .unwrap_or(&"")
        .to_string()
}

/// A Symfony console usage synopsis: `clear-cache [--gc]`, `install [--prefer-source] …`.
fn is_synopsis(line: &str) -> bool {
    static SYN: OnceLock<Regex> = OnceLock::new();
    re(
        &SYN,
        r"^[a-z][a-z0-9:-]*( \[-[^\]]*\]| <[a-z-]+>)+( \[--\] \[?<[a-z-]+>.*)?$",
    )
    .is_match(line)
}

/// Lines of a (successful) run's output that report a permission problem: PHP's
/// "failed to open stream: Permission denied", Laravel's "Failed to clear cache. Make
/// sure you have the appropriate permissions.", "… could not be opened …".
pub fn permission_errors(text: &str) -> Vec<String> {
    static PERM: OnceLock<Regex> = OnceLock::new();
    let perm = re(
        &PERM,
        r"(?i)permission denied|appropriate permissions|could not be opened in append mode|operation not permitted|is not writable|must be (present and )?writable",
    );
    let mut out: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| perm.is_match(l))
        .map(|l| l.chars().take(300).collect())
        .collect();
    out.dedup();
    out.truncate(20);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrate_laravel8() {
        let out = "Migrating: 2024_02_01_000000_create_app_table\nMigrated:  2024_02_01_000000_create_app_table (12.34ms)\nMigrating: 2024_02_02_000000_add_x\nMigrated:  2024_02_02_000000_add_x (1.2ms)\nDatabase seeding completed successfully.\n";
        let r = parse_migrate(out);
        assert_eq!(
            r.migrated,
            [
                "2024_02_01_000000_create_app_table",
                "2024_02_02_000000_add_x"
            ]
        );
        assert!(!r.nothing_to_do);
        assert_eq!(r.failed, None);
        assert!(parse_migrate("Nothing to migrate.\n").nothing_to_do);
    }

    #[test]
    fn migrate_failure_names_the_migration() {
        let out = "Migrating: 2024_a\nMigrated:  2024_a (1ms)\nMigrating: 2024_b\n\n   Illuminate\\Database\\QueryException \n\n  SQLSTATE[42000]...";
        let r = parse_migrate(out);
        assert_eq!(r.migrated, ["2024_a"]);
        assert_eq!(r.failed.as_deref(), Some("2024_b"));
    }

    #[test]
    fn migrate_laravel9_plus() {
        let out = "\n   INFO  Preparing database.  \n\n  Creating migration table ........................ 11ms DONE\n\n   INFO  Running migrations.  \n\n  2014_10_12_000000_create_users_table ............ 21.03ms DONE\n  2019_12_14_000001_create_personal_access_tokens_table ... 8ms DONE\n\n";
        let r = parse_migrate(out);
        assert_eq!(
            r.migrated,
            [
                "2014_10_12_000000_create_users_table",
                "2019_12_14_000001_create_personal_access_tokens_table"
            ]
        );
        assert!(parse_migrate("\n   INFO  Nothing to migrate.  \n").nothing_to_do);
        let r = parse_migrate("   INFO  Running migrations.\n  2024_x ..... 3ms FAIL\n");
        assert_eq!(r.failed.as_deref(), Some("2024_x"));
        assert!(r.migrated.is_empty());
    }

    #[test]
    fn reset_and_fresh() {
        let r = parse_migrate("Rolling back: 2024_b\nRolled back:  2024_b (2ms)\nRolling back: 2024_a\nRolled back:  2024_a (1ms)\n");
        assert_eq!(r.rolled_back, ["2024_b", "2024_a"]);
        assert!(r.migrated.is_empty());
        let r = parse_migrate("   INFO  Rolling back migrations.\n\n  2024_b ...... 2ms DONE\n");
        assert_eq!(r.rolled_back, ["2024_b"]);
        let r = parse_migrate("Dropped all tables successfully.\nMigration table created successfully.\nMigrating: 2024_a\nMigrated:  2024_a (1ms)\n");
        assert!(r.dropped_all);
        assert_eq!(r.migrated, ["2024_a"]);
        let r = parse_migrate(
            "  Dropping all tables ........ 5ms DONE\n\n   INFO  Preparing database.\n",
        );
        assert!(r.dropped_all);
        assert!(r.migrated.is_empty(), "{r:?}");
    }

    #[test]
    fn status_laravel8_table() {
        let out = "+------+--------------------------------+-------+\n| Ran? | Migration                      | Batch |\n+------+--------------------------------+-------+\n| Yes  | 2024_01_01_000000_create_user  | 1     |\n| No   | 2024_02_01_000000_create_app   |       |\n+------+--------------------------------+-------+\n";
        let rows = parse_status(out);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            MigrationStatus {
                name: "2024_01_01_000000_create_user".into(),
                ran: true,
                batch: Some(1)
            }
        );
        assert!(!rows[1].ran);
        assert_eq!(rows[1].batch, None);
    }

    #[test]
    fn status_laravel9_plus() {
        let out = "\n  Migration name .............................................. Batch / Status  \n  2014_10_12_000000_create_users_table ............................... [1] Ran  \n  2019_08_19_000000_create_failed_jobs_table ......................... Pending  \n";
        let rows = parse_status(out);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows[0].ran && rows[0].batch == Some(1));
        assert_eq!(rows[1].name, "2019_08_19_000000_create_failed_jobs_table");
        assert!(!rows[1].ran);
    }

    #[test]
    fn ansi_is_ignored() {
        let out = "\x1b[33mMigrating:\x1b[39m 2024_a\n\x1b[32mMigrated:\x1b[39m  2024_a (1ms)\n";
        assert_eq!(parse_migrate(out).migrated, ["2024_a"]);
    }

    #[test]
    fn versions_and_help() {
        assert_eq!(
            parse_laravel_version("Laravel Framework 8.83.27\n").as_deref(),
            Some("8.83.27")
        );
        assert_eq!(parse_laravel_version("nope"), None);
        let help = "Options:\n      --redirect[=REDIRECT]  The path\n      --render[=RENDER]      The view\n      --secret[=SECRET]      The secret phrase\n";
        assert!(help_has_option(help, "secret"));
        assert!(help_has_option(help, "render"));
        assert!(!help_has_option(help, "message"));
        assert!(!help_has_option("--secretive", "secret"));
    }

    #[test]
    fn composer_output() {
        let r = parse_composer("Installing dependencies from lock file\nNothing to install, update or remove\nGenerating autoload files\n");
        assert!(r.nothing_to_do);
        assert!(r.operations.is_empty());
        let r = parse_composer("Package operations: 2 installs, 0 updates, 0 removals\n  - Installing psr/log (3.0.0): Extracting archive\n  - Installing monolog/monolog (3.5.0)\n");
        assert_eq!(
            r.operations,
            [
                "installing psr/log (3.0.0)",
                "installing monolog/monolog (3.5.0)"
            ]
        );
    }

    #[test]
    fn failure_cause_skips_noise() {
        // composer after an exception prints its usage synopsis last.
        let t = "In JsonFile.php line 347:\n  \"./composer.json\" does not contain valid JSON\n  Parse error on line 1:\n  ...: { \"php\": \">=7.3\", }\n\nclear-cache [--gc]\n";
        let c = failure_cause(t);
        assert!(
            c.starts_with("\"./composer.json\" does not contain valid JSON"),
            "{c}"
        );
        assert!(c.contains("Parse error on line 1"), "{c}");
        assert!(is_synopsis("clear-cache [--gc]"));
        assert!(is_synopsis(
            "install [--prefer-source] [--prefer-dist] [--dry-run] [--] [<packages>...]"
        ));
        assert!(!is_synopsis("Nothing to migrate."));
        // composer's unresolvable requirements: the first problem, not "Read <…>".
        let t = "Your requirements could not be resolved to an installable set of packages.\n\n  Problem 1\n    - Root composer.json requires nonexistent/pkg, it could not be found in any version.\n\nRead <https://getcomposer.org/doc/articles/troubleshooting.md> for further common problems.\n";
        let c = failure_cause(t);
        assert!(
            c.contains("nonexistent/pkg") && c.contains("could not be resolved"),
            "{c}"
        );
        // A known failure line wins over the trace.
        let t = "  SQLSTATE[HY000] [2002] Connection refused\n\n  at /usr/share/php/x.php:1\n  #0 foo\n";
        assert_eq!(
            failure_cause(t),
            "SQLSTATE[HY000] [2002] Connection refused"
        );
        assert_eq!(failure_cause("a\nlast words\n\n"), "last words");
    }

    #[test]
    fn permission_errors_are_found() {
        let t = "Failed to clear cache. Make sure you have the appropriate permissions.\nok\nPHP Warning:  file_put_contents(/x/storage/logs/a.log): Failed to open stream: Permission denied in /x.php on line 3\n";
        let e = permission_errors(t);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(permission_errors("Application cache cleared!").is_empty());
    }
}
