//! df-artisan against hostile and unlucky installs (issue 9): the `--yes` guard through
//! `run`, secrets in `run`'s arguments, `changed` after partial changes, the real cause
//! of a composer failure, the `'strict'` key PHP evaluates and symlinked configs, a new
//! bypass secret on a site already down, and permission errors behind an exit 0.
//! Needs root (www-data ownership).

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::bins::{run, run_env, Run};
use support::sandbox::{self, Sandbox};

struct Sbx {
    sb: Sandbox,
    root: PathBuf,
}

fn sandbox(owner: Option<&str>) -> Sbx {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (CI runs as root)"
    );
    let opts = sandbox::Options {
        owner: owner.map(str::to_string),
        ..Default::default()
    };
    let sb = Sandbox::with("sqlite", None, &opts);
    // PHP runs as www-data in some tests: it must reach the install.
    std::fs::set_permissions(sb.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Sbx {
        root: sb.root.clone(),
        sb,
    }
}

impl Sbx {
    fn artisan(&self, args: &[&str]) -> Run {
        self.artisan_env(args, &[])
    }

    fn artisan_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut a = vec!["--root", self.root.to_str().unwrap()];
        a.extend_from_slice(args);
        run_env("df-artisan", a, env)
    }

    fn sqlite(&self, sql: &str) -> String {
        self.sb.sqlite(sql).trim().to_string()
    }

    fn users(&self) -> String {
        self.sqlite("select count(*) from \"user\"")
    }

    fn set_env(&self, key: &str, value: &str) {
        support::dotenv::set_env(&self.root, key, value);
    }
}

fn uid(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().uid()
}

