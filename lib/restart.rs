//! Restarting the web server and php-fpm — safely, and proving it worked.
//!
//! The order is fixed: test every configuration first (web server, then php-fpm) and
//! refuse to restart anything if one fails (a restart must never take a working site
//! down); restart php-fpm, then the web server (so the web server comes back to a ready
//! backend); compare each master PID before and after; then probe a URL until it is
//! healthy.
//!
//! A restart always changes the system: `changed` is always true (with `--dry-run`:
//! would be). Running it twice restarts twice — it is not idempotent by nature.

use crate::error::{Error, ErrorKind, Result};
use crate::exec::Cmd;
use crate::http::{Probe, ProbeResult, Url};
use crate::report::{Ctx, Outcome};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How a service is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// systemd if it runs (/run/systemd/system exists), else `service`, else /etc/init.d.
    Auto,
    Systemd,
    Service,
    Initd,
    Docker,
    Kubernetes,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Auto => "auto",
            Via::Systemd => "systemd",
            Via::Service => "service",
            Via::Initd => "initd",
            Via::Docker => "docker",
            Via::Kubernetes => "kubernetes",
        }
    }
}

/// What kind of program a service is; decides its config test and its place in the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    /// Debian/Ubuntu's Apache.
    Apache2,
    /// RHEL's Apache.
    Httpd,
    /// php-fpm; `Some("8.2")` on Debian/Ubuntu (unit php8.2-fpm), `None` on RHEL (php-fpm).
    PhpFpm(Option<String>),
}

/// A service to restart, with everything needed to test, restart and observe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub kind: Kind,
}

impl Service {
    /// The unit / init-script name: nginx, apache2, httpd, php8.2-fpm, php-fpm.
    pub fn name(&self) -> String {
        match &self.kind {
            Kind::Nginx => "nginx".into(),
            Kind::Apache2 => "apache2".into(),
            Kind::Httpd => "httpd".into(),
            Kind::PhpFpm(Some(v)) => format!("php{v}-fpm"),
            Kind::PhpFpm(None) => "php-fpm".into(),
        }
    }

    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            Kind::Nginx => "nginx",
            Kind::Apache2 => "apache2",
            Kind::Httpd => "httpd",
            Kind::PhpFpm(_) => "php-fpm",
        }
    }

    pub fn is_web_server(&self) -> bool {
        !matches!(self.kind, Kind::PhpFpm(_))
    }

    /// The configuration test: program and arguments.
    pub fn config_test(&self) -> (String, Vec<&'static str>) {
        match &self.kind {
            Kind::Nginx => ("nginx".into(), vec!["-t"]),
            Kind::Apache2 => ("apache2ctl".into(), vec!["configtest"]),
            Kind::Httpd => ("httpd".into(), vec!["-t"]),
            Kind::PhpFpm(Some(v)) => (format!("php-fpm{v}"), vec!["-t"]),
            Kind::PhpFpm(None) => ("php-fpm".into(), vec!["-t"]),
        }
    }

    /// Where the master writes its PID (distribution defaults).
    pub fn pid_files(&self) -> Vec<PathBuf> {
        let v: Vec<String> = match &self.kind {
            Kind::Nginx => vec!["/run/nginx.pid".into(), "/var/run/nginx.pid".into()],
            Kind::Apache2 => vec![
                "/run/apache2/apache2.pid".into(),
                "/var/run/apache2/apache2.pid".into(),
            ],
            Kind::Httpd => vec!["/run/httpd/httpd.pid".into()],
            Kind::PhpFpm(Some(v)) => vec![format!("/run/php/php{v}-fpm.pid")],
            Kind::PhpFpm(None) => vec!["/run/php-fpm/php-fpm.pid".into()],
        };
        v.into_iter().map(PathBuf::from).collect()
    }

    /// The process name (`/proc/PID/comm`) of the master and its workers.
    pub fn comm(&self) -> String {
        match &self.kind {
            Kind::PhpFpm(Some(v)) => format!("php-fpm{v}"),
            _ => self.name(),
        }
    }

    /// The running master's PID: from the pid file when it names a live process of
    /// ours, else the process of that name whose parent is not one too.
    pub fn master_pid(&self) -> Option<i32> {
        let comm = self.comm();
        for f in self.pid_files() {
            if let Some(pid) = std::fs::read_to_string(&f)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                if proc_comm(pid).as_deref() == Some(comm.as_str()) {
                    return Some(pid);
                }
            }
        }
        scan_master(&comm)
    }
}

