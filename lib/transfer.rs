//! Copying a file to another host and checking it there: ssh, Docker, Kubernetes.
//!
//! A destination is a URL:
//!
//! * `ssh://[user@]host[:port]/path` — the system's `scp` and `ssh`, always with
//!   `BatchMode=yes` (a missing key fails at once instead of prompting);
//! * `docker://CONTAINER/path` — `docker cp` and `docker exec`;
//! * `k8s://NAMESPACE/POD[/CONTAINER]/path` — `kubectl cp` and `kubectl exec`. With two or
//!   more segments after POD the first is the container; `k8s://ns/pod//tmp/x` names no
//!   container.
//!
//! After the copy the sha256 is computed on the far side (`sha256sum`) and compared with
//! the local one; a mismatch removes the remote copy. Every part of a URL is checked
//! against a strict alphabet (no leading `-`, no shell metacharacters), and `--` ends the
//! options wherever the program accepts it: nothing from a URL can become an option of
//! scp, ssh, docker or kubectl, nor a word of the remote shell.

use crate::error::{Error, ErrorKind, Result};
use crate::exec::Cmd;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// Where a bundle goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        path: String,
    },
    Docker {
        container: String,
        path: String,
    },
    K8s {
        namespace: String,
        pod: String,
        container: Option<String>,
        path: String,
    },
}

/// Options for ssh:// (ignored by the others).
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// `-i FILE`.
    pub key: Option<std::path::PathBuf>,
    /// `-o OPTION=VALUE`, each (e.g. `UserKnownHostsFile=/root/.ssh/known_df`).
    pub options: Vec<String>,
}

fn bad_url(url: &str, why: &str) -> Error {
    Error::usage(format!("--to {url}: {why}")).with_hint(
        "ssh://[user@]host[:port]/abs/path, docker://CONTAINER/abs/path or \
         k8s://NAMESPACE/POD[/CONTAINER]/abs/path",
    )
}

/// A name (user, host, container, namespace, pod): letters, digits, `.`, `_`, `-`, not
/// starting with `-` or `.`.
fn check_name(url: &str, what: &str, s: &str) -> Result<String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(bad_url(
            url,
            &format!("the {what} {s:?} must be letters, digits, '.', '_' or '-', starting with a letter or digit"),
        ))
    }
}

/// A remote path: absolute, of safe characters only (it is read by a remote shell).
fn check_path(url: &str, p: &str) -> Result<String> {
    let ok = p.starts_with('/')
        && p.len() > 1
        && !p.ends_with('/')
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+@%=,".contains(&b))
        && !p.split('/').any(|seg| seg == "..");
    if ok {
        Ok(p.to_string())
    } else {
        Err(bad_url(
            url,
            &format!(
                "the remote path {p:?} must be an absolute file path of letters, digits and /._-+@%=, (no '..')"
            ),
        ))
    }
}

impl Target {
    /// Parse a `--to` URL (64 on anything unexpected).
    pub fn parse(url: &str) -> Result<Target> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad_url(url, "no scheme"))?;
        match scheme {
            "ssh" => {
                let (auth, path) = rest
                    .split_once('/')
                    .ok_or_else(|| bad_url(url, "no path"))?;
                let path = check_path(url, &format!("/{path}"))?;
                let (user, hostport) = match auth.rsplit_once('@') {
                    Some((u, h)) => (Some(check_name(url, "user", u)?), h),
                    None => (None, auth),
                };
                let (host, port) = match hostport.split_once(':') {
                    Some((h, p)) => {
                        let port: u16 = p
                            .parse()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or_else(|| bad_url(url, &format!("bad port {p:?}")))?;
                        (h, Some(port))
                    }
                    None => (hostport, None),
                };
                Ok(Target::Ssh {
                    user,
                    host: check_name(url, "host", host)?,
                    port,
                    path,
                })
            }
            "docker" => {
                let (c, path) = rest
                    .split_once('/')
                    .ok_or_else(|| bad_url(url, "no path"))?;
                Ok(Target::Docker {
                    container: check_name(url, "container", c)?,
                    path: check_path(url, &format!("/{path}"))?,
                })
            }
            "k8s" => {
                let mut it = rest.splitn(3, '/');
                let ns = it.next().unwrap_or_default();
                let pod = it.next().unwrap_or_default();
                let tail = it.next().ok_or_else(|| bad_url(url, "no path"))?;
                let (container, path) = match tail.strip_prefix('/') {
                    Some(p) => (None, p),
                    None => match tail.split_once('/') {
                        Some((c, p)) => (Some(check_name(url, "container", c)?), p),
                        None => (None, tail),
                    },
                };
                Ok(Target::K8s {
                    namespace: check_name(url, "namespace", ns)?,
                    pod: check_name(url, "pod", pod)?,
                    container,
                    path: check_path(url, &format!("/{path}"))?,
                })
            }
            other => Err(bad_url(url, &format!("unknown scheme {other:?}"))),
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Target::Ssh { .. } => "ssh",
            Target::Docker { .. } => "docker",
            Target::K8s { .. } => "k8s",
        }
    }

    /// The file's path on the far side.
    pub fn path(&self) -> &str {
        match self {
            Target::Ssh { path, .. } | Target::Docker { path, .. } | Target::K8s { path, .. } => {
                path
            }
        }
    }
}

