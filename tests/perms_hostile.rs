//! Hostile trees under storage/ for the two walks root makes over it: df-perms, and
//! df-artisan's hand-back of root-owned files (driven through `df-artisan run` with a
//! stand-in php). In every case: nothing outside the root changes, nothing crashes (one
//! JSON object, a documented exit code), and every skip is reported.

mod support;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, symlink, MetadataExt};
use std::path::Path;
use std::process::Command;
use support::bins::{bin, run, run_command, Run};
use support::trees::{self, install, snapshot, stamp, Install, WWW};

fn perms(i: &Install) -> Run {
    let root = i.root.display().to_string();
    run("df-perms", ["--root", &root, "--user", "www-data"])
}

/// The sweep: as root on a tree storage/ of which belongs to www-data, `run` switches to
/// www-data and hands root-owned entries back before and after PHP.
fn sweep(i: &Install) -> Run {
    let mut c = Command::new(bin("df-artisan"));
    c.arg("--root").arg(&i.root).arg("--php").arg(&i.php);
    c.args(["run", "--", "about"]);
    run_command(c)
}

fn skipped_paths(r: &Run, reason: &str) -> Vec<String> {
    r.data()["skipped_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn symlink_loops_are_never_entered() {
    let i = install(WWW);
    let s = i.root.join("storage");
    symlink(".", s.join("self")).unwrap();
    symlink("../..", s.join("logs/up")).unwrap();
    symlink("loop-b", s.join("loop-a")).unwrap();
    symlink("loop-a", s.join("loop-b")).unwrap();
    symlink(&s, s.join("logs/abs-storage")).unwrap();
    let outside = snapshot(i.tmp.path().join("df/config").as_path());
    let r = perms(&i);
    r.assert_ok();
    // storage, logs, framework, cache, data + 5 symlinks (+ bootstrap/cache).
    assert_eq!(r.data()["targets"][0]["scanned"], 10, "{}", r.json);
    for l in ["self", "logs/up", "loop-a", "loop-b", "logs/abs-storage"] {
        let md = fs::symlink_metadata(s.join(l)).unwrap();
        assert!(md.file_type().is_symlink());
        assert_eq!(
            (md.uid(), md.gid()),
            (WWW, WWW),
            "{l}: its own owner is set"
        );
    }
    assert_eq!(snapshot(&i.root.join("config")), outside);
    // The sweep over the same loops (root-owned symlinks go to www-data, nothing else).
    let i = install(WWW);
    let s = i.root.join("storage");
    symlink(".", s.join("self")).unwrap();
    symlink("loop-b", s.join("loop-a")).unwrap();
    symlink("loop-a", s.join("loop-b")).unwrap();
    let r = sweep(&i);
    r.assert_ok();
    for l in ["self", "loop-a", "loop-b"] {
        assert_eq!(fs::symlink_metadata(s.join(l)).unwrap().uid(), WWW, "{l}");
    }
}

#[test]
fn a_symlink_to_etc_shadow_changes_only_the_link() {
    let shadow = Path::new("/etc/shadow");
    let before = stamp(shadow);
    for which in ["perms", "sweep"] {
        let i = install(WWW);
        let s = i.root.join("storage");
        symlink(shadow, s.join("shadow")).unwrap();
        symlink("/etc", s.join("logs/etc")).unwrap();
        let r = if which == "perms" {
            perms(&i)
        } else {
            sweep(&i)
        };
        r.assert_ok();
        assert_eq!(stamp(shadow), before, "{which} changed /etc/shadow");
        let md = fs::symlink_metadata(s.join("shadow")).unwrap();
        assert_eq!(md.uid(), WWW, "{which}: the link itself is handed over");
        assert_eq!(fs::metadata("/etc").unwrap().uid(), 0);
    }
}

#[test]
fn a_hard_link_to_a_file_outside_is_skipped_and_reported() {
    for which in ["perms", "sweep"] {
        let i = install(WWW);
        // Outside the root, same filesystem, root-owned: the hard link's other name.
        let secret = i.tmp.path().join("secret");
        fs::write(&secret, "s").unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode_compat(0o600)).unwrap();
        let link = i.root.join("storage/logs/innocent.log");
        fs::hard_link(&secret, &link).unwrap();
        let before = stamp(&secret);
        let r = if which == "perms" {
            perms(&i)
        } else {
            sweep(&i)
        };
        r.assert_ok();
        assert_eq!(stamp(&secret), before, "{which} changed the file outside");
        let warned = r.json["warnings"].as_array().unwrap().iter().any(|w| {
            w.as_str().unwrap().contains("innocent.log")
                && w.as_str().unwrap().contains("hard link")
        });
        assert!(warned, "{which}: the skip is a warning: {}", r.json);
        if which == "perms" {
            assert_eq!(r.data()["skipped_by_reason"]["hard_link"], 1);
            assert_eq!(
                skipped_paths(&r, "hard_link"),
                [fs::canonicalize(&link).unwrap().display().to_string()]
            );
        }
    }
}

/// Permissions from a mode (a tiny shim so the loop above reads plainly).
trait ModeCompat {
    fn from_mode_compat(m: u32) -> fs::Permissions;
}
impl ModeCompat for fs::Permissions {
    fn from_mode_compat(m: u32) -> fs::Permissions {
        std::os::unix::fs::PermissionsExt::from_mode(m)
    }
}

