"""Chat translation details (issue 4) through real Envoy: tool names and IDs Bedrock would
refuse, json_object / json_schema, documents, cache points, thinking blocks replayed exactly.
The strict simulator validates every upstream body against the Bedrock API model."""
import json

import openai
import pytest

MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
DOTTED_TOOL = {"type": "function", "function": {
    "name": "files.read", "description": "Read a file",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}
LONG_NAME = "mcp__filesystem__" + "read_text_file_with_a_very_long_descriptive_name"


def sent_bodies(sim):
    reqs = sim.requests()
    assert reqs and all(r["status"] == 200 for r in reqs), reqs
    return [json.loads(r["body"]) for r in reqs]


def bedrock_names(body):
    return [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"] if "toolSpec" in t]


def test_tool_names_bedrock_refuses_are_mapped_and_come_back(client, fresh):
    tools = [DOTTED_TOOL, {"type": "function", "function": {"name": LONG_NAME}}]
    msgs = [{"role": "user", "content": "read it"}]
    client.chat.completions.create(model=MODEL, messages=msgs, tools=tools)
    dotted, long = bedrock_names(sent_bodies(fresh)[0])
    assert dotted.startswith("files_read_") and len(long) == 64
    fresh.reset()

    fresh.script({"reply": {"tool_uses": [
        {"name": dotted, "input": {"path": "/tmp/a"}, "id": "tooluse_1"},
        {"name": long, "input": {}, "id": "tooluse_2"}]}})
    r = client.chat.completions.create(model=MODEL, messages=msgs, tools=tools)
    calls = r.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["files.read", LONG_NAME]
    assert r.choices[0].message.content is None

    fresh.script({"reply": {"tool_uses": [{"name": long, "input": {"a": 1}, "id": "tooluse_3"}]}})
    names = [tc.function.name
             for chunk in client.chat.completions.create(model=MODEL, messages=msgs, tools=tools,
                                                         stream=True)
             if chunk.choices
             for tc in chunk.choices[0].delta.tool_calls or []
             if tc.function and tc.function.name]
    assert names == [LONG_NAME]


def test_history_with_unusual_names_and_ids_is_valid_upstream(client, fresh):
    r = client.chat.completions.create(model=MODEL, tools=[DOTTED_TOOL], messages=[
        {"role": "user", "content": "read"},
        {"role": "assistant", "tool_calls": [{"id": "call 1/abc", "type": "function",
                                              "function": {"name": "files.read",
                                                           "arguments": "{\"path\": \"/x\"}"}}]},
        {"role": "tool", "tool_call_id": "call 1/abc", "content": ""}])
    assert r.choices[0].finish_reason == "stop"
    body = sent_bodies(fresh)[0]
    use = body["messages"][1]["content"][0]["toolUse"]
    result = body["messages"][2]["content"][0]["toolResult"]
    assert use["toolUseId"] == result["toolUseId"] and use["toolUseId"].startswith("call_1_abc_")
    assert use["name"] == bedrock_names(body)[0]
    assert result["content"] == [{"text": "(no output)"}]


def test_schemas_without_a_type_are_made_object_schemas(client, fresh):
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], tools=[
        {"type": "function", "function": {"name": "ping", "parameters": {}}},
        {"type": "function", "function": {"name": "echo", "parameters": {
            "properties": {"text": {"type": "string"}}}}}])
    schemas = [t["toolSpec"]["inputSchema"]["json"] for t in sent_bodies(fresh)[0]["toolConfig"]["tools"]]
    assert schemas == [{"type": "object", "properties": {}},
                       {"type": "object", "properties": {"text": {"type": "string"}}}]


