//! Running dfkit's binaries and checking the output contract on every call.

use serde_json::Value;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

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
    let args: Vec<String> = c
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    validate_report(&json, &args);
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stdout,
        stderr,
    }
}

/// A tool's compiled `--schema`, per (tool, subcommand).
type Compiled = (boon::Schemas, boon::SchemaIndex);
static SCHEMAS: OnceLock<Mutex<HashMap<(String, String), Compiled>>> = OnceLock::new();

/// Validate a report against its tool's `--schema` (narrowed to the subcommand `args`
/// name, as the tool itself narrows it), compiled once per tool and subcommand per test
/// process. Panics with every violation and the report.
#[track_caller]
pub fn validate_report(report: &Value, args: &[String]) {
    let tool = report["tool"]
        .as_str()
        .unwrap_or_else(|| panic!("report without a tool: {report}"))
        .to_string();
    let subs = dfkit::report::schema::subcommands(&tool);
    let sub = args
        .iter()
        .take_while(|a| *a != "--")
        .find(|a| !a.is_empty() && subs.contains(&a.as_str()))
        .cloned()
        .unwrap_or_default();
    let mut cache = SCHEMAS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let (schemas, idx) = cache
        .entry((tool.clone(), sub.clone()))
        .or_insert_with(|| compile_schema(&tool, &sub));
    if let Err(e) = schemas.validate(report, *idx) {
        let cmd = [tool.as_str(), sub.as_str(), "--schema"]
            .join(" ")
            .replace("  ", " ");
        panic!("the {tool} report does not validate against `{cmd}`:\n{e:#}\nreport: {report}");
    }
    drop(cache);
    // A wrapper's steps and rollback steps nest each child's own report: each validates
    // against its own tool's schema (any subcommand's data: the step names no subcommand).
    for list in ["steps", "rollback"] {
        for step in report["data"][list].as_array().into_iter().flatten() {
            let child = &step["report"];
            if child.is_object() && child["tool"].is_string() {
                validate_report(child, &[]);
            }
        }
    }
}

/// Run `df-TOOL [SUB] --schema` and compile what it prints.
fn compile_schema(tool: &str, sub: &str) -> Compiled {
    let mut c = Command::new(bin(tool));
    if !sub.is_empty() {
        c.arg(sub);
    }
    let out = c.arg("--schema").output().expect("spawn tool --schema");
    assert!(out.status.success(), "{tool} {sub} --schema failed");
    let schema: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{tool} {sub} --schema is not JSON: {e}"));
    let url = format!("urn:dfkit:{tool}:{sub}");
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource(&url, schema)
        .unwrap_or_else(|e| panic!("{tool} --schema: {e:#}"));
    let mut schemas = boon::Schemas::new();
    let idx = compiler
        .compile(&url, &mut schemas)
        .unwrap_or_else(|e| panic!("{tool} --schema does not compile: {e:#}"));
    (schemas, idx)
}
