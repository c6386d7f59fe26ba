//! `df-git-update export`: check one commit out into a new directory, without touching
//! the install's work tree, its index or HEAD. df-upgrade stages the next release there
//! and runs composer install in it before taking the site down.
//!
//! The directory is a clone that borrows the install's objects (`git clone --shared
//! --no-checkout`, nothing copied but refs) with the commit checked out: on `--branch
//! NAME` as that branch, else detached — as `update` leaves the install. composer, which
//! reads the root package's version and commit from git, then writes the same
//! vendor/composer/installed.php as it would in the install. The directory is created by
//! the run, with the install root's mode and owner (git runs as that owner); a failure
//! removes it.

use super::repo::{check_not_option, Git};
use super::short;
use crate::error::{Error, ErrorKind, Result};
use crate::report::data::git::ExportData;
use crate::report::{Ctx, Outcome, PlanItem};
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `export --commit C --into DIR`.
pub fn export(
    ctx: &Ctx,
    root: &Path,
    commit: &str,
    branch: Option<&str>,
    into: &Path,
    timeout: Duration,
) -> Result<Outcome> {
    check_not_option("--commit", commit)?;
    let g = Git::open(root, timeout)?;
    crate::install::Install::at(g.root()).require_markers()?;
    let full = g
        .commit_of(&format!("{commit}^{{commit}}"))?
        .ok_or_else(|| {
            Error::missing(format!("no commit `{commit}` in {}", g.root().display()))
                .with_hint("fetch it first: df-git-update fetch --branch NAME (or --ref TAG)")
        })?;
    let into = absolute(into)?;
    if std::fs::symlink_metadata(&into).is_ok() {
        return Err(Error::new(
            ErrorKind::CannotCreate,
            format!("{} already exists", into.display()),
        )
        .with_hint("export writes a new directory: name one that does not exist, or remove it"));
    }
    let parent = into.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        return Err(Error::missing(format!(
            "{} (the parent of --into) is not a directory",
            parent.display()
        )));
    }
    let mut d = ExportData {
        root: g.root().display().to_string(),
        commit: full.clone(),
        into: into.display().to_string(),
        ..Default::default()
    };
    let mut checkout = vec!["checkout", "--quiet"];
    match branch {
        Some(b) => {
            g.check_branch_name("--branch", b)?;
            checkout.extend(["-B", b]);
        }
        None => checkout.push("--detach"),
    }
    checkout.push(full.as_str());
    if ctx.dry_run() {
        let into_s = into.display().to_string();
        d.plan = Some(vec![
            PlanItem::new("mkdir", format!("create {}", into.display())),
            PlanItem::run(
                g.cmd(clone_args(g.root(), &into)).display(),
                "a clone borrowing the install's objects".to_string(),
            ),
            PlanItem::run(
                format!("git -C {into_s} {}", checkout.join(" ")),
                format!("check {} out there", short(&full)),
            ),
        ]);
        let msg = format!("would export {} into {}", short(&full), into.display());
        return Ok(Outcome::typed(false, msg, &d));
    }
    let meta = std::fs::metadata(g.root()).map_err(|e| Error::io("reading", g.root(), e))?;
    std::fs::DirBuilder::new()
        .mode(meta.mode() & 0o7777)
        .create(&into)
        .map_err(|e| Error::io("creating", &into, e))?;
    let written = write_files(&g, &checkout, &into, meta.uid(), meta.gid(), timeout);
    match written {
        Ok(files) => {
            d.files = files;
            let msg = format!(
                "exported {} ({files} files) into {}",
                short(&full),
                into.display()
            );
            ctx.log(msg.clone());
            Ok(Outcome::typed(true, msg, &d))
        }
        Err(e) => {
            // Nothing half-done: the directory was ours.
            let _ = crate::fsops::remove_any(&into);
            Err(e.with_data(serde_json::to_value(&d).unwrap_or_default()))
        }
    }
}

fn write_files(
    g: &Git,
    checkout: &[&str],
    into: &Path,
    uid: u32,
    gid: u32,
    timeout: Duration,
) -> Result<u64> {
    if crate::users::is_root() {
        std::os::unix::fs::lchown(into, Some(uid), Some(gid))
            .map_err(|e| Error::io("setting the owner of", into, e))?;
    }
    g.ok(clone_args(g.root(), into))?;
    let stage = Git::open(into, timeout)?;
    stage.ok(checkout)?;
    let listed = stage.ok(["ls-files", "-z"])?;
    Ok(listed.split('\0').filter(|s| !s.is_empty()).count() as u64)
}

/// A clone of the install into `into` that borrows its objects and checks nothing out.
fn clone_args(root: &Path, into: &Path) -> Vec<OsString> {
    let mut a: Vec<OsString> = ["clone", "--shared", "--no-checkout", "--quiet", "--"]
        .map(OsString::from)
        .into();
    a.extend([
        root.as_os_str().to_os_string(),
        into.as_os_str().to_os_string(),
    ]);
    a
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io("reading the current directory", Path::new("."), e))?;
    Ok(cwd.join(p))
}
