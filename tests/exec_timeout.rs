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
use support::bins::{run_env, Run};

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

/// A temporary install, and where the stand-in records its pids.
struct Bed {
    dir: tempfile::TempDir,
    root: String,
    pids: std::path::PathBuf,
}

fn bed() -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    install(&root);
    let pids = dir.path().join("pids");
    Bed {
        root: root.to_str().unwrap().to_string(),
        dir,
        pids,
    }
}

/// Run `tool` whose child times out after `timeout`: it must be back within the
/// timeout plus one second, and leave nothing of the child's group behind.
fn timed_out(tool: &str, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Run {
    let t0 = Instant::now();
    let r = run_env(tool, args, env);
    let took = t0.elapsed();
    eprintln!("{tool} returned after {took:?}");
    assert!(
        took < timeout + Duration::from_secs(1),
        "took {took:?}: {}",
        r.stdout
    );
    assert!(
        r.json["msg"].as_str().unwrap().contains("timed out"),
        "{}",
        r.stdout
    );
    r
}

#[test]
fn artisan_run_times_out_with_a_grandchild_holding_stdout() {
    let b = bed();
    let php = b.dir.path().join("php");
    holder(&php, &b.pids);
    let args = [
        "--root",
        &b.root,
        "run",
        "--php",
        php.to_str().unwrap(),
        "--timeout",
        "2",
        "--",
        "x",
    ];
    let r = timed_out("df-artisan", &args, &[], Duration::from_secs(2));
    r.assert_code(1);
    assert_eq!(r.error_kind(), "step_failed");
    let hint = r.json["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("--timeout"), "{hint}");
    assert_eq!(r.data()["steps"][0]["exit_code"], serde_json::Value::Null);
    assert_group_gone(&b.pids);
}

#[test]
fn git_update_times_out_with_a_grandchild_holding_stdout() {
    let b = bed();
    let bin = b.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    holder(&bin.join("git"), &b.pids);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let args = ["--root", &b.root, "status", "--timeout", "1500ms"];
    let r = timed_out(
        "df-git-update",
        &args,
        &[("PATH", &path)],
        Duration::from_millis(1500),
    );
    r.assert_code(69);
    assert_eq!(r.error_kind(), "unavailable");
    assert_group_gone(&b.pids);
}

/// A tool interrupted (Ctrl-C, or a wrapper's SIGTERM) takes its children with it, though
/// they run in their own process groups.
#[test]
fn an_interrupted_tool_kills_its_childrens_groups() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let b = bed();
        let php = b.dir.path().join("php");
        let pids = b.pids.clone();
        holder(&php, &pids);
        let mut tool = std::process::Command::new(support::bins::bin("df-artisan"))
            .args(["--root", &b.root, "run", "--php"])
            .arg(&php)
            .args(["--timeout", "60", "--", "x"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while recorded(&pids).len() < 2 {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the stand-in never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(tool.id() as i32),
            nix::sys::signal::Signal::try_from(sig).unwrap(),
        );
        let status = tool.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(sig), "dies of the signal, as before");
        assert!(t0.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(100));
        assert_group_gone(&pids);
    }
}
