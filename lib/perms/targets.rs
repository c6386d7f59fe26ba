//! Which owner and which targets: the command line checked against the disk before
//! anything changes.

use super::walk::KEEP;
use crate::error::{Error, ErrorKind, Result};
use crate::report::data::perms::PermsOwner;
use crate::report::Ctx;
use crate::users;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The owner wanted for a target: KEEP leaves that id as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub fn report(self) -> PermsOwner {
        let known = |v: u32| (v != KEEP).then_some(v);
        PermsOwner {
            uid: known(self.uid),
            user: known(self.uid).map(users::user_name),
            gid: known(self.gid),
            group: known(self.gid).map(users::group_name),
        }
    }
    pub fn label(self) -> String {
        let u = if self.uid == KEEP {
            "(kept)".to_string()
        } else {
            users::user_name(self.uid)
        };
        let g = if self.gid == KEEP {
            "(kept)".to_string()
        } else {
            users::group_name(self.gid)
        };
        format!("{u}:{g}")
    }
}

/// A target after validation: where it is, relative to the canonical root.
#[derive(Debug, Clone)]
pub struct Target {
    /// As the user named it (or the default).
    pub name: String,
    /// Canonical absolute path.
    pub path: PathBuf,
    /// Components below the canonical root (at least one).
    pub rel: Vec<CString>,
}

/// The owner from --user/--group; None when neither is given (each target keeps the owner
/// of its own top directory, and its contents are made to match it).
pub fn resolve_owner(opts: &super::Options) -> Result<Option<Owner>> {
    let uid = match opts.user.as_deref() {
        Some("") => return Err(Error::usage("--user must not be empty")),
        Some(u) => Some(users::resolve_user(u)?),
        None => None,
    };
    let gid = match opts.group.as_deref() {
        Some("") => return Err(Error::usage("--group must not be empty")),
        Some(g) => Some(users::resolve_group(g)?),
        None => None,
    };
    Ok(match (uid, gid) {
        (None, None) => None,
        (Some(u), Some(g)) => Some(Owner { uid: u, gid: g }),
        (Some(u), None) => match users::primary_gid(u) {
            Some(g) => Some(Owner { uid: u, gid: g }),
            None => {
                return Err(Error::usage(format!(
                    "uid {u} has no passwd entry, so it has no primary group"
                ))
                .with_hint("give --group too, e.g. --user 1234 --group 1234"))
            }
        },
        (None, Some(g)) => Some(Owner { uid: KEEP, gid: g }),
    })
}

/// Check every target before anything changes: lexically (usage, 64), then on disk
/// (missing: 66; outside the root, the root itself or `/`: config, 78).
pub fn resolve_targets(
    ctx: &Ctx,
    given_root: &Path,
    root: &Path,
    targets: &[PathBuf],
) -> Result<Vec<Target>> {
    let names: Vec<PathBuf> = if targets.is_empty() {
        super::DEFAULT_TARGETS.iter().map(PathBuf::from).collect()
    } else {
        targets.to_vec()
    };
    let mut out: Vec<Target> = Vec::new();
    for name in &names {
        let shown = name.display().to_string();
        let rel = lexical_rel(given_root, root, name).ok_or_else(|| {
            Error::usage(format!(
                "target `{shown}` is not inside the root {}",
                root.display()
            ))
            .with_hint("targets are paths inside the install, e.g. --target storage")
        })?;
        let joined = root.join(&rel);
        let canon = std::fs::canonicalize(&joined).map_err(|e| {
            let mut err = Error::io("target", &joined, e);
            if err.kind == ErrorKind::MissingInput {
                err = err.with_hint(
                    "is --root the DreamFactory install? name existing targets with --target",
                );
            }
            err
        })?;
        if canon == Path::new("/") || canon == root || !canon.starts_with(root) {
            let why = if canon == Path::new("/") {
                "resolves to /".to_string()
            } else if canon == root {
                "resolves to the root itself".to_string()
            } else {
                format!("resolves to {}, outside the root", canon.display())
            };
            return Err(Error::config(format!(
                "refusing target `{shown}`: it {why} ({})",
                root.display()
            ))
            .with_hint(
                "a target (or a symlink on its way) leads outside the install; fix the link or pass the real directory as --root",
            ));
        }
        let rel: Vec<CString> = canon
            .strip_prefix(root)
            .map_err(|_| Error::internal("target not under root after check"))?
            .components()
            .map(|c| CString::new(c.as_os_str().as_bytes()).expect("path has no NUL"))
            .collect();
        out.push(Target {
            name: shown,
            path: canon,
            rel,
        });
    }
    // A target inside another would only be walked twice.
    let mut kept: Vec<Target> = Vec::new();
    for t in &out {
        if let Some(o) = out
            .iter()
            .find(|o| o.path != t.path && t.path.starts_with(&o.path))
        {
            ctx.warn(format!(
                "target `{}` is inside `{}`: handled as part of it",
                t.name, o.name
            ));
            continue;
        }
        if kept.iter().any(|k| k.path == t.path) {
            continue;
        }
        kept.push(t.clone());
    }
    Ok(kept)
}

/// The target's path relative to the root, without touching the disk: None when it climbs
/// out with `..`, is absolute outside the root, or names the root itself.
pub fn lexical_rel(given_root: &Path, root: &Path, target: &Path) -> Option<PathBuf> {
    let rel = if target.is_absolute() {
        target
            .strip_prefix(root)
            .or_else(|_| target.strip_prefix(given_root))
            .ok()?
    } else {
        target
    };
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_targets_stay_inside() {
        let root = Path::new("/opt/df");
        let given = Path::new("/opt/dreamfactory");
        let rel = |t: &str| lexical_rel(given, root, Path::new(t));
        assert_eq!(rel("storage"), Some(PathBuf::from("storage")));
        assert_eq!(
            rel("./bootstrap/cache/"),
            Some(PathBuf::from("bootstrap/cache"))
        );
        assert_eq!(rel("storage/../public"), Some(PathBuf::from("public")));
        assert_eq!(rel("/opt/df/storage"), Some(PathBuf::from("storage")));
        assert_eq!(
            rel("/opt/dreamfactory/storage"),
            Some(PathBuf::from("storage"))
        );
        assert_eq!(rel("../x"), None);
        assert_eq!(rel("storage/../../x"), None);
        assert_eq!(rel("/etc"), None);
        assert_eq!(rel("."), None);
        assert_eq!(rel("/opt/df"), None);
    }
}
