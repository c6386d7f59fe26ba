//! The output contract: one JSON object on stdout, for every tool and every outcome.
//!
//! # Overview
//!
//! Every dfkit tool writes exactly one JSON object on stdout, on one line, ending in a
//! newline — on success, on failure and on a usage error. Nothing else ever reaches
//! stdout: child processes have their output captured. People read stderr, where each
//! line is prefixed with the tool's name (`--quiet` silences it).
//!
//! # The envelope
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `tool` | string | the tool's name, e.g. `df-perms` |
//! | `version` | string | dfkit's version |
//! | `ok` | bool | the run did what was asked |
//! | `failed` | bool | `!ok` (Ansible reads it) |
//! | `changed` | bool | the run changed the system (with `--dry-run`: would change it) |
//! | `msg` | string | one-line human summary (Ansible reads it) |
//! | `comment` | string | the same summary (Salt reads it) |
//! | `dry_run` | bool | `--dry-run`/`--check` was given |
//! | `started_at` | string | RFC 3339 UTC time the run started |
//! | `duration_ms` | integer | wall time of the run |
//! | `data` | object | the tool's own report, documented per tool in docs/json.md |
//! | `warnings` | array of strings | things the operator should know; never fatal |
//! | `error` | object | only when `ok` is false: `{kind, message, hint, chain, exit_code}` |
//!
//! `error.kind` is one of the strings of [`ErrorKind::as_str`]; the exit code follows
//! from it ([`ErrorKind::exit_code`]). Success exits 0, whether or not anything changed.
//!
//! # Example
//!
//! ```json
//! {"tool":"df-perms","version":"0.1.0","ok":true,"failed":false,"changed":false,
//!  "msg":"storage, bootstrap/cache: nothing to change (1234 entries)","comment":"…",
//!  "dry_run":false,"started_at":"2026-11-25T20:30:00Z","duration_ms":12,
//!  "data":{"scanned":1234,"chowned":0,"chmodded":0},"warnings":[]}
//! ```
//!
//! Secrets never appear: values registered with [`crate::secret::register`] are replaced
//! by `***` in everything this module writes, as a last line of defence.

pub mod data;
pub mod generate;
pub mod plan;
pub mod schema;

pub use plan::PlanItem;

use crate::error::{Error, ErrorKind};
use clap::Parser;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

// Flags every tool accepts. Flatten it into the tool's clap `Args`.
// (A plain comment: a doc comment here would become every tool's `about`.)
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Common {
    /// The DreamFactory install [default: $DF_ROOT, else /opt/dreamfactory]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Change nothing; report in data.plan what would run and whether it would change anything
    #[arg(long, visible_alias = "check", global = true)]
    pub dry_run: bool,
    /// No progress or log lines on stderr
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Indented JSON (the default when stdout is a terminal)
    #[arg(long, global = true)]
    pub pretty: bool,
    /// Print the JSON Schema of this tool's report (envelope and data) and exit
    #[arg(long, global = true)]
    pub schema: bool,
}

/// Implemented by every tool's `Args` so [`run`] can find the common flags.
pub trait HasCommon {
    fn common(&self) -> &Common;
}

/// `dfkit::has_common!(Args);` implements [`HasCommon`] for a tool's `Args`, whose
/// `#[command(flatten)] common: Common` field holds the common flags.
#[macro_export]
macro_rules! has_common {
    ($args:ty) => {
        impl $crate::report::HasCommon for $args {
            fn common(&self) -> &$crate::report::Common {
                &self.common
            }
        }
    };
}

/// What a successful run reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub changed: bool,
    pub msg: String,
    /// `null` for an outcome made by [`Outcome::typed_large`].
    pub data: Value,
    /// The typed data of [`Outcome::typed_large`], written straight into the report.
    large: Option<LargeData>,
}

impl Outcome {
    pub fn new(changed: bool, msg: impl Into<String>, data: Value) -> Outcome {
        Outcome {
            changed,
            msg: msg.into(),
            data,
            large: None,
        }
    }

