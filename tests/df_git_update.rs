//! df-git-update against real git: a bare origin with releases v1 and v2 and a checkout
//! of it (tests/support/gitbed.rs builds them: v2 adds a migration, bumps the version
//! 7.0.0 → 7.1.0 and changes composer.lock). Assertions are on the repository afterwards:
//! HEAD, branch, file bytes, the stash list.

mod support;

use serde_json::Value;
use std::process::Command;
use support::bins::run_command;
use support::gitbed::{app_php, bed, commands, strs, V2_MIGRATION};
#[test]
fn update_stashes_local_edit_reaches_v2_and_is_idempotent() {
    let b = bed();
    let edited = b"<?php // front controller v1, patched locally\n";
    b.write("public/index.php", edited);

    let r = b.tool(&["update"]);
    r.assert_ok();
    assert!(r.changed());
    let d = r.data();
    assert_eq!(b.head(), b.v2);
    assert_eq!(b.branch().as_deref(), Some("master"));
    assert_eq!(d["old_commit"], b.v1.as_str());
    assert_eq!(d["new_commit"], b.v2.as_str());
    assert_eq!(d["old_version"], "7.0.0");
    assert_eq!(d["new_version"], "7.1.0");
    assert_eq!(d["old_describe"], "v1");
    assert_eq!(d["new_describe"], "v2");
    assert_eq!(d["new_branch"], "master");
    assert_eq!(strs(&d["migrations_added"]), [V2_MIGRATION]);
    assert_eq!(d["composer_lock_changed"], true);
    let mut files = strs(&d["changed_files"]);
    files.sort();
    assert_eq!(files, ["composer.lock", "config/app.php", V2_MIGRATION]);
    // The stash: reported by commit, holding exactly the edit.
    let stash = &d["stash"];
    let sha = stash["ref"].as_str().unwrap();
    assert_eq!(b.git(&["stash", "list", "--format=%H"]), sha);
    assert!(stash["message"].as_str().unwrap().starts_with("dfkit "));
    assert_eq!(strs(&stash["files"]), ["public/index.php"]);
    assert_eq!(stash["kept"], true);
    assert_eq!(
        b.git(&["show", &format!("{sha}:public/index.php")])
            .as_bytes(),
        &edited[..edited.len() - 1]
    );
    // The work tree is v2's, clean.
    assert_eq!(b.read("config/app.php"), app_php("7.1.0").as_bytes());
    assert_eq!(
        b.read("public/index.php"),
        b"<?php // front controller v1\n"
    );
    assert_eq!(b.porcelain(), "");

    let before = b.snapshot();
    let r = b.tool(&["update"]);
    r.assert_ok();
    assert!(!r.changed(), "second run: {}", r.stdout);
    assert_eq!(r.data()["stash"], Value::Null);
    assert_eq!(r.data()["new_commit"], b.v2.as_str());
    assert_eq!(b.snapshot(), before);
}

#[test]
fn reapply_stash_brings_the_local_edit_back() {
    let b = bed();
    let edited = b"<?php // patched\n";
    b.write("public/index.php", edited);
    let r = b.tool(&["update", "--reapply-stash"]);
    r.assert_ok();
    assert_eq!(b.head(), b.v2);
    assert_eq!(b.read("public/index.php"), edited);
    assert_eq!(b.stash_list(), "");
    assert_eq!(r.data()["stash"]["reapplied"], true);
    assert_eq!(r.data()["stash"]["kept"], false);
    // Nothing new: no stash, the edit stays where it is.
    let r = b.tool(&["update", "--reapply-stash"]);
    r.assert_ok();
    assert!(!r.changed());
    assert_eq!(b.read("public/index.php"), edited);
    assert_eq!(b.stash_list(), "");
}

