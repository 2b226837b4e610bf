//! AWS Bedrock Runtime as the API model defines it: Converse types, operations and their paths,
//! what model IDs say, model families, streamed answers and errors (mapped to [`ApiError`]s).
//!
//! [`ApiError`]: crate::error::ApiError

pub mod converse;
pub mod error;
pub mod family;
pub mod model_id;
pub mod path;
pub mod stream;

pub use family::Family;
