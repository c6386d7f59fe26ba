//! Fleet tests: scripts/ansible/ and scripts/salt/ run for real by ansible-core and salt
//! from PyPI, in the virtualenv scripts/fleet-venv.sh makes once under target/ (`make
//! test` starts it in the background; the script's lock makes every caller wait for the
//! one install). Hosts are sandbox installs on localhost, each with its own root, lock
//! directory and backup sets.

use super::sandbox::Sandbox;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// This checkout.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of the built tools (every tool's sibling).
pub fn bin_dir() -> PathBuf {
    super::bins::bin("df-upgrade")
        .parent()
        .expect("tools' directory")
        .to_path_buf()
}

/// The virtualenv (made, or waited for, on first use).
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let out = Command::new(repo().join("scripts/fleet-venv.sh"))
            .output()
            .expect("spawn scripts/fleet-venv.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "scripts/fleet-venv.sh failed ({})\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = PathBuf::from(stdout.lines().last().expect("venv path").trim());
        assert!(dir.join("bin/python").exists(), "{}", dir.display());
        dir
    })
}

/// One managed host: a sandbox at v1 (origin's master at v2).
pub struct Host {
    pub name: String,
    pub sb: Sandbox,
    pub locks: PathBuf,
    pub sets: PathBuf,
    pub events: PathBuf,
}

impl Host {
    pub fn new(name: &str) -> Host {
        let sb = Sandbox::new("sqlite", None);
        let t = sb.tmp.path().to_path_buf();
        std::fs::create_dir_all(t.join("events")).unwrap();
        Host {
            name: name.to_string(),
            sb,
            locks: t.join("locks"),
            sets: t.join("sets"),
            events: t.join("events"),
        }
    }

    /// Inventory host vars: its root, its lock directory, and df-upgrade arguments that
    /// keep everything in its temp dir (`run_label`, an extra var, names each run's set
    /// and events file).
    pub fn vars(&self) -> Value {
        json!({
            "dfkit_root": self.sb.root,
            "dfkit_environment": {"DFKIT_LOCK_DIR": self.locks},
            "dfkit_upgrade_args": [
                "--skip", "restart",
                "--user", "www-data", "--group", "www-data",
                "--into", format!("{}/{{{{ run_label }}}}", self.sets.display()),
                "--events", format!("{}/{{{{ run_label }}}}.jsonl", self.events.display()),
            ],
        })
    }

