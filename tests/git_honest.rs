//! df-git-update tells the truth: a failed update leaves the tree exactly as before, local
//! commits are not dropped silently, odd but legal repositories (a branch named like a
//! tag, a dirty submodule) are handled, dry runs predict the real run, and the report
//! carries what the operator needs (downgrade, staleness, lock hints).

mod support;

use serde_json::Value;
use std::path::PathBuf;
use support::gitbed::{bed, strs, V2_MIGRATION};
use support::kills;

/// `chattr +i` a file; undone on drop (an immutable file would outlive the temp dir).
struct Immutable(PathBuf);

impl Immutable {
    fn set(p: PathBuf) -> Immutable {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&p)
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "chattr +i {} (needs root on ext4/xfs/btrfs)",
            p.display()
        );
        Immutable(p)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// The checkout fails after git wrote some of the target's files: everything the
/// half-done checkout wrote goes, the local edits come back, `git status` and the files'
/// bytes are as before.
fn failed_checkout_leaves_the_tree_as_before(start_at_v2: bool, args: &[&str]) {
    assert!(
        dfkit::users::is_root(),
        "this test runs as root (as CI does)"
    );
    let b = bed();
    if start_at_v2 {
        b.tool(&["update"]).assert_ok();
    }
    let mut edit = b.read("composer.json");
    edit.extend_from_slice(b"x\n");
    b.write("composer.json", &edit);
    // Staged, then edited again (`MM`): the index must come back as it was, too.
    b.git(&["add", "composer.json"]);
    edit.extend_from_slice(b"y\n");
    b.write("composer.json", &edit);
    b.write("notes.txt", b"my notes, untracked\n");
    let files = [
        "composer.json",
        "composer.lock",
        "config/app.php",
        "notes.txt",
    ];
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| b.read(f)).collect();
    let migration_before = b.root.join(V2_MIGRATION).exists();
    let before = b.snapshot();
    let porcelain = b.porcelain();
    let r = {
        let _lock = Immutable::set(b.root.join("config/app.php"));
        b.tool(args)
    };
    r.assert_code(1);
    assert!(!r.changed(), "{}", r.stdout);
    assert_eq!(r.data()["restored"], true, "{}", r.stdout);
    assert_eq!(b.porcelain(), porcelain);
    assert!(porcelain.contains("MM composer.json"), "{porcelain}");
    assert_eq!(b.snapshot(), before);
    for (f, want) in files.iter().zip(&bytes) {
        assert_eq!(&b.read(f), want, "{f}");
    }
    assert_eq!(
        b.root.join(V2_MIGRATION).exists(),
        migration_before,
        "the target's migration was left behind (or lost)"
    );
}

#[test]
fn failed_branch_update_leaves_no_file_of_the_new_release() {
    failed_checkout_leaves_the_tree_as_before(false, &["update"]);
}

#[test]
fn failed_tag_update_leaves_no_file_of_the_new_release() {
    failed_checkout_leaves_the_tree_as_before(false, &["update", "--ref", "v2"]);
}

#[test]
fn failed_update_with_untracked_files_stashed_puts_them_back() {
    failed_checkout_leaves_the_tree_as_before(false, &["update", "--include-untracked"]);
}

#[test]
fn failed_rollback_leaves_the_tree_as_before() {
    failed_checkout_leaves_the_tree_as_before(true, &["rollback", "--to", "v1"]);
}

