//! A child whose grandchild holds stdout open past the timeout: the tool returns within
//! the timeout plus one second, with its documented timeout error, and no process of
//! the child's process group survives.
//!
//! The error follows each tool's convention (docs/json.md): df-artisan reports a step
//! that ran out of time as `step_failed` (exit 1) with a "raise --timeout" hint;
//! df-git-update reports a git command that timed out as `unavailable` (exit 69).

mod support;
use std::path::Path;
use std::time::{Duration, Instant};
use support::bins::run_env;

/// A stand-in program: records its pid (= its process group: exec makes every child a
/// group leader) and its background child's pid, then waits, while the background
/// child keeps the inherited stdout and stderr open.
fn holder(path: &Path, pids: &Path) {
    std::fs::write(
        path,
        format!(
            "#!/bin/sh\necho $$ >> '{p}'\nsleep 300 &\necho $! >> '{p}'\nsleep 300\n",
            p = pids.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A minimal install: enough for the tools to get as far as running their program.
fn install(root: &Path) {
    for d in ["storage/logs", "bootstrap/cache", "config"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("artisan"), "<?php\n").unwrap();
    std::fs::write(root.join(".env"), "APP_ENV=local\n").unwrap();
}

fn recorded(pids: &Path) -> Vec<u32> {
    std::fs::read_to_string(pids)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Alive and not a zombie (a zombie has exited; its reaper is not ours to wait for).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let st = s[s.rfind(')')? + 1..]
                .split_whitespace()
                .next()?
                .to_string();
            Some(st != "Z" && st != "X")
        })
        .unwrap_or(false)
}

#[track_caller]
fn assert_group_gone(pids: &Path) {
    let pids = recorded(pids);
    assert!(
        pids.len() >= 2,
        "the stand-in should have run and started its background child: {pids:?}"
    );
    let pgid = pids[0];
    // Each run records (leader, background child); leaders are their group's id.
    for (i, &p) in pids.iter().enumerate() {
        assert!(!alive(p), "pid {p} survived ({pids:?})");
        if i % 2 == 0 {
            let left = dfkit::exec::group_members(p);
            assert!(left.is_empty(), "group {p} keeps {left:?}");
        }
    }
    assert!(dfkit::exec::group_members(pgid).is_empty());
}

#[test]
fn artisan_run_times_out_with_a_grandchild_holding_stdout() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    install(&root);
    let php = d.path().join("php");
    let pids = d.path().join("pids");
    holder(&php, &pids);
    let t0 = Instant::now();
    let r = run_env(
        "df-artisan",
        [
            "--root",
            root.to_str().unwrap(),
            "run",
            "--php",
            php.to_str().unwrap(),
            "--timeout",
            "2",
            "--",
            "x",
        ],
        &[],
    );
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}: {}", r.stdout);
    r.assert_code(1);
    assert_eq!(r.error_kind(), "step_failed");
    assert!(
        r.json["msg"].as_str().unwrap().contains("timed out"),
        "{}",
        r.stdout
    );
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("--timeout"));
    assert_eq!(r.data()["steps"][0]["exit_code"], serde_json::Value::Null);
    assert_group_gone(&pids);
}

#[test]
fn git_update_times_out_with_a_grandchild_holding_stdout() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    install(&root);
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let pids = d.path().join("pids");
    holder(&bin.join("git"), &pids);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let t0 = Instant::now();
    let r = run_env(
        "df-git-update",
        [
            "--root",
            root.to_str().unwrap(),
            "status",
            "--timeout",
            "1500ms",
        ],
        &[("PATH", &path)],
    );
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "took {took:?}: {}",
        r.stdout
    );
    r.assert_code(69);
    assert_eq!(r.error_kind(), "unavailable");
    assert!(r.json["msg"].as_str().unwrap().contains("timed out"));
    assert_group_gone(&pids);
}