    /// An outcome whose `data` is one of the typed structs of [`data`].
    pub fn typed<D: Serialize>(changed: bool, msg: impl Into<String>, data: &D) -> Outcome {
        let data = serde_json::to_value(data)
            .unwrap_or_else(|e| json!({"serialize_error": e.to_string()}));
        Outcome::new(changed, msg, data)
    }

    /// [`Outcome::typed`] for a large `data` (df-backup-env show of a .env with hundreds of
    /// thousands of lines): the typed value is serialized once, straight into the report,
    /// never turned into a [`Value`] tree first, which costs more than the rest of such a
    /// run. The report's bytes are the same as with [`Outcome::typed`]; the differences
    /// are for code that reads the outcome in-process: [`Outcome::data`] is `null`, and a
    /// `changed` field of the data is not lifted to the envelope (`changed` is the one
    /// given here).
    pub fn typed_large<D>(changed: bool, msg: impl Into<String>, data: D) -> Outcome
    where
        D: Serialize + Send + Sync + 'static,
    {
        Outcome {
            changed,
            msg: msg.into(),
            data: Value::Null,
            large: Some(LargeData(std::sync::Arc::new(data), 0)),
        }
    }

    /// For an outcome of [`Outcome::typed_large`]: about how many bytes its compact JSON
    /// takes. The report's buffer is reserved at once, on huge pages
    /// ([`crate::hugepages`]), instead of growing page by page.
    pub fn with_size_hint(mut self, bytes: usize) -> Outcome {
        if let Some(l) = &mut self.large {
            l.1 = bytes;
        }
        self
    }
}

/// Typed report data, serializable without knowing its type.
trait WriteJson: Send + Sync {
    fn write_json(&self, out: &mut Vec<u8>, pretty: bool) -> serde_json::Result<()>;
    fn to_value(&self) -> Value;
}

impl<D: Serialize + Send + Sync> WriteJson for D {
    fn write_json(&self, out: &mut Vec<u8>, pretty: bool) -> serde_json::Result<()> {
        if pretty {
            serde_json::to_writer_pretty(out, self)
        } else {
            serde_json::to_writer(out, self)
        }
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|e| json!({"serialize_error": e.to_string()}))
    }
}

/// The typed data, and about how many bytes its JSON takes (0: unknown).
#[derive(Clone)]
struct LargeData(std::sync::Arc<dyn WriteJson>, usize);

impl std::fmt::Debug for LargeData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LargeData(..)")
    }
}

/// A whole report as a reader sees it: the envelope with a typed `data`.
///
/// The wrappers run a sibling tool and parse its stdout as `Report<D>`, where `D` is the
/// tool's data type from [`data`] (or [`Value`] when the shape does not matter). On
/// failure `data` holds what the tool gathered before it failed, so data types give
/// every field a default.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Report<D> {
    pub tool: String,
    pub version: String,
    pub ok: bool,
    pub failed: bool,
    pub changed: bool,
    pub msg: String,
    pub comment: String,
    pub dry_run: bool,
    pub started_at: String,
    pub duration_ms: u64,
    pub data: D,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

/// The `error` object of a failed report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorReport {
    /// One of the strings of [`ErrorKind::as_str`].
    pub kind: String,
    pub message: String,
    /// What to do about it, or null.
    pub hint: Option<String>,
    /// Causes, outermost first.
    #[serde(default)]
    pub chain: Vec<String>,
    pub exit_code: u8,
}

/// The run's context: the tool's name, the common flags, collected warnings and a logger.
pub struct Ctx {
    pub tool: &'static str,
    pub common: Common,
    warnings: RefCell<Vec<String>>,
    started: Instant,
}

impl Ctx {
    pub fn new(tool: &'static str, common: Common) -> Ctx {
        Ctx {
            tool,
            common,
            warnings: RefCell::new(Vec::new()),
            started: Instant::now(),
        }
    }

    /// Whether this is a dry run (`--dry-run`/`--check`).
    pub fn dry_run(&self) -> bool {
        self.common.dry_run
    }

    /// A line for people, on stderr, prefixed with the tool name.
    pub fn log(&self, line: impl AsRef<str>) {
        if !self.common.quiet {
            let line = crate::secret::scrub(line.as_ref());
            let _ = writeln!(std::io::stderr(), "{}: {}", self.tool, line);
        }
    }