/// Every confirmable artisan command (ConfirmableTrait, db:wipe) needs --yes through
/// `run`, however spelled: without it, exit 64 and the `user` table is untouched.
#[test]
fn run_needs_yes_for_confirmable_commands() {
    let s = sandbox(None);
    s.set_env("APP_ENV", "production");
    let env_before = std::fs::read(s.root.join(".env")).unwrap();
    assert_eq!(s.users(), "2");
    for cmd in [
        &["migrate:fresh"][..],
        &["mi:fr"],
        &["MIGRATE:FRESH"],
        &["-v", "migrate:fresh"],
        &["migrate:refresh"],
        &["migrate:reset"],
        &["migrate:rollback"],
        &["migrate"],
        &["db:wipe"],
        &["db:seed"],
        &["key:generate"],
    ] {
        let mut a = vec!["run", "--"];
        a.extend_from_slice(cmd);
        let r = s.artisan(&a);
        r.assert_code(64);
        assert!(
            r.json["error"]["hint"].as_str().unwrap().contains("--yes"),
            "{cmd:?}: {}",
            r.stdout
        );
        assert!(r.data()["steps"].as_array().unwrap().is_empty(), "{cmd:?}");
        assert_eq!(r.data()["confirmable"], true, "{cmd:?}");
        assert_eq!(s.users(), "2", "{cmd:?} changed the user table");
    }
    assert_eq!(std::fs::read(s.root.join(".env")).unwrap(), env_before);
    assert_eq!(s.sqlite("select count(*) from migrations"), "4");

    // A dry run shows the plan (with --force) and runs nothing.
    let r = s.artisan(&["--dry-run", "run", "--", "migrate:fresh"]);
    r.assert_ok();
    let plan = r.data()["plan"][0]["command"].as_str().unwrap();
    assert!(plan.ends_with("migrate:fresh --force"), "{plan}");
    assert_eq!(s.users(), "2");

    // Not confirmable: runs without --yes, and gets no --force it would reject.
    let r = s.artisan(&["run", "--", "migrate:status"]);
    r.assert_ok();
    assert!(r.data()["output"]
        .as_str()
        .unwrap()
        .contains("create_user_table"));

    // With --yes it runs: every table dropped and migrated afresh, no seed.
    let r = s.artisan(&["run", "--yes", "--", "migrate:fresh"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["command"], "migrate:fresh");
    assert_eq!(s.users(), "0");
}

/// `run -- down --secret=X` (and `--secret X`, `--password=…`): X is in no report, no
/// log line and no child's argv; artisan still gets it.
#[test]
fn run_keeps_secret_arguments_out_of_reports_and_argv() {
    let s = sandbox(None);
    let secret = "run-bypass-9c1d7e55";
    // A php that records its argv (the process list) before running the real php.
    let real_php = which("php");
    let argv_log = s.sb.tmp.path().join("php-argv.log");
    let shim = s.sb.tmp.path().join("php");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            argv_log.display(),
            real_php.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let php = shim.to_str().unwrap();

    let secret_eq = format!("--secret={secret}");
    let r = s.artisan(&["--dry-run", "--php", php, "run", "--", "down", &secret_eq]);
    r.assert_ok();
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
    assert!(r.data()["plan"].to_string().contains("--secret=***"));

    let r = s.artisan(&["--php", php, "run", "--", "down", &secret_eq]);
    r.assert_ok();
    assert!(
        !r.stdout.contains(secret) && !r.stderr.contains(secret),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    let cmd = r.data()["steps"][0]["command"].as_str().unwrap();
    assert!(cmd.contains("--secret=***"), "{cmd}");
    let down: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.root.join("storage/framework/down")).unwrap())
            .unwrap();
    assert_eq!(down["secret"], secret);
    s.artisan(&["up"]).assert_ok();

    // The separate-value form, and another secret-bearing option name.
    let r = s.artisan(&["--php", php, "run", "--", "down", "--secret", secret]);
    r.assert_ok();
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
    s.artisan(&["up"]).assert_ok();
    let r = s.artisan(&[
        "--dry-run",
        "--php",
        php,
        "run",
        "--",
        "sandbox:whatever",
        "--db-password=pw-7f6e5d4c",
    ]);
    assert!(!r.stdout.contains("pw-7f6e5d4c") && !r.stderr.contains("pw-7f6e5d4c"));

    // composer takes arguments only through argv: a secret among them is refused.
    let r = s.artisan(&["composer-install", "--", "--auth-token=tok-1b2c3d4e5f"]);
    r.assert_code(64);
    assert!(!r.stdout.contains("tok-1b2c3d4e5f") && !r.stderr.contains("tok-1b2c3d4e5f"));
    assert!(r.data()["steps"].as_array().unwrap().is_empty());

    let log = std::fs::read_to_string(&argv_log).unwrap();
    assert!(log.lines().count() >= 2, "{log}");
    assert!(
        !log.contains(secret),
        "a child's argv held the secret: {log}"
    );
}

fn which(p: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {p}")])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

const GOOD_MIGRATION: &str = "<?php\nuse Illuminate\\Database\\Migrations\\Migration;\nuse Illuminate\\Database\\Schema\\Blueprint;\nuse Illuminate\\Support\\Facades\\Schema;\nclass CreateHalfTable extends Migration\n{\n    public function up()\n    {\n        Schema::create('half', function (Blueprint $t) { $t->increments('id'); });\n    }\n    public function down()\n    {\n        Schema::dropIfExists('half');\n    }\n}\n";
const BAD_MIGRATION: &str = "<?php\nuse Illuminate\\Database\\Migrations\\Migration;\nclass BreakEverything extends Migration\n{\n    public function up()\n    {\n        throw new RuntimeException('this migration always fails');\n    }\n    public function down()\n    {\n    }\n}\n";

/// A migrate that applied one migration and then failed changed the database:
/// `changed` is true, `migrated` names it, `failed_migration` the one that failed.
#[test]
fn half_failed_migrate_reports_changed() {
    let s = sandbox(None);
    let dir = s.root.join("database/migrations");
    std::fs::write(
        dir.join("2030_01_01_000000_create_half_table.php"),
        GOOD_MIGRATION,
    )
    .unwrap();
    std::fs::write(
        dir.join("2030_01_01_000001_break_everything.php"),
        BAD_MIGRATION,
    )
    .unwrap();
    let r = s.artisan(&["migrate"]);
    r.assert_code(1);
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.data()["changed"], true);
    assert_eq!(
        r.data()["migrated"],
        serde_json::json!(["2030_01_01_000000_create_half_table"])
    );
    assert_eq!(
        r.data()["failed_migration"],
        "2030_01_01_000001_break_everything"
    );
    assert!(r.json["msg"]
        .as_str()
        .unwrap()
        .contains("this migration always fails"));
    // The database really changed.
    assert_eq!(
        s.sqlite("select count(*) from sqlite_master where name = 'half'"),
        "1"
    );
    // status: the failed one is pending, and nothing was changed.
    let r = s.artisan(&["status"]);
    r.assert_ok();
    assert!(!r.changed());
    assert_eq!(
        r.data()["pending"],
        serde_json::json!(["2030_01_01_000001_break_everything"])
    );

    // The same class: fresh drops every table, migrates five, then fails.
    let r = s.artisan(&["fresh", "--yes"]);
    r.assert_code(1);
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.data()["dropped_all"], true);
    assert_eq!(r.data()["migrated"].as_array().unwrap().len(), 5);
    assert_eq!(
        r.data()["failed_migration"],
        "2030_01_01_000001_break_everything"
    );
    assert_eq!(s.users(), "0");
}

