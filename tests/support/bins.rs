//! Running dfkit's binaries and checking the output contract on every call.

use serde_json::Value;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

/// The path of a built tool, e.g. `bin("df-perms")`.
pub fn bin(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "df-backup-env" => env!("CARGO_BIN_EXE_df-backup-env"),
        "df-dump-db" => env!("CARGO_BIN_EXE_df-dump-db"),
        "df-git-update" => env!("CARGO_BIN_EXE_df-git-update"),
        "df-perms" => env!("CARGO_BIN_EXE_df-perms"),
        "df-artisan" => env!("CARGO_BIN_EXE_df-artisan"),
        "df-restart" => env!("CARGO_BIN_EXE_df-restart"),
        "df-verify" => env!("CARGO_BIN_EXE_df-verify"),
        "df-upgrade" => env!("CARGO_BIN_EXE_df-upgrade"),
        "df-migrate" => env!("CARGO_BIN_EXE_df-migrate"),
        other => panic!("unknown tool {other}"),
    })
}

/// All tools, the wrappers included.
pub const TOOLS: [&str; 9] = [
    "df-backup-env",
    "df-dump-db",
    "df-git-update",
    "df-perms",
    "df-artisan",
    "df-restart",
    "df-verify",
    "df-upgrade",
    "df-migrate",
];

/// One finished run of a tool.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn data(&self) -> &Value {
        &self.json["data"]
    }
    pub fn ok(&self) -> bool {
        self.json["ok"] == Value::Bool(true)
    }
    pub fn changed(&self) -> bool {
        self.json["changed"] == Value::Bool(true)
    }
    pub fn error_kind(&self) -> &str {
        self.json["error"]["kind"].as_str().unwrap_or("")
    }
    /// Panic with the whole output unless the run succeeded.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.code == 0 && self.ok(),
            "expected success, got exit {}\nstdout: {}\nstderr: {}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
    /// Panic unless the run failed with this exit code (and a matching error.kind).
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        if code != 0 {
            assert_eq!(self.json["ok"], false);
            assert_eq!(self.json["failed"], true);
            assert_eq!(self.json["error"]["exit_code"], code);
        }
        self
    }
}

/// Run a tool with args (and extra env), asserting the contract: exactly one JSON object
/// on one newline-terminated stdout line, `failed == !ok`, `msg == comment`.
#[track_caller]
pub fn run<I, S>(tool: &str, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_env(tool, args, &[])
}

#[track_caller]
pub fn run_env<I, S>(tool: &str, args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(bin(tool));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run_command(c)
}

/// Run a prepared Command of a tool, asserting the contract.
#[track_caller]
pub fn run_command(mut c: Command) -> Run {
    let out = c.output().expect("spawn tool");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
        "stdout must be exactly one line, got {stdout:?}\nstderr: {stderr}"
    );
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\nstderr: {stderr}"));
    assert_eq!(json["failed"], Value::Bool(json["ok"] != Value::Bool(true)));
    assert_eq!(json["msg"], json["comment"]);
    assert!(json["tool"].is_string() && json["data"].is_object() && json["warnings"].is_array());
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stdout,
        stderr,
    }
}
