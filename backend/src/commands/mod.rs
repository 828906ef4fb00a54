//! One module per `mss` subcommand.

pub mod sketch;
