//! `df-git-update update`: fetch, decide, check, stash, move, report.

use super::checks::{
    in_the_way_error, keep_left, left_commits, left_commits_error, refuse_index_lock,
    refuse_unsafe_state, untracked_in_the_way,
};
use super::classify::hint_non_ff;
use super::repo::{check_not_option, Git, State};
use super::summary::{finish, set_old, unchanged};
use super::transaction::Move;
use super::{short, sv, Target, UpdateOpts};
use crate::error::{Error, Result};
use crate::report::data::git::UpdateData;
use crate::report::{Ctx, Outcome, PlanItem};
use std::path::Path;

/// Where the update goes and what it leaves behind, decided before anything changes.
struct Decision {
    mv: Move,
    noop: bool,
    left: Vec<crate::report::data::git::CommitInfo>,
}

/// The same refusals for the real run and the dry run.
fn decide(
    g: &Git,
    o: &UpdateOpts,
    before: &State,
    target: &str,
    dry_run: bool,
) -> Result<Decision> {
    let mv = match &o.target {
        Target::Branch(b) => branch_move(g, o, b, before, target)?,
        Target::Ref(_) => Move {
            branch: None,
            steps: vec![sv(&["checkout", "--detach", target])],
            commit: target.to_string(),
            branch_was: None,
        },
    };
    let noop = mv.commit == before.head && mv.branch == before.branch;
    if noop {
        return Ok(Decision {
            mv,
            noop,
            left: Vec::new(),
        });
    }
    if dry_run {
        // The real run finds these through git's own refusal after the stash, and undoes
        // the stash (see transaction); the dry run must predict that failure.
        let changes = g.changes()?;
        let in_the_way = untracked_in_the_way(g, &changes, o.include_untracked, &mv.commit)?;
        if !in_the_way.is_empty() {
            return Err(in_the_way_error(&in_the_way, &mv.commit));
        }
    }
    let left = left_commits(
        g,
        std::slice::from_ref(&before.head),
        &mv.commit,
        mv.branch.as_deref(),
    )?;
    if !left.is_empty() && !o.leave_local_commits {
        return Err(left_commits_error(&left));
    }
    Ok(Decision { mv, noop, left })
}

/// A branch move: refuse a non-fast-forward up front.
fn branch_move(g: &Git, o: &UpdateOpts, b: &str, before: &State, target: &str) -> Result<Move> {
    let remote_ref = format!("refs/remotes/{}/{b}", o.remote);
    let local = g.commit_of(&format!("refs/heads/{b}"))?;
    let commit = match &local {
        Some(l) if g.is_ancestor(target, l)? => l.clone(), // up to date, or local commits ahead
        Some(l) if g.is_ancestor(l, target)? => target.to_string(),
        Some(l) => {
            return Err(Error::step(format!(
                "cannot fast-forward {b} ({}) to {}/{b} ({}): they have diverged",
                short(l),
                o.remote,
                short(target)
            ))
            .with_hint(hint_non_ff(&o.remote, b)))
        }
        None => target.to_string(),
    };
    let mut steps = Vec::new();
    if before.branch.as_deref() != Some(b) {
        // `switch` names branches only: a tag of the same name cannot be taken instead.
        match &local {
            Some(_) => steps.push(sv(&["switch", "--no-guess", b])),
            None => steps.push(sv(&[
                "switch",
                "--no-guess",
                "-c",
                b,
                "--track",
                &remote_ref,
            ])),
        }
    }
    if local.as_deref().is_some_and(|l| l != commit) {
        steps.push(sv(&["merge", "--ff-only", &commit]));
    }
    Ok(Move {
        branch: Some(b.to_string()),
        commit,
        steps,
        branch_was: local,
    })
}

/// A tag (refs/tags/X first: a branch may carry the same name) or a commit id.
fn resolve_ref(g: &Git, r: &str, remote: &str) -> Result<String> {
    if let Some(c) = g.commit_of(&format!("refs/tags/{r}"))? {
        return Ok(c);
    }
    if r.len() >= 7 && r.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Some(c) = g.commit_of(r)? {
            return Ok(c);
        }
    }
    Err(
        Error::missing(format!("no tag or commit `{r}`")).with_hint(format!(
            "list the release tags with `git ls-remote --tags {remote}`"
        )),
    )
}

fn no_branch(remote: &str, b: &str) -> Error {
    Error::missing(format!("{remote} has no branch {b}")).with_hint(format!(
        "list the remote's branches with `git ls-remote --heads {remote}`"
    ))
}

/// Open the install's checkout and check the remote and the target's name (64/66 before
/// git is asked anything else): `(git, "branch" | "ref", the name)`.
pub(crate) fn open_checked(root: &Path, o: &UpdateOpts) -> Result<(Git, &'static str, String)> {
    let g = Git::open(root, o.timeout)?;
    // A git checkout is not necessarily an install (etckeeper keeps /etc in git).
    crate::install::Install::at(g.root()).require_markers()?;
    g.check_remote(&o.remote)?;
    check_not_option("--remote", &o.remote)?;
    let (mode, target_name) = match &o.target {
        Target::Branch(b) => {
            g.check_branch_name("--branch", b)?;
            ("branch", b.clone())
        }
        Target::Ref(r) => {
            check_not_option("--ref", r)?;
            ("ref", r.clone())
        }
    };
    Ok((g, mode, target_name))
}

