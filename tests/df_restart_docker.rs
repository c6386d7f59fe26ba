//! df-restart `--via docker` against a real Docker daemon (design §6: dockerd of our own
//! with vfs storage and no network, a busybox image imported from a rootfs tar;
//! support::remote::Dockerd), not a stand-in.

mod support;

use std::process::Command;
use support::bins::{bin, run_command, Run};
use support::remote::Dockerd;

fn df_restart(dk: &Dockerd, args: &[&str]) -> Run {
    let mut c = Command::new(bin("df-restart"));
    c.args(args).env("DOCKER_HOST", &dk.host);
    run_command(c)
}

const STARTED: &str = "{{.State.StartedAt}}";

#[test]
fn restarts_a_real_container_and_a_missing_one_is_69() {
    let dk = Dockerd::start();
    // A web container stops on SIGTERM as php-fpm and nginx do (a bare `sleep` as PID 1
    // ignores it, and `docker restart` would wait its 10 s stop timeout to kill it).
    let web = "dfkit-web";
    dk.run_container(web, &["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]);
    let before = dk.inspect(web, STARTED).unwrap();
    let pid_before = dk.inspect(web, "{{.State.Pid}}").unwrap();
    let far_before = dk.inspect(&dk.container, STARTED).unwrap();

    let r = df_restart(&dk, &["--via", "docker", "--container", web, "--no-probe"]);
    r.assert_ok();
    assert!(r.changed());
    let d = r.data();
    assert_eq!(d["via"], "docker");
    assert_eq!(d["target"]["container"], web);
    let docker = which::which("docker").unwrap();
    assert_eq!(
        d["commands"],
        serde_json::json!([format!("{} restart {web}", docker.display())])
    );
    // The container really restarted: a new start time, a new process, running.
    let after = dk.inspect(web, STARTED).unwrap();
    assert_ne!(after, before, "StartedAt must change");
    assert!(after > before, "{after} after {before}");
    assert_ne!(dk.inspect(web, "{{.State.Pid}}").unwrap(), pid_before);
    assert_eq!(dk.inspect(web, "{{.State.Running}}").unwrap(), "true");
    // Only the named container.
    assert_eq!(dk.inspect(&dk.container, STARTED).unwrap(), far_before);

    // A container the daemon does not know: unavailable (69), nothing restarted.
    let r = df_restart(
        &dk,
        &[
            "--via",
            "docker",
            "--container",
            "dfkit-no-such",
            "--no-probe",
        ],
    );
    r.assert_code(69);
    assert_eq!(r.error_kind(), "unavailable");
    assert!(!r.changed());
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.contains("no container dfkit-no-such"), "{msg}");
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("docker ps -a"));
    assert_eq!(dk.inspect(web, STARTED).unwrap(), after);
    assert_eq!(dk.inspect(&dk.container, STARTED).unwrap(), far_before);
}
