//! df-perms against real trees, as root: owners and modes of every entry afterwards,
//! inode ctimes for "writes nothing", and the places the walk must not reach.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{chown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::bins::{run, Run};

const WWW: u32 = 33; // www-data on Debian/Ubuntu

/// An install-shaped root: storage/ and bootstrap/cache/ with a few levels of content,
/// root-owned, assorted modes; plus a sibling directory outside the root.
struct Bed {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn bed() -> Bed {
    assert!(
        nix::unistd::geteuid().is_root(),
        "df-perms tests run as root (CI does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("df");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let s = root.join("storage");
    for d in [
        "app/public",
        "framework/cache/data/ab/cd",
        "framework/sessions",
        "framework/views",
        "logs",
    ] {
        fs::create_dir_all(s.join(d)).unwrap();
    }
    fs::create_dir_all(root.join("bootstrap/cache")).unwrap();
    fs::create_dir_all(root.join("config")).unwrap();
    let files: [(&str, u32); 8] = [
        ("storage/logs/dreamfactory.log", 0o644),
        ("storage/logs/old.log", 0o600),
        ("storage/framework/cache/data/ab/cd/abcdef", 0o644),
        ("storage/framework/sessions/sess1", 0o600),
        ("storage/framework/views/v1.php", 0o755),
        ("storage/app/public/.gitignore", 0o664),
        // Already 2775 but root-owned: the chown clears its set-group-ID bit, so it needs
        // a chmod afterwards too (the dry run must predict that).
        ("storage/app/sgid-file", 0o2775),
        ("bootstrap/cache/packages.php", 0o644),
    ];
    for (f, mode) in files {
        let p = root.join(f);
        fs::write(&p, f.as_bytes()).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
    fs::write(
        root.join("config/app.php"),
        "<?php return ['version' => '7.7.0'];",
    )
    .unwrap();
    // The markers of an install (df-perms refuses a root without them).
    fs::write(root.join("artisan"), "<?php // artisan").unwrap();
    fs::write(root.join(".env"), "APP_ENV=local\n").unwrap();
    fs::set_permissions(s.join("logs"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(s.join("framework/views"), fs::Permissions::from_mode(0o755)).unwrap();
    Bed {
        _tmp: tmp,
        root,
        outside,
    }
}

impl Bed {
    fn root_arg(&self) -> String {
        self.root.display().to_string()
    }
    fn run(&self, extra: &[&str]) -> Run {
        let mut args = vec!["--root".to_string(), self.root_arg()];
        args.extend(extra.iter().map(|s| s.to_string()));
        run("df-perms", &args)
    }
    fn targets(&self) -> Vec<PathBuf> {
        vec![self.root.join("storage"), self.root.join("bootstrap/cache")]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    ino: u64,
    ctime: i64,
    ctime_nsec: i64,
    mode: u32,
    uid: u32,
    gid: u32,
    symlink: bool,
    dir: bool,
}

/// Every entry under `top` (and `top` itself), never following symlinks.
fn snapshot(top: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(p: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let md = fs::symlink_metadata(p).unwrap();
        out.insert(
            p.to_path_buf(),
            Entry {
                ino: md.ino(),
                ctime: md.ctime(),
                ctime_nsec: md.ctime_nsec(),
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                symlink: md.file_type().is_symlink(),
                dir: md.is_dir(),
            },
        );
        if md.is_dir() {
            for e in fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(top, &mut out);
    out
}

fn snapshot_all(tops: &[PathBuf]) -> BTreeMap<PathBuf, Entry> {
    tops.iter().flat_map(|t| snapshot(t)).collect()
}

fn meta(p: &Path) -> (u32, u32, u32) {
    let md = fs::symlink_metadata(p).unwrap();
    (md.uid(), md.gid(), md.mode() & 0o7777)
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn chown_to_www_data_and_2775_on_every_entry() {
    let b = bed();
    let before = snapshot_all(&b.targets());
    let r = b.run(&["--user", "www-data", "--group", "www-data"]);
    r.assert_ok();
    assert!(r.changed());
    let after = snapshot_all(&b.targets());
    assert_eq!(after.len(), before.len());
    for (p, e) in &after {
        assert_eq!((e.uid, e.gid), (WWW, WWW), "{}", p.display());
        assert_eq!(e.mode, 0o2775, "{} mode {:o}", p.display(), e.mode);
    }
    let d = r.data();
    assert_eq!(u(&d["scanned"]), after.len() as u64);
    assert_eq!(u(&d["chowned"]), after.len() as u64);
    // Every entry had another mode, or lost its set-group-ID bit to the chown.
    assert_eq!(u(&d["chmodded"]), after.len() as u64);
    assert_eq!(d["owner"]["uid"], WWW);
    assert_eq!(d["owner"]["user"], "www-data");
    assert_eq!(d["dir_mode"], "2775");
    assert_eq!(d["file_mode"], "2775");
    assert_eq!(d["targets"].as_array().unwrap().len(), 2);
    assert_eq!(d["targets"][0]["target"], "storage");
    assert_eq!(d["targets"][1]["target"], "bootstrap/cache");
    // Outside the targets nothing moved.
    assert_eq!(meta(&b.root.join("config/app.php")).0, 0);
    assert_eq!(meta(&b.root).0, 0);
    assert_eq!(meta(&b.root.join("bootstrap")).0, 0);
}

#[test]
fn numeric_ids_and_split_modes() {
    let b = bed();
    let r = b.run(&[
        "--user",
        "12345",
        "--group",
        "23456",
        "--dir-mode",
        "2775",
        "--file-mode",
        "0664",
    ]);
    r.assert_ok();
    let after = snapshot_all(&b.targets());
    for (p, e) in &after {
        assert_eq!((e.uid, e.gid), (12345, 23456), "{}", p.display());
        let want = if e.dir { 0o2775 } else { 0o664 };
        assert_eq!(e.mode, want, "{} mode {:o}", p.display(), e.mode);
    }
    assert_eq!(r.data()["file_mode"], "0664");
    assert_eq!(r.data()["owner"]["user"], "12345");

    // --user alone takes the user's primary group.
    let r = b.run(&[
        "--user",
        "www-data",
        "--dir-mode",
        "2775",
        "--file-mode",
        "0664",
    ]);
    r.assert_ok();
    for (p, e) in snapshot_all(&b.targets()) {
        assert_eq!((e.uid, e.gid), (WWW, WWW), "{}", p.display());
    }
    // --group alone changes only the group.
    let r = b.run(&[
        "--group",
        "23456",
        "--dir-mode",
        "2775",
        "--file-mode",
        "0664",
    ]);
    r.assert_ok();
    assert_eq!(u(&r.data()["chmodded"]), 0);
    for (p, e) in snapshot_all(&b.targets()) {
        assert_eq!((e.uid, e.gid), (WWW, 23456), "{}", p.display());
    }
    // A uid without a passwd entry has no primary group: say so instead of guessing.
    let before = snapshot_all(&b.targets());
    b.run(&["--user", "12345"]).assert_code(64);
    assert_eq!(snapshot_all(&b.targets()), before);
}

#[test]
fn second_run_changes_no_inode() {
    let b = bed();
    symlink(
        "../logs/dreamfactory.log",
        b.root.join("storage/app/loglink"),
    )
    .unwrap();
    b.run(&["--user", "www-data"]).assert_ok();
    let before = snapshot_all(&b.targets());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = b.run(&["--user", "www-data"]);
    r.assert_ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(r.json["changed"], false);
    let d = r.data();
    assert_eq!(u(&d["chowned"]), 0);
    assert_eq!(u(&d["chmodded"]), 0);
    assert_eq!(u(&d["scanned"]), before.len() as u64);
    for t in d["targets"].as_array().unwrap() {
        assert_eq!(t["changed"], false);
    }
    let after = snapshot_all(&b.targets());
    assert_eq!(
        before, after,
        "a no-op run must not touch any inode (ctime)"
    );
    assert!(r.json["msg"]
        .as_str()
        .unwrap()
        .contains("nothing to change"));
}

#[test]
fn symlinks_are_never_followed() {
    let b = bed();
    let secret = b.outside.join("secret");
    fs::write(&secret, "s").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let odir = b.outside.join("dir");
    fs::create_dir(&odir).unwrap();
    fs::write(odir.join("inner"), "i").unwrap();
    fs::set_permissions(odir.join("inner"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(&odir, fs::Permissions::from_mode(0o750)).unwrap();
    symlink(&secret, b.root.join("storage/logs/evil.log")).unwrap();
    symlink(&odir, b.root.join("storage/framework/evil-dir")).unwrap();
    symlink("/", b.root.join("storage/app/rootlink")).unwrap();
    let outside_before = snapshot(&b.outside);

    let r = b.run(&["--user", "www-data"]);
    r.assert_ok();
    assert_eq!(snapshot(&b.outside), outside_before);
    assert_eq!(meta(&secret), (0, 0, 0o600));
    assert_eq!(meta(&odir.join("inner")), (0, 0, 0o640));
    assert_eq!(meta(Path::new("/")).0, 0);
    // The links themselves are owned like the rest (chown -R does that), never chmodded.
    for l in [
        "storage/logs/evil.log",
        "storage/framework/evil-dir",
        "storage/app/rootlink",
    ] {
        let md = fs::symlink_metadata(b.root.join(l)).unwrap();
        assert!(md.file_type().is_symlink());
        assert_eq!((md.uid(), md.gid()), (WWW, WWW), "{l}");
        assert_eq!(md.mode() & 0o777, 0o777, "{l}");
    }
}

#[test]
fn hard_linked_files_are_skipped_with_a_warning() {
    let b = bed();
    // One name inside storage, one outside the targets (think /etc/shadow).
    let other = b.root.join("config/linked.php");
    fs::write(&other, "x").unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o600)).unwrap();
    let inside = b.root.join("storage/logs/linked.log");
    fs::hard_link(&other, &inside).unwrap();

    let r = b.run(&["--user", "www-data"]);
    r.assert_ok();
    assert_eq!(meta(&other), (0, 0, 0o600));
    let d = r.data();
    assert_eq!(u(&d["skipped"]), 1);
    assert_eq!(d["skipped_by_reason"]["hard_link"], 1);
    assert_eq!(d["skipped_entries"][0]["reason"], "hard_link");
    assert_eq!(
        d["skipped_entries"][0]["path"],
        inside.display().to_string()
    );
    let warnings = r.json["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("linked.log")
                && w.as_str().unwrap().contains("hard link")),
        "{warnings:?}"
    );
    assert!(r.stderr.contains("linked.log"));
    // Everything else was done.
    assert_eq!(
        meta(&b.root.join("storage/logs/old.log")),
        (WWW, WWW, 0o2775)
    );
}

#[test]
fn targets_outside_the_root_are_refused() {
    let b = bed();
    let all = || snapshot_all(&[b.root.clone(), b.outside.clone()]);
    let before = all();
    // Lexically outside: usage.
    for t in ["../outside", "/etc", ".", "storage/../..", ""] {
        let r = b.run(&["--user", "www-data", "--target", "storage", "--target", t]);
        r.assert_code(64);
        assert_eq!(r.error_kind(), "usage");
        assert_eq!(
            all(),
            before,
            "refused `{t}` must change nothing, even in storage"
        );
    }
    // Resolving outside on disk (a symlink), to the root itself, or to /: config.
    symlink(&b.outside, b.root.join("storage/out")).unwrap();
    symlink("/", b.root.join("slash")).unwrap();
    symlink("..", b.root.join("storage/up")).unwrap();
    let before = all();
    for t in ["storage/out", "slash", "storage/up"] {
        let r = b.run(&["--user", "www-data", "--target", "storage", "--target", t]);
        r.assert_code(78);
        assert_eq!(r.error_kind(), "config");
        assert_eq!(all(), before, "refused `{t}` must change nothing");
    }
    // storage itself a symlink to / (the default target).
    let b2 = bed();
    fs::rename(b2.root.join("storage"), b2.outside.join("moved")).unwrap();
    symlink("/", b2.root.join("storage")).unwrap();
    let r = b2.run(&["--user", "www-data"]);
    r.assert_code(78);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("/"));
    assert_eq!(meta(Path::new("/")).0, 0);
    // A root that is / (dry run, so even a broken check could not hurt).
    let r = run(
        "df-perms",
        [
            "--root",
            "/",
            "--target",
            "tmp",
            "--dry-run",
            "--user",
            "www-data",
        ],
    );
    r.assert_code(78);
    // A missing target: missing input.
    let r = b.run(&["--target", "nope"]);
    r.assert_code(66);
}

#[test]
fn unknown_user_or_group_is_67() {
    let b = bed();
    let before = snapshot_all(&b.targets());
    let r = b.run(&["--user", "no-such-user-dfkit"]);
    r.assert_code(67);
    assert_eq!(r.error_kind(), "unknown_user");
    let r = b.run(&["--user", "www-data", "--group", "no-such-group-dfkit"]);
    r.assert_code(67);
    assert_eq!(snapshot_all(&b.targets()), before);
}

#[test]
fn dry_run_changes_nothing_and_predicts_the_real_run() {
    dry_then_real(
        &[
            "--user",
            "www-data",
            "--dir-mode",
            "2775",
            "--file-mode",
            "0664",
        ],
        0o664,
    );
    // With 2775 for files too, only the kernel's clearing of set-group-ID on chown makes
    // the sgid file need a chmod: the dry run must predict it.
    dry_then_real(&["--user", "www-data"], 0o2775);
}

fn dry_then_real(args: &[&str], file_mode: u32) {
    let b = bed();
    symlink("/etc/passwd", b.root.join("storage/app/pw")).unwrap();
    let before = snapshot_all(&b.targets());
    let mut dry_args = args.to_vec();
    dry_args.push("--dry-run");
    let dry = b.run(&dry_args);
    dry.assert_ok();
    assert_eq!(dry.json["dry_run"], true);
    assert!(dry.changed());
    assert_eq!(
        snapshot_all(&b.targets()),
        before,
        "--dry-run wrote something"
    );
    // data.plan has the shape every tool shares: per target a chown and a chmod step.
    let plan = dry.data()["plan"].as_array().unwrap();
    let steps: Vec<(String, String)> = plan
        .iter()
        .map(|p| {
            (
                p["action"].as_str().unwrap().to_string(),
                p["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let storage = fs::canonicalize(b.root.join("storage")).unwrap();
    let cache = fs::canonicalize(b.root.join("bootstrap/cache")).unwrap();
    let (storage, cache) = (storage.display().to_string(), cache.display().to_string());
    assert_eq!(
        steps,
        [
            ("chown".to_string(), storage.clone()),
            ("chmod".to_string(), storage),
            ("chown".to_string(), cache.clone()),
            ("chmod".to_string(), cache),
        ]
    );
    assert!(
        plan[1]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{file_mode:04o} on other entries")),
        "{}",
        plan[1]
    );
    assert_eq!(dry.data()["targets"][0]["target"], "storage");
    assert!(dry.json["msg"].as_str().unwrap().contains("would change"));

    let real = b.run(args);
    real.assert_ok();
    assert!(real.data().get("plan").is_none());
    for k in ["scanned", "chowned", "chmodded", "skipped"] {
        assert_eq!(dry.data()[k], real.data()[k], "{k}");
    }
    for i in 0..2 {
        for did in ["chowned", "chmodded"] {
            let would = dry.data()["targets"][i][did].clone();
            assert_eq!(would, real.data()["targets"][i][did], "{did} of target {i}");
            // The plan's detail names the same number.
            let step = &plan[2 * i + usize::from(did == "chmodded")];
            assert!(
                step["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!(" on {would} of ")),
                "{step}"
            );
        }
    }
    // The sgid file lost its bit to the chown and was chmodded: counted by both.
    assert_eq!(
        meta(&b.root.join("storage/app/sgid-file")),
        (WWW, WWW, file_mode)
    );
    assert_eq!(meta(Path::new("/etc/passwd")), (0, 0, 0o644));
    // And a dry run after the real one predicts nothing.
    let dry2 = b.run(&dry_args);
    dry2.assert_ok();
    assert!(!dry2.changed());
}

#[test]
fn without_owner_flags_each_target_keeps_its_top_owner() {
    let b = bed();
    chown(b.root.join("storage"), Some(WWW), Some(WWW)).unwrap();
    chown(b.root.join("bootstrap/cache"), Some(12345), Some(12345)).unwrap();
    let r = b.run(&[]);
    r.assert_ok();
    assert_eq!(r.data()["owner_from"], "target");
    assert_eq!(r.data()["owner"], serde_json::Value::Null);
    assert_eq!(r.data()["targets"][1]["owner"]["uid"], 12345);
    for (p, e) in snapshot(&b.root.join("storage")) {
        assert_eq!(
            (e.uid, e.gid, e.mode),
            (WWW, WWW, 0o2775),
            "{}",
            p.display()
        );
    }
    for (p, e) in snapshot(&b.root.join("bootstrap/cache")) {
        assert_eq!((e.uid, e.gid), (12345, 12345), "{}", p.display());
    }
}

#[test]
fn other_filesystems_are_not_entered() {
    let b = bed();
    let mnt = b.root.join("storage/framework/cache/mnt");
    fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "dfkit-test"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        // Reported, not silently passed: this machine cannot mount.
        panic!("SKIPPED-AS-FAILURE: cannot mount a tmpfs here (need root with CAP_SYS_ADMIN)");
    }
    fs::write(mnt.join("f"), "x").unwrap();
    let r = b.run(&["--user", "www-data"]);
    let inner = meta(&mnt.join("f"));
    let top = meta(&mnt);
    let _ = Command::new("umount").arg(&mnt).status();
    r.assert_ok();
    assert_eq!(inner, (0, 0, 0o644));
    assert_eq!(top, (0, 0, 0o700));
    assert_eq!(r.data()["skipped_by_reason"]["other_filesystem"], 1);
    assert_eq!(meta(&b.root.join("storage/framework/cache")).0, WWW);
}

#[test]
fn nested_and_repeated_targets_are_walked_once() {
    let b = bed();
    let r = b.run(&[
        "--user",
        "www-data",
        "--target",
        "storage/logs",
        "--target",
        "storage",
        "--target",
        "./storage/",
    ]);
    r.assert_ok();
    let targets = r.data()["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(targets[0]["target"], "storage");
    let n = snapshot(&b.root.join("storage")).len() as u64;
    assert_eq!(u(&r.data()["scanned"]), n);
    // Not a default target any more: bootstrap/cache untouched.
    assert_eq!(meta(&b.root.join("bootstrap/cache")).0, 0);
}

#[test]
fn a_single_file_target() {
    let b = bed();
    let r = b.run(&["--user", "www-data", "--target", "storage/logs/old.log"]);
    r.assert_ok();
    assert_eq!(u(&r.data()["scanned"]), 1);
    assert_eq!(
        meta(&b.root.join("storage/logs/old.log")),
        (WWW, WWW, 0o2775)
    );
    assert_eq!(meta(&b.root.join("storage/logs")).0, 0);
}

#[test]
fn usage_errors_are_64_json() {
    let b = bed();
    let before = snapshot_all(&b.targets());
    for args in [
        vec!["--bogus"],
        vec!["--mode", "9"],
        vec!["--mode", "u+rwx"],
        vec!["--dir-mode", "17777"],
        vec!["--file-mode", ""],
        vec!["--user", ""],
        vec!["--user"],
    ] {
        let r = b.run(&args);
        r.assert_code(64);
        assert_eq!(r.error_kind(), "usage", "{args:?}");
        assert!(r.json["error"]["message"].as_str().unwrap().len() > 3);
    }
    assert_eq!(snapshot_all(&b.targets()), before);
    // --help has examples and is not a run.
    let out = Command::new(support::bins::bin("df-perms"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("Examples:") && help.contains("| jq"),
        "{help}"
    );
}

#[test]
fn missing_root_is_66() {
    let r = run("df-perms", ["--root", "/nonexistent/dfkit-perms"]);
    r.assert_code(66);
}

#[test]
fn an_unchangeable_entry_fails_the_run_after_doing_the_rest() {
    let b = bed();
    let stuck = b.root.join("storage/logs/old.log");
    let ok = Command::new("chattr")
        .arg("+i")
        .arg(&stuck)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "chattr +i must work here (ext4/tmpfs as root)");
    let r = b.run(&["--user", "www-data"]);
    let _ = Command::new("chattr").arg("-i").arg(&stuck).status();
    r.assert_code(77);
    assert_eq!(r.error_kind(), "permission_denied");
    assert!(
        r.changed(),
        "the rest was changed: the envelope must say so"
    );
    let d = r.data();
    assert_eq!(d["errors"], 1);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("old.log"));
    assert_eq!(meta(&stuck), (0, 0, 0o600));
    // Every other entry was handled.
    for (p, e) in snapshot_all(&b.targets()) {
        if p != stuck {
            assert_eq!(
                (e.uid, e.gid, e.mode),
                (WWW, WWW, 0o2775),
                "{}",
                p.display()
            );
        }
    }
    // Once the file can be changed, a re-run finishes the job.
    b.run(&["--user", "www-data"]).assert_ok();
    assert_eq!(meta(&stuck), (WWW, WWW, 0o2775));
}

#[test]
fn a_root_that_is_not_an_install_is_refused_before_anything_changes() {
    assert!(nix::unistd::geteuid().is_root(), "runs as root (CI does)");
    // The reproduction, as a dry run so that a regression cannot touch /etc.
    let ssh = meta(Path::new("/etc/ssh"));
    let r = run(
        "df-perms",
        [
            "--root",
            "/etc",
            "--target",
            "ssh",
            "--user",
            "www-data",
            "--dry-run",
        ],
    );
    r.assert_code(66);
    assert_eq!(r.error_kind(), "missing_input");
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("no DreamFactory install at /etc"), "{msg}");
    assert_eq!(meta(Path::new("/etc/ssh")), ssh);
    // The real run on an /etc-like tree: refused, nothing changed.
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc");
    fs::create_dir_all(etc.join("ssh")).unwrap();
    fs::write(etc.join("ssh/sshd_config"), "x").unwrap();
    let before = snapshot(&etc);
    let root = etc.display().to_string();
    let r = run(
        "df-perms",
        ["--root", &root, "--target", "ssh", "--user", "www-data"],
    );
    r.assert_code(66);
    assert_eq!(snapshot(&etc), before);
    // Each marker is needed: artisan, .env or .env-dist, config/.
    let b = bed();
    for (marker, dir) in [("artisan", false), (".env", false), ("config", true)] {
        let p = b.root.join(marker);
        let kept = tmp.path().join("kept");
        fs::rename(&p, &kept).unwrap();
        let before = snapshot_all(&b.targets());
        let r = b.run(&["--user", "www-data"]);
        r.assert_code(66);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains(marker),
            "{marker}: {}",
            r.json
        );
        assert_eq!(snapshot_all(&b.targets()), before, "{marker}");
        fs::rename(&kept, &p).unwrap();
        assert_eq!(p.is_dir(), dir);
    }
    // .env-dist stands in for .env (a fresh checkout).
    fs::rename(b.root.join(".env"), b.root.join(".env-dist")).unwrap();
    b.run(&["--user", "www-data"]).assert_ok();
    assert_eq!(meta(&b.root.join("storage/logs")), (WWW, WWW, 0o2775));
}

#[test]
fn the_report_reads_back_as_typed_data() {
    use dfkit::report::data::perms::PermsData;
    use dfkit::report::Report;
    let b = bed();
    symlink("/etc/passwd", b.root.join("storage/app/pw")).unwrap();
    fs::hard_link(
        b.root.join("storage/logs/old.log"),
        b.root.join("storage/logs/old.log.1"),
    )
    .unwrap();
    let dry = b.run(&["--user", "www-data", "--dry-run"]);
    dry.assert_ok();
    let d: Report<PermsData> = serde_json::from_str(&dry.stdout).unwrap();
    let plan = d.data.plan.as_ref().expect("a dry run has a plan");
    assert!(plan
        .iter()
        .all(|p| p.action == "chown" || p.action == "chmod"));
    assert_eq!(d.data.owner_from, "flags");
    assert_eq!(d.data.owner.as_ref().unwrap().uid, Some(WWW));
    assert_eq!(d.data.skipped_by_reason.hard_link, 2);
    assert_eq!(d.data.skipped_entries.len(), 2);
    assert!(d
        .data
        .skipped_entries
        .iter()
        .all(|e| e.reason == "hard_link"));
    assert_eq!(d.data.targets.len(), 2);
    assert_eq!(d.data.targets[0].owner.user.as_deref(), Some("www-data"));
    let real = b.run(&["--user", "www-data"]);
    real.assert_ok();
    let r: Report<PermsData> = serde_json::from_str(&real.stdout).unwrap();
    assert!(r.data.plan.is_none() && r.data.changed.is_none());
    assert_eq!(r.data.chowned, d.data.chowned);
    assert_eq!(r.data.chmodded, d.data.chmodded);
    assert_eq!(r.data.scanned, d.data.scanned);
    // Re-serialized, the typed data is the report's data, field for field.
    assert_eq!(serde_json::to_value(&r.data).unwrap(), *real.data());
}

#[test]
fn a_walk_on_a_terminal_shows_progress_and_stdout_stays_one_object() {
    let b = bed();
    let many = b.root.join("storage/framework/cache/data/many");
    fs::create_dir_all(&many).unwrap();
    for i in 0..9000 {
        fs::write(many.join(format!("f{i}")), "").unwrap();
    }
    let out = b.root.parent().unwrap().join("out.json");
    let log = b.root.parent().unwrap().join("pty.log");
    // `script` gives the tool a pseudo-terminal for stderr; stdout goes to a file.
    let cmd = format!(
        "{} --root {} --user www-data > {}",
        support::bins::bin("df-perms").display(),
        b.root_arg(),
        out.display()
    );
    let st = Command::new("script")
        .args(["-qec", &cmd])
        .arg(&log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script(1) from bsdutils");
    assert!(st.success());
    let shown = String::from_utf8_lossy(&fs::read(&log).unwrap()).into_owned();
    assert!(
        shown.contains("df-perms: examining") && shown.contains("entries"),
        "{shown}"
    );
    let stdout = fs::read_to_string(&out).unwrap();
    assert_eq!(stdout.matches('\n').count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    support::bins::validate_report(&v, &[]);
    assert_eq!(v["ok"], true);
    assert!(u(&v["data"]["scanned"]) > 9000);
    assert_eq!(meta(&many.join("f8999")), (WWW, WWW, 0o2775));
    // --quiet: no progress at all.
    let st = Command::new("script")
        .args(["-qec", &format!("{cmd} --quiet")])
        .arg(&log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let shown = String::from_utf8_lossy(&fs::read(&log).unwrap()).into_owned();
    assert!(!shown.contains("examining"), "{shown}");
}
