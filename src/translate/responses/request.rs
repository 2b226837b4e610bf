//! Responses request → the same typed Converse request chat produces ([`Translated`]).
//!
//! From there the pipeline does what it does for chat: the model's configured options, the
//! reasoning step for the model's family, and the Converse body written once. So models, tool
//! names, images, reasoning and guardrails behave alike on both APIs.
//!
//! The gateway keeps no state, so whatever needs stored responses (`store: true`,
//! `previous_response_id`, `conversation`, `background`, stored `prompt`s) is refused by name,
//! as are OpenAI's hosted tools; everything else the API defines is either translated or
//! harmlessly ignored. The members a response object repeats are captured once as JSON text
//! ([`echo`]), so the answer path writes them without looking at the request again.

use crate::json::JsonText;
use std::borrow::Cow;

use serde::Deserialize;
use serde::Serialize;
use serde_json::value::RawValue;

use super::input;
use crate::bedrock::converse::{ConverseRequest, InferenceConfiguration, OutputConfig};
use crate::error::ApiError;
use crate::openai::responses::ResponsesRequest;
use crate::translate::chat::effort::MAX_TOKENS_LIMIT;
use crate::translate::chat::param::At;
use crate::translate::chat::reasoning::Effort;
use crate::translate::chat::request::{
    ParamNames, Translated, client_model, json_schema_output, unit_interval,
};
use crate::translate::chat::response::compact_json;
use crate::translate::chat::tools::{
    Choice, FunctionTool, ToolNamer, ToolParams, build_tool_config,
};

/// The only `include` value that asks for something this gateway has.
const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

const PARAMS: ToolParams = ToolParams {
    name: "name",
    parameters: "parameters",
    choice_name: "tool_choice.name",
};

/// Parse a Responses request body (the borrowed form [`to_request`] reads).
pub fn parse(body: &[u8]) -> Result<ResponsesRequest<'_>, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    })
}

/// Validate a parsed request and translate it into the typed Converse request.
pub fn to_request<'a>(req: &'a ResponsesRequest<'a>) -> Result<Translated<'a>, ApiError> {
    let model = client_model(req.model.as_deref())?;
    reject_unsupported(req)?;
    let input = req
        .input
        .as_ref()
        .ok_or_else(|| ApiError::invalid("input", "you must provide an `input` parameter"))?;
    let mut namer = ToolNamer::default();
    let conversation = input::conversation(req.instructions.as_ref(), input, &mut namer)?;
    let (output_config, json_answer_tool) = text_format(req)?;
    let inference_config = InferenceConfiguration {
        max_tokens: max_output_tokens(req.max_output_tokens)?,
        temperature: unit_interval(req.temperature, "temperature")?,
        top_p: unit_interval(req.top_p, "top_p")?,
        stop_sequences: Vec::new(),
    };
    let reasoning = match req
        .reasoning
        .as_ref()
        .and_then(|r| r.value.effort.as_deref())
    {
        None => None,
        Some(effort) => Some(Effort::parse(effort).ok_or_else(|| {
            ApiError::invalid(
                "reasoning.effort",
                format!("`reasoning.effort` must be {}", Effort::NAMES),
            )
        })?),
    };
    let tool_config = build_tool_config(
        function_tools(req)?,
        tool_choice(req.tool_choice)?,
        &PARAMS,
        &mut namer,
        conversation.uses_tools,
        json_answer_tool,
    )?;
    Ok(Translated {
        client_model: model,
        stream: req.stream.unwrap_or(false),
        include_usage: false,
        tool_names: namer.finish(),
        thinking_budget: None,
        reasoning,
        explicit_thinking: false,
        json_answer_tool,
        params: ParamNames {
            max_tokens: "max_output_tokens",
            effort: "reasoning.effort",
            format: "text.format",
        },
        parallel_tool_calls: req.parallel_tool_calls,
        // `guardrailConfig` comes from the configuration, set by the pipeline.
        converse: ConverseRequest {
            messages: conversation.messages,
            system: conversation.system,
            inference_config,
            tool_config,
            output_config,
            additional_model_request_fields: Default::default(),
            guardrail_config: None,
        },
    })
}

