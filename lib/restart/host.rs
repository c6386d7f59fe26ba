//! Which services are installed here, how `auto` resolves, and how they are restarted
//! (`--via`).

use super::service::{Kind, Service};
use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};

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
            (Kind::Apache2(None), "apache2"),
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
    // Debian's Apache instances: apache2-NAME (init script), apache2@NAME (systemd unit).
    let apache_re = regex::Regex::new(r"^apache2[-@]([A-Za-z0-9][A-Za-z0-9_.-]*)$").expect("regex");
    let kind = match word {
        "auto" => return Ok(None),
        "nginx" => Kind::Nginx,
        "apache2" | "apache" => Kind::Apache2(None),
        "httpd" => Kind::Httpd,
        // Version left open: detection picks the installed one.
        "php-fpm" => Kind::PhpFpm(Some(String::new())),
        w => match (re.captures(w), apache_re.captures(w)) {
            (Some(c), _) => Kind::PhpFpm(Some(c[1].to_string())),
            (_, Some(c)) => Kind::Apache2(Some(c[1].to_string())),
            _ => {
                return Err(Error::usage(format!("unknown service {w:?}")).with_hint(
                    "use auto, nginx, apache2, apache2-NAME (an Apache instance), httpd, php-fpm or phpX.Y-fpm (e.g. php8.2-fpm)",
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

/// A program on PATH, or in the sbin directories PATH often lacks under cron and sudo.
pub fn find(name: &str) -> Option<PathBuf> {
    if let Some(p) = crate::exec::probe_program(name) {
        return Some(p);
    }
    ["/usr/sbin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
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
        let i = parse_service("apache2-web2").unwrap().unwrap();
        assert_eq!(i.kind, Kind::Apache2(Some("web2".into())));
        assert_eq!(parse_service("apache2@web2").unwrap().unwrap(), i);
        for bad in ["apache2-", "apache2--x", "apache2-a/b", "apache2-a b"] {
            assert_eq!(
                parse_service(bad).unwrap_err().kind,
                ErrorKind::Usage,
                "{bad}"
            );
        }
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
                kind: Kind::Apache2(None)
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
}