    /// The events df-upgrade wrote in run `label` (empty when it did not run).
    pub fn events(&self, label: &str) -> Vec<Value> {
        let p = self.events.join(format!("{label}.jsonl"));
        match std::fs::read_to_string(&p) {
            Ok(s) => s
                .lines()
                .map(|l| serde_json::from_str(l).expect("an events line is JSON"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The steps that ended, as (name, skipped, changed) from run `label`'s events.
    pub fn steps(&self, label: &str) -> Vec<(String, bool, bool)> {
        self.events(label)
            .iter()
            .filter(|e| e["event"] == "step_end")
            .map(|e| {
                (
                    e["step"].as_str().unwrap().to_string(),
                    e["skipped"] == true,
                    e["changed"] == true,
                )
            })
            .collect()
    }

    /// The summary event of run `label`.
    pub fn summary(&self, label: &str) -> Value {
        self.events(label)
            .into_iter()
            .rfind(|e| e["event"] == "summary")
            .unwrap_or_else(|| panic!("{}: no summary in run {label}", self.name))
    }
}

/// Write an inventory (JSON is YAML) with `hosts` in group `dreamfactory`, all on
/// localhost, Python from the virtualenv (interpreter discovery may find a broken shim).
pub fn inventory(dir: &Path, hosts: &[&Host], group_vars: Value) -> PathBuf {
    let mut vars = json!({
        "ansible_connection": "local",
        "ansible_python_interpreter": venv().join("bin/python"),
        "dfkit_bin_dir": bin_dir(),
    });
    for (k, v) in group_vars.as_object().expect("group vars object") {
        vars[k] = v.clone();
    }
    let hosts: serde_json::Map<String, Value> =
        hosts.iter().map(|h| (h.name.clone(), h.vars())).collect();
    let inv = json!({"dreamfactory": {"hosts": hosts, "vars": vars}});
    let p = dir.join("inventory.yml");
    std::fs::write(&p, serde_json::to_string_pretty(&inv).unwrap()).unwrap();
    p
}

/// One finished ansible-playbook run: exit code and everything it printed.
#[derive(Debug)]
pub struct Play {
    pub code: i32,
    pub out: String,
}

impl Play {
    /// PLAY RECAP: host → counter → value (ok, changed, failed, rescued, …).
    pub fn recap(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        let Some((_, tail)) = self.out.split_once("PLAY RECAP") else {
            return out;
        };
        for line in tail.lines().skip(1) {
            let Some((host, counts)) = line.split_once(" : ") else {
                continue;
            };
            let counts = counts
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                .collect();
            out.insert(host.trim().to_string(), counts);
        }
        out
    }

    /// One counter of one host's recap line.
    #[track_caller]
    pub fn count(&self, host: &str, counter: &str) -> u64 {
        self.recap()
            .get(host)
            .and_then(|c| c.get(counter).copied())
            .unwrap_or_else(|| panic!("no {counter} for {host} in the recap:\n{}", self.out))
    }
}

/// Run scripts/ansible/PLAYBOOK with `inventory` and `args` (before it: a further
/// playbook may end them), in `dir` (Ansible's home,
/// temp and working directory, so no ansible.cfg or state from elsewhere gets in).
pub fn ansible_playbook(dir: &Path, playbook: &str, inventory: &Path, args: &[&str]) -> Play {
    let v = venv();
    let home = dir.join("ansible-home");
    std::fs::create_dir_all(&home).unwrap();
    let cfg = dir.join("ansible.cfg");
    std::fs::write(&cfg, "[defaults]\n").unwrap();
    let out = Command::new(v.join("bin/ansible-playbook"))
        .arg("-i")
        .arg(inventory)
        .args(args)
        .arg(repo().join("scripts/ansible").join(playbook))
        .current_dir(dir)
        .env("ANSIBLE_HOME", &home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_REMOTE_TEMP", home.join("remote-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("ANSIBLE_STDOUT_CALLBACK", "default")
        .env("ANSIBLE_CONFIG", &cfg)
        .env_remove("DFKIT_TOOLS_DIR")
        .output()
        .expect("spawn ansible-playbook");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Play {
        code: out.status.code().unwrap_or(-1),
        out: text,
    }
}

/// A directory for `salt-call --local -c DIR`: a minion file keeping everything (cache,
/// pki, sockets, log) under DIR, with file_roots at scripts/salt.
pub fn salt_config(dir: &Path) -> PathBuf {
    let c = dir.join("salt");
    std::fs::create_dir_all(&c).unwrap();
    let minion = json!({
        "id": "dfkit-test",
        "file_client": "local",
        "root_dir": c.join("root"),
        "cachedir": c.join("cache"),
        "pki_dir": c.join("pki"),
        "sock_dir": c.join("sock"),
        "log_file": c.join("minion.log"),
        "file_roots": {"base": [repo().join("scripts/salt")]},
    });
    std::fs::write(
        c.join("minion"),
        serde_json::to_string_pretty(&minion).unwrap(),
    )
    .unwrap();
    c
}

/// `salt-call --local -c CONFIG --out=json --retcode-passthrough ARGS`: exit code and the
/// one state's return (name, result, comment, changes).
pub fn salt_call(config: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(venv().join("bin/salt-call"))
        .args(["--local", "-c"])
        .arg(config)
        .args(["--out=json", "--retcode-passthrough", "--log-level=quiet"])
        .args(args)
        .env_remove("DFKIT_TOOLS_DIR")
        .output()
        .expect("spawn salt-call");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "salt-call printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let states = v["local"].as_object().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(states.len(), 1, "one state: {v}");
    (
        out.status.code().unwrap_or(-1),
        states.values().next().unwrap().clone(),
    )
}
