//! How PHP runs for an install: which php and composer, as which user (the owner of
//! storage/ for artisan, of the root for composer, or `--as-user`), with a private HOME
//! and COMPOSER_HOME when we switch user, the timeout, and secret arguments kept out of
//! argv. Nothing here changes the install: handing root-owned files back is
//! [`super::sweep`]'s job, which a read-only caller (df-verify) leaves out.

use super::Options;
use crate::error::{Error, ErrorKind, Result};
use crate::exec::{Cmd, Input};
use crate::report::data::artisan::RunAsInfo;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The user a command runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RunAs {
    pub uid: u32,
    pub gid: u32,
    /// Whether this differs from us (then we switch uid/gid and give it a private HOME).
    pub switch: bool,
}

impl RunAs {
    pub fn info(&self) -> RunAsInfo {
        RunAsInfo {
            user: crate::users::user_name(self.uid),
            uid: self.uid,
            gid: self.gid,
        }
    }
}

/// The ARGV shim for arguments that must not appear in a process list (`down --secret`):
/// php reads this program from stdin and hands artisan the argv from the environment.
const ARGV_SHIM: &str = "<?php\n\
$a = json_decode(getenv('DFKIT_ARTISAN_ARGV'), true);\n\
putenv('DFKIT_ARTISAN_ARGV');\n\
unset($_ENV['DFKIT_ARTISAN_ARGV'], $_SERVER['DFKIT_ARTISAN_ARGV']);\n\
$_SERVER['argv'] = $argv = $a;\n\
$_SERVER['argc'] = $argc = count($a);\n\
require getcwd() . '/artisan';\n";

/// Finds the programs and builds the commands; remembers what it found.
pub(super) struct Php<'a> {
    opts: &'a Options,
    root: PathBuf,
    php: Option<PathBuf>,
    homes: Vec<(u32, tempfile::TempDir)>,
}

impl<'a> Php<'a> {
    pub fn new(opts: &'a Options) -> Php<'a> {
        Php {
            opts,
            root: opts.root.clone(),
            php: None,
            homes: Vec::new(),
        }
    }

    /// The php binary.
    pub fn php(&mut self) -> Result<PathBuf> {
        if let Some(p) = &self.php {
            return Ok(p.clone());
        }
        let p = match &self.opts.php {
            Some(p) => crate::exec::find_program(p)
                .map_err(|e| e.with_hint("--php must name an executable php binary"))?,
            None => crate::exec::find_program("php").map_err(|e| {
                e.with_hint("install PHP's CLI (e.g. apt-get install php-cli) or pass --php PATH")
            })?,
        };
        self.php = Some(p.clone());
        Ok(p)
    }

    /// The program that runs composer, the arguments that precede composer's own, and
    /// the composer program or .phar to report.
    pub fn composer(&mut self) -> Result<(PathBuf, Vec<OsString>, PathBuf)> {
        let phar = |me: &mut Php, p: PathBuf| -> Result<(PathBuf, Vec<OsString>, PathBuf)> {
            Ok((me.php()?, vec![p.clone().into_os_string()], p))
        };
        match &self.opts.composer {
            Some(p) if p.extension().is_some_and(|e| e == "phar") => {
                if !p.is_file() {
                    return Err(Error::unavailable(format!("{} not found", p.display())));
                }
                phar(self, p.clone())
            }
            Some(p) => {
                let p = crate::exec::find_program(p)?;
                Ok((p.clone(), vec![], p))
            }
            None => match crate::exec::find_program("composer") {
                Ok(p) => Ok((p.clone(), vec![], p)),
                Err(e) => {
                    let local = self.root.join("composer.phar");
                    if local.is_file() {
                        phar(self, local)
                    } else {
                        Err(e.with_hint(
                            "install composer (e.g. apt-get install composer), put composer.phar \
                             in the install root, or pass --composer PATH",
                        ))
                    }
                }
            },
        }
    }

    /// Who runs PHP for `owner_of` (storage/ for artisan, the root for composer).
    fn run_as(&self, owner_of: &Path) -> Result<RunAs> {
        let me = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        if !crate::users::is_root() {
            // Not root: we cannot switch, and whatever we write is ours anyway.
            return Ok(RunAs {
                uid: me.0,
                gid: me.1,
                switch: false,
            });
        }
        let (uid, gid) = match &self.opts.as_user {
            Some(u) => {
                let uid = crate::users::resolve_user(u)?;
                (uid, crate::users::primary_gid(uid).unwrap_or(uid))
            }
            None => {
                let p = if owner_of.exists() {
                    owner_of
                } else {
                    &self.root
                };
                crate::users::owner_of(p)?
            }
        };
        Ok(RunAs {
            uid,
            gid,
            switch: uid != me.0,
        })
    }

    pub fn artisan_user(&self) -> Result<RunAs> {
        self.run_as(&self.root.join("storage"))
    }

    pub fn composer_user(&self) -> Result<RunAs> {
        self.run_as(&self.root)
    }

    /// A private HOME for a user we switch to (its own home may be unwritable, e.g.
    /// www-data's /var/www, and root's must not be touched).
    fn home_for(&mut self, who: RunAs) -> Result<PathBuf> {
        if let Some((_, d)) = self.homes.iter().find(|(u, _)| *u == who.uid) {
            return Ok(d.path().to_path_buf());
        }
        let d = tempfile::Builder::new()
            .prefix("dfkit-home-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary HOME in", &std::env::temp_dir(), e))?;
        std::os::unix::fs::chown(d.path(), Some(who.uid), Some(who.gid))
            .map_err(|e| Error::io("handing over", d.path(), e))?;
        let p = d.path().to_path_buf();
        self.homes.push((who.uid, d));
        Ok(p)
    }

