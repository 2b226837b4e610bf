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

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::bedrock::converse::{
    CachePointBlock, ContentBlock, ConverseOutput, ConverseResponse, FieldMap, OutputContentBlock,
    OutputMessage, OutputReasoning, OutputReasoningText, OutputToolUse, ReasoningContentBlock,
    Role, SystemContentBlock, TokenUsage, Tool, ToolChoice, ToolResultContent,
};
use crate::chat::request::Translated;
use crate::chat::stream::Step;
use crate::chat::tools::name_safe_id;
use crate::error::{ApiError, ErrorType};

/// The `anthropic_version` Bedrock requires in InvokeModel bodies for Claude.
pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// Members the gateway writes itself: `additional_model_request_fields` may not set them.
const RESERVED: &[&str] = &[
    "anthropic_version",
    "max_tokens",
    "system",
    "messages",
    "temperature",
    "top_p",
    "stop_sequences",
    "tools",
    "tool_choice",
    "stream",
    "model",
];

#[derive(Serialize)]
struct Body<'r> {
    anthropic_version: &'static str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Block<'r>>,
    messages: Vec<Msg<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'r [Cow<'r, str>],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolDef<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Choice<'r>>,
    #[serde(flatten)]
    extra: &'r FieldMap<'r>,
}

#[derive(Serialize)]
struct Msg<'r> {
    role: Role,
    content: Vec<Block<'r>>,
}

/// `{"type": "ephemeral", "ttl"?: "5m" | "1h"}`.
#[derive(Serialize, Clone, Copy)]
struct CacheControl<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<&'r str>,
}

