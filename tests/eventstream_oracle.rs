#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Cross-checks our codec against AWS's own, `aws-smithy-eventstream` 0.60 (a dev-dependency
//! only): frames either side writes, the other decodes to the same message, byte for byte.

mod eventstream_support;

use aws_smithy_eventstream::frame::{
    DecodedFrame, MessageFrameDecoder, read_message_from, write_message_to,
};
use aws_smithy_types::DateTime;
use aws_smithy_types::event_stream::{
    Header as SmithyHeader, HeaderValue as SmithyValue, Message as SmithyMessage,
};
use bedrock_filter::eventstream::{Decoder, Header, HeaderValue, Message, encode_to_vec};
use eventstream_support::{Outcome, Rng, all_types_message, decode_chunked, raw_frame};

const GENERATED: usize = 600;

fn to_smithy(msg: &Message) -> SmithyMessage {
    let headers = msg
        .headers
        .iter()
        .map(|h| {
            let value = match &h.value {
                HeaderValue::Bool(v) => SmithyValue::Bool(*v),
                HeaderValue::Byte(v) => SmithyValue::Byte(*v),
                HeaderValue::Int16(v) => SmithyValue::Int16(*v),
                HeaderValue::Int32(v) => SmithyValue::Int32(*v),
                HeaderValue::Int64(v) => SmithyValue::Int64(*v),
                HeaderValue::ByteArray(v) => SmithyValue::ByteArray(v.clone().into()),
                HeaderValue::String(v) => SmithyValue::String(v.clone().into()),
                HeaderValue::Timestamp(v) => SmithyValue::Timestamp(DateTime::from_millis(*v)),
                HeaderValue::Uuid(v) => SmithyValue::Uuid(u128::from_be_bytes(*v)),
            };
            SmithyHeader::new(h.name.clone(), value)
        })
        .collect();
    SmithyMessage::new_from_parts(headers, msg.payload.clone())
}

fn from_smithy(msg: &SmithyMessage) -> Message {
    let headers = msg
        .headers()
        .iter()
        .map(|h| {
            let value = match h.value() {
                SmithyValue::Bool(v) => HeaderValue::Bool(*v),
                SmithyValue::Byte(v) => HeaderValue::Byte(*v),
                SmithyValue::Int16(v) => HeaderValue::Int16(*v),
                SmithyValue::Int32(v) => HeaderValue::Int32(*v),
                SmithyValue::Int64(v) => HeaderValue::Int64(*v),
                SmithyValue::ByteArray(v) => HeaderValue::ByteArray(v.to_vec()),
                SmithyValue::String(v) => HeaderValue::String(v.as_str().to_owned()),
                SmithyValue::Timestamp(v) => HeaderValue::Timestamp(v.to_millis().unwrap()),
                SmithyValue::Uuid(v) => HeaderValue::Uuid(v.to_be_bytes()),
                other => panic!("unknown smithy header value {other:?}"),
            };
            Header::new(h.name().as_str(), value)
        })
        .collect();
    Message {
        headers,
        payload: msg.payload().to_vec(),
    }
}

fn smithy_encode(msg: &SmithyMessage) -> Vec<u8> {
    let mut out = Vec::new();
    write_message_to(msg, &mut out).unwrap();
    out
}

fn ours_decode_one(bytes: &[u8]) -> Message {
    let Outcome { messages, end } = decode_chunked(bytes, bytes.len());
    end.unwrap();
    assert_eq!(messages.len(), 1);
    messages.into_iter().next().unwrap()
}

