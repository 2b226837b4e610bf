//! Amazon Titan Text Embeddings: G1 (`amazon.titan-embed-text-v1`) and V2
//! (`amazon.titan-embed-text-v2:0`).
//!
//! Titan embeds one `inputText` per InvokeModel call, so a batch (`input: [a, b, …]`, as
//! LangChain's `embed_documents`, the Vercel AI SDK's `embedMany` and every RAG indexer send)
//! becomes one body per input: the pipeline sends them as calls of their own and puts the
//! answers back together in order.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::request::{Embed, Truncate};
use super::vector::Vector;
use crate::error::ApiError;

/// The output sizes Titan V2 accepts (1024 is its default).
const V2_DIMENSIONS: [u32; 3] = [256, 512, 1024];

#[derive(Serialize)]
struct TitanRequest<'a> {
    #[serde(rename = "inputText")]
    input_text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    /// V2 only. Always `true`: OpenAI's embeddings are unit length, and clients (cosine via dot
    /// product) rely on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    normalize: Option<bool>,
}

#[derive(Deserialize)]
struct TitanResponse<'a> {
    #[serde(borrow)]
    embedding: &'a RawValue,
    #[serde(rename = "inputTextTokenCount", default)]
    input_text_token_count: Option<u64>,
}

/// The most inputs one request may batch: OpenAI's own limit.
pub const MAX_INPUTS: usize = 2048;

/// The InvokeModel bodies of a request: one Titan call per input.
pub(super) fn requests(v2: bool, embed: &Embed<'_>) -> Result<Vec<Vec<u8>>, ApiError> {
    if embed.texts.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            "input",
            format!("at most {MAX_INPUTS} inputs per request"),
        ));
    }
    // Titan refuses over-long input, which is what `NONE` asks for; it cannot cut input.
    if embed.truncate.is_some_and(|t| t != Truncate::None) {
        return Err(ApiError::invalid(
            "truncate",
            "Titan embedding models cannot truncate input: only `truncate: NONE` is supported",
        ));
    }
    let dimensions = match (v2, embed.dimensions) {
        (_, None) => None,
        (true, Some(d)) if V2_DIMENSIONS.contains(&d) => Some(d),
        (true, Some(d)) => {
            return Err(ApiError::invalid(
                "dimensions",
                format!(
                    "Titan Text Embeddings V2 supports `dimensions` 256, 512 or 1024 (got {d})"
                ),
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::invalid(
                "dimensions",
                "Titan Text Embeddings G1 has a fixed size (1536): `dimensions` is not supported",
            ));
        }
    };
    // `input_type` is accepted and ignored: Titan embeds queries and documents alike.
    embed
        .texts
        .iter()
        .map(|input_text| {
            let body = TitanRequest {
                input_text,
                dimensions,
                normalize: v2.then_some(true),
            };
            serde_json::to_vec(&body)
                .map_err(|e| ApiError::invalid("input", format!("cannot encode request: {e}")))
        })
        .collect()
}

/// The vector and Titan's own token count from an InvokeModel answer.
pub(super) fn response(body: &[u8]) -> Result<(Vector<'_>, Option<u64>), ApiError> {
    let resp: TitanResponse = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_upstream(format!(
            "Bedrock returned an unreadable Titan embeddings response: {e}"
        ))
    })?;
    Ok((
        Vector::from_raw(resp.embedding)?,
        resp.input_text_token_count,
    ))
}
