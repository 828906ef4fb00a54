//! One module per `mss` subcommand; [`args`] holds the shared flag groups.

pub mod args;
pub mod bench;
pub mod broker;
pub mod generate;
pub mod produce;
pub mod receive;
pub mod serve;
pub mod sketch;
pub mod view;
