//! df-upgrade on real sandboxes (SQLite, MariaDB, PostgreSQL): the whole v1 → v2 upgrade,
//! a failing v3 rolled back, failures forced in later steps, concurrent and killed runs
//! with `recover`, preflight refusals, dry runs, events and retention. Each test asserts
//! the state afterwards: git HEAD, the database (full dumps compared), .env's bytes,
//! vendor/ (a listing with sha256s), maintenance mode, the backup set.

mod support;
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::bins::{self, Run};
use support::kills;
use support::sandbox::{Options, Sandbox};
use support::servers::{self, DbSpec};
use support::upgrade::{
    full_dump, install_listing, listing, push_failing_v3, push_release, tools_dir,
};

const NASTY: &str = "up'g\"r #;:\\ $x";

/// A sandbox with its own lock directory and a place for sets.
struct Bed {
    sb: Sandbox,
    db: Option<DbSpec>,
    locks: PathBuf,
    sets: PathBuf,
}

impl Bed {
    fn new(driver: &'static str, at_v2: bool) -> Bed {
        let db = match driver {
            "mysql" => Some(servers::mariadb().new_database("up", NASTY)),
            "pgsql" => Some(servers::postgres().new_database("up", NASTY)),
            _ => None,
        };
        let sb = Sandbox::with(
            driver,
            db.as_ref(),
            &Options {
                at_v2,
                ..Options::default()
            },
        );
        let locks = sb.tmp.path().join("locks");
        let sets = sb.tmp.path().join("sets");
        Bed {
            sb,
            db,
            locks,
            sets,
        }
    }

    fn root(&self) -> &Path {
        &self.sb.root
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bins::bin("df-upgrade"));
        c.arg("--root").arg(self.root()).args(args);
        c.env("DFKIT_LOCK_DIR", &self.locks);
        c.env_remove("DFKIT_TOOLS_DIR");
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        bins::run_command(self.cmd(args))
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        bins::run_command(c)
    }

    fn set(&self, name: &str) -> PathBuf {
        self.sets.join(name)
    }

    /// Where df-upgrade stages the next release: beside the install.
    fn stage(&self) -> PathBuf {
        let name = self.root().file_name().unwrap().to_str().unwrap();
        self.root()
            .parent()
            .unwrap()
            .join(format!(".{name}.dfkit-stage"))
    }

    fn dump(&self) -> String {
        full_dump(&self.sb, self.db.as_ref())
    }

    fn down(&self) -> bool {
        self.root().join("storage/framework/down").exists()
    }

    /// Everything a rollback must restore, to compare before and after.
    fn state(&self) -> State {
        State {
            head: self.sb.head(),
            dump: self.dump(),
            env: std::fs::read(self.sb.env_path()).unwrap(),
            vendor: listing(&self.root().join("vendor")),
            tree: install_listing(self.root()),
        }
    }
}

#[derive(Debug, PartialEq)]
struct State {
    head: String,
    dump: String,
    env: Vec<u8>,
    vendor: std::collections::BTreeMap<String, String>,
    tree: std::collections::BTreeMap<String, String>,
}

#[track_caller]
fn assert_same(before: &State, after: &State) {
    assert_eq!(before.head, after.head, "git HEAD");
    assert_eq!(before.env, after.env, ".env bytes");
    assert_same_map("vendor/", &before.vendor, &after.vendor);
    assert_same_map("the install's files", &before.tree, &after.tree);
    if before.dump != after.dump {
        let b: Vec<&str> = before.dump.lines().collect();
        let a: Vec<&str> = after.dump.lines().collect();
        let only_b: Vec<_> = b.iter().filter(|l| !a.contains(l)).take(10).collect();
        let only_a: Vec<_> = a.iter().filter(|l| !b.contains(l)).take(10).collect();
        panic!("database differs:\nonly before: {only_b:#?}\nonly after: {only_a:#?}");
    }
}

#[track_caller]
fn assert_same_map(
    what: &str,
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
) {
    let diff: Vec<String> = before
        .keys()
        .chain(after.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| format!("{k}: {:?} -> {:?}", before.get(k), after.get(k)))
        .collect();
    assert!(diff.is_empty(), "{what} differs:\n{}", diff.join("\n"));
}

fn step<'a>(r: &'a Run, name: &str) -> &'a Value {
    r.data()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {}", r.stdout))
}

fn step_names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn me() -> (String, String) {
    let u = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap();
    let g = nix::unistd::Group::from_gid(nix::unistd::getegid())
        .unwrap()
        .unwrap();
    (u.name, g.name)
}

