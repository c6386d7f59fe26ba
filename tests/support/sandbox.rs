//! DreamFactory-shaped sandbox installs built by scripts/make-sandbox.sh
//! (API agreed; implementation to come).

use std::path::PathBuf;

/// A sandbox install: a git checkout of `origin` (bare repo with tags v1 and v2) at
/// v1 on branch master, composer-installed, with .env, migrated and seeded.
pub struct Sandbox {
    /// Keeps the temp dir alive.
    pub tmp: tempfile::TempDir,
    /// The install (like /opt/dreamfactory).
    pub root: PathBuf,
    /// The bare origin repository.
    pub origin: PathBuf,
    /// "sqlite", "mysql" or "pgsql".
    pub driver: &'static str,
}
