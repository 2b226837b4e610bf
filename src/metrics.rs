//! The filter's Envoy stats: names, labels and values, independent of the host.
//!
//! Stats are counters named with dots, label values in fixed positions, so Envoy's tag
//! extraction (`stats_config.stats_tags`, see `envoy/demo.yaml`) can turn them into Prometheus
//! labels:
//!
//! | stat (Envoy adds `wasmcustom.`) | meaning |
//! |---|---|
//! | `bedrock_filter.requests.model.<m>.result.<2xx\|4xx\|5xx\|local_error>` | answered requests |
//! | `bedrock_filter.tokens.model.<m>.kind.<input\|output\|cache_read\|cache_write>` | tokens |
//! | `bedrock_filter.streams.model.<m>` | streamed answers started |
//! | `bedrock_filter.upstream_errors.type.<ErrorType>` | Bedrock errors by `x-amzn-ErrorType` |
//! | `bedrock_filter.cost_micro_usd.model.<m>` | estimated cost, from the model's `pricing` |
//! | `bedrock_filter.caller_requests.caller.<c>` | answered requests of a caller (refusals included) |
//! | `bedrock_filter.caller_tokens.caller.<c>` | a caller's tokens (input + output + cache) |
//! | `bedrock_filter.caller_cost_micro_usd.caller.<c>` | a caller's estimated cost |
//! | `bedrock_filter.caller_rate_limited.caller.<c>.limit.<requests\|tokens\|micro_usd>` | refusals over a limit |
//!
//! Label values are sanitized (`[A-Za-z0-9_-]`, anything else becomes `_`) and bounded in number,
//! so a client naming many unlisted models cannot create unbounded stats.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::MetricsOptions;
use crate::usage::{Pricing, Usage};

/// Most distinct upstream error types per worker; later ones count as `other`.
pub const MAX_ERROR_LABELS: usize = 32;
/// Longest label value kept (longer values are cut).
const MAX_LABEL_LEN: usize = 64;

/// How a request ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultClass {
    /// The filter answered itself with an error (bad request, refused caller, …).
    LocalError,
    /// The status of the answer that came from Bedrock (translated).
    Status(u16),
}

impl ResultClass {
    pub fn label(self) -> &'static str {
        match self {
            ResultClass::LocalError => "local_error",
            ResultClass::Status(200..=299) => "2xx",
            ResultClass::Status(400..=499) => "4xx",
            ResultClass::Status(500..=599) => "5xx",
            ResultClass::Status(_) => "other",
        }
    }
}

/// `s` as a stat name part: `[A-Za-z0-9_-]`, at most 64 bytes, never empty.
pub fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_LABEL_LEN)
        .collect();
    if out.is_empty() {
        out.push_str("unknown");
    }
    out
}

/// The error type from `x-amzn-ErrorType` (`ValidationException:http://…` → `ValidationException`).
pub fn error_type_label(header: Option<&str>) -> String {
    let t = header.unwrap_or("").split(':').next().unwrap_or("").trim();
    sanitize(t)
}

pub fn requests_name(model: &str, class: ResultClass) -> String {
    format!(
        "bedrock_filter.requests.model.{model}.result.{}",
        class.label()
    )
}

pub fn tokens_name(model: &str, kind: &str) -> String {
    format!("bedrock_filter.tokens.model.{model}.kind.{kind}")
}

pub fn streams_name(model: &str) -> String {
    format!("bedrock_filter.streams.model.{model}")
}

pub fn upstream_errors_name(error_type: &str) -> String {
    format!("bedrock_filter.upstream_errors.type.{error_type}")
}

pub fn cost_name(model: &str) -> String {
    format!("bedrock_filter.cost_micro_usd.model.{model}")
}

/// A caller's stat: `requests`, `tokens`, `cost_micro_usd`.
pub fn caller_name(caller: &str, what: &str) -> String {
    format!("bedrock_filter.caller_{what}.caller.{caller}")
}

/// Refusals of a caller over a limit of `measure` (`requests`, `tokens`, `micro_usd`).
pub fn caller_limited_name(caller: &str, measure: &str) -> String {
    format!("bedrock_filter.caller_rate_limited.caller.{caller}.limit.{measure}")
}

