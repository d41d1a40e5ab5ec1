//! Parsing a large seekable input (a file) while it is read: the input is read in chunks of
//! about [`CHUNK`] bytes, each ending where a family's first descriptor line starts, into a
//! few buffers used again and again (a fresh 100 MB buffer costs more in page faults than its
//! parse); worker threads parse the chunks as they come, and a [`Joiner`] joins their results
//! in order. When the parts do not join into what one pass would give (a line that does not
//! parse, a family in two chunks, `# EOF` before the end), the input is read again whole and
//! parsed in one pass, so errors and their positions are always the one pass's.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Mutex, mpsc};

use super::parser::{Joiner, PARALLEL_FROM, Parsed, Part, last_family_start, run};
use super::{Exposition, Format, ParseError, ParseOptions, parse};

/// The size a chunk is read to before it is cut at its last family start.
const CHUNK: usize = 4 << 20;
/// Bytes at the end of the input read to detect its format.
const TAIL: u64 = 4096;

/// Why an input gave no exposition.
#[derive(Debug)]
pub enum InputError {
    /// Reading failed.
    Read(io::Error),
    /// The input does not parse (the one-pass error: first bad line, line and column).
    Parse(ParseError),
}

impl From<io::Error> for InputError {
    fn from(e: io::Error) -> InputError {
        InputError::Read(e)
    }
}

/// Reads and parses all of `input` (from its start), as [`parse`] parses it whole; returns the
/// exposition and the bytes read. Inputs smaller than 8 MiB are read whole and
/// parsed by [`parse`]; larger ones are parsed while they are read, on `workers` threads
/// (at least one).
pub fn parse_seekable<R: Read + Seek>(
    input: &mut R,
    options: &ParseOptions,
    workers: usize,
) -> Result<(Exposition, u64), InputError> {
    let sizes = Sizes {
        parallel_from: PARALLEL_FROM as u64,
        chunk: CHUNK,
    };
    parse_seekable_sized(input, options, workers, sizes)
}

/// From what input size chunks are parsed while read, and how large they are read.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    parallel_from: u64,
    chunk: usize,
}

/// [`parse_seekable`] with `sizes` (small ones in tests).
fn parse_seekable_sized<R: Read + Seek>(
    input: &mut R,
    options: &ParseOptions,
    workers: usize,
    sizes: Sizes,
) -> Result<(Exposition, u64), InputError> {
    let len = input.seek(SeekFrom::End(0))?;
    let large = len >= sizes.parallel_from;
    let format = match options.format {
        Some(format) => Some(format),
        None if large => detect_from_tail(input, len)?,
        None => None,
    };
    if let Some(format) = format.filter(|_| large) {
        input.seek(SeekFrom::Start(0))?;
        let options = ParseOptions {
            format: Some(format),
            ..*options
        };
        if let Some(parsed) = parse_while_reading(input, &options, workers.max(1), sizes.chunk)? {
            return Ok(parsed);
        }
    }
    input.seek(SeekFrom::Start(0))?;
    let mut whole = Vec::new();
    input.read_to_end(&mut whole)?;
    let options = ParseOptions {
        format: format.or(options.format),
        ..*options
    };
    let exposition = parse(&whole, &options).map_err(InputError::Parse)?;
    Ok((exposition, whole.len() as u64))
}

/// The format [`Format::detect`] gives for the whole input, from its last [`TAIL`] bytes;
/// `None` when those do not hold its whole last line.
fn detect_from_tail<R: Read + Seek>(input: &mut R, len: u64) -> io::Result<Option<Format>> {
    let from = len.saturating_sub(TAIL);
    input.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::with_capacity(TAIL as usize);
    input.take(TAIL).read_to_end(&mut tail)?;
    let trimmed = tail
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | b' ' | b'\t'))
        .map_or(&tail[..0], |last| &tail[..=last]);
    if from > 0 && !trimmed.contains(&b'\n') {
        return Ok(None);
    }
    Ok(Some(Format::detect(&tail)))
}

/// One chunk for a worker: its index, its bytes and which part of the input it is.
type Job = (usize, Vec<u8>, Part);
/// A worker's answer: the chunk's index, its parse and the buffer back.
type Done = (usize, Result<Parsed, ParseError>, Vec<u8>);

