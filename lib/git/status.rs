//! `df-git-update status`: read-only (except `--fetch`, which updates remote-tracking refs,
//! as the tree's owner).

use super::repo::{check_not_option, Git};
use super::{short, sv, StatusOpts};
use crate::error::Result;
use crate::report::data::git::StatusData;
use crate::report::{Ctx, Outcome, PlanItem};
use std::path::Path;

/// When the remote-tracking data was last fetched: FETCH_HEAD's time, else the time of
/// the remote-tracking ref's log.
fn last_fetch(g: &Git, remote: &str, branch: &str) -> Option<String> {
    let candidates = [
        "FETCH_HEAD".to_string(),
        format!("logs/refs/remotes/{remote}/{branch}"),
        // A fresh clone writes neither of those, only this.
        format!("logs/refs/remotes/{remote}/HEAD"),
    ];
    let t = candidates
        .iter()
        .filter_map(|c| g.git_path(c).ok())
        .filter_map(|p| std::fs::metadata(p).ok()?.modified().ok())
        .max()?;
    let t: chrono::DateTime<chrono::Utc> = t.into();
    Some(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `df-git-update status`.
pub fn status(ctx: &Ctx, root: &Path, o: &StatusOpts) -> Result<Outcome> {
    let g = Git::open(root, o.timeout)?;
    g.check_remote(&o.remote)?;
    check_not_option("--remote", &o.remote)?;
    if let Some(b) = &o.branch {
        g.check_branch_name("--branch", b)?;
    }
    let st = g.state()?;
    let changes = g.changes()?;
    let branch = o
        .branch
        .clone()
        .or_else(|| st.branch.clone())
        .unwrap_or_else(|| "master".into());
    let upstream = format!("refs/remotes/{}/{branch}", o.remote);
    let fetch_args = sv(&[
        "fetch",
        "--tags",
        &o.remote,
        &format!("+refs/heads/{branch}:{upstream}"),
    ]);
    let mut plan = Vec::new();
    let mut fetched = false;
    if o.fetch {
        if ctx.dry_run() {
            plan.push(PlanItem::run(
                g.cmd(&fetch_args).display(),
                format!("fetch {branch} and the tags from {}", o.remote),
            ));
        } else {
            ctx.log(format!("git {} (as {})", fetch_args.join(" "), g.run_as()));
            g.ok(&fetch_args)
                .map_err(|e| e.context(format!("fetching from {}", o.remote)))?;
            fetched = true;
        }
    }
    let remote_head = g.commit_of(&upstream)?;
    let (behind, ahead) = match &remote_head {
        Some(_) => {
            let counts = g.ok([
                "rev-list",
                "--left-right",
                "--count",
                &format!("HEAD...{upstream}"),
            ])?;
            let mut it = counts.split_whitespace().map(|n| n.parse::<u64>().ok());
            let ahead = it.next().flatten();
            let behind = it.next().flatten();
            (behind, ahead)
        }
        None => (None, None),
    };
    if remote_head.is_none() {
        ctx.warn(format!(
            "no {}/{branch} known locally; rerun with --fetch to compare with the remote",
            o.remote
        ));
    }
    let last = last_fetch(&g, &o.remote, &branch);
    let data = StatusData {
        root: g.root().display().to_string(),
        run_as: Some(g.run_as()),
        branch: st.branch.clone(),
        detached: st.branch.is_none(),
        head: st.head.clone(),
        describe: st.describe.clone(),
        version: crate::install::Install::at(g.root()).version(),
        committed_version: st.version.clone(),
        local_changes: changes.to_data(),
        remote: o.remote.clone(),
        upstream: format!("{}/{branch}", o.remote),
        remote_commit: remote_head,
        behind,
        ahead,
        fetched,
        last_fetch: last.clone(),
        plan: ctx.dry_run().then_some(plan),
    };
    let as_of = if fetched {
        String::new()
    } else {
        match &last {
            Some(t) => format!(" as of the last fetch ({t}; --fetch to refresh)"),
            None => " as of the last fetch (time unknown; --fetch to refresh)".into(),
        }
    };
    let msg = format!(
        "{} at {} ({}), version {}; {} local changes; {}",
        st.branch.as_deref().unwrap_or("(detached)"),
        short(&st.head),
        st.describe.as_deref().unwrap_or("-"),
        data.version.as_deref().unwrap_or("unknown"),
        changes.tracked.len() + changes.unmerged.len(),
        match behind {
            Some(b) => format!("{b} commits behind {}/{branch}{as_of}", o.remote),
            None => format!("{}/{branch} unknown", o.remote),
        }
    );
    Ok(Outcome::typed(false, msg, &data))
}