/// A PATH dir with a recording `systemctl` stand-in (no systemd runs here).
fn systemctl_standin(dir: &Path) -> (PathBuf, PathBuf) {
    let d = dir.join("standins");
    std::fs::create_dir_all(&d).unwrap();
    let log = d.join("systemctl.log");
    let p = d.join("systemctl");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexit 0\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    (d, log)
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// v1 → v2: every step ran, the set is complete and its checksums match, HEAD is v2,
/// v2's migration applied, storage/ owned as asked, maintenance off, restart ran, verify
/// passed; the second run changes nothing and makes no set.
/// `stage: false` runs with `--skip stage` (composer inside the window, as the guide does):
/// one driver covers that path, the others the staged one.
fn upgrade_v1_to_v2(driver: &'static str, restart: bool, stage: bool) {
    let bed = Bed::new(driver, false);
    let set = bed.set("s1");
    let (user, group) = ("www-data", "www-data");
    let (standins, sysctl_log) = systemctl_standin(bed.sb.tmp.path());
    let mut args: Vec<String> = vec![
        "--into".into(),
        set.display().to_string(),
        "--user".into(),
        user.into(),
        "--group".into(),
        group.into(),
    ];
    if restart {
        args.extend(
            [
                "--restart-mode",
                "restart",
                "--via",
                "systemd",
                "--service",
                "nginx",
                "--no-probe",
            ]
            .map(String::from),
        );
    } else {
        args.extend(["--skip".into(), "restart".into()]);
    }
    if !stage {
        args.extend(["--skip".into(), "stage".into()]);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    // The guide's way, on a copy, to compare vendor/ with (one driver is enough: vendor/
    // does not depend on the database).
    let guide = (driver == "sqlite").then(|| {
        let copy = bed.sb.tmp.path().join("guide-copy");
        let st = Command::new("cp")
            .arg("-a")
            .arg(bed.root())
            .arg(&copy)
            .status()
            .unwrap();
        assert!(st.success());
        copy
    });
    let t0 = std::time::Instant::now();
    let r = bed.run_env(&argv, &[("PATH", &path_with(&standins))]);
    let wall = t0.elapsed().as_millis() as u64;
    r.assert_ok();
    assert!(r.changed());
    // The window: at least the steps run while the site was down, at most the run.
    let window = r.data()["maintenance_ms"].as_u64().expect("maintenance_ms");
    let names = step_names(&r.data()["steps"]);
    let (down, up) = (
        names.iter().position(|n| n == "down").unwrap(),
        names.iter().position(|n| n == "up").unwrap(),
    );
    let inside: u64 = r.data()["steps"].as_array().unwrap()[down + 1..up]
        .iter()
        .map(|s| s["duration_ms"].as_u64().unwrap())
        .sum();
    assert!(
        inside <= window && window <= wall,
        "{inside} ≤ {window} ≤ {wall}"
    );
    let msg = r.json["msg"].as_str().unwrap();
    assert!(msg.contains("in maintenance mode"), "{msg}");
    let stages = if stage { 3 } else { 1 };
    let names = step_names(&r.data()["steps"]);
    assert_eq!(
        names.iter().filter(|n| *n == "stage").count(),
        stages,
        "{names:?}"
    );
    let names: Vec<&String> = names.iter().filter(|n| *n != "stage").collect();
    assert_eq!(
        names,
        [
            "lock",
            "preflight",
            "backup",
            "backup",
            "fetch",
            "down",
            "dump",
            "git",
            "composer",
            "migrate",
            "clear",
            "perms",
            "up",
            "restart",
            "verify",
            "manifest",
            "prune"
        ]
    );
    assert_eq!(bed.sb.head(), bed.sb.tag_commit("v2"));
    // composer ran before the window, in the stage; the window only swapped vendor/ in,
    // and the stage is gone.
    let composer = &step(&r, "composer")["report"]["data"];
    if stage {
        assert_eq!(
            composer["staged"],
            bed.stage().display().to_string(),
            "{composer}"
        );
    } else {
        assert_eq!(step(&r, "stage")["skipped"], true);
        assert!(composer.get("staged").is_none(), "{composer}");
        assert_eq!(composer["installed"], true);
    }
    assert!(!bed.stage().exists(), "the stage is removed after the run");
    if let Some(copy) = &guide {
        for a in [
            vec!["stash", "-q"],
            vec!["checkout", "-q", "master"],
            vec!["pull", "-q", "origin", "master"],
        ] {
            let st = Command::new("git")
                .arg("-C")
                .arg(copy)
                .args(&a)
                .status()
                .unwrap();
            assert!(st.success(), "git {a:?}");
        }
        let st = Command::new("composer")
            .args([
                "install",
                "-q",
                "--no-dev",
                "--ignore-platform-reqs",
                "--no-interaction",
            ])
            .current_dir(copy)
            .env("COMPOSER_ALLOW_SUPERUSER", "1")
            .env("COMPOSER_DISABLE_NETWORK", "1")
            .status()
            .unwrap();
        assert!(st.success());
        assert_same_map(
            "vendor/ (staged vs the guide's composer install)",
            &listing(&copy.join("vendor")),
            &listing(&bed.root().join("vendor")),
        );
    }
    assert_eq!(bed.sb.version(), "7.1.0");
    assert_eq!(r.data()["new_version"], "7.1.0");
    assert_eq!(r.data()["old_version"], "7.0.0");
    assert!(!bed.down(), "maintenance mode is off");
    let status = bed.sb.artisan_ok(&["migrate:status"]);
    assert!(status.contains("create_app_table"), "{status}");
    assert!(!status.contains("| No "), "nothing pending: {status}");
    // storage/ as asked
    let www = nix::unistd::User::from_name(user).unwrap().unwrap();
    for p in ["storage", "storage/logs", "bootstrap/cache"] {
        let m = std::fs::metadata(bed.root().join(p)).unwrap();
        assert_eq!(m.uid(), www.uid.as_raw(), "{p} owner");
        assert_eq!(m.mode() & 0o7777, 0o2775, "{p} mode");
    }
    // Files are not made executable (git tracks that bit: .gitignore files under storage/
    // would show as local changes).
    let f = std::fs::metadata(bed.root().join("storage/app/.gitignore")).unwrap();
    assert_eq!(f.mode() & 0o7777, 0o664);
    assert_eq!(
        bed.sb.git(&["status", "--porcelain"]),
        "",
        "no local changes after the upgrade"
    );
    // verify passed, restart ran
    assert_eq!(step(&r, "verify")["ok"], true);
    assert_eq!(step(&r, "verify")["report"]["data"]["failed"], 0);
    // The database's size (preflight's free-space check counts it) as the server says.
    let db_check = step(&r, "verify")["report"]["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "database")
        .cloned()
        .unwrap();
    assert!(db_check["size_bytes"].as_u64().unwrap() > 0, "{db_check}");
    if restart {
        let log = std::fs::read_to_string(&sysctl_log).unwrap();
        assert!(log.contains("restart nginx"), "{log}");
        assert_eq!(step(&r, "restart")["ok"], true);
    }
    // The set: env, dump, tree and a manifest whose checksums match.
    for a in [
        "env",
        "env.meta.json",
        "db.meta.json",
        "tree",
        "tree.meta.json",
        "manifest.json",
    ] {
        assert!(set.join(a).exists(), "{a} in the set");
    }
    assert_eq!(
        std::fs::read(set.join("env")).unwrap(),
        std::fs::read(bed.sb.env_path()).unwrap()
    );
    let m: Value =
        serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
    let arts = m["artifacts"].as_array().unwrap();
    assert!(arts
        .iter()
        .any(|a| a["name"].as_str().unwrap().starts_with("db.sql")));
    for a in arts.iter().filter(|a| a["kind"] == "file") {
        let bytes = std::fs::read(set.join(a["name"].as_str().unwrap())).unwrap();
        assert_eq!(
            a["sha256"],
            dfkit::checksum::sha256_hex(&bytes),
            "{}",
            a["name"]
        );
    }
    assert_eq!(m["old_commit"], bed.sb.tag_commit("v1"));
    assert_eq!(m["new_commit"], bed.sb.tag_commit("v2"));
    assert_eq!(std::fs::metadata(&set).unwrap().mode() & 0o777, 0o700);

    // Again: nothing to do, no new set, no maintenance window.
    let r2 = bed.run(&[
        "--into",
        bed.set("s2").to_str().unwrap(),
        "--user",
        user,
        "--group",
        group,
        "--skip",
        "restart",
    ]);
    r2.assert_ok();
    assert!(!r2.changed(), "{}", r2.stdout);
    assert_eq!(step_names(&r2.data()["steps"]), ["lock", "preflight"]);
    assert!(!bed.set("s2").exists(), "a no-op run makes no set");
    assert_eq!(r2.data()["set"], Value::Null);
    assert_eq!(r2.data()["maintenance_ms"], Value::Null);
}

#[test]
fn sqlite_v1_to_v2_then_nothing_to_do() {
    upgrade_v1_to_v2("sqlite", true, true);
}

#[test]
fn mariadb_v1_to_v2_then_nothing_to_do() {
    upgrade_v1_to_v2("mysql", false, false);
}

#[test]
fn postgres_v1_to_v2_then_nothing_to_do() {
    upgrade_v1_to_v2("pgsql", false, true);
}

/// A v3 whose migration fails half-way is rolled back: HEAD at v2, the database, .env,
/// vendor/ and the files identical to before, maintenance off, exit 1 naming the step.
fn failing_v3_rolls_back(driver: &'static str) {
    let bed = Bed::new(driver, true);
    push_failing_v3(&bed.sb);
    let before = bed.state();
    assert_eq!(before.head, bed.sb.tag_commit("v2"));
    let events = bed.sb.tmp.path().join("events.jsonl");
    let r = bed.run(&[
        "--ref",
        "v3",
        "--into",
        bed.set("s").to_str().unwrap(),
        "--skip",
        "restart",
        "--events",
        events.to_str().unwrap(),
    ]);
    r.assert_code(1);
    assert_eq!(r.data()["failed_step"], "migrate", "{}", r.stdout);
    assert_eq!(r.data()["rolled_back"], true, "{}", r.stdout);
    let rb = step_names(&r.data()["rollback"]);
    assert_eq!(
        rb,
        ["git", "vendor", "database", "env", "clear", "perms", "up"],
        "{}",
        r.stdout
    );
    assert!(r.data()["rollback"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["ok"] == true));
    assert!(!bed.down(), "maintenance mode is off");
    // The window closed with the rollback's `up`: it spans the rollback before it.
    let undo: u64 = r.data()["rollback"].as_array().unwrap()[..rb.len() - 1]
        .iter()
        .map(|s| s["duration_ms"].as_u64().unwrap())
        .sum();
    let window = r.data()["maintenance_ms"].as_u64().expect("maintenance_ms");
    assert!(window >= undo, "{window} < {undo}");
    assert!(!r.changed(), "rolled back: the install did not change");
    assert_same(&before, &bed.state());
    // The next run is not blocked: the journal went with the complete rollback.
    let again = bed.run(&[
        "--ref",
        "v2",
        "--skip",
        "restart",
        "--into",
        bed.set("again").to_str().unwrap(),
    ]);
    again.assert_ok();
    assert!(!again.changed(), "{}", again.stdout);
    // events: valid JSON Lines, with the rollback in them
    let text = std::fs::read_to_string(&events).unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(kinds.contains(&"rollback_start".to_string()) && kinds.last().unwrap() == "summary");
}

#[test]
fn sqlite_failing_v3_is_rolled_back() {
    failing_v3_rolls_back("sqlite");
}

#[test]
fn mariadb_failing_v3_is_rolled_back() {
    failing_v3_rolls_back("mysql");
}

/// A failure forced in clear, perms, restart or verify also rolls back everything.
#[test]
fn later_failures_roll_back() {
    for (tool, first, name) in [
        ("df-artisan", "clear", "clear"),
        ("df-perms", "--dir-mode", "perms"),
        ("df-restart", "--via", "restart"),
        ("df-verify", "--against", "verify"),
    ] {
        let bed = Bed::new("sqlite", false);
        let before = bed.state();
        let tools = tools_dir(bed.sb.tmp.path(), Some((tool, first)));
        let (standins, _) = systemctl_standin(bed.sb.tmp.path());
        let (user, group) = me();
        let r = bed.run_env(
            &[
                "--into",
                bed.set("s").to_str().unwrap(),
                "--user",
                &user,
                "--group",
                &group,
                "--restart-mode",
                "restart",
                "--via",
                "systemd",
                "--service",
                "nginx",
                "--no-probe",
            ],
            &[
                ("DFKIT_TOOLS_DIR", tools.to_str().unwrap()),
                ("PATH", &path_with(&standins)),
            ],
        );
        r.assert_code(1);
        assert_eq!(r.data()["failed_step"], name, "{}", r.stdout);
        assert_eq!(r.data()["rolled_back"], true, "{name}: {}", r.stdout);
        assert!(!bed.down(), "{name}: maintenance off");
        // After `up` (restart, verify) the site goes back into maintenance mode first.
        let rb = step_names(&r.data()["rollback"]);
        let after_up = ["restart", "verify"].contains(&name);
        assert_eq!(
            rb.first().map(String::as_str) == Some("down"),
            after_up,
            "{name}: {rb:?}"
        );
        assert!(rb.iter().any(|s| s == "up"), "{name}: {rb:?}");
        assert!(r.data()["maintenance_ms"].is_u64(), "{name}: {}", r.stdout);
        let after = bed.state();
        assert_eq!(before.head, after.head, "{name}: HEAD");
        assert_eq!(before.dump, after.dump, "{name}: database");
        assert_eq!(before.env, after.env, "{name}: .env");
        assert_same_map(name, &before.vendor, &after.vendor);
    }
}

/// Hold the install's lock: a run exits 75 naming the holder, and changes nothing.
#[test]
fn concurrent_run_exits_75() {
    let bed = Bed::new("sqlite", false);
    let before = bed.state();
    let lock = dfkit::lock::Lock::acquire_in(&bed.locks, bed.root(), "df-upgrade").unwrap();
    let r = bed.run(&["--skip", "restart"]);
    r.assert_code(75);
    assert!(
        r.json["msg"]
            .as_str()
            .unwrap()
            .contains(&format!("pid {}", std::process::id())),
        "{}",
        r.stdout
    );
    drop(lock);
    assert_same(&before, &bed.state());
}

/// Start df-upgrade (`--into SET --skip restart` and `extra`), wait until `ready` says
/// Ok (its Err says what is awaited), kill -9 it.
fn kill_when(bed: &Bed, extra: &[&str], ready: impl Fn() -> Result<(), String>) {
    let set = bed.set("s");
    let mut argv = vec!["--into", set.to_str().unwrap(), "--skip", "restart"];
    argv.extend_from_slice(extra);
    kills::kill_when_ready(bed.cmd(&argv), ready);
}

/// `artisan migrate --force` (with or without `--seed`), not preflight's `migrate:status`.
const SLOW_MIGRATE: &str = "\0migrate\0--force";

/// Release v3 with a migration that sleeps 60 s: a kill lands in `artisan migrate`.
fn push_slow_v3(bed: &Bed) {
    push_release(&bed.sb, "v3", "7.2.0", |work| {
        std::fs::write(
            work.join("database/migrations/2024_09_02_000000_v3_slow.php"),
            "<?php\n\nuse Illuminate\\Database\\Migrations\\Migration;\n\n\
             class V3Slow extends Migration\n{\n    public function up()\n    {\n        \
             sleep(60);\n    }\n\n    public function down()\n    {\n    }\n}\n",
        )
        .unwrap();
    });
}

/// After `killed` was killed with -9: no `artisan migrate` of the install goes on.
fn no_migrate_left(bed: &Bed, killed: &str) {
    kills::wait_gone(|| {
        let left = running_in(bed.root(), SLOW_MIGRATE);
        (!left.is_empty())
            .then(|| format!("artisan migrate outlived the killed {killed}: pids {left:?}"))
    });
}

/// Start df-upgrade, wait for an event line, kill -9 it.
fn kill_at(bed: &Bed, events: &Path, pred: impl Fn(&Value) -> bool) {
    kill_when(bed, &["--events", events.to_str().unwrap()], || {
        let text = std::fs::read_to_string(events).unwrap_or_default();
        let came = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| pred(&v));
        if came {
            Ok(())
        } else {
            Err(format!("the event; events so far: {text}"))
        }
    });
    // The running step dies with df-upgrade (SIGTERM, the parent death signal): give it
    // a moment to go (a_killed_run_leaves_no_step_running checks that it does).
    std::thread::sleep(Duration::from_millis(1500));
}

/// kill -9 after the backup, after git update, and in migrate: the next run exits 75
/// naming `df-upgrade recover`, which puts the exact pre-upgrade state back.
#[test]
fn killed_runs_are_recovered() {
    type At = fn(&Value) -> bool;
    let points: [(&str, At); 4] = [
        ("in stage", |v| {
            v["event"] == "step_end" && v["step"] == "stage"
        }),
        ("after backup", |v| {
            v["event"] == "step_start" && v["step"] == "down"
        }),
        ("after git", |v| {
            v["event"] == "step_end" && v["step"] == "git"
        }),
        ("in migrate", |v| {
            v["event"] == "step_start" && v["step"] == "migrate"
        }),
    ];
    for (when, pred) in points {
        let bed = Bed::new("sqlite", false);
        let before = bed.state();
        let events = bed.sb.tmp.path().join("ev.jsonl");
        kill_at(&bed, &events, pred);
        let r = bed.run(&["--skip", "restart"]);
        r.assert_code(75);
        let msg = r.json["msg"].as_str().unwrap();
        assert!(msg.contains("interrupted"), "{when}: {msg}");
        assert!(
            r.json["error"]["hint"]
                .as_str()
                .unwrap()
                .contains("df-upgrade recover"),
            "{when}: {}",
            r.stdout
        );
        let rec = bed.run(&["recover", "--skip", "restart"]);
        rec.assert_ok();
        assert_eq!(rec.data()["rolled_back"], true, "{when}: {}", rec.stdout);
        assert!(!bed.down(), "{when}: maintenance off");
        assert!(!bed.stage().exists(), "{when}: recover removes the stage");
        assert_same(&before, &bed.state());
        // Recovered: a new run goes through.
        let again = bed.run(&["recover"]);
        again.assert_ok();
        assert!(!again.changed(), "{when}: nothing left to recover");
    }
}

/// Each preflight refusal has its own code, and changes nothing.
#[test]
fn preflight_refusals_change_nothing() {
    let bed = Bed::new("sqlite", false);
    let check = |what: &str, r: Run, code: i32, bed: &Bed, before: &State| {
        r.assert_code(code);
        assert_eq!(
            r.data()["steps"][1]["name"],
            "preflight",
            "{what}: {}",
            r.stdout
        );
        assert_eq!(r.data()["steps"][1]["ok"], false, "{what}");
        assert_same(before, &bed.state());
        assert!(!bed.sets.exists(), "{what}: no set");
    };
    let before = bed.state();
    let into = bed.set("s");
    let into = into.to_str().unwrap();
    // a missing tool
    let tools = tools_dir(bed.sb.tmp.path(), None);
    std::fs::remove_file(tools.join("df-perms")).unwrap();
    check(
        "missing tool",
        bed.run_env(
            &["--into", into],
            &[("DFKIT_TOOLS_DIR", tools.to_str().unwrap())],
        ),
        69,
        &bed,
        &before,
    );
    // a target that origin does not have
    check(
        "no such ref",
        bed.run(&["--into", into, "--ref", "v9"]),
        66,
        &bed,
        &before,
    );
    // a target release whose composer.json needs a PHP this machine does not have
    push_release(&bed.sb, "v9", "9.0.0", |work| {
        let cj = std::fs::read_to_string(work.join("composer.json")).unwrap();
        std::fs::write(
            work.join("composer.json"),
            cj.replace("\">=7.3\"", "\">=99.1\""),
        )
        .unwrap();
    });
    let r = bed.run(&["--into", into, "--ref", "v9"]);
    assert!(
        r.json["msg"].as_str().unwrap().contains(">=99.1"),
        "{}",
        r.stdout
    );
    check("require.php", r, 78, &bed, &before);
    // no room for the backup set: a 64 KiB tmpfs where the set would go
    let tiny = bed.sb.tmp.path().join("tiny");
    std::fs::create_dir(&tiny).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&tiny)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a tmpfs (the tests run as root)");
    let r = bed.run(&["--ref", "v2", "--into", tiny.join("set").to_str().unwrap()]);
    let _ = Command::new("umount").arg(&tiny).status();
    assert!(
        r.json["msg"].as_str().unwrap().contains("MiB free"),
        "{}",
        r.stdout
    );
    check("no room", r, 73, &bed, &before);
    // maintenance mode left on
    std::fs::write(bed.root().join("storage/framework/down"), "{}").unwrap();
    let before_down = bed.state();
    let r = bed.run(&["--into", into]);
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("df-artisan up"));
    check("maintenance on", r, 75, &bed, &before_down);
    std::fs::remove_file(bed.root().join("storage/framework/down")).unwrap();
    // an unfinished journal
    let jp = dfkit::journal::path_in(&bed.locks, bed.root());
    let mut j = dfkit::journal::Journal {
        tool: "df-upgrade".into(),
        root: bed.root().display().to_string(),
        set: "/x".into(),
        step: "migrate".into(),
        ..Default::default()
    };
    dfkit::journal::write(&jp, &mut j).unwrap();
    let r = bed.run(&["--into", into]);
    assert!(
        r.json["msg"].as_str().unwrap().contains("`migrate`"),
        "{}",
        r.stdout
    );
    check("journal", r, 75, &bed, &before);
    dfkit::journal::clear(&jp).unwrap();
    // an invalid APP_KEY
    let env = std::fs::read_to_string(bed.sb.env_path()).unwrap();
    let bad = env.replace(&bed.sb.app_key(), "base64:dG9vc2hvcnQ=");
    std::fs::write(bed.sb.env_path(), &bad).unwrap();
    let before_bad = bed.state();
    check(
        "bad APP_KEY",
        bed.run(&["--into", into]),
        65,
        &bed,
        &before_bad,
    );
    std::fs::write(bed.sb.env_path(), &env).unwrap();
    // an unreachable database
    let dbfile = bed.sb.sqlite_path();
    let moved = dbfile.with_extension("moved");
    std::fs::rename(&dbfile, &moved).unwrap();
    std::fs::create_dir(&dbfile).unwrap(); // a directory where the database should be
    let r = bed.run(&["--into", into]);
    std::fs::remove_dir(&dbfile).unwrap();
    std::fs::rename(&moved, &dbfile).unwrap();
    r.assert_code(69);
    assert!(!bed.sets.exists());
    assert_same(&before, &bed.state());
}

