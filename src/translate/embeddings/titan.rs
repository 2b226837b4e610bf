//! Amazon Titan Text Embeddings: G1 (`amazon.titan-embed-text-v1`) and V2
//! (`amazon.titan-embed-text-v2:0`).
//!
//! Titan embeds one `inputText` per InvokeModel call. Decision: a list of more than one input
//! is a 400, not N upstream calls. The filter makes one signed upstream call per client request
//! and answers from its single body; fanning out would add sub-request bookkeeping, partial
//! failures and N× throttling risk to the hot path. Clients that batch can use a Cohere model.

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

/// The InvokeModel body for one Titan call.
pub(super) fn request(v2: bool, embed: &Embed<'_>) -> Result<Vec<u8>, ApiError> {
    let input_text = match embed.texts.as_slice() {
        [one] => *one,
        _ => {
            return Err(ApiError::invalid(
                "input",
                "Titan embeds one input per request; send one string or use a Cohere model for batches",
            ));
        }
    };
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
    let body = TitanRequest {
        input_text,
        dimensions,
        normalize: v2.then_some(true),
    };
    serde_json::to_vec(&body)
        .map_err(|e| ApiError::invalid("input", format!("cannot encode request: {e}")))
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
