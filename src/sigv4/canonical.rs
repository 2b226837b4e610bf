//! Task 1 of SigV4: the canonical request.

use std::borrow::Cow;
use std::fmt;

use sha2::{Digest, Sha256};

use super::encode::{canonical_query, canonical_uri};
use super::{
    SignableRequest, SigningError, SigningParams, X_AMZ_CONTENT_SHA256, X_AMZ_DATE,
    X_AMZ_SECURITY_TOKEN, is_token,
};

/// Writes `text` through `put` piece by piece; `Display` and the hashers share it.
pub(crate) trait SpecText {
    fn emit(&self, put: &mut dyn FnMut(&str));

    /// Lower-case hex SHA-256 of the text, streamed without building it.
    fn sha256_hex(&self) -> String {
        let mut hasher = Sha256::new();
        self.emit(&mut |piece| hasher.update(piece.as_bytes()));
        hex::encode(hasher.finalize())
    }
}

/// `Display` for a [`SpecText`]: stops at the first formatter error.
pub(crate) fn display(text: &impl SpecText, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut result = Ok(());
    text.emit(&mut |piece| {
        if result.is_ok() {
            result = f.write_str(piece);
        }
    });
    result
}

/// The canonical request. `Display` prints it exactly as specified:
///
/// ```text
/// METHOD\nCANONICAL_URI\nCANONICAL_QUERY\nname:value\n...\n\nsigned;headers\nPAYLOAD_HASH
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalRequest<'a> {
    method: &'a str,
    uri: Cow<'a, str>,
    query: Cow<'a, str>,
    headers: CanonicalHeaders<'a>,
    signed_headers: SignedHeaders,
    payload_hash: String,
}

impl CanonicalRequest<'_> {
    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn query(&self) -> &str {
        &self.query
    }

    pub fn headers(&self) -> &CanonicalHeaders<'_> {
        &self.headers
    }

    pub fn signed_headers(&self) -> &SignedHeaders {
        &self.signed_headers
    }

    /// Lower-case hex SHA-256 of the payload.
    pub fn payload_hash(&self) -> &str {
        &self.payload_hash
    }

    /// Lower-case hex SHA-256 of the canonical request text (the last line of the string to sign).
    pub fn hash_hex(&self) -> String {
        self.sha256_hex()
    }
}

impl SpecText for CanonicalRequest<'_> {
    fn emit(&self, put: &mut dyn FnMut(&str)) {
        for piece in [self.method, "\n", &self.uri, "\n", &self.query, "\n"] {
            put(piece);
        }
        self.headers.emit(put);
        for piece in ["\n", self.signed_headers.as_str(), "\n", &self.payload_hash] {
            put(piece);
        }
    }
}

impl fmt::Display for CanonicalRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(self, f)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HeaderEntry<'a> {
    name: Cow<'a, str>,
    value: Cow<'a, str>,
}

/// The canonical headers block: `name:value\n` per header name, sorted by name, values of
/// repeated names joined with `,` in request order. Every line ends in `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalHeaders<'a> {
    /// Sorted by name; equal names keep request order (stable sort).
    entries: Vec<HeaderEntry<'a>>,
}

impl CanonicalHeaders<'_> {
    /// The `;`-joined list of the distinct names.
    pub fn signed_headers(&self) -> SignedHeaders {
        let mut joined = String::with_capacity(self.entries.iter().map(|e| e.name.len() + 1).sum());
        let mut previous: Option<&str> = None;
        for entry in &self.entries {
            if previous == Some(&*entry.name) {
                continue;
            }
            if previous.is_some() {
                joined.push(';');
            }
            joined.push_str(&entry.name);
            previous = Some(&entry.name);
        }
        SignedHeaders { joined }
    }

    /// The canonical value of a header (repeats joined with `,`), if it is signed.
    pub fn get(&self, name: &str) -> Option<String> {
        let mut values = self
            .entries
            .iter()
            .filter(|e| e.name == name)
            .map(|e| &*e.value);
        let first = values.next()?;
        Some(values.fold(first.to_owned(), |mut joined, value| {
            joined.push(',');
            joined.push_str(value);
            joined
        }))
    }
}

impl SpecText for CanonicalHeaders<'_> {
    fn emit(&self, put: &mut dyn FnMut(&str)) {
        let mut previous: Option<&str> = None;
        for entry in &self.entries {
            if previous == Some(&*entry.name) {
                put(",");
            } else {
                if previous.is_some() {
                    put("\n");
                }
                put(&entry.name);
                put(":");
            }
            put(&entry.value);
            previous = Some(&entry.name);
        }
        if previous.is_some() {
            put("\n");
        }
    }
}

impl fmt::Display for CanonicalHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(self, f)
    }
}

/// The signed-headers line: sorted lower-case names joined with `;`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    joined: String,
}

