//! One module per `mss` subcommand.

pub mod serve;
pub mod sketch;
