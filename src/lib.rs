//! bedrock-filter: OpenAI-format requests in, AWS Bedrock Runtime out.
//!
//! Everything except [`filter`] is host-independent and tests natively with `cargo test`:
//! OpenAI and Bedrock types, translation, SigV4, the event-stream codec and the configuration.
//! [`filter`] is the only module that talks to a proxy-wasm host.

pub mod access;
pub mod anthropic;
pub mod bedrock;
pub mod chat;
pub mod config;
pub mod credentials;
pub mod embeddings;
pub mod error;
pub mod eventstream;
pub mod gateway;
pub mod guardrail;
pub mod metrics;
pub mod models;
pub mod openai;
pub mod sigv4;

// Built only for the wasm target; `make lint` runs clippy on it there.
#[cfg(target_arch = "wasm32")]
mod filter;