/// repair that removed caches and then failed in composer: changed is true, the
/// message names composer's real problem (not its last line), with a diagnosis.
#[test]
fn failed_repair_reports_changes_and_the_real_cause() {
    let s = sandbox(None);
    let root = &s.root;
    let composer_json = root.join("composer.json");
    let original = std::fs::read_to_string(&composer_json).unwrap();

    // 1. Invalid JSON: composer clear-cache fails first, nothing is removed.
    std::fs::write(&composer_json, "{ \"require\": { \"php\": \">=7.3\", }").unwrap();
    let entry = root.join("storage/framework/cache/data/ab/cd");
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(entry.join("0123"), "x").unwrap();
    let r = s.artisan(&["repair"]);
    r.assert_code(1);
    let msg = r.json["msg"].as_str().unwrap();
    assert!(msg.contains("does not contain valid JSON"), "{msg}");
    assert!(!msg.contains("[--gc]"), "{msg}");
    assert_eq!(r.data()["diagnosis"], "composer_json_invalid");
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("composer.json"));
    assert!(!r.changed());
    assert!(entry.join("0123").exists());

    // 2. An unresolvable requirement: caches are removed, then composer fails; the old
    // vendor/ comes back.
    let broken = original.replace(
        "\"php\": \">=7.3\"",
        "\"php\": \">=7.3\",\n        \"nonexistent/pkg\": \"^1\"",
    );
    assert_ne!(broken, original);
    std::fs::write(&composer_json, broken).unwrap();
    std::fs::remove_file(root.join("composer.lock")).unwrap();
    let r = s.artisan(&["repair"]);
    r.assert_code(1);
    assert!(r.changed(), "{}", r.stdout);
    let msg = r.json["msg"].as_str().unwrap();
    assert!(msg.contains("nonexistent/pkg"), "{msg}");
    assert!(msg.contains("old vendor/ was put back"), "{msg}");
    assert_eq!(r.data()["diagnosis"], "composer_unresolvable");
    assert_eq!(r.data()["vendor_restored"], true);
    assert!(r.data()["cache_entries_removed"].as_u64().unwrap() >= 1);
    assert!(!root.join("storage/framework/cache/data").exists());
    assert!(root.join("vendor/autoload.php").is_file());
}

/// A `status` that handed root-owned files back changed the install.
#[test]
fn status_that_hands_files_back_reports_changed() {
    let s = sandbox(Some("www-data:www-data"));
    let log = s.root.join("storage/logs/from-sudo.log");
    std::fs::write(&log, "x").unwrap();
    std::os::unix::fs::chown(&log, Some(0), Some(0)).unwrap();
    let r = s.artisan(&["status"]);
    r.assert_ok();
    assert!(r.changed(), "{}", r.stdout);
    assert!(r.data()["ownership_fixed"].as_u64().unwrap() >= 1);
    assert_eq!(uid(&log), 33);
    // Nothing left to hand back: unchanged.
    assert!(!s.artisan(&["status"]).assert_ok().changed());
}

