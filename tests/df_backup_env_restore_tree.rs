//! df-backup-env restore-tree: parts of the install put back from a set's tree snapshot,
//! faithfully and atomically, checked on the files afterwards (a listing with types,
//! modes, owners, mtimes and sha256s), never only on `ok`.

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use support::bins::{run, Run};
use support::listing::{describe, describe_with_top, temporaries};

const TOOL: &str = "df-backup-env";

fn set_mtime(p: &Path, secs: i64, nsec: i64) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let ts = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        },
    ];
    // SAFETY: `c` is a valid NUL-terminated path and `ts` two valid timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0);
}

/// `error.hint` is a non-empty string or null, never "".
#[track_caller]
fn hint_ok(r: &Run) {
    let h = &r.json["error"]["hint"];
    assert!(
        h.is_null() || h.as_str().is_some_and(|s| !s.is_empty()),
        "hint {h}"
    );
}

struct Install {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    set: PathBuf,
}

impl Install {
    /// An install with a vendor/ tree holding what a faithful restore must keep: nested
    /// directories, modes (setgid, read-only dir), other owners, symlinks (one dangling),
    /// a hard link, and mtimes with nanoseconds.
    fn new() -> Install {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (CI runs as root)"
        );
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("dreamfactory");
        let v = root.join("vendor");
        fs::create_dir_all(v.join("laravel/framework/src")).unwrap();
        fs::create_dir_all(v.join("bin")).unwrap();
        fs::create_dir_all(root.join("app")).unwrap();
        fs::create_dir_all(root.join("storage/logs")).unwrap();
        fs::write(
            root.join(".env"),
            "APP_KEY=base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k=\n",
        )
        .unwrap();
        fs::write(
            v.join("autoload.php"),
            b"<?php require 'composer/autoload_real.php';\n",
        )
        .unwrap();
        fs::write(v.join("laravel/framework/src/Big.php"), vec![b'x'; 200_000]).unwrap();
        fs::write(v.join("laravel/framework/composer.json"), b"{}\n").unwrap();
        fs::write(v.join("bin/tool"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(v.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::hard_link(v.join("bin/tool"), v.join("bin/tool-again")).unwrap();
        std::os::unix::fs::symlink("../laravel/framework/src/Big.php", v.join("bin/big")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", v.join("dangling")).unwrap();
        std::os::unix::fs::chown(v.join("laravel"), Some(4242), Some(4343)).unwrap();
        std::os::unix::fs::chown(v.join("autoload.php"), Some(4242), Some(4343)).unwrap();
        std::os::unix::fs::lchown(v.join("dangling"), Some(4242), Some(0)).unwrap();
        fs::set_permissions(v.join("laravel"), fs::Permissions::from_mode(0o2775)).unwrap();
        fs::write(root.join("app/a.php"), b"<?php // a\n").unwrap();
        // What makes it an install (restore-tree refuses other directories).
        fs::write(root.join("artisan"), b"#!/usr/bin/env php\n").unwrap();
        fs::create_dir(root.join("config")).unwrap();
        fs::write(root.join("storage/logs/x.log"), b"log\n").unwrap();
        for (i, p) in [
            "vendor/autoload.php",
            "vendor/bin/big",
            "vendor/laravel",
            "vendor",
        ]
        .iter()
        .enumerate()
        {
            set_mtime(&root.join(p), 1_500_000_000 + i as i64, 123_456_789);
        }
        fs::set_permissions(
            v.join("laravel/framework/src"),
            fs::Permissions::from_mode(0o555),
        )
        .unwrap();
        let set = tmp.path().join("backups/set1");
        Install {
            _tmp: tmp,
            root,
            set,
        }
    }
    fn run(&self, args: &[&str]) -> Run {
        let mut a = vec!["--root", self.root.to_str().unwrap()];
        a.extend_from_slice(args);
        run(TOOL, &a)
    }
    fn set(&self) -> &str {
        self.set.to_str().unwrap()
    }
}

/// Mess vendor/ up the ways a failed composer install does, and app/ too.
fn mess_up(root: &Path) {
    let v = root.join("vendor");
    fs::write(v.join("autoload.php"), b"<?php // new release\n").unwrap();
    fs::set_permissions(
        v.join("laravel/framework/src"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::remove_file(v.join("laravel/framework/src/Big.php")).unwrap();
    fs::write(v.join("laravel/framework/src/New.php"), b"new").unwrap();
    fs::remove_file(v.join("bin/big")).unwrap();
    fs::write(v.join("bin/big"), b"not a link any more").unwrap();
    std::os::unix::fs::chown(v.join("laravel"), Some(0), Some(0)).unwrap();
    fs::set_permissions(v.join("bin/tool"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::create_dir_all(v.join("symfony/console")).unwrap();
    fs::write(v.join("symfony/console/App.php"), b"x").unwrap();
    fs::write(
        root.join("app/a.php"),
        b"<?php // changed after the snapshot\n",
    )
    .unwrap();
    fs::write(root.join("app/b.php"), b"<?php // added\n").unwrap();
}

#[test]
fn restore_tree_only_vendor_puts_it_back_exactly_and_leaves_the_rest() {
    let f = Install::new();
    f.run(&["snapshot", "--into", f.set()]).assert_ok();
    let vendor_before = describe_with_top(&f.root.join("vendor"));

    mess_up(&f.root);
    let messed_vendor = describe_with_top(&f.root.join("vendor"));
    assert_ne!(messed_vendor, vendor_before);
    let app = describe(&f.root.join("app"));
    let env = fs::read(f.root.join(".env")).unwrap();

    // A dry run changes nothing and says what it would do.
    let r = f.run(&[
        "--dry-run",
        "restore-tree",
        "--from",
        f.set(),
        "--only",
        "vendor",
    ]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["plan"][0]["action"], "restore");
    assert_eq!(
        r.data()["plan"][0]["path"],
        f.root.join("vendor").display().to_string()
    );
    assert_eq!(describe_with_top(&f.root.join("vendor")), messed_vendor);

    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "vendor"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["paths"][0]["path"], "vendor");
    assert_eq!(r.data()["paths"][0]["action"], "replace");
    assert_eq!(r.data()["verified"], true);
    assert_eq!(
        describe_with_top(&f.root.join("vendor")),
        vendor_before,
        "vendor/ as the snapshot had it: types, links, modes, owners, mtimes, sha256s"
    );
    // Everything else untouched.
    assert_eq!(describe(&f.root.join("app")), app);
    assert_eq!(fs::read(f.root.join(".env")).unwrap(), env);
    assert!(
        temporaries(&f.root).is_empty(),
        "{:?}",
        temporaries(&f.root)
    );
    let names: Vec<String> = fs::read_dir(f.root.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("dfkit")), "{names:?}");

    // Again: nothing to do, nothing rewritten.
    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "vendor"]);
    r.assert_ok();
    assert!(!r.changed());
    assert_eq!(r.data()["paths"][0]["action"], "same");

    // vendor/ gone altogether (rm -rf vendor): it comes back.
    fs::set_permissions(
        f.root.join("vendor/laravel/framework/src"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::remove_dir_all(f.root.join("vendor")).unwrap();
    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "./vendor/"]);
    r.assert_ok();
    assert_eq!(r.data()["paths"][0]["action"], "create");
    assert_eq!(describe_with_top(&f.root.join("vendor")), vendor_before);
}

#[test]
fn restore_tree_of_the_whole_tree_removes_what_the_snapshot_lacks_and_keeps_excluded_paths() {
    let f = Install::new();
    f.run(&["snapshot", "--into", f.set(), "--exclude", "storage/logs"])
        .assert_ok();
    let before = describe(&f.root);
    mess_up(&f.root);
    fs::write(f.root.join("storage/logs/y.log"), b"new log\n").unwrap();
    fs::write(f.root.join("new-top-file"), b"x").unwrap();
    // .env's copy is sealed (0600) in the set; the restore gives it back its own mode.
    assert_eq!(
        fs::metadata(Path::new(f.set()).join("tree/.env"))
            .unwrap()
            .mode()
            & 0o7777,
        0o600
    );
    fs::write(f.root.join(".env"), b"APP_KEY=changed\n").unwrap();
    fs::set_permissions(f.root.join(".env"), fs::Permissions::from_mode(0o640)).unwrap();
    let logs = describe(&f.root.join("storage/logs"));

    let r = f.run(&["restore-tree", "--from", f.set()]);
    r.assert_ok();
    assert_eq!(r.data()["kept"], serde_json::json!(["storage"]));
    let after = describe(&f.root);
    let strip = |v: Vec<(String, String)>| -> Vec<(String, String)> {
        v.into_iter()
            .filter(|(p, _)| !p.starts_with("/storage"))
            .collect()
    };
    assert_eq!(strip(after), strip(before));
    assert!(!f.root.join("new-top-file").exists());
    // Restored as the snapshot holds it: a second run finds .env the same.
    let again = f.run(&["restore-tree", "--from", f.set(), "--only", ".env"]);
    again.assert_ok();
    assert!(!again.changed(), "{}", again.stdout);
    assert_eq!(
        describe(&f.root.join("storage/logs")),
        logs,
        "excluded: left alone"
    );

    // --only a path the snapshot left out: 66; a path holding one: 64. Nothing changes.
    let now = describe(&f.root);
    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "storage/logs"]);
    r.assert_code(66);
    hint_ok(&r);
    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "storage"]);
    r.assert_code(64);
    hint_ok(&r);
    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "../etc"]);
    r.assert_code(64);
    assert_eq!(describe(&f.root), now);
}

