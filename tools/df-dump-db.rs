//! df-dump-db — not yet implemented (placeholder that honours the JSON contract).
use clap::Parser;
use dfkit::report::{Common, HasCommon};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "df-dump-db", version)]
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
    dfkit::report::run::<Args, _>("df-dump-db", |_ctx, _args| {
        Err(dfkit::Error::internal("df-dump-db is not implemented yet"))
    })
}
