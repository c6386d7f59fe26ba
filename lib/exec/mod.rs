//! The one place dfkit runs external programs.
//!
//! * The program is resolved with [`find_program`] (or taken as a path); a missing program
//!   is an `unavailable` error (exit 69) naming it and, where given, the package to install.
//! * argv is a list, never a shell string.
//! * stdin is /dev/null unless given; stdout and stderr are captured (never inherited:
//!   our stdout carries only the JSON report), or stdin/stdout are handed to the caller
//!   for streaming ([`Cmd::start`]).
//! * every child runs in its own process group; a timeout (or dropping a [`Running`]
//!   without finishing it) kills the whole group with SIGKILL, so grandchildren holding
//!   a pipe cannot hang a tool (see [`Running::finish`]). When the tool itself is
//!   interrupted (SIGINT, SIGTERM, SIGHUP, SIGQUIT) it kills its children's groups first.
//! * every child gets SIGTERM when the tool dies, however it dies, SIGKILL included
//!   (Linux's parent death signal, armed between fork and exec): a `df-artisan migrate`
//!   or a df-upgrade killed with -9 leaves no `artisan migrate` running under a retry or a
//!   `recover`, a killed restore no client importing. The signal follows the end of the
//!   spawning thread, so a child is always started by the thread that waits for it.
//! * secrets travel by environment or file, never argv; values registered with
//!   [`crate::secret::register`] are masked in [`Cmd::display`] and in captured output
//!   that ends up in reports.

mod child;
mod cmd;
mod signals;

pub use child::Running;

use crate::error::{Error, ErrorKind, Result};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How much of a streamed child's captured stdout/stderr is kept (the end of it): enough
/// for any error message, bounded for chatty programs.
pub const STREAM_TAIL: usize = 64 << 10;

/// What to feed the child on stdin.
#[derive(Debug, Clone)]
pub enum Input {
    /// /dev/null.
    Null,
    /// These bytes, written by a helper thread.
    Bytes(Vec<u8>),
    /// This file, opened read-only.
    File(PathBuf),
    /// A pipe handed to the caller ([`Running::take_stdin`]); only with [`Cmd::start`].
    Pipe,
}

/// A command to run.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    /// Environment variable names whose values are secrets (masked when shown).
    secret_env: Vec<OsString>,
    cwd: Option<PathBuf>,
    input: Input,
    timeout: Option<Duration>,
    uid_gid: Option<(u32, u32)>,
    /// stdout goes to the caller ([`Running::take_stdout`]) instead of being captured.
    pipe_stdout: bool,
}

/// The result of a finished command.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; None when killed by a signal.
    pub code: Option<i32>,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
    pub timed_out: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// stdout then stderr, lossily decoded.
    pub fn combined(&self) -> String {
        let mut s = self.stdout_str();
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&self.stderr_str());
        s
    }
    /// The last `n` non-empty lines of stderr (or stdout when stderr is empty), scrubbed.
    pub fn tail(&self, n: usize) -> String {
        let src = if self.stderr.iter().all(u8::is_ascii_whitespace) {
            self.stdout_str()
        } else {
            self.stderr_str()
        };
        let lines: Vec<&str> = src.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = lines.len().saturating_sub(n);
        crate::secret::scrub(&lines[start..].join("\n"))
    }
    /// "exit 3", "killed by signal 9", "timed out".
    pub fn status_text(&self) -> String {
        if self.timed_out {
            "timed out".into()
        } else if let Some(c) = self.code {
            format!("exit {c}")
        } else {
            format!("killed by signal {}", self.signal.unwrap_or(0))
        }
    }
}

/// Find a program on PATH (or check a path), as an `unavailable` error (exit 69) when
/// missing.
///
/// The one program lookup of dfkit: lib modules call this (or
/// [`find_program_with_package`], [`probe_program`]) instead of `which`.
pub fn find_program(name: impl AsRef<OsStr>) -> Result<PathBuf> {
    lookup(name.as_ref(), None)
}

/// [`find_program`], naming the package that provides the program in the hint.
pub fn find_program_with_package(name: impl AsRef<OsStr>, package: &str) -> Result<PathBuf> {
    lookup(name.as_ref(), Some(package))
}