fn proc_comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

fn proc_ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The comm field is in parentheses and may hold spaces: parse after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The lowest PID named `comm` whose parent has another name (the master, not a worker).
fn scan_master(comm: &str) -> Option<i32> {
    let mut found: Vec<i32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| proc_comm(pid).as_deref() == Some(comm))
        .filter(|&pid| {
            proc_ppid(pid)
                .map(|pp| proc_comm(pp).as_deref() != Some(comm))
                .unwrap_or(true)
        })
        .collect();
    found.sort_unstable();
    found.first().copied()
}

/// Where detection looks: `/` normally, a fake tree in unit tests.
#[derive(Debug, Clone)]
pub struct Host {
    pub root: PathBuf,
}

impl Default for Host {
    fn default() -> Host {
        Host { root: "/".into() }
    }
}

const BIN_DIRS: [&str; 6] = [
    "usr/sbin",
    "sbin",
    "usr/bin",
    "bin",
    "usr/local/sbin",
    "usr/local/bin",
];
const UNIT_DIRS: [&str; 4] = [
    "etc/systemd/system",
    "lib/systemd/system",
    "usr/lib/systemd/system",
    "run/systemd/system",
];

impl Host {
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// systemd is the init system (the check sd_booted() makes).
    pub fn systemd_running(&self) -> bool {
        self.p("run/systemd/system").is_dir()
    }

    /// The init script of a service.
    pub fn initd(&self, name: &str) -> PathBuf {
        self.p("etc/init.d").join(name)
    }

    /// A program, unit file or init script of this name is installed.
    fn installed(&self, binary: &str, unit: &str) -> bool {
        BIN_DIRS.iter().any(|d| self.p(d).join(binary).is_file())
            || self.initd(unit).is_file()
            || UNIT_DIRS
                .iter()
                .any(|d| self.p(d).join(format!("{unit}.service")).is_file())
    }

    /// Installed web servers, in preference order.
    pub fn web_servers(&self) -> Vec<Service> {
        [
            (Kind::Nginx, "nginx"),
            (Kind::Apache2, "apache2"),
            (Kind::Httpd, "httpd"),
        ]
        .into_iter()
        .filter(|(_, n)| self.installed(n, n))
        .map(|(kind, _)| Service { kind })
        .collect()
    }

    /// Installed php-fpm services, newest version first (an unversioned php-fpm last).
    pub fn php_fpms(&self) -> Vec<Service> {
        let unit_re = regex::Regex::new(r"^php(\d+\.\d+)-fpm(\.service)?$").expect("regex");
        let bin_re = regex::Regex::new(r"^php-fpm(\d+\.\d+)$").expect("regex");
        let mut versions: Vec<String> = Vec::new();
        let mut dirs: Vec<PathBuf> = vec![self.p("etc/init.d")];
        dirs.extend(UNIT_DIRS.iter().map(|d| self.p(d)));
        dirs.extend(BIN_DIRS.iter().map(|d| self.p(d)));
        for d in dirs {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let v = unit_re
                    .captures(&name)
                    .or_else(|| bin_re.captures(&name))
                    .map(|c| c[1].to_string());
                if let Some(v) = v {
                    if !versions.contains(&v) {
                        versions.push(v);
                    }
                }
            }
        }
        let key =
            |v: &String| -> Vec<u32> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
        versions.sort_by_key(|v| std::cmp::Reverse(key(v)));
        let mut out: Vec<Service> = versions
            .into_iter()
            .map(|v| Service {
                kind: Kind::PhpFpm(Some(v)),
            })
            .collect();
        if self.installed("php-fpm", "php-fpm") {
            out.push(Service {
                kind: Kind::PhpFpm(None),
            });
        }
        out
    }

    /// How `--via auto` resolves here, and why.
    pub fn resolve_via(&self, via: Via) -> (Via, String) {
        match via {
            Via::Auto if self.systemd_running() => (
                Via::Systemd,
                "systemd is running (/run/systemd/system exists)".into(),
            ),
            Via::Auto if find("service").is_some() => (
                Via::Service,
                "no systemd (/run/systemd/system is absent); `service` is installed".into(),
            ),
            Via::Auto => (
                Via::Initd,
                "no systemd (/run/systemd/system is absent) and no `service` program".into(),
            ),
            v => (v, "chosen with --via".into()),
        }
    }
}

