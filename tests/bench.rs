//! Native timings of the core's hot path, printed as figures (never asserted).
//! Run with `make bench` (release build): `cargo test --release --test bench -- --ignored --nocapture`.
//!
//! The requests and streams are those of the Envoy benchmark when its generator has written
//! them (`python3 wasm-tests/bench/shapes.py target/bench/requests`, the first step of
//! `make bench`; BENCH_REQUESTS_DIR names another directory): chat requests of 0.5–128 KB, an
//! agent request, 60- and 600-event ConverseStreams. Without them, a 2 KB request and a
//! 60-event stream built here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bedrock_filter::config::Config;
use bedrock_filter::credentials::{AwsCredentials, CredentialsProvider};
use bedrock_filter::eventstream::{Message, encode};
use bedrock_filter::limits::{Limits, RawLimit, SharedStore, StoreError, admit};
use bedrock_filter::pipeline::{ClientRequest, Endpoint, Worker};
use bedrock_filter::sigv4;
use bedrock_filter::translate::chat::response::{self, CompletionMeta};
use bedrock_filter::translate::chat::stream::ConverseStreamTranslator;
use bedrock_filter::usage::Usage;
use serde_json::json;

/// Shared data in memory, as the bench's stand-in for the proxy's.
#[derive(Default)]
struct MapStore(std::collections::HashMap<String, (Vec<u8>, u32)>);

impl SharedStore for MapStore {
    fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        Ok(self.0.get(key).cloned())
    }
    fn set(&mut self, key: &str, value: &[u8], _cas: Option<u32>) -> Result<(), StoreError> {
        let cas = self.0.get(key).map_or(1, |(_, c)| c + 1);
        self.0.insert(key.to_string(), (value.to_vec(), cas));
        Ok(())
    }
}

/// Runs `f` repeatedly for about `budget` and returns the mean time per call.
fn time_per_call(budget: Duration, mut f: impl FnMut()) -> Duration {
    for _ in 0..100 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    start.elapsed() / n
}

fn chat_request_2kb() -> Vec<u8> {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(13);
    let body = json!({
        "model": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
            {"role": "user", "content": filler},
            {"role": "assistant", "content": filler},
            {"role": "user", "content": format!("{filler} What now?")},
        ],
        "max_tokens": 512, "temperature": 0.2, "stream": false,
    });
    serde_json::to_vec(&body).unwrap()
}

fn converse_stream_60_events() -> Vec<u8> {
    let mut out = Vec::new();
    let pad = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";
    let mut frame = |event: &str, payload: serde_json::Value| {
        let mut p = payload;
        p["p"] = json!(pad);
        encode(
            &Message::new_event(event, serde_json::to_vec(&p).unwrap()),
            &mut out,
        )
        .unwrap();
    };
    frame("messageStart", json!({"role": "assistant"}));
    for i in 0..56 {
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": format!("token{i} and some more text ")}}),
        );
    }
    frame("contentBlockStop", json!({"contentBlockIndex": 0}));
    frame("messageStop", json!({"stopReason": "end_turn"}));
    frame(
        "metadata",
        json!({"usage": {"inputTokens": 500, "outputTokens": 56, "totalTokens": 556}, "metrics": {"latencyMs": 900}}),
    );
    out
}

/// Named bench inputs: (name, bytes).
type Inputs = Vec<(String, Vec<u8>)>;

/// The files of `dir` whose names end in `suffix`, sorted by size.
fn files(dir: &std::path::Path, suffix: &str) -> Inputs {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Inputs = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(suffix)?.to_string();
            Some((stem, std::fs::read(e.path()).ok()?))
        })
        .collect();
    out.sort_by_key(|(_, body)| body.len());
    out
}

/// The requests and the streams to time.
fn bench_inputs() -> (Inputs, Inputs) {
    let dir = std::env::var_os("BENCH_REQUESTS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/requests"),
        PathBuf::from,
    );
    let mut requests = files(&dir, ".json");
    let mut streams = files(&dir, ".bin");
    if requests.is_empty() {
        requests.push(("chat-2k (built-in)".into(), chat_request_2kb()));
    } else {
        println!("\nrequests and streams from {}", dir.display());
    }
    if streams.is_empty() {
        streams.push((
            "converse-stream-60 (built-in)".into(),
            converse_stream_60_events(),
        ));
    }
    (requests, streams)
}

