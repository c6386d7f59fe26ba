//! dfkit: small, safe tools that upgrade and migrate DreamFactory instances.
//!
//! All logic lives in this library, one module per concern; the binaries in tools/ only
//! parse arguments and call in here. Every tool prints one JSON report ([`report`]).

pub mod artisan;
pub mod atomic;
pub mod backup_set;
pub mod bundle;
pub mod checksum;
pub mod children;
pub mod constraint;
pub mod db;
pub mod dump;
pub mod duration;
pub mod env_backup;
pub mod envfile;
pub mod error;
pub mod events;
pub mod exec;
pub mod fsops;
pub mod git;
pub mod http;
pub mod hugepages;
pub mod install;
pub mod journal;
pub mod lock;
pub mod migrate;
pub mod perms;
pub mod progress;
pub mod report;
pub mod restart;
pub mod secret;
pub mod transfer;
pub mod tree;
pub mod upgrade;
pub mod users;
pub mod verify;
pub mod wrapper;

pub use error::{Error, ErrorKind, Result};
pub use report::{Ctx, Outcome};
