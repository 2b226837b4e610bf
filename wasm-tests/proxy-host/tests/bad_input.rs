//! Bad input, one table (the classes of wasm-tests/e2e/test_bad_input.py): each row's status,
//! error type, param and message, answered by the filter itself without anything going
//! upstream. Rows with status 200 are inputs the gateway forwards on purpose. `strict` rows run
//! in a host configured with `allow_unlisted_models: false` and `max_request_bytes: 4096`.
//! After the whole table the same VM still serves.

mod common;

use common::*;
use proxy_host::Host;
use serde_json::{Value, json};

const NOVA: &str = "amazon.nova-lite-v1:0";
const PNG_PARAM: &str = "messages[0].content[0].image_url.url";
const DEPTH: usize = 10_000;

fn body(extra: Value) -> Vec<u8> {
    let mut b = json!({"model": NOVA, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    serde_json::to_vec(&b).unwrap()
}

fn msgs(messages: Value) -> Vec<u8> {
    body(json!({ "messages": messages }))
}

fn image(url: &str) -> Vec<u8> {
    msgs(json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]))
}

struct Case {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    kind: Option<&'static str>,
    param: Option<&'static str>,
    strict: bool,
    message: Option<&'static str>,
}

fn case(id: &'static str, body: Vec<u8>, status: u16, kind: Option<&'static str>) -> Case {
    Case {
        id,
        method: "POST",
        path: "/v1/chat/completions",
        content_type: Some("application/json"),
        body,
        status,
        kind,
        param: None,
        strict: false,
        message: None,
    }
}

impl Case {
    fn param(mut self, p: &'static str) -> Self {
        self.param = Some(p);
        self
    }
    fn says(mut self, m: &'static str) -> Self {
        self.message = Some(m);
        self
    }
    fn strict(mut self) -> Self {
        self.strict = true;
        self
    }
    fn content_type(mut self, c: Option<&'static str>) -> Self {
        self.content_type = c;
        self
    }
    fn at(mut self, method: &'static str, path: &'static str) -> Self {
        self.method = method;
        self.path = path;
        self
    }
}

const BAD: Option<&str> = Some("invalid_request_error");

