//! Scripted behaviours: a FIFO queue tests fill through `POST /__sim/script`.
//!
//! The JSON of one behaviour (all keys optional unless said; unknown keys are refused):
//!
//! ```text
//! { "match": {"operation": "converse"|"converse-stream"|"invoke"|"invoke-with-response-stream"
//!                           |"count-tokens"|"apply-guardrail"|"invoke-guardrail-checks"
//!                           |"start-async-invoke"|"get-async-invoke"|"list-async-invokes",
//!             "model_id": "<decoded model id>"},
//!   "stall_ms": N,                      // wait before answering (any behaviour)
//!   "headers": {"name": "value"},       // extra response headers (json/raw/events/reply)
//!   one of:
//!   "error":  {"status"?: 429, "type": "ThrottlingException", "message": "...",
//!              "headers"?: {...}, "body"?: <JSON to send instead of {"message": ...}>}
//!   "json":   <JSON body, served with "status" (default 200)>
//!   "raw":    "<text body>", "status"?: 200, "content_type"?: "application/json"
//!   "reply":  {"text"?: "...", "tool_uses"?: [{"name", "input"?: {}, "id"?}],
//!              "stop_reason"?: "...", "usage"?: {"input_tokens"?, "output_tokens"?}}
//!   "events": [ {"type": "<event>", "payload": {...}}
//!             | {"exception": "<exceptionType>", "payload": {...}}
//!             | {"error_frame": {"code": "...", "message": "..."}}
//!             | {"chunk": <model-native JSON event, sent base64 in a chunk event>}
//!             | {"raw_hex": "<bytes>"}
//!             | {"default": true}            // the default reply's events, here
//!             ], "no_padding"?: true, "corrupt_crc_at_event"?: i, "status"?: 200
//!   transport options (with events, json, raw, reply, or alone for the default reply):
//!   "chunk_size": N, "delay_ms": N, "truncate_after_bytes": N, "reset_after_bytes": N }
//! ```

use std::collections::VecDeque;

use serde_json::{Map, Value};

use crate::model_id::Operation;
use crate::stream::Transport;

/// What to answer with.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// The default reply of the operation.
    Default,
    Error {
        status: Option<u16>,
        code: String,
        message: String,
        headers: Vec<(String, String)>,
        body: Option<Value>,
    },
    Json {
        status: u16,
        body: Value,
    },
    Raw {
        status: u16,
        content_type: Option<String>,
        body: Vec<u8>,
    },
    Reply(ReplySpec),
    Events {
        status: u16,
        items: Vec<EventSpec>,
    },
}

/// A scripted model answer, rendered in the operation's format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplySpec {
    pub text: Option<String>,
    pub tool_uses: Vec<(Option<String>, String, Value)>,
    pub stop_reason: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// One scripted stream item.
#[derive(Debug, Clone, PartialEq)]
pub enum EventSpec {
    Event {
        event_type: String,
        payload: Value,
    },
    Exception {
        exception_type: String,
        payload: Value,
    },
    ErrorFrame {
        code: String,
        message: String,
    },
    Chunk(Value),
    RawHex(Vec<u8>),
    Default,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    pub match_operation: Option<String>,
    pub match_model_id: Option<String>,
    pub stall_ms: u64,
    pub headers: Vec<(String, String)>,
    pub kind: Kind,
    pub transport: Transport,
    pub no_padding: bool,
    pub corrupt_crc_at_event: Option<usize>,
    /// The JSON it was made from (for `GET /__sim/script`).
    pub source: Value,
}

impl Behaviour {
    pub fn matches(&self, op: Option<Operation>, model_id: Option<&str>) -> bool {
        let op_ok = match &self.match_operation {
            None => true,
            Some(want) => op.is_some_and(|o| o.as_str() == want),
        };
        let model_ok = match &self.match_model_id {
            None => true,
            Some(want) => model_id == Some(want.as_str()),
        };
        op_ok && model_ok
    }
}

