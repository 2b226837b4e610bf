//! `POST /v1/chat/completions` ↔ Bedrock Converse.

pub(crate) mod content;
pub mod effort;
pub mod invoke;
pub(crate) mod messages;
pub(crate) mod param;
pub mod reasoning;
pub mod request;
pub mod response;
pub mod stream;
pub mod tool_choice;
pub mod tools;

pub use tools::ToolNames;

#[cfg(test)]
pub(crate) use request::to_converse;