#[test]
fn reports_deserialize_as_the_typed_data() {
    use dfkit::report::data::git::{StatusData, UpdateData};
    use dfkit::report::Report;
    let b = bed();
    b.write("public/index.php", b"<?php // local\n");
    let parse = |out: &str| serde_json::from_str::<Report<UpdateData>>(out).unwrap();
    let dry = parse(&b.tool(&["update", "--dry-run"]).stdout);
    assert_eq!(dry.data.new_commit.as_deref(), Some(b.v2.as_str()));
    assert_eq!(dry.data.plan.as_ref().unwrap().len(), 3);
    let up = parse(&b.tool(&["update"]).stdout);
    assert!(up.ok);
    assert_eq!(up.data.old_commit, b.v1);
    assert_eq!(up.data.new_version.as_deref(), Some("7.1.0"));
    assert_eq!(up.data.migrations_added, [V2_MIGRATION]);
    assert!(up.data.composer_lock_changed);
    assert!(up.data.stash.as_ref().unwrap().kept);
    let failed = parse(&b.tool(&["update", "--ref", "v9"]).stdout);
    assert!(!failed.ok);
    assert_eq!(failed.data.old_commit, b.v2);
    assert_eq!(failed.error.unwrap().exit_code, 66);
    let back = parse(&b.tool(&["rollback", "--to", &b.v1.clone()]).stdout);
    assert_eq!(back.data.to.as_deref(), Some(b.v1.as_str()));
    assert!(back.data.downgrade);
    let st: Report<StatusData> = serde_json::from_str(&b.tool(&["status"]).stdout).unwrap();
    assert_eq!(st.data.head, b.v1);
    assert_eq!(st.data.behind, Some(1));
}

#[test]
fn a_hotfix_on_a_detached_head_is_not_dropped_silently() {
    let b = bed();
    b.git(&["checkout", "-q", "--detach", "v1"]);
    b.write("public/index.php", b"<?php // hotfix\n");
    b.git(&["commit", "-q", "-am", "hotfix for the login page"]);
    let hotfix = b.head();
    let before = b.snapshot();
    for args in [
        vec!["update"],
        vec!["update", "--dry-run"],
        vec!["update", "--ref", "v2"],
    ] {
        let r = b.tool(&args);
        r.assert_code(1);
        let msg = r.json["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&hotfix[..12]), "{args:?}: {msg}");
        assert!(msg.contains("hotfix for the login page"), "{msg}");
        assert!(r.json["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("--leave-local-commits"));
        assert_eq!(b.snapshot(), before, "{args:?}");
    }
    // Told to go ahead: the commit is kept on a named ref and reported.
    let r = b.tool(&["update", "--leave-local-commits"]);
    r.assert_ok();
    assert_eq!(b.head(), b.v2);
    let left = r.data()["left_commits"].as_array().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["commit"], hotfix.as_str());
    let refs = strs(&r.data()["left_commits_refs"]);
    assert_eq!(refs.len(), 1);
    assert!(refs[0].starts_with("refs/dfkit/left/"), "{refs:?}");
    assert_eq!(b.git(&["rev-parse", &refs[0]]), hotfix);
    assert!(r.json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains(&refs[0])));
}

#[test]
fn rollback_past_a_local_commit_is_refused_naming_it() {
    let b = bed();
    b.tool(&["update"]).assert_ok();
    b.write("public/index.php", b"<?php // local commit\n");
    b.git(&["commit", "-q", "-am", "local tweak"]);
    let local = b.head();
    let before = b.snapshot();
    for args in [
        vec!["rollback", "--to", "v1"],
        vec!["rollback", "--to", "v1", "--dry-run"],
    ] {
        let r = b.tool(&args);
        r.assert_code(1);
        let msg = r.json["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&local[..12]) && msg.contains("local tweak"),
            "{msg}"
        );
        assert_eq!(b.snapshot(), before);
    }
    let r = b.tool(&["rollback", "--to", "v1", "--leave-local-commits"]);
    r.assert_ok();
    assert_eq!(b.head(), b.v1);
    assert_eq!(r.data()["left_commits"][0]["commit"], local.as_str());
    let kept = strs(&r.data()["left_commits_refs"]);
    assert_eq!(b.git(&["rev-parse", &kept[0]]), local);
}

#[test]
fn branch_named_like_a_tag_is_the_branch() {
    let b = bed();
    // origin has a branch v1 (at v2's commit) besides the tag v1.
    b.git_in(&b.origin, &["branch", "v1", &b.v2]);
    let r = b.tool(&["update", "--branch", "v1"]);
    r.assert_ok();
    // (`symbolic-ref --short` would say `heads/v1`: the name is ambiguous.)
    assert_eq!(b.git(&["symbolic-ref", "HEAD"]), "refs/heads/v1");
    assert_eq!(b.head(), b.v2);
    assert_eq!(r.data()["new_branch"], "v1");
    // Again, now that a local branch v1 exists too.
    b.git(&["checkout", "-q", "master"]);
    let r = b.tool(&["update", "--branch", "v1"]);
    r.assert_ok();
    assert_eq!(b.git(&["symbolic-ref", "HEAD"]), "refs/heads/v1");
    assert_eq!(b.head(), b.v2);
    // And status on that branch.
    let r = b.tool(&["status"]);
    r.assert_ok();
    assert_eq!(r.data()["branch"], "v1");
}

#[test]
fn dirty_submodule_is_reported_and_left_alone() {
    let b = bed();
    // A plugin repository, added to origin's master as a submodule.
    let plugin = b.tmp.path().join("plugin");
    std::fs::create_dir(&plugin).unwrap();
    b.git_in(&plugin, &["init", "-q", "-b", "main"]);
    std::fs::write(plugin.join("p.php"), "<?php // plugin\n").unwrap();
    b.git_in(&plugin, &["add", "-A"]);
    b.git_in(&plugin, &["commit", "-q", "-m", "plugin"]);
    let other = b.other_clone();
    b.git_in(
        &other,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            plugin.to_str().unwrap(),
            "plugins/p",
        ],
    );
    b.git_in(&other, &["commit", "-q", "-m", "add plugin"]);
    b.git_in(&other, &["push", "-q", "origin", "master"]);
    b.git(&["pull", "-q", "--ff-only"]);
    b.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "update",
        "-q",
        "--init",
    ]);
    // Someone edits the plugin in place; then a new commit lands on origin.
    let edited = b"<?php // plugin, edited in place\n";
    b.write("plugins/p/p.php", edited);
    b.write("public/index.php", b"<?php // local\n");
    let v3 = b.push_to_origin("README.md", "v3\n");

    let r = b.tool(&["update", "--reapply-stash"]);
    r.assert_ok();
    assert_eq!(b.head(), v3);
    assert_eq!(strs(&r.data()["submodules_dirty"]), ["plugins/p"]);
    assert_eq!(b.read("plugins/p/p.php"), edited);
    assert_eq!(b.read("public/index.php"), b"<?php // local\n");
    assert!(r.json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("plugins/p")));
    let r = b.tool(&["status"]);
    assert_eq!(
        strs(&r.data()["local_changes"]["submodules"]),
        ["plugins/p"]
    );

    // Only the submodule is dirty: nothing to stash, no internal error.
    b.git(&["checkout", "-q", "public/index.php"]);
    b.push_to_origin("README.md", "v4\n");
    let r = b.tool(&["update"]);
    r.assert_ok();
    assert_eq!(r.data()["stash"], Value::Null);
    assert_eq!(b.read("plugins/p/p.php"), edited);
}

