//! df-git-update: bring a DreamFactory git checkout to a newer (or older) commit without
//! losing local edits, and report what downstream steps need to know.
//!
//! Every git call goes through [`Git::cmd`]:
//! * `-c safe.directory=ROOT`: root running git in a tree owned by another user hits git's
//!   "dubious ownership" refusal. The exception is given for our invocations only; no
//!   global or system config is ever written.
//! * `GIT_TERMINAL_PROMPT=0` and ssh in `BatchMode`: a missing credential fails instead of
//!   hanging on a prompt nobody sees.
//! * `LC_ALL=C`: git's messages are matched to give hints.
//! * a timeout (`--timeout`).
//! * the user's global and system git config is read as usual (proxies, credential
//!   helpers, `core.sshCommand` matter for the fetch) and never written.
//!
//! Safety order of `update`: fetch first (touches no file of the work tree), decide the
//! target and refuse a non-fast-forward before anything changes, then stash, check out,
//! fast-forward. A failure after the stash puts HEAD, the branch and the stashed edits back
//! exactly as they were; if even that fails the report says where the stash is.

use crate::error::{Error, ErrorKind, Result};
use crate::exec::{find_program, Cmd, Output};
use crate::report::{Ctx, Outcome};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `update` goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A branch of the remote, fast-forwarded (`--branch`, default master).
    Branch(String),
    /// A tag (looked up as `refs/tags/X`, since a branch and a tag may share a name) or a
    /// commit id; checked out detached (`--ref`).
    Ref(String),
}

