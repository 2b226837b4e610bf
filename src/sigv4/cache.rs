//! Task 4 of SigV4 and the signing flow: the `Authorization` header, with the signing key
//! derived once per day.

use std::fmt;

use super::canonical::{SpecText, canonical_request};
use super::date::{MAX_AMZ_UNIX_TIME, amz_date};
use super::signer::{
    ALGORITHM, CredentialScope, SigningKey, StringToSign, TERMINATOR, signature, signing_key,
};
use super::{SignableRequest, SigningError, SigningOutput, SigningParams};

#[derive(Default)]
struct CachedKey {
    secret: String,
    date: String,
    region: String,
    service: String,
    key: SigningKey,
}

impl CachedKey {
    fn matches(&self, secret: &str, date: &str, region: &str, service: &str) -> bool {
        self.date == date
            && self.region == region
            && self.service == service
            && self.secret == secret
    }

    /// Derives a new key, reusing the string buffers of the entry it replaces.
    fn derive(stale: Option<Self>, secret: &str, date: &str, region: &str, service: &str) -> Self {
        let mut entry = stale.unwrap_or_default();
        for (field, value) in [
            (&mut entry.secret, secret),
            (&mut entry.date, date),
            (&mut entry.region, region),
            (&mut entry.service, service),
        ] {
            field.clear();
            field.push_str(value);
        }
        entry.key = signing_key(secret, date, region, service);
        entry
    }
}

/// Keys kept at once: enough for a few regions and a credential rotation in flight, small
/// enough that a linear search beats any map.
pub const CACHED_KEYS: usize = 8;

/// Signs requests, deriving the signing key once per (secret, day, region, service).
///
/// Up to [`CACHED_KEYS`] entries; when full, the oldest derivation is replaced. Keep one cache
/// per worker (root context) and pass it to every request.
#[derive(Default)]
pub struct SigningKeyCache {
    cached: Vec<CachedKey>,
    /// The slot the next derivation overwrites once the cache is full.
    next_slot: usize,
    derivations: u64,
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("keys", &self.cached.len())
            .field("derivations", &self.derivations)
            .finish_non_exhaustive()
    }
}

impl SigningKeyCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys this cache has derived so far.
    pub fn derivations(&self) -> u64 {
        self.derivations
    }

    /// The signing key for `date` (`YYYYMMDD`), derived only if the cached one does not fit.
    pub fn signing_key(
        &mut self,
        secret_access_key: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> SigningKey {
        let found = self
            .cached
            .iter()
            .position(|e| e.matches(secret_access_key, date, region, service));
        let slot = match found {
            Some(i) => i,
            None => self.derive_into_slot(secret_access_key, date, region, service),
        };
        match self.cached.get(slot) {
            Some(entry) => entry.key.clone(),
            // `slot` always names an entry; deriving again is the harmless answer if not.
            None => signing_key(secret_access_key, date, region, service),
        }
    }

    /// Derives a key into a free slot, or over the oldest derivation when all are taken.
    fn derive_into_slot(&mut self, secret: &str, date: &str, region: &str, service: &str) -> usize {
        self.derivations = self.derivations.saturating_add(1);
        if self.cached.len() < CACHED_KEYS {
            self.cached
                .push(CachedKey::derive(None, secret, date, region, service));
            return self.cached.len() - 1;
        }
        let i = self.next_slot % CACHED_KEYS;
        self.next_slot = (i + 1) % CACHED_KEYS;
        if let Some(entry) = self.cached.get_mut(i) {
            let stale = std::mem::take(entry);
            *entry = CachedKey::derive(Some(stale), secret, date, region, service);
        }
        i
    }

    /// Signs `req`: returns the headers to add (`x-amz-date`, `authorization`, and as
    /// configured `x-amz-security-token` and `x-amz-content-sha256`).
    pub fn sign(
        &mut self,
        req: &SignableRequest<'_>,
        params: &SigningParams<'_>,
    ) -> Result<SigningOutput, SigningError> {
        validate(params)?;
        let amz_date = amz_date(params.unix_time_secs);
        let creq = canonical_request(req, params, &amz_date)?;
        let creq_hash = creq.hash_hex();
        let string_to_sign =
            StringToSign::new(&amz_date, params.region, params.service, &creq_hash);
        let scope = string_to_sign.scope;
        let credentials = params.credentials;
        let key = self.signing_key(
            &credentials.secret_access_key,
            scope.date,
            scope.region,
            scope.service,
        );
        let signature = signature(&key, &string_to_sign);
        let authorization = authorization(
            &credentials.access_key_id,
            &scope,
            creq.signed_headers().as_str(),
            &signature,
        );
        let content_sha256 = params
            .settings
            .sign_content_sha256
            .then(|| creq.payload_hash().to_owned());
        Ok(SigningOutput {
            amz_date,
            authorization,
            signature,
            content_sha256,
            session_token: credentials.token().map(str::to_owned),
        })
    }
}

