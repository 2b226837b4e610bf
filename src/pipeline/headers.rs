//! Header policy: what of the client's request reaches Bedrock, and what of Bedrock's answer
//! reaches the client. Each rewrite is one list, written to the host in one call.

use super::upstream::UpstreamRequest;
use crate::http::IDENTITY_HEADERS;
use crate::sigv4::{X_AMZ_CONTENT_SHA256, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN};

/// Headers a signature owns: replaced or removed on every attempt, whatever an earlier
/// attempt (possibly for another region or credential) left behind.
pub const SIGNATURE_HEADERS: [&str; 4] = [
    "authorization",
    X_AMZ_DATE,
    X_AMZ_SECURITY_TOKEN,
    X_AMZ_CONTENT_SHA256,
];

/// Headers of the client's request that must never reach Bedrock: the caller's credentials,
/// values the filter replaces, and `accept-encoding` (a compressed answer could not be
/// translated).
pub fn is_stripped_request_header(name: &str) -> bool {
    SIGNATURE_HEADERS.contains(&name)
        || matches!(
            name,
            "x-api-key"
                | "api-key"
                | "cookie"
                | "openai-organization"
                | "openai-project"
                | "accept-encoding"
                | "content-length"
                | "content-encoding"
                | "transfer-encoding"
                | "expect"
                | "x-amz-user-agent"
                | "anthropic-version"
                | "anthropic-beta"
        )
}

/// The request headers as they leave for Bedrock, for one host call that replaces them all:
/// the client's headers minus the stripped ones, minus any client copy of the identity headers
/// (only the filter sets those: a client's would spoof routing and rate limits), minus anything
/// set here; then the new `:path`, the translation's and signature's headers, and `identity`.
pub fn rewrite_request_headers<'a>(
    client: &'a [(String, Vec<u8>)],
    req: &'a UpstreamRequest,
    identity: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a [u8])> {
    let mut out = rewrite(client, req, |n| {
        is_stripped_request_header(n)
            || IDENTITY_HEADERS.contains(&n)
            || identity.iter().any(|(i, _)| *i == n)
    });
    out.extend(identity.iter().map(|(n, v)| (*n, v.as_bytes())));
    pseudo_headers_first(&mut out);
    out
}

/// The request headers of one signed attempt: those it arrived with minus every signature
/// header (an earlier attempt's), then the new `:path`, authority, region and signature.
pub fn rewrite_signed_headers<'a>(
    current: &'a [(String, Vec<u8>)],
    req: &'a UpstreamRequest,
) -> Vec<(&'a str, &'a [u8])> {
    let mut out = rewrite(current, req, |n| SIGNATURE_HEADERS.contains(&n));
    pseudo_headers_first(&mut out);
    out
}

/// `current` without `:path`, the headers `req` sets and those `drop` names; then `req`'s.
fn rewrite<'a>(
    current: &'a [(String, Vec<u8>)],
    req: &'a UpstreamRequest,
    drop: impl Fn(&str) -> bool,
) -> Vec<(&'a str, &'a [u8])> {
    let mut out = Vec::with_capacity(current.len() + req.headers.len() + 4);
    out.extend(
        current
            .iter()
            .filter(|(n, _)| {
                n != ":path" && !drop(n) && !req.headers.iter().any(|(set, _)| set == n)
            })
            .map(|(n, v)| (n.as_str(), v.as_slice())),
    );
    out.push((":path", req.path.as_bytes()));
    out.extend(req.headers.iter().map(|(n, v)| (*n, v.as_bytes())));
    out
}

/// HTTP/2 wants pseudo-headers before the others; Envoy reorders them itself, other hosts may not.
fn pseudo_headers_first(headers: &mut [(&str, &[u8])]) {
    headers.sort_by_key(|(n, _)| !n.starts_with(':'));
}