/// A database.php PHP can load without Laravel: two 'strict' keys in the mysql
/// connection (PHP uses the last), a 'strict' in another connection.
const DUP_STRICT: &str = "<?php\nreturn [\n    'connections' => [\n        'sqlite' => ['strict' => true],\n        'mysql' => [\n            'driver' => 'mysql',\n            'strict' => true,\n            'engine' => null,\n            'strict' => false,\n        ],\n    ],\n];\n";

/// What PHP evaluates for the mysql 'strict' key of `file`.
fn php_strict(file: &Path) -> String {
    let out = Command::new("php")
        .arg("-r")
        .arg("var_export((require $argv[1])['connections']['mysql']['strict']);")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// strict-mode reads and edits the key PHP evaluates, and edits a symlinked
/// config/database.php at its target, keeping the link.
#[test]
fn strict_mode_edits_the_key_php_uses_and_through_symlinks() {
    let d = tempfile::tempdir().unwrap();
    let st = |args: &[&str]| {
        let mut a = vec!["--root", d.path().to_str().unwrap(), "strict-mode"];
        a.extend_from_slice(args);
        run("df-artisan", a)
    };
    let cfg_dir = d.path().join("config");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    // An install's markers: df-artisan refuses a directory that is not one.
    std::fs::write(d.path().join("artisan"), "<?php\n").unwrap();
    std::fs::write(d.path().join(".env-dist"), "APP_KEY=\n").unwrap();
    let cfg = cfg_dir.join("database.php");
    std::fs::write(&cfg, DUP_STRICT).unwrap();
    assert_eq!(php_strict(&cfg), "false");
    let r = st(&["status"]);
    r.assert_ok();
    assert_eq!(r.data()["strict"], false);
    assert_eq!(r.data()["line"], 9);
    let r = st(&["off"]);
    assert!(!r.assert_ok().changed());
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), DUP_STRICT);
    let r = st(&["on"]);
    assert!(r.assert_ok().changed());
    assert_eq!(php_strict(&cfg), "true");
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        DUP_STRICT.replace("'strict' => false,", "'strict' => true,")
    );

    // A symlink to a shared config: the target is edited, the link stays a link.
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let target = shared.join("database.php");
    std::fs::write(&target, DUP_STRICT).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink("../shared/database.php", &cfg).unwrap();
    let r = st(&["on"]);
    assert!(r.assert_ok().changed());
    assert!(std::fs::symlink_metadata(&cfg)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_link(&cfg).unwrap(),
        Path::new("../shared/database.php")
    );
    assert_eq!(php_strict(&target), "true");
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(
        r.data()["target"],
        target.canonicalize().unwrap().display().to_string()
    );
    // No temp files left in either directory.
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(&cfg_dir).unwrap().count(), 1);
    // A dangling link is refused, nothing created.
    std::fs::remove_file(&target).unwrap();
    let r = st(&["off"]);
    assert!(!r.ok());
    assert!(!target.exists());
    assert!(std::fs::symlink_metadata(&cfg)
        .unwrap()
        .file_type()
        .is_symlink());
}

