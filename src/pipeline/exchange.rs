//! The answer path of one request: from Bedrock's response headers and body (whole, or an event
//! stream in any split) to the client's answer, with the tokens it used.

use super::respond::{ClientResponse, ErrorShape};
use crate::bedrock::{self, Family};
use crate::error::ApiError;
use crate::translate::chat::invoke::{self, InvokeStreamTranslator};
use crate::translate::chat::response::CompletionMeta;
use crate::translate::chat::stream::ConverseStreamTranslator;
use crate::translate::chat::{self, ToolNames};
use crate::translate::embeddings::{self, EmbeddingsPlan};
use crate::translate::messages::{self, stream::MessagesStreamTranslator};
use crate::translate::responses::{self, ResponseMeta, stream::ResponsesStreamTranslator};
use crate::usage::Usage;

/// The headers a translated stream is answered with (its length is unknown up front).
pub const SSE_HEADERS: [(&str, &str); 2] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
];

/// What kind of answer an exchange translates.
#[derive(Debug)]
pub enum Kind {
    Chat,
    /// Chat completions over InvokeModel with a family's native body.
    ChatInvoke(Family),
    /// A native Bedrock request: the answer goes back untouched.
    Native,
    Embeddings(EmbeddingsPlan),
    /// Anthropic Messages API over InvokeModel.
    Messages,
    /// Anthropic's token counting over CountTokens.
    CountTokens,
    /// The OpenAI Responses API over Converse, with the request members its answer repeats.
    Responses(Box<responses::Echo>),
}

/// What the host read of the upstream response headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpstreamHeaders<'a> {
    pub status: u16,
    /// `x-amzn-ErrorType`
    pub error_type: Option<&'a str>,
    /// `x-amzn-RequestId`
    pub request_id: Option<&'a str>,
    /// `X-Amzn-Bedrock-Input-Token-Count` (InvokeModel)
    pub input_tokens: Option<&'a str>,
    /// `X-Amzn-Bedrock-Output-Token-Count` (InvokeModel)
    pub output_tokens: Option<&'a str>,
}

/// How the host handles the upstream response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsePlan {
    /// Buffer the whole body, then replace it with [`Exchange::finish`]; headers wait for it.
    Buffer,
    /// Send headers now ([`SSE_HEADERS`]) and translate each piece with
    /// [`Exchange::stream_chunk`], closing with [`Exchange::stream_end`].
    Stream,
    /// Leave the answer alone (native Bedrock requests): nothing is buffered.
    Passthrough,
}

/// A translated answer: what the client gets, the tokens the answer used, and one log line
/// when it failed (upstream error status or an unreadable body).
#[derive(Debug)]
pub struct Answer {
    pub response: ClientResponse,
    pub usage: Option<Usage>,
    pub failure: Option<String>,
}

/// Per-request state between the upstream call and the client's answer.
#[derive(Debug)]
pub struct Exchange {
    meta: CompletionMeta,
    /// The completion id when Bedrock sends no request id.
    fallback_id: String,
    /// Tool names the request translation changed, mapped back in the answer.
    tool_names: ToolNames,
    shape: ErrorShape,
    status: u16,
    error_type: Option<String>,
    /// `X-Amzn-Bedrock-Input-Token-Count`, when Bedrock sent it.
    input_tokens: Option<u64>,
    /// A native answer's tokens, from its headers.
    native_usage: Option<Usage>,
    kind: Kind,
    /// Set when the client asked for `stream: true`.
    stream: Option<StreamMode>,
    /// Bytes of a streamed upstream body received so far.
    streamed: u64,
}

#[derive(Debug)]
struct StreamMode {
    include_usage: bool,
    /// Created once the upstream answered 200 with its event stream.
    translator: Option<StreamTranslator>,
}

#[derive(Debug)]
enum StreamTranslator {
    Chat(ConverseStreamTranslator),
    ChatInvoke(InvokeStreamTranslator),
    Messages(MessagesStreamTranslator),
    Responses(ResponsesStreamTranslator),
}

impl StreamTranslator {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        match self {
            StreamTranslator::Chat(t) => t.feed(bytes, out),
            StreamTranslator::ChatInvoke(t) => t.feed(bytes, out),
            StreamTranslator::Messages(t) => t.feed(bytes, out),
            StreamTranslator::Responses(t) => t.feed(bytes, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            StreamTranslator::Chat(t) => t.finish(out),
            StreamTranslator::ChatInvoke(t) => t.finish(out),
            StreamTranslator::Messages(t) => t.finish(out),
            StreamTranslator::Responses(t) => t.finish(out),
        }
    }

