"""Chat completions through InvokeModel (issue 5): the `claude-invoke` alias has
`"api": "invoke"`, so the filter writes Claude's native Anthropic Messages body and reads
its answer and `chunk` event stream back into OpenAI's format — checked with the openai SDK
against the simulator, which answers InvokeModel for `anthropic.*` natively."""
import json

import openai
import pytest

MODEL = "claude-invoke"
BEDROCK_ID = "anthropic.claude-3-haiku-20240307-v1:0"
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
TIME_TOOL = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {}}}}


def upstream(sim, operation, bedrock_id=BEDROCK_ID):
    """The last recorded upstream request: the right operation, validly signed, its body."""
    req = sim.requests()[-1]
    assert req["status"] == 200, req
    assert req["auth"]["ok"], req["auth"]
    assert req["operation"] == operation, req["path"]
    assert req["path"] == f"/model/{bedrock_id.replace(':', '%3A')}/{operation}"
    return req, json.loads(req["body"])


def test_non_stream_text(client, fresh):
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "hello there"}],
        temperature=0.2, stop=["ZZZ"])
    assert r.model == MODEL
    choice = r.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("You said: hello there", "stop")
    assert r.usage.prompt_tokens == 4 and r.usage.completion_tokens == 4
    req, body = upstream(fresh, "invoke")
    assert dict(req["headers"])["accept"] == "application/json"
    assert body == {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
                    "system": [{"type": "text", "text": "Be brief."}],
                    "messages": [{"role": "user",
                                  "content": [{"type": "text", "text": "hello there"}]}],
                    "temperature": 0.2, "stop_sequences": ["ZZZ"]}


def test_stream_text_with_usage(client, fresh):
    text, finish, usage = "", None, None
    for chunk in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "stream me please"}],
            max_tokens=50, stream=True, stream_options={"include_usage": True}):
        assert chunk.model == MODEL
        if chunk.usage:
            usage = chunk.usage
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert (text, finish) == ("You said: stream me please", "stop")
    assert usage.prompt_tokens == 3 and usage.completion_tokens == 5
    req, body = upstream(fresh, "invoke-with-response-stream")
    assert dict(req["headers"])["x-amzn-bedrock-accept"] == "application/json"
    assert body["max_tokens"] == 50 and "stream" not in body and "model" not in body


def test_tools_non_stream(client, fresh):
    fresh.script({"reply": {"text": "Let me check.", "tool_uses": [
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "toolu_abc"}]}})
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL], tool_choice="required")
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    call = choice.message.tool_calls[0]
    assert (call.id, call.type, call.function.name) == ("toolu_abc", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    _, body = upstream(fresh, "invoke")
    assert body["tools"] == [{"name": "get_weather", "description": "Weather for a city",
                              "input_schema": WEATHER_TOOL["function"]["parameters"]}]
    assert body["tool_choice"] == {"type": "any"}


def test_two_parallel_tool_calls_stream(client, fresh):
    fresh.script({"reply": {"tool_uses": [
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "toolu_1"},
        {"name": "get_time", "input": {}, "id": "toolu_2"}]}})
    calls, finish = {}, None
    for chunk in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "both please"}],
            tools=[WEATHER_TOOL, TIME_TOOL], stream=True):
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            c = calls.setdefault(tc.index, {"id": None, "name": None, "args": ""})
            c["id"] = tc.id or c["id"]
            if tc.function and tc.function.name:
                c["name"] = tc.function.name
            c["args"] += (tc.function.arguments or "") if tc.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1], "dense OpenAI indexes"
    assert (calls[0]["id"], calls[0]["name"]) == ("toolu_1", "get_weather")
    assert json.loads(calls[0]["args"]) == {"city": "Paris"}
    assert (calls[1]["id"], calls[1]["name"]) == ("toolu_2", "get_time")
    assert json.loads(calls[1]["args"]) == {}
    upstream(fresh, "invoke-with-response-stream")


def test_tool_result_round_trip(client, fresh):
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny and warm"}]
    r = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    assert r.choices[0].message.content == "You said: sunny and warm"
    _, body = upstream(fresh, "invoke")
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1",
                                           "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                                      "content": [{"type": "text", "text": "sunny and warm"}]}]}]


