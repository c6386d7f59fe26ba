//! Shared test harness. Each integration test file does `mod support;`.
#![allow(dead_code)]

pub mod bins;
pub mod dotenv;
pub mod fleet;
pub mod gitbed;
pub mod kills;
pub mod listing;
pub mod migrate;
pub mod remote;
pub mod sandbox;
pub mod servers;
pub mod trees;
pub mod upgrade;
pub mod web;
