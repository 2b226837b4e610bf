//! Model families: which native InvokeModel body a Bedrock model speaks.
//!
//! Converse is one API for every chat model; InvokeModel takes each model's own body. A family
//! names that body: the chat translators write Claude's Messages body or Nova's Converse-shaped
//! body, the embeddings translator Titan's or Cohere's. The family comes from the model ID
//! ([`Family::of_model`]) or, for IDs that hide the model (application inference profiles,
//! provisioned throughput ARNs), from the configuration ([`Family::parse`]).

use super::model_id::foundation_model;

/// A model family with its own InvokeModel body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Anthropic Claude: the Messages API body.
    Anthropic,
    /// Amazon Nova's understanding models: a Converse-shaped native body.
    Nova,
    /// Titan Text Embeddings G1 (`amazon.titan-embed-text-v1`): 1536 dimensions, fixed.
    TitanEmbedV1,
    /// Titan Text Embeddings V2 (`amazon.titan-embed-text-v2:0`): 256, 512 or 1024 dimensions.
    TitanEmbedV2,
    /// Cohere Embed English / Multilingual v3: batches of up to 96 texts, 1024 dimensions.
    CohereEmbedV3,
    /// Cohere Embed v4 (`cohere.embed-v4:0`): batches of up to 96 texts, 256 to 1536 dimensions.
    CohereEmbedV4,
}

/// Every family with the name the configuration uses for it.
const NAMED: [(&str, Family); 6] = [
    ("anthropic", Family::Anthropic),
    ("nova", Family::Nova),
    ("titan-v1", Family::TitanEmbedV1),
    ("titan-v2", Family::TitanEmbedV2),
    ("cohere-v3", Family::CohereEmbedV3),
    ("cohere-v4", Family::CohereEmbedV4),
];

/// Nova's understanding models; Nova Canvas/Reel/Sonic/embeddings are not chat.
const NOVA_CHAT: [&str; 5] = [
    "amazon.nova-micro",
    "amazon.nova-lite",
    "amazon.nova-pro",
    "amazon.nova-premier",
    "amazon.nova-2-lite",
];

impl Family {
    /// The names of the families with a chat body (`"family"` of an `"api": "invoke"` model).
    pub const CHAT_NAMES: &'static [&'static str] = &["anthropic", "nova"];

    /// The family named `name` in the configuration.
    pub fn parse(name: &str) -> Option<Family> {
        NAMED.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The name the configuration uses (the inverse of [`Family::parse`]).
    pub fn name(self) -> &'static str {
        NAMED
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("unknown", |(n, _)| n)
    }

    /// Whether the family has a chat body (Claude, Nova).
    pub fn is_chat(self) -> bool {
        matches!(self, Family::Anthropic | Family::Nova)
    }

    /// Whether the family embeds text (Titan, Cohere).
    pub fn is_embeddings(self) -> bool {
        !self.is_chat()
    }

    /// The family of a Bedrock model ID, inference profile or ARN that names its model;
    /// `None` for models of other providers and for ARNs that hide the model.
    pub fn of_model(id: &str) -> Option<Family> {
        let model = foundation_model(id)?;
        let name = model.split(':').next().unwrap_or(model);
        match name {
            "amazon.titan-embed-text-v1" | "amazon.titan-embed-g1-text-02" => {
                Some(Family::TitanEmbedV1)
            }
            "amazon.titan-embed-text-v2" => Some(Family::TitanEmbedV2),
            "cohere.embed-english-v3" | "cohere.embed-multilingual-v3" => {
                Some(Family::CohereEmbedV3)
            }
            "cohere.embed-v4" => Some(Family::CohereEmbedV4),
            _ if name.starts_with("anthropic.") => Some(Family::Anthropic),
            _ if NOVA_CHAT.iter().any(|p| name.starts_with(p)) => Some(Family::Nova),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (name, f) in NAMED {
            assert_eq!(Family::parse(name), Some(f));
            assert_eq!(f.name(), name);
        }
        for name in Family::CHAT_NAMES {
            assert!(Family::parse(name).is_some_and(Family::is_chat), "{name}");
        }
        assert_eq!(Family::parse("Anthropic"), None);
        assert_eq!(Family::parse("titan"), None);
    }

    #[test]
    fn families_come_from_the_model_id_or_config_names() {
        assert_eq!(
            Family::of_model("us.anthropic.claude-3-5-haiku-20241022-v1:0"),
            Some(Family::Anthropic)
        );
        assert_eq!(
            Family::of_model("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2"),
            Some(Family::Anthropic)
        );
        assert_eq!(Family::of_model("meta.llama3-8b-instruct-v1:0"), None);
        assert_eq!(
            Family::of_model("arn:aws:bedrock:us-east-1:1:application-inference-profile/x"),
            None
        );
        for name in Family::CHAT_NAMES {
            assert!(Family::parse(name).is_some(), "{name}");
        }
        assert_eq!(Family::parse("nova"), Some(Family::Nova));
        assert_eq!(Family::parse("Anthropic"), None);
    }

    #[test]
    fn nova_family_from_its_understanding_models_only() {
        for id in [
            "amazon.nova-lite-v1:0",
            "us.amazon.nova-pro-v1:0",
            "global.amazon.nova-2-lite-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0",
        ] {
            assert_eq!(Family::of_model(id), Some(Family::Nova), "{id}");
        }
        assert_eq!(
            Family::of_model("amazon.titan-embed-text-v2:0"),
            Some(Family::TitanEmbedV2)
        );
        for id in ["amazon.nova-canvas-v1:0", "amazon.nova-sonic-v1:0"] {
            assert_eq!(Family::of_model(id), None, "{id}");
        }
    }
}
