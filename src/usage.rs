//! Tokens an answer used, and what they cost.
//!
//! [`Usage`] is the filter's one account of tokens: every translator reports it, stats, access
//! logs and the answers' `usage` members are written from it. It reads itself from each spelling
//! Bedrock uses — Converse's `usage` (`inputTokens`), Amazon Nova's InvokeModel answers
//! (`cacheReadInputTokenCount`), Anthropic's `usage` (`input_tokens`) and InvokeModel streams'
//! `amazon-bedrock-invocationMetrics` (`inputTokenCount`) — so no translator keeps a usage type
//! of its own.

use serde::{Deserialize, Deserializer};

/// Tokens of one answer, as Bedrock reported them. `input_tokens` excludes cache reads and
/// writes (Bedrock's `inputTokens`, Anthropic's `input_tokens`), so the four kinds add up to the
/// whole prompt plus the answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(
        default,
        deserialize_with = "count",
        alias = "inputTokens",
        alias = "inputTokenCount"
    )]
    pub input_tokens: u64,
    #[serde(
        default,
        deserialize_with = "count",
        alias = "outputTokens",
        alias = "outputTokenCount"
    )]
    pub output_tokens: u64,
    #[serde(
        default,
        deserialize_with = "count",
        rename = "cache_read_input_tokens",
        alias = "cacheReadInputTokens",
        alias = "cacheReadInputTokenCount"
    )]
    pub cache_read_tokens: u64,
    #[serde(
        default,
        deserialize_with = "count",
        rename = "cache_creation_input_tokens",
        alias = "cacheWriteInputTokens",
        alias = "cacheWriteInputTokenCount"
    )]
    pub cache_write_tokens: u64,
}

/// A token count; `null` (which Anthropic sends for counts it does not have) reads as 0.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

impl Usage {
    /// The kinds as (label, tokens), in the order stats and access logs list them.
    pub fn kinds(&self) -> [(&'static str, u64); 4] {
        [
            ("input", self.input_tokens),
            ("output", self.output_tokens),
            ("cache_read", self.cache_read_tokens),
            ("cache_write", self.cache_write_tokens),
        ]
    }

    /// Every input token, cached or not (OpenAI's `prompt_tokens`).
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.cache_write_tokens)
    }

    /// Whether the prompt cache was read or written.
    pub fn used_cache(&self) -> bool {
        self.cache_read_tokens > 0 || self.cache_write_tokens > 0
    }

    /// Counts reported later in a stream replace earlier ones: they are running totals, so a 0
    /// later on means "not reported again", never "back to none".
    pub fn update(&mut self, later: &Usage) {
        for (mine, theirs) in [
            (&mut self.input_tokens, later.input_tokens),
            (&mut self.output_tokens, later.output_tokens),
            (&mut self.cache_read_tokens, later.cache_read_tokens),
            (&mut self.cache_write_tokens, later.cache_write_tokens),
        ] {
            if theirs > 0 {
                *mine = theirs;
            }
        }
    }

    /// InvokeModel's `X-Amzn-Bedrock-Input-Token-Count` / `-Output-Token-Count` headers: what
    /// the filter knows of a native request's tokens without reading its body.
    pub fn from_headers(input: Option<&str>, output: Option<&str>) -> Option<Usage> {
        let count = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u64>().ok());
        let (input, output) = (count(input), count(output));
        if input.is_none() && output.is_none() {
            return None;
        }
        Some(Usage {
            input_tokens: input.unwrap_or(0),
            output_tokens: output.unwrap_or(0),
            ..Usage::default()
        })
    }
}

/// USD per 1,000 tokens, per kind, from a model's `pricing`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    #[serde(default)]
    pub input_per_1k: f64,
    #[serde(default)]
    pub output_per_1k: f64,
    #[serde(default)]
    pub cache_read_per_1k: f64,
    #[serde(default)]
    pub cache_write_per_1k: f64,
}