    fn usage(&self) -> Option<Usage> {
        match self {
            StreamTranslator::Chat(t) => t.usage(),
            StreamTranslator::ChatInvoke(t) => t.usage(),
            StreamTranslator::Messages(t) => t.usage(),
            StreamTranslator::Responses(t) => t.usage(),
        }
    }
}

impl Exchange {
    /// State for an upstream call of `kind` answering the client's `model`, before any
    /// response header arrived. `fallback_id` names the completion when Bedrock sends no
    /// request id.
    pub fn new(kind: Kind, model: String, created: u64, fallback_id: String) -> Self {
        let shape = match kind {
            Kind::Messages | Kind::CountTokens => ErrorShape::Anthropic,
            Kind::Native => ErrorShape::Aws,
            _ => ErrorShape::OpenAi,
        };
        Exchange {
            meta: CompletionMeta {
                id: String::new(),
                created,
                model,
            },
            fallback_id,
            tool_names: ToolNames::default(),
            shape,
            status: 0,
            error_type: None,
            input_tokens: None,
            native_usage: None,
            kind,
            stream: None,
            streamed: 0,
        }
    }

    /// The client asked for a stream (`include_usage`: OpenAI's `stream_options`).
    pub fn streaming(mut self, include_usage: bool) -> Self {
        self.stream = Some(StreamMode {
            include_usage,
            translator: None,
        });
        self
    }

    /// Tool names the request translation changed, to map back in the answer.
    pub fn with_tool_names(mut self, names: ToolNames) -> Self {
        self.tool_names = names;
        self
    }

    /// Record what the upstream response headers say and decide how to handle the body.
    pub fn on_response_headers(&mut self, upstream: &UpstreamHeaders<'_>) -> ResponsePlan {
        let UpstreamHeaders {
            status,
            error_type,
            request_id,
            input_tokens,
            output_tokens,
        } = *upstream;
        self.status = status;
        if let Kind::Native = self.kind {
            // InvokeModel answers carry their token counts as headers (Converse ones only in
            // the body, which passes through unread).
            self.native_usage = (status == 200)
                .then(|| Usage::from_headers(input_tokens, output_tokens))
                .flatten();
            return ResponsePlan::Passthrough;
        }
        self.input_tokens = input_tokens.and_then(|t| t.trim().parse().ok());
        self.error_type = error_type.map(str::to_string);
        let suffix = request_id
            .filter(|r| !r.is_empty() && r.len() <= 128)
            .unwrap_or(&self.fallback_id);
        let prefix = match self.kind {
            Kind::Responses(_) => "resp_",
            _ => "chatcmpl-",
        };
        self.meta.id = format!("{prefix}{suffix}");
        match &mut self.stream {
            // An error before the stream starts is an ordinary HTTP error answer.
            Some(mode) if status == 200 => {
                mode.translator = Some(match &self.kind {
                    Kind::Responses(echo) => {
                        StreamTranslator::Responses(ResponsesStreamTranslator::new(
                            response_meta(&self.meta, echo),
                            std::mem::take(&mut self.tool_names),
                        ))
                    }
                    Kind::Messages => StreamTranslator::Messages(MessagesStreamTranslator::new(
                        self.meta.model.clone(),
                    )),
                    Kind::ChatInvoke(family) => {
                        StreamTranslator::ChatInvoke(InvokeStreamTranslator::new(
                            *family,
                            self.meta.clone(),
                            mode.include_usage,
                            std::mem::take(&mut self.tool_names),
                        ))
                    }
                    _ => StreamTranslator::Chat(ConverseStreamTranslator::new(
                        self.meta.clone(),
                        mode.include_usage,
                        std::mem::take(&mut self.tool_names),
                    )),
                });
                ResponsePlan::Stream
            }
            _ => ResponsePlan::Buffer,
        }
    }

    /// A native answer's tokens, from its headers (InvokeModel only).
    pub fn native_usage(&self) -> Option<Usage> {
        self.native_usage
    }

