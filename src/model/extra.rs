//! What an append may carry besides a float value: a start timestamp, an exemplar, or a
//! native histogram in place of the value. [`SampleOptions`] is the public half (what the
//! caller gives); [`SampleExtra`] is what travels through the queues and the log with an item.

use super::{Exemplar, Histogram};

/// The optional parts of an append: a start timestamp (the time the series' counter or
/// histogram started counting; Remote Write 2.0 sends it, 1.0 has no field for it) and an
/// exemplar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleOptions {
    /// Milliseconds since the Unix epoch; 0 is unset, as in the protocol. Must not be after
    /// the sample's own timestamp.
    pub start_timestamp_ms: i64,
    /// An exemplar for the sample or histogram; without its own timestamp it takes the
    /// sample's.
    pub exemplar: Option<Exemplar>,
}

impl SampleOptions {
    /// Options with only a start timestamp.
    pub fn with_start(start_timestamp_ms: i64) -> SampleOptions {
        SampleOptions {
            start_timestamp_ms,
            exemplar: None,
        }
    }

    /// Options with only an exemplar.
    pub fn with_exemplar(exemplar: Exemplar) -> SampleOptions {
        SampleOptions {
            start_timestamp_ms: 0,
            exemplar: Some(exemplar),
        }
    }
}

/// The extra part of one queued item: its start timestamp (0: unset), a histogram (the item
/// is then a histogram, its float value unused) and an exemplar whose timestamp is resolved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleExtra {
    /// Start timestamp in ms; 0 is unset.
    pub start_ms: i64,
    /// The histogram, for a histogram item.
    pub histogram: Option<Histogram>,
    /// The exemplar, its timestamp set (the sample's when the caller gave none).
    pub exemplar: Option<Exemplar>,
}

impl SampleExtra {
    /// True when nothing is carried beyond a float value (the item can travel without it).
    pub fn is_plain(&self) -> bool {
        self.start_ms == 0 && self.histogram.is_none() && self.exemplar.is_none()
    }

    /// True for a histogram item.
    pub fn is_histogram(&self) -> bool {
        self.histogram.is_some()
    }
}
