//! `data` of this tool's reports. See [`crate::report::data`].

/// This tool's data schemas, `(subcommand, schema)`: add one line per data type, e.g.
/// `("show", schemars::schema_for!(ShowData))`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![]
}
