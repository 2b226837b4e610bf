//! Robustness properties: every entry point that reads untrusted bytes answers `Ok` or `Err`
//! for any input and never panics (a panic traps the wasm VM for every request on the worker).
//!
//! Inputs come from a deterministic PRNG: valid seed bodies mutated byte-wise and
//! structurally, generated JSON values with the field names the translators look for, and
//! event streams cut, corrupted and re-split. A failure prints the input that caused it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use bedrock_filter::bedrock::Family;
use bedrock_filter::bedrock::path::{NativeOperation, Operation};
use bedrock_filter::config::Config;
use bedrock_filter::credentials::{AwsCredentials, CredentialsProvider};
use bedrock_filter::eventstream::{Decoder, Message, encode};
use bedrock_filter::pipeline::{ClientRequest, Endpoint, Worker};
use bedrock_filter::sigv4;
use bedrock_filter::translate::chat::invoke::InvokeStreamTranslator;
use bedrock_filter::translate::chat::response::CompletionMeta;
use bedrock_filter::translate::chat::stream::ConverseStreamTranslator;
use bedrock_filter::translate::chat::{self, ToolNames};
use bedrock_filter::translate::embeddings;
use bedrock_filter::translate::messages::{self, MessagesStreamTranslator};
use serde_json::{Value, json};

/// Iterations per property; raise with ROBUSTNESS_ITERATIONS for a longer soak.
fn iterations() -> usize {
    std::env::var("ROBUSTNESS_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "image_url",
    "url",
    "file",
    "file_data",
    "filename",
    "tools",
    "function",
    "name",
    "parameters",
    "tool_choice",
    "tool_calls",
    "id",
    "arguments",
    "tool_call_id",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "include_usage",
    "n",
    "reasoning_effort",
    "reasoning_content",
    "reasoning_signature",
    "thinking",
    "budget_tokens",
    "thinking_blocks",
    "signature",
    "cache_control",
    "response_format",
    "json_schema",
    "schema",
    "input",
    "encoding_format",
    "dimensions",
    "input_type",
    "system",
    "anthropic_version",
    "additional_model_request_fields",
    "top_k",
    "logprobs",
    "user",
    "metadata",
    "detail",
];
const STRINGS: &[&str] = &[
    "",
    " ",
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "function",
    "text",
    "image_url",
    "file",
    "auto",
    "required",
    "none",
    "high",
    "json_schema",
    "json_object",
    "data:image/png;base64,iVBORw0KGgo=",
    "data:image/png;base64,@@",
    "data:;base64,",
    "https://x/y.png",
    "{\"a\":1}",
    "{",
    "amazon.titan-embed-text-v2:0",
    "cohere.embed-english-v3",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "é\u{0}\u{1F600}",
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x",
];

fn gen_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 5 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(*rng.pick(&[0i64, 1, -1, 2, 4096, i64::MAX, i64::MIN])),
        3 => json!(*rng.pick(&[0.5f64, -0.0, 1e308, 2.5, 1.0])),
        4 | 5 => json!(*rng.pick(STRINGS)),
        6 | 7 => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(6) {
                map.insert((*rng.pick(KEYS)).to_string(), gen_value(rng, depth + 1));
            }
            Value::Object(map)
        }
        _ => Value::Array(
            (0..rng.below(4))
                .map(|_| gen_value(rng, depth + 1))
                .collect(),
        ),
    }
}

const SEEDS: &[&str] = &[
    r#"{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}],"reasoning_content":"r","reasoning_signature":"s"},{"role":"tool","tool_call_id":"c1","content":"ok"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto","max_tokens":10,"stream":true,"stream_options":{"include_usage":true},"reasoning_effort":"low","response_format":{"type":"json_object"}}"#,
    r#"{"model":"amazon.titan-embed-text-v2:0","input":["a"],"encoding_format":"base64","dimensions":256}"#,
    r#"{"model":"cohere.embed-english-v3","input":["a","b"],"input_type":"search_query"}"#,
    r#"{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":5,"system":"x","messages":[{"role":"user","content":"hi"}],"stream":true,"thinking":{"type":"enabled","budget_tokens":1024}}"#,
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            1 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(16)).min(len);
                out.drain(a..b);
            }
            2 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(32)).min(len);
                let piece = out[a..b].to_vec();
                let at = rng.below(len);
                out.splice(at..at, piece);
            }
            3 => {
                let token = *rng.pick(&[
                    &b"null"[..],
                    b"[]",
                    b"{}",
                    b"\"",
                    b"\\u0000",
                    b"1e999",
                    b"-",
                    b"[[[[[[[[",
                    b"\xff\xfe",
                    b",",
                    b":",
                    b"\"\\ud800\"",
                ]);
                let at = rng.below(len + 1);
                out.splice(at..at, token.iter().copied());
            }
            4 => out.truncate(rng.below(len + 1)),
            _ => {}
        }
    }
    out
}

