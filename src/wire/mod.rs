//! Wire formats: the Remote Write 1.0 protobuf schema, a fast batch encoder that copies
//! pre-encoded label bytes, and snappy block compression.
//!
//! Remote Write 2.0 will live beside [`rw1`] as a second encoder behind the same batch shape.

pub mod proto;
pub mod rw1;

/// Compresses `input` with snappy's *block* format into `out`, reusing `encoder`, and returns
/// the compressed length. `out` only grows (it is never shrunk or re-zeroed), so steady-state
/// batches cost no allocation and no memset.
pub fn snappy_compress(encoder: &mut snap::raw::Encoder, input: &[u8], out: &mut Vec<u8>) -> usize {
    let needed = snap::raw::max_compress_len(input.len());
    if out.len() < needed {
        out.resize(needed, 0);
    }
    // Compressing into a buffer of max_compress_len bytes cannot fail for inputs snap accepts;
    // inputs over snap's limit (about 4 GiB) are impossible here because batches are bounded.
    encoder
        .compress(input, out)
        .expect("snappy block compression into a max_compress_len buffer")
}

/// Decompresses a snappy *block* body.
pub fn snappy_decompress(input: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Decoder::new().decompress_vec(input)
}
