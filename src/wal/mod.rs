//! The durable queue's write-ahead log: segment files of length- and CRC32C-framed records
//! (`format`, `segment`), per-endpoint cursors (`cursor`) and the directory lock (`lock`);
//! with the `test-hooks` feature, injected write and fsync errors (`test_hooks`). The
//! design, the durability contract and how the tests prove it are in docs/ARCHITECTURE.md,
//! "Durable queue (WAL mode): design".

pub mod cursor;
pub mod format;
pub mod lock;
pub mod reader;
pub mod recovery;
pub mod segment;
pub mod tail;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
#[cfg(test)]
mod tests;
pub mod writer;
