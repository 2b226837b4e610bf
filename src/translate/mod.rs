//! Translators: each API the filter serves, to Bedrock and back.
//!
//! A translator reads the client's body into typed structs that borrow from it, writes the
//! upstream body once, and later turns Bedrock's answer (a body, or an event stream fed in any
//! split) into the client's. Translators never touch the host, never sign and never decide who
//! may call: they return what to send and what to answer, and the pipeline does the rest.

pub mod chat;
pub mod embeddings;
pub mod messages;
pub mod models;
pub mod responses;
