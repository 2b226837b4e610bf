//! `tools` / `tool_choice` → Converse `toolConfig`, and the tool names and IDs Bedrock accepts.
//!
//! Bedrock constrains tool names to `[a-zA-Z0-9_-]{1,64}` and `toolUseId` to
//! `[a-zA-Z0-9_.:-]{1,64}`. Names and IDs outside that are mapped, never dropped: invalid
//! characters become `_` and a mapped value always ends in `_` + 8 hex digits of an FNV-1a hash of
//! the original, truncated to fit 64 characters. The mapping is a function of the original alone,
//! so every occurrence in one request (tools, tool_choice, history) maps the same way. Names come
//! back in responses, so [`ToolNames`] keeps the renamed pairs for the response translators; IDs
//! only go upstream in history (Bedrock makes up new IDs, always valid), so they need no way back.

use crate::json::JsonText;
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::param::At;
use crate::bedrock::converse::{
    CachePointBlock, Empty, SpecificTool, Tool, ToolChoice, ToolConfiguration, ToolInputSchema,
    ToolSpecification,
};
use crate::error::ApiError;
use crate::openai::{CacheControl, ChatCompletionRequest};

const MAX_LEN: usize = 64;
/// `_` + 8 hex digits.
const HASH_SUFFIX_LEN: usize = 9;

/// The schema of a tool the request does not describe (history only, or `json_object`).
const ANY_OBJECT_SCHEMA: &str = r#"{"type":"object"}"#;
const NO_PARAMETERS_SCHEMA: &str = r#"{"type":"object","properties":{}}"#;

/// The tool that stands in for `response_format: json_object`; its input is the answer.
pub const RESPONSE_TOOL: &str = "json_response";

/// Tool names as Bedrock knows them ↔ as the client sent them, for the response translators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNames {
    /// (Bedrock name, client name) for the names that had to change; usually empty.
    renamed: Vec<(String, String)>,
    /// Set when the request asked for `json_object`: calls of [`RESPONSE_TOOL`] are the answer.
    response_tool: bool,
}

impl ToolNames {
    /// The client's name for a tool Bedrock called `name`.
    pub fn to_client<'s>(&'s self, name: &'s str) -> &'s str {
        self.renamed
            .iter()
            .find(|(b, _)| b == name)
            .map_or(name, |(_, c)| c.as_str())
    }

    /// Whether a call of `name` is the `response_format` stand-in rather than a tool call.
    pub fn is_response_tool(&self, name: &str) -> bool {
        self.response_tool && name == RESPONSE_TOOL
    }
}

/// Maps every tool name of one request and remembers the pairs.
#[derive(Debug, Default)]
pub struct ToolNamer<'a> {
    /// (client name, Bedrock name), every distinct name seen.
    seen: Vec<(&'a str, Cow<'a, str>)>,
    response_tool: bool,
}

impl<'a> ToolNamer<'a> {
    /// The Bedrock name for `client`. Two client names that would map to the same Bedrock name
    /// are an error naming `param()`.
    pub fn name(
        &mut self,
        client: &'a str,
        param: &dyn Fn() -> String,
    ) -> Result<Cow<'a, str>, ApiError> {
        if client.is_empty() {
            return Err(ApiError::invalid(&param(), "a tool name must not be empty"));
        }
        if let Some((_, b)) = self.seen.iter().find(|(c, _)| *c == client) {
            return Ok(b.clone());
        }
        let mapped = bedrock_tool_name(client);
        if self.seen.iter().any(|(_, b)| *b == mapped) {
            return Err(ApiError::invalid(
                &param(),
                format!(
                    "tool name `{client}` collides with another tool name once made valid for Bedrock ([a-zA-Z0-9_-]{{1,64}})"
                ),
            ));
        }
        self.seen.push((client, mapped.clone()));
        Ok(mapped)
    }

    /// Bedrock names of the tools seen so far (in first-seen order).
    fn bedrock_names(&self) -> impl Iterator<Item = &Cow<'a, str>> {
        self.seen.iter().map(|(_, b)| b)
    }

    fn contains_bedrock(&self, name: &str) -> bool {
        self.seen.iter().any(|(_, b)| b == name)
    }

    pub fn finish(self) -> ToolNames {
        ToolNames {
            renamed: self
                .seen
                .into_iter()
                .filter(|(c, b)| *c != b.as_ref())
                .map(|(c, b)| (b.into_owned(), c.to_string()))
                .collect(),
            response_tool: self.response_tool,
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_id_char(c: char) -> bool {
    is_name_char(c) || c == '.' || c == ':'
}

/// The Bedrock name of a client tool name (what [`ToolNamer::name`] maps it to).
pub fn bedrock_tool_name(name: &str) -> Cow<'_, str> {
    map_value(name, is_name_char)
}

/// A tool-call ID Bedrock accepts for the client's `id`.
pub fn tool_use_id(id: &str) -> Cow<'_, str> {
    map_value(id, is_id_char)
}

