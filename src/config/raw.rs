//! The configuration as written: what serde reads from the plugin configuration JSON. Unknown
//! fields are errors, so a typo is never silently ignored; [`super::validate`] turns this into
//! the [`super::Config`] the filter uses.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::guardrail::RawGuardrail;
use crate::access::RawCaller;
use crate::credentials::RawCredentialsConfig;
use crate::limits::RawLimit;
use crate::usage::Pricing;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where this filter runs: `single` (default), `translate` or `sign`; see [`Mode`].
    #[serde(default)]
    pub mode: Option<String>,
    /// Default AWS region, e.g. `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Bedrock Runtime endpoint URL. Default `https://bedrock-runtime.{region}.amazonaws.com`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The Envoy cluster that reaches Bedrock, for the calls the filter makes itself (batch
    /// embeddings on models that embed one input per call). Default `bedrock`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Where AWS credentials come from (see [`crate::credentials`]); default: the environment.
    #[serde(default)]
    pub credentials: Option<RawCredentialsConfig>,
    /// Largest request body accepted, in bytes; larger requests get a 413.
    #[serde(default)]
    pub max_request_bytes: Option<usize>,
    /// Model aliases: name clients use → Bedrock model (a string, or an object with options).
    #[serde(default)]
    pub models: BTreeMap<String, RawModel>,
    /// Whether model IDs not listed in `models` are accepted as Bedrock IDs (default true).
    #[serde(default)]
    pub allow_unlisted_models: Option<bool>,
    /// `max_tokens` sent when a request has none and the API needs one (Anthropic InvokeModel).
    #[serde(default)]
    pub default_max_tokens: Option<u32>,
    /// A Bedrock guardrail for every model without its own.
    #[serde(default)]
    pub guardrail: Option<RawGuardrail>,
    /// Caller keys (SHA-256 hex) and the models each caller may use; none means everyone.
    #[serde(default)]
    pub callers: Vec<RawCaller>,
    /// Rate limits and budgets per caller and model (see [`crate::limits`]).
    #[serde(default)]
    pub limits: Vec<RawLimit>,
    /// The filter's Envoy stats.
    #[serde(default)]
    pub metrics: RawMetricsOptions,
    /// Whether requests publish `wasm.bedrock_*` filter state for access logs and Envoy's
    /// rate limits (default true).
    #[serde(default)]
    pub filter_state: Option<bool>,
}

/// One entry of `models`: `"alias": "bedrock-id"` or `"alias": {"id": …, …}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawModel {
    Id(String),
    Options(Box<RawModelOptions>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelOptions {
    /// Bedrock model ID, inference-profile ID or ARN.
    pub id: String,
    /// `converse` (default) or `invoke` (InvokeModel with the model's native body).
    #[serde(default)]
    pub api: Option<String>,
    /// Default `max_tokens` for this model.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The InvokeModel body family (`anthropic`, `nova`), for `api: invoke` when the ID hides
    /// the model (application inference profiles, provisioned throughput ARNs).
    #[serde(default)]
    pub family: Option<String>,
    /// The model ID to use in each region, when it differs from `id` (cross-region inference
    /// profiles: `us.…` in us-east-1, `eu.…` in eu-west-1). Used wherever a request is signed
    /// for that region: the model's own region, or the region an Envoy attempt goes to.
    #[serde(default)]
    pub region_ids: BTreeMap<String, String>,
    /// The region this model is called in (default: the top-level `region`).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint for this model (default: the region's public Bedrock Runtime endpoint, or the
    /// top-level `endpoint` when the model uses the default region).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The Envoy cluster of the filter's own calls for this model (Titan batches), when it is
    /// not the top-level `cluster` (a model in another region).
    #[serde(default)]
    pub cluster: Option<String>,
    /// USD per 1k tokens, for the estimated-cost metric.
    #[serde(default)]
    pub pricing: Option<Pricing>,
    /// A Bedrock guardrail for this model (overrides the top-level `guardrail`).
    #[serde(default)]
    pub guardrail: Option<RawGuardrail>,
    /// Members added to `additionalModelRequestFields` (Converse) or the native body
    /// (InvokeModel) unless the request sets them, e.g. `{"top_k": 50}`.
    #[serde(default)]
    pub additional_request_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

impl RawModelOptions {
    /// The options of a `"alias": "id"` entry.
    pub(super) fn from_id(id: String) -> Self {
        RawModelOptions {
            id,
            api: None,
            max_tokens: None,
            family: None,
            region_ids: BTreeMap::new(),
            region: None,
            endpoint: None,
            cluster: None,
            pricing: None,
            guardrail: None,
            additional_request_fields: None,
        }
    }
}

/// The `metrics` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetricsOptions {
    /// Whether the filter defines and counts its stats (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Most model names with stats of their own per worker (default 100).
    #[serde(default)]
    pub max_models: Option<usize>,
}