/// How counters reach the host: define once, then add.
pub trait CounterHost {
    /// Define a counter, returning its id (`None` when the host refused).
    fn define_counter(&mut self, name: &str) -> Option<u32>;
    fn add(&mut self, id: u32, value: u64);
}

/// Per-worker stat state: counter ids by name (defined on first use, never per request again)
/// and the label values seen so far.
#[derive(Debug, Default)]
pub struct Metrics {
    options: MetricsOptions,
    ids: BTreeMap<String, u32>,
    models: BTreeSet<String>,
    error_types: BTreeSet<String>,
}

impl Metrics {
    pub fn new(options: MetricsOptions) -> Self {
        Metrics {
            options,
            ..Metrics::default()
        }
    }

    /// The label for a model (alias or Bedrock ID): sanitized, `other` past the bound.
    pub fn model_label(&mut self, model: &str) -> String {
        bounded(&mut self.models, sanitize(model), self.options.max_models)
    }

    pub fn error_label(&mut self, header: Option<&str>) -> String {
        bounded(
            &mut self.error_types,
            error_type_label(header),
            MAX_ERROR_LABELS,
        )
    }

    /// Add `value` to the counter `name`, defining it the first time.
    pub fn add(&mut self, host: &mut dyn CounterHost, name: String, value: u64) {
        if !self.options.enabled || (value == 0 && self.ids.contains_key(&name)) {
            return;
        }
        let id = match self.ids.get(&name) {
            Some(id) => *id,
            None => {
                let Some(id) = host.define_counter(&name) else {
                    return;
                };
                self.ids.insert(name, id);
                id
            }
        };
        if value > 0 {
            host.add(id, value);
        }
    }

    /// Count a finished request and what it used.
    pub fn request(
        &mut self,
        host: &mut dyn CounterHost,
        model: &str,
        class: ResultClass,
        usage: Option<&Usage>,
        pricing: Option<&Pricing>,
    ) {
        let m = self.model_label(model);
        self.add(host, requests_name(&m, class), 1);
        let Some(usage) = usage else { return };
        for (kind, tokens) in usage.kinds() {
            self.add(host, tokens_name(&m, kind), tokens);
        }
        if let Some(p) = pricing {
            self.add(host, cost_name(&m), p.cost_micro_usd(usage));
        }
    }

    /// Count a caller's finished request and what it used. Callers come from the
    /// configuration (or are `anonymous`), so these series are bounded by it.
    pub fn caller_request(
        &mut self,
        host: &mut dyn CounterHost,
        caller: &str,
        usage: Option<&Usage>,
        cost_micro_usd: u64,
    ) {
        let c = sanitize(caller);
        self.add(host, caller_name(&c, "requests"), 1);
        if let Some(u) = usage {
            let tokens = u.prompt_tokens().saturating_add(u.output_tokens);
            self.add(host, caller_name(&c, "tokens"), tokens);
            self.add(host, caller_name(&c, "cost_micro_usd"), cost_micro_usd);
        }
    }

    /// Count a request refused over one of the caller's limits (`measure`: what it counts).
    pub fn caller_limited(&mut self, host: &mut dyn CounterHost, caller: &str, measure: &str) {
        let name = caller_limited_name(&sanitize(caller), measure);
        self.add(host, name, 1);
    }

    pub fn stream_started(&mut self, host: &mut dyn CounterHost, model: &str) {
        let m = self.model_label(model);
        self.add(host, streams_name(&m), 1);
    }

    pub fn upstream_error(&mut self, host: &mut dyn CounterHost, error_type: Option<&str>) {
        let t = self.error_label(error_type);
        self.add(host, upstream_errors_name(&t), 1);
    }

    /// Number of counters defined so far (for tests and logs).
    pub fn defined(&self) -> usize {
        self.ids.len()
    }
}

