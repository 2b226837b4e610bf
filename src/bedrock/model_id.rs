//! What a Bedrock model identifier says about the model behind it.
//!
//! Clients name a model by its plain ID (`amazon.titan-embed-text-v2:0`), a cross-region
//! inference profile ID (`us.amazon.titan-embed-text-v2:0`, `global.…`) or an ARN that embeds
//! one of those (`arn:…:foundation-model/amazon.…`, `arn:…:inference-profile/us.…`,
//! `arn:…:custom-model/amazon.…/abc123`). Application inference profiles and provisioned
//! throughput ARNs end in an opaque ID and name no model: for those these functions answer
//! `None` and the configuration has to say what the model is.

/// The foundation model ID (`provider.name[:version]`) inside `id`, with any ARN and
/// inference-profile prefix removed, or `None` when `id` names no model.
///
/// Every `/`-separated segment is tried, so custom-model ARNs (model ID in the middle) work.
/// A profile prefix is recognised by shape, not from a list, so new geographies (`us-gov.`,
/// `jp.`, …) need no change: a leading `[a-z-]+.` segment is dropped when what follows still
/// has a `provider.` part. Model names themselves contain no dots.
pub fn foundation_model(id: &str) -> Option<&str> {
    id.split('/').rev().find_map(model_in_segment)
}

/// The provider part of the model in `id` (`anthropic`, `amazon`, `meta`, …), or `None`.
pub fn provider(id: &str) -> Option<&str> {
    foundation_model(id)
        .and_then(|m| m.split_once('.'))
        .map(|(p, _)| p)
}

fn model_in_segment(segment: &str) -> Option<&str> {
    // An ARN's leading `arn:partition:service:…` segment is never a model.
    if segment.starts_with("arn:") {
        return None;
    }
    let (name, _version) = segment.split_once(':').unwrap_or((segment, ""));
    let (first, rest) = name.split_once('.')?;
    let model = if rest.contains('.') && is_label(first) {
        segment.get(first.len() + 1..)?
    } else {
        segment
    };
    let (provider, name) = model.split(':').next()?.split_once('.')?;
    (is_label(provider) && !name.is_empty() && !name.contains('.')).then_some(model)
}

/// Lowercase ASCII letters, digits and `-`, as in providers (`ai21`) and geographies (`us-gov`).
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_model_in_ids_profiles_and_arns() {
        let cases = [
            (
                "amazon.titan-embed-text-v2:0",
                Some("amazon.titan-embed-text-v2:0"),
            ),
            ("cohere.embed-english-v3", Some("cohere.embed-english-v3")),
            (
                "us.amazon.titan-embed-text-v2:0",
                Some("amazon.titan-embed-text-v2:0"),
            ),
            ("eu.cohere.embed-v4:0", Some("cohere.embed-v4:0")),
            (
                "apac.anthropic.claude-3-haiku-20240307-v1:0",
                Some("anthropic.claude-3-haiku-20240307-v1:0"),
            ),
            (
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                Some("anthropic.claude-sonnet-4-5-20250929-v1:0"),
            ),
            (
                "us-gov.meta.llama3-8b-instruct-v1:0",
                Some("meta.llama3-8b-instruct-v1:0"),
            ),
            (
                "ai21.jamba-1-5-large-v1:0",
                Some("ai21.jamba-1-5-large-v1:0"),
            ),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v1",
                Some("amazon.titan-embed-text-v1"),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.cohere.embed-v4:0",
                Some("cohere.embed-v4:0"),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-embed-text-v2:0/a1b2c3",
                Some("amazon.titan-embed-text-v2:0"),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4",
                None,
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a1b2c3d4",
                None,
            ),
            ("text-embedding-3-small", None),
            ("", None),
            (".x", None),
            ("a.", None),
            ("Amazon.Titan", None),
        ];
        for (id, want) in cases {
            assert_eq!(foundation_model(id), want, "{id}");
        }
    }

    #[test]
    fn provider_is_the_first_part_of_the_model() {
        assert_eq!(
            provider("us.anthropic.claude-3-5-haiku-20241022-v1:0"),
            Some("anthropic")
        );
        assert_eq!(provider("meta.llama3-8b-instruct-v1:0"), Some("meta"));
        assert_eq!(provider("my-alias"), None);
    }
}
