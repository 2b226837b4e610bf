//! bedrock-filter: OpenAI-format requests in, AWS Bedrock Runtime out.
//!
//! The crate is layered; each layer uses only the ones above it in this list:
//!
//! 1. **Leaves** — [`error`], [`usage`], [`http`], [`json`]: errors (client and configuration),
//!    token usage and prices, header and property names, JSON without value trees.
//! 2. **Wire formats** — [`openai`], [`anthropic`], [`bedrock`], [`sigv4`], [`eventstream`]:
//!    the shapes each protocol defines, and nothing about this filter's policy.
//! 3. **Translators** — [`translate`]: chat, embeddings, Anthropic Messages and models, to
//!    Bedrock and back.
//! 4. **Policy** — [`access`], [`credentials`], [`config`], [`metrics`], [`limits`]: who may
//!    call, which AWS credentials sign, the validated configuration, the stats, the counting
//!    behind rate limits and budgets.
//! 5. **Pipeline** — [`pipeline`]: one request's life (authenticate, route, translate,
//!    authorize, sign, answer) as a state machine driven through a small host trait.
//! 6. **Filter** — `filter` (wasm32 only): the proxy-wasm implementation of that trait and the
//!    callbacks; the only module that talks to a proxy-wasm host.
//!
//! Everything but `filter` is host-independent and tests natively with `cargo test`.

// 1. Leaves
pub mod error;
pub mod http;
pub mod json;
pub mod usage;

// 2. Wire formats
pub mod anthropic;
pub mod bedrock;
pub mod eventstream;
pub mod openai;
pub mod sigv4;

// 3. Translators
pub mod translate;

// 4. Policy
pub mod access;
pub mod config;
pub mod credentials;
pub mod limits;
pub mod metrics;

// 5. Pipeline
pub mod pipeline;

// 6. Filter: built only for the wasm target; `make lint` runs clippy on it there.
#[cfg(target_arch = "wasm32")]
mod filter;
