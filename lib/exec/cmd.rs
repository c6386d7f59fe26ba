//! Building a [`Cmd`], showing it, and starting it.

use super::child::{Capture, Running};
use super::{find_program, Cmd, Input, Output, STREAM_TAIL};
use crate::error::{Error, ErrorKind, Result};
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
            pipe_stdout: false,
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

    /// Kill the child's process group after `t` (measured from the start).
    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = Some(t);
        self
    }

    /// Hand stdout to the caller of [`Cmd::start`] ([`Running::take_stdout`]) instead of
    /// capturing it.
    pub fn pipe_stdout(mut self) -> Cmd {
        self.pipe_stdout = true;
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

    pub fn get_args(&self) -> &[std::ffi::OsString] {
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
            parts.push(format!(
                "{}={}",
                k.to_string_lossy(),
                super::shell_quote(&shown)
            ));
        }
        for a in self.argv_masked() {
            parts.push(super::shell_quote(&a));
        }
        parts.join(" ")
    }

    /// The configured std Command (stdio not set). Private: used directly it would have
    /// no deadline and no group kill.
    fn command(&self) -> Command {
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
            c.uid(uid).gid(gid);
        }
        // No own process group here: these legacy children are not registered for
        // signal forwarding, so they must stay in the terminal's group ([`Cmd::start`]
        // adds the group).
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

    fn stdin_stdio(&self) -> Result<Stdio> {
        Ok(match &self.input {
            Input::Null => Stdio::null(),
            Input::Bytes(_) | Input::Pipe => Stdio::piped(),
            Input::File(p) => {
                let f = std::fs::File::open(p).map_err(|e| Error::io("opening", p, e))?;
                Stdio::from(f)
            }
        })
    }

    /// Start the command for streaming: stdin per [`Input`] ([`Input::Pipe`]: the caller
    /// writes it), stdout to the caller after [`Cmd::pipe_stdout`] (else captured),
    /// stderr captured. Captured streams keep their last [`STREAM_TAIL`] bytes. The child
    /// runs in its own process group; at the [`Cmd::timeout`] deadline the whole group
    /// is killed. [`Running::finish`] waits and returns the same [`Output`] as
    /// [`Cmd::run`]; dropping the [`Running`] instead kills the group and reaps it.
    ///
    /// ```no_run
    /// # fn main() -> dfkit::Result<()> {
    /// use dfkit::exec::{Cmd, Input};
    /// use std::io::{Read, Write};
    ///
    /// // Read a large stdout as a stream.
    /// let mut dump = Cmd::new("pg_dump")?.arg("app").pipe_stdout().start()?;
    /// let mut out = dump.take_stdout().expect("piped");
    /// let mut buf = vec![0u8; 1 << 16];
    /// while out.read(&mut buf).unwrap_or(0) > 0 { /* compress and write buf */ }
    /// let status = dump.finish()?; // code, signal, stderr tail, timed_out
    /// assert!(status.success(), "{}", status.tail(5));
    ///
    /// // Write a stream into stdin.
    /// let mut psql = Cmd::new("psql")?.arg("app").stdin(Input::Pipe).start()?;
    /// let mut stdin = psql.take_stdin().expect("piped");
    /// if stdin.write_all(b"SELECT 1;\n").is_err() {
    ///     psql.kill(); // the client stopped reading: its status says why
    /// }
    /// drop(stdin); // end of file
    /// let out = psql.finish()?;
    /// # Ok(()) }
    /// ```
    pub fn start(&self) -> Result<Running> {
        self.launch(Some(STREAM_TAIL))
    }

    fn launch(&self, cap: Option<usize>) -> Result<Running> {
        let started = Instant::now();
        // Checked: an absurd timeout means "no deadline" rather than a panic (the duration
        // parser already refuses those on the command line).
        let deadline = self.timeout.and_then(|t| started.checked_add(t));
        let mut c = self.command();
        // Own group: a timeout or an abandoned handle kills the child's children too.
        c.process_group(0);
        // SIGTERM to the child when this process dies, even of SIGKILL (module docs).
        // Armed after std's setuid/setgid (a credential change would clear it).
        {
            use std::os::unix::process::CommandExt;
            let parent = std::process::id() as libc::pid_t;
            // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid)
            // and no allocation (the errors are raw OS errors).
            unsafe {
                c.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // The parent died before the death signal was armed: do not start.
                    if libc::getppid() != parent {
                        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                    }
                    Ok(())
                });
            }
        }
        c.stdin(self.stdin_stdio()?).stderr(Stdio::piped());
        c.stdout(Stdio::piped());
        let spawning = super::signals::Spawning::begin();
        let mut child = c.spawn().map_err(|e| self.spawn_err(e))?;
        super::signals::register(nix::unistd::Pid::from_raw(child.id() as i32));
        drop(spawning);
        let feeder = match &self.input {
            Input::Bytes(b) => child.stdin.take().map(|s| Capture::feed(s, b.clone())),
            _ => None,
        };
        let out_cap = if self.pipe_stdout {
            None
        } else {
            child.stdout.take().map(|o| Capture::start(o, cap))
        };
        let err_cap = child.stderr.take().map(|e| Capture::start(e, cap));
        Ok(Running::new(
            child,
            self.display(),
            (out_cap, err_cap, feeder),
            deadline,
            started,
        ))
    }

    /// Run to completion, capturing all of stdout and stderr. A non-zero exit is NOT an
    /// error here (see [`Cmd::run_ok`]); only failing to start is. At the timeout the
    /// child's whole group is killed and `timed_out` is set.
    pub fn run(&self) -> Result<Output> {
        if matches!(self.input, Input::Pipe) || self.pipe_stdout {
            return Err(Error::internal(format!(
                "`{}`: piped stdio needs Cmd::start, not run",
                self.display()
            )));
        }
        self.launch(None)?.finish()
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
