//! Plans against the live roster (sync, migrate) and change reports between rosters (diff).

pub mod diff;
pub mod migrate;
pub mod sync;
