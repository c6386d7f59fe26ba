//! df-git-update against a hostile checkout: root must never run code the web user
//! controls, leave root-owned files in the web user's repository, or pass a user-supplied
//! value to git as an option.
//!
//! These tests run as root (as CI does) and fail otherwise.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use support::gitbed::{bed, owned_by, Bed};

const WWW: (u32, u32) = (33, 33);

fn require_root() {
    assert!(
        dfkit::users::is_root(),
        "this test runs as root (as CI does)"
    );
}

fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(p, Some(WWW.0), Some(WWW.1)).unwrap();
}

/// A www-data checkout whose owner has configured every program-running key git knows;
/// each program appends `id -u` to a file under `marks`.
struct Hostile {
    b: Bed,
    marks: PathBuf,
}

const HOOKS: &[&str] = &[
    "post-checkout",
    "post-merge",
    "pre-auto-gc",
    "reference-transaction",
    "post-rewrite",
    "pre-commit",
    "post-commit",
    "commit-msg",
    "prepare-commit-msg",
    "post-index-change",
    "pre-push",
];

fn hostile(hooks_path: bool) -> Hostile {
    require_root();
    let b = bed();
    b.give_to(WWW.0, WWW.1);
    let marks = b.tmp.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    use std::os::unix::fs::PermissionsExt;
    // Writable by anyone: a program run as root must be able to leave its "0" here.
    std::fs::set_permissions(&marks, std::fs::Permissions::from_mode(0o777)).unwrap();
    let evil = b.tmp.path().join("evil");
    let m = marks.display();
    let rec = |name: &str| format!("id -u >> {m}/{name}\n");
    write_exec(
        &evil.join("fsmonitor"),
        &format!("#!/bin/sh\n{}exit 0\n", rec("fsmonitor")),
    );
    write_exec(
        &evil.join("filter"),
        &format!("#!/bin/sh\n{}exec cat\n", rec("filter-$1")),
    );
    write_exec(
        &evil.join("pager"),
        &format!("#!/bin/sh\n{}exec cat\n", rec("pager")),
    );
    write_exec(
        &evil.join("diff"),
        &format!("#!/bin/sh\n{}exit 0\n", rec("diff-external")),
    );
    // A working ssh stand-in: records, then runs the remote command locally.
    write_exec(
        &evil.join("ssh"),
        &format!(
            "#!/bin/sh\n{}for a; do last=$a; done\nexec sh -c \"$last\"\n",
            rec("ssh")
        ),
    );
    let hook = format!(
        "#!/bin/sh\nid -u >> {m}/hook-$(basename \"$0\")\ncat >/dev/null 2>&1 || true\nexit 0\n"
    );
    let hook_dir = if hooks_path {
        b.tmp.path().join("hooks-elsewhere")
    } else {
        b.root.join(".git/hooks")
    };
    for h in HOOKS {
        write_exec(&hook_dir.join(h), &hook);
    }
    let e = evil.display();
    let origin_ssh = format!("ssh://fakehost{}", b.origin.display());
    let mut config: Vec<(String, String)> = vec![
        ("core.fsmonitor".into(), format!("{e}/fsmonitor")),
        ("core.fsmonitorHookVersion".into(), "1".into()),
        ("core.sshCommand".into(), format!("{e}/ssh")),
        ("core.pager".into(), format!("{e}/pager")),
        ("pager.status".into(), format!("{e}/pager")),
        ("pager.log".into(), format!("{e}/pager")),
        ("pager.diff".into(), format!("{e}/pager")),
        ("diff.external".into(), format!("{e}/diff")),
        ("filter.evil.clean".into(), format!("{e}/filter clean")),
        ("filter.evil.smudge".into(), format!("{e}/filter smudge")),
        ("filter.evil.required".into(), "false".into()),
        ("remote.origin.url".into(), origin_ssh),
        ("gc.auto".into(), "1".into()),
        ("gc.autoDetach".into(), "false".into()),
    ];
    if hooks_path {
        config.push(("core.hooksPath".into(), hook_dir.display().to_string()));
    }
    for (k, v) in &config {
        b.git_as(WWW.0, WWW.1, &["config", k, v]);
    }
    let attrs = b.root.join(".git/info/attributes");
    std::fs::create_dir_all(attrs.parent().unwrap()).unwrap();
    std::fs::write(&attrs, "* filter=evil\n").unwrap();
    std::os::unix::fs::chown(&attrs, Some(WWW.0), Some(WWW.1)).unwrap();
    Hostile { b, marks }
}

