//! `df-TOOL --schema`: the JSON Schema (draft 2020-12) of a tool's whole report.
//!
//! The schema is generated from the typed reports: the envelope from [`Report`], `data`
//! from the tool's types in [`super::data`] (one per subcommand, through
//! [`super::data::schemas`]). For a tool with subcommands `data` is any one of them;
//! `df-TOOL SUBCOMMAND --schema` narrows it to that subcommand's type.
//!
//! The schema is strict where the types are: every object that lists its properties
//! accepts no others (`additionalProperties: false`), `tool` is the tool's own name,
//! `error.kind` is one of the kinds of [`crate::error::ErrorKind`], and `error` is
//! present exactly when `ok` is false. A failed run that stopped on a malformed .env
//! may carry [`super::data::EnvParseErrorData`] as `data` instead. A failed run's `data` (what was gathered before
//! the failure, `{}` for a usage error) validates against the same types, which give
//! every field a default.

use super::Report;
use crate::error::ErrorKind;
use serde_json::{json, Map, Value};

/// The subcommands of `tool` that have a report type, in the registry's order
/// (`[""]` for a tool without subcommands; empty for an unknown tool). Entries that
/// describe files rather than reports (`env.meta.json`) are not subcommands.
pub fn subcommands(tool: &str) -> Vec<&'static str> {
    super::data::schemas()
        .into_iter()
        .filter(|(t, sub, _)| *t == tool && !sub.contains('.'))
        .map(|(_, sub, _)| sub)
        .collect()
}

/// The schema of `tool`'s report, `data` narrowed to `sub` when it names one of the
/// tool's subcommands. `None` for a tool the registry does not know.
pub fn report_schema(tool: &str, sub: Option<&str>) -> Option<Value> {
    let all: Vec<(&str, Value)> = super::data::schemas()
        .into_iter()
        .filter(|(t, s, _)| *t == tool && !s.contains('.'))
        .map(|(_, s, schema)| (s, schema.to_value()))
        .collect();
    if all.is_empty() {
        return None;
    }
    let chosen: Vec<(&str, Value)> = match sub {
        Some(s) if all.iter().any(|(n, _)| *n == s) => {
            all.into_iter().filter(|(n, _)| *n == s).collect()
        }
        _ => all,
    };

    let mut root = schemars::schema_for!(Report<Value>).to_value();
    let mut defs = take_defs(&mut root);
    let mut refs = Vec::new();
    for (name, mut schema) in chosen {
        let mut sub_defs = take_defs(&mut schema);
        // A definition whose name another subcommand already uses for a different type
        // gets a free name; this schema's refs (and its definitions' refs) follow it.
        let renames: Vec<(String, String)> = sub_defs
            .iter()
            .map(|(k, v)| (k.clone(), free_key(&defs, k, v)))
            .filter(|(k, key)| k != key)
            .collect();
        for (from, to) in &renames {
            rename_refs(&mut schema, from, to);
            sub_defs.values_mut().for_each(|d| rename_refs(d, from, to));
        }
        for (k, v) in sub_defs {
            let key = renames
                .iter()
                .find(|(from, _)| *from == k)
                .map_or(k, |(_, to)| to.clone());
            defs.insert(key, v);
        }
        if let Value::Object(m) = &mut schema {
            m.remove("$schema");
        }
        let key = if name.is_empty() {
            "data".to_string()
        } else {
            format!("data.{name}")
        };
        defs.insert(key.clone(), schema);
        refs.push(json!({ "$ref": format!("#/$defs/{key}") }));
    }

    let title = match sub {
        Some(s) if !s.is_empty() && refs.len() == 1 => format!("{tool} {s} report"),
        _ => format!("{tool} report"),
    };
    let props = root["properties"]
        .as_object_mut()
        .expect("envelope properties");
    props.insert("tool".into(), json!({"const": tool}));
    let tool_data = if refs.len() == 1 {
        refs.pop().unwrap_or(Value::Null)
    } else {
        json!({ "anyOf": refs })
    };
    let tool_data_then = tool_data.clone();
    // A failed run's data may instead be where a malformed .env went wrong.
    let mut env_err = schemars::schema_for!(super::data::EnvParseErrorData).to_value();
    if let Value::Object(m) = &mut env_err {
        m.remove("$schema");
    }
    defs.insert("EnvParseErrorData".into(), env_err);
    props.insert(
        "data".into(),
        json!({"anyOf": [tool_data, {"$ref": "#/$defs/EnvParseErrorData"}]}),
    );
    props.insert("error".into(), json!({"$ref": "#/$defs/ErrorReport"}));
    if let Some(Value::Object(e)) = defs.get_mut("ErrorReport") {
        let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        e["properties"]["kind"]["enum"] = json!(kinds);
    }
    if let Some(Value::Array(req)) = root.get_mut("required") {
        req.push(json!("warnings"));
    }
    // Closed before the if/then/else below, whose partial objects must stay open.
    close_objects(&mut root);
    let m = root.as_object_mut().expect("envelope is an object");
    m.insert("title".into(), json!(title));
    m.insert(
        "description".into(),
        json!(format!(
            "One {tool} report: the envelope (docs/json.md) with the tool's typed data."
        )),
    );
    // error exactly when ok is false; failed is !ok.
    m.insert(
        "if".into(),
        json!({"properties": {"ok": {"const": true}}, "required": ["ok"]}),
    );
    m.insert(
        "then".into(),
        json!({
            "properties": {"failed": {"const": false}, "data": tool_data_then},
            "not": {"required": ["error"]}
        }),
    );
    m.insert(
        "else".into(),
        json!({"properties": {"failed": {"const": true}}, "required": ["error"]}),
    );
    let mut defs = Value::Object(defs);
    close_objects(&mut defs);
    m.insert("$defs".into(), defs);
    // Readers look at the top first: $schema, title, description, then the rest.
    let mut ordered = Map::new();
    for k in ["$schema", "title", "description"] {
        if let Some(v) = m.remove(k) {
            ordered.insert(k.into(), v);
        }
    }
    ordered.append(m);
    Some(Value::Object(ordered))
}

