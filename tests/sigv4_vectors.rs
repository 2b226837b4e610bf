//! Runs the public SigV4 test suites in `tests/vectors/sigv4` (see its README.md) against
//! `bedrock_filter::sigv4`, checking the canonical request, the string to sign, the signature
//! and the `Authorization` header separately, each failure naming its case.
//!
//! Header signing only: the `query-*` files (presigned URLs) are counted and skipped.
//! The vectors are vendored verbatim with their licences; their README says where each came from.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use bedrock_filter::sigv4::{
    Credentials, Settings, SignableRequest, SigningKeyCache, SigningParams, StringToSign,
    canonical_request, parse_amz_date,
};

const EXAMPLE_ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Checks that cannot pass because the vector contradicts itself or the other suites.
/// The runner proves each reason from the vector files (`assert_known_bad`) before skipping.
const KNOWN_BAD: &[(&str, &[Step], &str)] = &[
    (
        "smithy-rs-legacy-format/post-x-www-form-urlencoded/post-x-www-form-urlencoded",
        &[Step::CanonicalRequest],
        "the .creq lists content-type among the canonical headers but not on its signed-headers \
         line; its .sts, .authz (and our output) sign content-type",
    ),
    (
        "smithy-rs-new-format/v4/get-space-normalized",
        &[
            Step::CanonicalRequest,
            Step::StringToSign,
            Step::Signature,
            Step::Authorization,
        ],
        "smithy-rs changed request.txt to send `%20` but kept aws-c-auth's expected files, which \
         encode a raw space once; with the double encoding every non-S3 service needs (see \
         double-url-encode) `%20` signs as `%2520`. smithy-rs ignores this case too",
    ),
];

/// The old suite signed form parameters as a query: it moves the body of this case to the
/// query and hashes an empty payload. The runner does the same, then checks every step.
const LEGACY_FORM_AS_QUERY: &str = "smithy-rs-legacy-format/post-x-www-form-urlencoded-parameters/post-x-www-form-urlencoded-parameters";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    CanonicalRequest,
    StringToSign,
    Signature,
    Authorization,
    SignedRequestHeaders,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One directory per case: request.txt, context.json, header-*.txt.
    New,
    /// `name.req`, `.creq`, `.sts`, `.authz`; fold lines are further values of the header.
    Legacy,
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct Context {
    credentials: Credentials,
    region: String,
    service: String,
    unix_time_secs: u64,
    settings: Settings,
}

#[derive(Default)]
struct Expected {
    canonical_request: String,
    string_to_sign: Option<String>,
    signature: Option<String>,
    authorization: Option<String>,
    /// Headers of header-signed-request.txt, when the case has a context.json.
    signed_request_headers: Option<Vec<(String, String)>>,
}

struct Case {
    name: String,
    request: Request,
    context: Context,
    expected: Expected,
}

#[derive(Default)]
struct Tally {
    /// Cases whose every check ran and matched.
    passed: usize,
    /// Cases with known-bad checks skipped (the rest matched): name, steps, reason.
    partial: Vec<(String, Vec<Step>, &'static str)>,
    skipped_query_files: usize,
    failures: Vec<String>,
}

fn vectors_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sigv4");
    assert!(dir.is_dir(), "SigV4 vectors not found at {}", dir.display());
    dir
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_optional(path: &Path) -> Option<String> {
    path.is_file().then(|| read(path))
}

/// An expected text: some files end in a newline that is not part of the spec text.
fn read_expected(path: &Path) -> String {
    let text = read(path);
    text.strip_suffix('\n').map(str::to_owned).unwrap_or(text)
}

fn read_expected_optional(path: &Path) -> Option<String> {
    path.is_file().then(|| read_expected(path))
}

/// Parses a raw HTTP/1.1 request as the suites write it (LF line ends, `Name:value` headers,
/// a request target that may hold raw spaces, continuation lines indented).
fn parse_request(raw: &str, format: Format) -> Request {
    let (head, body) = raw
        .split_once("\n\n")
        .unwrap_or((raw.trim_end_matches('\n'), ""));
    let mut lines = head.lines();
    let request_line = lines.next().expect("request line");
    let (method, rest) = request_line.split_once(' ').expect("method");
    let target = rest
        .rsplit_once(" HTTP/")
        .map_or(rest, |(target, _)| target);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let (name, value) = headers.last_mut().expect("continuation without a header");
            match format {
                // An obs-fold inside one value, as sent on the wire.
                Format::New => *value = format!("{value}\r\n{line}"),
                // The old suite meant each indented line as one more value.
                Format::Legacy => {
                    let name = name.clone();
                    headers.push((name, line.trim().to_owned()));
                }
            }
            continue;
        }
        let (name, value) = line.split_once(':').expect("header line");
        headers.push((name.to_owned(), value.to_owned()));
    }
    Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// (access key id, region, service) from `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