fn authorization(
    access_key_id: &str,
    scope: &CredentialScope<'_>,
    signed_headers: &str,
    signature: &str,
) -> String {
    const CREDENTIAL: &str = " Credential=";
    const SIGNED_HEADERS: &str = ", SignedHeaders=";
    const SIGNATURE: &str = ", Signature=";
    let scope_len =
        scope.date.len() + scope.region.len() + scope.service.len() + 3 + TERMINATOR.len();
    let mut out = String::with_capacity(
        ALGORITHM.len()
            + CREDENTIAL.len()
            + access_key_id.len()
            + 1
            + scope_len
            + SIGNED_HEADERS.len()
            + signed_headers.len()
            + SIGNATURE.len()
            + signature.len(),
    );
    for piece in [ALGORITHM, CREDENTIAL, access_key_id, "/"] {
        out.push_str(piece);
    }
    scope.emit(&mut |piece| out.push_str(piece));
    for piece in [SIGNED_HEADERS, signed_headers, SIGNATURE, signature] {
        out.push_str(piece);
    }
    out
}

/// Rejects inputs that would produce a malformed `Authorization` or token header.
fn validate(params: &SigningParams<'_>) -> Result<(), SigningError> {
    let breaks_header = |text: &str| {
        text.is_empty()
            || text
                .bytes()
                .any(|b| b.is_ascii_control() || b == b' ' || b == b'/' || b == b',')
    };
    let credentials = params.credentials;
    if breaks_header(&credentials.access_key_id) {
        return Err(SigningError::InvalidCredentials("access key id"));
    }
    if credentials.secret_access_key.is_empty() {
        return Err(SigningError::InvalidCredentials("secret access key"));
    }
    if credentials
        .token()
        .is_some_and(|t| t.bytes().any(|b| b.is_ascii_control()))
    {
        return Err(SigningError::InvalidCredentials("session token"));
    }
    if breaks_header(params.region) {
        return Err(SigningError::InvalidScope("region"));
    }
    if breaks_header(params.service) {
        return Err(SigningError::InvalidScope("service"));
    }
    if params.unix_time_secs > MAX_AMZ_UNIX_TIME {
        return Err(SigningError::TimeOutOfRange);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::{Credentials, Settings};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2015-08-30T12:36:00Z, the test-suite time.
    const SUITE_TIME: u64 = 1_440_938_160;

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SECRET.into(),
            session_token: token.map(str::to_owned),
        }
    }

    fn params(credentials: &Credentials, unix_time_secs: u64) -> SigningParams<'_> {
        SigningParams {
            credentials,
            region: "us-east-1",
            service: "service",
            unix_time_secs,
            settings: Settings::default(),
        }
    }

    const GET_VANILLA: SignableRequest<'static> = SignableRequest {
        method: "GET",
        path: "/",
        query: "",
        headers: &[("Host", "example.amazonaws.com")],
        payload: b"",
    };

    #[test]
    fn signs_get_vanilla_from_the_suite() {
        let creds = credentials(None);
        let out = SigningKeyCache::new()
            .sign(&GET_VANILLA, &params(&creds, SUITE_TIME))
            .unwrap();
        assert_eq!(out.amz_date, "20150830T123600Z");
        assert_eq!(
            out.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(
            out.signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!((out.content_sha256, out.session_token), (None, None));
    }

    #[test]
    fn alternating_regions_keep_their_keys() {
        let creds = credentials(None);
        let mut cache = SigningKeyCache::new();
        let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
        for _ in 0..5 {
            for region in regions {
                let p = SigningParams {
                    region,
                    ..params(&creds, SUITE_TIME)
                };
                cache.sign(&GET_VANILLA, &p).unwrap();
            }
        }
        assert_eq!(
            cache.derivations(),
            3,
            "one derivation per region, then cache hits"
        );
        // Past CACHED_KEYS distinct keys the oldest is replaced, and every key stays right.
        let names: Vec<String> = (0..CACHED_KEYS + 1)
            .map(|i| format!("xx-test-{i}"))
            .collect();
        for name in &names {
            assert_eq!(
                cache.signing_key(SECRET, "20150830", name, "service"),
                signing_key(SECRET, "20150830", name, "service")
            );
        }
        assert_eq!(cache.cached.len(), CACHED_KEYS);
        assert_eq!(cache.derivations(), 3 + names.len() as u64);
    }

    #[test]
    fn cache_reuses_the_key_within_a_day_and_rederives_on_change() {
        let creds = credentials(None);
        let mut cache = SigningKeyCache::new();
        let day_start = SUITE_TIME - SUITE_TIME % 86_400;
        for secs in [day_start, SUITE_TIME, day_start + 86_399] {
            cache.sign(&GET_VANILLA, &params(&creds, secs)).unwrap();
        }
        assert_eq!(cache.derivations(), 1, "one key for the whole day");
        let first_key = cache
            .signing_key(SECRET, "20150830", "us-east-1", "service")
            .clone();
        assert_eq!(cache.derivations(), 1);

        cache
            .sign(&GET_VANILLA, &params(&creds, day_start + 86_400))
            .unwrap();
        assert_eq!(cache.derivations(), 2, "a new day derives a new key");
        let next_day = cache
            .signing_key(SECRET, "20150831", "us-east-1", "service")
            .clone();
        assert_ne!(first_key, next_day);
        assert_eq!(
            next_day,
            signing_key(SECRET, "20150831", "us-east-1", "service")
        );

        let rotated = Credentials {
            secret_access_key: "other".into(),
            ..creds.clone()
        };
        cache
            .sign(&GET_VANILLA, &params(&rotated, day_start + 86_400))
            .unwrap();
        assert_eq!(cache.derivations(), 3, "a new secret derives a new key");
        let other_region = SigningParams {
            region: "eu-west-1",
            ..params(&rotated, day_start + 86_400)
        };
        cache.sign(&GET_VANILLA, &other_region).unwrap();
        assert_eq!(cache.derivations(), 4, "a new region derives a new key");
        cache.sign(&GET_VANILLA, &other_region).unwrap();
        assert_eq!(cache.derivations(), 4);
    }

    #[test]
    fn session_token_is_returned_signed_or_not() {
        let creds = credentials(Some("TOKEN"));
        let mut cache = SigningKeyCache::new();
        let signed = cache
            .sign(&GET_VANILLA, &params(&creds, SUITE_TIME))
            .unwrap();
        assert!(
            signed
                .authorization
                .contains("SignedHeaders=host;x-amz-date;x-amz-security-token,")
        );
        assert_eq!(signed.session_token.as_deref(), Some("TOKEN"));

        let settings = Settings {
            sign_session_token: false,
            ..Settings::default()
        };
        let unsigned = cache
            .sign(
                &GET_VANILLA,
                &SigningParams {
                    settings,
                    ..params(&creds, SUITE_TIME)
                },
            )
            .unwrap();
        assert!(
            unsigned
                .authorization
                .contains("SignedHeaders=host;x-amz-date,")
        );
        assert_eq!(unsigned.session_token.as_deref(), Some("TOKEN"));

        let empty = credentials(Some(""));
        let out = cache
            .sign(&GET_VANILLA, &params(&empty, SUITE_TIME))
            .unwrap();
        assert_eq!(out.session_token, None);
        assert!(out.authorization.contains("SignedHeaders=host;x-amz-date,"));
    }

    #[test]
    fn rejects_unusable_parameters() {
        let mut cache = SigningKeyCache::new();
        let good = credentials(None);
        let cases = [
            (
                Credentials {
                    access_key_id: "AK ID".into(),
                    ..good.clone()
                },
                "us-east-1",
                "s",
                0,
            ),
            (
                Credentials {
                    secret_access_key: String::new(),
                    ..good.clone()
                },
                "us-east-1",
                "s",
                0,
            ),
            (
                Credentials {
                    session_token: Some("a\nb".into()),
                    ..good.clone()
                },
                "us-east-1",
                "s",
                0,
            ),
            (good.clone(), "", "s", 0),
            (good.clone(), "us/east", "s", 0),
            (good.clone(), "us-east-1", "s s", 0),
            (good.clone(), "us-east-1", "s", MAX_AMZ_UNIX_TIME + 1),
        ];
        let expected = [
            SigningError::InvalidCredentials("access key id"),
            SigningError::InvalidCredentials("secret access key"),
            SigningError::InvalidCredentials("session token"),
            SigningError::InvalidScope("region"),
            SigningError::InvalidScope("region"),
            SigningError::InvalidScope("service"),
            SigningError::TimeOutOfRange,
        ];
        for ((creds, region, service, time), want) in cases.iter().zip(expected) {
            let p = SigningParams {
                region,
                service,
                ..params(creds, *time)
            };
            assert_eq!(cache.sign(&GET_VANILLA, &p), Err(want));
        }
        assert_eq!(cache.derivations(), 0);
        let debug = format!("{:?}", credentials(Some("TOKEN")));
        assert!(
            !debug.contains(SECRET) && !debug.contains("TOKEN"),
            "{debug}"
        );
    }
}