/// --dry-run changes nothing and nests every child's plan under its step; --events is
/// valid JSON Lines whose steps match stdout's.
#[test]
fn dry_run_changes_nothing_and_events_match_stdout() {
    let bed = Bed::new("sqlite", false);
    let before = bed.state();
    let events = bed.sb.tmp.path().join("dry.jsonl");
    let r = bed.run(&[
        "--dry-run",
        "--into",
        bed.set("s").to_str().unwrap(),
        "--skip",
        "restart",
        "--events",
        events.to_str().unwrap(),
    ]);
    r.assert_ok();
    assert!(r.changed(), "would change");
    assert_same(&before, &bed.state());
    assert!(!bed.down());
    assert!(!bed.set("s").exists());
    for name in [
        "backup", "fetch", "down", "dump", "git", "composer", "migrate",
    ] {
        let s = step(&r, name);
        assert_eq!(s["report"]["dry_run"], true, "{name}");
        assert!(
            !s["report"]["data"]["plan"].is_null(),
            "{name} has its plan: {s}"
        );
    }
    let lines: Vec<Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ended: Vec<String> = lines
        .iter()
        .filter(|v| v["event"] == "step_end")
        .map(|v| v["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ended, step_names(&r.data()["steps"]));
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["ok"], r.json["ok"]);
    assert_eq!(summary["msg"], r.json["msg"]);
}

/// --keep 2 after four runs leaves the two newest complete sets, and an incomplete one.
#[test]
fn keep_two_sets() {
    let bed = Bed::new("sqlite", false);
    std::fs::create_dir_all(bed.set("20200101T000000Z-incomplete")).unwrap();
    let mut made = Vec::new();
    for i in 0..4 {
        let name = format!("2026010{i}T000000Z");
        let r = bed.run(&[
            "--force",
            "--keep",
            "2",
            "--into",
            bed.set(&name).to_str().unwrap(),
            "--skip",
            "restart",
        ]);
        r.assert_ok();
        made.push(name);
    }
    let mut left: Vec<String> = std::fs::read_dir(&bed.sets)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "20200101T000000Z-incomplete",
            made[2].as_str(),
            made[3].as_str()
        ]
    );
}