/// The commit the target names in the local refs (after a fetch).
pub(crate) fn resolve_target(g: &Git, o: &UpdateOpts) -> Result<String> {
    match &o.target {
        Target::Branch(b) => g
            .commit_of(&format!("refs/remotes/{}/{b}", o.remote))?
            .ok_or_else(|| no_branch(&o.remote, b)),
        Target::Ref(r) => resolve_ref(g, r, &o.remote),
    }
}

/// The real run's fetch.
pub(crate) fn fetch_args(o: &UpdateOpts) -> Vec<String> {
    match &o.target {
        Target::Branch(b) => sv(&[
            "fetch",
            "--tags",
            &o.remote,
            &format!("+refs/heads/{b}:refs/remotes/{}/{b}", o.remote),
        ]),
        Target::Ref(_) => sv(&["fetch", "--tags", &o.remote]),
    }
}

/// `df-git-update update`.
pub fn update(ctx: &Ctx, root: &Path, o: &UpdateOpts) -> Result<Outcome> {
    let (g, mode, target_name) = open_checked(root, o)?;
    if let Some(w) = g.repair_interrupted(ctx)? {
        ctx.warn(w);
    }
    let before = g.state()?;
    let changes = g.changes()?;
    refuse_unsafe_state(&g, &changes)?;
    refuse_index_lock(&g)?;
    let mut base = UpdateData {
        root: g.root().display().to_string(),
        remote: Some(o.remote.clone()),
        mode: Some(mode.into()),
        target: Some(target_name),
        run_as: Some(g.run_as()),
        submodules_dirty: changes.submodules_dirty.clone(),
        ..Default::default()
    };
    set_old(&mut base, &before);
    ctx.log(format!(
        "at {} ({}) on {}, version {}, git runs as {}",
        short(&before.head),
        before.describe.as_deref().unwrap_or("-"),
        before.branch.as_deref().unwrap_or("(detached)"),
        before.version.as_deref().unwrap_or("unknown"),
        g.run_as()
    ));
    if !changes.submodules_dirty.is_empty() {
        ctx.warn(format!(
            "submodules with modified content are not stashed (git cannot) and are left as they \
             are: {}",
            changes.submodules_dirty.join(", ")
        ));
    }

    if ctx.dry_run() {
        return update_plan(ctx, &g, o, &before, base.clone())
            .map_err(|e| e.with_data(unchanged(&base)));
    }

    if o.no_fetch {
        ctx.log("--no-fetch: using what the last fetch brought");
    } else {
        let fetch = fetch_args(o);
        ctx.log(format!("git {}", fetch.join(" ")));
        g.ok(&fetch).map_err(|e| {
            e.context(format!("fetching from {}", o.remote))
                .with_data(unchanged(&base))
        })?;
    }
    let target = resolve_target(&g, o)
        .map_err(|e| {
            if o.no_fetch {
                e.with_hint(
                    "--no-fetch uses what was fetched before: run `df-git-update fetch` first, \
                     or leave --no-fetch out",
                )
            } else {
                e
            }
        })
        .map_err(|e| e.with_data(unchanged(&base)))?;
    let dec = decide(&g, o, &before, &target, false).map_err(|e| e.with_data(unchanged(&base)))?;
    if dec.noop {
        g.fill_report(&mut base, &before, &before)?;
        let msg = format!(
            "already at {} ({}), version {}",
            short(&before.head),
            before.describe.as_deref().unwrap_or("-"),
            before.version.as_deref().unwrap_or("unknown")
        );
        return Ok(Outcome::typed(false, msg, &base));
    }
    if !dec.left.is_empty() {
        base.left_commits_refs = keep_left(
            &g,
            std::slice::from_ref(&before.head),
            &dec.mv.commit,
            dec.mv.branch.as_deref(),
        )?;
        ctx.warn(format!(
            "{} local commit(s) are on no branch after the update; kept on {}",
            dec.left.len(),
            base.left_commits_refs.join(", ")
        ));
        base.left_commits = dec.left.clone();
    }
    let stash = g.apply_move(ctx, &before, o.include_untracked, &dec.mv, &base, &changes)?;
    let out = finish(
        ctx,
        &g,
        (&before, &dec.mv),
        stash,
        o.reapply_stash,
        base,
        "updated",
    );
    if let Ok(o) = &out {
        if o.data["downgrade"] == true {
            ctx.warn(format!(
                "this is a downgrade: {} → {} (version {} → {}); the database may hold migrations \
                 the older code does not know",
                o.data["old_describe"].as_str().unwrap_or("?"),
                o.data["new_describe"].as_str().unwrap_or("?"),
                o.data["old_version"].as_str().unwrap_or("unknown"),
                o.data["new_version"].as_str().unwrap_or("unknown"),
            ));
        }
    }
    out
}

