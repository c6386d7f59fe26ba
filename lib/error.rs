//! The one error type every dfkit tool returns, and how it maps to an exit code.
//!
//! Every failure has a [`ErrorKind`]; the kind decides the process exit code
//! (sysexits.h numbering) and the `error.kind` string of the JSON report.
//! The table is part of the public contract (docs/json.md repeats it).

use serde_json::Value;
use std::fmt;
use std::io;

/// What went wrong, coarse enough to act on in a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A step's command failed (e.g. a migration failed). Exit 1.
    StepFailed,
    /// The command line was wrong. Exit 64 (EX_USAGE).
    Usage,
    /// Input data is malformed: bad .env, corrupt or truncated dump, checksum mismatch. Exit 65.
    BadData,
    /// Input is missing: no install, no .env, no dump. Exit 66.
    MissingInput,
    /// Unknown user or group. Exit 67.
    UnknownUser,
    /// A service or program is unavailable: DB unreachable, program missing, remote down. Exit 69.
    Unavailable,
    /// A bug in dfkit. Exit 70.
    Internal,
    /// An output file or directory cannot be created. Exit 73.
    CannotCreate,
    /// An I/O error (disk full, read error). Exit 74.
    Io,
    /// Temporary failure, retry later (another run holds the lock). Exit 75.
    Temporary,
    /// Permission denied. Exit 77.
    PermissionDenied,
    /// Configuration error (broken web-server config, bad settings). Exit 78.
    Config,
}

impl ErrorKind {
    /// All kinds, in exit-code order (used by docs and tests).
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::StepFailed,
        ErrorKind::Usage,
        ErrorKind::BadData,
        ErrorKind::MissingInput,
        ErrorKind::UnknownUser,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
        ErrorKind::CannotCreate,
        ErrorKind::Io,
        ErrorKind::Temporary,
        ErrorKind::PermissionDenied,
        ErrorKind::Config,
    ];

    /// The process exit code for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::StepFailed => 1,
            ErrorKind::Usage => 64,
            ErrorKind::BadData => 65,
            ErrorKind::MissingInput => 66,
            ErrorKind::UnknownUser => 67,
            ErrorKind::Unavailable => 69,
            ErrorKind::Internal => 70,
            ErrorKind::CannotCreate => 73,
            ErrorKind::Io => 74,
            ErrorKind::Temporary => 75,
            ErrorKind::PermissionDenied => 77,
            ErrorKind::Config => 78,
        }
    }

    /// The stable `error.kind` string of the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::StepFailed => "step_failed",
            ErrorKind::Usage => "usage",
            ErrorKind::BadData => "bad_data",
            ErrorKind::MissingInput => "missing_input",
            ErrorKind::UnknownUser => "unknown_user",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
            ErrorKind::CannotCreate => "cannot_create",
            ErrorKind::Io => "io",
            ErrorKind::Temporary => "temporary",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Config => "config",
        }
    }

    /// The kind an OS error most plausibly means.
    pub fn from_io(e: &io::Error) -> ErrorKind {
        match e.kind() {
            io::ErrorKind::NotFound => ErrorKind::MissingInput,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::InvalidData => ErrorKind::BadData,
            _ => ErrorKind::Io,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure with its kind, a one-line message, an optional hint for the
/// operator, the cause chain, and optionally the partial `data` the tool had
/// gathered (e.g. where a stash was left) so the report still says it.
///
/// The chain reads the same whatever built the error (anyhow-style): each layer's own
/// text, outermost first, the root cause last, and `message` is the layers joined with
/// ": ". An error of one layer ([`Error::new`]) has an empty chain; each
/// [`Error::context`] (one per I/O boundary: "backing up .env") adds a layer in front.
///
/// ```
/// use dfkit::Error;
/// let e = Error::io("reading", "/x/.env".as_ref(), std::io::ErrorKind::NotFound.into())
///     .context("backing up .env");
/// assert_eq!(e.chain, ["backing up .env", "reading /x/.env", "entity not found"]);
/// assert_eq!(e.message, e.chain.join(": "));
/// ```
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// What to do about it; never an empty string (see [`Error::with_hint`]).
    pub hint: Option<String>,
    /// The layers, outermost first (empty for a one-layer error).
    pub chain: Vec<String>,
    /// Boxed to keep `Result<T, Error>` small.
    pub data: Option<Box<Value>>,
}

/// The result type of every lib entry point.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            hint: None,
            chain: Vec::new(),
            data: None,
        }
    }

    /// Attach a hint: what the operator should do next. An empty (or blank) hint means
    /// none: the report's `hint` is a string or null, never "".
    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        let hint = hint.into();
        self.hint = (!hint.trim().is_empty()).then_some(hint);
        self
    }

    /// Attach the partial data gathered before the failure.
    pub fn with_data(mut self, data: Value) -> Error {
        self.data = Some(Box::new(data));
        self
    }

    /// Add an outer layer: what we were doing ("backing up .env"). The message becomes
    /// `backing up .env: <old message>` and the layer goes first in the chain.
    pub fn context(mut self, what: impl Into<String>) -> Error {
        let what = what.into();
        if self.chain.is_empty() {
            self.chain.push(self.message.clone());
        }
        self.chain.insert(0, what.clone());
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Build from an anyhow error, choosing the kind from the first io::Error in its chain
    /// (falling back to `fallback`).
    pub fn from_anyhow(e: anyhow::Error, fallback: ErrorKind) -> Error {
        let kind = e
            .chain()
            .find_map(|c| c.downcast_ref::<io::Error>())
            .map(ErrorKind::from_io)
            .unwrap_or(fallback);
        Error {
            kind,
            message: format!("{e:#}"),
            hint: None,
            // One layer has no chain (as Error::new); more: outermost first, as anyhow.
            chain: if e.chain().count() > 1 {
                e.chain().map(|c| c.to_string()).collect()
            } else {
                Vec::new()
            },
            data: None,
        }
    }

    /// An I/O error while doing `what` on `path`, with a kind chosen from the OS error.
    pub fn io(what: &str, path: &std::path::Path, e: io::Error) -> Error {
        let mut kind = ErrorKind::from_io(&e);
        if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
            kind = ErrorKind::Io;
        }
        let layer = format!("{what} {}", path.display());
        Error {
            kind,
            message: format!("{layer}: {e}"),
            hint: None,
            chain: vec![layer, e.to_string()],
            data: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, message)
    }
    pub fn bad_data(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadData, message)
    }
    pub fn missing(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::MissingInput, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unavailable, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }
    pub fn step(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::StepFailed, message)
    }
    pub fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        match e.downcast::<Error>() {
            Ok(err) => err,
            Err(e) => Error::from_anyhow(e, ErrorKind::Internal),
        }
    }
}

