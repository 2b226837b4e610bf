//! Cross-checks `bedrock_filter::sigv4` against AWS's own `aws-sigv4` crate on generated
//! Bedrock-shaped requests: model IDs with `:` and inference-profile ARNs (encoded as boto3
//! does, or with a raw `:` as the Anthropic client sends), odd paths, queries, header sets,
//! bodies, session tokens, regions, times from 1970 to 2100, and every `Settings` combination.
//! The `authorization`, `x-amz-date`, `x-amz-security-token` and `x-amz-content-sha256`
//! values must be byte-identical.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody,
    SignableRequest as AwsSignableRequest, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4::SigningParams as AwsSigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use bedrock_filter::sigv4::{
    Credentials, Settings, SignableRequest, SigningKeyCache, SigningParams, canonical_request,
};

const CASES: usize = 4096;

/// xorshift64* — deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    fn string(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
        let len = min + self.below(max - min + 1);
        (0..len)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

const MODEL_IDS: &[&str] = &[
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.meta.llama3-1-70b-instruct-v1:0",
    "meta.llama3-8b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
    "amazon.nova-pro-v1:0",
    "amazon.titan-text-express-v1",
    "cohere.command-r-plus-v1:0",
    "ai21.jamba-1-5-large-v1:0",
    "deepseek.r1-v1:0",
];

const ARN_RESOURCES: &[&str] = &[
    "application-inference-profile/abc123",
    "application-inference-profile/k2vx8z0q9w1e",
    "inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
    "provisioned-model/p7a9b3c2d1",
    "custom-model/amazon.titan-text-express-v1:0:8k/abcdef123456",
    "prompt/PROMPT12345:2",
];

const OPERATIONS: &[&str] = &[
    "converse",
    "converse-stream",
    "invoke",
    "invoke-with-response-stream",
];

const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-central-1",
    "eu-west-3",
    "ap-northeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "sa-east-1",
    "us-gov-west-1",
    "cn-north-1",
];

const HEADER_NAMES: &[&str] = &[
    "content-type",
    "accept",
    "content-length",
    "user-agent",
    "x-amzn-trace-id",
    "x-amz-target",
    "x-amzn-bedrock-guardrailidentifier",
    "x-amzn-bedrock-guardrailversion",
    "x-amzn-bedrock-trace",
    "x-amzn-bedrock-performanceconfig-latency",
    "x-amz-user-agent",
    "x-amz-content-sha256",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
    "my-header1",
    "x-custom_header.v2",
    "x~odd!#$%&'*+^`|name",
];

const HEADER_VALUES: &[&str] = &[
    "application/json",
    "application/vnd.amazon.eventstream",
    "attempt=1; max=3",
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "\"a   b   c\"",
    "value1,value2",
    "caf\u{e9} cr\u{e8}me \u{65e5}\u{672c}",
    "ENABLED",
    "a\tb",
    "",
];

