//! The per-request pipeline, independent of any proxy-wasm host.
//!
//! A [`Worker`] holds what every request of one VM shares (configuration, signer, stats); a
//! [`RequestContext`] carries one request through its life; a [`SignAttempt`] signs one Envoy
//! attempt in sign mode. The host drives them with its callbacks through the small [`Host`]
//! trait, which `filter` implements for proxy-wasm and [`testing`] in memory.
//!
//! One request, in order: [`route`] (which API), `prepare` (translate into the
//! [`UpstreamRequest`] and an [`Exchange`] for the answer), authorize (the caller may use the
//! model), `sign`, [`headers`] (rewrite), then the [`exchange`] translates the answer, and
//! [`respond`] decides the shape of every error.

mod attempt;
mod context;
pub mod exchange;
mod fanout;
pub mod headers;
pub mod host;
mod prepare;
pub mod respond;
pub mod route;
pub mod sign;
#[cfg(test)]
pub(crate) mod testing;
pub mod upstream;
mod worker;

pub use attempt::SignAttempt;
pub use context::RequestContext;
pub use exchange::Exchange;
pub use host::{Flow, Host};
pub use prepare::request_too_large;
pub use route::Endpoint;
pub use upstream::{ClientRequest, UpstreamRequest};
pub use worker::{Target, Worker};