/// While df-upgrade takes a site served by the real nginx + php-fpm from v1 to v2 (with
/// its default graceful reload), a prober requesting /status every 50 ms sees only 200
/// (the old or the new version) or 503 (maintenance): never a 500, never a refused or
/// reset connection.
#[test]
fn no_error_page_during_the_upgrade() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use support::web::{raw_get, FpmGlobal, WebBed};
    let bed = WebBed::up();
    // php-fpm's default process_control_timeout (0) kills requests in flight on a
    // reload; a graceful reload needs it set (df-restart warns when it is not).
    let _graceful = FpmGlobal::set("process_control_timeout = 10s");
    let port = bed.port;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(raw_get(port, "/status"), Some((200, _))) {
        assert!(Instant::now() < deadline, "the site never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Every 50 ms; scripts/bench/upgrade.sh probes faster (DFKIT_PROBE_MS) to measure the
    // window the prober sees.
    let every: u64 = std::env::var("DFKIT_PROBE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen: Vec<(Instant, Option<(u16, String)>)> = Vec::new();
            // Bounded: at most 150 s of requests.
            let cap = 150_000 / every.max(1) as usize;
            while !stop.load(Ordering::SeqCst) && seen.len() < cap {
                seen.push((Instant::now(), raw_get(port, "/status")));
                std::thread::sleep(Duration::from_millis(every));
            }
            seen
        })
    };
    let root = bed.sandbox.root.clone();
    let url = format!("http://127.0.0.1:{port}/status");
    // The benchmark runs the release build's df-upgrade (its siblings beside it).
    let upgrade = std::env::var_os("DFKIT_BENCH_BIN_DIR")
        .map(|d| PathBuf::from(d).join("df-upgrade"))
        .unwrap_or_else(|| bins::bin("df-upgrade"));
    let mut c = Command::new(upgrade);
    c.arg("--root")
        .arg(&root)
        .args(["--user", "www-data", "--group", "www-data", "--url", &url])
        .arg("--into")
        .arg(bed.sandbox.tmp.path().join("sets/s"))
        .env("DFKIT_LOCK_DIR", bed.sandbox.tmp.path().join("locks"))
        .env_remove("DFKIT_TOOLS_DIR");
    let r = bins::run_command(c);
    stop.store(true, Ordering::SeqCst);
    let timed = prober.join().unwrap();
    let seen: Vec<Option<(u16, String)>> = timed.iter().map(|(_, s)| s.clone()).collect();
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(step(&r, "restart")["ok"], true, "{}", r.stdout);
    assert_eq!(step(&r, "verify")["report"]["data"]["failed"], 0);
    let bad: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !matches!(s, Some((200, _)) | Some((503, _))))
        .map(|(i, s)| {
            format!(
                "request {i}: {:?}",
                s.as_ref().map(|(c, b)| (c, &b[..b.len().min(200)]))
            )
        })
        .collect();
    assert!(seen.len() > 20, "the prober ran: {} requests", seen.len());
    assert!(
        bad.is_empty(),
        "error pages or refused connections during the upgrade:\n{}",
        bad.join("\n")
    );
    assert!(
        seen.iter().any(|s| matches!(s, Some((503, _)))),
        "the prober saw the maintenance window"
    );
    if let Some(out) = std::env::var_os("DFKIT_BENCH_WINDOW_OUT") {
        // For the benchmark: the span of 503s the prober saw, and the window from
        // df-upgrade's own report (its steps from down to up).
        let at503: Vec<Instant> = timed
            .iter()
            .filter(|(_, s)| matches!(s, Some((503, _))))
            .map(|(t, _)| *t)
            .collect();
        let seen_ms = at503[at503.len() - 1].duration_since(at503[0]).as_millis();
        let steps = r.data()["steps"].as_array().unwrap();
        let from = steps.iter().position(|s| s["name"] == "down").unwrap();
        let to = steps.iter().position(|s| s["name"] == "up").unwrap();
        let report_ms: u64 = steps[from..=to]
            .iter()
            .map(|s| s["duration_ms"].as_u64().unwrap())
            .sum();
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .unwrap();
        writeln!(f, "{seen_ms} {report_ms} {}", at503.len()).unwrap();
    }
    let last = raw_get(port, "/status").expect("serving after the upgrade");
    assert_eq!(last.0, 200);
    assert!(
        last.1.contains("7.1.0"),
        "the new version is served: {}",
        last.1
    );
}

