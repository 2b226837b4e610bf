//! `POST /v1/chat/completions` ↔ Bedrock Converse.

mod content;
pub mod invoke;
mod messages;
mod param;
pub mod request;
pub mod response;
pub mod stream;
pub mod tools;

pub use request::{ConverseCall, to_converse};
pub use response::from_converse;
pub use tools::ToolNames;