#[derive(Debug, Clone)]
pub struct UpdateOpts {
    pub target: Target,
    pub remote: String,
    pub include_untracked: bool,
    pub reapply_stash: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct RollbackOpts {
    /// The commit to return to (any revision git understands).
    pub to: String,
    /// Branch to leave checked out at `to`; None: the current one (detached stays detached).
    pub branch: Option<String>,
    pub detach: bool,
    pub include_untracked: bool,
    pub reapply_stash: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct StatusOpts {
    pub remote: String,
    /// Branch to compare with; None: the current branch, else master.
    pub branch: Option<String>,
    pub fetch: bool,
    pub timeout: Duration,
}

/// git, bound to one work tree.
pub struct Git {
    program: PathBuf,
    root: PathBuf,
    safe_dirs: Vec<OsString>,
    ssh_command: Option<String>,
    /// Set when git cannot work out a committer identity: `git stash` needs one.
    ident_fallback: bool,
    timeout: Duration,
}

/// HEAD as it is: what we must be able to put back.
#[derive(Debug, Clone)]
pub struct State {
    pub branch: Option<String>,
    pub head: String,
    pub describe: Option<String>,
    pub version: Option<String>,
}

/// Local modifications, from `git status --porcelain`.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub tracked: Vec<String>,
    pub untracked: Vec<String>,
    pub unmerged: Vec<String>,
}

/// A stash dfkit made.
#[derive(Debug, Clone)]
pub struct Stash {
    /// The stash commit: valid as long as the stash exists (and in the reflog after).
    pub sha: String,
    pub message: String,
    pub files: Vec<String>,
    pub include_untracked: bool,
}

impl Stash {
    fn json(&self, reapplied: bool, kept: bool) -> Value {
        json!({
            "ref": self.sha,
            "message": self.message,
            "files": self.files,
            "include_untracked": self.include_untracked,
            "reapplied": reapplied,
            "kept": kept,
        })
    }
}

fn to_string_lossy(o: &[u8]) -> String {
    String::from_utf8_lossy(o).trim_end().to_string()
}

impl Git {
    /// Check the root is the top of a git work tree and prepare the invocation.
    pub fn open(root: &Path, timeout: Duration) -> Result<Git> {
        let program = find_program("git").map_err(|e| {
            e.with_hint("install git (Debian/Ubuntu: apt-get install git; RHEL: dnf install git)")
        })?;
        let canon = std::fs::canonicalize(root).map_err(|e| {
            Error::io("opening the install", root, e).with_hint(
                "pass --root DIR or set DF_ROOT to the install (usually /opt/dreamfactory)",
            )
        })?;
        let mut safe_dirs = vec![canon.clone().into_os_string()];
        if root.is_absolute() && root != canon {
            safe_dirs.push(root.as_os_str().to_os_string());
        }
        let mut g = Git {
            program,
            root: canon.clone(),
            safe_dirs,
            ssh_command: None,
            ident_fallback: false,
            timeout,
        };
        let out = g.run(["rev-parse", "--show-toplevel"])?;
        if !out.success() {
            let err = out.stderr_str();
            if err.contains("dubious ownership") {
                return Err(Error::config(format!(
                    "git refuses {}: {}",
                    canon.display(),
                    out.tail(1)
                ))
                .with_hint(hint_dubious()));
            }
            return Err(Error::missing(format!(
                "{} is not a git work tree: {}",
                canon.display(),
                out.tail(1)
            ))
            .with_hint(
                "df-git-update updates installs that are git checkouts (git clone of \
                 dreamfactory/dreamfactory); an install from a package or image is updated \
                 by its own means",
            ));
        }
        let top = PathBuf::from(to_string_lossy(&out.stdout));
        let top = std::fs::canonicalize(&top).unwrap_or(top);
        if top != canon {
            return Err(Error::missing(format!(
                "{} is not the top of a git work tree (that is {})",
                canon.display(),
                top.display()
            ))
            .with_hint("pass the checkout's top directory as --root"));
        }
        g.ssh_command = g.batch_ssh_command()?;
        g.ident_fallback = !(g.run(["var", "GIT_COMMITTER_IDENT"])?.success()
            && g.run(["var", "GIT_AUTHOR_IDENT"])?.success());
        Ok(g)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// ssh in BatchMode, keeping the user's own ssh command (env or core.sshCommand).
    fn batch_ssh_command(&self) -> Result<Option<String>> {
        const BATCH: &str = "-o BatchMode=yes";
        if let Ok(c) = std::env::var("GIT_SSH_COMMAND") {
            if !c.trim().is_empty() {
                return Ok(Some(format!("{c} {BATCH}")));
            }
        }
        let out = self.run(["config", "--get", "core.sshCommand"])?;
        let conf = to_string_lossy(&out.stdout);
        if out.success() && !conf.trim().is_empty() {
            return Ok(Some(format!("{conf} {BATCH}")));
        }
        if std::env::var_os("GIT_SSH").is_some() {
            // A wrapper program: its options are its own business.
            return Ok(None);
        }
        Ok(Some(format!("ssh {BATCH}")))
    }

    /// A git command in the work tree with dfkit's safety settings.
    pub fn cmd<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Cmd::resolved(&self.program);
        for d in &self.safe_dirs {
            let mut kv = OsString::from("safe.directory=");
            kv.push(d);
            c = c.arg("-c").arg(kv);
        }
        c = c
            .args(["-c", "advice.detachedHead=false"])
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_MERGE_AUTOEDIT", "no")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .env_remove("LANGUAGE")
            .timeout(self.timeout);
        if let Some(s) = &self.ssh_command {
            c = c.env("GIT_SSH_COMMAND", s);
        }
        if self.ident_fallback {
            // Only when git has no identity at all: the stash commit needs one.
            for k in ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"] {
                c = c.env(k, "dfkit");
            }
            for k in ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"] {
                c = c.env(k, "dfkit@localhost");
            }
        }
        c
    }

    /// Run; a non-zero exit is returned, not an error.
    pub fn run<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let c = self.cmd(args);
        let out = c.run()?;
        if out.timed_out {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "`{}` timed out after {}s",
                    c.display(),
                    self.timeout.as_secs()
                ),
            )
            .with_hint("a slow or unreachable remote? raise --timeout or check the network"));
        }
        Ok(out)
    }

    /// Run; a non-zero exit becomes an error classified from git's message. Returns stdout.
    pub fn ok<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<OsString> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        let out = self.run(&args)?;
        if out.success() {
            Ok(to_string_lossy(&out.stdout))
        } else {
            let shown: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let mut e = classify(&format!("git {}", shown.join(" ")), &out);
            e.chain.push(self.cmd(&args).display());
            Err(e)
        }
    }

    /// stdout when the command succeeds, None otherwise.
    fn maybe<I, S>(&self, args: I) -> Result<Option<String>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self.run(args)?;
        Ok(out.success().then(|| to_string_lossy(&out.stdout)))
    }

    /// The commit a revision names, None when it names none.
    pub fn commit_of(&self, rev: &str) -> Result<Option<String>> {
        self.maybe([
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ])
    }

    pub fn is_ancestor(&self, a: &str, b: &str) -> Result<bool> {
        Ok(self.run(["merge-base", "--is-ancestor", a, b])?.success())
    }

    /// Branch, HEAD, describe and DF version of HEAD.
    pub fn state(&self) -> Result<State> {
        let head = self.commit_of("HEAD")?.ok_or_else(|| {
            Error::missing(format!("{} has no commit checked out", self.root.display()))
        })?;
        let branch = self.maybe(["symbolic-ref", "--quiet", "--short", "HEAD"])?;
        let describe = self.maybe(["describe", "--tags", "--always", &head])?;
        let version = self.version_at(&head)?;
        Ok(State {
            branch,
            head,
            describe,
            version,
        })
    }

    /// DreamFactory's version in config/app.php as committed (local edits are not code).
    pub fn version_at(&self, commit: &str) -> Result<Option<String>> {
        Ok(self
            .maybe(["show", &format!("{commit}:config/app.php")])?
            .and_then(|t| crate::install::parse_version(&t)))
    }

    /// Local modifications. Untracked files are listed only when asked for.
    pub fn changes(&self, untracked: bool) -> Result<Changes> {
        let mode = if untracked {
            "--untracked-files=all"
        } else {
            "--untracked-files=no"
        };
        let out = self.run(["status", "--porcelain=v1", "-z", mode])?;
        if !out.success() {
            return Err(classify("git status", &out));
        }
        Ok(parse_status(&out.stdout))
    }

    /// Whether a merge, rebase, cherry-pick or revert is in progress.
    fn operation_in_progress(&self) -> Result<Option<&'static str>> {
        for (p, what) in [
            ("MERGE_HEAD", "a merge"),
            ("rebase-merge", "a rebase"),
            ("rebase-apply", "a rebase or am"),
            ("CHERRY_PICK_HEAD", "a cherry-pick"),
            ("REVERT_HEAD", "a revert"),
        ] {
            let path = self.ok(["rev-parse", "--git-path", p])?;
            if self.root.join(path).exists() {
                return Ok(Some(what));
            }
        }
        Ok(None)
    }

    fn stash_shas(&self) -> Result<Vec<String>> {
        let out = self.ok(["stash", "list", "--format=%H"])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// `git stash push -m MESSAGE`; the new stash's commit.
    fn stash_push(&self, message: &str, untracked: bool) -> Result<String> {
        let mut args = vec!["stash", "push", "-m", message];
        if untracked {
            args.push("--include-untracked");
        }
        self.ok(&args)?;
        self.commit_of("refs/stash")?
            .ok_or_else(|| Error::internal("git stash push succeeded but left no stash"))
    }

    /// `stash@{n}` of a stash commit, if the stash still exists.
    fn stash_entry(&self, sha: &str) -> Result<Option<String>> {
        Ok(self
            .stash_shas()?
            .iter()
            .position(|s| s == sha)
            .map(|n| format!("stash@{{{n}}}")))
    }

    fn diff_names(
        &self,
        a: &str,
        b: &str,
        filter: Option<&str>,
        path: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut args: Vec<String> =
            vec!["diff".into(), "--name-only".into(), "--no-renames".into()];
        if let Some(f) = filter {
            args.push(format!("--diff-filter={f}"));
        }
        args.push(a.into());
        args.push(b.into());
        if let Some(p) = path {
            args.push("--".into());
            args.push(p.into());
        }
        Ok(self
            .ok(&args)?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }
}

/// `git status --porcelain=v1 -z` → tracked / untracked / unmerged paths.
pub fn parse_status(raw: &[u8]) -> Changes {
    let mut c = Changes::default();
    let mut parts = raw.split(|b| *b == 0).filter(|p| !p.is_empty());
    while let Some(entry) = parts.next() {
        if entry.len() < 4 {
            continue;
        }
        let xy = &entry[..2];
        let path = String::from_utf8_lossy(&entry[3..]).into_owned();
        match xy {
            b"??" => c.untracked.push(path),
            b"!!" => {}
            b"DD" | b"AU" | b"UD" | b"UA" | b"DU" | b"AA" | b"UU" => c.unmerged.push(path),
            _ => {
                // A rename or copy is followed by its source path.
                if xy[0] == b'R' || xy[0] == b'C' {
                    parts.next();
                }
                c.tracked.push(path);
            }
        }
    }
    c
}

fn hint_dubious() -> &'static str {
    "git refuses repositories owned by another user; dfkit allows the install itself for its \
     own calls (-c safe.directory), but not other paths (e.g. a local origin owned by another \
     user); run as the owner, or add that path yourself with `git config --global --add \
     safe.directory PATH`"
}

