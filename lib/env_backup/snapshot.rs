//! snapshot and restore-tree: the install tree (the guide's `cp -r dreamfactory
//! dreamfactory.backup`, and the way back).

use super::{absolute, exists, sweep, sweep_set, TREE_ARTIFACT};
use crate::atomic;
use crate::backup_set::tree_meta::TreeMeta;
use crate::backup_set::{self, BackupSet};
use crate::error::{Error, ErrorKind, Result};
use crate::progress::{Progress, Unit};
use crate::report::data::backup_env::{RestoreTreeData, RestoredPath, SnapshotData, TreeCounts};
use crate::report::{now_rfc3339, Ctx, Outcome, PlanItem};
use crate::tree;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// `snapshot --into SET [--exclude PATH]…`: the install tree into SET/tree.
pub fn snapshot(
    ctx: &Ctx,
    root: Option<&Path>,
    into: Option<&Path>,
    excludes: &[PathBuf],
    replace: bool,
) -> Result<Outcome> {
    let install = crate::install::Install::discover(root)?;
    let root = install
        .root
        .canonicalize()
        .map_err(|e| Error::io("resolving", &install.root, e))?;
    let excludes = tree::normalize_excludes(&root, excludes)?;
    let set_dir = match into {
        Some(d) => d.to_path_buf(),
        None => Path::new(backup_set::DEFAULT_BASE).join(backup_set::stamp()),
    };
    let dest = set_dir.join(TREE_ARTIFACT);
    let meta_path = set_dir.join(BackupSet::meta_name(TREE_ARTIFACT));
    // The set itself may lie inside the install: never copy it into itself.
    let avoid = absolute(&set_dir).filter(|s| s.starts_with(&root));
    let present = exists(&dest)?;
    let mut data = SnapshotData {
        set: set_dir.display().to_string(),
        tree: dest.display().to_string(),
        meta: meta_path.display().to_string(),
        root: root.display().to_string(),
        ..SnapshotData::default()
    };
    if present && !replace {
        if exists(&meta_path)? {
            let meta: TreeMeta = BackupSet::open(&set_dir)?.read_meta(TREE_ARTIFACT)?;
            ctx.warn(format!(
                "{} already holds a snapshot (taken at {}); kept it — add --replace to take a new one",
                dest.display(),
                meta.taken_at
            ));
            data.counts = meta.counts;
            data.excluded = meta.excluded.clone();
            data.skipped = meta.skipped.clone();
            data.owners_kept = meta.owners_kept;
            data.existing = Some(meta);
            return Ok(Outcome::typed(
                false,
                format!("{} already holds a snapshot", dest.display()),
                &data,
            ));
        }
        // The meta is written last: a tree without it is an interrupted snapshot
        // (incomplete), which this run replaces.
        ctx.warn(format!(
            "{} has no tree.meta.json (an interrupted snapshot): replacing it",
            dest.display()
        ));
    }
    let ex_strings: Vec<String> = excludes.iter().map(|p| p.display().to_string()).collect();
    if ctx.dry_run() {
        let (c, excluded) = tree::scan(&root, &excludes, avoid.as_deref())?;
        data.counts = c;
        let what = if excluded.is_empty() {
            String::new()
        } else {
            format!("; excluded: {}", excluded.join(", "))
        };
        let verb = if present {
            " replacing the snapshot there"
        } else {
            ""
        };
        data.plan = Some(vec![PlanItem::on_path(
            "copy_tree",
            dest.display().to_string(),
            format!(
                "copy {} ({} entries, {} bytes{what}){verb}",
                root.display(),
                c.entries,
                c.bytes
            ),
        )]);
        data.excluded = excluded;
        return Ok(Outcome::typed(
            true,
            format!(
                "would copy {} ({} entries, {} bytes) to {}",
                root.display(),
                c.entries,
                c.bytes,
                dest.display()
            ),
            &data,
        ));
    }
    let set = BackupSet::create(Some(&set_dir))?;
    sweep_set(ctx, &set.dir);
    ctx.log(format!("copying {} to {}", root.display(), dest.display()));
    let old = set.path(&format!(
        ".{TREE_ARTIFACT}.dfkit-old.{}",
        std::process::id()
    ));
    let mut old_meta: Option<TreeMeta> = None;
    if present {
        // The meta goes first: a run killed from here on leaves a set that says its
        // snapshot is incomplete, never an old meta beside a new tree.
        if exists(&meta_path)? {
            old_meta = set.read_meta(TREE_ARTIFACT).ok();
            std::fs::remove_file(&meta_path).map_err(|e| Error::io("removing", &meta_path, e))?;
        }
        std::fs::rename(&dest, &old).map_err(|e| Error::io("moving aside", &dest, e))?;
    }
    let mut bar = Progress::new(ctx, "copying the install tree", Unit::Entries);
    let mut tick = |c: &tree::Counts| bar.set(c.entries);
    let res = tree::snapshot(&root, &dest, &excludes, avoid.as_deref(), Some(&mut tick));
    bar.finish();
    let snap = match res {
        Ok(s) => s,
        Err(e) => {
            // A failed replacement leaves the earlier snapshot as it was, meta included.
            if present && std::fs::rename(&old, &dest).is_ok() {
                if let Some(m) = &old_meta {
                    let _ = set.write_meta(TREE_ARTIFACT, m);
                }
            }
            return Err(e);
        }
    };
    if present {
        tree::remove_entry(&old)?;
    }
    for w in &snap.warnings {
        ctx.warn(w.clone());
    }
    let meta = TreeMeta {
        artifact: TREE_ARTIFACT.into(),
        root: root.display().to_string(),
        taken_at: now_rfc3339(),
        counts: snap.counts,
        excluded: snap.excluded.clone(),
        exclude_args: ex_strings,
        skipped: snap.skipped.clone(),
        owners_kept: snap.owners_kept,
        sealed: snap.sealed.clone(),
        dfkit_version: env!("CARGO_PKG_VERSION").into(),
    };
    set.write_meta(TREE_ARTIFACT, &meta)?;
    let c = snap.counts;
    data.counts = c;
    data.excluded = snap.excluded;
    data.skipped = snap.skipped;
    data.owners_kept = snap.owners_kept;
    data.verified = true;
    data.replaced = present;
    Ok(Outcome::typed(
        true,
        format!(
            "copied {} to {} ({} entries, {} bytes, verified)",
            root.display(),
            dest.display(),
            c.entries,
            c.bytes
        ),
        &data,
    ))
}