#[test]
#[ignore = "benchmark: run with make bench"]
fn bench_core() {
    let env = |_: &str| None;
    let cfg = Config::parse(br#"{"region":"us-east-1"}"#, &env).unwrap();
    let creds = AwsCredentials::Keys(sigv4::Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: Some("token".into()),
    });
    let mut w = Worker::with_provider(cfg, CredentialsProvider::fixed(Some(creds)));
    let (requests, streams) = bench_inputs();
    let budget = Duration::from_millis(700);

    // Translate and sign: the request path's own work, per request shape.
    let mut prepared = Vec::new();
    for (name, req) in &requests {
        let client = ClientRequest {
            anthropic_beta: None,
            path: "/v1/chat/completions",
            content_type: Some("application/json"),
            body: req,
        };
        let per_call = time_per_call(budget, || {
            let (mut req, exchange) = w
                .translate(Endpoint::ChatCompletions, black_box(&client), 1_700_000_000)
                .unwrap();
            w.sign(&mut req, client.body, 1_700_000_000).unwrap();
            black_box((req, exchange));
        });
        let translate_only = time_per_call(budget, || {
            black_box(
                w.translate(Endpoint::ChatCompletions, black_box(&client), 1_700_000_000)
                    .unwrap(),
            );
        });
        prepared.push((name, req.len(), per_call, translate_only));
    }

    let response = serde_json::to_vec(&json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "x ".repeat(900)}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 500, "outputTokens": 900, "totalTokens": 1400},
        "metrics": {"latencyMs": 1200}
    }))
    .unwrap();
    let meta = CompletionMeta {
        id: "chatcmpl-1".into(),
        created: 1,
        model: "m".into(),
    };
    let respond = time_per_call(budget, || {
        black_box(
            response::from_converse(black_box(&response), &meta, &Default::default()).unwrap(),
        );
    });

    let mut translated = Vec::new();
    for (name, stream) in &streams {
        let mut out = Vec::with_capacity(stream.len() * 2);
        let per_stream = time_per_call(budget, || {
            let mut t = ConverseStreamTranslator::new(meta.clone(), true, Default::default());
            out.clear();
            for piece in stream.chunks(1024) {
                t.feed(piece, &mut out);
            }
            t.finish(&mut out);
            black_box(&out);
        });
        translated.push((name, stream.len(), per_stream));
    }

    // Rate limits: admit (three counters) and charge (two) against an in-memory shared store.
    let raw: Vec<RawLimit> = serde_json::from_str(
        r#"[{"requests_per_minute":1000000000,"tokens_per_minute":1000000000000,"usd_per_day":1000000}]"#,
    )
    .unwrap();
    let limits = Limits::from_raw(raw, &[], &[], &mut Vec::new());
    let mut store = MapStore::default();
    let usage = Usage {
        input_tokens: 500,
        output_tokens: 900,
        ..Usage::default()
    };
    let mut now = 1_700_000_000u64;
    let limited = time_per_call(budget, || {
        let a = admit(
            &mut store,
            &limits,
            "anonymous",
            "claude",
            "anthropic.claude",
            true,
            now,
        )
        .unwrap();
        a.charge(&mut store, &usage, 4_000, now).unwrap();
        black_box(a.headers());
        now += 1;
    });

    println!("\n| native figure (release, one core) | value |");
    println!("|---|---|");
    for (name, len, per_call, translate_only) in &prepared {
        let us = per_call.as_secs_f64() * 1e6;
        println!(
            "| translate + SigV4-sign {name} ({len} B) | {us:.1} µs, {:.2} µs per KB, {:.0} MB/s; translation alone {:.1} µs |",
            us / (*len as f64 / 1024.0),
            *len as f64 / per_call.as_secs_f64() / 1e6,
            translate_only.as_secs_f64() * 1e6
        );
    }
    println!(
        "| translate a {} B Converse response | {:.1} µs |",
        response.len(),
        respond.as_secs_f64() * 1e6
    );
    println!(
        "| admit and charge one request on 3 rate-limit counters (in-memory store) | {:.2} µs |",
        limited.as_secs_f64() * 1e6
    );
    for (name, len, per_stream) in &translated {
        println!(
            "| translate {name} ({len} B, 1 KiB pieces) | {:.1} µs, {:.0} MB/s |",
            per_stream.as_secs_f64() * 1e6,
            *len as f64 / per_stream.as_secs_f64() / 1e6
        );
    }
}
