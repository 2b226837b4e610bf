//! Claude's InvokeModel body, written from the typed Converse request.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::anthropic::{self, BEDROCK_ANTHROPIC_VERSION};
use crate::bedrock::converse::{
    CachePointBlock, ContentBlock, FieldMap, ReasoningContentBlock, Role, SystemContentBlock, Tool,
    ToolChoice, ToolConfiguration, ToolResultContent,
};
use crate::error::ApiError;
use crate::json::JsonText;
use crate::translate::chat::request::Translated;
use crate::translate::chat::tools::name_safe_id;

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
        text: JsonText<'r>,
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
    fn text(text: &'r JsonText<'r>) -> Self {
        Block::Text {
            text: text.reborrow(),
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
    description: Option<JsonText<'r>>,
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
        None => anthropic::default_max_tokens(
            default_max_tokens,
            c.additional_model_request_fields
                .0
                .iter()
                .find(|(k, _)| k == "thinking")
                .and_then(|(_, raw)| anthropic::thinking_budget(raw.get())),
        ),
    };
    let messages = c
        .messages
        .iter()
        .map(|m| {
            Ok(Msg {
                role: m.role,
                content: content_blocks(&m.content)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let (tools, tool_choice) = match &c.tool_config {
        Some(tc) => tools(tc, t.parallel_tool_calls == Some(false)),
        None => (Vec::new(), None),
    };
    let body = Body {
        anthropic_version: BEDROCK_ANTHROPIC_VERSION,
        max_tokens,
        system: system_blocks(&c.system),
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

/// System prompts; a cache point marks the block before it.
fn system_blocks<'r>(system: &'r [SystemContentBlock<'_>]) -> Vec<Block<'r>> {
    let mut out: Vec<Block<'_>> = Vec::with_capacity(system.len());
    for s in system {
        match s {
            SystemContentBlock::Text(t) => out.push(Block::text(t)),
            SystemContentBlock::CachePoint(cp) => {
                if let Some(last) = out.last_mut() {
                    last.set_cache(CacheControl::from_point(cp));
                }
            }
        }
    }
    out
}

/// One message's content; a cache point marks the block before it.
fn content_blocks<'r>(blocks: &'r [ContentBlock<'_>]) -> Result<Vec<Block<'r>>, ApiError> {
    let mut content: Vec<Block<'_>> = Vec::with_capacity(blocks.len());
    for b in blocks {
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
    Ok(content)
}

/// Tool definitions and the choice among them. `single` (`parallel_tool_calls: false`) needs a
/// `tool_choice` to ride on; `auto` is the default.
fn tools<'r>(
    tc: &'r ToolConfiguration<'_>,
    single: bool,
) -> (Vec<ToolDef<'r>>, Option<Choice<'r>>) {
    let mut tools: Vec<ToolDef<'_>> = Vec::with_capacity(tc.tools.len());
    for tool in &tc.tools {
        match tool {
            Tool::ToolSpec(spec) => tools.push(ToolDef {
                name: &spec.name,
                description: spec.description.as_ref().map(JsonText::reborrow),
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
    let choice = (tc.tool_choice.is_some() || single).then_some(Choice {
        kind,
        name,
        disable_parallel_tool_use: single,
    });
    (tools, choice)
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