/// Parse one `--service` word. `auto` is expanded by [`resolve_services`], not here.
pub fn parse_service(word: &str) -> Result<Option<Service>> {
    let re = regex::Regex::new(r"^php(\d+\.\d+)-fpm$").expect("regex");
    let kind = match word {
        "auto" => return Ok(None),
        "nginx" => Kind::Nginx,
        "apache2" | "apache" => Kind::Apache2,
        "httpd" => Kind::Httpd,
        // Version left open: detection picks the installed one.
        "php-fpm" => Kind::PhpFpm(Some(String::new())),
        w => match re.captures(w) {
            Some(c) => Kind::PhpFpm(Some(c[1].to_string())),
            None => {
                return Err(Error::usage(format!("unknown service {w:?}")).with_hint(
                    "use auto, nginx, apache2, httpd, php-fpm or phpX.Y-fpm (e.g. php8.2-fpm)",
                ))
            }
        },
    };
    Ok(Some(Service { kind }))
}

/// Expand `--service` words into the services to restart, in restart order
/// (php-fpm first, then the web server).
pub fn resolve_services(words: &[String], host: &Host) -> Result<(Vec<Service>, Vec<String>)> {
    let mut notes = Vec::new();
    let words: Vec<String> = if words.is_empty() {
        vec!["auto".into()]
    } else {
        words.to_vec()
    };
    let mut out: Vec<Service> = Vec::new();
    let push = |out: &mut Vec<Service>, s: Service| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for w in &words {
        match parse_service(w)? {
            None => {
                let web = pick(host.web_servers(), "web server", "nginx, apache2 or httpd")?;
                notes.push(format!("auto: web server {}", web.name()));
                push(&mut out, web);
                match pick(host.php_fpms(), "php-fpm", "phpX.Y-fpm") {
                    Ok(fpm) => {
                        notes.push(format!("auto: php-fpm {}", fpm.name()));
                        push(&mut out, fpm);
                    }
                    // Apache with mod_php has no php-fpm: nothing to restart there.
                    Err(e) if e.kind == ErrorKind::Unavailable => {
                        notes.push("auto: no php-fpm installed".into())
                    }
                    Err(e) => return Err(e),
                }
            }
            Some(Service {
                kind: Kind::PhpFpm(Some(v)),
            }) if v.is_empty() => {
                let fpm = pick(host.php_fpms(), "php-fpm", "phpX.Y-fpm")?;
                push(&mut out, fpm);
            }
            Some(s) => push(&mut out, s),
        }
    }
    // php-fpm before the web server; otherwise as given.
    out.sort_by_key(|s| s.is_web_server());
    Ok((out, notes))
}

