//! Test support for the pipeline: configurations, credentials, header lists, and
//! [`MemoryHost`], an in-memory [`Host`] that records everything the pipeline does to it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::host::Host;
use crate::access::RawCaller;
use crate::config::Config;
use crate::credentials::AwsCredentials;
use crate::http::HeaderList;
use crate::limits::{SharedStore, StoreError};
use crate::metrics::CounterHost;
use crate::sigv4;

/// A model with a different inference-profile ID per region.
pub const TWO_REGIONS: &str = r#"{"region":"us-east-1","models":{"claude":{
    "id":"us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "region_ids":{"eu-west-1":"eu.anthropic.claude-3-5-haiku-20241022-v1:0"}}}}"#;

/// A configuration that must load.
pub fn config(json: &str) -> Config {
    Config::parse(json.as_bytes(), &|_| None).unwrap()
}

/// `json` with `"mode": mode` added.
pub fn config_in(mode: &str, json: &str) -> Config {
    config(&json.replacen("{", &format!("{{\"mode\":\"{mode}\","), 1))
}

/// SigV4 keys (the suite's example key), with a session token when given one.
pub fn keys(token: Option<&str>) -> AwsCredentials {
    AwsCredentials::Keys(sigv4::Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: token.map(str::to_string),
    })
}

/// A caller as written in the configuration, with the digest of `key`.
pub fn raw_caller(name: &str, key: &str, models: &[&str]) -> RawCaller {
    use sha2::{Digest, Sha256};
    RawCaller {
        name: name.into(),
        key_sha256: hex::encode(Sha256::digest(key.as_bytes())),
        allowed_models: models.iter().map(|m| m.to_string()).collect(),
    }
}

pub fn owned(pairs: &[(&str, &str)]) -> HeaderList {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_string(), v.as_bytes().to_vec()))
        .collect()
}

pub fn text<'a>(headers: &[(&'a str, &'a [u8])]) -> Vec<(&'a str, &'a str)> {
    headers
        .iter()
        .map(|(n, v)| (*n, std::str::from_utf8(v).unwrap()))
        .collect()
}

/// An HTTP call the pipeline made: cluster, headers, body.
pub type HttpCall = (String, Vec<(String, String)>, Vec<u8>);

/// A local reply the pipeline sent.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A proxy in memory: the request and response as the pipeline left them, its local replies,
/// properties, stats and HTTP calls.
#[derive(Default)]
pub struct MemoryHost {
    pub now: u64,
    pub request_headers: HeaderList,
    pub request_body: Vec<u8>,
    pub response_headers: HeaderList,
    pub response_body: Vec<u8>,
    pub replies: Vec<Reply>,
    /// Properties the host has (read by `property`) and the ones the pipeline set.
    pub properties: BTreeMap<String, String>,
    pub counters: Vec<(String, u64)>,
    pub http_calls: Vec<HttpCall>,
    /// The answer being delivered: headers (`:status` first) and body.
    pub http_answer: Option<(HeaderList, Vec<u8>)>,
    pub tick: Option<Duration>,
    /// Host calls that change the request or response, in order (for "before" checks).
    pub calls: Vec<&'static str>,
    /// Shared data (value, compare-and-swap token), as proxy-wasm keeps it for all workers.
    pub shared: BTreeMap<String, (Vec<u8>, u32)>,
    /// Refuse shared data, as a host without it does.
    pub no_shared_data: bool,
}

impl MemoryHost {
    pub fn new(request: &[(&str, &str)]) -> Self {
        MemoryHost {
            now: 1_700_000_000,
            request_headers: owned(request),
            ..MemoryHost::default()
        }
    }

    pub fn request_header(&self, name: &str) -> Option<&str> {
        crate::http::header_text(&self.request_headers, name)
    }

    pub fn response_header(&self, name: &str) -> Option<&str> {
        crate::http::header_text(&self.response_headers, name)
    }

    pub fn counter(&self, name: &str) -> u64 {
        let name = format!("bedrock_filter.{name}");
        self.counters
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v)
    }
}

fn to_owned(headers: &[(&str, &[u8])]) -> HeaderList {
    headers
        .iter()
        .map(|(n, v)| ((*n).to_string(), v.to_vec()))
        .collect()
}

