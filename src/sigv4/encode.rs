//! Canonical URI and canonical query string: RFC 3986 percent-encoding as AWS applies it.

use std::borrow::Cow;

use super::{Settings, SigningError};

/// RFC 3986 unreserved characters: the only bytes SigV4 leaves unencoded (besides `/` in paths).
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_digit(nibble: u8) -> char {
    let nibble = nibble & 0x0f;
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        b'A' + nibble - 10
    })
}

fn push_escaped(out: &mut String, byte: u8) {
    out.push('%');
    out.push(hex_digit(byte >> 4));
    out.push(hex_digit(byte));
}

/// Appends `text`, percent-encoding (upper-case hex) every byte for which `keep` is false.
/// `keep` accepts ASCII bytes only, so multi-byte characters are always encoded whole.
fn push_encoded(out: &mut String, text: &str, keep: impl Fn(u8) -> bool) {
    for byte in text.bytes() {
        if byte.is_ascii() && keep(byte) {
            out.push(char::from(byte));
        } else {
            push_escaped(out, byte);
        }
    }
}

/// The canonical URI of the path as sent on the wire (already percent-encoded once).
///
/// With `normalize_path`, dot segments and empty segments are removed (RFC 3986 §5.2.4,
/// keeping a trailing slash). With `double_encode_path`, every byte except unreserved ones and
/// `/` is encoded again, so `%3A` becomes `%253A` and a raw `:` becomes `%3A`. Without it
/// (S3 style) existing `%XX` escapes are kept and only raw bytes outside the unreserved set are
/// encoded, which leaves an SDK-encoded path unchanged.
pub(crate) fn canonical_uri<'a>(
    path: &'a str,
    settings: &Settings,
) -> Result<Cow<'a, str>, SigningError> {
    if path
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'?' || b == b'#')
    {
        return Err(SigningError::InvalidPath);
    }
    if !(path.is_empty() || path.starts_with('/')) {
        return Err(SigningError::InvalidPath);
    }
    let path = if path.is_empty() {
        Cow::Borrowed("/")
    } else if settings.normalize_path {
        normalize_path(path)
    } else {
        Cow::Borrowed(path)
    };
    let keep: fn(u8) -> bool = if settings.double_encode_path {
        |b| is_unreserved(b) || b == b'/'
    } else {
        |b| is_unreserved(b) || b == b'/' || b == b'%'
    };
    if path.bytes().all(keep) {
        return Ok(path);
    }
    let mut out = String::with_capacity(path.len() + path.len() / 2);
    push_encoded(&mut out, &path, keep);
    Ok(Cow::Owned(out))
}

/// Removes `.` and `..` segments and duplicate slashes from an absolute path.
fn normalize_path(path: &str) -> Cow<'_, str> {
    let mut segments = path.split('/').skip(1).peekable();
    let mut clean = true;
    while let Some(segment) = segments.next() {
        let is_last = segments.peek().is_none();
        if segment == "." || segment == ".." || (segment.is_empty() && !is_last) {
            clean = false;
            break;
        }
    }
    if clean {
        return Cow::Borrowed(path);
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    // "/a/b/", "/a/b/." and "/a/b/.." all end in a directory.
    let trailing_slash = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Cow::Owned(out)
}

/// The canonical query string of a raw query (without `?`).
///
/// Each `&`-separated pair is split at the first `=`, each side is decoded (`%XX` and `+` as a
/// space, as form decoding does) and then encoded with the unreserved set; pairs are sorted by
/// encoded key, then encoded value. Empty pairs are dropped; a missing value becomes `key=`.
pub(crate) fn canonical_query(query: &str) -> Cow<'_, str> {
    if query.is_empty() {
        return Cow::Borrowed("");
    }
    let mut scratch = Vec::new();
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(key, &mut scratch), reencode(value, &mut scratch))
        })
        .collect();
    pairs.sort_unstable();
    let len = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (key, value) in &pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    Cow::Owned(out)
}

