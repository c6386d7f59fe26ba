//! Faults: every tool that writes, killed with SIGKILL at random moments (at least 20 runs
//! each: df-dump-db dump, df-backup-env save and snapshot, df-upgrade, df-migrate export
//! and import), and starved of disk (a small tmpfs; RLIMIT_FSIZE with SIGXFSZ ignored, so
//! the tool sees EFBIG).
//!
//! After each kill: no partial artifact under its final name, no manifest for an
//! incomplete set, an artifact without its meta treated as incomplete by the next run,
//! every temporary swept by the next run, and `df-upgrade recover` / `df-migrate recover`
//! bring the install back (tree listing, .env bytes, HEAD and a full dump compared).
//!
//! Kill moments are drawn uniformly over the tool's real duration (one unkilled run is
//! timed first) from a seeded RNG: the seed is printed; `DFKIT_FAULT_SEED=N` repeats a
//! run and `DFKIT_FAULT_RUNS=N` changes the number of kills per tool. A kill takes the
//! tool and every process it started (found by an environment tag), as a crash or an
//! OOM kill of the whole unit would. SQLite sandboxes only: the driver does not matter
//! to what is tested here. Needs root (mount, chown).

mod support;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::bins::{self, Run};
use support::sandbox::Sandbox;
use support::upgrade::{full_dump, install_listing, listing};

/// Kills per tool.
fn runs() -> usize {
    std::env::var("DFKIT_FAULT_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

fn seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        let s = std::env::var("DFKIT_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("faults: seed {s} (DFKIT_FAULT_SEED={s} repeats these kill moments)");
        s
    })
}

/// splitmix64, seeded per test so each test's moments do not depend on the others'.
struct Rng(u64);

impl Rng {
    fn for_test(name: &str) -> Rng {
        let mut h = seed() ^ 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A moment in [0, max].
    /// A moment within the first 80 % of `max` (one unkilled run's length): runs vary,
    /// and a kill after the end tests nothing.
    fn moment(&mut self, max: Duration) -> Duration {
        let span = max.as_micros() as u64 * 4 / 5;
        Duration::from_micros(self.next() % (span + 1))
    }
}

static TAGS: AtomicU64 = AtomicU64::new(0);

/// Run `c` to its end, timed (the measure of the moments to kill it at).
#[track_caller]
fn timed(c: Command) -> (Run, Duration) {
    let t = Instant::now();
    let r = bins::run_command(c);
    (r, t.elapsed())
}

/// Start `c`, and after `delay` kill -9 it and every process it started. Returns
/// whether it had already ended by itself (no fault then).
fn kill_after(mut c: Command, delay: Duration) -> bool {
    let tag = format!(
        "{}.{}",
        std::process::id(),
        TAGS.fetch_add(1, Ordering::Relaxed)
    );
    c.env("DFKIT_FAULT_TAG", &tag)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    let ended = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        let left = delay.saturating_sub(start.elapsed());
        if left.is_zero() {
            break false;
        }
        std::thread::sleep(left.min(Duration::from_millis(2)));
    };
    let children = children_of(child.id() as i32);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    child.wait().unwrap();
    // The tool's own children die with it (the parent death signal), by themselves.
    support::kills::wait_gone(|| {
        let alive: Vec<i32> = children.iter().copied().filter(|p| alive(*p)).collect();
        (!alive.is_empty()).then(|| format!("children {alive:?} of the killed tool outlived it"))
    });
    kill_tagged(&tag);
    ended
}

/// `/proc/PID/stat`'s state and parent pid.
fn stat_of(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut f = stat.rsplit_once(')')?.1.split_whitespace();
    let state = f.next()?.chars().next()?;
    Some((state, f.next()?.parse().ok()?))
}

/// The live children of `parent`.
fn children_of(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| stat_of(*p).is_some_and(|(st, pp)| pp == parent && st != 'Z'))
        .collect()
}

/// Running (a zombie waits only for its reaping).
fn alive(pid: i32) -> bool {
    stat_of(pid).is_some_and(|(st, _)| st != 'Z')
}

