//! scripts/ansible/ run for real: ansible-core from PyPI (scripts/fleet-venv.sh) drives
//! the upgrade playbook and the tool playbook against sandbox installs, as inventory
//! hosts on localhost (`ansible_connection: local`), each with its own root. Asserts on
//! what the hosts look like afterwards (HEAD, migrations, files, owners) and on what
//! Ansible reports (PLAY RECAP, the tool's msg on failure).

mod support;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use support::fleet::{ansible_playbook, inventory, Host};
use support::sandbox::{V1_VERSION, V2_VERSION};
use support::upgrade::{full_dump, install_listing, push_failing_v3};

/// What check mode must leave alone: HEAD, the install's files, the database, .env.
fn snapshot(h: &Host) -> (String, BTreeMap<String, String>, String, Vec<u8>) {
    (
        h.sb.head(),
        install_listing(&h.sb.root),
        full_dump(&h.sb, None),
        std::fs::read(h.sb.env_path()).unwrap(),
    )
}

#[track_caller]
fn assert_at_v2(h: &Host) {
    assert_eq!(h.sb.head(), h.sb.tag_commit("v2"), "{} HEAD", h.name);
    assert_eq!(h.sb.version(), V2_VERSION, "{}", h.name);
    let status = h.sb.artisan_ok(&["migrate:status"]);
    assert!(status.contains("create_app_table"), "{}: {status}", h.name);
    assert!(
        !status.contains("| No "),
        "{}: nothing pending: {status}",
        h.name
    );
}

/// Check mode, then the rolling upgrade, then again: --check reports would-change on both
/// hosts and changes nothing; the real run goes one host per batch (serial 1, h1's run
/// over before h2's began) and leaves both at v2 with v2's migration applied; the third
/// run is changed on neither.
#[test]
fn rolling_upgrade_check_then_changed_then_unchanged() {
    let (h1, h2) = (Host::new("h1"), Host::new("h2"));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &[&h1, &h2], serde_json::json!({}));

    let before = [snapshot(&h1), snapshot(&h2)];
    let p = ansible_playbook(
        dir.path(),
        "upgrade.yml",
        &inv,
        &["--check", "-e", "run_label=check"],
    );
    assert_eq!(p.code, 0, "{}", p.out);
    for (h, b) in [&h1, &h2].into_iter().zip(&before) {
        assert_eq!(p.count(&h.name, "changed"), 1, "would change\n{}", p.out);
        assert_eq!(p.count(&h.name, "failed"), 0, "{}", p.out);
        let s = h.summary("check");
        assert!(
            s["msg"].as_str().unwrap().starts_with("would upgrade"),
            "{s}"
        );
        assert_eq!(&snapshot(h), b, "{}: check mode changed nothing", h.name);
        assert!(
            !h.sets.join("check").exists(),
            "no backup set in check mode"
        );
    }

    let p = ansible_playbook(dir.path(), "upgrade.yml", &inv, &["-e", "run_label=one"]);
    assert_eq!(p.code, 0, "{}", p.out);
    for h in [&h1, &h2] {
        assert_eq!(p.count(&h.name, "changed"), 1, "{}", p.out);
        assert_at_v2(h);
        let s = h.summary("one");
        assert_eq!(
            (s["ok"].clone(), s["changed"].clone()),
            (true.into(), true.into())
        );
        assert!(
            h.steps("one")
                .iter()
                .any(|(n, skipped, _)| n == "migrate" && !skipped),
            "{} migrated",
            h.name
        );
    }
    // serial: one batch per host, in inventory order, the second after the first ended.
    assert_eq!(
        p.out.matches("TASK [dfkit : df-upgrade]").count(),
        2,
        "{}",
        p.out
    );
    let (first, second) = (p.out.find("changed: [h1]"), p.out.find("changed: [h2]"));
    assert!(first.unwrap() < second.unwrap(), "{}", p.out);
    let h1_end = h1.summary("one")["at"].as_str().unwrap().to_string();
    let h2_start = h2.events("one")[0]["at"].as_str().unwrap().to_string();
    assert!(h1_end <= h2_start, "h1 ended {h1_end}, h2 began {h2_start}");

    let p = ansible_playbook(dir.path(), "upgrade.yml", &inv, &["-e", "run_label=two"]);
    assert_eq!(p.code, 0, "{}", p.out);
    for h in [&h1, &h2] {
        assert_eq!(p.count(&h.name, "changed"), 0, "{}", p.out);
        assert_eq!(p.count(&h.name, "ok"), 1, "{}", p.out);
        assert_at_v2(h);
        assert!(!h.sets.join("two").exists(), "a no-op run makes no set");
    }
}

/// h1's release fails halfway through its migration: df-upgrade rolls h1 back, the play
/// fails with df-upgrade's own msg in Ansible's output, and the rollout stops there: h2
/// (next batch) is never touched.
#[test]
fn failing_host_stops_the_rollout_with_the_tools_msg() {
    let (h1, h2) = (Host::new("h1"), Host::new("h2"));
    push_failing_v3(&h1.sb);
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &[&h1, &h2], serde_json::json!({}));
    let h2_before = snapshot(&h2);

    let p = ansible_playbook(dir.path(), "upgrade.yml", &inv, &["-e", "run_label=bad"]);
    assert_eq!(p.code, 2, "a failed host fails the play\n{}", p.out);
    let s = h1.summary("bad");
    assert_eq!(s["ok"], false, "{s}");
    assert_eq!(s["failed_step"], "migrate", "{s}");
    let msg = s["msg"].as_str().unwrap();
    assert!(!msg.is_empty());
    assert!(
        p.out
            .contains(&format!("df-upgrade failed on h1 (exit 1): {msg}")),
        "the tool's msg ({msg}) in Ansible's output:\n{}",
        p.out
    );
    assert_eq!(p.count("h1", "failed"), 1, "{}", p.out);
    assert!(!p.recap().contains_key("h2"), "h2 never ran\n{}", p.out);
    assert!(h2.events("bad").is_empty());
    assert_eq!(snapshot(&h2), h2_before, "h2 untouched");
    // h1 rolled back by df-upgrade: old code, version, no half-made table.
    assert_eq!(h1.sb.head(), h1.sb.tag_commit("v1"));
    assert_eq!(h1.sb.version(), V1_VERSION);
    assert_eq!(
        h1.sb
            .sqlite("SELECT count(*) FROM sqlite_master WHERE name = 'v3_half'")
            .trim(),
        "0"
    );
    assert!(!h1.sb.root.join("storage/framework/down").exists());
}

