//! The other OpenAI and Anthropic routes through proxy-host: /v1/embeddings (Titan through
//! InvokeModel) and /v1/messages (Anthropic Messages through InvokeModel).

mod common;

use common::*;
use serde_json::json;

#[test]
fn embeddings_become_a_titan_invoke_and_back() {
    let mut host = demo_host();
    let (_, secret) = demo_credentials();
    let body = json!({"model": "amazon.titan-embed-text-v2:0", "input": "hello embeddings",
                      "encoding_format": "float"});
    let mut r = host.request(&chat_headers("/v1/embeddings")).unwrap();
    r.body(body.to_string().as_bytes(), true).unwrap();
    let up = r.upstream_request().unwrap();
    assert_eq!(
        up.header(":path"),
        Some("/model/amazon.titan-embed-text-v2%3A0/invoke")
    );
    assert_eq!(
        json_of(&up.body),
        json!({"inputText": "hello embeddings", "normalize": true})
    );
    verify_sigv4(&up, |_| (secret.clone(), None), REGION);
    let answer = json!({"embedding": [0.25, -0.5, 1.0], "inputTextTokenCount": 2});
    r.respond(
        200,
        &[("content-type", "application/json")],
        &[answer.to_string().as_bytes()],
    )
    .unwrap();
    let list = json_of(&r.client_response().body);
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["embedding"], json!([0.25, -0.5, 1.0]));
    assert_eq!(list["usage"]["prompt_tokens"], 2);
    assert_clean(&host);
}

#[test]
fn messages_become_an_anthropic_invoke_and_back() {
    let mut host = demo_host();
    let (_, secret) = demo_credentials();
    let mut headers = chat_headers("/v1/messages");
    headers.retain(|(n, _)| *n != "authorization");
    headers.push(("x-api-key", "sk-ant-caller-key-never-upstream"));
    headers.push(("anthropic-version", "2023-06-01"));
    let body = json!({"model": MODEL, "max_tokens": 64, "system": "Be brief.",
                      "messages": [{"role": "user", "content": "hello messages"}]});
    let mut r = host.request(&headers).unwrap();
    r.body(body.to_string().as_bytes(), true).unwrap();
    let up = r.upstream_request().unwrap();
    assert_eq!(
        up.header(":path"),
        Some("/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke")
    );
    let sent = json_of(&up.body);
    assert_eq!(sent["anthropic_version"], "bedrock-2023-05-31");
    assert!(sent.get("model").is_none());
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(up.header("x-api-key"), None);
    assert_eq!(up.header("anthropic-version"), None);
    verify_sigv4(&up, |_| (secret.clone(), None), REGION);
    let answer = json!({"id": "msg_bdrk_01", "type": "message", "role": "assistant",
                        "model": "claude-3-haiku-20240307",
                        "content": [{"type": "text", "text": "Hello."}],
                        "stop_reason": "end_turn", "stop_sequence": null,
                        "usage": {"input_tokens": 5, "output_tokens": 2}});
    r.respond(
        200,
        &[
            ("content-type", "application/json"),
            ("x-amzn-bedrock-input-token-count", "5"),
            ("x-amzn-bedrock-output-token-count", "2"),
        ],
        &[answer.to_string().as_bytes()],
    )
    .unwrap();
    let msg = json_of(&r.client_response().body);
    assert_eq!(msg["content"][0]["text"], "Hello.");
    assert_eq!(msg["model"], MODEL);
    assert_eq!(msg["stop_reason"], "end_turn");
    assert_clean(&host);
}
