//! `mss bench`: speed measured from one process, with peers in the same run.

pub mod e2e;
pub mod series;
pub mod sketches;
pub mod view;