fn random_case(name: &str, rng: &mut Rng) -> String {
    name.chars()
        .map(|c| {
            if rng.chance(30) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// Odd spacing around and inside a value, as proxies and clients produce it.
fn random_spacing(value: &str, rng: &mut Rng) -> String {
    let mut out = " ".repeat(if rng.chance(30) { 1 + rng.below(3) } else { 0 });
    for ch in value.chars() {
        out.push(ch);
        if ch == ' ' && rng.chance(40) {
            out.push_str(&" ".repeat(1 + rng.below(3)));
        }
    }
    if rng.chance(30) {
        out.push_str(&" ".repeat(1 + rng.below(3)));
    }
    out
}

/// Encodes a model ID or ARN for the path the way a client would.
fn encode_model(model: &str, style: usize) -> String {
    let mut out = String::new();
    for byte in model.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
        match (style, byte) {
            _ if unreserved => out.push(char::from(byte)),
            // Raw ':' as the Anthropic client sends it; '/' must still be escaped.
            (1, b':') => out.push(':'),
            // Lower-case hex, which some clients emit.
            (2, _) => out.push_str(&format!("%{byte:02x}")),
            // boto3: quote(safe="-._~").
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn random_path(rng: &mut Rng, fully_encoded: bool) -> String {
    let model = if rng.chance(30) {
        format!(
            "arn:aws:bedrock:{}:{}:{}",
            rng.pick(REGIONS),
            100_000_000_000 + rng.next() % 900_000_000_000,
            rng.pick(ARN_RESOURCES)
        )
    } else {
        rng.pick(MODEL_IDS).to_owned()
    };
    let style = if fully_encoded { 0 } else { rng.below(3) };
    let mut path = format!(
        "/model/{}/{}",
        encode_model(&model, style),
        rng.pick(OPERATIONS)
    );
    if rng.chance(10) {
        // Dot segments, duplicate and trailing slashes: exercise normalization.
        let odd = ["//", "/./", "/x/../", "/%2E/"][rng.below(4)];
        path = path.replacen('/', odd, 1 + rng.below(2));
        path = path.replacen("//", "/", usize::from(rng.chance(50)));
    }
    if rng.chance(5) {
        path.push('/');
    }
    if rng.chance(3) {
        path.push_str("/..");
    }
    path
}

fn random_query(rng: &mut Rng) -> String {
    const COMPONENT: &[&str] = &[
        "a",
        "B",
        "x-y",
        "tilde~",
        "under_score",
        "dot.ted",
        "%3A",
        "%3a",
        "%2F",
        "%20",
        "+",
        "%2B",
        "%25",
        "%zz",
        "%4",
        "%E1%88%B4",
        "%FF",
        ":",
        "/",
        "@",
        "!",
        "$",
        "'",
        "(",
        ")",
        "*",
        ",",
        ";",
        "?",
        "1",
        "42",
        "",
    ];
    let pairs = 1 + rng.below(5);
    let mut parts = Vec::new();
    for _ in 0..pairs {
        let key: String = (0..1 + rng.below(3)).map(|_| rng.pick(COMPONENT)).collect();
        let value: String = (0..rng.below(4)).map(|_| rng.pick(COMPONENT)).collect();
        parts.push(match rng.below(4) {
            0 => key,
            1 => format!("{key}="),
            2 => format!("{key}={value}={}", rng.pick(COMPONENT)),
            _ => format!("{key}={value}"),
        });
        if rng.chance(10) {
            parts.push(String::new());
        }
    }
    parts.join("&")
}

struct Generated {
    worker: Option<usize>,
    method: &'static str,
    host: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    credentials: Credentials,
    region: &'static str,
    service: &'static str,
    time: u64,
    settings: Settings,
}

fn random_credentials(rng: &mut Rng) -> Credentials {
    let prefix = rng.pick(&["AKIA", "ASIA"]);
    Credentials {
        access_key_id: format!("{prefix}{}", rng.string(ALNUM, 16, 16)).to_ascii_uppercase(),
        secret_access_key: rng.string(BASE64, 40, 40),
        session_token: rng.chance(50).then(|| rng.string(BASE64, 16, 400)),
    }
}

/// Long-lived workers: fixed credentials, region and service, a clock that moves forward.
const WORKERS: usize = 4;

fn generate(rng: &mut Rng, clocks: &mut [u64; WORKERS]) -> Generated {
    let settings = if rng.chance(60) {
        Settings::default()
    } else {
        Settings {
            normalize_path: rng.chance(50),
            double_encode_path: rng.chance(60),
            sign_content_sha256: rng.chance(50),
            sign_session_token: rng.chance(70),
        }
    };
    // Half the requests come from long-lived workers, each with its own key cache that is
    // mostly hit, and replaced when the worker's clock crosses midnight.
    let worker = rng.chance(50).then(|| rng.below(WORKERS));
    let (credentials, time, region, service) = match worker {
        Some(w) => {
            clocks[w] += rng.next() % 900;
            let credentials = random_credentials(&mut Rng(0xC0FF_EE00 + w as u64));
            (credentials, clocks[w], REGIONS[w % 3], "bedrock")
        }
        None => {
            let time = match rng.below(10) {
                0 => [0, 59, 86_399, 951_782_400, 1_709_251_199, 4_107_542_399][rng.below(6)],
                _ => rng.next() % 4_102_444_800, // 1970 .. 2100
            };
            let service = if rng.chance(85) {
                "bedrock"
            } else {
                rng.pick(&["execute-api", "lambda", "sts"])
            };
            (random_credentials(rng), time, rng.pick(REGIONS), service)
        }
    };

    let host = match rng.below(10) {
        0 => format!("bedrock-runtime-fips.{region}.amazonaws.com"),
        1 => format!("vpce-0abc-xyz.bedrock-runtime.{region}.vpce.amazonaws.com:8443"),
        _ => format!("bedrock-runtime.{region}.amazonaws.com"),
    };
    let mut headers = vec![(random_case("host", rng), host.clone())];
    for _ in 0..rng.below(7) {
        let name = random_case(rng.pick(HEADER_NAMES), rng);
        let value = random_spacing(rng.pick(HEADER_VALUES), rng);
        headers.push((name, value));
    }
    if rng.chance(10) {
        // A repeated name in another case: both values, in order, joined with ','.
        let (name, _) = headers[rng.below(headers.len())].clone();
        let name = if name.eq_ignore_ascii_case("host") {
            "My-Header1".to_owned()
        } else {
            name
        };
        headers.push((
            name.to_ascii_uppercase(),
            random_spacing("second  value", rng),
        ));
    }
    if rng.chance(10) {
        headers.push(("X-Amz-Date".into(), "19990101T000000Z".into()));
    }
    if rng.chance(10) {
        headers.push(("Authorization".into(), "AWS4-HMAC-SHA256 stale".into()));
    }
    if credentials.session_token.is_some() && rng.chance(10) {
        headers.push(("X-Amz-Security-Token".into(), "stale-token".into()));
    }
    for i in (1..headers.len()).rev() {
        let j = rng.below(i + 1);
        headers.swap(i, j);
    }

    let body_len = match rng.below(4) {
        0 => 0,
        1 => rng.below(64),
        _ => rng.below(4096),
    };
    Generated {
        worker,
        method: if rng.chance(90) { "POST" } else { "GET" },
        host,
        // S3-style single encoding is only meaningful for fully encoded paths.
        path: random_path(rng, !settings.double_encode_path),
        query: if rng.chance(25) {
            random_query(rng)
        } else {
            String::new()
        },
        headers,
        body: (0..body_len).map(|_| rng.next() as u8).collect(),
        credentials,
        region,
        service,
        time,
        settings,
    }
}

/// Signs with aws-sigv4: returns its added headers, sorted by name.
fn sign_with_aws(case: &Generated) -> Vec<(String, String)> {
    let identity: Identity = AwsCredentials::new(
        &case.credentials.access_key_id,
        &case.credentials.secret_access_key,
        case.credentials.session_token.clone(),
        None,
        "oracle",
    )
    .into();
    let mut settings = SigningSettings::default();
    // aws-sigv4 leaves user-agent, x-amzn-trace-id and transfer-encoding unsigned by default;
    // our caller chooses the headers, so sign everything it passes except authorization.
    settings.excluded_headers = Some(vec![Cow::Borrowed("authorization")]);
    settings.percent_encoding_mode = if case.settings.double_encode_path {
        PercentEncodingMode::Double
    } else {
        PercentEncodingMode::Single
    };
    settings.uri_path_normalization_mode = if case.settings.normalize_path {
        UriPathNormalizationMode::Enabled
    } else {
        UriPathNormalizationMode::Disabled
    };
    settings.payload_checksum_kind = if case.settings.sign_content_sha256 {
        PayloadChecksumKind::XAmzSha256
    } else {
        PayloadChecksumKind::NoHeader
    };
    settings.session_token_mode = if case.settings.sign_session_token {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };
    let params = AwsSigningParams::builder()
        .identity(&identity)
        .region(case.region)
        .name(case.service)
        .time(UNIX_EPOCH + Duration::from_secs(case.time))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut uri = format!("https://{}{}", case.host, case.path);
    if !case.query.is_empty() {
        uri = format!("{uri}?{}", case.query);
    }
    let request = AwsSignableRequest::new(
        case.method,
        uri.as_str(),
        case.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&case.body),
    )
    .unwrap_or_else(|e| panic!("aws-sigv4 rejects {uri:?}: {e:?}"));
    let (instructions, _signature) = sign(request, &params).unwrap().into_parts();
    let mut headers: Vec<(String, String)> = instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    headers.sort();
    headers
}

fn sign_with_ours(case: &Generated, cache: &mut SigningKeyCache) -> Vec<(String, String)> {
    let headers: Vec<(&str, &str)> = case
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let request = SignableRequest {
        method: case.method,
        path: &case.path,
        query: &case.query,
        headers: &headers,
        payload: &case.body,
    };
    let params = SigningParams {
        credentials: &case.credentials,
        region: case.region,
        service: case.service,
        unix_time_secs: case.time,
        settings: case.settings,
    };
    let out = cache.sign(&request, &params).unwrap();
    let mut added = vec![
        ("authorization".to_owned(), out.authorization),
        ("x-amz-date".to_owned(), out.amz_date),
    ];
    if let Some(hash) = out.content_sha256 {
        added.push(("x-amz-content-sha256".to_owned(), hash));
    }
    if let Some(token) = out.session_token {
        added.push(("x-amz-security-token".to_owned(), token));
    }
    added.sort();
    added
}

fn our_canonical_request(case: &Generated) -> String {
    let headers: Vec<(&str, &str)> = case
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let request = SignableRequest {
        method: case.method,
        path: &case.path,
        query: &case.query,
        headers: &headers,
        payload: &case.body,
    };
    let params = SigningParams {
        credentials: &case.credentials,
        region: case.region,
        service: case.service,
        unix_time_secs: case.time,
        settings: case.settings,
    };
    let date = bedrock_filter::sigv4::amz_date(case.time);
    canonical_request(&request, &params, &date)
        .unwrap()
        .to_string()
}

#[test]
fn matches_aws_sigv4_on_generated_bedrock_requests() {
    let mut rng = Rng(0x5EED_B0C4_F11E_0001);
    let mut one_off_cache = SigningKeyCache::new();
    let mut worker_caches: [SigningKeyCache; WORKERS] = Default::default();
    let mut clocks = [1_750_000_000; WORKERS];
    let (mut with_token, mut with_query, mut arns, mut non_default) = (0, 0, 0, 0);
    let mut worker_requests = 0;
    for i in 0..CASES {
        let case = generate(&mut rng, &mut clocks);
        let cache = match case.worker {
            Some(w) => &mut worker_caches[w],
            None => &mut one_off_cache,
        };
        let ours = sign_with_ours(&case, cache);
        let theirs = sign_with_aws(&case);
        assert_eq!(
            ours,
            theirs,
            "case {i}: {} {}?{} settings {:?} headers {:?} region {} service {} time {}\n\
             our canonical request:\n{}",
            case.method,
            case.path,
            case.query,
            case.settings,
            case.headers,
            case.region,
            case.service,
            case.time,
            our_canonical_request(&case)
        );
        with_token += usize::from(case.credentials.session_token.is_some());
        with_query += usize::from(!case.query.is_empty());
        arns += usize::from(case.path.contains("arn"));
        non_default += usize::from(case.settings != Settings::default());
        worker_requests += usize::from(case.worker.is_some());
    }
    let worker_derivations: u64 = worker_caches.iter().map(SigningKeyCache::derivations).sum();
    eprintln!(
        "sigv4 oracle: {CASES} generated requests byte-identical to aws-sigv4 \
         ({with_token} with session token, {with_query} with query, {arns} ARN paths, \
         {non_default} non-default settings; {worker_requests} from {WORKERS} long-lived \
         workers signed with {worker_derivations} key derivations)"
    );
    assert!(CASES >= 1000 && with_token > 100 && with_query > 100 && arns > 100);
    // One key per worker and day (about a week of requests each), not one per request.
    assert!(worker_derivations <= 40, "{worker_derivations} derivations");
}
