//! Rules real Bedrock enforces per model family, beyond the API model: which
//! model-specific request fields a model takes, Claude's extended-thinking constraints,
//! and the Anthropic beta flags Bedrock accepts.
//!
//! They apply to Converse's `additionalModelRequestFields` (which Bedrock hands to the
//! model) and to Anthropic InvokeModel bodies (where the same fields are native). A model
//! the simulator cannot place (an application inference profile, a provisioned or custom
//! model ARN) gets none of them: real Bedrock knows the model behind it, the simulator
//! does not.
//!
//! | field | accepted for |
//! |---|---|
//! | `thinking` | `anthropic.*` (and per Claude model, see [`ThinkingSupport`]) |
//! | `anthropic_beta`, `context_management`, `output_config` | `anthropic.*` |
//! | `tool_choice` with `disable_parallel_tool_use` | `anthropic.*` |
//! | `reasoningConfig` | `amazon.nova-2-*` |
//! | `reasoning_effort` | `openai.gpt-oss-*` |
//!
//! Errors are 400 `ValidationException`s. Converse wraps the model's complaint the way
//! Bedrock does (`The model returned the following errors: ...`); InvokeModel answers it
//! bare.

use serde_json::{Map, Value};

use crate::errors::AwsError;
use crate::model_id::{Family, ModelInfo};

/// The `anthropic_beta` flags Bedrock accepts (AWS's list for Claude on Bedrock). Any
/// other flag is refused with `invalid beta flag`. Add a flag here when Bedrock starts
/// accepting it.
pub const ACCEPTED_ANTHROPIC_BETAS: &[&str] = &[
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "computer-use-2025-11-24",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "dev-full-thinking-2025-05-14",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
];

/// The beta a `context_management` member needs.
pub const CONTEXT_MANAGEMENT_BETA: &str = "context-management-2025-06-27";
/// The beta `output_config.effort` needs before Claude 4.6.
pub const EFFORT_BETA: &str = "effort-2025-11-24";

/// Claude models without extended thinking (name prefixes after `anthropic.`).
const CLAUDE_WITHOUT_THINKING: &[&str] = &[
    "claude-3-5-haiku",
    "claude-3-5-sonnet",
    "claude-3-haiku",
    "claude-3-opus",
    "claude-3-sonnet",
    "claude-v2",
    "claude-instant",
];

/// Claude models that only think adaptively, whatever their version says.
const CLAUDE_ADAPTIVE_ONLY_NAMES: &[&str] = &["claude-mythos-", "claude-fable-"];

const THINKING_DOCS: &str = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking";

/// Which request API the fields came through: it decides how errors read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Converse,
    InvokeModel,
}

/// The model families the rules tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vendor {
    /// `anthropic.*`, with the model name (`claude-3-7-sonnet-20250219-v1:0`).
    Claude(String),
    /// `amazon.nova-2-*`.
    Nova2,
    /// `openai.gpt-oss-*`.
    GptOss,
    /// Any other foundation model.
    Other,
    /// A model the identifier does not name (application inference profile, provisioned
    /// or custom model ARN): no family rule applies.
    Unknown,
}

/// What extended thinking a Claude model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkingSupport {
    /// No extended thinking: `thinking` of any type is refused.
    None,
    /// `{"type": "enabled", "budget_tokens": N}` (and `disabled`); not `adaptive`.
    Budget,
    /// Claude 4.6: `enabled` or `adaptive`.
    BudgetOrAdaptive,
    /// Claude Opus 4.7, Claude 5, Mythos, Fable: only `adaptive` (and `disabled`).
    AdaptiveOnly,
    /// A Claude name the simulator cannot place: every type is accepted.
    Unknown,
}

/// The family of a checked model identifier.
pub fn vendor(info: &ModelInfo) -> Vendor {
    let base = info.base.as_str();
    if info.family == Family::Anthropic {
        let name = base.rsplit_once("anthropic.").map_or(base, |(_, n)| n);
        return Vendor::Claude(name.to_owned());
    }
    if base.starts_with("amazon.nova-2-") {
        Vendor::Nova2
    } else if base.starts_with("openai.gpt-oss-") {
        Vendor::GptOss
    } else if base.contains('.') {
        Vendor::Other
    } else {
        Vendor::Unknown
    }
}

/// The (major, minor) version in a Claude model name: `claude-opus-4-6-v1` -> (4, 6),
/// `claude-3-7-sonnet-20250219-v1:0` -> (3, 7), `claude-sonnet-4-20250514-v1:0` -> (4, 0)
/// (an 8-digit date is not a minor version).
pub fn claude_version(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("claude-")?;
    let tokens: Vec<&str> = rest.split(['-', ':']).collect();
    let is_num = |t: &str| !t.is_empty() && t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit());
    let first = *tokens.first()?;
    let (major, after) = if is_num(first) {
        (first, 1)
    } else {
        let second = *tokens.get(1)?;
        if !first.bytes().all(|b| b.is_ascii_lowercase()) || !is_num(second) {
            return None;
        }
        (second, 2)
    };
    let major: u32 = major.parse().ok()?;
    let minor: u32 = match tokens.get(after) {
        Some(t) if is_num(t) => t.parse().ok()?,
        _ => 0,
    };
    Some((major, minor))
}

