//! Caller access: who is calling (a key from `callers`) and which models they may use.
//!
//! Keys are configured as SHA-256 hex digests, so the configuration never holds a usable key.
//! A presented key is hashed and compared with every configured digest in constant time, without
//! stopping at a match, so timing tells nothing about which digest (or how much of one) matched.
//! With no callers configured every request is accepted as `anonymous`: authentication is then
//! Envoy's job (ext_authz, jwt_authn, RBAC in front of the filter).

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ConfigError, ErrorType};

/// The caller name exposed when no callers are configured.
pub const ANONYMOUS: &str = "anonymous";

/// Longest caller name (it becomes a header value, a metric name part and a log field).
const MAX_NAME_LEN: usize = 64;

/// One entry of `callers` as written in the configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaller {
    pub name: String,
    /// SHA-256 of the key, 64 hex digits (`printf %s "$KEY" | sha256sum`).
    pub key_sha256: String,
    /// Aliases or Bedrock IDs, exact or with a trailing `*` (`"claude*"`, `"*"` for all).
    pub allowed_models: Vec<String>,
}

/// A model name pattern: exact, or a prefix when written with a trailing `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelPattern {
    Exact(String),
    Prefix(String),
}

impl ModelPattern {
    pub fn parse(text: &str) -> Result<ModelPattern, String> {
        let body = text.strip_suffix('*');
        let plain = body.unwrap_or(text);
        if plain.contains('*') {
            return Err(format!("{text:?}: `*` is only allowed at the end"));
        }
        if text.trim().is_empty() {
            return Err("must not be empty".into());
        }
        Ok(match body {
            Some(prefix) => ModelPattern::Prefix(prefix.to_string()),
            None => ModelPattern::Exact(text.to_string()),
        })
    }

    pub fn matches(&self, model: &str) -> bool {
        match self {
            ModelPattern::Exact(m) => m == model,
            ModelPattern::Prefix(p) => model.starts_with(p.as_str()),
        }
    }
}

/// A configured caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    key_sha256: [u8; 32],
    pub allowed_models: Vec<ModelPattern>,
}

impl std::fmt::Debug for Caller {
    // The digest is not a secret, but it identifies a key: keep it out of logs all the same.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("name", &self.name)
            .field("allowed_models", &self.allowed_models)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// Whether this caller may use a model, named by the client (`alias`) or by its Bedrock ID.
    pub fn allows(&self, alias: &str, model_id: &str) -> bool {
        self.allowed_models
            .iter()
            .any(|p| p.matches(alias) || p.matches(model_id))
    }
}

/// The `callers` section, validated. Empty: everyone is accepted as `anonymous`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Callers {
    list: Vec<Caller>,
}

/// Who a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity<'a> {
    /// No callers are configured.
    Anonymous,
    Caller(&'a Caller),
}

impl Identity<'_> {
    pub fn name(&self) -> &str {
        match self {
            Identity::Anonymous => ANONYMOUS,
            Identity::Caller(c) => &c.name,
        }
    }

    /// Whether the identity may use a model (alias or Bedrock ID); anonymous may use all.
    pub fn allows(&self, alias: &str, model_id: &str) -> bool {
        match self {
            Identity::Anonymous => true,
            Identity::Caller(c) => c.allows(alias, model_id),
        }
    }

    /// Whether the identity may use a model: by the name the client used (`model`), by its
    /// Bedrock ID, or by one of `aliases`, the configuration's other names for the same Bedrock
    /// ID (an allowed alias grants its model however the client names it, e.g. by ID from an
    /// AWS SDK).
    pub fn may_use<'a>(
        &self,
        model: &str,
        model_id: &str,
        mut aliases: impl Iterator<Item = &'a str>,
    ) -> bool {
        self.allows(model, model_id) || aliases.any(|a| self.allows(a, model_id))
    }
}

