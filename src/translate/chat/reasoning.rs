//! Reasoning per model: OpenAI's `reasoning_effort` (chat) and `reasoning.effort` (Responses)
//! become what each model on Bedrock takes, decided once the model is known.
//!
//! | model | what `low` / `medium` / `high` send |
//! |---|---|
//! | Claude 3.7, 4, 4.1, 4.5 | `thinking: {type: enabled, budget_tokens}` (1,024 / 4,096 / 16,384, fitted under `max_tokens` and the model's output limit) |
//! | Claude 4.6 and later (adaptive) | `thinking: {type: adaptive}` + `output_config: {effort}` |
//! | Claude 3.5, 3, 2, Instant | nothing: 400 naming `reasoning_effort` |
//! | Amazon Nova 2 | `reasoningConfig: {type: enabled, maxReasoningEffort}` |
//! | OpenAI gpt-oss | `reasoning_effort` |
//! | DeepSeek-R1 | nothing: it always reasons, and its reasoning comes back |
//! | any other model | 400 naming `reasoning_effort` |
//!
//! `none` asks for no reasoning: nothing is sent, for every model. `minimal` counts as `low`
//! and `xhigh` as the model's highest level.
//!
//! Claude refuses a request whose thinking is on when the last assistant turn made tool calls
//! without starting with its thinking block — which is what clients send when they do not
//! return reasoning blocks (LangChain, most agent loops) — and when the tool choice forces a
//! call. Such a request goes without thinking instead ([`apply`]), so it still runs. Sampling
//! Claude cannot think with (temperature other than 1, `top_p` below 0.95, `top_k`) and Nova 2's
//! at high effort are refused by name, as OpenAI refuses them for its reasoning models. The
//! table, with these rules, is in docs/api.md#reasoning-per-model.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

pub use super::effort::Effort;
use super::effort::{ANSWER_TOKENS, CLAUDE_MAX_TOKENS, MIN_THINKING_BUDGET, OPUS_4_MAX_TOKENS};
use super::request::Translated;
use crate::bedrock::Family;
use crate::bedrock::converse::{ContentBlock, Role, ToolChoice};
use crate::bedrock::model_id::foundation_model;
use crate::error::ApiError;

/// What a model on Bedrock does with reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    /// Claude with extended thinking by budget (3.7, 4, 4.1, 4.5); `max_tokens`: the most it
    /// writes in one answer, thinking included (Bedrock refuses a larger `maxTokens`).
    ClaudeBudget { max_tokens: u32 },
    /// Claude with adaptive thinking (4.6 and later); `only`: the budget form is refused.
    ClaudeAdaptive { only: bool },
    /// Claude without extended thinking.
    ClaudeNone,
    /// Amazon Nova 2: `reasoningConfig`.
    Nova,
    /// OpenAI gpt-oss: `reasoning_effort`.
    GptOss,
    /// Reasons on every request, with no switch (DeepSeek-R1).
    AlwaysOn,
    /// No reasoning the gateway knows how to ask for.
    Unsupported,
}

impl Reasoning {
    /// Whether the model is Claude (of any generation).
    pub fn is_claude(self) -> bool {
        matches!(
            self,
            Reasoning::ClaudeBudget { .. }
                | Reasoning::ClaudeAdaptive { .. }
                | Reasoning::ClaudeNone
        )
    }

    /// The reasoning of the model `id` names; `family` (the configuration's) decides for IDs
    /// that hide the model (application inference profiles).
    pub fn of_model(id: &str, family: Option<Family>) -> Reasoning {
        let Some(model) = foundation_model(id) else {
            return match family {
                // The model is hidden: the smallest limit of the budget models fits them all.
                Some(Family::Anthropic) => Reasoning::ClaudeBudget {
                    max_tokens: OPUS_4_MAX_TOKENS,
                },
                Some(Family::Nova) => Reasoning::Nova,
                _ => Reasoning::Unsupported,
            };
        };
        let name = model.split(':').next().unwrap_or(model);
        if let Some(claude) = name.strip_prefix("anthropic.") {
            return claude_reasoning(claude);
        }
        if name.starts_with("amazon.nova-2-") {
            Reasoning::Nova
        } else if name.starts_with("openai.gpt-oss") {
            Reasoning::GptOss
        } else if name.starts_with("deepseek.r1") {
            Reasoning::AlwaysOn
        } else {
            Reasoning::Unsupported
        }
    }
}

