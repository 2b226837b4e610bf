"""Chat features beyond plain text (issue 4): tools, images, reasoning, caching, structured
output — through real Envoy, checked against the strict simulator and the openai SDK."""
import base64
import json

import openai
import pytest

MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
TIME_TOOL = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {}}}}
# 1x1 transparent PNG
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
           "60e6kgAAAABJRU5ErkJggg==")


def sent_body(sim):
    reqs = sim.requests()
    assert reqs and reqs[-1]["status"] == 200, reqs[-1] if reqs else reqs
    return json.loads(reqs[-1]["body"])


def test_tools_non_stream(client, fresh):
    fresh.script({"reply": {"text": "Let me check.", "tool_uses": [
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "tooluse_abc"}]}})
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert (call.id, call.type, call.function.name) == ("tooluse_abc", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    body = sent_body(fresh)
    assert body["toolConfig"]["tools"] == [{"toolSpec": {
        "name": "get_weather", "description": "Weather for a city",
        "inputSchema": {"json": WEATHER_TOOL["function"]["parameters"]}}}]


def test_two_parallel_tool_calls_stream(client, fresh):
    fresh.script({"reply": {"tool_uses": [
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "tooluse_1"},
        {"name": "get_time", "input": {}, "id": "tooluse_2"}]}})
    calls, finish = {}, None
    for chunk in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "both please"}],
            tools=[WEATHER_TOOL, TIME_TOOL], stream=True):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            c = calls.setdefault(tc.index, {"id": None, "name": None, "args": ""})
            c["id"] = tc.id or c["id"]
            if tc.function and tc.function.name:
                c["name"] = tc.function.name
            c["args"] += (tc.function.arguments or "") if tc.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert sorted(calls) == [0, 1]
    assert (calls[0]["id"], calls[0]["name"], json.loads(calls[0]["args"])) == \
        ("tooluse_1", "get_weather", {"city": "Paris"})
    assert (calls[1]["id"], calls[1]["name"], json.loads(calls[1]["args"] or "{}")) == \
        ("tooluse_2", "get_time", {})
    assert finish == "tool_calls"


@pytest.mark.parametrize("choice,expected", [
    ("auto", {"auto": {}}),
    ("required", {"any": {}}),
    ({"type": "function", "function": {"name": "get_time"}}, {"tool": {"name": "get_time"}}),
    ("none", None),
])
def test_tool_choice(client, fresh, choice, expected):
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}],
        tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=choice)
    body = sent_body(fresh)
    assert body.get("toolConfig", {}).get("toolChoice") == expected


HISTORY = [
    {"role": "user", "content": "Weather in Paris and the time?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    {"role": "tool", "tool_call_id": "call_2", "content": "14:05"},
]


def test_tool_result_round_trip(client, fresh):
    r = client.chat.completions.create(model=MODEL, messages=HISTORY,
                                       tools=[WEATHER_TOOL, TIME_TOOL])
    assert r.choices[0].finish_reason == "stop"
    body = sent_body(fresh)
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"] == [
        {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "call_2", "name": "get_time", "input": {}}}]
    results = [b["toolResult"] for b in msgs[2]["content"]]
    assert [(t["toolUseId"], t["content"]) for t in results] == [
        ("call_1", [{"text": "18C and sunny"}]), ("call_2", [{"text": "14:05"}])]


def test_tool_history_without_tools_synthesises_tool_config(client, fresh):
    client.chat.completions.create(model=MODEL, messages=HISTORY)
    body = sent_body(fresh)
    names = sorted(t["toolSpec"]["name"] for t in body["toolConfig"]["tools"])
    assert names == ["get_time", "get_weather"]
    assert "toolChoice" not in body["toolConfig"]


def test_image_data_url(client, fresh):
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}]}])
    content = sent_body(fresh)["messages"][0]["content"]
    assert content[1] == {"image": {"format": "png", "source": {"bytes": PNG_B64}}}
    assert base64.b64decode(content[1]["image"]["source"]["bytes"]).startswith(b"\x89PNG")


@pytest.mark.parametrize("url", ["https://example.com/cat.png", "data:image/png;base64,@@@",
                                 "data:image/tiff;base64,AAAA"])
def test_bad_images_are_400(client, fresh, url):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}]}])
    assert info.value.body["param"].startswith("messages[0].content[0]")
    assert fresh.requests() == []