#[test]
fn names_with_newlines_and_invalid_utf8_are_handled_and_reported() {
    let names: [&[u8]; 4] = [
        b"new\nline",
        b"\xff\xfe-bad-utf8",
        b"-starts-with-dash",
        b" sp ace\t",
    ];
    for which in ["perms", "sweep"] {
        let i = install(WWW);
        let s = i.root.join("storage/logs");
        for n in names {
            let p = s.join(OsStr::from_bytes(n));
            fs::create_dir(&p).unwrap();
            fs::write(p.join(OsStr::from_bytes(n)), "x").unwrap();
        }
        // A skipped entry with such a name is listed (lossy) and warned about.
        let other = i.tmp.path().join("other");
        fs::write(&other, "x").unwrap();
        fs::hard_link(&other, s.join(OsStr::from_bytes(b"link\n\xff"))).unwrap();
        let r = if which == "perms" {
            perms(&i)
        } else {
            sweep(&i)
        };
        r.assert_ok();
        for n in names {
            let d = s.join(OsStr::from_bytes(n));
            assert_eq!(
                fs::symlink_metadata(&d).unwrap().uid(),
                WWW,
                "{which} {d:?}"
            );
            assert_eq!(
                fs::symlink_metadata(d.join(OsStr::from_bytes(n)))
                    .unwrap()
                    .uid(),
                WWW,
                "{which} {d:?}"
            );
        }
        if which == "perms" {
            assert_eq!(r.data()["errors"], 0);
            let listed = skipped_paths(&r, "hard_link");
            assert_eq!(listed.len(), 1, "{}", r.json);
            assert!(listed[0].ends_with("logs/link\n\u{fffd}"), "{listed:?}");
            assert_eq!(
                fs::symlink_metadata(s.join(OsStr::from_bytes(b"new\nline")))
                    .unwrap()
                    .mode()
                    & 0o7777,
                0o2775
            );
        }
        assert_eq!(stamp(&other).0, 0);
    }
}

const DEPTH: usize = 5000;

/// Run a tool with at most 256 open descriptors.
fn low_nofile(tool: &str, args: &[&OsStr]) -> Run {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(bin(tool))
        .args(args);
    run_command(c)
}

#[test]
fn a_tree_5000_deep_is_walked_completely_under_a_low_descriptor_limit() {
    // df-perms: every level (deeper than PATH_MAX and than `ulimit -n`) gets owner and mode.
    // (On tmpfs when there is one: the same walk, without minutes of disk waits.)
    let i = trees::install_in(WWW, &trees::fast_tmp());
    let top = i.root.join("storage/framework/cache/data");
    trees::make_deep(&top, DEPTH, "d");
    let root = i.root.clone().into_os_string();
    let r = low_nofile(
        "df-perms",
        &[
            OsStr::new("--root"),
            &root,
            OsStr::new("--user"),
            OsStr::new("www-data"),
        ],
    );
    r.assert_ok();
    eprintln!("df-perms deep: {} ms", r.json["duration_ms"]);
    assert_eq!(r.data()["errors"], 0);
    assert_eq!(r.data()["skipped"], 0, "{}", r.json);
    // storage, logs, framework, cache, data, the chain, the leaf (+ bootstrap/cache: 1).
    assert_eq!(r.data()["targets"][0]["scanned"], (5 + DEPTH + 1) as u64);
    let levels = trees::deep_meta(&top, DEPTH, "d");
    assert!(
        levels.iter().all(|m| *m == (WWW, WWW, 0o2775)),
        "some level not fixed"
    );
    // A second run writes nothing.
    let again = low_nofile(
        "df-perms",
        &[
            OsStr::new("--root"),
            &root,
            OsStr::new("--user"),
            OsStr::new("www-data"),
        ],
    );
    again.assert_ok();
    assert!(!again.changed());
    trees::remove_deep(&top, DEPTH, "d");

    // The sweep: a root-owned chain under www-data's storage/ is handed back, whole.
    let i = trees::install_in(WWW, &trees::fast_tmp());
    let top = i.root.join("storage/logs");
    trees::make_deep(&top, DEPTH, "d");
    let mut args: Vec<&OsStr> = vec![OsStr::new("--root"), i.root.as_os_str()];
    args.extend([OsStr::new("--php"), i.php.as_os_str()]);
    args.extend(["run", "--", "about"].map(OsStr::new));
    let r = low_nofile("df-artisan", &args);
    eprintln!("df-artisan deep: {} ms", r.json["duration_ms"]);
    r.assert_ok();
    assert!(r.changed(), "handing files back is a change: {}", r.json);
    let levels = trees::deep_meta(&top, DEPTH, "d");
    assert!(
        levels.iter().all(|m| (m.0, m.1) == (WWW, WWW)),
        "some level still root-owned"
    );
    assert!(
        levels[..DEPTH].iter().all(|m| m.2 == 0o755),
        "the sweep changes no mode"
    );
    trees::remove_deep(&top, DEPTH, "d");
}

#[test]
fn nothing_outside_the_root_moves_in_any_of_these_trees() {
    // All the above at once, with owner flags and split modes, compared entry by entry.
    let i = install(0);
    let s = i.root.join("storage");
    let outside = i.tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("f"), "x").unwrap();
    chown(&outside, Some(0), Some(0)).unwrap();
    symlink(&outside, s.join("out-dir")).unwrap();
    symlink(outside.join("f"), s.join("out-file")).unwrap();
    fs::hard_link(outside.join("f"), s.join("hard")).unwrap();
    symlink("out-dir/../out-dir", s.join("logs/twisty")).unwrap();
    let before = snapshot(&outside);
    let root = i.root.display().to_string();
    let r = run(
        "df-perms",
        [
            "--root",
            &root,
            "--user",
            "12345",
            "--group",
            "12345",
            "--dir-mode",
            "2770",
            "--file-mode",
            "0660",
        ],
    );
    r.assert_ok();
    assert_eq!(snapshot(&outside), before);
    assert_eq!(r.data()["skipped"], 1);
    assert_eq!(stamp(&s.join("logs")).0, 12345);
}
