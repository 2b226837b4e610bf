//! One worker's state (one per proxy-wasm VM): the validated configuration, the signer and its
//! credentials, the stats. It is configured once, refreshes credentials on the host's timer, and
//! every request of the worker uses it.

use std::time::Duration;

use super::host::Host;
use super::sign::Signer;
use crate::access::{ANONYMOUS, Identity};
use crate::config::{Config, Mode, ModelConfig};
use crate::credentials::{self, CredentialSource, CredentialsProvider, Event};
use crate::error::{ApiError, ConfigError};
use crate::limits::admit::SLOTS;
use crate::limits::{StoreError, counter};
use crate::metrics::Metrics;
use crate::translate::models::{self, ModelEntry};
use crate::usage::Pricing;

/// How often the worker checks whether credentials are due for a refresh.
pub const CREDENTIALS_TICK: Duration = Duration::from_secs(1);

/// Per-worker state shared by every request of the worker.
pub struct Worker {
    pub config: Config,
    pub signer: Signer,
    /// Stat ids, defined on first use.
    pub metrics: Metrics,
    /// Numbers the ids of completions Bedrock sent no request id for.
    next_id: u64,
    /// The credentials call in flight, if any: answers with another token are not ours.
    credentials_call: Option<u32>,
}

/// The model a request is for, as the identity headers, stats and access logs name it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The name the client used (alias or Bedrock ID).
    pub model: String,
    /// What Bedrock is called with.
    pub model_id: String,
    pub region: String,
    /// Set when `model` is an alias of the configuration with a price.
    pub pricing: Option<Pricing>,
}

impl Worker {
    /// A worker for `config`, signing with what its credential source gives (translate mode
    /// never signs: the sign-mode filter holds the credentials).
    pub fn new(config: Config) -> Self {
        let source = if config.mode.signs() {
            config.credentials.clone()
        } else {
            CredentialSource::None
        };
        Worker::with_provider(config, CredentialsProvider::new(source))
    }

    pub fn with_provider(config: Config, credentials: CredentialsProvider) -> Self {
        Worker {
            metrics: Metrics::new(config.metrics),
            config,
            signer: Signer::new(credentials),
            next_id: 0,
            credentials_call: None,
        }
    }