#[test]
fn reapply_conflict_keeps_the_stash_and_a_clean_tree() {
    let b = bed();
    // v2 changes this very line: the edit cannot be re-applied cleanly.
    let edited = app_php("7.0.0-custom");
    b.write("config/app.php", edited.as_bytes());
    let r = b.tool(&["update", "--reapply-stash"]);
    r.assert_code(1);
    assert!(r.changed(), "the code did move: {}", r.stdout);
    let d = r.data();
    assert_eq!(b.head(), b.v2);
    assert_eq!(d["new_commit"], b.v2.as_str());
    assert_eq!(strs(&d["conflicts"]), ["config/app.php"]);
    assert_eq!(d["stash"]["kept"], true);
    let sha = d["stash"]["ref"].as_str().unwrap();
    assert_eq!(b.git(&["stash", "list", "--format=%H"]), sha);
    assert_eq!(b.porcelain(), "", "no conflict markers left behind");
    assert_eq!(b.read("config/app.php"), app_php("7.1.0").as_bytes());
    assert!(r.json["error"]["hint"].as_str().unwrap().contains(sha));
}

#[test]
fn force_pushed_origin_is_refused_with_everything_as_before() {
    let b = bed();
    b.git(&["merge", "-q", "--ff-only", "origin/master"]);
    assert_eq!(b.head(), b.v2);
    // Someone rewrites origin's master: v1 + a different commit, force-pushed.
    let other = b.tmp.path().join("other");
    b.git_in(
        b.tmp.path(),
        &[
            "clone",
            "-q",
            b.origin.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    b.git_in(&other, &["reset", "-q", "--hard", "v1"]);
    std::fs::write(other.join("public/index.php"), "<?php // rewritten\n").unwrap();
    b.git_in(&other, &["commit", "-q", "-am", "rewritten history"]);
    b.git_in(&other, &["push", "-q", "--force", "origin", "master"]);

    let edited = b"<?php // my local fix\n";
    b.write("config/app.php", edited);
    let before = b.snapshot();
    let r = b.tool(&["update"]);
    r.assert_code(1);
    assert_eq!(r.error_kind(), "step_failed");
    let hint = r.json["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("force-push"), "{hint}");
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("diverged"));
    assert!(!r.changed());
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.read("config/app.php"), edited);
}

#[test]
fn failure_after_the_stash_puts_edit_head_and_branch_back() {
    let b = bed();
    let edited = b"<?php // local\n";
    b.write("public/index.php", edited);
    // An untracked file where v2 adds one: the fast-forward refuses to overwrite it,
    // after the stash was made.
    let mine = b"<?php // my own file, not v2's\n";
    b.write(V2_MIGRATION, mine);
    let before = b.snapshot();
    let r = b.tool(&["update"]);
    r.assert_code(1);
    let d = r.data();
    assert_eq!(d["restored"], true);
    assert_eq!(d["stash"]["reapplied"], true, "{}", r.stdout);
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("--include-untracked"));
    assert!(!r.changed());
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.read("public/index.php"), edited);
    assert_eq!(b.read(V2_MIGRATION), mine);

    // With --include-untracked the file goes into the stash and the update succeeds.
    let r = b.tool(&["update", "--include-untracked"]);
    r.assert_ok();
    assert_eq!(b.head(), b.v2);
    let mut files = strs(&r.data()["stash"]["files"]);
    files.sort();
    assert_eq!(files, [V2_MIGRATION, "public/index.php"]);
    assert_eq!(b.read(V2_MIGRATION), b"<?php // add limits\n");
}

#[test]
fn unreachable_origin_is_69_and_nothing_changes() {
    let b = bed();
    b.write("public/index.php", b"<?php // local\n");
    std::fs::rename(&b.origin, b.tmp.path().join("origin-gone.git")).unwrap();
    let before = b.snapshot();
    let r = b.tool(&["update"]);
    r.assert_code(69);
    assert_eq!(r.error_kind(), "unavailable");
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("unreachable"));
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.read("public/index.php"), b"<?php // local\n");
    // The dry run asks the remote too, and says so the same way.
    b.tool(&["update", "--dry-run"]).assert_code(69);
}

