//! df-restart against the machine's real nginx and php-fpm (started through their init
//! scripts, no systemd here) serving a sandbox install (tests/support/sandbox.rs), and
//! against recording stand-ins for systemctl, docker and kubectl.
//!
//! The real-server tests change the machine's nginx: they add a site under
//! /etc/nginx/conf.d (removed again by a Drop guard, even on failure), so they run one at a
//! time (a static Mutex, plus an flock on /run/lock/dfkit-nginx-test.lock for other test
//! binaries that do the same) and leave nginx/php-fpm as they found them (stopped if they
//! were stopped, reloaded without our files if they were running).

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::bins::{bin, run_command, Run};
use support::sandbox::{SEEDED_SERVICES, V1_VERSION};
use support::web::*;

fn df_restart(args: &[&str], path: &str) -> Run {
    let mut c = Command::new(bin("df-restart"));
    c.args(args).env("PATH", path);
    run_command(c)
}

/// `data.plan` of a dry run as lines: each item's command, else its detail.
fn plan_lines(r: &Run) -> Value {
    Value::Array(
        r.data()["plan"]
            .as_array()
            .unwrap_or_else(|| panic!("no plan in {}", r.stdout))
            .iter()
            .map(|i| i.get("command").unwrap_or(&i["detail"]).clone())
            .collect(),
    )
}

fn service<'a>(r: &'a Run, name: &str) -> &'a Value {
    r.data()["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no service {name} in {}", r.stdout))
}

/// Stand-in programs that record each invocation (argv on one line) into a log, and
/// their environment into `<name>.env`.
struct StandIns {
    dir: tempfile::TempDir,
}