/// SIGKILL every process whose environment carries the tag, until none is left
/// (a killed process's children are orphans that may still be starting their own).
fn kill_tagged(tag: &str) {
    let needle = format!("DFKIT_FAULT_TAG={tag}\0");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pids: Vec<i32> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/environ"))
                    .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
            })
            .collect();
        if pids.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} survive SIGKILL"
        );
        for p in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// dfkit temporaries anywhere under `dir` (`.NAME.dfkit-tmp.PID.N`, `.tree.dfkit-old.PID`,
/// `.df-migrate.dfkit-tmp.PID.N`, …).
fn temporaries(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_keys()
        .filter(|p| p.contains(".dfkit-") || p.contains(".df-migrate."))
        .collect()
}

fn sha256(p: &Path) -> String {
    dfkit::checksum::sha256_hex(&std::fs::read(p).unwrap())
}

fn json(p: &Path) -> Value {
    let text = std::fs::read(p).unwrap();
    serde_json::from_slice(&text)
        .unwrap_or_else(|e| panic!("{} is not whole JSON ({e})", p.display()))
}

/// A set as a kill left it: every artifact under its final name is whole (a meta matches
/// it; a dump without meta still decompresses to its trailer; a tree without meta was
/// only renamed once verified), and a manifest only names a complete set.
fn check_set(set: &Path, install_env: &[u8], when: &str) {
    if !set.exists() {
        return;
    }
    let env = set.join("env");
    if set.join("env.meta.json").exists() {
        let m = json(&set.join("env.meta.json"));
        assert_eq!(m["sha256"], sha256(&env), "{when}: env against its meta");
    }
    if env.exists() {
        assert_eq!(
            std::fs::read(&env).unwrap(),
            install_env,
            "{when}: env whole"
        );
    }
    let dump = set.join("db.sql.zst");
    if set.join("db.meta.json").exists() {
        let m = json(&set.join("db.meta.json"));
        assert_eq!(m["sha256"], sha256(&dump), "{when}: dump against its meta");
    }
    if dump.exists() {
        let text = zstd::decode_all(std::fs::File::open(&dump).unwrap())
            .unwrap_or_else(|e| panic!("{when}: {} is cut short: {e}", dump.display()));
        assert!(
            dfkit::dump::trailer_ok(dfkit::db::Driver::Sqlite, &text),
            "{when}: the dump under its final name lacks its trailer"
        );
    }
    let tree = set.join("tree");
    if set.join("tree.meta.json").exists() {
        let m: dfkit::backup_set::tree_meta::TreeMeta =
            serde_json::from_value(json(&set.join("tree.meta.json"))).unwrap();
        assert_eq!(
            dfkit::tree::count(&tree).unwrap(),
            m.counts,
            "{when}: tree against its meta"
        );
    }
    let manifest = set.join("manifest.json");
    if manifest.exists() {
        let m = json(&manifest);
        for a in m["artifacts"].as_array().unwrap() {
            let p = set.join(a["name"].as_str().unwrap());
            match a["sha256"].as_str() {
                Some(s) => assert_eq!(s, sha256(&p), "{when}: {} in the manifest", p.display()),
                None => assert!(p.is_dir(), "{when}: {} in the manifest", p.display()),
            }
        }
        for meta in ["env.meta.json", "db.meta.json", "tree.meta.json"] {
            assert!(
                set.join(meta).exists(),
                "{when}: a manifest beside an incomplete set (no {meta})"
            );
        }
    }
}

/// An install's state as a rollback must put it back.
#[derive(Debug, PartialEq)]
struct State {
    head: String,
    env: Vec<u8>,
    dump: String,
    vendor: BTreeMap<String, String>,
    tree: BTreeMap<String, String>,
}

