//! Finding the DreamFactory install and reading facts about it.
//!
//! The root is `--root DIR`, else `$DF_ROOT`, else `/opt/dreamfactory`. The version is
//! the `'version' => 'x.y.z'` entry of config/app.php (any spacing: DreamFactory 2.0.0
//! aligns it as `'version'                      => '2.0.0',`).

use crate::error::{Error, Result};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The default install location of DreamFactory's installer.
pub const DEFAULT_ROOT: &str = "/opt/dreamfactory";

/// A DreamFactory install on disk.
#[derive(Debug, Clone)]
pub struct Install {
    pub root: PathBuf,
}

/// The root to use: the flag, else $DF_ROOT, else /opt/dreamfactory.
pub fn resolve_root(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("DF_ROOT") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_ROOT),
    }
}

impl Install {
    /// The install at the resolved root; it must be a directory (else exit 66).
    pub fn discover(flag: Option<&Path>) -> Result<Install> {
        let root = resolve_root(flag);
        match std::fs::metadata(&root) {
            Ok(md) if md.is_dir() => Ok(Install { root }),
            Ok(_) => Err(Error::missing(format!(
                "DreamFactory root {} is not a directory",
                root.display()
            ))),
            Err(e) => Err(Error::missing(format!(
                "no DreamFactory install at {}: {e}",
                root.display()
            ))
            .with_hint(
                "pass --root DIR or set DF_ROOT to the install (usually /opt/dreamfactory)",
            )),
        }
    }

    /// Like [`Install::discover`], then [`Install::require_markers`]: for every tool that
    /// changes files in the install.
    pub fn discover_checked(flag: Option<&Path>) -> Result<Install> {
        let install = Install::discover(flag)?;
        install.require_markers()?;
        Ok(install)
    }

    /// Refuse (exit 66) a root that is not a DreamFactory (Laravel) install before anything
    /// is changed: it must hold `artisan`, `.env` or `.env-dist`, and `config/`. Without
    /// this check `--root /etc` would be taken at its word.
    pub fn require_markers(&self) -> Result<()> {
        let r = &self.root;
        let mut missing = Vec::new();
        if !r.join("artisan").is_file() {
            missing.push("artisan");
        }
        if !r.join(".env").is_file() && !r.join(".env-dist").is_file() {
            missing.push(".env (or .env-dist)");
        }
        if !r.join("config").is_dir() {
            missing.push("config/");
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::missing(format!(
            "no DreamFactory install at {}: it has no {}",
            r.display(),
            missing.join(", no ")
        ))
        .with_hint(
            "pass --root DIR naming the install (the directory holding artisan, .env and config/), \
             or set DF_ROOT; usually /opt/dreamfactory",
        ))
    }

    /// An install at `root` without checking it exists.
    pub fn at(root: impl Into<PathBuf>) -> Install {
        Install { root: root.into() }
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    pub fn env_path(&self) -> PathBuf {
        self.root.join(".env")
    }

    /// DreamFactory's version from config/app.php, None when absent or unreadable.
    pub fn version(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.path("config/app.php")).ok()?;
        parse_version(&text)
    }
}

/// The `'version' => 'x.y.z'` value of a config/app.php text, whatever its spacing.
pub fn parse_version(app_php: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"(?m)^\s*['"]version['"]\s*=>\s*['"]([^'"]+)['"]"#).expect("valid regex")
    });
    re.captures(app_php).map(|c| c[1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_any_spacing() {
        assert_eq!(
            parse_version("return [\n    'version' => '7.7.0',\n];").as_deref(),
            Some("7.7.0")
        );
        assert_eq!(
            parse_version("    'version'                      => '2.0.0',\n").as_deref(),
            Some("2.0.0")
        );
        assert_eq!(parse_version("'name' => 'x'"), None);
    }

    #[test]
    fn a_directory_without_the_markers_is_not_an_install() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let check = || Install::at(r).require_markers();
        let e = check().unwrap_err();
        assert_eq!(e.kind.exit_code(), 66);
        assert!(
            e.message.starts_with("no DreamFactory install at"),
            "{}",
            e.message
        );
        assert!(e.message.contains("artisan") && e.message.contains("config/"));
        std::fs::write(r.join("artisan"), "<?php").unwrap();
        std::fs::create_dir(r.join("config")).unwrap();
        assert!(check().unwrap_err().message.contains(".env"));
        std::fs::write(r.join(".env-dist"), "").unwrap();
        check().unwrap();
        std::fs::remove_file(r.join(".env-dist")).unwrap();
        std::fs::write(r.join(".env"), "").unwrap();
        check().unwrap();
        std::fs::remove_dir(r.join("config")).unwrap();
        std::fs::write(r.join("config"), "").unwrap();
        assert!(check().unwrap_err().message.contains("config/"));
        // /etc is a directory, but not an install.
        let e = Install::discover_checked(Some(Path::new("/etc"))).unwrap_err();
        assert_eq!(e.kind.exit_code(), 66);
    }

    #[test]
    fn missing_root_is_66() {
        let e = Install::discover(Some(Path::new("/nonexistent/dfkit-root"))).unwrap_err();
        assert_eq!(e.kind.exit_code(), 66);
    }
}
