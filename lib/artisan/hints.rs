//! Known failure texts of artisan and composer, and what the operator should do about them.
//!
//! [`diagnose`] is a pure function over a command's output, so every rule has a unit test
//! with the text Laravel/composer/PDO really print.

use crate::error::ErrorKind;
use regex::Regex;
use std::sync::OnceLock;

/// A recognised failure: a stable id (for scripts), the hint for people, and the error
/// kind it deserves when it is not just "a step failed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// Stable identifier, e.g. `app_key_mismatch` (reported as `data.diagnosis`).
    pub id: &'static str,
    pub hint: String,
    pub kind: ErrorKind,
}

fn diag(id: &'static str, hint: impl Into<String>) -> Diagnosis {
    Diagnosis {
        id,
        hint: hint.into(),
        kind: ErrorKind::StepFailed,
    }
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("valid regex"))
}

/// Recognise a known failure in `output` (a failed command's stdout and stderr).
/// The first matching rule wins; rules are ordered from the most specific cause.
pub fn diagnose(output: &str) -> Option<Diagnosis> {
    let lower = output.to_ascii_lowercase();

    if output.contains("The MAC is invalid") || output.contains("The payload is invalid") {
        return Some(diag(
            "app_key_mismatch",
            "The MAC is invalid: APP_KEY in .env differs from the key the stored data was \
             encrypted with. Put the old key back with `df-backup-env restore-key --from SET` \
             (SET = the backup set or old .env), then `df-artisan clear`",
        ));
    }
    if output.contains("No application encryption key has been specified")
        || output.contains("Unsupported cipher or incorrect key length")
    {
        return Some(diag(
            "app_key_missing",
            "APP_KEY in .env is missing or malformed: restore the instance's key with \
             `df-backup-env restore-key --from SET` (never generate a new one for an existing \
             database: stored credentials would become unreadable)",
        ));
    }

    static VENDOR: OnceLock<Regex> = OnceLock::new();
    if re(
        &VENDOR,
        r"(?i)vendor/autoload\.php.*(failed to open stream|no such file|failed opening required)|(failed opening required|failed to open stream).*vendor/autoload\.php",
    )
    .is_match(output)
    {
        return Some(diag(
            "vendor_missing",
            "vendor/autoload.php is missing: install the PHP dependencies with \
             `df-artisan composer-install`, or `df-artisan repair` if vendor/ is damaged",
        ));
    }

    static NOT_DEFINED: OnceLock<Regex> = OnceLock::new();
    if output.contains("Migration command not found")
        || re(
            &NOT_DEFINED,
            r#"Command "[^"]*" is not defined|There are no commands defined in the "[^"]*" namespace"#,
        )
        .is_match(output)
    {
        return Some(diag(
            "command_not_found",
            "artisan does not know this command: stale compiled/cached files or an incomplete \
             vendor/. Run `df-artisan repair` (composer clear-cache, removes vendor/, \
             bootstrap/cache/compiled.php and storage/framework/cache/*, reinstalls)",
        ));
    }

    static PERM: OnceLock<Regex> = OnceLock::new();
    if re(
        &PERM,
        r"(?i)(storage|bootstrap/cache)/[^\n]*(permission denied|could not be opened)|failed to clear cache\. make sure you have the appropriate permissions|permission denied[^\n]*(storage|bootstrap/cache)/|please provide a valid cache path|(storage|bootstrap/cache)[^\n]*(directory|path) must be (present and )?writable",
    )
    .is_match(output)
    {
        return Some(diag(
            "storage_permissions",
            "PHP cannot write under storage/ or bootstrap/cache/: give them to the web user, \
             e.g. `df-perms --user www-data --group www-data` (then rerun; df-artisan runs PHP \
             as the owner of storage/, or --as-user USER)",
        ));
    }

    static STRICT: OnceLock<Regex> = OnceLock::new();
    if re(
        &STRICT,
        r"(?i)invalid default value for|sql_mode|only_full_group_by|doesn't have a default value|incorrect (datetime|date|integer|decimal|double|string) value|data too long for column|data truncated for column|SQLSTATE\[(42000|22007|22001|HY000)\][^\n]*\b(1067|1055|1364|1292|1366|1406|1265)\b",
    )
    .is_match(output)
    {
        return Some(diag(
            "mysql_strict_mode",
            "MySQL/MariaDB strict mode rejected the statement (DreamFactory data from other \
             servers often needs it off): `df-artisan strict-mode off` sets 'strict' => false \
             for the mysql connection in config/database.php, then `df-artisan clear` and rerun",
        ));
    }

    if output.contains("requirements could not be resolved to an installable set")
        || lower.contains("is missing from your system")
    {
        static EXT: OnceLock<Regex> = OnceLock::new();
        let mut exts: Vec<String> = re(
            &EXT,
            r"\bext-([A-Za-z0-9_]+)|PHP extension ([A-Za-z0-9_]+) is missing",
        )
        .captures_iter(output)
        .filter_map(|c| c.get(1).or(c.get(2)))
        .map(|m| m.as_str().to_ascii_lowercase())
        .collect();
        exts.sort();
        exts.dedup();
        let mut hint = String::from("composer cannot satisfy composer.json's requirements");
        if exts.is_empty() {
            hint.push_str(
                ": check that the installed php (`php -v`) satisfies require.php and that \
                 the lock file matches; --ignore-platform-reqs is on by default",
            );
        } else {
            hint.push_str(&format!(
                ": missing PHP extension(s) {}; install them (e.g. apt-get install {}) \
                 or keep the default --ignore-platform-reqs",
                exts.join(", "),
                exts.iter()
                    .map(|e| format!("php-{e}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        return Some(diag("composer_unresolvable", hint));
    }

    if output.contains("does not contain valid JSON")
        || (output.contains("composer.json") && output.contains("Parse error on line"))
    {
        return Some(diag(
            "composer_json_invalid",
            "composer.json is not valid JSON (error.message names the line): fix it \
             (`git diff composer.json`, `composer validate`), then rerun; nothing was removed",
        ));
    }
    static DOWNLOAD: OnceLock<Regex> = OnceLock::new();
    if re(
        &DOWNLOAD,
        r#"(?i)could not be downloaded|failed to download|network (is )?disabled|could not resolve host|curl error \d+|failed to clone"#,
    )
    .is_match(output)
    {
        return Some(diag(
            "composer_download_failed",
            "composer could not download packages: check the network, proxy (HTTPS_PROXY) and \
             the repositories in composer.json; `composer clear-cache` (repair runs it) empties \
             the download cache, so an offline host cannot reinstall what it no longer has",
        ));
    }

    static AUTH: OnceLock<Regex> = OnceLock::new();
    if re(
        &AUTH,
        r"(?i)SQLSTATE\[(HY000|28000)\] \[1045\]|access denied for user|password authentication failed|SQLSTATE\[08006\] \[7\] FATAL:  password",
    )
    .is_match(output)
    {
        return Some(diag(
            "database_auth",
            "the database refused the credentials: check DB_USERNAME/DB_PASSWORD (and \
             DB_DATABASE) in .env — an unquoted # in a password cuts it short",
        ));
    }
    static UNREACHABLE: OnceLock<Regex> = OnceLock::new();
    if re(
        &UNREACHABLE,
        r"(?i)SQLSTATE\[HY000\] \[(2002|2003|2005|2006)\]|SQLSTATE\[08006\]|connection refused|could not connect to server|could not translate host name|unknown mysql server host|server has gone away",
    )
    .is_match(output)
    {
        return Some(Diagnosis {
            kind: ErrorKind::Unavailable,
            ..diag(
                "database_unreachable",
                "the database server is unreachable: check DB_HOST, DB_PORT (and DB_SOCKET) in \
                 .env and that the server runs",
            )
        });
    }
    static DB_MISSING: OnceLock<Regex> = OnceLock::new();
    if re(
        &DB_MISSING,
        r#"(?i)\[1049\] unknown database|database "[^"]*" does not exist|database \(.*\) does not exist"#,
    )
    .is_match(output)
    {
        return Some(diag(
            "database_missing",
            "the database named by DB_DATABASE does not exist: create it (or fix .env) and rerun",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Option<&'static str> {
        diagnose(text).map(|d| d.id)
    }

    #[test]
    fn mac_invalid() {
        let t = "\n   Illuminate\\Contracts\\Encryption\\DecryptException \n\n  The MAC is invalid.\n\n  at /usr/share/php/Illuminate/Encryption/Encrypter.php:222";
        let d = diagnose(t).unwrap();
        assert_eq!(d.id, "app_key_mismatch");
        assert!(d.hint.contains("The MAC is invalid"));
        assert!(d.hint.contains("df-backup-env restore-key"));
        assert_eq!(id("The payload is invalid."), Some("app_key_mismatch"));
    }

    #[test]
    fn app_key_missing() {
        assert_eq!(
            id("RuntimeException: No application encryption key has been specified."),
            Some("app_key_missing")
        );
        assert_eq!(
            id("Unsupported cipher or incorrect key length. Supported ciphers are: aes-128-cbc"),
            Some("app_key_missing")
        );
    }

    #[test]
    fn vendor_missing() {
        let t = "PHP Warning:  require(/opt/dreamfactory/vendor/autoload.php): Failed to open stream: No such file or directory in /opt/dreamfactory/artisan on line 18\nPHP Fatal error:  Uncaught Error: Failed opening required '/opt/dreamfactory/vendor/autoload.php' (include_path='.:/usr/share/php')";
        let d = diagnose(t).unwrap();
        assert_eq!(d.id, "vendor_missing");
        assert!(d.hint.contains("composer-install") && d.hint.contains("repair"));
        // PHP 7 spelling
        assert_eq!(
            id("require(/x/vendor/autoload.php): failed to open stream: No such file"),
            Some("vendor_missing")
        );
    }

    #[test]
    fn command_not_defined() {
        assert_eq!(
            id("\n  Command \"migrate\" is not defined.\n\n  Did you mean one of these?"),
            Some("command_not_found")
        );
        assert_eq!(
            id("There are no commands defined in the \"df\" namespace."),
            Some("command_not_found")
        );
        let d = diagnose("Migration command not found").unwrap();
        assert!(d.hint.contains("df-artisan repair"));
    }

    #[test]
    fn storage_permissions() {
        let t = "UnexpectedValueException: The stream or file \"/opt/dreamfactory/storage/logs/laravel.log\" could not be opened in append mode: Failed to open stream: Permission denied";
        let d = diagnose(t).unwrap();
        assert_eq!(d.id, "storage_permissions");
        assert!(d.hint.contains("df-perms"));
        assert_eq!(
            id("file_put_contents(/opt/df/storage/framework/cache/data/ab/cd/x): Failed to open stream: Permission denied"),
            Some("storage_permissions")
        );
        assert_eq!(
            id("Failed to clear cache. Make sure you have the appropriate permissions."),
            Some("storage_permissions")
        );
        assert_eq!(
            id("InvalidArgumentException: Please provide a valid cache path."),
            Some("storage_permissions")
        );
        assert_eq!(
            id("The /opt/df/bootstrap/cache directory must be present and writable."),
            Some("storage_permissions")
        );
        // Permission denied elsewhere is not a storage problem.
        assert_eq!(id("ssh: Permission denied (publickey)"), None);
    }

    #[test]
    fn strict_mode() {
        for t in [
            "SQLSTATE[42000]: Syntax error or access violation: 1067 Invalid default value for 'created_date' (SQL: create table `user` ...)",
            "SQLSTATE[42000]: Syntax error or access violation: 1055 Expression #1 of SELECT list is not in GROUP BY clause; this is incompatible with sql_mode=only_full_group_by",
            "SQLSTATE[HY000]: General error: 1364 Field 'is_sys_admin' doesn't have a default value",
            "SQLSTATE[22007]: Invalid datetime format: 1292 Incorrect datetime value: '0000-00-00 00:00:00'",
            "SQLSTATE[22001]: String data, right truncated: 1406 Data too long for column 'name' at row 1",
        ] {
            let d = diagnose(t).unwrap_or_else(|| panic!("no diagnosis for {t}"));
            assert_eq!(d.id, "mysql_strict_mode", "{t}");
            assert!(d.hint.contains("df-artisan strict-mode off"));
        }
        // A plain syntax error is not strict mode.
        assert_eq!(
            id("SQLSTATE[42000]: Syntax error or access violation: 1064 You have an error in your SQL syntax"),
            None
        );
    }

    #[test]
    fn composer_unresolvable_names_extensions() {
        let t = "Your requirements could not be resolved to an installable set of packages.\n\n  Problem 1\n    - Root composer.json requires PHP extension ext-ldap * but it is missing from your system. Install or enable PHP's ldap extension.\n  Problem 2\n    - dreamfactory/df-core 0.1 requires ext-mongodb * -> it is missing from your system.";
        let d = diagnose(t).unwrap();
        assert_eq!(d.id, "composer_unresolvable");
        assert!(
            d.hint.contains("ldap") && d.hint.contains("mongodb"),
            "{}",
            d.hint
        );
        assert!(d.hint.contains("php-ldap"));
        let d = diagnose(
            "Your requirements could not be resolved to an installable set of packages.\n - Root composer.json requires php ^8.3 but your php version (8.2.36) does not satisfy that requirement.",
        )
        .unwrap();
        assert!(d.hint.contains("php -v"));
        let d = diagnose(
            "Your requirements could not be resolved to an installable set of packages.\n  - the requested PHP extension intl is missing from your system.",
        )
        .unwrap();
        assert!(d.hint.contains("php-intl"), "{}", d.hint);
    }

    #[test]
    fn database_errors() {
        let d = diagnose("SQLSTATE[HY000] [2002] Connection refused (SQL: select * from information_schema.tables)").unwrap();
        assert_eq!(d.id, "database_unreachable");
        assert_eq!(d.kind, ErrorKind::Unavailable);
        assert_eq!(
            id("SQLSTATE[08006] [7] could not connect to server: Connection refused"),
            Some("database_unreachable")
        );
        assert_eq!(
            id("SQLSTATE[HY000] [1045] Access denied for user 'df'@'localhost' (using password: YES)"),
            Some("database_auth")
        );
        assert_eq!(
            id("SQLSTATE[08006] [7] connection to server at \"127.0.0.1\", port 5433 failed: FATAL:  password authentication failed for user \"df\""),
            Some("database_auth")
        );
        assert_eq!(
            id("SQLSTATE[HY000] [1049] Unknown database 'df'"),
            Some("database_missing")
        );
    }

    #[test]
    fn composer_failures() {
        let t = "In JsonFile.php line 347:\n  \"./composer.json\" does not contain valid JSON\n  Parse error on line 1:\nclear-cache [--gc]";
        let d = diagnose(t).unwrap();
        assert_eq!(d.id, "composer_json_invalid");
        assert!(d.hint.contains("composer.json"));
        assert_eq!(
            id("  - Installing psr/log (3.0.0): Failed to download psr/log from dist: The \"https://api.github.com/x\" file could not be downloaded"),
            Some("composer_download_failed")
        );
    }

    #[test]
    fn unknown_text_has_no_diagnosis() {
        assert_eq!(id(""), None);
        assert_eq!(id("Migrated:  2024_01_01_000000_x (3.2ms)"), None);
    }
}
