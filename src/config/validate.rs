//! From the configuration as written ([`super::raw`]) to the [`Config`] the filter uses. Every
//! problem is reported with the path of its field, in the order the fields are checked, so one
//! load names everything to fix.

use super::guardrail::Guardrail;
use super::raw::{RawConfig, RawMetricsOptions, RawModel, RawModelOptions};
use super::{
    Api, Config, DEFAULT_CLUSTER, DEFAULT_MAX_MODEL_LABELS, DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_TOKENS, ExtraFields, MetricsOptions, Mode, ModelConfig, Upstream,
};
use crate::access::Callers;
use crate::bedrock::Family;
use crate::bedrock::path::MAX_MODEL_ID_LEN;
use crate::credentials::CredentialSource;
use crate::error::ConfigError;
use crate::limits::rules::PricedModel;
use crate::limits::{Limits, RawLimit};

/// The largest `metrics.max_models` accepted.
const MAX_MODEL_LABELS_LIMIT: usize = 10_000;

/// What every model entry falls back to.
struct Defaults<'a> {
    region: &'a str,
    endpoint_url: &'a str,
    guardrail: Option<&'a Guardrail>,
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
                vec![ConfigError::new(
                    "configuration",
                    format!("not valid filter configuration JSON: {e}"),
                )]
            })?
        };
        Config::from_raw(raw, env)
    }

    pub fn from_raw(
        raw: RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mode = mode(raw.mode.as_deref(), &mut errors);
        let region = region(raw.region, env, &mut errors);
        let endpoint_url = non_empty(raw.endpoint)
            .or_else(|| non_empty(env("BEDROCK_ENDPOINT")))
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
        let authority = parse_endpoint(&endpoint_url)
            .map_err(|message| errors.push(ConfigError::new("endpoint", message)))
            .ok();
        let cluster = match non_empty(raw.cluster) {
            Some(c) => c,
            None => DEFAULT_CLUSTER.to_string(),
        };
        let credentials = CredentialSource::from_raw(raw.credentials, env, &mut errors);
        let max_request_bytes = raw.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES);
        if max_request_bytes == 0 {
            errors.push(ConfigError::new("max_request_bytes", "must be at least 1"));
        }
        let guardrail = raw
            .guardrail
            .and_then(|g| Guardrail::from_raw(g, "guardrail", &mut errors));
        let defaults = Defaults {
            region: &region,
            endpoint_url: &endpoint_url,
            guardrail: guardrail.as_ref(),
        };
        let models: Vec<ModelConfig> = raw
            .models
            .into_iter()
            .map(|(alias, m)| model(alias, m, &defaults, &mut errors))
            .collect();
        let default_max_tokens = raw.default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        if default_max_tokens == 0 {
            errors.push(ConfigError::new("default_max_tokens", "must be at least 1"));
        }
        let callers = Callers::from_raw(raw.callers, &mut errors);
        let limits = limits(raw.limits, mode, &callers, &models, &mut errors);
        let metrics = metrics_options(raw.metrics, &mut errors);
        match authority {
            Some(authority) if errors.is_empty() => Ok(Config {
                mode,
                region,
                authority,
                cluster,
                max_request_bytes,
                models,
                credentials,
                allow_unlisted_models: raw.allow_unlisted_models.unwrap_or(true),
                default_max_tokens,
                callers,
                limits,
                metrics,
                filter_state: raw.filter_state.unwrap_or(true),
                guardrail,
            }),
            _ => Err(errors),
        }
    }
}

