//! Credentials the filter fetches itself (EC2 IMDSv2, the container endpoint), with the
//! metadata service played by the test through scripted `proxy_http_call` answers, and time
//! moved by the host clock: first fetch, rotation before expiry, failures, timeouts.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use proxy_host::{Host, HttpCall};
use serde_json::json;

const ROLE: &str = "gateway-role";
const KEYS_A: (&str, &str, &str) = (
    "ASIAHOSTFIRSTKEY",
    "first/secret+KEY/aaaa",
    "first-session-token/AAAA=",
);
const KEYS_B: (&str, &str, &str) = (
    "ASIAHOSTSECONDKEY",
    "second/secret+KEY/bbb",
    "second-session-token/BBB=",
);
const CONTAINER_URI: &str = "http://169.254.170.2/v2/credentials/task";
const CONTAINER_TOKEN: &str = "container-authorization-token-SECRET";

/// ISO 8601 UTC, as the metadata services write `Expiration`.
fn iso(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn credentials_json(keys: (&str, &str, &str), expires: SystemTime, imds: bool) -> Vec<u8> {
    let mut v = json!({"AccessKeyId": keys.0, "SecretAccessKey": keys.1, "Token": keys.2,
                       "Expiration": iso(expires)});
    if imds {
        v["Code"] = json!("Success");
        v["Type"] = json!("AWS-HMAC");
    }
    serde_json::to_vec(&v).unwrap()
}

fn secret_for(akid: &str) -> (String, Option<String>) {
    for (a, s, t) in [KEYS_A, KEYS_B] {
        if a == akid {
            return (s.into(), Some(t.into()));
        }
    }
    panic!("signed with an unknown key {akid}")
}

/// A host with imds.yaml's plugin configuration and its clusters, no keys in the environment.
fn imds_host() -> Host {
    Host::builder()
        .plugin_configuration(shipped_plugin_config("imds.yaml"))
        .cluster("bedrock")
        .cluster("imds")
        .cluster("container_credentials")
        .load(&wasm_path())
        .unwrap()
}

fn only_pending(host: &Host) -> HttpCall {
    let calls = host.pending_calls();
    assert_eq!(calls.len(), 1, "one call at a time: {calls:#?}");
    calls.into_iter().next().unwrap()
}

/// Play IMDSv2 for one fetch: token, role, credentials valid for `life`.
fn serve_imds(host: &mut Host, keys: (&str, &str, &str), life: Duration) {
    let put = only_pending(host);
    assert_eq!(put.cluster, "imds");
    assert_eq!(put.header(":method"), Some("PUT"));
    assert_eq!(put.header(":path"), Some("/latest/api/token"));
    assert_eq!(put.header(":authority"), Some("169.254.169.254"));
    assert_eq!(
        put.header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    assert_eq!(
        put.header("x-forwarded-for"),
        None,
        "IMDS refuses forwarded token requests"
    );
    host.answer_call(put.token, 200, &[], b"imds-session-token-SECRET")
        .unwrap();

    let role = only_pending(host);
    assert_eq!(role.header(":method"), Some("GET"));
    assert_eq!(
        role.header(":path"),
        Some("/latest/meta-data/iam/security-credentials/")
    );
    assert_eq!(
        role.header("x-aws-ec2-metadata-token"),
        Some("imds-session-token-SECRET")
    );
    host.answer_call(role.token, 200, &[], ROLE.as_bytes())
        .unwrap();

    let creds = only_pending(host);
    assert_eq!(
        creds.header(":path"),
        Some(format!("/latest/meta-data/iam/security-credentials/{ROLE}").as_str())
    );
    assert_eq!(
        creds.header("x-aws-ec2-metadata-token"),
        Some("imds-session-token-SECRET")
    );
    let expires = host.now() + life;
    host.answer_call(
        creds.token,
        200,
        &[],
        &credentials_json(keys, expires, true),
    )
    .unwrap();
    assert!(host.pending_calls().is_empty());
}

/// One chat request answered 200; the access key that signed it (verified with aws-sigv4).
fn chat_signed_by(host: &mut Host) -> String {
    let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
    r.body(&chat_body("ping", false), true).unwrap();
    let up = r.upstream_request().expect("forwarded");
    assert_eq!(
        up.header(":authority"),
        Some("bedrock-runtime.us-east-1.amazonaws.com")
    );
    let akid = verify_sigv4(&up, secret_for, REGION);
    assert_eq!(
        up.header("x-amz-security-token"),
        secret_for(&akid).1.as_deref(),
        "the session token goes with its keys"
    );
    r.respond(
        200,
        &[("content-type", "application/json")],
        &[&converse_answer("pong")],
    )
    .unwrap();
    assert_eq!(r.client_response().status(), 200);
    akid
}

fn assert_no_credentials_503(host: &mut Host) -> String {
    let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
    r.body(&chat_body("ping", false), true).unwrap();
    assert!(
        r.upstream_request().is_none(),
        "nothing may reach Bedrock without credentials"
    );
    let answer = r.client_response();
    assert_eq!(answer.status(), 503, "{}", answer.text());
    assert_eq!(answer.header("retry-after"), Some("1"));
    let err = json_of(&answer.body);
    assert_eq!(err["error"]["code"], "no_credentials");
    err["error"]["message"].as_str().unwrap().to_string()
}

#[test]
fn imds_first_fetch_then_rotation_before_expiry() {
    let mut host = imds_host();
    assert_eq!(host.tick_period(), Some(Duration::from_secs(1)));
    // The first fetch starts in on_configure; until it lands, requests get 503.
    assert_no_credentials_503(&mut host);
    serve_imds(&mut host, KEYS_A, Duration::from_secs(3600));
    assert!(
        host.log_text().contains(&format!(
            "AWS credentials from EC2 instance metadata (IMDS): access key {}",
            KEYS_A.0
        )),
        "{}",
        host.log_text()
    );
    assert_eq!(chat_signed_by(&mut host), KEYS_A.0);

    // Nothing to do for a while: ticks make no calls.
    host.advance_time(Duration::from_secs(600)).unwrap();
    assert!(host.pending_calls().is_empty());
    assert_eq!(chat_signed_by(&mut host), KEYS_A.0);

    // 300 s before expiry the refresh starts; A serves while it runs.
    host.advance_time(Duration::from_secs(3600 - 300 - 600))
        .unwrap();
    assert_eq!(
        only_pending(&host).header(":path"),
        Some("/latest/api/token")
    );
    assert_eq!(chat_signed_by(&mut host), KEYS_A.0, "no gap while rotating");
    serve_imds(&mut host, KEYS_B, Duration::from_secs(3600));
    assert_eq!(chat_signed_by(&mut host), KEYS_B.0);
    // Past A's expiry, B keeps signing.
    host.advance_time(Duration::from_secs(400)).unwrap();
    assert_eq!(chat_signed_by(&mut host), KEYS_B.0);
    println!("hostcalls: {:?}", host.hostcalls_used());
    let secrets = [
        KEYS_A.1,
        KEYS_A.2,
        KEYS_B.1,
        KEYS_B.2,
        "imds-session-token-SECRET",
    ];
    for s in secrets {
        assert!(!host.log_text().contains(s), "a secret is in the log");
    }
    assert_clean(&host);
}

#[test]
fn container_endpoint_from_the_environment_then_down_then_expiry() {
    let mut host = Host::builder()
        .plugin_configuration(json!({"region": REGION}).to_string())
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", CONTAINER_URI)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN)
        .cluster("bedrock")
        .cluster("container_credentials")
        .load(&wasm_path())
        .unwrap();
    let call = only_pending(&host);
    assert_eq!(call.cluster, "container_credentials");
    assert_eq!(call.header(":method"), Some("GET"));
    assert_eq!(call.header(":path"), Some("/v2/credentials/task"));
    assert_eq!(call.header(":authority"), Some("169.254.170.2"));
    assert_eq!(call.header("authorization"), Some(CONTAINER_TOKEN));
    let life = Duration::from_secs(900);
    let expires = host.now() + life;
    host.answer_call(
        call.token,
        200,
        &[],
        &credentials_json(KEYS_A, expires, false),
    )
    .unwrap();
    assert_eq!(chat_signed_by(&mut host), KEYS_A.0);

    // The endpoint goes away at the refresh (600 s in): connection failures, with backoff.
    host.advance_time(Duration::from_secs(600)).unwrap();
    let refresh = only_pending(&host);
    host.fail_call(refresh.token).unwrap();
    assert!(
        host.log_text().contains(&format!(
            "AWS credentials from the container credentials endpoint failed: GET {CONTAINER_URI}: \
             no answer (connection failed or reset)"
        )),
        "{}",
        host.log_text()
    );
    // The held credentials serve until they expire, while retries keep failing.
    for _ in 0..20 {
        host.advance_time(Duration::from_secs(10)).unwrap();
        for call in host.pending_calls() {
            host.fail_call(call.token).unwrap();
        }
        if host.now() < expires {
            assert_eq!(chat_signed_by(&mut host), KEYS_A.0);
        }
    }
    host.advance_time(Duration::from_secs(120)).unwrap();
    for call in host.pending_calls() {
        host.fail_call(call.token).unwrap();
    }
    assert!(host.now() > expires);
    let message = assert_no_credentials_503(&mut host);
    assert!(message.contains("expired"), "{message}");
    assert!(
        host.log_text()
            .contains(&format!("(access key {}) expired at", KEYS_A.0))
    );
    assert!(!host.log_text().contains(CONTAINER_TOKEN));
    assert_clean(&host);
}

#[test]
fn a_call_that_times_out_is_answered_504_by_the_host() {
    let mut host = Host::builder()
        .plugin_configuration(
            json!({"region": REGION, "credentials": {"source": "container",
                   "uri": "http://127.0.0.1:9911/creds", "timeout_ms": 300}})
            .to_string(),
        )
        .cluster("bedrock")
        .cluster("container_credentials")
        .load(&wasm_path())
        .unwrap();
    let call = only_pending(&host);
    assert_eq!(call.timeout, Duration::from_millis(300));
    host.advance_time(Duration::from_millis(299)).unwrap();
    assert_eq!(host.pending_calls().len(), 1);
    host.advance_time(Duration::from_millis(1)).unwrap();
    assert!(
        host.log_text().contains(
            "GET http://127.0.0.1:9911/creds answered 504 (no answer within the timeout)"
        ),
        "{}",
        host.log_text()
    );
    assert_no_credentials_503(&mut host);
    assert_clean(&host);
}

#[test]
fn a_missing_metadata_cluster_is_reported_not_fatal() {
    let mut host = Host::builder()
        .plugin_configuration(
            json!({"region": REGION, "credentials": {"source": "imds", "cluster": "nowhere"}})
                .to_string(),
        )
        .cluster("bedrock")
        .cluster("imds")
        .load(&wasm_path())
        .unwrap();
    assert!(host.pending_calls().is_empty());
    assert!(
        host.log_text().contains("is cluster \"nowhere\" defined?"),
        "{}",
        host.log_text()
    );
    assert_no_credentials_503(&mut host);
    // Retries back off and keep reporting; the VM keeps serving.
    host.advance_time(Duration::from_secs(5)).unwrap();
    assert_no_credentials_503(&mut host);
    assert_clean(&host);
}

#[test]
fn malformed_and_refused_answers_say_why() {
    let mut host = imds_host();
    let put = only_pending(&host);
    host.answer_call(put.token, 200, &[], b"tok").unwrap();
    let role = only_pending(&host);
    host.answer_call(role.token, 200, &[], ROLE.as_bytes())
        .unwrap();
    let creds = only_pending(&host);
    let body = credentials_json(KEYS_A, host.now() + Duration::from_secs(3600), true);
    host.answer_call(creds.token, 200, &[], &body[..body.len() - 40])
        .unwrap();
    assert!(
        host.log_text()
            .contains("the credentials answer is not the expected JSON"),
        "{}",
        host.log_text()
    );
    assert_no_credentials_503(&mut host);
    // The retry (1 s later) is refused by IMDS itself.
    host.advance_time(Duration::from_secs(1)).unwrap();
    let put = only_pending(&host);
    host.answer_call(put.token, 403, &[], b"").unwrap();
    assert!(
        host.log_text()
            .contains("answered 403 (IMDS is disabled or the hop limit is too low)"),
        "{}",
        host.log_text()
    );
    assert_clean(&host);
}