/// Claude's reasoning by version: the first number after `claude-` is the major version, the
/// next one (unless it is a date) the minor; names without a version are the adaptive-only
/// previews (`claude-mythos-preview`).
fn claude_reasoning(name: &str) -> Reasoning {
    let Some(rest) = name.strip_prefix("claude-") else {
        return Reasoning::ClaudeNone;
    };
    let numbers: Vec<u32> = rest
        .split('-')
        .filter(|p| p.len() <= 2)
        .filter_map(|p| p.parse().ok())
        .take(2)
        .collect();
    let version = match numbers.as_slice() {
        [] => {
            // claude-v2, claude-instant-v1: no extended thinking; named previews: adaptive.
            return if rest.starts_with('v') || rest.starts_with("instant") {
                Reasoning::ClaudeNone
            } else {
                Reasoning::ClaudeAdaptive { only: true }
            };
        }
        [major] => (*major, 0),
        [major, minor, ..] => (*major, *minor),
    };
    match version {
        (5.., _) | (4, 7..) => Reasoning::ClaudeAdaptive { only: true },
        (4, 6) => Reasoning::ClaudeAdaptive { only: false },
        (4, 0 | 1) if rest.starts_with("opus") => Reasoning::ClaudeBudget {
            max_tokens: OPUS_4_MAX_TOKENS,
        },
        (4, _) | (3, 7..) => Reasoning::ClaudeBudget {
            max_tokens: CLAUDE_MAX_TOKENS,
        },
        _ => Reasoning::ClaudeNone,
    }
}

