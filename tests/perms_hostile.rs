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

/// Plant every shallow hostile case under storage/: symlink loops, links to /etc/shadow
/// and /etc, a symlink to a root-owned directory outside, a hard link to a root-owned
/// 0600 file outside, names with newlines and invalid UTF-8. Returns the outside dir.
fn plant(i: &Install) -> std::path::PathBuf {
    let s = i.root.join("storage");
    symlink(".", s.join("self")).unwrap();
    symlink("loop-b", s.join("loop-a")).unwrap();
    symlink("loop-a", s.join("loop-b")).unwrap();
    symlink("../..", s.join("logs/up")).unwrap();
    symlink("/etc/shadow", s.join("shadow")).unwrap();
    symlink("/etc", s.join("logs/etc")).unwrap();
    let outside = i.tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), "s").unwrap();
    fs::set_permissions(
        outside.join("secret"),
        fs::Permissions::from_mode_compat(0o600),
    )
    .unwrap();
    symlink(&outside, s.join("out-dir")).unwrap();
    fs::hard_link(outside.join("secret"), s.join("logs/innocent.log")).unwrap();
    for n in [&b"new\nline"[..], b"\xff\xfe-bad-utf8"] {
        let p = s.join("logs").join(OsStr::from_bytes(n));
        fs::create_dir(&p).unwrap();
        fs::write(p.join(OsStr::from_bytes(n)), "x").unwrap();
    }
    outside
}

/// [`snapshot`] of everything under `top` but `except` (a chain too deep for paths).
fn snapshot_except(
    top: &Path,
    except: &Path,
) -> std::collections::BTreeMap<std::path::PathBuf, trees::Stamp> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![top.to_path_buf()];
    while let Some(p) = todo.pop() {
        if p == except {
            continue;
        }
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
        out.insert(p.clone(), stamp(&p));
    }
    out
}

fn low_nofile_env(tool: &str, args: &[&OsStr], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(bin(tool))
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run_command(c)
}

/// The dry run over every hostile case at once (5,000 levels deep included, many threads,
/// 256 descriptors): nothing changes anywhere, every skip is reported, and the real run
/// that follows does exactly what the dry run said.
#[test]
fn the_dry_run_of_a_hostile_tree_changes_nothing_and_predicts_the_real_run() {
    let i = trees::install_in(WWW, &trees::fast_tmp());
    let outside = plant(&i);
    let deep = i.root.join("storage/framework/cache/data");
    trees::make_deep(&deep, DEPTH, "d");
    let shadow = stamp(Path::new("/etc/shadow"));
    // Everything but the chain (too deep for a path-based look): by path, and the chain
    // level by level through descriptors.
    let chain = deep.join("d");
    let shallow = |i: &Install| snapshot_except(i.tmp.path(), &chain);
    let before = shallow(&i);
    let deep_before = trees::deep_meta(&deep, DEPTH, "d");
    let root = i.root.clone().into_os_string();
    let args = |dry: bool| {
        let mut a = vec![OsStr::new("--root"), &root, OsStr::new("--user")];
        a.push(OsStr::new("www-data"));
        if dry {
            a.push(OsStr::new("--dry-run"));
        }
        a
    };
    let threads = [("DFKIT_WALK_THREADS", "16")];
    let dry = low_nofile_env("df-perms", &args(true), &threads);
    dry.assert_ok();
    assert_eq!(shallow(&i), before, "the dry run changed something");
    assert_eq!(trees::deep_meta(&deep, DEPTH, "d"), deep_before);
    assert_eq!(stamp(Path::new("/etc/shadow")), shadow);
    let d = dry.data();
    assert!(
        dry.changed(),
        "a dry run with work to do says so: {}",
        dry.json
    );
    assert_eq!(d["errors"], 0);
    assert_eq!(d["skipped_by_reason"]["hard_link"], 1, "{}", dry.json);
    assert_eq!(
        skipped_paths(&dry, "hard_link"),
        [fs::canonicalize(i.root.join("storage/logs/innocent.log"))
            .unwrap()
            .display()
            .to_string()]
    );
    assert!(d["plan"].as_array().is_some_and(|p| !p.is_empty()));

    let real = low_nofile_env("df-perms", &args(false), &threads);
    real.assert_ok();
    for k in [
        "scanned",
        "chowned",
        "chmodded",
        "skipped",
        "skipped_by_reason",
    ] {
        assert_eq!(
            real.data()[k],
            d[k],
            "{k}: the dry run predicted the real run"
        );
    }
    assert_eq!(real.data()["skipped_entries"], d["skipped_entries"]);
    assert_eq!(stamp(Path::new("/etc/shadow")), shadow);
    assert_eq!(fs::metadata("/etc").unwrap().uid(), 0);
    let after = snapshot(&outside);
    assert_eq!(
        after,
        before
            .into_iter()
            .filter(|(p, _)| p.starts_with(&outside))
            .collect()
    );
    assert!(trees::deep_meta(&deep, DEPTH, "d")
        .iter()
        .all(|m| *m == (WWW, WWW, 0o2775)));
    trees::remove_deep(&deep, DEPTH, "d");
}

