//! [`JsonText`]: a JSON string kept as the literal the client wrote.
//!
//! Prompts are the bulk of a request and are full of escapes (`\n`, `\"`, `\\`). Read as
//! `Cow<str>`, every such string is unescaped into a new allocation and escaped again on the way
//! out: at 128 KB that is most of the translation's time. Kept as its literal, a text costs the
//! parser's one validating scan and one copy into the output.

use std::borrow::Cow;

use serde::de::{self, Deserializer, Unexpected};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// A JSON string: the literal from the input (quotes and escapes included, written out
/// verbatim), or text the gateway wrote (escaped when written).
#[derive(Debug, Clone)]
pub enum JsonText<'a> {
    /// A JSON string literal as the client sent it; the parser validated it.
    Literal(&'a RawValue),
    /// A JSON string literal [`scan_literal`] validated (read without a parser).
    Scanned(&'a str),
    /// Text to be escaped when written.
    Plain(Cow<'a, str>),
}

impl<'a> JsonText<'a> {
    /// The text, unescaped: borrowed unless the literal holds escapes.
    pub fn text(&self) -> Cow<'a, str> {
        match self {
            JsonText::Plain(t) => t.clone(),
            JsonText::Literal(_) | JsonText::Scanned(_) => {
                let literal = self.literal().unwrap_or("\"\"");
                let inner = literal
                    .get(1..literal.len().saturating_sub(1))
                    .unwrap_or("");
                if !inner.contains('\\') {
                    return Cow::Borrowed(inner);
                }
                // Validated by the parser, so this does not fail; the fallback keeps it total.
                serde_json::from_str::<String>(literal).map_or(Cow::Borrowed(inner), Cow::Owned)
            }
        }
    }

    /// The JSON literal (quotes included), unless this is plain text.
    fn literal(&self) -> Option<&'a str> {
        match self {
            JsonText::Literal(raw) => Some(raw.get()),
            JsonText::Scanned(literal) => Some(literal),
            JsonText::Plain(_) => None,
        }
    }

    /// Append the text as a JSON string: a literal as it is, plain text escaped.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self.literal() {
            Some(literal) => out.extend_from_slice(literal.as_bytes()),
            // Writing a string into a Vec cannot fail.
            None => {
                let _ = serde_json::to_writer(&mut *out, self);
            }
        }
    }

    /// The same text, borrowed from `self`.
    pub fn reborrow(&self) -> JsonText<'_> {
        match self {
            JsonText::Literal(raw) => JsonText::Literal(raw),
            JsonText::Scanned(literal) => JsonText::Scanned(literal),
            JsonText::Plain(t) => JsonText::Plain(Cow::Borrowed(t)),
        }
    }

    /// Whether the text is empty or only whitespace (Bedrock refuses blank text blocks). Read
    /// from the literal without unescaping unless it holds something other than spaces and
    /// `\n`, `\r`, `\t` escapes before its first visible character.
    pub fn is_blank(&self) -> bool {
        let literal = match (self, self.literal()) {
            (JsonText::Plain(t), _) => return t.trim().is_empty(),
            (_, literal) => literal.unwrap_or_default(),
        };
        let inner = literal
            .as_bytes()
            .get(1..literal.len().saturating_sub(1))
            .unwrap_or_default();
        let mut bytes = inner.iter();
        while let Some(&b) = bytes.next() {
            match b {
                b' ' => {}
                b'\\' if matches!(bytes.clone().next(), Some(b'n' | b'r' | b't')) => {
                    bytes.next();
                }
                // Any other escape (`\u00a0`, `\f`) or non-ASCII character may be Unicode
                // whitespace: decide on the text itself.
                b'\\' => return self.text().trim().is_empty(),
                b if !b.is_ascii() => return self.text().trim().is_empty(),
                _ => return false,
            }
        }
        true
    }
}

impl<'a> From<&'a str> for JsonText<'a> {
    fn from(text: &'a str) -> Self {
        JsonText::Plain(Cow::Borrowed(text))
    }
}

impl From<String> for JsonText<'_> {
    fn from(text: String) -> Self {
        JsonText::Plain(Cow::Owned(text))
    }
}

impl<'a> From<Cow<'a, str>> for JsonText<'a> {
    fn from(text: Cow<'a, str>) -> Self {
        JsonText::Plain(text)
    }
}

impl Serialize for JsonText<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonText::Literal(raw) => raw.serialize(s),
            // Off the hot path (streams write these with `write_json`): through serde_json's
            // own raw value, which checks it again.
            JsonText::Scanned(literal) => RawValue::from_string((*literal).to_owned())
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
            JsonText::Plain(t) => s.serialize_str(t),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonText<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        match raw.get().as_bytes().first() {
            Some(b'"') => Ok(JsonText::Literal(raw)),
            _ => Err(de::Error::invalid_type(unexpected(raw), &"a string")),
        }
    }
}