/// Turn the request's reasoning into what `model` takes, or refuse it with a 400 naming the
/// parameter. Runs after translation, once the model is resolved.
pub fn apply(t: &mut Translated<'_>, model: Reasoning) -> Result<(), ApiError> {
    let claude_thinks = matches!(
        model,
        Reasoning::ClaudeBudget { .. } | Reasoning::ClaudeAdaptive { .. }
    );
    if t.explicit_thinking && !claude_thinks {
        return Err(ApiError::invalid(
            "thinking",
            format!(
                "`thinking` is Anthropic's switch for Claude's extended thinking, which the \
                 model `{}` does not have: use `{}`",
                t.client_model, t.params.effort
            ),
        ));
    }
    if t.explicit_thinking {
        explicit_thinking_fits(t, model)?;
    }
    let effort = match t.reasoning {
        None | Some(Effort::None) => None,
        Some(e) => Some(e),
    };
    if let Some(effort) = effort {
        match model {
            Reasoning::ClaudeBudget { max_tokens } => claude_budget(t, effort, max_tokens)?,
            Reasoning::ClaudeAdaptive { .. } => claude_adaptive(t, effort)?,
            Reasoning::Nova => {
                let level = effort.three_levels();
                if level == "high" {
                    nova_high_effort(t)?;
                }
                let doc = format!(r#"{{"type":"enabled","maxReasoningEffort":"{level}"}}"#);
                insert(t, "reasoningConfig", doc)?;
            }
            Reasoning::GptOss => {
                insert(
                    t,
                    "reasoning_effort",
                    format!(r#""{}""#, effort.three_levels()),
                )?;
            }
            Reasoning::AlwaysOn => {}
            Reasoning::ClaudeNone | Reasoning::Unsupported => {
                let param = t.params.effort;
                return Err(ApiError::invalid(
                    param,
                    format!(
                        "the model `{}` does not reason on request: remove `{param}`, or set it \
                         to \"none\"",
                        t.client_model
                    ),
                ));
            }
        }
    }
    if claude_thinks && thinking_on(t) {
        if let Some(why) = thinking_refused(t) {
            // Claude would refuse the request with thinking on; without it, the request runs
            // as the client meant it otherwise, and the next request thinks again.
            log::debug!("bedrock-filter: thinking left off: {why}");
            t.converse
                .additional_model_request_fields
                .remove("thinking");
            t.thinking_budget = None;
        } else {
            claude_thinking_sampling(t)?;
        }
    }
    Ok(())
}

/// Why Claude would refuse this request with thinking on, when the client can do nothing
/// about it: a tool call it forces (OpenAI's reasoning models take `tool_choice: required`
/// and `json_object`), or a tool loop whose thinking blocks did not come back (LangChain, the
/// Vercel AI SDK's chat provider and most agent loops drop them).
fn thinking_refused(t: &Translated<'_>) -> Option<&'static str> {
    let forced = t
        .converse
        .tool_config
        .as_ref()
        .and_then(|c| c.tool_choice.as_ref())
        .is_some_and(|c| matches!(c, ToolChoice::Any(_) | ToolChoice::Tool(_)));
    if forced {
        Some("the request forces a tool call, which Claude does not allow while it thinks")
    } else if last_tool_turn_lacks_thinking(t) {
        Some("the last assistant turn's tool calls came back without their thinking block")
    } else {
        None
    }
}

/// Claude thinks only with its own sampling: temperature 1, `top_p` from 0.95, no `top_k`.
/// As OpenAI does for its reasoning models, other values are refused, naming the parameter.
fn claude_thinking_sampling(t: &Translated<'_>) -> Result<(), ApiError> {
    let config = &t.converse.inference_config;
    let refused = if config
        .temperature
        .is_some_and(|v| (v - 1.0).abs() > f64::EPSILON)
    {
        Some(("temperature", "takes no `temperature` other than 1"))
    } else if config.top_p.is_some_and(|p| p < 0.95) {
        Some(("top_p", "takes no `top_p` below 0.95"))
    } else if t
        .converse
        .additional_model_request_fields
        .get("top_k")
        .is_some()
    {
        Some(("top_k", "takes no `top_k`"))
    } else {
        None
    };
    match refused {
        Some((param, what)) => Err(ApiError::invalid(
            param,
            format!(
                "Claude {what} while it thinks: remove `{param}`, or the reasoning (`{}`)",
                t.params.effort
            ),
        )),
        None => Ok(()),
    }
}

/// Nova 2 at high effort sets its own output length and sampling. `maxTokens` is left out
/// (OpenAI clients count reasoning inside it, and Nova's own limit still holds); sampling
/// settings are refused, as OpenAI refuses them for its reasoning models.
fn nova_high_effort(t: &mut Translated<'_>) -> Result<(), ApiError> {
    let config = &mut t.converse.inference_config;
    let sampling = [
        ("temperature", config.temperature.is_some()),
        ("top_p", config.top_p.is_some()),
        (
            "top_k",
            t.converse
                .additional_model_request_fields
                .get("top_k")
                .is_some(),
        ),
    ];
    if let Some((param, _)) = sampling.iter().find(|(_, set)| *set) {
        return Err(ApiError::invalid(
            param,
            format!(
                "Amazon Nova takes no `{param}` at high reasoning effort: remove `{param}`, or \
                 lower `{}`",
                t.params.effort
            ),
        ));
    }
    if config.max_tokens.take().is_some() {
        log::debug!(
            "bedrock-filter: maxTokens left out: Amazon Nova sets its own at high reasoning effort"
        );
    }
    Ok(())
}

/// `thinking: {type: enabled, budget_tokens}` with the effort's budget, fitted under the
/// request's `max_tokens` the way OpenAI clients count it (reasoning included). Without one,
/// `maxTokens` leaves [`ANSWER_TOKENS`] beside the budget, within the model's `model_max`.
fn claude_budget(t: &mut Translated<'_>, effort: Effort, model_max: u32) -> Result<(), ApiError> {
    if t.thinking_budget.is_some() {
        // The client's explicit `thinking` wins over `reasoning_effort`.
        return Ok(());
    }
    let wanted = effort.claude_budget();
    let budget = match t.converse.inference_config.max_tokens {
        None => {
            let max = wanted.saturating_add(ANSWER_TOKENS).min(model_max);
            t.converse.inference_config.max_tokens = Some(max);
            wanted.min(max.saturating_sub(ANSWER_TOKENS))
        }
        Some(max) if max > wanted => wanted,
        Some(max) if max > MIN_THINKING_BUDGET => (max / 2).max(MIN_THINKING_BUDGET),
        Some(max) => {
            let param = t.params.max_tokens;
            return Err(ApiError::invalid(
                param,
                format!(
                    "`{param}` ({max}) leaves no room for reasoning: Claude's smallest thinking \
                     budget is {MIN_THINKING_BUDGET} tokens, and `{param}` must be larger"
                ),
            ));
        }
    };
    insert(
        t,
        "thinking",
        format!(r#"{{"type":"enabled","budget_tokens":{budget}}}"#),
    )?;
    t.thinking_budget = Some(budget);
    Ok(())
}

/// `thinking: {type: adaptive}` and `output_config: {effort}` (Claude 4.6 and later).
fn claude_adaptive(t: &mut Translated<'_>, effort: Effort) -> Result<(), ApiError> {
    let fields = &t.converse.additional_model_request_fields;
    if fields.get("thinking").is_some() {
        return Ok(());
    }
    let own_output_config = fields.get("output_config").is_some();
    insert(t, "thinking", r#"{"type":"adaptive"}"#.to_string())?;
    // Converse writes structured output into the same `output_config`; the effort stays at
    // the model's default then rather than risk a body Bedrock refuses.
    if t.converse.output_config.is_none() && !own_output_config {
        insert(
            t,
            "output_config",
            format!(r#"{{"effort":"{}"}}"#, effort.claude_effort()),
        )?;
    }
    Ok(())
}

fn insert(t: &mut Translated<'_>, key: &'static str, json: String) -> Result<(), ApiError> {
    let value = RawValue::from_string(json)
        .map_err(|e| ApiError::internal(format!("cannot write {key}: {e}")))?;
    t.converse
        .additional_model_request_fields
        .insert(Cow::Borrowed(key), Cow::Owned(value));
    Ok(())
}

/// Whether the request turns Claude's thinking on (enabled or adaptive).
fn thinking_on(t: &Translated<'_>) -> bool {
    thinking_type(t).is_some_and(|kind| kind != "disabled")
}

/// The `type` of the request's `thinking`, when it has one.
fn thinking_type(t: &Translated<'_>) -> Option<String> {
    #[derive(Deserialize)]
    struct Thinking<'b> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'b, str>,
    }
    t.converse
        .additional_model_request_fields
        .get("thinking")
        .and_then(|raw| serde_json::from_str::<Thinking<'_>>(raw.get()).ok())
        .map(|th| th.kind.into_owned())
}

/// The client's own `thinking` in the form the model takes: adaptive-only Claude refuses
/// `enabled`, Claude before 4.6 has no `adaptive`.
fn explicit_thinking_fits(t: &Translated<'_>, model: Reasoning) -> Result<(), ApiError> {
    let kind = thinking_type(t);
    let wanted = match (kind.as_deref(), model) {
        (Some("enabled"), Reasoning::ClaudeAdaptive { only: true }) => "adaptive",
        (Some("adaptive"), Reasoning::ClaudeBudget { .. }) => "enabled",
        _ => return Ok(()),
    };
    Err(ApiError::invalid(
        "thinking",
        format!(
            "the model `{}` thinks with `{{\"type\": \"{wanted}\"}}`, not `{}`: change \
             `thinking`, or use `{}`",
            t.client_model,
            kind.unwrap_or_default(),
            t.params.effort
        ),
    ))
}

/// The last assistant turn calls tools but does not start with a reasoning block.
fn last_tool_turn_lacks_thinking(t: &Translated<'_>) -> bool {
    let Some(last) = t
        .converse
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::Assistant)
    else {
        return false;
    };
    let calls_tools = last
        .content
        .iter()
        .any(|b| matches!(b, ContentBlock::ToolUse(_)));
    let starts_with_thinking = matches!(
        last.content.first(),
        Some(ContentBlock::ReasoningContent(_))
    );
    calls_tools && !starts_with_thinking
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::chat::request::{parse, to_request};
    use serde_json::{Value, json};

    const BUDGET: Reasoning = Reasoning::ClaudeBudget {
        max_tokens: CLAUDE_MAX_TOKENS,
    };

    #[test]
    fn each_model_reasons_its_own_way() {
        let cases = [
            ("anthropic.claude-3-7-sonnet-20250219-v1:0", BUDGET),
            ("us.anthropic.claude-sonnet-4-20250514-v1:0", BUDGET),
            (
                "anthropic.claude-opus-4-1-20250805-v1:0",
                Reasoning::ClaudeBudget { max_tokens: 32_000 },
            ),
            (
                "us.anthropic.claude-opus-4-20250514-v1:0",
                Reasoning::ClaudeBudget { max_tokens: 32_000 },
            ),
            ("global.anthropic.claude-opus-4-5-20251101-v1:0", BUDGET),
            ("global.anthropic.claude-haiku-4-5-20251001-v1:0", BUDGET),
            ("anthropic.claude-sonnet-4-5-20250929-v1:0", BUDGET),
            (
                "anthropic.claude-opus-4-6-v1",
                Reasoning::ClaudeAdaptive { only: false },
            ),
            (
                "eu.anthropic.claude-sonnet-4-6",
                Reasoning::ClaudeAdaptive { only: false },
            ),
            (
                "anthropic.claude-opus-4-7",
                Reasoning::ClaudeAdaptive { only: true },
            ),
            (
                "anthropic.claude-sonnet-5",
                Reasoning::ClaudeAdaptive { only: true },
            ),
            (
                "anthropic.claude-fable-5-1",
                Reasoning::ClaudeAdaptive { only: true },
            ),
            (
                "anthropic.claude-mythos-preview",
                Reasoning::ClaudeAdaptive { only: true },
            ),
            (
                "anthropic.claude-3-5-haiku-20241022-v1:0",
                Reasoning::ClaudeNone,
            ),
            (
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                Reasoning::ClaudeNone,
            ),
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                Reasoning::ClaudeNone,
            ),
            ("anthropic.claude-v2:1", Reasoning::ClaudeNone),
            ("anthropic.claude-instant-v1", Reasoning::ClaudeNone),
            ("us.amazon.nova-2-lite-v1:0", Reasoning::Nova),
            ("amazon.nova-pro-v1:0", Reasoning::Unsupported),
            ("openai.gpt-oss-120b-1:0", Reasoning::GptOss),
            ("us.deepseek.r1-v1:0", Reasoning::AlwaysOn),
            ("meta.llama3-70b-instruct-v1:0", Reasoning::Unsupported),
            ("mistral.mistral-large-2407-v1:0", Reasoning::Unsupported),
        ];
        for (id, want) in cases {
            assert_eq!(Reasoning::of_model(id, None), want, "{id}");
        }
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1";
        assert_eq!(Reasoning::of_model(arn, None), Reasoning::Unsupported);
        assert_eq!(
            Reasoning::of_model(arn, Some(Family::Anthropic)),
            Reasoning::ClaudeBudget { max_tokens: 32_000 }
        );
    }

    /// `extra` on a one-message chat request, through translation and the reasoning step.
    fn body(extra: Value, model: Reasoning) -> Result<Value, ApiError> {
        let mut req = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        let bytes = serde_json::to_vec(&req).unwrap();
        let parsed = parse(&bytes).unwrap();
        let mut t = to_request(&parsed)?;
        apply(&mut t, model)?;
        let body = crate::translate::chat::request::converse_body(&t, 0).unwrap();
        Ok(serde_json::from_slice(&body).unwrap())
    }

    fn param(r: Result<Value, ApiError>) -> Option<String> {
        r.unwrap_err().param
    }

    #[test]
    fn claude_budgets_fit_under_max_tokens() {
        let out = body(json!({"reasoning_effort": "medium"}), BUDGET).unwrap();
        assert_eq!(
            out["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 4096}})
        );
        assert_eq!(out["inferenceConfig"], json!({"maxTokens": 8192}));
        // Without max_tokens, the room stays within what the model writes at most: Opus 4
        // and 4.1 stop at 32,000 tokens, where xhigh's budget and answer would need 36,864.
        for (model, max_tokens, budget) in [
            ("anthropic.claude-sonnet-4-20250514-v1:0", 36_864, 32_768),
            ("us.anthropic.claude-opus-4-1-20250805-v1:0", 32_000, 27_904),
        ] {
            let out = body(
                json!({"reasoning_effort": "xhigh"}),
                Reasoning::of_model(model, None),
            )
            .unwrap();
            assert_eq!(out["inferenceConfig"]["maxTokens"], max_tokens, "{model}");
            assert_eq!(
                out["additionalModelRequestFields"]["thinking"]["budget_tokens"], budget,
                "{model}"
            );
        }
        let out = body(
            json!({"reasoning_effort": "low", "max_tokens": 3000}),
            BUDGET,
        )
        .unwrap();
        assert_eq!(
            out["additionalModelRequestFields"]["thinking"]["budget_tokens"],
            1024
        );
        assert_eq!(out["inferenceConfig"], json!({"maxTokens": 3000}));
        // OpenAI counts reasoning inside max_completion_tokens: "high" with 4000 works.
        let out = body(
            json!({"reasoning_effort": "high", "max_completion_tokens": 4000}),
            BUDGET,
        )
        .unwrap();
        assert_eq!(
            out["additionalModelRequestFields"]["thinking"]["budget_tokens"],
            2000
        );
        assert_eq!(out["inferenceConfig"]["maxTokens"], 4000);
        let out = body(
            json!({"reasoning_effort": "high", "max_tokens": 1500}),
            BUDGET,
        )
        .unwrap();
        assert_eq!(
            out["additionalModelRequestFields"]["thinking"]["budget_tokens"],
            1024
        );
        // Only what cannot fit Claude's 1,024-token minimum is refused.
        let e = body(
            json!({"reasoning_effort": "low", "max_completion_tokens": 1024}),
            BUDGET,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_completion_tokens"));
        assert!(e.message.contains("1024"), "{}", e.message);
        // The client's own `thinking` wins; `none` sends nothing.
        let out = body(
            json!({"reasoning_effort": "high", "thinking": {"type": "enabled", "budget_tokens": 2048}}),
            BUDGET,
        )
        .unwrap();
        assert_eq!(
            out["additionalModelRequestFields"]["thinking"]["budget_tokens"],
            2048
        );
        let out = body(json!({"reasoning_effort": "none"}), BUDGET).unwrap();
        assert!(out.get("additionalModelRequestFields").is_none(), "{out}");
    }

    #[test]
    fn a_forced_tool_call_goes_without_thinking() {
        let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
        for extra in [
            json!({"reasoning_effort": "low", "response_format": {"type": "json_object"}}),
            json!({"reasoning_effort": "high", "tools": tools, "tool_choice": "required"}),
            json!({"reasoning_effort": "medium", "tools": tools,
                   "tool_choice": {"type": "function", "function": {"name": "f"}}}),
        ] {
            let out = body(extra.clone(), BUDGET).unwrap();
            assert!(
                out.get("additionalModelRequestFields").is_none(),
                "{extra}: {out}"
            );
        }
        // A choice that does not force a call keeps the thinking.
        let out = body(
            json!({"reasoning_effort": "low", "tools": tools, "tool_choice": "auto"}),
            BUDGET,
        )
        .unwrap();
        assert_eq!(
            out["additionalModelRequestFields"]["thinking"]["type"],
            "enabled"
        );
    }

    #[test]
    fn claude_thinks_only_with_its_own_sampling() {
        for (extra, expected) in [
            (json!({"temperature": 0.2}), Some("temperature")),
            (json!({"top_p": 0.5}), Some("top_p")),
            (json!({"top_k": 5}), Some("top_k")),
            (json!({"temperature": 1, "top_p": 0.95}), None),
        ] {
            let mut req = extra.clone();
            req["reasoning_effort"] = json!("low");
            for model in [BUDGET, Reasoning::ClaudeAdaptive { only: false }] {
                let r = body(req.clone(), model);
                match expected {
                    Some(p) => assert_eq!(param(r), Some(p.into()), "{extra}"),
                    None => assert!(r.is_ok(), "{extra}"),
                }
            }
        }
        // Without reasoning, sampling is the client's.
        assert!(body(json!({"temperature": 0.2}), BUDGET).is_ok());
    }

    #[test]
    fn nova_at_high_effort_sets_its_own_length_and_refuses_sampling() {
        let out = body(
            json!({"reasoning_effort": "high", "max_completion_tokens": 300}),
            Reasoning::Nova,
        )
        .unwrap();
        assert!(out.get("inferenceConfig").is_none(), "{out}");
        assert_eq!(
            out["additionalModelRequestFields"]["reasoningConfig"]["maxReasoningEffort"],
            "high"
        );
        let r = body(
            json!({"reasoning_effort": "xhigh", "temperature": 0.3}),
            Reasoning::Nova,
        );
        assert_eq!(param(r), Some("temperature".into()));
        let out = body(
            json!({"reasoning_effort": "medium", "max_tokens": 300, "temperature": 0.3}),
            Reasoning::Nova,
        )
        .unwrap();
        assert_eq!(
            out["inferenceConfig"],
            json!({"maxTokens": 300, "temperature": 0.3})
        );
    }

    #[test]
    fn newer_claude_thinks_adaptively() {
        let out = body(
            json!({"reasoning_effort": "medium"}),
            Reasoning::ClaudeAdaptive { only: true },
        )
        .unwrap();
        assert_eq!(
            out["additionalModelRequestFields"],
            json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}})
        );
        assert!(
            out.get("inferenceConfig").is_none(),
            "no budget, no max_tokens: {out}"
        );
        let out = body(
            json!({"reasoning_effort": "xhigh"}),
            Reasoning::ClaudeAdaptive { only: false },
        )
        .unwrap();
        assert_eq!(
            out["additionalModelRequestFields"]["output_config"]["effort"],
            "max"
        );
        // Structured output owns `output_config`: the effort stays at the model's default.
        let out = body(
            json!({"reasoning_effort": "low", "response_format": {"type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "object"}}}}),
            Reasoning::ClaudeAdaptive { only: true },
        )
        .unwrap();
        assert_eq!(
            out["additionalModelRequestFields"],
            json!({"thinking": {"type": "adaptive"}})
        );
    }

    #[test]
    fn other_families_get_their_own_switch_or_a_400() {
        let out = body(json!({"reasoning_effort": "minimal"}), Reasoning::Nova).unwrap();
        assert_eq!(
            out["additionalModelRequestFields"],
            json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}})
        );
        let out = body(json!({"reasoning_effort": "high"}), Reasoning::GptOss).unwrap();
        assert_eq!(
            out["additionalModelRequestFields"],
            json!({"reasoning_effort": "high"})
        );
        let out = body(json!({"reasoning_effort": "high"}), Reasoning::AlwaysOn).unwrap();
        assert!(out.get("additionalModelRequestFields").is_none(), "{out}");
        for model in [Reasoning::Unsupported, Reasoning::ClaudeNone] {
            let e = body(json!({"reasoning_effort": "low"}), model).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("reasoning_effort"), "{model:?}");
            assert!(body(json!({"reasoning_effort": "none"}), model).is_ok());
        }
        // Anthropic's own switch only where Claude thinks.
        for model in [
            Reasoning::Nova,
            Reasoning::ClaudeNone,
            Reasoning::Unsupported,
        ] {
            let r = body(
                json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
                model,
            );
            assert_eq!(param(r), Some("thinking".into()), "{model:?}");
        }
    }

    /// A tool loop's second turn as LangChain sends it: the tool call without its thinking.
    fn tool_loop(thinking_blocks: Option<Value>) -> Value {
        let mut assistant = json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]});
        if let Some(blocks) = thinking_blocks {
            assistant["thinking_blocks"] = blocks;
        }
        json!({"reasoning_effort": "low",
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [{"role": "user", "content": "x"}, assistant,
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}]})
    }

    #[test]
    fn a_tool_loop_without_its_thinking_blocks_goes_without_thinking() {
        for model in [BUDGET, Reasoning::ClaudeAdaptive { only: true }] {
            let out = body(tool_loop(None), model).unwrap();
            let fields = &out["additionalModelRequestFields"];
            assert!(fields.get("thinking").is_none(), "{model:?}: {out}");
            let out = body(
                tool_loop(Some(
                    json!([{"type": "thinking", "thinking": "plan", "signature": "sig"}]),
                )),
                model,
            )
            .unwrap();
            assert!(
                out["additionalModelRequestFields"]
                    .get("thinking")
                    .is_some(),
                "{model:?}: the blocks came back, thinking stays: {out}"
            );
        }
    }

    #[test]
    fn explicit_thinking_in_the_form_the_model_takes() {
        let enabled = json!({"thinking": {"type": "enabled", "budget_tokens": 2048}});
        let adaptive = json!({"thinking": {"type": "adaptive"}});
        let only = Reasoning::ClaudeAdaptive { only: true };
        assert_eq!(param(body(enabled.clone(), only)), Some("thinking".into()));
        assert_eq!(
            param(body(adaptive.clone(), BUDGET)),
            Some("thinking".into())
        );
        assert!(body(adaptive.clone(), only).is_ok());
        assert!(body(enabled.clone(), Reasoning::ClaudeAdaptive { only: false }).is_ok());
        assert!(body(adaptive, Reasoning::ClaudeAdaptive { only: false }).is_ok());
        assert!(body(enabled, BUDGET).is_ok());
    }
}
