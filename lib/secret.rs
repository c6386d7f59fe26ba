//! Secrets: which keys are secret, fingerprints instead of values, and a scrubber.
//!
//! A secret never leaves the process in clear: not on stdout, stderr, in logs, nor in
//! a child's argv. Where a report must identify one it prints a [`Fingerprint`]:
//! `sha256:` + the first 12 hex digits of the value's SHA-256 — equal fingerprints
//! prove two hosts share an APP_KEY without showing it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Mutex;

/// `sha256:` + 12 hex digits of a secret's SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    pub fn of(value: &str) -> Fingerprint {
        let hex = crate::checksum::sha256_hex(value.as_bytes());
        Fingerprint(format!("sha256:{}", &hex[..12]))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a .env key holds a secret: its name contains KEY, PASSWORD, PASS, SECRET or TOKEN.
pub fn is_secret_key(name: &str) -> bool {
    // Case-insensitive, without an uppercased copy, in one pass: called for every line
    // of a .env. (PASSWORD contains PASS.)
    let name = name.as_bytes();
    let at = |i: usize, s: &[u8]| {
        name.get(i..i + s.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(s))
    };
    (0..name.len()).any(|i| match name[i].to_ascii_uppercase() {
        b'K' => at(i, b"KEY"),
        b'P' => at(i, b"PASS"),
        b'S' => at(i, b"SECRET"),
        b'T' => at(i, b"TOKEN"),
        _ => false,
    })
}

/// The registered secrets.
struct Registry {
    /// Each secret with its JSON-escaped form when that differs (computed once, not per
    /// scrub); longest first once `sorted`.
    list: Vec<(String, Option<String>)>,
    /// The secrets, to find one in constant time (a .env can register thousands).
    known: Option<std::collections::HashSet<String>>,
    sorted: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    list: Vec::new(),
    known: None,
    sorted: true,
});

/// Register a secret value so that [`scrub`] masks it in everything the tool prints.
/// Values shorter than 4 bytes are not registered (masking them would mangle output).
pub fn register(value: &str) {
    if value.len() < 4 {
        return;
    }
    let mut reg = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    if reg
        .known
        .get_or_insert_with(Default::default)
        .insert(value.to_string())
    {
        let esc = serde_json::to_string(value)
            .ok()
            .map(|e| e[1..e.len() - 1].to_string())
            .filter(|e| e != value);
        reg.list.push((value.to_string(), esc));
        // Sorted when next used, not on each registration.
        reg.sorted = false;
    }
}

/// Replace every registered secret in `text` by `***`. Also masks the JSON-escaped
/// form of each secret, since reports are JSON.
pub fn scrub(text: &str) -> String {
    scrub_cow(text).into_owned()
}

/// [`scrub`], without a copy of `text` when it holds no secret (a report can be 50 MB).
pub fn scrub_cow(text: &str) -> Cow<'_, str> {
    let mut reg = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    if !reg.sorted {
        // Longest first, so a secret containing another is masked whole.
        reg.list.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        reg.sorted = true;
    }
    let mut out = Cow::Borrowed(text);
    for (v, esc) in reg.list.iter() {
        for pat in std::iter::once(v).chain(esc) {
            // memmem's search is much faster than `str::contains` on large texts.
            if memchr::memmem::find(out.as_bytes(), pat.as_bytes()).is_some() {
                out = Cow::Owned(out.replace(pat.as_str(), "***"));
            }
        }
    }
    out
}

/// [`scrub`] for JSON text: masks registered secrets inside string values only, each
/// decoded, scrubbed and encoded again, so the result is still valid JSON with the same
/// structure. Plain-text scrubbing would turn a numeric secret into `***` inside a number,
/// a secret spelled like a field name (`changed`, `version`) into a renamed key, or cut
/// an escape sequence in two. Object keys are names, not values: they are left alone.
pub fn scrub_json(text: &str) -> Cow<'_, str> {
    // Each secret as it stands inside a JSON string that serde_json wrote (escaped).
    let forms: Vec<String> = {
        let reg = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        reg.list
            .iter()
            .map(|(v, esc)| esc.clone().unwrap_or_else(|| v.clone()))
            .collect()
    };
    let holds = |t: &str| {
        forms
            .iter()
            .any(|f| memchr::memmem::find(t.as_bytes(), f.as_bytes()).is_some())
    };
    if !holds(text) {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while let Some(q) = memchr::memchr(b'"', &b[i..]) {
        // A string token: find its closing quote, skipping escapes.
        let start = i + q;
        i = start + 1;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(b.len());
        i = end;
        let token = &text[start..end];
        if !holds(token) {
            continue;
        }
        let is_key = b[end..]
            .iter()
            .find(|c| !c.is_ascii_whitespace())
            .is_some_and(|&c| c == b':');
        if is_key {
            continue;
        }
        let Ok(value) = serde_json::from_str::<String>(token) else {
            continue;
        };
        let masked = scrub_cow(&value);
        if masked != value {
            out.push_str(&text[last..start]);
            out.push_str(&serde_json::to_string(&masked).unwrap_or_else(|_| "\"***\"".into()));
            last = end;
        }
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_shape() {
        let f = Fingerprint::of("base64:abc");
        assert!(f.0.starts_with("sha256:"));
        assert_eq!(f.0.len(), "sha256:".len() + 12);
        assert_eq!(f, Fingerprint::of("base64:abc"));
        assert_ne!(f, Fingerprint::of("base64:abd"));
        // sha256("") = e3b0c442 98fc1c14 …
        assert_eq!(Fingerprint::of("").0, "sha256:e3b0c44298fc");
    }

    #[test]
    fn secret_keys() {
        for k in [
            "APP_KEY",
            "JWT_SECRET",
            "DB_PASSWORD",
            "DF_LICENSE_KEY",
            "REDIS_PASSWORD",
            "MAIL_PASS",
            "api_token",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["DB_HOST", "APP_URL", "DB_CONNECTION", "DB_USERNAME"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn scrub_json_keeps_the_structure() {
        register("97531864");
        register("zqchanged7");
        register("n\\x\"y");
        let v = serde_json::json!({
            "zqchanged7": true,
            "duration_ms": 97531864,
            "msg": "pw 97531864 and zqchanged7, n\\x\"y",
            "list": ["zqchanged7", "line\nzqchanged7"],
            "nested": {"zqchanged7": "zqchanged7"}
        });
        let text = scrub_json(&v.to_string()).into_owned();
        let back: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(back["zqchanged7"], true);
        assert_eq!(back["duration_ms"], 97531864);
        assert_eq!(back["msg"], "pw *** and ***, ***");
        assert_eq!(back["list"], serde_json::json!(["***", "line\n***"]));
        assert_eq!(back["nested"], serde_json::json!({"zqchanged7": "***"}));
        let pretty = scrub_json(&serde_json::to_string_pretty(&v).unwrap()).into_owned();
        let back2: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(back, back2);
    }

    #[test]
    fn scrub_masks_plain_and_json_escaped() {
        register("pa\"ss word");
        let s = scrub("x pa\"ss word y");
        assert_eq!(s, "x *** y");
        let j = serde_json::to_string("pa\"ss word").unwrap();
        assert_eq!(scrub(&j), "\"***\"");
    }
}
