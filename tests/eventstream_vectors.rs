#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The event-stream codec against the published vectors (smithy-rs, smithy-typescript),
//! chunk-size and truncation sweeps, and encode/decode round trips.

mod eventstream_support;

use std::collections::BTreeMap;
use std::path::Path;

use bedrock_filter::eventstream::{
    DEFAULT_MAX_FRAME_LEN, DecodeError, Decoder, EncodeError, Header, HeaderValue, Message, crc32,
    encode, encode_to_vec,
};
use eventstream_support::{
    Outcome, all_types_message, decode_chunked, decode_with, raw_frame, repair_crcs, vectors_dir,
};
use serde_json::Value;

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Names of the vector files in `dir` (the LICENSE is not a vector).
fn listed(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "LICENSE")
        .collect();
    names.sort();
    names
}

fn h(name: &str, value: HeaderValue) -> Header {
    Header::new(name, value)
}

fn decode_one(bytes: &[u8]) -> Outcome {
    decode_chunked(bytes, bytes.len())
}

/// Decodes a vector whole and one byte at a time; both must agree.
fn decode_vector(name: &str, bytes: &[u8]) -> Outcome {
    let whole = decode_one(bytes);
    assert_eq!(
        decode_chunked(bytes, 1),
        whole,
        "{name}: byte-at-a-time differs"
    );
    whole
}

fn smithy_rs_all_headers() -> Message {
    Message {
        headers: vec![
            h("true", HeaderValue::Bool(true)),
            h("false", HeaderValue::Bool(false)),
            h("byte", HeaderValue::Byte(50)),
            h("short", HeaderValue::Int16(20_000)),
            h("int", HeaderValue::Int32(500_000)),
            h("long", HeaderValue::Int64(50_000_000_000)),
            h("bytes", HeaderValue::ByteArray(b"some bytes".to_vec())),
            h("str", HeaderValue::String("some str".to_owned())),
            h("time", HeaderValue::Timestamp(5_000_000 * 1000)),
            h(
                "uuid",
                HeaderValue::Uuid(
                    hex::decode("b79bc914de214e13b8b2bc47e85b7f0b")
                        .unwrap()
                        .try_into()
                        .unwrap(),
                ),
            ),
        ],
        payload: b"some payload".to_vec(),
    }
}

#[test]
fn smithy_rs_vectors() {
    let dir = vectors_dir().join("smithy-rs");
    let valid: BTreeMap<&str, Message> = [
        (
            "valid_with_all_headers_and_payload",
            smithy_rs_all_headers(),
        ),
        (
            "valid_empty_payload",
            Message {
                headers: vec![h("some-header", HeaderValue::Int16(500))],
                payload: vec![],
            },
        ),
        (
            "valid_no_headers",
            Message {
                headers: vec![],
                payload: b"another test payload".to_vec(),
            },
        ),
    ]
    .into();
    let mut ran = (0, 0);
    for name in listed(&dir) {
        let bytes = read(&dir, &name);
        let outcome = decode_vector(&name, &bytes);
        if let Some(expected) = valid.get(name.as_str()) {
            assert_eq!(outcome.end, Ok(()), "{name}");
            assert_eq!(outcome.messages, vec![expected.clone()], "{name}");
            assert_eq!(
                encode_to_vec(expected).unwrap(),
                bytes,
                "{name}: re-encoding differs"
            );
            ran.0 += 1;
        } else {
            assert!(
                outcome.messages.is_empty(),
                "{name}: decoded {:?}",
                outcome.messages
            );
            check_smithy_rs_invalid(&name, &bytes, outcome.end);
            ran.1 += 1;
        }
    }
    println!(
        "smithy-rs vectors: {} valid, {} invalid passed",
        ran.0, ran.1
    );
    assert_eq!(
        ran,
        (3, 8),
        "expected 3 valid and 8 invalid smithy-rs vectors"
    );
}