/// One of the installed candidates: the only one, else the only running one.
fn pick(cands: Vec<Service>, what: &str, names: &str) -> Result<Service> {
    match cands.len() {
        0 => Err(
            Error::unavailable(format!("no {what} is installed (looked for {names})")).with_hint(
                "name the service with --service, or restart through --via docker/kubernetes",
            ),
        ),
        1 => Ok(cands.into_iter().next().expect("one")),
        _ => {
            let running: Vec<&Service> =
                cands.iter().filter(|s| s.master_pid().is_some()).collect();
            if running.len() == 1 {
                return Ok(running[0].clone());
            }
            let list: Vec<String> = cands.iter().map(Service::name).collect();
            Err(Error::usage(format!(
                "several {what}s are installed ({}) and {} of them running; which one?",
                list.join(", "),
                if running.is_empty() {
                    "none"
                } else {
                    "more than one"
                }
            ))
            .with_hint(format!("choose with --service {}", list[0])))
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
    /// None: `--no-probe`.
    pub probe: Option<Probe>,
    /// Limit for each restart command (and kubectl's rollout status).
    pub restart_timeout: Duration,
}

/// A program on PATH, or in the sbin directories PATH often lacks under cron and sudo.
fn find(name: &str) -> Option<PathBuf> {
    if let Some(p) = crate::exec::probe_program(name) {
        return Some(p);
    }
    ["/usr/sbin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// A command for `name`; missing → `unavailable`, except in a dry run, which only plans.
fn cmd(ctx: &Ctx, name: &str, why: &str) -> Result<Cmd> {
    match find(name) {
        Some(p) => Ok(Cmd::resolved(p)),
        None if ctx.dry_run() => {
            ctx.warn(format!(
                "`{name}` is not installed here; the plan shows it by name"
            ));
            Ok(Cmd::resolved(name))
        }
        None => Err(Error::unavailable(format!(
            "`{name}` not found on PATH or in /usr/sbin, /sbin ({why})"
        ))),
    }
}

/// One service's story: test, restart, PIDs.
struct Step {
    svc: Service,
    test: Option<Cmd>,
    test_result: Option<Value>,
    pid_before: Option<i32>,
    pid_after: Option<i32>,
    restarted: bool,
    restart_command: Option<String>,
}

impl Step {
    fn json(&self) -> Value {
        json!({
            "name": self.svc.name(),
            "kind": self.svc.kind_str(),
            "config_test": self.test_result.clone().or_else(|| self.test.as_ref().map(|c| json!({"command": c.display()}))),
            "restart_command": self.restart_command,
            "restarted": self.restarted,
            "pid_before": self.pid_before,
            "pid_after": self.pid_after,
            "pid_changed": self.restarted && self.pid_before.is_some() && self.pid_after.is_some() && self.pid_before != self.pid_after,
        })
    }
}

/// The restart itself: which commands, for which services.
struct Plan {
    via: Via,
    via_reason: String,
    steps: Vec<Step>,
    /// (command, indices of the steps it restarts)
    restarts: Vec<(Cmd, Vec<usize>)>,
    target: Value,
}

fn build_plan(ctx: &Ctx, opts: &Options, host: &Host) -> Result<Plan> {
    let (via, via_reason) = host.resolve_via(opts.via);
    let t = opts.restart_timeout;
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
            let (restarts, target) = if via == Via::Docker {
                let c = opts.container.as_deref().ok_or_else(|| {
                    Error::usage("--via docker needs --container NAME")
                        .with_hint("e.g. --via docker --container df-docker-web-1")
                })?;
                let cmd = cmd(ctx, "docker", "--via docker")?
                    .args(["restart", c])
                    .timeout(t + Duration::from_secs(30));
                (vec![(cmd, vec![])], json!({"container": c}))
            } else {
                let d = opts.deployment.as_deref().ok_or_else(|| {
                    Error::usage("--via kubernetes needs --deployment NAME").with_hint(
                        "e.g. --via kubernetes --deployment dreamfactory --namespace default",
                    )
                })?;
                let ns = opts.namespace.as_str();
                let kubectl = cmd(ctx, "kubectl", "--via kubernetes")?;
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
                    json!({"deployment": d, "namespace": ns}),
                )
            };
            Ok(Plan {
                via,
                via_reason,
                steps: vec![],
                restarts,
                target,
            })
        }
        Via::Systemd | Via::Service | Via::Initd => {
            let (services, notes) = resolve_services(&opts.services, host)?;
            for n in notes {
                ctx.log(n);
            }
            let mut steps = Vec::new();
            for svc in services {
                let (prog, args) = svc.config_test();
                let test = cmd(
                    ctx,
                    &prog,
                    &format!("to test {}'s configuration", svc.name()),
                )?
                .args(args)
                .timeout(Duration::from_secs(60));
                steps.push(Step {
                    pid_before: svc.master_pid(),
                    svc,
                    test: Some(test),
                    test_result: None,
                    pid_after: None,
                    restarted: false,
                    restart_command: None,
                });
            }
            let limit = t + Duration::from_secs(30);
            let restarts = match via {
                Via::Systemd => {
                    let c = cmd(ctx, "systemctl", "--via systemd")?
                        .arg("restart")
                        .args(steps.iter().map(|s| s.svc.name()))
                        .timeout(limit);
                    vec![(c, (0..steps.len()).collect())]
                }
                Via::Service => {
                    let service = cmd(ctx, "service", "--via service")?;
                    steps
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let c = service.clone().args([s.svc.name().as_str(), "restart"]);
                            (c.timeout(limit), vec![i])
                        })
                        .collect()
                }
                _ => {
                    let mut v = Vec::new();
                    for (i, s) in steps.iter().enumerate() {
                        let script = host.initd(&s.svc.name());
                        if !script.is_file() && !ctx.dry_run() {
                            return Err(Error::unavailable(format!(
                                "no init script {}",
                                script.display()
                            ))
                            .with_hint("try --via service or --via systemd"));
                        }
                        v.push((Cmd::resolved(script).arg("restart").timeout(limit), vec![i]));
                    }
                    v
                }
            };
            for (c, idx) in &restarts {
                for &i in idx {
                    steps[i].restart_command = Some(c.display());
                }
            }
            Ok(Plan {
                via,
                via_reason,
                steps,
                restarts,
                target: Value::Null,
            })
        }
        Via::Auto => unreachable!("resolve_via never returns Auto"),
    }
}

