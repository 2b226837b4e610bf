//! The `credentials` section of the plugin configuration, validated into a [`CredentialSource`].
//!
//! Without the section (or with `"source": "env"`) credentials come from the environment Envoy
//! passes to the VM (`host_env_keys`), in this order: a Bedrock API key
//! (`AWS_BEARER_TOKEN_BEDROCK`), then `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`
//! (+ `AWS_SESSION_TOKEN`), then the container credentials endpoint when
//! `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI` is set. `static` takes keys or an API
//! key from the configuration itself; `imds` and `container` fetch and refresh them.

use serde::Deserialize;

use super::{AwsCredentials, Secret, non_blank};
use crate::error::ConfigError;
use crate::sigv4;

/// Where EC2 instance metadata answers (the `Host` of IMDS calls).
pub const IMDS_HOST: &str = "169.254.169.254";
/// Where ECS answers `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
pub const CONTAINER_HOST: &str = "169.254.170.2";
/// Envoy cluster names used when the configuration names none.
pub const DEFAULT_IMDS_CLUSTER: &str = "imds";
pub const DEFAULT_CONTAINER_CLUSTER: &str = "container_credentials";
/// How long one metadata call may take.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
const MAX_TIMEOUT_MS: u64 = 60_000;

/// `"credentials": {…}` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredentialsConfig {
    /// `env` (default), `static`, `imds` or `container`.
    #[serde(default)]
    pub source: Option<String>,
    /// `static`: SigV4 keys …
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    #[serde(default)]
    pub session_token: Option<String>,
    /// … or a Bedrock API key.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// `imds` / `container`: the Envoy cluster the metadata calls go through.
    #[serde(default)]
    pub cluster: Option<String>,
    /// `imds`: the service's base URL (`http://169.254.169.254`); `container`: the full
    /// credentials URL (default from the environment).
    #[serde(default)]
    pub uri: Option<String>,
    /// Timeout of one metadata call in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Where the gateway's credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Nothing configured and nothing in the environment: every request gets a 503.
    None,
    /// Fixed credentials; `origin` says where they were read (for the log).
    Static {
        credentials: AwsCredentials,
        origin: &'static str,
    },
    /// EC2 instance metadata, IMDSv2.
    Imds(MetadataService),
    /// The ECS / EKS container credentials endpoint.
    Container(MetadataService),
}

/// A metadata service reached through an Envoy cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataService {
    pub cluster: String,
    /// `:authority` of the calls.
    pub authority: String,
    /// The credentials path (container); empty for IMDS, whose paths are fixed.
    pub path: String,
    /// The container endpoint's `Authorization` value (`AWS_CONTAINER_AUTHORIZATION_TOKEN`).
    pub authorization: Option<Secret>,
    pub timeout_ms: u64,
}