/// The set's snapshot, checked complete: SET/tree and tree.meta.json exist (else 66) and
/// the tree, counted again, holds what the meta recorded (else 65).
fn complete_snapshot(from: &Path) -> Result<(BackupSet, PathBuf, TreeMeta)> {
    let md = std::fs::metadata(from).map_err(|e| Error::io("reading", from, e))?;
    if !md.is_dir() {
        return Err(
            Error::missing(format!("{} is not a backup set directory", from.display()))
                .with_hint("pass the set directory that holds `tree` and `tree.meta.json`"),
        );
    }
    let set = BackupSet::open(from)?;
    let dir = set.path(TREE_ARTIFACT);
    if !exists(&dir)? {
        return Err(Error::missing(format!(
            "backup set {} holds no tree snapshot",
            from.display()
        ))
        .with_hint("take one first: df-backup-env snapshot --into SET"));
    }
    let meta_path = set.path(&BackupSet::meta_name(TREE_ARTIFACT));
    if !exists(&meta_path)? {
        return Err(Error::missing(format!(
            "backup set {} has a tree but no tree.meta.json: the snapshot is incomplete",
            from.display()
        ))
        .with_hint("the snapshot was interrupted; use another set"));
    }
    let meta: TreeMeta = set.read_meta(TREE_ARTIFACT)?;
    let found = tree::count(&dir)?;
    if found != meta.counts {
        return Err(Error::bad_data(format!(
            "{} does not match its tree.meta.json: {} entries / {} bytes, recorded {} / {}",
            dir.display(),
            found.entries,
            found.bytes,
            meta.counts.entries,
            meta.counts.bytes
        ))
        .with_hint("the snapshot is incomplete or was changed since; use another set"));
    }
    Ok((set, dir, meta))
}

/// The install's own mode of `rel` when the snapshot sealed it (a top-level .env file).
fn sealed_mode(meta: &TreeMeta, rel: &Path) -> Option<u32> {
    let name = rel.to_str()?;
    u32::from_str_radix(meta.sealed.get(name)?, 8).ok()
}