fn report(plan: &Plan, commands: &[String], probe: Option<&ProbeResult>) -> Value {
    json!({
        "via": plan.via.as_str(),
        "via_reason": plan.via_reason,
        "services": plan.steps.iter().map(Step::json).collect::<Vec<_>>(),
        "target": plan.target,
        "commands": commands,
        "probe": probe,
    })
}

/// Wait briefly for a service's master to be up (and, when it ran before, to be new):
/// an init script may return a moment before the new master writes its pid file.
fn wait_master(svc: &Service, before: Option<i32>) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let now = svc.master_pid();
        if (now.is_some() && now != before) || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// df-restart: test, restart, observe, probe.
pub fn run(ctx: &Ctx, opts: &Options) -> Result<Outcome> {
    run_on(ctx, opts, &Host::default())
}

/// [`run`] with detection rooted elsewhere (tests).
pub fn run_on(ctx: &Ctx, opts: &Options, host: &Host) -> Result<Outcome> {
    let mut plan = build_plan(ctx, opts, host)?;
    let names: Vec<String> = if plan.steps.is_empty() {
        vec![plan
            .target
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()]
    } else {
        plan.steps.iter().map(|s| s.svc.name()).collect()
    };
    let what = names.join(", ");

    if ctx.dry_run() {
        let mut lines: Vec<String> = Vec::new();
        // Config tests in check order: web server first.
        for s in plan.steps.iter().rev() {
            if let Some(t) = &s.test {
                lines.push(t.display());
            }
        }
        lines.extend(plan.restarts.iter().map(|(c, _)| c.display()));
        if let Some(p) = &opts.probe {
            lines.push(probe_line(p));
        }
        let mut data = report(&plan, &[], None);
        data["plan"] = json!(lines);
        return Ok(Outcome::new(
            true,
            format!("would restart {what} via {}", plan.via.as_str()),
            data,
        ));
    }

    let mut commands: Vec<String> = Vec::new();
    // 1. Config tests — web server first (the guide's usual culprit), then php-fpm.
    for i in (0..plan.steps.len()).rev() {
        let Some(test) = plan.steps[i].test.clone() else {
            continue;
        };
        ctx.log(format!("testing configuration: {}", test.display()));
        commands.push(test.display());
        let out = test.run()?;
        let tail = out.tail(10);
        plan.steps[i].test_result = Some(json!({
            "command": test.display(),
            "ok": out.success(),
            "exit_code": out.code,
            "output_tail": tail,
        }));
        if !out.success() {
            let name = plan.steps[i].svc.name();
            return Err(Error::config(format!(
                "{name}: configuration test failed (`{}`, {}); nothing was restarted: {tail}",
                test.display(),
                out.status_text()
            ))
            .with_hint(format!(
                "fix {name}'s configuration until `{}` passes, then run df-restart again; the running {name} still serves the old configuration",
                test.display()
            ))
            .with_data(report(&plan, &commands, None)));
        }
    }

    // 2. Restarts — php-fpm first, then the web server; stop at the first failure.
    for (c, idx) in &plan.restarts {
        ctx.log(format!("restarting: {}", c.display()));
        commands.push(c.display());
        let out = c.run()?;
        for &i in idx {
            plan.steps[i].restarted = out.success();
        }
        if !out.success() {
            for s in plan.steps.iter_mut() {
                s.pid_after = s.svc.master_pid();
            }
            let mut data = report(&plan, &commands, None);
            // The command may have stopped the service before failing: say it changed.
            data["changed"] = json!(true);
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
            .with_data(data));
        }
        for &i in idx {
            let s = &mut plan.steps[i];
            s.pid_after = wait_master(&s.svc, s.pid_before);
        }
    }
    for s in &plan.steps {
        match (s.pid_before, s.pid_after) {
            (_, None) => ctx.warn(format!(
                "{}: no running master process found after the restart",
                s.svc.name()
            )),
            (Some(a), Some(b)) if a == b => ctx.warn(format!(
                "{}: master PID {a} is unchanged after the restart",
                s.svc.name()
            )),
            _ => {}
        }
    }

    // 3. Health probe.
    let probe = opts.probe.as_ref().map(|p| {
        ctx.log(probe_line(p));
        p.run()
    });
    let data = report(&plan, &commands, probe.as_ref());
    if let Some(p) = &probe {
        if !p.ok {
            let mut data = data;
            data["changed"] = json!(true);
            let last = match p.last_status {
                Some(s) => format!("last status {s}"),
                None => "no response".to_string(),
            };
            return Err(Error::unavailable(format!(
                "restarted {what}, but {} never became healthy within {} ms ({} attempts; {last}: {})",
                p.url,
                p.elapsed_ms,
                p.attempts,
                p.last_error.as_deref().unwrap_or("")
            ))
            .with_hint("check the web server's error log and the application's log; --url/--expect-status choose what counts as healthy")
            .with_data(data));
        }
    }
    let health = match &probe {
        Some(p) => format!("; {} answered {}", p.url, p.last_status.unwrap_or(0)),
        None => String::new(),
    };
    Ok(Outcome::new(
        true,
        format!("restarted {what} via {}{health}", plan.via.as_str()),
        data,
    ))
}

