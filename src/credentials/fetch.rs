//! The HTTP calls to the metadata services and what their answers mean.
//!
//! IMDSv2: `PUT /latest/api/token` (with the token's lifetime) → session token;
//! `GET /latest/meta-data/iam/security-credentials/` → role name;
//! `GET /latest/meta-data/iam/security-credentials/{role}` → credentials. The container
//! endpoint: one `GET` of its URL (with `Authorization` when a token is configured).
//! Both answer credentials as `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`,
//! IMDS with `"Code": "Success"` as well.

use serde::Deserialize;

use super::time::parse_iso8601;
use super::{AwsCredentials, MetadataService};
use crate::sigv4;

pub const IMDS_TOKEN_PATH: &str = "/latest/api/token";
pub const IMDS_ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials/";
pub const IMDS_TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
pub const IMDS_TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Six hours, the longest IMDS allows; a token is used for one refresh only anyway.
pub const IMDS_TOKEN_TTL_SECS: u32 = 21_600;
/// Larger answers are refused: credentials are a few kilobytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One HTTP call for the host to make through an Envoy cluster.
pub struct FetchRequest {
    pub cluster: String,
    /// `:method`, `:path`, `:authority` first, then the other headers.
    pub headers: Vec<(&'static str, String)>,
    pub timeout_ms: u64,
}

impl FetchRequest {
    fn new(service: &MetadataService, method: &str, path: &str) -> Self {
        FetchRequest {
            cluster: service.cluster.clone(),
            headers: vec![
                (":method", method.to_string()),
                (":path", path.to_string()),
                (":authority", service.authority.clone()),
            ],
            timeout_ms: service.timeout_ms,
        }
    }

    fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `GET http://authority/path`, as a log line may show it (no header values).
    pub fn describe(&self) -> String {
        format!(
            "{} http://{}{}",
            self.header(":method").unwrap_or(""),
            self.header(":authority").unwrap_or(""),
            self.header(":path").unwrap_or("")
        )
    }
}

impl std::fmt::Debug for FetchRequest {
    // Header values carry the IMDS token or the container authorization token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FetchRequest({} via {})", self.describe(), self.cluster)
    }
}

pub fn imds_token(service: &MetadataService) -> FetchRequest {
    FetchRequest::new(service, "PUT", IMDS_TOKEN_PATH)
        .with(IMDS_TOKEN_TTL_HEADER, IMDS_TOKEN_TTL_SECS.to_string())
}

pub fn imds_role(service: &MetadataService, token: &str) -> FetchRequest {
    FetchRequest::new(service, "GET", IMDS_ROLE_PATH).with(IMDS_TOKEN_HEADER, token.to_string())
}

pub fn imds_credentials(service: &MetadataService, token: &str, role: &str) -> FetchRequest {
    FetchRequest::new(service, "GET", &format!("{IMDS_ROLE_PATH}{role}"))
        .with(IMDS_TOKEN_HEADER, token.to_string())
}

pub fn container_credentials(service: &MetadataService) -> FetchRequest {
    let req = FetchRequest::new(service, "GET", &service.path);
    match &service.authorization {
        Some(token) => req.with("authorization", token.0.clone()),
        None => req,
    }
}

/// The IMDS session token from the token answer's body.
pub fn parse_imds_token(body: &[u8]) -> Result<String, String> {
    let token = std::str::from_utf8(body)
        .map(str::trim)
        .map_err(|_| "the IMDS token is not text".to_string())?;
    if token.is_empty() || token.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err("the IMDS token answer is empty or not a header value".into());
    }
    Ok(token.to_string())
}

/// The role name: the first line of the role list.
pub fn parse_imds_role(body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the IMDS role list is not text")?;
    let role = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if role.is_empty() {
        return Err("no IAM role is attached to this instance (empty role list)".into());
    }
    // IAM role names: letters, digits and +=,.@_- (up to 64).
    let valid = role.len() <= 64
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !valid {
        return Err(format!(
            "the IMDS role list does not start with an IAM role name ({} bytes)",
            role.len()
        ));
    }
    Ok(role.to_string())
}

/// Credentials as both services write them. Unknown members (`LastUpdated`, `Type`,
/// `RoleArn`, `AccountId`) are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsAnswer {
    code: Option<String>,
    message: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
}

