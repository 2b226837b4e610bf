//! envoy/failover.yaml: `"mode": "translate"` in the listener and `"mode": "sign"` as the
//! cluster's upstream filter, two VMs of the same .wasm with the shipped configurations. The translate VM's filter state (`bedrock_sign`) and the
//! endpoint's metadata (`xds.upstream_host_metadata.filter_metadata.bedrock.*`) reach the sign
//! VM as properties, as Envoy hands them to an upstream filter; each attempt is signed afresh
//! for the region it goes to.

mod common;

use std::time::Duration;

use common::*;
use proxy_host::Host;
use serde_json::json;

const METADATA: &str = "xds.upstream_host_metadata.filter_metadata.bedrock";

/// failover.yaml's listener filter (`"translate"`, index 0) or upstream filter (`"sign"`, 1).
fn vm(index: usize) -> Host {
    let config = shipped_plugin_configs("failover.yaml").remove(index);
    demo_builder()
        .plugin_configuration(config)
        .load(&wasm_path())
        .unwrap()
}

#[test]
fn each_attempt_is_signed_for_the_region_it_goes_to() {
    let (akid, secret) = demo_credentials();
    let mut translate = vm(0);
    let mut sign = vm(1);
    let body = json!({"model": "claude-haiku", "messages": [{"role": "user", "content": "hi"}]});
    let mut r = translate
        .request(&chat_headers("/v1/chat/completions"))
        .unwrap();
    r.body(body.to_string().as_bytes(), true).unwrap();
    let translated = r.upstream_request().unwrap();
    assert_eq!(
        translated.header("authorization"),
        None,
        "translate mode never signs"
    );
    let described = r
        .property("bedrock_sign")
        .expect("filter state for the sign filter");

    // A retry lands in the other region: us-east-1 (priority 0), then eu-west-1.
    let endpoints = shipped_bedrock_endpoints("failover.yaml");
    assert_eq!(endpoints.len(), 2, "{endpoints:?}");
    let mut attempt_headers = translated.headers.clone();
    for (region, host_name) in &endpoints {
        let (region, host_name) = (region.as_str(), host_name.as_str());
        let region_key = format!("{METADATA}.region");
        let host_key = format!("{METADATA}.host");
        let mut a = sign
            .request_with_properties(
                attempt_headers.clone(),
                false,
                &[
                    ("bedrock_sign", described.as_bytes()),
                    (&region_key, region.as_bytes()),
                    (&host_key, host_name.as_bytes()),
                ],
            )
            .unwrap();
        a.body(&translated.body, true).unwrap();
        let up = a.upstream_request().expect("signed and sent");
        assert_eq!(up.body, translated.body, "the body is not touched");
        assert_eq!(up.header(":authority"), Some(host_name), "{region}");
        let geography = &region[..2];
        assert_eq!(
            up.header(":path").map(String::from),
            Some(format!(
                "/model/{geography}.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
            )),
            "the model ID of the region (region_ids)"
        );
        assert_eq!(verify_sigv4(&up, |_| (secret.clone(), None), region), akid);
        let signatures = up
            .headers
            .iter()
            .filter(|(n, _)| n == "authorization" || n == "x-amz-date")
            .count();
        assert_eq!(
            signatures, 2,
            "no header of an earlier attempt is left: {:?}",
            up.headers
        );
        a.respond(
            200,
            &[("content-type", "application/json")],
            &[&converse_answer("ok")],
        )
        .unwrap();
        // Envoy retries with the headers as the previous attempt left them.
        attempt_headers = up.headers.clone();
        sign.advance_time(Duration::from_secs(2)).unwrap();
    }
    r.respond(
        200,
        &[("content-type", "application/json")],
        &[&converse_answer("ok")],
    )
    .unwrap();
    assert_eq!(
        json_of(&r.client_response().body)["choices"][0]["message"]["content"],
        "ok"
    );
    assert_clean(&translate);
    assert_clean(&sign);
}

/// The sign filter refuses what it cannot sign, in the OpenAI error shape: forwarding it would
/// send the client's request, and its credentials, to Bedrock unsigned.
fn refused(r: &mut proxy_host::Request<'_>, status: u16, says: &str) {
    assert!(r.upstream_request().is_none(), "nothing goes upstream");
    let answer = r.client_response();
    assert_eq!(answer.status(), status);
    let error = &json_of(&answer.body)["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains(says)),
        "{error}"
    );
    assert!(error["type"].is_string(), "{error}");
}

#[test]
fn without_filter_state_the_sign_filter_refuses_and_says_why() {
    let mut sign = vm(1);
    let mut r = sign.request(&chat_headers("/model/x/converse")).unwrap();
    refused(&mut r, 500, "\"mode\": \"translate\"");
    r.body(b"{}", true).ok();
    assert!(sign.log_text().contains("no translated request to sign"));
    assert_clean(&sign);
}

#[test]
fn an_endpoint_naming_no_region_is_refused() {
    let mut sign = vm(1);
    let region_key = format!("{METADATA}.region");
    let mut r = sign
        .request_with_properties(
            chat_headers("/v1/chat/completions")
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            false,
            &[
                ("bedrock_sign", &b"model converse claude-haiku"[..]),
                (&region_key, &b"mars"[..]),
            ],
        )
        .unwrap();
    r.body(b"{}", true).unwrap();
    refused(&mut r, 500, "names no AWS region");
    assert_clean(&sign);
}

#[test]
fn a_body_ending_in_trailers_is_refused_by_the_sign_filter() {
    let mut sign = vm(1);
    let mut r = sign
        .request_with_properties(
            chat_headers("/v1/chat/completions")
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            false,
            &[("bedrock_sign", &b"model converse claude-haiku"[..])],
        )
        .unwrap();
    r.body(b"{}", false).unwrap();
    r.trailers(&[("x-checksum", "abc")]).unwrap();
    refused(&mut r, 400, "trailers");
    assert_clean(&sign);
}
