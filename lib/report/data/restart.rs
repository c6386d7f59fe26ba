//! `data` of df-restart's reports. See [`crate::report::data`].
//!
//! One object, [`RestartData`], for a run, a dry run (`plan` filled, nothing run) and a
//! failure (what was done before it failed, with `changed` when a restart command ran).

use crate::report::PlanItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// df-restart's `data`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RestartData {
    /// How the services were (or would be) restarted: `systemd`, `service`, `initd`,
    /// `docker` or `kubernetes` (what `--via auto` resolved to).
    pub via: String,
    /// Why that way, in words.
    pub via_reason: String,
    /// `restart` (stop and start: new master PIDs) or `reload` (`--reload`: the master
    /// re-reads its configuration and replaces its workers; its PID stays).
    pub mode: String,
    /// One entry per service, in restart order (php-fpm first); empty for docker/kubernetes.
    pub services: Vec<ServiceReport>,
    /// The container (docker) or deployment (kubernetes) restarted; null otherwise.
    pub target: Option<Target>,
    /// Every command run, in order (masked, shell-quoted).
    pub commands: Vec<String>,
    /// The health probe; null with `--no-probe`, in a dry run, or when nothing got that far.
    pub probe: Option<ProbeResult>,
    /// `--dry-run` only: the checks and commands the real run would make, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanItem>,
    /// Only in failed reports: `true` when a restart or reload command ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

/// One service's story: its config test, its restart, its master PID before and after.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ServiceReport {
    /// Unit / init-script name: `nginx`, `apache2`, `httpd`, `php8.2-fpm`, `php-fpm`.
    pub name: String,
    /// `nginx`, `apache2`, `httpd` or `php-fpm`.
    pub kind: String,
    /// The configuration test (null when there is none).
    pub config_test: Option<ConfigTest>,
    /// The command that restarts (or reloads) it.
    pub restart_command: Option<String>,
    /// Its restart (or reload) command succeeded.
    pub restarted: bool,
    /// The master PID before: from the pid file, checked against /proc; null when not running.
    pub pid_before: Option<i32>,
    /// The master PID after; null when not running (e.g. after a failed start).
    pub pid_after: Option<i32>,
    /// Restarted, both PIDs known and different (a reload keeps the PID: false).
    pub pid_changed: bool,
}

/// A configuration test (`nginx -t`, `php-fpmX.Y -t`, `apache2ctl configtest`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ConfigTest {
    /// The command (full path), as run.
    pub command: String,
    /// Once run: it passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// Once run: its exit code (null when killed by a signal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Once run: the last lines of its output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tail: Option<String>,
}

/// What `--via docker|kubernetes` restarted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Target {
    /// `--via docker`: the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `--via kubernetes`: the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// `--via kubernetes`: its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A health probe's result (df-restart's `probe`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ProbeResult {
    /// The URL probed.
    pub url: String,
    /// It answered `expect_status` (and contained `expect_body`) in time.
    pub ok: bool,
    /// Requests made.
    pub attempts: u32,
    /// The status that counts as healthy.
    pub expect_status: u16,
    /// Text the body must contain.
    pub expect_body: Option<String>,
    /// `--insecure`: the certificate of an `https://` URL was not verified.
    pub insecure: bool,
    /// The last response's status; null when none came (refused, timed out, TLS refused).
    pub last_status: Option<u16>,
    /// Why the last attempt was not healthy.
    pub last_error: Option<String>,
    /// The first 512 characters of the last body.
    pub body_snippet: Option<String>,
    /// Time spent probing.
    pub elapsed_ms: u64,
}

/// This tool's data schemas, `(subcommand, schema)`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![("", schemars::schema_for!(RestartData))]
}