impl StandIns {
    fn new() -> StandIns {
        StandIns {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn add(&self, name: &str, exit: i32, stderr: &str) -> &Self {
        let log = self.dir.path().join("log");
        let envf = self.dir.path().join(format!("{name}.env"));
        let script = format!(
            "#!/bin/sh\n\
             line={name}\n\
             for a in \"$@\"; do line=\"$line $a\"; done\n\
             printf '%s\\n' \"$line\" >> '{log}'\n\
             env > '{envf}'\n\
             printf '%s' '{stderr}' >&2\n\
             exit {exit}\n",
            log = log.display(),
            envf = envf.display(),
        );
        let p = self.dir.path().join(name);
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// PATH with the stand-ins first.
    fn path(&self) -> String {
        format!("{}:{SYS_PATH}", self.dir.path().display())
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn env_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.env"))).unwrap_or_default()
    }

    fn bin(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn assert_pid_alive(pid: i64, comm: &str) {
    let c = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_else(|_| panic!("pid {pid} is not running"));
    assert_eq!(c.trim_end(), comm);
}

// ---------------------------------------------------------------------------------------
// the real nginx + php-fpm

#[test]
fn restarts_real_nginx_and_php_fpm_and_probes_the_php_site() {
    let bed = WebBed::up();
    let (n0, f0) = (nginx_pid().unwrap(), fpm_pid().unwrap());

    let r = df_restart(
        &[
            "--url",
            &bed.url(),
            "--expect-body",
            V1_VERSION,
            "--timeout",
            "30s",
        ],
        SYS_PATH,
    );
    r.assert_ok();
    assert!(r.changed(), "a restart always changes");
    let d = r.data();
    // No /run/systemd/system here and `service` is installed: auto picks `service`.
    assert!(!Path::new("/run/systemd/system").exists());
    assert_eq!(d["via"], "service");
    // auto found the installed web server and php-fpm; php-fpm is restarted first.
    let names: Vec<&str> = d["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [v82("php8.2-fpm"), "nginx"]);
    assert_eq!(
        d["commands"],
        serde_json::json!([
            "/usr/sbin/nginx -t",
            v82("/usr/sbin/php-fpm8.2 -t"),
            v82("/usr/sbin/service php8.2-fpm restart"),
            "/usr/sbin/service nginx restart"
        ])
    );

    // New masters, and the report says which.
    let (n1, f1) = (nginx_pid().unwrap(), fpm_pid().unwrap());
    assert_ne!(n1, n0, "nginx master PID must change");
    assert_ne!(f1, f0, "php-fpm master PID must change");
    assert!(
        !Path::new(&format!("/proc/{n0}")).exists(),
        "old nginx master gone"
    );
    let ng = service(&r, "nginx");
    assert_eq!(ng["pid_before"], n0);
    assert_eq!(ng["pid_after"], n1);
    assert_eq!(ng["pid_changed"], true);
    assert_eq!(ng["config_test"]["ok"], true);
    let fp = service(&r, fpm());
    assert_eq!(fp["pid_before"], f0);
    assert_eq!(fp["pid_after"], f1);
    assert_eq!(fp["pid_changed"], true);
    assert_pid_alive(n1.into(), "nginx");
    assert_pid_alive(f1.into(), v82("php-fpm8.2"));

    // The probe saw the install's /status, rendered by Laravel through the new processes.
    let p = &d["probe"];
    assert_eq!(p["ok"], true);
    assert_eq!(p["last_status"], 200);
    assert_eq!(p["url"], bed.url());
    assert_eq!(bed.sandbox.version(), V1_VERSION);
    let snippet = p["body_snippet"].as_str().unwrap();
    assert!(
        snippet.contains(&format!("\"version\":\"{V1_VERSION}\"")),
        "{snippet}"
    );
    // And so does an independent client: JSON from PHP (not the PHP source as a file).
    let (status, body) = bed.get().expect("site answers");
    assert_eq!(status, 200);
    let status_json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(status_json["platform"]["version"], V1_VERSION);
    assert_eq!(status_json["platform"]["db_driver"], "sqlite");
    // PHP as www-data reads the sandbox's SQLite database through the new php-fpm.
    let (status, body) = raw_get(bed.port, "/api/v2/system/service").expect("api answers");
    assert_eq!(status, 200, "{body}");
    let services: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(
        services["resource"].as_array().map(Vec::len),
        Some(SEEDED_SERVICES),
        "{body}"
    );
}

#[test]
fn broken_nginx_config_is_refused_and_the_old_master_keeps_serving() {
    let mut bed = WebBed::up();
    let (n0, f0) = (nginx_pid().unwrap(), fpm_pid().unwrap());
    bed.add_conf("broken", "dfkit_no_such_directive on;\n");

    let r = df_restart(&["--url", &bed.url(), "--timeout", "5s"], SYS_PATH);
    r.assert_code(78);
    assert_eq!(r.error_kind(), "config");
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("nginx: configuration test failed"), "{msg}");
    assert!(msg.contains("dfkit_no_such_directive"), "{msg}");
    assert!(!r.changed());
    let ng = service(&r, "nginx");
    assert_eq!(ng["config_test"]["ok"], false);
    assert!(ng["config_test"]["output_tail"]
        .as_str()
        .unwrap()
        .contains("unknown directive"));
    assert_eq!(ng["restarted"], false);
    // Nothing else ran: the config test came first and stopped everything.
    assert_eq!(
        r.data()["commands"],
        serde_json::json!(["/usr/sbin/nginx -t"])
    );

    // The old masters still run and the site still answers.
    assert_eq!(nginx_pid(), Some(n0));
    assert_eq!(fpm_pid(), Some(f0));
    let (status, body) = bed.get().expect("site still answers");
    assert_eq!(status, 200);
    assert!(body.contains(V1_VERSION), "{body}");
}

#[test]
fn initd_path_restarts_nginx_through_its_init_script() {
    let bed = WebBed::up();
    let (n0, f0) = (nginx_pid().unwrap(), fpm_pid().unwrap());
    let r = df_restart(
        &["--via", "initd", "--service", "nginx", "--url", &bed.url()],
        SYS_PATH,
    );
    r.assert_ok();
    assert_eq!(r.data()["via"], "initd");
    assert_eq!(
        r.data()["commands"],
        serde_json::json!(["/usr/sbin/nginx -t", "/etc/init.d/nginx restart"])
    );
    let n1 = nginx_pid().unwrap();
    assert_ne!(n1, n0);
    assert_eq!(service(&r, "nginx")["pid_after"], n1);
    // php-fpm was not asked for: untouched.
    assert_eq!(fpm_pid(), Some(f0));
    let (status, body) = bed.get().expect("site answers");
    assert_eq!(status, 200);
    assert!(body.contains(V1_VERSION), "{body}");
}

#[test]
fn dry_run_plans_exact_commands_and_changes_nothing() {
    let bed = WebBed::up();
    let (n0, f0) = (nginx_pid().unwrap(), fpm_pid().unwrap());
    let r = df_restart(&["--dry-run", "--url", &bed.url()], SYS_PATH);
    r.assert_ok();
    assert!(r.changed(), "with --dry-run: would change");
    assert_eq!(r.json["dry_run"], true);
    let url = bed.url();
    assert_eq!(
        plan_lines(&r),
        serde_json::json!([
            "/usr/sbin/nginx -t",
            v82("/usr/sbin/php-fpm8.2 -t"),
            v82("/usr/sbin/service php8.2-fpm restart"),
            "/usr/sbin/service nginx restart",
            format!("GET {url} until it answers 200 (within 30 s)"),
        ])
    );
    assert_eq!(service(&r, "nginx")["pid_before"], n0);
    assert_eq!(nginx_pid(), Some(n0));
    assert_eq!(fpm_pid(), Some(f0));
}

// ---------------------------------------------------------------------------------------
// stand-ins: systemd, docker, kubernetes

#[test]
fn systemd_path_tests_configs_then_restarts_fpm_then_nginx_in_one_systemctl() {
    let s = StandIns::new();
    s.add("systemctl", 0, "")
        .add("nginx", 0, "")
        .add(v82("php-fpm8.2"), 0, "");
    let r = df_restart(
        &[
            "--via",
            "systemd",
            "--service",
            "nginx",
            "--service",
            v82("php8.2-fpm"),
            "--no-probe",
        ],
        &s.path(),
    );
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(
        s.log(),
        [
            "nginx -t",
            v82("php-fpm8.2 -t"),
            v82("systemctl restart php8.2-fpm nginx")
        ]
    );
    assert_eq!(r.data()["via"], "systemd");
    assert_eq!(r.data()["probe"], Value::Null);
    assert_eq!(
        service(&r, "nginx")["restart_command"],
        format!("{} restart {} nginx", s.bin("systemctl"), fpm())
    );
    // The stand-in ran with the PATH we gave (which is how it was found).
    assert!(s
        .env_of("systemctl")
        .contains(&format!("PATH={}", s.path())));
}

#[test]
fn systemd_path_refuses_when_a_config_test_fails() {
    let s = StandIns::new();
    s.add("systemctl", 0, "")
        .add(
            "nginx",
            1,
            "nginx: [emerg] unknown directive \"bogus\" in /etc/nginx/conf.d/x.conf:1",
        )
        .add(v82("php-fpm8.2"), 0, "");
    let r = df_restart(
        // The web server named: with nginx and apache2 both installed (as CI installs
        // them) and neither running, `auto` would rightly refuse to guess (64).
        &[
            "--via",
            "systemd",
            "--no-probe",
            "--service",
            "nginx",
            "--service",
            "php-fpm",
        ],
        &s.path(),
    );
    r.assert_code(78);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown directive"));
    assert_eq!(s.log(), ["nginx -t"], "nothing after the failing test");

    // php-fpm's own test failing refuses too, after nginx's passed.
    let s = StandIns::new();
    s.add("systemctl", 0, "").add("nginx", 0, "").add(
        v82("php-fpm8.2"),
        78,
        "ERROR: failed to open configuration file",
    );
    let r = df_restart(
        &[
            "--via",
            "systemd",
            "--no-probe",
            "--service",
            v82("php8.2-fpm"),
            "--service",
            "nginx",
        ],
        &s.path(),
    );
    r.assert_code(78);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with(v82("php8.2-fpm: configuration test failed")));
    assert_eq!(s.log(), ["nginx -t", v82("php-fpm8.2 -t")]);
}

#[test]
fn a_failing_restart_command_exits_1_and_says_it_changed() {
    let s = StandIns::new();
    s.add(
        "systemctl",
        1,
        "Job for nginx.service failed because the control process exited with error code.",
    )
    .add("nginx", 0, "");
    let r = df_restart(
        &["--via", "systemd", "--service", "nginx", "--no-probe"],
        &s.path(),
    );
    r.assert_code(1);
    assert_eq!(r.error_kind(), "step_failed");
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Job for nginx.service failed"));
    assert!(
        r.changed(),
        "a half-done restart may have stopped the service"
    );
    assert_eq!(s.log(), ["nginx -t", "systemctl restart nginx"]);
}

#[test]
fn docker_path_restarts_the_container_and_tests_nothing_locally() {
    let s = StandIns::new();
    s.add("docker", 0, "")
        .add("nginx", 0, "")
        .add("systemctl", 0, "");
    let r = df_restart(
        &[
            "--via",
            "docker",
            "--container",
            "df-docker-web-1",
            "--no-probe",
        ],
        &s.path(),
    );
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(s.log(), ["docker restart df-docker-web-1"]);
    assert_eq!(r.data()["target"]["container"], "df-docker-web-1");
    assert_eq!(r.data()["services"], serde_json::json!([]));

    // Without --container: a usage error, and nothing runs.
    let s = StandIns::new();
    s.add("docker", 0, "");
    let r = df_restart(&["--via", "docker", "--no-probe"], &s.path());
    r.assert_code(64);
    assert!(s.log().is_empty());
}

#[test]
fn kubernetes_path_restarts_the_deployment_and_waits_for_the_rollout() {
    let s = StandIns::new();
    s.add("kubectl", 0, "").add("nginx", 0, "");
    let args = [
        "--via",
        "kubernetes",
        "--deployment",
        "dreamfactory",
        "--namespace",
        "df",
        "--restart-timeout",
        "90s",
        "--no-probe",
    ];
    // Dry run first: the plan names both commands, and nothing runs.
    let mut dry: Vec<&str> = args.to_vec();
    dry.push("--dry-run");
    let r = df_restart(&dry, &s.path());
    r.assert_ok();
    let k = s.bin("kubectl");
    assert_eq!(
        plan_lines(&r),
        serde_json::json!([
            format!("{k} rollout restart deployment/dreamfactory -n df"),
            format!("{k} rollout status deployment/dreamfactory -n df --timeout=90s"),
        ])
    );
    assert!(s.log().is_empty(), "dry run ran {:?}", s.log());

    let r = df_restart(&args, &s.path());
    r.assert_ok();
    assert_eq!(
        s.log(),
        [
            "kubectl rollout restart deployment/dreamfactory -n df",
            "kubectl rollout status deployment/dreamfactory -n df --timeout=90s"
        ]
    );
    assert_eq!(r.data()["target"]["namespace"], "df");
}

// ---------------------------------------------------------------------------------------
// the probe

#[test]
fn probe_of_a_closed_port_fails_with_69_after_the_restart() {
    let s = StandIns::new();
    s.add("docker", 0, "");
    let port = free_port(); // bound and released: nothing listens there
    let url = format!("http://127.0.0.1:{port}/");
    let r = df_restart(
        &[
            "--via",
            "docker",
            "--container",
            "web",
            "--url",
            &url,
            "--timeout",
            "1s",
        ],
        &s.path(),
    );
    r.assert_code(69);
    assert_eq!(r.error_kind(), "unavailable");
    assert!(
        r.changed(),
        "the container was restarted even though the probe failed"
    );
    assert_eq!(s.log(), ["docker restart web"]);
    let p = &r.data()["probe"];
    assert_eq!(p["ok"], false);
    assert_eq!(p["last_status"], Value::Null);
    assert!(p["attempts"].as_u64().unwrap() >= 1);
    assert!(p["last_error"].as_str().unwrap().contains("refused"), "{p}");
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no response"));
}

#[test]
fn probe_of_a_server_answering_500_reports_the_last_status() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { break };
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 13\r\n\r\nbroken on 7.1",
            );
        }
    });
    let s = StandIns::new();
    s.add("docker", 0, "");
    let url = format!("http://127.0.0.1:{port}/status");
    let r = df_restart(
        &[
            "--via",
            "docker",
            "--container",
            "web",
            "--url",
            &url,
            "--timeout",
            "1500ms",
        ],
        &s.path(),
    );
    r.assert_code(69);
    let p = &r.data()["probe"];
    assert_eq!(p["last_status"], 500);
    assert_eq!(p["url"], url);
    assert_eq!(p["body_snippet"], "broken on 7.1");
    assert!(p["attempts"].as_u64().unwrap() >= 2, "retried: {p}");
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("last status 500"));

    // --expect-status 500 makes the same answer healthy.
    let r = df_restart(
        &[
            "--via",
            "docker",
            "--container",
            "web",
            "--url",
            &url,
            "--expect-status",
            "500",
            "--expect-body",
            "7.1",
        ],
        &s.path(),
    );
    r.assert_ok();
    assert_eq!(r.data()["probe"]["attempts"], 1);
}