/// `id` mapped to the stricter alphabet of tool names (`[a-zA-Z0-9_-]`), for APIs whose
/// tool-use IDs allow no `.` or `:` (Anthropic's). Deterministic, like every mapping here, so
/// a call and its result keep matching.
pub fn name_safe_id(id: &str) -> Cow<'_, str> {
    map_value(id, is_name_char)
}

fn map_value(v: &str, allowed: fn(char) -> bool) -> Cow<'_, str> {
    if !v.is_empty() && v.len() <= MAX_LEN && v.chars().all(allowed) {
        return Cow::Borrowed(v);
    }
    let mut out: String = v
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .take(MAX_LEN - HASH_SUFFIX_LEN)
        .collect();
    out.push_str(&format!("_{:08x}", fnv1a(v.as_bytes())));
    Cow::Owned(out)
}

/// FNV-1a, 32 bits: short, stable across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A `cache_control` marker → cache point (with its TTL when given).
pub fn cache_point<'a>(
    cc: Option<&'a CacheControl<'a>>,
    at: At,
) -> Result<Option<CachePointBlock<'a>>, ApiError> {
    let Some(cc) = cc else { return Ok(None) };
    match cc.kind.as_deref() {
        Some("ephemeral") => {}
        _ => {
            return Err(at.invalid(
                "cache_control.type",
                "`cache_control.type` must be \"ephemeral\"",
            ));
        }
    }
    let ttl = match cc.ttl.as_deref() {
        None => None,
        Some(t @ ("5m" | "1h")) => Some(t),
        Some(_) => {
            return Err(at.invalid(
                "cache_control.ttl",
                "`cache_control.ttl` must be \"5m\" or \"1h\"",
            ));
        }
    };
    Ok(Some(CachePointBlock {
        kind: "default",
        ttl,
    }))
}

/// The client's `tool_choice`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Choice<'a> {
    Unset,
    Auto,
    None,
    Required,
    Named(&'a str),
}

fn parse_choice<'a>(raw: Option<&'a RawValue>) -> Result<Choice<'a>, ApiError> {
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
        function: Option<NamedFunction<'b>>,
    }
    #[derive(Deserialize)]
    struct NamedFunction<'b> {
        #[serde(borrow, default)]
        name: Option<&'b str>,
    }
    let bad = || {
        ApiError::invalid(
            "tool_choice",
            "`tool_choice` must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}",
        )
    };
    let Some(raw) = raw else {
        return Ok(Choice::Unset);
    };
    let text = raw.get();
    if text == "null" {
        return Ok(Choice::Unset);
    }
    if text.starts_with('"') {
        let s: Cow<str> = serde_json::from_str(text).map_err(|_| bad())?;
        return match s.as_ref() {
            "auto" => Ok(Choice::Auto),
            "none" => Ok(Choice::None),
            "required" => Ok(Choice::Required),
            _ => Err(bad()),
        };
    }
    let named: Named<'a> = serde_json::from_str(text).map_err(|_| bad())?;
    if named.kind.as_deref() != Some("function") {
        return Err(bad());
    }
    match named.function.and_then(|f| f.name) {
        Some(name) => Ok(Choice::Named(name)),
        None => Err(ApiError::invalid(
            "tool_choice.function.name",
            "a named `tool_choice` needs `function.name`",
        )),
    }
}

/// One function tool the client defined, whatever API described it.
#[derive(Debug)]
pub(crate) struct FunctionTool<'a> {
    /// `tools[i]`
    pub at: At,
    pub name: Option<&'a str>,
    pub description: Option<JsonText<'a>>,
    /// The JSON schema of the arguments.
    pub parameters: Option<&'a RawValue>,
    pub strict: Option<bool>,
    pub cache: Option<CachePointBlock<'a>>,
}

