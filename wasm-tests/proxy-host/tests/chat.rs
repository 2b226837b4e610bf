//! Chat completions through the filter in proxy-host: the upstream request (path, body,
//! signature) and the answer the client gets, buffered and streamed.

mod common;

use common::*;
use proxy_host::Host;
use serde_json::json;

#[test]
fn chat_non_stream_becomes_a_signed_converse_request_and_back() {
    let mut host = demo_host();
    let (akid, secret) = demo_credentials();
    let body = chat_body("Hello!", false);
    let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
    r.body(&body, true).unwrap();

    let up = r.upstream_request().expect("the request went upstream");
    assert!(up.complete);
    assert_eq!(
        up.header(":path"),
        Some("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
    );
    assert_eq!(up.header(":method"), Some("POST"));
    assert_eq!(
        up.header(":authority"),
        Some("127.0.0.1:8080"),
        "demo.yaml's endpoint"
    );
    assert_eq!(up.header("content-type"), Some("application/json"));
    assert_eq!(
        up.header("content-length"),
        Some(up.body.len().to_string().as_str())
    );
    let converse = json_of(&up.body);
    assert_eq!(converse["system"], json!([{"text": "Be brief."}]));
    assert_eq!(
        converse["messages"],
        json!([{"role": "user", "content": [{"text": "Hello!"}]}])
    );
    assert!(
        converse.get("model").is_none(),
        "the model is in the path, not the body"
    );
    // The caller's key never reaches Bedrock; the gateway's signature does.
    let signer = verify_sigv4(&up, |_| (secret.clone(), None), REGION);
    assert_eq!(signer, akid);
    assert_eq!(
        up.header("x-amz-date").unwrap(),
        "20260115T120000Z",
        "signed at the host's clock"
    );

    r.respond(
        200,
        &[
            ("content-type", "application/json"),
            ("x-amzn-requestid", "req-1"),
        ],
        &[&converse_answer("Hi there.")],
    )
    .unwrap();
    let answer = r.client_response();
    assert!(answer.complete);
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(
        answer.header("content-length"),
        Some(answer.body.len().to_string().as_str())
    );
    let completion = json_of(&answer.body);
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["model"], MODEL);
    assert_eq!(completion["choices"][0]["message"]["role"], "assistant");
    assert_eq!(completion["choices"][0]["message"]["content"], "Hi there.");
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert_eq!(completion["usage"]["prompt_tokens"], 12);
    assert_eq!(completion["usage"]["completion_tokens"], 3);
    assert!(r.finished(), "on_done / on_log / on_delete ran");
    assert_eq!(r.property("bedrock_model").as_deref(), Some(MODEL));
    assert_eq!(r.property("bedrock_input_tokens").as_deref(), Some("12"));
    assert_eq!(host.live_streams(), 0);
    assert_clean(&host);
}

/// Stream one request; the upstream answer's bytes arrive in `chunks`.
fn stream_once(host: &mut Host, chunks: &[&[u8]]) -> proxy_host::ClientResponse {
    let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
    r.body(&chat_body("count", true), true).unwrap();
    let up = r.upstream_request().unwrap();
    assert_eq!(
        up.header(":path"),
        Some("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream")
    );
    r.respond(
        200,
        &[("content-type", "application/vnd.amazon.eventstream")],
        chunks,
    )
    .unwrap();
    let answer = r.client_response();
    assert!(r.finished());
    answer
}

