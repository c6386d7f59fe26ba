//! Temporaries a killed df-dump-db left behind: removed by the next run, in its set
//! and the sets beside it.
//!
//! Every temporary of a dump is named `.db.<…>.dfkit-tmp.<pid>[.<n>]` (the artifact
//! being written, the meta, the sqlite row-count file) and lives in the set. One whose
//! pid is dead (`kill(pid, 0)` says ESRCH, or a zombie) belongs to nobody and goes, as
//! does one whose pid now names a process younger than the file (the pid was reused):
//! never a live run's file.

use std::path::Path;

/// The pid a temporary's name carries, when the name is one of ours.
fn temp_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(".db.")?;
    let (_, after) = rest.split_once(".dfkit-tmp.")?;
    after.split('.').next()?.parse().ok()
}

fn dead(pid: i32, md: &std::fs::Metadata) -> bool {
    pid > 0 && !crate::atomic::writer_alive(pid, md)
}

/// Remove dead runs' temporaries in `dir`; returns how many went.
pub(super) fn sweep_dir(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = temp_pid(&name.to_string_lossy()) else {
            continue;
        };
        let Ok(md) = e.metadata() else {
            continue;
        };
        if dead(pid, &md) && std::fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// Sibling directories looked at (a set's parent is normally a directory of sets).
const SIBLINGS_CAP: usize = 256;

/// Sweep the set, and the sets beside it (a killed run may have been writing into
/// another set than this one: the default base holds one stamped set per run).
pub(super) fn sweep_around(set_dir: &Path) -> usize {
    let mut n = sweep_dir(set_dir);
    let Some(parent) = set_dir.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return n;
    };
    if let Ok(rd) = std::fs::read_dir(parent) {
        for e in rd.flatten().take(SIBLINGS_CAP) {
            let p = e.path();
            if p != set_dir && e.file_type().is_ok_and(|t| t.is_dir()) {
                n += sweep_dir(&p);
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_dead_temporaries_go() {
        assert_eq!(temp_pid(".db.sql.zst.dfkit-tmp.123.0"), Some(123));
        assert_eq!(temp_pid(".db.meta.json.dfkit-tmp.77"), Some(77));
        assert_eq!(temp_pid(".env.dfkit-tmp.5.0"), None);
        assert_eq!(temp_pid("db.sql.zst"), None);
        let d = tempfile::tempdir().unwrap();
        // A pid that cannot be alive (above pid_max) and our own.
        let gone = d.path().join(".db.sql.zst.dfkit-tmp.2147483646.0");
        let mine = d
            .path()
            .join(format!(".db.counts.dfkit-tmp.{}", std::process::id()));
        let other = d.path().join("..env.dfkit-tmp.2147483646.0");
        for p in [&gone, &mine, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(sweep_dir(d.path()), 1);
        assert!(!gone.exists() && mine.exists() && other.exists());
    }
}