/// Where an API keeps a tool's members, for the `param` of its errors.
#[derive(Debug)]
pub(crate) struct ToolParams {
    /// The tool's name, below `tools[i]`.
    pub name: &'static str,
    /// Its parameters schema, below `tools[i]`.
    pub parameters: &'static str,
    /// The tool a named `tool_choice` picks.
    pub choice_name: &'static str,
}

const CHAT_PARAMS: ToolParams = ToolParams {
    name: "function.name",
    parameters: "function.parameters",
    choice_name: "tool_choice.function.name",
};

/// Build `toolConfig`. `history_uses_tools`: the translated messages hold toolUse/toolResult
/// blocks, and Bedrock requires a `toolConfig` whenever they do. `response_tool`: add the
/// `json_object` stand-in tool and make the model answer through it (or through a real tool).
pub fn tool_config<'a>(
    req: &'a ChatCompletionRequest<'a>,
    namer: &mut ToolNamer<'a>,
    history_uses_tools: bool,
    response_tool: bool,
) -> Result<Option<ToolConfiguration<'a>>, ApiError> {
    let mut defs = Vec::new();
    for (i, def) in req.tools.iter().flatten().enumerate() {
        let at = At::Tool(i);
        if def.kind.as_deref() != Some("function") {
            return Err(at.invalid("type", "only tools of type \"function\" are supported"));
        }
        let f = def
            .function
            .as_ref()
            .ok_or_else(|| at.invalid("function", "a tool needs `function`"))?;
        defs.push(FunctionTool {
            at,
            name: f.name.as_deref(),
            description: f.description.as_ref().map(JsonText::reborrow),
            parameters: f.parameters,
            strict: f.strict,
            cache: cache_point(def.cache_control.as_ref(), at)?,
        });
    }
    let choice = parse_choice(req.tool_choice)?;
    build_tool_config(
        defs,
        choice,
        &CHAT_PARAMS,
        namer,
        history_uses_tools,
        response_tool,
    )
}

