//! A running child in its own process group: deadline, bounded capture, group kill.
//!
//! Why a group: a child may start its own children (composer scripts, `sh -c` helpers).
//! They inherit our pipes; killing only the child leaves them holding stdout open, and a
//! reader waiting for end-of-file then waits for them. Killing the group ends them all.
//!
//! Why the leader is observed with `waitid(WNOWAIT)` and reaped last: while the leader is
//! an unreaped zombie its pid (which is the group id) cannot be reused, so `killpg` can
//! never hit an unrelated group.

use super::Output;
use crate::error::{Error, ErrorKind, Result};
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::Read;
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long pipes may stay open after the child exited before what still holds them
/// (background grandchildren in its group) is killed: buffered output is read at once,
/// so this only waits for stragglers.
const LINGER: Duration = Duration::from_secs(2);

/// How long to wait for pipe readers after the group was killed before giving up on
/// them (a process that left the group may still hold the pipe).
const AFTER_KILL: Duration = Duration::from_millis(300);

/// Bytes read from a pipe: everything, or only the last `cap` bytes.
#[derive(Default)]
pub(super) struct Buf {
    data: Vec<u8>,
    cap: Option<usize>,
}

impl Buf {
    fn push(&mut self, b: &[u8]) {
        self.data.extend_from_slice(b);
        if let Some(cap) = self.cap {
            // Trim in batches (at twice the cap) so long streams stay linear.
            if self.data.len() > cap.saturating_mul(2) {
                let cut = self.data.len() - cap;
                self.data.drain(..cut);
            }
        }
    }
    fn take(&mut self) -> Vec<u8> {
        let mut d = std::mem::take(&mut self.data);
        if let Some(cap) = self.cap {
            if d.len() > cap {
                d.drain(..d.len() - cap);
            }
        }
        d
    }
}

/// A pipe read on its own thread into a shared buffer, so that what was read so far can
/// be taken even when the pipe never closes.
pub(super) struct Capture {
    buf: Arc<Mutex<Buf>>,
    /// Disconnected when the reader thread has finished (end of file or error).
    done: mpsc::Receiver<()>,
    finished: bool,
}

