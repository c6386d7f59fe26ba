//! git, bound to one work tree and run as the tree's owner.
//!
//! Root must never run code the web user controls: a repository's config and hooks name
//! programs (`core.fsmonitor`, `.git/hooks/*`, `core.hooksPath`, clean/smudge filters,
//! `core.sshCommand`, pagers…) that git runs as whoever runs git. So run as root in a tree
//! owned by another user, every git command runs as that user (its uid and the tree's
//! gid, supplementary groups dropped) with a private, empty HOME — root's global git
//! config is not read, and nothing is written to either user's home. Run as root in a
//! root-owned tree, git runs as root, but only if the repository's config and hooks are
//! root's too. git's own ownership check (CVE-2022-24765) is never switched off.

use super::classify::{classify, hint_dubious};
use crate::error::{Error, ErrorKind, Result};
use crate::exec::{find_program, Cmd, Output};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// git, bound to one work tree.
pub struct Git {
    program: PathBuf,
    root: PathBuf,
    /// The uid git runs as.
    uid: u32,
    /// (uid, gid) to switch to: we are root and the tree is another user's.
    switch_to: Option<(u32, u32)>,
    /// The private HOME of the user we switch to (removed when dropped).
    home: Option<tempfile::TempDir>,
    /// `GIT_SSH_COMMAND` for every command (a filter or hook of any command may reach a
    /// remote over ssh, e.g. git-lfs on checkout): asked once, when the tree is opened.
    ssh_command: std::cell::OnceCell<Option<String>>,
    /// Set when git cannot work out a committer identity: `git stash` needs one. Asked
    /// (two `git var` runs) only when a command that writes commits is about to run.
    ident_fallback: std::cell::OnceCell<bool>,
    /// `--git-path` answers (they do not change while we run); the usual ones come with
    /// the `--show-toplevel` of [`Git::open`], in the same git run.
    git_paths: std::cell::RefCell<std::collections::HashMap<String, PathBuf>>,
    /// Ancestry of full commit ids, both ways, from one `git merge-base` per pair
    /// (commits never change).
    ancestry: std::cell::RefCell<std::collections::HashMap<(String, String), bool>>,
    timeout: Duration,
}

/// The git paths every update or rollback asks for, asked once with `--show-toplevel`.
const USUAL_GIT_PATHS: [&str; 7] = [
    "MERGE_HEAD",
    "rebase-merge",
    "rebase-apply",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "index.lock",
    super::interrupted::MARKER,
];

/// A full commit id (sha1 or sha256), as `rev-parse` prints it.
fn is_full_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// HEAD as it is: what we must be able to put back.
#[derive(Debug, Clone)]
pub struct State {
    pub branch: Option<String>,
    pub head: String,
    pub describe: Option<String>,
    pub version: Option<String>,
}

pub(crate) fn to_string_lossy(o: &[u8]) -> String {
    String::from_utf8_lossy(o).trim_end().to_string()
}