impl CredentialSource {
    /// Whether credentials are fetched (and so need a timer and a cluster).
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            CredentialSource::Imds(_) | CredentialSource::Container(_)
        )
    }

    /// The service, as a log line names it.
    pub fn describe(&self) -> String {
        match self {
            CredentialSource::None => "no AWS credentials".into(),
            CredentialSource::Static {
                credentials,
                origin,
            } => format!("{credentials} from the {origin}"),
            CredentialSource::Imds(s) => format!(
                "credentials from EC2 instance metadata (IMDSv2) through cluster {}",
                s.cluster
            ),
            CredentialSource::Container(s) => format!(
                "credentials from the container endpoint http://{}{} through cluster {}{}",
                s.authority,
                s.path,
                s.cluster,
                if s.authorization.is_some() {
                    " with an authorization token"
                } else {
                    ""
                }
            ),
        }
    }

    /// Validate `raw` (absent means `env`), reading the environment where the source says so,
    /// adding one error per problem to `errors` (the source is then `None`).
    pub fn from_raw(
        raw: Option<RawCredentialsConfig>,
        env: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<ConfigError>,
    ) -> CredentialSource {
        let raw = raw.unwrap_or_default();
        let before = errors.len();
        // An empty field names the section itself (a problem in the environment it reads).
        let mut problem = |field: &str, message: String| {
            errors.push(ConfigError {
                field: match field {
                    "" => "credentials".into(),
                    field => format!("credentials.{field}"),
                },
                message,
            });
        };
        let source = raw.source.as_deref().unwrap_or("env");
        const STATIC: &[&str] = &["static"];
        const FETCHING: &[&str] = &["env", "imds", "container"];
        let scoped: [(&str, bool, &[&str]); 7] = [
            ("access_key_id", raw.access_key_id.is_some(), STATIC),
            ("secret_access_key", raw.secret_access_key.is_some(), STATIC),
            ("session_token", raw.session_token.is_some(), STATIC),
            ("bearer_token", raw.bearer_token.is_some(), STATIC),
            ("cluster", raw.cluster.is_some(), FETCHING),
            ("uri", raw.uri.is_some(), FETCHING),
            ("timeout_ms", raw.timeout_ms.is_some(), FETCHING),
        ];
        for (field, set, sources) in scoped {
            if set && !sources.contains(&source) {
                let names: Vec<String> = sources.iter().map(|s| format!("{s:?}")).collect();
                problem(
                    field,
                    format!("only used with source {}", names.join(" or ")),
                );
            }
        }
        let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
            problem("timeout_ms", format!("must be 1 to {MAX_TIMEOUT_MS}"));
        }
        if raw.cluster.as_deref().is_some_and(|c| c.trim().is_empty()) {
            problem("cluster", "must name an Envoy cluster".into());
        }
        let service = |default_cluster: &str, authority: String, path: String| MetadataService {
            cluster: non_blank(raw.cluster.clone()).unwrap_or_else(|| default_cluster.into()),
            authority,
            path,
            authorization: None,
            timeout_ms,
        };
        let result = match source {
            "env" => match AwsCredentials::from_env(env) {
                Some(credentials) => Some(CredentialSource::Static {
                    credentials,
                    origin: "environment",
                }),
                None => container_endpoint(raw.uri.as_deref(), env)
                    .map_err(|message| problem("uri", message))
                    .ok()
                    .map(|endpoint| match endpoint {
                        Some((authority, path)) => CredentialSource::Container(MetadataService {
                            authorization: container_token(env, &mut problem),
                            ..service(DEFAULT_CONTAINER_CLUSTER, authority, path)
                        }),
                        None => CredentialSource::None,
                    }),
            },
            "static" => static_credentials(&raw, &mut problem),
            "imds" => {
                let base = raw.uri.as_deref().unwrap_or("http://169.254.169.254");
                match parse_http_url(base) {
                    Ok((authority, path)) if path.is_empty() || path == "/" => {
                        Some(CredentialSource::Imds(service(
                            DEFAULT_IMDS_CLUSTER,
                            authority,
                            String::new(),
                        )))
                    }
                    Ok(_) => {
                        problem("uri", format!("{base:?}: the IMDS base URL has no path"));
                        None
                    }
                    Err(message) => {
                        problem("uri", message);
                        None
                    }
                }
            }
            "container" => match container_endpoint(raw.uri.as_deref(), env) {
                Ok(Some((authority, path))) => Some(CredentialSource::Container(MetadataService {
                    authorization: container_token(env, &mut problem),
                    ..service(DEFAULT_CONTAINER_CLUSTER, authority, path)
                })),
                Ok(None) => {
                    problem(
                        "uri",
                        "no container credentials endpoint: set `uri`, \
                         AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or \
                         AWS_CONTAINER_CREDENTIALS_FULL_URI"
                            .into(),
                    );
                    None
                }
                Err(message) => {
                    problem("uri", message);
                    None
                }
            },
            other => {
                problem(
                    "source",
                    format!(
                        "unknown source {other:?} (expected \"env\", \"static\", \"imds\" or \
                         \"container\")"
                    ),
                );
                None
            }
        };
        match result {
            Some(source) if errors.len() == before => source,
            _ => CredentialSource::None,
        }
    }
}

/// `static`: keys (+ token) or a Bedrock API key, never both.
fn static_credentials(
    raw: &RawCredentialsConfig,
    problem: &mut dyn FnMut(&str, String),
) -> Option<CredentialSource> {
    let given = |v: &Option<String>| non_blank(v.clone());
    let keys = (given(&raw.access_key_id), given(&raw.secret_access_key));
    let credentials = match (given(&raw.bearer_token), keys) {
        (Some(_), (Some(_), _) | (_, Some(_))) => {
            problem(
                "bearer_token",
                "give either bearer_token or access_key_id and secret_access_key, not both".into(),
            );
            None
        }
        (Some(token), (None, None)) => Some(AwsCredentials::Bearer(token)),
        (None, (Some(access_key_id), Some(secret_access_key))) => {
            Some(AwsCredentials::Keys(sigv4::Credentials {
                access_key_id,
                secret_access_key,
                session_token: given(&raw.session_token),
            }))
        }
        (None, (Some(_), None)) => {
            problem("secret_access_key", "required with access_key_id".into());
            None
        }
        (None, (None, Some(_))) => {
            problem("access_key_id", "required with secret_access_key".into());
            None
        }
        (None, (None, None)) => {
            problem(
                "source",
                "\"static\" needs access_key_id and secret_access_key, or bearer_token".into(),
            );
            None
        }
    };
    if raw.session_token.is_some() && raw.bearer_token.is_some() {
        problem("session_token", "only used with access keys".into());
    }
    credentials.map(|credentials| CredentialSource::Static {
        credentials,
        origin: "configuration",
    })
}

