//! OpenAI Chat Completions wire types.
//!
//! Requests are parsed into structs that borrow from the body (`Cow<str>` stays borrowed unless
//! the JSON string holds escapes). Every field is optional at the serde level so validation can
//! answer a precise `param` instead of serde's generic message. Unknown fields are ignored here:
//! nothing from the client is forwarded upstream unless a translator writes it on purpose.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::json::JsonText;

pub mod responses;

#[derive(Debug, Default, Deserialize)]
pub struct ChatCompletionRequest<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub messages: Option<Vec<ChatMessage<'a>>>,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(borrow, default)]
    pub stop: Option<Stop<'a>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub n: Option<i64>,
    #[serde(borrow, default)]
    pub tools: Option<Vec<ToolDefinition<'a>>>,
    /// `"auto" | "none" | "required"` or `{"type":"function","function":{"name"}}`; parsed by
    /// the tools translator so that errors can name the parameter.
    #[serde(borrow, default)]
    pub tool_choice: Option<&'a RawValue>,
    /// `false` asks for at most one tool call per answer (Converse has no such switch; the
    /// Anthropic InvokeModel family sends `disable_parallel_tool_use`).
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(borrow, default)]
    pub response_format: Option<ResponseFormat<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub reasoning_effort: Option<Cow<'a, str>>,
    /// Anthropic-style `{"type":"enabled","budget_tokens":N}`, passed to the model as is.
    #[serde(borrow, default)]
    pub thinking: Option<&'a RawValue>,
    #[serde(default)]
    pub top_k: Option<i64>,
    /// Free-form provider fields for Converse `additionalModelRequestFields` (an object).
    #[serde(borrow, default)]
    pub additional_model_request_fields: Option<&'a RawValue>,
    // Accepted only when they ask for nothing Bedrock cannot do.
    #[serde(default)]
    pub logprobs: Option<bool>,
    #[serde(default)]
    pub top_logprobs: Option<i64>,
    #[serde(default)]
    pub logit_bias: Option<std::collections::BTreeMap<String, de::IgnoredAny>>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub audio: Option<de::IgnoredAny>,
    #[serde(borrow, default)]
    pub modalities: Option<Vec<Cow<'a, str>>>,
    #[serde(default)]
    pub prediction: Option<de::IgnoredAny>,
    #[serde(default)]
    pub web_search_options: Option<de::IgnoredAny>,
    #[serde(default)]
    pub functions: Option<de::IgnoredAny>,
    #[serde(default)]
    pub function_call: Option<de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct ResponseFormat<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default)]
    pub json_schema: Option<JsonSchemaFormat<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct JsonSchemaFormat<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub schema: Option<&'a RawValue>,
}

/// `cache_control: {"type": "ephemeral", "ttl"?: "5m" | "1h"}` (Anthropic's prompt caching marker).
#[derive(Debug, Deserialize)]
pub struct CacheControl<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub ttl: Option<Cow<'a, str>>,
}

/// One entry of `tools`.
#[derive(Debug, Deserialize)]
pub struct ToolDefinition<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function: Option<FunctionDefinition<'a>>,
    #[serde(borrow, default)]
    pub cache_control: Option<CacheControl<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionDefinition<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub name: Option<Cow<'a, str>>,
    /// Kept as the client's literal and copied out verbatim (agents' descriptions run to KBs).
    #[serde(borrow, default)]
    pub description: Option<JsonText<'a>>,
    /// The JSON schema of the arguments, passed through untouched.
    #[serde(borrow, default)]
    pub parameters: Option<&'a RawValue>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub role: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "literal_content")]
    pub content: Option<MessageContent<'a>>,
    #[serde(borrow, default)]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub tool_call_id: Option<Cow<'a, str>>,
    /// An assistant's refusal, replayed in history as the API returned it (`content: null`).
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub cache_control: Option<CacheControl<'a>>,
    /// Reasoning a model returned earlier, replayed in assistant history.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub reasoning_signature: Option<Cow<'a, str>>,
    /// Base64 encrypted reasoning (Bedrock `redactedContent`).
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub redacted_content: Option<Cow<'a, str>>,
    /// LiteLLM's form of the same: `[{"type":"thinking","thinking","signature"} |
    /// {"type":"redacted_thinking","data"}]`.
    #[serde(borrow, default)]
    pub thinking_blocks: Option<Vec<ThinkingBlock<'a>>>,
}

