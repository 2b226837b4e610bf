//! AWS Bedrock Runtime wire types and the mapping of Bedrock errors to OpenAI errors.

pub mod converse;
pub mod error;
pub mod invoke_stream;
pub mod model_id;
pub mod path;