fn reject_unsupported(req: &ResponsesRequest<'_>) -> Result<(), ApiError> {
    let refuse = |param: &str, why: &str| Err(ApiError::invalid(param, why));
    if req.store == Some(true) {
        return refuse(
            "store",
            "this gateway keeps no responses: set `store` to false",
        );
    }
    if req.previous_response_id.is_some() {
        return refuse(
            "previous_response_id",
            "this gateway keeps no responses to continue from: send the whole conversation in `input`",
        );
    }
    if req.conversation.is_some() {
        return refuse(
            "conversation",
            "this gateway keeps no conversations: send the whole conversation in `input`",
        );
    }
    if req.background == Some(true) {
        return refuse(
            "background",
            "background responses are kept to be fetched later, which this gateway cannot do: set `background` to false",
        );
    }
    if req.prompt.is_some() {
        return refuse(
            "prompt",
            "stored prompts are not available through this gateway: send `instructions` and `input`",
        );
    }
    if req.truncation.as_deref().is_some_and(|t| t != "disabled") {
        return refuse(
            "truncation",
            "the gateway never drops input items to fit the context window: `truncation` must be \"disabled\"",
        );
    }
    if req.top_logprobs.is_some_and(|n| n != 0) {
        return refuse("top_logprobs", "Bedrock does not return log probabilities");
    }
    if let Some(other) = req
        .include
        .iter()
        .flatten()
        .find(|v| v.as_ref() != ENCRYPTED_REASONING)
    {
        return Err(ApiError::invalid(
            "include",
            format!(
                "`{other}` cannot be included through this gateway: only `{ENCRYPTED_REASONING}` is available"
            ),
        ));
    }
    Ok(())
}

/// `text.format` → (`outputConfig`, whether to answer through the `json_object` tool), as
/// chat's `response_format`.
fn text_format<'a>(
    req: &'a ResponsesRequest<'a>,
) -> Result<(Option<OutputConfig<'a>>, bool), ApiError> {
    let Some(format) = req.text.as_ref().and_then(|t| t.value.format.as_ref()) else {
        return Ok((None, false));
    };
    match format.kind.as_deref() {
        Some("text") => Ok((None, false)),
        Some("json_object") => Ok((None, true)),
        Some("json_schema") => Ok((
            Some(json_schema_output(
                format.schema,
                format.name.as_deref(),
                format.description.as_deref(),
                "text.format.schema",
            )?),
            false,
        )),
        Some(other) => Err(ApiError::invalid(
            "text.format.type",
            format!(
                "unknown text.format type `{other}`: expected text, json_object or json_schema"
            ),
        )),
        None => Err(ApiError::invalid(
            "text.format.type",
            "`text.format` needs a `type`",
        )),
    }
}

fn max_output_tokens(v: Option<i64>) -> Result<Option<u32>, ApiError> {
    const PARAM: &str = "max_output_tokens";
    match v {
        None => Ok(None),
        Some(v) if v >= 1 => u32::try_from(v)
            .ok()
            .filter(|v| *v <= MAX_TOKENS_LIMIT)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(
                    PARAM,
                    format!(
                        "`{PARAM}` ({v}) is too large: Bedrock takes at most {MAX_TOKENS_LIMIT}"
                    ),
                )
            }),
        Some(_) => Err(ApiError::invalid(
            PARAM,
            "`max_output_tokens` must be at least 1",
        )),
    }
}