#[test]
fn reapply_blocked_by_an_untracked_file_reports_the_whole_update() {
    let b = bed();
    b.write("public/index.php", b"<?php // local\n");
    // My own file where v2 adds one: stashed with --include-untracked, then in the way.
    b.write(V2_MIGRATION, b"<?php // mine\n");
    let r = b.tool(&["update", "--include-untracked", "--reapply-stash"]);
    r.assert_code(1);
    assert!(r.changed(), "{}", r.stdout);
    let d = r.data();
    assert_eq!(d["new_commit"], b.v2.as_str());
    assert_eq!(d["new_version"], "7.1.0");
    assert_eq!(strs(&d["migrations_added"]), [V2_MIGRATION]);
    assert_eq!(strs(&d["conflicts"]), [V2_MIGRATION]);
    assert_eq!(d["stash"]["kept"], true);
    let sha = d["stash"]["ref"].as_str().unwrap();
    assert!(r.json["error"]["hint"].as_str().unwrap().contains(sha));
    assert_eq!(b.git(&["stash", "list", "--format=%H"]), sha);
    assert_eq!(b.head(), b.v2);
    assert_eq!(b.porcelain(), "", "the tree is clean at the new commit");
    assert_eq!(b.read(V2_MIGRATION), b"<?php // add limits\n");
}