/// The `limits` section, checked against the callers and models it names.
fn limits(
    raw: Vec<RawLimit>,
    mode: Mode,
    callers: &Callers,
    models: &[ModelConfig],
    errors: &mut Vec<ConfigError>,
) -> Limits {
    if !raw.is_empty() && mode == Mode::Sign {
        errors.push(ConfigError::new(
            "limits",
            "belong to the listener's filter (mode single or translate), which knows the caller \
             and sees the answer; the sign-mode filter of the cluster only signs",
        ));
    }
    let names: Vec<&str> = callers.names().collect();
    let priced: Vec<PricedModel<'_>> = models
        .iter()
        .map(|m| PricedModel {
            alias: &m.alias,
            id: &m.id,
            priced: m.pricing.is_some(),
        })
        .collect();
    Limits::from_raw(raw, &names, &priced, errors)
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

fn mode(text: Option<&str>, errors: &mut Vec<ConfigError>) -> Mode {
    match text {
        None | Some("single") => Mode::Single,
        Some("translate") => Mode::Translate,
        Some("sign") => Mode::Sign,
        Some(other) => {
            errors.push(ConfigError::new(
                "mode",
                format!("unknown mode {other:?} (expected \"single\", \"translate\" or \"sign\")"),
            ));
            Mode::Single
        }
    }
}

/// `region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
fn region(
    written: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> String {
    let region = non_empty(written)
        .or_else(|| non_empty(env("AWS_REGION")))
        .or_else(|| non_empty(env("AWS_DEFAULT_REGION")));
    match region {
        Some(r) if is_region(&r) => r,
        Some(r) => {
            errors.push(ConfigError::new(
                "region",
                format!("unknown region format {r:?} (expected e.g. \"us-east-1\")"),
            ));
            String::new()
        }
        None => {
            errors.push(ConfigError::new(
                "region",
                "no region: set `region` or AWS_REGION",
            ));
            String::new()
        }
    }
}

/// Problems of one section, each under the section's field path.
struct Problems<'e> {
    field: String,
    errors: &'e mut Vec<ConfigError>,
}

impl Problems<'_> {
    fn add(&mut self, suffix: &str, message: String) {
        self.errors
            .push(ConfigError::new(format!("{}{suffix}", self.field), message));
    }
}

