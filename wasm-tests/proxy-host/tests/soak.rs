//! 10,000 requests of mixed kinds on one VM: linear memory stays flat once warm, and every
//! request gets exactly what the same request gets from a fresh VM (nothing leaks from one
//! request into the next).

mod common;

use std::collections::BTreeSet;

use common::*;
use proxy_host::Host;
use serde_json::Value;

const REQUESTS: usize = 10_000;
const WARM_UP: usize = 500;

#[derive(Debug, PartialEq)]
struct Outcome {
    upstream: Option<(String, Vec<u8>, String)>,
    status: u16,
    content_type: Option<String>,
    body: Vec<Value>,
    id: Option<String>,
}

/// Drop what differs between requests by design: the completion id and `created`.
fn normalize(v: &mut Value) -> Option<String> {
    let obj = v.as_object_mut()?;
    obj.remove("created");
    obj.remove("id")
        .and_then(|id| id.as_str().map(String::from))
}

fn run(host: &mut Host, kind: usize) -> Outcome {
    let stream = converse_stream_answer(&["a ", "b"]);
    let converse = converse_answer("steady");
    let mut r = match kind {
        // Local answers: GET /v1/models, then a bad body.
        0 => host
            .request_without_body(&[
                (":method", "GET"),
                (":path", "/v1/models"),
                (":authority", "h"),
            ])
            .unwrap(),
        _ => host.request(&chat_headers("/v1/chat/completions")).unwrap(),
    };
    match kind {
        0 => {}
        1 => {
            r.body(b"{not json", true).unwrap();
        }
        2 => {
            r.body(&chat_body("soak", false), true).unwrap();
            r.respond(200, &[("content-type", "application/json")], &[&converse])
                .unwrap();
        }
        3 => {
            r.body(&chat_body("soak", true), true).unwrap();
            let (a, b) = stream.split_at(stream.len() / 3);
            r.respond(
                200,
                &[("content-type", "application/vnd.amazon.eventstream")],
                &[a, b],
            )
            .unwrap();
        }
        _ => {
            r.body(&chat_body("soak", false), true).unwrap();
            r.respond(
                429,
                &[
                    ("content-type", "application/json"),
                    ("x-amzn-errortype", "ThrottlingException"),
                ],
                &[br#"{"message":"slow down"}"#],
            )
            .unwrap();
        }
    }
    let upstream = r.upstream_request().map(|u| {
        (
            u.header(":path").unwrap().to_string(),
            u.body.clone(),
            u.header("authorization").unwrap().to_string(),
        )
    });
    let answer = r.client_response();
    assert!(answer.complete && r.finished(), "kind {kind}");
    let mut ids = BTreeSet::new();
    let body: Vec<Value> = if answer.header("content-type") == Some("text/event-stream") {
        sse_data(&answer.body)
            .iter()
            .map(|e| {
                if e == "[DONE]" {
                    return Value::String(e.clone());
                }
                let mut v = json_of(e.as_bytes());
                ids.extend(normalize(&mut v));
                v
            })
            .collect()
    } else {
        let mut v = json_of(&answer.body);
        ids.extend(normalize(&mut v));
        vec![v]
    };
    assert!(ids.len() <= 1, "one id per answer: {ids:?}");
    Outcome {
        upstream,
        status: answer.status(),
        content_type: answer.header("content-type").map(String::from),
        body,
        id: ids.into_iter().next(),
    }
}

const KINDS: usize = 5;

#[test]
fn ten_thousand_requests_memory_flat_and_no_state_leaks() {
    // What each kind of request gets from a fresh VM.
    let reference: Vec<Outcome> = (0..KINDS).map(|k| run(&mut demo_host(), k)).collect();
    let mut host = demo_host();
    let pages_at_start = host.memory_pages();
    let mut pages_after_warm_up = 0;
    let mut ids = BTreeSet::new();
    let started = std::time::Instant::now();
    for i in 0..REQUESTS {
        let kind = i % KINDS;
        let mut got = run(&mut host, kind);
        if let Some(id) = got.id.take() {
            assert!(ids.insert(id), "request {i}: an id was reused");
        }
        let expected = &reference[kind];
        assert_eq!(
            got.upstream, expected.upstream,
            "request {i} (kind {kind}) upstream"
        );
        assert_eq!(got.status, expected.status, "request {i} (kind {kind})");
        assert_eq!(
            got.content_type, expected.content_type,
            "request {i} (kind {kind})"
        );
        assert_eq!(got.body, expected.body, "request {i} (kind {kind}) body");
        if i + 1 == WARM_UP {
            pages_after_warm_up = host.memory_pages();
        }
        if i % 1000 == 999 {
            host.forget_finished_streams();
            host.clear_logs();
        }
    }
    let pages_at_end = host.memory_pages();
    let elapsed = started.elapsed();
    println!(
        "linear memory: {pages_at_start} pages at start, {pages_after_warm_up} after {WARM_UP} \
         requests, {pages_at_end} after {REQUESTS} ({} KiB); {REQUESTS} requests in {elapsed:?}",
        pages_at_end * 64
    );
    assert_eq!(
        pages_at_end, pages_after_warm_up,
        "linear memory grew after warm-up: {pages_after_warm_up} -> {pages_at_end} pages"
    );
    println!("hostcalls over the run: {:?}", host.hostcalls_used());
    assert_eq!(host.live_streams(), 0);
    let requests: i64 = host
        .metrics()
        .iter()
        .filter(|m| m.name.contains(".requests."))
        .map(|m| m.value)
        .sum();
    // /v1/models is not counted; the rest are.
    assert_eq!(
        requests,
        (REQUESTS - REQUESTS / KINDS) as i64,
        "{:#?}",
        host.metrics()
    );
    assert_clean(&host);
}
