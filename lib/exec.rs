//! The one place dfkit runs external programs.
//!
//! * The program is resolved with `which` (or taken as a path); a missing program is an
//!   `unavailable` error (exit 69) naming it and, where given, the package to install.
//! * argv is a list, never a shell string.
//! * stdin is /dev/null unless given; stdout and stderr are captured (never inherited:
//!   our stdout carries only the JSON report).
//! * an optional timeout kills the child (SIGKILL) and reports it.
//! * secrets travel by environment or file, never argv; values registered with
//!   [`crate::secret::register`] are masked in [`Cmd::display`] and in captured output
//!   that ends up in reports.

use crate::error::{Error, ErrorKind, Result};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What to feed the child on stdin.
#[derive(Debug, Clone)]
pub enum Input {
    Null,
    Bytes(Vec<u8>),
    File(PathBuf),
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

/// Find a program on PATH (or check a path), as an `unavailable` error when missing.
pub fn find_program(name: impl AsRef<OsStr>) -> Result<PathBuf> {
    let name = name.as_ref();
    which::which(name).map_err(|_| {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "required program `{}` not found on PATH",
                name.to_string_lossy()
            ),
        )
    })
}

impl Cmd {
    /// A command for `program`, resolved now on PATH (exit 69 when missing).
    pub fn new(program: impl AsRef<OsStr>) -> Result<Cmd> {
        Ok(Cmd::resolved(find_program(program)?))
    }

    /// A command for an already resolved program path (not checked).
    pub fn resolved(program: impl Into<PathBuf>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            secret_env: Vec::new(),
            cwd: None,
            input: Input::Null,
            timeout: None,
            uid_gid: None,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Cmd {
        self.env
            .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        self
    }

    /// An environment variable carrying a secret: masked in [`Cmd::display`], registered
    /// for scrubbing.
    pub fn secret_env(mut self, k: impl AsRef<OsStr>, v: &str) -> Cmd {
        crate::secret::register(v);
        self.secret_env.push(k.as_ref().to_os_string());
        self.env(k, v)
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Cmd {
        self.env_remove.push(k.as_ref().to_os_string());
        self
    }

    pub fn current_dir(mut self, d: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(d.into());
        self
    }

    pub fn stdin(mut self, input: Input) -> Cmd {
        self.input = input;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = Some(t);
        self
    }

    /// Run as this uid/gid (supplementary groups dropped). Needs root.
    pub fn as_user(mut self, uid: u32, gid: u32) -> Cmd {
        self.uid_gid = Some((uid, gid));
        self
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// argv as strings (program first), masked: what a report may show.
    pub fn argv_masked(&self) -> Vec<String> {
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(self.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .map(|s| crate::secret::scrub(&s))
            .collect()
    }

    /// A shell-quoted, masked command line for plans and logs (secret env shown as ***).
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for (k, v) in &self.env {
            let shown = if self.secret_env.contains(k) {
                "***".to_string()
            } else {
                crate::secret::scrub(&v.to_string_lossy())
            };
            parts.push(format!("{}={}", k.to_string_lossy(), shell_quote(&shown)));
        }
        for a in self.argv_masked() {
            parts.push(shell_quote(&a));
        }
        parts.join(" ")
    }

    /// The configured std Command (stdio not set). For callers that stream.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for k in &self.env_remove {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        if let Some((uid, gid)) = self.uid_gid {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid);
        }
        c
    }

    fn spawn_err(&self, e: std::io::Error) -> Error {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::Unavailable,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::Io,
        };
        Error::new(kind, format!("cannot run {}: {e}", self.program.display()))
    }

    /// Spawn with the given stdout (stderr captured through a pipe, stdin per [`Input`]).
    pub fn spawn_with_stdout(&self, stdout: Stdio) -> Result<Child> {
        let mut c = self.command();
        c.stdout(stdout).stderr(Stdio::piped());
        match &self.input {
            Input::Null => {
                c.stdin(Stdio::null());
            }
            Input::Bytes(_) => {
                c.stdin(Stdio::piped());
            }
            Input::File(p) => {
                let f = std::fs::File::open(p).map_err(|e| Error::io("opening", p, e))?;
                c.stdin(Stdio::from(f));
            }
        }
        c.spawn().map_err(|e| self.spawn_err(e))
    }

    /// Run to completion, capturing stdout and stderr. A non-zero exit is NOT an error
    /// here (see [`Cmd::run_ok`]); only failing to start is.
    pub fn run(&self) -> Result<Output> {
        let t0 = Instant::now();
        let mut child = self.spawn_with_stdout(Stdio::piped())?;
        let feeder = if let Input::Bytes(b) = &self.input {
            let mut stdin = child.stdin.take();
            let b = b.clone();
            Some(std::thread::spawn(move || {
                use std::io::Write;
                if let Some(s) = stdin.as_mut() {
                    let _ = s.write_all(&b);
                }
            }))
        } else {
            None
        };
        let out_reader = read_in_thread(child.stdout.take());
        let err_reader = read_in_thread(child.stderr.take());
        let (status, timed_out) = wait_timeout(&mut child, self.timeout).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("waiting for {}: {e}", self.display()),
            )
        })?;
        if let Some(f) = feeder {
            let _ = f.join();
        }
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        use std::os::unix::process::ExitStatusExt;
        Ok(Output {
            code: status.code(),
            signal: status.signal(),
            stdout,
            stderr,
            duration: t0.elapsed(),
            timed_out,
        })
    }

    /// Run; a non-zero exit becomes a `step_failed` error carrying the output's tail.
    pub fn run_ok(&self) -> Result<Output> {
        let out = self.run()?;
        if out.success() {
            Ok(out)
        } else {
            Err(Error::step(format!(
                "`{}` failed ({}): {}",
                self.display(),
                out.status_text(),
                out.tail(5)
            )))
        }
    }
}

fn read_in_thread<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

/// Wait for a child, killing it after `timeout`. Returns (status, timed_out).
pub fn wait_timeout(
    child: &mut Child,
    timeout: Option<Duration>,
) -> std::io::Result<(ExitStatus, bool)> {
    let Some(timeout) = timeout else {
        return Ok((child.wait()?, false));
    };
    let deadline = Instant::now() + timeout;
    let mut sleep = Duration::from_millis(1);
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok((st, false));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return Ok((child.wait()?, true));
        }
        std::thread::sleep(sleep);
        // A short cap: a 35 ms client run is seen to end within ~5 ms, not ~60 ms later
        // (short queries are most runs; the polling cost is negligible).
        sleep = (sleep * 2).min(Duration::from_millis(5));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