fn lookup(name: &OsStr, package: Option<&str>) -> Result<PathBuf> {
    probe_program(name).ok_or_else(|| {
        let shown = name.to_string_lossy();
        let e = Error::new(
            ErrorKind::Unavailable,
            format!("required program `{shown}` not found on PATH"),
        );
        match package {
            Some(p) => e.with_hint(format!("install {p} (it provides `{shown}`), or fix PATH")),
            None => e,
        }
    })
}

/// Where to look for a program: PATH, then the sbin directories PATH often lacks under
/// cron and sudo (service binaries live there). A name with a `/` is checked as a path.
/// None when not found: for callers probing alternatives.
pub fn probe_program(name: impl AsRef<OsStr>) -> Option<PathBuf> {
    let name = name.as_ref();
    if let Ok(p) = which::which(name) {
        return Some(p);
    }
    if Path::new(name).components().count() != 1 {
        return None;
    }
    ["/usr/sbin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Quote a word for a POSIX shell when it needs it (for display only — never executed).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Live (not zombie) processes whose process group is `pgid`, from /proc. For tests
/// and diagnostics: after a timeout this is empty.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            f.len() > 3 && f[0] != "Z" && f[0] != "X" && f[2] == pgid.to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Instant;

    #[test]
    fn captures_output_and_code() {
        let out = Cmd::new("sh")
            .unwrap()
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .run()
            .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout_str(), "out\n");
        assert_eq!(out.stderr_str(), "err\n");
        assert!(!out.success());
        assert_eq!(out.tail(1), "err");
    }

    #[test]
    fn stdin_bytes_and_env() {
        let out = Cmd::new("sh")
            .unwrap()
            .args(["-c", "cat; printf %s \"$FOO\""])
            .env("FOO", "bar")
            .stdin(Input::Bytes(b"in-".to_vec()))
            .run()
            .unwrap();
        assert_eq!(out.stdout_str(), "in-bar");
    }

    #[test]
    fn timeout_kills() {
        let out = Cmd::new("sleep")
            .unwrap()
            .arg("5")
            .timeout(Duration::from_millis(100))
            .run()
            .unwrap();
        assert!(out.timed_out);
        assert!(out.duration < Duration::from_secs(4));
    }

    #[test]
    fn missing_program_is_unavailable() {
        let e = Cmd::new("definitely-not-a-program-dfkit").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.message.contains("definitely-not-a-program-dfkit"));
    }

    #[test]
    fn display_masks_secret_env() {
        let c = Cmd::new("true")
            .unwrap()
            .secret_env("PGPASSWORD", "hunter2-secret")
            .arg("a b");
        let d = c.display();
        assert!(d.starts_with("PGPASSWORD='***' "), "{d}");
        assert!(d.ends_with("'a b'"), "{d}");
        assert!(!d.contains("hunter2"));
    }

    #[test]
    fn run_ok_reports_failure() {
        let e = Cmd::new("false").unwrap().run_ok().unwrap_err();
        assert_eq!(e.kind, ErrorKind::StepFailed);
        assert!(e.message.contains("exit 1"));
    }

    /// The leader's pid, read from a file the shell writes ("$$" is the group id).
    fn leader_of(pidfile: &std::path::Path) -> u32 {
        std::fs::read_to_string(pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn timeout_kills_the_whole_group_even_with_stdout_held() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let t0 = Instant::now();
        let out = Cmd::new("sh")
            .unwrap()
            .args([
                "-c",
                "echo $$ > \"$1\"; echo started; sleep 300 & sleep 300",
                "sh",
            ])
            .arg(&pidfile)
            .timeout(Duration::from_millis(500))
            .run()
            .unwrap();
        assert!(
            t0.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t0.elapsed()
        );
        assert!(out.timed_out);
        assert_eq!(out.status_text(), "timed out");
        assert_eq!(
            out.stdout_str(),
            "started\n",
            "output read before the kill is kept"
        );
        let pgid = leader_of(&pidfile);
        assert_eq!(
            group_members(pgid),
            Vec::<u32>::new(),
            "group {pgid} survived"
        );
    }

    #[test]
    fn background_grandchild_holding_stdout_does_not_hang_after_exit() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let t0 = Instant::now();
        // No timeout: the leader exits at once, its background child keeps stdout open.
        let out = Cmd::new("sh")
            .unwrap()
            .args(["-c", "echo $$ > \"$1\"; sleep 300 & echo done", "sh"])
            .arg(&pidfile)
            .run()
            .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
        assert_eq!(out.code, Some(0));
        assert!(!out.timed_out, "the command itself finished");
        assert_eq!(out.stdout_str(), "done\n");
        assert!(group_members(leader_of(&pidfile)).is_empty());
    }

    #[test]
    fn stragglers_of_a_finished_child_end_at_the_deadline_without_a_timeout() {
        let t0 = Instant::now();
        let out = Cmd::new("sh")
            .unwrap()
            .args(["-c", "sleep 300 & echo $$"])
            .timeout(Duration::from_millis(400))
            .run()
            .unwrap();
        assert!(
            t0.elapsed() < Duration::from_millis(1200),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(out.code, Some(0));
        assert!(!out.timed_out, "the command itself finished in time");
        let pgid: u32 = out.stdout_str().trim().parse().unwrap();
        assert!(group_members(pgid).is_empty());
    }

    #[test]
    fn streams_stdout_to_the_caller() {
        let mut r = Cmd::new("sh")
            .unwrap()
            .args(["-c", "head -c 1000000 /dev/zero; echo oops >&2; exit 2"])
            .pipe_stdout()
            .start()
            .unwrap();
        let mut n = 0usize;
        let mut out = r.take_stdout().unwrap();
        let mut buf = [0u8; 8192];
        loop {
            match out.read(&mut buf).unwrap() {
                0 => break,
                k => n += k,
            }
        }
        let o = r.finish().unwrap();
        assert_eq!(n, 1_000_000);
        assert_eq!(o.code, Some(2));
        assert!(o.stdout.is_empty());
        assert_eq!(o.stderr_str(), "oops\n");
    }

    #[test]
    fn streams_into_stdin_and_keeps_a_bounded_stdout_tail() {
        let mut r = Cmd::new("cat").unwrap().stdin(Input::Pipe).start().unwrap();
        let mut w = r.take_stdin().unwrap();
        let chunk = vec![b'x'; 1 << 16];
        for _ in 0..8 {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(b"END").unwrap();
        drop(w);
        let o = r.finish().unwrap();
        assert!(o.success());
        assert_eq!(o.stdout.len(), STREAM_TAIL);
        assert!(o.stdout.ends_with(b"xEND"));
    }

    #[test]
    fn streaming_deadline_ends_the_callers_read() {
        let mut r = Cmd::new("sh")
            .unwrap()
            .args(["-c", "echo a; sleep 300 & sleep 300"])
            .pipe_stdout()
            .timeout(Duration::from_millis(300))
            .start()
            .unwrap();
        let pgid = r.pid();
        let mut s = String::new();
        let t0 = Instant::now();
        r.take_stdout().unwrap().read_to_string(&mut s).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(s, "a\n");
        let o = r.finish().unwrap();
        assert!(o.timed_out);
        assert!(group_members(pgid).is_empty());
    }

    #[test]
    fn dropping_a_running_child_kills_its_group() {
        let r = Cmd::new("sh")
            .unwrap()
            .args(["-c", "sleep 300 & sleep 300"])
            .start()
            .unwrap();
        let pgid = r.pid();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!group_members(pgid).is_empty());
        drop(r);
        assert!(group_members(pgid).is_empty());
    }

    #[test]
    fn absurd_timeout_does_not_panic() {
        let out = Cmd::new("true")
            .unwrap()
            .timeout(Duration::MAX)
            .run()
            .unwrap();
        assert!(out.success());
    }

    #[test]
    fn missing_program_names_its_package() {
        let e = find_program_with_package("no-such-prog-dfkit", "the-pkg").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.hint.unwrap().contains("the-pkg"));
    }
}
