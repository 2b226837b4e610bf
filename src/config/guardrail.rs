//! Bedrock Guardrails from the configuration, validated as the API model defines them, and
//! written as Converse's `guardrailConfig` or the InvokeModel headers.

use std::borrow::Cow;

use serde::Deserialize;

use crate::bedrock::converse::{GuardrailConfiguration, StreamProcessingMode, Trace};
use crate::error::ConfigError;

/// A guardrail as written in the configuration (top level, or per model).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuardrail {
    /// Guardrail ID (`abc123def456`) or ARN.
    pub identifier: String,
    /// A version number or `DRAFT`.
    pub version: String,
    /// `enabled`, `disabled` or `enabled_full`.
    #[serde(default)]
    pub trace: Option<String>,
    /// ConverseStream only: `sync` or `async`.
    #[serde(default)]
    pub stream_processing_mode: Option<String>,
}

/// A validated guardrail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrail {
    pub identifier: String,
    pub version: String,
    pub trace: Option<Trace>,
    pub stream_processing_mode: Option<StreamProcessingMode>,
}

impl Guardrail {
    /// Validate the section at `field`, adding one error per problem to `errors`.
    pub fn from_raw(
        raw: RawGuardrail,
        field: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Guardrail> {
        let mut problems = Vec::new();
        if !is_identifier(&raw.identifier) {
            problems.push((
                ".identifier",
                format!(
                    "{:?} is neither a guardrail ID (lower-case letters and digits) nor a guardrail ARN",
                    raw.identifier
                ),
            ));
        }
        if !is_version(&raw.version) {
            problems.push((
                ".version",
                format!(
                    "{:?} is not a version number (1-99999999) or \"DRAFT\"",
                    raw.version
                ),
            ));
        }
        let trace = match raw.trace.as_deref() {
            None => None,
            Some("enabled") => Some(Trace::Enabled),
            Some("disabled") => Some(Trace::Disabled),
            Some("enabled_full") => Some(Trace::EnabledFull),
            Some(other) => {
                problems.push((
                    ".trace",
                    format!("unknown trace {other:?} (expected enabled, disabled or enabled_full)"),
                ));
                None
            }
        };
        let stream_processing_mode = match raw.stream_processing_mode.as_deref() {
            None => None,
            Some("sync") => Some(StreamProcessingMode::Sync),
            Some("async") => Some(StreamProcessingMode::Async),
            Some(other) => {
                problems.push((
                    ".stream_processing_mode",
                    format!("unknown mode {other:?} (expected sync or async)"),
                ));
                None
            }
        };
        if !problems.is_empty() {
            errors.extend(
                problems
                    .into_iter()
                    .map(|(suffix, message)| ConfigError::new(format!("{field}{suffix}"), message)),
            );
            return None;
        }
        Some(Guardrail {
            identifier: raw.identifier,
            version: raw.version,
            trace,
            stream_processing_mode,
        })
    }

    /// Converse's `guardrailConfig` (`streamProcessingMode` only for ConverseStream).
    pub fn converse_config(&self, stream: bool) -> GuardrailConfiguration<'_> {
        GuardrailConfiguration {
            guardrail_identifier: Cow::Borrowed(&self.identifier),
            guardrail_version: Cow::Borrowed(&self.version),
            trace: self.trace,
            stream_processing_mode: if stream {
                self.stream_processing_mode
            } else {
                None
            },
        }
    }

    /// [`Guardrail::converse_config`] owning its strings, for a request that outlives `self`.
    pub fn converse_config_owned(&self, stream: bool) -> GuardrailConfiguration<'static> {
        let c = self.converse_config(stream);
        GuardrailConfiguration {
            guardrail_identifier: Cow::Owned(c.guardrail_identifier.into_owned()),
            guardrail_version: Cow::Owned(c.guardrail_version.into_owned()),
            trace: c.trace,
            stream_processing_mode: c.stream_processing_mode,
        }
    }

    /// The InvokeModel / InvokeModelWithResponseStream headers.
    pub fn invoke_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (
                "x-amzn-bedrock-guardrailidentifier",
                self.identifier.clone(),
            ),
            ("x-amzn-bedrock-guardrailversion", self.version.clone()),
        ];
        if let Some(trace) = self.trace {
            let value = match trace {
                Trace::Enabled => "ENABLED",
                Trace::Disabled => "DISABLED",
                Trace::EnabledFull => "ENABLED_FULL",
            };
            headers.push(("x-amzn-bedrock-trace", value.to_string()));
        }
        headers
    }
}