fn probe_line(p: &Probe) -> String {
    let url = &p.url;
    let body = match &p.expect_body {
        Some(b) => format!(" containing {b:?}"),
        None => String::new(),
    };
    format!(
        "probe: GET {url} until it answers {}{body} (within {} s)",
        p.expect_status,
        p.timeout.as_secs_f64()
    )
}

/// Build the probe of `--url` etc. (a bad URL is a usage error).
pub fn probe_from(
    url: &str,
    expect_status: u16,
    expect_body: Option<String>,
    timeout: Duration,
) -> Result<Probe> {
    Ok(Probe {
        url: Url::parse(url)?,
        expect_status,
        expect_body,
        timeout,
        interval: Duration::from_millis(250),
    })
}

/// Parse a duration: `30`, `30s`, `500ms`, `2m`.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, mult_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1u64)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else {
        (s, 1000)
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 30, 30s, 500ms, 2m)"))?;
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_millis((n * mult_ms as f64).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    #[test]
    fn parses_service_words() {
        assert_eq!(parse_service("auto").unwrap(), None);
        assert_eq!(parse_service("nginx").unwrap().unwrap().name(), "nginx");
        let s = parse_service("php8.3-fpm").unwrap().unwrap();
        assert_eq!(s.name(), "php8.3-fpm");
        assert_eq!(s.config_test(), ("php-fpm8.3".to_string(), vec!["-t"]));
        assert_eq!(s.comm(), "php-fpm8.3");
        assert_eq!(
            s.pid_files(),
            vec![PathBuf::from("/run/php/php8.3-fpm.pid")]
        );
        let e = parse_service("lighttpd").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
        assert_eq!(
            parse_service("apache2").unwrap().unwrap().config_test(),
            ("apache2ctl".to_string(), vec!["configtest"])
        );
    }

    #[test]
    fn detects_debian_nginx_and_newest_php_fpm() {
        let t = tempfile::tempdir().unwrap();
        touch(t.path(), "usr/sbin/nginx");
        touch(t.path(), "etc/init.d/php8.1-fpm");
        touch(t.path(), "lib/systemd/system/php8.2-fpm.service");
        touch(t.path(), "usr/sbin/php-fpm8.2");
        touch(t.path(), "etc/init.d/php7.4-fpm");
        let host = Host {
            root: t.path().into(),
        };
        let names: Vec<String> = host.php_fpms().iter().map(Service::name).collect();
        assert_eq!(names, ["php8.2-fpm", "php8.1-fpm", "php7.4-fpm"]);
        assert_eq!(host.web_servers(), vec![Service { kind: Kind::Nginx }]);
        // (With several, auto picks the one running; 7.4 and 8.1 never run here.)
        std::fs::remove_file(t.path().join("etc/init.d/php8.1-fpm")).unwrap();
        std::fs::remove_file(t.path().join("etc/init.d/php7.4-fpm")).unwrap();
        let (svcs, _) = resolve_services(&[], &host).unwrap();
        let names: Vec<String> = svcs.iter().map(Service::name).collect();
        // Restart order: php-fpm first, then the web server.
        assert_eq!(names, ["php8.2-fpm", "nginx"]);
    }

    #[test]
    fn detects_rhel_httpd_and_php_fpm() {
        let t = tempfile::tempdir().unwrap();
        touch(t.path(), "usr/sbin/httpd");
        touch(t.path(), "usr/lib/systemd/system/php-fpm.service");
        let host = Host {
            root: t.path().into(),
        };
        let (svcs, _) = resolve_services(&["auto".into()], &host).unwrap();
        assert_eq!(
            svcs,
            vec![
                Service {
                    kind: Kind::PhpFpm(None)
                },
                Service { kind: Kind::Httpd }
            ]
        );
        assert_eq!(svcs[1].config_test(), ("httpd".to_string(), vec!["-t"]));
    }

    #[test]
    fn no_web_server_is_unavailable_and_mod_php_needs_no_fpm() {
        let t = tempfile::tempdir().unwrap();
        let host = Host {
            root: t.path().into(),
        };
        let e = resolve_services(&[], &host).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        touch(t.path(), "etc/init.d/apache2");
        let (svcs, notes) = resolve_services(&[], &host).unwrap();
        assert_eq!(
            svcs,
            vec![Service {
                kind: Kind::Apache2
            }]
        );
        assert!(notes.iter().any(|n| n.contains("no php-fpm")));
    }

    #[test]
    fn explicit_services_are_deduplicated_and_ordered() {
        let t = tempfile::tempdir().unwrap();
        let host = Host {
            root: t.path().into(),
        };
        let words: Vec<String> = ["nginx", "php8.2-fpm", "nginx"].map(String::from).to_vec();
        let (svcs, _) = resolve_services(&words, &host).unwrap();
        let names: Vec<String> = svcs.iter().map(Service::name).collect();
        assert_eq!(names, ["php8.2-fpm", "nginx"]);
    }

    #[test]
    fn via_auto_prefers_systemd_only_when_it_runs() {
        let t = tempfile::tempdir().unwrap();
        let host = Host {
            root: t.path().into(),
        };
        let (v, _) = host.resolve_via(Via::Auto);
        assert_ne!(v, Via::Systemd);
        std::fs::create_dir_all(t.path().join("run/systemd/system")).unwrap();
        assert_eq!(host.resolve_via(Via::Auto).0, Via::Systemd);
        assert_eq!(host.resolve_via(Via::Initd).0, Via::Initd);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