fn as_u64(v: &Value, what: &str) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{what} must be a non-negative integer"))
}

fn as_str(v: &Value, what: &str) -> Result<String, String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{what} must be a string"))
}

fn headers_of(v: &Value, what: &str) -> Result<Vec<(String, String)>, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{what} must be an object of strings"))?;
    obj.iter()
        .map(|(k, v)| Ok((k.clone(), as_str(v, &format!("{what}.{k}"))?)))
        .collect()
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!(
                "{what}: unknown key {k:?} (allowed: {})",
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

fn status_of(obj: &Map<String, Value>, default: u16) -> Result<u16, String> {
    match obj.get("status") {
        None => Ok(default),
        Some(v) => {
            let n = as_u64(v, "status")?;
            if (100..=599).contains(&n) {
                Ok(n as u16)
            } else {
                Err(format!("status {n} is not an HTTP status"))
            }
        }
    }
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(&clean).map_err(|e| format!("raw_hex: {e}"))
}

fn parse_event(v: &Value, i: usize) -> Result<EventSpec, String> {
    let what = format!("events[{i}]");
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{what} must be an object"))?;
    let payload = || {
        obj.get("payload")
            .cloned()
            .unwrap_or(Value::Object(Map::new()))
    };
    if let Some(t) = obj.get("type") {
        check_keys(obj, &["type", "payload"], &what)?;
        return Ok(EventSpec::Event {
            event_type: as_str(t, &format!("{what}.type"))?,
            payload: payload(),
        });
    }
    if let Some(t) = obj.get("exception") {
        check_keys(obj, &["exception", "payload"], &what)?;
        return Ok(EventSpec::Exception {
            exception_type: as_str(t, &format!("{what}.exception"))?,
            payload: payload(),
        });
    }
    if let Some(e) = obj.get("error_frame") {
        check_keys(obj, &["error_frame"], &what)?;
        return Ok(EventSpec::ErrorFrame {
            code: as_str(
                e.get("code").unwrap_or(&Value::Null),
                &format!("{what}.error_frame.code"),
            )?,
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        });
    }
    if let Some(c) = obj.get("chunk") {
        check_keys(obj, &["chunk"], &what)?;
        return Ok(EventSpec::Chunk(c.clone()));
    }
    if let Some(h) = obj.get("raw_hex") {
        check_keys(obj, &["raw_hex"], &what)?;
        return Ok(EventSpec::RawHex(parse_hex(&as_str(
            h,
            &format!("{what}.raw_hex"),
        )?)?));
    }
    if obj.get("default") == Some(&Value::Bool(true)) {
        check_keys(obj, &["default"], &what)?;
        return Ok(EventSpec::Default);
    }
    Err(format!(
        "{what} needs one of type, exception, error_frame, chunk, raw_hex, default"
    ))
}

fn parse_reply(v: &Value) -> Result<ReplySpec, String> {
    let obj = v.as_object().ok_or("reply must be an object")?;
    check_keys(obj, &["text", "tool_uses", "stop_reason", "usage"], "reply")?;
    let mut spec = ReplySpec {
        text: obj
            .get("text")
            .map(|t| as_str(t, "reply.text"))
            .transpose()?,
        stop_reason: obj
            .get("stop_reason")
            .map(|t| as_str(t, "reply.stop_reason"))
            .transpose()?,
        ..ReplySpec::default()
    };
    if let Some(tu) = obj.get("tool_uses") {
        let arr = tu.as_array().ok_or("reply.tool_uses must be an array")?;
        for (i, t) in arr.iter().enumerate() {
            let what = format!("reply.tool_uses[{i}]");
            let o = t.as_object().ok_or(format!("{what} must be an object"))?;
            check_keys(o, &["name", "input", "id"], &what)?;
            let name = as_str(
                o.get("name").unwrap_or(&Value::Null),
                &format!("{what}.name"),
            )?;
            let input = o.get("input").cloned().unwrap_or(Value::Object(Map::new()));
            let id = o
                .get("id")
                .map(|i| as_str(i, &format!("{what}.id")))
                .transpose()?;
            spec.tool_uses.push((id, name, input));
        }
    }
    if let Some(u) = obj.get("usage") {
        let o = u.as_object().ok_or("reply.usage must be an object")?;
        check_keys(o, &["input_tokens", "output_tokens"], "reply.usage")?;
        spec.input_tokens = o
            .get("input_tokens")
            .map(|v| as_u64(v, "usage.input_tokens"))
            .transpose()?;
        spec.output_tokens = o
            .get("output_tokens")
            .map(|v| as_u64(v, "usage.output_tokens"))
            .transpose()?;
    }
    Ok(spec)
}

const KEYS: &[&str] = &[
    "match",
    "stall_ms",
    "headers",
    "error",
    "json",
    "raw",
    "status",
    "content_type",
    "reply",
    "events",
    "no_padding",
    "corrupt_crc_at_event",
    "chunk_size",
    "delay_ms",
    "truncate_after_bytes",
    "reset_after_bytes",
];

/// Parses one behaviour, refusing unknown keys and ambiguous ones.
pub fn parse_behaviour(v: &Value) -> Result<Behaviour, String> {
    let obj = v.as_object().ok_or("a behaviour must be a JSON object")?;
    check_keys(obj, KEYS, "behaviour")?;
    let kinds: Vec<&str> = ["error", "json", "raw", "reply", "events"]
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
    if kinds.len() > 1 {
        return Err(format!(
            "a behaviour takes one of error/json/raw/reply/events, got {kinds:?}"
        ));
    }
    let (match_operation, match_model_id) = match obj.get("match") {
        None => (None, None),
        Some(m) => {
            let mo = m.as_object().ok_or("match must be an object")?;
            check_keys(mo, &["operation", "model_id"], "match")?;
            let op = mo
                .get("operation")
                .map(|o| as_str(o, "match.operation"))
                .transpose()?;
            if let Some(o) = &op {
                let Some(known) = Operation::from_name(o) else {
                    let names: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
                    return Err(format!(
                        "match.operation {o:?} is not one of {}",
                        names.join(", ")
                    ));
                };
                if obj.contains_key("reply") && !known.is_chat() {
                    return Err(format!(
                        "reply renders a model answer; {o} has none (script json, raw or error)"
                    ));
                }
            }
            let model = mo
                .get("model_id")
                .map(|o| as_str(o, "match.model_id"))
                .transpose()?;
            (op, model)
        }
    };
    let opt_usize = |k: &str| -> Result<Option<usize>, String> {
        obj.get(k)
            .map(|v| as_u64(v, k).map(|n| n as usize))
            .transpose()
    };
    let transport = Transport {
        chunk_size: opt_usize("chunk_size")?,
        delay_ms: obj
            .get("delay_ms")
            .map(|v| as_u64(v, "delay_ms"))
            .transpose()?
            .unwrap_or(0),
        truncate_after_bytes: opt_usize("truncate_after_bytes")?,
        reset_after_bytes: opt_usize("reset_after_bytes")?,
    };
    if transport.chunk_size == Some(0) {
        return Err("chunk_size must be at least 1".into());
    }
    let kind = if let Some(e) = obj.get("error") {
        let eo = e.as_object().ok_or("error must be an object")?;
        check_keys(
            eo,
            &["status", "type", "message", "headers", "body"],
            "error",
        )?;
        Kind::Error {
            status: eo
                .get("status")
                .map(|s| as_u64(s, "error.status").map(|n| n as u16))
                .transpose()?,
            code: as_str(eo.get("type").unwrap_or(&Value::Null), "error.type")?,
            message: eo
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            headers: eo
                .get("headers")
                .map(|h| headers_of(h, "error.headers"))
                .transpose()?
                .unwrap_or_default(),
            body: eo.get("body").cloned(),
        }
    } else if let Some(j) = obj.get("json") {
        Kind::Json {
            status: status_of(obj, 200)?,
            body: j.clone(),
        }
    } else if let Some(r) = obj.get("raw") {
        Kind::Raw {
            status: status_of(obj, 200)?,
            content_type: obj
                .get("content_type")
                .map(|c| as_str(c, "content_type"))
                .transpose()?,
            body: as_str(r, "raw")?.into_bytes(),
        }
    } else if let Some(r) = obj.get("reply") {
        Kind::Reply(parse_reply(r)?)
    } else if let Some(ev) = obj.get("events") {
        let arr = ev.as_array().ok_or("events must be an array")?;
        let items = arr
            .iter()
            .enumerate()
            .map(|(i, e)| parse_event(e, i))
            .collect::<Result<Vec<_>, _>>()?;
        Kind::Events {
            status: status_of(obj, 200)?,
            items,
        }
    } else {
        Kind::Default
    };
    if matches!(kind, Kind::Error { .. } | Kind::Reply(_) | Kind::Default)
        && obj.contains_key("status")
    {
        return Err("status goes with json, raw or events (errors take error.status)".into());
    }
    if obj.contains_key("content_type") && !matches!(kind, Kind::Raw { .. }) {
        return Err("content_type goes with raw".into());
    }
    Ok(Behaviour {
        match_operation,
        match_model_id,
        stall_ms: obj
            .get("stall_ms")
            .map(|v| as_u64(v, "stall_ms"))
            .transpose()?
            .unwrap_or(0),
        headers: obj
            .get("headers")
            .map(|h| headers_of(h, "headers"))
            .transpose()?
            .unwrap_or_default(),
        kind,
        transport,
        no_padding: obj
            .get("no_padding")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        corrupt_crc_at_event: opt_usize("corrupt_crc_at_event")?,
        source: v.clone(),
    })
}

/// Parses a `POST /__sim/script` body: an array of behaviours (or a single one).
pub fn parse_script(v: &Value) -> Result<Vec<Behaviour>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, b)| parse_behaviour(b).map_err(|e| format!("behaviour {i}: {e}")))
            .collect(),
        Value::Object(_) => Ok(vec![parse_behaviour(v)?]),
        _ => Err("the script must be a JSON array of behaviours".into()),
    }
}