/// Reads `input` in chunks (on this thread) and parses them on `workers` threads; `None`
/// when the parts do not join (the caller parses the input again in one pass).
fn parse_while_reading<R: Read>(
    input: &mut R,
    options: &ParseOptions,
    workers: usize,
    chunk: usize,
) -> Result<Option<(Exposition, u64)>, InputError> {
    let format = options.format.expect("the format is known");
    // Buffers: one per worker parsing, one being read, one waiting.
    let buffers = workers + 2;
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(1);
    let job_rx = Mutex::new(job_rx);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        for _ in 0..workers {
            let job_rx = &job_rx;
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                loop {
                    let job = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((index, buffer, part))) = job else {
                        return;
                    };
                    let parsed = run(&buffer, format, options, part);
                    if done_tx.send((index, parsed, buffer)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut reader = Chunks::new(input, buffers, chunk);
        let mut joined = InOrder::default();
        // A parsed chunk: joined, its buffer read into again.
        let mut take_done = |(index, parsed, buffer): Done, spare: &mut Vec<Vec<u8>>| {
            spare.push(buffer);
            joined.add(index, parsed)
        };
        let complete = loop {
            while let Ok(done) = done_rx.try_recv() {
                if !take_done(done, &mut reader.spare) {
                    return Ok(None);
                }
            }
            if reader.spare.is_empty() {
                let joins = done_rx
                    .recv()
                    .is_ok_and(|done| take_done(done, &mut reader.spare));
                if !joins {
                    return Ok(None);
                }
            }
            let buffer = reader.spare.pop().expect("a spare buffer");
            match reader.next(buffer)? {
                Some((buffer, last)) => {
                    let part = match (reader.index, last) {
                        (0, true) => Part::Whole,
                        (_, true) => Part::Tail,
                        (_, false) => Part::Head,
                    };
                    if job_tx.send((reader.index, buffer, part)).is_err() {
                        break false;
                    }
                    reader.index += 1;
                    if last {
                        break true;
                    }
                }
                None => break true,
            }
        };
        drop(job_tx);
        if !complete {
            return Ok(None);
        }
        for done in done_rx.iter() {
            if !take_done(done, &mut reader.spare) {
                return Ok(None);
            }
        }
        let parts = reader.index;
        Ok(joined
            .finish(parts)
            .map(|exposition| (exposition, reader.bytes)))
    })
}

/// Parts in any order, joined in index order as they become contiguous.
#[derive(Default)]
struct InOrder {
    joiner: Joiner,
    next: usize,
    waiting: BTreeMap<usize, Parsed>,
}

impl InOrder {
    /// Adds part `index`; false when a part did not parse or does not join.
    fn add(&mut self, index: usize, parsed: Result<Parsed, ParseError>) -> bool {
        let Ok(parsed) = parsed else {
            return false;
        };
        self.waiting.insert(index, parsed);
        while let Some(parsed) = self.waiting.remove(&self.next) {
            if !self.joiner.add(parsed) {
                return false;
            }
            self.next += 1;
        }
        true
    }

    /// The joined exposition, when all `parts` were joined.
    fn finish(self, parts: usize) -> Option<Exposition> {
        (parts > 0 && self.next == parts && self.waiting.is_empty()).then(|| self.joiner.finish())
    }
}

/// The input cut into chunks that end where a family's first descriptor line starts.
struct Chunks<'r, R> {
    input: &'r mut R,
    /// The size a chunk is read to before it is cut.
    chunk: usize,
    /// Buffers not in use.
    spare: Vec<Vec<u8>>,
    /// What the last chunk read past its cut: the next chunk's start.
    carry: Vec<u8>,
    /// The next chunk's index.
    index: usize,
    /// Bytes read so far.
    bytes: u64,
    /// Whether the input's end was read.
    ended: bool,
}