impl SignedHeaders {
    pub fn as_str(&self) -> &str {
        &self.joined
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.joined.split(';')
    }
}

impl fmt::Display for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.joined)
    }
}

/// Builds the canonical request for `req` as signed at `amz_date` (an `x-amz-date` value).
///
/// Adds `x-amz-date`, and per [`super::Settings`] `x-amz-security-token` and
/// `x-amz-content-sha256`, to the signed headers; ignores the caller's copies of those and of
/// `authorization`.
pub fn canonical_request<'a>(
    req: &SignableRequest<'a>,
    params: &SigningParams<'a>,
    amz_date: &'a str,
) -> Result<CanonicalRequest<'a>, SigningError> {
    let settings = &params.settings;
    if !is_token(req.method) {
        return Err(SigningError::InvalidMethod);
    }
    let uri = canonical_uri(req.path, settings)?;
    let query = canonical_query(req.query);
    let payload_hash = hex::encode(Sha256::digest(req.payload));

    let mut entries = Vec::with_capacity(req.headers.len() + 3);
    for &(name, value) in req.headers {
        if !is_token(name) {
            return Err(SigningError::InvalidHeaderName {
                name: name.to_owned(),
            });
        }
        if is_signer_owned(name, settings.sign_content_sha256) {
            continue;
        }
        entries.push(HeaderEntry {
            name: lower_case(name),
            value: canonical_header_value(name, value)?,
        });
    }
    if !entries
        .iter()
        .any(|e| e.name == "host" && !e.value.is_empty())
    {
        return Err(SigningError::MissingHost);
    }
    entries.push(HeaderEntry {
        name: Cow::Borrowed(X_AMZ_DATE),
        value: Cow::Borrowed(amz_date),
    });
    if let Some(token) = params
        .credentials
        .token()
        .filter(|_| settings.sign_session_token)
    {
        entries.push(HeaderEntry {
            name: Cow::Borrowed(X_AMZ_SECURITY_TOKEN),
            value: canonical_header_value(X_AMZ_SECURITY_TOKEN, token)?,
        });
    }
    if settings.sign_content_sha256 {
        entries.push(HeaderEntry {
            name: Cow::Borrowed(X_AMZ_CONTENT_SHA256),
            value: Cow::Owned(payload_hash.clone()),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let headers = CanonicalHeaders { entries };
    let signed_headers = headers.signed_headers();

    Ok(CanonicalRequest {
        method: req.method,
        uri,
        query,
        headers,
        signed_headers,
        payload_hash,
    })
}

fn is_signer_owned(name: &str, sign_content_sha256: bool) -> bool {
    ["authorization", X_AMZ_DATE, X_AMZ_SECURITY_TOKEN]
        .iter()
        .any(|owned| name.eq_ignore_ascii_case(owned))
        || (sign_content_sha256 && name.eq_ignore_ascii_case(X_AMZ_CONTENT_SHA256))
}

fn lower_case(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Trims spaces, collapses runs of spaces to one, and turns obs-fold line breaks
/// (`CRLF` or `LF` followed by spaces or tabs) into a single space. Tabs inside are kept,
/// as AWS's SDKs keep them. Any other control character is an error.
pub(crate) fn canonical_header_value<'a>(
    name: &str,
    value: &'a str,
) -> Result<Cow<'a, str>, SigningError> {
    let invalid = || SigningError::InvalidHeaderValue {
        name: name.to_owned(),
    };
    let bytes = value.as_bytes();
    let mut needs_rewrite = value.starts_with(' ') || value.ends_with(' ');
    for (i, &byte) in bytes.iter().enumerate() {
        let next = bytes.get(i + 1).copied();
        match byte {
            b' ' if next == Some(b' ') => needs_rewrite = true,
            b'\r' if next == Some(b'\n') => needs_rewrite = true,
            b'\n' if matches!(next, Some(b' ' | b'\t')) => needs_rewrite = true,
            b'\t' => {}
            b'\r' | b'\n' => return Err(invalid()),
            _ if byte.is_ascii_control() => return Err(invalid()),
            _ => {}
        }
    }
    if !needs_rewrite {
        return Ok(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(ch) = chars.next() {
        let space = match ch {
            ' ' => true,
            '\r' | '\n' => {
                // An obs-fold: the line break and the indentation after it.
                while chars
                    .next_if(|c| matches!(c, '\r' | '\n' | ' ' | '\t'))
                    .is_some()
                {}
                true
            }
            _ => false,
        };
        if !space {
            out.push(ch);
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::{Credentials, Settings};

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_owned),
        }
    }

    fn params(credentials: &Credentials, settings: Settings) -> SigningParams<'_> {
        SigningParams {
            credentials,
            region: "us-east-1",
            service: "bedrock",
            unix_time_secs: 0,
            settings,
        }
    }

    #[test]
    fn bedrock_converse_canonical_request() {
        let creds = credentials(Some("TOKEN"));
        let req = SignableRequest {
            method: "POST",
            path: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
            query: "",
            headers: &[
                ("Host", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("Content-Type", "application/json"),
                ("X-Amz-Date", "19990101T000000Z"),
                ("Authorization", "stale"),
            ],
            payload: b"{}",
        };
        let creq = canonical_request(
            &req,
            &params(&creds, Settings::default()),
            "20240101T000000Z",
        )
        .unwrap();
        assert_eq!(
            creq.to_string(),
            "POST\n\
             /model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n\
             \n\
             content-type:application/json\n\
             host:bedrock-runtime.us-east-1.amazonaws.com\n\
             x-amz-date:20240101T000000Z\n\
             x-amz-security-token:TOKEN\n\
             \n\
             content-type;host;x-amz-date;x-amz-security-token\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            creq.hash_hex(),
            hex::encode(Sha256::digest(creq.to_string()))
        );
        assert_eq!(
            creq.signed_headers().names().collect::<Vec<_>>(),
            ["content-type", "host", "x-amz-date", "x-amz-security-token"]
        );
    }

    #[test]
    fn optional_signer_headers_follow_settings() {
        let creds = credentials(Some("TOKEN"));
        let req = SignableRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &[("host", "h"), ("x-amz-content-sha256", "caller")],
            payload: b"",
        };
        let settings = Settings {
            sign_session_token: false,
            ..Settings::default()
        };
        let creq = canonical_request(&req, &params(&creds, settings), "d").unwrap();
        assert_eq!(
            creq.signed_headers().as_str(),
            "host;x-amz-content-sha256;x-amz-date"
        );
        assert_eq!(
            creq.headers().get("x-amz-content-sha256").as_deref(),
            Some("caller")
        );

        let settings = Settings {
            sign_content_sha256: true,
            ..Settings::default()
        };
        let creq = canonical_request(&req, &params(&creds, settings), "d").unwrap();
        assert_eq!(
            creq.signed_headers().as_str(),
            "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
        );
        assert_eq!(
            creq.headers().get("x-amz-content-sha256").as_deref(),
            Some(creq.payload_hash())
        );
    }

    #[test]
    fn joins_repeated_headers_in_request_order() {
        let creds = credentials(None);
        let req = SignableRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                ("My-Header1", "value4"),
                ("host", "h"),
                ("my-header1", " value1 "),
            ],
            payload: b"",
        };
        let creq = canonical_request(&req, &params(&creds, Settings::default()), "d").unwrap();
        assert_eq!(
            creq.headers().to_string(),
            "host:h\nmy-header1:value4,value1\nx-amz-date:d\n"
        );
    }

    #[test]
    fn normalizes_header_values() {
        for (raw, expected) in [
            ("value1", "value1"),
            ("  a   b  c  ", "a b c"),
            ("\"a   b   c\"", "\"a b c\""),
            ("value1\r\n  value2\r\n     value3", "value1 value2 value3"),
            ("a\n\tb", "a b"),
            ("a\tb", "a\tb"),
            ("\ta", "\ta"),
            ("", ""),
            ("   ", ""),
            ("caf\u{e9}  x", "caf\u{e9} x"),
        ] {
            assert_eq!(
                canonical_header_value("n", raw).unwrap(),
                expected,
                "{raw:?}"
            );
        }
        for bad in ["a\rb", "a\nb", "a\r\n", "a\0b", "a\u{7f}"] {
            assert!(canonical_header_value("n", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_bad_requests() {
        let creds = credentials(None);
        let p = params(&creds, Settings::default());
        let base = SignableRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &[],
            payload: b"",
        };
        assert_eq!(
            canonical_request(&base, &p, "d"),
            Err(SigningError::MissingHost)
        );
        let empty_host = SignableRequest {
            headers: &[("host", "  ")],
            ..base
        };
        assert_eq!(
            canonical_request(&empty_host, &p, "d"),
            Err(SigningError::MissingHost)
        );
        let bad_method = SignableRequest {
            method: "GE T",
            headers: &[("host", "h")],
            ..base
        };
        assert_eq!(
            canonical_request(&bad_method, &p, "d"),
            Err(SigningError::InvalidMethod)
        );
        let bad_name = SignableRequest {
            headers: &[("host", "h"), ("a b", "v")],
            ..base
        };
        assert_eq!(
            canonical_request(&bad_name, &p, "d"),
            Err(SigningError::InvalidHeaderName { name: "a b".into() })
        );
        let bad_value = SignableRequest {
            headers: &[("host", "h\r\nx-evil: 1")],
            ..base
        };
        assert_eq!(
            canonical_request(&bad_value, &p, "d"),
            Err(SigningError::InvalidHeaderValue {
                name: "host".into()
            })
        );
    }
}
