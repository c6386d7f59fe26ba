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
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use support::bins::{bin, run_command, Run};
use support::sandbox::{Options, Sandbox, SEEDED_SERVICES, V1_VERSION};

static NGINX: Mutex<()> = Mutex::new(());

/// The installed PHP's X.Y (php8.2 on Debian 12, php8.3 on Ubuntu 24.04, …).
fn php_version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let out = Command::new("php")
            .args(["-r", "echo PHP_MAJOR_VERSION, '.', PHP_MINOR_VERSION;"])
            .output()
            .expect("php runs");
        String::from_utf8(out.stdout).expect("version is text")
    })
}

/// A text naming PHP 8.2's packages, for the installed PHP version.
fn v82(s: &str) -> &'static str {
    Box::leak(s.replace("8.2", php_version()).into_boxed_str())
}

fn fpm() -> &'static str {
    v82("php8.2-fpm")
}
const NGINX_PID: &str = "/run/nginx.pid";
const SYS_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---------------------------------------------------------------------------------------
// helpers

/// The live PID in a pid file whose process has this name.
fn live_pid(pid_file: &str, comm: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (c.trim_end() == comm).then_some(pid)
}

fn nginx_pid() -> Option<i32> {
    live_pid(NGINX_PID, "nginx")
}

fn fpm_pid() -> Option<i32> {
    live_pid(v82("/run/php/php8.2-fpm.pid"), v82("php-fpm8.2"))
}

fn sh(prog: &str, args: &[&str]) {
    let out = Command::new(prog)
        .args(args)
        .env("PATH", SYS_PATH)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A plain GET with nothing of dfkit in it: (status, body).
fn raw_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serializes use of the machine's nginx across threads and test binaries.
struct MachineLock {
    _guard: MutexGuard<'static, ()>,
    _file: std::fs::File,
}

fn machine_lock() -> MachineLock {
    let guard = NGINX.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all("/run/lock").unwrap();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("/run/lock/dfkit-nginx-test.lock")
        .unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; released when the file is closed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock");
    MachineLock {
        _guard: guard,
        _file: file,
    }
}

/// A sandbox DreamFactory install served by the machine's nginx + phpX.Y-fpm on a free
/// port, the way DreamFactory's docs set it up; the site is torn down on drop.
struct WebBed {
    port: u16,
    confs: Vec<PathBuf>,
    nginx_was_running: bool,
    fpm_was_running: bool,
    // Dropped after the site's conf is gone and nginx reloaded (Drop runs first).
    sandbox: Sandbox,
    _lock: MachineLock,
}

impl WebBed {
    fn up() -> WebBed {
        // php-fpm runs PHP as www-data: Laravel writes to storage/ (logs, views, the SQLite
        // database and its journal) and bootstrap/cache/, so those belong to www-data.
        let sandbox = Sandbox::with(
            "sqlite",
            None,
            &Options {
                owner: Some("www-data:www-data".into()),
                ..Options::default()
            },
        );
        // Temp dirs are 0700: www-data (nginx and php-fpm workers) must traverse into it.
        std::fs::set_permissions(sandbox.tmp.path(), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let www = nix::unistd::User::from_name("www-data")
            .unwrap()
            .expect("user www-data");
        let db = sandbox.sqlite_path();
        for p in [db.as_path(), db.parent().unwrap()] {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(p).unwrap();
            assert_eq!(
                m.uid(),
                www.uid.as_raw(),
                "{} owned by www-data",
                p.display()
            );
            assert!(
                m.mode() & 0o200 != 0,
                "{} writable by its owner",
                p.display()
            );
        }

        let lock = machine_lock();
        let port = free_port();
        let mut bed = WebBed {
            port,
            confs: Vec::new(),
            nginx_was_running: nginx_pid().is_some(),
            fpm_was_running: fpm_pid().is_some(),
            sandbox,
            _lock: lock,
        };
        // Laravel's front controller: everything that is not a file goes to index.php.
        let site = format!(
            "server {{
    listen 127.0.0.1:{port};
    root {root};
    index index.php;
    location / {{ try_files $uri /index.php?$query_string; }}
    location ~ \\.php$ {{
        fastcgi_pass unix:/run/php/php{phpv}-fpm.sock;
        fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;
        include fastcgi_params;
    }}
}}
",
            root = bed.sandbox.root.join("public").display(),
            phpv = php_version(),
        );
        bed.add_conf("site", &site);
        if !bed.fpm_was_running {
            sh("service", &[fpm(), "start"]);
        }
        if bed.nginx_was_running {
            sh("nginx", &["-s", "reload"]);
        } else {
            sh("/etc/init.d/nginx", &["start"]);
        }
        // Ready when the install's /status answers with its version.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = bed.get();
            if let Some((200, body)) = &got {
                if body.contains(V1_VERSION) {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the sandbox site never came up on {port}; last answer: {got:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        bed
    }

    /// Add a file to /etc/nginx/conf.d (removed on drop).
    fn add_conf(&mut self, tag: &str, text: &str) {
        let p = PathBuf::from(format!(
            "/etc/nginx/conf.d/dfkit-test-restart-{}-{tag}.conf",
            std::process::id()
        ));
        std::fs::write(&p, text).unwrap();
        self.confs.push(p);
    }

    /// GET /status: DreamFactory's unauthenticated status page, with the version.
    fn get(&self) -> Option<(u16, String)> {
        raw_get(self.port, "/status")
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/status", self.port)
    }
}

impl Drop for WebBed {
    fn drop(&mut self) {
        for c in &self.confs {
            let _ = std::fs::remove_file(c);
        }
        let quiet = |prog: &str, args: &[&str]| {
            let _ = Command::new(prog)
                .args(args)
                .env("PATH", SYS_PATH)
                .stdin(std::process::Stdio::null())
                .output();
        };
        if self.nginx_was_running {
            quiet("nginx", &["-s", "reload"]);
        } else {
            quiet("/etc/init.d/nginx", &["stop"]);
        }
        if !self.fpm_was_running {
            quiet("service", &[fpm(), "stop"]);
        }
    }
}

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
        &["--via", "systemd", "--no-probe", "--service", "auto"],
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