    /// Record a warning: it goes into the report's `warnings` and to stderr.
    pub fn warn(&self, w: impl Into<String>) {
        let w = w.into();
        if !self.common.quiet {
            self.log(format!("warning: {w}"));
        }
        self.warnings.borrow_mut().push(w);
    }

    /// The warnings so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.borrow().clone()
    }

    /// Milliseconds since the run started.
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Whether stderr is a terminal and not quiet: show progress indicators.
    pub fn progress_enabled(&self) -> bool {
        !self.common.quiet && std::io::stderr().is_terminal()
    }
}

/// The current time as RFC 3339 UTC with second precision, e.g. `2026-11-25T20:30:00Z`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The envelope for an outcome or an error, as a `Value`: the reference for [`render`],
/// which writes the same text without building it.
pub fn envelope(
    tool: &str,
    dry_run: bool,
    started_at: &str,
    duration_ms: u64,
    result: &Result<Outcome, Error>,
    warnings: Vec<String>,
) -> Value {
    let mut m = Map::new();
    m.insert("tool".into(), json!(tool));
    m.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    let (ok, changed, msg, data) = match result {
        Ok(o) => (
            true,
            o.changed,
            o.msg.clone(),
            match &o.large {
                Some(d) => d.0.to_value(),
                None => o.data.clone(),
            },
        ),
        Err(e) => (
            false,
            false,
            e.message.clone(),
            e.data.as_deref().cloned().unwrap_or_else(|| json!({})),
        ),
    };
    // A failed run may still have changed something (e.g. a rollback ran); tools say so
    // through data.changed, which we lift to the envelope.
    let lift = !matches!(result, Ok(o) if o.large.is_some());
    let changed = changed
        || lift
            && data
                .get("changed")
                .and_then(Value::as_bool)
                .unwrap_or(false);
    m.insert("ok".into(), json!(ok));
    m.insert("failed".into(), json!(!ok));
    m.insert("changed".into(), json!(changed));
    m.insert("msg".into(), json!(msg));
    m.insert("comment".into(), json!(msg));
    m.insert("dry_run".into(), json!(dry_run));
    m.insert("started_at".into(), json!(started_at));
    m.insert("duration_ms".into(), json!(duration_ms));
    m.insert("data".into(), data);
    m.insert("warnings".into(), json!(warnings));
    if let Err(e) = result {
        m.insert(
            "error".into(),
            json!({
                "kind": e.kind.as_str(),
                "message": e.message,
                // A string or null, never "" (even if a caller set the field directly).
                "hint": e.hint.as_deref().filter(|h| !h.trim().is_empty()),
                "chain": e.chain,
                "exit_code": e.kind.exit_code(),
            }),
        );
    }
    Value::Object(m)
}

/// The envelope's keys before `data`, in the report's order (see [`envelope`]).
#[derive(Serialize)]
struct Head<'a> {
    tool: &'a str,
    version: &'a str,
    ok: bool,
    failed: bool,
    changed: bool,
    msg: &'a str,
    comment: &'a str,
    dry_run: bool,
    started_at: &'a str,
    duration_ms: u64,
}

/// The envelope's keys after `data`.
#[derive(Serialize)]
struct Tail<'a> {
    warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorJson<'a>>,
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    kind: &'a str,
    message: &'a str,
    hint: Option<&'a str>,
    chain: &'a [String],
    exit_code: u8,
}