/// `update --dry-run`: no ref moves. `git ls-remote` tells what the remote has and
/// `git fetch --dry-run` brings its objects (no ref, no FETCH_HEAD written), so the dry run
/// makes the real run's checks: divergence, untracked files in the way, left commits.
fn update_plan(
    ctx: &Ctx,
    g: &Git,
    o: &UpdateOpts,
    before: &State,
    mut d: UpdateData,
) -> Result<Outcome> {
    let wanted: Vec<String> = match &o.target {
        Target::Branch(b) => vec![format!("refs/heads/{b}")],
        Target::Ref(r) => vec![format!("refs/tags/{r}"), format!("refs/tags/{r}^{{}}")],
    };
    let mut ls = sv(&["ls-remote", &o.remote]);
    ls.extend(wanted.iter().cloned());
    let listing = g
        .ok(&ls)
        .map_err(|e| e.context(format!("asking {} what it has", o.remote)))?;
    let mut remote_commit = None;
    for line in listing.lines() {
        if let Some((sha, name)) = line.split_once('\t') {
            // A peeled tag (`^{}`) names the commit; it wins over the tag object.
            if name.ends_with("^{}") || remote_commit.is_none() {
                remote_commit = Some(sha.to_string());
            }
        }
    }
    let remote_commit = match (remote_commit, &o.target) {
        (Some(c), _) => c,
        (None, Target::Ref(r)) => match resolve_ref(g, r, &o.remote) {
            Ok(c) => c,
            Err(e) if r.bytes().all(|b| b.is_ascii_hexdigit()) => {
                // A commit id the real run's fetch may bring: fetch the objects only.
                let probe = sv(&["fetch", "--dry-run", "--tags", &o.remote]);
                ctx.log(format!("git {} (objects only)", probe.join(" ")));
                g.ok(&probe)
                    .map_err(|e| e.context(format!("fetching {}'s objects", o.remote)))?;
                resolve_ref(g, r, &o.remote).map_err(|_| e)?
            }
            Err(e) => return Err(e),
        },
        (None, Target::Branch(b)) => return Err(no_branch(&o.remote, b)),
    };
    if g.commit_of(&remote_commit)?.is_none() {
        let mut probe = sv(&["fetch", "--dry-run", "--no-tags", &o.remote]);
        probe.push(wanted[0].clone());
        ctx.log(format!("git {} (objects only)", probe.join(" ")));
        g.ok(&probe)
            .map_err(|e| e.context(format!("fetching {}'s objects", o.remote)))?;
    }
    let dec = decide(g, o, before, &remote_commit, true)?;
    let mut plan = vec![PlanItem::run(
        g.cmd(fetch_args(o)).display(),
        format!("fetch the target and the tags from {}", o.remote),
    )];
    let changes = g.changes()?;
    let stash = !dec.noop && changes.needs_stash(o.include_untracked);
    if !dec.noop {
        if !dec.left.is_empty() {
            plan.push(PlanItem::new(
                "keep",
                format!(
                    "keep {} local commit(s) on refs/dfkit/left/<time>-{}",
                    dec.left.len(),
                    short(&before.head)
                ),
            ));
        }
        if stash {
            let mut a = sv(&["stash", "push", "-m", "dfkit <time>"]);
            if o.include_untracked {
                a.push("--include-untracked".into());
            }
            plan.push(PlanItem::run(
                g.cmd(&a).display(),
                "stash the local changes",
            ));
        }
        for s in &dec.mv.steps {
            plan.push(PlanItem::run(g.cmd(s).display(), "move to the target"));
        }
        if stash && o.reapply_stash {
            plan.push(PlanItem::run(
                g.cmd(sv(&["stash", "pop", "stash@{0}"])).display(),
                "re-apply the local changes",
            ));
        }
    }
    d.new_commit = Some(dec.mv.commit.clone());
    d.new_branch = dec.mv.branch.clone();
    d.detached = dec.mv.branch.is_none();
    d.new_version = g.version_at(&dec.mv.commit)?;
    d.new_require_php = g.require_php_at(&dec.mv.commit)?;
    d.new_describe = g.maybe(["describe", "--tags", "--always", &dec.mv.commit])?;
    d.downgrade = g.is_downgrade(before, &dec.mv.commit, d.new_version.as_deref())?;
    d.remote_commit = Some(remote_commit.clone());
    d.would_stash = stash.then(|| changes.stash_files(o.include_untracked));
    d.left_commits = dec.left;
    d.plan = Some(plan);
    let msg = if dec.noop {
        format!("already at {}", short(&before.head))
    } else {
        format!(
            "would update {} to {} ({}){}",
            short(&before.head),
            short(&dec.mv.commit),
            match &o.target {
                Target::Branch(b) => format!("{}/{b}", o.remote),
                Target::Ref(r) => format!("tag {r}"),
            },
            if d.downgrade { ", a downgrade" } else { "" }
        )
    };
    if d.downgrade {
        ctx.warn(format!(
            "this would be a downgrade: version {} → {}",
            before.version.as_deref().unwrap_or("unknown"),
            d.new_version.as_deref().unwrap_or("unknown")
        ));
    }
    Ok(Outcome::typed(!dec.noop, msg, &d))
}