/// Which paths a restore-tree puts back, and the top-level ones it leaves alone.
fn targets(
    root: &Path,
    tree_dir: &Path,
    only: &[PathBuf],
    left_out: &[PathBuf],
) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut kept = Vec::new();
    if only.is_empty() {
        let mut names = std::collections::BTreeSet::new();
        for dir in [tree_dir, root] {
            for e in std::fs::read_dir(dir).map_err(|e| Error::io("reading directory", dir, e))? {
                let e = e.map_err(|e| Error::io("reading directory", dir, e))?;
                // Another run's temporaries are not part of the install.
                if e.file_name()
                    .to_str()
                    .and_then(atomic::stale_name_pid)
                    .is_some()
                {
                    continue;
                }
                names.insert(PathBuf::from(e.file_name()));
            }
        }
        let mut out = Vec::new();
        for n in names {
            if left_out.iter().any(|x| x.starts_with(&n)) {
                kept.push(n.display().to_string());
            } else {
                out.push(n);
            }
        }
        return Ok((out, kept));
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for p in only {
        if let Some(x) = left_out.iter().find(|x| p.starts_with(x)) {
            return Err(Error::missing(format!(
                "the snapshot left out {} (excluded, or the backup set itself): it has nothing \
                 to put back at {}",
                x.display(),
                p.display()
            ))
            .with_hint("restore only paths the snapshot holds"));
        }
        if let Some(x) = left_out.iter().find(|x| x.starts_with(p)) {
            return Err(Error::usage(format!(
                "the snapshot left out {} inside {}: restoring {} would lose it",
                x.display(),
                p.display(),
                p.display()
            ))
            .with_hint("restore the paths beside it one by one with --only"));
        }
        // vendor and vendor/x: vendor covers both.
        if !only.iter().any(|q| q != p && p.starts_with(q)) && !out.contains(p) {
            out.push(p.clone());
        }
    }
    Ok((out, kept))
}

/// Refuse a path whose parent, in the install, is missing or passes through a symlink: a
/// restore writes only inside the root.
fn check_parents(root: &Path, rel: &Path) -> Result<()> {
    let mut cur = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            let md = std::fs::symlink_metadata(&cur).map_err(|e| {
                Error::io("inspecting", &cur, e)
                    .with_hint(format!("restore {} first (--only)", parent.display()))
            })?;
            if !md.is_dir() {
                return Err(Error::bad_data(format!(
                    "{} is not a directory (a symlink?): not restoring through it",
                    cur.display()
                ))
                .with_hint(format!("restore {} itself (--only)", parent.display())));
            }
        }
    }
    Ok(())
}

