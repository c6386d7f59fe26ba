//! df-backup-env under attack (issue "Backups that always restore"): each finding with a
//! test that fails on the code before the fix, checked on the files afterwards.

mod support;

use serde_json::Value;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::bins::{bin, run, Run};
use support::listing::temporaries;

const TOOL: &str = "df-backup-env";
const NEW_KEY: &str = "base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k=";
const OLD_KEY: &str = "base64:q0ZbO2nC0xk3Lq3o8l0Yl5gWkq8bE5oI0mC0yq4mQ3s=";

fn env_text(key: &str) -> String {
    format!(
        "APP_NAME=DreamFactory\nAPP_KEY={key}\nDB_CONNECTION=sqlite\nDB_PASSWORD=\"s3cr3t pass\"\n"
    )
}

#[track_caller]
fn need_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (CI runs as root)"
    );
}

/// `error.hint` is a non-empty string or null, never "", and no secret reaches the output.
#[track_caller]
fn checked(r: Run) -> Run {
    if r.json.is_object() {
        support::bins::validate_report(&r.json, &[]);
    }
    if !r.ok() {
        let h = &r.json["error"]["hint"];
        assert!(
            h.is_null() || h.as_str().is_some_and(|s| !s.is_empty()),
            "hint {h}"
        );
    }
    for s in [
        NEW_KEY,
        OLD_KEY,
        "s3cr3t pass",
        "Wd4hV6oYqvEPi1Zlb",
        "q0ZbO2nC0xk3Lq3o",
    ] {
        assert!(
            !r.stdout.contains(s) && !r.stderr.contains(s),
            "secret {s:?} in the output"
        );
    }
    r
}

fn tool(args: &[&str]) -> Run {
    checked(run(TOOL, args))
}