/// Inputs for JSON entry points: raw seeds, mutated seeds, generated documents.
fn json_inputs(seed: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut rng = Rng(seed);
    (0..iterations()).map(move |i| match i % 3 {
        0 => mutate(&mut rng, rng_seed(i).as_bytes()),
        1 => {
            let mut doc = serde_json::Map::new();
            for _ in 0..rng.below(8) {
                doc.insert((*rng.pick(KEYS)).to_string(), gen_value(&mut rng, 0));
            }
            serde_json::to_vec(&doc).unwrap()
        }
        _ => {
            let mut v: Value = serde_json::from_str(rng_seed(i)).unwrap();
            let key = *rng.pick(KEYS);
            v[key] = gen_value(&mut rng, 0);
            serde_json::to_vec(&v).unwrap()
        }
    })
}

fn rng_seed(i: usize) -> &'static str {
    SEEDS[i % SEEDS.len()]
}

/// Runs `f` on each input; on a panic, prints the input and fails.
fn no_panic(name: &str, inputs: impl Iterator<Item = Vec<u8>>, mut f: impl FnMut(&[u8])) {
    let mut n = 0;
    for input in inputs {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(&input))) {
            eprintln!(
                "{name}: panic on input {:?}",
                String::from_utf8_lossy(&input)
            );
            resume_unwind(panic);
        }
        n += 1;
    }
    eprintln!("{name}: {n} inputs, no panic");
}

fn worker() -> Worker {
    let env = |_: &str| None;
    let cfg = Config::parse(
        br#"{"region":"us-east-1","models":{"inv":{"id":"anthropic.claude-3-haiku-20240307-v1:0","api":"invoke"}}}"#,
        &env,
    )
    .unwrap();
    let credentials = AwsCredentials::Keys(sigv4::Credentials {
        access_key_id: "AKID".into(),
        secret_access_key: "secret".into(),
        session_token: Some("token".into()),
    });
    Worker::with_provider(cfg, CredentialsProvider::fixed(Some(credentials)))
}

#[test]
fn request_translators_never_panic() {
    no_panic("chat::request", json_inputs(1), |b| {
        if let Ok(req) = chat::request::parse(b)
            && let Ok(t) = chat::request::to_request(&req)
        {
            // Texts are copied as the client wrote them: what goes out must still be JSON.
            if let Ok(out) = chat::request::converse_body(&t, b.len()) {
                assert!(
                    serde_json::from_slice::<serde::de::IgnoredAny>(&out).is_ok(),
                    "not JSON: {}",
                    String::from_utf8_lossy(&out)
                );
            }
        }
    });
    no_panic("embeddings::to_invoke", json_inputs(2), |b| {
        let _ = embeddings::to_invoke(b, &Default::default(), &embeddings::model_as_given);
    });
    no_panic("messages::to_invoke", json_inputs(3), |b| {
        let _ = messages::to_invoke(b, &|_| 4096, &[]);
    });
    let mut w = worker();
    let mut rng = Rng(4);
    no_panic("pipeline translate + sign", json_inputs(4), |b| {
        let endpoint = *rng.pick(&[
            Endpoint::ChatCompletions,
            Endpoint::Embeddings,
            Endpoint::Messages,
            Endpoint::Native(NativeOperation::Model(Operation::Converse)),
        ]);
        let client = ClientRequest {
            anthropic_beta: None,
            path: "/model/x%3Ay/converse",
            content_type: Some("application/json"),
            body: b,
        };
        if let Ok((mut req, _)) = w.translate(endpoint, &client, 1_700_000_000) {
            let _ = w.sign(&mut req, b, 1_700_000_000);
        }
    });
}

#[test]
fn config_parsing_never_panics() {
    let env = |_: &str| None;
    let mut rng = Rng(5);
    let seed = br#"{"region":"us-east-1","endpoint":"http://127.0.0.1:1","max_request_bytes":10,"models":{"a":"x","b":{"id":"y","api":"invoke","family":"anthropic","region":"eu-west-1","endpoint":"https://h:1","max_tokens":1}},"allow_unlisted_models":false,"default_max_tokens":3}"#;
    let inputs = (0..iterations()).map(move |_| mutate(&mut rng, seed));
    no_panic("Config::parse", inputs, |b| {
        let _ = Config::parse(b, &env);
    });
}

fn converse_stream_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    for (event, payload) in [
        ("messageStart", json!({"role": "assistant"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "hi"}}),
        ),
        (
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}}),
        ),
        ("messageStop", json!({"stopReason": "tool_use"})),
        (
            "metadata",
            json!({"usage": {"inputTokens": 1, "outputTokens": 1}}),
        ),
    ] {
        let msg = Message::new_event(event, serde_json::to_vec(&payload).unwrap());
        encode(&msg, &mut out).unwrap();
    }
    out
}

