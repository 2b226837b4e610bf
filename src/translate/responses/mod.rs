//! `POST /v1/responses` ↔ Bedrock Converse / ConverseStream.
//!
//! The request becomes the same typed Converse request chat produces
//! ([`crate::translate::chat::request::Translated`]), built from chat's blocks; the answer
//! becomes a `response` object, or the Responses API's streaming events.

mod input;
pub mod request;
pub mod response;
pub mod stream;

pub use input::REDACTED_PREFIX;
pub use request::{Echo, echo, parse, to_request};
pub use response::{ResponseMeta, from_converse};