/// `down --secret-env` on a site already down: the new secret replaces the one in force
/// (the site never comes up), and says so; the same secret again changes nothing.
#[test]
fn down_with_a_new_secret_when_already_down_applies_it() {
    let s = sandbox(Some("www-data:www-data"));
    let down_file = s.root.join("storage/framework/down");
    let (a, b) = ("first-bypass-1a2b3c4d", "second-bypass-5e6f7a8b");
    let r = s.artisan_env(&["down", "--secret-env", "BYPASS"], &[("BYPASS", a)]);
    assert!(r.assert_ok().changed());
    let secret_of = || -> String {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&down_file).unwrap()).unwrap();
        v["secret"].as_str().unwrap().to_string()
    };
    assert_eq!(secret_of(), a);

    let r = s.artisan_env(&["down", "--secret-env", "BYPASS"], &[("BYPASS", b)]);
    r.assert_ok();
    assert!(r.changed(), "{}", r.stdout);
    assert_eq!(r.data()["was_down"], true);
    assert_eq!(r.data()["secret_replaced"], true);
    assert!(r.json["msg"].as_str().unwrap().contains("secret replaced"));
    assert!(!r.stdout.contains(b) && !r.stderr.contains(b));
    assert_eq!(secret_of(), b);
    assert_eq!(uid(&down_file), 33);
    // The rest of the payload is Laravel's own.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&down_file).unwrap()).unwrap();
    assert_eq!(v["status"], 503);

    let r = s.artisan_env(&["down", "--secret-env", "BYPASS"], &[("BYPASS", b)]);
    assert!(!r.assert_ok().changed());
    assert_eq!(r.data()["secret_replaced"], false);
    let r = s.artisan(&["down"]);
    assert!(!r.assert_ok().changed());
    assert_eq!(secret_of(), b);
    assert!(s.artisan(&["up"]).assert_ok().changed());
    assert!(!down_file.exists());
}

/// A down file that is not Laravel 8+ JSON (an older Laravel's): its secret cannot be
/// replaced — 65 naming the file, the file untouched, the site still down.
#[test]
fn down_with_a_secret_over_an_old_down_file_is_65() {
    let s = sandbox(Some("www-data:www-data"));
    let down_file = s.root.join("storage/framework/down");
    std::fs::write(&down_file, b"not json").unwrap();
    let r = s.artisan_env(
        &["down", "--secret-env", "BYPASS"],
        &[("BYPASS", "third-bypass-9c0d1e2f")],
    );
    r.assert_code(65);
    assert!(
        r.json["msg"]
            .as_str()
            .unwrap()
            .contains("not Laravel 8+ JSON"),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read(&down_file).unwrap(), b"not json");
    assert!(!r.stdout.contains("third-bypass") && !r.stderr.contains("third-bypass"));
}

/// Laravel's cache:clear prints "Failed to clear cache. Make sure you have the
/// appropriate permissions." and exits 0: `run` says so (diagnosis, warning).
#[test]
fn run_that_exits_zero_after_permission_errors_gets_a_diagnosis() {
    let s = sandbox(Some("www-data:www-data"));
    // A cache directory PHP (www-data) cannot empty: owned by nobody.
    let sub = s.root.join("storage/framework/cache/data/ab");
    std::fs::create_dir_all(sub.join("cd")).unwrap();
    std::fs::write(sub.join("cd/0123"), "x").unwrap();
    for p in [sub.clone(), sub.join("cd"), sub.join("cd/0123")] {
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
    }
    let r = s.artisan(&["run", "--", "cache:clear"]);
    r.assert_ok();
    assert_eq!(r.data()["diagnosis"], "storage_permissions", "{}", r.stdout);
    let errs = r.data()["permission_errors"].as_array().unwrap();
    assert!(!errs.is_empty());
    let warnings = r.json["warnings"].to_string();
    assert!(
        warnings.contains("permission") && warnings.contains("df-perms"),
        "{warnings}"
    );
    // A clean run has neither.
    let r = s.artisan(&["run", "--", "config:clear"]);
    r.assert_ok();
    assert!(r.data().get("diagnosis").is_none());
    assert!(r.data()["permission_errors"].as_array().unwrap().is_empty());
}