/// The expected errors. We check the message CRC before parsing headers (as botocore and
/// aws-c-event-stream do), so the header-mutated files with a stale CRC fail on the CRC.
/// With the CRCs repaired they must fail on the header, as smithy-rs reports.
fn check_smithy_rs_invalid(name: &str, bytes: &[u8], got: Result<(), DecodeError>) {
    let got = got.expect_err(name);
    let stale_message_crc = |got: &DecodeError| {
        let total = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        let expected = u32::from_be_bytes(bytes[total - 4..total].try_into().unwrap());
        let computed = crc32(&bytes[..total - 4]);
        assert_ne!(expected, computed, "{name}: CRC is not stale");
        assert_eq!(
            *got,
            DecodeError::MessageChecksumMismatch { expected, computed },
            "{name}"
        );
    };
    let repaired = |expected: DecodeError| {
        let mut fixed = bytes.to_vec();
        repair_crcs(&mut fixed);
        let outcome = decode_vector(name, &fixed);
        assert!(outcome.messages.is_empty(), "{name} (repaired)");
        assert_eq!(outcome.end, Err(expected), "{name} (repaired)");
    };
    match name {
        "invalid_prelude_checksum" => assert_eq!(
            got,
            DecodeError::PreludeChecksumMismatch {
                expected: 0xDEAD_BEEF,
                computed: 0x8BB4_95FB
            }
        ),
        "invalid_message_checksum" => assert_eq!(
            got,
            DecodeError::MessageChecksumMismatch {
                expected: 0xDEAD_BEEF,
                computed: 0x01A0_5860
            }
        ),
        // Prelude CRC valid, headers_len 77 > total_len 89 - 16.
        "invalid_headers_length" => assert_eq!(got, DecodeError::InvalidHeadersLength(77)),
        "invalid_header_value_type" => {
            stale_message_crc(&got);
            repaired(DecodeError::InvalidHeaderValueType(0x60));
        }
        "invalid_header_name_length" => {
            stale_message_crc(&got);
            repaired(DecodeError::InvalidHeaderNameLength);
        }
        "invalid_header_string_value_length" | "invalid_header_string_length_cut_off" => {
            stale_message_crc(&got);
            repaired(DecodeError::InvalidHeaderValue);
        }
        // smithy-rs reports InvalidUtf8String: it reads the 102-byte name past the end of the
        // 93-byte frame into the 30 bytes that follow it. We stop at the header block.
        "invalid_header_name_length_too_long" => {
            stale_message_crc(&got);
            repaired(DecodeError::InvalidHeaderNameLength);
        }
        other => panic!("unexpected vector file {other}"),
    }
}

