//! InvokeModel bodies: Anthropic Messages, Titan text embeddings, Cohere embeddings.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::converse::parse_json_body;
use crate::errors::AwsError;
use crate::model_id::ModelInfo;
use crate::reply::Prompt;
use crate::rules;
use crate::util::{splitmix64, uuid_v4, word_count};

fn object(body: &[u8]) -> Result<Map<String, Value>, AwsError> {
    match parse_json_body(body)? {
        Value::Object(m) => Ok(m),
        _ => Err(AwsError::malformed("#: expected type: JSONObject")),
    }
}

fn required(m: &Map<String, Value>, keys: &[&str]) -> Result<(), AwsError> {
    let missing: Vec<String> = keys
        .iter()
        .filter(|k| !m.contains_key(**k))
        .map(|k| format!("#: required key [{k}] not found"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(AwsError::malformed(missing.join("")))
    }
}

fn only(m: &Map<String, Value>, allowed: &[&str]) -> Result<(), AwsError> {
    let extra: Vec<String> = m
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("#: extraneous key [{k}] is not permitted"))
        .collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(AwsError::malformed(extra.join("")))
    }
}

/// Text of an Anthropic `content` (a string, or blocks of which the text ones count).
fn anthropic_text(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) => vec![s.clone()],
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b.get("text").and_then(Value::as_str).map(str::to_owned),
                Some("tool_result") => match b.get("content") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(c @ Value::Array(_)) => Some(anthropic_text(c).join(" ")),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `YYYY-MM-DD`.
fn is_dated_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// Checks an Anthropic Messages body the way Bedrock does (`anthropic_version`,
/// `max_tokens`, `messages` required; `model` and `stream` are not permitted), then the
/// model family rules of [`crate::rules`] (thinking, betas...), and extracts the prompt.
pub fn anthropic_prompt_for(info: &ModelInfo, body: &[u8]) -> Result<Prompt, AwsError> {
    let m = object(body)?;
    let prompt = anthropic_checks(&m)?;
    rules::check_anthropic_body(info, &m)?;
    Ok(prompt)
}

/// The model-independent checks of [`anthropic_prompt_for`].
#[cfg(test)]
pub fn anthropic_prompt(body: &[u8]) -> Result<Prompt, AwsError> {
    anthropic_checks(&object(body)?)
}

fn anthropic_checks(m: &Map<String, Value>) -> Result<Prompt, AwsError> {
    // Bedrock takes the model from the path and the streaming mode from the operation.
    let forbidden: Vec<String> = ["model", "stream"]
        .iter()
        .filter(|k| m.contains_key(**k))
        .map(|k| format!("#: extraneous key [{k}] is not permitted"))
        .collect();
    if !forbidden.is_empty() {
        return Err(AwsError::malformed(forbidden.join("")));
    }
    required(m, &["anthropic_version", "max_tokens", "messages"])?;
    match m.get("anthropic_version").and_then(Value::as_str) {
        // The Anthropic SDKs' Bedrock clients send either the Bedrock version or their dated
        // API version (anthropic 2.x sends e.g. "2026-10-21"), and Bedrock accepts both.
        Some(v) if v == "bedrock-2023-05-31" || is_dated_version(v) => {}
        Some(other) => {
            return Err(AwsError::malformed(format!(
                "#/anthropic_version: {other} is not a valid enum value"
            )));
        }
        None => {
            return Err(AwsError::malformed(
                "#/anthropic_version: expected type: String",
            ));
        }
    }
    let max_tokens = match m.get("max_tokens").and_then(Value::as_u64) {
        Some(n) if n >= 1 => n,
        _ => {
            return Err(AwsError::malformed(
                "#/max_tokens: expected an integer of at least 1",
            ));
        }
    };
    for key in ["temperature", "top_p"] {
        if let Some(v) = m.get(key) {
            match v.as_f64() {
                Some(x) if (0.0..=1.0).contains(&x) => {}
                Some(x) => {
                    return Err(AwsError::malformed(format!(
                        "#/{key}: {x} is not in the range 0..1"
                    )));
                }
                None => {
                    return Err(AwsError::malformed(format!(
                        "#/{key}: expected type: Number"
                    )));
                }
            }
        }
    }
    let messages = match m.get("messages") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            return Err(AwsError::malformed(
                "#/messages: expected minimum item count: 1, found: 0",
            ));
        }
        _ => {
            return Err(AwsError::malformed("#/messages: expected type: JSONArray"));
        }
    };
    let mut input_words = m
        .get("system")
        .map(|s| anthropic_text(s).iter().map(|t| word_count(t)).sum::<u64>())
        .unwrap_or(0);
    let mut last_user_text = String::new();
    for (i, msg) in messages.iter().enumerate() {
        let role = msg.get("role").and_then(Value::as_str);
        if !matches!(role, Some("user" | "assistant")) {
            return Err(AwsError::malformed(format!(
                "#/messages/{i}/role: expected user or assistant"
            )));
        }
        let Some(content) = msg.get("content").filter(|c| c.is_string() || c.is_array()) else {
            return Err(AwsError::malformed(format!(
                "#/messages/{i}/content: expected type: String or JSONArray"
            )));
        };
        let texts = anthropic_text(content);
        input_words += texts.iter().map(|t| word_count(t)).sum::<u64>();
        if role == Some("user") {
            last_user_text = texts.join(" ");
        }
    }
    let stop_sequences = m
        .get("stop_sequences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Prompt {
        input_words,
        last_user_text,
        max_tokens: Some(max_tokens),
        stop_sequences,
        response_field_paths: Vec::new(),
    })
}