/// The text, finish reason and shape of an OpenAI SSE stream.
fn read_stream(answer: &proxy_host::ClientResponse) -> (String, String) {
    assert!(answer.complete);
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    assert_eq!(answer.header("content-length"), None);
    let events = sse_data(&answer.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
        .iter()
        .map(|e| json_of(e.as_bytes()))
        .collect();
    let ids: std::collections::BTreeSet<_> = chunks.iter().map(|c| c["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "one id per stream");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert!(chunks.iter().all(|c| c["model"] == MODEL));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let finish = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect::<Vec<_>>()
        .join(",");
    (text, finish)
}

#[test]
fn chat_stream_split_at_every_byte_offset() {
    let mut host = demo_host();
    let stream = converse_stream_answer(&["One, ", "two, ", "three."]);
    let whole = stream_once(&mut host, &[&stream]);
    let expected = read_stream(&whole);
    assert_eq!(
        expected,
        ("One, two, three.".to_string(), "stop".to_string())
    );
    for cut in 1..stream.len() {
        let (a, b) = stream.split_at(cut);
        let answer = stream_once(&mut host, &[a, b]);
        assert_eq!(read_stream(&answer), expected, "split at byte {cut}");
    }
    // And one byte per chunk.
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(read_stream(&stream_once(&mut host, &bytes)), expected);
    assert_eq!(host.live_streams(), 0);
    assert_clean(&host);
}

#[test]
fn chat_stream_exception_mid_stream_is_an_error_event() {
    use bedrock_filter::eventstream::{Message, encode_to_vec};
    let mut host = demo_host();
    let mut stream = Vec::new();
    for (t, v) in [
        ("messageStart", json!({"role": "assistant"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "partial "}}),
        ),
    ] {
        stream.extend(encode_to_vec(&Message::new_event(t, v.to_string().into_bytes())).unwrap());
    }
    let exception = Message::new_exception(
        "throttlingException",
        json!({"message": "Too many tokens"})
            .to_string()
            .into_bytes(),
    );
    stream.extend(encode_to_vec(&exception).unwrap());
    let answer = stream_once(&mut host, &[&stream]);
    let events = sse_data(&answer.body);
    assert!(
        events.iter().any(|e| e.contains("Too many tokens")),
        "the exception reaches the client: {events:?}"
    );
    assert_clean(&host);
}

#[test]
fn upstream_errors_become_openai_errors() {
    let mut host = demo_host();
    let cases = [
        (429, "ThrottlingException", 429, "rate_limit_error"),
        (400, "ValidationException", 400, "invalid_request_error"),
        (403, "AccessDeniedException", 403, "permission_error"),
        (404, "ResourceNotFoundException", 404, "not_found_error"),
        (429, "ModelNotReadyException", 503, "api_error"),
        (500, "InternalServerException", 500, "api_error"),
        (503, "ServiceUnavailableException", 503, "api_error"),
    ];
    for (status, kind, want_status, want_type) in cases {
        let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
        r.body(&chat_body("x", false), true).unwrap();
        let error_type = format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/");
        r.respond(
            status,
            &[
                ("content-type", "application/json"),
                ("x-amzn-errortype", &error_type),
                ("x-amzn-requestid", "req-err"),
                ("retry-after", "3"),
            ],
            &[br#"{"message":"upstream said no"}"#],
        )
        .unwrap();
        let answer = r.client_response();
        assert_eq!(answer.status(), want_status, "{kind}");
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.header("x-amzn-errortype"), None, "{kind}");
        let err = json_of(&answer.body);
        assert_eq!(err["error"]["type"], want_type, "{kind}: {err}");
        if kind == "ThrottlingException" {
            assert_eq!(err["error"]["code"], "rate_limit_exceeded");
            assert_eq!(answer.header("retry-after"), Some("3"));
        }
    }
    let errors: i64 = host
        .metrics()
        .iter()
        .filter(|m| m.name.contains("upstream_errors"))
        .map(|m| m.value)
        .sum();
    assert_eq!(errors, cases.len() as i64, "{:#?}", host.metrics());
    assert_clean(&host);
}

#[test]
fn upstream_reset_before_and_after_the_answer_started() {
    let mut host = demo_host();
    // Before any answer: Envoy's router answers 503 through the filter.
    let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
    r.body(&chat_body("x", false), true).unwrap();
    r.upstream_reset().unwrap();
    let answer = r.client_response();
    assert_eq!(answer.status(), 503, "{}", answer.text());
    let err = json_of(&answer.body);
    assert_eq!(err["error"]["type"], "api_error");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("reset"),
        "{err}"
    );
    assert!(r.finished());
    // Mid-body of a buffered answer: Envoy's own 503 (the filter holds the headers).
    let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
    r.body(&chat_body("x", false), true).unwrap();
    r.response_headers(200, &[("content-type", "application/json")], false)
        .unwrap();
    r.response_body(b"{\"output\":", false).unwrap();
    r.upstream_reset().unwrap();
    let answer = r.client_response();
    assert_eq!(answer.status(), 503);
    assert!(r.finished());
    assert!(
        host.log_text().contains("bedrock-filter"),
        "the unfinished exchange is logged: {}",
        host.log_text()
    );
    assert_clean(&host);
}

#[test]
fn native_bedrock_paths_are_re_signed_and_passed_through() {
    let mut host = demo_host();
    let (akid, secret) = demo_credentials();
    let body = br#"{"messages":[{"role":"user","content":[{"text":"native hello"}]}]}"#;
    let path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
    let mut headers = chat_headers(path);
    headers.retain(|(n, _)| *n != "authorization");
    headers.push((
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDCLIENTSOWNKEYXXX/20260115/us-east-1/bedrock/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00",
    ));
    headers.push(("x-amz-date", "20260115T110000Z"));
    headers.push(("x-amz-security-token", "client-token"));
    let mut r = host.request(&headers).unwrap();
    r.body(body, true).unwrap();
    let up = r.upstream_request().unwrap();
    assert_eq!(up.header(":path"), Some(path));
    assert_eq!(up.body, body, "the body passes untouched");
    assert_eq!(
        up.header("x-amz-security-token"),
        None,
        "the client's token is dropped"
    );
    assert_eq!(verify_sigv4(&up, |_| (secret.clone(), None), REGION), akid);
    let native_answer = converse_answer("native");
    r.respond(
        200,
        &[("content-type", "application/json")],
        &[&native_answer],
    )
    .unwrap();
    let answer = r.client_response();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.body, native_answer, "the answer passes untouched");
    assert_clean(&host);
}

