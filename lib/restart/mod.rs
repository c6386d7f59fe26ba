//! Restarting the web server and php-fpm — safely, and proving it worked.
//!
//! The order is fixed: test every configuration first (web server, then php-fpm) and
//! refuse to restart anything if one fails (a restart must never take a working site
//! down); restart php-fpm, then the web server (so the web server comes back to a ready
//! backend); compare each master PID before and after; then probe a URL until it is
//! healthy. `--reload` swaps the restart for each service's graceful reload, which keeps
//! serving: the master stays (same PID) and replaces its workers as they finish.
//!
//! A dry run makes every check the real run makes (programs present, init scripts
//! present, configuration tests) and stops before the first restart.
//!
//! A restart always changes the system: `changed` is always true (with `--dry-run`:
//! would be). Running it twice restarts twice — it is not idempotent by nature.
//!
//! Modules: [`service`] (one service and its master PID), [`host`] (what is installed,
//! `--via`), [`plan`] (the commands, decided before anything runs).

pub mod host;
pub mod plan;
pub mod service;

pub use host::{parse_service, resolve_services, Host, Via};
pub use service::{Kind, Service};

use crate::error::{Error, Result};
use crate::http::{Probe, ProbeResult, Tls, Url};
use crate::report::data::restart::{ConfigTest, RestartData};
use crate::report::{Ctx, Outcome, PlanItem};
use plan::{build_plan, Plan};
use std::time::{Duration, Instant};

/// Restart (new processes) or reload (same master, new configuration and workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Restart,
    Reload,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Restart => "restart",
            Mode::Reload => "reload",
        }
    }
    fn past(self) -> &'static str {
        match self {
            Mode::Restart => "restarted",
            Mode::Reload => "reloaded",
        }
    }
}

/// Everything df-restart was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--service` words (empty = auto).
    pub services: Vec<String>,
    pub via: Via,
    pub container: Option<String>,
    pub deployment: Option<String>,
    pub namespace: String,
    /// `--reload`: a graceful reload instead of a restart.
    pub mode: Mode,
    /// None: `--no-probe`.
    pub probe: Option<Probe>,
    /// Limit for each restart command (and kubectl's rollout status).
    pub restart_timeout: Duration,
}

fn data(plan: &Plan, commands: &[String], probe: Option<&ProbeResult>) -> RestartData {
    RestartData {
        via: plan.via.as_str().into(),
        via_reason: plan.via_reason.clone(),
        mode: plan.mode.as_str().into(),
        services: plan.steps.iter().map(|s| s.report.clone()).collect(),
        target: plan.target.clone(),
        commands: commands.to_vec(),
        probe: probe.cloned(),
        plan: Vec::new(),
        changed: None,
    }
}

fn to_value(d: &RestartData) -> serde_json::Value {
    serde_json::to_value(d).unwrap_or_default()
}

