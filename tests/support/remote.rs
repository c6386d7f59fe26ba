//! Real far sides for df-migrate push: an sshd on loopback and a Docker daemon, each
//! started by the test in its own temp dir and stopped (by pid) when dropped.
//!
//! Both need root and the Debian packages openssh-server, docker.io and busybox-static
//! (scripts/install-deps.sh). If one cannot start, the test fails with the daemon's log:
//! it never skips.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn assert_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root (it starts sshd / dockerd)"
    );
}

#[track_caller]
fn run(c: &mut Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An sshd on 127.0.0.1:PORT accepting root with a generated key.
pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The user's private key (`-i`).
    pub key: PathBuf,
    /// A known_hosts file holding the generated host key.
    pub known_hosts: PathBuf,
}

impl Sshd {
    #[track_caller]
    pub fn start() -> Sshd {
        assert_root();
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.is_file(),
            "no /usr/sbin/sshd: apt-get install openssh-server"
        );
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::Builder::new()
            .prefix("dfkit-sshd.")
            .tempdir()
            .unwrap();
        let d = dir.path();
        for k in ["host_key", "user_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(k)));
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        let port = super::servers::free_port();
        let cfg = d.join("sshd_config");
        std::fs::write(
            &cfg,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PermitRootLogin prohibit-password\nPidFile {d}/sshd.pid\n\
                 Subsystem sftp /usr/lib/openssh/sftp-server\n",
                d = d.display()
            ),
        )
        .unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let known_hosts = d.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
        let log = d.join("sshd.log");
        // -D: stay in the foreground, so the child's pid is sshd's and kill reaches it.
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-f")
            .arg(&cfg)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sshd");
        let mut s = Sshd {
            child,
            port,
            key: d.join("user_key"),
            known_hosts,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!(
                    "sshd exited ({st}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "sshd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        s.child.try_wait().unwrap();
        s
    }

    /// The push options for this server: `-i KEY -o UserKnownHostsFile=… -o StrictHostKeyChecking=yes`.
    pub fn push_args(&self) -> Vec<String> {
        vec![
            "-i".into(),
            self.key.display().to_string(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
        ]
    }

    /// `ssh://root@127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &Path) -> String {
        format!("ssh://root@127.0.0.1:{}{}", self.port, path.display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Docker daemon of our own (vfs storage, no network) with one busybox container.
pub struct Dockerd {
    child: Child,
    pub dir: tempfile::TempDir,
    /// `unix://…/docker.sock`: give it to clients as DOCKER_HOST.
    pub host: String,
    /// The running container's name.
    pub container: String,
}

impl Dockerd {
    #[track_caller]
    pub fn start() -> Dockerd {
        assert_root();
        let dockerd = which::which("dockerd")
            .or_else(|_| which::which("/usr/sbin/dockerd"))
            .expect("no dockerd: apt-get install docker.io");
        // A short path: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("dfk-dockerd.")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path().to_path_buf();
        let host = format!("unix://{}/docker.sock", d.display());
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new(dockerd)
            .arg("--storage-driver=vfs")
            .arg("--iptables=false")
            .arg("--bridge=none")
            .arg(format!("--data-root={}/data", d.display()))
            .arg(format!("--exec-root={}/exec", d.display()))
            .arg(format!("--host={host}"))
            .arg(format!("--pidfile={}/pid", d.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let mut s = Dockerd {
            child,
            dir,
            host,
            container: "dfkit-far".into(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = s
                .docker()
                .arg("info")
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                break;
            }
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("dockerd exited ({st}):\n{}", s.log());
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // An image from the host's busybox: nothing can be pulled here.
        let rootfs = d.join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
        std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("no /bin/busybox: apt-get install busybox-static");
        for l in ["sh", "sleep", "sha256sum", "cat", "rm", "ls"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(l)).unwrap();
        }
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["-c", "."])
            .output()
            .unwrap();
        assert!(tar.status.success());
        let mut imp = s
            .docker()
            .args(["import", "-", "dfkit-busybox"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        imp.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
        let out = imp.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        run(s
            .docker()
            .args(["run", "-d", "--network", "none", "--name"])
            .arg(&s.container)
            .args(["dfkit-busybox", "/bin/sleep", "3600"]));
        s
    }

    /// Start another container of the busybox image: `docker run -d --network none
    /// --name NAME dfkit-busybox ARGS…` (removed with the daemon's data dir).
    pub fn run_container(&self, name: &str, args: &[&str]) {
        run(self
            .docker()
            .args([
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                name,
                "dfkit-busybox",
            ])
            .args(args));
    }

    /// `docker inspect -f FORMAT NAME`, trimmed; None when docker fails (no such container).
    pub fn inspect(&self, name: &str, format: &str) -> Option<String> {
        let out = self
            .docker()
            .args(["inspect", "-f", format, name])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A `docker` command talking to this daemon.
    pub fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", &self.host);
        c
    }

    /// `docker exec CONTAINER ARGS…` → (success, stdout).
    pub fn exec(&self, args: &[&str]) -> (bool, String) {
        let out = self
            .docker()
            .arg("exec")
            .arg(&self.container)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = self.docker().args(["rm", "-f", &self.container]).output();
        // SIGTERM: dockerd stops its containerd and shims; then wait for it.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
