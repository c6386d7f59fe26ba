//! The next release staged before the maintenance window: composer install runs in an
//! export of the target commit while the site still serves, and the window only swaps the
//! built vendor/ in (`df-artisan composer-install --staged`).
//!
//! The stage is `.<install name>.dfkit-stage` beside the install (one filesystem, so the
//! swap is a rename). It is df-upgrade's own scratch directory: removed when the run
//! ends, and a stale one (a run that was killed) is removed by the next run or by
//! `recover`, which both hold the install's lock.
//!
//! Each part is a sibling tool's run, recorded as the `stage` step:
//! 1. `df-git-update export --commit C --into STAGE [--branch B]` (the target checked
//!    out in a clone that borrows the install's objects);
//! 2. `df-backup-env restore-tree --from SET --only vendor --root STAGE` (today's vendor/,
//!    from the snapshot just taken, so composer only does the difference);
//! 3. `df-artisan composer-install --root STAGE`.
//!
//! Staging never makes a run fail: when a part fails, the stage is dropped, a warning says
//! why, and composer install runs inside the window as the guide does.

use super::{Run, Step};
use crate::children::args;
use crate::report::data::git::FetchData;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The stage directory of the install at `root` (None for `/`).
pub fn dir(root: &Path) -> Option<PathBuf> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let name = root.file_name()?.to_string_lossy().into_owned();
    Some(root.parent()?.join(format!(".{name}.dfkit-stage")))
}

/// Remove the stage of the install at `root`, if there is one. Only under the lock.
pub(crate) fn remove(run: &Run) {
    let Some(d) = dir(&run.opts.root) else { return };
    if std::fs::symlink_metadata(&d).is_ok() {
        if let Err(e) = crate::fsops::remove_any(&d) {
            run.w
                .ctx
                .warn(format!("removing the stage {}: {}", d.display(), e.message));
        }
    }
}

/// Build the target's vendor/ in the stage. Returns the stage when it is ready for the
/// swap, None when composer is to run inside the window.
pub(super) fn prepare(run: &mut Run, fetch: &FetchData, set: &Path) -> Option<PathBuf> {
    let stage = dir(&run.opts.root)?;
    remove(run);
    let parts: [(&str, Vec<OsString>, bool); 3] = [
        (
            "df-git-update",
            {
                let mut a = args(["export", "--commit", fetch.commit.as_str(), "--into"]);
                a.push(stage.clone().into_os_string());
                if fetch.mode == "branch" {
                    a.extend(args(["--branch", fetch.target.as_str()]));
                }
                a
            },
            false,
        ),
        (
            "df-backup-env",
            {
                let mut a = args(["restore-tree", "--from"]);
                a.push(set.as_os_str().to_os_string());
                a.extend(args(["--only", "vendor"]));
                a
            },
            true,
        ),
        ("df-artisan", args(["composer-install"]), true),
    ];
    for (tool, a, in_stage) in parts {
        let r = if in_stage {
            run.w.child_at::<Value>(&stage, Step::Stage.name(), tool, a)
        } else {
            run.w.child::<Value>(Step::Stage.name(), tool, a)
        };
        if let Err(e) = r {
            run.w.ctx.warn(format!(
                "staging the release failed ({}); composer install runs inside the \
                 maintenance window instead",
                e.message
            ));
            remove(run);
            return None;
        }
    }
    Some(stage)
}