fn generated_messages() -> Vec<Message> {
    let mut rng = Rng::new(0x00E7_5EED);
    let mut messages = vec![
        all_types_message(vec![]),
        all_types_message(vec![1, 2, 3]),
        Message::default(),
        Message::new_event("contentBlockDelta", br#"{"delta":{"text":"hi"}}"#.to_vec()),
        Message::new_exception(
            "throttlingException",
            br#"{"message":"slow down"}"#.to_vec(),
        ),
    ];
    while messages.len() < GENERATED {
        messages.push(rng.message());
    }
    messages
}

#[test]
fn both_ways_on_generated_messages() {
    let messages = generated_messages();
    let mut types_seen = [false; 10];
    for (i, msg) in messages.iter().enumerate() {
        for h in &msg.headers {
            let code = match &h.value {
                HeaderValue::Bool(true) => 0,
                HeaderValue::Bool(false) => 1,
                HeaderValue::Byte(_) => 2,
                HeaderValue::Int16(_) => 3,
                HeaderValue::Int32(_) => 4,
                HeaderValue::Int64(_) => 5,
                HeaderValue::ByteArray(_) => 6,
                HeaderValue::String(_) => 7,
                HeaderValue::Timestamp(_) => 8,
                HeaderValue::Uuid(_) => 9,
            };
            types_seen[code] = true;
        }
        let ours = encode_to_vec(msg).unwrap();
        // Ours -> theirs.
        let theirs_decoded = read_message_from(ours.as_slice())
            .unwrap_or_else(|e| panic!("case {i}: smithy rejects our frame: {e}"));
        assert_eq!(
            from_smithy(&theirs_decoded),
            *msg,
            "case {i}: smithy decodes differently"
        );
        // Theirs -> ours, and the same bytes.
        let theirs = smithy_encode(&to_smithy(msg));
        assert_eq!(theirs, ours, "case {i}: frames differ");
        assert_eq!(
            ours_decode_one(&theirs),
            *msg,
            "case {i}: we decode smithy's frame differently"
        );
    }
    assert!(
        types_seen.iter().all(|&t| t),
        "not every header type generated: {types_seen:?}"
    );
    println!(
        "oracle: {} generated messages agree both ways, bytes identical",
        messages.len()
    );
}

/// The whole generated stream through both streaming decoders.
#[test]
fn streaming_decoders_agree() {
    let messages = generated_messages();
    let mut stream = Vec::new();
    for msg in &messages {
        write_message_to(&to_smithy(msg), &mut stream).unwrap();
    }
    for chunk in [1usize, 3, 64, 1000, 65_536, stream.len()] {
        // smithy: a growing buffer it consumes from the front.
        let mut smithy = MessageFrameDecoder::new();
        let mut theirs = Vec::new();
        let mut buffer = Vec::new();
        let mut consumed = 0;
        for piece in stream.chunks(chunk) {
            buffer.extend_from_slice(piece);
            let mut cursor: &[u8] = &buffer[consumed..];
            while let DecodedFrame::Complete(m) = smithy.decode_frame(&mut cursor).unwrap() {
                theirs.push(from_smithy(&m));
            }
            consumed = buffer.len() - cursor.len();
        }
        assert_eq!(consumed, buffer.len());
        let ours = decode_chunked(&stream, chunk);
        assert_eq!(ours.end, Ok(()));
        assert_eq!(ours.messages, theirs, "chunk {chunk}");
        assert_eq!(ours.messages, messages, "chunk {chunk}");
    }
    println!(
        "oracle: {} messages streamed through both decoders at 6 chunk sizes",
        messages.len()
    );
}

/// Valid CRCs over a damaged header block: both decoders accept or reject alike, and when
/// both accept, decode the same message.
#[test]
fn damaged_header_blocks_agree() {
    let mut rng = Rng::new(0xBAD_C0DE);
    let mut cases = 0;
    let mut rejected = 0;
    while cases < 2000 {
        let msg = rng.message();
        if msg.headers.is_empty() {
            continue;
        }
        let frame = encode_to_vec(&msg).unwrap();
        let headers_len = u32::from_be_bytes(frame[4..8].try_into().unwrap()) as usize;
        let mut block = frame[12..12 + headers_len].to_vec();
        let payload = &frame[12 + headers_len..frame.len() - 4];
        for _ in 0..=rng.below(2) {
            let at = rng.below(block.len());
            block[at] = match rng.below(3) {
                0 => rng.next_u64() as u8,
                1 => block[at] ^ (1 << rng.below(8)),
                _ => rng.below(12) as u8,
            };
        }
        let damaged = raw_frame(&block, payload);
        let theirs = read_message_from(damaged.as_slice()).map(|m| from_smithy(&m));
        let ours = decode_chunked(&damaged, damaged.len());
        match (&theirs, &ours.end) {
            (Ok(m), Ok(())) => assert_eq!(ours.messages, vec![m.clone()], "case {cases}"),
            (Err(_), Err(_)) => rejected += 1,
            _ => panic!("case {cases}: smithy {theirs:?}, ours {:?}", ours.end),
        }
        cases += 1;
    }
    println!(
        "oracle: {cases} damaged header blocks, {rejected} rejected by both, the rest decoded alike"
    );
}

/// Byte flips anywhere in a frame: the CRCs catch every one, in both decoders.
#[test]
fn flipped_bytes_are_rejected_by_both() {
    let mut rng = Rng::new(7);
    let mut cases = 0;
    for msg in generated_messages().iter().take(200) {
        let mut frame = encode_to_vec(msg).unwrap();
        let at = rng.below(frame.len());
        frame[at] ^= 1 << rng.below(8);
        assert!(
            read_message_from(frame.as_slice()).is_err(),
            "smithy accepted a flip at {at}"
        );
        let mut decoder = Decoder::new();
        decoder.feed(&frame);
        let ours = decoder
            .next_message()
            .and_then(|m| decoder.finish().map(|()| m));
        assert!(ours.is_err(), "we accepted a flip at {at}");
        cases += 1;
    }
    println!("oracle: {cases} single-bit flips rejected by both");
}
