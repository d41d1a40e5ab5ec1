//! A Remote Write 1.0 receiver that decodes and validates every request: the engine of
//! `promrw sink` and of the embedded receiver of `promrw demo`, and the base of the test suite's
//! fault-injecting receiver.

pub mod decode;
pub mod server;
pub mod store;

pub use decode::{DecodedRequest, ReceivedSeries, RequestError, decode_request};
pub use server::{Handler, Receiver, Reply, RequestInfo};
pub use store::{SampleStore, StoreReport};