fn state(sb: &Sandbox) -> State {
    State {
        head: sb.head(),
        env: std::fs::read(sb.env_path()).unwrap(),
        dump: full_dump(sb, None),
        vendor: listing(&sb.root.join("vendor")),
        // `df-backup-env restore` keeps the .env it replaces beside it, by design.
        tree: install_listing(&sb.root)
            .into_iter()
            .filter(|(k, _)| !k.starts_with(".env.before-restore."))
            .collect(),
    }
}

#[track_caller]
fn assert_state(before: &State, after: &State, when: &str) {
    assert_eq!(before.head, after.head, "{when}: HEAD");
    assert_eq!(before.env, after.env, "{when}: .env bytes");
    assert_eq!(before.vendor, after.vendor, "{when}: vendor/");
    assert_eq!(before.tree, after.tree, "{when}: the install's files");
    assert!(before.dump == after.dump, "{when}: the database differs");
}

/// A sqlite sandbox with a lock dir and a directory of sets. The sets live on a tmpfs
/// of their own: a snapshot's syncfs then flushes that tmpfs, not the disk every other
/// test is writing to, so a run's length (over which the kills are spread) holds steady.
struct Bed {
    _fs: Tmpfs,
    sb: Sandbox,
    sets: PathBuf,
}

impl Bed {
    fn new() -> Bed {
        let sb = Sandbox::new("sqlite", None);
        let sets = sb.tmp.path().join("sets");
        Bed {
            _fs: Tmpfs::new(sets.clone(), "256m"),
            sb,
            sets,
        }
    }

    fn root(&self) -> &Path {
        &self.sb.root
    }

    fn cmd(&self, tool: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bins::bin(tool));
        c.arg("--root").arg(self.root()).args(args);
        c.env("DFKIT_LOCK_DIR", self.sb.tmp.path().join("locks"));
        c.env_remove("DFKIT_TOOLS_DIR");
        c
    }

    fn run(&self, tool: &str, args: &[&str]) -> Run {
        bins::run_command(self.cmd(tool, args))
    }

    fn set(&self, name: &str) -> String {
        self.sets.join(name).display().to_string()
    }

    fn env(&self) -> Vec<u8> {
        std::fs::read(self.sb.env_path()).unwrap()
    }
}

/// The kill loop shared by the one-artifact tools: time one run, then `runs()` times
/// kill a run into a fresh set, check the set, and let `next` (the next run, into the
/// same set) handle what was left. Returns how many kills landed before the end.
fn kill_loop(
    name: &str,
    bed: &Bed,
    tool: &str,
    args: &[&str],
    next: impl Fn(&Path, &str),
) -> usize {
    let mut rng = Rng::for_test(name);
    let mut a: Vec<&str> = args.to_vec();
    let measure = bed.set("measure");
    a.extend(["--into", &measure]);
    let (r, took) = timed(bed.cmd(tool, &a));
    r.assert_ok();
    // The shorter of two runs: the first one also warms the caches.
    let measure = bed.set("measure2");
    let a: Vec<&str> = [args, &["--into", &measure]].concat();
    let mut took = took.min(timed(bed.cmd(tool, &a)).1);
    let env = bed.env();
    let mut landed = 0;
    for i in 0..runs() {
        let set = bed.sets.join(format!("k{i}"));
        let mut a: Vec<&str> = args.to_vec();
        let s = set.display().to_string();
        a.extend(["--into", &s]);
        let at = rng.moment(took);
        let when = format!("{name} #{i} killed at {at:?} of {took:?}");
        if !kill_after(bed.cmd(tool, &a), at) {
            landed += 1;
        } else {
            // The run ended first (the machine got faster, or the measure was slow):
            // aim earlier from now on, so that kills keep landing.
            took = took * 3 / 4;
        }
        check_set(&set, &env, &when);
        next(&set, &when);
        let left = temporaries(&bed.sets);
        assert!(left.is_empty(), "{when}: the next run left {left:?}");
    }
    eprintln!("{name}: {landed} of {} kills landed before the end", runs());
    landed
}

