//! Baselines for `make bench`: what any proxy-wasm filter costs in Envoy before it does work,
//! and what the straightforward way of doing the work costs.
//!
//! The plugin configuration picks the mode:
//! - `noop`: every callback answers Continue (the price of having a Wasm filter at all);
//! - `rewrite`: the shape of a translating filter without the translation: pause the request
//!   headers, buffer the body, set three headers and write the body back, then buffer the
//!   response body and write it back with a new content-length;
//! - `naive`: `rewrite` with the request's work done the way a quick Rust filter would: parse
//!   the OpenAI body into a `serde_json::Value`, build the Converse body as a `Value`, serialise
//!   it, SigV4-sign it with `sha2` + `hmac` (signing key derived per request, hex by `format!`),
//!   set path and headers and the new body. The answer is handled as in `rewrite` (the bench's
//!   upstream answers this mode in OpenAI's format already), so against `rewrite` it shows the
//!   request side's fixed and per-byte cost of a naive translator and signer;
//! - `scan`: `rewrite` after checking the body is JSON the cheapest way serde_json can (a
//!   `RawValue` of the whole body: one pass over every string for escapes and control
//!   characters, one UTF-8 check), which any translator that refuses bad input does at least;
//! - `hash`: `scan` plus the body's SHA-256 with `sha2`, hex in the `authorization` header
//!   (no extra host call), which SigV4 in wasm does at least. Against `rewrite`, these two show
//!   the least a translating and signing filter can cost per byte in this Envoy.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, MapType};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { mode: Mode::Noop }) });
}}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Noop,
    Rewrite,
    Naive,
    Scan,
    Hash,
}

struct Root {
    mode: Mode,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let has = |word: &[u8]| config.windows(word.len()).any(|w| w == word);
        self.mode = if has(b"naive") {
            Mode::Naive
        } else if has(b"hash") {
            Mode::Hash
        } else if has(b"scan") {
            Mode::Scan
        } else if has(b"rewrite") {
            Mode::Rewrite
        } else {
            Mode::Noop
        };
        true
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            mode: self.mode,
            stream: false,
            converse_bytes: 0,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    mode: Mode,
    stream: bool,
    /// `naive`: the size of the Converse body it built, reported on the answer so the bench
    /// can check the work was done.
    converse_bytes: usize,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        if self.mode == Mode::Noop || end_of_stream {
            return Action::Continue;
        }
        let headers = hostcalls::get_map(MapType::HttpRequestHeaders).unwrap_or_default();
        self.stream = headers.iter().any(|(n, _)| n == "x-bench-stream");
        Action::Pause
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if self.mode == Mode::Noop {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default();
        if self.mode == Mode::Naive {
            return self.naive_request(size, &body);
        }
        let mut authorization = String::from("AWS4-HMAC-SHA256 x");
        if matches!(self.mode, Mode::Scan | Mode::Hash) {
            if let Err(e) = serde_json::from_slice::<&RawValue>(&body) {
                let _ = hostcalls::send_http_response(400, vec![], Some(e.to_string().as_bytes()));
                return Action::Pause;
            }
        }
        if self.mode == Mode::Hash {
            authorization.push_str(&hex(&Sha256::digest(&body)));
        }
        let _ = hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            ":path",
            Some("/v1/chat/completions"),
        );
        let _ = hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            "x-amz-date",
            Some("20261130T000000Z"),
        );
        let _ = hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            "authorization",
            Some(&authorization),
        );
        let _ = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, &body);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        if self.mode == Mode::Noop {
            return Action::Continue;
        }
        if self.mode == Mode::Naive {
            let n = self.converse_bytes.to_string();
            let _ = hostcalls::set_map_value(
                MapType::HttpResponseHeaders,
                "x-floor-naive-bytes",
                Some(&n),
            );
        }
        if end_of_stream || self.stream {
            return Action::Continue;
        }
        Action::Pause
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if self.mode == Mode::Noop {
            return Action::Continue;
        }
        if self.stream {
            // Each chunk read and written back, as a stream translator does.
            let chunk = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)
                .ok()
                .flatten()
                .unwrap_or_default();
            let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, &chunk);
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let len = body.len().to_string();
        let _ =
            hostcalls::set_map_value(MapType::HttpResponseHeaders, "content-length", Some(&len));
        let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, &body);
        Action::Continue
    }
}

impl Stream {
    fn naive_request(&mut self, size: usize, body: &[u8]) -> Action {
        let converse = match to_converse(body) {
            Ok(c) => c,
            Err(e) => {
                let _ = hostcalls::send_http_response(400, vec![], Some(e.as_bytes()));
                return Action::Pause;
            }
        };
        let host = hostcalls::get_map_value(MapType::HttpRequestHeaders, ":authority")
            .ok()
            .flatten()
            .unwrap_or_default();
        let now = hostcalls::get_current_time().unwrap_or(UNIX_EPOCH);
        let (amz_date, authorization) = sign(&converse.path, &host, &converse.body, now);
        // The signed path is Bedrock's (/model/{id}/converse); the bench's upstream answers
        // this mode at the OpenAI path, as for `rewrite`. Same host call either way.
        let _ = hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            ":path",
            Some("/v1/chat/completions"),
        );
        let len = converse.body.len().to_string();
        for (name, value) in [
            ("content-type", "application/json"),
            ("content-length", len.as_str()),
            ("x-amz-date", amz_date.as_str()),
            ("authorization", authorization.as_str()),
        ] {
            let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
        }
        let _ = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, &converse.body);
        self.converse_bytes = converse.body.len();
        Action::Continue
    }
}

