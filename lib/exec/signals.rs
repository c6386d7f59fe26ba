//! Children die with the tool.
//!
//! Each child runs in its own process group (so a timeout can kill the whole group), which
//! also takes it out of the terminal's foreground group and out of any group a wrapper
//! kills: Ctrl-C or a wrapper's SIGTERM would end the tool but leave `php artisan migrate`
//! or `pg_dump` running. So the live groups are registered here, and on SIGINT, SIGTERM,
//! SIGHUP or SIGQUIT the tool kills them, then dies of the signal as it would have.
//!
//! The groups get SIGTERM first, and [`GRACE`] to end: git then removes the
//! `.git/index.lock` it holds (a SIGKILLed git leaves it, and the next update or
//! `recover` finds the repository locked), a database client closes its session. What
//! is still there after that is SIGKILLed, the whole group.

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

/// Live child groups (0: free slot). Fixed-size and atomic: the handler may not
/// allocate or lock. More concurrent children than slots simply go unregistered.
static GROUPS: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Threads between "about to spawn" and "registered the child" (see [`Spawning`]).
static SPAWNING: AtomicI32 = AtomicI32::new(0);
/// The signal that is ending the tool (0: none yet).
static TERMINATING: AtomicI32 = AtomicI32::new(0);

/// Held from just before a spawn until the child is registered. A signal arriving then
/// cannot know the child's pid, so the handler leaves the dying to this guard: it kills
/// the groups and dies when dropped. Either the handler sees the guard's count, or the
/// guard sees the signal (both sequentially consistent), so no child escapes.
pub(super) struct Spawning(());

impl Spawning {
    /// Installs the handlers on first use; dies here if a signal already came.
    pub(super) fn begin() -> Spawning {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(install);
        SPAWNING.fetch_add(1, Ordering::SeqCst);
        let g = Spawning(());
        die_if_terminating();
        g
    }
}

impl Drop for Spawning {
    fn drop(&mut self) {
        SPAWNING.fetch_sub(1, Ordering::SeqCst);
        die_if_terminating();
    }
}

fn die_if_terminating() {
    let sig = TERMINATING.load(Ordering::SeqCst);
    if sig != 0 {
        kill_groups();
        die(sig);
    }
}

/// Remember a child's group (its pid), while holding a [`Spawning`].
pub(super) fn register(pgid: Pid) {
    for slot in &GROUPS {
        if slot
            .compare_exchange(0, pgid.as_raw(), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// Forget a group: call before reaping its leader (after that its id may be reused).
pub(super) fn unregister(pgid: Pid) {
    for slot in &GROUPS {
        let _ = slot.compare_exchange(pgid.as_raw(), 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

fn install() {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in FORWARDED {
        // SAFETY: `on_signal` only does async-signal-safe things (atomic loads, killpg,
        // resetting the disposition, raise); no other code in dfkit installs handlers.
        let old = unsafe { signal::sigaction(sig, &action) };
        if let Ok(old) = old {
            if old.handler() == SigHandler::SigIgn {
                // Ignored on purpose (nohup): keep it that way.
                // SAFETY: restores the previous disposition, SIG_IGN.
                let _ = unsafe { signal::sigaction(sig, &old) };
            }
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    TERMINATING.store(sig, Ordering::SeqCst);
    kill_groups();
    if SPAWNING.load(Ordering::SeqCst) == 0 {
        die(sig);
    }
    // A spawn is under way: its guard kills the new child's group too, then dies.
}

/// How long the children's group leaders get to end after SIGTERM.
const GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// SIGTERM to every group, up to [`GRACE`] for their leaders to end, then SIGKILL to
/// every group (grandchildren included). Async-signal-safe: killpg, waitid, nanosleep.
fn kill_groups() {
    let mut any = false;
    for slot in &GROUPS {
        let pg = slot.load(Ordering::SeqCst);
        if pg > 0 {
            let _ = signal::killpg(Pid::from_raw(pg), Signal::SIGTERM);
            any = true;
        }
    }
    let step = std::time::Duration::from_millis(5);
    let mut waited = std::time::Duration::ZERO;
    while any && waited < GRACE {
        if GROUPS
            .iter()
            .all(|slot| leader_ended(slot.load(Ordering::SeqCst)))
        {
            break;
        }
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: step.as_nanos() as libc::c_long,
        };
        // SAFETY: nanosleep is async-signal-safe; the pointers are valid for the call.
        unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        waited += step;
    }
    for slot in &GROUPS {
        let pg = slot.load(Ordering::SeqCst);
        if pg > 0 {
            let _ = signal::killpg(Pid::from_raw(pg), Signal::SIGKILL);
        }
    }
}

/// Whether the child `pid` (a group's leader) has ended. Not reaped (WNOWAIT): its id,
/// and its group's, stay its own until the tool waits for it. 0 (a free slot) and a
/// child already reaped count as ended.
fn leader_ended(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // SAFETY: waitid is async-signal-safe; `info` is a valid, zeroed siginfo_t.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r != 0 || info.si_pid() == pid
    }
}

/// Die of `sig` as without a handler. Async-signal-safe.
fn die(sig: libc::c_int) {
    if let Ok(sig) = Signal::try_from(sig) {
        // Die of the signal as without a handler (exit status 128 + n for the caller).
        // SAFETY: SIG_DFL installs no handler; async-signal-safe.
        let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
        let _ = signal::raise(sig);
    }
}