impl<'r, R: Read> Chunks<'r, R> {
    fn new(input: &'r mut R, buffers: usize, chunk: usize) -> Chunks<'r, R> {
        Chunks {
            input,
            chunk,
            spare: (0..buffers)
                .map(|_| Vec::with_capacity(chunk + chunk / 4))
                .collect(),
            carry: Vec::new(),
            index: 0,
            bytes: 0,
            ended: false,
        }
    }

    /// The next chunk, in `buffer`, and whether it is the last; `None` when nothing is left.
    fn next(&mut self, mut buffer: Vec<u8>) -> io::Result<Option<(Vec<u8>, bool)>> {
        buffer.clear();
        buffer.extend_from_slice(&self.carry);
        self.carry.clear();
        loop {
            if !self.ended {
                let want = (self.chunk.saturating_sub(buffer.len())).max(self.chunk / 4);
                let read = self
                    .input
                    .by_ref()
                    .take(want as u64)
                    .read_to_end(&mut buffer)?;
                self.bytes += read as u64;
                // `take` reads to its limit unless the input ends first.
                self.ended = read < want;
                if !self.ended && buffer.len() < self.chunk {
                    continue;
                }
            }
            if self.ended {
                if buffer.is_empty() {
                    return Ok(None);
                }
                return Ok(Some((buffer, true)));
            }
            // Cut at the last family start, keeping what follows for the next chunk; with
            // none (one family so far), read on.
            if let Some(cut) = last_family_start(&buffer) {
                self.carry.extend_from_slice(&buffer[cut..]);
                buffer.truncate(cut);
                return Ok(Some((buffer, false)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// An exposition of `families` counter families (with `_created` and exemplars in
    /// OpenMetrics), a comment before every fifth family (0.0.4) and a gauge family without
    /// descriptors every seventh; `extra` is inserted before family `at`.
    fn text(format: Format, families: usize, at: usize, extra: &str) -> String {
        let om = format == Format::OpenMetrics;
        let mut out = String::new();
        for f in 0..families {
            if f == at {
                out.push_str(extra);
            }
            if f % 7 == 6 {
                for s in 0..3 {
                    out.push_str(&format!("loose{f}{{s=\"{s}\"}} {s}\n"));
                }
                continue;
            }
            if f % 5 == 4 && !om {
                out.push_str("# a comment, not a descriptor\n");
            }
            let name = format!("fam{f}_requests");
            out.push_str(&format!("# HELP {name} Requests of \\\"{f}\\\".\n"));
            out.push_str(&format!("# TYPE {name} counter\n"));
            for s in 0..3 {
                if om {
                    out.push_str(&format!("{name}_created{{a=\"{s}\"}} 1700000000.5\n"));
                }
                for p in 0..4 {
                    let value = f * 100 + s * 10 + p;
                    if om {
                        let exemplar = if p == 0 {
                            format!(" # {{trace_id=\"t{f}-{s}\"}} 1.5 1700000001.25")
                        } else {
                            String::new()
                        };
                        out.push_str(&format!(
                            "{name}_total{{a=\"{s}\"}} {value} 170000000{p}.{f:03}{exemplar}\n"
                        ));
                    } else {
                        out.push_str(&format!("{name}{{a=\"{s}\"}} {value} 170000000{p}{f:03}\n"));
                    }
                }
            }
        }
        if families == at {
            out.push_str(extra);
        }
        if om {
            out.push_str("# EOF\n");
        }
        out
    }

    fn options(format: Option<Format>, skip_invalid: bool) -> ParseOptions {
        ParseOptions {
            format,
            default_timestamp_ms: 1_234,
            skip_invalid,
        }
    }

    /// `parse_seekable` with chunks of `chunk` bytes from any size on.
    fn chunked(
        text: &str,
        options: &ParseOptions,
        workers: usize,
        chunk: usize,
    ) -> Result<(Exposition, u64), InputError> {
        let sizes = Sizes {
            parallel_from: 1,
            chunk,
        };
        parse_seekable_sized(&mut Cursor::new(text.as_bytes()), options, workers, sizes)
    }

    fn assert_same(a: &Exposition, b: &Exposition) {
        assert_eq!(a.format, b.format);
        assert_eq!(a.families, b.families);
        assert_eq!(a.series, b.series);
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.exemplars, b.exemplars);
        assert_eq!(a.skipped, b.skipped);
    }

    #[test]
    fn chunks_give_what_one_pass_gives() {
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let text = text(format, 60, usize::MAX, "");
            let whole = parse(text.as_bytes(), &options(None, false)).unwrap();
            assert_eq!(whole.format, Some(format));
            assert!(whole.samples.len() > 500 && whole.series.len() > 150);
            for chunk in [64, 300, 1000, 4096, 1 << 20] {
                for workers in [1, 2, 3] {
                    let (parsed, bytes) =
                        chunked(&text, &options(None, false), workers, chunk).unwrap();
                    assert_eq!(bytes, text.len() as u64);
                    assert_same(&parsed, &whole);
                }
            }
        }
    }

    #[test]
    fn chunks_are_cut_only_at_a_family_start() {
        let text = text(Format::Prometheus, 30, usize::MAX, "");
        let mut input = Cursor::new(text.as_bytes());
        let mut chunks = Chunks::new(&mut input, 1, 200);
        let mut joined = Vec::new();
        let mut count = 0;
        while let Some((chunk, last)) = chunks.next(Vec::new()).unwrap() {
            count += 1;
            let starts_a_family = chunk.starts_with(b"# HELP ") || chunk.starts_with(b"# TYPE ");
            assert!(
                joined.is_empty() || starts_a_family,
                "chunk {count} starts mid-family"
            );
            joined.extend_from_slice(&chunk);
            if last {
                break;
            }
        }
        assert!(count > 5, "only {count} chunks");
        assert_eq!(joined, text.as_bytes());
        assert_eq!(chunks.bytes, text.len() as u64);
    }

    #[test]
    fn a_family_in_two_chunks_is_parsed_again_in_one_pass() {
        // 0.0.4 takes fam3_requests's later samples as the earlier family's: one pass sees
        // one family, separate chunks would see two.
        let later = "# HELP again Other.\nfam3_requests{a=\"9\"} 1 1700000009000\n";
        let text = text(Format::Prometheus, 40, 30, later);
        let whole = parse(text.as_bytes(), &options(None, false)).unwrap();
        for chunk in [64, 500] {
            let (parsed, _) = chunked(&text, &options(None, false), 2, chunk).unwrap();
            assert_same(&parsed, &whole);
        }
    }

    #[test]
    fn errors_are_the_one_pass_errors() {
        let cases = [
            (Format::Prometheus, "bad{ 1\n"),
            (Format::Prometheus, "# HELP fam1_requests Twice.\n"),
            (Format::OpenMetrics, "# EOF\n"),
            (Format::OpenMetrics, "# TYPE fam2_requests gauge\n"),
        ];
        for (format, extra) in cases {
            let text = text(format, 40, 25, extra);
            let whole = parse(text.as_bytes(), &options(None, false)).unwrap_err();
            for chunk in [64, 700] {
                match chunked(&text, &options(None, false), 2, chunk) {
                    Err(InputError::Parse(e)) => assert_eq!(e, whole, "{extra:?}"),
                    Err(InputError::Read(e)) => panic!("{extra:?}: read error {e}"),
                    Ok(_) => panic!("{extra:?}: parsed, expected {whole}"),
                }
            }
            // With --skip-invalid, the same lines are skipped and the rest kept.
            let whole = parse(text.as_bytes(), &options(None, true)).unwrap();
            assert!(!whole.skipped.is_empty());
            let (parsed, _) = chunked(&text, &options(None, true), 2, 300).unwrap();
            assert_same(&parsed, &whole);
        }
    }

    #[test]
    fn one_family_larger_than_a_chunk_is_read_on_to_the_next_family() {
        let mut big = String::from("# TYPE big gauge\n");
        for i in 0..2000 {
            big.push_str(&format!("big{{i=\"{i}\"}} {i}\n"));
        }
        let text = text(Format::Prometheus, 10, 5, &big);
        let whole = parse(text.as_bytes(), &options(None, false)).unwrap();
        let (parsed, _) = chunked(&text, &options(None, false), 2, 256).unwrap();
        assert_same(&parsed, &whole);
    }

    #[test]
    fn the_format_is_detected_from_the_tail_or_given() {
        let om = text(Format::OpenMetrics, 20, usize::MAX, "");
        let (parsed, _) = chunked(&om, &options(None, false), 2, 300).unwrap();
        assert_eq!(parsed.format, Some(Format::OpenMetrics));
        // Trailing blank lines longer than the tail read: detected on the whole input (an
        // error after `# EOF`, blank lines in 0.0.4).
        let padded = format!("{om}{}", "\n".repeat(TAIL as usize + 10));
        let whole = parse(padded.as_bytes(), &options(None, false)).unwrap_err();
        match chunked(&padded, &options(None, false), 2, 300) {
            Err(InputError::Parse(e)) => assert_eq!(e, whole),
            _ => panic!("expected {whole}"),
        }
        let prometheus = text(Format::Prometheus, 20, usize::MAX, "");
        let padded = format!("{prometheus}{}", "\n".repeat(TAIL as usize + 10));
        let whole = parse(padded.as_bytes(), &options(None, false)).unwrap();
        let (parsed, _) = chunked(&padded, &options(None, false), 2, 300).unwrap();
        assert_same(&parsed, &whole);
        // Told 0.0.4, an OpenMetrics input is parsed as 0.0.4 (and fails at its exemplars).
        let e = match chunked(&om, &options(Some(Format::Prometheus), false), 2, 300) {
            Err(InputError::Parse(e)) => e,
            _ => panic!("OpenMetrics exemplars parsed as 0.0.4"),
        };
        let whole = parse(om.as_bytes(), &options(Some(Format::Prometheus), false)).unwrap_err();
        assert_eq!(e, whole);
    }

    /// A reader whose reads fail from byte `fail_at` on.
    struct Failing {
        inner: Cursor<Vec<u8>>,
        fail_at: u64,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.inner.position() >= self.fail_at {
                return Err(io::Error::other("the disk went away"));
            }
            let room = (self.fail_at - self.inner.position()) as usize;
            let n = buf.len().min(room);
            self.inner.read(&mut buf[..n])
        }
    }

    impl Seek for Failing {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    #[test]
    fn a_read_error_is_reported_as_one() {
        let text = text(Format::Prometheus, 40, usize::MAX, "");
        let mut input = Failing {
            fail_at: text.len() as u64 / 2,
            inner: Cursor::new(text.into_bytes()),
        };
        let sizes = Sizes {
            parallel_from: 1,
            chunk: 300,
        };
        match parse_seekable_sized(&mut input, &options(None, false), 2, sizes) {
            Err(InputError::Read(e)) => assert!(e.to_string().contains("went away"), "{e}"),
            Err(InputError::Parse(e)) => panic!("parse error {e}"),
            Ok(_) => panic!("parsed a failing input"),
        }
    }
}