    /// Read the plugin configuration and start the worker: one log line on what it signs with,
    /// the credentials timer and first fetch when they come from a metadata service. `Err`
    /// lists every problem of a configuration the filter refuses.
    pub fn configure(
        host: &mut dyn Host,
        bytes: &[u8],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Worker, Vec<ConfigError>> {
        let config = Config::parse(bytes, env)?;
        create_counters(host, &config)?;
        let mut worker = Worker::new(config);
        let c = &worker.config;
        let source = &c.credentials;
        match source {
            _ if c.mode == Mode::Translate => log::info!(
                "bedrock-filter: translate mode, region {}; requests are signed by the \
                 sign-mode filter of the cluster",
                c.region
            ),
            CredentialSource::None => log::warn!(
                "bedrock-filter: no AWS credentials in the environment or configuration; \
                 requests will fail with 503"
            ),
            other => log::info!(
                "bedrock-filter: region {}, endpoint {}, {}",
                c.region,
                c.authority,
                other.describe()
            ),
        }
        if c.mode.signs() {
            if let Some(warning) = credentials::token_file_warning(source, env) {
                log::warn!("bedrock-filter: {warning}");
            }
            if source.is_remote() {
                host.set_tick_period(CREDENTIALS_TICK);
                // The first fetch now rather than a tick later: requests fail until it lands.
                worker.fetch_credentials(host);
            }
        }
        Ok(worker)
    }

    /// The host's timer: make the credentials call that is due, if any.
    pub fn on_tick(&mut self, host: &mut dyn Host) {
        self.fetch_credentials(host);
    }

    /// Make the credentials call that is due, if any (one at a time).
    fn fetch_credentials(&mut self, host: &mut dyn Host) {
        let now = host.now_unix_secs();
        let credentials = &mut self.signer.credentials;
        if let Some(event) = credentials.check(now) {
            if matches!(event, Event::Failed { .. }) {
                self.credentials_call = None;
            }
            log_event(&event);
        }
        let Some(request) = credentials.poll(now) else {
            return;
        };
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let timeout = Duration::from_millis(request.timeout_ms);
        match host.dispatch_http_call(&request.cluster, &headers, None, timeout) {
            Ok(token) => self.credentials_call = Some(token),
            Err(why) => {
                let why = format!("{why}; is cluster {:?} defined?", request.cluster);
                log_event(&credentials.on_dispatch_failed(now, &why));
            }
        }
    }

    /// The answer to an HTTP call arrived (`num_headers` 0: no answer at all, e.g. a reset).
    pub fn on_http_call_response(
        &mut self,
        host: &mut dyn Host,
        token: u32,
        num_headers: usize,
        body_size: usize,
    ) {
        if self.credentials_call != Some(token) {
            return;
        }
        self.credentials_call = None;
        // No headers means no answer: the host has no map then.
        let status = if num_headers > 0 {
            crate::http::header_text(&host.http_call_headers(), ":status")
                .and_then(|s| s.parse().ok())
        } else {
            None
        };
        // One byte over the limit is enough for the provider to refuse an oversized answer.
        let body = if body_size > 0 {
            host.http_call_body(body_size.min(credentials::MAX_ANSWER_BYTES + 1))
        } else {
            Vec::new()
        };
        let now = host.now_unix_secs();
        let event = self.signer.credentials.on_response(status, &body, now);
        log_event(&event);
        if event == Event::Continue {
            self.fetch_credentials(host);
        }
    }

    /// A new id suffix for a completion Bedrock sends no request id for.
    pub fn next_fallback_id(&mut self, now_secs: u64) -> String {
        self.next_id = self.next_id.wrapping_add(1);
        format!("{now_secs:x}{:08x}", self.next_id)
    }

    /// The target of a translated request: `client_model` is what the client named — for a
    /// `native` request the Bedrock ID of its path (or StartAsyncInvoke's body), used as given
    /// (native paths are never alias-resolved), empty for operations that name no model;
    /// `region` is the one the upstream request is signed for.
    pub fn target(&self, client_model: &str, native: bool, region: &str) -> Target {
        let (model, model_id, pricing) = if native {
            (client_model.to_string(), client_model.to_string(), None)
        } else {
            match self.config.resolve_model(client_model) {
                Ok(m) => (client_model.to_string(), m.id, m.pricing),
                Err(_) => (client_model.to_string(), client_model.to_string(), None),
            }
        };
        Target {
            model,
            model_id,
            region: region.to_string(),
            pricing,
        }
    }

    /// `GET /v1/models[/{id}]`, answered from the configuration: the list holds the
    /// configured aliases `visible` lets the caller see (Bedrock's whole catalogue is not the
    /// filter's to list); one model is answered for an alias, or — with
    /// `allow_unlisted_models` — for any Bedrock model ID, inference profile or ARN that chat
    /// would accept from the caller.
    pub fn answer_models(
        &self,
        path: &str,
        now_secs: u64,
        visible: &dyn Fn(&ModelConfig) -> bool,
    ) -> Result<Vec<u8>, ApiError> {
        let entries: Vec<ModelEntry> = self
            .config
            .models
            .iter()
            .filter(|m| visible(m))
            .map(|m| ModelEntry::new(m.alias.clone(), &m.id))
            .collect();
        match models::requested_id(path) {
            None => Ok(models::list(&entries, now_secs)),
            Some(id) if entries.iter().any(|e| e.id == id) => {
                models::retrieve(&entries, &id, now_secs)
            }
            Some(id) => {
                let unlisted = self.config.allow_unlisted_models
                    && !self.config.models.iter().any(|m| m.alias == id)
                    && is_bedrock_model(&id)
                    && self.config.resolve_model(&id).is_ok_and(|m| visible(&m));
                let entries = if unlisted {
                    vec![ModelEntry::new(id.clone(), &id)]
                } else {
                    Vec::new()
                };
                models::retrieve(&entries, &id, now_secs)
            }
        }
    }

    /// Whether `who` may use `target`: by the name the client used, its Bedrock ID, or an
    /// alias of the configuration for the same Bedrock ID.
    pub fn may_use(&self, who: Identity<'_>, target: &Target) -> bool {
        let aliases = self
            .config
            .models
            .iter()
            .filter(|m| m.id == target.model_id)
            .map(|m| m.alias.as_str());
        who.may_use(&target.model, &target.model_id, aliases)
    }
}

/// Create every counter the limits can charge, at load, so that charges are compare-and-swaps
/// on keys that exist (what creating a key at first use would risk, and what remains while
/// workers start: [`crate::limits::counter::init`]). A host without shared
/// data cannot count: limits it cannot enforce refuse the configuration instead of being off.
fn create_counters(host: &mut dyn Host, config: &Config) -> Result<(), Vec<ConfigError>> {
    if config.limits.is_empty() {
        return Ok(());
    }
    let callers: Vec<&str> = if config.callers.is_empty() {
        vec![ANONYMOUS]
    } else {
        config.callers.names().collect()
    };
    for caller in callers {
        for key in config.limits.keys_of(caller) {
            match counter::init(host, &key, SLOTS.len()) {
                Ok(()) | Err(StoreError::CasMismatch) => {}
                Err(StoreError::Unavailable) => {
                    return Err(vec![ConfigError::new(
                        "limits",
                        "are counted in the proxy's shared data (proxy-wasm \
                         get/set_shared_data), which this host refused: run the filter in a \
                         host that has it (Envoy does), or enforce limits with Envoy's rate \
                         limit filters instead (docs/rate-limits.md)",
                    )]);
                }
            }
        }
    }
    Ok(())
}

/// A Bedrock model ID, inference profile ID or an ARN of Bedrock's (the model it names may
/// be hidden, as in application inference profiles), in the characters Bedrock's model-ID
/// pattern allows (no spaces or control characters, which Bedrock refuses).
fn is_bedrock_model(id: &str) -> bool {
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'/' | b'_');
    id.bytes().all(allowed)
        && (crate::bedrock::model_id::foundation_model(id).is_some()
            || (id.starts_with("arn:aws") && id.split(':').nth(2) == Some("bedrock")))
}