/// `toolConfig` from the client's function tools and `tool_choice`, for every API that
/// describes tools its own way (chat, Responses). Arguments as for [`tool_config`].
pub(crate) fn build_tool_config<'a>(
    defs: Vec<FunctionTool<'a>>,
    choice: Choice<'a>,
    params: &ToolParams,
    namer: &mut ToolNamer<'a>,
    history_uses_tools: bool,
    response_tool: bool,
) -> Result<Option<ToolConfiguration<'a>>, ApiError> {
    let history_names: Vec<Cow<'a, str>> = namer.bedrock_names().cloned().collect();
    let mut tools = Vec::new();
    for f in defs {
        let at = f.at;
        let name_param = params.name;
        let client_name = f
            .name
            .ok_or_else(|| at.invalid(name_param, format!("a tool needs `{name_param}`")))?;
        if tools
            .iter()
            .any(|t| matches!(t, (c, _) if *c == client_name))
        {
            return Err(at.invalid(name_param, format!("tool `{client_name}` is defined twice")));
        }
        let name = namer.name(client_name, &|| format!("{at}.{name_param}"))?;
        let json = match f.parameters {
            None => Cow::Owned(const_json(NO_PARAMETERS_SCHEMA)?),
            Some(p) => input_schema(p, at, params.parameters)?,
        };
        let spec = ToolSpecification {
            name,
            description: f.description.filter(|d| !d.is_blank()),
            input_schema: ToolInputSchema { json },
            // Only `true` means something; `false` would trip models without strict mode.
            strict: f.strict.filter(|s| *s),
        };
        tools.push((client_name, Some(Tool::ToolSpec(spec))));
        if let Some(cp) = f.cache {
            tools.push(("", Some(Tool::CachePoint(cp))));
        }
    }
    let has_client_tools = !tools.is_empty();
    match choice {
        Choice::Required | Choice::Named(_) if !has_client_tools => {
            return Err(ApiError::invalid(
                "tool_choice",
                "`tool_choice` asks for a tool but the request defines no `tools`",
            ));
        }
        Choice::Named(n) if !tools.iter().any(|(c, _)| *c == n) => {
            return Err(ApiError::invalid(
                params.choice_name,
                format!("`tool_choice` names `{n}`, which is not in `tools`"),
            ));
        }
        _ => {}
    }
    let mut tools: Vec<Tool<'a>> = tools.into_iter().filter_map(|(_, t)| t).collect();
    if !has_client_tools && history_uses_tools {
        // History without tool definitions: describe each tool it used, loosely.
        for name in history_names {
            tools.push(Tool::ToolSpec(ToolSpecification {
                name,
                description: None,
                input_schema: ToolInputSchema {
                    json: Cow::Owned(const_json(ANY_OBJECT_SCHEMA)?),
                },
                strict: None,
            }));
        }
    }
    if response_tool {
        if namer.contains_bedrock(RESPONSE_TOOL) {
            return Err(ApiError::invalid(
                "response_format",
                format!(
                    "`json_object` is answered through a tool named `{RESPONSE_TOOL}`, which the request already uses"
                ),
            ));
        }
        namer.response_tool = true;
        tools.push(Tool::ToolSpec(ToolSpecification {
            name: Cow::Borrowed(RESPONSE_TOOL),
            description: Some(JsonText::from(
                "Answer the user with this tool: its input is the final answer, a JSON object.",
            )),
            input_schema: ToolInputSchema {
                json: Cow::Owned(const_json(ANY_OBJECT_SCHEMA)?),
            },
            strict: None,
        }));
        // The answer must be JSON, so the model answers through some tool: this one, or one of
        // the client's (a real tool call), or the one the client named.
        let tool_choice = match choice {
            Choice::Named(n) => ToolChoice::Tool(SpecificTool {
                name: namer.name(n, &|| params.choice_name.to_string())?,
            }),
            Choice::Unset | Choice::Auto | Choice::Required if has_client_tools => {
                ToolChoice::Any(Empty {})
            }
            _ => ToolChoice::Tool(SpecificTool {
                name: Cow::Borrowed(RESPONSE_TOOL),
            }),
        };
        return Ok(Some(ToolConfiguration {
            tools,
            tool_choice: Some(tool_choice),
        }));
    }
    let tool_choice = match choice {
        Choice::Unset => None,
        Choice::Auto => Some(ToolChoice::Auto(Empty {})),
        Choice::Required => Some(ToolChoice::Any(Empty {})),
        Choice::Named(n) => Some(ToolChoice::Tool(SpecificTool {
            name: namer.name(n, &|| params.choice_name.to_string())?,
        })),
        Choice::None => {
            // "none" has no Converse form: send no tools, unless history makes them mandatory.
            if !history_uses_tools {
                return Ok(None);
            }
            None
        }
    };
    if tools.is_empty() {
        return Ok(None);
    }
    Ok(Some(ToolConfiguration { tools, tool_choice }))
}