/// `restore-tree --from SET [--only PATH]…`: put paths of the install back as the set's
/// tree snapshot holds them, each atomically (a faithful copy built beside it, verified by
/// entry and byte counts, swapped in with one rename, the old one removed). A path the
/// snapshot lacks is removed from the install. Without `--only`, every top-level path
/// except those the snapshot left out.
pub fn restore_tree(
    ctx: &Ctx,
    root: Option<&Path>,
    from: &Path,
    only: &[PathBuf],
) -> Result<Outcome> {
    // It replaces and removes paths: the root must be an install, not, say, /etc.
    let install = crate::install::Install::discover_checked(root)?;
    let root = install
        .root
        .canonicalize()
        .map_err(|e| Error::io("resolving", &install.root, e))?;
    let only = tree::normalize_paths(&root, only, "--only")?;
    let (set, tree_dir, meta) = complete_snapshot(from)?;
    let mut left_out: Vec<PathBuf> = meta
        .excluded
        .iter()
        .chain(&meta.exclude_args)
        .map(PathBuf::from)
        .collect();
    if let Some(rel) =
        absolute(&set.dir).and_then(|s| s.strip_prefix(&root).ok().map(Path::to_path_buf))
    {
        left_out.push(rel);
    }
    if Path::new(&meta.root) != root {
        ctx.warn(format!(
            "the snapshot was taken of {}, and is restored into {}",
            meta.root,
            root.display()
        ));
    }
    let (paths, kept) = targets(&root, &tree_dir, &only, &left_out)?;
    let mut data = RestoreTreeData {
        set: set.dir.display().to_string(),
        tree: tree_dir.display().to_string(),
        root: root.display().to_string(),
        only: only.iter().map(|p| p.display().to_string()).collect(),
        kept,
        ..RestoreTreeData::default()
    };
    let mut plan = Vec::new();
    for rel in &paths {
        check_parents(&root, rel)?;
        let (src, dst) = (tree_dir.join(rel), root.join(rel));
        let counts = tree::count_entry(&src)?;
        let action = match (counts.is_some(), exists(&dst)?) {
            (false, false) => continue,
            (false, true) => "remove",
            (true, false) => "create",
            (true, true) if tree::same_as(&src, &dst, sealed_mode(&meta, rel))? => "same",
            (true, true) => "replace",
        };
        let detail = match action {
            "remove" => format!("{} is not in the snapshot: remove it", rel.display()),
            "same" => "already as in the snapshot".to_string(),
            _ => {
                let c = counts.unwrap_or_default();
                format!(
                    "{} from {} ({} entries, {} bytes)",
                    if action == "create" {
                        "create"
                    } else {
                        "replace"
                    },
                    src.display(),
                    c.entries,
                    c.bytes
                )
            }
        };
        if action != "same" {
            let verb = if action == "remove" {
                "remove"
            } else {
                "restore"
            };
            plan.push(PlanItem::on_path(verb, dst.display().to_string(), detail));
        }
        data.paths.push(RestoredPath {
            path: rel.display().to_string(),
            action: action.into(),
            counts: counts.unwrap_or_default(),
        });
    }
    let changed = data.paths.iter().any(|p| p.action != "same");
    let names: Vec<&str> = data.paths.iter().map(|p| p.path.as_str()).collect();
    let names = if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    };
    if ctx.dry_run() {
        data.plan = Some(plan);
        let msg = if changed {
            format!(
                "would restore {names} under {} from {}",
                root.display(),
                tree_dir.display()
            )
        } else {
            format!("{names} already as in {}", tree_dir.display())
        };
        return Ok(Outcome::typed(changed, msg, &data));
    }
    sweep(ctx, &root);
    let mut bar = Progress::new(ctx, "restoring from the snapshot", Unit::Entries);
    let mut done = 0u64;
    let pid = std::process::id();
    for p in &data.paths {
        if p.action == "same" {
            continue;
        }
        let rel = Path::new(&p.path);
        let (src, dst) = (tree_dir.join(rel), root.join(rel));
        let parent = atomic::parent_dir(&dst);
        if parent != root {
            sweep(ctx, &parent);
        }
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aside = parent.join(format!(".{name}.dfkit-old.{pid}"));
        if p.action == "remove" {
            std::fs::rename(&dst, &aside).map_err(|e| Error::io("moving aside", &dst, e))?;
            tree::remove_entry(&aside)?;
            atomic::sync_dir(&parent)?;
            continue;
        }
        let staged = parent.join(format!(".{name}.dfkit-restore.{pid}"));
        tree::remove_entry(&staged)?;
        let mut tick = |c: &TreeCounts| bar.set(done + c.entries);
        let copied = tree::copy_entry(&src, &staged, Some(&mut tick)).and_then(|r| {
            // A sealed .env goes back with the install's own mode, not the set's 0600.
            if let Some(mode) = sealed_mode(&meta, rel) {
                std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| Error::io("setting mode of", &staged, e))?;
            }
            Ok(r)
        });
        let (c, warnings) = match copied {
            Ok(r) => r,
            Err(e) => {
                // Nothing half-done: no partial copy under any name.
                let _ = tree::remove_entry(&staged);
                return Err(e.with_data(serde_json::to_value(&data).unwrap_or_default()));
            }
        };
        done += c.entries;
        for w in warnings {
            ctx.warn(format!("{}: {w}", p.path));
        }
        if let Err(e) = tree::swap_into(&staged, &dst, &aside) {
            let _ = tree::remove_entry(&staged);
            return Err(e);
        }
        // The copy in place, counted once more.
        let now = tree::count_entry(&dst)?.unwrap_or_default();
        if now != p.counts {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "{} after the restore holds {} entries / {} bytes, expected {} / {}",
                    dst.display(),
                    now.entries,
                    now.bytes,
                    p.counts.entries,
                    p.counts.bytes
                ),
            )
            .with_hint(
                "is something writing into the install? stop it and run the restore again",
            ));
        }
    }
    bar.finish();
    data.verified = true;
    Ok(Outcome::typed(
        changed,
        if changed {
            format!(
                "restored {names} under {} from {} (verified)",
                root.display(),
                tree_dir.display()
            )
        } else {
            format!(
                "{names} already as in {}; nothing changed",
                tree_dir.display()
            )
        },
        &data,
    ))
}