fn credential_scope(authorization: &str) -> (String, String, String) {
    let credential = authorization
        .split("Credential=")
        .nth(1)
        .expect("Credential=");
    let credential = credential.split(',').next().unwrap();
    let parts: Vec<&str> = credential.split('/').collect();
    assert_eq!(parts.len(), 5, "credential {credential}");
    (
        parts[0].to_owned(),
        parts[2].to_owned(),
        parts[3].to_owned(),
    )
}

/// The `x-amz-date` line of an expected canonical request: the signing time of context-less cases.
fn time_of_canonical_request(creq: &str) -> u64 {
    let date = creq
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-date:"))
        .expect("x-amz-date line");
    parse_amz_date(date).expect("x-amz-date value")
}

fn load_new_case(suite: &str, dir: &Path) -> Case {
    let name = format!("{suite}/{}", dir.file_name().unwrap().to_string_lossy());
    let request = parse_request(&read(&dir.join("request.txt")), Format::New);
    let canonical_request = read_expected(&dir.join("header-canonical-request.txt"));
    let signed_request = read_optional(&dir.join("header-signed-request.txt"))
        .map(|raw| parse_request(&raw, Format::New).headers);
    let authorization = signed_request
        .as_deref()
        .and_then(|h| header(h, "authorization"))
        .map(str::to_owned);
    let string_to_sign = read_expected_optional(&dir.join("header-string-to-sign.txt"));

    let (context, expected) = match read_optional(&dir.join("context.json")) {
        Some(json) => {
            let json: serde_json::Value = serde_json::from_str(&json).unwrap();
            let creds = &json["credentials"];
            let timestamp = json["timestamp"].as_str().unwrap().replace(['-', ':'], "");
            let context = Context {
                credentials: Credentials {
                    access_key_id: creds["access_key_id"].as_str().unwrap().to_owned(),
                    secret_access_key: creds["secret_access_key"].as_str().unwrap().to_owned(),
                    session_token: creds["token"].as_str().map(str::to_owned),
                },
                region: json["region"].as_str().unwrap().to_owned(),
                service: json["service"].as_str().unwrap().to_owned(),
                unix_time_secs: parse_amz_date(&timestamp).unwrap(),
                settings: Settings {
                    // Every non-normalizing case is S3-style: no second encoding either.
                    normalize_path: json["normalize"].as_bool().unwrap(),
                    double_encode_path: json["normalize"].as_bool().unwrap(),
                    sign_content_sha256: json["sign_body"].as_bool().unwrap(),
                    sign_session_token: !json["omit_session_token"].as_bool().unwrap_or(false),
                },
            };
            let expected = Expected {
                canonical_request,
                string_to_sign,
                signature: read_expected_optional(&dir.join("header-signature.txt")),
                authorization,
                signed_request_headers: signed_request,
            };
            (context, expected)
        }
        // double-url-encode and double-encode-path, converted from the legacy suite: the time
        // is the canonical request's x-amz-date (the request's own header is stale), scope and
        // key id come from the Authorization line, which is only trusted (and checked) when
        // the case also ships a string to sign.
        None => {
            let has_sts = string_to_sign.is_some();
            let (access_key_id, region, service) = authorization
                .as_deref()
                .filter(|_| has_sts)
                .map(credential_scope)
                .unwrap_or_else(|| {
                    (
                        EXAMPLE_ACCESS_KEY_ID.into(),
                        "us-east-1".into(),
                        "service".into(),
                    )
                });
            let context = Context {
                credentials: example_credentials(access_key_id, None),
                region,
                service,
                unix_time_secs: time_of_canonical_request(&canonical_request),
                settings: Settings::default(),
            };
            let signature = authorization
                .as_deref()
                .filter(|_| has_sts)
                .and_then(|a| a.split("Signature=").nth(1))
                .map(str::to_owned);
            let expected = Expected {
                canonical_request,
                string_to_sign,
                signature,
                authorization: authorization.filter(|_| has_sts),
                signed_request_headers: None,
            };
            (context, expected)
        }
    };
    Case {
        name,
        request,
        context,
        expected,
    }
}

fn example_credentials(access_key_id: String, token: Option<String>) -> Credentials {
    Credentials {
        access_key_id,
        secret_access_key: EXAMPLE_SECRET.into(),
        session_token: token,
    }
}