/// `.kind(ErrorKind, || "what we were doing")` on any fallible result: turns the
/// error into a dfkit [`Error`] of that kind, with the cause kept in the chain.
pub trait ResultExt<T> {
    fn kind_ctx<F, S>(self, kind: ErrorKind, what: F) -> Result<T>
    where
        F: FnOnce() -> S,
        S: Into<String>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> ResultExt<T> for std::result::Result<T, E> {
    fn kind_ctx<F, S>(self, kind: ErrorKind, what: F) -> Result<T>
    where
        F: FnOnce() -> S,
        S: Into<String>,
    {
        self.map_err(|e| {
            let what = what().into();
            Error {
                kind,
                message: format!("{what}: {e}"),
                hint: None,
                chain: vec![what, e.to_string()],
                data: None,
            }
        })
    }
}

/// `.context("backing up .env")` on a dfkit [`Result`]: adds the outer layer to the
/// error (see [`Error::context`]), anyhow-style, at each I/O boundary.
pub trait ErrorContext<T> {
    fn context(self, what: impl Into<String>) -> Result<T>;
    /// [`ErrorContext::context`] with the text built only on failure.
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> ErrorContext<T> for Result<T> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.context(what))
    }
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| e.context(what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_sysexits_and_distinct() {
        let codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| k.exit_code()).collect();
        assert_eq!(codes, vec![1, 64, 65, 66, 67, 69, 70, 73, 74, 75, 77, 78]);
        let mut names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        // dedup only drops adjacent repeats: sort first.
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 12);
    }

    #[test]
    fn io_error_kind_is_derived() {
        let e = Error::io(
            "reading",
            std::path::Path::new("/x/.env"),
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(e.kind, ErrorKind::MissingInput);
        assert!(e.message.starts_with("reading /x/.env: "));
        let e = Error::io(
            "writing",
            std::path::Path::new("/x"),
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert_eq!(e.kind, ErrorKind::Io);
    }

    #[test]
    fn anyhow_chain_picks_io_kind() {
        let e = anyhow::Error::from(io::Error::from(io::ErrorKind::PermissionDenied))
            .context("opening /opt/df/.env");
        let e = Error::from(e);
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("opening /opt/df/.env"));
    }

    /// Every constructor gives the same shape: layers outermost first, root cause last,
    /// message = layers joined with ": ".
    #[test]
    fn chain_reads_outer_to_inner_whatever_the_constructor() {
        let io = || io::Error::from(io::ErrorKind::PermissionDenied);
        let root = io().to_string();
        let built = [
            Error::io("reading", std::path::Path::new("/x/.env"), io()).context("backing up .env"),
            Err::<(), _>(io())
                .kind_ctx(ErrorKind::PermissionDenied, || "reading /x/.env")
                .unwrap_err()
                .context("backing up .env"),
            Error::from(anyhow::Error::from(io()).context("reading /x/.env"))
                .context("backing up .env"),
            Error::new(ErrorKind::PermissionDenied, root.clone())
                .context("reading /x/.env")
                .context("backing up .env"),
        ];
        for e in built {
            assert_eq!(
                e.chain,
                ["backing up .env", "reading /x/.env", root.as_str()],
                "{e:?}"
            );
            assert_eq!(e.message, e.chain.join(": "));
            assert_eq!(e.kind, ErrorKind::PermissionDenied);
        }
        let r: Result<()> = Err(Error::io("reading", std::path::Path::new("/x/.env"), io()));
        let e = r
            .with_context(|| "backing up .env".to_string())
            .unwrap_err();
        assert_eq!(
            e.chain,
            ["backing up .env", "reading /x/.env", root.as_str()]
        );
        // One layer: no chain; a context makes it two.
        let e = Error::usage("bad flag");
        assert!(e.chain.is_empty());
        let e = Error::from_anyhow(anyhow::anyhow!("bad flag"), ErrorKind::Usage);
        assert!(e.chain.is_empty());
        assert_eq!(e.context("parsing").chain, ["parsing", "bad flag"]);
    }

    #[test]
    fn empty_hint_is_none() {
        assert_eq!(Error::usage("x").with_hint("").hint, None);
        assert_eq!(Error::usage("x").with_hint("  ").hint, None);
        assert_eq!(
            Error::usage("x").with_hint("do y").hint.as_deref(),
            Some("do y")
        );
    }
}