/// Laravel's reading of a .env (Debian's phpdotenv), following symlinks as PHP does.
fn laravel_app_key(dir: &Path) -> String {
    let script =
        "set_include_path('/usr/share/php'); require '/usr/share/php/Illuminate/autoload.php'; \
                  echo Dotenv\\Dotenv::createArrayBacked($argv[1])->load()['APP_KEY'];";
    let out = Command::new("php")
        .args(["-r", script, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Two {
    tmp: tempfile::TempDir,
    root: PathBuf,
    set: PathBuf,
}

/// An install whose .env is a symlink to a shared file, and a set holding the old key.
fn shared_env() -> Two {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    fs::create_dir(&old).unwrap();
    fs::write(old.join(".env"), env_text(OLD_KEY)).unwrap();
    let set = tmp.path().join("set");
    tool(&[
        "--root",
        old.to_str().unwrap(),
        "save",
        "--into",
        set.to_str().unwrap(),
    ])
    .assert_ok();
    let shared = tmp.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::write(shared.join("dreamfactory.env"), env_text(NEW_KEY)).unwrap();
    fs::set_permissions(
        shared.join("dreamfactory.env"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let root = tmp.path().join("dreamfactory");
    fs::create_dir(&root).unwrap();
    install_markers(&root);
    std::os::unix::fs::symlink("../shared/dreamfactory.env", root.join(".env")).unwrap();
    Two { tmp, root, set }
}

fn is_link(p: &Path) -> bool {
    fs::symlink_metadata(p).unwrap().file_type().is_symlink()
}

#[test]
fn restore_key_and_restore_write_through_a_symlinked_env() {
    let t = shared_env();
    let root = t.root.to_str().unwrap();
    let shared = t.tmp.path().join("shared/dreamfactory.env");

    let r = tool(&[
        "--root",
        root,
        "restore-key",
        "--from",
        t.set.to_str().unwrap(),
    ]);
    r.assert_ok();
    assert!(r.changed());
    assert!(is_link(&t.root.join(".env")), "the link stays a link");
    assert_eq!(r.data()["target"], shared.display().to_string());
    assert!(
        fs::read_to_string(&shared).unwrap().contains(OLD_KEY),
        "the shared file has the old key"
    );
    assert_eq!(laravel_app_key(&t.root), OLD_KEY);
    assert_eq!(fs::metadata(&shared).unwrap().mode() & 0o7777, 0o640);
    assert!(
        temporaries(t.tmp.path()).is_empty(),
        "{:?}",
        temporaries(t.tmp.path())
    );

    // The whole file, too.
    fs::write(&shared, env_text(NEW_KEY)).unwrap();
    let r = tool(&["--root", root, "restore", "--from", t.set.to_str().unwrap()]);
    r.assert_ok();
    assert!(is_link(&t.root.join(".env")));
    assert_eq!(fs::read_to_string(&shared).unwrap(), env_text(OLD_KEY));
    assert_eq!(laravel_app_key(&t.root), OLD_KEY);
    assert!(temporaries(t.tmp.path()).is_empty());
}

#[test]
fn a_symlink_planted_by_another_user_is_not_followed() {
    need_root();
    let t = shared_env();
    let shared = t.tmp.path().join("shared/dreamfactory.env");
    // The web user's link to a root-owned file: following it would let that user aim a
    // root write anywhere.
    std::os::unix::fs::lchown(t.root.join(".env"), Some(4242), Some(4242)).unwrap();
    let before = fs::read(&shared).unwrap();
    for sub in ["restore-key", "restore"] {
        let r = tool(&[
            "--root",
            t.root.to_str().unwrap(),
            sub,
            "--from",
            t.set.to_str().unwrap(),
        ]);
        r.assert_code(77);
        assert!(r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("symlink"));
        assert!(is_link(&t.root.join(".env")));
        assert_eq!(fs::read(&shared).unwrap(), before);
    }
}

/// Unmounts a bind mount when dropped, even after a failed assertion.
struct Bind(PathBuf);
impl Drop for Bind {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_failed_commit_leaves_no_copy_of_env() {
    need_root();
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    fs::create_dir(&old).unwrap();
    fs::write(old.join(".env"), env_text(OLD_KEY)).unwrap();
    let set = tmp.path().join("set");
    tool(&[
        "--root",
        old.to_str().unwrap(),
        "save",
        "--into",
        set.to_str().unwrap(),
    ])
    .assert_ok();

    // A bind-mounted .env (as in a container): renaming over it fails with EBUSY.
    let root = tmp.path().join("dreamfactory");
    fs::create_dir(&root).unwrap();
    install_markers(&root);
    let outside = tmp.path().join("mounted.env");
    fs::write(&outside, env_text(NEW_KEY)).unwrap();
    fs::write(root.join(".env"), b"").unwrap();
    let st = Command::new("mount")
        .args([
            "--bind",
            outside.to_str().unwrap(),
            root.join(".env").to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "mount --bind");
    let _guard = Bind(root.join(".env"));

    for sub in ["restore-key", "restore"] {
        let r = tool(&[
            "--root",
            root.to_str().unwrap(),
            sub,
            "--from",
            set.to_str().unwrap(),
        ]);
        assert!(!r.ok(), "{sub} cannot rename over a mount point");
        assert!(
            r.stdout.contains("busy") || r.stdout.contains("Busy"),
            "{}",
            r.stdout
        );
        let left: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("dfkit-tmp"))
            .collect();
        assert!(left.is_empty(), "{sub} left a copy of .env: {left:?}");
        assert_eq!(fs::read_to_string(&outside).unwrap(), env_text(NEW_KEY));
    }
}

/// A pid that is not running (a child that has exited).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn temporaries_of_dead_runs_are_swept_where_it_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    fs::create_dir(&old).unwrap();
    fs::write(old.join(".env"), env_text(OLD_KEY)).unwrap();
    let set = tmp.path().join("set");
    let root = tmp.path().join("dreamfactory");
    fs::create_dir(&root).unwrap();
    install_markers(&root);
    fs::write(root.join(".env"), env_text(NEW_KEY)).unwrap();
    let dead = dead_pid();
    let live = std::process::id();
    // What killed runs leave: a .env copy in the root; a meta, a partial tree and an old
    // tree moved aside in the set. A live run's temp file must stay.
    fs::create_dir(&set).unwrap();
    fs::set_permissions(&set, fs::Permissions::from_mode(0o700)).unwrap();
    let in_root = [
        format!("..env.dfkit-tmp.{dead}.0"),
        format!("..env.dfkit-tmp.{dead}.1"),
    ];
    for n in &in_root {
        fs::write(root.join(n), env_text(NEW_KEY)).unwrap();
    }
    let live_tmp = root.join(format!("..env.dfkit-tmp.{live}.0"));
    fs::write(&live_tmp, b"busy").unwrap();
    fs::write(set.join(format!(".env.meta.json.dfkit-tmp.{dead}.0")), b"{").unwrap();
    for d in [
        format!(".tree.dfkit-tmp.{dead}"),
        format!(".tree.dfkit-old.{dead}"),
    ] {
        fs::create_dir_all(set.join(&d).join("vendor")).unwrap();
        fs::write(set.join(&d).join("vendor/x"), b"x").unwrap();
    }

    tool(&[
        "--root",
        old.to_str().unwrap(),
        "save",
        "--into",
        set.to_str().unwrap(),
    ])
    .assert_ok();
    tool(&[
        "--root",
        root.to_str().unwrap(),
        "restore-key",
        "--from",
        set.to_str().unwrap(),
    ])
    .assert_ok();
    for n in &in_root {
        assert!(!root.join(n).exists(), "{n} swept from the root");
    }
    assert!(live_tmp.exists(), "a live run's temp file is kept");
    assert!(!set
        .join(format!(".env.meta.json.dfkit-tmp.{dead}.0"))
        .exists());
    tool(&[
        "--root",
        root.to_str().unwrap(),
        "snapshot",
        "--into",
        set.to_str().unwrap(),
    ])
    .assert_ok();
    let left: Vec<String> = fs::read_dir(&set)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("dfkit"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn permission_denied_reads_as_77_not_missing() {
    need_root();
    // A set saved by root (0700) under a directory anyone may enter.
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = tmp.path().join("dreamfactory");
    fs::create_dir(&root).unwrap();
    install_markers(&root);
    fs::write(root.join(".env"), env_text(OLD_KEY)).unwrap();
    fs::set_permissions(root.join(".env"), fs::Permissions::from_mode(0o644)).unwrap();
    let set = tmp.path().join("set");
    tool(&[
        "--root",
        root.to_str().unwrap(),
        "save",
        "--into",
        set.to_str().unwrap(),
    ])
    .assert_ok();
    tool(&[
        "--root",
        root.to_str().unwrap(),
        "snapshot",
        "--into",
        set.to_str().unwrap(),
    ])
    .assert_ok();
    assert_eq!(fs::metadata(&set).unwrap().mode() & 0o777, 0o700);

    let as_nobody = |args: &[&str]| -> Run {
        let out = Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(bin(TOOL))
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        checked(Run {
            code: out.status.code().unwrap_or(-1),
            json: serde_json::from_str::<Value>(stdout.trim()).unwrap_or(Value::Null),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    };
    let set_s = set.to_str().unwrap();
    let root_s = root.to_str().unwrap();
    for args in [
        vec!["--root", root_s, "show", "--from", set_s],
        vec![
            "--root",
            root_s,
            "--dry-run",
            "restore-key",
            "--from",
            set_s,
        ],
        vec!["--root", root_s, "--dry-run", "restore", "--from", set_s],
        vec![
            "--root",
            root_s,
            "--dry-run",
            "restore-tree",
            "--from",
            set_s,
        ],
    ] {
        let r = as_nobody(&args);
        r.assert_code(77);
        assert_eq!(r.error_kind(), "permission_denied", "{args:?}");
    }
    // A set that does not exist is still 66.
    let missing = tmp.path().join("nope");
    as_nobody(&[
        "--root",
        root_s,
        "show",
        "--from",
        missing.to_str().unwrap(),
    ])
    .assert_code(66);
}

/// What makes a directory a DreamFactory install for the tools that write into one.
fn install_markers(root: &std::path::Path) {
    fs::write(root.join("artisan"), "<?php\n").unwrap();
    fs::write(root.join(".env-dist"), "APP_KEY=\n").unwrap();
    fs::create_dir_all(root.join("config")).unwrap();
}