def test_reasoning_non_stream_and_signature(client, fresh):
    fresh.script({"json": {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Think think.", "signature": "sig-123"}}},
            {"text": "42"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12},
        "metrics": {"latencyMs": 10}}})
    r = client.chat.completions.create(model=MODEL, reasoning_effort="low",
                                       messages=[{"role": "user", "content": "meaning?"}])
    msg = r.choices[0].message
    assert msg.content == "42"
    assert msg.reasoning_content == "Think think."
    assert msg.reasoning_signature == "sig-123"
    body = sent_body(fresh)
    thinking = body["additionalModelRequestFields"]["thinking"]
    assert thinking["type"] == "enabled" and thinking["budget_tokens"] >= 1024
    assert body["inferenceConfig"]["maxTokens"] > thinking["budget_tokens"]


def test_reasoning_signature_is_replayed(client, fresh):
    client.chat.completions.create(model=MODEL, messages=[
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1", "reasoning_content": "because",
         "reasoning_signature": "sig-xyz"},
        {"role": "user", "content": "q2"}])
    assistant = sent_body(fresh)["messages"][1]
    assert assistant["content"][0] == {
        "reasoningContent": {"reasoningText": {"text": "because", "signature": "sig-xyz"}}}
    assert assistant["content"][1] == {"text": "a1"}


def test_reasoning_stream(client, fresh):
    fresh.script({"events": [
        {"type": "messageStart", "payload": {"role": "assistant"}},
        {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {
            "reasoningContent": {"text": "Let me think."}}}},
        {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {
            "reasoningContent": {"signature": "sig-s"}}}},
        {"type": "contentBlockStop", "payload": {"contentBlockIndex": 0}},
        {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 1, "delta": {"text": "Done."}}},
        {"type": "contentBlockStop", "payload": {"contentBlockIndex": 1}},
        {"type": "messageStop", "payload": {"stopReason": "end_turn"}},
        {"type": "metadata", "payload": {"usage": {"inputTokens": 1, "outputTokens": 2,
                                                    "totalTokens": 3}, "metrics": {"latencyMs": 1}}}]})
    reasoning, text, sig = "", "", ""
    for chunk in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "q"}], stream=True):
        if chunk.choices:
            d = chunk.choices[0].delta
            reasoning += getattr(d, "reasoning_content", None) or ""
            sig += getattr(d, "reasoning_signature", None) or ""
            text += d.content or ""
    assert (reasoning, sig, text) == ("Let me think.", "sig-s", "Done.")


def test_prompt_caching_cache_points(client, fresh):
    client.chat.completions.create(model=MODEL, messages=[
        {"role": "system", "content": [{"type": "text", "text": "long system prompt",
                                        "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "q"}])
    body = sent_body(fresh)
    assert body["system"] == [{"text": "long system prompt"}, {"cachePoint": {"type": "default"}}]


def test_cached_tokens_are_reported(client, fresh):
    fresh.script({"json": {
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 112,
                  "cacheReadInputTokens": 100, "cacheWriteInputTokens": 0},
        "metrics": {"latencyMs": 10}}})
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "q"}])
    assert r.usage.prompt_tokens_details.cached_tokens == 100
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


@pytest.mark.parametrize("messages,param", [
    ([{"role": "user", "content": "x"},
      {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                            "function": {"name": "f", "arguments": "{not json"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "r"}],
     "messages[1].tool_calls[0].function.arguments"),
    ([{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}],
     "messages[1].tool_call_id"),
])
def test_bad_tool_history_is_400(client, fresh, messages, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=messages)
    assert info.value.body["param"] == param
    assert fresh.requests() == []


def test_unsupported_parameters_name_themselves(client, fresh):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                       logprobs=True)
    assert info.value.body["param"] == "logprobs"


@pytest.mark.parametrize("stream", [False, True])
def test_configured_guardrail_and_fields(client, fresh, stream):
    """The alias `guarded` carries a guardrail and default extra fields in the filter config."""
    r = client.chat.completions.create(model="guarded", stream=stream,
                                       messages=[{"role": "user", "content": "guard me"}])
    text = ("".join(c.choices[0].delta.content or "" for c in r if c.choices)
            if stream else r.choices[0].message.content)
    assert text == "You said: guard me"
    body = sent_body(fresh)
    expected = {"guardrailIdentifier": "gr12ab34cd", "guardrailVersion": "2", "trace": "enabled"}
    if stream:
        expected["streamProcessingMode"] = "async"
    assert body["guardrailConfig"] == expected
    assert body["additionalModelRequestFields"] == {"top_k": 40}