/// A stage that fails (here `export`, given a second --commit by a wrapper: a real
/// usage error of the real tool) drops the stage with a warning; composer install then
/// runs inside the window and the upgrade succeeds.
#[test]
fn a_failing_stage_falls_back_to_composer_in_the_window() {
    let bed = Bed::new("sqlite", false);
    let tools = bed.sb.tmp.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    for t in bins::TOOLS {
        if t != "df-git-update" {
            std::os::unix::fs::symlink(bins::bin(t), tools.join(t)).unwrap();
        }
    }
    let wrapper = tools.join("df-git-update");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = export ]; then exec {real} \"$@\" --commit HEAD; fi\nexec {real} \"$@\"\n",
            real = bins::bin("df-git-update").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (user, group) = me();
    let set = bed.set("s");
    let r = bed.run_env(
        &[
            "--skip",
            "restart",
            "--user",
            &user,
            "--group",
            &group,
            "--into",
            set.to_str().unwrap(),
        ],
        &[("DFKIT_TOOLS_DIR", tools.to_str().unwrap())],
    );
    r.assert_ok();
    let stage = step(&r, "stage");
    assert_eq!(stage["ok"], false, "{stage}");
    assert_eq!(stage["report"]["error"]["exit_code"], 64, "{stage}");
    assert!(
        r.stderr.contains("staging the release failed"),
        "{}",
        r.stderr
    );
    let composer = &step(&r, "composer")["report"]["data"];
    assert!(composer.get("staged").is_none(), "{composer}");
    assert_eq!(composer["installed"], true);
    assert_eq!(bed.sb.head(), bed.sb.tag_commit("v2"));
    assert!(!bed.stage().exists());
    assert!(!bed.down());
}

