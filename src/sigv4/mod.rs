//! AWS Signature Version 4 for header-signed requests (`Authorization: AWS4-HMAC-SHA256 …`).
//!
//! Each signing step is a type whose `Display` prints exactly the text the specification
//! defines: [`CanonicalRequest`], [`StringToSign`], [`CredentialScope`]. Hashing and HMAC read
//! the same pieces as `Display` without building the text in memory.
//! Key derivation is a chain of small free functions ([`signing_key`], [`signature`]);
//! [`SigningKeyCache`] derives the key once per secret, day, region and service.
//!
//! Only what Bedrock needs is here: no presigned URLs, no SigV4a, no chunked payload signing.
//!
//! ```
//! use bedrock_filter::sigv4::{Credentials, SignableRequest, SigningKeyCache, SigningParams};
//!
//! let credentials = Credentials {
//!     access_key_id: "AKIDEXAMPLE".into(),
//!     secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
//!     session_token: None,
//! };
//! let request = SignableRequest {
//!     method: "POST",
//!     path: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
//!     query: "",
//!     headers: &[("host", "bedrock-runtime.us-east-1.amazonaws.com"), ("content-type", "application/json")],
//!     payload: br#"{"messages":[]}"#,
//! };
//! let params = SigningParams {
//!     credentials: &credentials,
//!     region: "us-east-1",
//!     service: "bedrock",
//!     unix_time_secs: 1_440_938_160,
//!     settings: Default::default(),
//! };
//! let signed = SigningKeyCache::new().sign(&request, &params)?;
//! assert_eq!(signed.amz_date, "20150830T123600Z");
//! assert!(signed.authorization.starts_with(
//!     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
//!      SignedHeaders=content-type;host;x-amz-date, Signature="
//! ));
//! # Ok::<(), bedrock_filter::sigv4::SigningError>(())
//! ```

mod cache;
mod canonical;
mod date;
mod encode;
mod signer;

use std::fmt;

pub use cache::SigningKeyCache;
pub use canonical::{CanonicalHeaders, CanonicalRequest, SignedHeaders, canonical_request};
pub use date::{MAX_AMZ_UNIX_TIME, amz_date, parse_amz_date};
pub use signer::{ALGORITHM, CredentialScope, SigningKey, StringToSign, signature, signing_key};

/// Header names the signer computes itself; a caller's copy is never signed.
pub const X_AMZ_DATE: &str = "x-amz-date";
/// Carries [`Credentials::session_token`].
pub const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
/// Carries the payload hash when [`Settings::sign_content_sha256`] is on.
pub const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// AWS credentials. `Debug` never prints the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Temporary-credential token; an empty string counts as none.
    pub session_token: Option<String>,
}

impl Credentials {
    fn token(&self) -> Option<&str> {
        self.session_token.as_deref().filter(|t| !t.is_empty())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &self.token().map(|_| "** redacted **"))
            .finish()
    }
}

/// Service-specific signing rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Remove dot segments and duplicate slashes from the path (every service but S3).
    pub normalize_path: bool,
    /// Percent-encode the wire path once more (every service but S3).
    pub double_encode_path: bool,
    /// Add and sign `x-amz-content-sha256` (S3 and a few others).
    pub sign_content_sha256: bool,
    /// Sign `x-amz-security-token`; when false it is still sent, just added after signing.
    pub sign_session_token: bool,
}

impl Default for Settings {
    /// What Bedrock Runtime expects.
    fn default() -> Self {
        Self {
            normalize_path: true,
            double_encode_path: true,
            sign_content_sha256: false,
            sign_session_token: true,
        }
    }
}

/// The parts of an HTTP request that SigV4 covers.
#[derive(Clone, Copy, Debug)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    /// Exactly as sent on the wire (already percent-encoded once), without the query.
    pub path: &'a str,
    /// Raw query without `?`; may be empty.
    pub query: &'a str,
    /// Headers to sign, names in any case; must include `host`. Duplicate names are signed
    /// joined with `,` in the order given. `authorization`, `x-amz-date`,
    /// `x-amz-security-token` (and `x-amz-content-sha256` when the signer adds it) are the
    /// signer's own: a caller's copy is ignored and must not be sent.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// Who signs, for which region and service, and when.
#[derive(Clone, Copy, Debug)]
pub struct SigningParams<'a> {
    pub credentials: &'a Credentials,
    pub region: &'a str,
    pub service: &'a str,
    pub unix_time_secs: u64,
    pub settings: Settings,
}

/// The header values to add to the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningOutput {
    /// `x-amz-date`.
    pub amz_date: String,
    /// `authorization`.
    pub authorization: String,
    /// The hex signature inside `authorization`.
    pub signature: String,
    /// `x-amz-content-sha256`, when [`Settings::sign_content_sha256`] is on.
    pub content_sha256: Option<String>,
    /// `x-amz-security-token`, whenever the credentials carry a token (signed or not).
    pub session_token: Option<String>,
}

/// Why a request cannot be signed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningError {
    /// No non-empty `host` header among the headers to sign.
    MissingHost,
    /// The method is empty or not an HTTP token.
    InvalidMethod,
    /// The path does not start with `/`, or holds `?`, `#` or control characters.
    InvalidPath,
    /// A header name is empty or not an HTTP token.
    InvalidHeaderName { name: String },
    /// A header value holds control characters other than tab and obs-fold line breaks.
    InvalidHeaderValue { name: String },
    /// Which credential field is unusable (empty, or characters that would break the header).
    InvalidCredentials(&'static str),
    /// Region or service is empty or holds `/`, whitespace or control characters.
    InvalidScope(&'static str),
    /// The time is after 9999-12-31T23:59:59Z.
    TimeOutOfRange,
}

impl fmt::Display for SigningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHost => f.write_str("sigv4: the request has no host header"),
            Self::InvalidMethod => f.write_str("sigv4: invalid HTTP method"),
            Self::InvalidPath => f.write_str("sigv4: invalid request path"),
            Self::InvalidHeaderName { name } => write!(f, "sigv4: invalid header name {name:?}"),
            Self::InvalidHeaderValue { name } => {
                write!(f, "sigv4: invalid value for header {name:?}")
            }
            Self::InvalidCredentials(field) => write!(f, "sigv4: invalid credentials: {field}"),
            Self::InvalidScope(field) => write!(f, "sigv4: invalid {field}"),
            Self::TimeOutOfRange => f.write_str("sigv4: time is beyond year 9999"),
        }
    }
}

impl std::error::Error for SigningError {}

/// RFC 9110 `tchar`: what header names and methods are made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
