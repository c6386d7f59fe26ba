//! The .env parser and editor (phpdotenv-compatible). PLACEHOLDER API — the real
//! implementation replaces this module, keeping these signatures.

use crate::error::{Error, Result};
use std::path::Path;

/// A parsed .env file.
#[derive(Debug, Clone, Default)]
pub struct EnvFile {
    vars: Vec<(String, String)>,
}

impl EnvFile {
    /// Parse .env bytes; a line Laravel would reject is a `bad_data` error naming it.
    pub fn parse(bytes: &[u8]) -> Result<EnvFile> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Error::bad_data(format!(".env is not UTF-8: {e}")))?;
        let mut vars = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim();
                let v = v.trim_matches('"').trim_matches('\'');
                vars.push((k.trim().to_string(), v.to_string()));
            }
        }
        Ok(EnvFile { vars })
    }

    /// Read and parse a .env file (missing → 66).
    pub fn load(path: &Path) -> Result<EnvFile> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        EnvFile::parse(&bytes)
    }

    /// The value Laravel sees for `key` (last definition wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