fn cases() -> Vec<Case> {
    let nested = |open: &str, close: &str| open.repeat(DEPTH) + &close.repeat(DEPTH);
    let mut trailing = body(json!({}));
    trailing.extend_from_slice(b" xx");
    let mut ignored_bomb = body(json!({}));
    ignored_bomb.pop();
    ignored_bomb.extend_from_slice(b",\"metadata\":");
    ignored_bomb
        .extend_from_slice(format!("{}1{}", "{\"a\":".repeat(DEPTH), "}".repeat(DEPTH)).as_bytes());
    ignored_bomb.push(b'}');
    let call = json!({"id": "call_1", "type": "function",
                      "function": {"name": "f", "arguments": "{not json"}});
    vec![
        case("not-json", b"{not json".to_vec(), 400, BAD).says("could not parse the JSON body"),
        case("json-array", b"[1,2]".to_vec(), 400, BAD).says("JSON object"),
        case("json-string", b"\"hello\"".to_vec(), 400, BAD).says("JSON object"),
        case("empty-body", Vec::new(), 400, BAD).says("JSON object"),
        case("trailing-garbage", trailing, 400, BAD).says("trailing characters"),
        case(
            "duplicate-key",
            br#"{"model":"a","model":"b","messages":[]}"#.to_vec(),
            400,
            BAD,
        )
        .says("duplicate field `model`"),
        case(
            "invalid-utf8",
            [
                b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"".as_slice(),
                b"\xff\xfe\"}]}",
            ]
            .concat(),
            400,
            BAD,
        )
        .says("could not parse"),
        case(
            "over-max-request-bytes",
            msgs(json!([{"role": "user", "content": "x ".repeat(4000)}])),
            413,
            BAD,
        )
        .strict(),
        case("content-type-text-plain", body(json!({})), 200, None)
            .content_type(Some("text/plain")),
        case("no-content-type", body(json!({})), 200, None).content_type(None),
        case(
            "missing-model",
            serde_json::to_vec(&json!({"messages": [{"role": "user", "content": "hi"}]})).unwrap(),
            400,
            BAD,
        )
        .param("model")
        .says("`model`"),
        case("empty-model", body(json!({"model": ""})), 400, BAD).param("model"),
        case("model-wrong-type", body(json!({"model": 5})), 400, BAD).says("expected a string"),
        case(
            "unknown-model-not-allowed",
            body(json!({"model": "meta.llama3-8b-instruct-v1:0"})),
            404,
            Some("not_found_error"),
        )
        .param("model")
        .strict(),
        case("empty-messages", body(json!({"messages": []})), 400, BAD).param("messages"),
        case(
            "unknown-role",
            msgs(json!([{"role": "wizard", "content": "hi"}])),
            400,
            BAD,
        )
        .param("messages[0].role")
        .says("wizard"),
        case(
            "system-only",
            msgs(json!([{"role": "system", "content": "be nice"}])),
            400,
            BAD,
        )
        .param("messages")
        .says("user message"),
        case(
            "part-of-unknown-type",
            msgs(json!([{"role": "user", "content": [{"type": "hologram"}]}])),
            400,
            BAD,
        )
        .param("messages[0].content[0].type")
        .says("hologram"),
        case(
            "image-url-over-http",
            image("http://example.com/cat.png"),
            400,
            BAD,
        )
        .param(PNG_PARAM)
        .says("data: URL"),
        case(
            "bad-base64",
            image("data:image/png;base64,!!!not*base64"),
            400,
            BAD,
        )
        .param(PNG_PARAM)
        .says("base64"),
        case(
            "tool-call-arguments-not-json",
            msgs(json!([{"role": "user", "content": "hi"},
                          {"role": "assistant", "content": null, "tool_calls": [call]},
                          {"role": "tool", "tool_call_id": "call_1", "content": "ok"}])),
            400,
            BAD,
        )
        .param("messages[1].tool_calls[0].function.arguments")
        .says("not valid JSON"),
        case("n-above-1", body(json!({"n": 2})), 400, BAD).param("n"),
        case("max-tokens-zero", body(json!({"max_tokens": 0})), 400, BAD).param("max_tokens"),
        case(
            "temperature-above-1",
            body(json!({"temperature": 3})),
            400,
            BAD,
        )
        .param("temperature"),
        case(
            "stop-too-many",
            body(json!({"stop": ["a", "b", "c", "d", "e"]})),
            400,
            BAD,
        )
        .param("stop")
        .says("at most 4"),
        case(
            "stream-wrong-type",
            body(json!({"stream": "yes"})),
            400,
            BAD,
        )
        .says("expected a boolean"),
        case(
            "depth-bomb-in-messages",
            format!("{{\"model\":\"m\",\"messages\":{}}}", nested("[", "]")).into_bytes(),
            400,
            BAD,
        )
        .says("could not parse"),
        case(
            "depth-bomb-top-level",
            nested("[", "]").into_bytes(),
            400,
            BAD,
        ),
        case("depth-bomb-in-ignored-member", ignored_bomb, 200, None),
        case(
            "unknown-path",
            body(json!({})),
            404,
            Some("not_found_error"),
        )
        .at("POST", "/v1/nope")
        .says("Unknown request URL"),
        case("get-on-post-route", Vec::new(), 405, BAD)
            .at("GET", "/v1/chat/completions")
            .says("use POST"),
        case("post-on-get-route", b"{}".to_vec(), 405, BAD)
            .at("POST", "/v1/models")
            .says("use GET"),
    ]
}

fn strict_host() -> Host {
    let config = json!({
        "region": REGION, "endpoint": "http://127.0.0.1:8080",
        "models": {"claude": MODEL},
        "allow_unlisted_models": false, "max_request_bytes": 4096,
    });
    demo_builder()
        .plugin_configuration(config.to_string())
        .load(&wasm_path())
        .unwrap()
}

