//! Validation and decoding of the body of one Remote Write 2.0 request
//! (`io.prometheus.write.v2.Request`): the symbol table, every ref in range, the label rules
//! (sorted, unique, non-empty names and values, a `__name__`; any UTF-8), samples or
//! histograms per series (not both, not neither), histograms valid by
//! `promrw::Histogram::validate`, exemplars and metadata, and in-request timestamp order.

use prost::Message;

use promrw::model::{BucketSpan, Histogram, HistogramCounts, MetricType, ResetHint};
use promrw::wire::proto_v2;

use super::decode::{
    DecodedRequest, ReceivedExemplar, ReceivedMetadata, ReceivedSeries, RequestError, WireProtocol,
};

/// Decodes and validates a decompressed 2.0 body (`compressed_bytes` long on the wire).
pub fn decode_v2(raw: &[u8], compressed_bytes: usize) -> Result<DecodedRequest, RequestError> {
    let request = proto_v2::Request::decode(raw).map_err(|e| {
        RequestError::bad(format!(
            "body is not an io.prometheus.write.v2.Request: {e}"
        ))
    })?;
    let symbols = &request.symbols;
    match symbols.first() {
        None => {
            return Err(RequestError::bad(
                "symbols is empty: it must start with the empty string",
            ));
        }
        Some(first) if !first.is_empty() => {
            return Err(RequestError::bad(format!(
                "symbols[0] must be the empty string, got {first:?}"
            )));
        }
        Some(_) => {}
    }
    let mut decoded = DecodedRequest {
        series: Vec::with_capacity(request.timeseries.len()),
        compressed_bytes,
        raw_bytes: raw.len(),
        protocol: WireProtocol::V2,
        ..DecodedRequest::default()
    };
    for (index, series) in request.timeseries.into_iter().enumerate() {
        let received = decode_series(symbols, series)
            .map_err(|m| RequestError::bad(format!("timeseries[{index}]: {m}")))?;
        decoded.samples += received.samples.len();
        decoded.histograms += received.histograms.len();
        decoded.exemplars += received.exemplars.len();
        decoded.metadata += usize::from(received.metadata.is_some());
        decoded.series.push(received);
    }
    Ok(decoded)
}

/// The symbol `reference` names, or why it cannot.
fn symbol<'a>(symbols: &'a [String], reference: u32, what: &str) -> Result<&'a str, String> {
    symbols
        .get(reference as usize)
        .map(String::as_str)
        .ok_or_else(|| {
            format!(
                "{what} ref {reference} out of range (symbols has {} entries)",
                symbols.len()
            )
        })
}

/// Resolves `(name, value)` ref pairs.
fn resolve_pairs(
    symbols: &[String],
    refs: &[u32],
    what: &str,
) -> Result<Vec<(String, String)>, String> {
    if !refs.len().is_multiple_of(2) {
        return Err(format!(
            "{what} labels_refs has odd length {}: it must hold (name, value) pairs",
            refs.len()
        ));
    }
    refs.chunks_exact(2)
        .map(|pair| {
            Ok((
                symbol(symbols, pair[0], &format!("{what} label name"))?.to_string(),
                symbol(symbols, pair[1], &format!("{what} label value"))?.to_string(),
            ))
        })
        .collect()
}

