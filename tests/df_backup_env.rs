//! df-backup-env: save, show, restore-key, restore and snapshot, checked on the files
//! afterwards (bytes, modes, owners, inodes, mtimes), never only on `ok`.

mod support;
use support::listing::describe;

use dfkit::secret::Fingerprint;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::bins::{run, Run};

const TOOL: &str = "df-backup-env";
const APP_KEY: &str = "base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k=";
const OLD_KEY: &str = "base64:q0ZbO2nC0xk3Lq3o8l0Yl5gWkq8bE5oI0mC0yq4mQ3s=";
const DB_PASSWORD: &str = "s3cr#t pass\"word";

/// A DreamFactory-style .env: section comments, commented-out defaults, quoting, export,
/// a duplicate, CRLF line ends and no final newline.
fn dreamfactory_env(app_key: &str) -> String {
    [
        "##==============================================================================",
        "## Environment Settings",
        "##==============================================================================",
        "APP_NAME=DreamFactory",
        "APP_ENV=local",
        &format!("APP_KEY={app_key}"),
        "APP_DEBUG=false",
        "#APP_LOG_LEVEL=warning",
        "APP_URL=http://127.0.0.1",
        "",
        "## Database Settings",
        "DB_CONNECTION=mysql",
        "DB_HOST=127.0.0.1",
        "DB_DATABASE=dreamfactory",
        "DB_USERNAME=df_admin",
        "DB_PASSWORD=\"s3cr#t pass\\\"word\"",
        "#DB_CHARSET=utf8",
        "DF_SQLITE_STORAGE='storage/databases'",
        "export DF_INSTALL=GitHub",
        "CACHE_STORE=file",
        "DF_CACHE_PATH=\"${APP_URL}/cache\" # expanded",
        "APP_DEBUG=true",
    ]
    .join("\r\n")
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    set: PathBuf,
}

impl Fixture {
    fn new(env: &str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("dreamfactory");
        fs::create_dir(&root).unwrap();
        fs::write(root.join(".env"), env).unwrap();
        // An install's markers: restore and restore-key refuse a root that is not one.
        fs::write(root.join("artisan"), "<?php\n").unwrap();
        fs::write(root.join(".env-dist"), "APP_KEY=\n").unwrap();
        fs::create_dir(root.join("config")).unwrap();
        let set = tmp.path().join("backups/set1");
        Fixture {
            _tmp: tmp,
            root,
            set,
        }
    }
    fn env(&self) -> PathBuf {
        self.root.join(".env")
    }
    fn run(&self, args: &[&str]) -> Run {
        let mut a = vec!["--root", self.root.to_str().unwrap()];
        a.extend_from_slice(args);
        let r = run(TOOL, &a);
        assert_no_secrets(&r);
        r
    }
    fn set(&self) -> &str {
        self.set.to_str().unwrap()
    }
}

/// The literal APP_KEYs and DB_PASSWORD never reach stdout or stderr.
#[track_caller]
fn assert_no_secrets(r: &Run) {
    for s in [
        APP_KEY,
        OLD_KEY,
        DB_PASSWORD,
        "s3cr#t",
        "s3cr3t",
        "Wd4hV6oYqvEPi1Zlb",
        "q0ZbO2nC0xk3Lq3o",
    ] {
        assert!(
            !r.stdout.contains(s),
            "secret {s:?} on stdout: {}",
            r.stdout
        );
        assert!(
            !r.stderr.contains(s),
            "secret {s:?} on stderr: {}",
            r.stderr
        );
    }
}

