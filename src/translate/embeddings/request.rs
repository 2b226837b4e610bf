//! The OpenAI embeddings request: parsing and the checks every family shares.
//!
//! Family-specific limits (how many inputs, which `dimensions`) live in the family modules.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::bedrock::path::MAX_MODEL_ID_LEN;
use crate::error::ApiError;

/// `POST /v1/embeddings` as sent. Every field is optional at the serde level so validation
/// can name the parameter; `user` and anything unknown are ignored.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EmbeddingsRequest<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<Input<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    encoding_format: Option<Cow<'a, str>>,
    #[serde(default)]
    dimensions: Option<i64>,
    /// Extension (Cohere): `search_document` | `search_query` | `classification` | `clustering`.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    input_type: Option<Cow<'a, str>>,
    /// Extension (Cohere): `NONE` | `START` | `END`.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    truncate: Option<Cow<'a, str>>,
}

/// `input`: one string or a list. Token-id inputs are recognised only to be refused clearly.
#[derive(Debug)]
enum Input<'a> {
    One(Cow<'a, str>),
    Many(Vec<Item<'a>>),
    /// A number, object or boolean.
    Invalid,
}

#[derive(Debug)]
enum Item<'a> {
    Text(Cow<'a, str>),
    /// A token id (number) or a list of token ids.
    Tokens,
    Invalid,
}

/// How the client wants each vector: JSON numbers, or base64 of little-endian f32s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodingFormat {
    Float,
    Base64,
}

/// Cohere's `input_type` values for text.
pub const COHERE_INPUT_TYPES: [&str; 4] = [
    "search_document",
    "search_query",
    "classification",
    "clustering",
];

/// What to do with an input longer than the model's context (Cohere's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Truncate {
    None,
    Start,
    End,
}

/// A request that passed the shared checks.
#[derive(Debug)]
pub(super) struct Embed<'a> {
    pub model: &'a str,
    pub texts: Vec<&'a str>,
    /// `input` was a list: errors about one input name `input[i]`, not `input`.
    pub listed: bool,
    pub encoding: EncodingFormat,
    pub dimensions: Option<u32>,
    pub input_type: Option<&'a str>,
    pub truncate: Option<Truncate>,
}

impl Embed<'_> {
    /// The `param` naming input `i`.
    pub fn input_param(&self, i: usize) -> String {
        if self.listed {
            format!("input[{i}]")
        } else {
            "input".to_string()
        }
    }
}

pub(super) fn parse(body: &[u8]) -> Result<EmbeddingsRequest<'_>, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    })
}

impl<'a> EmbeddingsRequest<'a> {
    pub fn validate(&'a self) -> Result<Embed<'a>, ApiError> {
        let model = match self.model.as_deref().map(str::trim) {
            None => {
                return Err(ApiError::invalid(
                    "model",
                    "you must provide a `model` parameter",
                ));
            }
            Some("") => return Err(ApiError::invalid("model", "`model` must not be empty")),
            Some(m) if m.len() > MAX_MODEL_ID_LEN => {
                return Err(ApiError::invalid("model", "`model` is too long"));
            }
            Some(m) => m,
        };
        let (texts, listed) = texts(self.input.as_ref())?;
        let encoding = match self.encoding_format.as_deref() {
            None | Some("float") => EncodingFormat::Float,
            Some("base64") => EncodingFormat::Base64,
            Some(other) => {
                return Err(ApiError::invalid(
                    "encoding_format",
                    format!("`encoding_format` must be `float` or `base64` (got `{other}`)"),
                ));
            }
        };
        let dimensions = match self.dimensions {
            None => None,
            Some(d) => Some(u32::try_from(d).ok().filter(|&d| d > 0).ok_or_else(|| {
                ApiError::invalid("dimensions", "`dimensions` must be a positive integer")
            })?),
        };
        let input_type = match self.input_type.as_deref() {
            None => None,
            Some(t) if COHERE_INPUT_TYPES.contains(&t) => Some(t),
            Some(t) => {
                return Err(ApiError::invalid(
                    "input_type",
                    format!(
                        "`input_type` must be one of {} (got `{t}`)",
                        COHERE_INPUT_TYPES.join(", ")
                    ),
                ));
            }
        };
        let truncate = match self.truncate.as_deref() {
            None => None,
            Some("NONE") => Some(Truncate::None),
            Some("START") => Some(Truncate::Start),
            Some("END") => Some(Truncate::End),
            Some(t) => {
                return Err(ApiError::invalid(
                    "truncate",
                    format!("`truncate` must be NONE, START or END (got `{t}`)"),
                ));
            }
        };
        Ok(Embed {
            model,
            texts,
            listed,
            encoding,
            dimensions,
            input_type,
            truncate,
        })
    }
}

/// The input strings and whether they came as a list. Blank-only strings are sent as they are;
/// empty ones are refused, as OpenAI does.
fn texts<'a>(input: Option<&'a Input<'a>>) -> Result<(Vec<&'a str>, bool), ApiError> {
    let items = match input {
        None => {
            return Err(ApiError::invalid(
                "input",
                "you must provide an `input` parameter",
            ));
        }
        Some(Input::Invalid) => {
            return Err(ApiError::invalid(
                "input",
                "`input` must be a string or an array of strings",
            ));
        }
        Some(Input::One(t)) if t.is_empty() => {
            return Err(ApiError::invalid("input", "`input` must not be empty"));
        }
        Some(Input::One(t)) => return Ok((vec![t.as_ref()], false)),
        Some(Input::Many(items)) => items,
    };
    if let Some(Item::Tokens) = items.first() {
        return Err(ApiError::invalid(
            "input",
            "token-id input is not supported by Bedrock embedding models: send text",
        ));
    }
    if items.is_empty() {
        return Err(ApiError::invalid("input", "`input` must not be empty"));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Text(t) if t.is_empty() => {
                return Err(ApiError::invalid(
                    &format!("input[{i}]"),
                    "inputs must not be empty strings",
                ));
            }
            Item::Text(t) => out.push(t.as_ref()),
            Item::Tokens | Item::Invalid => {
                return Err(ApiError::invalid(
                    &format!("input[{i}]"),
                    "each input must be a string",
                ));
            }
        }
    }
    Ok((out, true))
}

impl<'de: 'a, 'a> Deserialize<'de> for Input<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Input<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Input::One(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Input::One(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Input::One(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(128));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Input::Many(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ignore_map(map).map(|()| Input::Invalid)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Input::Invalid)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Input::Invalid)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Input::Invalid)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Input::Invalid)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Item<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Item::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Item::Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Item::Text(Cow::Owned(s)))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Item::Tokens)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Item::Tokens)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Item::Invalid)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Item::Tokens)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ignore_map(map).map(|()| Item::Invalid)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Item::Invalid)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Item::Invalid)
            }
        }
        d.deserialize_any(V)
    }
}

fn ignore_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}