impl Capture {
    pub(super) fn start<R: Read + Send + 'static>(r: R, cap: Option<usize>) -> Capture {
        let buf = Arc::new(Mutex::new(Buf {
            data: Vec::new(),
            cap,
        }));
        let (tx, done) = mpsc::channel::<()>();
        let shared = Arc::clone(&buf);
        std::thread::spawn(move || {
            let _tx = tx; // dropped at the end: tells `wait_until` we are done
            let mut r = r;
            let mut b = vec![0u8; 64 << 10];
            loop {
                match r.read(&mut b) {
                    Ok(0) => break,
                    Ok(n) => lock(&shared).push(&b[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        });
        Capture {
            buf,
            done,
            finished: false,
        }
    }

    /// Write `bytes` to the child's stdin on a thread (then close it); "finished" when
    /// written or refused.
    pub(super) fn feed(mut w: ChildStdin, bytes: Vec<u8>) -> Capture {
        let (tx, done) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _tx = tx;
            use std::io::Write;
            let _ = w.write_all(&bytes);
        });
        Capture {
            buf: Arc::default(),
            done,
            finished: false,
        }
    }

    /// Wait for end of file until `until` (None: no limit). True when finished.
    fn wait_until(&mut self, until: Option<Instant>) -> bool {
        if self.finished {
            return true;
        }
        let r = match until {
            None => self.done.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => self
                .done
                .recv_timeout(t.saturating_duration_since(Instant::now())),
        };
        self.finished = matches!(r, Err(RecvTimeoutError::Disconnected));
        self.finished
    }

    /// What was read so far (all of it once finished).
    fn take(&mut self) -> Vec<u8> {
        lock(&self.buf).take()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Shared between the handle and its deadline watchdog.
#[derive(Default)]
struct State {
    /// The leader was reaped: its pid no longer names our group, never signal it again.
    reaped: bool,
    timed_out: bool,
}

/// A spawned child (see [`super::Cmd::start`]). Dropping it without [`Running::finish`]
/// kills its whole process group and reaps it.
pub struct Running {
    child: Child,
    pid: Pid,
    shown: String,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    out_cap: Option<Capture>,
    err_cap: Option<Capture>,
    /// Feeds `Input::Bytes`; done when its thread ends.
    feeder: Option<Capture>,
    started: Instant,
    deadline: Option<Instant>,
    state: Arc<Mutex<State>>,
    /// Dropped when finished: stops the watchdog.
    _watchdog: Option<mpsc::Sender<()>>,
}

impl Running {
    pub(super) fn new(
        child: Child,
        shown: String,
        caps: (Option<Capture>, Option<Capture>, Option<Capture>),
        deadline: Option<Instant>,
        started: Instant,
    ) -> Running {
        let mut child = child;
        let pid = Pid::from_raw(child.id() as i32);
        let state = Arc::new(Mutex::new(State::default()));
        let watchdog = deadline.map(|d| {
            let (tx, rx) = mpsc::channel::<()>();
            let st = Arc::clone(&state);
            std::thread::spawn(move || {
                let wait = d.saturating_duration_since(Instant::now());
                if rx.recv_timeout(wait) == Err(RecvTimeoutError::Timeout) {
                    let mut s = lock(&st);
                    if !s.reaped {
                        // Only a leader still running has timed out; stragglers of one
                        // that exited are killed all the same (they hold our pipes).
                        s.timed_out |= !exited(pid);
                        kill_group(pid);
                    }
                }
            });
            tx
        });
        let (out_cap, err_cap, feeder) = caps;
        Running {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            child,
            pid,
            shown,
            out_cap,
            err_cap,
            feeder,
            started,
            deadline,
            state,
            _watchdog: watchdog,
        }
    }

    /// The child's stdin, when spawned with [`super::Input::Pipe`]. Drop it (or call
    /// [`Running::finish`]) to send end of file.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// The child's stdout, when spawned after [`super::Cmd::pipe_stdout`]. Read it to end
    /// of file before [`Running::finish`]; at the deadline the group is killed, so the
    /// read ends then.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// The child's pid, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Kill the child's whole process group now (e.g. the caller stopped reading because
    /// writing the output failed). [`Running::finish`] still reaps it and reports the
    /// signal.
    pub fn kill(&mut self) {
        let s = lock(&self.state);
        if !s.reaped {
            kill_group(self.pid);
        }
    }

    /// Wait for the child (killing its group at the deadline), collect what was captured,
    /// reap it. A non-zero exit is not an error here; only failing to wait is.
    ///
    /// Pipes the child's group still holds open are read until the deadline, or for two
    /// seconds after the child exited; then the group is killed and what was read so
    /// far is returned. A tool never hangs on a grandchild holding a pipe.
    pub fn finish(mut self) -> Result<Output> {
        drop(self.stdin.take());
        // A piped stdout the caller never took: nobody will read it.
        drop(self.stdout.take());
        // 1. The leader's exit, observed without reaping it.
        loop {
            match waitid(
                Id::Pid(self.pid),
                WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
            ) {
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("waiting for {}: {e}", self.shown),
                    ))
                }
            }
        }
        // 2. The pipes: until closed, the deadline, or the linger time after exit (but
        //    always long enough to drain what is buffered).
        let now = Instant::now();
        let drain = now.checked_add(AFTER_KILL);
        let linger = now.checked_add(LINGER);
        let until = match self.deadline {
            Some(d) => linger.map(|l| l.min(d.max(drain.unwrap_or(d)))),
            None => linger,
        };
        if !self.wait_pipes(until) {
            // Stragglers of an exited leader hold our pipes: end them. The leader's own
            // status stands (`timed_out` says whether *it* ran out of time).
            {
                let _s = lock(&self.state);
                kill_group(self.pid);
            }
            self.wait_pipes(Instant::now().checked_add(AFTER_KILL));
        }
        // 3. Reap (the group is gone or on its own now).
        let status = {
            let mut s = lock(&self.state);
            super::signals::unregister(self.pid);
            let st = self.child.wait();
            s.reaped = true;
            st
        }
        .map_err(|e| Error::new(ErrorKind::Io, format!("waiting for {}: {e}", self.shown)))?;
        use std::os::unix::process::ExitStatusExt;
        let timed_out = lock(&self.state).timed_out;
        Ok(Output {
            code: status.code(),
            signal: status.signal(),
            stdout: self.out_cap.as_mut().map(Capture::take).unwrap_or_default(),
            stderr: self.err_cap.as_mut().map(Capture::take).unwrap_or_default(),
            duration: self.started.elapsed(),
            timed_out,
        })
    }

    /// Wait for every captured pipe (and the stdin feeder) until `until`.
    fn wait_pipes(&mut self, until: Option<Instant>) -> bool {
        [&mut self.out_cap, &mut self.err_cap, &mut self.feeder]
            .into_iter()
            .flatten()
            // Short-circuits: all share one `until`, so one not done means "kill".
            .all(|c| c.wait_until(until))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let reaped = lock(&self.state).reaped;
        if !reaped {
            kill_group(self.pid);
            super::signals::unregister(self.pid);
            let _ = self.child.wait();
            lock(&self.state).reaped = true;
        }
    }
}

/// Has the leader exited (without reaping it)?
fn exited(pid: Pid) -> bool {
    !matches!(
        waitid(
            Id::Pid(pid),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG,
        ),
        Ok(WaitStatus::StillAlive)
    )
}

/// SIGKILL the group `pgid` (the leader's pid). Callers hold the state lock and have
/// checked the leader is not reaped, so the id is still ours.
fn kill_group(pgid: Pid) {
    let _ = killpg(pgid, Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_buffer_keeps_the_end() {
        let mut b = Buf {
            data: Vec::new(),
            cap: Some(4),
        };
        for chunk in [&b"abc"[..], b"defgh", b"ij", b"k"] {
            b.push(chunk);
        }
        assert_eq!(b.take(), b"hijk");
        let mut full = Buf::default();
        full.push(b"abc");
        full.push(b"def");
        assert_eq!(full.take(), b"abcdef");
    }
}
