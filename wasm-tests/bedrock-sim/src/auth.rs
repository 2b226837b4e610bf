//! Request authentication: SigV4 (verified with AWS's `aws-sigv4`), Bedrock API keys
//! (`Authorization: Bearer`), or none (`--no-auth`).

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::errors::AwsError;
use crate::util::{format_amz_date, parse_amz_date};

pub const SERVICE: &str = "bedrock";

/// A known access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key: String,
    pub secret: String,
    pub session_token: Option<String>,
}

impl Credential {
    /// Parses `AKID:SECRET[:SESSION_TOKEN]`.
    pub fn parse(s: &str) -> Result<Credential, String> {
        let mut it = s.splitn(3, ':');
        let (Some(ak), Some(secret)) = (it.next(), it.next()) else {
            return Err(format!(
                "--credentials wants AKID:SECRET[:SESSION_TOKEN], got {s:?}"
            ));
        };
        if ak.is_empty() || secret.is_empty() {
            return Err(format!(
                "--credentials wants AKID:SECRET[:SESSION_TOKEN], got {s:?}"
            ));
        }
        Ok(Credential {
            access_key: ak.to_owned(),
            secret: secret.to_owned(),
            session_token: it.next().filter(|t| !t.is_empty()).map(str::to_owned),
        })
    }
}

/// What the simulator accepts.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub regions: Vec<String>,
    pub credentials: Vec<Credential>,
    pub bearer_tokens: Vec<String>,
    pub max_skew_secs: i64,
    pub no_auth: bool,
}

/// The parts of a request authentication looks at, as received.
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The raw path, as on the request line.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Lower-case names, raw values, in arrival order.
    pub headers: &'a [(String, Vec<u8>)],
    pub body: &'a [u8],
    /// Unix seconds.
    pub now: i64,
}

impl RequestParts<'_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    fn single(&self, name: &str) -> Option<&str> {
        let v = self.values(name);
        match v.as_slice() {
            [one] => std::str::from_utf8(one).ok(),
            _ => None,
        }
    }
}

/// The verdict, recorded with the request.
#[derive(Debug, Clone, Default)]
pub struct AuthOutcome {
    pub ok: bool,
    /// `sigv4`, `bearer`, `none` (--no-auth), `missing` (no Authorization header) or
    /// `unsupported` (another scheme).
    pub mode: &'static str,
    pub reason: Option<String>,
    pub access_key: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
    pub signed_headers: Vec<String>,
    /// On a signature mismatch: what the simulator computed.
    pub canonical_request: Option<String>,
    pub string_to_sign: Option<String>,
    /// The error to answer with when not ok.
    pub error: Option<AwsError>,
}

impl AuthOutcome {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "ok": self.ok,
            "mode": self.mode,
            "reason": self.reason,
            "access_key": self.access_key,
            "region": self.region,
            "service": self.service,
            "signed_headers": self.signed_headers,
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(c) = &self.canonical_request {
                obj.insert("canonical_request".into(), json!(c));
            }
            if let Some(s) = &self.string_to_sign {
                obj.insert("string_to_sign".into(), json!(s));
            }
        }
        v
    }

    fn fail(&mut self, error: AwsError, reason: impl Into<String>) {
        self.ok = false;
        self.reason = Some(reason.into());
        self.error = Some(error);
    }
}