impl SharedStore for MemoryHost {
    fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        if self.no_shared_data {
            return Err(StoreError::Unavailable);
        }
        Ok(self.shared.get(key).cloned())
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        if self.no_shared_data {
            return Err(StoreError::Unavailable);
        }
        // proxy-wasm: a stale token is refused; a key that does not exist takes any write.
        let current = self.shared.get(key).map(|(_, c)| *c);
        if let (Some(cas), Some(current)) = (cas, current)
            && cas != current
        {
            return Err(StoreError::CasMismatch);
        }
        let next = current.unwrap_or(0) + 1;
        self.shared.insert(key.to_string(), (value.to_vec(), next));
        Ok(())
    }
}

impl CounterHost for MemoryHost {
    fn define_counter(&mut self, name: &str) -> Option<u32> {
        self.counters.push((name.to_string(), 0));
        u32::try_from(self.counters.len() - 1).ok()
    }

    fn add(&mut self, id: u32, value: u64) {
        if let Some((_, v)) = self.counters.get_mut(id as usize) {
            *v += value;
        }
    }
}

impl Host for MemoryHost {
    fn now_unix_secs(&mut self) -> u64 {
        self.now
    }

    fn request_headers(&mut self) -> HeaderList {
        self.request_headers.clone()
    }

    fn set_request_headers(&mut self, headers: &[(&str, &[u8])]) -> bool {
        self.calls.push("set_request_headers");
        self.request_headers = to_owned(headers);
        true
    }

    fn request_body(&mut self, size: usize) -> Vec<u8> {
        self.request_body.get(..size).unwrap_or_default().to_vec()
    }

    fn set_request_body(&mut self, size: usize, body: &[u8]) -> bool {
        self.calls.push("set_request_body");
        self.request_body
            .splice(..size.min(self.request_body.len()), body.iter().copied());
        true
    }

    fn response_headers(&mut self) -> HeaderList {
        self.response_headers.clone()
    }

    fn set_response_headers(&mut self, headers: &[(&str, &[u8])]) -> bool {
        self.calls.push("set_response_headers");
        self.response_headers = to_owned(headers);
        true
    }

    fn response_body(&mut self, size: usize) -> Vec<u8> {
        self.response_body.get(..size).unwrap_or_default().to_vec()
    }

    fn set_response_body(&mut self, size: usize, body: &[u8]) -> bool {
        self.calls.push("set_response_body");
        self.response_body
            .splice(..size.min(self.response_body.len()), body.iter().copied());
        true
    }

    fn send_reply(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        self.calls.push("send_reply");
        self.replies.push(Reply {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
                .collect(),
            body: body.to_vec(),
        });
    }

    fn property(&mut self, path: &[&str]) -> Option<String> {
        self.properties.get(&path.join(".")).cloned()
    }

    fn set_property(&mut self, name: &str, value: &str) -> bool {
        self.properties.insert(name.to_string(), value.to_string());
        true
    }

    fn dispatch_http_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        _timeout: Duration,
    ) -> Result<u32, String> {
        self.http_calls.push((
            cluster.to_string(),
            headers
                .iter()
                .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
                .collect(),
            body.unwrap_or_default().to_vec(),
        ));
        u32::try_from(self.http_calls.len()).map_err(|e| e.to_string())
    }

    fn http_call_headers(&mut self) -> HeaderList {
        self.http_answer
            .as_ref()
            .map(|(h, _)| h.clone())
            .unwrap_or_default()
    }

    fn http_call_body(&mut self, size: usize) -> Vec<u8> {
        self.http_answer
            .as_ref()
            .map(|(_, b)| b.get(..size).unwrap_or(b).to_vec())
            .unwrap_or_default()
    }

    fn set_tick_period(&mut self, period: Duration) {
        self.tick = Some(period);
    }
}

/// A worker for `json` signing with fixed `creds`.
pub fn worker(json: &str, creds: Option<AwsCredentials>) -> super::Worker {
    super::Worker::with_provider(
        config(json),
        crate::credentials::CredentialsProvider::fixed(creds),
    )
}

/// A `POST /v1/chat/completions` with `body`.
pub fn chat_req(body: &[u8]) -> super::ClientRequest<'_> {
    super::ClientRequest {
        anthropic_beta: None,
        path: "/v1/chat/completions",
        content_type: Some("application/json"),
        body,
    }
}

/// Translate and (when the worker signs) sign, as a request that is allowed goes upstream.
pub fn prepare(
    w: &mut super::Worker,
    endpoint: super::Endpoint,
    client: &super::ClientRequest<'_>,
    now: u64,
) -> Result<(super::UpstreamRequest, super::Exchange), crate::error::ApiError> {
    let (mut req, exchange) = w.translate(endpoint, client, now)?;
    if w.config.mode.signs() {
        w.sign(&mut req, client.body, now)?;
    }
    Ok((req, exchange))
}