#[test]
fn tree_owned_by_another_user_updates_without_writing_git_config() {
    assert!(
        dfkit::users::is_root(),
        "this test runs as root (as CI does)"
    );
    let b = bed();
    b.write("public/index.php", b"<?php // local\n");
    // The local origin belongs to the same user (git, run as that user, refuses a
    // repository owned by another one), and the user can reach both.
    let status = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&b.root)
        .arg(&b.origin)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::set_permissions(
        b.tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // Plain git (no exception) refuses this tree: the test is meaningful.
    let plain = Command::new("git")
        .arg("-C")
        .arg(&b.root)
        .args(["status"])
        .env("HOME", &b.home)
        .env("GIT_CONFIG_GLOBAL", b.global_config())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&plain.stderr).contains("dubious ownership"));
    let etc = std::fs::read("/etc/gitconfig").ok();

    let r = b.tool(&["update"]);
    r.assert_ok();
    assert_eq!(b.head(), b.v2);
    assert_eq!(r.data()["new_version"], "7.1.0");
    // git ran as the owner: nothing in the tree (.git included) became root's, so there is
    // nothing to chown back (this replaces the old "chown -R 65534:65534" warning).
    assert_eq!(r.data()["run_as"], "nobody");
    let root_owned = support::gitbed::owned_by(&b.root, 0);
    assert!(root_owned.is_empty(), "root-owned: {root_owned:?}");
    assert!(!b.global_config().exists(), "global git config written");
    assert!(!b.home.join(".gitconfig").exists());
    assert!(!b.home.join(".config/git/config").exists());
    assert_eq!(std::fs::read("/etc/gitconfig").ok(), etc);
    // And the repository's own config gained no safe.directory either.
    assert!(!b.git(&["config", "--list", "--local"]).contains("safe"));
}

#[test]
fn ref_checks_out_the_tag_detached_even_when_a_branch_shares_its_name() {
    let b = bed();
    // A branch named like the tag, pointing elsewhere: the tag must win.
    b.git(&["branch", "v2", "v1"]);
    let r = b.tool(&["update", "--ref", "v2"]);
    r.assert_ok();
    assert_eq!(b.head(), b.v2);
    assert_eq!(b.branch(), None);
    assert_eq!(r.data()["detached"], true);
    assert_eq!(r.data()["new_branch"], Value::Null);
    assert_eq!(r.data()["new_describe"], "v2");
    assert_eq!(
        b.git(&["rev-parse", "refs/heads/v2"]),
        b.v1,
        "branch untouched"
    );
    let r = b.tool(&["update", "--ref", "v2"]);
    r.assert_ok();
    assert!(!r.changed());
    // An unknown tag is missing input, nothing changed.
    let before = b.snapshot();
    b.tool(&["update", "--ref", "v9"]).assert_code(66);
    assert_eq!(b.snapshot(), before);
}

