//! The integration tests: one binary, a module per command or concern, set-up shared in `common`.
//! (`tests/fuzz.rs` stays a binary of its own: `make fuzz` runs it alone, in release mode.)

mod common;

mod cli;
mod diff;
mod exit_codes;
mod export;
mod hostile;
mod html;
mod import;
mod migrate;
mod network;
mod operator;
mod phones;
mod pressure;
mod reliability;
mod round_trip;
mod sandbox_api;
mod smoke;
mod sync;
mod torture;
mod trust;
mod workbooks;