#[test]
fn dump_killed_at_random() {
    let bed = Bed::new();
    let landed = kill_loop("dump", &bed, "df-dump-db", &["dump"], |set, when| {
        let complete = set.join("db.meta.json").exists();
        let s = set.display().to_string();
        let r = bed.run("df-dump-db", &["dump", "--into", &s]);
        if complete {
            // A whole dump is kept: the next run refuses to replace it.
            r.assert_code(73);
        } else {
            assert_eq!(r.code, 0, "{when}: the next run: {}", r.stdout);
        }
        let v = bed.run("df-dump-db", &["verify", "--from", &s]);
        assert_eq!(v.code, 0, "{when}: verify: {}", v.stdout);
        let counts = &json(&set.join("db.meta.json"))["row_counts"];
        assert_eq!(counts["user"], 2, "{when}: {counts}");
    });
    assert!(landed * 2 >= runs(), "too few kills landed: {landed}");
}

#[test]
fn save_killed_at_random() {
    let bed = Bed::new();
    kill_loop("save", &bed, "df-backup-env", &["save"], |set, when| {
        let s = set.display().to_string();
        let r = bed.run("df-backup-env", &["save", "--into", &s]);
        assert_eq!(r.code, 0, "{when}: the next run: {}", r.stdout);
        assert_eq!(std::fs::read(set.join("env")).unwrap(), bed.env(), "{when}");
        check_set(set, &bed.env(), when);
        assert!(set.join("env.meta.json").exists(), "{when}");
    });
}

/// The install's listing as its snapshot holds it: the copies of top-level `.env*` files
/// are sealed 0600 in the set (their own modes are in tree.meta.json's `sealed`).
fn sealed(
    mut l: std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    for (path, desc) in l.iter_mut() {
        if path.starts_with(".env") && !path.contains('/') && desc.starts_with("file ") {
            let rest = desc.splitn(3, ' ').nth(2).unwrap_or_default().to_string();
            *desc = format!("file 600 {rest}");
        }
    }
    l
}

#[test]
fn snapshot_killed_at_random() {
    let bed = Bed::new();
    let landed = kill_loop(
        "snapshot",
        &bed,
        "df-backup-env",
        &["snapshot"],
        |set, when| {
            let s = set.display().to_string();
            let r = bed.run("df-backup-env", &["snapshot", "--into", &s]);
            assert_eq!(r.code, 0, "{when}: the next run: {}", r.stdout);
            assert_eq!(
                listing(&set.join("tree")),
                sealed(listing(bed.root())),
                "{when}: the snapshot is the install"
            );
            check_set(set, &bed.env(), when);
        },
    );
    assert!(landed * 2 >= runs(), "too few kills landed: {landed}");
}

/// A tree without its meta (the run died between the rename and the meta), and a dump
/// and an env without theirs, with other content: incomplete, so the next run replaces
/// them without --replace, and says so.
#[test]
fn artifact_without_meta_is_incomplete() {
    let bed = Bed::new();
    let set = bed.sets.join("s");
    let s = set.display().to_string();
    std::fs::create_dir_all(set.join("tree/stale")).unwrap();
    std::fs::write(set.join("env"), b"APP_KEY=old\n").unwrap();
    std::fs::write(
        set.join("db.sql.zst"),
        zstd::encode_all(&b"-- an old dump\n"[..], 3).unwrap(),
    )
    .unwrap();
    for (tool, sub, meta) in [
        ("df-backup-env", "snapshot", "tree.meta.json"),
        ("df-backup-env", "save", "env.meta.json"),
        ("df-dump-db", "dump", "db.meta.json"),
    ] {
        let r = bed.run(tool, &[sub, "--into", &s]);
        r.assert_ok();
        assert!(
            r.json["warnings"].to_string().contains("interrupted"),
            "{sub}: {}",
            r.stdout
        );
        assert!(set.join(meta).exists(), "{sub}");
    }
    assert_eq!(listing(&set.join("tree")), sealed(listing(bed.root())));
    check_set(&set, &bed.env(), "replaced");
    assert!(temporaries(&bed.sets).is_empty());
}

