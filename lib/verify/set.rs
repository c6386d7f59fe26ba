//! What df-verify reads from a backup set: row counts (db.meta.json), the APP_KEY
//! fingerprint (env.meta.json) and the set's time. Metas are read through
//! [`BackupSet::read_meta`] as backup_set's own types.

use crate::backup_set::db_meta::DbMeta;
use crate::backup_set::env_meta::EnvMeta;
use crate::backup_set::BackupSet;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

/// The APP_KEY fingerprint an env.meta.json recorded, when it has the `sha256:` form
/// (older sets keep it only under `fingerprints`).
pub fn app_key_fingerprint(m: &EnvMeta) -> Option<String> {
    [
        m.summary.app_key_fingerprint.as_ref(),
        m.fingerprints.get("APP_KEY"),
    ]
    .into_iter()
    .flatten()
    .find(|s| s.starts_with("sha256:"))
    .cloned()
}

/// The only field of manifest.json read here.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ManifestRead {
    created_at: Option<String>,
}

/// When a backup set was made: the earliest `created_at`/`saved_at` of its manifest and
/// metas, else the UTC stamp of its directory name (`20261125T203000Z`), else the oldest
/// meta file's mtime.
pub fn set_time(set: &BackupSet) -> Option<DateTime<FixedOffset>> {
    let parse = |s: Option<String>| s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok());
    let manifest: Option<ManifestRead> = std::fs::read(set.path("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let times = [
        parse(manifest.and_then(|m| m.created_at)),
        parse(set.read_meta::<EnvMeta>("env").ok().map(|m| m.saved_at)),
        parse(set.read_meta::<DbMeta>("db.sql").ok().map(|m| m.created_at)),
    ];
    if let Some(t) = times.into_iter().flatten().min() {
        return Some(t);
    }
    if let Some(name) = set.dir.file_name().and_then(|n| n.to_str()) {
        if let Ok(t) = NaiveDateTime::parse_from_str(name, "%Y%m%dT%H%M%SZ") {
            return Some(Utc.from_utc_datetime(&t).fixed_offset());
        }
    }
    let rd = std::fs::read_dir(&set.dir).ok()?;
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".meta.json"))
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .min()
        .map(|t| DateTime::<Utc>::from(t).fixed_offset())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_meta_shapes() {
        let a: DbMeta =
            serde_json::from_str(r#"{"tables": 2, "row_counts": {"user": 2, "role": 0}}"#).unwrap();
        assert_eq!(
            a.row_counts.unwrap(),
            [("role".to_string(), 0), ("user".to_string(), 2)].into()
        );
        let b: DbMeta = serde_json::from_str(r#"{"tables": null, "row_counts": null}"#).unwrap();
        assert!(b.row_counts.is_none());
        let e: EnvMeta = serde_json::from_str(
            r#"{"app_key_fingerprint": "sha256:abc", "app_key": "base64, 32 bytes"}"#,
        )
        .unwrap();
        assert_eq!(app_key_fingerprint(&e).as_deref(), Some("sha256:abc"));
        let e: EnvMeta = serde_json::from_str(r#"{"app_key": "base64, 32 bytes"}"#).unwrap();
        assert!(app_key_fingerprint(&e).is_none());
        let e: EnvMeta =
            serde_json::from_str(r#"{"fingerprints": {"APP_KEY": "sha256:def"}}"#).unwrap();
        assert_eq!(app_key_fingerprint(&e).as_deref(), Some("sha256:def"));
    }
}
