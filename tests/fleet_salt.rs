//! scripts/salt/ run for real: `salt-call --local` with salt from PyPI
//! (scripts/fleet-venv.sh) applies the dfkit.upgrade state to a sandbox install. The
//! state is cmd.run with `stateful`: Salt lifts the tool's `changed` and `comment` from
//! its JSON report; test mode runs the same command with --check.

mod support;
use serde_json::{json, Value};
use support::fleet::{bin_dir, salt_call, salt_config, Host};
use support::sandbox::{V1_VERSION, V2_VERSION};
use support::upgrade::{full_dump, install_listing};

fn pillar(h: &Host, root: &std::path::Path, set: &str) -> String {
    json!({"dfkit": {
        "bin_dir": bin_dir(),
        "root": root,
        "env": {"DFKIT_LOCK_DIR": h.locks},
        "upgrade_args": [
            "--skip", "restart", "--user", "www-data", "--group", "www-data",
            "--into", h.sets.join(set),
        ],
    }})
    .to_string()
}

/// Test mode: would change (result None, the dry run's comment), nothing changed. Then
/// for real: changed, comment = df-upgrade's msg, HEAD at v2 with v2's migration. Then
/// unchanged (no changes, result True). A failing run: result False, the tool's msg as
/// comment, and salt-call exits non-zero.
#[test]
fn state_test_mode_then_changed_then_unchanged() {
    let h = Host::new("minion");
    let dir = tempfile::tempdir().unwrap();
    let cfg = salt_config(dir.path());
    let apply = |set: &str, extra: &[&str]| {
        let pillar = format!("pillar={}", pillar(&h, &h.sb.root, set));
        let mut args = vec!["state.apply", "dfkit.upgrade", pillar.as_str()];
        args.extend_from_slice(extra);
        salt_call(&cfg, &args)
    };
    let before = (
        h.sb.head(),
        install_listing(&h.sb.root),
        full_dump(&h.sb, None),
    );

    let (code, st) = apply("test", &["test=True"]);
    assert_eq!(code, 0, "{st}");
    assert_eq!(st["result"], Value::Null, "would change: {st}");
    assert_eq!(st["changes"]["dry_run"], true, "ran with --check: {st}");
    assert_eq!(st["changes"]["changed"], true, "{st}");
    let comment = st["comment"].as_str().unwrap();
    assert!(comment.starts_with("would upgrade"), "{comment}");
    assert_eq!(st["changes"]["msg"], comment);
    let after = (
        h.sb.head(),
        install_listing(&h.sb.root),
        full_dump(&h.sb, None),
    );
    assert_eq!(after, before, "test mode changed nothing");
    assert!(!h.sets.join("test").exists());

    let (code, st) = apply("one", &[]);
    assert_eq!(code, 0, "{st}");
    assert_eq!(st["result"], true, "{st}");
    assert_eq!(st["changes"]["changed"], true, "{st}");
    assert_eq!(st["changes"]["dry_run"], false, "{st}");
    assert_eq!(st["comment"], st["changes"]["msg"], "{st}");
    assert!(
        st["comment"].as_str().unwrap().starts_with("upgraded"),
        "{st}"
    );
    assert_eq!(h.sb.head(), h.sb.tag_commit("v2"));
    assert_eq!(h.sb.version(), V2_VERSION);
    let status = h.sb.artisan_ok(&["migrate:status"]);
    assert!(status.contains("create_app_table"), "{status}");
    assert!(h.sets.join("one/manifest.json").exists());

    let (code, st) = apply("two", &[]);
    assert_eq!(code, 0, "{st}");
    assert_eq!(st["result"], true, "{st}");
    assert_eq!(st["changes"], json!({}), "unchanged: {st}");
    assert!(
        st["comment"].as_str().unwrap().contains("nothing to do"),
        "{st}"
    );
    assert!(!h.sets.join("two").exists());

    // A failure: the tool's msg is the state's comment.
    let missing = h.sb.tmp.path().join("no-such-install");
    let pillar = format!("pillar={}", pillar(&h, &missing, "bad"));
    let (code, st) = salt_call(&cfg, &["state.apply", "dfkit.upgrade", pillar.as_str()]);
    assert_ne!(code, 0, "{st}");
    assert_eq!(st["result"], false, "{st}");
    let comment = st["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("no DreamFactory install at") && comment.contains("no-such-install"),
        "{comment}"
    );
    assert_eq!(h.sb.head(), h.sb.tag_commit("v2"));
    assert_ne!(h.sb.version(), V1_VERSION);
}