impl Pricing {
    /// Problems with the prices, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        [
            ("input_per_1k", self.input_per_1k),
            ("output_per_1k", self.output_per_1k),
            ("cache_read_per_1k", self.cache_read_per_1k),
            ("cache_write_per_1k", self.cache_write_per_1k),
        ]
        .into_iter()
        .filter(|(_, v)| !(v.is_finite() && *v >= 0.0))
        // No number in the message: formatting floats would add kilobytes of code to the .wasm.
        .map(|(f, _)| (f, "must be a non-negative number of USD".to_string()))
        .collect()
    }

    /// Estimated cost of `usage` in millionths of a USD (rounded).
    pub fn cost_micro_usd(&self, usage: &Usage) -> u64 {
        // per_1k USD per 1000 tokens = per_1k * 1000 micro-USD per token.
        let micro = [
            (usage.input_tokens, self.input_per_1k),
            (usage.output_tokens, self.output_per_1k),
            (usage.cache_read_tokens, self.cache_read_per_1k),
            (usage.cache_write_tokens, self.cache_write_per_1k),
        ]
        .iter()
        .map(|&(tokens, per_1k)| tokens as f64 * per_1k * 1000.0)
        .sum::<f64>()
        .round();
        if micro.is_finite() && micro > 0.0 {
            micro as u64
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_into_one_usage() {
        let want = Usage {
            input_tokens: 3,
            output_tokens: 4,
            cache_read_tokens: 5,
            cache_write_tokens: 6,
        };
        for json in [
            r#"{"inputTokens":3,"outputTokens":4,"totalTokens":18,"cacheReadInputTokens":5,"cacheWriteInputTokens":6}"#,
            r#"{"inputTokens":3,"outputTokens":4,"cacheReadInputTokenCount":5,"cacheWriteInputTokenCount":6}"#,
            r#"{"input_tokens":3,"output_tokens":4,"cache_read_input_tokens":5,"cache_creation_input_tokens":6,"cache_creation":{"ephemeral_5m_input_tokens":6}}"#,
            r#"{"inputTokenCount":3,"outputTokenCount":4,"invocationLatency":9,"cacheReadInputTokenCount":5,"cacheWriteInputTokenCount":6}"#,
        ] {
            assert_eq!(serde_json::from_str::<Usage>(json).unwrap(), want, "{json}");
        }
        let sparse: Usage =
            serde_json::from_str(r#"{"input_tokens":3,"cache_read_input_tokens":null}"#).unwrap();
        assert_eq!(
            sparse,
            Usage {
                input_tokens: 3,
                ..Usage::default()
            }
        );
    }

    #[test]
    fn later_counts_replace_earlier_ones() {
        let mut u = Usage {
            input_tokens: 10,
            output_tokens: 1,
            cache_read_tokens: 7,
            cache_write_tokens: 0,
        };
        u.update(&Usage {
            output_tokens: 42,
            ..Usage::default()
        });
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens),
            (10, 42, 7)
        );
        assert_eq!(u.prompt_tokens(), 17);
        assert!(u.used_cache());
    }

    #[test]
    fn usage_of_native_invoke_from_headers() {
        assert_eq!(
            Usage::from_headers(Some("12"), Some(" 7")),
            Some(Usage {
                input_tokens: 12,
                output_tokens: 7,
                ..Usage::default()
            })
        );
        assert_eq!(Usage::from_headers(None, Some("x")), None);
        assert_eq!(Usage::from_headers(None, None), None);
    }

    #[test]
    fn pricing_rules() {
        let p = Pricing {
            input_per_1k: -1.0,
            output_per_1k: f64::NAN,
            ..Pricing::default()
        };
        let problems: Vec<String> = p
            .problems()
            .into_iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect();
        assert_eq!(
            problems,
            [
                "input_per_1k: must be a non-negative number of USD",
                "output_per_1k: must be a non-negative number of USD",
            ]
        );
        assert_eq!(Pricing::default().cost_micro_usd(&Usage::default()), 0);
    }
}
