//! df-restart and df-verify against Debian's real apache2 serving a sandbox install
//! through php-fpm with proxy_fcgi, started through its init script (no systemd here).
//!
//! The Apache is an instance of its own (Debian's multi-instance setup,
//! /etc/apache2-dfkitPID with /etc/init.d/apache2-dfkitPID, on a free port): the machine's
//! /etc/apache2 is never touched, and nginx tests are not in the way. php-fpm is the
//! machine's, shared with the nginx tests, so each test holds the machine lock
//! (support::web::ApacheBed).

mod support;

use serde_json::Value;
use std::process::Command;
use support::bins::{bin, run, run_command, Run};
use support::sandbox::V1_VERSION;
use support::web::*;

fn df_restart(args: &[&str]) -> Run {
    let mut c = Command::new(bin("df-restart"));
    c.args(args).env("PATH", SYS_PATH);
    run_command(c)
}

fn service<'a>(r: &'a Run, name: &str) -> &'a Value {
    r.data()["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no service {name} in {}", r.stdout))
}

#[track_caller]
fn assert_serves(bed: &ApacheBed) {
    let (status, body) = bed.get().expect("apache answers");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(V1_VERSION), "{body}");
}

/// One Apache for the whole story (a sandbox takes seconds to build): df-verify through
/// it, a refused broken configuration, a graceful reload, a restart.
#[test]
fn apache_through_its_init_script_verify_refuse_reload_restart() {
    let bed = ApacheBed::up();
    let apache = bed.service();
    let (a0, f0) = (bed.master_pid().unwrap(), fpm_pid().unwrap());

    // 1. df-verify, every check, with the site served by Apache.
    let root = bed.sandbox.root.to_str().unwrap();
    let v = run("df-verify", ["--root", root, "--url", &bed.url()]);
    v.assert_ok();
    let http = v.data()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "http")
        .unwrap();
    assert_eq!(http["status"], "pass");
    assert_eq!(
        http["detail"],
        format!("GET {} answered 200 with version {V1_VERSION}", bed.url())
    );

    // 2. A broken configuration is refused before anything restarts.
    bed.add_conf("broken", "DfkitNoSuchDirective on\n");

    let r = df_restart(&[
        "--via",
        "initd",
        "--service",
        &apache,
        "--service",
        fpm(),
        "--url",
        &bed.url(),
    ]);
    r.assert_code(78);
    assert_eq!(r.error_kind(), "config");
    assert!(!r.changed());
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!("{apache}: configuration test failed")),
        "{msg}"
    );
    let a = service(&r, &apache);
    assert_eq!(a["config_test"]["ok"], false);
    assert!(a["config_test"]["output_tail"]
        .as_str()
        .unwrap()
        .contains("Invalid command 'DfkitNoSuchDirective'"));
    assert_eq!(a["restarted"], false);
    // Only the failing test ran: nothing was restarted.
    assert_eq!(r.data()["commands"].as_array().unwrap().len(), 1);

    // The old masters still run and the site still answers.
    assert_eq!(bed.master_pid(), Some(a0));
    assert_eq!(fpm_pid(), Some(f0));
    assert_serves(&bed);

    // Fixed, a graceful reload keeps Apache's master and serves on.
    std::fs::remove_file(bed.confdir().join("conf.d/broken.conf")).unwrap();
    let r = df_restart(&[
        "--via",
        "initd",
        "--service",
        &apache,
        "--reload",
        "--url",
        &bed.url(),
    ]);
    r.assert_ok();
    assert_eq!(
        r.data()["commands"][1],
        format!("/etc/init.d/{apache} graceful")
    );
    let a = service(&r, &apache);
    assert_eq!(
        (a["pid_before"].as_i64(), a["pid_after"].as_i64()),
        (Some(a0.into()), Some(a0.into()))
    );
    assert_eq!(bed.master_pid(), Some(a0));
    assert_serves(&bed);

    // 3. The restart: new masters for both.
    let r = df_restart(&[
        "--via",
        "initd",
        "--service",
        &apache,
        "--service",
        fpm(),
        "--url",
        &bed.url(),
        "--expect-body",
        V1_VERSION,
    ]);
    r.assert_ok();
    assert!(r.changed());
    let d = r.data();
    assert_eq!(d["via"], "initd");
    // The configuration tests first (web server, then php-fpm), then php-fpm's restart,
    // then Apache's, each through its init script.
    assert_eq!(
        d["commands"],
        serde_json::json!([
            format!(
                "APACHE_CONFDIR=/etc/apache2-{} /usr/sbin/apache2ctl configtest",
                bed.instance
            ),
            v82("/usr/sbin/php-fpm8.2 -t"),
            v82("/etc/init.d/php8.2-fpm restart"),
            format!("/etc/init.d/{apache} restart"),
        ])
    );
    let a = service(&r, &apache);
    assert_eq!(a["kind"], "apache2");
    assert_eq!(a["config_test"]["ok"], true);
    assert!(a["config_test"]["output_tail"]
        .as_str()
        .unwrap()
        .contains("Syntax OK"));
    assert_eq!(a["restarted"], true);

    // New masters, as the report says, and the site answers through them.
    let (a1, f1) = (bed.master_pid().unwrap(), fpm_pid().unwrap());
    assert_ne!(a1, a0, "apache's master PID must change");
    assert_ne!(f1, f0, "php-fpm's master PID must change");
    assert!(
        std::fs::metadata(format!("/proc/{a0}")).is_err(),
        "old master gone"
    );
    assert_eq!(a["pid_before"], a0);
    assert_eq!(a["pid_after"], a1);
    assert_eq!(a["pid_changed"], true);
    let f = service(&r, fpm());
    assert_eq!(
        (f["pid_before"].as_i64(), f["pid_after"].as_i64()),
        (Some(f0.into()), Some(f1.into()))
    );
    let p = &d["probe"];
    assert_eq!(p["ok"], true);
    assert_eq!(p["last_status"], 200);
    assert_eq!(p["url"], bed.url());
    assert_serves(&bed);
}