impl Git {
    /// Check the root is the top of a git work tree and decide who runs git in it.
    pub fn open(root: &Path, timeout: Duration) -> Result<Git> {
        let program = find_program("git").map_err(|e| {
            e.with_hint("install git (Debian/Ubuntu: apt-get install git; RHEL: dnf install git)")
        })?;
        let canon = std::fs::canonicalize(root).map_err(|e| {
            Error::io("opening the install", root, e).with_hint(
                "pass --root DIR or set DF_ROOT to the install (usually /opt/dreamfactory)",
            )
        })?;
        let (owner, group) = crate::users::owner_of(&canon)?;
        let me = nix::unistd::geteuid().as_raw();
        let (uid, switch_to, home) = if owner != me && me == 0 {
            (
                owner,
                Some((owner, group)),
                Some(private_home(owner, group)?),
            )
        } else {
            (me, None, None)
        };
        if uid == 0 {
            refuse_foreign_git_dir(&canon)?;
        }
        let g = Git {
            program,
            root: canon.clone(),
            uid,
            switch_to,
            home,
            ssh_command: std::cell::OnceCell::new(),
            ident_fallback: std::cell::OnceCell::new(),
            git_paths: Default::default(),
            ancestry: Default::default(),
            timeout,
        };
        let mut args = vec!["rev-parse", "--show-toplevel"];
        for n in USUAL_GIT_PATHS {
            args.extend(["--git-path", n]);
        }
        let out = g.run(&args)?;
        if !out.success() {
            let err = out.stderr_str();
            if err.contains("dubious ownership") {
                let said = err
                    .lines()
                    .find(|l| l.contains("dubious ownership"))
                    .unwrap_or("detected dubious ownership");
                return Err(Error::config(format!(
                    "git, run as {}, refuses {} (owned by {}): {}",
                    g.run_as(),
                    canon.display(),
                    crate::users::user_name(owner),
                    said.trim()
                ))
                .with_hint(hint_dubious()));
            }
            if err.contains("Permission denied") {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "git, run as {} (the owner of {}), cannot read the repository: {}",
                        g.run_as(),
                        canon.display(),
                        out.tail(1)
                    ),
                )
                .with_hint(format!(
                    "the work tree's owner must be able to reach it: check the modes of {} and \
                     its parent directories",
                    canon.display()
                )));
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
        let text = to_string_lossy(&out.stdout);
        let mut lines = text.lines();
        let top = PathBuf::from(lines.next().unwrap_or_default());
        let paths: Vec<&str> = lines.collect();
        if paths.len() == USUAL_GIT_PATHS.len() {
            let mut cache = g.git_paths.borrow_mut();
            for (n, p) in USUAL_GIT_PATHS.iter().zip(paths) {
                cache.insert(n.to_string(), g.in_root(p));
            }
        }
        let top = std::fs::canonicalize(&top).unwrap_or(top);
        if top != canon {
            return Err(Error::missing(format!(
                "{} is not the top of a git work tree (that is {})",
                canon.display(),
                top.display()
            ))
            .with_hint("pass the checkout's top directory as --root"));
        }
        let ssh = g.batch_ssh_command()?;
        let _ = g.ssh_command.set(ssh);
        Ok(g)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The tree's owner when git runs as that owner (root in another user's tree).
    pub(super) fn switch_to(&self) -> Option<(u32, u32)> {
        self.switch_to
    }

    /// The name of the user git runs as.
    pub fn run_as(&self) -> String {
        crate::users::user_name(self.uid)
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

    /// A git command in the work tree, as its owner, with dfkit's safety settings.
    pub fn cmd<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        // Only these write commits (a stash is two): the identity check waits for them.
        let writes_commits = args.first().is_some_and(|a| {
            ["stash", "commit", "rebase", "cherry-pick", "revert"]
                .iter()
                .any(|w| a == w)
        });
        let ident_fallback = writes_commits && self.ident_fallback();
        // ssh in BatchMode, so a missing key never prompts (unset only while `open` asks
        // for the repository's own ssh command).
        let ssh_command = self.ssh_command.get().cloned().flatten();
        let mut c = Cmd::resolved(&self.program)
            .args(["-c", "advice.detachedHead=false"])
            // No background `git maintenance run --auto` (gc) started by a merge or a
            // fetch inside a maintenance window.
            .args(["-c", "maintenance.auto=false"])
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .current_dir(&self.root)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_MERGE_AUTOEDIT", "no")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .env_remove("LANGUAGE")
            // The tree is the one given, whatever the caller's environment says.
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_OBJECT_DIRECTORY")
            .env_remove("GIT_COMMON_DIR")
            .timeout(self.timeout);
        if let (Some((uid, gid)), Some(home)) = (self.switch_to, &self.home) {
            // The owner's git reads no config of root's: a private, empty HOME.
            c = c
                .as_user(uid, gid)
                .env("HOME", home.path())
                .env_remove("XDG_CONFIG_HOME")
                .env_remove("GIT_CONFIG_GLOBAL");
        }
        if let Some(s) = &ssh_command {
            c = c.env("GIT_SSH_COMMAND", s);
        }
        if ident_fallback {
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

    /// git cannot work out an author or committer identity (asked once).
    fn ident_fallback(&self) -> bool {
        *self.ident_fallback.get_or_init(|| {
            let ok = |v: &str| {
                self.cmd(["var", v])
                    .run()
                    .is_ok_and(|o| o.success() && !o.timed_out)
            };
            !(ok("GIT_COMMITTER_IDENT") && ok("GIT_AUTHOR_IDENT"))
        })
    }

    /// Run; a non-zero exit is returned, not an error.
    pub fn run<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
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
        S: AsRef<OsStr>,
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
    pub fn maybe<I, S>(&self, args: I) -> Result<Option<String>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
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

    /// What [`Git::is_ancestor`] already found out about `a` and `b`, without asking git.
    pub fn known_ancestor(&self, a: &str, b: &str) -> Option<bool> {
        self.ancestry
            .borrow()
            .get(&(a.to_string(), b.to_string()))
            .copied()
    }

    /// `a` is an ancestor of `b` (or the same commit). For two full ids one `git
    /// merge-base` answers both ways (an ancestor is the only best common ancestor), and
    /// the answer is kept.
    pub fn is_ancestor(&self, a: &str, b: &str) -> Result<bool> {
        let key = (a.to_string(), b.to_string());
        if let Some(known) = self.ancestry.borrow().get(&key) {
            return Ok(*known);
        }
        let base = if is_full_id(a) && is_full_id(b) {
            let out = self.run(["merge-base", "--end-of-options", a, b])?;
            match out.code {
                Some(0) => Some(to_string_lossy(&out.stdout)),
                // No common ancestor at all.
                Some(1) if out.stdout.is_empty() => Some(String::new()),
                _ => None,
            }
        } else {
            None
        };
        let Some(base) = base else {
            return Ok(self
                .run(["merge-base", "--is-ancestor", "--end-of-options", a, b])?
                .success());
        };
        let mut known = self.ancestry.borrow_mut();
        known.insert((b.to_string(), a.to_string()), base == b);
        known.insert(key, base == a);
        Ok(base == a)
    }

    /// HEAD's commit and branch (None: detached).
    pub fn head_and_branch(&self) -> Result<(String, Option<String>)> {
        // Both in one git run. A HEAD without a commit fails it, and a tag named HEAD
        // (ambiguous for the second question) leaves it one line short: then the two
        // questions are asked apart.
        let out = self.run(["rev-parse", "HEAD^{commit}", "--symbolic-full-name", "HEAD"])?;
        if out.success() {
            let text = to_string_lossy(&out.stdout);
            if let [head, full] = text.lines().collect::<Vec<_>>()[..] {
                if is_full_id(head) {
                    // `HEAD` itself when detached; the full name (as symbolic-ref says) else.
                    let branch = (full != "HEAD")
                        .then(|| full.strip_prefix("refs/heads/").unwrap_or(full).to_string());
                    return Ok((head.to_string(), branch));
                }
            }
        }
        let head = self.commit_of("HEAD")?.ok_or_else(|| {
            Error::missing(format!("{} has no commit checked out", self.root.display()))
        })?;
        // The full name: `--short` says `heads/v1` when a tag v1 exists too.
        let branch = self
            .maybe(["symbolic-ref", "--quiet", "HEAD"])?
            .map(|r| r.strip_prefix("refs/heads/").unwrap_or(&r).to_string());
        Ok((head, branch))
    }

    pub fn state(&self) -> Result<State> {
        let (head, branch) = self.head_and_branch()?;
        self.state_at(head, branch)
    }

    /// The state of a HEAD already read (e.g. checked after a move).
    pub fn state_at(&self, head: String, branch: Option<String>) -> Result<State> {
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

    /// The `require.php` constraint of a commit's composer.json (None: no composer.json or
    /// no PHP requirement).
    pub fn require_php_at(&self, commit: &str) -> Result<Option<String>> {
        Ok(self
            .maybe(["show", &format!("{commit}:composer.json")])?
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["require"]["php"].as_str().map(str::to_string)))
    }

    /// A path inside the git directory (`git rev-parse --git-path`), absolute.
    /// As [`Git::git_path`], for several names in one git run.
    pub fn git_paths(&self, names: &[&str]) -> Result<Vec<PathBuf>> {
        {
            let cache = self.git_paths.borrow();
            let known: Vec<PathBuf> = names
                .iter()
                .filter_map(|n| cache.get(*n).cloned())
                .collect();
            if known.len() == names.len() {
                return Ok(known);
            }
        }
        let mut args = vec!["rev-parse"];
        for n in names {
            args.extend(["--git-path", n]);
        }
        let out = self.ok(&args)?;
        let paths: Vec<PathBuf> = out.lines().map(|l| self.in_root(l)).collect();
        if paths.len() != names.len() {
            return Err(Error::internal(format!(
                "git rev-parse --git-path gave {} paths for {} names",
                paths.len(),
                names.len()
            )));
        }
        let mut cache = self.git_paths.borrow_mut();
        for (n, p) in names.iter().zip(&paths) {
            cache.insert(n.to_string(), p.clone());
        }
        Ok(paths)
    }

    pub fn git_path(&self, name: &str) -> Result<PathBuf> {
        Ok(self.git_paths(&[name])?.remove(0))
    }

    /// A path git printed relative to the work tree, made absolute.
    fn in_root(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            self.root.join(p)
        }
    }

    /// Every path of a commit's tree.
    pub fn tree_paths(&self, commit: &str) -> Result<HashSet<String>> {
        let out = self.run(["ls-tree", "-r", "-z", "--name-only", commit])?;
        if !out.success() {
            return Err(classify("git ls-tree", &out));
        }
        Ok(out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect())
    }

    /// The configured remotes.
    pub fn remotes(&self) -> Result<Vec<String>> {
        Ok(self
            .ok(["remote"])?
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect())
    }

    /// Accept only a configured remote's name: anything else (`--upload-pack=…`, a URL,
    /// a path) is a usage error before it reaches git's argv.
    pub fn check_remote(&self, name: &str) -> Result<()> {
        let remotes = self.remotes()?;
        if remotes.iter().any(|r| r == name) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Usage,
            format!(
                "`{name}` is not a configured remote of {}",
                self.root.display()
            ),
        )
        .with_hint(if remotes.is_empty() {
            "the repository has no remote; add one with `git remote add origin URL`".to_string()
        } else {
            format!("give one of: {}", remotes.join(", "))
        }))
    }

    /// A branch name as a user gave it: a valid name that cannot be read as an option.
    pub fn check_branch_name(&self, what: &str, name: &str) -> Result<()> {
        check_not_option(what, name)?;
        let valid = name != "HEAD"
            && !name.starts_with("refs/")
            && self
                .run(["check-ref-format", &format!("refs/heads/{name}")])?
                .success();
        if valid {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Usage,
                format!("{what}: `{name}` is not a valid branch name"),
            )
            .with_hint("give a branch's short name, e.g. master"))
        }
    }
}

