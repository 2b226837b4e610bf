//! AWS credentials: where they come from and how they stay fresh, independent of any host.
//!
//! [`CredentialSource`] is the validated `credentials` section of the plugin configuration
//! (static keys, a Bedrock API key, EC2 instance metadata or a container credentials endpoint).
//! [`CredentialsProvider`] turns a source into credentials over time: for the two metadata
//! services it says which HTTP call to make next ([`CredentialsProvider::poll`]), takes the
//! answers ([`CredentialsProvider::on_response`]) and serves what it fetched until it expires.
//! The host adapter only carries the calls.
//!
//! Secrets (secret access keys, session tokens, API keys, the IMDS and container tokens) are
//! never part of a `Debug` output, a log line or an error message built here.

mod fetch;
mod provider;
mod source;
mod time;

pub use fetch::{FetchRequest, MAX_ANSWER_BYTES};
pub use provider::{CredentialsProvider, Event};
pub use source::{
    CONTAINER_HOST, CredentialSource, DEFAULT_CONTAINER_CLUSTER, DEFAULT_IMDS_CLUSTER,
    DEFAULT_TIMEOUT_MS, IMDS_HOST, MetadataService, RawCredentialsConfig, token_file_warning,
};
pub use time::{format_iso8601, parse_iso8601};

use crate::sigv4;

/// AWS credentials the gateway signs with.
#[derive(Clone, PartialEq, Eq)]
pub enum AwsCredentials {
    /// Access key, secret and optional session token: SigV4.
    Keys(sigv4::Credentials),
    /// A Bedrock API key, sent as `Authorization: Bearer …`.
    Bearer(String),
}

impl std::fmt::Debug for AwsCredentials {
    // Never print a secret, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AwsCredentials::Keys(k) => write!(f, "Keys({}, <secret>)", k.access_key_id),
            AwsCredentials::Bearer(_) => f.write_str("Bearer(<key>)"),
        }
    }
}

impl std::fmt::Display for AwsCredentials {
    /// What a log line may say about them: the access key ID (public), never a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AwsCredentials::Keys(k) => {
                write!(f, "SigV4 with access key {}", k.access_key_id)?;
                if k.session_token.as_deref().is_some_and(|t| !t.is_empty()) {
                    f.write_str(" and session token")?;
                }
                Ok(())
            }
            AwsCredentials::Bearer(_) => f.write_str("Bedrock API key"),
        }
    }
}

impl AwsCredentials {
    /// Read credentials the way the AWS SDKs name them in the environment: a Bedrock API key
    /// (`AWS_BEARER_TOKEN_BEDROCK`) wins, else `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`
    /// (+ `AWS_SESSION_TOKEN`).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<AwsCredentials> {
        let get = |k: &str| non_blank(env(k));
        if let Some(token) = get("AWS_BEARER_TOKEN_BEDROCK") {
            return Some(AwsCredentials::Bearer(token));
        }
        let access_key_id = get("AWS_ACCESS_KEY_ID")?;
        let secret_access_key = get("AWS_SECRET_ACCESS_KEY")?;
        Some(AwsCredentials::Keys(sigv4::Credentials {
            access_key_id,
            secret_access_key,
            session_token: get("AWS_SESSION_TOKEN"),
        }))
    }

    /// The access key ID, if these are SigV4 keys.
    pub fn access_key_id(&self) -> Option<&str> {
        match self {
            AwsCredentials::Keys(k) => Some(&k.access_key_id),
            AwsCredentials::Bearer(_) => None,
        }
    }
}

/// A value trimmed, or `None` when it is missing or blank.
fn non_blank(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// A secret configuration value (an authorization token): compared, cloned, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}