fn typescript_json() -> serde_json::Map<String, Value> {
    let text =
        std::fs::read_to_string(vectors_dir().join("smithy-typescript-vectors.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(map) => map,
        other => panic!("vectors json is not an object: {other}"),
    }
}

/// Expected error for each smithy-typescript negative vector (see the notes in the json).
fn typescript_failure(name: &str, bytes: &[u8], got: &DecodeError) {
    let ok = match name {
        "corrupted_headers" | "corrupted_payload" => {
            matches!(got, DecodeError::MessageChecksumMismatch { expected, computed }
                if *expected == u32::from_be_bytes(bytes[bytes.len() - 4..].try_into().unwrap())
                && *computed == crc32(&bytes[..bytes.len() - 4]))
        }
        "corrupted_header_len" | "corrupted_length" => {
            matches!(got, DecodeError::PreludeChecksumMismatch { expected, computed }
                if *expected == 0x07FD_8396 && *computed == crc32(&bytes[..8]))
        }
        other => panic!("unexpected failure vector {other}"),
    };
    assert!(ok, "{name}: got {got:?}");
}

/// One decoded header against its json form `[name, type, value]`.
fn assert_header_matches(vector: &str, got: &Header, want: &Value) {
    let want = want.as_array().unwrap();
    let (name, kind, value) = (
        want[0].as_str().unwrap(),
        want[1].as_str().unwrap(),
        &want[2],
    );
    assert_eq!(got.name, name, "{vector}: header name");
    let ok = match (&got.value, kind) {
        (HeaderValue::Bool(v), "bool") => value.as_bool() == Some(*v),
        (HeaderValue::Byte(v), "byte") => value.as_i64() == Some(i64::from(*v)),
        (HeaderValue::Int16(v), "short") => value.as_i64() == Some(i64::from(*v)),
        (HeaderValue::Int32(v), "integer") => value.as_i64() == Some(i64::from(*v)),
        (HeaderValue::Int64(v), "long") => value.as_i64() == Some(*v),
        (HeaderValue::ByteArray(v), "byte_array") => value.as_str() == Some(&hex::encode(v)),
        (HeaderValue::String(v), "string") => value.as_str() == Some(v.as_str()),
        (HeaderValue::Timestamp(v), "timestamp") => value.as_i64() == Some(*v),
        (HeaderValue::Uuid(v), "uuid") => {
            value.as_str().map(|s| s.replace('-', "")) == Some(hex::encode(v))
        }
        _ => false,
    };
    assert!(
        ok,
        "{vector}: header {name}: got {:?}, want {kind} {value}",
        got.value
    );
}

#[test]
fn smithy_typescript_json_vectors() {
    let mut ran = (0, 0);
    for (name, vector) in typescript_json() {
        let bytes = hex::decode(vector["encoded_hex"].as_str().unwrap()).unwrap();
        let outcome = decode_vector(&name, &bytes);
        match vector["expectation"].as_str().unwrap() {
            "success" => {
                assert_eq!(outcome.end, Ok(()), "{name}");
                let [message] = outcome.messages.as_slice() else {
                    panic!("{name}: {} messages", outcome.messages.len());
                };
                let decoded = &vector["decoded"];
                assert_eq!(
                    hex::encode(&message.payload),
                    decoded["payload_hex"].as_str().unwrap()
                );
                let want = decoded["headers"].as_array().unwrap();
                assert_eq!(message.headers.len(), want.len(), "{name}: header count");
                for (got, want) in message.headers.iter().zip(want) {
                    assert_header_matches(&name, got, want);
                }
                assert_eq!(
                    encode_to_vec(message).unwrap(),
                    bytes,
                    "{name}: re-encoding differs"
                );
                ran.0 += 1;
            }
            "failure" => {
                assert!(outcome.messages.is_empty(), "{name}");
                typescript_failure(&name, &bytes, &outcome.end.expect_err(&name));
                ran.1 += 1;
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
    println!(
        "smithy-typescript json vectors: {} success, {} failure passed",
        ran.0, ran.1
    );
    assert_eq!(ran, (5, 4));
}

#[test]
fn smithy_typescript_binary_vectors() {
    let dir = vectors_dir().join("smithy-typescript");
    let json = typescript_json();
    let mut ran = 0;
    for name in listed(&dir) {
        let bytes = read(&dir, &name);
        let vector = json
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is not in the json"));
        // The binaries are the json's bytes; decode them on their own all the same.
        assert_eq!(
            hex::encode(&bytes),
            vector["encoded_hex"].as_str().unwrap(),
            "{name}"
        );
        let outcome = decode_vector(&name, &bytes);
        if vector["expectation"] == "success" {
            assert_eq!(outcome.end, Ok(()), "{name}");
            assert_eq!(outcome.messages.len(), 1, "{name}");
            assert_eq!(
                encode_to_vec(&outcome.messages[0]).unwrap(),
                bytes,
                "{name}"
            );
        } else {
            typescript_failure(&name, &bytes, &outcome.end.expect_err(&name));
        }
        ran += 1;
    }
    println!("smithy-typescript binary vectors: {ran} passed");
    assert_eq!(ran, 9);
}

/// All valid vectors back to back.
fn valid_vector_stream() -> Vec<u8> {
    let dir = vectors_dir();
    let mut stream = Vec::new();
    for name in [
        "valid_with_all_headers_and_payload",
        "valid_empty_payload",
        "valid_no_headers",
    ] {
        stream.extend(read(&dir.join("smithy-rs"), name));
    }
    for name in [
        "all_headers",
        "empty_message",
        "int32_header",
        "payload_no_headers",
        "payload_one_str_header",
    ] {
        stream.extend(read(&dir.join("smithy-typescript"), name));
    }
    stream
}

/// A generated stream: events, exceptions, every header type, empty and odd-sized payloads.
fn generated_stream() -> (Vec<Message>, Vec<u8>) {
    let mut messages = Vec::new();
    for i in 0..36usize {
        let payload: Vec<u8> = (0..i * 11).map(|b| (b * 31 + i) as u8).collect();
        messages.push(match i % 3 {
            0 => Message::new_event("contentBlockDelta", payload),
            1 => all_types_message(payload),
            _ => Message::new_exception("throttlingException", payload),
        });
    }
    let mut bytes = Vec::new();
    for m in &messages {
        encode(m, &mut bytes).unwrap();
    }
    (messages, bytes)
}

/// Frame boundaries of a valid stream (0, end of frame 1, ...).
fn boundaries(stream: &[u8]) -> Vec<usize> {
    let mut at = vec![0];
    let mut pos = 0;
    while pos < stream.len() {
        pos += u32::from_be_bytes(stream[pos..pos + 4].try_into().unwrap()) as usize;
        at.push(pos);
    }
    assert_eq!(pos, stream.len());
    at
}

fn sweep_chunk_sizes(label: &str, stream: &[u8], expected: &Outcome) -> usize {
    for chunk in 1..=stream.len() {
        let got = decode_chunked(stream, chunk);
        assert!(&got == expected, "{label}: chunk size {chunk} differs");
    }
    stream.len()
}

#[test]
fn every_chunk_size_gives_the_same_messages() {
    let vectors = valid_vector_stream();
    let reference = decode_one(&vectors);
    assert_eq!(reference.end, Ok(()));
    assert_eq!(reference.messages.len(), 8);
    let mut cases = sweep_chunk_sizes("valid vectors", &vectors, &reference);

    let (messages, generated) = generated_stream();
    let reference = Outcome {
        messages,
        end: Ok(()),
    };
    cases += sweep_chunk_sizes("generated", &generated, &reference);

    // A corrupt frame in the middle: the frames before it, then the error, at every size.
    let mut corrupt = vectors.clone();
    let cut = boundaries(&vectors)[3];
    corrupt[cut + 14] ^= 0x01;
    let reference = decode_one(&corrupt);
    assert_eq!(reference.messages.len(), 3);
    assert!(matches!(
        reference.end,
        Err(DecodeError::MessageChecksumMismatch { .. })
    ));
    cases += sweep_chunk_sizes("corrupt in the middle", &corrupt, &reference);

    // Uneven piece sizes, too.
    let mut sizes = [1usize, 7, 2, 300, 12, 13, 1, 4096].iter().cycle();
    let mut pieces = Vec::new();
    let mut rest = generated.as_slice();
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at((*sizes.next().unwrap()).min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    assert_eq!(decode_with(Decoder::new(), pieces), decode_one(&generated));
    println!("chunk-size sweep: {cases} chunk sizes over 3 streams");
}

#[test]
fn truncation_at_every_offset() {
    let mut cases = 0;
    for stream in [valid_vector_stream(), generated_stream().1] {
        let all = decode_one(&stream).messages;
        let bounds = boundaries(&stream);
        for len in 0..=stream.len() {
            let complete = bounds.iter().filter(|&&b| b > 0 && b <= len).count();
            let last = bounds[complete];
            let expected = Outcome {
                messages: all[..complete].to_vec(),
                end: if len == last {
                    Ok(())
                } else {
                    Err(DecodeError::Truncated {
                        buffered: len - last,
                    })
                },
            };
            assert_eq!(decode_one(&stream[..len]), expected, "prefix {len}");
            if len % 97 == 0 {
                assert_eq!(
                    decode_chunked(&stream[..len], 5),
                    expected,
                    "prefix {len} by 5"
                );
            }
            cases += 1;
        }
    }
    println!("truncation sweep: {cases} prefixes");
}

#[test]
fn round_trips() {
    let mut cases = vec![
        all_types_message(vec![]),
        all_types_message(b"x".to_vec()),
        all_types_message((0..1_000_000u32).map(|i| (i % 251) as u8).collect()),
        Message::default(),
        Message::new_event("messageStop", br#"{"stopReason":"end_turn"}"#.to_vec()),
        Message::new_exception("validationException", br#"{"message":"bad"}"#.to_vec()),
        Message {
            headers: vec![
                h("", HeaderValue::String(String::new())),
                h(&"n".repeat(255), HeaderValue::ByteArray(vec![0xAB; 65_535])),
                h("extremes", HeaderValue::Int64(i64::MIN)),
                h("ts", HeaderValue::Timestamp(i64::MAX)),
            ],
            payload: vec![],
        },
    ];
    // The largest frame the default limits allow, exactly.
    let mut largest = Message::new_event("chunk", vec![]);
    let overhead = encode_to_vec(&largest).unwrap().len();
    largest.payload = vec![7; DEFAULT_MAX_FRAME_LEN as usize - overhead];
    cases.push(largest.clone());

    for msg in &cases {
        let bytes = encode_to_vec(msg).unwrap();
        let outcome = decode_one(&bytes);
        assert_eq!(outcome.end, Ok(()));
        assert_eq!(outcome.messages, vec![msg.clone()]);
        // The borrowed view agrees with the owned one.
        let mut decoder = Decoder::new();
        decoder.feed(&bytes);
        let frame = decoder.next_frame().unwrap().unwrap();
        assert_eq!(frame.header_count(), msg.headers.len());
        assert_eq!(frame.payload(), msg.payload.as_slice());
        for header in &msg.headers {
            assert!(frame.header(&header.name).is_some());
        }
        assert_eq!(frame.to_message(), *msg);
    }

    // One byte over: the encoder refuses and leaves the buffer alone; a hand-made frame of
    // that size is refused by the decoder from its prelude alone.
    largest.payload.push(7);
    let mut out = b"keep".to_vec();
    let err = encode(&largest, &mut out).unwrap_err();
    assert_eq!(
        err,
        EncodeError::FrameTooLarge {
            len: DEFAULT_MAX_FRAME_LEN as usize + 1,
            max: DEFAULT_MAX_FRAME_LEN
        }
    );
    assert_eq!(out, b"keep");
    println!("round trips: {} messages", cases.len());
}

#[test]
fn message_helpers() {
    let event = Message::new_event("contentBlockDelta", b"{}".to_vec());
    assert_eq!(event.header_str(":message-type"), Some("event"));
    assert_eq!(event.header_str(":event-type"), Some("contentBlockDelta"));
    assert_eq!(event.header_str(":content-type"), Some("application/json"));
    let exception = Message::new_exception("throttlingException", b"{}".to_vec());
    assert_eq!(exception.header_str(":message-type"), Some("exception"));
    assert_eq!(
        exception.header_str(":exception-type"),
        Some("throttlingException")
    );
    let m = all_types_message(vec![]);
    assert_eq!(m.header("int"), Some(&HeaderValue::Int32(500_000)));
    assert_eq!(m.header_str("int"), None);
    assert_eq!(m.header("missing"), None);
}

#[test]
fn encode_errors() {
    let with = |header| Message {
        headers: vec![header],
        payload: vec![],
    };
    let mut out = Vec::new();
    assert_eq!(
        encode(
            &with(h(&"n".repeat(256), HeaderValue::Bool(true))),
            &mut out
        ),
        Err(EncodeError::HeaderNameTooLong { name_len: 256 })
    );
    assert_eq!(
        encode(
            &with(h("big", HeaderValue::String("s".repeat(65_536)))),
            &mut out
        ),
        Err(EncodeError::HeaderValueTooLong {
            name: "big".to_owned(),
            len: 65_536
        })
    );
    assert_eq!(
        encode(
            &with(h("big", HeaderValue::ByteArray(vec![0; 65_536]))),
            &mut out
        ),
        Err(EncodeError::HeaderValueTooLong {
            name: "big".to_owned(),
            len: 65_536
        })
    );
    let many = Message {
        headers: vec![h("b", HeaderValue::Bool(true)); 257],
        payload: vec![],
    };
    assert_eq!(
        encode(&many, &mut out),
        Err(EncodeError::TooManyHeaders {
            count: 257,
            max: 256
        })
    );
    assert!(out.is_empty());
    for e in [
        EncodeError::HeaderNameTooLong { name_len: 256 },
        EncodeError::TooManyHeaders { count: 1, max: 0 },
    ] {
        assert!(e.to_string().starts_with("event-stream"));
    }
}

/// Frames with correct CRCs whose contents are wrong, one per error kind.
#[test]
fn invalid_frames_with_valid_checksums() {
    let decode_err = |decoder: Decoder, bytes: &[u8]| {
        let whole = decode_with(decoder.clone(), [bytes]);
        let bytewise = decode_with(decoder, bytes.chunks(1));
        assert_eq!(whole, bytewise);
        assert!(whole.messages.is_empty());
        whole.end.unwrap_err()
    };
    let prelude = |total: u32, headers: u32| {
        let mut p = total.to_be_bytes().to_vec();
        p.extend(headers.to_be_bytes());
        p.extend(crc32(&p).to_be_bytes());
        p
    };
    let cases: Vec<(&str, Decoder, Vec<u8>, DecodeError)> = vec![
        (
            "total below 16",
            Decoder::new(),
            prelude(15, 0),
            DecodeError::InvalidTotalLength(15),
        ),
        (
            "total zero",
            Decoder::new(),
            prelude(0, 0),
            DecodeError::InvalidTotalLength(0),
        ),
        (
            "over the limit, prelude only",
            Decoder::new(),
            prelude(DEFAULT_MAX_FRAME_LEN + 1, 0),
            DecodeError::FrameTooLarge {
                len: DEFAULT_MAX_FRAME_LEN + 1,
                max: DEFAULT_MAX_FRAME_LEN,
            },
        ),
        (
            "over a custom limit",
            Decoder::with_limits(100, 8),
            raw_frame(&[], &[0; 85]),
            DecodeError::FrameTooLarge { len: 101, max: 100 },
        ),
        (
            "u32::MAX",
            Decoder::new(),
            prelude(u32::MAX, 0),
            DecodeError::FrameTooLarge {
                len: u32::MAX,
                max: DEFAULT_MAX_FRAME_LEN,
            },
        ),
        (
            "headers past the frame",
            Decoder::new(),
            prelude(20, 5),
            DecodeError::InvalidHeadersLength(5),
        ),
        (
            "headers_len 1",
            Decoder::new(),
            raw_frame(&[0], &[]),
            DecodeError::InvalidHeadersLength(1),
        ),
        (
            "name past the block",
            Decoder::new(),
            raw_frame(&[5, b'a', b'b', 0], b"payload"),
            DecodeError::InvalidHeaderNameLength,
        ),
        (
            "no type byte",
            Decoder::new(),
            raw_frame(&[2, b'a', b'b'], b"xx"),
            DecodeError::InvalidHeaderNameLength,
        ),
        (
            "name not utf-8",
            Decoder::new(),
            raw_frame(&[2, 0xC3, 0x28, 0], &[]),
            DecodeError::InvalidUtf8,
        ),
        (
            "string not utf-8",
            Decoder::new(),
            raw_frame(&[1, b'a', 7, 0, 1, 0xFF], &[]),
            DecodeError::InvalidUtf8,
        ),
        (
            "unknown type",
            Decoder::new(),
            raw_frame(&[1, b'a', 10], &[]),
            DecodeError::InvalidHeaderValueType(10),
        ),
        (
            "int32 cut short",
            Decoder::new(),
            raw_frame(&[1, b'a', 4, 0, 0], b"pay"),
            DecodeError::InvalidHeaderValue,
        ),
        (
            "uuid cut short",
            Decoder::new(),
            raw_frame(&[1, b'a', 9, 1, 2, 3], &[]),
            DecodeError::InvalidHeaderValue,
        ),
        (
            "string length cut",
            Decoder::new(),
            raw_frame(&[1, b'a', 7, 0], &[]),
            DecodeError::InvalidHeaderValue,
        ),
        (
            "bytes past the block",
            Decoder::new(),
            raw_frame(&[1, b'a', 6, 0, 4, 1], b"pay"),
            DecodeError::InvalidHeaderValue,
        ),
        (
            "too many headers",
            Decoder::with_limits(1024, 2),
            raw_frame(&[1, b'a', 0, 1, b'b', 0, 1, b'c', 0], &[]),
            DecodeError::TooManyHeaders,
        ),
    ];
    let count = cases.len();
    for (label, decoder, bytes, expected) in cases {
        assert_eq!(decode_err(decoder, &bytes), expected, "{label}");
        assert!(
            expected.to_string().starts_with("event-stream"),
            "{label}: {expected}"
        );
    }
    // Exactly at the header limit is fine.
    let three = raw_frame(&[1, b'a', 0, 1, b'b', 0, 1, b'c', 0], &[]);
    assert_eq!(
        decode_with(Decoder::with_limits(1024, 3), [three.as_slice()])
            .messages
            .len(),
        1
    );
    assert!(
        DecodeError::Truncated { buffered: 3 }
            .to_string()
            .contains("ended inside a frame")
    );
    println!("invalid frames with valid checksums: {count} cases");
}

#[test]
fn decode_throughput_report() {
    let (messages, _) = generated_stream();
    let mut stream = Vec::new();
    while stream.len() < 8 << 20 {
        for m in &messages {
            encode(m, &mut stream).unwrap();
        }
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let mb = stream.len() as f64 / 1e6;
    let rate = |f: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        f();
        mb / start.elapsed().as_secs_f64()
    };
    let crc = rate(&mut || assert_ne!(crc32(&stream), 0));
    let mut events = 0usize;
    let borrowed = rate(&mut || {
        let mut decoder = Decoder::new();
        for piece in stream.chunks(16 * 1024) {
            decoder.feed(piece);
            while let Some(frame) = decoder.next_frame().unwrap() {
                events += usize::from(frame.header_str(":event-type").is_some());
            }
        }
        decoder.finish().unwrap();
    });
    let owned = rate(&mut || {
        let mut decoder = Decoder::new();
        for piece in stream.chunks(16 * 1024) {
            decoder.feed(piece);
            while decoder.next_message().unwrap().is_some() {}
        }
        decoder.finish().unwrap();
    });
    println!(
        "throughput ({profile} build, {mb:.1} MB, {} frames ({events} events), 16 KiB feeds): crc32 {crc:.0} MB/s, \
         next_frame {borrowed:.0} MB/s, next_message {owned:.0} MB/s",
        boundaries(&stream).len() - 1
    );
}