impl Callers {
    /// Validate the `callers` section, adding one error per problem to `errors`.
    pub fn from_raw(raw: Vec<RawCaller>, errors: &mut Vec<ConfigError>) -> Callers {
        let mut list: Vec<Caller> = Vec::with_capacity(raw.len());
        for (i, c) in raw.into_iter().enumerate() {
            let mut problem = |suffix: &str, message: String| {
                errors.push(ConfigError {
                    field: format!("callers[{i}].{suffix}"),
                    message,
                });
            };
            if !is_caller_name(&c.name) {
                problem(
                    "name",
                    format!(
                        "{:?} must be 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . -",
                        c.name
                    ),
                );
            } else if let Some(j) = list.iter().position(|o| o.name == c.name) {
                problem(
                    "name",
                    format!("{:?} is also the name of callers[{j}]", c.name),
                );
            }
            let key = parse_sha256_hex(&c.key_sha256);
            match key {
                None => problem(
                    "key_sha256",
                    "must be the SHA-256 of the key as 64 hex digits".into(),
                ),
                Some(k) => {
                    if let Some(j) = list.iter().position(|o| o.key_sha256 == k) {
                        problem("key_sha256", format!("is also the key of callers[{j}]"));
                    }
                }
            }
            if c.allowed_models.is_empty() {
                problem(
                    "allowed_models",
                    "must list at least one model or pattern (\"*\" allows all)".into(),
                );
            }
            let mut allowed = Vec::with_capacity(c.allowed_models.len());
            for (j, text) in c.allowed_models.iter().enumerate() {
                match ModelPattern::parse(text) {
                    Ok(p) => allowed.push(p),
                    Err(m) => problem(&format!("allowed_models[{j}]"), m),
                }
            }
            // Entries with problems are still kept (with a zero key) so later duplicates are
            // reported against the right index; the configuration is rejected anyway.
            list.push(Caller {
                name: c.name,
                key_sha256: key.unwrap_or([0; 32]),
                allowed_models: allowed,
            });
        }
        Callers { list }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The configured callers' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|c| c.name.as_str())
    }

    /// Who presents `key` (from [`presented_key`]): 401 when callers are configured and the key
    /// is missing or unknown.
    pub fn authenticate(&self, key: Option<&str>) -> Result<Identity<'_>, ApiError> {
        if self.list.is_empty() {
            return Ok(Identity::Anonymous);
        }
        let Some(key) = key else {
            return Err(unauthenticated(
                "Missing API key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`.",
            ));
        };
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Compare with every digest; remember a match without branching on the comparison.
        let mut found = usize::MAX;
        for (i, c) in self.list.iter().enumerate() {
            let hit = ct_eq(&digest, &c.key_sha256);
            found = select(hit, i, found);
        }
        self.list
            .get(found)
            .map(Identity::Caller)
            .ok_or_else(|| unauthenticated("Incorrect API key provided."))
    }
}

fn is_caller_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Constant-time equality of two digests: every byte is looked at, whatever differs.
pub fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// `if hit { i } else { prev }` without a data-dependent branch.
fn select(hit: bool, i: usize, prev: usize) -> usize {
    let mask = usize::from(hit).wrapping_neg();
    (i & mask) | (prev & !mask)
}

/// The key a client presents: `x-api-key` (Anthropic clients), else `Authorization: Bearer`
/// (OpenAI clients). SigV4 `Authorization` headers of AWS SDK clients carry no caller key.
pub fn presented_key<'a>(
    authorization: Option<&'a str>,
    x_api_key: Option<&'a str>,
) -> Option<&'a str> {
    if let Some(k) = x_api_key.map(str::trim).filter(|k| !k.is_empty()) {
        return Some(k);
    }
    let auth = authorization?.trim();
    let (scheme, token) = auth.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(401, ErrorType::Authentication, message).with_code("invalid_api_key")
}

