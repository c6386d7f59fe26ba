//! A failed git command → an error with a kind and a hint, from git's message.

use crate::error::{Error, ErrorKind};
use crate::exec::Output;

pub(crate) fn hint_dubious() -> &'static str {
    "git refuses repositories owned by another user than the one running it (CVE-2022-24765); \
     dfkit keeps that protection: run df-git-update as root (it then runs git as the owner of \
     the work tree) or as the owner, and give the whole checkout — .git included — to one \
     user (a local origin must be readable by, and belong to, that user too)"
}

/// The hint for a branch that cannot be fast-forwarded, with the real names.
pub(crate) fn hint_non_ff(remote: &str, branch: &str) -> String {
    format!(
        "the local branch and the remote have diverged (history rewritten on the remote by a \
         force-push, or local commits): nothing was changed; compare with `git log --oneline \
         --graph HEAD {remote}/{branch}` and decide, or update to a tag with --ref"
    )
}

/// Turn a failed git command into an error with a kind and a hint from git's message.
pub fn classify(shown: &str, out: &Output) -> Error {
    let text = out.combined();
    let said = redact_urls(&out.tail(6).replace(['\n', '\t'], " "));
    let msg = format!("`{shown}` failed ({}): {said}", out.status_text());
    let has = |s: &str| text.contains(s);
    if has("dubious ownership") {
        Error::config(msg).with_hint(hint_dubious())
    } else if has("index.lock': File exists") || has(".lock': File exists") {
        Error::new(ErrorKind::Temporary, msg).with_hint(hint_lock(&text))
    } else if has("insufficient permission")
        || has("unable to unlink old") && has("Permission denied")
    {
        Error::new(ErrorKind::PermissionDenied, msg).with_hint(
            "files of the checkout or of .git belong to another user than the one git runs as \
             (the checkout's owner), e.g. root from an earlier run of git as root: give them \
             back with `chown -R OWNER: ROOT` (as root); nothing else was changed",
        )
    } else if has("Not possible to fast-forward")
        || has("non-fast-forward")
        || has("have diverged")
        || has("fatal: refusing to merge unrelated histories")
    {
        Error::step(msg).with_hint(
            "the local branch and the remote have diverged (history rewritten on the remote \
             by a force-push, or local commits): compare with `git log --oneline --graph \
             --all` and decide, or update to a tag with --ref",
        )
    } else if has("would be overwritten by") || has("would be removed by") {
        Error::step(msg).with_hint(
            "untracked files in the install are in the way of files the new commit adds; \
             move them aside, or rerun with --include-untracked to stash them too",
        )
    } else if has("couldn't find remote ref") {
        Error::missing(msg).with_hint(
            "the remote has no such branch; list them with `git ls-remote --heads` and the \
             remote's name",
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

/// What to do about a lock file git found: `Unable to create '/x/.git/index.lock': File exists.`
pub(crate) fn hint_lock(text: &str) -> String {
    let path = text
        .split('\'')
        .find(|s| s.ends_with(".lock"))
        .unwrap_or(".git/index.lock");
    format!(
        "another git process may be running in this repository: check with `pgrep -a git`; \
         if none is (a crashed or killed git left the lock behind), remove it with `rm {path}` \
         and run again; nothing was changed"
    )
}

/// Hide credentials in URLs git echoes (`https://user:token@host/…`).
pub fn redact_urls(text: &str) -> String {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"://[^/@\s']+@").expect("valid regex"));
    re.replace_all(text, "://***@").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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

    #[test]
    fn hints_name_real_things() {
        let h = hint_non_ff("upstream", "7.x");
        assert!(
            h.contains("upstream/7.x") && !h.contains("REMOTE/BRANCH"),
            "{h}"
        );
        let e = classify(
            "git merge",
            &out(128, "fatal: Not possible to fast-forward, aborting.\n"),
        );
        assert!(!e.hint.unwrap().contains("REMOTE/BRANCH"));
        let e = classify(
            "git checkout",
            &out(
                128,
                "fatal: Unable to create '/opt/df/.git/index.lock': File exists.\n",
            ),
        );
        assert_eq!(e.kind.exit_code(), 75);
        let h = e.hint.unwrap();
        assert!(
            h.contains("rm /opt/df/.git/index.lock") && h.contains("pgrep"),
            "{h}"
        );
    }
}
