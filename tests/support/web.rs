//! The machine's real nginx and php-fpm serving a sandbox install on a free loopback
//! port, for the tests of df-restart, df-verify and df-upgrade.
//!
//! These tests change the machine's nginx: a site goes under /etc/nginx/conf.d (removed by
//! a Drop guard, even on failure), so they run one at a time (a static Mutex, plus an
//! flock on /run/lock/dfkit-nginx-test.lock for other test binaries that do the same) and
//! leave nginx/php-fpm as they found them (stopped if they were stopped, reloaded without
//! our files if they were running).

use super::sandbox::{Options, Sandbox, V1_VERSION};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static NGINX: Mutex<()> = Mutex::new(());

/// The installed PHP's X.Y (php8.2 on Debian 12, php8.3 on Ubuntu 24.04, …).
pub fn php_version() -> &'static str {
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
pub fn v82(s: &str) -> &'static str {
    Box::leak(s.replace("8.2", php_version()).into_boxed_str())
}

pub fn fpm() -> &'static str {
    v82("php8.2-fpm")
}
pub const NGINX_PID: &str = "/run/nginx.pid";
pub const SYS_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---------------------------------------------------------------------------------------
// helpers

/// The live PID in a pid file whose process has this name.
pub fn live_pid(pid_file: &str, comm: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (c.trim_end() == comm).then_some(pid)
}

pub fn nginx_pid() -> Option<i32> {
    live_pid(NGINX_PID, "nginx")
}

pub fn fpm_pid() -> Option<i32> {
    live_pid(v82("/run/php/php8.2-fpm.pid"), v82("php-fpm8.2"))
}

