//! Chat through InvokeModel / InvokeModelWithResponseStream, with a model family's own body.
//!
//! The chat translation validates the OpenAI request once and builds the typed Converse
//! request ([`Translated`]); that is the intermediate form every family writes its native
//! body from. Answers come back the same way: a family reads its native answer into a
//! [`ConverseResponse`](crate::bedrock::converse::ConverseResponse) and its stream events into
//! the [`Step`]s the Converse stream uses, so tool-name mapping, dense tool indexes, usage,
//! finish reasons and error handling are shared, not repeated per family.
//!
//! Adding a family is one module with three functions (`request_body`, `response`, and a
//! `StreamEvents` type with `event`) plus its arm in each `match` below.

pub mod anthropic;
pub mod nova;

use super::request::Translated;
use super::response::{CompletionMeta, completion};
use super::stream::{Step, StreamState};
use super::tools::ToolNames;
use crate::bedrock::converse::TokenUsage;
use crate::bedrock::invoke_stream::ChunkDecoder;
use crate::bedrock::model_id;
use crate::error::ApiError;

/// A model family with its own InvokeModel body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Anthropic Messages (Claude).
    Anthropic,
    /// Amazon Nova's Converse-shaped native body.
    Nova,
}

impl Family {
    /// The names the configuration accepts (`"family": …`).
    pub const NAMES: &'static [&'static str] = &["anthropic", "nova"];

    pub fn parse(name: &str) -> Option<Family> {
        match name {
            "anthropic" => Some(Family::Anthropic),
            "nova" => Some(Family::Nova),
            _ => None,
        }
    }

    /// The family of a Bedrock model ID, inference profile or ARN that names its model;
    /// `None` for models of other providers and for ARNs that hide the model.
    pub fn of_model(id: &str) -> Option<Family> {
        let model = model_id::foundation_model(id)?;
        match model_id::provider(model)? {
            "anthropic" => Some(Family::Anthropic),
            // Nova's understanding models; Nova Canvas/Reel/Sonic/embeddings are not chat.
            "amazon"
                if [
                    "amazon.nova-micro",
                    "amazon.nova-lite",
                    "amazon.nova-pro",
                    "amazon.nova-premier",
                    "amazon.nova-2-lite",
                ]
                .iter()
                .any(|p| model.starts_with(p)) =>
            {
                Some(Family::Nova)
            }
            _ => None,
        }
    }

    /// The InvokeModel body. `default_max_tokens` fills in `max_tokens` where the family
    /// requires one and the request set none.
    pub fn request_body(
        self,
        t: &Translated<'_>,
        default_max_tokens: u32,
    ) -> Result<Vec<u8>, ApiError> {
        match self {
            Family::Anthropic => anthropic::request_body(t, default_max_tokens),
            Family::Nova => nova::request_body(t, default_max_tokens),
        }
    }

    /// A successful InvokeModel answer → OpenAI `chat.completion`.
    pub fn completion(
        self,
        body: &[u8],
        meta: &CompletionMeta,
        names: &ToolNames,
    ) -> Result<Vec<u8>, ApiError> {
        self.completion_with_usage(body, meta, names)
            .map(|(out, _)| out)
    }

    /// [`Family::completion`], also returning the answer's usage (for stats and access logs).
    pub fn completion_with_usage(
        self,
        body: &[u8],
        meta: &CompletionMeta,
        names: &ToolNames,
    ) -> Result<(Vec<u8>, TokenUsage), ApiError> {
        let resp = match self {
            Family::Anthropic => anthropic::response(body)?,
            Family::Nova => nova::response(body)?,
        };
        let usage = resp.usage;
        completion(resp, meta, names).map(|out| (out, usage))
    }
}

/// A family's per-stream event mapping.
#[derive(Debug)]
enum Events {
    Anthropic(anthropic::StreamEvents),
    Nova(nova::StreamEvents),
}

impl Events {
    fn event<'e>(&mut self, event: &'e [u8], emit: &mut dyn FnMut(Step<'e>)) {
        match self {
            Events::Anthropic(e) => e.event(event, emit),
            Events::Nova(e) => e.event(event, emit),
        }
    }
}

/// InvokeModelWithResponseStream body → OpenAI `chat.completion.chunk` events: the `chunk`
/// events' decoded bytes go through the family's mapping into the shared stream state.
#[derive(Debug)]
pub struct InvokeStreamTranslator {
    chunks: ChunkDecoder,
    events: Events,
    state: StreamState,
}

impl InvokeStreamTranslator {
    pub fn new(
        family: Family,
        meta: CompletionMeta,
        include_usage: bool,
        names: ToolNames,
    ) -> Self {
        InvokeStreamTranslator {
            chunks: ChunkDecoder::new(),
            events: match family {
                Family::Anthropic => Events::Anthropic(anthropic::StreamEvents::default()),
                Family::Nova => Events::Nova(nova::StreamEvents),
            },
            state: StreamState::new(meta, include_usage, names),
        }
    }

    /// Bedrock's usage, once the family's last event reported it.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.state.usage()
    }

    /// The completion id (set once the upstream request id is known).
    pub fn set_id(&mut self, id: String) {
        self.state.set_id(id);
    }

    /// Translate more upstream bytes, appending SSE text to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.state.is_ended() {
            return;
        }
        self.chunks.feed(bytes);
        while !self.state.is_ended() {
            match self.chunks.next_chunk() {
                Ok(None) => return,
                Ok(Some(event)) => {
                    let state = &mut self.state;
                    self.events.event(event, &mut |step| {
                        if !state.is_ended() {
                            state.apply(step, out);
                        }
                    });
                }
                Err(e) => self.state.fail(&e, out),
            }
        }
    }

    /// The upstream body is complete: `[DONE]`, or an error if it was cut short.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let decoded = self.chunks.finish();
        self.state.finish(decoded, out);
    }
}

#[cfg(test)]
mod tests;