/// Turn a failed git command into an error with a kind and a hint from git's message.
pub fn classify(shown: &str, out: &Output) -> Error {
    let text = out.combined();
    let said = redact_urls(&out.tail(6).replace(['\n', '\t'], " "));
    let msg = format!("`{shown}` failed ({}): {said}", out.status_text());
    let has = |s: &str| text.contains(s);
    if has("dubious ownership") {
        Error::config(msg).with_hint(hint_dubious())
    } else if has("Not possible to fast-forward")
        || has("non-fast-forward")
        || has("have diverged")
        || has("fatal: refusing to merge unrelated histories")
    {
        Error::step(msg).with_hint(hint_non_ff())
    } else if has("would be overwritten by") || has("would be removed by") {
        Error::step(msg).with_hint(
            "untracked files in the install are in the way of files the new commit adds; \
             move them aside, or rerun with --include-untracked to stash them too",
        )
    } else if has("couldn't find remote ref") {
        Error::missing(msg).with_hint(
            "the remote has no such branch; list them with `git ls-remote --heads REMOTE`",
        )
    } else if has("Could not read from remote repository")
        || has("does not appear to be a git repository")
        || has("unable to access")
        || has("Could not resolve host")
        || has("Connection refused")
        || has("Connection timed out")
        || has("Network is unreachable")
        || has("Permission denied (publickey")
        || has("Host key verification failed")
        || has("terminal prompts disabled")
        || has("No such remote")
    {
        Error::unavailable(msg).with_hint(
            "the remote is unreachable or refuses us: check `git remote -v`, the network, \
             and credentials (no prompt is possible: ssh runs in BatchMode, https needs a \
             credential helper or token)",
        )
    } else if has("CONFLICT") {
        Error::step(msg).with_hint("your local edits conflict with the new code")
    } else if has("not a git repository") {
        Error::missing(msg)
    } else {
        Error::step(msg)
    }
}

/// Hide credentials in URLs git echoes (`https://user:token@host/…`).
pub fn redact_urls(text: &str) -> String {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"://[^/@\s']+@").expect("valid regex"));
    re.replace_all(text, "://***@").into_owned()
}

fn hint_non_ff() -> &'static str {
    "the local branch and the remote have diverged (history rewritten on the remote by a \
     force-push, or local commits): nothing was changed; compare with `git log --oneline \
     --graph HEAD REMOTE/BRANCH` and decide, or update to a tag with --ref"
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn stamp() -> String {
    format!("dfkit {}", crate::report::now_rfc3339())
}

/// A HEAD as JSON fields with a prefix (`old_`/`new_`).
fn state_fields(m: &mut serde_json::Map<String, Value>, prefix: &str, s: &State) {
    m.insert(format!("{prefix}commit"), json!(s.head));
    m.insert(format!("{prefix}branch"), json!(s.branch));
    m.insert(format!("{prefix}describe"), json!(s.describe));
    m.insert(format!("{prefix}version"), json!(s.version));
}