/// Decodes one series.
fn decode_series(
    symbols: &[String],
    series: proto_v2::TimeSeries,
) -> Result<ReceivedSeries, String> {
    let labels = resolve_pairs(symbols, &series.labels_refs, "series")?;
    check_labels(&labels)?;
    match (series.samples.is_empty(), series.histograms.is_empty()) {
        (false, false) => {
            return Err(format!(
                "series has both samples ({}) and histograms ({}): a TimeSeries holds one kind",
                series.samples.len(),
                series.histograms.len()
            ));
        }
        (true, true) => return Err("series has neither samples nor histograms".to_string()),
        _ => {}
    }
    let samples: Vec<(i64, u64)> = series
        .samples
        .iter()
        .map(|s| (s.timestamp, s.value.to_bits()))
        .collect();
    if let Some(w) = samples.windows(2).find(|w| w[1].0 <= w[0].0) {
        return Err(format!("samples out of order ({} then {})", w[0].0, w[1].0));
    }
    check_histograms(&series.histograms)?;
    let exemplars = series
        .exemplars
        .iter()
        .enumerate()
        .map(|(index, e)| {
            Ok(ReceivedExemplar {
                labels: resolve_pairs(symbols, &e.labels_refs, &format!("exemplars[{index}]"))?,
                value_bits: e.value.to_bits(),
                timestamp: e.timestamp,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let metadata = match series.metadata {
        None => None,
        Some(m) => {
            if MetricType::from_i32(m.r#type).is_none() {
                return Err(format!(
                    "metadata type {} is not a MetricType (0 ..= 7)",
                    m.r#type
                ));
            }
            Some(ReceivedMetadata {
                metric_type: m.r#type,
                help: symbol(symbols, m.help_ref, "metadata help")?.to_string(),
                unit: symbol(symbols, m.unit_ref, "metadata unit")?.to_string(),
            })
        }
    };
    Ok(ReceivedSeries {
        labels,
        samples,
        histograms: series
            .histograms
            .into_iter()
            .map(|h| (h.timestamp, h))
            .collect(),
        exemplars,
        metadata,
    })
}

/// Checks one series' histograms, 1.0 or 2.0 (the same message): each valid by
/// `promrw::Histogram::validate` (after [`histogram_from_proto`]) and in strictly increasing
/// timestamp order. The error names the histogram's index in the series.
pub fn check_histograms(histograms: &[proto_v2::Histogram]) -> Result<(), String> {
    for (index, histogram) in histograms.iter().enumerate() {
        histogram_from_proto(histogram)
            .and_then(|h| h.validate())
            .map_err(|e| format!("histograms[{index}]: {e}"))?;
    }
    if let Some(w) = histograms
        .windows(2)
        .find(|w| w[1].timestamp <= w[0].timestamp)
    {
        return Err(format!(
            "histograms out of order ({} then {})",
            w[0].timestamp, w[1].timestamp
        ));
    }
    Ok(())
}

/// The label rules of the 1.0 path, with names and values any UTF-8, and a `__name__`.
fn check_labels(labels: &[(String, String)]) -> Result<(), String> {
    if labels.is_empty() {
        return Err("series has no labels".to_string());
    }
    for (name, value) in labels {
        if name.is_empty() {
            return Err("empty label name".to_string());
        }
        if value.is_empty() {
            return Err(format!("label {name:?} has an empty value"));
        }
    }
    if let Some(w) = labels
        .windows(2)
        .find(|w| w[0].0.as_bytes() >= w[1].0.as_bytes())
    {
        return Err(format!(
            "labels not sorted or duplicated: {:?} then {:?}",
            w[0].0, w[1].0
        ));
    }
    if !labels.iter().any(|(name, _)| name == "__name__") {
        return Err("series has no __name__ label".to_string());
    }
    Ok(())
}

/// Converts a 1.0 or 2.0 histogram (one message for both) to promrw's model: integer or float by which `count` oneof is set
/// (an unset `count` is an integer 0); `zero_count` and the bucket fields must agree.
pub fn histogram_from_proto(h: &proto_v2::Histogram) -> Result<Histogram, String> {
    use proto_v2::{HistogramCount, HistogramZeroCount};
    let counts = match h.count {
        Some(HistogramCount::CountInt(_)) | None => {
            let count = match h.count {
                Some(HistogramCount::CountInt(c)) => c,
                _ => 0,
            };
            let zero_count = match h.zero_count {
                Some(HistogramZeroCount::ZeroCountInt(z)) => z,
                None => 0,
                Some(HistogramZeroCount::ZeroCountFloat(_)) => {
                    return Err(
                        "integer histogram (count_int) with a float zero count (zero_count_float)"
                            .to_string(),
                    );
                }
            };
            if !h.positive_counts.is_empty() || !h.negative_counts.is_empty() {
                return Err(
                    "integer histogram (count_int) with float buckets (positive_counts or negative_counts)"
                        .to_string(),
                );
            }
            HistogramCounts::Integer {
                count,
                zero_count,
                positive_deltas: h.positive_deltas.clone(),
                negative_deltas: h.negative_deltas.clone(),
            }
        }
        Some(HistogramCount::CountFloat(count)) => {
            let zero_count = match h.zero_count {
                Some(HistogramZeroCount::ZeroCountFloat(z)) => z,
                None => 0.0,
                Some(HistogramZeroCount::ZeroCountInt(_)) => {
                    return Err(
                        "float histogram (count_float) with an integer zero count (zero_count_int)"
                            .to_string(),
                    );
                }
            };
            if !h.positive_deltas.is_empty() || !h.negative_deltas.is_empty() {
                return Err(
                    "float histogram (count_float) with integer buckets (positive_deltas or negative_deltas)"
                        .to_string(),
                );
            }
            HistogramCounts::Float {
                count,
                zero_count,
                positive_counts: h.positive_counts.clone(),
                negative_counts: h.negative_counts.clone(),
            }
        }
    };
    let reset_hint = u8::try_from(h.reset_hint)
        .ok()
        .and_then(ResetHint::from_u8)
        .ok_or_else(|| format!("reset_hint {} is not a ResetHint (0 ..= 3)", h.reset_hint))?;
    let spans = |spans: &[proto_v2::BucketSpan]| {
        spans
            .iter()
            .map(|s| BucketSpan {
                offset: s.offset,
                length: s.length,
            })
            .collect()
    };
    Ok(Histogram {
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        sum: h.sum,
        counts,
        positive_spans: spans(&h.positive_spans),
        negative_spans: spans(&h.negative_spans),
        reset_hint,
        custom_values: h.custom_values.clone(),
    })
}