impl<'r> CacheControl<'r> {
    fn from_point(cp: &CachePointBlock<'r>) -> Self {
        CacheControl {
            kind: "ephemeral",
            ttl: cp.ttl,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'r> {
    Text {
        text: &'r str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl<'r>>,
    },
    Image {
        source: Source<'r>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl<'r>>,
    },
    Document {
        source: Source<'r>,
        title: &'r str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl<'r>>,
    },
    ToolUse {
        id: Cow<'r, str>,
        name: &'r str,
        input: &'r RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl<'r>>,
    },
    ToolResult {
        tool_use_id: Cow<'r, str>,
        content: Vec<Block<'r>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl<'r>>,
    },
    Thinking {
        thinking: &'r str,
        signature: &'r str,
    },
    RedactedThinking {
        data: &'r str,
    },
}

impl<'r> Block<'r> {
    fn text(text: &'r str) -> Self {
        Block::Text {
            text,
            cache_control: None,
        }
    }

    /// Mark the block as the end of a cached prefix. Thinking blocks cannot carry the mark
    /// (Anthropic refuses it there); a cache point after one is dropped.
    fn set_cache(&mut self, cc: CacheControl<'r>) {
        match self {
            Block::Text { cache_control, .. }
            | Block::Image { cache_control, .. }
            | Block::Document { cache_control, .. }
            | Block::ToolUse { cache_control, .. }
            | Block::ToolResult { cache_control, .. } => *cache_control = Some(cc),
            Block::Thinking { .. } | Block::RedactedThinking { .. } => {}
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Source<'r> {
    Base64 {
        media_type: &'static str,
        data: &'r str,
    },
    Text {
        media_type: &'static str,
        data: String,
    },
}

#[derive(Serialize)]
struct ToolDef<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    input_schema: &'r RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl<'r>>,
}

/// `{"type": "auto" | "any" | "tool", "name"?, "disable_parallel_tool_use"?}`.
#[derive(Serialize)]
struct Choice<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'r str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_parallel_tool_use: bool,
}

/// The InvokeModel body for a translated chat request. `default_max_tokens` is used when the
/// request set no `max_tokens`; with thinking it is raised above the budget.
pub fn request_body(t: &Translated<'_>, default_max_tokens: u32) -> Result<Vec<u8>, ApiError> {
    let c = &t.converse;
    if c.output_config.is_some() {
        return Err(ApiError::invalid(
            "response_format",
            "`json_schema` structured output is not available for this model through InvokeModel: use `json_object`, or route the model through Converse",
        ));
    }
    for (k, _) in &c.additional_model_request_fields.0 {
        if RESERVED.contains(&k.as_ref()) {
            return Err(ApiError::invalid(
                "additional_model_request_fields",
                format!(
                    "`{k}` is set from the request's own parameters, not from `additional_model_request_fields`"
                ),
            ));
        }
    }
    let max_tokens = match c.inference_config.max_tokens {
        Some(m) => m,
        None => match thinking_budget(&c.additional_model_request_fields) {
            Some(b) if b >= default_max_tokens => b.saturating_add(default_max_tokens),
            _ => default_max_tokens,
        },
    };
    let mut system: Vec<Block<'_>> = Vec::with_capacity(c.system.len());
    for s in &c.system {
        match s {
            SystemContentBlock::Text(t) => system.push(Block::text(t)),
            SystemContentBlock::CachePoint(cp) => {
                if let Some(last) = system.last_mut() {
                    last.set_cache(CacheControl::from_point(cp));
                }
            }
        }
    }
    let mut messages = Vec::with_capacity(c.messages.len());
    for m in &c.messages {
        let mut content: Vec<Block<'_>> = Vec::with_capacity(m.content.len());
        for b in &m.content {
            let block = match b {
                ContentBlock::Text(t) => Block::text(t),
                ContentBlock::Image(img) => Block::Image {
                    source: Source::Base64 {
                        media_type: image_type(img.format),
                        data: &img.source.bytes,
                    },
                    cache_control: None,
                },
                ContentBlock::Document(d) => Block::Document {
                    source: document_source(d.format, &d.source.bytes)?,
                    title: &d.name,
                    cache_control: None,
                },
                ContentBlock::ToolUse(tu) => Block::ToolUse {
                    id: name_safe_id(&tu.tool_use_id),
                    name: &tu.name,
                    input: &tu.input,
                    cache_control: None,
                },
                ContentBlock::ToolResult(tr) => Block::ToolResult {
                    tool_use_id: name_safe_id(&tr.tool_use_id),
                    content: tr
                        .content
                        .iter()
                        .map(|ToolResultContent::Text(t)| Block::text(t))
                        .collect(),
                    cache_control: None,
                },
                ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) => {
                    // Claude refuses unsigned thinking; the translation only replays signed.
                    let Some(sig) = r.signature.as_deref() else {
                        continue;
                    };
                    Block::Thinking {
                        thinking: &r.text,
                        signature: sig,
                    }
                }
                ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(d)) => {
                    Block::RedactedThinking { data: d }
                }
                ContentBlock::CachePoint(cp) => {
                    if let Some(last) = content.last_mut() {
                        last.set_cache(CacheControl::from_point(cp));
                    }
                    continue;
                }
            };
            content.push(block);
        }
        messages.push(Msg {
            role: m.role,
            content,
        });
    }
    let mut tools: Vec<ToolDef<'_>> = Vec::new();
    let mut tool_choice = None;
    if let Some(tc) = &c.tool_config {
        for tool in &tc.tools {
            match tool {
                Tool::ToolSpec(spec) => tools.push(ToolDef {
                    name: &spec.name,
                    description: spec.description.as_deref(),
                    input_schema: &spec.input_schema.json,
                    cache_control: None,
                }),
                Tool::CachePoint(cp) => {
                    if let Some(last) = tools.last_mut() {
                        last.cache_control = Some(CacheControl::from_point(cp));
                    }
                }
            }
        }
        let (kind, name) = match &tc.tool_choice {
            None => ("auto", None),
            Some(ToolChoice::Auto(_)) => ("auto", None),
            Some(ToolChoice::Any(_)) => ("any", None),
            Some(ToolChoice::Tool(t)) => ("tool", Some(t.name.as_ref())),
        };
        // `parallel_tool_calls: false` needs a tool_choice to ride on; `auto` is the default.
        let single = t.parallel_tool_calls == Some(false);
        if tc.tool_choice.is_some() || single {
            tool_choice = Some(Choice {
                kind,
                name,
                disable_parallel_tool_use: single,
            });
        }
    }
    let body = Body {
        anthropic_version: ANTHROPIC_VERSION,
        max_tokens,
        system,
        messages,
        temperature: c.inference_config.temperature,
        top_p: c.inference_config.top_p,
        stop_sequences: &c.inference_config.stop_sequences,
        tools,
        tool_choice,
        extra: &c.additional_model_request_fields,
    };
    serde_json::to_vec(&body)
        .map_err(|e| ApiError::invalid("messages", format!("cannot encode request: {e}")))
}

