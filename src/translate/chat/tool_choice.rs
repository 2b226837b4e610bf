//! Claude's own `tool_choice`, for what Converse's `toolChoice` cannot say.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::request::Translated;
use crate::error::ApiError;

/// `parallel_tool_calls: false` for Claude through Converse, which has no switch of its own:
/// Claude's `tool_choice.disable_parallel_tool_use`, in `additionalModelRequestFields`, which
/// Bedrock merges into the `tool_choice` it writes from Converse's `toolChoice` — so the type
/// is named only when Converse names none. Other models have no such switch: the flag is
/// left out (documented), the model may call several tools at once.
pub fn single_tool_call_for_claude(t: &mut Translated<'_>) -> Result<(), ApiError> {
    if t.parallel_tool_calls != Some(false) {
        return Ok(());
    }
    let Some(tc) = &t.converse.tool_config else {
        return Ok(());
    };
    let fields = &mut t.converse.additional_model_request_fields;
    if fields.get("tool_choice").is_some() {
        // The client wrote Claude's tool_choice itself.
        return Ok(());
    }
    let json = if tc.tool_choice.is_some() {
        r#"{"disable_parallel_tool_use":true}"#
    } else {
        r#"{"type":"auto","disable_parallel_tool_use":true}"#
    };
    let value = RawValue::from_string(json.to_string())
        .map_err(|e| ApiError::internal(format!("cannot write tool_choice: {e}")))?;
    fields.insert(Cow::Borrowed("tool_choice"), Cow::Owned(value));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn one_tool_call_at_a_time_for_claude() {
        let with = |extra: Value| {
            let mut req = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "parallel_tool_calls": false});
            for (k, v) in extra.as_object().unwrap() {
                req[k] = v.clone();
            }
            let bytes = serde_json::to_vec(&req).unwrap();
            let parsed = crate::translate::chat::request::parse(&bytes).unwrap();
            let mut t = crate::translate::chat::request::to_request(&parsed).unwrap();
            single_tool_call_for_claude(&mut t).unwrap();
            let body = crate::translate::chat::request::converse_body(&t, 0).unwrap();
            serde_json::from_slice::<Value>(&body).unwrap()
        };
        let out = with(json!({}));
        assert_eq!(
            out["additionalModelRequestFields"]["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        assert!(out["toolConfig"].get("toolChoice").is_none());
        // Converse's own choice names the type; Claude's adds only the switch.
        let out = with(json!({"tool_choice": "required"}));
        assert_eq!(out["toolConfig"]["toolChoice"], json!({"any": {}}));
        assert_eq!(
            out["additionalModelRequestFields"]["tool_choice"],
            json!({"disable_parallel_tool_use": true})
        );
        let out = with(json!({"parallel_tool_calls": true}));
        assert!(out.get("additionalModelRequestFields").is_none(), "{out}");
    }
}
