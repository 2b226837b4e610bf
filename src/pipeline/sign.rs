//! Signing, a step of its own after translation: SigV4 (or a Bedrock API key) over the final
//! host, path and body of the request that leaves.

use super::upstream::{AttemptTarget, SignTarget, UpstreamRequest};
use crate::bedrock::path::model_path;
use crate::config::{Config, is_region};
use crate::credentials::{AwsCredentials, CredentialsProvider};
use crate::error::ApiError;
use crate::http::REGION_HEADER;
use crate::sigv4;

/// The worker's credentials and the signing keys derived from them.
pub struct Signer {
    /// Shared by every request of the worker; the worker drives its refreshes.
    pub credentials: CredentialsProvider,
    keys: sigv4::SigningKeyCache,
}

impl Signer {
    pub fn new(credentials: CredentialsProvider) -> Self {
        Signer {
            credentials,
            keys: sigv4::SigningKeyCache::new(),
        }
    }

    /// The headers that sign `req` (whose body is `payload`) for Bedrock: SigV4 over host,
    /// content-type (when set), x-amz-date (and the session token), or a bearer API key.
    /// Headers Envoy may still rewrite (content-length, x-forwarded-*, x-request-id,
    /// x-envoy-*) are never signed.
    pub fn sign(
        &mut self,
        req: &UpstreamRequest,
        payload: &[u8],
        now_secs: u64,
    ) -> Result<Vec<(&'static str, String)>, ApiError> {
        let creds = match self.credentials.current(now_secs) {
            None => return Err(self.credentials.unavailable()),
            Some(AwsCredentials::Bearer(token)) => {
                return Ok(vec![("authorization", format!("Bearer {token}"))]);
            }
            Some(AwsCredentials::Keys(k)) => k,
        };
        let host = req.header(":authority").unwrap_or_default();
        let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
        let with_type;
        let without_type;
        let headers: &[(&str, &str)] = match req.header("content-type") {
            Some(ct) => {
                with_type = [("host", host), ("content-type", ct)];
                &with_type
            }
            None => {
                without_type = [("host", host)];
                &without_type
            }
        };
        let signable = sigv4::SignableRequest {
            method: req.method,
            path,
            query,
            headers,
            payload,
        };
        let params = sigv4::SigningParams {
            credentials: creds,
            region: &req.region,
            service: "bedrock",
            unix_time_secs: now_secs,
            settings: sigv4::Settings::default(),
        };
        let out = self
            .keys
            .sign(&signable, &params)
            .map_err(|e| ApiError::internal(format!("cannot sign the Bedrock request: {e}")))?;
        let mut headers = Vec::with_capacity(3);
        headers.push((sigv4::X_AMZ_DATE, out.amz_date));
        if let Some(token) = out.session_token {
            headers.push((sigv4::X_AMZ_SECURITY_TOKEN, token));
        }
        headers.push(("authorization", out.authorization));
        Ok(headers)
    }

