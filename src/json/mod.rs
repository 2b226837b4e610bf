//! JSON without value trees: an object read one level deep ([`RawObject`]: members in wire
//! order, values left as raw JSON text), strings kept as their literal ([`JsonText`]), and
//! small writers.
//!
//! Anthropic bodies pass through the gateway almost untouched (messages, tools, thinking
//! blocks, images): only a few top-level members change. Reading the top level as raw
//! values and writing it back once costs one scan and one copy, with no `Value` tree.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

mod text;

pub(crate) use text::unexpected;
pub use text::{JsonText, scan_literal};

/// An object's members in order. Values are JSON text: borrowed from the input, or owned
/// when the gateway replaced them.
#[derive(Debug)]
pub(crate) struct RawObject<'a> {
    members: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> RawObject<'a> {
    /// Reads `json`, which must be one JSON object.
    pub(crate) fn parse(json: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// Reads a raw value that must be an object.
    pub(crate) fn parse_str(json: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The raw JSON of the first member called `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// How many members are called `key` (JSON allows repeats; readers disagree on which wins).
    pub(crate) fn count(&self, key: &str) -> usize {
        self.members.iter().filter(|(k, _)| k == key).count()
    }

    /// Removes every member called `key`.
    pub(crate) fn remove(&mut self, key: &str) {
        self.members.retain(|(k, _)| k != key);
    }

    /// Replaces the value of every member called `key` with the raw JSON `value`, or
    /// appends the member if there is none.
    pub(crate) fn set_raw(&mut self, key: &'a str, value: String) {
        let mut found = false;
        for (k, v) in &mut self.members {
            if k == key {
                *v = Cow::Owned(value.clone());
                found = true;
            }
        }
        if !found {
            self.members.push((Cow::Borrowed(key), Cow::Owned(value)));
        }
    }

    /// Inserts a member with the raw JSON `value` before all others.
    pub(crate) fn prepend_raw(&mut self, key: &'a str, value: String) {
        self.members
            .insert(0, (Cow::Borrowed(key), Cow::Owned(value)));
    }

    /// Appends the object as compact JSON; values are copied as they are.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, value)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json(key.as_ref(), out);
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        }
        out.push(b'}');
    }

    /// The object's length when written, for reserving the output once.
    pub(crate) fn written_len(&self) -> usize {
        self.members
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>()
            + 2
    }
}

/// Appends `value` serialised as JSON (a string, number, …).
pub(crate) fn write_json<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Serialising strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}

/// `value` as JSON text.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    write_json(value, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// A member name, borrowed unless it contains escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// An optional string, borrowed from the input unless it contains escapes. serde's own
/// `Option<Cow<str>>` allocates every string, `#[serde(borrow)]` or not (the attribute borrows
/// only a bare `Cow<str>`): one allocation per message for its `role` alone. Fields use it as
/// `#[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]`; `default` keeps a
/// missing member `None`, as it is without `deserialize_with`.
pub(crate) fn opt_cow<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<Key<'de>>::deserialize(d)?.map(|Key(s)| s))
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(key)) = map.next_key()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, Cow::Borrowed(value.get())));
                }
                Ok(RawObject { members })
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Opt<'a> {
        #[serde(borrow, default, deserialize_with = "opt_cow")]
        s: Option<Cow<'a, str>>,
    }

    #[test]
    fn optional_strings_borrow_unless_escaped() {
        let opt = |json: &'static str| serde_json::from_str::<Opt<'static>>(json).map(|o| o.s);
        assert!(matches!(
            opt(r#"{"s":"user"}"#),
            Ok(Some(Cow::Borrowed("user")))
        ));
        assert!(matches!(opt(r#"{"s":"a\nb"}"#), Ok(Some(Cow::Owned(ref s))) if s == "a\nb"));
        assert!(matches!(opt(r#"{"s":null}"#), Ok(None)));
        assert!(matches!(opt("{}"), Ok(None)));
        // The same message serde gives for its own `Option<Cow<str>>`.
        let err = opt(r#"{"s":5}"#).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("invalid type: integer `5`, expected a string at line 1 column 6")
        );
        let from_slice: Opt<'_> = serde_json::from_slice(br#"{"s":"x"}"#).unwrap();
        assert!(matches!(from_slice.s, Some(Cow::Borrowed("x"))));
    }

    #[test]
    fn a_message_role_is_borrowed() {
        let m: crate::openai::ChatMessage<'_> =
            serde_json::from_slice(br#"{"role":"user","content":"hi","tool_call_id":"c1"}"#)
                .unwrap();
        assert!(matches!(m.role, Some(Cow::Borrowed("user"))));
        assert!(matches!(m.tool_call_id, Some(Cow::Borrowed("c1"))));
    }

    #[test]
    fn round_trips_members_in_order_with_values_verbatim() {
        let json = br#" { "b" : [1, 2.50, {"x" : "\u00e9"}], "a\"q":null ,"c":{"d":1} } "#;
        let obj = RawObject::parse(json).unwrap();
        let mut out = Vec::new();
        obj.write(&mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"b":[1, 2.50, {"x" : "\u00e9"}],"a\"q":null,"c":{"d":1}}"#
        );
        assert!(out.len() <= obj.written_len());
        assert_eq!(obj.get("a\"q"), Some("null"));
    }

    #[test]
    fn edits() {
        let mut obj = RawObject::parse(br#"{"m":1,"k":2,"m":3}"#).unwrap();
        assert_eq!(obj.count("m"), 2);
        obj.set_raw("m", "4".into());
        obj.set_raw("n", to_json("x"));
        obj.remove("k");
        obj.prepend_raw("v", "true".into());
        let mut out = Vec::new();
        obj.write(&mut out);
        assert_eq!(out, br#"{"v":true,"m":4,"m":4,"n":"x"}"#);
    }

    #[test]
    fn only_objects() {
        for bad in [&b"[1]"[..], b"\"s\"", b"1", b"null", b"{", b"{} x", b""] {
            assert!(RawObject::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RawObject::parse_str("{}").is_ok());
    }
}
