//! df-verify only reads: run as root on an install owned by another user, it runs PHP
//! as that user and leaves root-owned files where they are (handing them back is
//! df-artisan's and df-perms' job, not a check's). Needs root.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use support::bins::run;
use support::sandbox::{self, Sandbox};

#[test]
fn verify_leaves_root_owned_files_alone() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (CI runs as root)"
    );
    let opts = sandbox::Options {
        owner: Some("www-data:www-data".into()),
        ..Default::default()
    };
    let sb = Sandbox::with("sqlite", None, &opts);
    std::fs::set_permissions(sb.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = &sb.root;
    assert_eq!(std::fs::metadata(root.join("storage")).unwrap().uid(), 33);

    // Root-owned leftovers of someone's `sudo php artisan`: a file, and a directory
    // with a file, under storage/ and bootstrap/cache/.
    let planted = [
        root.join("storage/logs/planted.log"),
        root.join("storage/framework/cache/data/zz"),
        root.join("storage/framework/cache/data/zz/entry"),
        root.join("bootstrap/cache/planted.php"),
    ];
    std::fs::create_dir_all(&planted[1]).unwrap();
    std::fs::write(&planted[0], "x").unwrap();
    std::fs::write(&planted[2], "x").unwrap();
    std::fs::write(&planted[3], "<?php return [];").unwrap();
    for p in &planted {
        std::os::unix::fs::chown(p, Some(0), Some(0)).unwrap();
    }
    let modes: Vec<u32> = planted
        .iter()
        .map(|p| std::fs::symlink_metadata(p).unwrap().mode())
        .collect();

    let r = run(
        "df-verify",
        [
            "--root",
            root.to_str().unwrap(),
            "--only",
            "artisan",
            "--only",
            "migrations",
        ],
    );
    // PHP ran (as www-data): the checks that need it are not skipped.
    let checks = r.data()["checks"].to_string();
    assert!(checks.contains("artisan"), "{}", r.stdout);
    assert!(!r.changed(), "{}", r.stdout);
    for (p, mode) in planted.iter().zip(modes) {
        let md = std::fs::symlink_metadata(p).unwrap();
        assert_eq!(
            md.uid(),
            0,
            "df-verify changed the owner of {}",
            p.display()
        );
        assert_eq!(
            md.gid(),
            0,
            "df-verify changed the group of {}",
            p.display()
        );
        assert_eq!(
            md.mode(),
            mode,
            "df-verify changed the mode of {}",
            p.display()
        );
    }
}
