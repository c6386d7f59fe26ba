//! Running (or, with `--dry-run`, planning) the steps of a subcommand, and recording
//! each in the report: masked command line, user, exit code, duration, output tail.

use super::php::{Php, RunAs};
use super::{hints, output, sweep, Options};
use crate::error::{Error, Result};
use crate::exec::{Cmd, Output};
use crate::report::data::artisan::{CommandStep, Common, FileStep, Step};
use crate::report::{Ctx, PlanItem};
use std::path::{Path, PathBuf};

pub(super) struct Runner<'a> {
    pub ctx: &'a Ctx,
    pub opts: &'a Options,
    pub root: PathBuf,
    pub dry_run: bool,
    /// Hand root-owned files under storage/ back to their owner (df-artisan); off for
    /// read-only callers (df-verify).
    pub sweep: bool,
    pub php: Php<'a>,
    /// The data every subcommand reports.
    pub c: Common,
    pub plan: Vec<PlanItem>,
    pub ran_php: bool,
}

impl<'a> Runner<'a> {
    pub fn new(ctx: &'a Ctx, opts: &'a Options, sweep: bool) -> Runner<'a> {
        Runner {
            ctx,
            opts,
            root: opts.root.clone(),
            dry_run: ctx.dry_run(),
            sweep,
            php: Php::new(opts),
            c: Common::default(),
            plan: Vec::new(),
            ran_php: false,
        }
    }

    /// Run (or plan) one command. `shown` is the masked command line for the report.
    pub fn step(
        &mut self,
        name: &str,
        cmd: Cmd,
        shown: String,
        who: RunAs,
    ) -> Result<Option<Output>> {
        let user = crate::users::user_name(who.uid);
        if self.dry_run {
            self.plan
                .push(PlanItem::run(shown, format!("{name}, as {user}")));
            return Ok(None);
        }
        self.ctx.log(format!("{name}: {shown} (as {user})"));
        self.ran_php = true;
        let out = cmd.run()?;
        let combined = crate::secret::scrub(&out.combined());
        self.c.steps.push(Step::Command(CommandStep {
            step: name.to_string(),
            command: shown,
            user,
            exit_code: out.code,
            duration_ms: out.duration.as_millis() as u64,
            output_tail: tail(&combined, 20),
        }));
        Ok(Some(out))
    }

    /// A failed step's error: the message names the real cause (not a usage line or a
    /// trailing "Read the docs"), with a diagnosis and hint when the output is known.
    pub fn failure(&mut self, name: &str, out: &Output) -> Error {
        let text = crate::secret::scrub(&output::strip_ansi(&out.combined()));
        let cause = output::failure_cause(&text);
        let mut e = Error::step(format!("{name} failed ({}): {cause}", out.status_text()));
        if out.timed_out {
            e = e.with_hint(format!(
                "the command ran longer than --timeout ({} s); raise it for large databases",
                self.opts.timeout.as_secs()
            ));
        } else if let Some(d) = hints::diagnose(&text) {
            self.c.diagnosis = Some(d.id.to_string());
            e.kind = d.kind;
            e = e.with_hint(d.hint);
        }
        e
    }

    pub fn require_artisan(&self) -> Result<()> {
        let a = self.root.join("artisan");
        if a.is_file() {
            Ok(())
        } else {
            Err(Error::missing(format!(
                "{} has no artisan script: not a DreamFactory/Laravel install",
                self.root.display()
            ))
            .with_hint("pass --root DIR or set DF_ROOT to the install (usually /opt/dreamfactory)"))
        }
    }

    /// Who artisan runs as, after checking it can read the install (and, when we sweep,
    /// handing back root-owned leftovers of earlier runs that would block it).
    pub fn artisan_user(&mut self) -> Result<RunAs> {
        self.require_artisan()?;
        let who = self.php.artisan_user()?;
        if !self.dry_run {
            self.php
                .check_access(who, &["artisan", ".env", "vendor/autoload.php"])?;
            if who.switch {
                self.sweep_now()?;
            }
        }
        self.c.run_as = Some(who.info());
        Ok(who)
    }

    /// `php artisan --no-interaction ARGS…`, checked. Returns None on a dry run.
    pub fn artisan(&mut self, name: &str, args: &[String]) -> Result<Option<Output>> {
        match self.artisan_unchecked(name, args, args)? {
            Some(o) if !o.success() => Err(self.failure(name, &o)),
            o => Ok(o),
        }
    }

    /// Like [`Runner::artisan`] but a failed command is returned, not turned into an
    /// error (for reading what it did before failing). `shown`: see [`Php::artisan_cmd`].
    pub fn artisan_unchecked(
        &mut self,
        name: &str,
        args: &[String],
        shown: &[String],
    ) -> Result<Option<Output>> {
        let who = self.artisan_user()?;
        let (cmd, line) = self.php.artisan_cmd(who, args, shown)?;
        self.c.php = Some(self.php.php()?.display().to_string());
        self.step(name, cmd, line, who)
    }

    /// `composer ARGS… --no-interaction`, unchecked (None on a dry run).
    pub fn composer_unchecked(&mut self, name: &str, args: &[String]) -> Result<Option<Output>> {
        if !self.root.join("composer.json").is_file() {
            return Err(
                Error::missing(format!("{} has no composer.json", self.root.display()))
                    .with_hint("pass --root DIR (the DreamFactory install)"),
            );
        }
        let who = self.php.composer_user()?;
        self.c.composer_run_as = Some(who.info());
        let (prog, pre, shown_prog) = self.php.composer()?;
        self.c.composer = Some(shown_prog.display().to_string());
        if !pre.is_empty() {
            self.c.php = Some(prog.display().to_string());
        }
        let mut argv: Vec<String> = pre
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        argv.extend(args.iter().cloned());
        argv.push("--no-interaction".into());
        let shown = super::php::display_line(&prog, &argv);
        let cmd = self.php.base_cmd(who, &prog)?.args(&argv);
        self.step(name, cmd, shown, who)
    }

    /// `composer ARGS…`, checked.
    pub fn composer(&mut self, name: &str, args: &[String]) -> Result<Option<Output>> {
        match self.composer_unchecked(name, args)? {
            Some(o) if !o.success() => Err(self.composer_failure(name, args, &o)),
            o => Ok(o),
        }
    }

    /// A failed composer step's error; a failure composer does not explain gets the
    /// `composer_failed` diagnosis.
    pub fn composer_failure(&mut self, name: &str, args: &[String], out: &Output) -> Error {
        let mut e = self.failure(name, out);
        if self.c.diagnosis.is_none() && !out.timed_out {
            self.c.diagnosis = Some("composer_failed".into());
            e = e.with_hint(format!(
                "see the composer step's output_tail; to see all of it, run \
                 `composer {}` in {} as {}",
                args.join(" "),
                self.root.display(),
                self.c
                    .composer_run_as
                    .as_ref()
                    .map(|u| u.user.as_str())
                    .unwrap_or("the owner of the install"),
            ));
        }
        e
    }

    pub fn plan_fs(&mut self, action: &str, path: &Path, detail: &str) {
        self.plan.push(PlanItem::on_path(
            action,
            path.display().to_string(),
            detail,
        ));
    }

    pub fn record_fs(&mut self, step: &str, path: &Path) {
        self.ctx.log(format!("{step}: {}", path.display()));
        self.c.steps.push(Step::File(FileStep {
            step: step.to_string(),
            path: path.display().to_string(),
        }));
    }

    /// Give root-owned entries under storage/ and bootstrap/cache/ to the owner of that
    /// directory (when it is not root), unless this runner does not sweep.
    pub fn sweep_now(&mut self) -> Result<u64> {
        if !self.sweep {
            return Ok(0);
        }
        let n = sweep::sweep(self.ctx, &self.root)?;
        if n > 0 {
            self.ctx.log(format!(
                "gave {n} root-owned entries under storage/ and bootstrap/cache/ back to their owner"
            ));
        }
        self.c.ownership_fixed += n;
        Ok(n)
    }
}

/// The last `n` non-empty lines of `text`.
pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// At most `max` bytes of `s` (on a char boundary), marked when cut.
pub(super) fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[… {} bytes cut]", &s[..end], s.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_and_cap() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(cap("abcdef", 3), "abc\n[… 3 bytes cut]");
        assert_eq!(cap("é", 1), "\n[… 2 bytes cut]");
    }
}
