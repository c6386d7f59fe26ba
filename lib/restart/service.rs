//! One service: what it is called, how its configuration is tested, how it is reloaded,
//! and which process is its master.
//!
//! The master is the process named by the service's pid file, alive, of the service's
//! program, and whose parent is not of that program (a worker's parent is the master).
//! A process merely *named* nginx is never taken for the master: after the master died,
//! its orphaned `nginx: worker process` still runs under that name.

use std::path::PathBuf;

/// What kind of program a service is; decides its config test and its place in the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    /// Debian/Ubuntu's Apache; `Some("web2")` is the instance `apache2-web2` of Debian's
    /// multi-instance setup (/usr/share/doc/apache2/README.multiple-instances): its
    /// configuration in /etc/apache2-web2, init script /etc/init.d/apache2-web2, systemd
    /// unit apache2@web2, pid file /run/apache2-web2/apache2.pid.
    Apache2(Option<String>),
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
            Kind::Apache2(None) => "apache2".into(),
            Kind::Apache2(Some(i)) => format!("apache2-{i}"),
            Kind::Httpd => "httpd".into(),
            Kind::PhpFpm(Some(v)) => format!("php{v}-fpm"),
            Kind::PhpFpm(None) => "php-fpm".into(),
        }
    }

    /// The systemd unit: the [`Service::name`], except an Apache instance's `apache2@NAME`.
    pub fn unit(&self) -> String {
        match &self.kind {
            Kind::Apache2(Some(i)) => format!("apache2@{i}"),
            _ => self.name(),
        }
    }

    /// Environment the configuration test needs: an Apache instance's configuration
    /// directory (apache2ctl reads `APACHE_CONFDIR`, as the instance's init script sets it).
    pub fn config_env(&self) -> Option<(&'static str, String)> {
        match &self.kind {
            Kind::Apache2(Some(i)) => Some(("APACHE_CONFDIR", format!("/etc/apache2-{i}"))),
            _ => None,
        }
    }

    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            Kind::Nginx => "nginx",
            Kind::Apache2(_) => "apache2",
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
            Kind::Apache2(_) => ("apache2ctl".into(), vec!["configtest"]),
            Kind::Httpd => ("httpd".into(), vec!["-t"]),
            Kind::PhpFpm(Some(v)) => (format!("php-fpm{v}"), vec!["-t"]),
            Kind::PhpFpm(None) => ("php-fpm".into(), vec!["-t"]),
        }
    }

    /// The init-script / `service` / systemd verb of a graceful reload: nginx re-reads its
    /// configuration and replaces its workers as they finish (HUP); php-fpm re-executes
    /// its master keeping the listening socket (USR2); Apache's `graceful` lets children
    /// finish their requests (systemd's `reload` of apache2 is graceful too).
    pub fn reload_verb(&self, via_systemd: bool) -> &'static str {
        match self.kind {
            Kind::Apache2(_) | Kind::Httpd if !via_systemd => "graceful",
            _ => "reload",
        }
    }

    /// Whether a reload keeps the master's PID: nginx and Apache re-read their
    /// configuration in the same master; php-fpm re-executes its master, which, run as a
    /// daemon (as init scripts run it), forks anew: a new PID, the same listening socket.
    pub fn reload_keeps_pid(&self) -> bool {
        !matches!(self.kind, Kind::PhpFpm(_))
    }

    /// Where the master writes its PID (distribution defaults).
    pub fn pid_files(&self) -> Vec<PathBuf> {
        let v: Vec<String> = match &self.kind {
            Kind::Nginx => vec!["/run/nginx.pid".into(), "/var/run/nginx.pid".into()],
            Kind::Apache2(i) => {
                let suffix = i.as_deref().map(|i| format!("-{i}")).unwrap_or_default();
                vec![
                    format!("/run/apache2{suffix}/apache2.pid"),
                    format!("/var/run/apache2{suffix}/apache2.pid"),
                ]
            }
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
            Kind::Apache2(_) => "apache2".into(),
            _ => self.name(),
        }
    }

    /// The running master's PID: the one its pid file names, when that process is alive,
    /// runs the service's program, and is not a worker of another process of it. None
    /// when the service does not run (a stale pid file, or only orphaned workers left).
    pub fn master_pid(&self) -> Option<i32> {
        let comm = self.comm();
        self.pid_files()
            .iter()
            .filter_map(|f| read_pid_file(f))
            .find(|&pid| is_master(pid, &comm))
    }

    /// PIDs of processes of the service's program that are not its master: orphaned
    /// workers after a master died (reported, never taken for the master).
    pub fn strays(&self) -> Vec<i32> {
        let comm = self.comm();
        let master = self.master_pid();
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut v: Vec<i32> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&p| proc_comm(p).as_deref() == Some(comm.as_str()))
            .filter(|&p| Some(p) != master && proc_ppid(p) != master)
            .collect();
        v.sort_unstable();
        v
    }
}

fn read_pid_file(f: &std::path::Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(f).ok()?.trim().parse().ok()?;
    (pid > 0).then_some(pid)
}

/// `pid` runs `comm` and its parent does not (a worker's parent is its master).
fn is_master(pid: i32, comm: &str) -> bool {
    if proc_comm(pid).as_deref() != Some(comm) {
        return false;
    }
    match proc_ppid(pid) {
        Some(pp) => proc_comm(pp).as_deref() != Some(comm),
        None => false,
    }
}

pub(crate) fn proc_comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

pub(crate) fn proc_ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The comm field is in parentheses and may hold spaces: parse after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apache_instance_has_its_own_names_pid_file_and_confdir() {
        let i = Service {
            kind: Kind::Apache2(Some("web2".into())),
        };
        assert_eq!(i.name(), "apache2-web2");
        assert_eq!(i.unit(), "apache2@web2");
        assert_eq!(i.comm(), "apache2");
        assert_eq!(i.kind_str(), "apache2");
        assert_eq!(
            i.pid_files()[0],
            PathBuf::from("/run/apache2-web2/apache2.pid")
        );
        assert_eq!(
            i.config_env(),
            Some(("APACHE_CONFDIR", "/etc/apache2-web2".to_string()))
        );
        let main = Service {
            kind: Kind::Apache2(None),
        };
        assert_eq!(
            (main.name(), main.unit()),
            ("apache2".into(), "apache2".into())
        );
        assert_eq!(
            main.pid_files()[0],
            PathBuf::from("/run/apache2/apache2.pid")
        );
        assert_eq!(main.config_env(), None);
    }

    #[test]
    fn a_process_is_master_only_when_its_parent_is_not_of_its_program() {
        let me = std::process::id() as i32;
        let comm = proc_comm(me).unwrap();
        // The test process: its parent (cargo / the shell) runs another program.
        assert!(is_master(me, &comm));
        assert!(!is_master(me, "nginx"));
        // A dead PID is nobody's master.
        assert!(!is_master(i32::MAX, &comm));
    }

    #[test]
    fn reload_verbs() {
        let s = |kind| Service { kind };
        assert_eq!(s(Kind::Nginx).reload_verb(false), "reload");
        assert_eq!(s(Kind::Apache2(None)).reload_verb(false), "graceful");
        assert_eq!(s(Kind::Apache2(None)).reload_verb(true), "reload");
        assert_eq!(
            s(Kind::Apache2(Some("web2".into()))).reload_verb(false),
            "graceful"
        );
        assert_eq!(
            s(Kind::PhpFpm(Some("8.2".into()))).reload_verb(false),
            "reload"
        );
    }
}
