//! The output contract, for every tool: a usage error is one JSON line with ok:false,
//! error.kind "usage" and exit 64; `--help` exits 0 and shows examples.

mod support;
use support::bins::{bin, run, TOOLS};

#[test]
fn usage_error_is_one_json_line_exit_64() {
    for tool in TOOLS {
        let r = run(tool, ["--no-such-flag-xyz"]);
        r.assert_code(64);
        assert_eq!(r.error_kind(), "usage", "{tool}");
        assert_eq!(r.json["tool"], tool);
        assert!(
            r.json["error"]["hint"]
                .as_str()
                .unwrap_or("")
                .contains("--help"),
            "{tool}: hint should point at --help"
        );
    }
}

#[test]
fn help_has_examples() {
    for tool in TOOLS {
        let out = std::process::Command::new(bin(tool))
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{tool} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Examples:"),
            "{tool} --help lacks examples:\n{text}"
        );
    }
}

#[test]
fn pretty_is_still_one_object() {
    let out = std::process::Command::new(bin("df-perms"))
        .args(["--pretty", "--no-such-flag-xyz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["ok"], false);
}

/// A hint is advice to act on: no `<PLACEHOLDER>` or `REMOTE/BRANCH`-style stand-in.
fn assert_no_placeholder(tool: &str, hint: &str) {
    assert!(
        !hint.contains('<') && !hint.contains('>') && !hint.contains('['),
        "{tool}: placeholder in hint {hint:?}"
    );
    let shouty = hint
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|w| w.len() > 1 && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
    assert!(!shouty, "{tool}: placeholder-like word in hint {hint:?}");
}

#[test]
fn missing_required_argument_is_named_in_msg() {
    let cases: [(&str, &[&str], &str); 5] = [
        ("df-dump-db", &["restore"], "--from"),
        ("df-dump-db", &["verify"], "--from"),
        ("df-backup-env", &["restore-key"], "--from"),
        ("df-backup-env", &["restore"], "--from"),
        ("df-git-update", &["rollback"], "--to"),
    ];
    for (tool, args, missing) in cases {
        let r = run(tool, args.iter().copied());
        r.assert_code(64);
        assert_eq!(r.error_kind(), "usage");
        let msg = r.json["msg"].as_str().unwrap();
        assert!(
            msg.contains(missing),
            "{tool} {args:?}: msg {msg:?} lacks {missing}"
        );
        assert_eq!(r.json["error"]["message"], msg);
        let hint = r.json["error"]["hint"].as_str().unwrap();
        let sub = format!("`{tool} {} --help`", args[0]);
        assert!(hint.contains(&sub), "{tool}: hint {hint:?} lacks {sub}");
        assert_no_placeholder(tool, hint);
    }
}

#[test]
fn usage_hints_have_no_placeholder() {
    for tool in TOOLS {
        let r = run(tool, ["--no-such-flag-xyz"]);
        assert_no_placeholder(tool, r.json["error"]["hint"].as_str().unwrap());
    }
}

/// Every duration flag: the tool, the arguments before the flag, and the flag.
const DURATION_FLAGS: [(&str, &[&str], &str); 6] = [
    ("df-artisan", &["status"], "--timeout"),
    ("df-git-update", &["status"], "--timeout"),
    // A named service: with both nginx and apache2 installed, `auto` asks which (64).
    (
        "df-restart",
        &["--no-probe", "--service", "nginx"],
        "--timeout",
    ),
    (
        "df-restart",
        &["--no-probe", "--service", "nginx"],
        "--restart-timeout",
    ),
    ("df-verify", &[], "--timeout"),
    ("df-verify", &["--only", "env"], "--timeout"),
];

#[test]
fn bad_durations_are_usage_errors_not_panics() {
    for (tool, before, flag) in DURATION_FLAGS {
        for bad in [
            "18446744073709551615",
            "0",
            "0s",
            "-1",
            "soon",
            "99999999999999999999d",
        ] {
            let mut args: Vec<String> = before.iter().map(|a| a.to_string()).collect();
            // `--flag=VALUE`: "-1" reaches the parser instead of looking like a flag.
            args.extend(["--dry-run".to_string(), format!("{flag}={bad}")]);
            let r = run(tool, args);
            r.assert_code(64);
            assert_eq!(r.error_kind(), "usage", "{tool} {flag} {bad}");
            let msg = r.json["msg"].as_str().unwrap();
            assert!(msg.contains(flag), "{tool} {flag} {bad}: msg {msg:?}");
            assert!(!msg.contains("panic"), "{tool}: {msg}");
        }
    }
}

#[test]
fn durations_accept_seconds_and_units() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    for (tool, before, flag) in DURATION_FLAGS {
        for good in ["30", "30s", "2m", "1.5", "500ms"] {
            let mut args: Vec<&str> = before.to_vec();
            // An empty root: the tool fails past argument parsing (no install), and
            // --dry-run keeps df-restart from touching this machine's services.
            args.extend(["--dry-run", "--root", root, flag, good]);
            let r = run(tool, args);
            assert_ne!(r.code, 64, "{tool} {flag} {good}: {}", r.stdout);
            assert_ne!(r.error_kind(), "usage", "{tool} {flag} {good}");
        }
    }
}

/// Every child goes through lib/exec (own process group, deadline, group kill, masked
/// display): nothing else in lib/ or tools/ spawns a process.
#[test]
fn only_exec_spawns_processes() {
    // Every module runs children through lib/exec (Cmd::run / Cmd::start).
    const PENDING: &[&str] = &[];
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut stack = vec![base.join("lib"), base.join("tools")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if p.extension().is_none_or(|x| x != "rs")
                || rel.starts_with("lib/exec")
                || PENDING.iter().any(|x| rel.starts_with(x))
            {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains("Command::new") || code.contains(".spawn()") {
                    found.push(format!("{rel}:{}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "spawns outside lib/exec:\n{}",
        found.join("\n")
    );
}