impl Hostile {
    /// Every mark: (file, uids written). Panics on a mark written by root.
    fn assert_no_root_marks(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for e in std::fs::read_dir(&self.marks).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let md = e.metadata().unwrap();
            assert_ne!(md.uid(), 0, "{name} was created by root");
            let text = std::fs::read_to_string(e.path()).unwrap();
            for line in text.lines() {
                assert_ne!(line.trim(), "0", "{name} ran as root");
                assert_eq!(line.trim(), WWW.0.to_string(), "{name} ran as {line}");
            }
            seen.push(name);
        }
        seen.sort();
        seen
    }

    fn assert_nothing_root_owned(&self) {
        for dir in [&self.b.root, &self.b.origin] {
            let found = owned_by(dir, 0);
            assert!(found.is_empty(), "root-owned after the run: {found:?}");
        }
    }
}

/// Every subcommand, real and dry: no program of the repository's config runs as root,
/// and no file the run writes is root's.
fn every_subcommand_runs_the_owners_code_as_the_owner(hooks_path: bool) {
    let h = hostile(hooks_path);
    let b = &h.b;
    b.write("public/index.php", b"<?php // local edit\n");
    let runs: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--dry-run"],
        vec!["status", "--fetch", "--dry-run"],
        vec!["status", "--fetch"],
        vec!["update", "--dry-run"],
        vec!["update", "--reapply-stash"],
        vec!["rollback", "--to", "v1", "--dry-run"],
        vec!["rollback", "--to", "v1"],
        vec!["update", "--ref", "v2", "--dry-run"],
        vec!["update", "--ref", "v2", "--reapply-stash"],
        vec!["status"],
    ];
    for args in &runs {
        let r = b.tool(args);
        r.assert_ok();
        h.assert_no_root_marks();
        h.assert_nothing_root_owned();
        assert_eq!(r.data()["run_as"], "www-data", "{args:?}: {}", r.stdout);
    }
    // The run really went through the hostile programs (as www-data), so the test means
    // something: the update moved, and these fired.
    assert_eq!(b.head(), b.v2);
    let seen = h.assert_no_root_marks();
    for want in [
        "fsmonitor",
        "ssh",
        "hook-post-checkout",
        "hook-reference-transaction",
    ] {
        assert!(seen.iter().any(|s| s == want), "{want} never ran: {seen:?}");
    }
    assert!(
        seen.iter().any(|s| s.starts_with("filter-")),
        "the filter never ran: {seen:?}"
    );
    // The owner's own git still works in its repository afterwards.
    b.git_as(WWW.0, WWW.1, &["fetch", "-q", "origin"]);
    b.git_as(WWW.0, WWW.1, &["status", "--porcelain"]);
}

#[test]
fn hooks_in_git_dir_fsmonitor_filters_ssh_pager_run_as_the_owner_in_every_subcommand() {
    every_subcommand_runs_the_owners_code_as_the_owner(false);
}

#[test]
fn core_hooks_path_runs_as_the_owner_in_every_subcommand() {
    every_subcommand_runs_the_owners_code_as_the_owner(true);
}

#[test]
fn status_fetch_as_root_leaves_no_root_owned_file_in_the_web_users_repository() {
    require_root();
    let b = bed();
    // A new commit on origin: the fetch has objects and refs to write.
    b.push_to_origin("README.md", "v3\n");
    // Only the checkout is www-data's; origin stays root's, and root's own (system)
    // git config — which the owner's git reads too — declares it safe.
    b.give_checkout_to(WWW.0, WWW.1);
    let system = b.tmp.path().join("gitconfig-system");
    std::fs::write(
        &system,
        format!("[safe]\n\tdirectory = {}\n", b.origin.display()),
    )
    .unwrap();

    let r = b.tool_env(
        &["status", "--fetch"],
        &[("GIT_CONFIG_SYSTEM", system.to_str().unwrap())],
    );
    r.assert_ok();
    assert_eq!(r.data()["fetched"], true);
    assert_eq!(r.data()["behind"], 2);
    assert!(b.root.join(".git/FETCH_HEAD").exists());
    let found = owned_by(&b.root, 0);
    assert!(
        found.is_empty(),
        "root-owned after status --fetch: {found:?}"
    );
    // The owner's next fetch works (given an origin it may read: root-owned files in
    // .git, as the old code left, made it fail).
    b.give_to(WWW.0, WWW.1);
    b.git_as(WWW.0, WWW.1, &["fetch", "-q", "origin"]);
}

#[test]
fn root_owned_tree_with_a_web_user_hook_is_refused_and_the_hook_never_runs() {
    require_root();
    let b = bed();
    let mark = b.tmp.path().join("hook-ran");
    let hook = b.root.join(".git/hooks/post-checkout");
    write_exec(&hook, &format!("#!/bin/sh\nid -u >> {}\n", mark.display()));
    let before = b.snapshot();
    for args in [
        vec!["update"],
        vec!["status"],
        vec!["rollback", "--to", "v1"],
        vec!["update", "--dry-run"],
    ] {
        let r = b.tool(&args);
        r.assert_code(78);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("post-checkout"),
            "{}",
            r.stdout
        );
        assert!(r.json["error"]["hint"].as_str().unwrap().contains("chown"));
    }
    assert!(!mark.exists(), "the hook ran");
    assert_eq!(b.snapshot(), before);
}