/// 403 for a model outside the caller's `allowed_models`.
pub fn model_not_allowed(caller: &str, model: &str) -> ApiError {
    ApiError::new(
        403,
        ErrorType::Permission,
        format!("Caller `{caller}` is not allowed to use the model `{model}`."),
    )
    .with_param("model")
    .with_code("model_not_allowed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
    }

    fn raw(name: &str, key: &str, models: &[&str]) -> RawCaller {
        RawCaller {
            name: name.into(),
            key_sha256: sha(key),
            allowed_models: models.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn errors_of(raw: Vec<RawCaller>) -> Vec<String> {
        let mut errors = Vec::new();
        Callers::from_raw(raw, &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    fn callers() -> Callers {
        let mut errors = Vec::new();
        let c = Callers::from_raw(
            vec![
                raw("team-a", "key-a", &["claude*", "titan-embed"]),
                raw("team-b", "key-b", &["*"]),
            ],
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        c
    }

    #[test]
    fn keys_identify_callers() {
        let c = callers();
        assert_eq!(c.authenticate(Some("key-a")).unwrap().name(), "team-a");
        assert_eq!(c.authenticate(Some("key-b")).unwrap().name(), "team-b");
        let e = c.authenticate(Some("key-c")).unwrap_err();
        assert_eq!((e.status, e.kind), (401, ErrorType::Authentication));
        assert_eq!(e.message, "Incorrect API key provided.");
        let e = c.authenticate(None).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.starts_with("Missing API key"), "{}", e.message);
        // No callers: everyone, whatever they send.
        let open = Callers::default();
        assert_eq!(open.authenticate(None), Ok(Identity::Anonymous));
        assert_eq!(open.authenticate(Some("x")).unwrap().name(), "anonymous");
    }

    #[test]
    fn patterns() {
        let c = callers();
        let Ok(Identity::Caller(a)) = c.authenticate(Some("key-a")) else {
            panic!()
        };
        assert!(a.allows("claude", "anthropic.claude-3-haiku-20240307-v1:0"));
        assert!(a.allows("claude-sonnet", "x"));
        assert!(a.allows("titan-embed", "amazon.titan-embed-text-v2:0"));
        assert!(!a.allows("titan-embed-v1", "amazon.titan-embed-text-v1"));
        assert!(!a.allows("nova", "amazon.nova-lite-v1:0"));
        // The Bedrock ID is matched too.
        let p = ModelPattern::parse("anthropic.*").unwrap();
        assert_eq!(p, ModelPattern::Prefix("anthropic.".into()));
        assert!(p.matches("anthropic.claude-v2"));
        assert!(ModelPattern::parse("*").unwrap().matches(""));
        assert_eq!(
            ModelPattern::parse("a*b"),
            Err(r#""a*b": `*` is only allowed at the end"#.into())
        );
        assert_eq!(
            ModelPattern::parse("**"),
            Err(r#""**": `*` is only allowed at the end"#.into())
        );
    }

    #[test]
    fn constant_time_eq() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(ct_eq(&a, &b));
        for i in [0, 15, 31] {
            b = a;
            b[i] ^= 1;
            assert!(!ct_eq(&a, &b), "{i}");
        }
        assert_eq!(select(true, 3, usize::MAX), 3);
        assert_eq!(select(false, 3, 1), 1);
    }

    #[test]
    fn presented_keys() {
        assert_eq!(presented_key(Some("Bearer sk-1"), None), Some("sk-1"));
        assert_eq!(presented_key(Some("bearer  sk-1 "), None), Some("sk-1"));
        assert_eq!(presented_key(Some("Bearer sk-1"), Some("ak")), Some("ak"));
        assert_eq!(presented_key(None, Some(" ")), None);
        assert_eq!(presented_key(Some("Bearer "), None), None);
        assert_eq!(
            presented_key(Some("AWS4-HMAC-SHA256 Credential=AK/…"), None),
            None
        );
        assert_eq!(presented_key(None, None), None);
    }

    #[test]
    fn rule_name() {
        assert_eq!(
            errors_of(vec![raw("team a", "k", &["*"])]),
            [r#"callers[0].name: "team a" must be 1 to 64 characters of A-Z a-z 0-9 _ . -"#]
        );
        assert_eq!(
            errors_of(vec![raw("", "k", &["*"])]),
            [r#"callers[0].name: "" must be 1 to 64 characters of A-Z a-z 0-9 _ . -"#]
        );
    }

    #[test]
    fn rule_unique_names() {
        assert_eq!(
            errors_of(vec![raw("a", "k1", &["*"]), raw("a", "k2", &["*"])]),
            [r#"callers[1].name: "a" is also the name of callers[0]"#]
        );
    }

    #[test]
    fn rule_key_format() {
        for bad in ["abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            let mut c = raw("a", "k", &["*"]);
            c.key_sha256 = bad.to_string();
            assert_eq!(
                errors_of(vec![c]),
                ["callers[0].key_sha256: must be the SHA-256 of the key as 64 hex digits"],
                "{bad}"
            );
        }
        let mut c = raw("a", "k", &["*"]);
        c.key_sha256 = c.key_sha256.to_uppercase();
        assert!(errors_of(vec![c]).is_empty(), "upper-case hex is fine");
    }

    #[test]
    fn rule_unique_keys() {
        assert_eq!(
            errors_of(vec![raw("a", "k", &["*"]), raw("b", "k", &["*"])]),
            ["callers[1].key_sha256: is also the key of callers[0]"]
        );
    }

    #[test]
    fn rule_allowed_models() {
        assert_eq!(
            errors_of(vec![raw("a", "k", &[])]),
            [
                r#"callers[0].allowed_models: must list at least one model or pattern ("*" allows all)"#
            ]
        );
        assert_eq!(
            errors_of(vec![raw("a", "k", &["ok", "c*x", ""])]),
            [
                r#"callers[0].allowed_models[1]: "c*x": `*` is only allowed at the end"#,
                "callers[0].allowed_models[2]: must not be empty",
            ]
        );
    }
}