#[test]
fn rollback_returns_to_the_recorded_commit() {
    let b = bed();
    let r = b.tool(&["update"]);
    r.assert_ok();
    let old = r.data()["old_commit"].as_str().unwrap().to_string();
    assert_eq!(b.head(), b.v2);
    let edited = b"<?php // edited after the update\n";
    b.write("public/index.php", edited);

    let r = b.tool(&["rollback", "--to", &old, "--reapply-stash"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(b.head(), b.v1);
    assert_eq!(b.branch().as_deref(), Some("master"), "branch name kept");
    assert_eq!(r.data()["new_version"], "7.0.0");
    assert_eq!(strs(&r.data()["migrations_removed"]), [V2_MIGRATION]);
    assert!(!b.root.join(V2_MIGRATION).exists());
    assert_eq!(b.read("config/app.php"), app_php("7.0.0").as_bytes());
    assert_eq!(b.read("public/index.php"), edited);
    assert_eq!(b.stash_list(), "");

    let r = b.tool(&["rollback", "--to", &old]);
    r.assert_ok();
    assert!(!r.changed());
    // A later update fast-forwards again.
    b.tool(&["update"]).assert_ok();
    assert_eq!(b.head(), b.v2);
    b.tool(&["rollback", "--to", "0000000deadbeef"])
        .assert_code(66);
}

#[test]
fn status_reports_commits_behind_and_changes_nothing() {
    let b = bed();
    b.write("public/index.php", b"<?php // local\n");
    // A v3 lands on origin after the clone: only a fetch learns of it.
    let other = b.tmp.path().join("other");
    b.git_in(
        b.tmp.path(),
        &[
            "clone",
            "-q",
            b.origin.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("README.md"), "v3\n").unwrap();
    b.git_in(&other, &["add", "README.md"]);
    b.git_in(&other, &["commit", "-q", "-m", "v3"]);
    b.git_in(&other, &["push", "-q", "origin", "master"]);

    let index = b.read(".git/index");
    let before = b.snapshot();
    let r = b.tool(&["status"]);
    r.assert_ok();
    assert!(!r.changed());
    let d = r.data();
    assert_eq!(d["behind"], 1);
    assert_eq!(d["ahead"], 0);
    assert_eq!(d["branch"], "master");
    assert_eq!(d["head"], b.v1.as_str());
    assert_eq!(d["version"], "7.0.0");
    assert_eq!(strs(&d["local_changes"]["tracked"]), ["public/index.php"]);
    assert_eq!(d["fetched"], false);
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.read(".git/index"), index);

    let r = b.tool(&["status", "--fetch"]);
    r.assert_ok();
    assert_eq!(r.data()["behind"], 2);
    assert_eq!(r.data()["fetched"], true);
    assert_eq!(b.snapshot(), before);
}

#[test]
fn dry_run_plans_without_changing_anything() {
    let b = bed();
    b.write("public/index.php", b"<?php // local\n");
    let before = b.snapshot();
    let remote_refs = b.git(&["for-each-ref", "refs/remotes"]);
    let r = b.tool(&["update", "--dry-run"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.json["dry_run"], true);
    // data.plan is the shared PlanItem shape: the command lines are in `command`.
    let plan = commands(&r.data()["plan"]);
    assert!(plan[0].contains(" fetch --tags origin "), "{plan:?}");
    assert!(plan.iter().any(|p| p.contains(" stash push ")), "{plan:?}");
    assert!(
        plan.iter().any(|p| p.contains(" merge --ff-only ")),
        "{plan:?}"
    );
    // git's own ownership check (CVE-2022-24765) is never switched off.
    assert!(
        plan.iter().all(|p| !p.contains("safe.directory")),
        "{plan:?}"
    );
    assert_eq!(r.data()["remote_commit"], b.v2.as_str());
    assert_eq!(strs(&r.data()["would_stash"]), ["public/index.php"]);
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.git(&["for-each-ref", "refs/remotes"]), remote_refs);

    // Up to date: the dry run says nothing would change.
    b.git(&["stash", "-q"]);
    b.git(&["merge", "-q", "--ff-only", "origin/master"]);
    let r = b.tool(&["update", "--dry-run"]);
    r.assert_ok();
    assert!(!r.changed(), "{}", r.stdout);

    let r = b.tool(&["rollback", "--to", &b.v1.clone(), "--dry-run"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(b.head(), b.v2);
}

#[test]
fn not_a_git_checkout_is_66() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("dreamfactory");
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::write(root.join("config/app.php"), app_php("7.0.0")).unwrap();
    let mut c = Command::new(support::bins::bin("df-git-update"));
    c.args(["update", "--root"]).arg(&root);
    let r = run_command(c);
    r.assert_code(66);
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("git checkout"));
    assert!(
        std::fs::read_dir(&root).unwrap().count() == 1,
        "nothing created"
    );
}

#[test]
fn help_has_examples() {
    let out = Command::new(support::bins::bin("df-git-update"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Examples:") && text.contains("| jq"),
        "{text}"
    );
}

/// `fetch` brings the target into the local refs and says what an update would do; HEAD,
/// the work tree and the index are untouched. Then `update --no-fetch` needs no remote.
#[test]
fn fetch_then_update_without_the_network() {
    let b = bed();
    b.write("public/index.php", b"<?php // local\n");
    let before = b.snapshot();
    let r = b.tool(&["fetch"]);
    r.assert_ok();
    assert!(!r.changed(), "{}", r.stdout);
    let d = r.data();
    assert_eq!(d["commit"], b.v2.as_str());
    assert_eq!(d["head"], b.v1.as_str());
    assert_eq!(d["moves"], true);
    assert_eq!(d["composer_lock_changed"], true);
    assert_eq!(d["mode"], "branch");
    assert_eq!(d["target"], "master");
    assert_eq!(b.snapshot(), before, "fetch changes no file, HEAD or stash");
    assert_eq!(b.git(&["rev-parse", "refs/remotes/origin/master"]), b.v2);
    // Tag target: the same commit, through the tag.
    let t = b.tool(&["fetch", "--ref", "v2"]);
    t.assert_ok();
    assert_eq!(t.data()["commit"], b.v2.as_str());
    assert_eq!(t.data()["mode"], "ref");

    // The remote is gone: --no-fetch still moves, to what was fetched.
    std::fs::rename(&b.origin, b.tmp.path().join("origin-gone.git")).unwrap();
    b.tool(&["update"]).assert_code(69);
    let u = b.tool(&["update", "--no-fetch"]);
    u.assert_ok();
    assert_eq!(b.head(), b.v2);
    assert_eq!(b.branch().as_deref(), Some("master"));
    assert_eq!(u.data()["new_version"], "7.1.0");
    assert_eq!(
        b.read("public/index.php"),
        b"<?php // front controller v1\n"
    );
    // At the target: nothing for composer.
    std::fs::rename(b.tmp.path().join("origin-gone.git"), &b.origin).unwrap();
    let again = b.tool(&["fetch", "--ref", "v2"]);
    again.assert_ok();
    assert_eq!(again.data()["moves"], false);
    assert_eq!(again.data()["composer_lock_changed"], false);
}

/// `update --no-fetch` of a branch never fetched is 66 with a hint to fetch first.
#[test]
fn no_fetch_without_a_fetch_names_the_fix() {
    let b = bed();
    let before = b.snapshot();
    let r = b.tool(&["update", "--no-fetch", "--branch", "nope"]);
    r.assert_code(66);
    assert!(
        r.json["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("df-git-update fetch"),
        "{}",
        r.stdout
    );
    assert_eq!(b.snapshot(), before);
}

/// `export` checks a commit out into a new directory: the files are the commit's, byte for
/// byte, on the branch asked for (or detached); the install's HEAD, index, work tree and
/// stash are untouched. An existing directory is 73, an unknown commit 66, and neither
/// leaves anything behind.
#[test]
fn export_checks_a_commit_out_beside_the_install() {
    let b = bed();
    b.write("public/index.php", b"<?php // local\n");
    b.tool(&["fetch"]).assert_ok();
    let before = b.snapshot();
    let into = b.tmp.path().join(".dreamfactory.next");
    let r = b.tool(&[
        "export",
        "--commit",
        &b.v2,
        "--branch",
        "master",
        "--into",
        into.to_str().unwrap(),
    ]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["commit"], b.v2.as_str());
    assert_eq!(b.snapshot(), before, "the install is untouched");
    assert_eq!(
        b.read("public/index.php"),
        b"<?php // local\n",
        "local edits stay"
    );
    let listed = b.git(&["ls-tree", "-r", "--name-only", &b.v2]);
    assert_eq!(r.data()["files"], listed.lines().count() as u64);
    for rel in listed.lines() {
        let want = b.git(&["show", &format!("{}:{rel}", b.v2)]);
        let got = std::fs::read_to_string(into.join(rel)).unwrap();
        assert_eq!(got.trim_end(), want, "{rel}");
    }
    let staged = |args: &[&str]| b.git_in(&into, args);
    assert_eq!(staged(&["rev-parse", "HEAD"]), b.v2);
    assert_eq!(staged(&["symbolic-ref", "--short", "HEAD"]), "master");
    assert_eq!(staged(&["status", "--porcelain"]), "");
    // It borrows the install's objects rather than copying them.
    assert!(into.join(".git/objects/info/alternates").is_file());

    // Detached without --branch.
    let into2 = b.tmp.path().join("detached");
    b.tool(&[
        "export",
        "--commit",
        "v1",
        "--into",
        into2.to_str().unwrap(),
    ])
    .assert_ok();
    assert_eq!(b.git_in(&into2, &["rev-parse", "HEAD"]), b.v1);
    let sym = Command::new("git")
        .arg("-C")
        .arg(&into2)
        .args(["symbolic-ref", "-q", "HEAD"])
        .status()
        .unwrap();
    assert!(!sym.success(), "HEAD is detached");

    // Refusals leave nothing.
    let r = b.tool(&[
        "export",
        "--commit",
        &b.v2,
        "--into",
        into.to_str().unwrap(),
    ]);
    r.assert_code(73);
    let missing = b.tmp.path().join("never");
    let r = b.tool(&[
        "export",
        "--commit",
        "0123456789abcdef0123",
        "--into",
        missing.to_str().unwrap(),
    ]);
    r.assert_code(66);
    assert!(!missing.exists());
    // A dry run plans and writes nothing.
    let r = b.tool(&[
        "export",
        "--dry-run",
        "--commit",
        &b.v2,
        "--into",
        missing.to_str().unwrap(),
    ]);
    r.assert_ok();
    assert!(!missing.exists());
    assert!(!commands(&r.data()["plan"]).is_empty());
    assert_eq!(b.snapshot(), before);
}

/// As root in a tree owned by another user, the export belongs to that user (git ran as
/// them), so composer, run as the owner, can write vendor/ in it.
#[test]
fn export_of_another_users_tree_belongs_to_that_user() {
    assert!(
        dfkit::users::is_root(),
        "this test runs as root (as CI does)"
    );
    let b = bed();
    b.give_to(65534, 65534);
    let into = b.tmp.path().join("stage");
    let r = b.tool(&[
        "export",
        "--commit",
        "HEAD",
        "--into",
        into.to_str().unwrap(),
    ]);
    r.assert_ok();
    let root_owned = support::gitbed::owned_by(&into, 0);
    assert!(root_owned.is_empty(), "root-owned: {root_owned:?}");
    assert!(support::gitbed::owned_by(&b.root, 0).is_empty());
}

/// HEAD and its branch are read in one git run; a tag named `HEAD` (ambiguous for that
/// run) or a file named `HEAD` must not change what the report says.
#[test]
fn a_tag_or_file_named_head_does_not_confuse_the_branch() {
    let b = bed();
    b.git(&["tag", "HEAD", &b.v1]);
    b.write("HEAD", b"not a ref\n");
    let r = b.tool(&["update", "--include-untracked"]);
    r.assert_ok();
    let d = r.data();
    assert_eq!(b.head(), b.v2);
    assert_eq!(b.branch().as_deref(), Some("master"));
    assert_eq!(d["old_branch"], "master");
    assert_eq!(d["new_branch"], "master");
    assert_eq!(d["old_commit"], b.v1.as_str());
    assert_eq!(d["new_commit"], b.v2.as_str());
    assert_eq!(d["detached"], false);
    assert_eq!(d["downgrade"], false);
    let r = b.tool(&["rollback", "--to", &b.v1]);
    r.assert_ok();
    assert_eq!(b.head(), b.v1);
    assert_eq!(b.branch().as_deref(), Some("master"));
    assert_eq!(r.data()["downgrade"], true);
}