/// Where a move goes, decided before anything changes.
struct Move {
    /// Branch to end on (None: detached).
    branch: Option<String>,
    /// Commit to end on.
    commit: String,
    /// How to get there, run in order after the stash.
    steps: Vec<Vec<String>>,
}

/// The branch ref we may move, and its commit before (None: it did not exist).
type BranchBefore = Option<(String, Option<String>)>;

impl Git {
    /// Put HEAD, the branch refs and the stashed edits back as they were.
    fn restore(&self, before: &State, moved: &BranchBefore, stash: Option<&Stash>) -> Result<()> {
        match &before.branch {
            Some(b) => self.ok(["checkout", "--force", "-B", b, &before.head])?,
            None => self.ok(["checkout", "--force", "--detach", &before.head])?,
        };
        if let Some((b, old)) = moved {
            if before.branch.as_deref() != Some(b.as_str()) {
                let r = format!("refs/heads/{b}");
                match old {
                    Some(sha) => self.ok(["update-ref", &r, sha])?,
                    None => self.ok(["update-ref", "-d", &r])?,
                };
            }
        }
        if let Some(s) = stash {
            let entry = self
                .stash_entry(&s.sha)?
                .ok_or_else(|| Error::internal(format!("stash {} vanished", s.sha)))?;
            self.ok(["stash", "pop", "--index", &entry])?;
        }
        Ok(())
    }

    /// Stash, run the move's steps, check the result; on failure put everything back.
    /// Returns the stash made (if any).
    fn apply_move(
        &self,
        ctx: &Ctx,
        before: &State,
        changes: &Changes,
        include_untracked: bool,
        mv: &Move,
        base: &Value,
    ) -> Result<Option<Stash>> {
        let moved: BranchBefore = match &mv.branch {
            Some(b) => Some((b.clone(), self.commit_of(&format!("refs/heads/{b}"))?)),
            None => None,
        };
        let stash = if needs_stash(changes, include_untracked) {
            let message = stamp();
            let mut files = changes.tracked.clone();
            if include_untracked {
                files.extend(changes.untracked.iter().cloned());
            }
            ctx.log(format!("stashing local changes: {}", files.join(", ")));
            let sha = self.stash_push(&message, include_untracked).map_err(|e| {
                e.context("stashing local changes").with_data(with(
                    base,
                    json!({"stash": null, "restored": true, "changed": false}),
                ))
            })?;
            Some(Stash {
                sha,
                message,
                files,
                include_untracked,
            })
        } else {
            None
        };
        let mut result = Ok(());
        for step in &mv.steps {
            ctx.log(format!("git {}", step.join(" ")));
            if let Err(e) = self.ok(step) {
                result = Err(e);
                break;
            }
        }
        if result.is_ok() {
            match self.state() {
                Ok(now) if now.head != mv.commit || now.branch != mv.branch => {
                    result = Err(Error::internal(format!(
                        "after the update HEAD is {} on {:?}, expected {} on {:?}",
                        now.head, now.branch, mv.commit, mv.branch
                    )));
                }
                Ok(_) => {}
                Err(e) => result = Err(e),
            }
        }
        if let Err(e) = result {
            ctx.log("putting HEAD, branch and local changes back as they were");
            let restored = self.restore(before, &moved, stash.as_ref());
            let stash_json = stash
                .as_ref()
                .map(|s| s.json(restored.is_ok(), restored.is_err()));
            let mut e = e;
            match restored {
                Ok(()) => {
                    e = e.context(
                        "failed and undone (HEAD, branch and local changes are as before)",
                    );
                    e = e.with_data(with(
                        base,
                        json!({"stash": stash_json, "restored": true, "changed": false}),
                    ));
                }
                Err(re) => {
                    let where_ = stash
                        .as_ref()
                        .map(|s| format!("; your local changes are in stash {} (`git stash apply --index {}`)", s.sha, s.sha))
                        .unwrap_or_default();
                    e.hint = Some(format!(
                        "putting things back failed too ({}): HEAD was {} on {}{where_}",
                        re.message,
                        before.head,
                        before.branch.as_deref().unwrap_or("(detached)"),
                    ));
                    e = e.with_data(with(
                        base,
                        json!({"stash": stash_json, "restored": false, "changed": true}),
                    ));
                }
            }
            return Err(e);
        }
        Ok(stash)
    }

    /// After a successful move: pop our stash. A conflict leaves the tree clean at the new
    /// commit and the stash in place.
    fn reapply(&self, ctx: &Ctx, stash: &Stash) -> Result<std::result::Result<(), Vec<String>>> {
        let entry = self
            .stash_entry(&stash.sha)?
            .ok_or_else(|| Error::internal(format!("stash {} vanished", stash.sha)))?;
        ctx.log(format!("re-applying local changes from {entry}"));
        let out = self.run(["stash", "pop", &entry])?;
        if out.success() {
            return Ok(Ok(()));
        }
        let conflicts: Vec<String> = self
            .ok(["diff", "--name-only", "--diff-filter=U"])?
            .lines()
            .map(str::to_string)
            .collect();
        // Conflict markers in PHP files take the site down; the edits are safe in the stash.
        self.ok(["reset", "--hard", "--quiet", "HEAD"])?;
        if conflicts.is_empty() {
            return Err(classify(&format!("git stash pop {entry}"), &out));
        }
        Ok(Err(conflicts))
    }