def test_json_object_answers_through_a_forced_tool(client, fresh):
    fresh.script({"reply": {"tool_uses": [
        {"name": "json_response", "input": {"answer": 42}, "id": "tooluse_j"}]}})
    r = client.chat.completions.create(model=MODEL, response_format={"type": "json_object"},
                                       messages=[{"role": "user", "content": "answer in JSON"}])
    assert json.loads(r.choices[0].message.content) == {"answer": 42}
    assert r.choices[0].finish_reason == "stop" and not r.choices[0].message.tool_calls
    body = sent_bodies(fresh)[0]
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "json_response"}}

    fresh.script({"reply": {"tool_uses": [
        {"name": "json_response", "input": {"answer": [1, 2]}, "id": "tooluse_k"}]}})
    text, finish = "", None
    for chunk in client.chat.completions.create(
            model=MODEL, response_format={"type": "json_object"}, stream=True,
            messages=[{"role": "user", "content": "answer in JSON"}]):
        if chunk.choices:
            assert not chunk.choices[0].delta.tool_calls
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert (json.loads(text), finish) == ({"answer": [1, 2]}, "stop")


def test_json_schema_uses_structured_output(client, fresh):
    schema = {"type": "object", "properties": {"name": {"type": "string"}},
              "required": ["name"], "additionalProperties": False}
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                   response_format={"type": "json_schema", "json_schema": {
                                       "name": "person", "schema": schema, "strict": True}})
    fmt = sent_bodies(fresh)[0]["outputConfig"]["textFormat"]
    assert fmt["type"] == "json_schema"
    assert fmt["structure"]["jsonSchema"]["name"] == "person"
    assert json.loads(fmt["structure"]["jsonSchema"]["schema"]) == schema


def test_documents_cache_points_and_provider_fields(client, fresh):
    client.chat.completions.create(
        model=MODEL,
        tools=[{**DOTTED_TOOL, "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "system", "content": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"role": "user", "content": [
                {"type": "file", "file": {"filename": "Q3 report_final.pdf",
                                          "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}},
                {"type": "text", "text": "summarise", "cache_control": {"type": "ephemeral"}}]}],
        extra_body={"top_k": 5,
                    "additional_model_request_fields": {"anthropic_beta": ["context-1m-2025-08-07"]}})
    body = sent_bodies(fresh)[0]
    assert body["system"] == [{"text": "rules"}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    assert body["messages"][0]["content"] == [
        {"document": {"format": "pdf", "name": "Q3 report-final",
                      "source": {"bytes": "JVBERi0xLjQK"}}},
        {"text": "summarise"}, {"cachePoint": {"type": "default"}}]
    assert body["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}
    assert body["additionalModelRequestFields"] == {"anthropic_beta": ["context-1m-2025-08-07"],
                                                    "top_k": 5}


def test_thinking_blocks_replay_exactly(client, fresh):
    blocks = [
        {"reasoningContent": {"reasoningText": {"text": "First.", "signature": "sig-1"}}},
        {"reasoningContent": {"redactedContent": "ZW5jcnlwdGVk"}},
        {"reasoningContent": {"reasoningText": {"text": "Then.", "signature": "sig-2"}}},
        {"toolUse": {"toolUseId": "tooluse_t", "name": "read_file", "input": {"path": "/a"}}}]
    fresh.script({"json": {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 3, "outputTokens": 9, "totalTokens": 12},
        "metrics": {"latencyMs": 1}}})
    tools = [{"type": "function", "function": {"name": "read_file"}}]
    first = client.chat.completions.create(model=MODEL, tools=tools, reasoning_effort="high",
                                           messages=[{"role": "user", "content": "go"}])
    msg = first.choices[0].message.model_dump(exclude_none=True)
    assert msg["reasoning_signature"] == "sig-2" and len(msg["thinking_blocks"]) == 3
    # The client sends the assistant message back as it got it, then the tool's result.
    fresh.reset()
    client.chat.completions.create(model=MODEL, tools=tools, reasoning_effort="high", messages=[
        {"role": "user", "content": "go"}, msg,
        {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "data"}])
    sent = sent_bodies(fresh)[0]["messages"][1]["content"]
    assert sent[:3] == blocks[:3]


@pytest.mark.parametrize("extra,param", [
    ({"n": 2}, "n"), ({"top_logprobs": 3}, "top_logprobs"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"reasoning_effort": "high", "max_tokens": 1000}, "max_tokens"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
     "response_format.json_schema.schema"),
])
def test_refusals_name_the_parameter_and_stay_local(client, fresh, extra, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                       extra_body=extra)
    assert info.value.body["param"] == param
    assert fresh.requests() == []