/// Authenticates a request. Never panics on hostile input.
pub fn authenticate(cfg: &AuthConfig, req: &RequestParts<'_>) -> AuthOutcome {
    let auth_values = req.values("authorization");
    if cfg.no_auth {
        return AuthOutcome {
            ok: true,
            mode: "none",
            ..AuthOutcome::default()
        };
    }
    let mut out = AuthOutcome::default();
    let value = match auth_values.as_slice() {
        [] => {
            out.mode = "missing";
            let reason = if req.query.is_some_and(|q| q.contains("X-Amz-Signature")) {
                "presigned (query-string) SigV4 is not accepted by the simulator"
            } else {
                "no Authorization header"
            };
            out.fail(AwsError::missing_token(), reason);
            return out;
        }
        [one] => match std::str::from_utf8(one) {
            Ok(s) => s,
            Err(_) => {
                out.mode = "unsupported";
                out.fail(
                    AwsError::incomplete_signature("Authorization header is not valid UTF-8."),
                    "Authorization header is not UTF-8",
                );
                return out;
            }
        },
        _ => {
            out.mode = "unsupported";
            out.fail(
                AwsError::incomplete_signature("Multiple Authorization headers."),
                "more than one Authorization header",
            );
            return out;
        }
    };
    if let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256 ") {
        out.mode = "sigv4";
        match verify_sigv4(cfg, req, rest, &mut out) {
            Ok(()) => out.ok = true,
            Err((error, reason)) => out.fail(error, reason),
        }
        return out;
    }
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        out.mode = "bearer";
        let token = token.trim();
        if !token.is_empty() && cfg.bearer_tokens.iter().any(|t| t == token) {
            out.ok = true;
        } else {
            let mut e = AwsError::new(
                403,
                "AccessDeniedException",
                "Authentication failed: Please make sure your API Key is valid.",
            );
            e.message_key = "Message";
            let hint = if token.starts_with("sk-") {
                " (it looks like an OpenAI key)"
            } else {
                ""
            };
            out.fail(
                e,
                format!("bearer token is not a configured --bearer-token{hint}"),
            );
        }
        return out;
    }
    out.mode = "unsupported";
    out.fail(
        AwsError::incomplete_signature(format!(
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization={}",
            scheme
        )),
        format!("unsupported Authorization scheme {scheme:?}"),
    );
    out
}

type Failure = (AwsError, String);

fn incomplete(msg: String) -> Failure {
    (AwsError::incomplete_signature(msg.clone()), msg)
}

fn invalid(msg: String) -> Failure {
    (AwsError::invalid_signature(msg.clone()), msg)
}

struct ParsedAuth<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_auth_params(rest: &str) -> Result<ParsedAuth<'_>, Failure> {
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 {rest}'."
            )));
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if v.is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    match (credential, signed_headers, signature) {
        (Some(c), Some(h), Some(s)) if missing.is_empty() => Ok(ParsedAuth {
            credential: c,
            signed_headers: h,
            signature: s,
        }),
        _ => Err(incomplete(format!(
            "{missing}Authorization=AWS4-HMAC-SHA256 {rest}"
        ))),
    }
}