    fn report(&self, before: &State, after: &State) -> Result<serde_json::Map<String, Value>> {
        let mut m = serde_json::Map::new();
        state_fields(&mut m, "old_", before);
        state_fields(&mut m, "new_", after);
        m.insert("detached".into(), json!(after.branch.is_none()));
        let changed_files = self.diff_names(&before.head, &after.head, None, None)?;
        let added = self.diff_names(
            &before.head,
            &after.head,
            Some("A"),
            Some("database/migrations"),
        )?;
        let removed = self.diff_names(
            &before.head,
            &after.head,
            Some("D"),
            Some("database/migrations"),
        )?;
        m.insert(
            "composer_lock_changed".into(),
            json!(changed_files.iter().any(|f| f == "composer.lock")),
        );
        m.insert("migrations_added".into(), json!(added));
        m.insert("migrations_removed".into(), json!(removed));
        m.insert("changed_files".into(), json!(changed_files));
        Ok(m)
    }
}

fn needs_stash(c: &Changes, include_untracked: bool) -> bool {
    !c.tracked.is_empty() || (include_untracked && !c.untracked.is_empty())
}

/// `base` (an object) with the keys of `extra` added.
fn with(base: &Value, extra: Value) -> Value {
    let mut v = base.clone();
    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    v
}

fn refuse_unsafe_state(g: &Git, changes: &Changes) -> Result<()> {
    if !changes.unmerged.is_empty() {
        return Err(Error::step(format!(
            "the work tree has unresolved merge conflicts: {}",
            changes.unmerged.join(", ")
        ))
        .with_hint("resolve them (or `git merge --abort` / `git reset --merge`) first; nothing was changed"));
    }
    if let Some(what) = g.operation_in_progress()? {
        return Err(Error::step(format!("{what} is in progress in the work tree"))
            .with_hint("finish or abort it first (e.g. `git merge --abort`, `git rebase --abort`); nothing was changed"));
    }
    Ok(())
}

/// The plan's text for a git command as it would run.
fn shown(g: &Git, args: &[String]) -> String {
    g.cmd(args).display()
}

fn sv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `df-git-update update`.
pub fn update(ctx: &Ctx, root: &Path, o: &UpdateOpts) -> Result<Outcome> {
    let g = Git::open(root, o.timeout)?;
    let before = g.state()?;
    let changes = g.changes(o.include_untracked)?;
    refuse_unsafe_state(&g, &changes)?;
    let (mode, target_name) = match &o.target {
        Target::Branch(b) => ("branch", b.clone()),
        Target::Ref(r) => ("ref", r.clone()),
    };
    let mut base = serde_json::Map::new();
    base.insert("root".into(), json!(g.root()));
    base.insert("remote".into(), json!(o.remote));
    base.insert("mode".into(), json!(mode));
    base.insert("target".into(), json!(target_name));
    state_fields(&mut base, "old_", &before);
    let base = Value::Object(base);
    ctx.log(format!(
        "at {} ({}) on {}, version {}",
        short(&before.head),
        before.describe.as_deref().unwrap_or("-"),
        before.branch.as_deref().unwrap_or("(detached)"),
        before.version.as_deref().unwrap_or("unknown")
    ));

    let fetch_args: Vec<String> = match &o.target {
        Target::Branch(b) => sv(&[
            "fetch",
            "--tags",
            &o.remote,
            &format!("+refs/heads/{b}:refs/remotes/{}/{b}", o.remote),
        ]),
        Target::Ref(_) => sv(&["fetch", "--tags", &o.remote]),
    };

    if ctx.dry_run() {
        return update_plan(&g, o, &before, &changes, &fetch_args, &base);
    }

    ctx.log(format!("git {}", fetch_args.join(" ")));
    g.ok(&fetch_args).map_err(|e| {
        e.context(format!("fetching from {}", o.remote))
            .with_data(with(&base, json!({"stash": null, "changed": false})))
    })?;

    let mv = plan_move(&g, o, &before)
        .map_err(|e| e.with_data(with(&base, json!({"stash": null, "changed": false}))))?;
    if mv.commit == before.head && mv.branch == before.branch {
        let mut m = g.report(&before, &before)?;
        m.extend(base.as_object().cloned().unwrap_or_default());
        m.insert("stash".into(), Value::Null);
        let msg = format!(
            "already at {} ({}), version {}",
            short(&before.head),
            before.describe.as_deref().unwrap_or("-"),
            before.version.as_deref().unwrap_or("unknown")
        );
        return Ok(Outcome::new(false, msg, Value::Object(m)));
    }

    let stash = g.apply_move(ctx, &before, &changes, o.include_untracked, &mv, &base)?;
    finish(ctx, &g, &before, stash, o.reapply_stash, &base, "updated")
}

