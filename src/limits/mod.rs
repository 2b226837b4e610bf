//! Rate limits and budgets per caller and model, counted by the filter itself.
//!
//! - [`rules`]: the `limits` section — which callers and models each rule holds, and its
//!   requests, tokens and spend per minute, day or month;
//! - [`counter`]: counters in fixed UTC windows, kept in a store every worker of one proxy
//!   shares (proxy-wasm shared data) and updated with compare-and-swap;
//! - [`admit`]: one request against the rules — admitted or refused before it reaches Bedrock,
//!   charged with what it used once its answer is complete, and the `x-ratelimit-*` headers.
//!
//! Why the filter counts rather than Envoy's `local_ratelimit`: tokens are known only when the
//! answer is complete, and Envoy's local rate limit charges on the request path only; and the
//! headers every answer carries need the counts, which Envoy's filters do not expose. Across a
//! fleet of Envoys the same limits go through Envoy's global rate limit service instead, fed by
//! the filter-state values the filter publishes (`docs/rate-limits.md`).

pub mod admit;
pub mod counter;
pub mod rules;

pub use admit::{Admission, Quota, Refused, admit};
pub use counter::{SharedStore, StoreError, Window};
pub use rules::{Limits, RawLimit};