/// `thinking.budget_tokens` of an enabled `thinking` member, if any.
fn thinking_budget(fields: &FieldMap<'_>) -> Option<u32> {
    #[derive(Deserialize)]
    struct Thinking<'b> {
        #[serde(rename = "type", borrow, default)]
        kind: Option<Cow<'b, str>>,
        #[serde(default)]
        budget_tokens: Option<u32>,
    }
    let (_, raw) = fields.0.iter().find(|(k, _)| k == "thinking")?;
    let t: Thinking<'_> = serde_json::from_str(raw.get()).ok()?;
    (t.kind.as_deref() == Some("enabled"))
        .then_some(t.budget_tokens)
        .flatten()
}

fn image_type(format: &str) -> &'static str {
    match format {
        "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => "image/png",
    }
}

/// PDF goes as base64; plain-text formats as text (Anthropic reads no other documents).
fn document_source<'r>(format: &str, data: &'r str) -> Result<Source<'r>, ApiError> {
    match format {
        "pdf" => Ok(Source::Base64 {
            media_type: "application/pdf",
            data,
        }),
        "txt" | "md" | "csv" | "html" => {
            let text = STANDARD
                .decode(data)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "messages",
                        format!("a `{format}` document must be UTF-8 text"),
                    )
                })?;
            Ok(Source::Text {
                media_type: "text/plain",
                data: text,
            })
        }
        other => Err(ApiError::invalid(
            "messages",
            format!(
                "`{other}` documents are not supported by this model through InvokeModel: use pdf or a text format"
            ),
        )),
    }
}

/// An Anthropic content block (answers and `content_block_start`), every kind's members
/// optional: kinds this filter does not know are skipped, not fatal.
#[derive(Deserialize)]
struct AnswerBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct Usage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl Usage {
    /// Later counts (message_delta) replace earlier ones (message_start) where present.
    fn update(&mut self, later: &Usage) {
        let pick = |a: &mut Option<u64>, b: Option<u64>| {
            if b.is_some() {
                *a = b;
            }
        };
        pick(&mut self.input_tokens, later.input_tokens);
        pick(&mut self.output_tokens, later.output_tokens);
        pick(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
        pick(
            &mut self.cache_read_input_tokens,
            later.cache_read_input_tokens,
        );
    }

    /// Converse's usage: input excludes cache reads and writes, as Anthropic's does. Zero
    /// cache counts (Anthropic always sends them) mean no caching, as an absent Converse one.
    fn converse(&self) -> TokenUsage {
        let input = self.input_tokens.unwrap_or(0);
        let output = self.output_tokens.unwrap_or(0);
        let read = self.cache_read_input_tokens.filter(|n| *n > 0);
        let write = self.cache_creation_input_tokens.filter(|n| *n > 0);
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: None,
            cache_read_input_tokens: read,
            cache_write_input_tokens: write,
        }
    }
}

/// Anthropic `stop_reason` → Converse `stopReason` (which the shared code maps to OpenAI).
/// `refusal` is a content filter; `pause_turn` (a server tool paused a long turn) ends
/// the turn as far as a chat client can tell.
fn stop_reason(reason: &str) -> Cow<'static, str> {
    Cow::Borrowed(match reason {
        "end_turn" | "pause_turn" => "end_turn",
        "stop_sequence" => "stop_sequence",
        "max_tokens" => "max_tokens",
        "tool_use" => "tool_use",
        "refusal" => "content_filtered",
        "model_context_window_exceeded" => "model_context_window_exceeded",
        _ => "end_turn",
    })
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    content: Vec<AnswerBlock<'a>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Usage,
}