    /// The answer when the upstream response has no body at all.
    pub fn finish_without_body(&mut self, plan: ResponsePlan) -> Answer {
        match plan {
            ResponsePlan::Stream => {
                let mut body = Vec::new();
                self.stream_end(&mut body);
                Answer {
                    response: ClientResponse {
                        content_type: "text/event-stream",
                        ..ClientResponse::json(body)
                    },
                    usage: self.stream_usage(),
                    failure: None,
                }
            }
            ResponsePlan::Buffer | ResponsePlan::Passthrough => self.finish(b""),
        }
    }

    /// Translate one piece of a streamed upstream body, appending SSE to `out`.
    pub fn stream_chunk(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.streamed = self.streamed.saturating_add(bytes.len() as u64);
        if let Some(t) = self.stream.as_mut().and_then(|m| m.translator.as_mut()) {
            t.feed(bytes, out);
        }
    }

    /// The streamed upstream body ended: close the SSE stream (with an error if it was cut).
    pub fn stream_end(&mut self, out: &mut Vec<u8>) {
        if let Some(t) = self.stream.as_mut().and_then(|m| m.translator.as_mut()) {
            t.finish(out);
        }
    }

    /// The tokens a translated stream reported (known once it ended).
    pub fn stream_usage(&self) -> Option<Usage> {
        self.stream.as_ref()?.translator.as_ref()?.usage()
    }

    /// What a stream the client left before its end is charged: the counts Bedrock reported
    /// so far, and where it reported none (a stream's counts come with its last event), an
    /// estimate that errs on the side of the limits, four bytes to a token of the client's
    /// request and of the event stream received.
    pub fn abandoned_usage(&self, request_bytes: usize) -> Usage {
        let mut usage = self.stream_usage().unwrap_or_default();
        if usage.prompt_tokens() == 0 {
            usage.input_tokens = request_bytes as u64 / 4;
        }
        if usage.output_tokens == 0 {
            usage.output_tokens = self.streamed / 4;
        }
        usage
    }

    /// Translate the complete upstream body.
    pub fn finish(&self, body: &[u8]) -> Answer {
        let result = if self.status == 200 {
            self.translate(body)
        } else {
            Err(bedrock::error::from_response(
                self.status,
                self.error_type.as_deref(),
                body,
            ))
        };
        match result {
            Ok((body, usage)) => Answer {
                response: ClientResponse::json(body),
                usage,
                failure: None,
            },
            Err(e) => Answer {
                response: self.shape.render(&e),
                usage: None,
                failure: Some(self.failure_log(&e)),
            },
        }
    }

