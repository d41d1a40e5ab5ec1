//! Wire formats: the Remote Write 1.0 protobuf schema, a fast batch encoder that copies
//! pre-encoded label bytes, and snappy block compression.
//!
//! Remote Write 2.0 will live beside [`rw1`] as a second encoder behind the same batch shape.

pub mod proto;
pub mod rw1;

/// Compresses `input` into `out` (cleared first) with snappy's *block* format, reusing `encoder`.
pub fn snappy_compress(encoder: &mut snap::raw::Encoder, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.resize(snap::raw::max_compress_len(input.len()), 0);
    // Compressing into a buffer of max_compress_len bytes cannot fail for inputs snap accepts;
    // inputs over snap's limit (about 4 GiB) are impossible here because batches are bounded.
    let n = encoder
        .compress(input, out)
        .expect("snappy block compression into a max_compress_len buffer");
    out.truncate(n);
}

/// Decompresses a snappy *block* body.
pub fn snappy_decompress(input: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Decoder::new().decompress_vec(input)
}