/// The report's text: what `serde_json` makes of [`envelope`] (compact, or indented when
/// `pretty`), written without building the envelope's `Value`: `data` is serialized in
/// place, from its `Value` or, for [`Outcome::typed_large`], from the typed value. Not
/// yet scrubbed of secrets.
pub fn render(
    tool: &str,
    dry_run: bool,
    started_at: &str,
    duration_ms: u64,
    result: &Result<Outcome, Error>,
    warnings: &[String],
    pretty: bool,
) -> serde_json::Result<String> {
    let empty = Value::Object(Map::new());
    let (ok, changed, msg, value, large) = match result {
        Ok(o) => (true, o.changed, &o.msg[..], &o.data, o.large.as_ref()),
        Err(e) => (
            false,
            false,
            &e.message[..],
            e.data.as_deref().unwrap_or(&empty),
            None,
        ),
    };
    // As in [`envelope`]: a data.changed of true is lifted to the envelope.
    let changed = changed
        || (large.is_none()
            && value
                .get("changed")
                .and_then(Value::as_bool)
                .unwrap_or(false));
    let head = Head {
        tool,
        version: env!("CARGO_PKG_VERSION"),
        ok,
        failed: !ok,
        changed,
        msg,
        comment: msg,
        dry_run,
        started_at,
        duration_ms,
    };
    let tail = Tail {
        warnings,
        error: result.as_ref().err().map(|e| ErrorJson {
            kind: e.kind.as_str(),
            message: &e.message,
            hint: e.hint.as_deref().filter(|h| !h.trim().is_empty()),
            chain: &e.chain,
            exit_code: e.kind.exit_code(),
        }),
    };
    // Each object is `{…}`; joined, the head loses its `}` and the tail its `{`.
    let (head, tail) = if pretty {
        (
            serde_json::to_string_pretty(&head)?,
            serde_json::to_string_pretty(&tail)?,
        )
    } else {
        (serde_json::to_string(&head)?, serde_json::to_string(&tail)?)
    };
    let write_data = |out: &mut Vec<u8>, pretty: bool| match large {
        Some(d) => d.0.write_json(out, pretty),
        None if pretty => serde_json::to_writer_pretty(out, value),
        None => serde_json::to_writer(out, value),
    };
    let mut out;
    if pretty {
        // Indented, the head ends in "\n}" and `data`, one level deeper than on its own,
        // gets two more spaces after each newline (every newline in serde_json's pretty
        // output is layout: strings escape theirs).
        let mut data = Vec::new();
        write_data(&mut data, true)?;
        out = Vec::with_capacity(head.len() + data.len() + data.len() / 8 + tail.len() + 16);
        out.extend_from_slice(&head.as_bytes()[..head.len() - 2]);
        out.extend_from_slice(b",\n  \"data\": ");
        let mut rest = &data[..];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            out.extend_from_slice(&rest[..=i]);
            out.extend_from_slice(b"  ");
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
    } else {
        // Compact, `data` is written in place: a large report is not copied, and its
        // buffer is reserved at once, on huge pages, when its size is known.
        let hint = large.map_or(0, |l| l.1);
        out = Vec::with_capacity(head.len() + tail.len() + 64 + hint);
        crate::hugepages::advise(&mut out);
        out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
        out.extend_from_slice(b",\"data\":");
        write_data(&mut out, false)?;
    }
    out.push(b',');
    out.extend_from_slice(&tail.as_bytes()[1..]);
    // serde_json writes UTF-8: this only checks it, without a copy.
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// Write the text of a report, secrets scrubbed, and a newline. A closed stdout (broken
/// pipe) is ignored: the exit code still tells.
fn write_text(text: serde_json::Result<String>) {
    let text = text.unwrap_or_else(|_| "{\"ok\":false,\"failed\":true}".to_string());
    let text = crate::secret::scrub_json(&text);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Write the report: one line (or indented when `pretty`) to stdout, secrets scrubbed.
/// A closed stdout (broken pipe) is ignored: the exit code still tells.
pub fn write_report(v: &Value, pretty: bool) {
    write_text(if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    });
}

/// Run a tool: parse `A` from the command line (a usage error becomes a JSON report
/// with exit 64), call `body`, and print the one JSON report.
pub fn run<A, F>(tool: &'static str, body: F) -> ExitCode
where
    A: Parser + HasCommon,
    F: FnOnce(&Ctx, A) -> Result<Outcome, Error>,
{
    run_from(tool, std::env::args_os(), body)
}

/// [`run`] with explicit arguments (for tests).
pub fn run_from<A, F, I, T>(tool: &'static str, argv: I, body: F) -> ExitCode
where
    A: Parser + HasCommon,
    F: FnOnce(&Ctx, A) -> Result<Outcome, Error>,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let started_at = now_rfc3339();
    let t0 = Instant::now();
    let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
    // --schema, --generate-man, --generate-completions: answered before parsing, so a
    // tool's required arguments and subcommands do not stand in the way.
    if let Some(code) = generate::answer(tool, &argv, <A as clap::CommandFactory>::command) {
        return code;
    }
    let args = match A::try_parse_from(&argv) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
                // --help / --version: text for people on stdout, as every Unix tool does.
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let quiet = argv.iter().any(|a| a == "--quiet" || a == "-q");
            let pretty = argv.iter().any(|a| a == "--pretty") || std::io::stdout().is_terminal();
            let rendered = e.render().to_string();
            if !quiet {
                for line in rendered.lines().filter(|l| !l.trim().is_empty()) {
                    eprintln!("{tool}: {line}");
                }
            }
            let err = usage_error(tool, &rendered);
            let res = Err(err);
            write_text(render(
                tool,
                false,
                &started_at,
                t0.elapsed().as_millis() as u64,
                &res,
                &[],
                pretty,
            ));
            return ExitCode::from(ErrorKind::Usage.exit_code());
        }
    };
    let common = args.common().clone();
    let pretty = common.pretty || std::io::stdout().is_terminal();
    let ctx = Ctx::new(tool, common);
    // A panic is a bug: still print one JSON report, exit 70.
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&ctx, args))) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(Error::internal(format!("internal error: {msg}"))
                .with_hint("this is a bug in dfkit; please report it with the command line"))
        }
    };
    match &result {
        Ok(o) => ctx.log(&o.msg),
        Err(e) => {
            ctx.log(format!("error: {}", e.message));
            if let Some(h) = &e.hint {
                ctx.log(format!("hint: {h}"));
            }
        }
    }
    write_text(render(
        tool,
        ctx.dry_run(),
        &started_at,
        ctx.elapsed_ms(),
        &result,
        &ctx.warnings.borrow(),
        pretty,
    ));
    let code = match &result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(e.kind.exit_code()),
    };
    if matches!(&result, Ok(o) if o.large.is_some()) {
        // The report is written and the process is about to exit: a large outcome's
        // hundreds of thousands of strings (and their warnings) are left to the OS,
        // which takes the memory back at once, instead of being freed one by one.
        std::mem::forget(result);
        std::mem::forget(ctx);
    }
    code
}

