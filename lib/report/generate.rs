//! Man pages, shell completions and `--schema`: the flags every tool answers before it
//! parses its own arguments, so they work whatever the tool requires.
//!
//! - `--schema` prints the JSON Schema of the tool's report ([`super::schema`]);
//!   `df-TOOL SUBCOMMAND --schema` narrows `data` to that subcommand.
//! - `--generate-man DIR` (hidden) writes `DIR/df-TOOL.1` and one page per subcommand
//!   (`df-TOOL-SUB.1`), from the tool's clap definition.
//! - `--generate-completions DIR` (hidden) writes `DIR/bash/df-TOOL`, `DIR/zsh/_df-TOOL`
//!   and `DIR/fish/df-TOOL.fish`.
//!
//! `make man` and `make completions` run the second and third for every tool
//! (scripts/gen-docs.sh); the output is reproducible (no dates).

use clap::Command;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Answer `--schema`, `--generate-man` or `--generate-completions` when `argv` holds one
/// (before any `--`); `None` otherwise, and the tool parses its arguments as usual.
pub fn answer(tool: &str, argv: &[OsString], cmd: impl FnOnce() -> Command) -> Option<ExitCode> {
    let args: Vec<&OsString> = argv
        .iter()
        .skip(1)
        .take_while(|a| a.as_os_str() != "--")
        .collect();
    let value_after = |flag: &str| {
        args.iter()
            .position(|a| a.as_os_str() == flag)
            .map(|i| args.get(i + 1).map(PathBuf::from))
    };
    if let Some(dir) = value_after("--generate-man") {
        return Some(finish(tool, dir, |d| write_man(cmd(), d)));
    }
    if let Some(dir) = value_after("--generate-completions") {
        return Some(finish(tool, dir, |d| write_completions(cmd(), tool, d)));
    }
    if args.iter().any(|a| a.as_os_str() == "--schema") {
        // The first word that names a subcommand narrows the schema to it.
        let subs = super::schema::subcommands(tool);
        let sub = args
            .iter()
            .filter_map(|a| a.to_str())
            .find(|a| !a.is_empty() && subs.contains(a));
        let code = match super::schema::report_schema(tool, sub) {
            Some(s) => {
                let text = serde_json::to_string_pretty(&s).unwrap_or_default();
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("{tool}: no report schema is registered for this tool");
                ExitCode::from(crate::error::ErrorKind::Internal.exit_code())
            }
        };
        return Some(code);
    }
    None
}

fn finish(
    tool: &str,
    dir: Option<PathBuf>,
    f: impl FnOnce(&Path) -> std::io::Result<()>,
) -> ExitCode {
    let Some(dir) = dir else {
        eprintln!("{tool}: the flag needs a directory");
        return ExitCode::from(crate::error::ErrorKind::Usage.exit_code());
    };
    match std::fs::create_dir_all(&dir).and_then(|()| f(&dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{tool}: cannot write to {}: {e}", dir.display());
            ExitCode::from(crate::error::ErrorKind::CannotCreate.exit_code())
        }
    }
}

/// The man pages of `cmd` and its subcommands, in `dir`.
pub fn write_man(cmd: Command, dir: &Path) -> std::io::Result<()> {
    clap_mangen::generate_to(cmd, dir)
}

/// Completions for bash, zsh and fish, in `dir/bash`, `dir/zsh` and `dir/fish`, under
/// the names each shell looks for.
pub fn write_completions(mut cmd: Command, tool: &str, dir: &Path) -> std::io::Result<()> {
    use clap_complete::Shell;
    for (shell, sub, file) in [
        (Shell::Bash, "bash", tool.to_string()),
        (Shell::Zsh, "zsh", format!("_{tool}")),
        (Shell::Fish, "fish", format!("{tool}.fish")),
    ] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d)?;
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, tool, &mut buf);
        std::fs::write(d.join(file), buf)?;
    }
    Ok(())
}