#[derive(Debug, Deserialize)]
pub struct ThinkingBlock<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub signature: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub data: Option<Cow<'a, str>>,
}

/// An assistant's `tool_calls[]` entry in history.
#[derive(Debug, Deserialize)]
pub struct ToolCall<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub id: Option<Cow<'a, str>>,
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function: Option<FunctionCall<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionCall<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub name: Option<Cow<'a, str>>,
    /// A JSON text, as a string.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub arguments: Option<Cow<'a, str>>,
}

/// `content` is either a plain string or an array of typed parts.
pub type MessageContent<'a> = TextOr<'a, ContentPart<'a>>;

/// One content part. Only the fields of its `type` are meaningful; validation checks them.
#[derive(Debug, Deserialize)]
pub struct ContentPart<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub text: Option<JsonText<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub image_url: Option<ImageUrl<'a>>,
    #[serde(borrow, default)]
    pub file: Option<FilePart<'a>>,
    #[serde(borrow, default)]
    pub cache_control: Option<CacheControl<'a>>,
}

/// `image_url`: `{"url": …, "detail"?: …}`, or the URL alone as some clients send it.
#[derive(Debug, Default)]
pub struct ImageUrl<'a> {
    pub url: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for ImageUrl<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Object<'b> {
            #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
            url: Option<Cow<'b, str>>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ImageUrl<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object with `url`, or a URL string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(ImageUrl {
                    url: Some(Cow::Borrowed(s)),
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(ImageUrl {
                    url: Some(Cow::Owned(s.to_owned())),
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let o = Object::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ImageUrl { url: o.url })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
pub struct FilePart<'a> {
    /// A `data:<mime>;base64,…` URL.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub file_data: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub filename: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub file_id: Option<Cow<'a, str>>,
}

/// `stop`: a string or a list of strings.
pub type Stop<'a> = TextOr<'a, Cow<'a, str>>;

/// What a [`TextOr`]'s list holds, as its parse errors name it.
pub trait ListOf {
    const ITEMS: &'static str;
}

impl ListOf for ContentPart<'_> {
    const ITEMS: &'static str = "content parts";
}

impl ListOf for Cow<'_, str> {
    const ITEMS: &'static str = "strings";
}

/// A plain string, or a list of `T` (a message's `content`, `stop`, the Responses API's `input` and a tool call's `output`).
#[derive(Debug)]
pub enum TextOr<'a, T> {
    Text(JsonText<'a>),
    List(Vec<T>),
}

impl<'de: 'a, 'a, T: Deserialize<'de> + ListOf> Deserialize<'de> for TextOr<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a, T>(PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de> + ListOf> Visitor<'de> for V<'a, T> {
            type Value = TextOr<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a string or an array of {}", T::ITEMS)
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(TextOr::Text(s.into()))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(TextOr::Text(s.to_owned().into()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(TextOr::Text(s.into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(64));
                while let Some(x) = seq.next_element()? {
                    all.push(x);
                }
                Ok(TextOr::List(all))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A message's `content` with a plain string kept as its literal ([`JsonText`]), so the
/// prompt is copied to Bedrock as the client wrote it. A list is read from its raw span: a
/// second scan of the parts, still cheaper than unescaping and escaping them again.
pub(crate) fn literal_content<'de, D, T>(d: D) -> Result<Option<TextOr<'de, T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + ListOf,
{
    let Some(raw) = Option::<&'de RawValue>::deserialize(d)? else {
        return Ok(None);
    };
    match raw.get().as_bytes().first() {
        Some(b'"') => Ok(Some(TextOr::Text(JsonText::Literal(raw)))),
        Some(b'[') => serde_json::from_str(raw.get())
            .map(|list| Some(TextOr::List(list)))
            .map_err(de::Error::custom),
        _ => Err(de::Error::invalid_type(
            crate::json::unexpected(raw),
            &format!("a string or an array of {}", T::ITEMS).as_str(),
        )),
    }
}

/// `chat.completion` response object.
#[derive(Debug, Serialize)]
pub struct ChatCompletion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: [Choice<'a>; 1],
    pub usage: CompletionUsage,
}

#[derive(Debug, Serialize)]
pub struct Choice<'a> {
    pub index: u32,
    pub message: AssistantMessage<'a>,
    pub finish_reason: &'static str,
    pub logprobs: Option<()>,
}

#[derive(Debug, Serialize)]
pub struct AssistantMessage<'a> {
    pub role: &'static str,
    /// `null` when the answer is only tool calls, as OpenAI does.
    pub content: Option<Cow<'a, str>>,
    pub refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// The signature to send back with `reasoning_content` in the next turn's history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_signature: Option<Cow<'a, str>>,
    /// Every reasoning block as the model returned it (LiteLLM's field), so that clients can
    /// replay several blocks, or redacted ones, exactly.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thinking_blocks: Vec<ThinkingBlockOut<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingBlockOut<'a> {
    Thinking {
        thinking: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<Cow<'a, str>>,
    },
    RedactedThinking {
        data: Cow<'a, str>,
    },
}