/// What the wrapper kill loop needs to know of a wrapper.
struct Wrapper<'a> {
    /// The run to kill, into the given set.
    start: &'a (dyn Fn(&Bed, &str) -> Command + Sync),
    /// The recovery after a kill.
    recover: &'a (dyn Fn(&Bed) -> Run + Sync),
    /// Whether the killed run got to its end (the sandbox is changed for good then).
    ended: &'a (dyn Fn(&Bed) -> bool + Sync),
}

/// Time one whole run of a wrapper, then kill -9 it at random moments on two sandboxes
/// at once; after each kill, the set is checked and the recovery must give the exact
/// install back. A run that got to its end leaves nothing to recover; a fresh sandbox
/// takes its place. After the loop, one whole run sweeps every temporary the killed runs
/// left.
fn wrapper_kills(name: &str, w: &Wrapper) {
    // One whole run, timed, on a sandbox of its own (it is changed for good).
    let took = {
        let bed = Bed::new();
        let (r, took) = timed((w.start)(&bed, &bed.set("m")));
        r.assert_ok();
        took
    };
    let n = runs();
    let beds = 2;
    let landed = AtomicU64::new(0);
    std::thread::scope(|s| {
        for b in 0..beds {
            let landed = &landed;
            s.spawn(move || {
                let mut rng = Rng::for_test(&format!("{name}{b}"));
                let mut bed = Bed::new();
                let mut before = state(&bed.sb);
                for i in (n * b / beds)..(n * (b + 1) / beds) {
                    let set = bed.sets.join(format!("k{i}"));
                    let at = rng.moment(took);
                    let when = format!("{name} #{i} killed at {at:?} of {took:?}");
                    if !kill_after((w.start)(&bed, &set.display().to_string()), at) {
                        landed.fetch_add(1, Ordering::Relaxed);
                    }
                    check_set(&set, &before.env, &when);
                    let r = (w.recover)(&bed);
                    assert_eq!(r.code, 0, "{when}: recover: {}", r.stdout);
                    assert!(
                        !bed.root().join("storage/framework/down").exists(),
                        "{when}: left in maintenance mode"
                    );
                    if (w.ended)(&bed) {
                        assert!(
                            r.json["data"]["rolled_back"].is_null(),
                            "{when}: {}",
                            r.stdout
                        );
                        bed = Bed::new();
                        before = state(&bed.sb);
                        continue;
                    }
                    assert_state(&before, &state(&bed.sb), &when);
                }
                let (r, _) = timed((w.start)(&bed, &bed.set("final")));
                r.assert_ok();
                let left = temporaries(&bed.sets);
                assert!(left.is_empty(), "{name}: a whole run left {left:?}");
                let left = temporaries(bed.root());
                assert!(left.is_empty(), "{name}: the install holds {left:?}");
            });
        }
    });
    let landed = landed.into_inner() as usize;
    eprintln!("{name}: {landed} of {n} kills landed before the end");
    assert!(landed * 2 >= n, "too few kills landed: {landed}");
}

#[test]
fn upgrade_killed_at_random() {
    wrapper_kills(
        "upgrade",
        &Wrapper {
            start: &|bed, set| bed.cmd("df-upgrade", &["--into", set, "--skip", "restart"]),
            recover: &|bed| bed.run("df-upgrade", &["recover", "--skip", "restart"]),
            ended: &|bed| bed.sb.head() == bed.sb.origin_git(&["rev-parse", "master"]),
        },
    );
}

#[test]
fn import_killed_at_random() {
    let old = Bed::new();
    let bundle = old.sets.join("bundle.tar");
    let b = bundle.display().to_string();
    old.run("df-migrate", &["export", "--into", &b]).assert_ok();
    let old_key = old.sb.app_key();
    let start = |bed: &Bed, set: &str| {
        bed.cmd(
            "df-migrate",
            &["import", &b, "--yes", "--into", set, "--skip", "restart"],
        )
    };
    wrapper_kills(
        "import",
        &Wrapper {
            start: &start,
            recover: &|bed| bed.run("df-migrate", &["recover", "--skip", "restart"]),
            ended: &|bed| bed.sb.app_key() == old_key,
        },
    );
}