/// Refuse a value that is empty or would be read as an option.
pub fn check_not_option(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::new(ErrorKind::Usage, format!("{what} is empty"))
            .with_hint(format!("give {what} a value")));
    }
    if value.starts_with('-') {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("{what}: `{value}` starts with `-` (it would be read as an option)"),
        )
        .with_hint("give a name or commit id"));
    }
    Ok(())
}

/// An empty private HOME owned by the user git runs as.
fn private_home(uid: u32, gid: u32) -> Result<tempfile::TempDir> {
    let d = tempfile::Builder::new()
        .prefix("dfkit-git-home-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary HOME in", &std::env::temp_dir(), e))?;
    std::os::unix::fs::chown(d.path(), Some(uid), Some(gid))
        .map_err(|e| Error::io("handing over", d.path(), e))?;
    Ok(d)
}

/// Running git as root: the repository's config and hooks must be root's too, or another
/// user's code would run as root.
fn refuse_foreign_git_dir(root: &Path) -> Result<()> {
    let git = root.join(".git");
    let mut check = vec![git.clone()];
    if git.is_dir() {
        check.push(git.join("config"));
        check.push(git.join("hooks"));
        if let Ok(rd) = std::fs::read_dir(git.join("hooks")) {
            check.extend(rd.flatten().map(|e| e.path()));
        }
    }
    for p in check {
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.uid() != 0 {
            let who = crate::users::user_name(md.uid());
            return Err(Error::config(format!(
                "{} is owned by {who} while the work tree {} is root's: git run as root would \
                 run {who}'s configuration and hooks as root",
                p.display(),
                root.display()
            ))
            .with_hint(format!(
                "give the whole checkout to one user: `chown -R {who}: {}` (dfkit then runs git \
                 as {who}), or `chown -R root: {}` if it is root's",
                root.display(),
                git.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_like_and_empty_values_are_usage_errors() {
        for v in [
            "",
            "-x",
            "--upload-pack=touch /tmp/x",
            "--output=/etc/passwd",
        ] {
            let e = check_not_option("--to", v).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Usage, "{v:?}");
        }
        for v in ["v1", "7.7.0", "0123abcd", "feature/x-1"] {
            check_not_option("--to", v).unwrap();
        }
    }
}