fn verify_sigv4(
    cfg: &AuthConfig,
    req: &RequestParts<'_>,
    rest: &str,
    out: &mut AuthOutcome,
) -> Result<(), Failure> {
    let parsed = parse_auth_params(rest)?;
    let scope: Vec<&str> = parsed.credential.split('/').collect();
    let [akid, date, region, service, terminator] = scope.as_slice() else {
        return Err(incomplete(format!(
            "Authorization header has an invalid Credential '{}': it must be <access key>/<date>/<region>/<service>/aws4_request.",
            parsed.credential
        )));
    };
    out.access_key = Some((*akid).to_owned());
    out.region = Some((*region).to_owned());
    out.service = Some((*service).to_owned());
    let signed: Vec<String> = parsed
        .signed_headers
        .split(';')
        .map(str::to_owned)
        .collect();
    out.signed_headers = signed.clone();

    let Some(cred) = cfg.credentials.iter().find(|c| c.access_key == *akid) else {
        return Err((
            AwsError::unrecognized_client(),
            format!("unknown access key {akid}"),
        ));
    };

    let Some(amz_date) = req.single("x-amz-date") else {
        return Err(incomplete(format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 {rest}"
        )));
    };
    let Some(ts) = parse_amz_date(amz_date) else {
        return Err(incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )));
    };
    let http_day = amz_date.get(..8).unwrap_or("");
    if *date != http_day {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{http_day}', from '{amz_date}'."
        )));
    }
    if !cfg.regions.iter().any(|r| r == region) {
        return Err(invalid(format!(
            "Credential should be scoped to a valid region, not '{region}'. "
        )));
    }
    if *service != SERVICE {
        return Err(invalid(format!(
            "Credential should be scoped to correct service: '{SERVICE}'. "
        )));
    }
    if *terminator != "aws4_request" {
        return Err(invalid(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
        )));
    }
    let skew = cfg.max_skew_secs;
    let minutes = skew / 60;
    if req.now - ts > skew {
        return Err(invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - {minutes} min.)",
            format_amz_date(req.now - skew),
            format_amz_date(req.now)
        )));
    }
    if ts - req.now > skew {
        return Err(invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + {minutes} min.)",
            format_amz_date(req.now + skew),
            format_amz_date(req.now)
        )));
    }

    let token_header = req.single("x-amz-security-token");
    let token_count = req.values("x-amz-security-token").len();
    match (&cred.session_token, token_header) {
        (Some(_), None) if token_count == 0 => {
            return Err((
                AwsError::unrecognized_client(),
                format!(
                    "access key {akid} has a session token but the request has no x-amz-security-token"
                ),
            ));
        }
        (Some(t), Some(v)) if v == t => {
            if !signed.iter().any(|h| h == "x-amz-security-token") {
                return Err(invalid(
                    "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."
                        .into(),
                ));
            }
        }
        (Some(_), _) => {
            return Err((
                AwsError::unrecognized_client(),
                "x-amz-security-token does not match the session token of the access key".into(),
            ));
        }
        (None, _) if token_count > 0 => {
            return Err((
                AwsError::unrecognized_client(),
                format!(
                    "access key {akid} has no session token but the request carries x-amz-security-token"
                ),
            ));
        }
        (None, _) => {}
    }
    if signed.iter().any(String::is_empty) {
        return Err(incomplete(format!(
            "Authorization header has an empty name in SignedHeaders '{}'.",
            parsed.signed_headers
        )));
    }
    if !signed.iter().any(|h| h == "host") {
        return Err(invalid(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if !signed.iter().any(|h| h == "x-amz-date") {
        return Err(invalid(
            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    // The signed headers as aws-sigv4 gets them: only those, values as received.
    let mut header_pairs: Vec<(&str, &str)> = Vec::new();
    for h in &signed {
        let values: Vec<&[u8]> = req.values(h);
        if values.is_empty() {
            return Err(invalid(format!(
                "The request signature we calculated does not match the signature you provided: signed header '{h}' is not present in the request."
            )));
        }
        for raw in values {
            let Ok(v) = std::str::from_utf8(raw) else {
                return Err(invalid(format!(
                    "The value of signed header '{h}' is not valid UTF-8."
                )));
            };
            header_pairs.push((h.as_str(), v));
        }
    }
    // Keep the arrival order of the request's headers.
    let order = |name: &str| req.headers.iter().position(|(n, _)| n == name);
    header_pairs.sort_by_key(|(n, _)| order(n));

    let body_hash = hex::encode(Sha256::digest(req.body));
    if signed.iter().any(|h| h == "x-amz-content-sha256")
        && let Some(v) = req.single("x-amz-content-sha256")
        && v.len() == 64
        && v.bytes().all(|b| b.is_ascii_hexdigit())
        && !v.eq_ignore_ascii_case(&body_hash)
    {
        return Err(invalid(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        ));
    }

    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(ts).unwrap_or(0));
    let computed = aws_sign(req, &header_pairs, cred, region, time)
        .map_err(|e| invalid(format!("aws-sigv4 could not sign the request: {e}")))?;

    if computed.signed_headers == parsed.signed_headers && computed.signature == parsed.signature {
        return Ok(());
    }
    let creq = canonical_request(req, &signed, &body_hash);
    let sts = string_to_sign(amz_date, date, region, &creq);
    // The text above is for the message only; check it agrees with aws-sigv4.
    let key = v4::generate_signing_key(&cred.secret, time, region, SERVICE);
    let mine = v4::calculate_signature(key, sts.as_bytes());
    if mine != computed.signature && computed.signed_headers == parsed.signed_headers {
        eprintln!(
            "bedrock-sim: warning: the canonical request shown in the error differs from aws-sigv4's"
        );
    }
    out.canonical_request = Some(creq.clone());
    out.string_to_sign = Some(sts.clone());
    let message = format!(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{creq}'\n\nThe String-to-Sign should have been\n'{sts}'\n"
    );
    Err((
        AwsError::invalid_signature(message),
        format!(
            "signature mismatch: provided {} over [{}], aws-sigv4 computed {} over [{}]",
            parsed.signature, parsed.signed_headers, computed.signature, computed.signed_headers
        ),
    ))
}

struct Computed {
    signature: String,
    signed_headers: String,
}

/// Signs the request as received with aws-sigv4, in Bedrock's (botocore's) settings:
/// double percent-encoding, path normalisation, no x-amz-content-sha256 added, and no
/// header excluded (only the signed ones are passed in).
fn aws_sign(
    req: &RequestParts<'_>,
    headers: &[(&str, &str)],
    cred: &Credential,
    region: &str,
    time: SystemTime,
) -> Result<Computed, String> {
    let identity: Identity = Credentials::new(
        cred.access_key.clone(),
        cred.secret.clone(),
        cred.session_token.clone(),
        None,
        "bedrock-sim",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Double;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.session_token_mode = SessionTokenMode::Include;
    settings.excluded_headers = Some(Vec::<Cow<'static, str>>::new());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri = match req.query {
        Some(q) => format!("{}?{q}", req.path),
        None => req.path.to_owned(),
    };
    let signable = SignableRequest::new(
        req.method,
        uri,
        headers.iter().copied(),
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| e.to_string())?;
    let output = sign(signable, &params).map_err(|e| e.to_string())?;
    let authorization = output
        .output()
        .headers()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    let signed_headers = authorization
        .split(", ")
        .find_map(|p| p.strip_prefix("SignedHeaders="))
        .unwrap_or("")
        .to_owned();
    Ok(Computed {
        signature: output.signature().to_owned(),
        signed_headers,
    })
}

/// Characters encoded in canonical paths and query strings (smithy's set), besides
/// controls and non-ASCII.
const ENCODED: &[u8] = b" /:,?#[]{}|@!$&'()*+;=%<>\"^`\\";

fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        let enc =
            !(0x20..0x7F).contains(&b) || (ENCODED.contains(&b) && !(keep_slash && b == b'/'));
        if enc {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// RFC 3986 dot-segment removal (and empty segments dropped), as aws-sigv4 normalises.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    let p = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    if !(p.contains('.') || p.contains("//")) {
        return p;
    }
    let mut segs: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = format!("/{}", segs.join("/"));
    if ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|s| p.ends_with(s))
        && !out.ends_with('/')
    {
        out.push('/');
    }
    out
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(q: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = q
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                encode(&form_decode(k), false),
                encode(&form_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn trim_all(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut prev_space = false;
    for c in v.trim_matches(' ').chars() {
        if c == ' ' {
            if !prev_space {
                out.push(c);
            }
            prev_space = true;
        } else {
            out.push(c);
            prev_space = false;
        }
    }
    out
}

/// The canonical request for the error message (the verdict comes from aws-sigv4).
fn canonical_request(req: &RequestParts<'_>, signed: &[String], body_hash: &str) -> String {
    let mut names: Vec<&str> = signed.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let mut headers = String::new();
    for n in &names {
        let values: Vec<String> = req
            .values(n)
            .iter()
            .map(|v| trim_all(&String::from_utf8_lossy(v)))
            .collect();
        headers.push_str(&format!("{n}:{}\n", values.join(",")));
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        encode(&normalize_path(req.path), true),
        canonical_query(req.query),
        headers,
        names.join(";"),
        body_hash
    )
}

fn string_to_sign(amz_date: &str, date: &str, region: &str, creq: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{SERVICE}/aws4_request\n{}",
        hex::encode(Sha256::digest(creq.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::now_unix;

    const AK: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn cfg() -> AuthConfig {
        AuthConfig {
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            credentials: vec![
                Credential::parse(&format!("{AK}:{SECRET}")).unwrap(),
                Credential::parse("ASIATEMP:tempsecret:TOKEN/with+chars=").unwrap(),
            ],
            bearer_tokens: vec!["bedrock-api-key-123".into()],
            max_skew_secs: 300,
            no_auth: false,
        }
    }

    /// A request as a client would send it, signed with aws-sigv4 the way botocore signs.
    struct Req {
        method: String,
        path: String,
        query: Option<String>,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
        now: i64,
    }

    impl Req {
        fn parts(&self) -> RequestParts<'_> {
            RequestParts {
                method: &self.method,
                path: &self.path,
                query: self.query.as_deref(),
                headers: &self.headers,
                body: &self.body,
                now: self.now,
            }
        }

        fn header(&mut self, name: &str, value: &str) {
            self.headers.push((name.into(), value.as_bytes().to_vec()));
        }

        fn set(&mut self, name: &str, value: &str) {
            for (n, v) in &mut self.headers {
                if n == name {
                    *v = value.as_bytes().to_vec();
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn signed_request(
        path: &str,
        body: &str,
        ak: &str,
        secret: &str,
        token: Option<&str>,
        region: &str,
        service: &str,
        at: i64,
    ) -> Req {
        let mut r = Req {
            method: "POST".into(),
            path: path.into(),
            query: None,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            now: at,
        };
        r.header("host", "bedrock-runtime.us-east-1.amazonaws.com");
        r.header("content-type", "application/json");
        r.header("x-amz-date", &format_amz_date(at));
        if let Some(t) = token {
            r.header("x-amz-security-token", t);
        }
        let identity: Identity =
            Credentials::new(ak, secret, token.map(str::to_owned), None, "test").into();
        let settings = SigningSettings::default();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(UNIX_EPOCH + Duration::from_secs(at as u64))
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(n, _)| n != "x-amz-date" && n != "x-amz-security-token")
            .map(|(n, v)| (n.clone(), String::from_utf8(v.clone()).unwrap()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            format!("https://bedrock-runtime.us-east-1.amazonaws.com{path}"),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        for (n, v) in instructions.headers() {
            if n.eq_ignore_ascii_case("authorization") {
                r.header("authorization", v);
            }
        }
        r
    }

    /// A GET as botocore sends GetAsyncInvoke / ListAsyncInvokes: empty body, no
    /// content-type, the query signed.
    fn signed_get(path: &str, query: Option<&str>) -> Req {
        let at = now_unix();
        let mut r = Req {
            method: "GET".into(),
            path: path.into(),
            query: query.map(str::to_owned),
            headers: Vec::new(),
            body: Vec::new(),
            now: at,
        };
        r.header("host", "bedrock-runtime.us-east-1.amazonaws.com");
        r.header("x-amz-date", &format_amz_date(at));
        let identity: Identity = Credentials::new(AK, SECRET, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("bedrock")
            .time(UNIX_EPOCH + Duration::from_secs(at as u64))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let uri = match query {
            Some(q) => format!("https://bedrock-runtime.us-east-1.amazonaws.com{path}?{q}"),
            None => format!("https://bedrock-runtime.us-east-1.amazonaws.com{path}"),
        };
        let headers = [("host", "bedrock-runtime.us-east-1.amazonaws.com")];
        let signable =
            SignableRequest::new("GET", uri, headers.into_iter(), SignableBody::Bytes(&[]))
                .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        for (n, v) in instructions.headers() {
            if n.eq_ignore_ascii_case("authorization") {
                r.header("authorization", v);
            }
        }
        r
    }

    #[test]
    fn signed_get_with_encoded_arn_and_query() {
        let arn_path = "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aasync-invoke%2Fabcdef123456";
        let r = signed_get(arn_path, None);
        let v = verdict(&r);
        assert!(v.ok, "{:?}", v.reason);
        let q = "maxResults=2&statusEquals=Completed&submitTimeAfter=2024-01-01T00%3A00%3A00Z";
        let r = signed_get("/async-invoke", Some(q));
        let v = verdict(&r);
        assert!(v.ok, "{:?}", v.reason);
        // The query is signed: another value, or none, is a mismatch.
        let mut tampered = signed_get("/async-invoke", Some(q));
        tampered.query = Some(q.replace("maxResults=2", "maxResults=3"));
        assert!(rejected(&tampered).2.starts_with("signature mismatch"));
        let mut dropped = signed_get("/async-invoke", Some(q));
        dropped.query = None;
        assert!(rejected(&dropped).2.starts_with("signature mismatch"));
        // So are the method and a body the signature did not cover.
        let mut post = signed_get("/async-invoke", None);
        post.method = "POST".into();
        assert!(rejected(&post).2.starts_with("signature mismatch"));
        let mut with_body = signed_get(arn_path, None);
        with_body.body = b"{}".to_vec();
        assert!(rejected(&with_body).2.starts_with("signature mismatch"));
    }

    const PATH: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
    const BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;

    fn good() -> Req {
        signed_request(
            PATH,
            BODY,
            AK,
            SECRET,
            None,
            "us-east-1",
            "bedrock",
            now_unix(),
        )
    }

    fn verdict(r: &Req) -> AuthOutcome {
        authenticate(&cfg(), &r.parts())
    }

    fn rejected(r: &Req) -> (String, String, String) {
        let v = verdict(r);
        assert!(!v.ok, "expected a rejection");
        let e = v.error.unwrap();
        assert_eq!(e.status, 403);
        (e.code, e.message, v.reason.unwrap_or_default())
    }

    #[test]
    fn valid_signature_passes() {
        let v = verdict(&good());
        assert!(v.ok, "{:?}", v.reason);
        assert_eq!(v.mode, "sigv4");
        assert_eq!(v.access_key.as_deref(), Some(AK));
        assert_eq!(v.region.as_deref(), Some("us-east-1"));
        assert_eq!(v.service.as_deref(), Some("bedrock"));
        assert_eq!(v.signed_headers, vec!["content-type", "host", "x-amz-date"]);
    }

    #[test]
    fn session_token_passes_when_signed() {
        let r = signed_request(
            PATH,
            BODY,
            "ASIATEMP",
            "tempsecret",
            Some("TOKEN/with+chars="),
            "us-east-1",
            "bedrock",
            now_unix(),
        );
        let v = verdict(&r);
        assert!(v.ok, "{:?}", v.reason);
        assert!(
            v.signed_headers
                .contains(&"x-amz-security-token".to_string())
        );
    }

    #[test]
    fn raw_colon_path_passes() {
        let r = signed_request(
            "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke",
            "{}",
            AK,
            SECRET,
            None,
            "us-east-1",
            "bedrock",
            now_unix(),
        );
        assert!(verdict(&r).ok);
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let mut r = good();
        r.body = br#"{"messages":[]}"#.to_vec();
        let (code, msg, reason) = rejected(&r);
        assert_eq!(code, "InvalidSignatureException");
        assert!(
            msg.starts_with(
                "The request signature we calculated does not match the signature you provided."
            ),
            "{msg}"
        );
        assert!(msg.contains("The Canonical String for this request should have been\n'POST\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n"), "{msg}");
        assert!(
            msg.contains("The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n"),
            "{msg}"
        );
        assert!(reason.starts_with("signature mismatch"), "{reason}");
    }

    #[test]
    fn tampered_path_is_a_mismatch() {
        let mut r = good();
        r.path = PATH.replace("converse", "converse-stream");
        let (code, _, reason) = rejected(&r);
        assert_eq!(code, "InvalidSignatureException");
        assert!(reason.starts_with("signature mismatch"));
    }

    #[test]
    fn decoded_path_is_a_mismatch() {
        // Signed with %3A; sent with a raw ':' (a proxy decoding the path).
        let mut r = good();
        r.path = PATH.replace("%3A", ":");
        assert!(rejected(&r).2.starts_with("signature mismatch"));
    }

    #[test]
    fn tampered_signed_header_is_a_mismatch() {
        let mut r = good();
        r.set("content-type", "text/plain");
        assert!(rejected(&r).2.starts_with("signature mismatch"));
        // An unsigned header may change freely.
        let mut r = good();
        r.header("user-agent", "whatever");
        assert!(verdict(&r).ok);
    }

    #[test]
    fn missing_signed_header() {
        let mut r = good();
        r.headers.retain(|(n, _)| n != "content-type");
        let (_, msg, _) = rejected(&r);
        assert!(
            msg.contains("signed header 'content-type' is not present"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let r = signed_request(
            PATH,
            BODY,
            AK,
            "not-the-secret",
            None,
            "us-east-1",
            "bedrock",
            now_unix(),
        );
        assert!(rejected(&r).2.starts_with("signature mismatch"));
    }

    #[test]
    fn unknown_access_key() {
        let r = signed_request(
            PATH,
            BODY,
            "AKIDUNKNOWN",
            SECRET,
            None,
            "us-east-1",
            "bedrock",
            now_unix(),
        );
        let (code, msg, reason) = rejected(&r);
        assert_eq!(code, "UnrecognizedClientException");
        assert_eq!(
            msg,
            "The security token included in the request is invalid."
        );
        assert!(reason.contains("unknown access key"));
    }

    #[test]
    fn wrong_region() {
        let r = signed_request(
            PATH,
            BODY,
            AK,
            SECRET,
            None,
            "us-west-2",
            "bedrock",
            now_unix(),
        );
        let (code, msg, _) = rejected(&r);
        assert_eq!(code, "InvalidSignatureException");
        assert!(msg.contains("valid region, not 'us-west-2'"), "{msg}");
        let r = signed_request(
            PATH,
            BODY,
            AK,
            SECRET,
            None,
            "eu-west-1",
            "bedrock",
            now_unix(),
        );
        assert!(verdict(&r).ok);
    }

    #[test]
    fn wrong_service() {
        let r = signed_request(
            PATH,
            BODY,
            AK,
            SECRET,
            None,
            "us-east-1",
            "bedrock-runtime",
            now_unix(),
        );
        let (_, msg, _) = rejected(&r);
        assert!(msg.contains("correct service: 'bedrock'"), "{msg}");
    }

    #[test]
    fn stale_and_future_dates() {
        let now = now_unix();
        let mut r = signed_request(
            PATH,
            BODY,
            AK,
            SECRET,
            None,
            "us-east-1",
            "bedrock",
            now - 301,
        );
        r.now = now;
        let (_, msg, _) = rejected(&r);
        assert!(msg.starts_with("Signature expired:"), "{msg}");
        let mut r = signed_request(
            PATH,
            BODY,
            AK,
            SECRET,
            None,
            "us-east-1",
            "bedrock",
            now + 301,
        );
        r.now = now;
        let (_, msg, _) = rejected(&r);
        assert!(msg.starts_with("Signature not yet current:"), "{msg}");
        let mut r = signed_request(
            PATH,
            BODY,
            AK,
            SECRET,
            None,
            "us-east-1",
            "bedrock",
            now - 250,
        );
        r.now = now;
        assert!(verdict(&r).ok);
    }

    #[test]
    fn tampered_date_header() {
        let mut r = good();
        r.set("x-amz-date", &format_amz_date(r.now - 10));
        // Same day most of the time: the signature no longer matches.
        let (_, msg, reason) = rejected(&r);
        assert!(
            reason.starts_with("signature mismatch") || msg.starts_with("Date in Credential scope"),
            "{msg}"
        );
        let mut r = good();
        r.set("x-amz-date", &format_amz_date(r.now - 86_400));
        r.now -= 86_400;
        let (_, msg, _) = rejected(&r);
        assert!(
            msg.starts_with("Date in Credential scope does not match"),
            "{msg}"
        );
        let mut r = good();
        r.set("x-amz-date", "2024-01-01T00:00:00Z");
        let (code, msg, _) = rejected(&r);
        assert_eq!(code, "IncompleteSignatureException");
        assert!(
            msg.starts_with("Date must be in ISO-8601 'basic format'"),
            "{msg}"
        );
    }

    #[test]
    fn host_and_date_must_be_signed() {
        let mut r = good();
        let auth = r
            .headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .unwrap()
            .1
            .clone();
        let auth = String::from_utf8(auth).unwrap();
        r.set(
            "authorization",
            &auth.replace(
                "SignedHeaders=content-type;host;x-amz-date",
                "SignedHeaders=content-type;x-amz-date",
            ),
        );
        assert!(
            rejected(&r)
                .1
                .contains("'Host' or ':authority' must be a 'SignedHeader'")
        );
        r.set(
            "authorization",
            &auth.replace(
                "SignedHeaders=content-type;host;x-amz-date",
                "SignedHeaders=content-type;host",
            ),
        );
        assert!(
            rejected(&r)
                .1
                .contains("'X-Amz-Date' must be a 'SignedHeader'")
        );
    }

    #[test]
    fn session_token_rules() {
        let now = now_unix();
        // Temporary credential without the token header.
        let mut r = signed_request(
            PATH,
            BODY,
            "ASIATEMP",
            "tempsecret",
            Some("TOKEN/with+chars="),
            "us-east-1",
            "bedrock",
            now,
        );
        r.headers.retain(|(n, _)| n != "x-amz-security-token");
        assert_eq!(rejected(&r).0, "UnrecognizedClientException");
        // A different token.
        let mut r = signed_request(
            PATH,
            BODY,
            "ASIATEMP",
            "tempsecret",
            Some("TOKEN/with+chars="),
            "us-east-1",
            "bedrock",
            now,
        );
        r.set("x-amz-security-token", "other");
        assert_eq!(rejected(&r).0, "UnrecognizedClientException");
        // A token on a long-term key.
        let mut r = good();
        r.header("x-amz-security-token", "stray");
        assert_eq!(rejected(&r).0, "UnrecognizedClientException");
    }

    #[test]
    fn incomplete_authorization() {
        let mut r = good();
        r.set(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/bedrock/aws4_request",
        );
        let (code, msg, _) = rejected(&r);
        assert_eq!(code, "IncompleteSignatureException");
        assert!(msg.contains("requires 'Signature' parameter"), "{msg}");
        assert!(msg.contains("requires 'SignedHeaders' parameter"), "{msg}");
    }

    #[test]
    fn missing_and_foreign_auth() {
        let mut r = good();
        r.headers.retain(|(n, _)| n != "authorization");
        let v = verdict(&r);
        assert_eq!(v.mode, "missing");
        assert_eq!(v.error.unwrap().code, "MissingAuthenticationTokenException");
        r.header("authorization", "Bearer sk-openai-caller-key");
        let v = verdict(&r);
        assert!(!v.ok);
        assert_eq!(v.mode, "bearer");
        assert!(v.reason.unwrap().contains("OpenAI"));
        r.set("authorization", "Bearer bedrock-api-key-123");
        assert!(verdict(&r).ok);
        r.set("authorization", "Basic Zm9vOmJhcg==");
        assert_eq!(verdict(&r).mode, "unsupported");
    }

    #[test]
    fn no_auth_accepts_anything() {
        let mut c = cfg();
        c.no_auth = true;
        let mut r = good();
        r.body = b"tampered".to_vec();
        let v = authenticate(&c, &r.parts());
        assert!(v.ok);
        assert_eq!(v.mode, "none");
    }

    #[test]
    fn canonical_text_agrees_with_aws_sigv4() {
        // For a correctly signed request, the canonical request we print must give the
        // signature aws-sigv4 computed, including query strings and odd paths.
        for (path, query) in [
            (PATH, None),
            (
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x.y-v1%3A0/converse",
                None,
            ),
            ("/model/a.b:0/invoke", Some("b=2&a=1&c=x%20y+z")),
            ("/model/./a.b/../a.b/converse", None),
        ] {
            let mut r = good();
            r.path = path.into();
            r.query = query.map(str::to_owned);
            r.header("x-custom", "  spaced   value ");
            let signed = vec![
                "content-type".to_string(),
                "host".into(),
                "x-amz-date".into(),
                "x-custom".into(),
            ];
            let body_hash = hex::encode(Sha256::digest(&r.body));
            let parts = r.parts();
            let pairs: Vec<(&str, &str)> = r
                .headers
                .iter()
                .filter(|(n, _)| signed.contains(n))
                .map(|(n, v)| (n.as_str(), std::str::from_utf8(v).unwrap()))
                .collect();
            let cred = &cfg().credentials[0];
            let time = UNIX_EPOCH + Duration::from_secs(r.now as u64);
            let computed = aws_sign(&parts, &pairs, cred, "us-east-1", time).unwrap();
            assert_eq!(
                computed.signed_headers,
                "content-type;host;x-amz-date;x-custom"
            );
            let creq = canonical_request(&parts, &signed, &body_hash);
            let amz = format_amz_date(r.now);
            let sts = string_to_sign(&amz, &amz[..8], "us-east-1", &creq);
            let key = v4::generate_signing_key(SECRET, time, "us-east-1", SERVICE);
            assert_eq!(
                v4::calculate_signature(key, sts.as_bytes()),
                computed.signature,
                "{creq}"
            );
        }
    }
}