/// The three commands of a push: copy, checksum, remove (after a mismatch).
#[derive(Debug, Clone)]
pub struct Commands {
    pub copy: Cmd,
    pub checksum: Cmd,
    pub remove: Cmd,
}

fn ssh_common(opts: &SshOptions) -> Result<Vec<OsString>> {
    let mut a: Vec<OsString> = vec!["-o".into(), "BatchMode=yes".into()];
    if let Some(k) = &opts.key {
        a.push("-i".into());
        a.push(k.clone().into_os_string());
    }
    for o in &opts.options {
        if o.starts_with('-') || !o.contains('=') || o.contains('\n') {
            return Err(Error::usage(format!(
                "--ssh-option {o:?} must be OPTION=VALUE (e.g. UserKnownHostsFile=/root/.ssh/known_hosts)"
            )));
        }
        a.push("-o".into());
        a.push(o.into());
    }
    Ok(a)
}

/// Build the commands that copy `local` to `target` and check it there.
pub fn commands(
    target: &Target,
    local: &Path,
    ssh: &SshOptions,
    timeout: Duration,
) -> Result<Commands> {
    let local_s = local.as_os_str();
    let (copy, checksum, remove) = match target {
        Target::Ssh {
            user,
            host,
            port,
            path,
        } => {
            let common = ssh_common(ssh)?;
            let dest = match user {
                Some(u) => format!("{u}@{host}:{path}"),
                None => format!("{host}:{path}"),
            };
            let mut copy = Cmd::new("scp")?.args(["-q", "-B"]).args(&common);
            let mut remote = Cmd::new("ssh")?.args(&common).arg("-T");
            if let Some(p) = port {
                copy = copy.arg("-P").arg(p.to_string());
                remote = remote.arg("-p").arg(p.to_string());
            }
            if let Some(u) = user {
                remote = remote.arg("-l").arg(u);
            }
            let copy = copy.arg("--").arg(local_s).arg(dest);
            let remote = remote.arg("--").arg(host);
            // The remote shell reads these words; the path's alphabet needs no quoting,
            // quoting anyway keeps it one word whatever changes later.
            let q = crate::exec::shell_quote(path);
            let checksum = remote.clone().arg(format!("sha256sum -- {q}"));
            let remove = remote.arg(format!("rm -f -- {q}"));
            (copy, checksum, remove)
        }
        Target::Docker { container, path } => {
            let docker = crate::exec::find_program("docker")?;
            let copy = Cmd::resolved(&docker)
                .args(["cp", "--"])
                .arg(local_s)
                .arg(format!("{container}:{path}"));
            let checksum = Cmd::resolved(&docker).args([
                "exec",
                "--",
                container.as_str(),
                "sha256sum",
                path.as_str(),
            ]);
            let remove = Cmd::resolved(&docker).args([
                "exec",
                "--",
                container.as_str(),
                "rm",
                "-f",
                path.as_str(),
            ]);
            (copy, checksum, remove)
        }
        Target::K8s {
            namespace,
            pod,
            container,
            path,
        } => {
            if local_s.to_string_lossy().contains(':') {
                return Err(Error::usage(format!(
                    "{}: kubectl cp reads a local path with ':' as a pod's; rename it",
                    local.display()
                )));
            }
            let kubectl = crate::exec::find_program("kubectl")?;
            let mut c_args: Vec<String> = vec!["-n".into(), namespace.clone()];
            if let Some(c) = container {
                c_args.extend(["-c".into(), c.clone()]);
            }
            let copy = Cmd::resolved(&kubectl)
                .arg("cp")
                .args(&c_args)
                .arg("--")
                .arg(local_s)
                .arg(format!("{pod}:{path}"));
            let exec = Cmd::resolved(&kubectl)
                .arg("exec")
                .args(&c_args)
                .arg(pod)
                .arg("--");
            let checksum = exec.clone().args(["sha256sum", path.as_str()]);
            let remove = exec.args(["rm", "-f", path.as_str()]);
            (copy, checksum, remove)
        }
    };
    Ok(Commands {
        copy: copy.timeout(timeout),
        checksum: checksum.timeout(timeout),
        remove: remove.timeout(timeout),
    })
}