/// A deterministic vector of `dims` values in -1..1 derived from the text.
fn pseudo_embedding(text: &str, dims: usize, normalize: bool) -> Vec<f64> {
    let digest = Sha256::digest(text.as_bytes());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    let seed = u64::from_le_bytes(seed);
    let mut v: Vec<f64> = (0..dims as u64)
        .map(|i| {
            let x = splitmix64(seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
            (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    if normalize {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            for x in &mut v {
                *x /= norm;
            }
        }
    }
    // Six decimals, like float32 values printed by the real service.
    v.iter().map(|x| (x * 1e6).round() / 1e6).collect()
}

/// An embedding answer and its input token count.
#[derive(Debug)]
pub struct Embedding {
    pub body: Value,
    pub input_tokens: u64,
}

/// `amazon.titan-embed-text-v1` / `-v2:0`: `{"inputText", "dimensions"?, "normalize"?}`.
pub fn titan_embed(body: &[u8], v2: bool) -> Result<Embedding, AwsError> {
    let m = object(body)?;
    if v2 {
        only(
            &m,
            &["inputText", "dimensions", "normalize", "embeddingTypes"],
        )?;
    } else {
        only(&m, &["inputText"])?;
    }
    required(&m, &["inputText"])?;
    let text = match m.get("inputText") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return Err(AwsError::malformed(
                "#/inputText: expected minLength: 1, actual: 0",
            ));
        }
        _ => {
            return Err(AwsError::malformed("#/inputText: expected type: String"));
        }
    };
    let dims = match m.get("dimensions") {
        None => {
            if v2 {
                1024
            } else {
                1536
            }
        }
        Some(d) => match d.as_u64() {
            Some(n @ (256 | 512 | 1024)) => n as usize,
            _ => {
                return Err(AwsError::malformed(format!(
                    "#/dimensions: {d} is not a valid enum value"
                )));
            }
        },
    };
    let normalize = match m.get("normalize") {
        None => v2,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(AwsError::malformed("#/normalize: expected type: Boolean"));
        }
    };
    let tokens = word_count(&text);
    let embedding = pseudo_embedding(&text, dims, normalize);
    let mut out = json!({ "embedding": embedding, "inputTextTokenCount": tokens });
    if v2 && let Some(o) = out.as_object_mut() {
        o.insert("embeddingsByType".into(), json!({ "float": embedding }));
    }
    Ok(Embedding {
        body: out,
        input_tokens: tokens,
    })
}

/// `cohere.embed-*`: `{"texts": [...], "input_type": ..., "truncate"?, "embedding_types"?}`.
pub fn cohere_embed(body: &[u8], base_model: &str) -> Result<Embedding, AwsError> {
    let m = object(body)?;
    only(
        &m,
        &[
            "texts",
            "input_type",
            "truncate",
            "embedding_types",
            "images",
            "output_dimension",
            "max_tokens",
            "inputs",
        ],
    )?;
    required(&m, &["texts", "input_type"])?;
    let texts: Vec<String> = match m.get("texts") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= 96 => {
            let mut out = Vec::new();
            for (i, t) in a.iter().enumerate() {
                match t.as_str() {
                    Some(s) => out.push(s.to_owned()),
                    None => {
                        return Err(AwsError::malformed(format!(
                            "#/texts/{i}: expected type: String"
                        )));
                    }
                }
            }
            out
        }
        Some(Value::Array(a)) => {
            return Err(AwsError::malformed(format!(
                "#/texts: expected between 1 and 96 items, found: {}",
                a.len()
            )));
        }
        _ => return Err(AwsError::malformed("#/texts: expected type: JSONArray")),
    };
    let input_type = m.get("input_type").and_then(Value::as_str).unwrap_or("");
    if ![
        "search_document",
        "search_query",
        "classification",
        "clustering",
    ]
    .contains(&input_type)
    {
        return Err(AwsError::malformed(format!(
            "#/input_type: {input_type} is not a valid enum value"
        )));
    }
    if let Some(t) = m.get("truncate")
        && !matches!(t.as_str(), Some("NONE" | "START" | "END"))
    {
        return Err(AwsError::malformed(format!(
            "#/truncate: {t} is not a valid enum value"
        )));
    }
    let dims = if base_model.contains("embed-v4") {
        1536
    } else {
        1024
    };
    let floats: Vec<Vec<f64>> = texts
        .iter()
        .map(|t| pseudo_embedding(t, dims, true))
        .collect();
    let tokens = texts.iter().map(|t| word_count(t)).sum();
    let mut out = json!({ "id": uuid_v4(), "texts": texts });
    let obj = out
        .as_object_mut()
        .ok_or_else(|| AwsError::malformed("#"))?;
    match m.get("embedding_types") {
        None => {
            obj.insert("embeddings".into(), json!(floats));
            obj.insert("response_type".into(), json!("embeddings_floats"));
        }
        Some(Value::Array(types)) => {
            let mut by_type = Map::new();
            for t in types {
                let name = t.as_str().unwrap_or("");
                let v = match name {
                    "float" => json!(floats),
                    "int8" => json!(quantize(&floats, -128.0, 127.0)),
                    "uint8" => json!(quantize(&floats, 0.0, 255.0)),
                    "binary" | "ubinary" => json!(binarize(&floats, name == "binary")),
                    _ => {
                        return Err(AwsError::malformed(format!(
                            "#/embedding_types: {t} is not a valid enum value"
                        )));
                    }
                };
                by_type.insert(name.to_owned(), v);
            }
            obj.insert("embeddings".into(), Value::Object(by_type));
            obj.insert("response_type".into(), json!("embeddings_by_type"));
        }
        Some(_) => {
            return Err(AwsError::malformed(
                "#/embedding_types: expected type: JSONArray",
            ));
        }
    }
    Ok(Embedding {
        body: out,
        input_tokens: tokens,
    })
}

