//! How the walk's threads share work: a busy thread hands a directory it has opened,
//! checked and fixed to an idle one, and only when one is idle, so the queue never holds
//! more directories (and descriptors) than there are threads.

use nix::dir::Dir;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard};

/// A directory to walk: opened with `O_NOFOLLOW` relative to its parent's descriptor and
/// checked (device, inode) by the thread that found it; its own owner and mode are done.
pub struct Task {
    pub dir: Dir,
    /// Absolute, for messages only.
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
}

struct State {
    tasks: Vec<Task>,
    /// Threads working (or about to): the walk is over when none is and no task is left.
    busy: usize,
    done: bool,
}

pub struct Pool {
    state: Mutex<State>,
    cv: Condvar,
    /// Threads waiting for a task, and tasks waiting for a thread: read without the lock
    /// on every entry, so only ever a hint.
    idle: AtomicUsize,
    queued: AtomicUsize,
    /// Entries examined by all threads (for the progress line).
    pub scanned: AtomicU64,
}

impl Pool {
    /// A pool whose one busy thread is the caller's.
    pub fn new() -> Pool {
        Pool {
            state: Mutex::new(State {
                tasks: Vec::new(),
                busy: 1,
                done: false,
            }),
            cv: Condvar::new(),
            idle: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            scanned: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked holding the lock left nothing half-updated that matters
        // here (a Vec push/pop and two counters): carry on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new thread joins (false: the walk is already over).
    pub fn join(&self) -> bool {
        let mut st = self.lock();
        if st.done {
            return false;
        }
        st.busy += 1;
        true
    }

    /// Whether a thread is waiting for work nobody has offered yet.
    pub fn hungry(&self) -> bool {
        self.idle.load(Relaxed) > self.queued.load(Relaxed)
    }

    pub fn offer(&self, t: Task) {
        let mut st = self.lock();
        st.tasks.push(t);
        self.queued.store(st.tasks.len(), Relaxed);
        drop(st);
        self.cv.notify_one();
    }

    /// The calling thread is out of work: the next task, or None when the walk is over.
    pub fn next(&self) -> Option<Task> {
        let mut st = self.lock();
        st.busy -= 1;
        loop {
            if let Some(t) = st.tasks.pop() {
                st.busy += 1;
                self.queued.store(st.tasks.len(), Relaxed);
                return Some(t);
            }
            if st.busy == 0 || st.done {
                st.done = true;
                drop(st);
                self.cv.notify_all();
                return None;
            }
            self.idle.fetch_add(1, Relaxed);
            st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
            self.idle.fetch_sub(1, Relaxed);
        }
    }
}
