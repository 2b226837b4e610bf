//! SigV4 canonicalisation of arbitrary paths, queries and header values.
#![no_main]
use bedrock_filter::sigv4;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let (query, value) = rest.split_once('\n').unwrap_or((rest, ""));
    let creds = sigv4::Credentials {
        access_key_id: "AKID".into(),
        secret_access_key: "s".into(),
        session_token: Some("t".into()),
    };
    let headers = [("host", "h"), ("x-value", value)];
    let req = sigv4::SignableRequest {
        method: "POST",
        path,
        query,
        headers: &headers,
        payload: data,
    };
    let params = sigv4::SigningParams {
        credentials: &creds,
        region: "us-east-1",
        service: "bedrock",
        unix_time_secs: 1_700_000_000,
        settings: sigv4::Settings::default(),
    };
    let _ = sigv4::SigningKeyCache::new().sign(&req, &params);
});