fn bounded(seen: &mut BTreeSet<String>, label: String, max: usize) -> String {
    if seen.contains(&label) {
        return label;
    }
    if seen.len() >= max {
        return "other".into();
    }
    seen.insert(label.clone());
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct FakeHost {
        defined: Vec<String>,
        values: BTreeMap<u32, u64>,
    }

    impl CounterHost for FakeHost {
        fn define_counter(&mut self, name: &str) -> Option<u32> {
            self.defined.push(name.to_string());
            Some(self.defined.len() as u32 - 1)
        }
        fn add(&mut self, id: u32, value: u64) {
            *self.values.entry(id).or_default() += value;
        }
    }

    impl FakeHost {
        fn value(&self, name: &str) -> u64 {
            let id = self.defined.iter().position(|n| n == name).unwrap();
            self.values.get(&(id as u32)).copied().unwrap_or(0)
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            requests_name("claude", ResultClass::Status(200)),
            "bedrock_filter.requests.model.claude.result.2xx"
        );
        assert_eq!(
            requests_name("m", ResultClass::LocalError),
            "bedrock_filter.requests.model.m.result.local_error"
        );
        assert_eq!(ResultClass::Status(429).label(), "4xx");
        assert_eq!(ResultClass::Status(503).label(), "5xx");
        assert_eq!(
            tokens_name("m", "cache_read"),
            "bedrock_filter.tokens.model.m.kind.cache_read"
        );
        assert_eq!(
            upstream_errors_name("ThrottlingException"),
            "bedrock_filter.upstream_errors.type.ThrottlingException"
        );
    }

    #[test]
    fn model_names_are_sanitized() {
        assert_eq!(
            sanitize("anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic_claude-3-haiku-20240307-v1_0"
        );
        assert_eq!(
            sanitize("arn:aws:bedrock:us-east-1:1:inference-profile/us.x"),
            "arn_aws_bedrock_us-east-1_1_inference-profile_us_x"
        );
        assert_eq!(sanitize(""), "unknown");
        assert_eq!(sanitize("ü"), "_");
        assert_eq!(sanitize(&"a".repeat(100)).len(), 64);
        assert_eq!(
            error_type_label(Some(
                "ValidationException:http://internal.amazon.com/coral/"
            )),
            "ValidationException"
        );
        assert_eq!(error_type_label(None), "unknown");
    }

    #[test]
    fn labels_are_bounded() {
        let mut m = Metrics::default();
        for i in 0..crate::config::DEFAULT_MAX_MODEL_LABELS {
            assert_eq!(m.model_label(&format!("m{i}")), format!("m{i}"));
        }
        assert_eq!(m.model_label("one-too-many"), "other");
        assert_eq!(m.model_label("m0"), "m0", "known labels stay");
    }

    #[test]
    fn options() {
        let mut m = Metrics::new(MetricsOptions {
            enabled: false,
            max_models: 2,
        });
        assert_eq!(
            (m.model_label("a"), m.model_label("b")),
            ("a".into(), "b".into())
        );
        assert_eq!(m.model_label("c"), "other");
        let mut host = FakeHost::default();
        m.request(&mut host, "a", ResultClass::LocalError, None, None);
        assert!(host.defined.is_empty(), "disabled: nothing defined");
    }

    #[test]
    fn counters_are_defined_once() {
        let mut host = FakeHost::default();
        let mut m = Metrics::default();
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 5,
            cache_read_tokens: 100,
            cache_write_tokens: 0,
        };
        let price = Pricing {
            input_per_1k: 0.003,
            output_per_1k: 0.015,
            cache_read_per_1k: 0.0003,
            cache_write_per_1k: 0.00375,
        };
        for _ in 0..3 {
            m.request(
                &mut host,
                "claude",
                ResultClass::Status(200),
                Some(&usage),
                Some(&price),
            );
        }
        m.stream_started(&mut host, "claude");
        m.upstream_error(&mut host, Some("ThrottlingException"));
        assert_eq!(host.defined.len(), 8, "{:?}", host.defined);
        assert_eq!(m.defined(), 8);
        assert_eq!(
            host.value("bedrock_filter.requests.model.claude.result.2xx"),
            3
        );
        assert_eq!(
            host.value("bedrock_filter.tokens.model.claude.kind.input"),
            30
        );
        assert_eq!(
            host.value("bedrock_filter.tokens.model.claude.kind.cache_read"),
            300
        );
        // 10*3 + 5*15 + 100*0.3 = 135 micro-USD per request.
        assert_eq!(
            host.value("bedrock_filter.cost_micro_usd.model.claude"),
            405
        );
        assert_eq!(host.value("bedrock_filter.streams.model.claude"), 1);
        assert_eq!(
            host.value("bedrock_filter.upstream_errors.type.ThrottlingException"),
            1
        );
    }
}
