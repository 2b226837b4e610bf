//! Cohere Embed on Bedrock: v3 (`cohere.embed-english-v3`, `cohere.embed-multilingual-v3`)
//! and v4 (`cohere.embed-v4:0`).
//!
//! Both take a batch of `texts` and an `input_type`. v3 answers `"embeddings": [[…], …]`; v4 is
//! asked for `embedding_types: ["float"]` and answers `"embeddings": {"float": [[…], …]}`.
//! The reader accepts either layout from either version, told apart by the JSON itself.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::request::{Embed, Truncate};
use super::vector::Vector;
use crate::error::ApiError;

/// Texts per call, both versions.
pub const MAX_TEXTS: usize = 96;
/// Characters per text, v3 (v4 is limited by tokens only, which Bedrock checks).
pub const V3_MAX_CHARS: usize = 2048;
/// The output sizes v4 accepts (1536 is its default); v3 has a fixed size.
const V4_DIMENSIONS: [u32; 4] = [256, 512, 1024, 1536];

#[derive(Serialize)]
struct CohereRequest<'a> {
    texts: &'a [&'a str],
    input_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncate: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    embedding_types: Option<[&'static str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_dimension: Option<u32>,
}

#[derive(Deserialize)]
struct CohereResponse<'a> {
    #[serde(borrow)]
    embeddings: &'a RawValue,
}

#[derive(Deserialize)]
struct EmbeddingsByType<'a> {
    #[serde(borrow, default)]
    float: Option<Vec<&'a RawValue>>,
}

/// The InvokeModel body. `input_type` is the request's own if it set one, else the configured
/// default.
pub(super) fn request(
    v4: bool,
    embed: &Embed<'_>,
    default_input_type: &str,
) -> Result<Vec<u8>, ApiError> {
    if embed.texts.len() > MAX_TEXTS {
        return Err(ApiError::invalid(
            "input",
            format!(
                "Cohere Embed takes at most {MAX_TEXTS} inputs per request (got {})",
                embed.texts.len()
            ),
        ));
    }
    if !v4 {
        for (i, text) in embed.texts.iter().enumerate() {
            let chars = text.chars().count();
            if chars > V3_MAX_CHARS {
                return Err(ApiError::invalid(
                    &embed.input_param(i),
                    format!(
                        "Cohere Embed v3 takes at most {V3_MAX_CHARS} characters per input (got {chars})"
                    ),
                ));
            }
        }
    }
    let output_dimension = match (v4, embed.dimensions) {
        (_, None) => None,
        (true, Some(d)) if V4_DIMENSIONS.contains(&d) => Some(d),
        (true, Some(d)) => {
            return Err(ApiError::invalid(
                "dimensions",
                format!("Cohere Embed v4 supports `dimensions` 256, 512, 1024 or 1536 (got {d})"),
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::invalid(
                "dimensions",
                "Cohere Embed v3 has a fixed size (1024): `dimensions` is not supported",
            ));
        }
    };
    // v4 renamed the truncation sides.
    let truncate = embed.truncate.map(|t| match (t, v4) {
        (Truncate::None, _) => "NONE",
        (Truncate::Start, false) => "START",
        (Truncate::End, false) => "END",
        (Truncate::Start, true) => "LEFT",
        (Truncate::End, true) => "RIGHT",
    });
    let body = CohereRequest {
        texts: &embed.texts,
        input_type: embed.input_type.unwrap_or(default_input_type),
        truncate,
        embedding_types: v4.then_some(["float"]),
        output_dimension,
    };
    serde_json::to_vec(&body)
        .map_err(|e| ApiError::invalid("input", format!("cannot encode request: {e}")))
}

/// One vector per input, in input order.
pub(super) fn response(body: &[u8], inputs: usize) -> Result<Vec<Vector<'_>>, ApiError> {
    let unreadable = |e: serde_json::Error| {
        ApiError::bad_upstream(format!(
            "Bedrock returned an unreadable Cohere embeddings response: {e}"
        ))
    };
    let resp: CohereResponse = serde_json::from_slice(body).map_err(unreadable)?;
    let raw = resp.embeddings.get();
    let list: Vec<&RawValue> = if raw.starts_with('{') {
        serde_json::from_str::<EmbeddingsByType>(raw)
            .map_err(unreadable)?
            .float
            .ok_or_else(|| {
                ApiError::bad_upstream("Bedrock returned Cohere embeddings without `float` vectors")
            })?
    } else {
        serde_json::from_str(raw).map_err(unreadable)?
    };
    if list.len() != inputs {
        return Err(ApiError::bad_upstream(format!(
            "Bedrock returned {} Cohere embeddings for {inputs} inputs",
            list.len()
        )));
    }
    list.into_iter().map(Vector::from_raw).collect()
}