/// After a move: the report, the optional re-apply of the stash, the owner warning.
fn finish(
    ctx: &Ctx,
    g: &Git,
    before: &State,
    stash: Option<Stash>,
    reapply: bool,
    base: &Value,
    verb: &str,
) -> Result<Outcome> {
    // The move is done: a failure from here on must still say where the stash is.
    let done = |e: Error| {
        let stash_json = stash.as_ref().map(|s| s.json(false, true));
        e.with_data(with(base, json!({"stash": stash_json, "changed": true})))
    };
    let after = g.state().map_err(done)?;
    let mut m = base.as_object().cloned().unwrap_or_default();
    m.extend(g.report(before, &after).map_err(done)?);
    warn_owner(ctx, g);
    let mut conflict = None;
    let stash_json = match &stash {
        None => Value::Null,
        Some(s) if reapply => match g.reapply(ctx, s).map_err(done)? {
            Ok(()) => s.json(true, false),
            Err(files) => {
                conflict = Some(files);
                s.json(false, true)
            }
        },
        Some(s) => s.json(false, true),
    };
    m.insert("stash".into(), stash_json);
    let n = m["changed_files"].as_array().map_or(0, Vec::len);
    let migs = m["migrations_added"].as_array().map_or(0, Vec::len);
    let mut msg = format!(
        "{verb} {} → {} ({} → {}), version {} → {}: {n} files changed, {migs} migrations added{}",
        before.describe.as_deref().unwrap_or(short(&before.head)),
        after.describe.as_deref().unwrap_or(short(&after.head)),
        short(&before.head),
        short(&after.head),
        before.version.as_deref().unwrap_or("unknown"),
        after.version.as_deref().unwrap_or("unknown"),
        if m["composer_lock_changed"] == json!(true) {
            ", composer.lock changed"
        } else {
            ""
        }
    );
    if let Some(s) = &stash {
        if reapply && conflict.is_none() {
            msg.push_str("; local changes re-applied");
        } else {
            msg.push_str(&format!("; local changes kept in stash {}", short(&s.sha)));
        }
    }
    if let (Some(files), Some(s)) = (conflict, &stash) {
        m.insert("conflicts".into(), json!(files));
        m.insert("changed".into(), json!(true));
        return Err(Error::step(format!(
            "{msg}, but re-applying them conflicts in {}",
            files.join(", ")
        ))
        .with_hint(format!(
            "the code is at the new commit and the tree is clean; your local edits are still in \
             stash {} — port them by hand (`git stash show -p {}`), or drop them",
            s.sha, s.sha
        ))
        .with_data(Value::Object(m)));
    }
    Ok(Outcome::new(true, msg, Value::Object(m)))
}

/// Files git writes as root are owned by root: say so when the tree belongs to someone else.
fn warn_owner(ctx: &Ctx, g: &Git) {
    if let Ok((uid, gid)) = crate::users::owner_of(g.root()) {
        let me = nix::unistd::geteuid().as_raw();
        if uid != me {
            ctx.warn(format!(
                "the install is owned by {} but git ran as {}: the files it wrote are owned by \
                 {}; give them back with `chown -R {uid}:{gid} {}`",
                crate::users::user_name(uid),
                crate::users::user_name(me),
                crate::users::user_name(me),
                g.root().display()
            ));
        }
    }
}

/// Decide where `update` goes (after the fetch), refusing a non-fast-forward up front.
fn plan_move(g: &Git, o: &UpdateOpts, before: &State) -> Result<Move> {
    match &o.target {
        Target::Branch(b) => {
            let remote_ref = format!("refs/remotes/{}/{b}", o.remote);
            let target = g.commit_of(&remote_ref)?.ok_or_else(|| {
                Error::missing(format!("{} has no branch {b}", o.remote))
                    .with_hint("list the remote's branches with `git ls-remote --heads REMOTE`")
            })?;
            let local = g.commit_of(&format!("refs/heads/{b}"))?;
            let mut steps = Vec::new();
            let commit = match &local {
                Some(l) => {
                    if g.is_ancestor(&target, l)? {
                        l.clone() // up to date, or local commits ahead
                    } else if g.is_ancestor(l, &target)? {
                        target.clone()
                    } else {
                        return Err(Error::step(format!(
                            "cannot fast-forward {b} ({}) to {}/{b} ({}): they have diverged",
                            short(l),
                            o.remote,
                            short(&target)
                        ))
                        .with_hint(hint_non_ff()));
                    }
                }
                None => target.clone(),
            };
            if before.branch.as_deref() != Some(b.as_str()) {
                match &local {
                    Some(_) => steps.push(sv(&["checkout", b])),
                    None => steps.push(sv(&["checkout", "-b", b, "--track", &remote_ref])),
                }
            }
            if local.as_deref().is_some_and(|l| *l != commit) {
                steps.push(sv(&["merge", "--ff-only", &remote_ref]));
            }
            Ok(Move {
                branch: Some(b.clone()),
                commit,
                steps,
            })
        }
        Target::Ref(r) => {
            let commit = resolve_ref(g, r)?;
            Ok(Move {
                branch: None,
                steps: vec![sv(&["checkout", "--detach", &commit])],
                commit,
            })
        }
    }
}

/// A tag (refs/tags/X first: a branch may carry the same name) or a commit id.
fn resolve_ref(g: &Git, r: &str) -> Result<String> {
    if let Some(c) = g.commit_of(&format!("refs/tags/{r}"))? {
        return Ok(c);
    }
    if r.len() >= 7 && r.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Some(c) = g.commit_of(r)? {
            return Ok(c);
        }
    }
    Err(Error::missing(format!("no tag or commit `{r}`"))
        .with_hint("list the release tags with `git ls-remote --tags REMOTE`"))
}

