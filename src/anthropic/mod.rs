//! The Anthropic Messages API (`POST /v1/messages`) served by Bedrock InvokeModel.
//!
//! Clients built on Anthropic's SDKs (Claude Code among them) speak the Messages API; Bedrock
//! serves Claude with the same body through InvokeModel and the same stream events wrapped in
//! its event stream. [`messages`] translates requests, answers and errors; [`stream`] turns an
//! InvokeModelWithResponseStream body into Anthropic's server-sent events.

pub mod messages;
mod object;
pub mod stream;

pub use messages::{
    MessagesCall, beta_flags, error_json, from_invoke, to_invoke, to_invoke_with_betas,
};
pub use stream::MessagesStreamTranslator;
