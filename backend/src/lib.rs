//! `mss`, the metrics streaming service, as a library (the binary in
//! `main.rs` only parses the command line).
//!
//! # Layout (in the order data flows)
//! - [`commands`]: one module per `mss` subcommand.
//! - [`serve`]: HTTP server (static dashboard, health).

pub mod commands;
pub mod serve;
