//! Where a value sits in the request (`messages[2].content[0]`), for the `param` of a 400.
//! A copyable position, formatted only when an error actually names it. The Responses API
//! shares the building blocks that take one, so its positions (`input[3].content[0]`) are here
//! too.

use std::fmt;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// `messages[i]`
    Message(usize),
    /// `messages[i].content[j]`
    Part(usize, usize),
    /// `messages[i].tool_calls[j]`
    ToolCall(usize, usize),
    /// `messages[i].thinking_blocks[j]`
    ThinkingBlock(usize, usize),
    /// `tools[i]`
    Tool(usize),
    /// `input[i]` (Responses API)
    Item(usize),
    /// `input[i].content[j]` (Responses API)
    ItemPart(usize, usize),
    /// `input[i].output[j]` (Responses API: a function call output's parts)
    ItemOutput(usize, usize),
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            At::Message(i) => write!(f, "messages[{i}]"),
            At::Part(i, j) => write!(f, "messages[{i}].content[{j}]"),
            At::ToolCall(i, j) => write!(f, "messages[{i}].tool_calls[{j}]"),
            At::ThinkingBlock(i, j) => write!(f, "messages[{i}].thinking_blocks[{j}]"),
            At::Tool(i) => write!(f, "tools[{i}]"),
            At::Item(i) => write!(f, "input[{i}]"),
            At::ItemPart(i, j) => write!(f, "input[{i}].content[{j}]"),
            At::ItemOutput(i, j) => write!(f, "input[{i}].output[{j}]"),
        }
    }
}

impl At {
    /// A 400 naming `<self>.<field>`, or `<self>` when `field` is empty.
    pub fn invalid(self, field: &str, message: impl Into<String>) -> ApiError {
        let param = if field.is_empty() {
            self.to_string()
        } else {
            format!("{self}.{field}")
        };
        ApiError::invalid(&param, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_paths() {
        assert_eq!(
            At::Part(2, 0).invalid("text", "x").param.as_deref(),
            Some("messages[2].content[0].text")
        );
        assert_eq!(
            At::Message(1).invalid("", "x").param.as_deref(),
            Some("messages[1]")
        );
        assert_eq!(At::ToolCall(3, 1).to_string(), "messages[3].tool_calls[1]");
        assert_eq!(
            At::ThinkingBlock(0, 2).to_string(),
            "messages[0].thinking_blocks[2]"
        );
        assert_eq!(At::Tool(4).to_string(), "tools[4]");
        assert_eq!(At::Item(3).to_string(), "input[3]");
        assert_eq!(
            At::ItemPart(3, 0)
                .invalid("image_url", "x")
                .param
                .as_deref(),
            Some("input[3].content[0].image_url")
        );
        assert_eq!(At::ItemOutput(1, 2).to_string(), "input[1].output[2]");
    }
}
