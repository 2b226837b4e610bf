//! How hard a client asks a model to think: OpenAI's `reasoning_effort` / `reasoning.effort`,
//! and the budgets Claude's extended thinking counts in.

/// Anthropic's smallest thinking budget.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// Output room left beside a thinking budget when the client sets no `max_tokens`.
pub const ANSWER_TOKENS: u32 = 4096;

/// The largest `maxTokens` Converse takes: an `Integer` in Bedrock's API model (32-bit, signed).
pub const MAX_TOKENS_LIMIT: u32 = 2_147_483_647;

/// The most output tokens (thinking included) Claude Opus 4 and 4.1 write: Bedrock refuses a
/// larger `maxTokens` for them.
pub const OPUS_4_MAX_TOKENS: u32 = 32_000;

/// The same for the other Claude models that think by budget (3.7 Sonnet, Sonnet 4 and 4.5,
/// Haiku 4.5, Opus 4.5).
pub const CLAUDE_MAX_TOKENS: u32 = 64_000;

/// How hard the client asked the model to think.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    XHigh,
}

impl Effort {
    pub const NAMES: &'static str = "none, minimal, low, medium, high or xhigh";

    pub fn parse(s: &str) -> Option<Effort> {
        Some(match s {
            "none" => Effort::None,
            "minimal" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            "xhigh" => Effort::XHigh,
            _ => return None,
        })
    }

    /// `low`, `medium` or `high`: the three levels most models take.
    pub(super) fn three_levels(self) -> &'static str {
        match self {
            Effort::None | Effort::Minimal | Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High | Effort::XHigh => "high",
        }
    }

    /// Claude's thinking budget for the effort.
    pub(super) fn claude_budget(self) -> u32 {
        match self {
            Effort::None | Effort::Minimal | Effort::Low => MIN_THINKING_BUDGET,
            Effort::Medium => 4096,
            Effort::High => 16384,
            Effort::XHigh => 32768,
        }
    }

    /// Claude's `output_config.effort` for adaptive thinking.
    pub(super) fn claude_effort(self) -> &'static str {
        match self {
            Effort::XHigh => "max",
            other => other.three_levels(),
        }
    }
}
