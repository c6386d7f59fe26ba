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
