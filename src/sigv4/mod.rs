//! AWS Signature Version 4. Placeholder until the signer lands.
