"""The OpenAI Responses API (`POST /v1/responses`) through Envoy with openai-python: input as a
string or items, instructions, function tools across a tool loop, structured output,
reasoning, streams (the event sequence the SDK accumulates), and the parameters that need
server-side state or hosted tools refused with a 400 naming them, before anything reaches
Bedrock. The simulator refuses what Bedrock refuses, so a wrong Converse body fails here."""
import json

import openai
import pytest

CLAUDE = "claude"  # Claude 3 Haiku through Converse (conftest ALIASES)
SONNET_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


def upstream(sim, operation="converse"):
    req = sim.requests()[-1]
    assert req["status"] == 200 and req["auth"]["ok"], req
    assert req["operation"] == operation, req
    return json.loads(req["body"])


def test_text_in_text_out(client, fresh):
    r = client.responses.create(model=CLAUDE, instructions="Be brief.", input="hello there",
                                max_output_tokens=100, temperature=0.2, store=False)
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.model == CLAUDE
    assert r.output_text == "You said: hello there"
    assert r.output[0].type == "message" and r.output[0].role == "assistant"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens == len(r.output_text.split())
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    # The request members the response repeats.
    assert r.instructions == "Be brief." and r.max_output_tokens == 100 and r.temperature == 0.2
    body = upstream(fresh)
    assert body["system"] == [{"text": "Be brief."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "hello there"}]}]
    assert body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.2}


def test_message_items_and_developer_role(client, fresh):
    r = client.responses.create(model=CLAUDE, input=[
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "premier"}]},
        {"role": "user", "content": "second"}])
    assert r.output_text == "You said: second"
    body = upstream(fresh)
    assert body["system"] == [{"text": "Answer in French."}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [{"text": "premier"}]


def test_a_tool_loop_with_function_call_items(client, fresh):
    fresh.script({"reply": {"tool_uses": [
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "tooluse_1"}]}})
    r = client.responses.create(model=CLAUDE, input="Weather in Paris?", tools=[WEATHER],
                                tool_choice="required")
    call = next(i for i in r.output if i.type == "function_call")
    assert (call.name, call.call_id, json.loads(call.arguments)) == \
        ("get_weather", "tooluse_1", {"city": "Paris"})
    body = upstream(fresh)
    assert body["toolConfig"]["toolChoice"] == {"any": {}}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"

    fresh.reset()
    # Turn 2: the SDK's output items go back as they came, plus the tool's output.
    history = [{"role": "user", "content": "Weather in Paris?"}]
    history += [item.model_dump(exclude_none=True) for item in r.output]
    history.append({"type": "function_call_output", "call_id": call.call_id,
                    "output": "18°C, sunny"})
    r2 = client.responses.create(model=CLAUDE, input=history, tools=[WEATHER])
    assert r2.output_text.startswith("You said:")
    body = upstream(fresh)
    assert body["messages"][1]["content"][-1] == {"toolUse": {
        "toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}
    assert body["messages"][2]["content"][0] == {"toolResult": {
        "toolUseId": "tooluse_1", "content": [{"text": "18°C, sunny"}]}}


def test_structured_output(client, fresh):
    schema = {"type": "object", "properties": {"name": {"type": "string"}},
              "required": ["name"], "additionalProperties": False}
    fresh.script({"reply": {"text": '{"name": "Ada"}'}})
    r = client.responses.create(model=SONNET_45, input="Ada", text={"format": {
        "type": "json_schema", "name": "person", "schema": schema, "strict": True}})
    assert json.loads(r.output_text) == {"name": "Ada"}
    assert r.text.format.type == "json_schema"
    body = upstream(fresh)
    fmt = body["outputConfig"]["textFormat"]
    assert fmt["type"] == "json_schema"
    assert json.loads(fmt["structure"]["jsonSchema"]["schema"]) == schema


def test_reasoning_effort_on_a_claude_that_thinks(client, fresh):
    r = client.responses.create(model=SONNET_45, input="think", max_output_tokens=4000,
                                reasoning={"effort": "high"})
    assert r.status == "completed"
    body = upstream(fresh)
    # 16,384 does not fit under 4,000: the budget is fitted instead of refused.
    assert body["additionalModelRequestFields"]["thinking"] == \
        {"type": "enabled", "budget_tokens": 2000}
    assert body["inferenceConfig"]["maxTokens"] == 4000


def test_reasoning_on_a_model_without_it_names_the_parameter(client, fresh):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="meta.llama3-70b-instruct-v1:0", input="x",
                                reasoning={"effort": "low"})
    assert e.value.body["param"] == "reasoning.effort"
    assert fresh.requests() == []


def test_reasoning_items_come_back_and_replay(client, fresh):
    fresh.script({"json": {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Let me think.",
                                                    "signature": "sig-abc"}}},
            {"toolUse": {"toolUseId": "tooluse_9", "name": "get_weather",
                         "input": {"city": "Oslo"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 5, "outputTokens": 7,
                                            "totalTokens": 12}, "metrics": {"latencyMs": 1}}})
    r = client.responses.create(model=SONNET_45, input="Weather in Oslo?", tools=[WEATHER],
                                reasoning={"effort": "low"})
    kinds = [i.type for i in r.output]
    assert kinds == ["reasoning", "function_call"]
    reasoning = r.output[0]
    assert reasoning.summary[0].text == "Let me think."
    assert reasoning.encrypted_content == "sig-abc"

    fresh.reset()
    history = [{"role": "user", "content": "Weather in Oslo?"}]
    history += [i.model_dump(exclude_none=True) for i in r.output]
    history.append({"type": "function_call_output", "call_id": "tooluse_9", "output": "cold"})
    client.responses.create(model=SONNET_45, input=history, tools=[WEATHER],
                            reasoning={"effort": "low"})
    body = upstream(fresh)
    # The thinking block comes back first in its turn, signature intact: Claude keeps thinking.
    assert body["messages"][1]["content"][0] == {"reasoningContent": {"reasoningText": {
        "text": "Let me think.", "signature": "sig-abc"}}}
    assert body["additionalModelRequestFields"]["thinking"]["type"] == "enabled"


