//! A failed client run as the right error.

use super::Settings;
use crate::error::Error;
use crate::exec::Output;

/// Turn a failed client run into the right error: refused credentials / unknown
/// database → 78 (config), unreachable server → 69, anything else → 1; the message
/// names user@host, the hint says what to check.
pub fn classify(s: &Settings, out: &Output) -> Error {
    let text = out.combined();
    let low = text.to_ascii_lowercase();
    let who = s.describe();
    // The client's last words, without row data (a statement echo, escaped binary).
    let tail = crate::dump::errtext::clean(&out.tail(3));
    let has = |needles: &[&str]| needles.iter().any(|n| low.contains(n));
    if has(&[
        "access denied for user",
        "password authentication failed",
        "no password supplied",
        "login failed for user",
        "authentication failed",
    ]) || (low.contains("role \"") && low.contains("does not exist"))
    {
        return Error::config(format!(
            "the database refused the credentials of {who}: {tail}"
        ))
        .with_hint("check DB_USERNAME and DB_PASSWORD in .env (and the user's allowed hosts)");
    }
    if has(&["unknown database", "does not exist", "cannot open database"])
        && !has(&["relation", "table"])
    {
        return Error::config(format!("database not found: {who}: {tail}"))
            .with_hint("check DB_DATABASE in .env, or create the database");
    }
    if has(&[
        "can't connect",
        "could not connect",
        "connection refused",
        "unknown mysql server host",
        "unknown server host",
        "could not translate host name",
        "timeout expired",
        "lost connection",
        "server has gone away",
        "no such file or directory",
        "tcp provider",
        "is the server running",
    ]) || out.timed_out
    {
        return Error::unavailable(format!("cannot reach the database {who}: {tail}")).with_hint(
            "is the database server running and reachable from here? check DB_HOST/DB_PORT",
        );
    }
    Error::step(format!(
        "database command failed on {who} ({}): {tail}",
        out.status_text()
    ))
}
