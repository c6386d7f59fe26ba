//! docs/json.md and the typed reports stay in step: every field of every tool's `data`
//! type (recursively, through nested types) is named in that tool's section of
//! docs/json.md as `` `field` `` (or, for shapes every tool shares, before the first
//! tool's section).

use serde_json::Value;
use std::collections::BTreeSet;

fn property_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(props)) = m.get("properties") {
                for (name, sub) in props {
                    out.insert(name.clone());
                    property_names(sub, out);
                }
            }
            for (k, sub) in m {
                if k != "properties" {
                    property_names(sub, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| property_names(x, out)),
        _ => {}
    }
}

/// The text of `## TOOL` up to the next `## ` heading.
fn section<'a>(doc: &'a str, tool: &str) -> &'a str {
    let head = format!("\n## {tool}");
    let start = doc
        .find(&head)
        .unwrap_or_else(|| panic!("docs/json.md has no `## {tool}` section"));
    let rest = &doc[start + head.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_data_field_is_documented_in_its_tools_section() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md"))
        .expect("docs/json.md");
    // Shapes shared by every tool (data.plan's items, row-count mismatches) are documented
    // once, before the first tool's section.
    let common = &doc[..doc.find("\n## df-").expect("a tool section")];
    let mut missing = Vec::new();
    for (tool, sub, schema) in dfkit::report::data::schemas() {
        let text = section(&doc, tool);
        let mut names = BTreeSet::new();
        property_names(schema.as_value(), &mut names);
        for n in names {
            let quoted = format!("`{n}`");
            if !text.contains(&quoted) && !common.contains(&quoted) {
                missing.push(format!("{tool} {sub}: `{n}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields of the typed reports that docs/json.md does not name:\n{}",
        missing.join("\n")
    );
}
