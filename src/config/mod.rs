//! Plugin configuration: the JSON in the Wasm filter's `configuration`, read once per worker.
//!
//! Two steps: [`RawConfig`] is what serde reads (unknown fields are errors, so a typo is never
//! silently ignored), [`Config::from_raw`] validates it into the form the filter uses and reports
//! every problem with the field it concerns. Values missing from the JSON fall back to the
//! environment Envoy passes to the VM (`AWS_REGION`, `BEDROCK_ENDPOINT`), then to defaults.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::bedrock::path::MAX_MODEL_ID_LEN;
use crate::chat::invoke::Family;
use crate::error::{ApiError, ErrorType};
use crate::guardrail::{Guardrail, RawGuardrail};

/// Largest request body the filter buffers by default (images make chat requests large).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 20 * 1024 * 1024;

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
    /// Where AWS credentials come from (see [`crate::credentials`]); default: the environment.
    #[serde(default)]
    pub credentials: Option<crate::credentials::RawCredentialsConfig>,
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
    pub callers: Vec<crate::access::RawCaller>,
    /// The filter's Envoy stats.
    #[serde(default)]
    pub metrics: crate::metrics::RawMetricsOptions,
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
    /// The InvokeModel body family (`anthropic`), for `api: invoke` when the ID hides the
    /// model (application inference profiles, provisioned throughput ARNs).
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
    /// USD per 1k tokens, for the estimated-cost metric.
    #[serde(default)]
    pub pricing: Option<crate::metrics::Pricing>,
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
    fn from_id(id: String) -> Self {
        RawModelOptions {
            id,
            api: None,
            max_tokens: None,
            family: None,
            region_ids: BTreeMap::new(),
            region: None,
            endpoint: None,
            pricing: None,
            guardrail: None,
            additional_request_fields: None,
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub mode: Mode,
    pub region: String,
    pub endpoint: Endpoint,
    pub credentials: crate::credentials::CredentialSource,
    pub max_request_bytes: usize,
    /// Aliases in name order (the order `/v1/models` lists them).
    pub models: Vec<ModelConfig>,
    pub allow_unlisted_models: bool,
    pub default_max_tokens: u32,
    pub callers: crate::access::Callers,
    pub metrics: crate::metrics::MetricsOptions,
    /// The guardrail of models without their own (and of unlisted models).
    pub guardrail: Option<Guardrail>,
}

/// `max_tokens` for InvokeModel bodies that require one when neither request nor config says.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Where in the proxy this filter instance runs, and so which half of the work it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Translate and sign in one filter (any proxy-wasm host; Envoy without retries across
    /// regions).
    #[default]
    Single,
    /// Envoy listener filter: translate requests and answers, leave signing to `Sign`, which
    /// learns what to sign from the filter state [`crate::gateway::SIGN_PROPERTY`].
    Translate,
    /// Envoy upstream (cluster) filter: sign every attempt for the region and host Envoy
    /// picked, read from the endpoint's metadata.
    Sign,
}

impl Mode {
    fn parse(s: Option<&str>) -> Result<Mode, String> {
        match s {
            None | Some("single") => Ok(Mode::Single),
            Some("translate") => Ok(Mode::Translate),
            Some("sign") => Ok(Mode::Sign),
            Some(other) => Err(format!(
                "unknown mode {other:?} (expected \"single\", \"translate\" or \"sign\")"
            )),
        }
    }

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
    /// The InvokeModel family for `api: invoke` (always set then; checked at load).
    pub family: Option<Family>,
    /// Where this model is called when it is not the default region/endpoint.
    pub upstream: Option<Upstream>,
    /// Region → model ID where it differs from `id`.
    pub region_ids: Vec<(String, String)>,
    pub pricing: Option<crate::metrics::Pricing>,
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

/// A region and the endpoint that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub region: String,
    pub endpoint: Endpoint,
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
                region_ids: Vec::new(),
                pricing: None,
                guardrail: self.guardrail.clone(),
                additional_request_fields: ExtraFields::default(),
            });
        }
        Err(ApiError::new(
            404,
            ErrorType::NotFound,
            format!("The model `{requested}` does not exist or you do not have access to it."),
        )
        .with_param("model")
        .with_code("model_not_found"))
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
            Some(u) => (&u.region, &u.endpoint.authority),
            None => (&self.region, &self.endpoint.authority),
        }
    }
}

