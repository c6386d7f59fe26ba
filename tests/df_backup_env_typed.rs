//! df-backup-env's reports read back as the typed `Report<D>` the wrappers deserialize,
//! field for field, and the sidecars as `EnvMeta` / `TreeMeta`.

mod support;

use dfkit::backup_set::env_meta::EnvMeta;
use dfkit::backup_set::tree_meta::TreeMeta;
use dfkit::report::data::backup_env::*;
use dfkit::report::Report;
use dfkit::secret::Fingerprint;
use serde::de::DeserializeOwned;
use std::fs;
use support::bins::run;

const KEY: &str = "base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k=";
const OLD: &str = "base64:q0ZbO2nC0xk3Lq3o8l0Yl5gWkq8bE5oI0mC0yq4mQ3s=";

fn typed<D: DeserializeOwned>(args: &[&str]) -> Report<D> {
    let r = run("df-backup-env", args);
    r.assert_ok();
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn every_subcommand_reads_back_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("df");
    fs::create_dir_all(root.join("config")).unwrap();
    fs::create_dir_all(root.join("vendor/a")).unwrap();
    fs::write(root.join("vendor/a/f.php"), b"<?php").unwrap();
    fs::write(root.join("artisan"), b"#!/usr/bin/env php\n").unwrap();
    fs::write(
        root.join("config/app.php"),
        "<?php return ['cipher' => 'AES-256-CBC'];\n",
    )
    .unwrap();
    fs::write(
        root.join(".env"),
        format!("APP_KEY={OLD}\nDB_CONNECTION=pgsql\n"),
    )
    .unwrap();
    let (r, set) = (root.to_str().unwrap(), tmp.path().join("set"));
    let s = set.to_str().unwrap();

    let save: Report<SaveData> = typed(&["--root", r, "save", "--into", s]);
    assert_eq!(save.data.set, s);
    assert_eq!(
        save.data.summary.app_key_fingerprint,
        Some(Fingerprint::of(OLD).0)
    );
    assert_eq!(
        save.data.summary.app_key.as_deref(),
        Some("base64, 32 bytes")
    );
    assert_eq!(save.data.summary.cipher.name, "AES-256-CBC");
    assert_eq!(save.data.summary.cipher.source, "config/app.php");
    assert_eq!(save.data.summary.db_connection.as_deref(), Some("pgsql"));
    assert!(save.data.plan.is_none());
    let meta: EnvMeta =
        serde_json::from_slice(&fs::read(set.join("env.meta.json")).unwrap()).unwrap();
    assert_eq!(meta.sha256, save.data.sha256);
    assert_eq!(meta.bytes, save.data.bytes);
    assert_eq!(meta.summary, save.data.summary);

    let show: Report<ShowData> = typed(&["--root", r, "show"]);
    assert!(show.data.app_key_valid);
    assert_eq!(show.data.entries.len(), 2);
    assert_eq!(show.data.entries[0].value, Some(Fingerprint::of(OLD).0));

    fs::write(
        root.join(".env"),
        format!("APP_KEY={KEY}\nDB_CONNECTION=pgsql\n"),
    )
    .unwrap();
    let dry: Report<RestoreKeyData> =
        typed(&["--root", r, "--dry-run", "restore-key", "--from", s]);
    let plan = dry.data.plan.unwrap();
    assert_eq!(plan[0].action, "edit");
    assert_eq!(
        plan[0].path.as_deref(),
        Some(root.join(".env").to_str().unwrap())
    );
    let rk: Report<RestoreKeyData> = typed(&["--root", r, "restore-key", "--from", s]);
    assert!(rk.changed);
    assert_eq!(rk.data.keys[0].after, Some(Fingerprint::of(OLD).0));
    assert_eq!(rk.data.keys[0].before, Some(Fingerprint::of(KEY).0));

    let rs: Report<RestoreData> = typed(&["--root", r, "restore", "--from", s]);
    assert!(!rs.changed);
    assert!(rs.data.verified);
    assert!(rs.data.previous.is_none());

    let snap: Report<SnapshotData> = typed(&["--root", r, "snapshot", "--into", s]);
    assert!(snap.data.verified);
    let tmeta: TreeMeta =
        serde_json::from_slice(&fs::read(set.join("tree.meta.json")).unwrap()).unwrap();
    assert_eq!(tmeta.counts, snap.data.counts);
    let kept: Report<SnapshotData> = typed(&["--root", r, "snapshot", "--into", s]);
    assert_eq!(kept.data.existing, Some(tmeta));

    let rt: Report<RestoreTreeData> =
        typed(&["--root", r, "restore-tree", "--from", s, "--only", "vendor"]);
    assert!(!rt.changed);
    assert_eq!(rt.data.paths[0].action, "same");
    assert_eq!(rt.data.paths[0].counts.files, 1);
    assert_eq!(rt.data.only, ["vendor"]);
}
