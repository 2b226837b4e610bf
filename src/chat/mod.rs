//! `POST /v1/chat/completions` ↔ Bedrock Converse.

pub mod request;
pub mod response;
pub mod stream;

pub use request::{ConverseCall, to_converse};
pub use response::from_converse;