/// The empty object, for a `tool_use` block without `input`.
fn empty_input() -> Result<&'static RawValue, ApiError> {
    serde_json::from_str("{}").map_err(|e| ApiError::bad_upstream(format!("internal error: {e}")))
}

/// An InvokeModel answer in the Converse form. Anything but a Messages answer is a 502.
pub fn response(body: &[u8]) -> Result<ConverseResponse<'_>, ApiError> {
    // serde would also read a struct from a JSON array.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_upstream(
            "Bedrock returned an Anthropic response that is not a JSON object",
        ));
    }
    let answer: Answer<'_> = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_upstream(format!(
            "Bedrock returned an unreadable Anthropic response: {e}"
        ))
    })?;
    let mut content = Vec::with_capacity(answer.content.len());
    for b in answer.content {
        let mut out = OutputContentBlock {
            text: None,
            tool_use: None,
            reasoning_content: None,
        };
        match b.kind.as_ref() {
            "text" => out.text = Some(b.text.unwrap_or_default()),
            "tool_use" => {
                out.tool_use = Some(OutputToolUse {
                    tool_use_id: b.id.unwrap_or_default(),
                    name: b.name.unwrap_or_default(),
                    input: match b.input {
                        Some(i) => i,
                        None => empty_input()?,
                    },
                })
            }
            "thinking" => {
                out.reasoning_content = Some(OutputReasoning {
                    reasoning_text: Some(OutputReasoningText {
                        text: b.thinking,
                        signature: b.signature,
                    }),
                    redacted_content: None,
                })
            }
            "redacted_thinking" => {
                out.reasoning_content = Some(OutputReasoning {
                    reasoning_text: None,
                    redacted_content: b.data,
                })
            }
            // server_tool_use, web_search_tool_result, … have no chat completion form.
            _ => continue,
        }
        content.push(out);
    }
    let stop = answer
        .stop_reason
        .as_deref()
        .map_or(Cow::Borrowed("end_turn"), stop_reason);
    Ok(ConverseResponse {
        output: ConverseOutput {
            message: Some(OutputMessage { content }),
        },
        stop_reason: stop,
        usage: answer.usage.converse(),
    })
}

/// A stream event: every kind's members optional.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    message: Option<StartMessage>,
    #[serde(borrow, default)]
    content_block: Option<AnswerBlock<'a>>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(borrow, default)]
    error: Option<EventError<'a>>,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EventError<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

/// Per-stream state of the Anthropic event mapping.
#[derive(Debug, Default)]
pub struct StreamEvents {
    usage: UsageAcc,
    /// Tool blocks started and whether any input arrived for them: a call without input
    /// gets `{}` at its end, so clients always read JSON arguments.
    tools: Vec<(u32, bool)>,
}

#[derive(Debug, Default, Clone, Copy)]
struct UsageAcc {
    input: Option<u64>,
    output: Option<u64>,
    cache_write: Option<u64>,
    cache_read: Option<u64>,
}

impl UsageAcc {
    fn update(&mut self, u: &Usage) {
        let mut cur = Usage {
            input_tokens: self.input,
            output_tokens: self.output,
            cache_creation_input_tokens: self.cache_write,
            cache_read_input_tokens: self.cache_read,
        };
        cur.update(u);
        *self = UsageAcc {
            input: cur.input_tokens,
            output: cur.output_tokens,
            cache_write: cur.cache_creation_input_tokens,
            cache_read: cur.cache_read_input_tokens,
        };
    }

    fn converse(&self) -> TokenUsage {
        Usage {
            input_tokens: self.input,
            output_tokens: self.output,
            cache_creation_input_tokens: self.cache_write,
            cache_read_input_tokens: self.cache_read,
        }
        .converse()
    }
}

