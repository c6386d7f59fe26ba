//! The health probe over https: df-restart and df-verify against a real nginx serving
//! TLS on a loopback port, with a self-signed certificate made by `openssl req -x509`
//! at test time. The nginx is our own (its own prefix, config, pid file and port), so
//! the machine's nginx is untouched.
//!
//! With the certificate given as `--ca-file` both pass; without it both fail with a TLS
//! error naming certificate verification (the system's roots do not hold it); with
//! `--insecure` both pass, and the report says the certificate was not checked.

mod support;

use dfkit::report::data::restart::RestartData;
use dfkit::report::data::verify::{Status, VerifyData};
use dfkit::report::Report;
use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::bins::{bin, run_command, Run};

const VERSION: &str = "7.0.0";
const SYS_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn must(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// nginx serving `GET /status` over TLS on 127.0.0.1:port, stopped (by its PID) on drop.
struct TlsNginx {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl TlsNginx {
    fn start() -> TlsNginx {
        TlsNginx::start_with(None)
    }

    /// Serve with this key and certificate (copied in), else a fresh self-signed one.
    fn start_with(pair: Option<(&Path, &Path)>) -> TlsNginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        if let Some((key, cert)) = pair {
            std::fs::copy(key, d.join("key.pem")).unwrap();
            std::fs::copy(cert, d.join("cert.pem")).unwrap();
        } else {
            TlsNginx::self_signed(d);
        }
        TlsNginx::serve(dir)
    }

    fn self_signed(d: &Path) {
        // A self-signed server certificate for 127.0.0.1 and localhost (rustls reads the
        // subjectAltName, never the CN).
        must(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=dfkit test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
            d.join("key.pem").to_str().unwrap(),
            "-out",
            d.join("cert.pem").to_str().unwrap(),
        ]));
    }

    fn serve(dir: tempfile::TempDir) -> TlsNginx {
        let d = dir.path();
        let port = free_port();
        let conf = format!(
            "worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/client;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        location / {{
            default_type application/json;
            return 200 '{{\"platform\":{{\"version\":\"{VERSION}\"}}}}';
        }}
    }}
}}
",
            d = d.display()
        );
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .args(["-p", d.to_str().unwrap(), "-c", "nginx.conf"])
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (scripts/install-deps.sh installs it)");
        let mut n = TlsNginx { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = n.child.try_wait() {
                panic!(
                    "nginx exited ({st}): {}",
                    std::fs::read_to_string(n.dir.path().join("error.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "nginx never listened on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/status", self.port)
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
}

impl Drop for TlsNginx {
    fn drop(&mut self) {
        // Our own master, by its PID: it stops its workers.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// Stand-ins for systemctl and the nginx config test: df-restart's restart path runs,
/// and the probe (the subject here) goes to the real TLS nginx.
fn standins() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for name in ["systemctl", "nginx"] {
        let p = d.path().join(name);
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    d
}

fn df_restart(url: &str, more: &[&str], stand: &Path) -> Run {
    let mut c = Command::new(bin("df-restart"));
    c.args([
        "--via",
        "systemd",
        "--service",
        "nginx",
        "--url",
        url,
        "--timeout",
        "5s",
    ])
    .args(more)
    .env("PATH", format!("{}:{SYS_PATH}", stand.display()));
    run_command(c)
}

/// A minimal install for df-verify's `http` check: a config/app.php naming the version.
fn install() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("config")).unwrap();
    std::fs::write(
        d.path().join("config/app.php"),
        format!("<?php\nreturn [\n    'version' => '{VERSION}',\n];\n"),
    )
    .unwrap();
    std::fs::write(d.path().join("artisan"), "<?php\n").unwrap();
    std::fs::write(d.path().join(".env"), "APP_ENV=production\n").unwrap();
    d
}

fn df_verify(root: &Path, url: &str, more: &[&str]) -> Run {
    let mut c = Command::new(bin("df-verify"));
    c.args([
        "--root",
        root.to_str().unwrap(),
        "--only",
        "http",
        "--url",
        url,
    ])
    .args(["--timeout", "5"])
    .args(more);
    run_command(c)
}

fn http_check(r: &Run) -> &Value {
    &r.data()["checks"][0]
}

#[test]
fn df_restart_probes_https_with_the_ca_fails_without_it_and_passes_insecure() {
    let web = TlsNginx::start();
    let stand = standins();
    let cert = web.cert();
    let cert = cert.to_str().unwrap();

    // With the certificate as the CA: healthy, through TLS, with the body from nginx.
    let r = df_restart(&web.url(), &["--ca-file", cert], stand.path());
    r.assert_ok();
    let p = &r.data()["probe"];
    assert_eq!(p["ok"], true, "{}", r.stdout);
    assert_eq!(p["last_status"], 200);
    assert_eq!(p["insecure"], false);
    assert_eq!(p["url"], web.url());
    assert!(p["body_snippet"].as_str().unwrap().contains(VERSION));
    // A wrapper reads the same report as typed data.
    let typed: Report<RestartData> = serde_json::from_str(&r.stdout).unwrap();
    let probe = typed.data.probe.expect("probe");
    assert!(probe.ok && !probe.insecure);
    assert_eq!(probe.last_status, Some(200));
    assert_eq!(typed.data.services[0].name, "nginx");

    // The system's roots do not hold a self-signed certificate: a clear TLS error, at
    // once (the certificate will not change by waiting), with the way out in the hint.
    let r = df_restart(&web.url(), &[], stand.path());
    r.assert_code(69);
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.contains("TLS certificate verification failed"), "{msg}");
    let hint = r.json["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("--ca-file") && hint.contains("--insecure"),
        "{hint}"
    );
    let p = &r.data()["probe"];
    assert_eq!(p["ok"], false);
    assert_eq!(p["attempts"], 1, "{}", r.stdout);
    assert_eq!(p["last_status"], Value::Null);
    assert!(r.changed(), "the restart ran before the probe failed");
    let typed: Report<RestartData> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(typed.data.changed, Some(true));
    assert_eq!(typed.error.unwrap().exit_code, 69);

    // --insecure: healthy, and the report says the certificate was not checked.
    let r = df_restart(&web.url(), &["--insecure"], stand.path());
    r.assert_ok();
    assert_eq!(r.data()["probe"]["ok"], true);
    assert_eq!(r.data()["probe"]["insecure"], true);

    // A CA file that is not a certificate is refused before anything runs.
    let junk = web.dir.path().join("error.log");
    let r = df_restart(
        &web.url(),
        &["--ca-file", junk.to_str().unwrap()],
        stand.path(),
    );
    r.assert_code(65);
    let r = df_restart(
        &web.url(),
        &["--ca-file", "/nonexistent/ca.pem"],
        stand.path(),
    );
    r.assert_code(66);
}

#[test]
fn df_verify_probes_https_with_the_ca_fails_without_it_and_passes_insecure() {
    let web = TlsNginx::start();
    let root = install();
    let cert = web.cert();
    let cert = cert.to_str().unwrap();

    let r = df_verify(root.path(), &web.url(), &["--ca-file", cert]);
    r.assert_ok();
    let c = http_check(&r);
    assert_eq!(c["status"], "pass", "{}", r.stdout);
    assert_eq!(c["status_code"], 200);
    assert!(c["detail"].as_str().unwrap().contains(VERSION));

    let typed: Report<VerifyData> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(typed.data.checks[0].status, Status::Pass);
    assert_eq!(typed.data.checks[0].status_code, Some(200));

    let r = df_verify(root.path(), &web.url(), &[]);
    r.assert_code(1);
    let typed: Report<VerifyData> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(typed.data.failed, 1);
    let c = http_check(&r);
    assert_eq!(c["status"], "fail");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("TLS certificate verification failed"),
        "{detail}"
    );
    assert!(c["hint"].as_str().unwrap().contains("--ca-file"));

    let r = df_verify(root.path(), &web.url(), &["--insecure"]);
    r.assert_ok();
    assert_eq!(http_check(&r)["status"], "pass");
}

/// `openssl req -x509` without `-addext basicConstraints=…CA:FALSE` makes a CA
/// certificate; rustls refuses one as a server's own even when given as `--ca-file`. The
/// error says so, and how to make one that works.
#[test]
fn a_ca_certificate_served_as_the_sites_own_is_explained() {
    let d = tempfile::tempdir().unwrap();
    let (key, cert) = (d.path().join("k.pem"), d.path().join("c.pem"));
    must(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=dfkit test",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]));
    let web = TlsNginx::start_with(Some((&key, &cert)));
    let root = install();
    let r = df_verify(
        root.path(),
        &web.url(),
        &["--ca-file", cert.to_str().unwrap()],
    );
    r.assert_code(1);
    let c = http_check(&r);
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("TLS certificate verification failed"),
        "{detail}"
    );
    assert!(detail.contains("CA:TRUE"), "{detail}");
    assert!(c["hint"].as_str().unwrap().contains("CA:FALSE"));
}
