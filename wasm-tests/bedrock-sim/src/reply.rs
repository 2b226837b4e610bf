//! The simulated model answer, and how each operation renders it.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::stream::StreamItem;
use crate::util::{word_count, word_pieces};

/// What a request asks of the model, as far as the simulator cares.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prompt {
    /// Words of all input text (system and messages): the input token count.
    pub input_words: u64,
    /// Text of the last user message: the default reply echoes it.
    pub last_user_text: String,
    pub max_tokens: Option<u64>,
    pub stop_sequences: Vec<String>,
    /// Converse `additionalModelResponseFieldPaths`.
    pub response_field_paths: Vec<String>,
}

/// A tool call in the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: Option<String>,
    pub name: String,
    pub input: Value,
}

/// The answer: optional text, then tool calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop_reason: String,
    /// The stop sequence that ended the text, if one did.
    pub stop_sequence: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Reply {
    /// `You said: <last user text>`, cut by stop sequences and max tokens.
    pub fn echo(prompt: &Prompt) -> Reply {
        let full = if prompt.last_user_text.trim().is_empty() {
            "You said:".to_owned()
        } else {
            format!("You said: {}", prompt.last_user_text)
        };
        Reply::with_text(prompt, &full, Vec::new())
    }

    /// The model "generating" `full` and then the tool calls: a stop sequence found in
    /// the text ends it there (`stop_sequence`); more words than `max_tokens` cut it to
    /// that many words (`max_tokens`, and the tool calls are never reached).
    pub fn with_text(prompt: &Prompt, full: &str, tool_calls: Vec<ToolCall>) -> Reply {
        let mut text = full.to_owned();
        let mut stop_sequence = None;
        let mut earliest: Option<(usize, &String)> = None;
        for s in prompt.stop_sequences.iter().filter(|s| !s.is_empty()) {
            if let Some(pos) = text.find(s.as_str())
                && earliest.is_none_or(|(p, _)| pos < p)
            {
                earliest = Some((pos, s));
            }
        }
        if let Some((pos, s)) = earliest {
            text.truncate(pos);
            stop_sequence = Some(s.clone());
        }
        let mut stop_reason = if stop_sequence.is_some() {
            "stop_sequence"
        } else if tool_calls.is_empty() {
            "end_turn"
        } else {
            "tool_use"
        };
        let mut tool_calls = if stop_sequence.is_some() {
            Vec::new()
        } else {
            tool_calls
        };
        let tool_tokens = tool_calls.len() as u64;
        if let Some(max) = prompt.max_tokens {
            let words = word_count(&text);
            if words + tool_tokens > max {
                let keep = usize::try_from(max).unwrap_or(usize::MAX);
                let pieces = word_pieces(&text);
                if pieces.len() > keep {
                    text = pieces
                        .get(..keep)
                        .map(|p| p.concat())
                        .unwrap_or_default()
                        .trim_end()
                        .to_owned();
                }
                tool_calls.clear();
                stop_sequence = None;
                stop_reason = "max_tokens";
            }
        }
        let output_tokens = word_count(&text) + tool_calls.len() as u64;
        Reply {
            text,
            tool_calls,
            stop_reason: stop_reason.to_owned(),
            stop_sequence,
            input_tokens: prompt.input_words,
            output_tokens,
        }
    }

    fn converse_tool_id(&self, i: usize) -> String {
        self.tool_calls
            .get(i)
            .and_then(|t| t.id.clone())
            .unwrap_or_else(|| format!("tooluse_sim{:02}", i + 1))
    }

    fn anthropic_tool_id(&self, i: usize) -> String {
        self.tool_calls
            .get(i)
            .and_then(|t| t.id.clone())
            .unwrap_or_else(|| format!("toolu_bdrk_sim{:02}", i + 1))
    }

    fn usage_converse(&self) -> Value {
        json!({
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.output_tokens,
        })
    }

    fn additional_fields(&self, prompt: &Prompt) -> Option<Value> {
        if prompt.response_field_paths.is_empty() {
            return None;
        }
        let native = json!({
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
        });
        let mut out = Map::new();
        for path in &prompt.response_field_paths {
            if let Some(v) = native.pointer(path) {
                let key = path.trim_start_matches('/').to_owned();
                out.insert(key, v.clone());
            }
        }
        Some(Value::Object(out))
    }

    /// The ConverseResponse body.
    pub fn converse_json(&self, prompt: &Prompt, latency_ms: u64) -> Value {
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(json!({ "text": self.text }));
        }
        for (i, t) in self.tool_calls.iter().enumerate() {
            content.push(json!({ "toolUse": {
                "toolUseId": self.converse_tool_id(i),
                "name": t.name,
                "input": t.input,
            }}));
        }
        let mut out = json!({
            "output": { "message": { "role": "assistant", "content": content } },
            "stopReason": self.stop_reason,
            "usage": self.usage_converse(),
            "metrics": { "latencyMs": latency_ms },
        });
        if let (Some(fields), Some(obj)) = (self.additional_fields(prompt), out.as_object_mut()) {
            obj.insert("additionalModelResponseFields".into(), fields);
        }
        out
    }

    /// The ConverseStream events: messageStart, per text word a contentBlockDelta (no
    /// contentBlockStart for text, as the real service), contentBlockStop; per tool call
    /// contentBlockStart + input fragments + contentBlockStop; messageStop; metadata.
    pub fn converse_events(&self, prompt: &Prompt, latency_ms: u64) -> Vec<StreamItem> {
        let ev = StreamItem::event;
        let mut out = vec![ev("messageStart", json!({ "role": "assistant" }))];
        let mut index = 0u64;
        if !self.text.is_empty() {
            for piece in word_pieces(&self.text) {
                out.push(ev(
                    "contentBlockDelta",
                    json!({ "contentBlockIndex": index, "delta": { "text": piece } }),
                ));
            }
            out.push(ev(
                "contentBlockStop",
                json!({ "contentBlockIndex": index }),
            ));
            index += 1;
        }
        for (i, t) in self.tool_calls.iter().enumerate() {
            out.push(ev(
                "contentBlockStart",
                json!({ "contentBlockIndex": index, "start": { "toolUse": {
                    "toolUseId": self.converse_tool_id(i), "name": t.name } } }),
            ));
            for frag in json_fragments(&t.input) {
                out.push(ev(
                    "contentBlockDelta",
                    json!({ "contentBlockIndex": index, "delta": { "toolUse": { "input": frag } } }),
                ));
            }
            out.push(ev(
                "contentBlockStop",
                json!({ "contentBlockIndex": index }),
            ));
            index += 1;
        }
        let mut stop = json!({ "stopReason": self.stop_reason });
        if let (Some(fields), Some(obj)) = (self.additional_fields(prompt), stop.as_object_mut()) {
            obj.insert("additionalModelResponseFields".into(), fields);
        }
        out.push(ev("messageStop", stop));
        out.push(ev(
            "metadata",
            json!({ "usage": self.usage_converse(), "metrics": { "latencyMs": latency_ms } }),
        ));
        out
    }

    /// The Anthropic Messages response InvokeModel answers with.
    pub fn anthropic_json(&self, model: &str, message_id: &str) -> Value {
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(json!({ "type": "text", "text": self.text }));
        }
        for (i, t) in self.tool_calls.iter().enumerate() {
            content.push(json!({
                "type": "tool_use", "id": self.anthropic_tool_id(i), "name": t.name, "input": t.input,
            }));
        }
        json!({
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": { "input_tokens": self.input_tokens, "output_tokens": self.output_tokens },
        })
    }

    /// The Anthropic streaming events (message_start ... message_stop), each to be sent
    /// base64-encoded in a `chunk` event.
    pub fn anthropic_stream_events(
        &self,
        model: &str,
        message_id: &str,
        latency_ms: u64,
    ) -> Vec<Value> {
        let mut out = vec![json!({
            "type": "message_start",
            "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": self.input_tokens, "output_tokens": 1 },
            },
        })];
        let mut index = 0u64;
        if !self.text.is_empty() {
            out.push(json!({ "type": "content_block_start", "index": index,
                             "content_block": { "type": "text", "text": "" } }));
            for piece in word_pieces(&self.text) {
                out.push(json!({ "type": "content_block_delta", "index": index,
                                 "delta": { "type": "text_delta", "text": piece } }));
            }
            out.push(json!({ "type": "content_block_stop", "index": index }));
            index += 1;
        }
        for (i, t) in self.tool_calls.iter().enumerate() {
            out.push(json!({ "type": "content_block_start", "index": index,
                "content_block": { "type": "tool_use", "id": self.anthropic_tool_id(i),
                                   "name": t.name, "input": {} } }));
            for frag in json_fragments(&t.input) {
                out.push(json!({ "type": "content_block_delta", "index": index,
                                 "delta": { "type": "input_json_delta", "partial_json": frag } }));
            }
            out.push(json!({ "type": "content_block_stop", "index": index }));
            index += 1;
        }
        out.push(json!({
            "type": "message_delta",
            "delta": { "stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence },
            "usage": { "output_tokens": self.output_tokens },
        }));
        out.push(json!({
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": self.input_tokens,
                "outputTokenCount": self.output_tokens,
                "invocationLatency": latency_ms,
                "firstByteLatency": latency_ms,
            },
        }));
        out
    }
}

