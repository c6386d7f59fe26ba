//! Helpers for the wrapper tests: state snapshots to compare before and after (tree
//! listings, full database dumps), a failing release v3, and a tools directory of
//! wrappers in front of the real binaries (DFKIT_TOOLS_DIR).

use super::sandbox::Sandbox;
use super::servers::DbSpec;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every entry under `dir` (not following links): path → "kind mode uid:gid sha256|target".
pub fn listing(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let head = format!("{:o} {}:{}", md.mode() & 0o7777, md.uid(), md.gid());
            let v = if md.file_type().is_symlink() {
                format!("link {head} {}", std::fs::read_link(&p).unwrap().display())
            } else if md.is_dir() {
                stack.push(p.clone());
                format!("dir {head}")
            } else {
                let bytes = std::fs::read(&p).unwrap();
                format!("file {head} {}", dfkit::checksum::sha256_hex(&bytes))
            };
            out.insert(rel, v);
        }
    }
    out
}

/// The install's code and config as a listing, leaving out .git/ (compared by HEAD),
/// vendor/ (compared on its own) and storage/ and bootstrap/cache/: logs, caches and the
/// sqlite database change on their own, and their owner and modes are df-perms' to set
/// (a rollback fixes them as the upgrade would).
pub fn install_listing(root: &Path) -> BTreeMap<String, String> {
    listing(root)
        .into_iter()
        .filter(|(k, _)| {
            !(k == ".git"
                || k.starts_with(".git/")
                || k.starts_with("vendor")
                || k.starts_with("storage")
                || k.starts_with("bootstrap/cache"))
        })
        .collect()
}