fn quantize(v: &[Vec<f64>], lo: f64, hi: f64) -> Vec<Vec<i64>> {
    v.iter()
        .map(|row| {
            row.iter()
                .map(|x| (lo + (x + 1.0) / 2.0 * (hi - lo)).round() as i64)
                .collect()
        })
        .collect()
}

fn binarize(v: &[Vec<f64>], signed: bool) -> Vec<Vec<i64>> {
    v.iter()
        .map(|row| {
            row.chunks(8)
                .map(|c| {
                    let byte = c.iter().fold(0u8, |acc, x| (acc << 1) | u8::from(*x > 0.0));
                    if signed {
                        i64::from(byte as i8)
                    } else {
                        i64::from(byte)
                    }
                })
                .collect()
        })
        .collect()
}

/// A Bedrock-style message ID for the Anthropic answers: `msg_bdrk_` + 24 characters.
pub fn anthropic_message_id() -> String {
    format!("msg_bdrk_{}", crate::util::random_alnum(24))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anth(v: Value) -> Result<Prompt, String> {
        anthropic_prompt(v.to_string().as_bytes()).map_err(|e| e.message)
    }

    #[test]
    fn anthropic_requires_version_and_max_tokens() {
        let m = anth(json!({"messages": [{"role": "user", "content": "hi"}]})).unwrap_err();
        assert!(
            m.contains("required key [anthropic_version] not found"),
            "{m}"
        );
        assert!(m.contains("required key [max_tokens] not found"), "{m}");
        let p = anth(json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
            "system": "be nice", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi you"}]}]}))
        .unwrap();
        assert_eq!((p.input_words, p.last_user_text.as_str()), (4, "hi you"));
    }

    #[test]
    fn anthropic_rejects_model_and_stream() {
        let m = anth(
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "stream": true,
            "model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap_err();
        assert!(m.contains("extraneous key [model] is not permitted"), "{m}");
        assert!(
            m.contains("extraneous key [stream] is not permitted"),
            "{m}"
        );
    }

    #[test]
    fn titan_takes_one_input_text() {
        let e = titan_embed(br#"{"inputText": ["a", "b"]}"#, true).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("#/inputText: expected type: String"),
            "{}",
            e.message
        );
        assert!(titan_embed(br#"{"inputText": ["a"]}"#, false).is_err());
    }

    #[test]
    fn titan_embeddings() {
        let e = titan_embed(br#"{"inputText": "hello world", "dimensions": 256}"#, true).unwrap();
        assert_eq!(e.body["embedding"].as_array().unwrap().len(), 256);
        assert_eq!(e.body["inputTextTokenCount"], 2);
        let again =
            titan_embed(br#"{"inputText": "hello world", "dimensions": 256}"#, true).unwrap();
        assert_eq!(e.body["embedding"], again.body["embedding"]);
        assert!(titan_embed(br#"{"inputText": "x", "dimensions": 100}"#, true).is_err());
        assert!(titan_embed(br#"{"text": "x"}"#, true).is_err());
        let v1 = titan_embed(br#"{"inputText": "x"}"#, false).unwrap();
        assert_eq!(v1.body["embedding"].as_array().unwrap().len(), 1536);
    }

    #[test]
    fn cohere_embeddings() {
        let e = cohere_embed(
            br#"{"texts": ["a b", "c"], "input_type": "search_query"}"#,
            "cohere.embed-english-v3",
        )
        .unwrap();
        assert_eq!(e.body["response_type"], "embeddings_floats");
        assert_eq!(e.body["embeddings"].as_array().unwrap().len(), 2);
        assert_eq!(e.input_tokens, 3);
        let m = cohere_embed(br#"{"texts": ["a"]}"#, "cohere.embed-english-v3").unwrap_err();
        assert!(m.message.contains("required key [input_type] not found"));
    }
}