/// Fetched credentials and when they stop being valid (`None`: the answer gave no expiry).
#[derive(Debug, PartialEq, Eq)]
pub struct Fetched {
    pub credentials: AwsCredentials,
    pub expires_at: Option<u64>,
}

/// Read a credentials answer. Error messages name what is wrong and never quote a value that
/// could be secret: only `Code` / `Message`, which carry none.
pub fn parse_credentials(body: &[u8], require_expiration: bool) -> Result<Fetched, String> {
    let answer: CredentialsAnswer = serde_json::from_slice(body).map_err(|e| {
        // serde's message could quote a value; its position and category cannot.
        format!(
            "the credentials answer is not the expected JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    if let Some(code) = answer.code.as_deref()
        && code != "Success"
    {
        let message = answer.message.as_deref().unwrap_or("");
        return Err(format!(
            "the metadata service answered Code {:?}: {}",
            shorten(code),
            shorten(message)
        ));
    }
    let field = |v: Option<String>, name: &str| {
        v.map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("the credentials answer has no {name}"))
    };
    let access_key_id = field(answer.access_key_id, "AccessKeyId")?;
    let secret_access_key = field(answer.secret_access_key, "SecretAccessKey")?;
    let session_token = answer
        .token
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if access_key_id.bytes().any(|b| !b.is_ascii_alphanumeric()) || access_key_id.len() > 128 {
        return Err(
            "the credentials answer has an AccessKeyId that is not an access key ID".into(),
        );
    }
    let expires_at = match answer.expiration {
        Some(text) => Some(parse_iso8601(&text).ok_or_else(|| {
            format!(
                "the credentials answer has an Expiration that is not an ISO-8601 time: {:?}",
                shorten(&text)
            )
        })?),
        None if require_expiration => {
            return Err("the credentials answer has no Expiration".into());
        }
        None => None,
    };
    Ok(Fetched {
        credentials: AwsCredentials::Keys(sigv4::Credentials {
            access_key_id,
            secret_access_key,
            session_token,
        }),
        expires_at,
    })
}

/// The container endpoint's error answer, `{"code", "message"}`, as text for a log line.
pub fn container_error(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorAnswer {
        code: Option<String>,
        message: Option<String>,
    }
    let e: ErrorAnswer = serde_json::from_slice(body).ok()?;
    match (e.code, e.message) {
        (None, None) => None,
        (code, message) => Some(format!(
            "{}: {}",
            shorten(code.as_deref().unwrap_or("error")),
            shorten(message.as_deref().unwrap_or(""))
        )),
    }
}

/// At most 200 characters of a server's own words, for a log line.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(200).collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> MetadataService {
        MetadataService {
            cluster: "imds".into(),
            authority: "169.254.169.254".into(),
            path: String::new(),
            authorization: None,
            timeout_ms: 1000,
        }
    }

    #[test]
    fn imds_calls() {
        let s = service();
        let t = imds_token(&s);
        assert_eq!(t.describe(), "PUT http://169.254.169.254/latest/api/token");
        assert_eq!(
            t.header("x-aws-ec2-metadata-token-ttl-seconds"),
            Some("21600")
        );
        let r = imds_role(&s, "TOKEN");
        assert_eq!(
            r.header(":path"),
            Some("/latest/meta-data/iam/security-credentials/")
        );
        assert_eq!(r.header("x-aws-ec2-metadata-token"), Some("TOKEN"));
        let c = imds_credentials(&s, "TOKEN", "my-role");
        assert_eq!(
            c.header(":path"),
            Some("/latest/meta-data/iam/security-credentials/my-role")
        );
        assert_eq!(c.header("x-aws-ec2-metadata-token"), Some("TOKEN"));
        assert_eq!((c.cluster.as_str(), c.timeout_ms), ("imds", 1000));
        assert!(!format!("{c:?}").contains("TOKEN"));
    }

    #[test]
    fn container_call_carries_the_token() {
        let mut s = service();
        s.authority = "169.254.170.2".into();
        s.path = "/v2/credentials/abc".into();
        assert_eq!(container_credentials(&s).header("authorization"), None);
        s.authorization = Some(super::super::Secret("tok".into()));
        let c = container_credentials(&s);
        assert_eq!(c.describe(), "GET http://169.254.170.2/v2/credentials/abc");
        assert_eq!(c.header("authorization"), Some("tok"));
    }

    #[test]
    fn tokens_and_roles() {
        assert_eq!(
            parse_imds_token(b"AQAEAexample==\n").unwrap(),
            "AQAEAexample=="
        );
        assert!(parse_imds_token(b"").is_err());
        assert!(parse_imds_token(b"a b").is_err());
        assert_eq!(parse_imds_role(b"my-role\nother\n").unwrap(), "my-role");
        assert_eq!(
            parse_imds_role(b"\n  role@x.y_z+=,-\n").unwrap(),
            "role@x.y_z+=,-"
        );
        assert_eq!(
            parse_imds_role(b"").unwrap_err(),
            "no IAM role is attached to this instance (empty role list)"
        );
        assert!(parse_imds_role(b"<html>").is_err());
        assert!(parse_imds_role(b"../../x").is_err());
    }

    #[test]
    fn imds_credentials_answer() {
        let body = br#"{"Code":"Success","LastUpdated":"2026-11-30T04:00:00Z","Type":"AWS-HMAC",
            "AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s3cr3t","Token":"tok3n",
            "Expiration":"2026-11-30T10:00:00Z"}"#;
        let f = parse_credentials(body, true).unwrap();
        assert_eq!(f.credentials.access_key_id(), Some("ASIAEXAMPLE"));
        assert_eq!(f.expires_at, parse_iso8601("2026-11-30T10:00:00Z"));
        let AwsCredentials::Keys(k) = f.credentials else {
            panic!()
        };
        assert_eq!(
            (k.secret_access_key.as_str(), k.session_token.as_deref()),
            ("s3cr3t", Some("tok3n"))
        );
    }

    #[test]
    fn container_answer_may_lack_code_and_expiration() {
        let body = br#"{"AccessKeyId":"AKID","SecretAccessKey":"s","Token":"t","RoleArn":"arn:aws:iam::1:role/r"}"#;
        let f = parse_credentials(body, false).unwrap();
        assert_eq!(f.expires_at, None);
        assert_eq!(
            parse_credentials(body, true).unwrap_err(),
            "the credentials answer has no Expiration"
        );
    }

    #[test]
    fn failures_say_what_without_quoting_secrets() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"EC2 cannot assume the role","SecretAccessKey":"s3cr3t"}"#,
                r#"the metadata service answered Code "AssumeRoleUnauthorizedAccess": EC2 cannot assume the role"#,
            ),
            (
                br#"{"Code":"Success","AccessKeyId":"A","SecretAccessKey":"s3cr3t","Token":"t"#,
                "the credentials answer is not the expected JSON (Eof error at line 1 column 73)",
            ),
            (
                br#"{"Code":"Success","AccessKeyId":5,"SecretAccessKey":"s3cr3t"}"#,
                "the credentials answer is not the expected JSON (Data error at line 1 column 33)",
            ),
            (
                br#"{"Code":"Success","SecretAccessKey":"s3cr3t","Expiration":"2026-11-30T10:00:00Z"}"#,
                "the credentials answer has no AccessKeyId",
            ),
            (
                br#"{"AccessKeyId":"A","Token":"t","Expiration":"2026-11-30T10:00:00Z"}"#,
                "the credentials answer has no SecretAccessKey",
            ),
            (
                br#"{"AccessKeyId":"s3cr3t/x","SecretAccessKey":"s","Expiration":"2026-11-30T10:00:00Z"}"#,
                "the credentials answer has an AccessKeyId that is not an access key ID",
            ),
            (
                br#"{"AccessKeyId":"A","SecretAccessKey":"s3cr3t","Expiration":"tomorrow"}"#,
                r#"the credentials answer has an Expiration that is not an ISO-8601 time: "tomorrow""#,
            ),
            (b"<html>", "the credentials answer is not the expected JSON (Syntax error at line 1 column 1)"),
            (br#"["s3cr3t"]"#, "the credentials answer is not the expected JSON (Data error at line 1 column 10)"),
        ];
        for (body, expected) in cases {
            let e = parse_credentials(body, true).unwrap_err();
            assert_eq!(e, *expected, "{}", String::from_utf8_lossy(body));
            assert!(!e.contains("s3cr3t"));
        }
    }

    #[test]
    fn container_errors() {
        assert_eq!(
            container_error(br#"{"code":"AccessDenied","message":"bad token"}"#).as_deref(),
            Some("AccessDenied: bad token")
        );
        assert_eq!(container_error(b"nope"), None);
        assert_eq!(shorten(&"x".repeat(300)).chars().count(), 201);
    }
}