impl StreamEvents {
    /// Map one decoded stream event to steps. `message_stop` is the last event of a complete
    /// message: it carries the usage, so a stream that never reaches it ends in an error.
    pub(crate) fn event<'e>(&mut self, event: &'e [u8], emit: &mut dyn FnMut(Step<'e>)) {
        let ev: Event<'e> = match serde_json::from_slice(event) {
            Ok(ev) => ev,
            Err(e) => {
                return emit(Step::Fail(ApiError::bad_upstream(format!(
                    "Bedrock streamed an unreadable Anthropic event: {e}"
                ))));
            }
        };
        let index = ev.index.unwrap_or(0);
        match ev.kind.as_ref() {
            "message_start" => {
                if let Some(u) = ev.message.and_then(|m| m.usage) {
                    self.usage.update(&u);
                }
                emit(Step::Role);
            }
            "content_block_start" => {
                let Some(b) = ev.content_block else { return };
                match b.kind.as_ref() {
                    "tool_use" => {
                        self.tools.push((index, false));
                        emit(Step::ToolStart {
                            block: index,
                            id: b.id.unwrap_or_default(),
                            name: b.name.unwrap_or_default(),
                        });
                    }
                    "text" => {
                        if let Some(t) = b.text.filter(|t| !t.is_empty()) {
                            emit(Step::Text(t));
                        }
                    }
                    "thinking" => {
                        if let Some(t) = b.thinking.filter(|t| !t.is_empty()) {
                            emit(Step::Reasoning(t));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let Some(d) = ev.delta else { return };
                match d.kind.as_deref() {
                    Some("text_delta") => emit(Step::Text(d.text.unwrap_or_default())),
                    Some("input_json_delta") => {
                        let input = d.partial_json.unwrap_or_default();
                        if input.is_empty() {
                            return;
                        }
                        if let Some(t) = self.tools.iter_mut().find(|(b, _)| *b == index) {
                            t.1 = true;
                        }
                        emit(Step::ToolInput {
                            block: index,
                            input,
                        });
                    }
                    Some("thinking_delta") => emit(Step::Reasoning(d.thinking.unwrap_or_default())),
                    Some("signature_delta") => {
                        emit(Step::Signature(d.signature.unwrap_or_default()))
                    }
                    // citations_delta and kinds added later carry nothing for a chat client.
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(t) = self.tools.iter_mut().find(|(b, _)| *b == index)
                    && !t.1
                {
                    t.1 = true;
                    emit(Step::ToolInput {
                        block: index,
                        input: Cow::Borrowed("{}"),
                    });
                }
            }
            "message_delta" => {
                if let Some(u) = &ev.usage {
                    self.usage.update(u);
                }
                if let Some(r) = ev.delta.and_then(|d| d.stop_reason) {
                    emit(Step::Stop(stop_reason(&r)));
                }
            }
            "message_stop" => emit(Step::Usage(self.usage.converse())),
            "error" => emit(Step::Fail(stream_error(ev.error))),
            // ping and event types added later.
            _ => {}
        }
    }
}

/// The model's own `error` event (e.g. `overloaded_error` mid-stream).
fn stream_error(e: Option<EventError<'_>>) -> ApiError {
    let (kind, message) = match e {
        Some(e) => (e.kind.unwrap_or_default(), e.message.unwrap_or_default()),
        None => (Cow::Borrowed(""), Cow::Borrowed("")),
    };
    let (status, class) = match kind.as_ref() {
        "rate_limit_error" => (429, ErrorType::RateLimit),
        "overloaded_error" => (503, ErrorType::Api),
        "invalid_request_error" => (400, ErrorType::InvalidRequest),
        _ => (502, ErrorType::Api),
    };
    let message = if message.is_empty() {
        format!("the model's stream failed: {kind}")
    } else {
        crate::bedrock::error::redact(&message)
    };
    ApiError::new(status, class, message)
}