    /// The answer of an embeddings batch from its calls' answers, in input order.
    pub fn finish_embeddings(&self, answers: &[embeddings::Answer<'_>]) -> Answer {
        let result = match &self.kind {
            Kind::Embeddings(plan) => embeddings::from_answers(answers, plan),
            _ => Err(ApiError::internal(
                "only embeddings are answered from a batch",
            )),
        };
        match result {
            Ok((body, usage)) => Answer {
                response: ClientResponse::json(body),
                usage: Some(usage),
                failure: None,
            },
            Err(e) => self.local_error(&e),
        }
    }

    /// A failure of the filter's own on the answer path, in the client's shape.
    pub fn local_error(&self, e: &ApiError) -> Answer {
        Answer {
            response: self.shape.render(e),
            usage: None,
            failure: Some(self.failure_log(e)),
        }
    }

    fn translate(&self, body: &[u8]) -> Result<(Vec<u8>, Option<Usage>), ApiError> {
        let (body, usage) = match &self.kind {
            Kind::Chat => chat::response::from_converse(body, &self.meta, &self.tool_names)?,
            Kind::ChatInvoke(family) => {
                invoke::completion(*family, body, &self.meta, &self.tool_names)?
            }
            Kind::Embeddings(plan) => embeddings::from_invoke(body, plan, self.input_tokens)?,
            Kind::Responses(echo) => {
                responses::from_converse(body, &response_meta(&self.meta, echo), &self.tool_names)?
            }
            Kind::Messages => return messages::from_invoke(body, &self.meta.model),
            Kind::CountTokens => return Ok((messages::from_count_tokens(body)?, None)),
            Kind::Native => return Ok((body.to_vec(), None)),
        };
        Ok((body, Some(usage)))
    }

    /// One log line for an answer that failed, naming the request, the model, what the
    /// upstream said and what the client gets. The message is the client's (already
    /// redacted), cut to 300 bytes.
    fn failure_log(&self, e: &ApiError) -> String {
        let message = &e.message;
        let mut cut = message.len().min(300);
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        let error_type = self
            .error_type
            .as_deref()
            .map(|t| t.split(':').next().unwrap_or(t))
            .filter(|t| !t.is_empty())
            .map_or(String::new(), |t| format!(" {t}"));
        format!(
            "{} model {}: upstream answered {}{}; client gets {}: {}",
            self.meta.id,
            if self.meta.model.is_empty() {
                "-"
            } else {
                &self.meta.model
            },
            self.status,
            error_type,
            e.status,
            message.get(..cut).unwrap_or_default()
        )
    }

    /// The log line for an exchange the proxy ended before the upstream answer was complete
    /// (a connection reset, a route or idle timeout, the client going away).
    pub fn unfinished_log(&self, streaming: bool) -> String {
        let id = if self.meta.id.is_empty() {
            "request"
        } else {
            &self.meta.id
        };
        let model = if self.meta.model.is_empty() {
            "-"
        } else {
            &self.meta.model
        };
        let what = if streaming {
            "the stream ended before Bedrock's answer was complete"
        } else {
            "the request ended before Bedrock's answer was complete"
        };
        format!(
            "{id} model {model}: {what} (upstream reset, timeout or client gone; \
             Envoy's response flags say which)"
        )
    }

    /// The model as the client named it: for native requests the Bedrock ID of the path (or
    /// StartAsyncInvoke's body), empty for operations that name no model.
    pub fn client_model(&self) -> &str {
        &self.meta.model
    }

    /// Whether the request is a native Bedrock one (its model is used as given).
    pub fn is_native(&self) -> bool {
        matches!(self.kind, Kind::Native)
    }
}

/// The identity of a Responses answer: its id, time and model are the exchange's.
fn response_meta(meta: &CompletionMeta, echo: &responses::Echo) -> ResponseMeta {
    ResponseMeta {
        id: meta.id.clone(),
        created_at: meta.created,
        model: meta.model.clone(),
        echo: echo.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::credentials::CredentialsProvider;
    use crate::pipeline::Endpoint;
    use crate::pipeline::Worker;
    use crate::pipeline::testing::{chat_req, keys, prepare, worker};
    use crate::pipeline::upstream::ClientRequest;
    use serde_json::{Value, json};

    const US_EAST: &str = r#"{"region":"us-east-1"}"#;

    fn ok_headers() -> UpstreamHeaders<'static> {
        UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: None,
            input_tokens: None,
            output_tokens: None,
        }
    }