#[test]
fn restore_tree_refuses_a_root_that_is_not_an_install() {
    let f = Install::new();
    f.run(&["snapshot", "--into", f.set()]).assert_ok();
    let other = tempfile::tempdir().unwrap();
    fs::write(other.path().join("keep"), b"x").unwrap();
    let r = run(
        TOOL,
        [
            "--root",
            other.path().to_str().unwrap(),
            "restore-tree",
            "--from",
            f.set(),
        ],
    );
    r.assert_code(66);
    hint_ok(&r);
    assert!(other.path().join("keep").exists());
}

#[test]
fn restore_tree_refuses_a_set_without_a_complete_snapshot() {
    let f = Install::new();
    // No set at all, a set without a tree: 66.
    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "vendor"]);
    r.assert_code(66);
    hint_ok(&r);
    f.run(&["save", "--into", f.set()]).assert_ok();
    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "vendor"]);
    r.assert_code(66);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no tree snapshot"));
    hint_ok(&r);

    f.run(&["snapshot", "--into", f.set()]).assert_ok();
    mess_up(&f.root);
    let messed = describe(&f.root);

    // A tree that no longer holds what its meta recorded: 65, nothing touched.
    fs::write(f.set.join("tree/vendor/extra.php"), b"x").unwrap();
    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "vendor"]);
    r.assert_code(65);
    hint_ok(&r);
    assert_eq!(describe(&f.root), messed);
    fs::remove_file(f.set.join("tree/vendor/extra.php")).unwrap();

    // A tree without its meta (an interrupted snapshot): 66, nothing touched.
    fs::rename(f.set.join("tree.meta.json"), f.set.join("meta.bak")).unwrap();
    let r = f.run(&["restore-tree", "--from", f.set(), "--only", "vendor"]);
    r.assert_code(66);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("incomplete"));
    assert_eq!(describe(&f.root), messed);
    fs::rename(f.set.join("meta.bak"), f.set.join("tree.meta.json")).unwrap();
    f.run(&["restore-tree", "--from", f.set(), "--only", "vendor"])
        .assert_ok();
}
