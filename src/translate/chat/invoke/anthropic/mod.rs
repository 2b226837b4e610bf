//! The Anthropic Messages family (Claude): the InvokeModel body Bedrock takes for
//! `anthropic.*` models, its answer and its stream events, to and from the Converse form.
//!
//! Request: `anthropic_version: bedrock-2023-05-31`, `max_tokens` (always: Bedrock requires
//! it), `system`, `messages` of typed content blocks, `temperature`, `top_p`,
//! `stop_sequences`, `tools` + `tool_choice` (with `disable_parallel_tool_use` for
//! `parallel_tool_calls: false`), and `additionalModelRequestFields` (`thinking`,
//! `top_k`, `anthropic_beta`, …) as top-level members. A Converse cache point becomes
//! `cache_control` on the block before it (system, message and tool blocks alike).
//!
//! Not carried: `strict` on tools (Anthropic's strict mode is a beta Bedrock may refuse;
//! Converse treats it as a hint too), document formats other than PDF and text (Anthropic
//! reads no Office files), and structured output (`response_format: json_schema`), which is a
//! 400 naming `response_format`: the Messages body on Bedrock has no schema-constrained
//! output, and a forced-tool imitation would be refused with thinking; `json_object` works
//! (it is already a forced tool in the Converse form).

mod answer;
mod request;

pub use answer::{StreamEvents, response};
pub use request::request_body;
