//! APP_KEY validity, judged exactly as Laravel 8's encrypter judges it.
//!
//! Laravel reads the key through `env('APP_KEY')` (which turns `null`, `false`, `empty`
//! and their `(…)` forms into "no key", `true` into `"1"`, and strips one pair of matching
//! quotes), refuses an empty key ("0" is empty too, in PHP), decodes a `base64:` key with
//! PHP's lenient `base64_decode` (characters outside the alphabet, spaces included, are
//! skipped), and then `Encrypter::supported()` wants exactly 16 bytes for AES-128-CBC/GCM
//! and 32 for AES-256-CBC/GCM. Anything else: "Unsupported cipher or incorrect key length",
//! and DreamFactory does not boot.
//!
//! The cipher comes from the install's `config/app.php` (`'cipher' => 'AES-256-CBC'`, or
//! `env('APP_CIPHER', …)`, in which case APP_CIPHER in .env decides).

use super::EnvFile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Laravel's default cipher (config/app.php of every Laravel 5.x–8.x skeleton).
pub const DEFAULT_CIPHER: &str = "AES-256-CBC";

/// The cipher Laravel uses, and where that was read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Cipher {
    /// The cipher name as configured, e.g. `AES-256-CBC`.
    pub name: String,
    /// Where it was read: `config/app.php`, `.env APP_CIPHER`, or `default` (Laravel's
    /// AES-256-CBC when neither says).
    pub source: String,
}

impl Cipher {
    /// AES-256-CBC, Laravel's default.
    pub fn default_cipher() -> Cipher {
        Cipher {
            name: DEFAULT_CIPHER.into(),
            source: "default".into(),
        }
    }

    /// The key length (bytes) `Encrypter::supported()` wants; None for a cipher Laravel 8
    /// does not support.
    pub fn key_len(&self) -> Option<usize> {
        match self.name.to_ascii_lowercase().as_str() {
            "aes-128-cbc" | "aes-128-gcm" => Some(16),
            "aes-256-cbc" | "aes-256-gcm" => Some(32),
            _ => None,
        }
    }
}

/// The cipher an install uses: `config/app.php` under `base` (the install root) when it
/// sets one, reading APP_CIPHER from `env` when it defers to `env('APP_CIPHER', …)`.
/// Without a readable config/app.php: APP_CIPHER from `env`, else Laravel's default.
pub fn configured_cipher(base: Option<&Path>, env: &EnvFile) -> Cipher {
    let from_env = |default: Cipher| match env.get("APP_CIPHER") {
        Some(v) => Cipher {
            name: env_helper(v).unwrap_or_default(),
            source: ".env APP_CIPHER".into(),
        },
        None => default,
    };
    let text = base.and_then(|b| std::fs::read_to_string(b.join("config/app.php")).ok());
    match text.as_deref().and_then(config_cipher) {
        Some(ConfigCipher::Literal(name)) => Cipher {
            name,
            source: "config/app.php".into(),
        },
        Some(ConfigCipher::Env(default)) => from_env(Cipher {
            name: default.unwrap_or_default(),
            source: "config/app.php".into(),
        }),
        None => from_env(Cipher::default_cipher()),
    }
}

enum ConfigCipher {
    Literal(String),
    /// `env('APP_CIPHER', DEFAULT)`.
    Env(Option<String>),
}

/// The `'cipher' => …` entry of a config/app.php, whatever its spacing.
fn config_cipher(php: &str) -> Option<ConfigCipher> {
    let re = regex::Regex::new(
        r#"['"]cipher['"]\s*=>\s*(?:env\(\s*['"]APP_CIPHER['"]\s*(?:,\s*['"]([^'"]*)['"]\s*)?\)|['"]([^'"]*)['"])"#,
    )
    .ok()?;
    // The first uncommented match.
    for line in php.lines() {
        let t = line.trim_start();
        if t.starts_with("//") || t.starts_with('#') || t.starts_with('*') {
            continue;
        }
        if let Some(c) = re.captures(line) {
            return Some(match c.get(2) {
                Some(lit) => ConfigCipher::Literal(lit.as_str().to_string()),
                None => ConfigCipher::Env(c.get(1).map(|m| m.as_str().to_string())),
            });
        }
    }
    None
}

/// What Laravel's `env()` helper returns for a value read from .env: None for the values
/// it turns into null/false/"" (`null`, `(null)`, `false`, `(false)`, `empty`, `(empty)`),
/// `"1"` for `true`/`(true)` (what `(string) true` gives), else the value with one pair
/// of matching outer quotes removed.
fn env_helper(v: &str) -> Option<String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "(true)" => return Some("1".into()),
        "false" | "(false)" | "empty" | "(empty)" | "null" | "(null)" => return None,
        _ => {}
    }
    let b = v.as_bytes();
    // preg_match('/\A([\'"])(.*)\1\z/'): `.` does not match a newline.
    if b.len() >= 2
        && (b[0] == b'"' || b[0] == b'\'')
        && b[b.len() - 1] == b[0]
        && !v[1..v.len() - 1].contains('\n')
    {
        return Some(v[1..v.len() - 1].to_string());
    }
    Some(v.to_string())
}

/// The key's length in bytes as Laravel's encrypter sees it, and whether it was `base64:`.
/// Err when Laravel throws MissingAppKeyException (no key, or one PHP calls `empty`).
fn laravel_key_len(k: &str) -> std::result::Result<(bool, usize), String> {
    let Some(k) = env_helper(k) else {
        return Err(format!(
            "`{}` reads as no key at all in Laravel's env() helper",
            k.to_ascii_lowercase()
        ));
    };
    if k.is_empty() || k == "0" {
        return Err("it is empty".into());
    }
    Ok(match k.strip_prefix("base64:") {
        Some(b64) => (true, php_base64_decoded_len(b64)),
        None => (false, k.len()),
    })
}