/// df-backup-env snapshot's walk (lib/tree.rs) over the same hostile tree: links are
/// copied as links (never followed), the hard-linked file outside keeps its owner and
/// 0600 in the copy, odd names survive, and nothing outside the root changes.
#[test]
fn a_snapshot_of_a_hostile_tree_copies_links_as_links_and_changes_nothing_outside() {
    let i = install(WWW);
    let outside = plant(&i);
    let shadow = stamp(Path::new("/etc/shadow"));
    let before = snapshot(&outside);
    let set = i.tmp.path().join("set");
    let r = run(
        "df-backup-env",
        [
            OsStr::new("--root"),
            i.root.as_os_str(),
            OsStr::new("snapshot"),
            OsStr::new("--into"),
            set.as_os_str(),
        ],
    );
    r.assert_ok();
    assert_eq!(snapshot(&outside), before);
    assert_eq!(stamp(Path::new("/etc/shadow")), shadow);
    let tree = set.join("tree");
    for (l, to) in [
        ("storage/self", "."),
        ("storage/loop-a", "loop-b"),
        ("storage/shadow", "/etc/shadow"),
        ("storage/logs/etc", "/etc"),
    ] {
        assert_eq!(fs::read_link(tree.join(l)).unwrap(), Path::new(to), "{l}");
    }
    assert!(fs::symlink_metadata(tree.join("storage/out-dir"))
        .unwrap()
        .file_type()
        .is_symlink());
    let copy = fs::symlink_metadata(tree.join("storage/logs/innocent.log")).unwrap();
    assert_eq!((copy.uid(), copy.mode() & 0o7777), (0, 0o600));
    for n in [&b"new\nline"[..], b"\xff\xfe-bad-utf8"] {
        let p = tree.join("storage/logs").join(OsStr::from_bytes(n));
        assert_eq!(fs::read(p.join(OsStr::from_bytes(n))).unwrap(), b"x");
    }
}

/// The snapshot of a tree 5,000 levels deep (deeper than PATH_MAX): no crash (it used
/// to overflow its stack), but a refusal — one JSON object, exit 65 — with nothing
/// half-done: no tree and no temporary left in the set, even under `ulimit -n 256`.
#[test]
fn a_snapshot_of_a_tree_5000_deep_is_refused_cleanly() {
    let i = trees::install_in(WWW, &trees::fast_tmp());
    let deep = i.root.join("storage/logs");
    trees::make_deep(&deep, DEPTH, "d");
    let set = i.tmp.path().join("set");
    let r = low_nofile_env(
        "df-backup-env",
        &[
            OsStr::new("--root"),
            i.root.as_os_str(),
            OsStr::new("snapshot"),
            OsStr::new("--into"),
            set.as_os_str(),
        ],
        &[],
    );
    r.assert_code(65);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too deep")),
        "{}",
        r.json
    );
    let left: Vec<_> = fs::read_dir(&set)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the set: {left:?}");
    trees::remove_deep(&deep, DEPTH, "d");
}
