//! Event-stream frames, and response bodies sent under transport options (chunking,
//! delays, truncation, connection reset).

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bedrock_filter::eventstream::{Header, HeaderValue, Message, encode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::util::padding;

/// One item of an event-stream response.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// `:message-type=event`, `:event-type`, JSON payload.
    Event { event_type: String, payload: Value },
    /// `:message-type=exception`, `:exception-type`, JSON payload.
    Exception {
        exception_type: String,
        payload: Value,
    },
    /// `:message-type=error`, `:error-code`, `:error-message`, empty payload.
    ErrorFrame { code: String, message: String },
    /// Bytes sent as they are.
    Raw(Vec<u8>),
}

impl StreamItem {
    pub fn event(event_type: &str, payload: Value) -> StreamItem {
        StreamItem::Event {
            event_type: event_type.to_owned(),
            payload,
        }
    }
}

/// The payload JSON; with `pad`, an object gets a last `"p"` member as on the wire of the
/// real service.
fn with_padding(payload: &Value, pad: bool) -> Vec<u8> {
    let text = payload.to_string();
    match payload {
        Value::Object(map) if pad => {
            let p = Value::String(padding()).to_string();
            let inner = text
                .strip_prefix('{')
                .and_then(|t| t.strip_suffix('}'))
                .unwrap_or("");
            if map.is_empty() {
                format!("{{\"p\":{p}}}").into_bytes()
            } else {
                format!("{{{inner},\"p\":{p}}}").into_bytes()
            }
        }
        _ => text.into_bytes(),
    }
}

/// Encodes the items as frames, one byte vector per item. With `pad`, JSON object
/// payloads get the random `"p"` field real Bedrock adds. `corrupt_crc_at` flips a bit
/// in that item's message CRC (its last byte).
pub fn encode_items(
    items: &[StreamItem],
    pad: bool,
    corrupt_crc_at: Option<usize>,
) -> Result<Vec<Vec<u8>>, String> {
    let mut frames = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let msg = match item {
            StreamItem::Event {
                event_type,
                payload,
            } => Message::new_event(event_type, with_padding(payload, pad)),
            StreamItem::Exception {
                exception_type,
                payload,
            } => Message::new_exception(exception_type, with_padding(payload, pad)),
            StreamItem::ErrorFrame { code, message } => {
                let s = |v: &str| HeaderValue::String(v.to_owned());
                Message {
                    headers: vec![
                        Header::new(":error-code", s(code)),
                        Header::new(":error-message", s(message)),
                        Header::new(":message-type", s("error")),
                    ],
                    payload: Vec::new(),
                }
            }
            StreamItem::Raw(bytes) => {
                frames.push(bytes.clone());
                continue;
            }
        };
        let mut out = Vec::new();
        encode(&msg, &mut out).map_err(|e| format!("event {i}: {e}"))?;
        if corrupt_crc_at == Some(i)
            && let Some(last) = out.last_mut()
        {
            *last ^= 0x01;
        }
        frames.push(out);
    }
    Ok(frames)
}

/// How the body bytes travel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// Re-split the body into HTTP chunks of this many bytes.
    pub chunk_size: Option<usize>,
    /// Pause between chunks.
    pub delay_ms: u64,
    /// Send this many bytes, then end the response normally.
    pub truncate_after_bytes: Option<usize>,
    /// Send this many bytes, then reset the connection.
    pub reset_after_bytes: Option<usize>,
}

impl Transport {
    pub fn is_plain(&self) -> bool {
        *self == Transport::default()
    }

    /// Merges scripted options over these.
    pub fn overlay(&mut self, other: &Transport) {
        if other.chunk_size.is_some() {
            self.chunk_size = other.chunk_size;
        }
        if other.delay_ms > 0 {
            self.delay_ms = other.delay_ms;
        }
        if other.truncate_after_bytes.is_some() {
            self.truncate_after_bytes = other.truncate_after_bytes;
        }
        if other.reset_after_bytes.is_some() {
            self.reset_after_bytes = other.reset_after_bytes;
        }
    }
}

pub type RespBody = BoxBody<Bytes, io::Error>;

pub fn full_body(bytes: impl Into<Bytes>) -> RespBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A body fed from a channel, one HTTP chunk per message.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx)
    }
}

/// Per-connection handle that can reset the TCP connection (zero linger, then close).
#[derive(Default)]
pub struct ConnControl {
    dup: Mutex<Option<std::net::TcpStream>>,
}