/// `update --dry-run`: nothing is fetched (a fetch moves refs); `git ls-remote` tells what
/// the remote has.
fn update_plan(
    g: &Git,
    o: &UpdateOpts,
    before: &State,
    changes: &Changes,
    fetch_args: &[String],
    base: &Value,
) -> Result<Outcome> {
    let wanted: Vec<String> = match &o.target {
        Target::Branch(b) => vec![format!("refs/heads/{b}")],
        Target::Ref(r) => vec![format!("refs/tags/{r}"), format!("refs/tags/{r}^{{}}")],
    };
    let mut ls = sv(&["ls-remote", &o.remote]);
    ls.extend(wanted.iter().cloned());
    let listing = g
        .ok(&ls)
        .map_err(|e| e.context(format!("asking {} what it has", o.remote)))?;
    let mut remote_commit = None;
    for line in listing.lines() {
        if let Some((sha, name)) = line.split_once('\t') {
            // A peeled tag (`^{}`) names the commit; it wins over the tag object.
            if name.ends_with("^{}") || remote_commit.is_none() {
                remote_commit = Some(sha.to_string());
            }
        }
    }
    let remote_commit = match (remote_commit, &o.target) {
        (Some(c), _) => c,
        (None, Target::Ref(r)) => resolve_ref(g, r)?,
        (None, Target::Branch(b)) => {
            return Err(Error::missing(format!("{} has no branch {b}", o.remote))
                .with_hint("list the remote's branches with `git ls-remote --heads REMOTE`"))
        }
    };
    let known = g.commit_of(&remote_commit)?.is_some();
    let (would_change, mut steps) = match &o.target {
        Target::Branch(b) => {
            let on = before.branch.as_deref() == Some(b.as_str());
            let up_to_date = known && g.is_ancestor(&remote_commit, &before.head)?;
            let remote_ref = format!("refs/remotes/{}/{b}", o.remote);
            let mut steps = Vec::new();
            if !on {
                steps.push(sv(&["checkout", b]));
            }
            if !up_to_date {
                steps.push(sv(&["merge", "--ff-only", &remote_ref]));
            }
            (!(on && up_to_date), steps)
        }
        Target::Ref(r) => (
            !(before.branch.is_none() && before.head == remote_commit),
            vec![sv(&[
                "checkout",
                "--detach",
                &format!("refs/tags/{r}^{{commit}}"),
            ])],
        ),
    };
    let mut plan = vec![shown(g, fetch_args)];
    let stash = would_change && needs_stash(changes, o.include_untracked);
    if would_change {
        if stash {
            let mut a = sv(&["stash", "push", "-m", "dfkit <time>"]);
            if o.include_untracked {
                a.push("--include-untracked".into());
            }
            plan.push(shown(g, &a));
        }
        plan.extend(steps.drain(..).map(|s| shown(g, &s)));
        if stash && o.reapply_stash {
            plan.push(shown(g, &sv(&["stash", "pop", "stash@{0}"])));
        }
    }
    let mut files = changes.tracked.clone();
    if o.include_untracked {
        files.extend(changes.untracked.iter().cloned());
    }
    let data = with(
        base,
        json!({
            "remote_commit": remote_commit,
            "would_stash": if stash { json!(files) } else { Value::Null },
            "plan": plan,
        }),
    );
    let msg = if would_change {
        format!(
            "would update {} to {} ({})",
            short(&before.head),
            short(&remote_commit),
            match &o.target {
                Target::Branch(b) => format!("{}/{b}", o.remote),
                Target::Ref(r) => format!("tag {r}"),
            }
        )
    } else {
        format!("already at {}", short(&before.head))
    };
    Ok(Outcome::new(would_change, msg, data))
}

/// `df-git-update rollback --to COMMIT`.
pub fn rollback(ctx: &Ctx, root: &Path, o: &RollbackOpts) -> Result<Outcome> {
    let g = Git::open(root, o.timeout)?;
    let before = g.state()?;
    let changes = g.changes(o.include_untracked)?;
    refuse_unsafe_state(&g, &changes)?;
    let commit = g.commit_of(&o.to)?.ok_or_else(|| {
        Error::missing(format!("no commit `{}` in the repository", o.to))
            .with_hint("give a commit id recorded by an earlier update (data.old_commit)")
    })?;
    let branch = if o.detach {
        None
    } else {
        o.branch.clone().or_else(|| before.branch.clone())
    };
    let steps = match &branch {
        // -B keeps the branch name and refuses to overwrite untracked files (unlike reset --hard).
        Some(b) => vec![sv(&["checkout", "-B", b, &commit])],
        None => vec![sv(&["checkout", "--detach", &commit])],
    };
    let mut base = serde_json::Map::new();
    base.insert("root".into(), json!(g.root()));
    base.insert("to".into(), json!(o.to));
    state_fields(&mut base, "old_", &before);
    let base = Value::Object(base);
    let noop = commit == before.head && branch == before.branch;
    if ctx.dry_run() {
        let mut plan = Vec::new();
        let stash = !noop && needs_stash(&changes, o.include_untracked);
        if stash {
            plan.push(shown(&g, &sv(&["stash", "push", "-m", "dfkit <time>"])));
        }
        if !noop {
            plan.extend(steps.iter().map(|s| shown(&g, s)));
        }
        let data = with(&base, json!({"new_commit": commit, "plan": plan}));
        let msg = if noop {
            format!("already at {}", short(&commit))
        } else {
            format!(
                "would roll back {} → {}",
                short(&before.head),
                short(&commit)
            )
        };
        return Ok(Outcome::new(!noop, msg, data));
    }
    if noop {
        let mut m = base.as_object().cloned().unwrap_or_default();
        m.extend(g.report(&before, &before)?);
        m.insert("stash".into(), Value::Null);
        return Ok(Outcome::new(
            false,
            format!("already at {}", short(&commit)),
            Value::Object(m),
        ));
    }
    let mv = Move {
        branch,
        commit,
        steps,
    };
    let stash = g.apply_move(ctx, &before, &changes, o.include_untracked, &mv, &base)?;
    finish(
        ctx,
        &g,
        &before,
        stash,
        o.reapply_stash,
        &base,
        "rolled back",
    )
}

