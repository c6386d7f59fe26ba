//! Killing a tool at a chosen moment, and what the kill tests wait for after.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Start `c` (output discarded), wait until `ready` says Ok (its Err says what is
/// awaited; at most 60 s, and the tool must still be running), then kill -9 it and reap it.
pub fn kill_when_ready(mut c: Command, ready: impl Fn() -> Result<(), String>) {
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Err(awaited) = ready() {
        assert!(Instant::now() < deadline, "never came: {awaited}");
        assert!(
            child.try_wait().unwrap().is_none(),
            "{} ended first: {awaited}",
            c.get_program().to_string_lossy()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
}

/// Wait up to 10 s for `still` to turn false; past that, fail with what it says.
pub fn wait_gone(mut still: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(what) = still() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Make the next checkout of config/app.php in the checkout at `root` stop for 30 s in
/// a smudge filter, while git holds `.git/index.lock`, once: the filter removes `mark`
/// as it starts waiting (so `mark` gone and the lock there means "git is in there").
/// `git` runs git in that checkout, as the test's bed does.
pub fn hold_next_checkout(root: &Path, mark: &Path, git: impl Fn(&[&str]) -> String) {
    std::fs::write(mark, b"").unwrap();
    git(&[
        "config",
        "filter.slow.smudge",
        &format!(
            "f={}; if [ -e $f ]; then rm $f; sleep 30; fi; cat",
            mark.display()
        ),
    ]);
    std::fs::write(
        root.join(".git/info/attributes"),
        "config/app.php filter=slow\n",
    )
    .unwrap();
}