impl ConnControl {
    pub fn new(dup: Option<std::net::TcpStream>) -> ConnControl {
        ConnControl {
            dup: Mutex::new(dup),
        }
    }

    /// Sets SO_LINGER to zero on the socket, so that its last close sends a RST.
    fn arm_reset(&self) {
        let dup = self.dup.lock().ok().and_then(|mut g| g.take());
        if let Some(std) = dup {
            match tokio::net::TcpStream::from_std(std) {
                Ok(s) => {
                    if let Err(e) = s.set_zero_linger() {
                        eprintln!("bedrock-sim: cannot set SO_LINGER for a reset: {e}");
                    }
                }
                Err(e) => eprintln!("bedrock-sim: cannot prepare a reset: {e}"),
            }
        }
    }
}

/// The body for `segments` (frames, or one blob) under `transport`. Without transport
/// options and with a single segment, a plain fixed-length body; otherwise chunked, each
/// segment (or `chunk_size` piece) its own HTTP chunk.
pub fn make_body(
    segments: Vec<Vec<u8>>,
    transport: &Transport,
    conn: Arc<ConnControl>,
) -> RespBody {
    if transport.is_plain() && segments.len() <= 1 {
        return full_body(segments.into_iter().next().unwrap_or_default());
    }
    let pieces: Vec<Vec<u8>> = match transport.chunk_size {
        Some(n) if n > 0 => segments.concat().chunks(n).map(<[u8]>::to_vec).collect(),
        _ => segments,
    };
    let (tx, rx) = mpsc::channel(1);
    let t = transport.clone();
    tokio::spawn(async move {
        let limit = match (t.truncate_after_bytes, t.reset_after_bytes) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let resets = t.reset_after_bytes.is_some() && limit == t.reset_after_bytes;
        let mut sent = 0usize;
        for (i, mut piece) in pieces.into_iter().enumerate() {
            if i > 0 && t.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(t.delay_ms)).await;
            }
            let mut stop = false;
            if let Some(l) = limit
                && sent + piece.len() >= l
            {
                piece.truncate(l - sent);
                stop = true;
            }
            sent += piece.len();
            if !piece.is_empty() && tx.send(Ok(Frame::data(Bytes::from(piece)))).await.is_err() {
                return;
            }
            if stop {
                break;
            }
        }
        if resets && limit.is_some_and(|l| sent >= l) {
            // Let the peer read what was sent before the RST discards it.
            tokio::time::sleep(Duration::from_millis(100)).await;
            conn.arm_reset();
            let _ = tx
                .send(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "scripted reset_after_bytes",
                )))
                .await;
        }
    });
    ChannelBody { rx }.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_filter::eventstream::Decoder;
    use serde_json::json;

    #[test]
    fn frames_decode_with_padding() {
        let items = vec![
            StreamItem::event("messageStart", json!({"role": "assistant"})),
            StreamItem::Exception {
                exception_type: "throttlingException".into(),
                payload: json!({"message": "slow down"}),
            },
            StreamItem::ErrorFrame {
                code: "InternalFailure".into(),
                message: "boom".into(),
            },
        ];
        let frames = encode_items(&items, true, None).unwrap();
        let mut dec = Decoder::new();
        dec.feed(&frames.concat());
        let m = dec.next_message().unwrap().unwrap();
        assert_eq!(m.header_str(":event-type"), Some("messageStart"));
        let p: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(p["role"], "assistant");
        assert!(
            std::str::from_utf8(&m.payload)
                .unwrap()
                .starts_with(r#"{"role":"assistant","p":""#)
        );
        let pad = p["p"].as_str().unwrap();
        assert!(!pad.is_empty() && pad.chars().all(|c| c.is_ascii_alphanumeric()));
        let m = dec.next_message().unwrap().unwrap();
        assert_eq!(m.header_str(":exception-type"), Some("throttlingException"));
        let m = dec.next_message().unwrap().unwrap();
        assert_eq!(m.header_str(":message-type"), Some("error"));
        assert_eq!(m.header_str(":error-code"), Some("InternalFailure"));
        assert!(m.payload.is_empty());
    }

    #[test]
    fn corrupt_crc_is_detected() {
        let items = vec![
            StreamItem::event("a", json!({})),
            StreamItem::event("b", json!({})),
        ];
        let frames = encode_items(&items, false, Some(1)).unwrap();
        let mut dec = Decoder::new();
        dec.feed(&frames.concat());
        assert!(dec.next_message().unwrap().is_some());
        assert!(dec.next_message().is_err());
    }
}