/// Two nodes sharing one database (h2's .env points at h1's SQLite file): only the
/// first host migrates; h2 runs df-upgrade --no-migrate (its migrate step is skipped) and
/// finds the shared database already at v2's schema.
#[test]
fn shared_database_migrates_on_one_host() {
    let (h1, h2) = (Host::new("h1"), Host::new("h2"));
    let shared = h1.sb.sqlite_path();
    let mut env = std::fs::read_to_string(h2.sb.env_path()).unwrap();
    env.push_str(&format!("DB_DATABASE={}\n", shared.display()));
    std::fs::write(h2.sb.env_path(), env).unwrap();
    let h2_own_db = std::fs::read(h2.sb.sqlite_path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(
        dir.path(),
        &[&h1, &h2],
        serde_json::json!({"dfkit_shared_database": true}),
    );

    let p = ansible_playbook(dir.path(), "upgrade.yml", &inv, &["-e", "run_label=one"]);
    assert_eq!(p.code, 0, "{}", p.out);
    let migrate = |h: &Host| {
        h.steps("one")
            .into_iter()
            .find(|(n, _, _)| n == "migrate")
            .unwrap_or_else(|| panic!("{}: no migrate step: {:?}", h.name, h.steps("one")))
    };
    assert_eq!(migrate(&h1), ("migrate".into(), false, true), "h1 migrated");
    assert!(migrate(&h2).1, "h2 skipped migrate: {:?}", h2.steps("one"));
    for h in [&h1, &h2] {
        assert_eq!(p.count(&h.name, "changed"), 1, "{}", p.out);
        assert_at_v2(h);
    }
    // h2's own file was never used: the migration went to the shared database, once.
    assert_eq!(std::fs::read(h2.sb.sqlite_path()).unwrap(), h2_own_db);
    assert_eq!(
        h1.sb
            .sqlite("SELECT count(*) FROM migrations WHERE migration LIKE '%create_app_table'")
            .trim(),
        "1"
    );
}

/// tool.yml runs one tool per host: df-perms in check mode would change and changes
/// nothing; for real it gives storage/ to www-data.
#[test]
fn single_tool_playbook_runs_df_perms() {
    let h1 = Host::new("h1");
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(
        dir.path(),
        &[&h1],
        serde_json::json!({
            "dfkit_tool": "df-perms",
            "dfkit_tool_args": ["--user", "www-data", "--group", "www-data"],
        }),
    );
    let www = nix::unistd::User::from_name("www-data").unwrap().unwrap();
    let owner = || {
        std::fs::metadata(h1.sb.root.join("storage/logs"))
            .unwrap()
            .uid()
    };
    assert_ne!(owner(), www.uid.as_raw());

    let p = ansible_playbook(dir.path(), "tool.yml", &inv, &["--check"]);
    assert_eq!(p.code, 0, "{}", p.out);
    assert_eq!(p.count("h1", "changed"), 1, "{}", p.out);
    assert_ne!(owner(), www.uid.as_raw(), "check mode changed nothing");

    let p = ansible_playbook(dir.path(), "tool.yml", &inv, &[]);
    assert_eq!(p.code, 0, "{}", p.out);
    assert_eq!(p.count("h1", "changed"), 1, "{}", p.out);
    assert!(p.out.contains("TASK [dfkit : df-perms]"), "{}", p.out);
    assert_eq!(owner(), www.uid.as_raw());
}

/// The example inventory and both playbooks parse, and the example says what it means:
/// three hosts in group dreamfactory sharing one database.
#[test]
fn example_inventory_and_playbooks_parse() {
    let dir = tempfile::tempdir().unwrap();
    let example = support::fleet::repo().join("scripts/ansible/inventory/example.yml");
    let tool = support::fleet::repo().join("scripts/ansible/tool.yml");
    let tool = tool.to_str().unwrap();
    let p = ansible_playbook(
        dir.path(),
        "upgrade.yml",
        &example,
        &["--syntax-check", tool],
    );
    assert_eq!(p.code, 0, "{}", p.out);
    assert!(
        p.out.contains("upgrade.yml") && p.out.contains("tool.yml"),
        "{}",
        p.out
    );
    let out = std::process::Command::new(support::fleet::venv().join("bin/ansible-inventory"))
        .arg("-i")
        .arg(&example)
        .arg("--list")
        .env("ANSIBLE_HOME", dir.path().join("ansible-home"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        inv["dreamfactory"]["hosts"].as_array().unwrap().len(),
        3,
        "{inv}"
    );
    let web1 = &inv["_meta"]["hostvars"]["web1.example.com"];
    assert_eq!(web1["dfkit_shared_database"], true, "{inv}");
    assert_eq!(web1["dfkit_root"], "/opt/dreamfactory", "{inv}");
}
