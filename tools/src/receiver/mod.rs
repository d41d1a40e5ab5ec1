//! A Remote Write 1.0 and 2.0 receiver that decodes and validates every request: the engine of
//! `promrw sink` and of the embedded receiver of `promrw demo`, and the base of the test suite's
//! fault-injecting receiver.

pub mod decode;
pub mod decode_v2;
pub mod server;
pub mod store;

pub use decode::{
    ContentKind, DecodedRequest, ProtocolMode, ReceivedExemplar, ReceivedFamilyMetadata,
    ReceivedMetadata, ReceivedSeries, RequestError, WireProtocol, content_kind, decode_request,
    decode_request_with,
};
pub use server::{Handler, Receiver, ReceiverOptions, Reply, RequestInfo};
pub use store::{SampleStore, StoreReport, StoreTotals};