    /// Refuse early when the user we switch to cannot reach the install: PHP would
    /// otherwise fail obscurely, or — worse — Laravel would silently boot without an
    /// unreadable .env and migrate some other database.
    pub fn check_access(&self, who: RunAs, files: &[&str]) -> Result<()> {
        if !who.switch {
            return Ok(());
        }
        for f in files {
            let p = self.root.join(f);
            if !p.exists() {
                continue;
            }
            if let Some(blocker) = crate::fsops::inaccessible(&p, who.uid, who.gid) {
                let name = crate::users::user_name(who.uid);
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "{} cannot read {} ({} is not accessible to it)",
                        name,
                        p.display(),
                        blocker.display()
                    ),
                )
                .with_hint(format!(
                    "PHP runs as {name}, the owner of storage/ (the web server reads these files as \
                     that user too): make them readable (e.g. chgrp {name} .env && chmod 640 .env), \
                     or pass --as-user USER"
                )));
            }
        }
        Ok(())
    }

    /// `program` in the root as `who`, with the timeout and composer's environment.
    pub fn base_cmd(&mut self, who: RunAs, program: &Path) -> Result<Cmd> {
        let mut c = Cmd::resolved(program)
            .current_dir(&self.root)
            .timeout(self.opts.timeout)
            .env("COMPOSER_MEMORY_LIMIT", "-1")
            .env("COMPOSER_NO_INTERACTION", "1")
            // Symfony Console asks `stty -a | grep columns` (a shell, stty and grep) for
            // the terminal's size unless these are set; there is no terminal here, and
            // 80×50 is what it falls back to then. Saves three processes per command.
            .env("COLUMNS", "80")
            .env("LINES", "50");
        let need_home = who.switch
            || (std::env::var_os("HOME").is_none() && std::env::var_os("COMPOSER_HOME").is_none());
        if need_home {
            let home = self.home_for(who)?;
            c = c
                .env("HOME", &home)
                .env("COMPOSER_HOME", home.join("composer"))
                .env("COMPOSER_CACHE_DIR", home.join("composer-cache"))
                .env_remove("XDG_CONFIG_HOME")
                .env_remove("XDG_CACHE_HOME")
                .env_remove("XDG_DATA_HOME");
        }
        if who.switch {
            c = c.as_user(who.uid, who.gid);
        } else if crate::users::is_root() {
            c = c.env("COMPOSER_ALLOW_SUPERUSER", "1");
        }
        Ok(c)
    }

    /// `php artisan --no-interaction ARGS…` as `who`, and its masked command line.
    /// `shown` is ARGS as a report may show them; where it differs from ARGS (a secret
    /// is among them), argv travels through the environment and the ARGV shim, never
    /// through the process list.
    pub fn artisan_cmd(
        &mut self,
        who: RunAs,
        args: &[String],
        shown: &[String],
    ) -> Result<(Cmd, String)> {
        let php = self.php()?;
        let head = ["artisan".to_string(), "--no-interaction".to_string()];
        let argv: Vec<String> = head.iter().chain(args).cloned().collect();
        let shown_argv: Vec<String> = head.iter().chain(shown).cloned().collect();
        let cmd = self.base_cmd(who, &php)?;
        let line = display_line(&php, &shown_argv);
        if argv == shown_argv {
            return Ok((cmd.args(&argv), line));
        }
        let payload = serde_json::to_string(&argv).expect("strings serialize");
        let cmd = cmd
            .secret_env("DFKIT_ARTISAN_ARGV", &payload)
            .stdin(Input::Bytes(ARGV_SHIM.as_bytes().to_vec()));
        Ok((cmd, line))
    }

    /// `php` reading `program` from stdin as `who`.
    pub fn php_program(&mut self, who: RunAs, program: &str) -> Result<Cmd> {
        let php = self.php()?;
        Ok(self
            .base_cmd(who, &php)?
            .stdin(Input::Bytes(program.as_bytes().to_vec())))
    }

    /// `php` reading `program` from stdin as `who`, with `secret` in the environment
    /// variable `var` (for small edits that must be made as the owner of storage/).
    pub fn php_stdin(&mut self, who: RunAs, program: &str, var: &str, secret: &str) -> Result<Cmd> {
        let php = self.php()?;
        Ok(self
            .base_cmd(who, &php)?
            .secret_env(var, secret)
            .stdin(Input::Bytes(program.as_bytes().to_vec())))
    }
}

/// A masked, shell-quoted command line for reports.
pub(super) fn display_line(program: &Path, argv: &[String]) -> String {
    std::iter::once(program.display().to_string())
        .chain(argv.iter().cloned())
        .map(|a| crate::exec::shell_quote(&crate::secret::scrub(&a)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_masks_registered_secrets() {
        crate::secret::register("s3cr3t-bypass");
        let s = display_line(
            Path::new("/usr/bin/php"),
            &[
                "artisan".into(),
                "down".into(),
                "--secret=s3cr3t-bypass".into(),
            ],
        );
        assert_eq!(s, "/usr/bin/php artisan down '--secret=***'");
    }
}
