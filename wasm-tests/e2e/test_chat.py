"""Chat completions through real Envoy + the .wasm + bedrock-sim, driven by the openai SDK."""
import json

import openai
import pytest

from conftest import ACCESS_KEY, SESSION_TOKEN

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def only_request(sim):
    reqs = sim.requests()
    assert len(reqs) == 1, reqs
    return reqs[0]


def header(req, name):
    values = [v for n, v in req["headers"] if n.lower() == name]
    return values[0] if values else None


def test_plain_chat_with_openai_sdk(client, fresh):
    r = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "hello there"}])
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-") and len(r.id) > len("chatcmpl-")
    assert r.model == MODEL
    assert r.created > 1_700_000_000
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "You said: hello there"
    assert choice.finish_reason == "stop"
    assert r.usage.prompt_tokens == 4  # "Be brief." + "hello there"
    assert r.usage.completion_tokens == 4
    assert r.usage.total_tokens == 8

    req = only_request(fresh)
    assert req["path"] == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert req["model_id"] == MODEL
    assert req["auth"]["ok"], req["auth"]
    assert req["auth"]["mode"] == "sigv4"
    assert req["auth"]["access_key"] == ACCESS_KEY
    assert req["auth"]["region"] == "us-east-1"
    assert req["auth"]["service"] == "bedrock"
    assert set(req["auth"]["signed_headers"]) == {
        "content-type", "host", "x-amz-date", "x-amz-security-token"}
    assert header(req, "x-amz-security-token") == SESSION_TOKEN
    assert json.loads(req["body"]) == {
        "messages": [{"role": "user", "content": [{"text": "hello there"}]}],
        "system": [{"text": "Be brief."}],
    }


def test_caller_key_never_reaches_bedrock(client, fresh):
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-api-key": "sk-other-caller-key", "accept-encoding": "gzip"})
    req = only_request(fresh)
    flat = json.dumps(req["headers"])
    assert "sk-caller-key-never-upstream" not in flat
    assert "sk-other-caller-key" not in flat
    assert header(req, "x-api-key") is None
    assert header(req, "accept-encoding") is None
    assert header(req, "authorization").startswith("AWS4-HMAC-SHA256 Credential=")


def test_parameters_reach_inference_config(client, fresh):
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "one two three"}],
        max_tokens=100, temperature=0, top_p=0.9, stop=["END"], user="u-1", seed=7,
        metadata={"k": "v"})
    body = json.loads(only_request(fresh)["body"])
    assert body["inferenceConfig"] == {
        "maxTokens": 100, "temperature": 0.0, "topP": 0.9, "stopSequences": ["END"]}
    assert set(body) == {"messages", "inferenceConfig"}


def test_max_tokens_gives_length(client, fresh):
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "a b c d e f"}], max_tokens=2)
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == "You said:"
    assert r.usage.completion_tokens == 2


@pytest.mark.parametrize("model,path_id", [
    ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "us.anthropic.claude-3-5-haiku-20241022-v1%3A0"),
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x7k2m9p4q1w8",
     "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fx7k2m9p4q1w8"),
])
def test_profile_ids_and_arns_are_encoded_and_signed(client, fresh, model, path_id):
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert r.model == model
    req = only_request(fresh)
    assert req["path"] == f"/model/{path_id}/converse"
    assert req["model_id"] == model
    assert req["auth"]["ok"], req["auth"]


@pytest.mark.parametrize("behaviour,exc,status,kind", [
    ({"status": 429, "type": "ThrottlingException", "message": "Too many requests"},
     openai.RateLimitError, 429, "rate_limit_error"),
    ({"status": 400, "type": "ValidationException", "message": "The model is bad"},
     openai.BadRequestError, 400, "invalid_request_error"),
    ({"status": 403, "type": "AccessDeniedException",
      "message": "User arn:aws:iam::123456789012:user/x is not authorized"},
     openai.PermissionDeniedError, 403, "permission_error"),
    ({"status": 404, "type": "ResourceNotFoundException", "message": "Model not found"},
     openai.NotFoundError, 404, "not_found_error"),
    ({"status": 408, "type": "ModelTimeoutException", "message": "model timed out"},
     openai.APIStatusError, 408, "api_error"),
    ({"status": 424, "type": "ModelErrorException", "message": "model failed"},
     openai.APIStatusError, 424, "api_error"),
    ({"status": 429, "type": "ModelNotReadyException", "message": "warming up"},
     openai.InternalServerError, 503, "api_error"),
    ({"status": 500, "type": "InternalServerException", "message": "boom"},
     openai.InternalServerError, 500, "api_error"),
    ({"status": 503, "type": "ServiceUnavailableException", "message": "later"},
     openai.InternalServerError, 503, "api_error"),
])
def test_bedrock_errors_become_openai_errors(client, fresh, behaviour, exc, status, kind):
    fresh.script({"error": behaviour})
    with pytest.raises(exc) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    err = info.value
    assert err.status_code == status
    assert err.body["type"] == kind
    assert err.response.headers["content-type"] == "application/json"
    assert "123456789012" not in err.body["message"]
    assert "arn:aws" not in err.body["message"]


def test_a_model_bedrock_does_not_know_is_404_model_not_found(client):
    """Bedrock says ValidationException; OpenAI clients expect OpenAI's 404."""
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["code"] == "model_not_found"
    assert "model identifier is invalid" in info.value.body["message"]


def test_throttling_keeps_retry_after(http, fresh):
    fresh.script({"error": {"status": 429, "type": "ThrottlingException", "message": "slow",
                            "headers": {"retry-after": "3"}}})
    r = http.post("/v1/chat/completions",
                  json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429
    assert r.headers.get("retry-after") == "3"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_unreadable_success_body_is_502(http, fresh):
    fresh.script({"raw": "<html>not json</html>", "status": 200, "content_type": "text/html"})
    r = http.post("/v1/chat/completions",
                  json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "api_error"


@pytest.mark.parametrize("body,status,param", [
    (b"{not json", 400, None),
    (b"[]", 400, None),
    (b"", 400, None),
    (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), 400, "model"),
    (json.dumps({"model": MODEL, "messages": []}).encode(), 400, "messages"),
    (json.dumps({"model": MODEL, "messages": [{"role": "system", "content": "s"}]}).encode(),
     400, "messages"),
    (json.dumps({"model": MODEL, "n": 2,
                 "messages": [{"role": "user", "content": "x"}]}).encode(), 400, "n"),
])
def test_bad_requests_answer_locally(http, fresh, body, status, param):
    r = http.post("/v1/chat/completions", content=body,
                  headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert err["message"]
    assert fresh.requests() == []


def test_unknown_path_and_method(http, fresh):
    r = http.get("/v1/chat/completions")
    assert r.status_code == 405 and r.json()["error"]["message"]
    r = http.post("/v1/not-a-thing", json={})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    assert fresh.requests() == []


def test_every_request_was_signed(client, fresh):
    for i in range(5):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"n{i} é ü \"quoted\" \\n"}])
    reqs = fresh.requests()
    assert len(reqs) == 5
    assert all(r["auth"]["ok"] for r in reqs), [r["auth"] for r in reqs]


@pytest.mark.parametrize("stream", [False, True])
def test_empty_upstream_error_body(http, fresh, stream):
    """An error answer with no body at all still becomes an OpenAI error with its status."""
    fresh.script({"raw": "", "status": 500, "content_type": "application/json"})
    r = http.post("/v1/chat/completions", json={
        "model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": stream})
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["type"] == "api_error" and "500" in err["message"]
