//! df-perms — not yet implemented (placeholder that honours the JSON contract).
use clap::Parser;
use dfkit::report::{Common, HasCommon};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "df-perms", version)]
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
    dfkit::report::run::<Args, _>("df-perms", |_ctx, _args| {
        Err(dfkit::Error::internal("df-perms is not implemented yet"))
    })
}