/// The sha256 in `sha256sum`'s output (the first word, 64 hex).
pub fn parse_sha256sum(out: &str) -> Option<String> {
    let w = out.split_whitespace().next()?;
    let w = w.strip_prefix('\\').unwrap_or(w);
    (w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit())).then(|| w.to_ascii_lowercase())
}

/// A failed remote command as an error: unavailable (69), with its stderr.
pub fn remote_failed(what: &str, cmd: &Cmd, out: &crate::exec::Output) -> Error {
    let kind = if out.timed_out {
        ErrorKind::Temporary
    } else {
        ErrorKind::Unavailable
    };
    Error::new(
        kind,
        format!("{what} failed ({}): {}", out.status_text(), out.tail(3)),
    )
    .with_hint(format!(
        "run it by hand to see why: {} (ssh: is the key loaded and the host known? docker/kubectl: is the container running?)",
        cmd.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Target::parse("ssh://root@db.example:2222/var/tmp/b.tar").unwrap(),
            Target::Ssh {
                user: Some("root".into()),
                host: "db.example".into(),
                port: Some(2222),
                path: "/var/tmp/b.tar".into()
            }
        );
        assert_eq!(
            Target::parse("ssh://h/b").unwrap(),
            Target::Ssh {
                user: None,
                host: "h".into(),
                port: None,
                path: "/b".into()
            }
        );
        assert_eq!(
            Target::parse("docker://df-new/tmp/b.tar").unwrap(),
            Target::Docker {
                container: "df-new".into(),
                path: "/tmp/b.tar".into()
            }
        );
        assert_eq!(
            Target::parse("k8s://prod/df-0/app/tmp/b.tar").unwrap(),
            Target::K8s {
                namespace: "prod".into(),
                pod: "df-0".into(),
                container: Some("app".into()),
                path: "/tmp/b.tar".into()
            }
        );
        for (u, c, p) in [
            ("k8s://prod/df-0//tmp/b.tar", None, "/tmp/b.tar"),
            ("k8s://prod/df-0/b.tar", None, "/b.tar"),
        ] {
            match Target::parse(u).unwrap() {
                Target::K8s {
                    container, path, ..
                } => assert_eq!((container.as_deref(), path.as_str()), (c, p), "{u}"),
                t => panic!("{t:?}"),
            }
        }
    }

    #[test]
    fn injection_is_refused() {
        for u in [
            "ssh://-oProxyCommand=x/tmp/b",
            "ssh://-l@h/tmp/b",
            "ssh://h:0/tmp/b",
            "ssh://h:-1/tmp/b",
            "ssh://h/tmp/b;rm -rf",
            "ssh://h/tmp/$(id)",
            "ssh://h/tmp/a b",
            "ssh://h/tmp/'x",
            "ssh://h/../etc/x",
            "ssh://h/tmp/",
            "docker://-H=tcp/tmp/b",
            "docker://c/",
            "k8s://-n/p/tmp/b",
            "k8s://ns/--kubeconfig=x/tmp/b",
            "k8s://ns/p/-c/tmp/b",
            "ftp://h/b",
            "h:/tmp/b",
        ] {
            let e = Target::parse(u).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Usage, "{u}");
        }
    }

    #[test]
    fn sha256sum_output() {
        let h = "a".repeat(64);
        assert_eq!(parse_sha256sum(&format!("{h}  /tmp/x\n")), Some(h.clone()));
        assert_eq!(parse_sha256sum("sha256sum: /tmp/x: No such file"), None);
        assert_eq!(parse_sha256sum(""), None);
    }
}