/// Wait briefly for a service's master after its command returned: an init script may
/// return a moment before the new master writes its pid file (restart), and php-fpm's
/// reload re-executes and re-forks its master. A restart (and php-fpm's reload) waits for
/// a new PID, another reload for any live master.
fn wait_master(svc: &Service, before: Option<i32>, mode: Mode) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let new_pid = mode == Mode::Restart || !svc.reload_keeps_pid();
    loop {
        let now = svc.master_pid();
        let settled = if new_pid {
            now.is_some() && now != before
        } else {
            now.is_some()
        };
        if settled || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// df-restart: test, restart (or reload), observe, probe.
pub fn run(ctx: &Ctx, opts: &Options) -> Result<Outcome> {
    run_on(ctx, opts, &Host::default())
}

/// [`run`] with detection rooted elsewhere (tests).
pub fn run_on(ctx: &Ctx, opts: &Options, host: &Host) -> Result<Outcome> {
    let mut plan = build_plan(ctx, opts, host)?;
    let mode = plan.mode;
    let what = match &plan.target {
        Some(t) => t
            .container
            .clone()
            .or_else(|| t.deployment.clone())
            .unwrap_or_default(),
        None => plan
            .steps
            .iter()
            .map(|s| s.svc.name())
            .collect::<Vec<_>>()
            .join(", "),
    };

    let mut commands: Vec<String> = Vec::new();
    // 1. Config tests — web server first (the guide's usual culprit), then php-fpm. A dry
    //    run makes them too: they change nothing, and a plan that would fail must say so.
    for i in (0..plan.steps.len()).rev() {
        let Some(test) = plan.steps[i].test.clone() else {
            continue;
        };
        ctx.log(format!("testing configuration: {}", test.display()));
        commands.push(test.display());
        let out = test.run()?;
        let tail = out.tail(10);
        plan.steps[i].report.config_test = Some(ConfigTest {
            command: test.display(),
            ok: Some(out.success()),
            exit_code: out.code,
            output_tail: Some(tail.clone()),
        });
        if out.success() && mode == Mode::Reload {
            for w in reload_warnings(&plan.steps[i].svc, &out.combined()) {
                ctx.warn(w);
            }
        }
        if !out.success() {
            let name = plan.steps[i].svc.name();
            return Err(Error::config(format!(
                "{name}: configuration test failed (`{}`, {}); nothing was {}: {tail}",
                test.display(),
                out.status_text(),
                mode.past()
            ))
            .with_hint(format!(
                "fix {name}'s configuration until `{}` passes, then run df-restart again; the running {name} still serves the old configuration",
                test.display()
            ))
            .with_data(to_value(&data(&plan, &commands, None))));
        }
    }

    if ctx.dry_run() {
        let mut items: Vec<PlanItem> = Vec::new();
        for s in plan.steps.iter().rev() {
            if let Some(t) = &s.test {
                items.push(PlanItem::run(
                    t.display(),
                    format!("test {}'s configuration (passed now)", s.svc.name()),
                ));
            }
        }
        for (c, idx) in &plan.restarts {
            let names: Vec<String> = idx.iter().map(|&i| plan.steps[i].svc.name()).collect();
            let who = if names.is_empty() {
                what.clone()
            } else {
                names.join(", ")
            };
            items.push(PlanItem::run(
                c.display(),
                format!("{} {who}", mode.as_str()),
            ));
        }
        if let Some(p) = &opts.probe {
            items.push(PlanItem::new("probe", probe_detail(p)));
        }
        let mut d = data(&plan, &commands, None);
        d.plan = items;
        return Ok(Outcome::typed(
            true,
            format!("would {} {what} via {}", mode.as_str(), plan.via.as_str()),
            &d,
        ));
    }

    // 2. Restarts (or reloads) — php-fpm first, then the web server; stop at the first failure.
    for (c, idx) in &plan.restarts {
        ctx.log(format!("{}: {}", mode.as_str(), c.display()));
        commands.push(c.display());
        let out = c.run()?;
        for &i in idx {
            plan.steps[i].report.restarted = out.success();
        }
        if !out.success() && plan.via == Via::Docker && no_such_container(&out.combined()) {
            // The daemon refused before touching anything: nothing restarted.
            return Err(Error::unavailable(format!(
                "no container {what} on this Docker host (`{}`: {})",
                c.display(),
                out.tail(3)
            ))
            .with_hint("see `docker ps -a` for the containers there (DOCKER_HOST or DOCKER_CONTEXT chooses the daemon)")
            .with_data(to_value(&data(&plan, &commands, None))));
        }
        if !out.success() {
            for s in plan.steps.iter_mut() {
                s.report.pid_after = s.svc.master_pid();
                warn_strays(ctx, &s.svc);
            }
            let mut d = data(&plan, &commands, None);
            // The command may have stopped the service before failing: say it changed.
            d.changed = Some(true);
            return Err(Error::step(format!(
                "`{}` failed ({}): {}",
                c.display(),
                out.status_text(),
                out.tail(10)
            ))
            .with_hint(match plan.via {
                Via::Docker => "see `docker ps -a` and `docker logs` for the container".to_string(),
                Via::Kubernetes => {
                    "see `kubectl rollout status` and `kubectl describe` for the deployment"
                        .to_string()
                }
                _ => format!(
                    "check the service's status and error log; {} may be down now",
                    what
                ),
            })
            .with_data(to_value(&d)));
        }
        for &i in idx {
            let s = &mut plan.steps[i];
            s.report.pid_after = wait_master(&s.svc, s.report.pid_before, mode);
        }
    }
    for s in plan.steps.iter_mut() {
        let r = &mut s.report;
        r.pid_changed = r.restarted
            && r.pid_before.is_some()
            && r.pid_after.is_some()
            && r.pid_before != r.pid_after;
        let name = s.svc.name();
        match (mode, r.pid_before, r.pid_after) {
            (_, _, None) => {
                ctx.warn(format!(
                    "{name}: no running master process found after the {}",
                    mode.as_str()
                ));
                warn_strays(ctx, &s.svc);
            }
            (Mode::Restart, Some(a), Some(b)) if a == b => ctx.warn(format!(
                "{name}: master PID {a} is unchanged after the restart"
            )),
            (Mode::Reload, Some(a), Some(b)) if a != b && s.svc.reload_keeps_pid() => ctx.warn(
                format!("{name}: the reload replaced the master (PID {a} -> {b})"),
            ),
            _ => {}
        }
    }

    // 3. Health probe.
    let probe = opts.probe.as_ref().map(|p| {
        ctx.log(format!("probe: {}", probe_detail(p)));
        p.run()
    });
    let mut d = data(&plan, &commands, probe.as_ref());
    if let Some(p) = &probe {
        if !p.ok {
            d.changed = Some(true);
            let last = match p.last_status {
                Some(s) => format!("last status {s}"),
                None => "no response".to_string(),
            };
            let tls = p
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("TLS certificate verification failed"));
            let hint = if tls {
                "the site's certificate is not trusted: give its CA with --ca-file FILE, or --insecure"
            } else {
                "check the web server's error log and the application's log; --url/--expect-status choose what counts as healthy"
            };
            return Err(Error::unavailable(format!(
                "{} {what}, but {} never became healthy within {} ms ({} attempts; {last}: {})",
                mode.past(),
                p.url,
                p.elapsed_ms,
                p.attempts,
                p.last_error.as_deref().unwrap_or("")
            ))
            .with_hint(hint)
            .with_data(to_value(&d)));
        }
    }
    let health = match &probe {
        Some(p) => format!("; {} answered {}", p.url, p.last_status.unwrap_or(0)),
        None => String::new(),
    };
    Ok(Outcome::typed(
        true,
        format!("{} {what} via {}{health}", mode.past(), plan.via.as_str()),
        &d,
    ))
}