/// What df-upgrade will do: read each report as `Report<TheSubcommandsData>`.
#[test]
fn reports_deserialize_as_the_typed_data() {
    use dfkit::report::data::artisan::*;
    use dfkit::report::Report;
    fn typed<D: serde::de::DeserializeOwned>(r: &Run) -> Report<D> {
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("not a typed report ({e}): {}", r.stdout))
    }
    let s = sandbox(None);
    s.sb.git(&["fetch", "-q", "--tags", "origin"]);
    s.sb.git(&["checkout", "-q", "v2"]);
    let added = sandbox::V2_MIGRATION.trim_end_matches(".php").to_string();

    let r = typed::<StatusData>(&s.artisan(&["status"]));
    assert!(r.ok);
    assert_eq!(r.data.pending, std::slice::from_ref(&added));
    assert_eq!(r.data.ran, 4);
    assert_eq!(r.data.migrations.len(), 5);
    assert!(r
        .data
        .migrations
        .iter()
        .filter(|m| m.ran)
        .all(|m| m.batch == Some(1)));
    assert_eq!(r.data.common.subcommand, "status");
    assert!(matches!(r.data.common.steps[0], Step::Command(ref c) if c.exit_code == Some(0)));

    let r = typed::<MigrateData>(&s.artisan(&["--dry-run", "migrate", "--seed"]));
    let plan = r.data.common.plan.expect("a plan");
    assert_eq!(plan[0].action, "run");
    assert!(plan[0].command.as_deref().unwrap().ends_with("--seed"));

    let r = typed::<MigrateData>(&s.artisan(&["migrate"]));
    assert!(r.ok && r.changed && r.data.common.changed);
    assert_eq!(r.data.migrated, [added]);
    assert_eq!(r.data.failed_migration, None);

    let r = typed::<MaintenanceData>(&s.artisan(&["down"]));
    assert!(r.data.is_down && !r.data.was_down && r.changed);
    let r = typed::<MaintenanceData>(&s.artisan(&["up"]));
    assert!(!r.data.is_down && r.data.was_down && r.changed);

    let r = typed::<ComposerInstallData>(&s.artisan(&["composer-install"]));
    assert!(r.ok && r.data.composer_install.installed);
    assert!(!r.data.composer_install.vendor_created);
    assert!(r.data.common.composer_run_as.is_some());

    let r = typed::<VersionData>(&s.artisan(&["version"]));
    assert_eq!(r.data.df_version.as_deref(), Some(sandbox::V2_VERSION));

    // A refusal still carries typed data and the error.
    let r = typed::<FreshResetData>(&s.artisan(&["fresh"]));
    assert!(!r.ok && r.data.common.steps.is_empty());
    assert_eq!(r.error.unwrap().exit_code, 64);

    // repair: file steps and command steps, both read back.
    let r = typed::<RepairData>(&s.artisan(&["repair"]));
    assert!(r.ok && r.data.vendor_moved_aside && r.data.composer_install.installed);
    assert!(r
        .data
        .common
        .steps
        .iter()
        .any(|st| matches!(st, Step::File(f) if f.step == "move aside")));
}

/// `up` when PHP cannot boot (a broken vendor/ after a failed upgrade) still takes the
/// site out of maintenance mode: the down file goes, and the report says how.
#[test]
fn up_when_artisan_cannot_boot_removes_the_down_file() {
    let s = sandbox(None);
    s.artisan(&["down"]).assert_ok();
    let down = s.root.join("storage/framework/down");
    assert!(down.exists());
    let autoload = s.root.join("vendor/autoload.php");
    let good = std::fs::read(&autoload).unwrap();
    std::fs::write(&autoload, "<?php throw new Exception('broken vendor');\n").unwrap();
    let r = s.artisan(&["up", "--artisan"]);
    r.assert_ok();
    assert!(r.changed());
    assert!(!down.exists(), "maintenance mode is off");
    assert_eq!(r.data()["removed_directly"], true);
    assert_eq!(r.data()["is_down"], false);
    let w = r.json["warnings"].to_string();
    assert!(w.contains("removed storage/framework/down directly"), "{w}");
    // With a working artisan, `up` is artisan's own.
    std::fs::write(&autoload, good).unwrap();
    s.artisan(&["down"]).assert_ok();
    let r = s.artisan(&["up", "--artisan"]);
    r.assert_ok();
    assert_eq!(r.data()["removed_directly"], false);
    assert!(!down.exists());
}