/// Where Bedrock requests go. `authority` is what the filter writes to `:authority` and signs as
/// `host`; Envoy's cluster decides the actual connection (and TLS SNI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub authority: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// One problem found in the configuration, with the path of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Config {
    /// Parse the plugin configuration bytes (empty means all defaults).
    pub fn parse(
        bytes: &[u8],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let raw: RawConfig = if bytes.iter().all(u8::is_ascii_whitespace) {
            RawConfig::default()
        } else {
            serde_json::from_slice(bytes).map_err(|e| {
                vec![ConfigError {
                    field: "configuration".into(),
                    message: format!("not valid filter configuration JSON: {e}"),
                }]
            })?
        };
        Config::from_raw(raw, env)
    }

    pub fn from_raw(
        raw: RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mode = Mode::parse(raw.mode.as_deref()).unwrap_or_else(|message| {
            errors.push(ConfigError {
                field: "mode".into(),
                message,
            });
            Mode::Single
        });
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let region = non_empty(raw.region)
            .or_else(|| non_empty(env("AWS_REGION")))
            .or_else(|| non_empty(env("AWS_DEFAULT_REGION")));
        let region = match region {
            Some(r) if is_region(&r) => r,
            Some(r) => {
                errors.push(ConfigError {
                    field: "region".into(),
                    message: format!("unknown region format {r:?} (expected e.g. \"us-east-1\")"),
                });
                String::new()
            }
            None => {
                errors.push(ConfigError {
                    field: "region".into(),
                    message: "no region: set `region` or AWS_REGION".into(),
                });
                String::new()
            }
        };
        let endpoint_text = non_empty(raw.endpoint)
            .or_else(|| non_empty(env("BEDROCK_ENDPOINT")))
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
        let endpoint = match parse_endpoint(&endpoint_text) {
            Ok(e) => Some(e),
            Err(message) => {
                errors.push(ConfigError {
                    field: "endpoint".into(),
                    message,
                });
                None
            }
        };
        let credentials = crate::credentials::CredentialSource::from_raw(raw.credentials, env)
            .unwrap_or_else(|e| {
                errors.extend(e);
                crate::credentials::CredentialSource::None
            });
        let max_request_bytes = raw.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES);
        if max_request_bytes == 0 {
            errors.push(ConfigError {
                field: "max_request_bytes".into(),
                message: "must be at least 1".into(),
            });
        }
        let mut models = Vec::with_capacity(raw.models.len());
        let default_guardrail = match raw.guardrail.map(Guardrail::from_raw) {
            None => None,
            Some(Ok(g)) => Some(g),
            Some(Err(found)) => {
                for (suffix, message) in found {
                    errors.push(ConfigError {
                        field: format!("guardrail{suffix}"),
                        message,
                    });
                }
                None
            }
        };
        for (alias, model) in raw.models {
            let field = format!("models[{alias:?}]");
            let mut problem = |suffix: &str, message: String| {
                errors.push(ConfigError {
                    field: format!("{field}{suffix}"),
                    message,
                });
            };
            if alias.trim().is_empty() || alias.len() > MAX_MODEL_ID_LEN {
                problem("", "an alias must be 1 to 2048 characters".into());
            }
            let o = match model {
                RawModel::Id(id) => RawModelOptions::from_id(id),
                RawModel::Options(o) => *o,
            };
            let mut region_ids = Vec::with_capacity(o.region_ids.len());
            for (r, id) in o.region_ids {
                if !is_region(&r) {
                    problem(
                        &format!(".region_ids.{r}"),
                        format!("unknown region format {r:?} (expected e.g. \"eu-west-1\")"),
                    );
                } else if id.trim().is_empty() || id.len() > MAX_MODEL_ID_LEN {
                    problem(
                        &format!(".region_ids.{r}"),
                        "must be a Bedrock model ID, inference profile ID or ARN".into(),
                    );
                } else {
                    region_ids.push((r, id));
                }
            }
            let (id, api, max_tokens, family, model_region, model_endpoint, pricing) = (
                o.id,
                o.api,
                o.max_tokens,
                o.family,
                o.region,
                o.endpoint,
                o.pricing,
            );
            let guardrail = match o.guardrail {
                None => default_guardrail.clone(),
                Some(raw) => match Guardrail::from_raw(raw) {
                    Ok(g) => Some(g),
                    Err(found) => {
                        for (suffix, message) in found {
                            problem(&format!(".guardrail{suffix}"), message);
                        }
                        None
                    }
                },
            };
            let mut additional_request_fields = ExtraFields::default();
            for (key, value) in o.additional_request_fields.unwrap_or_default() {
                match serde_json::value::to_raw_value(&value) {
                    Ok(raw) => additional_request_fields.0.push((key, raw)),
                    Err(e) => problem(&format!(".additional_request_fields.{key}"), e.to_string()),
                }
            }
            let upstream = match (model_region, model_endpoint) {
                (None, None) => None,
                (model_region, model_endpoint) => {
                    let r = model_region.unwrap_or_else(|| region.clone());
                    if !is_region(&r) {
                        problem(
                            ".region",
                            format!("unknown region format {r:?} (expected e.g. \"us-west-2\")"),
                        );
                    }
                    let url = model_endpoint.unwrap_or_else(|| {
                        if r == region {
                            endpoint_text.clone()
                        } else {
                            format!("https://bedrock-runtime.{r}.amazonaws.com")
                        }
                    });
                    match parse_endpoint(&url) {
                        Ok(endpoint) => Some(Upstream {
                            region: r,
                            endpoint,
                        }),
                        Err(message) => {
                            problem(".endpoint", message);
                            None
                        }
                    }
                }
            };
            if id.trim().is_empty() || id.len() > MAX_MODEL_ID_LEN {
                problem(
                    ".id",
                    "must be a Bedrock model ID, inference profile ID or ARN".into(),
                );
            }
            let api = match api.as_deref() {
                None | Some("converse") => Api::Converse,
                Some("invoke") => Api::Invoke,
                Some(other) => {
                    problem(
                        ".api",
                        format!("unknown API {other:?} (expected \"converse\" or \"invoke\")"),
                    );
                    Api::Converse
                }
            };
            if max_tokens == Some(0) {
                problem(".max_tokens", "must be at least 1".into());
            }
            let family = match family.as_deref() {
                Some(name) => {
                    let f = Family::parse(name);
                    if f.is_none() {
                        problem(
                            ".family",
                            format!(
                                "unknown InvokeModel family {name:?} (expected one of {:?})",
                                Family::NAMES
                            ),
                        );
                    }
                    f
                }
                None => Family::of_model(&id),
            };
            if api == Api::Invoke && family.is_none() && !id.trim().is_empty() {
                problem(
                    "",
                    format!(
                        "chat through InvokeModel needs a known model family: the ID names none this gateway writes bodies for; set `family` (one of {:?}) or use `\"api\": \"converse\"`",
                        Family::NAMES
                    ),
                );
            }
            if let Some(p) = &pricing {
                for (name, message) in p.problems() {
                    problem(&format!(".pricing.{name}"), message);
                }
            }
            models.push(ModelConfig {
                alias,
                id,
                api,
                max_tokens,
                family: if api == Api::Invoke { family } else { None },
                upstream,
                region_ids,
                pricing,
                guardrail,
                additional_request_fields,
            });
        }
        let default_max_tokens = raw.default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        if default_max_tokens == 0 {
            errors.push(ConfigError {
                field: "default_max_tokens".into(),
                message: "must be at least 1".into(),
            });
        }
        let callers = crate::access::Callers::from_raw(raw.callers, &mut errors);
        let metrics = crate::metrics::MetricsOptions::from_raw(raw.metrics, &mut errors);
        match endpoint {
            Some(endpoint) if errors.is_empty() => Ok(Config {
                mode,
                region,
                endpoint,
                max_request_bytes,
                models,
                credentials,
                allow_unlisted_models: raw.allow_unlisted_models.unwrap_or(true),
                default_max_tokens,
                callers,
                metrics,
                guardrail: default_guardrail,
            }),
            _ => Err(errors),
        }
    }
}