#[test]
fn bad_url_and_unknown_service_are_usage_errors() {
    let s = StandIns::new();
    s.add("docker", 0, "").add("systemctl", 0, "");
    let r = df_restart(
        &[
            "--via",
            "docker",
            "--container",
            "c",
            "--url",
            "ftp://example.com/",
        ],
        &s.path(),
    );
    r.assert_code(64);
    let r = df_restart(&["--via", "systemd", "--service", "lighttpd"], &s.path());
    r.assert_code(64);
    assert!(s.log().is_empty());
}

// ---------------------------------------------------------------------------------------
// the master PID, dry runs that check, the graceful reload

/// The machine's nginx stopped for a test (and started again after, if it ran).
struct NginxStopped {
    was_running: bool,
    _lock: MachineLock,
}

impl NginxStopped {
    fn new() -> NginxStopped {
        let lock = machine_lock();
        let was_running = nginx_pid().is_some();
        if was_running {
            sh("/etc/init.d/nginx", &["stop"]);
        }
        assert_eq!(nginx_pid(), None);
        NginxStopped {
            was_running,
            _lock: lock,
        }
    }
}

impl Drop for NginxStopped {
    fn drop(&mut self) {
        if self.was_running {
            let _ = Command::new("/etc/init.d/nginx")
                .arg("start")
                .env("PATH", SYS_PATH)
                .stdin(std::process::Stdio::null())
                .output();
        }
    }
}

fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn children(parent: i32) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| ppid(p) == Some(parent))
        .collect();
    v.sort_unstable();
    v
}

/// An `nginx: worker process` whose master was killed: an orphan named nginx. Killed
/// (by its PID) on drop.
struct OrphanWorker {
    pid: i32,
    _dir: tempfile::TempDir,
}

impl OrphanWorker {
    fn new() -> OrphanWorker {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let port = free_port();
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 16; }}\n\
                 http {{ access_log off; client_body_temp_path {d}/c; proxy_temp_path {d}/p;\n\
                 fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
                 server {{ listen 127.0.0.1:{port}; return 204; }} }}\n"
            ),
        )
        .unwrap();
        let mut master = Command::new("/usr/sbin/nginx")
            .args(["-p", &d, "-c", "nginx.conf", "-g", "daemon off;"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mpid = master.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let worker = loop {
            if let Some(&w) = children(mpid).first() {
                break w;
            }
            assert!(Instant::now() < deadline, "nginx started no worker");
            std::thread::sleep(Duration::from_millis(20));
        };
        // Our own master, by its PID: SIGKILL leaves its worker running, orphaned.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(mpid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        master.wait().unwrap();
        assert_pid_alive(worker.into(), "nginx");
        assert_ne!(ppid(worker), Some(mpid));
        OrphanWorker {
            pid: worker,
            _dir: dir,
        }
    }
}