fn invoke_stream_bytes() -> Vec<u8> {
    use base64::Engine;
    let mut out = Vec::new();
    for event in [
        json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "model": "x", "content": [], "usage": {"input_tokens": 1, "output_tokens": 0}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
        json!({"type": "message_stop"}),
    ] {
        let bytes =
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&event).unwrap());
        let payload = serde_json::to_vec(&json!({"bytes": bytes, "p": "abc"})).unwrap();
        encode(&Message::new_event("chunk", payload), &mut out).unwrap();
    }
    out
}

/// Feeds `input` in random pieces to a stream translator and finishes it.
fn feed_randomly(
    rng: &mut Rng,
    input: &[u8],
    mut feed: impl FnMut(&[u8], &mut Vec<u8>),
    finish: impl FnOnce(&mut Vec<u8>),
) {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(64));
        let (piece, tail) = rest.split_at(n);
        feed(piece, &mut out);
        rest = tail;
    }
    finish(&mut out);
}

#[test]
fn stream_translators_never_panic() {
    let meta = CompletionMeta {
        id: "chatcmpl-x".into(),
        created: 1,
        model: "m".into(),
    };
    let converse = converse_stream_bytes();
    let invoke = invoke_stream_bytes();
    let mut rng = Rng(6);
    let mut split = Rng(7);
    let inputs = (0..iterations()).map(move |i| {
        let base = if i % 2 == 0 { &converse } else { &invoke };
        if i % 5 == 0 {
            base.clone()
        } else {
            mutate(&mut rng, base)
        }
    });
    no_panic("stream translators", inputs, |b| {
        let mut t = ConverseStreamTranslator::new(meta.clone(), true, ToolNames::default());
        let mut t2 = ConverseStreamTranslator::new(meta.clone(), true, ToolNames::default());
        feed_randomly(&mut split, b, |p, o| t.feed(p, o), |o| t2.finish(o));
        let mut t = InvokeStreamTranslator::new(
            Family::Anthropic,
            meta.clone(),
            true,
            ToolNames::default(),
        );
        let mut out = Vec::new();
        t.feed(b, &mut out);
        t.finish(&mut out);
        let mut t =
            InvokeStreamTranslator::new(Family::Nova, meta.clone(), false, ToolNames::default());
        t.feed(b, &mut out);
        t.finish(&mut out);
        let mut t = MessagesStreamTranslator::new("m");
        let mut t2 = MessagesStreamTranslator::new("m");
        feed_randomly(&mut split, b, |p, o| t.feed(p, o), |o| t2.finish(o));
        t.finish(&mut out);
        let mut d = Decoder::new();
        d.feed(b);
        while let Ok(Some(_)) = d.next_frame() {}
        let _ = d.finish();
    });
}

#[test]
fn response_translators_never_panic() {
    let meta = CompletionMeta {
        id: "chatcmpl-x".into(),
        created: 1,
        model: "m".into(),
    };
    let seed = br#"{"output":{"message":{"role":"assistant","content":[{"text":"a"},{"toolUse":{"toolUseId":"t","name":"f","input":{"x":1}}},{"reasoningContent":{"reasoningText":{"text":"r","signature":"s"}}}]}},"stopReason":"tool_use","usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3,"cacheReadInputTokens":4},"metrics":{"latencyMs":1}}"#;
    let mut rng = Rng(8);
    let inputs = (0..iterations()).map(move |_| mutate(&mut rng, seed));
    no_panic("chat::from_converse", inputs, |b| {
        let _ = chat::response::from_converse(b, &meta, &ToolNames::default());
        let _ = messages::from_invoke(b, "m");
        let _ = bedrock_filter::bedrock::error::from_response(400, Some("ValidationException"), b);
    });
}

#[test]
fn signing_never_panics() {
    let mut rng = Rng(9);
    let creds = sigv4::Credentials {
        access_key_id: "AKID".into(),
        secret_access_key: "s".into(),
        session_token: None,
    };
    let mut cache = sigv4::SigningKeyCache::new();
    let pieces = [
        "/", "model", "%", "%3A", "%zz", "..", ".", "//", "é", " ", "?", "&", "=", "a=b", "\u{0}",
        "+", "%2F",
    ];
    let inputs = (0..iterations()).map(move |_| {
        let mut s = String::new();
        for _ in 0..rng.below(12) {
            let piece = *rng.pick(&pieces);
            s.push_str(piece);
        }
        s.into_bytes()
    });
    no_panic("sigv4 sign", inputs, |b| {
        let text = String::from_utf8_lossy(b);
        let (path, query) = text.split_once('?').unwrap_or((&text, ""));
        let headers = [("host", "h"), ("x-odd", text.as_ref())];
        let req = sigv4::SignableRequest {
            method: "POST",
            path,
            query,
            headers: &headers,
            payload: b,
        };
        let params = sigv4::SigningParams {
            credentials: &creds,
            region: "us-east-1",
            service: "bedrock",
            unix_time_secs: 1_700_000_000,
            settings: sigv4::Settings::default(),
        };
        let _ = cache.sign(&req, &params);
    });
}