/// The usage error for clap's rendered message: `msg` is its first paragraph on one line
/// (so a missing required argument is named: clap puts the names on the lines after
/// "the following required arguments were not provided:"); the hint points at the
/// `--help` of the (sub)command that was used, with no placeholder in it.
fn usage_error(tool: &str, rendered: &str) -> Error {
    let msg = rendered
        .trim_start()
        .split("\n\n")
        .next()
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let msg = msg.trim_start_matches("error: ").trim().to_string();
    let msg = if msg.is_empty() {
        "invalid arguments".to_string()
    } else {
        msg
    };
    // "Usage: df-dump-db restore [OPTIONS] --from <DIR>" -> "df-dump-db restore".
    let mut command = vec![tool.to_string()];
    if let Some(usage) = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage:"))
    {
        command.extend(
            usage
                .split_whitespace()
                .skip(1)
                .take_while(|w| {
                    w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !w.starts_with('-')
                })
                .map(str::to_string),
        );
    }
    Error::new(ErrorKind::Usage, msg).with_hint(format!(
        "run `{} --help` for usage and examples",
        command.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_error_names_the_missing_argument_and_the_subcommand() {
        let rendered = "error: the following required arguments were not provided:\n  \
                        --from <DIR>\n  --to <FILE>\n\nUsage: df-dump-db restore --from <DIR> \
                        --to <FILE>\n\nFor more information, try '--help'.\n";
        let e = usage_error("df-dump-db", rendered);
        assert_eq!(e.kind, ErrorKind::Usage);
        assert_eq!(
            e.message,
            "the following required arguments were not provided: --from <DIR> --to <FILE>"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("run `df-dump-db restore --help` for usage and examples")
        );
        let e = usage_error(
            "df-perms",
            "error: unexpected argument '--x' found\n\n  tip: to pass '--x' as a value, use \
             '-- --x'\n\nUsage: df-perms [OPTIONS]\n",
        );
        assert_eq!(e.message, "unexpected argument '--x' found");
        assert_eq!(
            e.hint.as_deref(),
            Some("run `df-perms --help` for usage and examples")
        );
        assert_eq!(usage_error("df-x", "").message, "invalid arguments");
    }

    #[test]
    fn envelope_has_every_key_in_order() {
        let v = envelope(
            "df-x",
            true,
            "2026-01-01T00:00:00Z",
            5,
            &Ok(Outcome::new(true, "did it", json!({"a": 1}))),
            vec!["w".into()],
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "tool",
                "version",
                "ok",
                "failed",
                "changed",
                "msg",
                "comment",
                "dry_run",
                "started_at",
                "duration_ms",
                "data",
                "warnings"
            ]
        );
        assert_eq!(v["msg"], v["comment"]);
    }

    #[test]
    fn error_envelope() {
        let e = Error::bad_data("bad line 3").with_hint("fix it");
        let v = envelope("df-x", false, "t", 1, &Err(e), vec![]);
        assert_eq!(v["ok"], false);
        assert_eq!(v["failed"], true);
        assert_eq!(v["error"]["kind"], "bad_data");
        assert_eq!(v["error"]["exit_code"], 65);
        assert_eq!(v["error"]["hint"], "fix it");
        let mut e = Error::bad_data("x");
        e.hint = Some(String::new());
        let v = envelope("df-x", false, "t", 1, &Err(e), vec![]);
        assert_eq!(v["error"]["hint"], Value::Null);
    }

    /// `render` writes exactly what serde_json makes of `envelope`, compact and indented,
    /// for plain, typed-large and failed outcomes (with and without data and hint).
    #[test]
    fn render_is_the_envelope_serialized() {
        #[derive(Serialize)]
        struct Big {
            name: String,
            n: u64,
            list: Vec<Value>,
            empty: Vec<u8>,
            map: Map<String, Value>,
            none: Option<String>,
        }
        let big = || Big {
            name: "a \"q\" \n\u{e9} 💡".into(),
            n: 7,
            list: vec![
                json!({"k": [1, {}, []], "s": "x\ny"}),
                json!(null),
                json!(-2.5),
            ],
            empty: vec![],
            map: json!({"z": 1, "a": {"b": []}}).as_object().unwrap().clone(),
            none: None,
        };
        let mut failed = Error::bad_data("bad line 3").with_hint("fix it");
        failed.chain = vec!["outer".into(), "bad line 3".into()];
        let results: Vec<Result<Outcome, Error>> = vec![
            Ok(Outcome::new(
                true,
                "did it",
                json!({"a": 1, "b": [], "c": {}}),
            )),
            Ok(Outcome::new(false, "lifted", json!({"changed": true}))),
            Ok(Outcome::new(false, "no data", json!({}))),
            Ok(Outcome::typed(false, "typed", &big())),
            Ok(Outcome::typed_large(true, "large \"msg\"", big())),
            Err(failed),
            Err(Error::bad_data("x").with_data(json!({"changed": true, "file": "f"}))),
        ];
        for r in &results {
            for warnings in [vec![], vec!["w1".to_string(), "w \"2\"".into()]] {
                let v = envelope("df-x", true, "2026-01-01T00:00:00Z", 5, r, warnings.clone());
                for pretty in [false, true] {
                    let want = if pretty {
                        serde_json::to_string_pretty(&v).unwrap()
                    } else {
                        serde_json::to_string(&v).unwrap()
                    };
                    let got = render(
                        "df-x",
                        true,
                        "2026-01-01T00:00:00Z",
                        5,
                        r,
                        &warnings,
                        pretty,
                    )
                    .unwrap();
                    assert_eq!(got, want, "pretty={pretty}");
                }
            }
        }
        // The typed-large outcome reads like the typed one, and does not lift data.changed.
        let typed = envelope("t", false, "s", 1, &results[3], vec![]);
        let large = envelope("t", false, "s", 1, &results[4], vec![]);
        assert_eq!(typed["data"], large["data"]);
    }
}
