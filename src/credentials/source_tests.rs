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
    CredentialSource::from_raw(raw, env).map_err(|e| e.iter().map(ToString::to_string).collect())
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
    let CredentialSource::Static { credentials, .. } = parse(r#"{"source":"env"}"#, &keys).unwrap()
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
            &[r#"credentials.uri: "http://169.254.169.254/latest": the IMDS base URL has no path"#],
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