fn sha256sum(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// (inode, mtime seconds, mtime nanoseconds)
fn stamp(p: &Path) -> (u64, i64, i64) {
    let m = fs::metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

/// Laravel's own reading of a .env (Debian's phpdotenv), as a map.
fn phpdotenv(dir: &Path) -> serde_json::Map<String, Value> {
    let script =
        "set_include_path('/usr/share/php'); require '/usr/share/php/Illuminate/autoload.php'; \
                  echo json_encode(Dotenv\\Dotenv::createArrayBacked($argv[1])->load());";
    let out = Command::new("php")
        .args(["-r", script, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

#[test]
fn save_copies_byte_exact_0600_into_0700_set_with_meta() {
    let f = Fixture::new(&dreamfactory_env(APP_KEY));
    let src = fs::read(f.env()).unwrap();

    // A dry run creates nothing and says what it would write.
    let r = f.run(&["--dry-run", "save", "--into", f.set()]);
    r.assert_ok();
    assert!(r.changed());
    assert!(!f.set.exists());
    let plan = r.data()["plan"].as_array().unwrap();
    assert!(plan.iter().any(|p| p["path"] == format!("{}/env", f.set())));

    let r = f.run(&["save", "--into", f.set()]);
    r.assert_ok();
    assert!(r.changed());
    let copy = f.set.join("env");
    assert_eq!(fs::read(&copy).unwrap(), src, "byte-exact copy");
    assert_eq!(mode(&copy), 0o600);
    assert_eq!(mode(&f.set), 0o700);
    let meta: Value =
        serde_json::from_slice(&fs::read(f.set.join("env.meta.json")).unwrap()).unwrap();
    assert_eq!(mode(&f.set.join("env.meta.json")), 0o600);
    assert_eq!(meta["sha256"], sha256sum(&copy));
    assert_eq!(meta["bytes"], src.len());
    assert_eq!(meta["app_key_fingerprint"], Fingerprint::of(APP_KEY).0);
    assert_eq!(meta["db_connection"], "mysql");
    assert_eq!(
        meta["fingerprints"]["DB_PASSWORD"],
        Fingerprint::of(DB_PASSWORD).0
    );
    let keys: Vec<&str> = meta["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(keys.contains(&"DF_INSTALL") && keys.contains(&"DF_CACHE_PATH"));
    assert!(!keys.contains(&"APP_LOG_LEVEL"), "commented out");
    // The duplicate is reported, in the run and in the meta.
    let dup = |w: &Value| w.as_str().unwrap().contains("APP_DEBUG is defined 2 times");
    assert!(r.json["warnings"].as_array().unwrap().iter().any(dup));
    assert!(meta["warnings"].as_array().unwrap().iter().any(dup));

    // Again: nothing to do, nothing rewritten.
    let before = stamp(&copy);
    let r = f.run(&["save", "--into", f.set()]);
    r.assert_ok();
    assert!(!r.changed());
    assert_eq!(stamp(&copy), before);

    // A different .env into the same set is refused: that backup may be the one needed.
    fs::write(f.env(), dreamfactory_env(OLD_KEY)).unwrap();
    f.run(&["save", "--into", f.set()]).assert_code(73);
    assert_eq!(fs::read(&copy).unwrap(), src);
    f.run(&["save", "--into", f.set(), "--replace"]).assert_ok();
    assert_eq!(fs::read(&copy).unwrap(), fs::read(f.env()).unwrap());
}

#[test]
fn save_refuses_a_missing_or_malformed_app_key() {
    for env in [
        "APP_NAME=x\nDB_CONNECTION=sqlite\n",
        "APP_KEY=base64:c2hvcnQ=\nDB_CONNECTION=sqlite\n",
    ] {
        let f = Fixture::new(env);
        let r = f.run(&["save", "--into", f.set()]);
        r.assert_code(65);
        assert!(r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("APP_KEY"));
        assert!(r.json["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("--allow-invalid-key"));
        assert!(!f.set.exists(), "nothing created");
        let r = f.run(&["save", "--into", f.set(), "--allow-invalid-key"]);
        r.assert_ok();
        assert_eq!(fs::read(f.set.join("env")).unwrap(), env.as_bytes());
        assert!(r.json["warnings"].to_string().contains("APP_KEY"));
    }
}

#[test]
fn a_line_laravel_rejects_is_65_naming_file_and_line_and_nothing_is_touched() {
    let env = "APP_KEY=base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k=\n# c\nDB_CONNECTION=mysql\n\nDB_PASSWORD=s3cr3t pass word\n";
    let f = Fixture::new(env);
    let old = Fixture::new(&dreamfactory_env(OLD_KEY));
    old.run(&["save", "--into", old.set()]).assert_ok();
    let before = stamp(&f.env());
    for args in [
        vec!["save", "--into", f.set()],
        vec!["show"],
        vec!["restore-key", "--from", old.set()],
    ] {
        let r = f.run(&args);
        r.assert_code(65);
        let msg = r.json["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("{} line 5", f.env().display())),
            "{msg}"
        );
        assert_eq!(r.data()["line"], 5);
    }
    assert_eq!(fs::read(f.env()).unwrap(), env.as_bytes());
    assert_eq!(stamp(&f.env()), before);
    assert!(!f.set.exists());

    // Invalid UTF-8 names its line too.
    fs::write(f.env(), b"APP_NAME=x\r\nAPP_URL=caf\xe9\r\n").unwrap();
    let r = f.run(&["show"]);
    r.assert_code(65);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line 2"));
}

#[test]
fn missing_env_is_66() {
    let f = Fixture::new("");
    fs::remove_file(f.env()).unwrap();
    let old = Fixture::new(&dreamfactory_env(OLD_KEY));
    old.run(&["save", "--into", old.set()]).assert_ok();
    for args in [
        vec!["save", "--into", f.set()],
        vec!["show"],
        vec!["restore-key", "--from", old.set()],
    ] {
        f.run(&args).assert_code(66);
    }
    assert!(!f.env().exists());
    run(TOOL, ["--root", "/nonexistent/dfkit", "show"]).assert_code(66);
}

#[test]
fn show_prints_values_and_fingerprints() {
    let f = Fixture::new(&dreamfactory_env(APP_KEY));
    let r = f.run(&["show"]);
    r.assert_ok();
    assert!(!r.changed());
    let vars = &r.data()["vars"];
    assert_eq!(vars["APP_KEY"], Fingerprint::of(APP_KEY).0);
    assert_eq!(vars["DB_PASSWORD"], Fingerprint::of(DB_PASSWORD).0);
    assert_eq!(vars["APP_DEBUG"], "true", "the last definition wins");
    assert_eq!(vars["DF_CACHE_PATH"], "http://127.0.0.1/cache");
    assert_eq!(vars["DF_SQLITE_STORAGE"], "storage/databases");
    assert_eq!(vars["DF_INSTALL"], "GitHub");
    assert_eq!(r.data()["app_key_valid"], true);
    // The same values as Laravel's own parser (secrets compared by fingerprint).
    let laravel = phpdotenv(&f.root);
    assert_eq!(laravel.len(), vars.as_object().unwrap().len());
    for (k, v) in &laravel {
        let v = v.as_str().unwrap();
        let want = if dfkit::secret::is_secret_key(k) {
            Fingerprint::of(v).0
        } else {
            v.to_string()
        };
        assert_eq!(vars[k], want, "{k}");
    }

    // Warnings name the key and line.
    let f = Fixture::new(&format!(
        "APP_KEY={APP_KEY}\nDB_DRIVER=mysql\nCACHE_DRIVER=redis\nDB_PASSWORD=abc#def\n"
    ));
    let r = f.run(&["show"]);
    let w = r.json["warnings"].to_string();
    assert!(w.contains("DB_PASSWORD (line 4)"), "{w}");
    assert!(
        w.contains("DB_DRIVER is set but DB_CONNECTION is not"),
        "{w}"
    );
    assert!(
        w.contains("CACHE_DRIVER is set but CACHE_STORE is not"),
        "{w}"
    );
    assert_eq!(r.data()["vars"]["DB_PASSWORD"], Fingerprint::of("abc").0);
}

/// The bytes of a file split around the line that starts with `prefix`.
fn around(bytes: &[u8], prefix: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let at = bytes
        .windows(prefix.len())
        .position(|w| w == prefix.as_bytes())
        .unwrap();
    let end = at
        + bytes[at..]
            .iter()
            .position(|b| *b == b'\r' || *b == b'\n')
            .unwrap_or(bytes.len() - at);
    (
        bytes[..at].to_vec(),
        bytes[at..end].to_vec(),
        bytes[end..].to_vec(),
    )
}

#[test]
fn restore_key_changes_only_the_app_key_line() {
    let old = Fixture::new(&dreamfactory_env(OLD_KEY));
    old.run(&["save", "--into", old.set()]).assert_ok();

    // The new server's .env: its own layout and key, owned by someone else, 0640.
    let new_env = format!(
        "# fresh install\r\nAPP_NAME=DreamFactory\r\nAPP_KEY={APP_KEY}\r\nDB_CONNECTION=sqlite\r\nDB_PASSWORD=\"s3cr#t pass\\\"word\"\r\n# end"
    );
    let f = Fixture::new(&new_env);
    fs::set_permissions(f.env(), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(f.env(), Some(4242), Some(4343)).unwrap();
    let before = fs::read(f.env()).unwrap();
    let st = stamp(&f.env());

    let r = f.run(&["--dry-run", "restore-key", "--from", old.set()]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["plan"][0]["action"], "edit");
    assert_eq!(fs::read(f.env()).unwrap(), before);
    assert_eq!(stamp(&f.env()), st);

    let r = f.run(&["restore-key", "--from", old.set()]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["keys"][0]["before"], Fingerprint::of(APP_KEY).0);
    assert_eq!(r.data()["keys"][0]["after"], Fingerprint::of(OLD_KEY).0);
    let after = fs::read(f.env()).unwrap();
    let (a0, l0, z0) = around(&before, "APP_KEY=");
    let (a1, l1, z1) = around(&after, "APP_KEY=");
    assert_eq!(a0, a1, "every byte before the line");
    assert_eq!(z0, z1, "every byte after the line");
    assert_ne!(l0, l1);
    assert_eq!(l1, format!("APP_KEY={OLD_KEY}").as_bytes());
    let md = fs::metadata(f.env()).unwrap();
    assert_eq!(
        (md.mode() & 0o7777, md.uid(), md.gid()),
        (0o640, 4242, 4343)
    );
    // Laravel reads the old key now.
    assert_eq!(phpdotenv(&f.root)["APP_KEY"], OLD_KEY);

    // Again: changed false, and the file is not even rewritten.
    let st = stamp(&f.env());
    let r = f.run(&["restore-key", "--from", old.set()]);
    r.assert_ok();
    assert!(!r.changed());
    assert_eq!(stamp(&f.env()), st);
    assert_eq!(fs::read(f.env()).unwrap(), after);

    // Other keys by name, from a plain file too.
    let r = f.run(&[
        "restore-key",
        "--from",
        old.set.join("env").to_str().unwrap(),
        "--key",
        "DB_CONNECTION",
        "--key",
        "DF_INSTALL",
    ]);
    r.assert_ok();
    assert!(r.changed());
    let laravel = phpdotenv(&f.root);
    assert_eq!(laravel["DB_CONNECTION"], "mysql");
    assert_eq!(laravel["DF_INSTALL"], "GitHub");
    assert_eq!(laravel["DB_PASSWORD"], DB_PASSWORD);
    assert!(fs::read(f.env())
        .unwrap()
        .ends_with(b"\r\n# end\r\nDF_INSTALL=GitHub"));

    // A key the backup lacks: 66, nothing written.
    let st = stamp(&f.env());
    f.run(&["restore-key", "--from", old.set(), "--key", "NOPE_KEY"])
        .assert_code(66);
    assert_eq!(stamp(&f.env()), st);
}

#[test]
fn restore_verifies_the_sha256_before_touching_anything() {
    let f = Fixture::new(&dreamfactory_env(OLD_KEY));
    f.run(&["save", "--into", f.set()]).assert_ok();
    let saved = fs::read(f.env()).unwrap();
    fs::write(f.env(), dreamfactory_env(APP_KEY)).unwrap();
    fs::set_permissions(f.env(), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(f.env(), Some(4242), Some(4343)).unwrap();
    let current = fs::read(f.env()).unwrap();

    // A tampered copy (same size, one byte changed) is refused.
    let copy = f.set.join("env");
    let mut bad = saved.clone();
    bad[10] ^= 1;
    fs::write(&copy, &bad).unwrap();
    let st = stamp(&f.env());
    let r = f.run(&["restore", "--from", f.set()]);
    r.assert_code(65);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    assert_eq!(fs::read(f.env()).unwrap(), current);
    assert_eq!(stamp(&f.env()), st);
    // Also through the file path itself, which has its meta beside it.
    f.run(&["restore", "--from", copy.to_str().unwrap()])
        .assert_code(65);
    assert_eq!(stamp(&f.env()), st);

    // The intact copy is restored, byte for byte, keeping mode and owner; the replaced
    // .env is kept beside it.
    fs::write(&copy, &saved).unwrap();
    let r = f.run(&["--dry-run", "restore", "--from", f.set()]);
    assert!(r.changed());
    assert_eq!(stamp(&f.env()), st);
    let r = f.run(&["restore", "--from", f.set()]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(fs::read(f.env()).unwrap(), saved);
    let md = fs::metadata(f.env()).unwrap();
    assert_eq!(
        (md.mode() & 0o7777, md.uid(), md.gid()),
        (0o640, 4242, 4343)
    );
    let kept = PathBuf::from(r.data()["previous"]["kept_at"].as_str().unwrap());
    assert_eq!(fs::read(&kept).unwrap(), current);
    assert_eq!(mode(&kept), 0o640);

    let st = stamp(&f.env());
    let r = f.run(&["restore", "--from", f.set()]);
    r.assert_ok();
    assert!(!r.changed());
    assert_eq!(stamp(&f.env()), st);

    // No .env at all: it comes back with the mode and owner it had when saved.
    fs::remove_file(f.env()).unwrap();
    fs::remove_file(&kept).unwrap();
    let r = f.run(&["restore", "--from", f.set()]);
    r.assert_ok();
    assert_eq!(fs::read(f.env()).unwrap(), saved);
    let src_md: Value =
        serde_json::from_slice(&fs::read(f.set.join("env.meta.json")).unwrap()).unwrap();
    let md = fs::metadata(f.env()).unwrap();
    assert_eq!(
        format!("{:04o}", md.mode() & 0o7777),
        src_md["source_mode"].as_str().unwrap()
    );
    assert_eq!(md.uid() as u64, src_md["source_uid"].as_u64().unwrap());
}

#[test]
fn snapshot_keeps_modes_owners_symlinks_hardlinks_and_mtimes() {
    let f = Fixture::new(&dreamfactory_env(APP_KEY));
    let r = &f.root;
    fs::create_dir_all(r.join("storage/framework/cache")).unwrap();
    fs::create_dir_all(r.join("bootstrap/cache")).unwrap();
    fs::create_dir_all(r.join("vendor/laravel")).unwrap();
    fs::create_dir_all(r.join("public")).unwrap();
    fs::write(r.join("vendor/laravel/big.php"), vec![b'x'; 300_000]).unwrap();
    fs::write(r.join("storage/framework/cache/data"), b"cached").unwrap();
    fs::write(r.join("public/index.php"), b"<?php echo 1;").unwrap();
    fs::write(r.join("artisan"), b"#!/usr/bin/env php\n").unwrap();
    fs::set_permissions(r.join("artisan"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(r.join("storage"), fs::Permissions::from_mode(0o2775)).unwrap();
    fs::set_permissions(
        r.join("public/index.php"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    fs::set_permissions(r.join("bootstrap/cache"), fs::Permissions::from_mode(0o555)).unwrap();
    // A file and a directory owned by another user, a symlink owned by another user.
    std::os::unix::fs::chown(
        r.join("storage/framework/cache/data"),
        Some(4242),
        Some(4343),
    )
    .unwrap();
    std::os::unix::fs::chown(r.join("storage/framework"), Some(4242), Some(4343)).unwrap();
    std::os::unix::fs::symlink("../storage/framework", r.join("public/storage")).unwrap();
    std::os::unix::fs::lchown(r.join("public/storage"), Some(4242), Some(0)).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", r.join("dangling")).unwrap();
    fs::hard_link(r.join("public/index.php"), r.join("public/index-copy.php")).unwrap();
    // Times from the past, with nanoseconds.
    for p in [
        "artisan",
        "public",
        "storage/framework/cache/data",
        "public/storage",
        "",
    ] {
        let c = std::ffi::CString::new(r.join(p).to_str().unwrap()).unwrap();
        let ts = [
            libc::timespec {
                tv_sec: 1_500_000_000,
                tv_nsec: 123_456_789,
            },
            libc::timespec {
                tv_sec: 1_600_000_000,
                tv_nsec: 987_654_321,
            },
        ];
        assert_eq!(
            unsafe {
                libc::utimensat(
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    ts.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            },
            0
        );
    }
    let mut want = describe(r);
    want.retain(|(p, _)| !p.starts_with("/vendor"));

    let r1 = f.run(&[
        "--dry-run",
        "snapshot",
        "--into",
        f.set(),
        "--exclude",
        "vendor",
    ]);
    r1.assert_ok();
    assert!(!f.set.exists());
    assert_eq!(r1.data()["entries"], want.len());

    let out = f.run(&["snapshot", "--into", f.set(), "--exclude", "vendor"]);
    out.assert_ok();
    assert!(out.changed());
    let tree = f.set.join("tree");
    // The copies of top-level .env files hold secrets: 0600 in the set, their own
    // modes recorded in tree.meta.json's `sealed`; everything else as in the install.
    let mut sealed = serde_json::Map::new();
    let want_copy: Vec<(String, String)> = want
        .iter()
        .map(|(p, w)| {
            if p == "/.env" || p == "/.env-dist" {
                let mode = fs::metadata(f.root.join(&p[1..])).unwrap().mode() & 0o7777;
                sealed.insert(p[1..].to_string(), format!("{mode:04o}").into());
                let sealed_line = w.replacen(&format!("mode {mode:o} "), "mode 600 ", 1);
                assert_ne!(&sealed_line, w, "{w}");
                (p.clone(), sealed_line)
            } else {
                (p.clone(), w.clone())
            }
        })
        .collect();
    assert_eq!(describe(&tree), want_copy, "the copy matches the install");
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(f.set.join("tree.meta.json")).unwrap()).unwrap();
    assert_eq!(meta["sealed"], serde_json::Value::Object(sealed));
    // The top directory too, but private: 0700.
    let (a, b) = (fs::metadata(&f.root).unwrap(), fs::metadata(&tree).unwrap());
    assert_eq!((a.mtime(), a.mtime_nsec()), (b.mtime(), b.mtime_nsec()));
    assert_eq!(b.mode() & 0o7777, 0o700);

    let d = out.data();
    let files = want.iter().filter(|(_, w)| w.starts_with("file")).count();
    assert_eq!(d["entries"], want.len());
    assert_eq!(d["files"], files);
    assert_eq!(d["symlinks"], 2);
    assert_eq!(d["hardlinks"], 1);
    assert_eq!(d["excluded"], serde_json::json!(["vendor"]));
    let bytes: u64 = [
        "storage/framework/cache/data",
        "public/index.php",
        "public/index-copy.php",
        "artisan",
        ".env",
        ".env-dist",
    ]
    .iter()
    .map(|p| fs::metadata(f.root.join(p)).unwrap().len())
    .sum();
    assert_eq!(d["bytes"], bytes);
    let meta: Value =
        serde_json::from_slice(&fs::read(f.set.join("tree.meta.json")).unwrap()).unwrap();
    assert_eq!(meta["entries"], want.len());
    assert_eq!(meta["bytes"], bytes);
    assert_eq!(meta["excluded"], serde_json::json!(["vendor"]));
    // No temp directory left in the set.
    let names: Vec<String> = fs::read_dir(&f.set)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("dfkit-tmp")), "{names:?}");

    // Again: the existing snapshot is kept.
    let st = stamp(&f.set.join("tree.meta.json"));
    let again = f.run(&["snapshot", "--into", f.set(), "--exclude", "vendor"]);
    again.assert_ok();
    assert!(!again.changed());
    assert_eq!(stamp(&f.set.join("tree.meta.json")), st);
    // --replace takes a new one, now with vendor.
    let again = f.run(&["snapshot", "--into", f.set(), "--replace"]);
    again.assert_ok();
    assert!(again.changed());
    assert_eq!(
        fs::read(tree.join("vendor/laravel/big.php")).unwrap().len(),
        300_000
    );
}

#[test]
fn snapshot_into_a_set_inside_the_root_does_not_copy_itself() {
    let f = Fixture::new(&dreamfactory_env(APP_KEY));
    fs::create_dir(f.root.join("app")).unwrap();
    fs::write(f.root.join("app/a.php"), b"a").unwrap();
    let set = f.root.join("backups/now");
    let r = f.run(&["snapshot", "--into", set.to_str().unwrap()]);
    r.assert_ok();
    let tree = set.join("tree");
    assert!(tree.join("app/a.php").is_file());
    assert!(tree.join("backups").is_dir());
    assert!(!tree.join("backups/now").exists());
    assert_eq!(r.data()["excluded"], serde_json::json!(["backups/now"]));
}

/// The migration the guide describes, for real: the new server's database holds data
/// encrypted with the old APP_KEY; after restore-key, Laravel decrypts it.
#[test]
fn restore_key_makes_the_old_data_readable_on_a_new_install() {
    use support::sandbox::{Sandbox, SERVICE_SECRET};
    let old = Sandbox::new("sqlite", None);
    let new = Sandbox::new("sqlite", None);
    assert_ne!(old.app_key(), new.app_key());
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("set");
    let r = run(
        TOOL,
        [
            "--root",
            old.root.to_str().unwrap(),
            "save",
            "--into",
            set.to_str().unwrap(),
        ],
    );
    r.assert_ok();
    assert!(!r.stdout.contains(&old.app_key()) && !r.stderr.contains(&old.app_key()));

    // "Import the dump": the old database on the new server.
    fs::copy(old.sqlite_path(), new.sqlite_path()).unwrap();
    let out = new.read_secret();
    assert!(
        !out.status.success(),
        "the new key cannot decrypt the old data"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("MAC is invalid")
            || String::from_utf8_lossy(&out.stderr).contains("MAC is invalid")
    );

    let before = fs::read(new.env_path()).unwrap();
    let r = run(
        TOOL,
        [
            "--root",
            new.root.to_str().unwrap(),
            "restore-key",
            "--from",
            set.to_str().unwrap(),
        ],
    );
    r.assert_ok();
    assert!(r.changed());
    assert!(!r.stdout.contains(&old.app_key()) && !r.stderr.contains(&old.app_key()));
    assert!(!r.stdout.contains(&new.app_key()) && !r.stderr.contains(&new.app_key()));
    let after = fs::read(new.env_path()).unwrap();
    let (a0, _, z0) = around(&before, "APP_KEY=");
    let (a1, _, z1) = around(&after, "APP_KEY=");
    assert_eq!((a0, z0), (a1, z1));

    let out = new.read_secret();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(SERVICE_SECRET));
}