/// Processes whose working directory is `root` and whose command line (its arguments
/// joined by NUL) holds `word`.
fn running_in(root: &Path, word: &str) -> Vec<u32> {
    let root = std::fs::canonicalize(root).unwrap();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cwd = std::fs::read_link(e.path().join("cwd")).ok();
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if !zombie
            && cwd.as_deref() == Some(root.as_path())
            && String::from_utf8_lossy(&cmdline).contains(word)
        {
            found.push(pid);
        }
    }
    found
}

/// df-upgrade killed with -9 while git holds `.git/index.lock` (a smudge filter slows
/// the checkout of v2's config/app.php): the git step's tool gets SIGTERM and passes it
/// on, so git removes its lock as it ends, and `recover` finds the repository usable.
/// A SIGKILLed git would leave the lock, and `recover` would stop at "another git
/// command holds the index".
#[test]
fn a_run_killed_while_git_holds_the_index_lock_is_recovered() {
    let bed = Bed::new("sqlite", false);
    let mark = bed.sb.tmp.path().join("slow-once");
    kills::hold_next_checkout(bed.root(), &mark, |a| bed.sb.git(a));
    let before = bed.state();
    let lock = bed.root().join(".git/index.lock");
    kill_when(&bed, &[], || {
        if !mark.exists() && lock.exists() {
            Ok(())
        } else {
            Err("git's checkout in the smudge filter".into())
        }
    });
    kills::wait_gone(|| {
        lock.exists()
            .then(|| format!("{} outlived the killed run", lock.display()))
    });
    let next = bed.run(&["--skip", "restart"]);
    assert_eq!(next.code, 75, "{}", next.stdout);
    let rec = bed.run(&["recover", "--skip", "restart"]);
    rec.assert_ok();
    assert_eq!(rec.data()["rolled_back"], true, "{}", rec.stdout);
    assert!(!bed.down(), "maintenance off");
    assert_same(&before, &bed.state());
}

