//! Mergeable quantile sketches for latency metrics, shared by the `mss`
//! backend and the browser dashboard (builds for native and
//! `wasm32-unknown-unknown`; no tokio, no threads, no I/O).
//!
//! # Layout
//! - [`kind`]: [`SketchKind`], the four algorithms and their CLI/URL names.
//! - [`sketch`]: [`Sketch`], one API over the four (insert, merge, quantile,
//!   encode/decode), and [`SketchParams`].
//! - [`ddsketch`]: `quantileflow`, our DDSketch (mapping, store, protobuf).
//! - [`datadog`]: `datadog`, Datadog's `libdd-ddsketch` behind an adapter.
//! - [`moments`]: `momentsketch`, power/log sums and the max-entropy solver.
//! - [`hdr`]: `hdrhistogram`, the `hdrhistogram` crate with a value scale and V2 I/O.
//! - [`batch`]: [`batch::BatchMerge`], many encoded windows folded into one sketch.
//! - `chart` (feature `chart`): percentile charts for any plotters backend.
//! - [`series`]: [`series::SeriesKey`], a metric name plus sorted tags, and the naming rules.
//! - [`filter`]: the `filter=`/`by=` syntax of the API, the dashboard URL and the browser.
//! - [`range`]: the one range convention (half-open, epoch-aligned buckets).
//! - [`protocol`]: the versioned WebSocket messages (postcard frames).
//! - [`codec`]: byte reader/writer of the native encoding.
//! - [`series`]: [`series::SeriesKey`], a metric name plus a sorted, validated tag set.
//! - [`filter`]: [`filter::Filter`] (`filter=`) and [`filter::GroupBy`] (`by=`), one parser
//!   for the API, the dashboard URL and the browser.
//! - [`text`]: base64 helpers for sketches carried as text.
//! - [`time_spec`]: `now-15m` style times of the API and the dashboard URL.
//! - [`error`]: one error enum per operation.

pub mod batch;
#[cfg(feature = "chart")]
pub mod chart;
pub mod codec;
pub mod datadog;
pub mod ddsketch;
pub mod error;
pub mod filter;
pub mod hdr;
mod inflate;
pub mod kind;
pub mod moments;
pub mod protocol;
pub mod range;
pub mod rank;
pub mod series;
pub mod sketch;
pub mod text;
pub mod time_spec;

pub use batch::BatchMerge;
pub use error::{
    ConfigError, DecodeError, EncodeError, InsertError, MergeEncodedError, MergeError, QuantileError,
};
pub use kind::SketchKind;
pub use sketch::{Sketch, SketchParams};
