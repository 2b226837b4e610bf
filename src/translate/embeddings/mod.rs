//! `POST /v1/embeddings` → Bedrock `InvokeModel` for Amazon Titan Text Embeddings and Cohere
//! Embed, and the answer back in OpenAI's format.
//!
//! [`to_invoke`] checks and translates the request and returns an [`EmbeddingsPlan`];
//! [`from_invoke`] uses the plan to translate the model's answer. Each model family is one
//! module with a `request` and a `response` function; adding a family means adding a module and
//! a [`Family`] variant.
//!
//! Extensions to OpenAI's request, for Cohere: `input_type` (`search_document`, `search_query`,
//! `classification`, `clustering`; default from [`EmbeddingsOptions`]) and `truncate`
//! (`NONE`, `START`, `END`; default: not sent, so Bedrock refuses over-long input as OpenAI
//! does). On Titan, `input_type` is ignored and `truncate` may only be `NONE`.

mod cohere;
mod request;
mod titan;
mod vector;

#[cfg(test)]
mod tests;

pub use request::{COHERE_INPUT_TYPES, EncodingFormat};

use crate::bedrock::model_id::foundation_model;
use crate::bedrock::path::{Operation, model_path};
use crate::error::ApiError;

/// `Content-Type` and `Accept` of the InvokeModel call: every family here speaks JSON.
pub const CONTENT_TYPE: &str = "application/json";

/// The native request/response shape of an embedding model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Titan Text Embeddings G1 (`amazon.titan-embed-text-v1`): 1536 dimensions, fixed.
    TitanV1,
    /// Titan Text Embeddings V2 (`amazon.titan-embed-text-v2:0`): 256, 512 or 1024 dimensions.
    TitanV2,
    /// Cohere Embed English / Multilingual v3: batches of up to 96 texts, 1024 dimensions.
    CohereV3,
    /// Cohere Embed v4 (`cohere.embed-v4:0`): batches of up to 96 texts, 256 to 1536 dimensions.
    CohereV4,
}

impl Family {
    /// The family of the model named by a model ID, inference profile ID or ARN containing one.
    /// `None` for unknown models and for ARNs that hide the model (application inference
    /// profiles, provisioned throughput): those need a configured family.
    pub fn from_model_id(id: &str) -> Option<Family> {
        let model = foundation_model(id)?;
        let name = model.split(':').next().unwrap_or(model);
        match name {
            "amazon.titan-embed-text-v1" | "amazon.titan-embed-g1-text-02" => Some(Family::TitanV1),
            "amazon.titan-embed-text-v2" => Some(Family::TitanV2),
            "cohere.embed-english-v3" | "cohere.embed-multilingual-v3" => Some(Family::CohereV3),
            "cohere.embed-v4" => Some(Family::CohereV4),
            _ => None,
        }
    }

    /// The name used in configuration: `titan-v1`, `titan-v2`, `cohere-v3`, `cohere-v4`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::TitanV1 => "titan-v1",
            Family::TitanV2 => "titan-v2",
            Family::CohereV3 => "cohere-v3",
            Family::CohereV4 => "cohere-v4",
        }
    }

    /// The inverse of [`Family::as_str`].
    pub fn from_name(name: &str) -> Option<Family> {
        [
            Family::TitanV1,
            Family::TitanV2,
            Family::CohereV3,
            Family::CohereV4,
        ]
        .into_iter()
        .find(|f| f.as_str() == name)
    }
}

/// Per-deployment settings for embeddings (from the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingsOptions {
    /// Cohere `input_type` when the request has none. Default `search_document`. The
    /// configuration should check it against [`COHERE_INPUT_TYPES`].
    pub cohere_input_type: String,
    /// The family of the model, for IDs that do not reveal it (application inference profile
    /// ARNs). `None`: detect it from the model ID.
    pub family_override: Option<Family>,
}

/// Maps the client's `model` to the Bedrock ID to call (an alias's ID, or the name itself);
/// the family is detected from the result. An `Err` (e.g. a model not allowed) is answered.
pub type ResolveModel<'r> = &'r dyn Fn(&str) -> Result<String, ApiError>;