/// One entry of `models`, its problems reported under `models["<alias>"]`.
fn model(
    alias: String,
    written: RawModel,
    defaults: &Defaults<'_>,
    errors: &mut Vec<ConfigError>,
) -> ModelConfig {
    let mut problems = Problems {
        field: format!("models[{alias:?}]"),
        errors,
    };
    let mut problem = |suffix: &str, message: String| problems.add(suffix, message);
    if alias.trim().is_empty() || alias.len() > MAX_MODEL_ID_LEN {
        problem("", "an alias must be 1 to 2048 characters".into());
    }
    let o = match written {
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
    let guardrail = match o.guardrail {
        None => defaults.guardrail.cloned(),
        Some(g) => {
            let field = format!("{}.guardrail", problems.field);
            Guardrail::from_raw(g, &field, problems.errors)
        }
    };
    let mut problem = |suffix: &str, message: String| problems.add(suffix, message);
    let mut additional_request_fields = ExtraFields::default();
    for (key, value) in o.additional_request_fields.unwrap_or_default() {
        match serde_json::value::to_raw_value(&value) {
            Ok(raw) => additional_request_fields.0.push((key, raw)),
            Err(e) => problem(&format!(".additional_request_fields.{key}"), e.to_string()),
        }
    }
    let upstream = upstream(o.region, o.endpoint, defaults, &mut problem);
    let id = o.id;
    if id.trim().is_empty() || id.len() > MAX_MODEL_ID_LEN {
        problem(
            ".id",
            "must be a Bedrock model ID, inference profile ID or ARN".into(),
        );
    }
    let api = match o.api.as_deref() {
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
    if o.max_tokens == Some(0) {
        problem(".max_tokens", "must be at least 1".into());
    }
    let family = chat_family(o.family.as_deref(), &id, api, &mut problem);
    if let Some(p) = &o.pricing {
        for (name, message) in p.problems() {
            problem(&format!(".pricing.{name}"), message);
        }
    }
    ModelConfig {
        alias,
        id,
        api,
        max_tokens: o.max_tokens,
        family,
        upstream,
        cluster: non_empty(o.cluster),
        region_ids,
        pricing: o.pricing,
        guardrail,
        additional_request_fields,
    }
}

/// A model's own region and endpoint, when it sets either.
fn upstream(
    region: Option<String>,
    endpoint: Option<String>,
    defaults: &Defaults<'_>,
    problem: &mut dyn FnMut(&str, String),
) -> Option<Upstream> {
    if region.is_none() && endpoint.is_none() {
        return None;
    }
    let r = region.unwrap_or_else(|| defaults.region.to_string());
    if !is_region(&r) {
        problem(
            ".region",
            format!("unknown region format {r:?} (expected e.g. \"us-west-2\")"),
        );
    }
    let url = endpoint.unwrap_or_else(|| {
        if r == defaults.region {
            defaults.endpoint_url.to_string()
        } else {
            format!("https://bedrock-runtime.{r}.amazonaws.com")
        }
    });
    match parse_endpoint(&url) {
        Ok(authority) => Some(Upstream {
            region: r,
            authority,
        }),
        Err(message) => {
            problem(".endpoint", message);
            None
        }
    }
}

/// The configured family, else the one the ID names; chat over InvokeModel needs one with a
/// chat body.
fn chat_family(
    name: Option<&str>,
    id: &str,
    api: Api,
    problem: &mut dyn FnMut(&str, String),
) -> Option<Family> {
    let family = match name {
        Some(name) => {
            let f = Family::parse(name).filter(|f| f.is_chat());
            if f.is_none() {
                problem(
                    ".family",
                    format!(
                        "unknown InvokeModel family {name:?} (expected one of {:?})",
                        Family::CHAT_NAMES
                    ),
                );
            }
            f
        }
        None => Family::of_model(id).filter(|f| f.is_chat()),
    };
    if api == Api::Invoke && family.is_none() && !id.trim().is_empty() {
        problem(
            "",
            format!(
                "chat through InvokeModel needs a known model family: the ID names none this \
                 gateway writes bodies for; set `family` (one of {:?}) or use \
                 `\"api\": \"converse\"`",
                Family::CHAT_NAMES
            ),
        );
    }
    family
}

fn metrics_options(raw: RawMetricsOptions, errors: &mut Vec<ConfigError>) -> MetricsOptions {
    let max_models = raw.max_models.unwrap_or(DEFAULT_MAX_MODEL_LABELS);
    if !(1..=MAX_MODEL_LABELS_LIMIT).contains(&max_models) {
        errors.push(ConfigError::new(
            "metrics.max_models",
            format!("must be 1 to {MAX_MODEL_LABELS_LIMIT}"),
        ));
    }
    MetricsOptions {
        enabled: raw.enabled.unwrap_or(true),
        max_models,
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

/// The `:authority` of `https://host[:port]` or `http://host:port` (no path). Default ports are
/// dropped, as the AWS SDKs do for the `Host` they sign. The scheme is only checked: Envoy's
/// cluster decides whether the connection uses TLS.
pub fn parse_endpoint(url: &str) -> Result<String, String> {
    let (default_port, rest) = if let Some(r) = url.strip_prefix("https://") {
        (":443", r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (":80", r)
    } else {
        return Err(format!("{url:?} must start with https:// or http://"));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "{url:?} must be scheme://host[:port] without path or user"
        ));
    }
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    if let Some((host, port)) = authority.rsplit_once(':')
        && !host.ends_with(']')
        && (host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!("{url:?} has an invalid port"));
    }
    Ok(authority.to_ascii_lowercase())
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
        assert_eq!(c.authority, "bedrock-runtime.eu-west-1.amazonaws.com");
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
        assert_eq!(c.authority, "127.0.0.1:8080");
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
        assert_eq!(e, "bedrock-runtime.us-east-1.amazonaws.com");
        let e = parse_endpoint("http://127.0.0.1:8080").unwrap();
        assert_eq!(e, "127.0.0.1:8080");
        assert!(parse_endpoint("https://h/path").is_err());
        assert!(parse_endpoint("https://h:notaport").is_err());
        assert!(parse_endpoint("h:80").is_err());
    }

    #[test]
    fn metrics_section() {
        let c = Config::parse(
            br#"{"region":"us-east-1","metrics":{"enabled":false,"max_models":2}}"#,
            &no_env,
        )
        .unwrap();
        assert_eq!(
            c.metrics,
            MetricsOptions {
                enabled: false,
                max_models: 2
            }
        );
        let errs = Config::parse(
            br#"{"region":"us-east-1","metrics":{"max_models":0}}"#,
            &no_env,
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["metrics.max_models: must be 1 to 10000"]);
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
