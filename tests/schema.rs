//! `df-TOOL --schema`: every tool prints a JSON Schema of its whole report that compiles,
//! accepts the tool's real reports (every test does that through support::bins) and
//! rejects what the contract forbids.

mod support;
use serde_json::{json, Value};
use support::bins::{bin, run, validate_report, TOOLS};

fn schema(tool: &str, args: &[&str]) -> Value {
    let out = std::process::Command::new(bin(tool))
        .args(args)
        .arg("--schema")
        .output()
        .unwrap();
    assert!(out.status.success(), "{tool} {args:?} --schema");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_tool_prints_its_schema_whatever_it_requires() {
    for tool in TOOLS {
        let s = schema(tool, &[]);
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{tool}"
        );
        assert_eq!(s["properties"]["tool"]["const"], tool);
        for key in [
            "ok", "failed", "changed", "msg", "comment", "data", "warnings",
        ] {
            assert!(
                s["required"].as_array().unwrap().contains(&json!(key)),
                "{tool}: {key} not required"
            );
        }
        // A usage error is a report too, and validates (run() checks it).
        run(tool, ["--no-such-flag-xyz"]).assert_code(64);
    }
    // A subcommand narrows data to its type, even when its required flags are missing.
    let s = schema("df-dump-db", &["restore"]);
    assert_eq!(
        s["then"]["properties"]["data"]["$ref"],
        "#/$defs/data.restore"
    );
    let all = schema("df-dump-db", &[]);
    let ok_data = all["then"]["properties"]["data"]["anyOf"]
        .as_array()
        .unwrap();
    assert_eq!(ok_data.len(), 3);
}

type Breaker = Box<dyn Fn(&mut Value)>;

/// A real report, then the same report broken in the ways the contract forbids: each
/// must fail validation.
#[test]
fn the_schema_rejects_what_the_contract_forbids() {
    let r = run("df-perms", ["--root", "/nonexistent-dfkit-root"]);
    r.assert_code(66);
    let good = r.json.clone();
    validate_report(&good, &[]);
    // A failure on a malformed .env carries where it went wrong.
    let mut parse = good.clone();
    parse["data"] = json!({"file": "/x/.env", "line": 3});
    validate_report(&parse, &[]);

    let broken: Vec<(&str, Breaker)> = vec![
        ("unknown envelope key", Box::new(|v| v["extra"] = json!(1))),
        (
            "unknown data key",
            Box::new(|v| v["data"]["bogus"] = json!(1)),
        ),
        (
            "ok:false without error",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("error");
            }),
        ),
        ("failed == ok", Box::new(|v| v["failed"] = json!(false))),
        (
            "unknown error kind",
            Box::new(|v| v["error"]["kind"] = json!("oops")),
        ),
        (
            "another tool's name",
            Box::new(|v| v["tool"] = json!("df-x")),
        ),
        (
            "a wrong type in data",
            Box::new(|v| v["data"]["scanned"] = json!("many")),
        ),
    ];
    for (what, f) in broken {
        let mut v = good.clone();
        f(&mut v);
        let res = std::panic::catch_unwind(|| validate_report(&v, &[]));
        assert!(res.is_err(), "a report with {what} validated: {v}");
    }
}