impl Drop for OrphanWorker {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[test]
fn an_orphaned_nginx_worker_is_never_reported_as_the_master() {
    let _stopped = NginxStopped::new();
    let orphan = OrphanWorker::new();

    // Before: nginx is not running; the orphan is not its master.
    let r = df_restart(
        &[
            "--dry-run",
            "--via",
            "initd",
            "--service",
            "nginx",
            "--no-probe",
        ],
        SYS_PATH,
    );
    r.assert_ok();
    assert_eq!(
        service(&r, "nginx")["pid_before"],
        Value::Null,
        "{}",
        r.stdout
    );

    // After a failed start: pid_after is null (as documented), and a warning names the
    // orphan instead.
    let s = StandIns::new();
    s.add(
        "service",
        1,
        "Job for nginx failed: bind() to 0.0.0.0:80 failed",
    );
    let r = df_restart(
        &["--via", "service", "--service", "nginx", "--no-probe"],
        &s.path(),
    );
    r.assert_code(1);
    let ng = service(&r, "nginx");
    assert_eq!(ng["pid_before"], Value::Null, "{}", r.stdout);
    assert_eq!(ng["pid_after"], Value::Null, "{}", r.stdout);
    assert_eq!(ng["pid_changed"], false);
    let warnings = r.json["warnings"].to_string();
    assert!(
        warnings.contains(&orphan.pid.to_string()) && warnings.contains("orphaned"),
        "{warnings}"
    );
    assert_pid_alive(orphan.pid.into(), "nginx");
}

#[test]
fn a_dry_run_makes_the_checks_of_the_real_run() {
    // Not installed here: php7.4-fpm (php-fpm7.4), httpd. A dry run fails as the real
    // run would, 69, naming the program, and runs nothing.
    let s = StandIns::new();
    s.add("systemctl", 0, "").add("service", 0, "");
    for svc in ["php7.4-fpm", "httpd"] {
        for via in ["systemd", "service", "initd"] {
            let r = df_restart(
                &["--dry-run", "--via", via, "--service", svc, "--no-probe"],
                &s.path(),
            );
            r.assert_code(69);
            let msg = r.json["error"]["message"].as_str().unwrap();
            assert!(msg.contains("not found"), "{svc} via {via}: {msg}");
        }
    }
    // A missing program of the restart path (no systemctl), and of docker/kubernetes.
    let bare = StandIns::new();
    bare.add("nginx", 0, "");
    let r = df_restart(
        &[
            "--dry-run",
            "--via",
            "systemd",
            "--service",
            "nginx",
            "--no-probe",
        ],
        &format!("{}:/nonexistent", bare.dir.path().display()),
    );
    r.assert_code(69);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("systemctl"));
    for via in [
        ["--via", "docker", "--container", "c"],
        ["--via", "kubernetes", "--deployment", "d"],
    ] {
        let mut a = vec!["--dry-run", "--no-probe"];
        a.extend(via);
        let r = df_restart(&a, &format!("{}:/nonexistent", bare.dir.path().display()));
        r.assert_code(69);
    }
    assert!(s.log().is_empty() && bare.log().is_empty());

