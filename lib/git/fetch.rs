//! `df-git-update fetch`: bring the target into the local refs and say what an `update`
//! would then do, touching no file of the work tree. df-upgrade runs it before taking the
//! site down, so the checkout inside the maintenance window (`update --no-fetch`) waits for
//! no network.

use super::repo::Git;
use super::update::{fetch_args, open_checked, resolve_target};
use super::{short, UpdateOpts};
use crate::error::Result;
use crate::report::data::git::FetchData;
use crate::report::{Ctx, Outcome, PlanItem};
use std::path::Path;

/// `fetch`.
pub fn fetch(ctx: &Ctx, root: &Path, o: &UpdateOpts) -> Result<Outcome> {
    let (g, mode, target) = open_checked(root, o)?;
    let head = g.commit_of("HEAD")?.unwrap_or_default();
    let mut d = FetchData {
        root: g.root().display().to_string(),
        remote: o.remote.clone(),
        mode: mode.into(),
        target: target.clone(),
        head: head.clone(),
        ..Default::default()
    };
    let args = fetch_args(o);
    if ctx.dry_run() {
        d.plan = Some(vec![PlanItem::run(
            g.cmd(&args).display(),
            format!("fetch {target} and the tags from {}", o.remote),
        )]);
        let msg = format!("would fetch {target} from {}", o.remote);
        return Ok(Outcome::typed(false, msg, &d));
    }
    ctx.log(format!("git {} (as {})", args.join(" "), g.run_as()));
    g.ok(&args)
        .map_err(|e| e.context(format!("fetching from {}", o.remote)))?;
    let commit = resolve_target(&g, o)?;
    d.moves = commit != head;
    d.composer_lock_changed = d.moves && lock_differs(&g, &head, &commit)?;
    d.commit = commit;
    let msg = format!(
        "fetched {target} from {}: {}{}",
        o.remote,
        short(&d.commit),
        if d.moves {
            format!(" (HEAD is {})", short(&head))
        } else {
            ", HEAD is already there".into()
        }
    );
    // Remote-tracking refs and tags only: the install (work tree, HEAD) is unchanged.
    Ok(Outcome::typed(false, msg, &d))
}

/// composer.lock differs between two commits (or is in only one of them).
fn lock_differs(g: &Git, a: &str, b: &str) -> Result<bool> {
    if a.is_empty() {
        return Ok(true);
    }
    let out = g.run(["diff", "--quiet", a, b, "--", "composer.lock"])?;
    Ok(!out.success())
}