#[derive(Debug, Serialize)]
pub struct ToolCallOut<'a> {
    pub id: Cow<'a, str>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCallOut<'a>,
}

#[derive(Debug, Serialize)]
pub struct FunctionCallOut<'a> {
    pub name: Cow<'a, str>,
    pub arguments: Cow<'a, str>,
}

/// `usage` (OpenAI's `CompletionUsage`). `prompt_tokens` counts every input token, cached or
/// not, as OpenAI does.
#[derive(Debug, Default, Serialize, PartialEq, Eq, Clone, Copy)]
pub struct CompletionUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

/// Present when Bedrock reported prompt-cache activity.
#[derive(Debug, Default, Serialize, PartialEq, Eq, Clone, Copy)]
pub struct PromptTokensDetails {
    /// Read from the prompt cache (OpenAI's name).
    pub cached_tokens: u64,
    /// Written to the prompt cache (no OpenAI equivalent; LiteLLM's name).
    pub cache_creation_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_kept_as_its_literal() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi\n\"there\""}]}"#;
        let req: ChatCompletionRequest = serde_json::from_slice(body).unwrap();
        let msgs = req.messages.unwrap();
        match &msgs[0].content {
            Some(TextOr::Text(t @ JsonText::Literal(raw))) => {
                assert_eq!(raw.get(), r#""hi\n\"there\"""#);
                assert_eq!(t.text(), "hi\n\"there\"");
            }
            other => panic!("expected the literal, got {other:?}"),
        }
    }

    #[test]
    fn content_parts_and_escapes() {
        let body = br#"{"messages":[{"role":"user","content":[{"type":"text","text":"a\nb"}]}],
            "stop":["x","y"]}"#;
        let req: ChatCompletionRequest = serde_json::from_slice(body).unwrap();
        let msgs = req.messages.unwrap();
        let Some(TextOr::List(parts)) = &msgs[0].content else {
            panic!("parts expected")
        };
        assert_eq!(parts[0].text.as_ref().unwrap().text(), "a\nb");
        assert!(matches!(req.stop, Some(TextOr::List(ref v)) if v.len() == 2));
    }

    #[test]
    fn content_of_wrong_type_is_an_error() {
        for (content, says) in [
            (
                "5",
                "invalid type: integer `5`, expected a string or an array of content parts",
            ),
            (
                "{}",
                "invalid type: map, expected a string or an array of content parts",
            ),
            (
                "[5]",
                "invalid type: integer `5`, expected struct ContentPart",
            ),
            (
                r#"[{"type":"text","text":1}]"#,
                "invalid type: integer `1`, expected a string",
            ),
        ] {
            let body = format!(r#"{{"messages":[{{"role":"user","content":{content}}}]}}"#);
            let err = serde_json::from_str::<ChatCompletionRequest>(&body).unwrap_err();
            assert!(err.to_string().starts_with(says), "{content}: {err}");
        }
        let null = br#"{"messages":[{"role":"user","content":null}]}"#;
        let req = serde_json::from_slice::<ChatCompletionRequest>(null).unwrap();
        assert!(req.messages.unwrap()[0].content.is_none());
    }
}