/// What makes a service's reload less than graceful, read from its configuration dump.
/// php-fpm's reload asks its workers to finish their requests and waits
/// `process_control_timeout` for them; at 0 (its default) it kills them at once, and
/// the requests in flight end in 502.
fn reload_warnings(svc: &Service, dump: &str) -> Vec<String> {
    if !matches!(svc.kind, Kind::PhpFpm(_)) {
        return Vec::new();
    }
    let zero = dump.lines().any(|l| {
        let l = l.trim();
        l.contains("process_control_timeout")
            && l.rsplit('=')
                .next()
                .is_some_and(|v| matches!(v.trim(), "0" | "0s"))
    });
    if zero {
        vec![format!(
            "{}: process_control_timeout is 0, so its reload kills requests in flight (502); set `process_control_timeout = 10s` in the [global] section of php-fpm.conf for a graceful reload",
            svc.name()
        )]
    } else {
        Vec::new()
    }
}

/// The Docker daemon's answer for a container it does not know ("Error response from
/// daemon: No such container: NAME"; older daemons: "Error: No such container: NAME").
fn no_such_container(output: &str) -> bool {
    output.contains("No such container")
}

/// Say so when processes of a service run without their master (orphaned workers):
/// they are not the service, and no PID of theirs is reported as its master.
fn warn_strays(ctx: &Ctx, svc: &Service) {
    if svc.master_pid().is_some() {
        return;
    }
    let strays = svc.strays();
    if !strays.is_empty() {
        ctx.warn(format!(
            "{}: no master runs, but {} process(es) of it do (PIDs {:?}: orphaned workers?); they still hold their sockets",
            svc.name(),
            strays.len(),
            strays
        ));
    }
}

fn probe_detail(p: &Probe) -> String {
    let url = &p.url;
    let body = match &p.expect_body {
        Some(b) => format!(" containing {b:?}"),
        None => String::new(),
    };
    format!(
        "GET {url} until it answers {}{body} (within {} s)",
        p.expect_status,
        p.timeout.as_secs_f64()
    )
}

/// Build the probe of `--url` etc. (a bad URL is a usage error, an unreadable CA file 66/65).
pub fn probe_from(
    url: &str,
    expect_status: u16,
    expect_body: Option<String>,
    timeout: Duration,
    tls: Tls,
) -> Result<Probe> {
    tls.check()?;
    Ok(Probe {
        url: Url::parse(url)?,
        expect_status,
        expect_body,
        timeout,
        interval: Duration::from_millis(250),
        tls,
    })
}