/// The client's `model` is the Bedrock ID.
pub fn model_as_given(model: &str) -> Result<String, ApiError> {
    Ok(model.to_string())
}

impl Default for EmbeddingsOptions {
    fn default() -> Self {
        EmbeddingsOptions {
            cohere_input_type: "search_document".to_string(),
            family_override: None,
        }
    }
}

/// What the translation produced.
#[derive(Debug)]
pub struct EmbeddingsCall {
    /// The model as the client named it (echoed back in the answer).
    pub client_model: String,
    /// The Bedrock model ID, inference profile ID or ARN to put in the path.
    pub model_id: String,
    /// The InvokeModel body (`Content-Type: application/json`).
    pub body: Vec<u8>,
    pub plan: EmbeddingsPlan,
}

impl EmbeddingsCall {
    /// `/model/{modelId}/invoke`, encoded as the AWS SDKs do.
    pub fn path(&self) -> String {
        model_path(&self.model_id, Operation::InvokeModel)
    }
}

/// What [`from_invoke`] needs to translate the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingsPlan {
    pub client_model: String,
    pub family: Family,
    pub encoding: EncodingFormat,
    /// How many vectors the answer must hold.
    pub inputs: usize,
}

/// Check an OpenAI embeddings request and translate it into an InvokeModel call.
pub fn to_invoke(
    body: &[u8],
    opts: &EmbeddingsOptions,
    resolve: ResolveModel<'_>,
) -> Result<EmbeddingsCall, ApiError> {
    let req = request::parse(body)?;
    let embed = req.validate()?;
    let model_id = resolve(embed.model)?;
    let model_id = model_id.as_str();
    let family = opts
        .family_override
        .or_else(|| Family::from_model_id(model_id))
        .ok_or_else(|| {
            ApiError::invalid(
                "model",
                format!(
                    "`{}` is not a supported embedding model: use Amazon Titan Text Embeddings \
                     (amazon.titan-embed-text-v1, amazon.titan-embed-text-v2:0) or Cohere Embed \
                     (cohere.embed-english-v3, cohere.embed-multilingual-v3, cohere.embed-v4:0)",
                    embed.model
                ),
            )
        })?;
    let body = match family {
        Family::TitanV1 => titan::request(false, &embed)?,
        Family::TitanV2 => titan::request(true, &embed)?,
        Family::CohereV3 => cohere::request(false, &embed, &opts.cohere_input_type)?,
        Family::CohereV4 => cohere::request(true, &embed, &opts.cohere_input_type)?,
    };
    Ok(EmbeddingsCall {
        client_model: embed.model.to_string(),
        model_id: model_id.to_string(),
        body,
        plan: EmbeddingsPlan {
            client_model: embed.model.to_string(),
            family,
            encoding: embed.encoding,
            inputs: embed.texts.len(),
        },
    })
}

/// Translate a successful InvokeModel answer. `input_tokens_header` is the value of
/// `X-Amzn-Bedrock-Input-Token-Count`: Cohere's usage comes from it (Titan's body has its own
/// count); without it usage is 0. A body that is not the expected answer is a 502.
pub fn from_invoke(
    body: &[u8],
    plan: &EmbeddingsPlan,
    input_tokens_header: Option<u64>,
) -> Result<Vec<u8>, ApiError> {
    from_invoke_with_tokens(body, plan, input_tokens_header).map(|(out, _)| out)
}

/// [`from_invoke`], also returning the input token count it reported.
pub fn from_invoke_with_tokens(
    body: &[u8],
    plan: &EmbeddingsPlan,
    input_tokens_header: Option<u64>,
) -> Result<(Vec<u8>, u64), ApiError> {
    let (vectors, tokens) = match plan.family {
        Family::TitanV1 | Family::TitanV2 => {
            let (v, count) = titan::response(body)?;
            (vec![v], count.or(input_tokens_header))
        }
        Family::CohereV3 | Family::CohereV4 => {
            (cohere::response(body, plan.inputs)?, input_tokens_header)
        }
    };
    let tokens = tokens.unwrap_or(0);
    vector::write_list(&vectors, plan.encoding, &plan.client_model, tokens).map(|out| (out, tokens))
}
