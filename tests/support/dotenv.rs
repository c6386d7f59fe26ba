//! Editing a test install's .env by hand (the way an operator would, not through dfkit).

use std::path::Path;

/// Set `key=value` in ROOT/.env: replace the line defining it, else append one.
pub fn set_env(root: &Path, key: &str, value: &str) {
    let p = root.join(".env");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key}=")) {
                found = true;
                format!("{key}={value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(format!("{key}={value}"));
    }
    std::fs::write(&p, out.join("\n") + "\n").unwrap();
}
