//! promrw's tools: the validating Remote Write receiver and the synthetic workloads behind the
//! `promrw` command (`demo`, `sink`, `bench`, `check-config`, `push`, whose text-format parser
//! is [`exposition`]) and the test suite.
//!
//! None of this is part of the library that embedders link: `libpromrw.{a,so}` and the
//! `promrw` crate do not depend on this crate, its HTTP server (hyper on tokio) or its command-line
//! parser (clap). See `docs/ARCHITECTURE.md`, "Crates".

#![warn(missing_docs)]

pub mod exposition;
pub mod receiver;
pub mod sigv4_verify;
pub mod workload;