/// AWS region names: lower-case words joined by `-`, ending in a number (`us-east-1`,
/// `us-gov-west-1`, `ap-southeast-4`, `eu-central-2`).
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let (Some(last), Some(first)) = (parts.last(), parts.first()) else {
        return false;
    };
    parts.len() >= 3
        && first.len() == 2
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// `https://host[:port]` or `http://host:port`, no path. Default ports are dropped from the
/// authority, as the AWS SDKs do for the `Host` they sign.
pub fn parse_endpoint(url: &str) -> Result<Endpoint, String> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r)
    } else {
        return Err(format!("{url:?} must start with https:// or http://"));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "{url:?} must be scheme://host[:port] without path or user"
        ));
    }
    let default_port = match scheme {
        Scheme::Https => ":443",
        Scheme::Http => ":80",
    };
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    if let Some((host, port)) = authority.rsplit_once(':')
        && !host.ends_with(']')
        && (host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!("{url:?} has an invalid port"));
    }
    Ok(Endpoint {
        scheme,
        authority: authority.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_from_region() {
        let c = Config::parse(br#"{"region":"eu-west-1"}"#, &no_env).unwrap();
        assert_eq!(
            c.endpoint.authority,
            "bedrock-runtime.eu-west-1.amazonaws.com"
        );
        assert_eq!(c.endpoint.scheme, Scheme::Https);
        assert_eq!(c.max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
    }

    #[test]
    fn env_fallbacks() {
        let env = |k: &str| match k {
            "AWS_REGION" => Some("us-west-2".to_string()),
            "BEDROCK_ENDPOINT" => Some("http://127.0.0.1:8080".to_string()),
            _ => None,
        };
        let c = Config::parse(b"", &env).unwrap();
        assert_eq!(c.region, "us-west-2");
        assert_eq!(c.endpoint.authority, "127.0.0.1:8080");
        // The JSON wins over the environment.
        let c = Config::parse(br#"{"region":"us-east-2"}"#, &env).unwrap();
        assert_eq!(c.region, "us-east-2");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let errs = Config::parse(
            br#"{"region":"us-east-x","endpoint":"ftp://x","max_request_bytes":0}"#,
            &no_env,
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["region", "endpoint", "max_request_bytes"]);
        assert_eq!(
            errs[0].to_string(),
            r#"region: unknown region format "us-east-x" (expected e.g. "us-east-1")"#
        );
    }

    #[test]
    fn unknown_fields_and_bad_json_are_rejected() {
        let errs = Config::parse(br#"{"regoin":"us-east-1"}"#, &no_env).unwrap_err();
        assert!(
            errs[0].message.contains("unknown field `regoin`"),
            "{}",
            errs[0]
        );
        assert!(Config::parse(b"{", &no_env).is_err());
        assert!(Config::parse(b"", &no_env).is_err(), "no region anywhere");
    }

    #[test]
    fn models_and_aliases() {
        let c = Config::parse(
            br#"{"region":"us-east-1","allow_unlisted_models":false,"models":{
                "claude":"us.anthropic.claude-3-5-haiku-20241022-v1:0",
                "haiku-native":{"id":"anthropic.claude-3-haiku-20240307-v1:0","api":"invoke","max_tokens":1000}}}"#,
            &no_env,
        )
        .unwrap();
        let m = c.resolve_model("claude").unwrap();
        assert_eq!(
            (m.id.as_str(), m.api),
            ("us.anthropic.claude-3-5-haiku-20241022-v1:0", Api::Converse)
        );
        let m = c.resolve_model("haiku-native").unwrap();
        assert_eq!((m.api, m.max_tokens), (Api::Invoke, Some(1000)));
        let e = c.resolve_model("anthropic.claude-v2").unwrap_err();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (404, Some("model_not_found"))
        );
        // Unlisted IDs pass by default.
        let c = Config::parse(br#"{"region":"us-east-1"}"#, &no_env).unwrap();
        assert_eq!(c.resolve_model("x.y-v1:0").unwrap().id, "x.y-v1:0");
    }

    #[test]
    fn modes_and_region_ids() {
        let c = Config::parse(br#"{"region":"us-east-1"}"#, &no_env).unwrap();
        assert_eq!(c.mode, Mode::Single);
        for (text, mode) in [("translate", Mode::Translate), ("sign", Mode::Sign)] {
            let json = format!(r#"{{"region":"us-east-1","mode":"{text}"}}"#);
            assert_eq!(Config::parse(json.as_bytes(), &no_env).unwrap().mode, mode);
        }
        let errs = Config::parse(br#"{"region":"us-east-1","mode":"both"}"#, &no_env).unwrap_err();
        assert_eq!(errs[0].field, "mode");
        let c = Config::parse(
            br#"{"region":"us-east-1","models":{"claude":{"id":"us.m-v1:0",
                "region_ids":{"eu-west-1":"eu.m-v1:0"}}}}"#,
            &no_env,
        )
        .unwrap();
        assert_eq!(c.model_id_in("claude", "eu-west-1"), "eu.m-v1:0");
        assert_eq!(c.model_id_in("claude", "us-east-1"), "us.m-v1:0");
        assert_eq!(c.model_id_in("apac.m-v1:0", "eu-west-1"), "apac.m-v1:0");
        let errs = Config::parse(
            br#"{"region":"us-east-1","models":{"claude":{"id":"us.m-v1:0",
                "region_ids":{"europe":"eu.m-v1:0","eu-west-1":" "}}}}"#,
            &no_env,
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                r#"models["claude"].region_ids.eu-west-1"#,
                r#"models["claude"].region_ids.europe"#
            ]
        );
    }

    #[test]
    fn models_in_other_regions() {
        let c = Config::parse(
            br#"{"region":"us-east-1","models":{
                "west":{"id":"us.anthropic.claude-3-5-haiku-20241022-v1:0","region":"us-west-2"},
                "eu":{"id":"eu.amazon.nova-lite-v1:0","region":"eu-west-1","endpoint":"http://127.0.0.1:9000"},
                "home":"amazon.nova-lite-v1:0"}}"#,
            &no_env,
        )
        .unwrap();
        let up = |alias: &str| {
            let m = c.resolve_model(alias).unwrap();
            let (r, a) = c.upstream_of(&m);
            (r.to_string(), a.to_string())
        };
        assert_eq!(
            up("west"),
            (
                "us-west-2".into(),
                "bedrock-runtime.us-west-2.amazonaws.com".into()
            )
        );
        assert_eq!(up("eu"), ("eu-west-1".into(), "127.0.0.1:9000".into()));
        assert_eq!(
            up("home"),
            (
                "us-east-1".into(),
                "bedrock-runtime.us-east-1.amazonaws.com".into()
            )
        );
        let errs = Config::parse(
            br#"{"region":"us-east-1","models":{"x":{"id":"m","region":"mars-1"},"y":{"id":"m","endpoint":"ftp://h"}}}"#,
            &no_env,
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, [r#"models["x"].region"#, r#"models["y"].endpoint"#]);
    }

    #[test]
    fn guardrail_problems_name_their_field() {
        let errs = Config::parse(
            br#"{"region":"us-east-1","guardrail":{"identifier":"X","version":"1"},
                "models":{"m":{"id":"x","guardrail":{"identifier":"ok1","version":"v2","trace":"on"}}}}"#,
            &no_env,
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "guardrail.identifier",
                r#"models["m"].guardrail.version"#,
                r#"models["m"].guardrail.trace"#
            ]
        );
    }

    #[test]
    fn model_problems_name_the_alias() {
        let errs = Config::parse(
            br#"{"region":"us-east-1","models":{"a":{"id":""},"b":{"id":"x","api":"chat"},"c":{"id":"x","max_tokens":0}}}"#,
            &no_env,
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                r#"models["a"].id: must be a Bedrock model ID, inference profile ID or ARN"#,
                r#"models["b"].api: unknown API "chat" (expected "converse" or "invoke")"#,
                r#"models["c"].max_tokens: must be at least 1"#,
            ]
        );
        let errs = Config::parse(
            br#"{"region":"us-east-1","models":{"a":{"id":"x","colour":1}}}"#,
            &no_env,
        )
        .unwrap_err();
        assert_eq!(errs[0].field, "configuration");
    }

    #[test]
    fn invoke_models_need_a_family() {
        let c = Config::parse(
            br#"{"region":"us-east-1","models":{
                "a":{"id":"us.anthropic.claude-3-5-haiku-20241022-v1:0","api":"invoke"},
                "b":{"id":"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1","api":"invoke","family":"anthropic"},
                "c":{"id":"meta.llama3-8b-instruct-v1:0"}}}"#,
            &no_env,
        )
        .unwrap();
        assert_eq!(
            c.resolve_model("a").unwrap().family,
            Some(Family::Anthropic)
        );
        assert_eq!(
            c.resolve_model("b").unwrap().family,
            Some(Family::Anthropic)
        );
        assert_eq!(c.resolve_model("c").unwrap().family, None);
        let errs = Config::parse(
            br#"{"region":"us-east-1","models":{
                "a":{"id":"arn:aws:bedrock:us-east-1:123456789012:provisioned-model/x1","api":"invoke"},
                "b":{"id":"meta.llama3-8b-instruct-v1:0","api":"invoke"},
                "c":{"id":"anthropic.claude-v2","api":"invoke","family":"cohere"}}}"#,
            &no_env,
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                r#"models["a"]"#,
                r#"models["b"]"#,
                r#"models["c"].family"#,
                r#"models["c"]"#
            ]
        );
        assert!(errs[0].message.contains("set `family`"), "{}", errs[0]);
    }

    #[test]
    fn callers_and_pricing_sections() {
        let key = "a".repeat(64);
        let text = format!(
            r#"{{"region":"us-east-1","callers":[{{"name":"team-a","key_sha256":"{key}","allowed_models":["claude*"]}}],
                "models":{{"claude":{{"id":"x","pricing":{{"input_per_1k":0.003,"output_per_1k":0.015}}}}}}}}"#
        );
        let c = Config::parse(text.as_bytes(), &no_env).unwrap();
        assert!(!c.callers.is_empty());
        let p = c.resolve_model("claude").unwrap().pricing.unwrap();
        assert_eq!((p.input_per_1k, p.cache_read_per_1k), (0.003, 0.0));
        let errs = Config::parse(
            br#"{"region":"us-east-1","callers":[{"name":"a","key_sha256":"x","allowed_models":["*"]}],
                "models":{"m":{"id":"x","pricing":{"output_per_1k":-1}}}}"#,
            &no_env,
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                r#"models["m"].pricing.output_per_1k: must be a non-negative number of USD"#,
                "callers[0].key_sha256: must be the SHA-256 of the key as 64 hex digits",
            ]
        );
        let errs = Config::parse(
            br#"{"region":"us-east-1","models":{"m":{"id":"x","pricing":{"input":1}}}}"#,
            &no_env,
        )
        .unwrap_err();
        assert_eq!(errs[0].field, "configuration");
    }

    #[test]
    fn endpoints() {
        let e = parse_endpoint("https://bedrock-runtime.us-east-1.amazonaws.com:443/").unwrap();
        assert_eq!(e.authority, "bedrock-runtime.us-east-1.amazonaws.com");
        let e = parse_endpoint("http://127.0.0.1:8080").unwrap();
        assert_eq!(e.authority, "127.0.0.1:8080");
        assert!(parse_endpoint("https://h/path").is_err());
        assert!(parse_endpoint("https://h:notaport").is_err());
        assert!(parse_endpoint("h:80").is_err());
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-4",
            "eu-central-2",
            "il-central-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in ["us-east-x", "useast1", "US-EAST-1", "us--1", "u-east-1", ""] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