/// Response headers with `set` replacing (or adding) values and the ones that no longer
/// describe a translated answer removed: its length and Bedrock's error type.
pub fn rewrite_response_headers<'a>(
    upstream: &'a [(String, Vec<u8>)],
    set: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a [u8])> {
    let mut out = Vec::with_capacity(upstream.len() + set.len());
    out.extend(
        upstream
            .iter()
            .filter(|(n, _)| {
                n != "content-length" && n != "x-amzn-errortype" && !set.iter().any(|(s, _)| s == n)
            })
            .map(|(n, v)| (n.as_str(), v.as_slice())),
    );
    out.extend(set.iter().map(|(n, v)| (*n, v.as_bytes())));
    pseudo_headers_first(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HeaderList, REGION_HEADER, header_text};
    use crate::pipeline::upstream::SignTarget;

    fn owned(pairs: &[(&str, &str)]) -> HeaderList {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn text<'a>(headers: &[(&'a str, &'a [u8])]) -> Vec<(&'a str, &'a str)> {
        headers
            .iter()
            .map(|(n, v)| (*n, std::str::from_utf8(v).unwrap()))
            .collect()
    }

    #[test]
    fn request_headers_are_rewritten_in_one_list() {
        let client = owned(&[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            (":authority", "gateway.local"),
            ("authorization", "Bearer sk-caller"),
            ("content-length", "120"),
            ("x-bedrock-model", "spoofed"),
            ("x-bedrock-region", "spoofed"),
            ("user-agent", "OpenAI/Python"),
            ("x-request-id", "a"),
            ("x-request-id", "b"),
        ]);
        let req = UpstreamRequest {
            method: "POST",
            path: "/model/m/converse".into(),
            body: None,
            batch: Vec::new(),
            region: "us-east-1".into(),
            headers: vec![
                (
                    ":authority",
                    "bedrock-runtime.us-east-1.amazonaws.com".into(),
                ),
                (REGION_HEADER, "us-east-1".into()),
                ("authorization", "AWS4-HMAC-SHA256 ...".into()),
            ],
            sign_target: SignTarget::Path("/model/m/converse".into()),
        };
        let identity = [
            ("x-bedrock-model", "claude"),
            ("x-bedrock-caller", "team-a"),
        ];
        let out = rewrite_request_headers(&client, &req, &identity);
        assert_eq!(
            text(&out),
            vec![
                (":method", "POST"),
                (":path", "/model/m/converse"),
                (":authority", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("user-agent", "OpenAI/Python"),
                ("x-request-id", "a"),
                ("x-request-id", "b"),
                (REGION_HEADER, "us-east-1"),
                ("authorization", "AWS4-HMAC-SHA256 ..."),
                ("x-bedrock-model", "claude"),
                ("x-bedrock-caller", "team-a"),
            ]
        );
    }

    #[test]
    fn header_values_that_are_not_utf8_pass_through_untouched() {
        let mut client = owned(&[(":method", "POST"), (":path", "/v1/chat/completions")]);
        client.push(("x-caller-note".into(), b"caf\xe9".to_vec()));
        client.push(("content-type".into(), b"application/json\xff".to_vec()));
        assert_eq!(header_text(&client, ":path"), Some("/v1/chat/completions"));
        assert_eq!(header_text(&client, "content-type"), None);
        let req = UpstreamRequest {
            method: "POST",
            path: "/model/m/converse".into(),
            body: None,
            batch: Vec::new(),
            region: "us-east-1".into(),
            headers: vec![("content-type", "application/json".into())],
            sign_target: SignTarget::Path("/model/m/converse".into()),
        };
        let out = rewrite_request_headers(&client, &req, &[]);
        assert!(out.contains(&("x-caller-note", &b"caf\xe9"[..])), "{out:?}");
        assert!(out.contains(&("content-type", &b"application/json"[..])));
        assert_eq!(out.iter().filter(|(n, _)| *n == "content-type").count(), 1);
    }

    #[test]
    fn response_headers_lose_the_upstream_length_and_error_type() {
        let upstream = owned(&[
            (":status", "429"),
            ("content-type", "application/json"),
            ("content-length", "80"),
            (
                "x-amzn-errortype",
                "ThrottlingException:http://internal.amazon.com/",
            ),
            ("x-amzn-requestid", "r-1"),
        ]);
        let out =
            rewrite_response_headers(&upstream, &[(":status", "429"), ("content-length", "120")]);
        assert_eq!(
            text(&out),
            vec![
                (":status", "429"),
                ("content-type", "application/json"),
                ("x-amzn-requestid", "r-1"),
                ("content-length", "120"),
            ]
        );
    }

    #[test]
    fn strips_caller_credentials() {
        for h in [
            "authorization",
            "x-api-key",
            "accept-encoding",
            "content-length",
        ] {
            assert!(is_stripped_request_header(h), "{h}");
        }
        assert!(!is_stripped_request_header("user-agent"));
    }
}