/// `tools`: function tools only. OpenAI's hosted tools (web search, file search, code
/// interpreter, computer use, image generation, MCP, shells, custom grammars) run on
/// OpenAI's side; Bedrock has none of them.
fn function_tools<'a>(req: &'a ResponsesRequest<'a>) -> Result<Vec<FunctionTool<'a>>, ApiError> {
    let defs = req.tools.as_ref().map_or(&[][..], |t| t.value.as_slice());
    let mut tools = Vec::with_capacity(defs.len());
    for (i, def) in defs.iter().enumerate() {
        let at = At::Tool(i);
        match def.kind.as_deref() {
            Some("function") => {}
            Some(other) => {
                return Err(at.invalid(
                    "type",
                    format!(
                        "`{other}` is a tool OpenAI runs, which Bedrock does not have: only tools of type \"function\" are supported"
                    ),
                ));
            }
            None => return Err(at.invalid("type", "each tool needs a `type`")),
        }
        tools.push(FunctionTool {
            at,
            name: def.name.as_deref(),
            description: def.description.as_ref().map(JsonText::reborrow),
            parameters: def.parameters,
            strict: def.strict,
            cache: None,
        });
    }
    Ok(tools)
}

/// `tool_choice`: `"auto" | "none" | "required"` or `{"type": "function", "name"}`.
fn tool_choice(raw: Option<&RawValue>) -> Result<Choice<'_>, ApiError> {
    #[derive(Deserialize)]
    struct Named<'b> {
        #[serde(
            rename = "type",
            borrow,
            default,
            deserialize_with = "crate::json::opt_cow"
        )]
        kind: Option<Cow<'b, str>>,
        #[serde(borrow, default)]
        name: Option<&'b str>,
    }
    let bad = || {
        ApiError::invalid(
            "tool_choice",
            "`tool_choice` must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": …}",
        )
    };
    let Some(raw) = raw else {
        return Ok(Choice::Unset);
    };
    let text = raw.get();
    if text.starts_with('"') {
        let s: Cow<str> = serde_json::from_str(text).map_err(|_| bad())?;
        return match s.as_ref() {
            "auto" => Ok(Choice::Auto),
            "none" => Ok(Choice::None),
            "required" => Ok(Choice::Required),
            _ => Err(bad()),
        };
    }
    let named: Named<'_> = serde_json::from_str(text).map_err(|_| bad())?;
    match named.kind.as_deref() {
        Some("function") => named.name.map(Choice::Named).ok_or_else(|| {
            ApiError::invalid("tool_choice.name", "a named `tool_choice` needs `name`")
        }),
        Some(other) => Err(ApiError::invalid(
            "tool_choice.type",
            format!(
                "`tool_choice` of type `{other}` is not supported: name a function tool, or use \"auto\", \"none\" or \"required\""
            ),
        )),
        None => Err(bad()),
    }
}

/// The request members a response object repeats, as JSON object members (`"a":1,"b":…`
/// without the braces), written once when the request is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Echo(String);

impl Echo {
    /// The members, ready to write after a response object's own.
    pub fn members(&self) -> &str {
        &self.0
    }
}

/// What a response object says of the request: the client's own values where it sent them,
/// OpenAI's defaults elsewhere (`store` is always false: nothing is kept).
pub fn echo(req: &ResponsesRequest<'_>) -> Echo {
    let mut w = EchoWriter(String::with_capacity(
        320 + req.tools.as_ref().map_or(0, |t| t.raw.get().len())
            + req.text.as_ref().map_or(0, |t| t.raw.get().len()),
    ));
    w.value("background", &false);
    w.value("instructions", &req.instructions);
    w.value("max_output_tokens", &req.max_output_tokens);
    w.value("max_tool_calls", &None::<u32>);
    w.raw("metadata", req.metadata.map(RawValue::get), "{}");
    w.value(
        "parallel_tool_calls",
        &req.parallel_tool_calls.unwrap_or(true),
    );
    w.value("previous_response_id", &None::<u32>);
    if let Some(key) = &req.prompt_cache_key {
        w.value("prompt_cache_key", key);
    }
    w.raw(
        "reasoning",
        req.reasoning.as_ref().map(|r| r.raw.get()),
        r#"{"effort":null,"summary":null}"#,
    );
    if let Some(id) = &req.safety_identifier {
        w.value("safety_identifier", id);
    }
    w.value("store", &false);
    w.value("temperature", &req.temperature);
    w.raw(
        "text",
        req.text.as_ref().map(|t| t.raw.get()),
        r#"{"format":{"type":"text"}}"#,
    );
    w.raw(
        "tool_choice",
        req.tool_choice.map(RawValue::get),
        r#""auto""#,
    );
    w.raw("tools", req.tools.as_ref().map(|t| t.raw.get()), "[]");
    w.value("top_p", &req.top_p);
    w.value("truncation", &"disabled");
    if let Some(user) = &req.user {
        w.value("user", user);
    }
    Echo(w.0)
}

