//! Embedding vectors as Bedrock wrote them, and the OpenAI list answer built from them.
//!
//! Decision: a vector is kept as the raw text of its JSON array (borrowed from the upstream
//! body, no f64 tree). `float` output copies each number's text as Bedrock wrote it, so no
//! float is ever re-printed; `base64` parses each number straight to `f32` (`str::parse`,
//! correctly rounded, so exactly the f32 the model produced) and encodes its little-endian
//! bytes, as OpenAI does. Each number is read at most once.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::value::RawValue;

use super::request::EncodingFormat;
use crate::error::ApiError;

/// One embedding: the text between the brackets of a JSON array of numbers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Vector<'a> {
    inner: &'a str,
}

impl<'a> Vector<'a> {
    /// Check that `raw` is a non-empty array of numbers. `raw` is valid JSON already, so an
    /// element that starts like a number is a number, and a compound element is caught by its
    /// first comma-separated piece (it starts with `[`, `{` or `"`).
    pub fn from_raw(raw: &'a RawValue) -> Result<Self, ApiError> {
        let inner = raw
            .get()
            .trim()
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .ok_or_else(|| not_a_vector("is not an array"))?;
        if inner.trim().is_empty() {
            return Err(not_a_vector("is empty"));
        }
        let v = Vector { inner };
        if !v
            .numbers()
            .all(|n| n.starts_with(|c: char| c == '-' || c.is_ascii_digit()))
        {
            return Err(not_a_vector("holds something other than numbers"));
        }
        Ok(v)
    }

    fn numbers(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.inner.split(',').map(str::trim)
    }

    fn write_float(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, n) in self.numbers().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(n.as_bytes());
        }
        out.push(b']');
    }

    /// `bytes` is scratch space reused across vectors.
    fn write_base64(&self, out: &mut Vec<u8>, bytes: &mut Vec<u8>) -> Result<(), ApiError> {
        bytes.clear();
        for n in self.numbers() {
            let x: f32 = n
                .parse()
                .ok()
                .filter(|x: &f32| x.is_finite())
                .ok_or_else(|| not_a_vector("holds a number that is not a finite float32"))?;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        out.push(b'"');
        out.extend_from_slice(STANDARD.encode(bytes.as_slice()).as_bytes());
        out.push(b'"');
        Ok(())
    }
}

fn not_a_vector(what: &str) -> ApiError {
    ApiError::bad_upstream(format!("Bedrock returned an embedding that {what}"))
}

/// The OpenAI answer: `{"object":"list","data":[…],"model":…,"usage":{…}}`.
pub(super) fn write_list(
    vectors: &[Vector<'_>],
    encoding: EncodingFormat,
    model: &str,
    prompt_tokens: u64,
) -> Result<Vec<u8>, ApiError> {
    let numbers: usize = vectors.iter().map(|v| v.inner.len()).sum();
    let mut out = Vec::with_capacity(numbers + 64 * vectors.len() + model.len() + 96);
    let mut scratch = Vec::new();
    out.extend_from_slice(br#"{"object":"list","data":["#);
    for (i, v) in vectors.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"object":"embedding","index":"#);
        out.extend_from_slice(i.to_string().as_bytes());
        out.extend_from_slice(br#","embedding":"#);
        match encoding {
            EncodingFormat::Float => v.write_float(&mut out),
            EncodingFormat::Base64 => v.write_base64(&mut out, &mut scratch)?,
        }
        out.push(b'}');
    }
    out.extend_from_slice(br#"],"model":"#);
    serde_json::to_writer(&mut out, model)
        .map_err(|e| ApiError::bad_upstream(format!("cannot encode response: {e}")))?;
    out.extend_from_slice(br#","usage":{"prompt_tokens":"#);
    out.extend_from_slice(prompt_tokens.to_string().as_bytes());
    out.extend_from_slice(br#","total_tokens":"#);
    out.extend_from_slice(prompt_tokens.to_string().as_bytes());
    out.extend_from_slice(b"}}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(json: &str) -> Result<(), ApiError> {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        Vector::from_raw(&raw).map(|_| ())
    }

    #[test]
    fn accepts_only_non_empty_arrays_of_numbers() {
        for ok in ["[1]", "[ -0.5 , 1e-3,2E+2 ]", "[0.0361328125,-1.25]"] {
            assert!(vector(ok).is_ok(), "{ok}");
        }
        for bad in [
            "[]",
            "[ ]",
            "{}",
            "1",
            r#""[1]""#,
            "[null]",
            "[1,true]",
            r#"[1,"2,3"]"#,
            "[[1,2]]",
            r#"[{"a":1,"b":2}]"#,
        ] {
            let e = vector(bad).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_deref()),
                (502, Some("bad_upstream_response")),
                "{bad}"
            );
        }
    }

    #[test]
    fn base64_refuses_numbers_outside_float32() {
        let raw: Box<RawValue> = serde_json::from_str("[1e39]").unwrap();
        let v = Vector::from_raw(&raw).unwrap();
        let e = write_list(&[v], EncodingFormat::Base64, "m", 0).unwrap_err();
        assert_eq!(e.status, 502);
    }
}
