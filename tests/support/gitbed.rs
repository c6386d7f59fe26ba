//! The df-git-update test bed: a bare origin with releases v1 and v2 and a checkout of it
//! (v2 adds a migration, bumps the version 7.0.0 → 7.1.0 and changes composer.lock), plus
//! helpers to hand it to another user and to look for files owned by root.

use super::bins::{run_command, Run};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const V2_MIGRATION: &str = "database/migrations/2024_06_01_000000_add_limits_table.php";

/// The test bed: origin.git, the install, and a private HOME whose git config must
/// never be written.
pub struct Bed {
    pub tmp: tempfile::TempDir,
    pub origin: PathBuf,
    pub root: PathBuf,
    pub home: PathBuf,
    pub v1: String,
    pub v2: String,
}

pub fn app_php(version: &str) -> String {
    format!(
        "<?php\n\nreturn [\n    'name' => env('APP_NAME', 'DreamFactory'),\n    'version'                      => '{version}',\n    'env' => env('APP_ENV', 'production'),\n];\n"
    )
}

impl Bed {
    pub fn global_config(&self) -> PathBuf {
        self.home.join("gitconfig-global")
    }

    /// git as a person would run it in the test (any directory is safe; private HOME).
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "safe.directory=*", "-C"])
            .arg(dir)
            .args(args)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_GLOBAL", self.global_config())
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("LC_ALL", "C")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.root, args)
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// The current branch, None when detached.
    pub fn branch(&self) -> Option<String> {
        let out = Command::new("git")
            .args(["-c", "safe.directory=*", "-C"])
            .arg(&self.root)
            .args(["symbolic-ref", "--quiet", "--short", "HEAD"])
            .env("HOME", &self.home)
            .env("GIT_CONFIG_GLOBAL", self.global_config())
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
    }

    pub fn stash_list(&self) -> String {
        self.git(&["stash", "list", "--format=%H %gs"])
    }

    pub fn porcelain(&self) -> String {
        self.git(&["status", "--porcelain=v1", "--untracked-files=all"])
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.root.join(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// Run the tool against this install with the private HOME.
    pub fn tool(&self, args: &[&str]) -> Run {
        self.tool_env(args, &[])
    }

    /// [`Bed::tool`] with more environment variables.
    pub fn tool_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        // DF_GIT_UPDATE_UNDER_TEST: run these tests against another build (e.g. to see a
        // test fail on the code before a fix).
        let tool = std::env::var_os("DF_GIT_UPDATE_UNDER_TEST")
            .map(PathBuf::from)
            .unwrap_or_else(|| super::bins::bin("df-git-update"));
        let mut c = Command::new(tool);
        c.args(args)
            .arg("--root")
            .arg(&self.root)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_GLOBAL", self.global_config())
            .env_remove("GIT_SSH_COMMAND")
            .env_remove("DF_ROOT");
        for (k, v) in env {
            c.env(k, v);
        }
        run_command(c)
    }

    /// Everything about the checkout that an update could change, for before/after equality.
    pub fn snapshot(&self) -> (String, Option<String>, String, String, String) {
        (
            self.head(),
            self.branch(),
            self.stash_list(),
            self.porcelain(),
            self.git(&[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads",
                "refs/tags",
            ]),
        )
    }
}

/// origin.git (bare; master at v2; tags v1, v2) and dreamfactory/ at v1 on master.
pub fn bed() -> Bed {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let seed = tmp.path().join("seed");
    let origin = tmp.path().join("origin.git");
    let root = tmp.path().join("dreamfactory");
    let mut b = Bed {
        origin: origin.clone(),
        root: root.clone(),
        home,
        v1: String::new(),
        v2: String::new(),
        tmp,
    };
    std::fs::create_dir(&seed).unwrap();
    b.git_in(&seed, &["init", "-q", "-b", "master"]);
    let put = |rel: &str, text: &str| {
        let p = seed.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put("config/app.php", &app_php("7.0.0"));
    put("composer.json", "{\"require\": {\"php\": \">=8.1\"}}\n");
    put(
        "composer.lock",
        "{\"content-hash\": \"v1\", \"packages\": []}\n",
    );
    put(
        "database/migrations/2014_10_12_000000_create_user_table.php",
        "<?php // create user\n",
    );
    put("public/index.php", "<?php // front controller v1\n");
    put(".gitignore", "/vendor/\n/.env\n");
    // The install's markers (df-git-update refuses to change a checkout without them).
    put("artisan", "#!/usr/bin/env php\n<?php // artisan\n");
    put(".env-dist", "APP_ENV=production\n");
    b.git_in(&seed, &["add", "-A"]);
    b.git_in(&seed, &["commit", "-q", "-m", "release 7.0.0"]);
    b.git_in(&seed, &["tag", "-a", "-m", "7.0.0", "v1"]);
    put("config/app.php", &app_php("7.1.0"));
    put(
        "composer.lock",
        "{\"content-hash\": \"v2\", \"packages\": []}\n",
    );
    put(V2_MIGRATION, "<?php // add limits\n");
    b.git_in(&seed, &["add", "-A"]);
    b.git_in(&seed, &["commit", "-q", "-m", "release 7.1.0"]);
    b.git_in(&seed, &["tag", "-a", "-m", "7.1.0", "v2"]);
    b.git_in(
        b.tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            origin.to_str().unwrap(),
        ],
    );
    b.git_in(
        b.tmp.path(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            root.to_str().unwrap(),
        ],
    );
    b.git(&["reset", "-q", "--hard", "v1"]);
    b.v1 = b.git(&["rev-parse", "v1^{commit}"]);
    b.v2 = b.git(&["rev-parse", "v2^{commit}"]);
    assert_eq!(b.branch().as_deref(), Some("master"));
    assert_eq!(b.head(), b.v1);
    b
}