#[test]
fn user_values_never_become_git_options() {
    require_root();
    let b = bed();
    let pwned = b.tmp.path().join("pwned");
    let upload = format!("--remote=--upload-pack=touch {}", pwned.display());
    let out = pwned.display().to_string();
    let o = |flag: &str, v: &str| format!("{flag}={v}");
    let origin = format!("--remote={}", b.origin.display());
    let before = b.snapshot();
    // `--flag=VALUE`: the only way a value starting with `-` gets past clap.
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["update".into(), upload.clone()],
            "not a configured remote",
        ),
        (
            vec!["update".into(), "--dry-run".into(), upload.clone()],
            "not a configured remote",
        ),
        (
            vec!["status".into(), "--fetch".into(), upload.clone()],
            "not a configured remote",
        ),
        (
            vec!["status".into(), upload.clone()],
            "not a configured remote",
        ),
        // A path or URL is not a remote's name either.
        (
            vec!["update".into(), origin.clone()],
            "not a configured remote",
        ),
        (
            vec!["update".into(), o("--branch", "-x")],
            "starts with `-`",
        ),
        (
            vec!["update".into(), o("--branch", &format!("--output={out}"))],
            "starts with `-`",
        ),
        (
            vec!["update".into(), o("--branch", "a..b")],
            "not a valid branch name",
        ),
        (
            vec!["status".into(), o("--branch", &format!("--output={out}"))],
            "starts with `-`",
        ),
        (
            vec!["update".into(), o("--ref", &format!("--output={out}"))],
            "starts with `-`",
        ),
        (
            vec![
                "update".into(),
                o("--ref", &format!("--upload-pack=touch {out}")),
            ],
            "starts with `-`",
        ),
        (
            vec!["rollback".into(), o("--to", &format!("--output={out}"))],
            "starts with `-`",
        ),
        (vec!["rollback".into(), "--to=".into()], "empty"),
        (
            vec!["rollback".into(), "--to=v1".into(), o("--branch", "-f")],
            "starts with `-`",
        ),
        (
            vec![
                "rollback".into(),
                "--to=v1".into(),
                o("--branch", &format!("--output={out}")),
            ],
            "starts with `-`",
        ),
    ];
    for (args, says) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = b.tool(&args);
        r.assert_code(64);
        assert_eq!(r.error_kind(), "usage");
        assert!(
            r.json["error"]["message"].as_str().unwrap().contains(says),
            "{args:?}: {}",
            r.stdout
        );
        assert!(!pwned.exists(), "{args:?} ran a command");
        assert_eq!(b.snapshot(), before, "{args:?} changed the checkout");
    }
    // A configured remote other than origin is fine.
    b.git(&["remote", "add", "mirror", b.origin.to_str().unwrap()]);
    b.tool(&["update", "--remote", "mirror", "--dry-run"])
        .assert_ok();
}

#[test]
fn a_user_who_does_not_own_the_checkout_gets_gits_refusal_not_an_exception() {
    require_root();
    let b = bed();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(b.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = b.snapshot();
    // nobody runs the tool in root's checkout: git's ownership check must stay on.
    let mut c = std::process::Command::new(support::bins::bin("df-git-update"));
    std::os::unix::process::CommandExt::uid(&mut c, 65534);
    std::os::unix::process::CommandExt::gid(&mut c, 65534);
    c.args(["status", "--root"])
        .arg(&b.root)
        .env("HOME", b.tmp.path())
        .env_remove("GIT_CONFIG_GLOBAL")
        .current_dir(b.tmp.path());
    let r = support::bins::run_command(c);
    r.assert_code(78);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("dubious ownership"));
    assert_eq!(b.snapshot(), before);
}

#[test]
fn a_git_checkout_that_is_not_an_install_is_not_changed() {
    // etckeeper keeps /etc in git: `--root /etc` must not update it.
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc");
    std::fs::create_dir_all(etc.join("ssh")).unwrap();
    std::fs::write(etc.join("ssh/sshd_config"), "PermitRootLogin no\n").unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(&etc)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@x")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@x")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "master"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "etc"]);
    std::fs::write(etc.join("ssh/sshd_config"), "PermitRootLogin yes\n").unwrap();
    git(&["commit", "-q", "-am", "later"]);
    for args in [
        vec!["rollback", "--to", "HEAD~1"],
        vec!["rollback", "--to", "HEAD~1", "--dry-run"],
        vec!["update"],
    ] {
        let mut c = std::process::Command::new(support::bins::bin("df-git-update"));
        c.args(&args).arg("--root").arg(&etc);
        let r = support::bins::run_command(c);
        r.assert_code(66);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no DreamFactory install"),
            "{}",
            r.stdout
        );
        assert_eq!(
            std::fs::read_to_string(etc.join("ssh/sshd_config")).unwrap(),
            "PermitRootLogin yes\n"
        );
    }
}
