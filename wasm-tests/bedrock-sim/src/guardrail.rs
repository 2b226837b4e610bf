//! ApplyGuardrail and InvokeGuardrailChecks: requests checked against the API model,
//! default answers deterministic.
//!
//! Every guardrail whose identifier and version fit the model's patterns exists. It
//! intervenes when a text block holds the word [`BLOCK_WORD`], as a content filter would,
//! and otherwise lets everything through. Usage is counted in text units as Bedrock
//! bills guardrails: one unit per started 1000 characters of each text block.

use serde_json::{Value, json};

use crate::converse::parse_json_body;
use crate::errors::AwsError;
use crate::shapes::{Model, Violation, violations_message};

/// A text block holding this word (delimited by anything but letters and digits) makes
/// ApplyGuardrail intervene.
pub const BLOCK_WORD: &str = "BLOCKME";
/// The output of an intervention: Bedrock's default blocked-input message.
pub const BLOCKED_MESSAGE: &str = "Sorry, the model cannot answer this question.";

fn object(body: &[u8]) -> Result<Value, AwsError> {
    let v = parse_json_body(body)?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(AwsError::malformed("#: expected type: JSONObject"))
    }
}

fn text_units(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(1000)
}

fn has_block_word(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w == BLOCK_WORD)
}

/// ApplyGuardrail's default answer, after checking the URI labels (decoded; `None` when
/// a label does not decode) and the body against the API model.
pub fn apply(
    identifier: Option<&str>,
    version: Option<&str>,
    body: &[u8],
) -> Result<Value, AwsError> {
    let (Some(identifier), Some(version)) = (identifier, version) else {
        return Err(AwsError::validation(
            "The guardrail identifier or version in the path is not a valid percent-encoded string.",
        ));
    };
    let model = Model::runtime();
    let mut violations: Vec<Violation> = model.validate_member(
        "GuardrailIdentifier",
        &json!(identifier),
        "guardrailIdentifier",
    );
    violations.extend(model.validate_member(
        "GuardrailVersion",
        &json!(version),
        "guardrailVersion",
    ));
    let v = object(body)?;
    violations.extend(model.validate("ApplyGuardrailRequest", &v));
    if let Some(m) = violations_message(&violations) {
        return Err(AwsError::validation(m));
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let texts: Vec<&str> = blocks
        .iter()
        .filter_map(|b| b.get("text")?.get("text")?.as_str())
        .collect();
    let images = blocks.iter().filter(|b| b.get("image").is_some()).count() as u64;
    let units: u64 = texts.iter().map(|t| text_units(t)).sum();
    let chars: u64 = texts.iter().map(|t| t.chars().count() as u64).sum();
    let mut usage = json!({
        "topicPolicyUnits": 0,
        "contentPolicyUnits": units,
        "wordPolicyUnits": 0,
        "sensitiveInformationPolicyUnits": 0,
        "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": 0,
    });
    let mut coverage = json!({"textCharacters": {"guarded": chars, "total": chars}});
    if images > 0 {
        usage["contentPolicyImageUnits"] = json!(images);
        coverage["images"] = json!({"guarded": images, "total": images});
    }
    if texts.iter().any(|t| has_block_word(t)) {
        Ok(json!({
            "usage": usage,
            "action": "GUARDRAIL_INTERVENED",
            "actionReason": "Guardrail blocked.",
            "outputs": [{"text": BLOCKED_MESSAGE}],
            "assessments": [{"contentPolicy": {"filters": [{
                "type": "MISCONDUCT",
                "confidence": "HIGH",
                "filterStrength": "HIGH",
                "action": "BLOCKED",
                "detected": true
            }]}}],
            "guardrailCoverage": coverage,
        }))
    } else {
        Ok(json!({
            "usage": usage,
            "action": "NONE",
            "outputs": [],
            "assessments": [],
            "guardrailCoverage": coverage,
        }))
    }
}

/// InvokeGuardrailChecks' default answer: for each configured check, every configured
/// category with severity 0 (no finding), no sensitive entity, and the text units of the
/// messages as each check's usage.
pub fn checks(body: &[u8]) -> Result<Value, AwsError> {
    let v = object(body)?;
    if let Some(m) =
        violations_message(&Model::runtime().validate("InvokeGuardrailChecksRequest", &v))
    {
        return Err(AwsError::validation(m));
    }
    let units: u64 = v
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content")?.as_array())
        .flatten()
        .filter_map(|b| b.get("text")?.as_str())
        .map(text_units)
        .sum();
    let checks = v.get("checks").cloned().unwrap_or_else(|| json!({}));
    let categories = |check: &str| -> Vec<Value> {
        checks
            .get(check)
            .and_then(|c| c.get("categories"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("category").cloned())
            .map(|c| json!({"category": c, "severityScore": 0.0}))
            .collect()
    };
    let mut results = serde_json::Map::new();
    let mut usage = serde_json::Map::new();
    for check in ["contentFilter", "promptAttack"] {
        if checks.get(check).is_some() {
            results.insert(check.into(), json!({ "results": categories(check) }));
            usage.insert(check.into(), json!({ "textUnits": units }));
        }
    }
    if checks.get("sensitiveInformation").is_some() {
        results.insert(
            "sensitiveInformation".into(),
            json!({"results": [], "truncated": false}),
        );
        usage.insert("sensitiveInformation".into(), json!({ "textUnits": units }));
    }
    Ok(json!({"results": results, "usage": usage}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(shape: &str, v: &Value) {
        let violations = Model::runtime().validate(shape, v);
        assert!(violations.is_empty(), "{shape}: {violations:?}\n{v}");
    }

    fn body(texts: &[&str]) -> Vec<u8> {
        let content: Vec<Value> = texts.iter().map(|t| json!({"text": {"text": t}})).collect();
        json!({"source": "INPUT", "content": content})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn default_answer_lets_through() {
        let a = apply(Some("gr12ab34cd"), Some("2"), &body(&["hello there", "x"])).unwrap();
        valid("ApplyGuardrailResponse", &a);
        assert_eq!(a["action"], "NONE");
        assert_eq!(a["outputs"], json!([]));
        assert_eq!(a["assessments"], json!([]));
        assert_eq!(a["usage"]["contentPolicyUnits"], 2);
        assert_eq!(a["usage"]["topicPolicyUnits"], 0);
        assert_eq!(a["guardrailCoverage"]["textCharacters"]["total"], 12);
        let long = "a".repeat(1001);
        let a = apply(Some("gr1"), Some("DRAFT"), &body(&[&long])).unwrap();
        assert_eq!(a["usage"]["contentPolicyUnits"], 2);
    }

    #[test]
    fn block_word_intervenes() {
        let a = apply(
            Some("arn:aws:bedrock:us-east-1:123456789012:guardrail/gr1"),
            Some("1"),
            &body(&["fine", "please BLOCKME, now"]),
        )
        .unwrap();
        valid("ApplyGuardrailResponse", &a);
        assert_eq!(a["action"], "GUARDRAIL_INTERVENED");
        assert_eq!(a["outputs"], json!([{"text": BLOCKED_MESSAGE}]));
        let filter = &a["assessments"][0]["contentPolicy"]["filters"][0];
        assert_eq!(
            (&filter["action"], &filter["detected"]),
            (&json!("BLOCKED"), &json!(true))
        );
        // Only the whole word.
        let a = apply(Some("gr1"), Some("1"), &body(&["BLOCKMEPLEASE blockme"])).unwrap();
        assert_eq!(a["action"], "NONE");
    }

    #[test]
    fn labels_follow_the_model_patterns() {
        let e = apply(Some("GR_1"), Some("1"), &body(&["a"])).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.starts_with("1 validation error detected: Value 'GR_1' at 'guardrailIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern"),
            "{}",
            e.message
        );
        let e = apply(Some("gr1"), Some("0"), &body(&["a"])).unwrap_err();
        assert!(e.message.contains("at 'guardrailVersion'"), "{}", e.message);
        let e = apply(Some("gr1"), Some("latest"), &body(&["a"])).unwrap_err();
        assert!(e.message.contains("at 'guardrailVersion'"), "{}", e.message);
        assert!(apply(Some("gr1"), Some("99999999"), &body(&["a"])).is_ok());
        assert!(apply(Some("gr1"), Some("123456789"), &body(&["a"])).is_err());
    }

    #[test]
    fn body_follows_the_model() {
        let err = |v: Value| {
            apply(Some("gr1"), Some("1"), v.to_string().as_bytes())
                .unwrap_err()
                .message
        };
        let m = err(json!({"source": "PROMPT", "content": []}));
        assert!(
            m.contains("Member must satisfy enum value set: [INPUT, OUTPUT]"),
            "{m}"
        );
        let m = err(json!({"content": [{"text": {"text": "a"}}]}));
        assert!(m.contains("Value null at 'source'"), "{m}");
        let m = err(json!({"source": "INPUT", "content": [{"text": "a"}]}));
        assert!(m.contains("expected type: Object"), "{m}");
        let m = err(
            json!({"source": "INPUT", "content": [{"text": {"text": "a", "qualifiers": ["bogus"]}}]}),
        );
        assert!(m.contains("qualifiers"), "{m}");
        let m = err(json!({"source": "INPUT", "content": [], "outputScope": "ALL"}));
        assert!(m.contains("'outputScope'"), "{m}");
        let m = err(json!({"source": "INPUT", "content": [], "guardrailVersion": "1"}));
        assert!(m.contains("extraneous key [guardrailVersion]"), "{m}");
        let ok = apply(
            Some("gr1"),
            Some("1"),
            json!({"source": "OUTPUT", "outputScope": "FULL", "content": [
                {"text": {"text": "a", "qualifiers": ["guard_content"]}},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        valid("ApplyGuardrailResponse", &ok);
        assert_eq!(ok["usage"]["contentPolicyImageUnits"], 1);
    }

    #[test]
    fn guardrail_checks_answer_without_findings() {
        let req = json!({
            "messages": [{"role": "user", "content": [{"text": "hello"}]}],
            "checks": {
                "contentFilter": {"categories": [{"category": "VIOLENCE"}, {"category": "HATE"}]},
                "sensitiveInformation": {"entities": [{"type": "EMAIL"}]}
            }
        });
        let a = checks(req.to_string().as_bytes()).unwrap();
        valid("InvokeGuardrailChecksResponse", &a);
        assert_eq!(
            a["results"]["contentFilter"]["results"],
            json!([{"category": "VIOLENCE", "severityScore": 0.0}, {"category": "HATE", "severityScore": 0.0}])
        );
        assert_eq!(a["results"]["sensitiveInformation"]["results"], json!([]));
        assert!(a["results"].get("promptAttack").is_none());
        assert_eq!(a["usage"]["contentFilter"]["textUnits"], 1);
        let e = checks(br#"{"messages": [], "checks": {}}"#).unwrap_err();
        assert!(e.message.contains("'messages'"), "{}", e.message);
        let e = checks(
            br#"{"messages": [{"role": "user", "content": [{"text": "a"}]}], "checks": {"promptAttack": {"categories": [{"category": "SPAM"}]}}}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("JAILBREAK"), "{}", e.message);
    }
}