pub fn sh(prog: &str, args: &[&str]) {
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
pub fn raw_get(port: u16, path: &str) -> Option<(u16, String)> {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serializes use of the machine's nginx across threads and test binaries.
pub struct MachineLock {
    _guard: MutexGuard<'static, ()>,
    _file: std::fs::File,
}

pub fn machine_lock() -> MachineLock {
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
pub struct WebBed {
    pub port: u16,
    pub confs: Vec<PathBuf>,
    nginx_was_running: bool,
    fpm_was_running: bool,
    // Dropped after the site's conf is gone and nginx reloaded (Drop runs first).
    pub sandbox: Sandbox,
    _lock: MachineLock,
}

impl WebBed {
    pub fn up() -> WebBed {
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
        wait_for_version(port, || format!("the sandbox site never came up on {port}"));
        bed
    }

    /// Add a file to /etc/nginx/conf.d (removed on drop).
    pub fn add_conf(&mut self, tag: &str, text: &str) {
        let p = PathBuf::from(format!(
            "/etc/nginx/conf.d/dfkit-test-restart-{}-{tag}.conf",
            std::process::id()
        ));
        std::fs::write(&p, text).unwrap();
        self.confs.push(p);
    }

    /// GET /status: DreamFactory's unauthenticated status page, with the version.
    pub fn get(&self) -> Option<(u16, String)> {
        raw_get(self.port, "/status")
    }

    pub fn url(&self) -> String {
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

pub struct FpmGlobal {
    path: PathBuf,
}

impl FpmGlobal {
    pub fn set(text: &str) -> FpmGlobal {
        let path = PathBuf::from(v82("/etc/php/8.2/fpm/pool.d/zz-dfkit-test-restart.conf"));
        std::fs::write(&path, format!("[global]\n{text}\n")).unwrap();
        sh("service", &[fpm(), "reload"]);
        FpmGlobal { path }
    }
}

impl Drop for FpmGlobal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = Command::new("service")
            .args([fpm(), "reload"])
            .env("PATH", SYS_PATH)
            .stdin(std::process::Stdio::null())
            .output();
    }
}

/// Wait until the bed's /status answers 200 again (after a reload of php-fpm).
pub fn wait_serving(bed: &WebBed) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(bed.get(), Some((200, _))) {
        assert!(Instant::now() < deadline, "the site did not come back");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The new master's pid file is written a moment after it serves.
    std::thread::sleep(Duration::from_millis(500));
}

// ---------------------------------------------------------------------------------------
// Apache

/// A sandbox owned by www-data (php-fpm runs PHP as www-data: Laravel writes storage/
/// and bootstrap/cache/), in a temp dir the web server's user can traverse.
pub fn www_sandbox() -> Sandbox {
    let sandbox = Sandbox::with(
        "sqlite",
        None,
        &Options {
            owner: Some("www-data:www-data".into()),
            ..Options::default()
        },
    );
    std::fs::set_permissions(sandbox.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    sandbox
}

const APACHE_MODULES: [&str; 6] = [
    "mpm_event",
    "authz_core",
    "dir",
    "mime",
    "proxy",
    "proxy_fcgi",
];

/// A sandbox served by Debian's apache2 — an instance of its own (Debian's
/// multi-instance setup: /etc/apache2-NAME and /etc/init.d/apache2-NAME, NAME =
/// `dfkit<pid>`), so it never touches the machine's /etc/apache2 nor collides with the
/// nginx tests' ports — through the machine's phpX.Y-fpm with proxy_fcgi, the way
/// DreamFactory's docs set Apache up. Started through its init script; stopped and removed
/// on drop. Holds the machine lock: it shares php-fpm with the nginx tests.
pub struct ApacheBed {
    pub port: u16,
    /// The instance's name: the service is `apache2-{instance}`.
    pub instance: String,
    fpm_was_running: bool,
    pub sandbox: Sandbox,
    _lock: MachineLock,
}

impl ApacheBed {
    pub fn up() -> ApacheBed {
        let sandbox = www_sandbox();
        let lock = machine_lock();
        remove_stale_apache_instances();
        let port = free_port();
        let bed = ApacheBed {
            port,
            instance: format!("dfkit{}", std::process::id()),
            fpm_was_running: fpm_pid().is_some(),
            sandbox,
            _lock: lock,
        };
        let conf = bed.confdir();
        std::fs::create_dir_all(conf.join("conf.d")).unwrap();
        let logs = bed.sandbox.tmp.path().join("apache-logs");
        std::fs::create_dir_all(&logs).unwrap();
        // Debian's envvars derives the instance's pid file, run and lock dirs from
        // APACHE_CONFDIR (/run/apache2-NAME/apache2.pid); the logs stay in the temp dir.
        let envvars = std::fs::read_to_string("/etc/apache2/envvars").expect("apache2 installed");
        std::fs::write(
            conf.join("envvars"),
            format!("{envvars}\nexport APACHE_LOG_DIR={}\n", logs.display()),
        )
        .unwrap();
        let modules: String = APACHE_MODULES
            .iter()
            .map(|m| format!("LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"))
            .collect();
        let public = bed.sandbox.root.join("public");
        std::fs::write(
            conf.join("apache2.conf"),
            format!(
                "{modules}\
DefaultRuntimeDir ${{APACHE_RUN_DIR}}
PidFile ${{APACHE_PID_FILE}}
User ${{APACHE_RUN_USER}}
Group ${{APACHE_RUN_GROUP}}
ErrorLog ${{APACHE_LOG_DIR}}/error.log
LogLevel warn
TypesConfig /etc/mime.types
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
DocumentRoot {public}
<Directory />
    Require all denied
    AllowOverride None
</Directory>
<Directory {public}>
    Require all granted
    DirectoryIndex index.php
    # Laravel's front controller: everything that is not a file goes to index.php.
    FallbackResource /index.php
</Directory>
<FilesMatch \"\\.php$\">
    SetHandler \"proxy:unix:/run/php/php{phpv}-fpm.sock|fcgi://localhost\"
</FilesMatch>
IncludeOptional conf.d/*.conf
",
                public = public.display(),
                phpv = php_version(),
            ),
        )
        .unwrap();
        // The init script Debian's setup-instance installs for an instance.
        let script =
            std::fs::read_to_string("/usr/share/doc/apache2/examples/secondary-init-script")
                .expect("apache2's secondary-init-script");
        let init = bed.init_script();
        std::fs::write(&init, script.replace("XXX", &bed.instance)).unwrap();
        std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).unwrap();

        if !bed.fpm_was_running {
            sh("service", &[fpm(), "start"]);
        }
        sh(init.to_str().unwrap(), &["start"]);
        bed.wait_serving();
        bed
    }

    /// `apache2-NAME`: the service df-restart is given.
    pub fn service(&self) -> String {
        format!("apache2-{}", self.instance)
    }

    pub fn confdir(&self) -> PathBuf {
        PathBuf::from(format!("/etc/apache2-{}", self.instance))
    }

    pub fn init_script(&self) -> PathBuf {
        PathBuf::from(format!("/etc/init.d/apache2-{}", self.instance))
    }

    pub fn pid_file(&self) -> String {
        format!("/run/apache2-{}/apache2.pid", self.instance)
    }

    /// The instance's master: the live apache2 its pid file names.
    pub fn master_pid(&self) -> Option<i32> {
        live_pid(&self.pid_file(), "apache2")
    }

    /// Add a file to the instance's conf.d (removed with the instance).
    pub fn add_conf(&self, tag: &str, text: &str) {
        std::fs::write(
            self.confdir().join("conf.d").join(format!("{tag}.conf")),
            text,
        )
        .unwrap();
    }

    pub fn get(&self) -> Option<(u16, String)> {
        raw_get(self.port, "/status")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/status", self.port)
    }

    /// Wait until /status answers with the sandbox's version.
    pub fn wait_serving(&self) {
        wait_for_version(self.port, || {
            format!(
                "apache never served the sandbox on {}; error.log: {}",
                self.port,
                std::fs::read_to_string(self.sandbox.tmp.path().join("apache-logs/error.log"))
                    .unwrap_or_default()
            )
        });
    }
}

/// Stop and remove one Apache instance of ours: init script `stop`, then its files.
fn remove_apache_instance(instance: &str) {
    let init = format!("/etc/init.d/apache2-{instance}");
    let _ = Command::new(&init)
        .arg("stop")
        .env("PATH", SYS_PATH)
        .stdin(std::process::Stdio::null())
        .output();
    let _ = std::fs::remove_file(&init);
    for d in ["/etc/apache2", "/run/apache2", "/var/lock/apache2"] {
        let _ = std::fs::remove_dir_all(format!("{d}-{instance}"));
    }
}

/// Instances left by a test binary that was killed before its drop ran.
fn remove_stale_apache_instances() {
    let Ok(rd) = std::fs::read_dir("/etc") else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("apache2-dfkit") else {
            continue;
        };
        let alive = pid
            .parse::<i32>()
            .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            remove_apache_instance(&format!("dfkit{pid}"));
        }
    }
}

impl Drop for ApacheBed {
    fn drop(&mut self) {
        remove_apache_instance(&self.instance);
        if !self.fpm_was_running {
            let _ = Command::new("service")
                .args([fpm(), "stop"])
                .env("PATH", SYS_PATH)
                .stdin(std::process::Stdio::null())
                .output();
        }
    }
}

/// Wait (20 s at most) until /status on `port` answers 200 with the sandbox's version;
/// `what` says what failed, with the last answer after it.
fn wait_for_version(port: u16, what: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = raw_get(port, "/status");
        if let Some((200, body)) = &got {
            if body.contains(V1_VERSION) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{}; last answer: {got:?}",
            what()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