/// A full, comparable dump of the sandbox's database (no dates, no comments).
pub fn full_dump(sb: &Sandbox, db: Option<&DbSpec>) -> String {
    let out = match (sb.driver, db) {
        ("sqlite", _) => Command::new("sqlite3")
            .arg(sb.sqlite_path())
            .arg(".dump")
            .output()
            .unwrap(),
        ("mysql", Some(db)) => Command::new(which(&["mariadb-dump", "mysqldump"]))
            .arg("--no-defaults")
            .args([
                "-h",
                &db.host,
                "-P",
                &db.port.to_string(),
                "-u",
                &db.username,
            ])
            .args([
                "--skip-comments",
                "--skip-dump-date",
                "--single-transaction",
            ])
            .arg("--no-tablespaces")
            .arg(&db.database)
            .env("MYSQL_PWD", &db.password)
            .output()
            .unwrap(),
        ("pgsql", Some(db)) => Command::new("pg_dump")
            .args([
                "-h",
                &db.host,
                "-p",
                &db.port.to_string(),
                "-U",
                &db.username,
            ])
            .args(["--no-owner", "--no-privileges", "-d", &db.database])
            .env("PGPASSWORD", &db.password)
            .env_remove("PGPASSFILE")
            .output()
            .unwrap(),
        (d, _) => panic!("full_dump: {d} needs a DbSpec"),
    };
    assert!(
        out.status.success(),
        "full dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            !l.starts_with("-- Dump completed")
                && !l.starts_with("\\restrict")
                && !l.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn which(names: &[&str]) -> PathBuf {
    names
        .iter()
        .find_map(|n| which::which(n).ok())
        .unwrap_or_else(|| panic!("none of {names:?} installed"))
}

/// Push a release `tag` (DreamFactory `version`) to origin's master: `edit` changes the
/// work tree of a clone at origin's master (after config/app.php and composer.json's
/// release got the new version); the lock file is refreshed, committed, tagged and
/// pushed. Returns the new commit.
pub fn push_release(sb: &Sandbox, tag: &str, version: &str, edit: impl FnOnce(&Path)) -> String {
    let work = sb.tmp.path().join(format!("{tag}src"));
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&work)
            .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
            .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let out = Command::new("git")
        .arg("clone")
        .arg("-q")
        .arg(&sb.origin)
        .arg(&work)
        .output()
        .unwrap();
    assert!(out.status.success());
    let re = regex::Regex::new(r"'version' => '[^']*'").unwrap();
    let app = std::fs::read_to_string(work.join("config/app.php")).unwrap();
    let app = re
        .replace(&app, format!("'version' => '{version}'").as_str())
        .into_owned();
    std::fs::write(work.join("config/app.php"), app).unwrap();
    let re = regex::Regex::new(r#""release": "[^"]*""#).unwrap();
    let cj = std::fs::read_to_string(work.join("composer.json")).unwrap();
    let cj = re
        .replace(&cj, format!("\"release\": \"{version}\"").as_str())
        .into_owned();
    std::fs::write(work.join("composer.json"), cj).unwrap();
    edit(&work);
    let out = Command::new("composer")
        .args([
            "update",
            "--no-install",
            "--no-dev",
            "--ignore-platform-reqs",
            "--quiet",
            "--no-interaction",
        ])
        .arg(format!("--working-dir={}", work.display()))
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .env("COMPOSER_DISABLE_NETWORK", "1")
        .env("COMPOSER_HOME", sb.tmp.path().join(".composer-home"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "composer update: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", &format!("DreamFactory {version}")]);
    git(&["tag", "-a", tag, "-m", &format!("DreamFactory {version}")]);
    git(&[
        "push",
        "-q",
        "origin",
        "refs/heads/master",
        &format!("refs/tags/{tag}"),
    ]);
    git(&["rev-parse", "HEAD"])
}

/// Push a release v3 (7.2.0): a migration that creates a table and then fails on bad
/// SQL, and a composer.json change so composer install rewrites vendor/composer.
pub fn push_failing_v3(sb: &Sandbox) -> String {
    push_release(sb, "v3", "7.2.0", |work| {
        std::fs::write(
            work.join("database/migrations/2024_09_01_000000_v3_fails_halfway.php"),
            r#"<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Schema;

class V3FailsHalfway extends Migration
{
    public function up()
    {
        Schema::create('v3_half', function (Blueprint $t) {
            $t->increments('id');
        });
        DB::statement('THIS IS NOT SQL AT ALL');
    }

    public function down()
    {
        Schema::dropIfExists('v3_half');
    }
}
"#,
        )
        .unwrap();
        std::fs::write(
            work.join("app/v3.php"),
            "<?php\n// loaded by composer's autoload.files since 7.2.0\n",
        )
        .unwrap();
        let cj = std::fs::read_to_string(work.join("composer.json")).unwrap();
        let cj = cj.replace(
            "\"bootstrap/debian-laravel.php\"",
            "\"bootstrap/debian-laravel.php\",\n            \"app/v3.php\"",
        );
        std::fs::write(work.join("composer.json"), cj).unwrap();
    })
}

/// A directory for DFKIT_TOOLS_DIR: a wrapper per tool that execs the real binary, except
/// that `fail` (tool, first argument) prints a failed report once (the first real run,
/// not a `--dry-run`) and exits 1. Every call's argv is appended to `calls.log` in the directory.
pub fn tools_dir(dir: &Path, fail: Option<(&str, &str)>) -> PathBuf {
    let d = dir.join("tools");
    std::fs::create_dir_all(&d).unwrap();
    let log = d.join("calls.log");
    for tool in [
        "df-backup-env",
        "df-dump-db",
        "df-git-update",
        "df-perms",
        "df-artisan",
        "df-restart",
        "df-verify",
    ] {
        let real = super::bins::bin(tool);
        let mut script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"{tool} $*\" >> '{}'\n",
            log.display()
        );
        if let Some((t, first)) = fail {
            if t == tool {
                let once = d.join(format!("{tool}.failed-once"));
                script.push_str(&format!(
                    "case \" $* \" in *' --dry-run '*) dry=1 ;; *) dry= ;; esac\n\
                     if [ \"$1\" = '{first}' ] && [ -z \"$dry\" ] && [ ! -e '{once}' ]; then\n  : > '{once}'\n  \
                     echo '{{\"tool\":\"{tool}\",\"version\":\"0\",\"ok\":false,\"failed\":true,\"changed\":false,\"msg\":\"forced failure of {first}\",\"comment\":\"forced failure of {first}\",\"dry_run\":false,\"started_at\":\"x\",\"duration_ms\":0,\"data\":{{}},\"warnings\":[],\"error\":{{\"kind\":\"step_failed\",\"message\":\"forced failure of {first}\",\"hint\":null,\"chain\":[],\"exit_code\":1}}}}'\n  exit 1\nfi\n",
                    once = once.display()
                ));
            }
        }
        script.push_str(&format!("exec '{}' \"$@\"\n", real.display()));
        let p = d.join(tool);
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    d
}