#[test]
fn models_list_is_answered_locally() {
    let mut host = demo_host();
    let mut r = host
        .request_without_body(&[
            (":method", "GET"),
            (":path", "/v1/models"),
            (":authority", "localhost:10000"),
        ])
        .unwrap();
    assert!(r.upstream_request().is_none(), "nothing goes upstream");
    let answer = r.client_response();
    assert_eq!(answer.status(), 200);
    assert_eq!(json_of(&answer.body)["object"], "list");
    assert!(answer.local_reply.is_some());
    assert!(r.finished());
    assert_clean(&host);
}

#[test]
fn request_body_split_at_every_offset_gives_the_same_upstream_request() {
    let mut host = demo_host();
    let body = chat_body("Split me anywhere, please: ünïcödé too.", false);
    let send = |host: &mut Host, chunks: &[&[u8]]| {
        let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
        for (i, c) in chunks.iter().enumerate() {
            r.body(c, i + 1 == chunks.len()).unwrap();
            if i + 1 < chunks.len() {
                assert!(
                    r.upstream_request().is_none(),
                    "headers held until the body is whole"
                );
            }
        }
        let up = r.upstream_request().unwrap();
        r.respond(
            200,
            &[("content-type", "application/json")],
            &[&converse_answer("ok")],
        )
        .unwrap();
        assert_eq!(r.client_response().status(), 200);
        up
    };
    let whole = send(&mut host, &[&body]);
    for cut in 0..=body.len() {
        let (a, b) = body.split_at(cut);
        let up = send(&mut host, &[a, b]);
        assert_eq!(up.body, whole.body, "split at {cut}");
        assert_eq!(up.header(":path"), whole.header(":path"));
    }
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(send(&mut host, &bytes).body, whole.body);
    // A trailing empty chunk ending the stream.
    assert_eq!(send(&mut host, &[&body, b""]).body, whole.body);
    assert_eq!(host.live_streams(), 0);
    assert_clean(&host);
}
