//! Users and groups: names or numbers to ids (unknown → exit 67), and owners of paths.

use crate::error::{Error, ErrorKind, Result};
use nix::unistd::{Gid, Group, Uid, User};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A user given as a name or a number; an unknown name is an `unknown_user` error (67).
/// A number is accepted even without a passwd entry (as chown does).
pub fn resolve_user(spec: &str) -> Result<u32> {
    if let Ok(n) = spec.parse::<u32>() {
        return Ok(n);
    }
    match User::from_name(spec) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        Ok(None) => Err(
            Error::new(ErrorKind::UnknownUser, format!("unknown user `{spec}`")).with_hint(
                "give an existing user name or a numeric uid (e.g. www-data, dreamfactory)",
            ),
        ),
        Err(e) => Err(Error::new(
            ErrorKind::UnknownUser,
            format!("looking up user `{spec}`: {e}"),
        )),
    }
}

/// A group given as a name or a number; unknown → 67.
pub fn resolve_group(spec: &str) -> Result<u32> {
    if let Ok(n) = spec.parse::<u32>() {
        return Ok(n);
    }
    match Group::from_name(spec) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(
            Error::new(ErrorKind::UnknownUser, format!("unknown group `{spec}`"))
                .with_hint("give an existing group name or a numeric gid"),
        ),
        Err(e) => Err(Error::new(
            ErrorKind::UnknownUser,
            format!("looking up group `{spec}`: {e}"),
        )),
    }
}

/// The primary group of a uid, if it has a passwd entry.
pub fn primary_gid(uid: u32) -> Option<u32> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.gid.as_raw())
}

/// A user's name, or its number as text.
pub fn user_name(uid: u32) -> String {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

/// A group's name, or its number as text.
pub fn group_name(gid: u32) -> String {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_else(|| gid.to_string())
}

/// (uid, gid) owning a path (not following a final symlink).
pub fn owner_of(path: &Path) -> Result<(u32, u32)> {
    let md = std::fs::symlink_metadata(path).map_err(|e| Error::io("inspecting", path, e))?;
    Ok((md.uid(), md.gid()))
}

/// Whether we run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(resolve_user("root").unwrap(), 0);
        assert_eq!(resolve_user("12345").unwrap(), 12345);
        assert_eq!(resolve_group("0").unwrap(), 0);
        let e = resolve_user("no-such-user-dfkit").unwrap_err();
        assert_eq!(e.kind.exit_code(), 67);
        let e = resolve_group("no-such-group-dfkit").unwrap_err();
        assert_eq!(e.kind.exit_code(), 67);
        assert_eq!(user_name(0), "root");
    }
}
