//! df-perms: owner and modes of the targets, changing only what differs.

use super::targets::{resolve_owner, resolve_targets, Owner};
use super::walk::{Counts, Log, Policy, Skip, Walker, KEEP, MAX_LISTED, MAX_WARNED};
use super::{mode_str, Options};
use crate::error::{Error, ErrorKind, Result};
use crate::install::Install;
use crate::progress::{Progress, Unit};
use crate::report::data::perms::{PermsData, PermsTarget, SkippedByReason, SkippedEntry};
use crate::report::{Ctx, Outcome, PlanItem};
use std::path::Path;

/// Apply owner and modes to the targets under the root (see [`super::walk`]).
pub fn apply(ctx: &Ctx, opts: &Options) -> Result<Outcome> {
    let install = Install::discover(opts.root.as_deref())?;
    let root = std::fs::canonicalize(&install.root)
        .map_err(|e| Error::io("resolving the root", &install.root, e))?;
    if root == Path::new("/") {
        return Err(
            Error::config(format!("the root {} resolves to /", install.root.display())).with_hint(
                "pass --root DIR naming the DreamFactory install, e.g. /opt/dreamfactory",
            ),
        );
    }
    install.require_markers()?;
    let owner = resolve_owner(opts)?;
    let targets = resolve_targets(ctx, &install.root, &root, &opts.targets)?;

    let mut total = Counts::default();
    let mut data = PermsData {
        root: root.display().to_string(),
        owner_from: if owner.is_some() { "flags" } else { "target" }.into(),
        owner: owner.map(Owner::report),
        dir_mode: mode_str(opts.dir_mode),
        file_mode: mode_str(opts.file_mode),
        ..PermsData::default()
    };
    let mut log = Log::default();
    let mut progress = Progress::new(ctx, "examining", Unit::Entries);
    let mut names = Vec::new();
    for t in &targets {
        let policy = Policy {
            uid: owner.map_or(KEEP, |o| o.uid),
            gid: owner.map_or(KEEP, |o| o.gid),
            inherit: owner.is_none(),
            only_uid: None,
            dir_mode: Some(opts.dir_mode),
            file_mode: Some(opts.file_mode),
            dry_run: opts.dry_run,
        };
        let (c, applied) = {
            let mut w = Walker::new(Some(ctx), policy, &mut log, Some(&mut progress));
            w.run(&root, &t.rel)?;
            let applied = Owner {
                uid: w.policy.uid,
                gid: w.policy.gid,
            };
            (w.counts.clone(), applied)
        };
        total.add(&c);
        progress.set(total.scanned);
        names.push(t.name.clone());
        data.targets.push(PermsTarget {
            target: t.name.clone(),
            path: t.path.display().to_string(),
            owner: applied.report(),
            scanned: c.scanned,
            chowned: c.chowned,
            chmodded: c.chmodded,
            skipped: c.skipped_total(),
            skipped_by_reason: by_reason(&c),
            changed: c.changed(),
        });
    }
    progress.finish();
    let skipped_total = total.skipped_total();
    if (log.listed.len() as u64) < skipped_total && log.warned >= MAX_WARNED {
        ctx.warn(format!(
            "{skipped_total} entries skipped in all (data.skipped_entries lists the first {MAX_LISTED})"
        ));
    }
    data.scanned = total.scanned;
    data.chowned = total.chowned;
    data.chmodded = total.chmodded;
    data.skipped = skipped_total;
    data.skipped_by_reason = by_reason(&total);
    data.skipped_entries = log
        .listed
        .iter()
        .map(|(p, s)| SkippedEntry {
            path: p.to_string_lossy().into_owned(),
            reason: s.as_str().into(),
        })
        .collect();
    data.skipped_entries_truncated = (log.listed.len() as u64) < skipped_total;
    data.errors = log.errors;
    if opts.dry_run {
        data.plan = Some(plan(&data, opts));
    }
    let changed = total.changed();
    let modes = if opts.dir_mode == opts.file_mode {
        mode_str(opts.dir_mode)
    } else {
        format!("{}/{}", mode_str(opts.dir_mode), mode_str(opts.file_mode))
    };
    let owner_label = owner
        .map(Owner::label)
        .unwrap_or_else(|| "each target's own owner".into());
    let what = names.join(", ");
    let msg = if !changed {
        format!(
            "{what}: nothing to change ({} entries, owner {owner_label}, mode {modes})",
            total.scanned
        )
    } else {
        let verb = if opts.dry_run {
            "would change"
        } else {
            "changed"
        };
        format!(
            "{what}: {verb} owner of {} and mode of {} of {} entries (owner {owner_label}, mode {modes})",
            total.chowned, total.chmodded, total.scanned
        )
    };
    if let Some(e) = log.first_error {
        // Keep going past a bad entry (as chown -R does), then fail with what was done.
        data.changed = Some(changed && !opts.dry_run);
        let errors = log.errors;
        let msg = format!(
            "{errors} entr{} could not be changed; first: {}",
            if errors == 1 { "y" } else { "ies" },
            e.message
        );
        let value = serde_json::to_value(&data).unwrap_or_default();
        let mut err = Error::new(e.kind, msg).with_data(value);
        err.chain = e.chain;
        err.hint = Some(match e.kind {
            ErrorKind::PermissionDenied => {
                "run as root (changing owners needs it), and check for immutable files (lsattr)"
                    .into()
            }
            _ => "see error.chain; the rest of the tree was handled and a re-run is safe".into(),
        });
        return Err(err);
    }
    Ok(Outcome::typed(changed, msg, &data))
}

/// Counts by reason, as reported.
pub(super) fn by_reason(c: &Counts) -> SkippedByReason {
    SkippedByReason {
        hard_link: c.skipped_for(Skip::HardLink),
        other_filesystem: c.skipped_for(Skip::OtherFilesystem),
        device: c.skipped_for(Skip::Device),
        changed_during_walk: c.skipped_for(Skip::ChangedDuringWalk),
        vanished: c.skipped_for(Skip::Vanished),
    }
}

/// The dry run's steps: per target, a `chown` and a `chmod` when they would change
/// anything, in the order the real run takes the targets.
fn plan(data: &PermsData, opts: &Options) -> Vec<PlanItem> {
    let mut plan = Vec::new();
    for t in &data.targets {
        if t.chowned > 0 {
            let o = &t.owner;
            let who = format!(
                "{}:{}",
                o.user.as_deref().unwrap_or("(kept)"),
                o.group.as_deref().unwrap_or("(kept)")
            );
            plan.push(PlanItem::on_path(
                "chown",
                t.path.clone(),
                format!("owner {who} on {} of {} entries", t.chowned, t.scanned),
            ));
        }
        if t.chmodded > 0 {
            plan.push(PlanItem::on_path(
                "chmod",
                t.path.clone(),
                format!(
                    "mode {} on directories and {} on other entries but symlinks, on {} of {} entries",
                    mode_str(opts.dir_mode),
                    mode_str(opts.file_mode),
                    t.chmodded,
                    t.scanned
                ),
            ));
        }
    }
    plan
}