struct Converse {
    path: String,
    body: Vec<u8>,
}

/// OpenAI chat request → Converse request, through `Value` trees.
fn to_converse(body: &[u8]) -> Result<Converse, String> {
    let req: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let model = req["model"].as_str().ok_or("no model")?;
    let stream = req["stream"].as_bool().unwrap_or(false);
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for m in req["messages"].as_array().ok_or("no messages")? {
        let text = text_of(&m["content"]);
        match m["role"].as_str().unwrap_or("") {
            "system" | "developer" => system.push(json!({ "text": text })),
            "tool" => push(
                &mut messages,
                "user",
                json!({"toolResult": {"toolUseId": m["tool_call_id"],
                                      "content": [{"text": text}]}}),
            ),
            "assistant" => {
                if !text.is_empty() {
                    push(&mut messages, "assistant", json!({ "text": text }));
                }
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let f = &call["function"];
                    let input: Value =
                        serde_json::from_str(f["arguments"].as_str().unwrap_or("{}"))
                            .map_err(|e| e.to_string())?;
                    push(
                        &mut messages,
                        "assistant",
                        json!({"toolUse": {"toolUseId": call["id"], "name": f["name"],
                                           "input": input}}),
                    );
                }
            }
            _ => push(&mut messages, "user", json!({ "text": text })),
        }
    }
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    for (from, to) in [
        ("max_tokens", "maxTokens"),
        ("temperature", "temperature"),
        ("top_p", "topP"),
    ] {
        if !req[from].is_null() {
            inference.insert(to.into(), req[from].clone());
        }
    }
    out.insert("inferenceConfig".into(), Value::Object(inference));
    if let Some(tools) = req["tools"].as_array() {
        let specs: Vec<Value> = tools
            .iter()
            .map(|t| {
                let f = &t["function"];
                json!({"toolSpec": {"name": f["name"], "description": f["description"],
                                    "inputSchema": {"json": f["parameters"]}}})
            })
            .collect();
        out.insert("toolConfig".into(), json!({ "tools": specs }));
    }
    let op = if stream {
        "converse-stream"
    } else {
        "converse"
    };
    Ok(Converse {
        path: format!("/model/{}/{op}", uri_encode(model, false)),
        body: serde_json::to_vec(&Value::Object(out)).map_err(|e| e.to_string())?,
    })
}

/// Appends a content block, to the last message when it has the same role (Converse wants
/// the roles to alternate).
fn push(messages: &mut Vec<Value>, role: &str, block: Value) {
    if let Some(last) = messages.last_mut()
        && last["role"] == role
        && let Some(content) = last["content"].as_array_mut()
    {
        content.push(block);
        return;
    }
    messages.push(json!({"role": role, "content": [block]}));
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

// Dummy keys: the bench's upstream checks no signature.
const ACCESS_KEY: &str = "AKIDBENCHEXAMPLE";
const SECRET_KEY: &str = "bench/secret+KEY";
const REGION: &str = "us-east-1";

/// SigV4 for `POST path` with `content-type`, `host` and `x-amz-date` signed: returns the date
/// and the authorization header.
fn sign(path: &str, host: &str, body: &[u8], now: SystemTime) -> (String, String) {
    let amz_date = amz_date(now);
    let date = &amz_date[..8];
    let canonical_headers =
        format!("content-type:application/json\nhost:{host}\nx-amz-date:{amz_date}\n");
    let signed_headers = "content-type;host;x-amz-date";
    let canonical_request = format!(
        "POST\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        uri_encode(path, true),
        hex(&Sha256::digest(body))
    );
    let scope = format!("{date}/{REGION}/bedrock/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), date.as_bytes());
    for part in [REGION, "bedrock", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={signed_headers}, \
         Signature={signature}"
    );
    (amz_date, authorization)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986 percent-encoding of everything but unreserved characters (and `/` if asked).
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` of a time (days to civil date after Howard Hinnant's algorithm).
fn amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        let at = |s| amz_date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "19700101T000000Z");
        assert_eq!(at(1_700_000_000), "20231114T221320Z");
        assert_eq!(at(951_782_400), "20000229T000000Z");
    }

    #[test]
    fn tool_loop() {
        let body = br#"{"model":"a:b","stream":true,"max_tokens":5,"messages":[
            {"role":"system","content":"s"},{"role":"user","content":"u"},
            {"role":"assistant","content":null,"tool_calls":[
              {"id":"c1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},
              {"id":"c2","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"r1"},
            {"role":"tool","tool_call_id":"c2","content":"r2"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#;
        let c = to_converse(body).unwrap();
        assert_eq!(c.path, "/model/a%3Ab/converse-stream");
        let v: Value = serde_json::from_slice(&c.body).unwrap();
        assert_eq!(v["messages"].as_array().unwrap().len(), 3);
        assert_eq!(v["messages"][1]["content"][0]["toolUse"]["input"]["x"], 1);
        assert_eq!(
            v["messages"][2]["content"][1]["toolResult"]["toolUseId"],
            "c2"
        );
        assert_eq!(v["inferenceConfig"]["maxTokens"], 5);
        let (_, auth) = sign(&c.path, "h", &c.body, UNIX_EPOCH);
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDBENCHEXAMPLE/19700101/"));
    }
}
