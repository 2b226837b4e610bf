//! `GET /v1/models` and `GET /v1/models/{id}`, answered by the filter itself from the
//! configured models (aliases and allowed Bedrock IDs); never sent to Bedrock.

use serde::Serialize;

use crate::bedrock::model_id::provider;
use crate::bedrock::path::MAX_MODEL_ID_LEN;
use crate::error::{ApiError, ErrorType};

/// One model the gateway offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelEntry {
    /// The name clients send as `model`: an alias or a Bedrock model ID, profile ID or ARN.
    pub id: String,
    /// OpenAI's `owned_by`: the provider (`anthropic`, `amazon`, `meta`, …) or `bedrock`.
    pub owned_by: String,
}

impl ModelEntry {
    /// An entry owned by the provider of `bedrock_id` (the model `id` stands for, which is `id`
    /// itself unless `id` is an alias).
    pub fn new(id: impl Into<String>, bedrock_id: &str) -> Self {
        ModelEntry {
            id: id.into(),
            owned_by: owner_of(bedrock_id).to_string(),
        }
    }
}

/// The provider prefix of a Bedrock model ID, or `bedrock` when the ID hides it (application
/// inference profile ARNs, provisioned throughput).
pub fn owner_of(bedrock_id: &str) -> &str {
    provider(bedrock_id).unwrap_or("bedrock")
}

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<Model<'a>>,
}

impl<'a> Model<'a> {
    fn of(entry: &'a ModelEntry, created: u64) -> Self {
        Model {
            id: &entry.id,
            object: "model",
            created,
            owned_by: &entry.owned_by,
        }
    }
}

/// `{"object":"list","data":[{"id","object":"model","created","owned_by"}, …]}` in
/// configuration order; an ID listed twice appears once (first entry wins).
pub fn list(models: &[ModelEntry], created: u64) -> Vec<u8> {
    let mut data: Vec<Model> = Vec::with_capacity(models.len());
    for entry in models {
        if !data.iter().any(|m| m.id == entry.id) {
            data.push(Model::of(entry, created));
        }
    }
    let list = ModelList {
        object: "list",
        data,
    };
    // Serialising strings and integers cannot fail; fall back to an empty list rather than panic.
    serde_json::to_vec(&list).unwrap_or_else(|_| br#"{"object":"list","data":[]}"#.to_vec())
}

/// One model object, or 404 `model_not_found` as OpenAI answers for an unknown model.
pub fn retrieve(models: &[ModelEntry], id: &str, created: u64) -> Result<Vec<u8>, ApiError> {
    let entry = models
        .iter()
        .find(|m| m.id == id)
        .ok_or_else(|| not_found(id))?;
    serde_json::to_vec(&Model::of(entry, created))
        .map_err(|e| ApiError::internal(format!("cannot encode model: {e}")))
}

/// `/v1/models/{id}` → the percent-decoded id; `None` for the list.
pub fn requested_id(path: &str) -> Option<String> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let id = path
        .strip_prefix("/v1/models/")
        .or_else(|| path.strip_prefix("/models/"))?;
    let id = id.strip_suffix('/').unwrap_or(id);
    Some(crate::bedrock::path::percent_decode(id))
}

fn not_found(id: &str) -> ApiError {
    let message = if id.len() > MAX_MODEL_ID_LEN {
        "The model does not exist or you do not have access to it.".to_string()
    } else {
        format!("The model `{id}` does not exist or you do not have access to it.")
    };
    ApiError::new(404, ErrorType::NotFound, message)
        .with_param("model")
        .with_code("model_not_found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn entries() -> Vec<ModelEntry> {
        vec![
            ModelEntry::new("gpt-4o-mini", "us.anthropic.claude-3-5-haiku-20241022-v1:0"),
            ModelEntry::new(
                "amazon.titan-embed-text-v2:0",
                "amazon.titan-embed-text-v2:0",
            ),
            ModelEntry::new(
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2",
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2",
            ),
            ModelEntry::new("gpt-4o-mini", "meta.llama3-8b-instruct-v1:0"),
        ]
    }

    #[test]
    fn lists_in_openai_format() {
        let v: Value = serde_json::from_slice(&list(&entries(), 1_700_000_000)).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1_700_000_000u64,
                 "owned_by": "anthropic"},
                {"id": "amazon.titan-embed-text-v2:0", "object": "model",
                 "created": 1_700_000_000u64, "owned_by": "amazon"},
                {"id": "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2",
                 "object": "model", "created": 1_700_000_000u64, "owned_by": "bedrock"}]})
        );
        assert_eq!(list(&[], 5), br#"{"object":"list","data":[]}"#);
    }

    #[test]
    fn retrieves_one_model() {
        let out = retrieve(&entries(), "amazon.titan-embed-text-v2:0", 7).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":"amazon.titan-embed-text-v2:0","object":"model","created":7,"owned_by":"amazon"}"#
        );
    }

    #[test]
    fn unknown_model_is_404_model_not_found() {
        let e = retrieve(&entries(), "gpt-5", 7).unwrap_err();
        let v: Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(e.status, 404);
        assert_eq!(
            v,
            json!({"error": {
                "message": "The model `gpt-5` does not exist or you do not have access to it.",
                "type": "not_found_error", "param": "model", "code": "model_not_found"}})
        );
        let long = "m".repeat(MAX_MODEL_ID_LEN + 1);
        let e = retrieve(&entries(), &long, 7).unwrap_err();
        assert!(!e.message.contains(&long));
    }

    #[test]
    fn owner_is_the_provider_or_bedrock() {
        for (id, owner) in [
            ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic"),
            (
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "anthropic",
            ),
            ("eu.meta.llama3-2-3b-instruct-v1:0", "meta"),
            ("mistral.mistral-large-2407-v1:0", "mistral"),
            ("cohere.embed-v4:0", "cohere"),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
                "amazon",
            ),
            (
                "arn:aws:bedrock:us-east-1:1:provisioned-model/abc",
                "bedrock",
            ),
            ("my-alias", "bedrock"),
        ] {
            assert_eq!(owner_of(id), owner, "{id}");
        }
    }
}
