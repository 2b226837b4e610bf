//! Plugin configuration: the JSON in the Wasm filter's `configuration`, read once per worker.
//!
//! Two steps: [`raw`] is what serde reads (unknown fields are errors, so a typo is never
//! silently ignored), [`Config::parse`] ([`validate`]) checks it into the form the filter uses
//! and reports every problem with the field it concerns. Values missing from the JSON fall back
//! to the environment Envoy passes to the VM (`AWS_REGION`, `BEDROCK_ENDPOINT`), then to
//! defaults.

pub mod guardrail;
pub mod raw;
mod validate;

pub use guardrail::Guardrail;
pub use validate::{is_region, parse_endpoint};

use crate::access::Callers;
use crate::bedrock::Family;
use crate::credentials::CredentialSource;
use crate::error::{ApiError, ErrorType};
use crate::limits::Limits;
use crate::usage::Pricing;

/// Largest request body the filter buffers by default (images make chat requests large).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 20 * 1024 * 1024;

/// `max_tokens` for InvokeModel bodies that require one when neither request nor config says.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Envoy cluster of the filter's own Bedrock calls when the configuration names none.
pub const DEFAULT_CLUSTER: &str = "bedrock";

/// Most distinct model labels per worker by default; later ones count as `other`.
pub const DEFAULT_MAX_MODEL_LABELS: usize = 100;

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub mode: Mode,
    /// The default region, and the `:authority` of its Bedrock endpoint.
    pub region: String,
    pub authority: String,
    /// The Envoy cluster of the filter's own Bedrock calls.
    pub cluster: String,
    pub credentials: CredentialSource,
    pub max_request_bytes: usize,
    /// Aliases in name order (the order `/v1/models` lists them).
    pub models: Vec<ModelConfig>,
    pub allow_unlisted_models: bool,
    pub default_max_tokens: u32,
    pub callers: Callers,
    /// Rate limits and budgets, counted by the filter (empty: none).
    pub limits: Limits,
    pub metrics: MetricsOptions,
    /// Publish the per-request filter state (`wasm.bedrock_caller`, `_model`, tokens, cost).
    pub filter_state: bool,
    /// The guardrail of models without their own (and of unlisted models).
    pub guardrail: Option<Guardrail>,
}

/// Where in the proxy this filter instance runs, and so which half of the work it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Translate and sign in one filter (any proxy-wasm host; Envoy without retries across
    /// regions).
    #[default]
    Single,
    /// Envoy listener filter: translate requests and answers, leave signing to `Sign`, which
    /// learns what to sign from the filter state [`crate::http::SIGN_PROPERTY`].
    Translate,
    /// Envoy upstream (cluster) filter: sign every attempt for the region and host Envoy
    /// picked, read from the endpoint's metadata.
    Sign,
}

impl Mode {
    /// Whether this instance signs requests (and so needs AWS credentials).
    pub fn signs(self) -> bool {
        self != Mode::Translate
    }
}

/// Which Bedrock API serves chat for a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Converse,
    Invoke,
}

/// A model the gateway serves: the name clients use and what it means on Bedrock.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub alias: String,
    pub id: String,
    pub api: Api,
    pub max_tokens: Option<u32>,
    /// The model's chat family: configured, or read from the ID. Always set (and a chat
    /// family) for `api: invoke`, checked at load; reasoning uses it for IDs that hide the
    /// model.
    pub family: Option<Family>,
    /// Where this model is called when it is not the default region/endpoint.
    pub upstream: Option<Upstream>,
    /// The Envoy cluster of the filter's own calls for this model, when not `Config::cluster`.
    pub cluster: Option<String>,
    /// Region → model ID where it differs from `id`.
    pub region_ids: Vec<(String, String)>,
    pub pricing: Option<Pricing>,
    /// The model's guardrail, or the top-level one.
    pub guardrail: Option<Guardrail>,
    /// Defaults for the request's additional model fields (the request's own win).
    pub additional_request_fields: ExtraFields,
}

impl ModelConfig {
    /// The model ID for `region`: its `region_ids` entry, else `id`.
    pub fn id_in(&self, region: &str) -> &str {
        self.region_ids
            .iter()
            .find(|(r, _)| r == region)
            .map_or(self.id.as_str(), |(_, id)| id.as_str())
    }
}

/// Configured request members, serialised once at load and copied into requests as they are.
#[derive(Debug, Clone, Default)]
pub struct ExtraFields(pub Vec<(String, Box<serde_json::value::RawValue>)>);

impl PartialEq for ExtraFields {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((a, x), (b, y))| a == b && x.get() == y.get())
    }
}

/// A region and the `:authority` of the endpoint that serves it: what the filter writes to
/// `:authority` and signs as `host`; Envoy's cluster decides the actual connection (and TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub region: String,
    pub authority: String,
}

/// The `metrics` section, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Whether the filter defines and counts its stats.
    pub enabled: bool,
    /// Most model names with stats of their own per worker.
    pub max_models: usize,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            enabled: true,
            max_models: DEFAULT_MAX_MODEL_LABELS,
        }
    }
}

/// 404 `model_not_found`, as OpenAI answers for a model that does not exist.
fn unknown_model(requested: &str) -> ApiError {
    ApiError::new(
        404,
        ErrorType::NotFound,
        format!("The model `{requested}` does not exist or you do not have access to it."),
    )
    .with_param("model")
    .with_code("model_not_found")
}

impl Config {
    /// The model a client names: an alias, or (when allowed) a Bedrock ID used as is.
    pub fn resolve_model(&self, requested: &str) -> Result<ModelConfig, ApiError> {
        if let Some(m) = self.models.iter().find(|m| m.alias == requested) {
            return Ok(m.clone());
        }
        if self.allow_unlisted_models {
            return Ok(ModelConfig {
                alias: requested.to_string(),
                id: requested.to_string(),
                api: Api::Converse,
                max_tokens: None,
                family: None,
                upstream: None,
                cluster: None,
                region_ids: Vec::new(),
                pricing: None,
                guardrail: self.guardrail.clone(),
                additional_request_fields: ExtraFields::default(),
            });
        }
        Err(unknown_model(requested))
    }

    /// Whether a native request (an AWS SDK's, naming the Bedrock ID) may use `model_id`:
    /// any, with `allow_unlisted_models`; else one of the Bedrock IDs of the `models` entries
    /// (not an alias: a native path goes to Bedrock as the client wrote it).
    pub fn admits_native(&self, model_id: &str) -> Result<(), ApiError> {
        let listed =
            |m: &ModelConfig| m.id == model_id || m.region_ids.iter().any(|(_, id)| id == model_id);
        if self.allow_unlisted_models || self.models.iter().any(listed) {
            Ok(())
        } else {
            Err(unknown_model(model_id))
        }
    }

    /// The model that signing for a region should name: an alias's ID for that region, else
    /// its `id`; a name that is no alias is a Bedrock ID and stays as it is.
    pub fn model_id_in<'c>(&'c self, model: &'c str, region: &str) -> &'c str {
        match self.models.iter().find(|m| m.alias == model) {
            Some(m) => m.id_in(region),
            None => model,
        }
    }

    /// The region and endpoint authority a model is called at.
    pub fn upstream_of<'c>(&'c self, model: &'c ModelConfig) -> (&'c str, &'c str) {
        match &model.upstream {
            Some(u) => (&u.region, &u.authority),
            None => (&self.region, &self.authority),
        }
    }
}
