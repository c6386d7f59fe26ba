//! What a run will do, decided before anything runs: the services, their config tests,
//! and the restart (or reload) commands. Every program is looked up here, so a missing
//! one fails a dry run exactly as it would fail the real run.

use super::host::{find, resolve_services, Host, Via};
use super::service::{Kind, Service};
use super::{Mode, Options};
use crate::error::{Error, Result};
use crate::exec::Cmd;
use crate::report::data::restart::{ConfigTest, ServiceReport, Target};
use crate::report::Ctx;
use std::time::Duration;

/// A command for `name`; a missing program is `unavailable`, in a dry run too.
pub(super) fn cmd(name: &str, why: &str) -> Result<Cmd> {
    match find(name) {
        Some(p) => Ok(Cmd::resolved(p)),
        None => Err(Error::unavailable(format!(
            "`{name}` not found on PATH or in /usr/sbin, /sbin ({why})"
        ))
        .with_hint(format!(
            "install it, or name the services you have with --service / --via; `{name}` is needed {why}"
        ))),
    }
}

/// One service's story: test, restart, PIDs.
pub(super) struct Step {
    pub svc: Service,
    pub test: Option<Cmd>,
    pub report: ServiceReport,
}

/// The run: which commands, for which services.
pub(super) struct Plan {
    pub via: Via,
    pub via_reason: String,
    pub mode: Mode,
    pub steps: Vec<Step>,
    /// (command, indices of the steps it restarts)
    pub restarts: Vec<(Cmd, Vec<usize>)>,
    pub target: Option<Target>,
}

pub(super) fn build_plan(ctx: &Ctx, opts: &Options, host: &Host) -> Result<Plan> {
    let (via, via_reason) = host.resolve_via(opts.via);
    let t = opts.restart_timeout;
    let mut mode = opts.mode;
    // A name that starts with '-' would be read as an option by docker/kubectl.
    for (flag, v) in [
        ("--container", opts.container.as_deref()),
        ("--deployment", opts.deployment.as_deref()),
        ("--namespace", Some(opts.namespace.as_str())),
    ] {
        if v.is_some_and(|v| v.starts_with('-') || v.is_empty()) {
            return Err(
                Error::usage(format!("{flag} {:?} is not a name", v.unwrap_or(""))).with_hint(
                    format!("give {flag} the name itself, e.g. {flag} dreamfactory"),
                ),
            );
        }
    }
    match via {
        Via::Docker | Via::Kubernetes => {
            if !opts.services.is_empty() {
                ctx.warn(format!(
                    "--service is ignored with --via {}: the whole {} is restarted",
                    via.as_str(),
                    if via == Via::Docker {
                        "container"
                    } else {
                        "deployment"
                    }
                ));
            }
            if mode == Mode::Reload {
                if via == Via::Docker {
                    ctx.warn("--reload with --via docker: a container has no graceful reload; restarting it");
                    mode = Mode::Restart;
                } else {
                    ctx.warn("--reload with --via kubernetes: `rollout restart` is already a rolling, graceful restart");
                }
            }
            let (restarts, target) = if via == Via::Docker {
                let c = opts.container.as_deref().ok_or_else(|| {
                    Error::usage("--via docker needs --container NAME")
                        .with_hint("e.g. --via docker --container df-docker-web-1")
                })?;
                let cmd = cmd("docker", "for --via docker")?
                    .args(["restart", c])
                    .timeout(t + Duration::from_secs(30));
                (
                    vec![(cmd, vec![])],
                    Target {
                        container: Some(c.to_string()),
                        ..Target::default()
                    },
                )
            } else {
                let d = opts.deployment.as_deref().ok_or_else(|| {
                    Error::usage("--via kubernetes needs --deployment NAME").with_hint(
                        "e.g. --via kubernetes --deployment dreamfactory --namespace default",
                    )
                })?;
                let ns = opts.namespace.as_str();
                let kubectl = cmd("kubectl", "for --via kubernetes")?;
                let deploy = format!("deployment/{d}");
                let restart = kubectl
                    .clone()
                    .args(["rollout", "restart", &deploy, "-n", ns])
                    .timeout(Duration::from_secs(120));
                let status = kubectl
                    .args(["rollout", "status", &deploy, "-n", ns])
                    .arg(format!("--timeout={}s", t.as_secs().max(1)))
                    .timeout(t + Duration::from_secs(30));
                (
                    vec![(restart, vec![]), (status, vec![])],
                    Target {
                        deployment: Some(d.to_string()),
                        namespace: Some(ns.to_string()),
                        ..Target::default()
                    },
                )
            };
            Ok(Plan {
                via,
                via_reason,
                mode,
                steps: vec![],
                restarts,
                target: Some(target),
            })
        }
        Via::Systemd | Via::Service | Via::Initd => {
            let (services, notes) = resolve_services(&opts.services, host)?;
            for n in notes {
                ctx.log(n);
            }
            let mut steps = Vec::new();
            for svc in services {
                let (prog, mut args) = svc.config_test();
                if mode == Mode::Reload && matches!(svc.kind, Kind::PhpFpm(_)) {
                    // `-tt` also dumps the configuration: the reload reads
                    // process_control_timeout from it (see `reload_warnings`).
                    args = vec!["-tt"];
                }
                let mut test = cmd(&prog, &format!("to test {}'s configuration", svc.name()))?
                    .args(args)
                    .timeout(Duration::from_secs(60));
                if let Some((k, v)) = svc.config_env() {
                    test = test.env(k, v);
                }
                let report = ServiceReport {
                    name: svc.name(),
                    kind: svc.kind_str().into(),
                    config_test: Some(ConfigTest {
                        command: test.display(),
                        ..ConfigTest::default()
                    }),
                    pid_before: svc.master_pid(),
                    ..ServiceReport::default()
                };
                steps.push(Step {
                    svc,
                    test: Some(test),
                    report,
                });
            }
            let limit = t + Duration::from_secs(30);
            let verb = |s: &Service| match mode {
                Mode::Restart => "restart",
                Mode::Reload => s.reload_verb(via == Via::Systemd),
            };
            let restarts = match via {
                Via::Systemd => {
                    let c = cmd("systemctl", "for --via systemd")?
                        .arg(match mode {
                            Mode::Restart => "restart",
                            Mode::Reload => "reload",
                        })
                        .args(steps.iter().map(|s| s.svc.unit()))
                        .timeout(limit);
                    vec![(c, (0..steps.len()).collect())]
                }
                Via::Service => {
                    let service = cmd("service", "for --via service")?;
                    steps
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let c = service.clone().args([s.svc.name().as_str(), verb(&s.svc)]);
                            (c.timeout(limit), vec![i])
                        })
                        .collect()
                }
                _ => {
                    let mut v = Vec::new();
                    for (i, s) in steps.iter().enumerate() {
                        let script = host.initd(&s.svc.name());
                        if !script.is_file() {
                            return Err(Error::unavailable(format!(
                                "no init script {}",
                                script.display()
                            ))
                            .with_hint("try --via service or --via systemd"));
                        }
                        v.push((
                            Cmd::resolved(script).arg(verb(&s.svc)).timeout(limit),
                            vec![i],
                        ));
                    }
                    v
                }
            };
            for (c, idx) in &restarts {
                for &i in idx {
                    steps[i].report.restart_command = Some(c.display());
                }
            }
            Ok(Plan {
                via,
                via_reason,
                mode,
                steps,
                restarts,
                target: None,
            })
        }
        Via::Auto => unreachable!("resolve_via never returns Auto"),
    }
}