#[test]
fn export_killed_at_random() {
    let bed = Bed::new();
    let mut rng = Rng::for_test("export");
    let export = |p: &Path| {
        let p = p.display().to_string();
        bed.cmd("df-migrate", &["export", "--into", &p])
    };
    let inspect = |p: &Path, when: &str| {
        let r = bed.run("df-migrate", &["inspect", &p.display().to_string()]);
        assert_eq!(r.code, 0, "{when}: inspect: {}", r.stdout);
    };
    let (r, took) = timed(export(&bed.sets.join("m.tar")));
    r.assert_ok();
    // The shorter of two runs: the first one also warms the caches.
    let (r, took2) = timed(export(&bed.sets.join("m2.tar")));
    r.assert_ok();
    let mut took = took.min(took2);
    let mut landed = 0;
    for i in 0..runs() {
        let bundle = bed.sets.join(format!("b{i}.tar"));
        let at = rng.moment(took);
        let when = format!("export #{i} killed at {at:?} of {took:?}");
        if !kill_after(export(&bundle), at) {
            landed += 1;
        } else {
            // The run ended first: aim earlier from now on, so that kills keep landing.
            took = took * 3 / 4;
        }
        let whole = bundle.exists();
        if whole {
            inspect(&bundle, &when);
        }
        let r = bins::run_command(export(&bundle));
        assert_eq!(r.code, if whole { 73 } else { 0 }, "{when}: {}", r.stdout);
        inspect(&bundle, &when);
        let left = temporaries(&bed.sets);
        assert!(left.is_empty(), "{when}: the next run left {left:?}");
    }
    eprintln!("export: {landed} of {} kills landed before the end", runs());
    assert!(landed * 2 >= runs(), "too few kills landed: {landed}");
}

/// A run killed after its bundle was in place but before it removed its private set: the
/// next export into the same name refuses (73) and still sweeps that set.
#[test]
fn export_refusing_an_existing_bundle_still_sweeps() {
    let bed = Bed::new();
    let bundle = bed.sets.join("b.tar");
    bins::run_command(bed.cmd(
        "df-migrate",
        &["export", "--into", &bundle.display().to_string()],
    ))
    .assert_ok();
    let mut dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let left = bed.sets.join(format!(".df-migrate.dfkit-tmp.{pid}.0"));
    std::fs::create_dir_all(left.join("set")).unwrap();
    std::fs::write(left.join("set/env"), b"APP_KEY=base64:x\n").unwrap();
    let r = bins::run_command(bed.cmd(
        "df-migrate",
        &["export", "--into", &bundle.display().to_string()],
    ));
    assert_eq!(r.code, 73, "{}", r.stdout);
    assert!(!left.exists(), "the dead run's private set is still there");
}

/// Grow the sandbox's database to about 1 MB of incompressible text, so that its dump
/// and the tree holding it are bigger than the room the disk-full tests leave.
fn grow(bed: &Bed) {
    bed.sb.sqlite(
        "CREATE TABLE filler (b TEXT); \
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2500) \
         INSERT INTO filler SELECT hex(randomblob(200)) FROM c;",
    );
}