fn load_legacy_case(req_path: &Path, root: &Path) -> Case {
    let relative = req_path.strip_prefix(root).unwrap().with_extension("");
    let name = format!("smithy-rs-legacy-format/{}", relative.to_string_lossy());
    let stem = req_path.with_extension("");
    let sibling = |ext: &str| stem.with_extension(ext);
    let mut request = parse_request(&read(req_path), Format::Legacy);
    if name == LEGACY_FORM_AS_QUERY {
        assert!(request.query.is_empty());
        request.query = String::from_utf8(std::mem::take(&mut request.body)).unwrap();
    }
    let canonical_request = read_expected(&sibling("creq"));
    let authorization = read_optional(&sibling("authz")).map(|a| a.trim().to_owned());
    let (access_key_id, region, service) = authorization
        .as_deref()
        .map(credential_scope)
        .unwrap_or_else(|| {
            (
                EXAMPLE_ACCESS_KEY_ID.into(),
                "us-east-1".into(),
                "service".into(),
            )
        });

    // post-sts-header-before carries the token in the request (signed); post-sts-header-after
    // adds the token from the suite's readme after signing.
    let request_token = header(&request.headers, "x-amz-security-token").map(str::to_owned);
    let readme_token = relative.starts_with("post-sts-token").then(|| {
        let readme = read(&root.join("post-sts-token/readme.txt"));
        readme
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap()
            .trim()
            .to_owned()
    });
    let sign_session_token = request_token.is_some() || readme_token.is_none();
    let token = request_token.or(readme_token);

    let context = Context {
        credentials: example_credentials(access_key_id, token),
        region,
        service,
        unix_time_secs: time_of_canonical_request(&canonical_request),
        settings: Settings {
            sign_session_token,
            ..Settings::default()
        },
    };
    let expected = Expected {
        canonical_request,
        string_to_sign: read_expected_optional(&sibling("sts")),
        signature: authorization
            .as_deref()
            .and_then(|a| a.split("Signature=").nth(1))
            .map(str::to_owned),
        authorization,
        signed_request_headers: None,
    };
    Case {
        name,
        request,
        context,
        expected,
    }
}

fn run_case(case: &Case, cache: &mut SigningKeyCache, tally: &mut Tally) {
    let Case {
        name,
        request,
        context,
        expected,
    } = case;
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = SignableRequest {
        method: &request.method,
        path: &request.path,
        query: &request.query,
        headers: &headers,
        payload: &request.body,
    };
    let params = SigningParams {
        credentials: &context.credentials,
        region: &context.region,
        service: &context.service,
        unix_time_secs: context.unix_time_secs,
        settings: context.settings,
    };
    let failures_before = tally.failures.len();
    let mut skipped_steps = Vec::new();
    let mut skip_reason = "";
    let mut check = |step: Step, actual: &str, expected: &str| {
        if actual == expected {
            return;
        }
        let known = KNOWN_BAD
            .iter()
            .find(|(n, steps, _)| n == name && steps.contains(&step));
        if let Some((_, _, reason)) = known {
            assert_known_bad(name, expected);
            skipped_steps.push(step);
            skip_reason = reason;
            return;
        }
        tally.failures.push(format!(
            "[{name}] {step:?} differs\n--- expected\n{expected}\n--- actual\n{actual}\n"
        ));
    };

    let amz_date = bedrock_filter::sigv4::amz_date(context.unix_time_secs);
    let creq = match canonical_request(&req, &params, &amz_date) {
        Ok(creq) => creq,
        Err(e) => {
            tally
                .failures
                .push(format!("[{name}] canonical_request failed: {e}"));
            return;
        }
    };
    check(
        Step::CanonicalRequest,
        &creq.to_string(),
        &expected.canonical_request,
    );
    let creq_hash = creq.hash_hex();
    let sts = StringToSign::new(&amz_date, &context.region, &context.service, &creq_hash);
    if let Some(expected_sts) = &expected.string_to_sign {
        check(Step::StringToSign, &sts.to_string(), expected_sts);
    }
    let signed = cache
        .sign(&req, &params)
        .unwrap_or_else(|e| panic!("[{name}] sign: {e}"));
    if let Some(expected_signature) = &expected.signature {
        check(Step::Signature, &signed.signature, expected_signature);
    }
    if let Some(expected_authorization) = &expected.authorization {
        check(
            Step::Authorization,
            &signed.authorization,
            expected_authorization,
        );
    }
    if let Some(signed_headers) = &expected.signed_request_headers {
        // Every header the signer adds appears in the signed request with the same value.
        let mut ours = format!("x-amz-date={}", signed.amz_date);
        let mut theirs = format!(
            "x-amz-date={}",
            header(signed_headers, "x-amz-date").unwrap_or("-")
        );
        for (name, value) in [
            ("x-amz-security-token", signed.session_token.as_deref()),
            ("x-amz-content-sha256", signed.content_sha256.as_deref()),
        ] {
            write!(ours, " {name}={}", value.unwrap_or("-")).unwrap();
            write!(
                theirs,
                " {name}={}",
                header(signed_headers, name).unwrap_or("-")
            )
            .unwrap();
        }
        check(Step::SignedRequestHeaders, &ours, &theirs);
    }
    if tally.failures.len() > failures_before {
        return;
    }
    if skipped_steps.is_empty() {
        tally.passed += 1;
    } else {
        tally
            .partial
            .push((name.clone(), skipped_steps, skip_reason));
    }
}