/// `[a-z0-9]+` or `arn:aws(-…)?:bedrock:<region>:<12 digits>:guardrail/[a-z0-9]+`.
fn is_identifier(s: &str) -> bool {
    let id_part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if id_part(s) {
        return s.len() <= 2048;
    }
    let Some(rest) = s.strip_prefix("arn:aws") else {
        return false;
    };
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [partition, service, region, account, resource] => {
            (partition.is_empty() || partition.len() > 1 && partition.starts_with('-'))
                && *service == "bedrock"
                && (1..=20).contains(&region.len())
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("guardrail/").is_some_and(id_part)
        }
        _ => false,
    }
}

/// `DRAFT` or `[1-9][0-9]{0,7}`.
fn is_version(s: &str) -> bool {
    s == "DRAFT"
        || (!s.is_empty()
            && s.len() <= 8
            && !s.starts_with('0')
            && s.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(
        identifier: &str,
        version: &str,
        trace: Option<&str>,
        mode: Option<&str>,
    ) -> RawGuardrail {
        RawGuardrail {
            identifier: identifier.into(),
            version: version.into(),
            trace: trace.map(Into::into),
            stream_processing_mode: mode.map(Into::into),
        }
    }

    #[test]
    fn converse_and_invoke_forms() {
        let g = Guardrail::from_raw(
            raw("gr1abc", "3", Some("enabled_full"), Some("async")),
            "guardrail",
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(g.converse_config(false)).unwrap(),
            serde_json::json!({"guardrailIdentifier": "gr1abc", "guardrailVersion": "3", "trace": "enabled_full"})
        );
        assert_eq!(
            serde_json::to_value(g.converse_config(true)).unwrap()["streamProcessingMode"],
            "async"
        );
        assert_eq!(
            g.invoke_headers(),
            [
                ("x-amzn-bedrock-guardrailidentifier", "gr1abc".to_string()),
                ("x-amzn-bedrock-guardrailversion", "3".to_string()),
                ("x-amzn-bedrock-trace", "ENABLED_FULL".to_string()),
            ]
        );
    }

    #[test]
    fn validation_follows_the_api_model() {
        let mut errors = Vec::new();
        assert!(
            Guardrail::from_raw(
                raw(
                    "arn:aws:bedrock:us-east-1:123456789012:guardrail/ab12",
                    "DRAFT",
                    None,
                    None
                ),
                "g",
                &mut errors
            )
            .is_some()
        );
        assert!(errors.is_empty());
        let fields = |r| {
            let mut errors = Vec::new();
            assert!(Guardrail::from_raw(r, "g", &mut errors).is_none());
            errors.into_iter().map(|e| e.field).collect::<Vec<_>>()
        };
        assert_eq!(
            fields(raw("Bad-ID", "0", Some("on"), Some("fast"))),
            [
                "g.identifier",
                "g.version",
                "g.trace",
                "g.stream_processing_mode"
            ]
        );
        assert_eq!(
            fields(raw(
                "arn:aws:bedrock:us-east-1:1234:guardrail/x",
                "123456789",
                None,
                None
            )),
            ["g.identifier", "g.version"]
        );
        for arn in [
            "arn:aws:bedrock:US-EAST-1:123456789012:guardrail/ab12",
            "arn:aws:bedrock:us_east_1:123456789012:guardrail/ab12",
            "arn:aws-:bedrock:us-east-1:123456789012:guardrail/ab12",
        ] {
            assert_eq!(fields(raw(arn, "1", None, None)), ["g.identifier"], "{arn}");
        }
        let mut errors = Vec::new();
        let gov = raw(
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:guardrail/ab12",
            "1",
            None,
            None,
        );
        assert!(Guardrail::from_raw(gov, "g", &mut errors).is_some());
    }
}
