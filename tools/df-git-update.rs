//! df-git-update — not yet implemented (placeholder that honours the JSON contract).
use clap::Parser;
use dfkit::report::{Common, HasCommon};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "df-git-update", version)]
struct Args {
    #[command(flatten)]
    common: Common,
}

impl HasCommon for Args {
    fn common(&self) -> &Common {
        &self.common
    }
}

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-git-update", |_ctx, _args| {
        Err(dfkit::Error::internal(
            "df-git-update is not implemented yet",
        ))
    })
}