START = [{"chunk": {"type": "message_start", "message": {
             "id": "msg_bdrk_1", "type": "message", "role": "assistant", "model": "claude",
             "content": [], "stop_reason": None, "usage": {"input_tokens": 2, "output_tokens": 1}}}},
         {"chunk": {"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}}},
         {"chunk": {"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": "partial "}}}]


@pytest.mark.parametrize("behaviour,needle", [
    ({"events": START + [
        {"exception": "throttlingException", "payload": {"message": "Too many tokens"}}]},
     "Too many tokens"),
    ({"events": START + [{"chunk": {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}}]}, "Overloaded"),
    ({"events": START}, "ended"),  # no message_stop: truncated
    ({"truncate_after_bytes": 200}, "ended"),
    ({"corrupt_crc_at_event": 2}, "corrupt"),
])
def test_mid_stream_failures_raise_in_the_sdk(client, fresh, behaviour, needle):
    fresh.script(behaviour)
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "go on"}], stream=True)
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            pass
    assert needle in str(info.value.message), info.value.message
    assert fresh.requests()[-1]["operation"] == "invoke-with-response-stream"


def test_error_before_the_answer_is_an_http_error(client, fresh):
    fresh.script({"error": {"status": 429, "type": "ThrottlingException", "message": "slow"}})
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL,
                                       messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_schema", "json_schema": {
                "name": "x", "schema": {"type": "object"}}})
    assert info.value.body["param"] == "response_format"


# Amazon Nova's native InvokeModel body (the simulator has no Nova model: answers are scripted
# in Nova's format, and the request body is checked here).
NOVA_PATH = "/model/amazon.nova-lite-v1%3A0/"


def test_nova_non_stream_with_tools(client, fresh):
    fresh.script({"json": {
        "output": {"message": {"role": "assistant", "content": [
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_n1", "name": "get_weather",
                         "input": {"city": "Oslo"}}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 7, "outputTokens": 3, "totalTokens": 10}}})
    r = client.chat.completions.create(
        model="nova-invoke", messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER_TOOL], max_tokens=64, top_p=0.5)
    choice = r.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("Checking.", "tool_calls")
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "tooluse_n1", "get_weather", {"city": "Oslo"})
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (7, 3)
    req = fresh.requests()[-1]
    assert req["auth"]["ok"] and req["path"] == NOVA_PATH + "invoke"
    assert json.loads(req["body"]) == {
        "messages": [{"role": "user", "content": [{"text": "Weather in Oslo?"}]}],
        "inferenceConfig": {"maxTokens": 64, "topP": 0.5},
        "toolConfig": {"tools": [{"toolSpec": {
            "name": "get_weather", "description": "Weather for a city",
            "inputSchema": {"json": WEATHER_TOOL["function"]["parameters"]}}}]}}


def test_nova_stream(client, fresh):
    fresh.script({"events": [
        {"chunk": {"messageStart": {"role": "assistant"}}},
        {"chunk": {"contentBlockDelta": {"delta": {"text": "Hello "}, "contentBlockIndex": 0}}},
        {"chunk": {"contentBlockDelta": {"delta": {"text": "Nova"}, "contentBlockIndex": 0}}},
        {"chunk": {"contentBlockStop": {"contentBlockIndex": 0}}},
        {"chunk": {"messageStop": {"stopReason": "end_turn"}}},
        {"chunk": {"metadata": {"usage": {"inputTokens": 2, "outputTokens": 2}},
                   "amazon-bedrock-invocationMetrics": {"inputTokenCount": 2}}}]})
    text, finish, usage = "", None, None
    for chunk in client.chat.completions.create(
            model="nova-invoke", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert (text, finish, usage.total_tokens) == ("Hello Nova", "stop", 4)
    req = fresh.requests()[-1]
    assert req["auth"]["ok"] and req["path"] == NOVA_PATH + "invoke-with-response-stream"


def test_reasoning_cache_and_single_tool_call_reach_the_anthropic_body(client, fresh):
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "rules",
                                        "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None,
         "thinking_blocks": [{"type": "thinking", "thinking": "use the tool", "signature": "c2ln"}],
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "hot"}]
    # Claude 3 Haiku has no extended thinking: the gateway says so instead of Bedrock.
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL],
                                       reasoning_effort="low")
    assert e.value.body["param"] == "reasoning_effort"
    r = client.chat.completions.create(model="sonnet-invoke", messages=messages,
                                       tools=[WEATHER_TOOL], reasoning_effort="low",
                                       parallel_tool_calls=False)
    assert r.choices[0].message.content == "You said: hot"
    _, body = upstream(fresh, "invoke", "anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["max_tokens"] == 1024 + 4096
    assert body["system"] == [{"type": "text", "text": "rules",
                               "cache_control": {"type": "ephemeral"}}]
    assert body["messages"][1]["content"][0] == {
        "type": "thinking", "thinking": "use the tool", "signature": "c2ln"}
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
