//! Helpers for df-migrate's tests: an old and a new instance, each on its own database,
//! byte flips at chosen places of a bundle, and recording stand-ins.

use super::bins::{self, Run};
use super::sandbox::{Options, Sandbox};
use super::servers::{self, DbSpec};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A password with every character a .env or a shell could trip on.
pub const NASTY: &str = "mi'g\"r #;:\\ $x";

/// One instance: a sandbox and its database (none for sqlite).
pub struct Instance {
    pub sb: Sandbox,
    pub db: Option<DbSpec>,
}

impl Instance {
    /// A fresh instance at v1 (`at_v2`: v2) on a database of its own.
    pub fn new(driver: &'static str, at_v2: bool) -> Instance {
        Instance::with_password(driver, at_v2, NASTY)
    }

    /// [`Instance::new`], with this database password.
    pub fn with_password(driver: &'static str, at_v2: bool, password: &str) -> Instance {
        let db = match driver {
            "mysql" => Some(servers::mariadb().new_database("mig", password)),
            "pgsql" => Some(servers::postgres().new_database("mig", password)),
            _ => None,
        };
        let sb = Sandbox::with(
            driver,
            db.as_ref(),
            &Options {
                at_v2,
                ..Options::default()
            },
        );
        Instance { sb, db }
    }

    pub fn root(&self) -> &Path {
        &self.sb.root
    }

    /// Run SQL on the instance's database; returns trimmed output.
    pub fn sql(&self, sql: &str) -> String {
        match &self.db {
            None => self.sb.sqlite(sql),
            Some(db) => db.sql(sql).trim().to_string(),
        }
    }

    /// A df-migrate command on this instance (`--root`, its own lock dir).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bins::bin("df-migrate"));
        c.arg("--root").arg(self.root()).args(args);
        c.env("DFKIT_LOCK_DIR", self.sb.tmp.path().join("locks"));
        c.env_remove("DFKIT_TOOLS_DIR");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        bins::run_command(self.cmd(args))
    }

    /// `export --into DIR/NAME` (plus `extra`), asserted ok; returns the bundle's path.
    pub fn export(&self, name: &str, extra: &[&str]) -> PathBuf {
        let out = self.sb.tmp.path().join(name);
        let mut a = vec!["export", "--into", out.to_str().unwrap()];
        a.extend_from_slice(extra);
        self.run(&a).assert_ok();
        out
    }

    /// A directory for this instance's backup sets.
    pub fn sets(&self) -> PathBuf {
        self.sb.tmp.path().join("sets")
    }
}

/// Where each part of a plain bundle is: (member name, header offset, data offset, size).
pub fn members(bundle: &Path) -> Vec<(String, u64, u64, u64)> {
    let f = std::fs::File::open(bundle).unwrap();
    let mut ar = tar::Archive::new(f);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.raw_header_position(),
                e.raw_file_position(),
                e.size(),
            )
        })
        .collect()
}

/// Flip the low bit of the byte at `at`.
pub fn flip(file: &Path, at: u64) {
    let mut b = std::fs::read(file).unwrap();
    b[at as usize] ^= 0x01;
    std::fs::write(file, b).unwrap();
}

/// An executable shell script at `dir/name`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// PATH with `dir` first.
pub fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