/// `df-git-update status`: read-only (except `--fetch`, which updates remote-tracking refs).
pub fn status(ctx: &Ctx, root: &Path, o: &StatusOpts) -> Result<Outcome> {
    let g = Git::open(root, o.timeout)?;
    let st = g.state()?;
    let changes = g.changes(true)?;
    let branch = o
        .branch
        .clone()
        .or_else(|| st.branch.clone())
        .unwrap_or_else(|| "master".into());
    let upstream = format!("refs/remotes/{}/{branch}", o.remote);
    let fetch_args = sv(&[
        "fetch",
        "--tags",
        &o.remote,
        &format!("+refs/heads/{branch}:{upstream}"),
    ]);
    let mut plan = Vec::new();
    let mut fetched = false;
    if o.fetch {
        if ctx.dry_run() {
            plan.push(shown(&g, &fetch_args));
        } else {
            ctx.log(format!("git {}", fetch_args.join(" ")));
            g.ok(&fetch_args)
                .map_err(|e| e.context(format!("fetching from {}", o.remote)))?;
            fetched = true;
        }
    }
    let remote_head = g.commit_of(&upstream)?;
    let (behind, ahead) = match &remote_head {
        Some(_) => {
            let counts = g.ok([
                "rev-list",
                "--left-right",
                "--count",
                &format!("HEAD...{upstream}"),
            ])?;
            let mut it = counts.split_whitespace().map(|n| n.parse::<u64>().ok());
            let ahead = it.next().flatten();
            let behind = it.next().flatten();
            (behind, ahead)
        }
        None => (None, None),
    };
    if remote_head.is_none() {
        ctx.warn(format!(
            "no {}/{branch} known locally; rerun with --fetch to compare with the remote",
            o.remote
        ));
    }
    let work_version = crate::install::Install::at(g.root()).version();
    let mut data = json!({
        "root": g.root(),
        "branch": st.branch,
        "detached": st.branch.is_none(),
        "head": st.head,
        "describe": st.describe,
        "version": work_version,
        "committed_version": st.version,
        "local_changes": {
            "tracked": changes.tracked,
            "untracked": changes.untracked,
            "unmerged": changes.unmerged,
        },
        "remote": o.remote,
        "upstream": format!("{}/{branch}", o.remote),
        "remote_commit": remote_head,
        "behind": behind,
        "ahead": ahead,
        "fetched": fetched,
    });
    if ctx.dry_run() {
        data["plan"] = json!(plan);
    }
    let msg = format!(
        "{} at {} ({}), version {}; {} local changes; {}",
        st.branch.as_deref().unwrap_or("(detached)"),
        short(&st.head),
        st.describe.as_deref().unwrap_or("-"),
        data["version"].as_str().unwrap_or("unknown"),
        changes.tracked.len() + changes.unmerged.len(),
        match behind {
            Some(b) => format!("{b} commits behind {}/{branch}", o.remote),
            None => format!("{}/{branch} unknown", o.remote),
        }
    );
    Ok(Outcome::new(false, msg, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_parsing() {
        let raw = b" M config/app.php\0?? new.txt\0R  b.php\0a.php\0UU c.php\0A  d.php\0";
        let c = parse_status(raw);
        assert_eq!(c.tracked, ["config/app.php", "b.php", "d.php"]);
        assert_eq!(c.untracked, ["new.txt"]);
        assert_eq!(c.unmerged, ["c.php"]);
    }

    fn out(code: i32, stderr: &str) -> Output {
        Output {
            code: Some(code),
            signal: None,
            stdout: vec![],
            stderr: stderr.as_bytes().to_vec(),
            duration: Duration::ZERO,
            timed_out: false,
        }
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_urls("fatal: unable to access 'https://bob:ghp_s3cret@github.com/x.git/': 403"),
            "fatal: unable to access 'https://***@github.com/x.git/': 403"
        );
        assert_eq!(redact_urls("ssh://git@host/x"), "ssh://***@host/x");
    }

    #[test]
    fn classification() {
        let e = classify(
            "git fetch",
            &out(
                128,
                "fatal: '/x/origin.git' does not appear to be a git repository\n\
                 fatal: Could not read from remote repository.\n",
            ),
        );
        assert_eq!(e.kind.exit_code(), 69);
        let e = classify(
            "git merge",
            &out(128, "fatal: Not possible to fast-forward, aborting.\n"),
        );
        assert_eq!(e.kind, ErrorKind::StepFailed);
        assert!(e.hint.unwrap().contains("force-push"));
        let e = classify(
            "git status",
            &out(
                128,
                "fatal: detected dubious ownership in repository at '/x'\n",
            ),
        );
        assert_eq!(e.kind.exit_code(), 78);
        let e = classify(
            "git checkout",
            &out(
                1,
                "error: The following untracked working tree files would be overwritten by checkout:\n",
            ),
        );
        assert!(e.hint.unwrap().contains("--include-untracked"));
    }
}
