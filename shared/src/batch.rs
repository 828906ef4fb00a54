//! [`BatchMerge`]: many encoded windows folded into one sketch.
//!
//! A range query merges hundreds or thousands of windows into one
//! accumulator. [`Sketch::merge_encoded`] already reads `datadog` bins and
//! HDR counts straight from the bytes, but it still pays per window what
//! only has to be paid once: HDR records every bucket through the
//! `hdrhistogram` crate (index from value, resize check, min/max and total
//! per bucket), `datadog` widens and converts the crate's store. Here those
//! counts are summed by index into one flat array, and reach the sketch once,
//! in [`BatchMerge::finish`]. Sum, min, max and count are folded window by
//! window, in order, so the result is what merging the windows one by one
//! gives (a test compares both on every kind); windows that could end
//! differently (another layout, a store that would collapse, fractional
//! counts) go through [`Sketch::merge_encoded`] after the staged counts.

use crate::datadog::DatadogStaging;
use crate::error::MergeEncodedError;
use crate::hdr::HdrStaging;
use crate::sketch::Sketch;

/// Folds windows into one sketch; read the result with [`Self::finish`].
#[derive(Debug)]
pub struct BatchMerge {
    sketch: Sketch,
    staging: Staging,
}

/// Counts summed by index, not yet in the sketch.
#[derive(Debug)]
enum Staging {
    Hdr(HdrStaging),
    Datadog(DatadogStaging),
    /// The other kinds merge window by window.
    None,
}

impl BatchMerge {
    /// Starts from `sketch` (often the first window, decoded).
    pub fn new(sketch: Sketch) -> Self {
        let staging = match sketch {
            Sketch::HdrHistogram(_) => Staging::Hdr(HdrStaging::default()),
            Sketch::Datadog(_) => Staging::Datadog(DatadogStaging::default()),
            _ => Staging::None,
        };
        Self { sketch, staging }
    }

    /// Adds a window in native bytes ([`Sketch::encode`]) of the same kind
    /// and parameters, as [`Sketch::merge_encoded`] would. Nothing changes
    /// on error.
    pub fn merge_encoded(&mut self, bytes: &[u8]) -> Result<(), MergeEncodedError> {
        let mut r = self.sketch.open_encoded(bytes)?;
        match (&mut self.sketch, &mut self.staging) {
            (Sketch::HdrHistogram(h), Staging::Hdr(staged)) => h.stage_read(staged, &mut r),
            (Sketch::Datadog(d), Staging::Datadog(staged)) => d.stage_read(staged, &mut r),
            (sketch, _) => sketch.merge_encoded(bytes),
        }
    }

    /// Adds a decoded sketch (after the staged counts), as [`Sketch::merge`] would.
    pub fn merge(&mut self, other: &Sketch) -> Result<(), MergeEncodedError> {
        self.flush()?;
        Ok(self.sketch.merge(other)?)
    }

    /// The merged sketch.
    pub fn finish(mut self) -> Result<Sketch, MergeEncodedError> {
        self.flush()?;
        Ok(self.sketch)
    }

    /// Moves the staged counts into the sketch.
    fn flush(&mut self) -> Result<(), MergeEncodedError> {
        match (&mut self.sketch, &mut self.staging) {
            (Sketch::HdrHistogram(h), Staging::Hdr(staged)) => Ok(h.flush_staged(staged)?),
            (Sketch::Datadog(d), Staging::Datadog(staged)) => {
                d.flush_staged(staged);
                Ok(())
            }
            // The sketch keeps the kind the staging was chosen for.
            _ => Ok(()),
        }
    }
}
