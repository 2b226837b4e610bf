//! Converse response → OpenAI `chat.completion`.

use std::borrow::Cow;

use crate::bedrock::converse::{ConverseResponse, finish_reason};
use crate::error::ApiError;
use crate::openai::{AssistantMessage, ChatCompletion, Choice, Usage};

/// Identity of one completion: the same id/created/model go into every object answered for it.
#[derive(Debug, Clone)]
pub struct CompletionMeta {
    pub id: String,
    pub created: u64,
    pub model: String,
}

/// Translate a successful Converse answer. A body that is not a Converse response is a 502.
pub fn from_converse(body: &[u8], meta: &CompletionMeta) -> Result<Vec<u8>, ApiError> {
    let resp: ConverseResponse = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_upstream(format!(
            "Bedrock returned an unreadable Converse response: {e}"
        ))
    })?;
    let mut text: Option<Cow<str>> = None;
    for block in resp.output.message.into_iter().flat_map(|m| m.content) {
        if let Some(t) = block.text {
            text = Some(match text {
                None => t,
                Some(prev) => Cow::Owned(prev.into_owned() + &t),
            });
        }
    }
    let usage = Usage {
        prompt_tokens: resp.usage.input_tokens,
        completion_tokens: resp.usage.output_tokens,
        total_tokens: resp.usage.total_tokens.unwrap_or(
            resp.usage
                .input_tokens
                .saturating_add(resp.usage.output_tokens),
        ),
    };
    let completion = ChatCompletion {
        id: &meta.id,
        object: "chat.completion",
        created: meta.created,
        model: &meta.model,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: Some(text.unwrap_or(Cow::Borrowed(""))),
                refusal: None,
            },
            finish_reason: finish_reason(&resp.stop_reason),
            logprobs: None,
        }],
        usage,
    };
    serde_json::to_vec(&completion)
        .map_err(|e| ApiError::bad_upstream(format!("cannot encode response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn meta() -> CompletionMeta {
        CompletionMeta {
            id: "chatcmpl-1".into(),
            created: 1700000000,
            model: "my-model".into(),
        }
    }

    #[test]
    fn golden_text_answer() {
        let body = json!({"output": {"message": {"role": "assistant", "content": [
                {"text": "Hello"}, {"text": ", world"}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 12, "outputTokens": 2, "totalTokens": 14},
            "metrics": {"latencyMs": 120}});
        let out: Value = serde_json::from_slice(
            &from_converse(&serde_json::to_vec(&body).unwrap(), &meta()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
                "model": "my-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, world", "refusal": null},
                             "finish_reason": "length", "logprobs": null}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}})
        );
    }

    #[test]
    fn garbage_is_a_502() {
        let e = from_converse(b"<html>", &meta()).unwrap_err();
        assert_eq!(e.status, 502);
        let e = from_converse(br#"{"output":{}}"#, &meta()).unwrap_err();
        assert_eq!(e.status, 502);
    }
}