/// A step tool run on its own and killed with -9 takes its child along too (every child
/// gets the parent death signal): a killed `df-artisan migrate` leaves no `artisan
/// migrate` running that a retry would race.
#[test]
fn a_killed_step_tool_leaves_no_child_running() {
    let bed = Bed::new("sqlite", true);
    push_slow_v3(&bed);
    let root = bed.root().to_str().unwrap();
    bins::run_command({
        let mut c = Command::new(bins::bin("df-git-update"));
        c.args(["update", "--root", root]);
        c
    })
    .assert_ok();
    let mut tool = Command::new(bins::bin("df-artisan"));
    tool.args(["migrate", "--root", root]);
    kills::kill_when_ready(tool, || {
        if running_in(bed.root(), SLOW_MIGRATE).is_empty() {
            Err("artisan migrate".into())
        } else {
            Ok(())
        }
    });
    no_migrate_left(&bed, "df-artisan");
}

/// A SIGKILLed df-upgrade takes its running step along: the step's tool gets SIGTERM
/// (the parent death signal) and kills its own children, so no `artisan migrate` goes on
/// writing under the next run's `recover`.
#[test]
fn a_killed_run_leaves_no_step_running() {
    let bed = Bed::new("sqlite", true);
    push_slow_v3(&bed);
    let before = bed.state();
    kill_when(&bed, &[], || {
        if running_in(bed.root(), SLOW_MIGRATE).is_empty() {
            Err("artisan migrate".into())
        } else {
            Ok(())
        }
    });
    no_migrate_left(&bed, "df-upgrade");
    let rec = bed.run(&["recover", "--skip", "restart"]);
    rec.assert_ok();
    assert_eq!(rec.data()["rolled_back"], true, "{}", rec.stdout);
    assert!(!bed.down(), "maintenance off");
    assert_same(&before, &bed.state());
}