/// A tmpfs mounted at `at`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new(at: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&at)
            .status()
            .unwrap();
        assert!(ok.success(), "mount a tmpfs (the tests run as root)");
        Tmpfs(at)
    }

    /// Fill it up to `leave` free bytes (the filler file is replaced each time).
    fn leave(&self, leave: u64) {
        let filler = self.0.join("filler");
        let _ = std::fs::remove_file(&filler);
        let st = nix::sys::statvfs::statvfs(&self.0).unwrap();
        let free = st.blocks_available() * st.fragment_size();
        let f = std::fs::File::create(&filler).unwrap();
        use std::io::Write;
        let mut w = std::io::BufWriter::new(f);
        let chunk = vec![b'x'; 4096];
        let mut left = free.saturating_sub(leave);
        while left > 0 {
            let n = left.min(4096) as usize;
            if w.write_all(&chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = w.flush();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A failure for want of room: exit 74, a JSON error of kind io, nothing under `names`
/// in `set`, no temporary anywhere under `dir`.
#[track_caller]
fn assert_no_room(r: &Run, dir: &Path, set: &Path, names: &[&str], what: &str) {
    assert_eq!(r.code, 74, "{what}: {}", r.stdout);
    assert_eq!(r.json["error"]["kind"], "io", "{what}: {}", r.stdout);
    for n in names {
        assert!(!set.join(n).exists(), "{what}: {n} written");
    }
    let left = temporaries(dir);
    assert!(left.is_empty(), "{what}: left {left:?}");
}

/// Each writing tool on a full tmpfs: 74, nothing partial, the install untouched.
#[test]
fn disk_full_on_a_small_tmpfs() {
    let bed = Bed::new();
    grow(&bed);
    let before = state(&bed.sb);
    let fs = Tmpfs::new(bed.sb.tmp.path().join("tiny"), "2m");
    let set = fs.0.join("set");
    let s = set.display().to_string();
    fs.leave(0);
    let r = bed.run("df-backup-env", &["save", "--into", &s]);
    assert_no_room(&r, &fs.0, &set, &["env", "env.meta.json"], "save");
    fs.leave(64 << 10);
    let r = bed.run("df-dump-db", &["dump", "--into", &s]);
    assert_no_room(&r, &fs.0, &set, &["db.sql.zst", "db.meta.json"], "dump");
    let r = bed.run("df-backup-env", &["snapshot", "--into", &s]);
    assert_no_room(&r, &fs.0, &set, &["tree", "tree.meta.json"], "snapshot");
    let bundle = fs.0.join("b.tar");
    let r = bed.run(
        "df-migrate",
        &["export", "--into", &bundle.display().to_string()],
    );
    assert_no_room(&r, &fs.0, &fs.0, &["b.tar"], "export");
    drop(fs);
    assert_state(&before, &state(&bed.sb), "after a full disk");
}

/// Run a tool with RLIMIT_FSIZE at `limit` bytes and SIGXFSZ ignored: a write past it
/// fails with EFBIG instead of killing the process.
fn limited(mut c: Command, limit: u64) -> Run {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit and signal are async-signal-safe.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    bins::run_command(c)
}

/// Each writing tool, df-upgrade included, under a file-size limit: 74, nothing partial,
/// the install untouched.
#[test]
fn file_size_limit_efbig() {
    let bed = Bed::new();
    grow(&bed);
    let before = state(&bed.sb);
    let set = bed.sets.join("s");
    let s = set.display().to_string();
    let r = limited(bed.cmd("df-backup-env", &["save", "--into", &s]), 16);
    assert_no_room(&r, &bed.sets, &set, &["env", "env.meta.json"], "save");
    let r = limited(bed.cmd("df-dump-db", &["dump", "--into", &s]), 64 << 10);
    assert_no_room(&r, &bed.sets, &set, &["db.sql.zst", "db.meta.json"], "dump");
    let r = limited(
        bed.cmd("df-backup-env", &["snapshot", "--into", &s]),
        64 << 10,
    );
    assert_no_room(&r, &bed.sets, &set, &["tree", "tree.meta.json"], "snapshot");
    let b = bed.sets.join("b.tar");
    let r = limited(
        bed.cmd(
            "df-migrate",
            &["export", "--into", &b.display().to_string()],
        ),
        64 << 10,
    );
    assert_no_room(&r, &bed.sets, &bed.sets, &["b.tar"], "export");
    let up = bed.sets.join("up");
    let r = limited(
        bed.cmd(
            "df-upgrade",
            &["--into", &up.display().to_string(), "--skip", "restart"],
        ),
        64 << 10,
    );
    assert_no_room(&r, &bed.sets, &up, &["manifest.json", "tree"], "upgrade");
    assert_state(&before, &state(&bed.sb), "after EFBIG");
}
