//! df-backup-env — not yet implemented (placeholder that honours the JSON contract).
use clap::Parser;
use dfkit::report::{Common, HasCommon};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "df-backup-env", version)]
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
    dfkit::report::run::<Args, _>("df-backup-env", |_ctx, _args| {
        Err(dfkit::Error::internal(
            "df-backup-env is not implemented yet",
        ))
    })
}