/// Decodes a query component, then encodes it with the unreserved set.
/// Invalid `%` escapes stay literal; invalid UTF-8 after decoding becomes U+FFFD.
fn reencode(component: &str, scratch: &mut Vec<u8>) -> String {
    scratch.clear();
    let mut bytes = component.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'+' => scratch.push(b' '),
            b'%' => {
                let mut lookahead = bytes.clone();
                let high = lookahead.next().and_then(hex_value);
                let low = lookahead.next().and_then(hex_value);
                if let (Some(high), Some(low)) = (high, low) {
                    scratch.push(high << 4 | low);
                    bytes = lookahead;
                } else {
                    scratch.push(b'%');
                }
            }
            other => scratch.push(other),
        }
    }
    let decoded = String::from_utf8_lossy(scratch);
    let mut out = String::with_capacity(decoded.len() + decoded.len() / 2);
    push_encoded(&mut out, &decoded, is_unreserved);
    out
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(path: &str, normalize_path: bool, double_encode_path: bool) -> String {
        let settings = Settings {
            normalize_path,
            double_encode_path,
            ..Settings::default()
        };
        canonical_uri(path, &settings).unwrap().into_owned()
    }

    #[test]
    fn bedrock_model_ids_are_encoded_once_more() {
        assert_eq!(
            uri(
                "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
                true,
                true
            ),
            "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse"
        );
        // The Anthropic client sends the `:` raw.
        assert_eq!(
            uri("/model/x-v1:0/invoke", true, true),
            "/model/x-v1%3A0/invoke"
        );
        assert_eq!(
            uri(
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/converse-stream",
                true,
                true
            ),
            "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123456789012%253Aapplication-inference-profile%252Fabc123/converse-stream"
        );
    }

    #[test]
    fn borrows_when_nothing_changes() {
        let settings = Settings::default();
        assert!(matches!(
            canonical_uri("/model/amazon.nova-pro-v1/converse", &settings),
            Ok(Cow::Borrowed(_))
        ));
        assert!(matches!(canonical_query(""), Cow::Borrowed("")));
    }

    #[test]
    fn normalizes_like_rfc3986() {
        for (path, expected) in [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/../a", "/a"),
            ("/a/./b/../c/", "/a/c/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("//example//", "/example/"),
            ("/a.b/..c/.d", "/a.b/..c/.d"),
            ("/%2E%2E/x", "/%252E%252E/x"),
        ] {
            assert_eq!(uri(path, true, true), expected, "{path:?}");
        }
        assert_eq!(uri("//example//", false, false), "//example//");
        assert_eq!(uri("/example/..", false, false), "/example/..");
    }

    #[test]
    fn single_encoding_keeps_escapes_and_encodes_raw_bytes() {
        assert_eq!(uri("/example space/", false, false), "/example%20space/");
        assert_eq!(uri("/a%3Ab/\u{1234}", false, false), "/a%3Ab/%E1%88%B4");
        assert_eq!(uri("/\u{1234}", true, true), "/%E1%88%B4");
    }

    #[test]
    fn rejects_paths_that_cannot_be_on_the_wire() {
        let settings = Settings::default();
        for bad in ["model/x", "/a?b", "/a#b", "/a\nb", "/a\u{7f}"] {
            assert_eq!(
                canonical_uri(bad, &settings),
                Err(SigningError::InvalidPath),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn canonicalizes_queries() {
        for (query, expected) in [
            ("Param2=value2&Param1=value1", "Param1=value1&Param2=value2"),
            ("Param1=value2&Param1=value1", "Param1=value1&Param1=value2"),
            ("a&b=", "a=&b="),
            ("&&x=1&", "x=1"),
            ("k=a+b%20c", "k=a%20b%20c"),
            ("k=%3a%2F%zz%4", "k=%3A%2F%25zz%254"),
            ("%E1%88%B4=bar&\u{1234}=baz", "%E1%88%B4=bar&%E1%88%B4=baz"),
            ("k=%FF", "k=%EF%BF%BD"),
            ("a=b=c", "a=b%3Dc"),
            ("=v", "=v"),
            ("B=1&a=1&_=1&-=1", "-=1&B=1&_=1&a=1"),
        ] {
            assert_eq!(canonical_query(query), expected, "{query:?}");
        }
    }

    #[test]
    fn encodes_split_multibyte_characters_completely() {
        let mut out = String::new();
        push_encoded(&mut out, "a\u{1F600}b", is_unreserved);
        assert_eq!(out, "a%F0%9F%98%80b");
    }
}