/// A plain `down` / `up` on Laravel 8 skips booting the application: the files written
/// are byte for byte artisan's own, and a listener in app/ sends both back to artisan.
#[test]
fn direct_down_and_up_are_artisans_own() {
    let s = sandbox(None);
    let down = s.root.join("storage/framework/down");
    let page = s.root.join("storage/framework/maintenance.php");
    let r = s.artisan(&["down", "--artisan"]);
    assert!(r.assert_ok().changed());
    assert_eq!(r.data()["direct"], false);
    let (artisan_down, artisan_page) =
        (std::fs::read(&down).unwrap(), std::fs::read(&page).unwrap());
    let r = s.artisan(&["up", "--artisan"]);
    assert_eq!(r.assert_ok().data()["direct"], false);
    assert!(!down.exists() && !page.exists());

    let r = s.artisan(&["down"]);
    assert!(r.assert_ok().changed());
    assert_eq!(r.data()["direct"], true);
    assert_eq!(r.data()["steps"][0]["step"], "down (direct)");
    assert_eq!(std::fs::read(&down).unwrap(), artisan_down);
    assert_eq!(std::fs::read(&page).unwrap(), artisan_page);
    let owner = std::fs::metadata(s.root.join("storage")).unwrap().uid();
    assert_eq!(std::fs::metadata(&down).unwrap().uid(), owner);
    assert!(!s.artisan(&["down"]).assert_ok().changed());
    let r = s.artisan(&["up"]);
    assert!(r.assert_ok().changed());
    assert_eq!(r.data()["direct"], true);
    assert!(
        r.data()["steps"].as_array().unwrap().is_empty(),
        "no PHP run"
    );
    assert!(!down.exists() && !page.exists());

    // The direct down runs under `php -n` (no extensions); an autoloader that needs one
    // dies at load time, and the same script runs again with php.ini.
    let boot = s.root.join("bootstrap/debian-laravel.php");
    let plain = std::fs::read_to_string(&boot).unwrap();
    std::fs::write(&boot, format!("{plain}\nmb_strlen('needs mbstring');\n")).unwrap();
    let r = s.artisan(&["down"]);
    assert!(r.assert_ok().changed());
    assert_eq!(r.data()["direct"], true);
    let steps = r.data()["steps"].as_array().unwrap().clone();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0]["exit_code"], 255);
    assert!(steps[0]["command"].as_str().unwrap().contains("php -n "));
    assert_eq!(steps[1]["exit_code"], 0);
    assert!(!steps[1]["command"].as_str().unwrap().contains(" -n "));
    assert_eq!(std::fs::read(&down).unwrap(), artisan_down);
    assert_eq!(std::fs::read(&page).unwrap(), artisan_page);
    s.artisan(&["up"]).assert_ok();
    std::fs::write(&boot, plain).unwrap();
    let r = s.artisan(&["down"]);
    assert_eq!(r.assert_ok().data()["steps"].as_array().unwrap().len(), 1);
    assert!(r.data()["steps"][0]["command"]
        .as_str()
        .unwrap()
        .contains("php -n "));
    s.artisan(&["up"]).assert_ok();

    // Something in app/ listens for the maintenance events: artisan runs, events and all.
    let l = s.root.join("app/Listeners");
    std::fs::create_dir_all(&l).unwrap();
    std::fs::write(
        l.join("Notify.php"),
        "<?php\n// handles Illuminate\\Foundation\\Events\\MaintenanceModeEnabled\n",
    )
    .unwrap();
    let r = s.artisan(&["down"]);
    assert_eq!(r.assert_ok().data()["direct"], false);
    assert_eq!(r.data()["steps"][0]["step"], "down");
    assert_eq!(std::fs::read(&down).unwrap(), artisan_down);
    let r = s.artisan(&["up"]);
    assert_eq!(r.assert_ok().data()["direct"], false);
    assert!(!down.exists() && !page.exists());
}
