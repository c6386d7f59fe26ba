//! The race the walks must win: while root walks storage/, the web user keeps swapping a
//! directory in it for a symlink to a root-owned directory outside the install. Neither
//! df-artisan's hand-back of root-owned files nor df-perms may change anything there.

mod support;

use std::fs;
use std::os::unix::fs::{chown, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use support::bins::{bin, run_command, Run};
use support::trees::{install, snapshot, via, Install, WWW};

const ITERATIONS: usize = 200;

/// The attacker, as www-data: swap `storage/sub` (a directory) and `storage/sub.link` (a
/// symlink to `outside`) as fast as it can until `stop` exists — atomically with
/// renameat2(RENAME_EXCHANGE) (x86_64 syscall 316), so the name flips every few
/// microseconds, else with two renames. Leaves `sub` the directory; prints the swap count.
const SWAPPER: &str = r#"
my ($s, $out, $stop) = @ARGV;
symlink($out, "$s/sub.link") or die "symlink: $!";
my ($a, $b) = ("$s/sub", "$s/sub.link");
my $exchange = sub { syscall(316, -100, $a, -100, $b, 2) == 0 };
my $n = 0;
until (-e $stop) {
    for (1 .. 100) {
        if ($exchange->()) { $n++; next; }
        rename($a, "$a.tmp") && rename($b, $a) && rename("$a.tmp", $b) && $n++;
    }
}
if (-l $a) { $exchange->() or (rename($a, "$a.tmp") && rename($b, $a) && rename("$a.tmp", $b)); }
print "$n\n";
"#;

struct Race {
    i: Install,
    outside: PathBuf,
    stop: PathBuf,
    swapper: Child,
    /// Kills the attacker when a failed assertion unwinds past the test (it loops
    /// until told to stop, and would spin on a core for ever).
    _guard: KillOnDrop,
}

struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// An install whose storage/ (www-data's) has `sub/` with root-owned entries in it (work
/// for the sweep), and a root-owned directory outside the install with root-owned files
/// (0700/0600): what the symlink points to.
fn race() -> Race {
    let i = install(WWW);
    let s = i.root.join("storage");
    let sub = s.join("sub");
    fs::create_dir_all(sub.join("deeper")).unwrap();
    fs::write(sub.join("root-owned.log"), "x").unwrap();
    fs::write(sub.join("deeper/cache"), "x").unwrap();
    chown(&sub, Some(WWW), Some(WWW)).unwrap();
    let outside = i.tmp.path().join("outside");
    fs::create_dir_all(outside.join("inner")).unwrap();
    for f in ["secret", "inner/key", "root-owned.log"] {
        fs::write(outside.join(f), "s").unwrap();
        fs::set_permissions(outside.join(f), fs::Permissions::from_mode(0o600)).unwrap();
    }
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o700)).unwrap();
    let stop = i.tmp.path().join("stop");
    let swapper = Command::new("perl")
        .arg("-e")
        .arg(SWAPPER)
        .arg(&s)
        .arg(&outside)
        .arg(&stop)
        .uid(WWW)
        .gid(WWW)
        .stdout(Stdio::piped())
        .spawn()
        .expect("perl");
    let _guard = KillOnDrop(swapper.id() as i32);
    Race {
        i,
        outside,
        stop,
        swapper,
        _guard,
    }
}

impl Race {
    /// Stop the attacker; the number of swaps it made.
    fn finish(self) -> (Install, u64) {
        fs::write(&self.stop, "").unwrap();
        let out = self.swapper.wait_with_output().unwrap();
        assert!(out.status.success());
        let n = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(self.i.root.join("storage/sub").is_dir());
        (self.i, n)
    }
}

fn outside_unchanged(
    outside: &Path,
    before: &std::collections::BTreeMap<PathBuf, support::trees::Stamp>,
) {
    let after = snapshot(outside);
    for (p, b) in before {
        assert_eq!(
            after.get(p),
            Some(b),
            "{} changed owner, mode or ctime",
            p.display()
        );
    }
    assert_eq!(after.len(), before.len());
}