def test_a_tool_loop_without_reasoning_items_still_works(client, fresh):
    # Agent frameworks often drop reasoning items: the request goes without thinking, and
    # the simulator (as Claude) would refuse it otherwise.
    history = [{"role": "user", "content": "Weather in Oslo?"},
               {"type": "function_call", "call_id": "tooluse_9", "name": "get_weather",
                "arguments": '{"city": "Oslo"}'},
               {"type": "function_call_output", "call_id": "tooluse_9", "output": "cold"}]
    r = client.responses.create(model=SONNET_45, input=history, tools=[WEATHER],
                                reasoning={"effort": "medium"})
    assert r.status == "completed"
    assert "thinking" not in upstream(fresh).get("additionalModelRequestFields", {})


def test_stream_events_accumulate_into_the_response(client, fresh):
    events = []
    with client.responses.stream(model=CLAUDE, input="stream me please") as stream:
        for event in stream:
            events.append(event.type)
        final = stream.get_final_response()
    assert events[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in events and events[-1] == "response.completed"
    assert final.output_text == "You said: stream me please"
    assert final.status == "completed"
    assert final.usage.output_tokens == len(final.output_text.split())
    assert upstream(fresh, "converse-stream")["messages"][0]["content"] == \
        [{"text": "stream me please"}]


def test_streamed_tool_call(client, fresh):
    fresh.script({"reply": {"tool_uses": [
        {"name": "get_weather", "input": {"city": "Rome"}, "id": "tooluse_s"}]}})
    args, done = "", None
    for event in client.responses.create(model=CLAUDE, input="Rome?", tools=[WEATHER],
                                         stream=True):
        if event.type == "response.function_call_arguments.delta":
            args += event.delta
        elif event.type == "response.output_item.done" and event.item.type == "function_call":
            done = event.item
    assert json.loads(args) == {"city": "Rome"}
    assert done.name == "get_weather" and done.call_id == "tooluse_s"


def test_a_stream_cut_by_bedrock_fails_the_response(client, fresh):
    fresh.script({"events": [
        {"type": "messageStart", "payload": {"role": "assistant"}},
        {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0,
                                                  "delta": {"text": "partial"}}},
        {"exception": "throttlingException", "payload": {"message": "slow down"}}]})
    seen = []
    with pytest.raises(openai.APIError):
        for event in client.responses.create(model=CLAUDE, input="x", stream=True):
            seen.append(event.type)
    assert "response.output_text.delta" in seen
    assert "response.completed" not in seen


@pytest.mark.parametrize("extra, param", [
    ({"store": True}, "store"),
    ({"previous_response_id": "resp_123"}, "previous_response_id"),
    ({"background": True}, "background"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
    ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
])
def test_what_needs_server_state_or_hosted_tools_is_refused(client, fresh, extra, param):
    kwargs = {"model": CLAUDE, "input": "x", **extra}
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(**kwargs)
    assert e.value.status_code == 400
    assert e.value.body["param"] == param, e.value.body
    assert e.value.body["type"] == "invalid_request_error"
    assert fresh.requests() == []


def test_bedrock_errors_are_openai_errors(client, fresh):
    fresh.script({"error": {"type": "ThrottlingException", "message": "Too many requests",
                            "headers": {"retry-after": "3"}}})
    with pytest.raises(openai.RateLimitError) as e:
        client.responses.create(model=CLAUDE, input="x")
    assert e.value.response.headers["retry-after"] == "3"
    assert "Too many requests" in e.value.message