/// The FIFO queue.
#[derive(Debug, Default)]
pub struct Queue {
    items: VecDeque<Behaviour>,
}

impl Queue {
    pub fn push_all(&mut self, items: Vec<Behaviour>) -> usize {
        self.items.extend(items);
        self.items.len()
    }

    /// Removes and returns the first behaviour whose `match` fits.
    pub fn take(&mut self, op: Option<Operation>, model_id: Option<&str>) -> Option<Behaviour> {
        let pos = self.items.iter().position(|b| b.matches(op, model_id))?;
        self.items.remove(pos)
    }

    pub fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        n
    }

    pub fn pending(&self) -> Vec<Value> {
        self.items.iter().map(|b| b.source.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn queue(v: Value) -> Queue {
        let mut q = Queue::default();
        q.push_all(parse_script(&v).unwrap());
        q
    }

    #[test]
    fn fifo_order() {
        let mut q = queue(json!([{"json": {"a": 1}}, {"json": {"a": 2}}]));
        let first = q.take(Some(Operation::Converse), Some("m.x")).unwrap();
        assert_eq!(
            first.kind,
            Kind::Json {
                status: 200,
                body: json!({"a": 1})
            }
        );
        let second = q.take(Some(Operation::Invoke), None).unwrap();
        assert_eq!(
            second.kind,
            Kind::Json {
                status: 200,
                body: json!({"a": 2})
            }
        );
        assert!(q.take(Some(Operation::Converse), None).is_none());
    }

    #[test]
    fn match_skips_non_matching() {
        let mut q = queue(json!([
            {"match": {"operation": "converse-stream"}, "json": {"n": 1}},
            {"match": {"model_id": "a.b"}, "json": {"n": 2}},
            {"json": {"n": 3}}
        ]));
        let b = q.take(Some(Operation::Converse), Some("c.d")).unwrap();
        assert_eq!(
            b.kind,
            Kind::Json {
                status: 200,
                body: json!({"n": 3})
            }
        );
        let b = q.take(Some(Operation::Converse), Some("a.b")).unwrap();
        assert_eq!(
            b.kind,
            Kind::Json {
                status: 200,
                body: json!({"n": 2})
            }
        );
        let b = q
            .take(Some(Operation::ConverseStream), Some("a.b"))
            .unwrap();
        assert_eq!(
            b.kind,
            Kind::Json {
                status: 200,
                body: json!({"n": 1})
            }
        );
        assert_eq!(q.pending().len(), 0);
    }

    #[test]
    fn error_behaviour() {
        let b = parse_behaviour(
            &json!({"error": {"status": 429, "type": "ThrottlingException",
            "message": "slow", "headers": {"retry-after": "2"}}}),
        )
        .unwrap();
        assert_eq!(
            b.kind,
            Kind::Error {
                status: Some(429),
                code: "ThrottlingException".into(),
                message: "slow".into(),
                headers: vec![("retry-after".into(), "2".into())],
                body: None,
            }
        );
    }

    #[test]
    fn stream_behaviour() {
        let b = parse_behaviour(&json!({"events": [
            {"type": "messageStart", "payload": {"role": "assistant"}},
            {"exception": "throttlingException", "payload": {"message": "x"}},
            {"error_frame": {"code": "InternalFailure", "message": "boom"}},
            {"raw_hex": "00 01 ff"},
            {"chunk": {"type": "message_stop"}},
            {"default": true}
        ], "chunk_size": 1, "delay_ms": 5, "corrupt_crc_at_event": 0, "no_padding": true}))
        .unwrap();
        let Kind::Events { items, .. } = &b.kind else {
            panic!()
        };
        assert_eq!(items.len(), 6);
        assert_eq!(items[3], EventSpec::RawHex(vec![0, 1, 255]));
        assert_eq!(b.transport.chunk_size, Some(1));
        assert!(b.no_padding);
    }

    #[test]
    fn transport_only_and_stall() {
        let b = parse_behaviour(&json!({"chunk_size": 3, "stall_ms": 10})).unwrap();
        assert_eq!(b.kind, Kind::Default);
        assert_eq!(b.stall_ms, 10);
    }

    #[test]
    fn new_operations_can_be_matched() {
        let mut q = queue(json!([
            {"match": {"operation": "count-tokens"}, "json": {"inputTokens": 7}},
            {"match": {"operation": "get-async-invoke"}, "error": {"type": "ThrottlingException"}}
        ]));
        assert!(q.take(Some(Operation::Converse), None).is_none());
        let b = q.take(Some(Operation::GetAsyncInvoke), None).unwrap();
        assert!(matches!(b.kind, Kind::Error { .. }));
        let b = q.take(Some(Operation::CountTokens), Some("a.b")).unwrap();
        assert_eq!(
            b.kind,
            Kind::Json {
                status: 200,
                body: json!({"inputTokens": 7})
            }
        );
    }

    #[test]
    fn refuses_mistakes() {
        for bad in [
            json!({"eror": {}}),
            json!({"json": {}, "raw": "x"}),
            json!({"match": {"operation": "chat"}}),
            json!({"match": {"operation": "invoke-with-bidirectional-stream"}}),
            json!({"match": {"operation": "count-tokens"}, "reply": {"text": "x"}}),
            json!({"events": [{"typo": 1}]}),
            json!({"error": {"message": "no type"}}),
            json!({"chunk_size": 0}),
            json!("string"),
        ] {
            assert!(parse_script(&bad).is_err(), "{bad}");
        }
    }
}