/// The container endpoint as the AWS SDKs find it: the configuration's `uri`, else
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (on `http://169.254.170.2`), else
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`. `Ok(None)` when none is set.
fn container_endpoint(
    uri: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, String> {
    if let Some(uri) = uri {
        return parse_http_url(uri).map(Some);
    }
    if let Some(relative) = non_blank(env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
        if !relative.starts_with('/') || !is_path(&relative) {
            return Err(format!(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI {relative:?} must be a path starting with /"
            ));
        }
        return Ok(Some((CONTAINER_HOST.to_string(), relative)));
    }
    match non_blank(env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        Some(full) => parse_http_url(&full)
            .map(Some)
            .map_err(|e| format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: {e}")),
        None => Ok(None),
    }
}

/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`, which goes into a header: one line only.
fn container_token(
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(&str, String),
) -> Option<Secret> {
    let token = non_blank(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"))?;
    if token.bytes().any(|b| b.is_ascii_control()) {
        // The value itself is a secret: say what is wrong, never what it is.
        problem(
            "",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN contains control characters".into(),
        );
        return None;
    }
    Some(Secret(token))
}

/// What to tell the operator when the container token is only available as a file: Envoy's
/// Wasm runtimes give the filter no file system, so the file cannot be read.
pub fn token_file_warning(
    source: &CredentialSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let CredentialSource::Container(service) = source else {
        return None;
    };
    let file = non_blank(env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))?;
    if service.authorization.is_some() {
        return None;
    }
    Some(format!(
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE ({file}) cannot be read inside the Wasm sandbox; \
         pass the token in AWS_CONTAINER_AUTHORIZATION_TOKEN (host_env_keys) instead. Calling \
         the endpoint without a token."
    ))
}

/// `http(s)://host[:port][/path]` → (authority, path). No query, user or fragment.
fn parse_http_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest.get(..i).unwrap_or(rest), rest.get(i..).unwrap_or("")),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains(['@', '?', '#', ' ']) || !is_path(path) {
        return Err(format!("{url:?} must be scheme://host[:port][/path]"));
    }
    Ok((authority.to_ascii_lowercase(), path.to_string()))
}