/// The `command` of each `data.plan` item.
pub fn commands(plan: &Value) -> Vec<String> {
    plan.as_array()
        .unwrap_or_else(|| panic!("not an array: {plan}"))
        .iter()
        .filter_map(|p| p["command"].as_str().map(str::to_string))
        .collect()
}

pub fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Every path under `dir` (not following symlinks, `dir` included) owned by `uid`.
pub fn owned_by(dir: &Path, uid: u32) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        if md.uid() == uid {
            found.push(p.clone());
        }
        if md.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
    }
    found.sort();
    found
}

impl Bed {
    /// Hand the checkout and the origin to `uid:gid` (as a web user owns an install) and
    /// let that user reach them.
    pub fn give_to(&self, uid: u32, gid: u32) {
        self.give_checkout_to(uid, gid);
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(&self.origin)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Hand only the checkout to `uid:gid`, and let that user reach it.
    pub fn give_checkout_to(&self, uid: u32, gid: u32) {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(&self.root)
            .status()
            .unwrap();
        assert!(status.success());
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// git as `uid:gid` in the checkout (what the web user itself can do), with `HOME`
    /// set to a directory that user owns.
    pub fn git_as(&self, uid: u32, gid: u32, args: &[&str]) -> String {
        let home = self.tmp.path().join(format!("home-{uid}"));
        if !home.exists() {
            std::fs::create_dir(&home).unwrap();
            std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
        }
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .env("HOME", &home)
            .env_remove("GIT_CONFIG_GLOBAL")
            .env("GIT_AUTHOR_NAME", "Web")
            .env("GIT_AUTHOR_EMAIL", "web@example.com")
            .env("GIT_COMMITTER_NAME", "Web")
            .env("GIT_COMMITTER_EMAIL", "web@example.com")
            .env("LC_ALL", "C")
            .current_dir(&self.root)
            .uid(uid)
            .gid(gid)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} as {uid}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }
}

impl Bed {
    /// A second clone of origin (made once), as another developer's.
    pub fn other_clone(&self) -> PathBuf {
        let other = self.tmp.path().join("other");
        if !other.exists() {
            self.git_in(
                self.tmp.path(),
                &[
                    "clone",
                    "-q",
                    self.origin.to_str().unwrap(),
                    other.to_str().unwrap(),
                ],
            );
        }
        other
    }

    /// Commit `file` = `text` on top of origin's master and push it; the new commit.
    pub fn push_to_origin(&self, file: &str, text: &str) -> String {
        let other = self.other_clone();
        self.git_in(&other, &["pull", "-q", "--ff-only", "origin", "master"]);
        std::fs::write(other.join(file), text).unwrap();
        self.git_in(&other, &["add", file]);
        self.git_in(&other, &["commit", "-q", "-m", &format!("change {file}")]);
        self.git_in(&other, &["push", "-q", "origin", "HEAD:master"]);
        self.git_in(&other, &["rev-parse", "HEAD"])
    }

    /// Rewrite origin's master: v1 plus another commit, force-pushed.
    pub fn rewrite_origin(&self) {
        let other = self.other_clone();
        self.git_in(&other, &["reset", "-q", "--hard", "v1"]);
        std::fs::write(other.join("public/index.php"), "<?php // rewritten\n").unwrap();
        self.git_in(&other, &["commit", "-q", "-am", "rewritten history"]);
        self.git_in(&other, &["push", "-q", "--force", "origin", "HEAD:master"]);
    }
}
