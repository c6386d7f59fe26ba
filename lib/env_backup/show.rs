//! `show`'s report data, written straight from the parsed file.

use crate::envfile::EnvFile;
use crate::report::data::backup_env::EnvSummary;
use crate::secret::{self, Fingerprint};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use std::borrow::Cow;

/// [`crate::report::data::backup_env::ShowData`], serialized to the same JSON, from the parsed file itself: no copy of
/// every key, value and quote, and no map of the variables. A .env of 500k lines holds
/// ~300k variables and ~375k definitions; copying them cost more than parsing them.
pub(super) struct ShowView {
    pub env: String,
    pub sha256: String,
    pub bytes: u64,
    pub file: EnvFile,
    pub app_key_valid: bool,
    /// All but `keys`, which are written from `file`.
    pub summary: EnvSummary,
}

/// A variable's or definition's value as a report shows it: a fingerprint for a secret key.
fn shown<'a>(secret: bool, v: &'a str) -> Cow<'a, str> {
    if secret {
        Cow::Owned(Fingerprint::of(v).0)
    } else {
        Cow::Borrowed(v)
    }
}

/// `vars`: name → value, in order.
struct Vars<'a>(&'a EnvFile);

impl Serialize for Vars<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let vars = self.0.variables();
        let mut m = s.serialize_map(Some(vars.len()))?;
        for (k, v) in vars {
            m.serialize_entry(k, &shown(secret::is_secret_key(k), v))?;
        }
        m.end()
    }
}

/// One of `entries`: a [`crate::report::data::backup_env::ShowEntry`], borrowed.
#[derive(Serialize)]
struct EntryView<'a> {
    key: &'a str,
    line: u64,
    quote: &'static str,
    secret: bool,
    value: Option<Cow<'a, str>>,
}

struct Entries<'a>(&'a EnvFile);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = self.0.entries();
        let mut seq = s.serialize_seq(Some(entries.len()))?;
        for e in entries {
            let secret = secret::is_secret_key(&e.name);
            seq.serialize_element(&EntryView {
                key: &e.name,
                line: e.line as u64,
                quote: e.quote.as_str(),
                secret,
                value: e.value.as_deref().map(|v| shown(secret, v)),
            })?;
        }
        seq.end()
    }
}

/// `keys`: the variables' names, in order.
struct Keys<'a>(&'a EnvFile);

impl Serialize for Keys<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.variables().map(|(k, _)| k))
    }
}

impl Serialize for ShowView {
    /// The fields of `ShowData` in its order (`summary` flattened), as serde's derive
    /// writes them; `show_view_is_show_data` in the tests keeps the two equal.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sum = &self.summary;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("env", &self.env)?;
        m.serialize_entry("sha256", &self.sha256)?;
        m.serialize_entry("bytes", &self.bytes)?;
        m.serialize_entry("vars", &Vars(&self.file))?;
        m.serialize_entry("entries", &Entries(&self.file))?;
        m.serialize_entry("app_key_valid", &self.app_key_valid)?;
        m.serialize_entry("keys", &Keys(&self.file))?;
        m.serialize_entry("app_key_fingerprint", &sum.app_key_fingerprint)?;
        m.serialize_entry("app_key", &sum.app_key)?;
        m.serialize_entry("cipher", &sum.cipher)?;
        m.serialize_entry("db_connection", &sum.db_connection)?;
        m.end()
    }
}

impl ShowView {
    /// The same data as a [`crate::report::data::backup_env::ShowData`], copied.
    #[cfg(test)]
    fn to_data(&self) -> crate::report::data::backup_env::ShowData {
        use crate::report::data::backup_env::{ShowData, ShowEntry};
        let f = &self.file;
        ShowData {
            env: self.env.clone(),
            sha256: self.sha256.clone(),
            bytes: self.bytes,
            vars: match crate::envfile::to_json(f) {
                serde_json::Value::Object(m) => m,
                _ => Default::default(),
            },
            entries: f
                .entries()
                .iter()
                .map(|e| ShowEntry {
                    key: e.name.clone(),
                    line: e.line as u64,
                    quote: e.quote.as_str().into(),
                    secret: secret::is_secret_key(&e.name),
                    value: super::shown(&e.name, e.value.as_deref()),
                })
                .collect(),
            app_key_valid: self.app_key_valid,
            summary: EnvSummary {
                keys: f.vars().iter().map(|(k, _)| k.clone()).collect(),
                ..self.summary.clone()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The view writes exactly what serde makes of the [`ShowData`] it stands for,
    /// compact and indented: secrets, duplicates, an unset name, quotes, escapes,
    /// multi-line and non-ASCII values, and an empty file.
    #[test]
    fn show_view_is_show_data() {
        let srcs: [&[u8]; 3] = [
            b"APP_KEY=base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k=\nDB_CONNECTION=mysql\n\
              DB_PASSWORD=\"p \\\"w\\\\ \xc3\xa9\"\nCOPY=${DB_PASSWORD}\nA=1\nA\nB=x#y\nA='2'\n\
              M=\"multi\nline\"\nC=${NOPE}\nE=\nMAIL_PASS=null\nU=\xf0\x9f\x92\xa1\n",
            b"\xef\xbb\xbfAPP_KEY=short\r\nDB_DRIVER=mysql\r\nX=\"a\\tb\"\r\n",
            b"",
        ];
        for src in srcs {
            let file = EnvFile::parse(src).unwrap();
            let view = ShowView {
                env: "/x/.env".into(),
                sha256: crate::checksum::sha256_hex(src),
                bytes: src.len() as u64,
                app_key_valid: file.app_key().is_ok(),
                summary: EnvSummary {
                    keys: Vec::new(),
                    ..super::super::summary(&file)
                },
                file,
            };
            let data = view.to_data();
            assert_eq!(
                serde_json::to_string(&view).unwrap(),
                serde_json::to_string(&data).unwrap()
            );
            assert_eq!(
                serde_json::to_string_pretty(&view).unwrap(),
                serde_json::to_string_pretty(&data).unwrap()
            );
        }
    }
}
