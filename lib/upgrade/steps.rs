//! The steps of df-upgrade, in order, and which of them `--skip` may leave out.

use std::fmt;

/// One step of the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Lock,
    Preflight,
    Backup,
    Fetch,
    Stage,
    Down,
    Dump,
    Git,
    Composer,
    Migrate,
    Clear,
    Perms,
    Up,
    Restart,
    Verify,
    Manifest,
    Prune,
}

impl Step {
    /// Every step, in the order a run takes them.
    pub const ALL: [Step; 17] = [
        Step::Lock,
        Step::Preflight,
        Step::Backup,
        Step::Fetch,
        Step::Stage,
        Step::Down,
        Step::Dump,
        Step::Git,
        Step::Composer,
        Step::Migrate,
        Step::Clear,
        Step::Perms,
        Step::Up,
        Step::Restart,
        Step::Verify,
        Step::Manifest,
        Step::Prune,
    ];

    /// Steps `--skip` accepts. The others hold the run together (a skipped `down` would
    /// upgrade a live site; a skipped `git` would not upgrade at all).
    pub const SKIPPABLE: [Step; 9] = [
        Step::Backup,
        Step::Stage,
        Step::Dump,
        Step::Composer,
        Step::Migrate,
        Step::Clear,
        Step::Perms,
        Step::Restart,
        Step::Verify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Lock => "lock",
            Step::Preflight => "preflight",
            Step::Backup => "backup",
            Step::Fetch => "fetch",
            Step::Stage => "stage",
            Step::Down => "down",
            Step::Dump => "dump",
            Step::Git => "git",
            Step::Composer => "composer",
            Step::Migrate => "migrate",
            Step::Clear => "clear",
            Step::Perms => "perms",
            Step::Up => "up",
            Step::Restart => "restart",
            Step::Verify => "verify",
            Step::Manifest => "manifest",
            Step::Prune => "prune",
        }
    }

    /// Parse a `--skip` value (64 for an unknown or unskippable step).
    pub fn parse_skippable(s: &str) -> Result<Step, String> {
        Step::SKIPPABLE
            .iter()
            .copied()
            .find(|st| st.name() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a step that can be skipped; one of: {}",
                    Step::SKIPPABLE.map(Step::name).join(", ")
                )
            })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_names() {
        assert_eq!(Step::parse_skippable("composer"), Ok(Step::Composer));
        assert!(Step::parse_skippable("down")
            .unwrap_err()
            .contains("composer"));
        assert!(Step::parse_skippable("nope").is_err());
        assert!(Step::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
