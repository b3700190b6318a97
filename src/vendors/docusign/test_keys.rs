//! Test-only RSA keys for the JWT grant, generated once per test run (never committed).

use std::sync::OnceLock;

use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};

/// A generated key pair as PEM: `(private PKCS#1, public SPKI)`.
pub struct TestKeys {
    /// `-----BEGIN RSA PRIVATE KEY-----`, as DocuSign hands it out.
    pub private_pem: String,
    /// `-----BEGIN PUBLIC KEY-----`.
    pub public_pem: String,
}

/// The first key pair (2,048 bits, the least `ring` signs with), made once.
pub fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(generate)
}

/// A second, unrelated key pair (for "signed with the wrong key").
pub fn other_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(generate)
}

fn generate() -> TestKeys {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
    TestKeys {
        private_pem: private
            .to_pkcs1_pem(LineEnding::LF)
            .expect("PEM")
            .to_string(),
        public_pem: RsaPublicKey::from(&private)
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM"),
    }
}
