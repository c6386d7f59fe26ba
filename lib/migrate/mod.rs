//! df-migrate: move an instance to a new server — APP_KEY, database and all — in one
//! verified bundle ([`crate::bundle`]).
//!
//! * `export` (old host): `.env` saved and the database dumped by the step tools into a
//!   private temp set, then packed with a manifest into one bundle file, optionally
//!   encrypted for age recipients;
//! * `push`: the bundle copied over ssh, `docker cp` or `kubectl cp` and checked by its
//!   sha256 on the far side ([`crate::transfer`]);
//! * `import` (new host): bundle verified and driver compared before anything changes,
//!   a set of the new instance taken, then each step a sibling run — strict mode, restore
//!   with `--replace`, the data keys, migrate, clear, perms, restart, verify against the
//!   bundle — with a journal, events and a rollback to the new instance's own set;
//! * `inspect`: the manifest and a verification, changing nothing.
//!
//! Like df-upgrade this module composes binaries, never functions: it imports report,
//! exec (through children), backup_set, lock, journal, events, atomic, secret, bundle,
//! transfer and the step recorder [`crate::wrapper`] — never the step modules.

pub mod export;
pub mod import;
pub mod push;

use crate::error::Result;
use crate::report::data::migrate::InspectData;
use crate::report::{Ctx, Outcome};
pub(crate) use crate::wrapper::Run;
use std::path::Path;

/// `df-migrate inspect FILE`: the manifest and a verification of every byte; nothing
/// changes (the plaintext of an encrypted bundle lives in a 0700 temp dir meanwhile).
pub fn inspect(ctx: &Ctx, bundle: &Path, identity: Option<&Path>) -> Result<Outcome> {
    let parent = std::env::temp_dir();
    let opened = crate::bundle::open(bundle, identity, &parent)?;
    let m = &opened.manifest;
    let msg = format!(
        "bundle {} verified: {} {} instance from {} ({}), {} tables, APP_KEY {}{}",
        bundle.display(),
        m.driver,
        m.df_version.as_deref().unwrap_or("?"),
        m.host,
        m.created_at,
        m.row_counts.len(),
        m.app_key_fingerprint.as_deref().unwrap_or("?"),
        if opened.encrypted { ", encrypted" } else { "" }
    );
    ctx.log(&msg);
    let data = InspectData {
        bundle: bundle.display().to_string(),
        bytes: opened.bytes,
        sha256: opened.sha256.clone(),
        encrypted: opened.encrypted,
        verified: true,
        manifest: Some(opened.manifest.clone()),
    };
    Ok(Outcome::typed(false, msg, &data))
}