/// The extended thinking a Claude model name supports.
pub fn thinking_support(name: &str) -> ThinkingSupport {
    if CLAUDE_WITHOUT_THINKING.iter().any(|p| name.starts_with(p)) {
        return ThinkingSupport::None;
    }
    if CLAUDE_ADAPTIVE_ONLY_NAMES
        .iter()
        .any(|p| name.starts_with(p))
    {
        return ThinkingSupport::AdaptiveOnly;
    }
    match claude_version(name) {
        Some(v) if v >= (4, 7) => ThinkingSupport::AdaptiveOnly,
        Some(v) if v >= (4, 6) => ThinkingSupport::BudgetOrAdaptive,
        Some(_) => ThinkingSupport::Budget,
        None => ThinkingSupport::Unknown,
    }
}

/// Claude 4.6 and later (adaptive thinking, `output_config.effort` without a beta).
fn claude_4_6_or_later(name: &str) -> bool {
    matches!(
        thinking_support(name),
        ThinkingSupport::BudgetOrAdaptive | ThinkingSupport::AdaptiveOnly
    )
}

/// A message as the thinking-block rule sees it: its role and the Anthropic type names of
/// its blocks (`text`, `tool_use`, `thinking`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: String,
    pub blocks: Vec<String>,
}

fn snake_case(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Converse messages as Claude receives them: `reasoningContent` is `thinking` (or
/// `redacted_thinking`), `toolUse` is `tool_use`, and so on; cache points are not blocks
/// (Bedrock turns them into `cache_control` on the block before).
pub fn converse_turns(body: &Value) -> Vec<Turn> {
    let messages = body.get("messages").and_then(Value::as_array);
    messages
        .map(|ms| {
            ms.iter()
                .map(|m| Turn {
                    role: m
                        .get("role")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    blocks: m
                        .get("content")
                        .and_then(Value::as_array)
                        .map(|blocks| {
                            blocks
                                .iter()
                                .filter_map(Value::as_object)
                                .filter_map(|b| b.iter().find(|(_, v)| !v.is_null()))
                                .filter(|(k, _)| k.as_str() != "cachePoint")
                                .map(|(k, v)| match k.as_str() {
                                    "reasoningContent" if v.get("redactedContent").is_some() => {
                                        "redacted_thinking".to_owned()
                                    }
                                    "reasoningContent" => "thinking".to_owned(),
                                    other => snake_case(other),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The messages of an Anthropic Messages body (string content is one `text` block).
pub fn anthropic_turns(body: &Map<String, Value>) -> Vec<Turn> {
    let messages = body.get("messages").and_then(Value::as_array);
    messages
        .map(|ms| {
            ms.iter()
                .map(|m| Turn {
                    role: m
                        .get("role")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    blocks: match m.get("content") {
                        Some(Value::String(_)) => vec!["text".to_owned()],
                        Some(Value::Array(blocks)) => blocks
                            .iter()
                            .map(|b| {
                                b.get("type")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_owned()
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything the Claude rules look at in one request.
struct ClaudeRequest<'a> {
    name: &'a str,
    /// The model-specific fields: `additionalModelRequestFields`, or the Anthropic body.
    fields: &'a Map<String, Value>,
    max_tokens: Option<u64>,
    sampling: Sampling,
    turns: Vec<Turn>,
}

/// The sampling settings and tool choice of a request, wherever its API writes them: what
/// Claude's thinking and Nova 2's high reasoning effort restrict.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: bool,
    /// The tool choice forces a tool call (`any` / `tool`).
    pub forced_tool: bool,
}

impl Sampling {
    fn of_converse(body: &Value, fields: &Map<String, Value>) -> Sampling {
        let config = body.get("inferenceConfig");
        let choice = body.get("toolConfig").and_then(|t| t.get("toolChoice"));
        Sampling {
            temperature: config
                .and_then(|c| c.get("temperature"))
                .and_then(Value::as_f64),
            top_p: config.and_then(|c| c.get("topP")).and_then(Value::as_f64),
            top_k: fields.contains_key("top_k"),
            forced_tool: choice.is_some_and(|c| c.get("any").is_some() || c.get("tool").is_some()),
        }
    }

    fn of_anthropic(body: &Map<String, Value>) -> Sampling {
        let choice = body
            .get("tool_choice")
            .and_then(|c| c.get("type"))
            .and_then(Value::as_str);
        Sampling {
            temperature: body.get("temperature").and_then(Value::as_f64),
            top_p: body.get("top_p").and_then(Value::as_f64),
            top_k: body.contains_key("top_k"),
            forced_tool: matches!(choice, Some("any" | "tool")),
        }
    }
}

fn error(api: Api, message: impl AsRef<str>) -> AwsError {
    match api {
        Api::Converse => AwsError::validation(format!(
            "The model returned the following errors: {}",
            message.as_ref()
        )),
        Api::InvokeModel => AwsError::validation(message.as_ref()),
    }
}

fn extraneous(api: Api, pointer: &str, key: &str) -> AwsError {
    error(
        api,
        format!(
            "Malformed input request: {pointer}: extraneous key [{key}] is not permitted, please reformat your input and try again."
        ),
    )
}

/// Checks Converse's `additionalModelRequestFields` (and, for Claude, the messages and
/// `inferenceConfig.maxTokens`) against the model's family. `body` passed the API model.
pub fn check_converse(info: &ModelInfo, body: &Value) -> Result<(), AwsError> {
    let empty = Map::new();
    let fields = body
        .get("additionalModelRequestFields")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let max_tokens = body
        .get("inferenceConfig")
        .and_then(|c| c.get("maxTokens"))
        .and_then(Value::as_u64);
    let sampling = Sampling::of_converse(body, fields);
    check_fields(info, Api::Converse, fields, max_tokens, sampling, || {
        converse_turns(body)
    })
}

/// Checks an Anthropic InvokeModel body (already checked for `anthropic_version`,
/// `max_tokens` and `messages`) against the Claude rules.
pub fn check_anthropic_body(info: &ModelInfo, body: &Map<String, Value>) -> Result<(), AwsError> {
    let max_tokens = body.get("max_tokens").and_then(Value::as_u64);
    check_fields(
        info,
        Api::InvokeModel,
        body,
        max_tokens,
        Sampling::of_anthropic(body),
        || anthropic_turns(body),
    )
}

fn check_fields(
    info: &ModelInfo,
    api: Api,
    fields: &Map<String, Value>,
    max_tokens: Option<u64>,
    sampling: Sampling,
    turns: impl FnOnce() -> Vec<Turn>,
) -> Result<(), AwsError> {
    let vendor = vendor(info);
    if vendor == Vendor::Unknown {
        return Ok(());
    }
    let is_claude = matches!(vendor, Vendor::Claude(_));
    // Fields that belong to another family.
    let foreign: &[(&str, bool)] = &[
        ("thinking", is_claude),
        ("anthropic_beta", is_claude),
        ("context_management", is_claude),
        ("output_config", is_claude),
        ("reasoningConfig", vendor == Vendor::Nova2),
        ("reasoning_effort", vendor == Vendor::GptOss),
    ];
    for (key, allowed) in foreign {
        if fields.contains_key(*key) && !allowed {
            return Err(extraneous(api, "#", key));
        }
    }
    if !is_claude
        && let Some(tc) = fields.get("tool_choice").and_then(Value::as_object)
        && tc.contains_key("disable_parallel_tool_use")
    {
        return Err(extraneous(
            api,
            "#/tool_choice",
            "disable_parallel_tool_use",
        ));
    }
    match vendor {
        Vendor::Claude(name) => check_claude(
            api,
            &ClaudeRequest {
                name: &name,
                fields,
                max_tokens,
                sampling,
                turns: turns(),
            },
        ),
        Vendor::Nova2 => {
            check_reasoning_config(api, fields.get("reasoningConfig"))?;
            check_nova_high_effort(api, fields.get("reasoningConfig"), max_tokens, sampling)
        }
        Vendor::GptOss => check_reasoning_effort(api, fields.get("reasoning_effort")),
        Vendor::Other | Vendor::Unknown => Ok(()),
    }
}

/// Nova 2: `reasoningConfig: {"type": "enabled"|"disabled", "maxReasoningEffort"?: "low"|"medium"|"high"}`.
fn check_reasoning_config(api: Api, v: Option<&Value>) -> Result<(), AwsError> {
    let Some(v) = v else { return Ok(()) };
    let Some(obj) = v.as_object() else {
        return Err(error(
            api,
            "Malformed input request: #/reasoningConfig: expected type: JSONObject, please reformat your input and try again.",
        ));
    };
    for k in obj.keys() {
        if k != "type" && k != "maxReasoningEffort" {
            return Err(extraneous(api, "#/reasoningConfig", k));
        }
    }
    match obj.get("type").and_then(Value::as_str) {
        Some("enabled" | "disabled") => {}
        Some(other) => {
            return Err(error(
                api,
                format!(
                    "Malformed input request: #/reasoningConfig/type: {other} is not a valid enum value, please reformat your input and try again."
                ),
            ));
        }
        None => {
            return Err(error(
                api,
                "Malformed input request: #/reasoningConfig: required key [type] not found, please reformat your input and try again.",
            ));
        }
    }
    if let Some(effort) = obj.get("maxReasoningEffort")
        && !matches!(effort.as_str(), Some("low" | "medium" | "high"))
    {
        return Err(error(
            api,
            format!(
                "Malformed input request: #/reasoningConfig/maxReasoningEffort: {effort} is not a valid enum value, please reformat your input and try again."
            ),
        ));
    }
    Ok(())
}

/// gpt-oss: `reasoning_effort: "low"|"medium"|"high"`.
fn check_reasoning_effort(api: Api, v: Option<&Value>) -> Result<(), AwsError> {
    match v {
        None => Ok(()),
        Some(Value::String(s)) if matches!(s.as_str(), "low" | "medium" | "high") => Ok(()),
        Some(other) => Err(error(
            api,
            format!(
                "Malformed input request: #/reasoning_effort: {other} is not a valid enum value, please reformat your input and try again."
            ),
        )),
    }
}

fn check_claude(api: Api, req: &ClaudeRequest<'_>) -> Result<(), AwsError> {
    let betas = check_betas(api, req.fields.get("anthropic_beta"))?;
    let has_beta = |b: &str| betas.iter().any(|x| x == b);
    if req.fields.contains_key("context_management") && !has_beta(CONTEXT_MANAGEMENT_BETA) {
        return Err(error(
            api,
            "context_management: Extra inputs are not permitted",
        ));
    }
    if req
        .fields
        .get("output_config")
        .and_then(Value::as_object)
        .is_some_and(|o| o.contains_key("effort"))
        && !has_beta(EFFORT_BETA)
        && !claude_4_6_or_later(req.name)
    {
        return Err(error(
            api,
            "output_config.effort: Extra inputs are not permitted",
        ));
    }
    let Some(thinking) = req.fields.get("thinking") else {
        return Ok(());
    };
    let support = thinking_support(req.name);
    if support == ThinkingSupport::None {
        return Err(extraneous(api, "#", "thinking"));
    }
    let tags = match support {
        ThinkingSupport::Budget => "'disabled', 'enabled'",
        ThinkingSupport::AdaptiveOnly => "'adaptive', 'disabled'",
        _ => "'adaptive', 'disabled', 'enabled'",
    };
    let Some(obj) = thinking.as_object() else {
        return Err(error(
            api,
            "thinking: Input should be a valid dictionary or object to extract fields from",
        ));
    };
    let kind = obj.get("type").and_then(Value::as_str);
    let thinks = match kind {
        Some("disabled") => false,
        Some("enabled") if support == ThinkingSupport::AdaptiveOnly => {
            return Err(error(
                api,
                "thinking.type.enabled is not supported for this model. Use thinking.type.adaptive and output_config.effort to control thinking behavior.",
            ));
        }
        Some("enabled") => {
            check_budget(api, obj.get("budget_tokens"), req.max_tokens)?;
            true
        }
        Some("adaptive") if support == ThinkingSupport::Budget => {
            return Err(error(
                api,
                format!(
                    "thinking: Input tag 'adaptive' found using 'type' does not match any of the expected tags: {tags}"
                ),
            ));
        }
        Some("adaptive") => {
            if obj.contains_key("budget_tokens") {
                return Err(error(
                    api,
                    "thinking.adaptive.budget_tokens: Extra inputs are not permitted",
                ));
            }
            true
        }
        Some(other) => {
            return Err(error(
                api,
                format!(
                    "thinking: Input tag '{other}' found using 'type' does not match any of the expected tags: {tags}"
                ),
            ));
        }
        None => {
            return Err(error(
                api,
                format!(
                    "thinking: Unable to extract tag using discriminator 'type' (expected tags: {tags})"
                ),
            ));
        }
    };
    if thinks {
        check_thinking_sampling(api, req.sampling)?;
        check_thinking_block_first(api, &req.turns)?;
    }
    Ok(())
}

/// With thinking on, Claude takes no temperature but 1, no `top_p` below 0.95, no `top_k`,
/// and no tool choice that forces a tool call.
fn check_thinking_sampling(api: Api, s: Sampling) -> Result<(), AwsError> {
    let why = if s
        .temperature
        .is_some_and(|t| (t - 1.0).abs() > f64::EPSILON)
    {
        "`temperature` may only be set to 1 when thinking is enabled."
    } else if s.top_p.is_some_and(|p| p < 0.95) {
        "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled."
    } else if s.top_k {
        "`top_k` must be unset when thinking is enabled."
    } else if s.forced_tool {
        "Thinking may not be enabled when tool_choice forces tool use."
    } else {
        return Ok(());
    };
    Err(error(
        api,
        format!("{why} Please consult our documentation at {THINKING_DOCS}#feature-compatibility"),
    ))
}

/// Nova 2 with `maxReasoningEffort: "high"` chooses its own output length and sampling:
/// `maxTokens`, `temperature`, `topP` and `topK` must be unset.
fn check_nova_high_effort(
    api: Api,
    config: Option<&Value>,
    max_tokens: Option<u64>,
    s: Sampling,
) -> Result<(), AwsError> {
    let high = config
        .and_then(|c| c.get("maxReasoningEffort"))
        .and_then(Value::as_str)
        == Some("high");
    let set = [
        ("maxTokens", max_tokens.is_some()),
        ("temperature", s.temperature.is_some()),
        ("topP", s.top_p.is_some()),
        ("topK", s.top_k),
    ];
    match set.iter().find(|(_, on)| *on) {
        Some((name, _)) if high => Err(error(
            api,
            format!(
                "Malformed input request: {name} cannot be set when reasoningConfig.maxReasoningEffort is high, please reformat your input and try again."
            ),
        )),
        _ => Ok(()),
    }
}

/// `anthropic_beta`: a list of flags Bedrock accepts. Returns the flags.
fn check_betas(api: Api, v: Option<&Value>) -> Result<Vec<String>, AwsError> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let Some(items) = v.as_array() else {
        return Err(error(api, "anthropic_beta: Input should be a valid list"));
    };
    let mut out = Vec::new();
    for item in items {
        match item.as_str() {
            Some(flag) if ACCEPTED_ANTHROPIC_BETAS.contains(&flag) => out.push(flag.to_owned()),
            _ => return Err(error(api, "invalid beta flag")),
        }
    }
    Ok(out)
}

/// `budget_tokens`: an integer, at least 1024, below `max_tokens` (when it is known).
fn check_budget(api: Api, v: Option<&Value>, max_tokens: Option<u64>) -> Result<(), AwsError> {
    let Some(v) = v else {
        return Err(error(api, "thinking.enabled.budget_tokens: Field required"));
    };
    let Some(budget) = v.as_i64() else {
        return Err(error(
            api,
            "thinking.enabled.budget_tokens: Input should be a valid integer",
        ));
    };
    if budget < 1024 {
        return Err(error(
            api,
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ));
    }
    if let Some(max) = max_tokens
        && u64::try_from(budget).unwrap_or(0) >= max
    {
        return Err(error(
            api,
            format!(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at {THINKING_DOCS}#max-tokens-and-context-window-size"
            ),
        ));
    }
    Ok(())
}

/// With thinking on, the last assistant message, when it holds a tool use, must start
/// with a thinking block.
fn check_thinking_block_first(api: Api, turns: &[Turn]) -> Result<(), AwsError> {
    let Some((n, turn)) = turns
        .iter()
        .enumerate()
        .rev()
        .find(|(_, t)| t.role == "assistant")
    else {
        return Ok(());
    };
    if !turn.blocks.iter().any(|b| b == "tool_use") {
        return Ok(());
    }
    let first = turn.blocks.first().map_or("", String::as_str);
    if first == "thinking" || first == "redacted_thinking" {
        return Ok(());
    }
    Err(error(
        api,
        format!(
            "messages.{n}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at {THINKING_DOCS}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_id::check_model_id;
    use serde_json::json;

    const SONNET_37: &str = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
    const OPUS_46: &str = "anthropic.claude-opus-4-6-v1";
    const OPUS_47: &str = "global.anthropic.claude-opus-4-7";
    const HAIKU_3: &str = "anthropic.claude-3-haiku-20240307-v1:0";

    fn info(id: &str) -> ModelInfo {
        check_model_id(id).unwrap()
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": [{"text": text}]})
    }

    /// A Converse body with these additional fields and maxTokens.
    fn converse(fields: Value, max_tokens: Option<u64>) -> Value {
        let mut v = json!({"messages": [user("hi")], "additionalModelRequestFields": fields});
        if let Some(m) = max_tokens {
            v["inferenceConfig"] = json!({"maxTokens": m});
        }
        v
    }

    fn converse_err(id: &str, fields: Value, max_tokens: Option<u64>) -> String {
        let e = check_converse(&info(id), &converse(fields, max_tokens))
            .expect_err("expected a ValidationException");
        assert_eq!((e.status, e.code.as_str()), (400, "ValidationException"));
        assert!(
            e.message
                .starts_with("The model returned the following errors: "),
            "{}",
            e.message
        );
        e.message
    }

    fn converse_ok(id: &str, fields: Value, max_tokens: Option<u64>) {
        if let Err(e) = check_converse(&info(id), &converse(fields, max_tokens)) {
            panic!("{id}: {}", e.message);
        }
    }

    fn anthropic(extra: Value) -> Map<String, Value> {
        let mut m = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
            "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m.as_object().unwrap().clone()
    }

    #[test]
    fn vendors() {
        assert_eq!(
            vendor(&info(SONNET_37)),
            Vendor::Claude("claude-3-7-sonnet-20250219-v1:0".into())
        );
        assert_eq!(vendor(&info("us.amazon.nova-2-lite-v1:0")), Vendor::Nova2);
        assert_eq!(vendor(&info("amazon.nova-lite-v1:0")), Vendor::Other);
        assert_eq!(vendor(&info("openai.gpt-oss-120b-1:0")), Vendor::GptOss);
        assert_eq!(
            vendor(&info(
                "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2c3d4e5f6"
            )),
            Vendor::Unknown
        );
    }

    #[test]
    fn claude_versions_and_thinking_support() {
        assert_eq!(claude_version("claude-opus-4-6-v1"), Some((4, 6)));
        assert_eq!(
            claude_version("claude-3-7-sonnet-20250219-v1:0"),
            Some((3, 7))
        );
        assert_eq!(
            claude_version("claude-sonnet-4-20250514-v1:0"),
            Some((4, 0))
        );
        assert_eq!(
            claude_version("claude-sonnet-4-5-20250929-v1:0"),
            Some((4, 5))
        );
        assert_eq!(claude_version("claude-haiku-5-v1:0"), Some((5, 0)));
        assert_eq!(claude_version("claude-instant-v1"), None);
        use ThinkingSupport as T;
        for (name, want) in [
            ("claude-3-haiku-20240307-v1:0", T::None),
            ("claude-3-5-sonnet-20241022-v2:0", T::None),
            ("claude-3-5-haiku-20241022-v1:0", T::None),
            ("claude-3-opus-20240229-v1:0", T::None),
            ("claude-3-sonnet-20240229-v1:0", T::None),
            ("claude-v2:1", T::None),
            ("claude-instant-v1", T::None),
            ("claude-3-7-sonnet-20250219-v1:0", T::Budget),
            ("claude-sonnet-4-5-20250929-v1:0", T::Budget),
            ("claude-opus-4-1-20250805-v1:0", T::Budget),
            ("claude-opus-4-6-v1", T::BudgetOrAdaptive),
            ("claude-sonnet-4-6", T::BudgetOrAdaptive),
            ("claude-opus-4-7", T::AdaptiveOnly),
            ("claude-sonnet-5-20260301-v1:0", T::AdaptiveOnly),
            ("claude-mythos-1-preview", T::AdaptiveOnly),
            ("claude-fable-v1", T::AdaptiveOnly),
            ("claude-something", T::Unknown),
        ] {
            assert_eq!(thinking_support(name), want, "{name}");
        }
    }

    #[test]
    fn thinking_only_for_anthropic() {
        let fields = json!({"thinking": {"type": "enabled", "budget_tokens": 2048}});
        converse_ok(SONNET_37, fields.clone(), Some(4096));
        let m = converse_err("amazon.nova-lite-v1:0", fields.clone(), Some(4096));
        assert!(
            m.contains("Malformed input request: #: extraneous key [thinking] is not permitted"),
            "{m}"
        );
        converse_err("openai.gpt-oss-20b-1:0", fields.clone(), Some(4096));
        converse_err("meta.llama3-70b-instruct-v1:0", fields.clone(), Some(4096));
        // A model the simulator cannot place is let through.
        check_converse(
            &info(
                "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2c3d4e5f6",
            ),
            &converse(fields, Some(4096)),
        )
        .unwrap();
    }

    #[test]
    fn reasoning_config_only_for_nova_2() {
        let on = json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "medium"}});
        converse_ok("us.amazon.nova-2-lite-v1:0", on.clone(), None);
        converse_ok(
            "amazon.nova-2-lite-v1:0",
            json!({"reasoningConfig": {"type": "disabled"}}),
            None,
        );
        assert!(
            converse_err("amazon.nova-pro-v1:0", on.clone(), None)
                .contains("extraneous key [reasoningConfig]")
        );
        assert!(converse_err(SONNET_37, on, None).contains("extraneous key [reasoningConfig]"));
        let m = converse_err(
            "amazon.nova-2-lite-v1:0",
            json!({"reasoningConfig": {"type": "on"}}),
            None,
        );
        assert!(
            m.contains("#/reasoningConfig/type: on is not a valid enum value"),
            "{m}"
        );
        let m = converse_err(
            "amazon.nova-2-lite-v1:0",
            json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "max"}}),
            None,
        );
        assert!(m.contains("maxReasoningEffort"), "{m}");
        let m = converse_err(
            "amazon.nova-2-lite-v1:0",
            json!({"reasoningConfig": {"maxReasoningEffort": "low"}}),
            None,
        );
        assert!(m.contains("required key [type]"), "{m}");
    }

    #[test]
    fn reasoning_effort_only_for_gpt_oss() {
        converse_ok(
            "openai.gpt-oss-120b-1:0",
            json!({"reasoning_effort": "high"}),
            None,
        );
        let m = converse_err(
            "openai.gpt-oss-120b-1:0",
            json!({"reasoning_effort": "extreme"}),
            None,
        );
        assert!(m.contains("#/reasoning_effort"), "{m}");
        assert!(
            converse_err(SONNET_37, json!({"reasoning_effort": "low"}), None)
                .contains("extraneous key [reasoning_effort]")
        );
        assert!(
            converse_err(
                "amazon.nova-2-lite-v1:0",
                json!({"reasoning_effort": "low"}),
                None
            )
            .contains("extraneous key [reasoning_effort]")
        );
    }

    #[test]
    fn budget_at_least_1024_and_below_max_tokens() {
        let t = |n: i64| json!({"thinking": {"type": "enabled", "budget_tokens": n}});
        converse_ok(SONNET_37, t(1024), Some(1025));
        let m = converse_err(SONNET_37, t(1023), Some(4096));
        assert!(m.contains("greater than or equal to 1024"), "{m}");
        let m = converse_err(SONNET_37, t(4096), Some(4096));
        assert!(
            m.contains("`max_tokens` must be greater than `thinking.budget_tokens`"),
            "{m}"
        );
        // Without maxTokens only the floor is checked.
        converse_ok(SONNET_37, t(20_000), None);
        let m = converse_err(
            SONNET_37,
            json!({"thinking": {"type": "enabled"}}),
            Some(4096),
        );
        assert!(m.contains("budget_tokens: Field required"), "{m}");
        // InvokeModel: max_tokens is the body's.
        let body = anthropic(json!({"thinking": {"type": "enabled", "budget_tokens": 8000}}));
        let e = check_anthropic_body(&info(SONNET_37), &body).unwrap_err();
        assert!(
            e.message.starts_with("`max_tokens` must be greater"),
            "{}",
            e.message
        );
    }

    #[test]
    fn adaptive_only_from_claude_4_6() {
        let adaptive = json!({"thinking": {"type": "adaptive"}});
        converse_ok(OPUS_46, adaptive.clone(), None);
        converse_ok(OPUS_47, adaptive.clone(), None);
        converse_ok("anthropic.claude-sonnet-5-v1:0", adaptive.clone(), None);
        converse_ok("anthropic.claude-mythos-1-v1:0", adaptive.clone(), None);
        let m = converse_err(SONNET_37, adaptive.clone(), None);
        assert!(
            m.contains("Input tag 'adaptive' found using 'type' does not match any of the expected tags: 'disabled', 'enabled'"),
            "{m}"
        );
        converse_err("anthropic.claude-sonnet-4-5-20250929-v1:0", adaptive, None);
        let m = converse_err(
            OPUS_46,
            json!({"thinking": {"type": "adaptive", "budget_tokens": 2048}}),
            None,
        );
        assert!(m.contains("thinking.adaptive.budget_tokens"), "{m}");
    }

    #[test]
    fn enabled_refused_for_adaptive_only_models() {
        let enabled = json!({"thinking": {"type": "enabled", "budget_tokens": 2048}});
        converse_ok(OPUS_46, enabled.clone(), Some(4096));
        for id in [
            OPUS_47,
            "anthropic.claude-opus-5-v1:0",
            "anthropic.claude-mythos-1-v1:0",
            "anthropic.claude-fable-2-v1:0",
        ] {
            let m = converse_err(id, enabled.clone(), Some(4096));
            assert!(
                m.contains("thinking.type.enabled is not supported"),
                "{id}: {m}"
            );
        }
        // disabled is fine everywhere thinking exists.
        converse_ok(OPUS_47, json!({"thinking": {"type": "disabled"}}), None);
    }

    #[test]
    fn thinking_refused_for_models_without_it() {
        for id in [
            HAIKU_3,
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "anthropic.claude-3-opus-20240229-v1:0",
            "anthropic.claude-v2:1",
            "anthropic.claude-instant-v1",
        ] {
            for t in [
                json!({"type": "enabled", "budget_tokens": 2048}),
                json!({"type": "disabled"}),
            ] {
                let m = converse_err(id, json!({"thinking": t}), Some(4096));
                assert!(m.contains("extraneous key [thinking]"), "{id}: {m}");
            }
        }
        let e = check_anthropic_body(
            &info(HAIKU_3),
            &anthropic(json!({"thinking": {"type": "enabled", "budget_tokens": 1024}})),
        )
        .unwrap_err();
        assert!(
            !e.message.starts_with("The model returned"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("extraneous key [thinking]"),
            "{}",
            e.message
        );
    }

    #[test]
    fn thinking_types_must_be_known() {
        let m = converse_err(SONNET_37, json!({"thinking": {"type": "on"}}), None);
        assert!(m.contains("Input tag 'on'"), "{m}");
        let m = converse_err(SONNET_37, json!({"thinking": {}}), None);
        assert!(m.contains("discriminator 'type'"), "{m}");
        let m = converse_err(SONNET_37, json!({"thinking": true}), None);
        assert!(m.contains("valid dictionary"), "{m}");
    }

    fn tool_turns(first: Value) -> Value {
        json!({
            "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]},
            "inferenceConfig": {"maxTokens": 4096},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
            "messages": [user("go"),
                {"role": "assistant", "content": [first,
                    {"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "ok"}]}}]}]
        })
    }

    #[test]
    fn final_assistant_message_starts_with_thinking() {
        let sonnet = info(SONNET_37);
        check_converse(
            &sonnet,
            &tool_turns(
                json!({"reasoningContent": {"reasoningText": {"text": "hm", "signature": "s"}}}),
            ),
        )
        .unwrap();
        check_converse(
            &sonnet,
            &tool_turns(json!({"reasoningContent": {"redactedContent": "AAAA"}})),
        )
        .unwrap();
        let e = check_converse(&sonnet, &tool_turns(json!({"text": "calling f"}))).unwrap_err();
        assert_eq!(
            e.message,
            "The model returned the following errors: messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
        );
        // A tool use first: found `tool_use`.
        let mut body = tool_turns(json!({"text": "x"}));
        body["messages"][1]["content"] =
            json!([{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]);
        let e = check_converse(&sonnet, &body).unwrap_err();
        assert!(e.message.contains("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`"), "{}", e.message);
        // Thinking disabled: no requirement.
        body["additionalModelRequestFields"] = json!({"thinking": {"type": "disabled"}});
        check_converse(&sonnet, &body).unwrap();
        // Adaptive counts as thinking.
        body["additionalModelRequestFields"] = json!({"thinking": {"type": "adaptive"}});
        assert!(check_converse(&info(OPUS_46), &body).is_err());
        // No tool use in the last assistant message: no requirement.
        let plain = json!({"messages": [user("a"), {"role": "assistant", "content": [{"text": "b"}]}, user("c")],
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}});
        check_converse(&sonnet, &plain).unwrap();
    }

    #[test]
    fn final_assistant_message_rule_in_anthropic_bodies() {
        let body = |first: Value| {
            anthropic(json!({
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": [{"role": "user", "content": "go"},
                    {"role": "assistant", "content": [first,
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]
            }))
        };
        let sonnet = info(SONNET_37);
        check_anthropic_body(
            &sonnet,
            &body(json!({"type": "thinking", "thinking": "hm", "signature": "s"})),
        )
        .unwrap();
        check_anthropic_body(
            &sonnet,
            &body(json!({"type": "redacted_thinking", "data": "x"})),
        )
        .unwrap();
        let e =
            check_anthropic_body(&sonnet, &body(json!({"type": "text", "text": "x"}))).unwrap_err();
        assert!(
            e.message.starts_with("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`."),
            "{}",
            e.message
        );
    }

    #[test]
    fn beta_flags_must_be_accepted_ones() {
        converse_ok(
            SONNET_37,
            json!({"anthropic_beta": ["token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14"]}),
            None,
        );
        for flag in ACCEPTED_ANTHROPIC_BETAS {
            converse_ok(SONNET_37, json!({ "anthropic_beta": [flag] }), None);
        }
        let m = converse_err(SONNET_37, json!({"anthropic_beta": ["x"]}), None);
        assert_eq!(
            m,
            "The model returned the following errors: invalid beta flag"
        );
        converse_err(
            SONNET_37,
            json!({"anthropic_beta": "context-1m-2025-08-07"}),
            None,
        );
        converse_err(SONNET_37, json!({"anthropic_beta": [1]}), None);
        let e = check_anthropic_body(
            &info(SONNET_37),
            &anthropic(json!({"anthropic_beta": ["extended-cache-ttl-2025-04-11"]})),
        )
        .unwrap_err();
        assert_eq!(e.message, "invalid beta flag");
        // Not a field other families take.
        assert!(
            converse_err(
                "amazon.nova-pro-v1:0",
                json!({"anthropic_beta": ["context-1m-2025-08-07"]}),
                None
            )
            .contains("extraneous key [anthropic_beta]")
        );
    }

    #[test]
    fn context_management_needs_its_beta() {
        let cm = json!({"edits": [{"type": "clear_tool_uses_20250919"}]});
        let m = converse_err(SONNET_37, json!({ "context_management": cm.clone() }), None);
        assert!(m.contains("context_management"), "{m}");
        converse_ok(
            SONNET_37,
            json!({"context_management": cm.clone(), "anthropic_beta": [CONTEXT_MANAGEMENT_BETA]}),
            None,
        );
        let e = check_anthropic_body(
            &info(SONNET_37),
            &anthropic(json!({ "context_management": cm })),
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("context_management:"),
            "{}",
            e.message
        );
    }

    #[test]
    fn effort_needs_its_beta_before_claude_4_6() {
        let effort = json!({"output_config": {"effort": "low"}});
        let m = converse_err(
            "anthropic.claude-opus-4-5-20251101-v1:0",
            effort.clone(),
            None,
        );
        assert!(m.contains("output_config.effort"), "{m}");
        converse_ok(
            "anthropic.claude-opus-4-5-20251101-v1:0",
            json!({"output_config": {"effort": "low"}, "anthropic_beta": [EFFORT_BETA]}),
            None,
        );
        converse_ok(OPUS_46, effort.clone(), None);
        converse_ok(OPUS_47, effort.clone(), None);
        let e = check_anthropic_body(
            &info("anthropic.claude-sonnet-4-5-20250929-v1:0"),
            &anthropic(effort),
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("output_config.effort"),
            "{}",
            e.message
        );
    }

    #[test]
    fn disable_parallel_tool_use_only_for_anthropic() {
        let tc = json!({"tool_choice": {"type": "auto", "disable_parallel_tool_use": true}});
        converse_ok(SONNET_37, tc.clone(), None);
        let m = converse_err("amazon.nova-pro-v1:0", tc, None);
        assert!(
            m.contains("#/tool_choice: extraneous key [disable_parallel_tool_use]"),
            "{m}"
        );
        // tool_choice without it is not this rule's business.
        converse_ok(
            "amazon.nova-pro-v1:0",
            json!({"tool_choice": {"type": "auto"}}),
            None,
        );
    }

    #[test]
    fn other_families_keys_refused_in_anthropic_bodies() {
        for key in ["reasoningConfig", "reasoning_effort"] {
            let e = check_anthropic_body(&info(SONNET_37), &anthropic(json!({ key: "low" })))
                .unwrap_err();
            assert!(
                e.message.contains(&format!("extraneous key [{key}]")),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn converse_turn_types() {
        let v = json!({"messages": [
            {"role": "user", "content": [{"text": "a"}, {"cachePoint": {"type": "default"}}]},
            {"role": "assistant", "content": [{"reasoningContent": {"redactedContent": "AA=="}},
                {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]}]});
        let turns = converse_turns(&v);
        assert_eq!(turns[0].blocks, ["text"]);
        assert_eq!(turns[1].blocks, ["redacted_thinking", "tool_use"]);
    }

    #[test]
    fn thinking_takes_claudes_own_sampling_and_no_forced_tool() {
        let thinking = json!({"thinking": {"type": "enabled", "budget_tokens": 1024}});
        let with = |extra: Value| {
            let mut body = converse(thinking.clone(), Some(4096));
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            check_converse(&info(SONNET_37), &body)
        };
        for (extra, says) in [
            (
                json!({"inferenceConfig": {"maxTokens": 4096, "temperature": 0.2}}),
                "`temperature`",
            ),
            (
                json!({"inferenceConfig": {"maxTokens": 4096, "topP": 0.5}}),
                "`top_p`",
            ),
            (
                json!({"toolConfig": {"tools": [], "toolChoice": {"any": {}}}}),
                "tool_choice forces tool use",
            ),
        ] {
            let e = with(extra.clone()).expect_err("refused");
            assert!(e.message.contains(says), "{extra}: {}", e.message);
        }
        assert!(with(json!({"inferenceConfig": {"maxTokens": 4096, "temperature": 1.0}})).is_ok());
        let mut top_k = thinking.clone();
        top_k["top_k"] = json!(5);
        assert!(converse_err(SONNET_37, top_k, Some(4096)).contains("`top_k`"));
        // The Anthropic body reads the same members at its top level.
        let body = anthropic(
            json!({"thinking": {"type": "enabled", "budget_tokens": 1024},
            "tool_choice": {"type": "tool", "name": "f"}}),
        );
        let e = check_anthropic_body(&info(SONNET_37), &body).expect_err("refused");
        assert!(e.message.contains("forces tool use"), "{}", e.message);
    }

    #[test]
    fn nova_2_at_high_effort_takes_no_max_tokens_or_sampling() {
        let nova = "us.amazon.nova-2-lite-v1:0";
        let high = json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}});
        assert!(converse_err(nova, high.clone(), Some(300)).contains("maxTokens"));
        converse_ok(nova, high, None);
        let medium =
            json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "medium"}});
        converse_ok(nova, medium, Some(300));
    }
}
