//! Man pages, completions, `make install` and the .deb (scripts/package.sh, Makefile).
//!
//! One test, to keep CI short: build the .deb from the test build's binaries (stripped
//! into the package, uncompressed), check its control file and contents, install it with
//! `dpkg -i` into a private root (its own dpkg database), run an installed tool, render
//! its man page and load its bash completion; then `make install-files` with the
//! installed binaries into a DESTDIR and check the PREFIX layout.

mod support;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::bins::{bin, TOOLS};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[track_caller]
fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `man -l FILE` as plain text.
fn render_man(page: &Path) -> String {
    ok(Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100"))
}

/// The completion file loads in bash and registers a completion for `tool`.
fn bash_completion_loads(file: &Path, tool: &str) {
    let out = ok(Command::new("bash").args([
        "--norc",
        "-c",
        &format!("source '{}' && complete -p {tool}", file.display()),
    ]));
    assert!(out.contains(tool), "{}: {out}", file.display());
}

#[test]
fn deb_and_make_install_carry_binaries_man_pages_completions_and_docs() {
    if !have("dpkg-deb") || !have("man") {
        panic!("dpkg-deb and man are needed (scripts/install-deps.sh installs them)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let bin_dir = bin("df-perms").parent().unwrap().to_path_buf();
    let out = ok(Command::new(repo().join("scripts/package.sh"))
        .arg("deb")
        .env("BIN_DIR", &bin_dir)
        .env("DIST", &dist)
        .env("DEB_COMPRESS", "none"));
    let deb = PathBuf::from(out.lines().last().unwrap().trim());
    assert!(deb.starts_with(&dist) && deb.exists(), "{out}");
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("dfkit_{}_", env!("CARGO_PKG_VERSION"))));

    // Control file.
    let field = |f: &str| ok(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(f));
    assert_eq!(field("Package").trim(), "dfkit");
    assert_eq!(field("Version").trim(), env!("CARGO_PKG_VERSION"));
    let arch = ok(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(field("Architecture").trim(), arch.trim());
    assert!(field("Description").contains("DreamFactory"));

    // Contents: every tool, its man page(s), completions for three shells, the docs.
    let list = ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let has = |p: &str| {
        list.lines()
            .any(|l| l.ends_with(&format!(" ./{p}")) || l.ends_with(&format!(" {p}")))
    };
    for t in TOOLS {
        for p in [
            format!("usr/bin/{t}"),
            format!("usr/share/man/man1/{t}.1.gz"),
            format!("usr/share/bash-completion/completions/{t}"),
            format!("usr/share/zsh/vendor-completions/_{t}"),
            format!("usr/share/fish/vendor_completions.d/{t}.fish"),
        ] {
            assert!(has(&p), "{p} missing from the .deb:\n{list}");
        }
    }
    for p in [
        "usr/share/man/man1/df-dump-db-restore.1.gz",
        "usr/share/doc/dfkit/README.md",
        "usr/share/doc/dfkit/json.md",
        // benchmarks.md shows it
        "usr/share/doc/dfkit/benchmarks.svg",
        "usr/share/doc/dfkit/copyright",
    ] {
        assert!(has(p), "{p} missing from the .deb:\n{list}");
    }
    assert!(
        !list
            .lines()
            .any(|l| l.contains(" dist/") || l.contains("target/")),
        "build paths in the .deb:\n{list}"
    );

    // dpkg -i into a private root with its own database.
    let root = tmp.path().join("root");
    let admin = root.join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::create_dir_all(admin.join("updates")).unwrap();
    std::fs::write(admin.join("status"), "").unwrap();
    ok(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg(format!("--admindir={}", admin.display()))
        .args([
            "--force-depends",
            "--force-not-root",
            "--force-script-chrootless",
        ])
        .args(["--log=/dev/null", "-i"])
        .arg(&deb));
    let status = ok(Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f=${Status} ${Version}", "dfkit"]));
    assert_eq!(
        status,
        format!("install ok installed {}", env!("CARGO_PKG_VERSION"))
    );
    let usr = root.join("usr");
    let help = ok(Command::new(usr.join("bin/df-upgrade")).arg("--help"));
    assert!(help.contains("Examples:"), "{help}");
    let page = render_man(&usr.join("share/man/man1/df-upgrade.1.gz"));
    assert!(
        page.contains("df-upgrade") && page.contains("--schema"),
        "{page}"
    );
    bash_completion_loads(
        &usr.join("share/bash-completion/completions/df-upgrade"),
        "df-upgrade",
    );
    // The installed (stripped) tool answers --schema like the test build.
    let s = ok(Command::new(usr.join("bin/df-perms")).arg("--schema"));
    assert!(s.contains("\"const\": \"df-perms\""));

    // make install-files: man pages and completions under DESTDIR/PREFIX.
    let dest = tmp.path().join("dest");
    ok(Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo())
        .arg("install-files")
        .arg(format!("BIN_DIR={}", usr.join("bin").display()))
        .arg(format!("DIST={}", tmp.path().join("dist2").display()))
        .arg(format!("DESTDIR={}", dest.display()))
        .arg("PREFIX=/usr/local"));
    let p = dest.join("usr/local");
    for t in TOOLS {
        for f in [
            p.join("bin").join(t),
            p.join("share/man/man1").join(format!("{t}.1")),
            p.join("share/bash-completion/completions").join(t),
            p.join("share/zsh/site-functions").join(format!("_{t}")),
            p.join("share/fish/vendor_completions.d")
                .join(format!("{t}.fish")),
        ] {
            assert!(f.is_file(), "make install: {} missing", f.display());
        }
        bash_completion_loads(&p.join("share/bash-completion/completions").join(t), t);
        let zsh = std::fs::read_to_string(p.join("share/zsh/site-functions").join(format!("_{t}")))
            .unwrap();
        assert!(zsh.starts_with(&format!("#compdef {t}")), "{t}: {zsh:.80}");
        let fish = std::fs::read_to_string(
            p.join("share/fish/vendor_completions.d")
                .join(format!("{t}.fish")),
        )
        .unwrap();
        assert!(fish.contains(&format!("complete -c {t}")), "{t}");
    }
    let page = render_man(&p.join("share/man/man1/df-dump-db-restore.1"));
    assert!(page.contains("--from"), "{page}");
    // The man pages are the same whether made from the test build or the package's
    // stripped binaries: nothing in them depends on the build or the date.
    assert_eq!(
        std::fs::read(dist.join("man/man1/df-perms.1")).unwrap(),
        std::fs::read(p.join("share/man/man1/df-perms.1")).unwrap()
    );
}