#[test]
fn dry_run_fails_where_the_real_run_would() {
    let b = bed();
    // 1. Diverged: local master has v2, origin was rewritten.
    b.git(&["merge", "-q", "--ff-only", "origin/master"]);
    b.rewrite_origin();
    let before = b.snapshot();
    let remote_refs = b.git(&["for-each-ref", "refs/remotes"]);
    let dry = b.tool(&["update", "--dry-run"]);
    dry.assert_code(1);
    assert!(dry.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("diverged"));
    let hint = dry.json["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("HEAD origin/master") && !hint.contains("REMOTE"),
        "{hint}"
    );
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.git(&["for-each-ref", "refs/remotes"]), remote_refs);
    let real = b.tool(&["update"]);
    real.assert_code(1);
    assert_eq!(real.json["error"]["hint"], dry.json["error"]["hint"]);
}

#[test]
fn dry_run_sees_untracked_files_in_the_way() {
    let b = bed();
    b.write(V2_MIGRATION, b"<?php // mine\n");
    let before = b.snapshot();
    let r = b.tool(&["update", "--dry-run"]);
    r.assert_code(1);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains(V2_MIGRATION));
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("--include-untracked"));
    b.tool(&["update"]).assert_code(1);
    assert_eq!(b.snapshot(), before);
    let r = b.tool(&["update", "--dry-run", "--include-untracked"]);
    r.assert_ok();
    assert!(strs(&r.data()["would_stash"]).contains(&V2_MIGRATION.to_string()));
}

#[test]
fn an_older_ref_is_reported_as_a_downgrade() {
    let b = bed();
    let r = b.tool(&["update"]);
    r.assert_ok();
    assert_eq!(r.data()["downgrade"], false);
    let r = b.tool(&["update", "--ref", "v1", "--dry-run"]);
    r.assert_ok();
    assert_eq!(r.data()["downgrade"], true);
    let r = b.tool(&["update", "--ref", "v1"]);
    r.assert_ok();
    assert_eq!(b.head(), b.v1);
    assert_eq!(r.data()["downgrade"], true);
    assert!(
        r.json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("downgrade")),
        "{}",
        r.stdout
    );
    let r = b.tool(&["rollback", "--to", &b.v2.clone()]);
    r.assert_ok();
    assert_eq!(r.data()["downgrade"], false);
}

#[test]
fn status_without_fetch_says_its_numbers_are_as_of_the_last_fetch() {
    let b = bed();
    let r = b.tool(&["status"]);
    r.assert_ok();
    let msg = r.json["msg"].as_str().unwrap();
    assert!(msg.contains("as of the last fetch"), "{msg}");
    let when = r.data()["last_fetch"]
        .as_str()
        .expect("the clone's fetch time");
    assert!(msg.contains(when), "{msg}");
    let r = b.tool(&["status", "--fetch"]);
    r.assert_ok();
    assert!(!r.json["msg"].as_str().unwrap().contains("as of"));
    assert!(r.data()["last_fetch"].is_string());
}

#[test]
fn a_stale_index_lock_is_named_with_how_to_clear_it() {
    let b = bed();
    b.write("public/index.php", b"<?php // local\n");
    let lock = b.root.join(".git/index.lock");
    std::fs::write(&lock, b"").unwrap();
    let before = b.snapshot();
    for args in [
        vec!["update"],
        vec!["update", "--dry-run"],
        vec!["rollback", "--to", "v2"],
    ] {
        let r = b.tool(&args);
        r.assert_code(75);
        let hint = r.json["error"]["hint"].as_str().unwrap();
        assert!(
            hint.contains(&format!("rm {}", lock.display())) && hint.contains("pgrep"),
            "{hint}"
        );
        assert_eq!(b.snapshot(), before);
        assert!(lock.exists(), "dfkit must not remove the lock itself");
    }
    // Read-only status still answers.
    b.tool(&["status"]).assert_ok();
}