#[test]
fn df_artisans_sweep_never_follows_a_swapped_directory() {
    let r = race();
    let before = snapshot(&r.outside);
    assert!(before.values().all(|s| s.0 == 0));
    let mut swept = 0;
    for _ in 0..ITERATIONS {
        // Root-owned entries for the sweep to hand back each time, written through a
        // descriptor of the real directory (by path, this very test would follow the
        // attacker's symlink).
        if let Ok(sub) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(r.i.root.join("storage/sub"))
        {
            let f = via(&sub, "root-owned.log");
            let _ = fs::write(&f, "x");
            let _ = chown(&f, Some(0), Some(0));
        }
        let mut c = Command::new(bin("df-artisan"));
        c.arg("--root").arg(&r.i.root).arg("--php").arg(&r.i.php);
        c.args(["run", "--", "about"]);
        let out: Run = run_command(c);
        out.assert_ok();
        if out.changed() {
            swept += 1;
        }
    }
    let outside = r.outside.clone();
    let (i, swaps) = r.finish();
    eprintln!("{ITERATIONS} df-artisan runs, {swept} handed files back, {swaps} swaps");
    assert!(swaps > 0, "the attacker never got to run");
    outside_unchanged(&outside, &before);
    // The real directory's root-owned entries did go back to www-data.
    let md = fs::symlink_metadata(i.root.join("storage/sub/deeper/cache")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), WWW);
}

#[test]
fn df_perms_never_follows_a_swapped_directory() {
    let r = race();
    let before = snapshot(&r.outside);
    let root = r.i.root.display().to_string();
    let mut seen = 0;
    for n in 0..ITERATIONS {
        // Alternate owners and modes so every run has work to do (the group keeps the
        // attacker able to write storage/).
        let (user, mode) = if n % 2 == 0 {
            ("www-data", "2775")
        } else {
            ("12345", "2770")
        };
        let mut c = Command::new(bin("df-perms"));
        // One thread, two, and more threads than cores: the swapped directory is met by
        // whichever thread, handed over or not.
        c.env("DFKIT_WALK_THREADS", ["1", "2", "4"][n % 3]);
        c.args([
            "--root", &root, "--user", user, "--group", "www-data", "--mode", mode,
        ]);
        let out = run_command(c);
        // A swapped entry may also vanish between readdir and open: skipped, not an error.
        out.assert_ok();
        seen += out.data()["skipped_by_reason"]["changed_during_walk"]
            .as_u64()
            .unwrap_or(0);
    }
    let outside = r.outside.clone();
    let (_i, swaps) = r.finish();
    eprintln!("{ITERATIONS} df-perms runs, {seen} swapped entries seen and skipped, {swaps} swaps");
    assert!(swaps > 0, "the attacker never got to run");
    outside_unchanged(&outside, &before);
}

/// df-backup-env snapshot's walk (lib/tree.rs) under the same attack: it must neither
/// change anything outside nor copy what the symlink leads to into the snapshot.
#[test]
fn a_snapshot_never_copies_what_a_swapped_directory_leads_to() {
    let r = race();
    let before = snapshot(&r.outside);
    let (mut ok, mut refused) = (0, 0);
    for n in 0..SNAPSHOTS {
        let set = r.i.tmp.path().join(format!("set{n}"));
        let out = support::bins::run(
            "df-backup-env",
            [
                std::ffi::OsStr::new("--root"),
                r.i.root.as_os_str(),
                std::ffi::OsStr::new("snapshot"),
                std::ffi::OsStr::new("--into"),
                set.as_os_str(),
            ],
        );
        if out.ok() {
            ok += 1;
            // `sub` and `sub.link` trade places all the time: in the copy each is either
            // the symlink (copied as a symlink: fine) or the real directory, which must
            // not hold what lies outside.
            for name in ["sub", "sub.link"] {
                let copy = set.join("tree/storage").join(name);
                let Ok(md) = fs::symlink_metadata(&copy) else {
                    continue;
                };
                if md.file_type().is_symlink() {
                    continue;
                }
                for leaked in ["secret", "inner", "inner/key"] {
                    assert!(
                        fs::symlink_metadata(copy.join(leaked)).is_err(),
                        "run {n}: the snapshot copied {leaked} from outside the root into {name}"
                    );
                }
            }
        } else {
            // Seeing the tree change under it, a snapshot may refuse (nothing half-done).
            refused += 1;
            assert!(!set.join("tree").exists(), "run {n}: {}", out.json);
        }
        let _ = fs::remove_dir_all(&set);
    }
    let outside = r.outside.clone();
    let (_i, swaps) = r.finish();
    eprintln!("{SNAPSHOTS} snapshots: {ok} complete, {refused} refused; {swaps} swaps");
    assert!(swaps > 0, "the attacker never got to run");
    outside_unchanged(&outside, &before);
}

const SNAPSHOTS: usize = 60;