/// A tool's `parameters` as Bedrock wants them: a JSON schema object of `"type": "object"`.
/// Schemas that leave the type out (`{}` for a tool without arguments is common) get it added
/// in front; the rest of the text passes through as written.
fn input_schema<'p>(p: &'p RawValue, at: At, field: &str) -> Result<Cow<'p, RawValue>, ApiError> {
    #[derive(Deserialize)]
    struct Top<'b> {
        /// The raw `type` when present, `null` included (absent: `None`).
        #[serde(rename = "type", borrow, default, deserialize_with = "present")]
        kind: Option<&'b RawValue>,
    }
    fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
        <&RawValue>::deserialize(d).map(Some)
    }
    let not_object = || at.invalid(field, "`parameters` must be a JSON schema object");
    // serde would read the struct from an array too.
    if !p.get().trim_start().starts_with('{') {
        return Err(not_object());
    }
    let top: Top = serde_json::from_str(p.get()).map_err(|_| not_object())?;
    match top.kind.map(RawValue::get) {
        Some(r#""object""#) => Ok(Cow::Borrowed(p)),
        Some(other) => Err(at.invalid(
            field,
            format!("`parameters` must describe an object (`\"type\": \"object\"`), not `{other}`"),
        )),
        None => {
            let members = p.get().strip_prefix('{').unwrap_or("}").trim_start();
            let text = if members.starts_with('}') {
                NO_PARAMETERS_SCHEMA.to_string()
            } else {
                format!(r#"{{"type":"object",{members}"#)
            };
            RawValue::from_string(text)
                .map(Cow::Owned)
                .map_err(|e| at.invalid(field, format!("internal error: {e}")))
        }
    }
}

fn const_json(text: &str) -> Result<Box<RawValue>, ApiError> {
    RawValue::from_string(text.to_string())
        .map_err(|e| ApiError::invalid("tools", format!("internal schema error: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_and_ids_stay() {
        let mut n = ToolNamer::default();
        assert!(matches!(
            n.name("get_weather-2", &String::new).unwrap(),
            Cow::Borrowed("get_weather-2")
        ));
        assert!(matches!(tool_use_id("call_abc.1:x"), Cow::Borrowed(_)));
        assert_eq!(n.finish(), ToolNames::default());
    }

    #[test]
    fn invalid_names_map_reversibly() {
        let mut n = ToolNamer::default();
        let long = "x".repeat(80);
        let a = n.name("files.read", &String::new).unwrap().into_owned();
        let b = n.name(&long, &String::new).unwrap().into_owned();
        let c = n.name("ünïcode tool", &String::new).unwrap().into_owned();
        assert_eq!(a, format!("files_read_{:08x}", fnv1a(b"files.read")));
        assert_eq!(b.len(), 64);
        assert!(b.starts_with(&"x".repeat(55)));
        for m in [&a, &b, &c] {
            assert!(m.len() <= 64 && m.chars().all(is_name_char), "{m}");
        }
        // Same input, same output: the mapping is a function of the name.
        assert_eq!(n.name("files.read", &String::new).unwrap(), a);
        let names = n.finish();
        assert_eq!(names.to_client(&a), "files.read");
        assert_eq!(names.to_client(&b), long);
        assert_eq!(names.to_client(&c), "ünïcode tool");
        assert_eq!(names.to_client("other"), "other");
    }

    #[test]
    fn ids_map_deterministically() {
        let id = "call/with spaces";
        let m = tool_use_id(id);
        assert_eq!(m, tool_use_id(id));
        assert!(m.starts_with("call_with_spaces_"));
        assert!(tool_use_id(&"a".repeat(65)).len() <= 64);
    }

    #[test]
    fn colliding_names_are_refused() {
        let mut n = ToolNamer::default();
        let mapped = format!("a_b_{:08x}", fnv1a(b"a.b"));
        assert_eq!(n.name("a.b", &String::new).unwrap(), mapped);
        // A valid client name equal to the mapping of another one.
        assert!(
            n.name(&mapped, &|| "tools[1].function.name".into())
                .is_err()
        );
        assert_eq!(
            n.name("", &|| "tools[2].function.name".into())
                .unwrap_err()
                .param
                .as_deref(),
            Some("tools[2].function.name")
        );
    }

    #[test]
    fn tool_choices() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        let r = raw(r#""auto""#);
        assert_eq!(parse_choice(Some(&r)).unwrap(), Choice::Auto);
        let r = raw(r#"{"type":"function","function":{"name":"f"}}"#);
        assert_eq!(parse_choice(Some(&r)).unwrap(), Choice::Named("f"));
        for bad in [r#""sometimes""#, "5", r#"{"type":"allowed_tools"}"#] {
            let r = raw(bad);
            assert_eq!(
                parse_choice(Some(&r)).unwrap_err().param.as_deref(),
                Some("tool_choice")
            );
        }
    }

    use crate::translate::chat::to_converse;
    use serde_json::{Value, json};

    fn translate(req: Value) -> (Value, ToolNames) {
        let call = to_converse(&serde_json::to_vec(&req).unwrap()).unwrap();
        (serde_json::from_slice(&call.body).unwrap(), call.tool_names)
    }

    fn err_param(req: Value) -> Option<String> {
        let e = to_converse(&serde_json::to_vec(&req).unwrap()).unwrap_err();
        assert_eq!(e.status, 400);
        e.param
    }

    fn weather() -> Value {
        json!({"type": "function", "function": {"name": "get_weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "strict": true}})
    }

    fn with_tools(tools: Value, choice: Option<Value>) -> Value {
        let mut req =
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools});
        if let Some(c) = choice {
            req["tool_choice"] = c;
        }
        req
    }

    #[test]
    fn tools_become_tool_specs() {
        let (out, names) = translate(with_tools(
            json!([weather(), {"type": "function", "function": {"name": "now", "description": " ", "strict": false}}]),
            None,
        ));
        assert_eq!(
            out["toolConfig"],
            json!({"tools": [
                {"toolSpec": {"name": "get_weather", "description": "Weather now",
                    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
                    "strict": true}},
                {"toolSpec": {"name": "now", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
        );
        assert_eq!(names, ToolNames::default());
    }

    #[test]
    fn descriptions_are_copied_as_written() {
        // Escapes kept exactly as the client wrote them (`\u00e9`, `\/`), not re-escaped.
        let body = br#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[
            {"type":"function","function":{"name":"a","description":"Run it.\n\"Quote\" caf\u00e9 a\/b"}},
            {"type":"function","function":{"name":"b","description":" \n\t "}},
            {"type":"function","function":{"name":"c","description":"\u00a0"}},
            {"type":"function","function":{"name":"d","description":null}}]}"#;
        let call = to_converse(body).unwrap();
        let out = std::str::from_utf8(&call.body).unwrap();
        assert!(
            out.contains(r#""description":"Run it.\n\"Quote\" caf\u00e9 a\/b""#),
            "{out}"
        );
        let v: Value = serde_json::from_str(out).unwrap();
        let tools = v["toolConfig"]["tools"].as_array().unwrap();
        assert_eq!(
            tools[0]["toolSpec"]["description"],
            "Run it.\n\"Quote\" café a/b"
        );
        // Blank ones (spaces, escaped whitespace, a no-break space) and null are left out.
        for t in &tools[1..] {
            assert!(t["toolSpec"].get("description").is_none(), "{t}");
        }
        let bad = with_tools(
            json!([{"type": "function", "function": {"name": "a", "description": 5}}]),
            None,
        );
        let e = to_converse(&serde_json::to_vec(&bad).unwrap()).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, None));
        assert!(
            e.message
                .contains("invalid type: integer `5`, expected a string"),
            "{}",
            e.message
        );
    }

    #[test]
    fn tool_choice_variants() {
        let choice = |c: Value| translate(with_tools(json!([weather()]), Some(c))).0;
        assert_eq!(
            choice(json!("auto"))["toolConfig"]["toolChoice"],
            json!({"auto": {}})
        );
        assert_eq!(
            choice(json!("required"))["toolConfig"]["toolChoice"],
            json!({"any": {}})
        );
        assert_eq!(
            choice(json!({"type": "function", "function": {"name": "get_weather"}}))["toolConfig"]
                ["toolChoice"],
            json!({"tool": {"name": "get_weather"}})
        );
        // "none" without tool history: no toolConfig at all.
        assert!(choice(json!("none")).get("toolConfig").is_none());
        // "none" with tool history: the tools are still sent (Bedrock requires them), no choice.
        let mut req = history(json!([weather()]));
        req["tool_choice"] = json!("none");
        let (out, _) = translate(req);
        assert_eq!(
            out["toolConfig"]["tools"][0]["toolSpec"]["name"],
            "get_weather"
        );
        assert!(out["toolConfig"].get("toolChoice").is_none());
    }

    #[test]
    fn tool_choice_errors() {
        assert_eq!(
            err_param(with_tools(json!([]), Some(json!("required")))).as_deref(),
            Some("tool_choice")
        );
        assert_eq!(
            err_param(with_tools(
                json!([weather()]),
                Some(json!({"type": "function", "function": {"name": "nope"}}))
            ))
            .as_deref(),
            Some("tool_choice.function.name")
        );
        assert_eq!(
            err_param(with_tools(json!([{"type": "web_search"}]), None)).as_deref(),
            Some("tools[0].type")
        );
        assert_eq!(
            err_param(with_tools(json!([{"type": "function"}]), None)).as_deref(),
            Some("tools[0].function")
        );
        assert_eq!(
            err_param(with_tools(
                json!([{"type": "function", "function": {}}]),
                None
            ))
            .as_deref(),
            Some("tools[0].function.name")
        );
        assert_eq!(
            err_param(with_tools(json!([weather(), weather()]), None)).as_deref(),
            Some("tools[1].function.name")
        );
        assert_eq!(
            err_param(with_tools(
                json!([{"type": "function", "function": {"name": "f", "parameters": "x"}}]),
                None
            ))
            .as_deref(),
            Some("tools[0].function.parameters")
        );
        assert_eq!(
            err_param(with_tools(json!([{"type": "function", "function": {"name": "f"}, "cache_control": {"type": "forever"}}]), None)).as_deref(),
            Some("tools[0].cache_control.type")
        );
    }

    /// A conversation with one finished tool call of `get_weather`.
    fn history(tools: Value) -> Value {
        json!({"model": "m", "tools": tools, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]})
    }

    #[test]
    fn tool_history_without_tools_gets_a_minimal_tool_config() {
        let mut req = history(json!(null));
        req.as_object_mut().unwrap().remove("tools");
        let (out, _) = translate(req);
        assert_eq!(
            out["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]})
        );
    }

    #[test]
    fn names_outside_bedrocks_pattern_are_mapped_everywhere() {
        let long = format!("mcp__server__{}", "t".repeat(70));
        let req = json!({"model": "m",
            "tools": [{"type": "function", "function": {"name": "files.read"}},
                      {"type": "function", "function": {"name": long}}],
            "tool_choice": {"type": "function", "function": {"name": "files.read"}},
            "messages": [
                {"role": "user", "content": "read"},
                {"role": "assistant", "tool_calls": [{"id": "call 1/a", "type": "function",
                    "function": {"name": "files.read", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call 1/a", "content": "data"}]});
        let (out, names) = translate(req);
        let mapped = format!("files_read_{:08x}", fnv1a(b"files.read"));
        let id = format!("call_1_a_{:08x}", fnv1a(b"call 1/a"));
        assert_eq!(
            out["toolConfig"]["tools"][0]["toolSpec"]["name"],
            mapped.as_str()
        );
        assert_eq!(
            out["toolConfig"]["toolChoice"],
            json!({"tool": {"name": mapped}})
        );
        let long_mapped = out["toolConfig"]["tools"][1]["toolSpec"]["name"]
            .as_str()
            .unwrap();
        assert_eq!(long_mapped.len(), 64);
        assert_eq!(
            out["messages"][1]["content"][0],
            json!({"toolUse": {"toolUseId": id, "name": mapped, "input": {}}})
        );
        assert_eq!(
            out["messages"][2]["content"][0],
            json!({"toolResult": {"toolUseId": id, "content": [{"text": "data"}]}})
        );
        assert_eq!(names.to_client(&mapped), "files.read");
        assert_eq!(names.to_client(long_mapped), long);
    }

    #[test]
    fn schemas_without_a_type_become_object_schemas() {
        let tool = |params: &str| {
            let body = format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],
                "tools":[{{"type":"function","function":{{"name":"f","parameters":{params}}}}}]}}"#
            );
            to_converse(body.as_bytes()).map(|c| {
                let v: Value = serde_json::from_slice(&c.body).unwrap();
                v["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"].clone()
            })
        };
        assert_eq!(
            tool("{}").unwrap(),
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(
            tool("{ }").unwrap(),
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(
            tool(r#"{"properties": {"a": {"type": "string"}}}"#).unwrap(),
            json!({"type": "object", "properties": {"a": {"type": "string"}}})
        );
        let e = tool(r#"{"type": "string"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tools[0].function.parameters"));
        let e = tool(r#"{"type": ["object", "null"]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tools[0].function.parameters"));
        // Neither an array (serde reads structs from arrays too) nor a `null` type, which
        // would have come out as a second `type` member.
        for params in [r#"["object"]"#, r#"{"type": null, "properties": {}}"#, "7"] {
            let e = tool(params).unwrap_err();
            assert_eq!(
                e.param.as_deref(),
                Some("tools[0].function.parameters"),
                "{params}"
            );
        }
    }

    #[test]
    fn cache_control_on_a_tool_adds_a_cache_point_after_it() {
        let mut t = weather();
        t["cache_control"] = json!({"type": "ephemeral", "ttl": "1h"});
        let (out, _) = translate(with_tools(
            json!([t, {"type": "function", "function": {"name": "b"}}]),
            None,
        ));
        let tools = out["toolConfig"]["tools"].as_array().unwrap();
        assert_eq!(
            tools[1],
            json!({"cachePoint": {"type": "default", "ttl": "1h"}})
        );
        assert_eq!(tools[2]["toolSpec"]["name"], "b");
    }
}