#[test]
fn dry_run_of_a_commit_id_not_yet_fetched_predicts_the_real_run() {
    let b = bed();
    let v3 = b.push_to_origin("README.md", "v3\n");
    let before = b.snapshot();
    let remote_refs = b.git(&["for-each-ref", "refs/remotes"]);
    let r = b.tool(&["update", "--ref", &v3, "--dry-run"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["new_commit"], v3.as_str());
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.git(&["for-each-ref", "refs/remotes"]), remote_refs);
    let r = b.tool(&["update", "--ref", &v3]);
    r.assert_ok();
    assert_eq!(b.head(), v3);
}

/// df-git-update killed with -9 in the middle of its checkout (a smudge filter holds it
/// there): the next run finds the record of the move, puts the half-done checkout back
/// (HEAD, files, the stashed local edit) before anything else, and says so.
#[test]
fn a_killed_update_is_put_back_by_the_next_run() {
    killed_update_is_put_back(false, false);
}

/// The move's stash was popped since (by hand): its edits are in the tree, and forcing the
/// old commit out would overwrite them. The next run only drops the record, and says so.
#[test]
fn a_killed_update_whose_stash_was_applied_since_is_left_alone() {
    killed_update_is_put_back(false, true);
}

/// The same when the update first switched from another branch to master (two steps:
/// `switch`, then the merge that is killed): HEAD goes back to the other branch.
#[test]
fn a_killed_update_after_its_switch_is_put_back_by_the_next_run() {
    killed_update_is_put_back(true, false);
}

fn killed_update_is_put_back(from_other_branch: bool, stash_applied_since: bool) {
    let b = bed();
    if from_other_branch {
        b.git(&["checkout", "-q", "-b", "other"]);
    }
    let mark = b.tmp.path().join("slow-once");
    kills::hold_next_checkout(&b.root, &mark, |a| b.git(a));
    let mut edit = b.read("composer.json");
    edit.extend_from_slice(b"local edit\n");
    b.write("composer.json", &edit);
    let before = b.snapshot();
    let bytes = b.read("config/app.php");

    let mut c = std::process::Command::new(support::bins::bin("df-git-update"));
    c.args(["update", "--root"])
        .arg(&b.root)
        .env("HOME", &b.home)
        .env("GIT_CONFIG_GLOBAL", b.global_config())
        .env_remove("GIT_SSH_COMMAND")
        .env_remove("DF_ROOT");
    let lock = b.root.join(".git/index.lock");
    kills::kill_when_ready(c, || {
        if mark.exists() || !lock.exists() {
            Err("the checkout in the filter".into())
        } else {
            Ok(())
        }
    });
    assert!(
        b.root.join(".git/dfkit-move").exists(),
        "the move is recorded while it runs (and a kill leaves the record)"
    );
    // git got SIGTERM (the parent death signal) and removed its lock as it ended.
    kills::wait_gone(|| {
        lock.exists()
            .then(|| "git's index.lock outlived the kill".to_string())
    });
    assert_ne!(b.snapshot(), before, "the kill left a half-done checkout");
    if stash_applied_since {
        b.git(&["stash", "pop", "-q"]);
        let tree = b.porcelain();
        let r = b.tool(&["rollback", "--to", &b.v1]);
        r.assert_ok();
        let warned = r.json["warnings"].to_string();
        assert!(warned.contains("was applied since"), "{}", r.stdout);
        assert_eq!(b.porcelain(), tree, "nothing was forced");
        assert_eq!(b.read("composer.json"), edit, "the applied edit is kept");
        assert!(
            !b.root.join(".git/dfkit-move").exists(),
            "the record is gone"
        );
        return;
    }

    let r = b.tool(&["rollback", "--to", &b.v1]);
    r.assert_ok();
    let warned = r.json["warnings"].to_string();
    assert!(
        warned.contains("was interrupted") && warned.contains("put back"),
        "{}",
        r.stdout
    );
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.read("composer.json"), edit, "the local edit is back");
    assert_eq!(b.read("config/app.php"), bytes);
    assert!(
        !b.root.join(".git/dfkit-move").exists(),
        "the record is gone"
    );
}