    // A configuration that fails its test fails the dry run (78), as the real run would;
    // the test is the only thing that ran.
    let s = StandIns::new();
    s.add("systemctl", 0, "")
        .add("nginx", 1, "nginx: [emerg] unknown directive \"dfkit_bad\"");
    let r = df_restart(
        &[
            "--dry-run",
            "--via",
            "systemd",
            "--service",
            "nginx",
            "--no-probe",
        ],
        &s.path(),
    );
    r.assert_code(78);
    assert!(!r.changed());
    assert_eq!(s.log(), ["nginx -t"]);
    assert_eq!(service(&r, "nginx")["config_test"]["ok"], false);

    // And a name that would be read as an option is refused before anything runs.
    let r = df_restart(
        &["--via", "docker", "--container", "--rm", "--no-probe"],
        &s.path(),
    );
    r.assert_code(64);
}

/// One request on a new connection: the status, or why there was none.
fn try_get(port: u16, path: &str) -> Result<u16, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            format!(
                "no status line in {:?}",
                text.chars().take(80).collect::<String>()
            )
        })
}

/// A php-fpm setting for one test, in the machine's pool.d (php-fpm reads `[global]`
/// there too), applied by a reload; removed (and reloaded away) on drop.

#[test]
fn reload_keeps_serving_and_keeps_the_masters() {
    let mut bed = WebBed::up();
    // php-fpm's default (process_control_timeout = 0) kills requests in flight on a
    // reload: the report says so, with the setting that makes the reload graceful.
    let r = df_restart(&["--reload", "--dry-run", "--url", &bed.url()], SYS_PATH);
    r.assert_ok();
    assert!(
        r.json["warnings"]
            .to_string()
            .contains("process_control_timeout is 0"),
        "{}",
        r.stdout
    );
    let _graceful = FpmGlobal::set("process_control_timeout = 10s");
    wait_serving(&bed);
    let r = df_restart(&["--reload", "--dry-run", "--url", &bed.url()], SYS_PATH);
    assert!(!r.json["warnings"]
        .to_string()
        .contains("process_control_timeout"));

    let (n0, f0) = (nginx_pid().unwrap(), fpm_pid().unwrap());
    let fpm_workers0 = children(f0);
    assert!(!fpm_workers0.is_empty());
    // New configuration the reload must pick up: a location that did not exist.
    let port = bed.port;
    bed.add_conf(
        "reload",
        &format!(
            "server {{ listen 127.0.0.1:{}; location / {{ return 204; }} }}\n",
            free_port()
        ),
    );
    let probe_port = {
        let text = std::fs::read_to_string(bed.confs.last().unwrap()).unwrap();
        text.split("127.0.0.1:").nth(1).unwrap()[..5]
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse::<u16>()
            .unwrap()
    };
    assert!(
        try_get(probe_port, "/").is_err(),
        "not served before the reload"
    );

    // A prober: GET /status every 50 ms on a new connection, bounded (≤ 600 requests).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen: Vec<Result<u16, String>> = Vec::new();
            for _ in 0..600 {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                seen.push(try_get(port, "/status"));
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let r = df_restart(
        &["--reload", "--url", &bed.url(), "--expect-body", V1_VERSION],
        SYS_PATH,
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = prober.join().unwrap();
    r.assert_ok();

    // Every request answered 200: no refused or reset connection, no 5xx.
    let bad: Vec<&Result<u16, String>> = seen.iter().filter(|s| **s != Ok(200)).collect();
    assert!(seen.len() >= 10, "the prober ran ({} requests)", seen.len());
    assert!(
        bad.is_empty(),
        "during the reload: {bad:?} of {}",
        seen.len()
    );

    // The report: reload commands, masters unchanged, the probe healthy.
    let d = r.data();
    assert_eq!(d["mode"], "reload");
    assert_eq!(
        d["commands"],
        serde_json::json!([
            "/usr/sbin/nginx -t",
            v82("/usr/sbin/php-fpm8.2 -tt"),
            v82("/usr/sbin/service php8.2-fpm reload"),
            "/usr/sbin/service nginx reload"
        ])
    );
    let ng = service(&r, "nginx");
    assert_eq!(ng["restarted"], true);
    assert_eq!(ng["pid_before"], n0);
    assert_eq!(ng["pid_after"], n0, "nginx keeps its master");
    assert_eq!(ng["pid_changed"], false);
    assert_eq!(nginx_pid(), Some(n0));
    // php-fpm's reload re-executes its master, which (daemonized) forks anew: the report
    // names the master that runs now.
    let fp = service(&r, fpm());
    assert_eq!(fp["restarted"], true);
    assert_eq!(fp["pid_before"], f0);
    let f1 = fpm_pid().expect("php-fpm runs after its reload");
    assert_eq!(fp["pid_after"], f1);
    assert_eq!(fp["pid_changed"], f1 != f0);
    assert_eq!(d["probe"]["ok"], true);

    // It did reload: nginx serves the new server, php-fpm runs new workers.
    let deadline = Instant::now() + Duration::from_secs(5);
    while try_get(probe_port, "/") != Ok(204) {
        assert!(
            Instant::now() < deadline,
            "nginx never served the new configuration"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = children(f1);
        if !now.is_empty() && now.iter().all(|p| !fpm_workers0.contains(p)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "php-fpm kept its old workers: {fpm_workers0:?} -> {now:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