    #[test]
    fn exchange_translates_answers_and_errors() {
        let mut gw = worker(US_EAST, Some(keys(None)));
        let body = br#"{"model":"my-alias","messages":[{"role":"user","content":"hi"}]}"#;
        let (_, mut ex) = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 42).unwrap();
        ex.on_response_headers(&UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: Some("req-1"),
            input_tokens: None,
            output_tokens: None,
        });
        let ok = ex.finish(br#"{"output":{"message":{"role":"assistant","content":[{"text":"yo"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#);
        let v: Value = serde_json::from_slice(&ok.response.body).unwrap();
        assert_eq!(
            (ok.response.status, &v["id"], &v["model"], &v["created"]),
            (
                200,
                &json!("chatcmpl-req-1"),
                &json!("my-alias"),
                &json!(42)
            )
        );
        ex.on_response_headers(&UpstreamHeaders {
            status: 429,
            error_type: Some("ThrottlingException"),
            request_id: None,
            input_tokens: None,
            output_tokens: None,
        });
        let err = ex.finish(br#"{"message":"slow down"}"#);
        let v: Value = serde_json::from_slice(&err.response.body).unwrap();
        assert_eq!(
            (err.response.status, &v["error"]["type"]),
            (429, &json!("rate_limit_error"))
        );
    }

    #[test]
    fn failed_answers_get_one_log_line() {
        let mut gw = worker(US_EAST, Some(keys(None)));
        let body = br#"{"model":"my-alias","messages":[{"role":"user","content":"hi"}]}"#;
        let (_, mut ex) = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 42).unwrap();
        ex.on_response_headers(&UpstreamHeaders {
            status: 503,
            error_type: Some("ServiceUnavailableException:http://internal.amazon.com/coral/x/"),
            request_id: Some("req-9"),
            input_tokens: None,
            output_tokens: None,
        });
        let err = ex.finish(br#"{"message":"try later"}"#);
        assert_eq!(
            err.failure.as_deref(),
            Some(
                "chatcmpl-req-9 model my-alias: upstream answered 503 \
                 ServiceUnavailableException; client gets 503: try later"
            )
        );
        // An unreadable 200 is a failure too; a good answer logs nothing.
        ex.on_response_headers(&ok_headers());
        let bad = ex.finish(b"<html>");
        let line = bad.failure.unwrap();
        assert!(
            line.contains("upstream answered 200; client gets 502: "),
            "{line}"
        );
        let ok = ex.finish(br#"{"output":{"message":{"role":"assistant","content":[{"text":"yo"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#);
        assert_eq!(ok.failure, None);
        assert!(
            ex.unfinished_log(true)
                .contains(" model my-alias: the stream ended before"),
            "{}",
            ex.unfinished_log(true)
        );
    }

    #[test]
    fn usage_of_each_answer() {
        let mut gw = worker(US_EAST, Some(keys(None)));
        // Chat: Bedrock's counts, cache kept apart from input.
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let (_, mut ex) = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0).unwrap();
        ex.on_response_headers(&ok_headers());
        let usage = ex.finish(br#"{"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":4,"cacheReadInputTokens":100},"metrics":{"latencyMs":1}}"#).usage;
        assert_eq!(
            usage,
            Some(Usage {
                input_tokens: 3,
                output_tokens: 4,
                cache_read_tokens: 100,
                cache_write_tokens: 0
            })
        );
        assert_eq!(ex.client_model(), "m");
        // An error answer has none.
        ex.on_response_headers(&UpstreamHeaders {
            status: 429,
            ..ok_headers()
        });
        assert_eq!(ex.finish(b"{}").usage, None);
        // Embeddings: Titan's own count.
        let client = ClientRequest {
            anthropic_beta: None,
            path: "/v1/embeddings",
            content_type: Some("application/json"),
            body: br#"{"model":"amazon.titan-embed-text-v2:0","input":"hello"}"#,
        };
        let (_, mut ex) = prepare(&mut gw, Endpoint::Embeddings, &client, 0).unwrap();
        ex.on_response_headers(&ok_headers());
        let usage = ex
            .finish(br#"{"embedding":[0.5],"inputTextTokenCount":6}"#)
            .usage;
        assert_eq!(usage.map(|u| u.input_tokens), Some(6));
        // Messages: the answer's usage.
        let client = ClientRequest {
            anthropic_beta: None,
            path: "/v1/messages",
            content_type: Some("application/json"),
            body: br#"{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#,
        };
        let (_, mut ex) = prepare(&mut gw, Endpoint::Messages, &client, 0).unwrap();
        ex.on_response_headers(&ok_headers());
        let usage = ex.finish(br#"{"id":"m","type":"message","role":"assistant","content":[],"usage":{"input_tokens":11,"output_tokens":12,"cache_creation_input_tokens":5}}"#).usage;
        assert_eq!(
            usage.map(|u| (u.input_tokens, u.output_tokens, u.cache_write_tokens)),
            Some((11, 12, 5))
        );
    }

    #[test]
    fn stream_usage_after_metadata() {
        let mut gw = worker(US_EAST, Some(keys(None)));
        let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let (_, mut ex) = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0).unwrap();
        assert_eq!(ex.on_response_headers(&ok_headers()), ResponsePlan::Stream);
        assert_eq!(ex.stream_usage(), None);
        let mut frames = Vec::new();
        for (event, payload) in [
            ("messageStart", json!({"role": "assistant"})),
            ("messageStop", json!({"stopReason": "end_turn"})),
            (
                "metadata",
                json!({"usage": {"inputTokens": 7, "outputTokens": 8}, "metrics": {"latencyMs": 1}}),
            ),
        ] {
            let msg = crate::eventstream::Message::new_event(
                event,
                serde_json::to_vec(&payload).unwrap(),
            );
            crate::eventstream::encode(&msg, &mut frames).unwrap();
        }
        let mut out = Vec::new();
        ex.stream_chunk(&frames, &mut out);
        ex.stream_end(&mut out);
        assert_eq!(
            ex.stream_usage().map(|u| (u.input_tokens, u.output_tokens)),
            Some((7, 8))
        );
    }

    #[test]
    fn exchange_maps_tool_names_back() {
        let mut gw = worker(US_EAST, Some(keys(None)));
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"files.read"}}]}"#;
        let (req, mut ex) =
            prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 42).unwrap();
        let sent: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        let bedrock_name = sent["toolConfig"]["tools"][0]["toolSpec"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(bedrock_name, "files.read");
        ex.on_response_headers(&UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: Some("r"),
            input_tokens: None,
            output_tokens: None,
        });
        let answer = json!({"output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "t1", "name": bedrock_name, "input": {}}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}});
        let ok = ex.finish(&serde_json::to_vec(&answer).unwrap());
        let v: Value = serde_json::from_slice(&ok.response.body).unwrap();
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "files.read"
        );

        // Streaming: the translator gets the same names.
        let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"files.read"}}]}"#;
        let (_, mut ex) = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 42).unwrap();
        assert_eq!(
            ex.on_response_headers(&UpstreamHeaders {
                status: 200,
                error_type: None,
                request_id: None,
                input_tokens: None,
                output_tokens: None
            }),
            ResponsePlan::Stream
        );
        let mut frames = Vec::new();
        let start = json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t1", "name": bedrock_name}}});
        for (event, payload) in [
            ("messageStart", json!({"role": "assistant"})),
            ("contentBlockStart", start),
        ] {
            let msg = crate::eventstream::Message::new_event(
                event,
                serde_json::to_vec(&payload).unwrap(),
            );
            crate::eventstream::encode(&msg, &mut frames).unwrap();
        }
        let mut out = Vec::new();
        ex.stream_chunk(&frames, &mut out);
        let sse = String::from_utf8(out).unwrap();
        assert!(sse.contains(r#""name":"files.read""#), "{sse}");
    }

    #[test]
    fn invoke_models_get_the_family_body_path_and_answer() {
        let env = |_: &str| None;
        let cfg = Config::parse(
            br#"{"region":"us-east-1","default_max_tokens":999,"models":{
                "claude-invoke":{"id":"anthropic.claude-3-haiku-20240307-v1:0","api":"invoke"}}}"#,
            &env,
        )
        .unwrap();
        let mut gw = Worker::with_provider(cfg, CredentialsProvider::fixed(Some(keys(None))));
        let body = br#"{"model":"claude-invoke","messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"files.read"}}]}"#;
        let (req, mut ex) =
            prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 42).unwrap();
        assert_eq!(
            req.path,
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
        );
        assert_eq!(req.header("accept"), Some("application/json"));
        let sent: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(sent["anthropic_version"], "bedrock-2023-05-31");
        assert_eq!(sent["max_tokens"], 999);
        let mapped = sent["tools"][0]["name"].as_str().unwrap().to_string();
        ex.on_response_headers(&UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: Some("r1"),
            input_tokens: None,
            output_tokens: None,
        });
        let answer = json!({"id": "msg_bdrk_1", "type": "message", "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": mapped, "input": {}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 2}});
        let ok = ex.finish(&serde_json::to_vec(&answer).unwrap());
        let v: Value = serde_json::from_slice(&ok.response.body).unwrap();
        assert_eq!(
            (&v["id"], &v["model"]),
            (&json!("chatcmpl-r1"), &json!("claude-invoke"))
        );
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "files.read"
        );

        let body = br#"{"model":"claude-invoke","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let (req, mut ex) =
            prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 42).unwrap();
        assert_eq!(
            req.path,
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream"
        );
        assert_eq!(
            req.header("x-amzn-bedrock-accept"),
            Some("application/json")
        );
        assert_eq!(req.header("accept"), None);
        assert_eq!(
            ex.on_response_headers(&UpstreamHeaders {
                status: 200,
                error_type: None,
                request_id: None,
                input_tokens: None,
                output_tokens: None
            }),
            ResponsePlan::Stream
        );
        let mut frames = Vec::new();
        let event = br#"{"type":"message_start","message":{"usage":{"input_tokens":1}}}"#;
        let payload = format!(
            r#"{{"bytes":"{}"}}"#,
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, event)
        );
        let msg = crate::eventstream::Message::new_event("chunk", payload.into_bytes());
        crate::eventstream::encode(&msg, &mut frames).unwrap();
        let mut out = Vec::new();
        ex.stream_chunk(&frames, &mut out);
        ex.stream_end(&mut out);
        let sse = String::from_utf8(out).unwrap();
        assert!(sse.contains(r#""role":"assistant""#), "{sse}");
        assert!(
            sse.contains(r#""error""#) && !sse.contains("[DONE]"),
            "{sse}"
        );
    }
}