/// A `chunk` event carrying one model-native JSON event, base64-encoded.
pub fn chunk_item(native: &Value) -> StreamItem {
    let b64 = base64::engine::general_purpose::STANDARD.encode(native.to_string());
    StreamItem::event("chunk", json!({ "bytes": b64 }))
}

/// The compact JSON of `v` in up to three pieces (split on character boundaries), as
/// models stream tool input.
fn json_fragments(v: &Value) -> Vec<String> {
    let s = v.to_string();
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n < 6 {
        return vec![s];
    }
    let cuts = [0, n / 3, 2 * n / 3, n];
    cuts.windows(2)
        .filter_map(|w| match w {
            [a, b] => chars.get(*a..*b).map(|c| c.iter().collect()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(text: &str) -> Prompt {
        Prompt {
            input_words: word_count(text),
            last_user_text: text.into(),
            ..Prompt::default()
        }
    }

    #[test]
    fn echo_counts_words() {
        let r = Reply::echo(&prompt("hello big world"));
        assert_eq!(r.text, "You said: hello big world");
        assert_eq!((r.input_tokens, r.output_tokens), (3, 5));
        assert_eq!(r.stop_reason, "end_turn");
    }

    #[test]
    fn max_tokens_cuts() {
        let mut p = prompt("hello big world");
        p.max_tokens = Some(3);
        let r = Reply::echo(&p);
        assert_eq!(r.text, "You said: hello");
        assert_eq!(r.output_tokens, 3);
        assert_eq!(r.stop_reason, "max_tokens");
    }

    #[test]
    fn stop_sequence_cuts() {
        let mut p = prompt("one two three");
        p.stop_sequences = vec!["three".into(), "two".into()];
        let r = Reply::echo(&p);
        assert_eq!(r.text, "You said: one ");
        assert_eq!(r.stop_reason, "stop_sequence");
        assert_eq!(r.stop_sequence.as_deref(), Some("two"));
    }

    #[test]
    fn stream_concatenates_to_text() {
        let p = prompt("a  b c");
        let r = Reply::echo(&p);
        let text: String = r
            .converse_events(&p, 1)
            .iter()
            .filter_map(|e| match e {
                StreamItem::Event {
                    event_type,
                    payload,
                } if event_type == "contentBlockDelta" => {
                    payload["delta"]["text"].as_str().map(str::to_owned)
                }
                _ => None,
            })
            .collect();
        assert_eq!(text, r.text);
    }

    #[test]
    fn fragments_rejoin() {
        let v = json!({"city": "Paris", "unit": "C"});
        assert_eq!(json_fragments(&v).concat(), v.to_string());
        assert_eq!(json_fragments(&json!({})), vec!["{}".to_string()]);
    }
}