fn run(host: &mut Host, c: &Case) {
    let length = c.body.len().to_string();
    let mut headers = vec![
        (":method", c.method),
        (":path", c.path),
        (":authority", "localhost:10000"),
        ("content-length", length.as_str()),
    ];
    if let Some(ct) = c.content_type {
        headers.push(("content-type", ct));
    }
    let mut r = if c.body.is_empty() && c.method == "GET" {
        host.request_without_body(&headers).unwrap()
    } else {
        let mut r = host.request(&headers).unwrap();
        r.body(&c.body, true).unwrap();
        r
    };
    let id = c.id;
    if c.status == 200 {
        let up = r
            .upstream_request()
            .unwrap_or_else(|| panic!("{id}: not forwarded"));
        assert!(up.complete, "{id}");
        assert!(r.client_response().local_reply.is_none(), "{id}");
        r.respond(
            200,
            &[("content-type", "application/json")],
            &[&converse_answer("ok")],
        )
        .unwrap();
        assert_eq!(
            json_of(&r.client_response().body)["object"],
            "chat.completion",
            "{id}"
        );
        return;
    }
    assert!(r.upstream_request().is_none(), "{id}: reached upstream");
    let answer = r.client_response();
    assert!(answer.local_reply.is_some(), "{id}: not a local reply");
    assert_eq!(answer.status(), c.status, "{id}: {}", answer.text());
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{id}"
    );
    let v = json_of(&answer.body);
    let err = &v["error"];
    assert_eq!(v.as_object().unwrap().len(), 1, "{id}: {v}");
    let keys: Vec<&String> = err.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["code", "message", "param", "type"], "{id}: {v}");
    assert_eq!(err["type"].as_str(), c.kind, "{id}: {v}");
    assert_eq!(err["param"].as_str(), c.param, "{id}: {v}");
    if let Some(m) = c.message {
        assert!(err["message"].as_str().unwrap().contains(m), "{id}: {v}");
    }
    assert!(r.finished(), "{id}");
}

#[test]
fn bad_input_table() {
    let mut host = demo_host();
    let mut strict = strict_host();
    let cases = cases();
    for c in &cases {
        if c.strict {
            run(&mut strict, c);
        } else {
            run(&mut host, c);
        }
    }
    // Still serving, in both VMs, and nothing held on to.
    for (h, model) in [(&mut host, NOVA), (&mut strict, "claude")] {
        let mut r = h.request(&chat_headers("/v1/chat/completions")).unwrap();
        r.body(&body(json!({"model": model})), true).unwrap();
        r.respond(
            200,
            &[("content-type", "application/json")],
            &[&converse_answer("still here")],
        )
        .unwrap();
        assert_eq!(
            json_of(&r.client_response().body)["choices"][0]["message"]["content"],
            "still here"
        );
        assert_eq!(h.live_streams(), 0);
        assert_clean(h);
    }
    println!("{} bad-input cases", cases.len());
}

#[test]
fn declared_length_over_the_limit_is_refused_before_the_body() {
    let mut host = strict_host();
    let mut r = host
        .request(&[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            (":authority", "localhost:10000"),
            ("content-type", "application/json"),
            ("content-length", "1000000"),
        ])
        .unwrap();
    let answer = r.client_response();
    assert_eq!(
        answer.status(),
        413,
        "answered on the headers: {}",
        answer.text()
    );
    // The body that follows is dropped by the host, never seen by the filter.
    r.body(&vec![b' '; 1000], true).unwrap();
    assert!(r.upstream_request().is_none());
    assert_clean(&host);
}

#[test]
fn body_over_the_limit_in_chunks_is_refused_without_waiting_for_the_end() {
    let mut host = strict_host();
    let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
    for _ in 0..5 {
        r.body(&[b' '; 1000], false).unwrap();
    }
    let answer = r.client_response();
    assert_eq!(answer.status(), 413, "{}", answer.text());
    assert!(r.upstream_request().is_none());
    assert_clean(&host);
}