/// Printable ASCII without spaces or fragments: safe as a `:path` header.
fn is_path(path: &str) -> bool {
    path.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn parse(
        json: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CredentialSource, Vec<String>> {
        let raw: Option<RawCredentialsConfig> = serde_json::from_str(json).unwrap();
        let mut errors = Vec::new();
        let source = CredentialSource::from_raw(raw, env, &mut errors);
        if errors.is_empty() {
            Ok(source)
        } else {
            Err(errors.iter().map(ToString::to_string).collect())
        }
    }

    #[test]
    fn env_precedence_bearer_then_keys_then_container() {
        let all = env_of(&[
            ("AWS_BEARER_TOKEN_BEDROCK", "api-key"),
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "SK"),
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/x",
            ),
        ]);
        let CredentialSource::Static {
            credentials,
            origin,
        } = parse("null", &all).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (credentials, origin),
            (AwsCredentials::Bearer("api-key".into()), "environment")
        );
        let keys = env_of(&[
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "SK"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:9/creds",
            ),
        ]);
        let CredentialSource::Static { credentials, .. } =
            parse(r#"{"source":"env"}"#, &keys).unwrap()
        else {
            panic!()
        };
        assert_eq!(credentials.access_key_id(), Some("AK"));
        // Relative wins over full, as in the AWS SDKs.
        let container = env_of(&[
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/abc",
            ),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:9/creds",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", " tok\n"),
        ]);
        assert_eq!(
            parse("null", &container).unwrap(),
            CredentialSource::Container(MetadataService {
                cluster: DEFAULT_CONTAINER_CLUSTER.into(),
                authority: CONTAINER_HOST.into(),
                path: "/v2/credentials/abc".into(),
                authorization: Some(Secret("tok".into())),
                timeout_ms: DEFAULT_TIMEOUT_MS,
            })
        );
        let full = env_of(&[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:9/creds",
        )]);
        let CredentialSource::Container(s) =
            parse(r#"{"cluster":"ecs","timeout_ms":900}"#, &full).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (
                s.cluster.as_str(),
                s.authority.as_str(),
                s.path.as_str(),
                s.timeout_ms
            ),
            ("ecs", "127.0.0.1:9", "/creds", 900)
        );
        assert_eq!(parse("null", &env_of(&[])).unwrap(), CredentialSource::None);
    }

    #[test]
    fn static_keys_or_api_key() {
        let none = env_of(&[("AWS_ACCESS_KEY_ID", "ignored")]);
        let s = parse(
            r#"{"source":"static","access_key_id":"AK","secret_access_key":"SK","session_token":"T"}"#,
            &none,
        )
        .unwrap();
        let CredentialSource::Static {
            credentials: AwsCredentials::Keys(k),
            origin,
        } = s
        else {
            panic!()
        };
        assert_eq!(
            (k.access_key_id.as_str(), k.session_token.as_deref(), origin),
            ("AK", Some("T"), "configuration")
        );
        let s = parse(r#"{"source":"static","bearer_token":"key"}"#, &none).unwrap();
        assert_eq!(s.describe(), "Bedrock API key from the configuration");
        assert!(!format!("{s:?}").contains("key\""), "{s:?}");
    }

    #[test]
    fn imds_defaults_and_overrides() {
        let s = parse(r#"{"source":"imds"}"#, &env_of(&[])).unwrap();
        assert_eq!(
            s,
            CredentialSource::Imds(MetadataService {
                cluster: "imds".into(),
                authority: IMDS_HOST.into(),
                path: String::new(),
                authorization: None,
                timeout_ms: DEFAULT_TIMEOUT_MS,
            })
        );
        let CredentialSource::Imds(s) = parse(
            r#"{"source":"imds","uri":"http://[fd00:ec2::254]/","cluster":"md"}"#,
            &env_of(&[]),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.authority.as_str(), s.cluster.as_str()),
            ("[fd00:ec2::254]", "md")
        );
    }

    #[test]
    fn every_problem_names_its_field() {
        let none = env_of(&[]);
        let cases: &[(&str, &[&str])] = &[
            (
                r#"{"source":"vault"}"#,
                &[
                    r#"credentials.source: unknown source "vault" (expected "env", "static", "imds" or "container")"#,
                ],
            ),
            (
                r#"{"source":"static"}"#,
                &[
                    r#"credentials.source: "static" needs access_key_id and secret_access_key, or bearer_token"#,
                ],
            ),
            (
                r#"{"source":"static","access_key_id":"AK"}"#,
                &["credentials.secret_access_key: required with access_key_id"],
            ),
            (
                r#"{"source":"static","secret_access_key":"SK"}"#,
                &["credentials.access_key_id: required with secret_access_key"],
            ),
            (
                r#"{"source":"static","bearer_token":"b","access_key_id":"AK","secret_access_key":"SK","session_token":"T"}"#,
                &[
                    "credentials.bearer_token: give either bearer_token or access_key_id and secret_access_key, not both",
                    "credentials.session_token: only used with access keys",
                ],
            ),
            (
                r#"{"source":"static","bearer_token":"b","cluster":"c"}"#,
                &[r#"credentials.cluster: only used with source "env" or "imds" or "container""#],
            ),
            (
                r#"{"source":"imds","access_key_id":"AK"}"#,
                &[r#"credentials.access_key_id: only used with source "static""#],
            ),
            (
                r#"{"source":"imds","timeout_ms":0}"#,
                &["credentials.timeout_ms: must be 1 to 60000"],
            ),
            (
                r#"{"source":"imds","cluster":" "}"#,
                &["credentials.cluster: must name an Envoy cluster"],
            ),
            (
                r#"{"source":"imds","uri":"http://169.254.169.254/latest"}"#,
                &[
                    r#"credentials.uri: "http://169.254.169.254/latest": the IMDS base URL has no path"#,
                ],
            ),
            (
                r#"{"source":"container"}"#,
                &[
                    "credentials.uri: no container credentials endpoint: set `uri`, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI",
                ],
            ),
            (
                r#"{"source":"container","uri":"ftp://x/y"}"#,
                &[r#"credentials.uri: "ftp://x/y" must start with http:// or https://"#],
            ),
            (
                r#"{"source":"container","uri":"http://u@x/y"}"#,
                &[r#"credentials.uri: "http://u@x/y" must be scheme://host[:port][/path]"#],
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(parse(json, &none).unwrap_err(), *expected, "{json}");
        }
        let bad_env = env_of(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/creds")]);
        assert_eq!(
            parse("null", &bad_env).unwrap_err(),
            [
                r#"credentials.uri: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "v2/creds" must be a path starting with /"#
            ]
        );
        let secret = env_of(&[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/c"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "sec\u{7}ret"),
        ]);
        let errs = parse(r#"{"source":"container"}"#, &secret).unwrap_err();
        assert_eq!(
            errs,
            ["credentials: AWS_CONTAINER_AUTHORIZATION_TOKEN contains control characters"]
        );
        let raw: Result<RawCredentialsConfig, _> = serde_json::from_str(r#"{"sorce":"env"}"#);
        assert!(raw.is_err());
    }

    #[test]
    fn the_token_file_cannot_be_read_in_the_sandbox() {
        let env = env_of(&[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1/credentials",
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                "/var/run/secrets/token",
            ),
        ]);
        let s = parse("null", &env).unwrap();
        let warning = token_file_warning(&s, &env).unwrap();
        assert!(warning.contains("/var/run/secrets/token"), "{warning}");
        let env = env_of(&[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1/credentials",
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                "/var/run/secrets/token",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"),
        ]);
        assert_eq!(
            token_file_warning(&parse("null", &env).unwrap(), &env),
            None
        );
    }

    #[test]
    fn debug_output_has_no_secret() {
        let env = env_of(&[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/c"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-secret"),
        ]);
        let s = parse("null", &env).unwrap();
        assert!(!format!("{s:?}").contains("container-secret"));
        assert!(!s.describe().contains("container-secret"));
        let s = parse(
            r#"{"source":"static","access_key_id":"AK","secret_access_key":"SK-secret","session_token":"T-secret"}"#,
            &env,
        )
        .unwrap();
        for shown in [format!("{s:?}"), s.describe()] {
            assert!(!shown.contains("-secret"), "{shown}");
        }
    }

    #[test]
    fn the_section_is_part_of_the_plugin_configuration() {
        use crate::config::Config;
        let none = env_of(&[]);
        let c = Config::parse(
            br#"{"region":"us-east-1","credentials":{"source":"imds"}}"#,
            &none,
        )
        .unwrap();
        assert!(c.credentials.is_remote());
        let errs = Config::parse(
            br#"{"region":"us-east-x","credentials":{"source":"imds","timeout_ms":0}}"#,
            &none,
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                r#"region: unknown region format "us-east-x" (expected e.g. "us-east-1")"#,
                "credentials.timeout_ms: must be 1 to 60000",
            ]
        );
        let errs = Config::parse(
            br#"{"region":"us-east-1","credentials":{"source":"imds","clutser":"x"}}"#,
            &none,
        )
        .unwrap_err();
        assert!(
            errs[0].message.contains("unknown field `clutser`"),
            "{}",
            errs[0]
        );
        // Keys in the environment become the default source.
        let keys = env_of(&[("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "SK")]);
        let c = Config::parse(br#"{"region":"us-east-1"}"#, &keys).unwrap();
        assert_eq!(
            c.credentials.describe(),
            "SigV4 with access key AK from the environment"
        );
    }

    #[test]
    fn hostile_sections_never_panic() {
        let env = env_of(&[
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t"),
        ]);
        let seed = br#"{"region":"us-east-1","credentials":{"source":"container","cluster":"c","uri":"http://[::1]:80/p?q","timeout_ms":9,"access_key_id":"A","secret_access_key":"S","session_token":"T","bearer_token":"B"}}"#;
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..3000 {
            let mut input = seed.to_vec();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = usize::try_from(state % input.len() as u64).unwrap();
                let pieces: [&[u8]; 9] = [
                    b"",
                    b"\"",
                    b"static",
                    b"imds",
                    b"env",
                    b"/",
                    b":",
                    b"\xc3",
                    b"99999999999",
                ];
                let piece = pieces[usize::try_from(state >> 40).unwrap() % pieces.len()];
                input.splice(
                    at..at + usize::from(state & 1 == 1 && at < input.len()),
                    piece.iter().copied(),
                );
            }
            let _ = crate::config::Config::parse(&input, &env);
        }
    }
}
