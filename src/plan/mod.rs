//! Plans against the live roster (sync) and change reports between rosters (diff).

pub mod diff;
pub mod sync;
