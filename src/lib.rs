//! bedrock-filter: OpenAI-format requests in, AWS Bedrock Runtime out.
//!
//! Everything except [`filter`] is host-independent and tests natively with `cargo test`.
//! [`filter`] is the only module that talks to a proxy-wasm host.

pub mod eventstream;
pub mod sigv4;