/// Check APP_KEY against the cipher Laravel will use. Ok("base64, 32 bytes" / "raw, 16
/// bytes"), or Err(why) — never the key itself.
pub fn check_app_key_for(k: &str, cipher: &Cipher) -> std::result::Result<String, String> {
    let (b64, n) = laravel_key_len(k)?;
    let shape = if b64 {
        format!("base64, {n} bytes")
    } else {
        format!("raw, {n} bytes")
    };
    let Some(want) = cipher.key_len() else {
        return Err(format!(
            "the cipher `{}` ({}) is not one Laravel 8 supports (AES-128-CBC, AES-256-CBC, \
             AES-128-GCM, AES-256-GCM)",
            cipher.name, cipher.source
        ));
    };
    if n == want {
        Ok(shape)
    } else {
        let what = if b64 { "decodes to" } else { "is" };
        Err(format!(
            "it {what} {n} bytes; {} ({}) needs {want} (Laravel: \"Unsupported cipher or \
             incorrect key length\")",
            cipher.name, cipher.source
        ))
    }
}

/// Check APP_KEY's shape without knowing the cipher: a key some cipher Laravel 8
/// supports accepts (16 or 32 bytes). Prefer [`check_app_key_for`].
pub fn check_app_key(k: &str) -> std::result::Result<String, String> {
    let (b64, n) = laravel_key_len(k)?;
    match (b64, n) {
        (true, 16 | 32) => Ok(format!("base64, {n} bytes")),
        (false, 16 | 32) => Ok(format!("raw, {n} bytes")),
        (true, _) => Err(format!(
            "it decodes to {n} bytes; expected 16 (AES-128) or 32 (AES-256)"
        )),
        (false, _) => Err(format!(
            "it is {n} bytes; expected `base64:` + 16/32 bytes, or a raw 16/32-byte key"
        )),
    }
}

/// The length of PHP's lenient `base64_decode($s)`: every byte outside the base64
/// alphabet (spaces, `=` anywhere, `-`, `_`…) is skipped, and each 4 remaining characters
/// give 3 bytes, a final 2 give 1 and a final 3 give 2 (a single one gives nothing).
fn php_base64_decoded_len(s: &str) -> usize {
    let n = s
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .count();
    n * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str) -> Cipher {
        Cipher {
            name: name.into(),
            source: "test".into(),
        }
    }

    #[test]
    fn lengths_follow_the_cipher() {
        let k16 = "base64:AAAAAAAAAAAAAAAAAAAAAA==";
        let k24 = "base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let k32 = "base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert!(check_app_key_for(k32, &c("AES-256-CBC")).is_ok());
        assert!(check_app_key_for(k32, &c("aes-256-gcm")).is_ok());
        assert!(check_app_key_for(k16, &c("AES-256-CBC")).is_err());
        assert!(check_app_key_for(k16, &c("AES-128-CBC")).is_ok());
        assert!(check_app_key_for(k24, &c("AES-256-CBC")).is_err());
        assert!(check_app_key(k24).is_err());
        assert!(check_app_key_for(k32, &c("AES-192-CBC")).is_err());
        assert!(check_app_key_for("0123456789abcdef", &c("AES-256-CBC")).is_err());
        assert!(check_app_key_for("0123456789abcdef", &c("AES-128-CBC")).is_ok());
    }

    #[test]
    fn php_quirks() {
        let aes = c("AES-256-CBC");
        // base64_decode skips the space.
        let spaced = "base64: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_eq!(
            check_app_key_for(spaced, &aes),
            Ok("base64, 32 bytes".into())
        );
        // env() strips one pair of quotes; "null" and "0" are no key.
        let quoted = "'0123456789abcdef0123456789abcdef'";
        assert_eq!(check_app_key_for(quoted, &aes), Ok("raw, 32 bytes".into()));
        assert!(check_app_key_for("null", &aes).is_err());
        assert!(check_app_key_for("0", &aes).is_err());
        assert_eq!(php_base64_decoded_len("!!!!"), 0);
        assert_eq!(php_base64_decoded_len("QUJD=RA"), 4);
    }

    #[test]
    fn config_cipher_lines() {
        let env = EnvFile::parse(b"APP_CIPHER=AES-128-CBC\n").unwrap();
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("config")).unwrap();
        let app = d.path().join("config/app.php");
        std::fs::write(&app, "<?php return [\n  'cipher'=>'AES-256-CBC',\n];").unwrap();
        let got = configured_cipher(Some(d.path()), &env);
        assert_eq!(
            (got.name.as_str(), got.source.as_str()),
            ("AES-256-CBC", "config/app.php")
        );
        std::fs::write(
            &app,
            "<?php return [\n // 'cipher' => 'X',\n    'cipher' => env( 'APP_CIPHER', 'AES-256-CBC' ),\n];",
        )
        .unwrap();
        let got = configured_cipher(Some(d.path()), &env);
        assert_eq!(got.name, "AES-128-CBC");
        let none = EnvFile::parse(b"A=1\n").unwrap();
        assert_eq!(configured_cipher(Some(d.path()), &none).name, "AES-256-CBC");
        assert_eq!(configured_cipher(None, &none), Cipher::default_cipher());
    }
}
