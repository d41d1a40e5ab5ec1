//! Wire formats: the Remote Write 1.0 protobuf schema, a fast batch encoder that copies
//! pre-encoded label bytes, and snappy block compression.
//!
//! Remote Write 2.0's messages are in [`proto_v2`] and its request encoder, with the
//! per-request symbol table, in [`rw2`].

pub mod proto;
pub mod proto_v2;
pub mod rw1;
pub mod rw2;

/// Compresses `input` with snappy's *block* format into `out`, reusing `encoder`, and returns
/// the compressed length. `out` is grown when too short but never shrunk or re-zeroed here, so
/// steady-state batches cost no allocation and no memset (the batch encoder shrinks it after a
/// spike).
pub fn snappy_compress(encoder: &mut snap::raw::Encoder, input: &[u8], out: &mut Vec<u8>) -> usize {
    let needed = snap::raw::max_compress_len(input.len());
    if out.len() < needed {
        out.resize(needed, 0);
    }
    // Compressing into a buffer of max_compress_len bytes cannot fail for inputs snap accepts;
    // inputs over snap's limit (about 4 GiB) are impossible here: request bodies are bounded by
    // promrw.max_request_bytes, at most 1 GiB.
    encoder
        .compress(input, out)
        .expect("snappy block compression into a max_compress_len buffer")
}

/// Decompresses a snappy *block* body.
pub fn snappy_decompress(input: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Decoder::new().decompress_vec(input)
}
