#!/usr/bin/env python3
"""Writes the seed inputs under seeds/<target>/ (committed; libFuzzer grows corpus/ from them)."""
import base64
import json
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def frame(headers, payload):
    hb = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        hb += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(hb) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hb))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    msg = prelude + hb + payload
    return msg + struct.pack(">I", zlib.crc32(msg))


def event(kind, payload):
    body = json.dumps({**payload, "p": "abcdefgh"}).encode()
    return frame([(":message-type", "event"), (":event-type", kind),
                  (":content-type", "application/json")], body)


def chunk(anthropic_event):
    data = base64.b64encode(json.dumps(anthropic_event).encode()).decode()
    return event("chunk", {"bytes": data})


def write(target, name, data):
    d = HERE / "seeds" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


converse = (event("messageStart", {"role": "assistant"})
            + event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hi"}})
            + event("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}})
            + event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"a\":1}"}}})
            + event("messageStop", {"stopReason": "tool_use"})
            + event("metadata", {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}}))
anthropic = b"".join(chunk(e) for e in [
    {"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "model": "x",
                                          "content": [], "usage": {"input_tokens": 1, "output_tokens": 0}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
    {"type": "message_stop"}])
exception = frame([(":message-type", "exception"), (":exception-type", "throttlingException"),
                   (":content-type", "application/json")], b'{"message":"slow"}')
write("eventstream", "converse", converse)
write("eventstream", "exception", exception)
write("stream_translators", "converse", b"\x07" + converse)
write("stream_translators", "anthropic", b"\x05" + anthropic)
write("stream_translators", "exception", b"\x01" + converse[:200] + exception)
write("chat_request", "full", json.dumps({
    "model": "m", "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 10,
    "messages": [{"role": "system", "content": "s"},
                 {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
                                              {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
                 {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                 {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "reasoning_effort": "low", "response_format": {"type": "json_object"}}))
write("chat_request", "embeddings", json.dumps({"model": "cohere.embed-english-v3", "input": ["a", "b"]}))
write("messages_request", "basic", json.dumps({"model": "anthropic.claude-3-haiku-20240307-v1:0", "max_tokens": 5,
                                               "messages": [{"role": "user", "content": "hi"}], "stream": True}))
write("config", "full", json.dumps({"region": "us-east-1", "endpoint": "http://127.0.0.1:8080",
                                    "models": {"a": "x", "b": {"id": "y", "api": "invoke", "family": "anthropic",
                                                               "region": "eu-west-1", "guardrail": {"identifier": "g1", "version": "1"}}},
                                    "callers": [{"name": "t", "key_sha256": "0" * 64, "allowed_models": ["a*"]}]}))
write("sigv4", "paths", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse\na=1&b=%20\n  spaced   value ")
