//! What the host tests share: where the `.wasm` is, the shipped plugin configurations, a SigV4
//! oracle (AWS's own `aws-sigv4`), Bedrock answers built with the filter's event-stream encoder.
#![allow(dead_code)] // each test binary uses part of it

pub mod wasm;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bedrock_filter::eventstream::{Message, encode_to_vec};
use proxy_host::{Host, HostBuilder, UpstreamRequest};
use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";
pub const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The filter as Envoy loads it: `BEDROCK_FILTER_WASM` (the Makefile sets it), else the shipped
/// module (wasm-opt's output, `make wasm`) in `$CARGO_TARGET_DIR` or the repository's
/// `target/`, else Cargo's own build there.
pub fn wasm_path() -> PathBuf {
    if let Ok(p) = std::env::var("BEDROCK_FILTER_WASM") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("target"));
    let shipped = target.join("bedrock_filter.wasm");
    let built = target.join("wasm32-wasip1/release/bedrock_filter.wasm");
    for path in [shipped, built] {
        if path.exists() {
            return path;
        }
    }
    panic!(
        "no bedrock_filter.wasm in {}: run `make wasm` (or set BEDROCK_FILTER_WASM)",
        target.display()
    )
}

/// The `configuration` values of the Wasm filters in one of envoy/*.yaml, as shipped, in file
/// order (each the block under a `value: |`).
pub fn shipped_plugin_configs(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("envoy").join(file)).unwrap();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut configs = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() != "value: |" {
            continue;
        }
        let mut block = String::new();
        while let Some(next) = lines.next_if(|l| indent(l) > indent(line) && !l.trim().is_empty()) {
            block.push_str(next.trim());
            block.push('\n');
        }
        configs.push(block);
    }
    assert!(!configs.is_empty(), "no `value: |` in envoy/{file}");
    configs
}

/// The (first) Wasm filter configuration of envoy/`file`.
pub fn shipped_plugin_config(file: &str) -> String {
    shipped_plugin_configs(file).remove(0)
}

/// The endpoints' `filter_metadata.bedrock` of envoy/`file`: (region, host) pairs.
pub fn shipped_bedrock_endpoints(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("envoy").join(file)).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("bedrock: { region: "))
        .map(|rest| {
            let (region, host) = rest.split_once(", host: ").unwrap();
            (region.to_string(), host.trim_end_matches(" }").to_string())
        })
        .collect()
}

/// envoyctl.py's demo credentials (what `make run` hands Envoy for bedrock-sim).
pub fn demo_credentials() -> (String, String) {
    let text = std::fs::read_to_string(repo().join("envoy/envoyctl.py")).unwrap();
    let constant = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no {name} in envoyctl.py"))
            .to_string()
    };
    (constant("DEMO_ACCESS_KEY"), constant("DEMO_SECRET_KEY"))
}

/// A host like `make run`'s demo: demo.yaml's plugin configuration, the demo keys in the VM's
/// environment (host_env_keys), the `bedrock` cluster.
pub fn demo_builder() -> HostBuilder {
    let (akid, secret) = demo_credentials();
    Host::builder()
        .plugin_configuration(shipped_plugin_config("demo.yaml"))
        .env("AWS_ACCESS_KEY_ID", &akid)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .cluster("bedrock")
}

pub fn demo_host() -> Host {
    demo_builder().load(&wasm_path()).unwrap()
}

pub fn chat_headers(path: &str) -> Vec<(&str, &str)> {
    vec![
        (":method", "POST"),
        (":path", path),
        (":authority", "localhost:10000"),
        (":scheme", "http"),
        ("content-type", "application/json"),
        ("authorization", "Bearer sk-caller-key-never-upstream"),
        ("x-request-id", "7d1c3f5e-0000-4000-8000-000000000001"),
    ]
}

pub fn chat_body(content: &str, stream: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": content}],
        "stream": stream,
    }))
    .unwrap()
}

/// A Converse answer as Bedrock sends it.
pub fn converse_answer(text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
        "metrics": {"latencyMs": 42}
    }))
    .unwrap()
}