struct EchoWriter(String);

impl EchoWriter {
    fn key(&mut self, key: &str) {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(key);
        self.0.push_str("\":");
    }

    fn value<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        self.key(key);
        // Plain values always serialise; `null` stands in should one ever not.
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_string());
        self.0.push_str(&text);
    }

    /// The client's JSON text as it came, minus the whitespace: a response event is one SSE
    /// `data:` line, which a raw newline would cut.
    fn raw(&mut self, key: &str, raw: Option<&str>, default: &str) {
        self.key(key);
        self.0.push_str(&compact_json(raw.unwrap_or(default)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::chat::request::converse_body;
    use serde_json::{Value, json};

    fn user(extra: Value) -> Value {
        let mut req = json!({"model": "m", "input": "x"});
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        req
    }

    fn translated<T>(req: &Value, f: impl FnOnce(Result<Translated<'_>, ApiError>) -> T) -> T {
        let bytes = serde_json::to_vec(req).unwrap();
        let parsed = parse(&bytes).unwrap();
        f(to_request(&parsed))
    }

    fn body_of(req: Value) -> Value {
        translated(&req, |t| {
            serde_json::from_slice(&converse_body(&t.unwrap(), 0).unwrap()).unwrap()
        })
    }

    fn param_of(req: Value) -> Option<String> {
        translated(&req, |t| {
            let e = t.unwrap_err();
            assert_eq!(e.status, 400, "{req}");
            e.param
        })
    }

    #[test]
    fn parameters_map_like_chat() {
        let req = user(
            json!({"max_output_tokens": 300, "temperature": 0.2, "top_p": 0.9,
            "reasoning": {"effort": "medium", "summary": "auto"}, "parallel_tool_calls": false,
            "stream": true}),
        );
        translated(&req, |t| {
            let t = t.unwrap();
            assert_eq!(
                (
                    t.client_model.as_str(),
                    t.stream,
                    t.include_usage,
                    t.explicit_thinking
                ),
                ("m", true, false, false)
            );
            assert_eq!(t.reasoning, Some(Effort::Medium));
            assert_eq!(t.params.max_tokens, "max_output_tokens");
            assert_eq!(t.parallel_tool_calls, Some(false));
            assert_eq!(t.thinking_budget, None);
            // What the effort becomes depends on the model: the pipeline's reasoning step.
            assert!(t.converse.additional_model_request_fields.is_empty());
        });
        assert_eq!(
            body_of(req)["inferenceConfig"],
            json!({"maxTokens": 300, "temperature": 0.2, "topP": 0.9})
        );
    }

    #[test]
    fn accepted_parameters_never_leak_upstream() {
        let out = body_of(user(json!({
            "store": false, "metadata": {"k": "v"}, "user": "u", "safety_identifier": "s",
            "prompt_cache_key": "k", "service_tier": "auto", "include": ["reasoning.encrypted_content"],
            "truncation": "disabled", "background": false, "parallel_tool_calls": true,
            "stream": false, "stream_options": {"include_obfuscation": false},
            "reasoning": {"summary": "detailed", "effort": null}, "previous_response_id": null,
            "conversation": null, "prompt": null, "top_logprobs": 0, "max_tool_calls": 3,
            "text": {"format": {"type": "text"}, "verbosity": "low"}, "tool_choice": "auto",
            "tools": [], "instructions": null, "prompt_cache_retention": "24h"})));
        assert_eq!(
            out,
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]})
        );
    }

    #[test]
    fn refusals_name_the_parameter() {
        let cases = [
            (json!({"store": true}), "store"),
            (
                json!({"previous_response_id": "resp_1"}),
                "previous_response_id",
            ),
            (json!({"conversation": "conv_1"}), "conversation"),
            (json!({"conversation": {"id": "conv_1"}}), "conversation"),
            (json!({"background": true}), "background"),
            (json!({"prompt": {"id": "pmpt_1"}}), "prompt"),
            (json!({"truncation": "auto"}), "truncation"),
            (json!({"top_logprobs": 5}), "top_logprobs"),
            (
                json!({"include": ["reasoning.encrypted_content", "message.output_text.logprobs"]}),
                "include",
            ),
            (json!({"include": ["file_search_call.results"]}), "include"),
            (
                json!({"reasoning": {"effort": "extreme"}}),
                "reasoning.effort",
            ),
            (json!({"max_output_tokens": 0}), "max_output_tokens"),
            (
                json!({"max_output_tokens": 2_147_483_648_i64}),
                "max_output_tokens",
            ),
            (
                json!({"max_output_tokens": 5_000_000_000_i64}),
                "max_output_tokens",
            ),
            (json!({"temperature": 1.5}), "temperature"),
            (json!({"top_p": -0.1}), "top_p"),
            (
                json!({"text": {"format": {"type": "xml"}}}),
                "text.format.type",
            ),
            (json!({"text": {"format": {}}}), "text.format.type"),
            (
                json!({"text": {"format": {"type": "json_schema", "name": "x"}}}),
                "text.format.schema",
            ),
            (
                json!({"text": {"format": {"type": "json_schema", "schema": [1]}}}),
                "text.format.schema",
            ),
            (json!({"tool_choice": "sometimes"}), "tool_choice"),
            (json!({"tool_choice": "required"}), "tool_choice"),
            (
                json!({"tool_choice": {"type": "function"}, "tools": [{"type": "function", "name": "f"}]}),
                "tool_choice.name",
            ),
            (
                json!({"tool_choice": {"type": "function", "name": "g"}, "tools": [{"type": "function", "name": "f"}]}),
                "tool_choice.name",
            ),
            (
                json!({"tool_choice": {"type": "web_search_preview"}}),
                "tool_choice.type",
            ),
            (
                json!({"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}}),
                "tool_choice.type",
            ),
            (json!({"tools": [{"name": "f"}]}), "tools[0].type"),
            (json!({"tools": [{"type": "function"}]}), "tools[0].name"),
            (
                json!({"tools": [{"type": "function", "name": "f"}, {"type": "function", "name": "f"}]}),
                "tools[1].name",
            ),
            (
                json!({"tools": [{"type": "function", "name": "f", "parameters": {"type": "string"}}]}),
                "tools[0].parameters",
            ),
            (
                json!({"text": {"format": {"type": "json_object"}}, "tools": [{"type": "function", "name": "json_response"}]}),
                "response_format",
            ),
            (json!({"model": null}), "model"),
            (json!({"model": " "}), "model"),
        ];
        for (extra, param) in cases {
            assert_eq!(
                param_of(user(extra.clone())).as_deref(),
                Some(param),
                "{extra}"
            );
        }
        assert_eq!(param_of(json!({"model": "m"})).as_deref(), Some("input"));
        // Every hosted tool is refused by its position and type.
        for kind in [
            "web_search",
            "web_search_preview",
            "file_search",
            "code_interpreter",
            "computer_use_preview",
            "image_generation",
            "mcp",
            "local_shell",
            "shell",
            "custom",
            "apply_patch",
        ] {
            let req = user(json!({"tools": [{"type": "function", "name": "f"}, {"type": kind}]}));
            let e = translated(&req, |t| t.unwrap_err());
            assert_eq!(e.param.as_deref(), Some("tools[1].type"), "{kind}");
            assert!(e.message.contains(kind), "{}", e.message);
        }
        let e = translated(&user(json!({"store": true})), |t| t.unwrap_err());
        assert!(e.message.contains("set `store` to false"), "{}", e.message);
        let e = parse(b"{\"input\": 5}").unwrap_err();
        assert_eq!((e.status, e.param), (400, None));
    }

    #[test]
    fn text_formats() {
        // Written as raw text: the schema goes to Bedrock as the client wrote it.
        let body = br#"{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"person",
            "description":"A person","strict":true,
            "schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}}}}"#;
        let parsed = parse(body).unwrap();
        let out: Value =
            serde_json::from_slice(&converse_body(&to_request(&parsed).unwrap(), 0).unwrap())
                .unwrap();
        assert_eq!(
            out["outputConfig"],
            json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
                "schema": r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}"#,
                "name": "person", "description": "A person"}}}})
        );
        assert!(out.get("toolConfig").is_none());
        let req = user(json!({"text": {"format": {"type": "json_object"}}}));
        let out = body_of(req.clone());
        assert_eq!(
            out["toolConfig"]["toolChoice"],
            json!({"tool": {"name": "json_response"}})
        );
        translated(&req, |t| {
            let t = t.unwrap();
            assert!(t.json_answer_tool);
            assert!(t.tool_names.is_response_tool("json_response"));
        });
    }

    #[test]
    fn tool_names_map_and_choices() {
        let req = user(
            json!({"tools": [{"type": "function", "name": "files.read"}],
            "tool_choice": {"type": "function", "name": "files.read"}}),
        );
        let mapped = crate::translate::chat::tools::bedrock_tool_name("files.read").into_owned();
        let out = body_of(req.clone());
        assert_eq!(
            out["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": mapped, "inputSchema": {"json": {"type": "object", "properties": {}}}}}],
                   "toolChoice": {"tool": {"name": mapped}}})
        );
        translated(&req, |t| {
            assert_eq!(t.unwrap().tool_names.to_client(&mapped), "files.read");
        });
        let choice = |c: Value| {
            body_of(user(
                json!({"tools": [{"type": "function", "name": "f"}], "tool_choice": c}),
            ))
        };
        assert_eq!(
            choice(json!("required"))["toolConfig"]["toolChoice"],
            json!({"any": {}})
        );
        assert!(choice(json!("none")).get("toolConfig").is_none());
        assert!(
            choice(json!(null))["toolConfig"]
                .get("toolChoice")
                .is_none()
        );
    }

    #[test]
    fn echo_repeats_the_request_compactly() {
        let body = br#"{"model":"m","input":"x","instructions":"Be \"brief\".",
            "max_output_tokens":100,"temperature":0.5,"parallel_tool_calls":false,
            "metadata":{ "k" : "v" },"user":"u1","safety_identifier":"s1","prompt_cache_key":"p1",
            "tools":[ {"type": "function",
              "name": "f", "parameters": {"type": "object"}} ],
            "tool_choice":{"type":"function","name":"f"},
            "text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}},
            "reasoning":{"effort":"low","summary":"auto"}}"#;
        let req = parse(body).unwrap();
        let members = echo(&req);
        assert!(!members.members().contains('\n'));
        let v: Value = serde_json::from_str(&format!("{{{}}}", members.members())).unwrap();
        assert_eq!(
            v,
            json!({"background": false, "instructions": "Be \"brief\".", "max_output_tokens": 100,
                "max_tool_calls": null, "metadata": {"k": "v"}, "parallel_tool_calls": false,
                "previous_response_id": null, "prompt_cache_key": "p1",
                "reasoning": {"effort": "low", "summary": "auto"}, "safety_identifier": "s1",
                "store": false, "temperature": 0.5,
                "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
                "tool_choice": {"type": "function", "name": "f"},
                "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
                "top_p": null, "truncation": "disabled", "user": "u1"})
        );
        let bare = parse(br#"{"model":"m","input":"x"}"#).unwrap();
        let v: Value = serde_json::from_str(&format!("{{{}}}", echo(&bare).members())).unwrap();
        assert_eq!(
            v,
            json!({"background": false, "instructions": null, "max_output_tokens": null,
                "max_tool_calls": null, "metadata": {}, "parallel_tool_calls": true,
                "previous_response_id": null, "reasoning": {"effort": null, "summary": null},
                "store": false, "temperature": null, "text": {"format": {"type": "text"}},
                "tool_choice": "auto", "tools": [], "top_p": null, "truncation": "disabled"})
        );
    }
}