/// The JSON string literal at the start of `bytes` and what follows it, checked as a JSON
/// parser checks a string: escapes (`\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t`, `\u` and four
/// hex digits), no control characters, UTF-8. `None` where it is not one; the caller then
/// leaves the input to serde_json, which reports the error.
pub fn scan_literal(bytes: &[u8]) -> Option<(JsonText<'_>, &[u8])> {
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    loop {
        match *bytes.get(i)? {
            b'"' => break,
            b'\\' => {
                i += match *bytes.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                    b'u' if bytes.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => 6,
                    _ => return None,
                };
            }
            0..=0x1f => return None,
            _ => i += 1,
        }
    }
    let (literal, rest) = bytes.split_at_checked(i + 1)?;
    let literal = std::str::from_utf8(literal).ok()?;
    Some((JsonText::Scanned(literal), rest))
}

/// What a non-string raw value is, for serde's "invalid type" message.
pub(crate) fn unexpected(raw: &RawValue) -> Unexpected<'_> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') => Unexpected::Map,
        Some(b'[') => Unexpected::Seq,
        Some(b't') => Unexpected::Bool(true),
        Some(b'f') => Unexpected::Bool(false),
        Some(b'n') => Unexpected::Unit,
        _ => match text.parse::<f64>() {
            Ok(n) if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
                Unexpected::Signed(n as i64)
            }
            Ok(n) => Unexpected::Float(n),
            Err(_) => Unexpected::Other(text),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(json: &str) -> JsonText<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn literals_are_written_as_they_came() {
        let json = r#""line one\nsays \"hi\" \\ \u00e9 \ud83d\ude00""#;
        let t = literal(json);
        assert!(matches!(t, JsonText::Literal(_)));
        assert_eq!(serde_json::to_string(&t).unwrap(), json);
        assert_eq!(t.text(), "line one\nsays \"hi\" \\ é 😀");
        let plain = JsonText::from("a \"quote\"\n");
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#""a \"quote\"\n""#);
    }

    #[test]
    fn text_borrows_unless_escaped() {
        assert!(matches!(
            literal(r#""plain""#).text(),
            Cow::Borrowed("plain")
        ));
        assert!(matches!(literal(r#""a\tb""#).text(), Cow::Owned(_)));
        assert_eq!(literal(r#""""#).text(), "");
    }

    #[test]
    fn blank_literals() {
        for blank in [
            r#""""#,
            r#""  ""#,
            r#"" \n\t\r ""#,
            r#""\u0020\u00a0""#,
            "\"\u{3000}\"",
        ] {
            assert!(literal(blank).is_blank(), "{blank}");
        }
        for text in [
            r#""a""#,
            r#"" \n x""#,
            r#""\u0041""#,
            r#""\"""#,
            "\"\u{e9}\"",
            r#""\\""#,
        ] {
            assert!(!literal(text).is_blank(), "{text}");
        }
        assert!(JsonText::from(" \n").is_blank());
        assert!(!JsonText::from(" x").is_blank());
    }

    #[test]
    fn scanned_literals_are_what_serde_json_accepts() {
        let cases: &[&[u8]] = &[
            br#""plain""#,
            br#""""#,
            br#""esc \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00""#,
            "\"caf\u{e9} \u{1f600}\"".as_bytes(),
            // Refused by both:
            b"\"tab\there\"",
            br#""bad \x escape""#,
            br#""short \u12""#,
            br#""hex \u12g4""#,
            br#""unterminated"#,
            b"\"\xff\xfe\"",
            br#"notastring"#,
            // Lone surrogates: serde_json skips them in a raw value (it refuses them only
            // when it decodes the string), so do we; Bedrock decides.
            br#""lone high \ud800""#,
            br#""lone low \udc00""#,
        ];
        for &case in cases {
            let ours = scan_literal(case).map(|(t, _)| t.literal().unwrap().to_owned());
            let serde = serde_json::from_slice::<&RawValue>(case)
                .ok()
                .filter(|raw| raw.get().starts_with('"'));
            assert_eq!(
                ours.as_deref(),
                serde.map(RawValue::get),
                "{}",
                String::from_utf8_lossy(case)
            );
        }
        let (text, rest) = scan_literal(br#""a\nb"}, tail"#).unwrap();
        assert_eq!((text.text().as_ref(), rest), ("a\nb", &b"}, tail"[..]));
        let mut out = Vec::new();
        text.write_json(&mut out);
        JsonText::from("q\"").write_json(&mut out);
        assert_eq!(out, br#""a\nb""q\"""#);
        assert_eq!(serde_json::to_string(&text).unwrap(), r#""a\nb""#);
        assert!(!text.is_blank());
        assert!(scan_literal(br#"" \n""#).unwrap().0.is_blank());
    }

    #[test]
    fn only_strings_are_text() {
        for (json, kind) in [
            ("5", "integer `5`"),
            ("-2.5", "floating point `-2.5`"),
            ("{}", "map"),
            ("[]", "sequence"),
            ("true", "boolean `true`"),
        ] {
            let err = serde_json::from_str::<JsonText<'_>>(json)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("invalid type: {kind}, expected a string")),
                "{err}"
            );
        }
    }
}
