//! Plugin configuration: the JSON in the Wasm filter's `configuration`, read once per worker.
//!
//! Two steps: [`RawConfig`] is what serde reads (unknown fields are errors, so a typo is never
//! silently ignored), [`Config::from_raw`] validates it into the form the filter uses and reports
//! every problem with the field it concerns. Values missing from the JSON fall back to the
//! environment Envoy passes to the VM (`AWS_REGION`, `BEDROCK_ENDPOINT`), then to defaults.

use serde::Deserialize;

/// Largest request body the filter buffers by default (images make chat requests large).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 20 * 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Default AWS region, e.g. `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Bedrock Runtime endpoint URL. Default `https://bedrock-runtime.{region}.amazonaws.com`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Largest request body accepted, in bytes; larger requests get a 413.
    #[serde(default)]
    pub max_request_bytes: Option<usize>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub region: String,
    pub endpoint: Endpoint,
    pub max_request_bytes: usize,
}

/// Where Bedrock requests go. `authority` is what the filter writes to `:authority` and signs as
/// `host`; Envoy's cluster decides the actual connection (and TLS SNI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub authority: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// One problem found in the configuration, with the path of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Config {
    /// Parse the plugin configuration bytes (empty means all defaults).
    pub fn parse(
        bytes: &[u8],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let raw: RawConfig = if bytes.iter().all(u8::is_ascii_whitespace) {
            RawConfig::default()
        } else {
            serde_json::from_slice(bytes).map_err(|e| {
                vec![ConfigError {
                    field: "configuration".into(),
                    message: format!("not valid filter configuration JSON: {e}"),
                }]
            })?
        };
        Config::from_raw(raw, env)
    }

    pub fn from_raw(
        raw: RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let region = non_empty(raw.region)
            .or_else(|| non_empty(env("AWS_REGION")))
            .or_else(|| non_empty(env("AWS_DEFAULT_REGION")));
        let region = match region {
            Some(r) if is_region(&r) => r,
            Some(r) => {
                errors.push(ConfigError {
                    field: "region".into(),
                    message: format!("unknown region format {r:?} (expected e.g. \"us-east-1\")"),
                });
                String::new()
            }
            None => {
                errors.push(ConfigError {
                    field: "region".into(),
                    message: "no region: set `region` or AWS_REGION".into(),
                });
                String::new()
            }
        };
        let endpoint_text = non_empty(raw.endpoint)
            .or_else(|| non_empty(env("BEDROCK_ENDPOINT")))
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
        let endpoint = match parse_endpoint(&endpoint_text) {
            Ok(e) => Some(e),
            Err(message) => {
                errors.push(ConfigError {
                    field: "endpoint".into(),
                    message,
                });
                None
            }
        };
        let max_request_bytes = raw.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES);
        if max_request_bytes == 0 {
            errors.push(ConfigError {
                field: "max_request_bytes".into(),
                message: "must be at least 1".into(),
            });
        }
        match endpoint {
            Some(endpoint) if errors.is_empty() => Ok(Config {
                region,
                endpoint,
                max_request_bytes,
            }),
            _ => Err(errors),
        }
    }
}

/// AWS region names: lower-case words joined by `-`, ending in a number (`us-east-1`,
/// `us-gov-west-1`, `ap-southeast-4`, `eu-central-2`).
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let (Some(last), Some(first)) = (parts.last(), parts.first()) else {
        return false;
    };
    parts.len() >= 3
        && first.len() == 2
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// `https://host[:port]` or `http://host:port`, no path. Default ports are dropped from the
/// authority, as the AWS SDKs do for the `Host` they sign.
pub fn parse_endpoint(url: &str) -> Result<Endpoint, String> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r)
    } else {
        return Err(format!("{url:?} must start with https:// or http://"));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "{url:?} must be scheme://host[:port] without path or user"
        ));
    }
    let default_port = match scheme {
        Scheme::Https => ":443",
        Scheme::Http => ":80",
    };
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    if let Some((host, port)) = authority.rsplit_once(':')
        && !host.ends_with(']')
        && (host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!("{url:?} has an invalid port"));
    }
    Ok(Endpoint {
        scheme,
        authority: authority.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_from_region() {
        let c = Config::parse(br#"{"region":"eu-west-1"}"#, &no_env).unwrap();
        assert_eq!(
            c.endpoint.authority,
            "bedrock-runtime.eu-west-1.amazonaws.com"
        );
        assert_eq!(c.endpoint.scheme, Scheme::Https);
        assert_eq!(c.max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
    }

    #[test]
    fn env_fallbacks() {
        let env = |k: &str| match k {
            "AWS_REGION" => Some("us-west-2".to_string()),
            "BEDROCK_ENDPOINT" => Some("http://127.0.0.1:8080".to_string()),
            _ => None,
        };
        let c = Config::parse(b"", &env).unwrap();
        assert_eq!(c.region, "us-west-2");
        assert_eq!(c.endpoint.authority, "127.0.0.1:8080");
        // The JSON wins over the environment.
        let c = Config::parse(br#"{"region":"us-east-2"}"#, &env).unwrap();
        assert_eq!(c.region, "us-east-2");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let errs = Config::parse(
            br#"{"region":"us-east-x","endpoint":"ftp://x","max_request_bytes":0}"#,
            &no_env,
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["region", "endpoint", "max_request_bytes"]);
        assert_eq!(
            errs[0].to_string(),
            r#"region: unknown region format "us-east-x" (expected e.g. "us-east-1")"#
        );
    }

    #[test]
    fn unknown_fields_and_bad_json_are_rejected() {
        let errs = Config::parse(br#"{"regoin":"us-east-1"}"#, &no_env).unwrap_err();
        assert!(
            errs[0].message.contains("unknown field `regoin`"),
            "{}",
            errs[0]
        );
        assert!(Config::parse(b"{", &no_env).is_err());
        assert!(Config::parse(b"", &no_env).is_err(), "no region anywhere");
    }

    #[test]
    fn endpoints() {
        let e = parse_endpoint("https://bedrock-runtime.us-east-1.amazonaws.com:443/").unwrap();
        assert_eq!(e.authority, "bedrock-runtime.us-east-1.amazonaws.com");
        let e = parse_endpoint("http://127.0.0.1:8080").unwrap();
        assert_eq!(e.authority, "127.0.0.1:8080");
        assert!(parse_endpoint("https://h/path").is_err());
        assert!(parse_endpoint("https://h:notaport").is_err());
        assert!(parse_endpoint("h:80").is_err());
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-4",
            "eu-central-2",
            "il-central-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in ["us-east-x", "useast1", "US-EAST-1", "us--1", "u-east-1", ""] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