/// Remove and return a schema's `$defs`.
fn take_defs(schema: &mut Value) -> Map<String, Value> {
    match schema.as_object_mut().and_then(|m| m.remove("$defs")) {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    }
}

/// `name`, or `name_2`, `name_3`, … when `defs` holds a different schema under it.
fn free_key(defs: &Map<String, Value>, name: &str, schema: &Value) -> String {
    let mut key = name.to_string();
    let mut n = 1;
    while let Some(existing) = defs.get(&key) {
        if existing == schema {
            break;
        }
        n += 1;
        key = format!("{name}_{n}");
    }
    key
}

/// Point every `$ref` to `#/$defs/from` at `#/$defs/to`.
fn rename_refs(v: &mut Value, from: &str, to: &str) {
    let old = format!("#/$defs/{from}");
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "$ref" && x.as_str() == Some(old.as_str()) {
                    *x = json!(format!("#/$defs/{to}"));
                } else {
                    rename_refs(x, from, to);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename_refs(x, from, to)),
        _ => {}
    }
}

/// Every object schema that lists its `properties` and says nothing of others accepts no
/// others: a field the types do not know fails validation.
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("properties").is_some_and(Value::is_object)
                && !m.contains_key("additionalProperties")
            {
                m.insert("additionalProperties".into(), json!(false));
            }
            m.values_mut().for_each(close_objects);
        }
        Value::Array(a) => a.iter_mut().for_each(close_objects),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_schema_with_its_name_and_closed_data() {
        for tool in [
            "df-artisan",
            "df-backup-env",
            "df-dump-db",
            "df-git-update",
            "df-migrate",
            "df-perms",
            "df-restart",
            "df-upgrade",
            "df-verify",
        ] {
            let s = report_schema(tool, None).expect(tool);
            assert_eq!(s["properties"]["tool"]["const"], tool);
            assert_eq!(s["additionalProperties"], false);
            let text = s.to_string();
            // Every $ref resolves inside the document.
            for r in text.split("\"$ref\":\"#/$defs/").skip(1) {
                let name = &r[..r.find('"').unwrap()];
                assert!(
                    s["$defs"].get(name).is_some(),
                    "{tool}: dangling ref {name}"
                );
            }
        }
        assert!(report_schema("df-nope", None).is_none());
        assert_eq!(subcommands("df-perms"), [""]);
        assert!(subcommands("df-dump-db").contains(&"restore"));
        let one = report_schema("df-dump-db", Some("restore")).unwrap();
        assert_eq!(
            one["then"]["properties"]["data"]["$ref"],
            "#/$defs/data.restore"
        );
        assert_eq!(one["title"], "df-dump-db restore report");
    }
}
