//! HTTP vocabulary every layer shares: header lists as the host hands them over, and the names
//! of the headers and filter-state properties the filter owns.

/// A request or response header list as the host hands it over. Values are bytes: HTTP allows
/// obs-text (0x80–0xFF) in them, and a value that is not UTF-8 must pass through untouched.
pub type HeaderList = Vec<(String, Vec<u8>)>;

/// The value of header `name` when it is text (a value that is not UTF-8 reads as absent).
pub fn header_text<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// Request headers the filter sets once the model is resolved, for Envoy's routing, rate limits
/// and RBAC after it. Client-sent copies are removed before anything reads them.
pub const MODEL_HEADER: &str = "x-bedrock-model";
pub const MODEL_ID_HEADER: &str = "x-bedrock-model-id";
/// The region a request is signed for. Envoy routes can match it to send each region's
/// requests to that region's cluster; Bedrock ignores it (it is not signed).
pub const REGION_HEADER: &str = "x-bedrock-region";
pub const CALLER_HEADER: &str = "x-bedrock-caller";
/// Every `x-bedrock-*` header the filter owns (a client's copies are removed).
pub const IDENTITY_HEADERS: [&str; 4] =
    [MODEL_HEADER, MODEL_ID_HEADER, REGION_HEADER, CALLER_HEADER];

/// `Content-Type` of Bedrock's binary event streams.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// The filter-state property (Envoy: `wasm.bedrock_sign`) through which a translate-mode filter
/// tells the sign-mode filter what it translated. Filter state, not a header: it is not sent
/// upstream, and it survives Envoy's retries (header changes of one attempt carry over to the
/// next, so a header the signer removed would be gone on the retry).
pub const SIGN_PROPERTY: &str = "bedrock_sign";

/// Filter-state properties for the access log (`%FILTER_STATE(wasm.<name>:PLAIN)%`).
pub mod log_property {
    pub const CALLER: &str = "bedrock_caller";
    pub const MODEL: &str = "bedrock_model";
    pub const MODEL_ID: &str = "bedrock_model_id";
    /// Input + output + cache tokens of the answer: what token limits count (also the hits
    /// Envoy's global rate limit charges, `%FILTER_STATE(wasm.bedrock_total_tokens:PLAIN)%`).
    pub const TOTAL_TOKENS: &str = "bedrock_total_tokens";
    /// The answer's estimated cost in millionths of a USD, from the model's `pricing`.
    pub const COST_MICRO_USD: &str = "bedrock_cost_micro_usd";
    /// `bedrock_<kind>_tokens`, one per kind of [`crate::usage::Usage::kinds`].
    pub fn tokens(kind: &str) -> String {
        format!("bedrock_{kind}_tokens")
    }
}