    /// Sign one Envoy attempt (sign mode) of the request `target` describes, for the region and
    /// host of the endpoint Envoy picked (`at`; the configuration's when the endpoint says
    /// nothing). Returns the path and headers to set; the caller removes any older signature.
    pub fn sign_attempt(
        &mut self,
        config: &Config,
        target: &SignTarget,
        at: AttemptTarget<'_>,
        payload: &[u8],
        now_secs: u64,
    ) -> Result<UpstreamRequest, ApiError> {
        let (region, authority) = match at.region {
            Some(r) if !is_region(r) => {
                return Err(ApiError::internal(format!(
                    "the upstream endpoint's metadata names no AWS region: {r:?}"
                )));
            }
            Some(r) => (
                r.to_string(),
                at.host.map_or_else(
                    || format!("bedrock-runtime.{r}.amazonaws.com"),
                    str::to_string,
                ),
            ),
            None => {
                let (r, a) = match target {
                    SignTarget::Model { model, .. } => {
                        match config.models.iter().find(|m| m.alias == *model) {
                            Some(m) => config.upstream_of(m),
                            None => (&*config.region, &*config.authority),
                        }
                    }
                    SignTarget::Path(_) => (&*config.region, &*config.authority),
                };
                (r.to_string(), at.host.unwrap_or(a).to_string())
            }
        };
        let path = match target {
            SignTarget::Model { op, model } => model_path(config.model_id_in(model, &region), *op),
            SignTarget::Path(p) => p.clone(),
        };
        let mut req = UpstreamRequest {
            // Bedrock's operations are POSTs, but for two native reads.
            method: if at.method == "GET" { "GET" } else { "POST" },
            path,
            body: None,
            batch: Vec::new(),
            headers: vec![(":authority", authority), (REGION_HEADER, region.clone())],
            region,
            sign_target: target.clone(),
        };
        if let Some(ct) = at.content_type {
            req.headers.push(("content-type", ct.to_string()));
        }
        let signature = self.sign(&req, payload, now_secs)?;
        req.headers.extend(signature);
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::headers::rewrite_signed_headers;
    use crate::pipeline::testing::{TWO_REGIONS, config_in, keys, owned, text};

    fn signer(creds: Option<AwsCredentials>) -> Signer {
        Signer::new(CredentialsProvider::fixed(creds))
    }

    #[test]
    fn each_attempt_is_signed_for_its_region_with_its_model_id() {
        let config = config_in("sign", TWO_REGIONS);
        let mut s = signer(Some(keys(Some("TOKEN"))));
        let target = SignTarget::decode("model converse claude").unwrap();
        let body = br#"{"messages":[]}"#;
        let eu = AttemptTarget {
            region: Some("eu-west-1"),
            host: Some("127.0.0.1:9001"),
            content_type: Some("application/json"),
            ..AttemptTarget::default()
        };
        let req = s
            .sign_attempt(&config, &target, eu, body, 1_700_000_000)
            .unwrap();
        assert_eq!(
            req.path,
            "/model/eu.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
        );
        assert_eq!(req.header(":authority"), Some("127.0.0.1:9001"));
        assert_eq!(req.header(REGION_HEADER), Some("eu-west-1"));
        let auth = req.header("authorization").unwrap();
        assert!(
            auth.contains("/20231114/eu-west-1/bedrock/aws4_request"),
            "{auth}"
        );
        // Without a host in the metadata: the region's public endpoint.
        let east = AttemptTarget {
            region: Some("us-east-1"),
            content_type: Some("application/json"),
            ..AttemptTarget::default()
        };
        let req = s
            .sign_attempt(&config, &target, east, body, 1_700_000_005)
            .unwrap();
        assert_eq!(
            req.path,
            "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
        );
        assert_eq!(
            req.header(":authority"),
            Some("bedrock-runtime.us-east-1.amazonaws.com")
        );
        assert_eq!(req.header("x-amz-date"), Some("20231114T221325Z"));
        // Without metadata: the configuration's region and endpoint.
        let req = s
            .sign_attempt(&config, &target, AttemptTarget::default(), body, 0)
            .unwrap();
        assert_eq!(req.header(REGION_HEADER), Some("us-east-1"));
        // Native paths are signed as the client wrote them.
        let native = SignTarget::Path("/model/amazon.nova-lite-v1%3A0/invoke".into());
        let req = s.sign_attempt(&config, &native, eu, body, 0).unwrap();
        assert_eq!(req.path, "/model/amazon.nova-lite-v1%3A0/invoke");
        // Metadata that names no region is a configuration error, not a guess.
        let bad = AttemptTarget {
            region: Some("mars"),
            ..AttemptTarget::default()
        };
        let e = s.sign_attempt(&config, &target, bad, body, 0);
        assert_eq!(e.unwrap_err().status, 500);
        let e = signer(None).sign_attempt(&config, &target, eu, body, 0);
        assert_eq!(e.unwrap_err().status, 503);
    }

    #[test]
    fn a_retry_keeps_nothing_of_the_earlier_signature() {
        let config = config_in("sign", TWO_REGIONS);
        let mut s = signer(Some(keys(None)));
        let target = SignTarget::decode("model converse claude").unwrap();
        // What the first attempt (us-east-1, with a session token) left on the request.
        let after_first = owned(&[
            (":method", "POST"),
            (
                ":path",
                "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
            ),
            (":authority", "bedrock-runtime.us-east-1.amazonaws.com"),
            ("content-type", "application/json"),
            ("content-length", "15"),
            (REGION_HEADER, "us-east-1"),
            ("x-amz-date", "20231114T221320Z"),
            ("x-amz-security-token", "OLD-TOKEN"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=OLD/us-east-1"),
            ("x-request-id", "r-1"),
        ]);
        let eu = AttemptTarget {
            region: Some("eu-west-1"),
            host: Some("bedrock-runtime.eu-west-1.amazonaws.com"),
            method: "POST",
            content_type: Some("application/json"),
        };
        let req = s
            .sign_attempt(&config, &target, eu, b"{}", 1_700_000_030)
            .unwrap();
        let out = rewrite_signed_headers(&after_first, &req);
        let out = text(&out);
        let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
        for once in [
            ":path",
            ":authority",
            "authorization",
            "x-amz-date",
            REGION_HEADER,
        ] {
            assert_eq!(
                names.iter().filter(|n| **n == once).count(),
                1,
                "{once}: {out:?}"
            );
        }
        assert!(!names.contains(&"x-amz-security-token"), "{out:?}");
        assert!(out.contains(&("content-length", "15")));
        assert!(out.contains(&("x-request-id", "r-1")));
        assert!(out.contains(&(REGION_HEADER, "eu-west-1")));
        assert!(out.iter().all(|(_, v)| !v.contains("us-east-1")), "{out:?}");
        assert!(out.first().is_some_and(|(n, _)| n.starts_with(':')));
    }

    #[test]
    fn credentials_from_env() {
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AK".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("SK".to_string()),
            "AWS_SESSION_TOKEN" => Some(" ".to_string()),
            _ => None,
        };
        let Some(AwsCredentials::Keys(k)) = AwsCredentials::from_env(&env) else {
            panic!()
        };
        assert_eq!(
            (k.access_key_id.as_str(), k.session_token.as_deref()),
            ("AK", None)
        );
        let shown = format!("{:?}", AwsCredentials::Keys(k));
        assert!(!shown.contains("SK"), "{shown}");
    }
}
