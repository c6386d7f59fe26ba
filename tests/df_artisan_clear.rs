//! `df-artisan clear` without booting PHP (issue 11): on the stock file store its effect
//! on disk is artisan's own, tree state by tree state, and everything unusual goes
//! through artisan. Needs root (www-data ownership, a run as www-data).

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::bins::{run_command, run_env, Run};
use support::sandbox::{self, Sandbox};

const WWW: u32 = 33;

fn sandbox() -> Sandbox {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (CI runs as root)"
    );
    let opts = sandbox::Options {
        owner: Some("www-data:www-data".into()),
        ..Default::default()
    };
    let sb = Sandbox::with("sqlite", None, &opts);
    std::fs::set_permissions(sb.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    sb
}

/// A copy of the install (owners, modes and all) in a fresh directory of the sandbox.
fn copy(sb: &Sandbox, name: &str) -> PathBuf {
    let dir = sb.tmp.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    let st = Command::new("cp")
        .args(["-a", "--"])
        .arg(&sb.root)
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    dir.join(sb.root.file_name().unwrap())
}

fn clear(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut a = vec!["--root", root.to_str().unwrap(), "clear"];
    a.extend_from_slice(args);
    run_env("df-artisan", a, env)
}

/// What the guide runs: `php artisan cache:clear && php artisan config:clear`, as the
/// web user (the owner of storage/).
fn artisans_own(root: &Path) {
    for cmd in ["cache:clear", "config:clear"] {
        let out = Command::new("php")
            .args(["artisan", "--no-interaction", cmd])
            .current_dir(root)
            .uid(WWW)
            .gid(WWW)
            .env("HOME", "/nonexistent")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Everything under the install: names, types, link targets, sizes and contents, modes
/// and owners (not times: the two copies are cleared at different moments).
fn listing(root: &Path) -> Vec<(String, String)> {
    support::listing::describe(root)
        .into_iter()
        .map(|(p, d)| {
            let d = d.split(" mtime ").next().unwrap().to_string();
            (p, d)
        })
        .collect()
}

fn put(root: &Path, rel: &str, body: &str, mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_www(root: &Path, rel: &str) {
    let st = Command::new("chown")
        .args(["-R", "www-data:www-data"])
        .arg(root.join(rel))
        .status()
        .unwrap();
    assert!(st.success());
}

const CACHE: &str = "storage/framework/cache";
const DATA: &str = "storage/framework/cache/data";

/// The tree states: file-cache entries (nested, private modes), loose and dot-named files
/// and a dot-named directory in data/, real-time facade files among other files, an empty
/// cache, data/ missing.
/// A tree state: its name, the file-cache entries it holds, and how to make it.
type State = (&'static str, u64, fn(&Path));

fn states() -> Vec<State> {
    vec![
        ("empty cache", 0, |_| {}),
        ("entries", 6, |r| {
            put(
                r,
                &format!("{DATA}/ab/cd/abcd0123"),
                "9999999999s:1:\"x\";",
                0o644,
            );
            put(
                r,
                &format!("{DATA}/ef/01/ef01beef"),
                "9999999999i:7;",
                0o600,
            );
            std::fs::set_permissions(
                r.join(DATA).join("ef"),
                std::fs::Permissions::from_mode(0o700),
            )
            .unwrap();
        }),
        ("loose and dot-named", 3, |r| {
            put(r, &format!("{DATA}/loose.txt"), "not an entry", 0o640);
            put(r, &format!("{DATA}/.hidden/x"), "Finder skips me", 0o644);
            put(
                r,
                &format!("{DATA}/12/34/1234aaaa"),
                "9999999999b:1;",
                0o644,
            );
        }),
        ("facades", 0, |r| {
            put(
                r,
                &format!("{CACHE}/facade-0a1b2c.php"),
                "<?php // facade",
                0o644,
            );
            put(
                r,
                &format!("{CACHE}/my-facade-x.php"),
                "<?php // also",
                0o644,
            );
            put(
                r,
                &format!("{CACHE}/.facade-hidden.php"),
                "<?php // dot",
                0o644,
            );
            put(r, &format!("{CACHE}/facade-x.txt"), "kept", 0o644);
            put(r, &format!("{CACHE}/other.php"), "<?php // kept", 0o644);
            put(
                r,
                &format!("{CACHE}/sub/facade-deep.php"),
                "<?php // depth 1",
                0o644,
            );
        }),
        ("data missing, facades", 0, |r| {
            std::fs::remove_dir_all(r.join(DATA)).unwrap();
            put(
                r,
                &format!("{CACHE}/facade-0a1b2c.php"),
                "<?php // facade",
                0o644,
            );
        }),
    ]
}

/// Each tree state: artisan's own commands on one copy, `df-artisan clear` (direct) on
/// another — the two installs are then identical.
#[test]
fn direct_clear_is_artisans_own() {
    let sb = sandbox();
    for (i, (state, entries, make)) in states().into_iter().enumerate() {
        let a = copy(&sb, &format!("artisan-{i}"));
        let d = copy(&sb, &format!("direct-{i}"));
        for r in [&a, &d] {
            make(r);
            chown_www(r, "storage");
        }
        let before = listing(&d);
        artisans_own(&a);
        let r = clear(&d, &[], &[]);
        r.assert_ok();
        assert_eq!(r.data()["direct"], true, "{state}: {}", r.stdout);
        assert!(
            !r.data()["steps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.get("command").is_some()),
            "{state}: no PHP run: {}",
            r.stdout
        );
        assert_eq!(r.data()["cache_entries_removed"], entries, "{state}");
        assert_eq!(r.data()["config_cache_removed"], false);
        assert_eq!(r.data()["cache_store"], "file");
        let after_artisan = listing(&a);
        assert_eq!(after_artisan, listing(&d), "{state}: artisan vs direct");
        assert_eq!(r.changed(), before != after_artisan, "{state}: changed");
        assert!(d.join(CACHE).join(".gitignore").exists(), "{state}");
        // Again: nothing left to do.
        let r = clear(&d, &[], &[]);
        assert!(!r.assert_ok().changed(), "{state}: {}", r.stdout);
    }
}

/// `--dry-run` plans the removals and removes nothing.
#[test]
fn direct_clear_dry_run_plans_the_removals() {
    let sb = sandbox();
    let (_, _, make) = states().into_iter().nth(1).unwrap();
    make(&sb.root);
    put(
        &sb.root,
        &format!("{CACHE}/facade-0a1b2c.php"),
        "<?php",
        0o644,
    );
    let before = listing(&sb.root);
    let r = clear(&sb.root, &["--dry-run"], &[]);
    assert!(r.assert_ok().changed());
    assert_eq!(r.data()["direct"], true);
    let paths: Vec<&str> = r.data()["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths[0].ends_with("data/ab") && paths[1].ends_with("data/ef"));
    assert!(paths[2].ends_with("cache/facade-0a1b2c.php"));
    assert_eq!(before, listing(&sb.root));
}

/// A store, config or listener dfkit does not reproduce sends `clear` through artisan:
/// `direct` is false, the PHP step ran, and artisan's effect is there.
#[test]
fn unusual_installs_go_through_artisan() {
    let sb = sandbox();
    let entry = |r: &Path| r.join(DATA).join("ab");
    let facade = |r: &Path| r.join(CACHE).join("facade-0a1b2c.php");
    let seed = |r: &Path| {
        put(
            r,
            &format!("{DATA}/ab/cd/abcd0123"),
            "9999999999i:1;",
            0o644,
        );
        put(r, &format!("{CACHE}/facade-0a1b2c.php"), "<?php", 0o644);
        chown_www(r, "storage");
    };
    let through_php = |r: &Run, why: &str| {
        assert_eq!(r.data()["direct"], false, "{why}: {}", r.stdout);
        assert_eq!(
            r.data()["steps"][0]["step"],
            "cache:clear + config:clear",
            "{why}"
        );
    };

    // A cached config: artisan removes it and empties the store.
    let root = copy(&sb, "config-cache");
    seed(&root);
    let r = run_env(
        "df-artisan",
        [
            "--root",
            root.to_str().unwrap(),
            "run",
            "--",
            "config:cache",
        ],
        &[],
    );
    r.assert_ok();
    let r = clear(&root, &[], &[]);
    through_php(r.assert_ok(), "config cache");
    assert_eq!(r.data()["config_cache_removed"], true);
    assert!(!root.join("bootstrap/cache/config.php").exists());
    assert!(!entry(&root).exists() && !facade(&root).exists());

    // CACHE_DRIVER=array: artisan flushes the array store; the file entries stay, the
    // facade files go (flushFacades does not depend on the store).
    let root = copy(&sb, "array");
    seed(&root);
    support::dotenv::set_env(&root, "CACHE_DRIVER", "array");
    let r = clear(&root, &[], &[]);
    through_php(r.assert_ok(), "array");
    assert_eq!(r.data()["cache_store"], "array");
    assert!(entry(&root).exists() && !facade(&root).exists());
    // The same from our environment (PHP inherits it; phpdotenv does not override it).
    support::dotenv::set_env(&root, "CACHE_DRIVER", "file");
    let r = clear(&root, &[], &[("CACHE_DRIVER", "array")]);
    through_php(r.assert_ok(), "array from the environment");
    assert_eq!(r.data()["cache_store"], "array");
    assert!(entry(&root).exists());

    // CACHE_DRIVER=redis: artisan runs, and fails (no redis here): nothing is removed.
    let root = copy(&sb, "redis");
    seed(&root);
    support::dotenv::set_env(&root, "CACHE_DRIVER", "redis");
    let r = clear(&root, &[], &[]);
    r.assert_code(1);
    through_php(&r, "redis");
    assert!(
        r.json["msg"]
            .as_str()
            .unwrap()
            .contains("cache:clear failed"),
        "{}",
        r.stdout
    );
    assert!(entry(&root).exists() && facade(&root).exists());

    // A listener in app/ for cache:cleared: artisan runs, events and all.
    let root = copy(&sb, "listener");
    seed(&root);
    put(
        &root,
        "app/Listeners/CacheCleared.php",
        "<?php\n// Event::listen('cache:cleared', fn () => logger('cleared'));\n",
        0o644,
    );
    let r = clear(&root, &[], &[]);
    through_php(r.assert_ok(), "listener");
    assert!(!entry(&root).exists() && !facade(&root).exists());

    // A file store elsewhere than the stock path.
    let root = copy(&sb, "path");
    seed(&root);
    let cfg = root.join("config/cache.php");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "storage_path('framework/cache/data')",
        "env('MY_CACHE_PATH', storage_path('framework/cache/data'))",
    );
    std::fs::write(&cfg, text).unwrap();
    let r = clear(&root, &[], &[]);
    assert_eq!(r.assert_ok().data()["direct"], true, "an unset variable");
    // Set, it names another directory: artisan empties that one.
    put(
        &root,
        "storage/framework/other-cache/ab/cd/x",
        "9999999999i:1;",
        0o644,
    );
    chown_www(&root, "storage");
    let other = root.join("storage/framework/other-cache");
    let r = clear(&root, &[], &[("MY_CACHE_PATH", other.to_str().unwrap())]);
    through_php(r.assert_ok(), "path from the environment");
    assert!(!other.join("ab").exists() && other.is_dir());

    // A symlink among the entries (Finder would call it a directory).
    let root = copy(&sb, "symlink");
    seed(&root);
    std::os::unix::fs::symlink("/nonexistent", root.join(DATA).join("zz")).unwrap();
    let r = clear(&root, &[], &[]);
    // artisan's flush stops at it (deleteDirectory fails) and says so, exit 0; dfkit's
    // check then finds the entries before it gone and reports success.
    through_php(&r, "symlink");
    assert!(!entry(&root).exists());

    // --artisan.
    let root = copy(&sb, "flag");
    seed(&root);
    let r = clear(&root, &["--artisan"], &[]);
    through_php(r.assert_ok(), "--artisan");
    assert_eq!(r.data()["cache_entries_removed"], 3);
    assert!(!entry(&root).exists() && !facade(&root).exists());
}

/// A removal that fails (EACCES: dfkit run as the web user, an entry owned by nobody):
/// the error says what was removed and what is left, with today's hint.
#[test]
fn a_failed_removal_says_what_is_left() {
    let sb = sandbox();
    let root = &sb.root;
    put(root, &format!("{DATA}/aa/00/aa00"), "9999999999i:1;", 0o644);
    put(root, &format!("{DATA}/ab/cd/abcd"), "9999999999i:2;", 0o644);
    put(root, &format!("{CACHE}/facade-0a1b2c.php"), "<?php", 0o644);
    chown_www(root, "storage");
    for p in ["ab", "ab/cd", "ab/cd/abcd"] {
        std::os::unix::fs::chown(root.join(DATA).join(p), Some(65534), Some(65534)).unwrap();
    }
    let mut c = Command::new(support::bins::bin("df-artisan"));
    c.args(["--root", root.to_str().unwrap(), "clear"])
        .uid(WWW)
        .gid(WWW)
        .env("HOME", "/nonexistent");
    let r = run_command(c);
    r.assert_code(1);
    assert_eq!(r.data()["direct"], true);
    assert!(r.changed(), "aa/ was removed: {}", r.stdout);
    assert_eq!(r.data()["cache_entries_removed"], 3);
    let msg = r.json["msg"].as_str().unwrap();
    assert!(
        msg.contains("data/ab") && msg.contains("3 of 6") && msg.contains("still there"),
        "{msg}"
    );
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("df-perms"));
    assert!(!root.join(DATA).join("aa").exists());
    assert!(root.join(DATA).join("ab/cd/abcd").exists());
    assert_eq!(
        std::fs::metadata(root.join(DATA).join("ab")).unwrap().uid(),
        65534
    );
}