/// A ConverseStream answer: messageStart, one delta per word, stop, metadata.
pub fn converse_stream_answer(words: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |t: &str, v: Value| {
        out.extend(encode_to_vec(&Message::new_event(t, v.to_string().into_bytes())).unwrap())
    };
    push("messageStart", json!({"role": "assistant"}));
    for w in words {
        push(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": w}}),
        );
    }
    push("contentBlockStop", json!({"contentBlockIndex": 0}));
    push("messageStop", json!({"stopReason": "end_turn"}));
    push(
        "metadata",
        json!({"usage": {"inputTokens": 5, "outputTokens": words.len(), "totalTokens": 5 + words.len()},
               "metrics": {"latencyMs": 7}}),
    );
    out
}

pub fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The `data:` events of an SSE body, `[DONE]` included.
pub fn sse_data(body: &[u8]) -> Vec<String> {
    String::from_utf8(body.to_vec())
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            e.lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or_else(|| panic!("SSE event without data: {e:?}"))
                .to_string()
        })
        .collect()
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
pub struct Authorization {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(value: &str) -> Authorization {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .expect("a SigV4 authorization");
    let part = |name: &str| {
        rest.split(", ")
            .find_map(|p| p.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {value}"))
            .to_string()
    };
    let credential = part("Credential=");
    let scope: Vec<&str> = credential.split('/').collect();
    assert_eq!(scope.len(), 5, "credential scope {credential}");
    assert_eq!(scope[4], "aws4_request");
    Authorization {
        access_key: scope[0].into(),
        date: scope[1].into(),
        region: scope[2].into(),
        service: scope[3].into(),
        signed_headers: part("SignedHeaders=")
            .split(';')
            .map(String::from)
            .collect(),
        signature: part("Signature="),
    }
}

/// Check the upstream request's SigV4 signature with AWS's own implementation, with Bedrock's
/// (botocore's) settings, over exactly the headers the filter signed. Returns the access key.
pub fn verify_sigv4(
    up: &UpstreamRequest,
    secret_for: impl Fn(&str) -> (String, Option<String>),
    region: &str,
) -> String {
    let auth = parse_authorization(up.header("authorization").expect("no authorization"));
    assert_eq!(auth.region, region, "signed for the wrong region");
    assert_eq!(auth.service, "bedrock");
    let amz_date = up.header("x-amz-date").expect("no x-amz-date");
    assert_eq!(&amz_date[..8], auth.date);
    for required in ["host", "x-amz-date"] {
        assert!(
            auth.signed_headers.iter().any(|h| h == required),
            "{required} not signed"
        );
    }
    let time = parse_amz_date(amz_date);
    let (secret, token) = secret_for(&auth.access_key);
    let identity: Identity =
        Credentials::new(&auth.access_key, secret, token, None, "proxy-host-test").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Double;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.session_token_mode = SessionTokenMode::Include;
    settings.excluded_headers = Some(Vec::<Cow<'static, str>>::new());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    // `host` is what the filter signed: Envoy sends `:authority` as the Host header.
    let headers: Vec<(String, String)> = auth
        .signed_headers
        .iter()
        .map(|name| {
            let value = if name == "host" {
                up.header(":authority").expect("no :authority")
            } else {
                up.header(name)
                    .unwrap_or_else(|| panic!("signed header {name} not sent"))
            };
            (name.clone(), value.to_string())
        })
        .collect();
    let uri = up.header(":path").unwrap();
    let signable = SignableRequest::new(
        up.header(":method").unwrap(),
        uri,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&up.body),
    )
    .unwrap();
    let output = sign(signable, &params).unwrap();
    assert_eq!(
        output.signature(),
        auth.signature,
        "the signature does not verify for {} {uri}",
        auth.access_key
    );
    auth.access_key
}

fn parse_amz_date(s: &str) -> SystemTime {
    // YYYYMMDDTHHMMSSZ
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(4, 6), n(6, 8));
    let (hh, mm, ss) = (n(9, 11), n(11, 13), n(13, 15));
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

/// Every test ends here: nothing a real host would have refused or ignored, no trap.
pub fn assert_clean(host: &Host) {
    assert!(host.failure().is_none(), "VM failed: {:?}", host.failure());
    assert!(
        host.violations().is_empty(),
        "host violations:\n{}",
        host.violations().join("\n")
    );
    assert!(
        !host.log_text().contains("panicked"),
        "a panic was logged:\n{}",
        host.log_text()
    );
}