/// One log line per refresh or failure; none for the steps between.
fn log_event(event: &Event) {
    match event {
        Event::Refreshed { .. } => log::info!("bedrock-filter: {event}"),
        Event::Failed { .. } | Event::Expired { .. } => log::warn!("bedrock-filter: {event}"),
        Event::Continue | Event::Ignored => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Callers;
    use crate::pipeline::testing::{config, raw_caller};

    #[test]
    fn targets() {
        let w = Worker::new(config(
            r#"{"region":"eu-west-1","models":{"claude":{"id":"anthropic.claude-3-haiku-20240307-v1:0","pricing":{"input_per_1k":0.00025}}}}"#,
        ));
        let t = w.target("claude", false, "eu-west-1");
        assert_eq!(
            (t.model.as_str(), t.model_id.as_str(), t.region.as_str()),
            (
                "claude",
                "anthropic.claude-3-haiku-20240307-v1:0",
                "eu-west-1"
            )
        );
        assert_eq!(t.pricing.map(|p| p.input_per_1k), Some(0.00025));
        let t = w.target("anthropic.claude-v2:1", true, "eu-west-1");
        assert_eq!(
            (t.model.as_str(), t.model_id.as_str()),
            ("anthropic.claude-v2:1", "anthropic.claude-v2:1")
        );
        // A native path naming an alias goes to Bedrock as written: no resolution.
        let t = w.target("claude", true, "eu-west-1");
        assert_eq!(t.model_id, "claude");
        // An allowed alias grants its model by ID too, and nothing else.
        let mut errors = Vec::new();
        let callers = Callers::from_raw(vec![raw_caller("a", "k", &["claude"])], &mut errors);
        let who = callers.authenticate(Some("k")).unwrap();
        let by_id = w.target("anthropic.claude-3-haiku-20240307-v1:0", false, "eu-west-1");
        assert!(w.may_use(who, &by_id));
        let native = w.target("anthropic.claude-3-haiku-20240307-v1:0", true, "eu-west-1");
        assert!(w.may_use(who, &native));
        let other = w.target("anthropic.claude-v2", false, "eu-west-1");
        assert!(!w.may_use(who, &other));
    }

    #[test]
    fn models_list_shows_what_the_caller_may_see() {
        let w = Worker::new(config(
            r#"{"region":"us-east-1","models":{"claude":"anthropic.claude-v2","nova":"amazon.nova-lite-v1:0"}}"#,
        ));
        let only_claude = |m: &ModelConfig| m.alias.starts_with("claude");
        let list = w.answer_models("/v1/models", 0, &only_claude).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&list).unwrap();
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["claude"]);
        let e = w.answer_models("/v1/models/nova", 0, &only_claude);
        assert_eq!(e.unwrap_err().status, 404);
        // An ID chat accepts is answered too (allow_unlisted_models defaults to true).
        let all = |_: &ModelConfig| true;
        for id in [
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1",
        ] {
            let one = w
                .answer_models(&format!("/v1/models/{id}"), 0, &all)
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&one).unwrap();
            assert_eq!(v["id"], id);
        }
        for id in [
            "gpt-4o",
            "anthropic.claude%20x",
            "anthropic.claude-3-5-haiku-20241022-v1:0%0A",
        ] {
            assert_eq!(
                w.answer_models(&format!("/v1/models/{id}"), 0, &all)
                    .unwrap_err()
                    .status,
                404,
                "not a Bedrock ID: {id}"
            );
        }
        let closed = Worker::new(config(
            r#"{"region":"us-east-1","allow_unlisted_models":false,"models":{"claude":"anthropic.claude-v2"}}"#,
        ));
        let e = closed.answer_models("/v1/models/anthropic.claude-v2", 0, &all);
        assert_eq!(
            e.unwrap_err().status,
            404,
            "only aliases when unlisted are refused"
        );
    }
}