/// Proves the reason given in [`KNOWN_BAD`] from the vector's own files.
fn assert_known_bad(name: &str, expected_canonical_request: &str) {
    let root = vectors_dir();
    if name.ends_with("/post-x-www-form-urlencoded") {
        let mut lines = expected_canonical_request.lines().skip(3);
        let listed: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_once(':').unwrap().0)
            .collect();
        let signed_line = lines.next().unwrap();
        assert!(listed.contains(&"content-type"), "{name}: {listed:?}");
        assert!(
            !signed_line.split(';').any(|h| h == "content-type"),
            "{name}: {signed_line}"
        );
        let authz = read(&root.join(format!("{name}.authz")));
        assert!(
            authz.contains("SignedHeaders=content-type;host;x-amz-date"),
            "{authz}"
        );
    } else if name.ends_with("/get-space-normalized") {
        let crt = root.join("aws-c-auth/v4/get-space-normalized");
        let smithy = root.join("smithy-rs-new-format/v4/get-space-normalized");
        let file = "header-canonical-request.txt";
        assert_eq!(
            read(&crt.join(file)),
            read(&smithy.join(file)),
            "{name}: same expected output"
        );
        assert!(read(&crt.join("request.txt")).starts_with("GET /example space/ "));
        assert!(read(&smithy.join("request.txt")).starts_with("GET /example%20space/ "));
    } else {
        panic!("no proof for known-bad vector {name}");
    }
}

#[test]
fn sigv4_test_suites() {
    let root = vectors_dir();
    let mut cache = SigningKeyCache::new();
    let mut summary = Vec::new();
    let mut all_failures = Vec::new();

    for (dir, minimum) in [("aws-c-auth/v4", 38), ("smithy-rs-new-format/v4", 39)] {
        let mut tally = Tally::default();
        let mut case_dirs: Vec<PathBuf> = fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        case_dirs.sort();
        for case_dir in case_dirs.iter().filter(|p| p.is_dir()) {
            tally.skipped_query_files += fs::read_dir(case_dir)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("query-")
                })
                .count();
            run_case(&load_new_case(dir, case_dir), &mut cache, &mut tally);
        }
        summary.push(report(dir, &tally, minimum));
        all_failures.append(&mut tally.failures);
    }

    let legacy = root.join("smithy-rs-legacy-format");
    let mut req_files = Vec::new();
    collect_files(&legacy, "req", &mut req_files);
    req_files.sort();
    let mut tally = Tally::default();
    let mut qps = Vec::new();
    collect_files(&legacy, "qpsreq", &mut qps);
    tally.skipped_query_files = qps.len();
    for req in &req_files {
        run_case(&load_legacy_case(req, &legacy), &mut cache, &mut tally);
    }
    let mut line = report("smithy-rs-legacy-format", &tally, 32);
    write!(
        line,
        "\n  adapted {LEGACY_FORM_AS_QUERY}: form body signed as the query, as the old suite did"
    )
    .unwrap();
    summary.push(line);
    all_failures.append(&mut tally.failures);

    for line in &summary {
        eprintln!("{line}");
    }
    assert!(
        all_failures.is_empty(),
        "{} failures:\n{}",
        all_failures.len(),
        all_failures.join("\n")
    );
}

fn collect_files(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, extension, out);
        } else if path.extension().is_some_and(|e| e == extension) {
            out.push(path);
        }
    }
}

fn report(dir: &str, tally: &Tally, minimum: usize) -> String {
    assert!(
        tally.passed >= minimum || !tally.failures.is_empty(),
        "{dir}: only {} cases passed every check, expected at least {minimum}",
        tally.passed
    );
    let mut line = format!(
        "sigv4 vectors {dir}: {} passed, {} passed with known-bad checks skipped, {} failed; \
         {} query-* presigned-URL files skipped (query signing not implemented)",
        tally.passed,
        tally.partial.len(),
        tally.failures.len(),
        tally.skipped_query_files
    );
    for (name, steps, reason) in &tally.partial {
        write!(line, "\n  skipped {steps:?} of {name}: {reason}").unwrap();
    }
    line
}
