//! Tasks 2-3 of SigV4: string to sign, signing key, signature.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::canonical::{SpecText, display};

/// The algorithm line of the string to sign and the `Authorization` scheme.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub(crate) const TERMINATOR: &str = "aws4_request";

type HmacSha256 = Hmac<Sha256>;
const SHA256_BLOCK_LEN: usize = 64;

/// HMAC-SHA256 keyed with `key`, built infallibly: HMAC zero-pads keys up to the block size
/// and hashes longer ones first (RFC 2104), which is what `new_from_slice` would do.
fn hmac_keyed(key: &[u8]) -> HmacSha256 {
    let mut block = [0u8; SHA256_BLOCK_LEN];
    if key.len() <= SHA256_BLOCK_LEN {
        block.iter_mut().zip(key).for_each(|(dst, src)| *dst = *src);
    } else {
        block
            .iter_mut()
            .zip(Sha256::digest(key))
            .for_each(|(dst, src)| *dst = src);
    }
    <HmacSha256 as hmac::digest::KeyInit>::new(&block.into())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac_keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The derived `kSigning` key. `Debug` does not print it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(** redacted **)")
    }
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`,
/// with `date` as `YYYYMMDD`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> SigningKey {
    let k_secret = ["AWS4", secret_access_key].concat();
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    SigningKey(hmac_sha256(&k_service, TERMINATOR.as_bytes()))
}

/// Lower-case hex `HMAC(kSigning, string_to_sign)`.
pub fn signature(key: &SigningKey, string_to_sign: &StringToSign<'_>) -> String {
    let mut mac = hmac_keyed(key.as_bytes());
    string_to_sign.emit(&mut |piece| mac.update(piece.as_bytes()));
    hex::encode(mac.finalize().into_bytes())
}

/// `YYYYMMDD/region/service/aws4_request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialScope<'a> {
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl<'a> CredentialScope<'a> {
    /// The scope of a request signed at `amz_date` (its first eight characters are the date).
    pub fn new(amz_date: &'a str, region: &'a str, service: &'a str) -> Self {
        let date = amz_date.get(..8).unwrap_or(amz_date);
        Self {
            date,
            region,
            service,
        }
    }
}

impl SpecText for CredentialScope<'_> {
    fn emit(&self, put: &mut dyn FnMut(&str)) {
        for piece in [
            self.date,
            "/",
            self.region,
            "/",
            self.service,
            "/",
            TERMINATOR,
        ] {
            put(piece);
        }
    }
}

impl fmt::Display for CredentialScope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(self, f)
    }
}

/// The string to sign. `Display` prints it exactly as specified:
///
/// ```text
/// AWS4-HMAC-SHA256\nAMZ_DATE\nSCOPE\nHEX(SHA256(CANONICAL_REQUEST))
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringToSign<'a> {
    pub amz_date: &'a str,
    pub scope: CredentialScope<'a>,
    pub canonical_request_hash: &'a str,
}

impl<'a> StringToSign<'a> {
    pub fn new(
        amz_date: &'a str,
        region: &'a str,
        service: &'a str,
        canonical_request_hash: &'a str,
    ) -> Self {
        let scope = CredentialScope::new(amz_date, region, service);
        Self {
            amz_date,
            scope,
            canonical_request_hash,
        }
    }
}

impl SpecText for StringToSign<'_> {
    fn emit(&self, put: &mut dyn FnMut(&str)) {
        for piece in [ALGORITHM, "\n", self.amz_date, "\n"] {
            put(piece);
        }
        self.scope.emit(put);
        put("\n");
        put(self.canonical_request_hash);
    }
}

impl fmt::Display for StringToSign<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn derives_the_aws_documentation_example_key() {
        // "Deriving a signing key": secret above, 20120215, us-east-1, iam.
        let key = signing_key(SECRET, "20120215", "us-east-1", "iam");
        assert_eq!(
            hex::encode(key.as_bytes()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        let k_date = hmac_sha256(["AWS4", SECRET].concat().as_bytes(), b"20120215");
        assert_eq!(
            hex::encode(k_date),
            "969fbb94feb542b71ede6f87fe4d5fa29c789342b0f407474670f0c2489e0a0d"
        );
        assert_eq!(format!("{key:?}"), "SigningKey(** redacted **)");
    }

    #[test]
    fn padded_hmac_key_matches_hmac_crate_for_every_length() {
        let data = b"what do ya want for nothing?";
        for len in 0..=200u8 {
            let key: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(31).wrapping_add(7))
                .collect();
            let mut reference = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
            reference.update(data);
            let expected: [u8; 32] = reference.finalize().into_bytes().into();
            assert_eq!(hmac_sha256(&key, data), expected, "key length {len}");
        }
    }

    #[test]
    fn string_to_sign_text() {
        let sts = StringToSign::new("20150830T123600Z", "us-east-1", "service", "abc");
        assert_eq!(
            sts.to_string(),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nabc"
        );
        assert_eq!(
            sts.scope.to_string(),
            "20150830/us-east-1/service/aws4_request"
        );
    }
}
