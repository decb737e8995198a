//! Signatures in cosign's key-pair format, so `cosign verify --key` accepts
//! ours and we accept cosign's.
//!
//! - Keys are ECDSA P-256. The public key is a `PUBLIC KEY` PEM (SPKI); the
//!   private key is PKCS#8, sealed with NaCl secretbox under a key derived
//!   from the password by scrypt, in an `ENCRYPTED SIGSTORE PRIVATE KEY` PEM
//!   (cosign's older `ENCRYPTED COSIGN PRIVATE KEY` reads too). The password
//!   comes from `$COSIGN_PASSWORD`, as cosign's does.
//! - A signature signs a "simple signing" payload naming the artifact's
//!   manifest digest; it is stored as an image manifest under the tag
//!   `sha256-<hex>.sig` beside the artifact, one layer per signature
//!   (`application/vnd.dev.cosign.simplesigning.v1+json`) with the base64
//!   DER signature in the `dev.cosignproject.cosign/signature` annotation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::der::pem::LineEnding;
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The media type of a signature layer (its blob is the signed payload).
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation that carries the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The `type` a cosign payload names.
const PAYLOAD_TYPE: &str = "cosign container image signature";

const PRIVATE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const OLD_PRIVATE_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// cosign's scrypt parameters (N = 2^15, r = 8, p = 1).
const SCRYPT_LOG_N: u8 = 15;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a cosign private key: {0}")]
    Malformed(String),
    #[error("wrong password for the private key (set COSIGN_PASSWORD)")]
    WrongPassword,
    #[error("not a public key: {0}")]
    BadPublic(String),
}

/// The tag cosign stores the signatures of `digest` under.
pub fn signature_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1) + ".sig"
}

/// A key pair, freshly made or unsealed from a private key file.
pub struct KeyPair {
    secret: SigningKey,
}

impl KeyPair {
    pub fn generate() -> Self {
        Self {
            secret: SigningKey::random(&mut OsRng),
        }
    }

    /// The private key sealed with `password`, as cosign writes it.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> String {
        let der = self
            .secret
            .to_pkcs8_der()
            .expect("a P-256 key encodes as PKCS#8");
        let mut salt = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let key = derive(password, &salt, SCRYPT_LOG_N, 8, 1).expect("valid scrypt parameters");
        let ciphertext = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
            .encrypt(&nonce.into(), der.as_bytes())
            .expect("sealing cannot fail");
        let sealed = Sealed {
            kdf: Kdf {
                name: "scrypt".into(),
                params: ScryptParams {
                    n: 1 << SCRYPT_LOG_N,
                    r: 8,
                    p: 1,
                },
                salt: BASE64.encode(salt),
            },
            cipher: Cipher {
                name: "nacl/secretbox".into(),
                nonce: BASE64.encode(nonce),
            },
            ciphertext: BASE64.encode(ciphertext),
        };
        let json = serde_json::to_vec(&sealed).expect("serializes");
        p256::pkcs8::der::pem::encode_string(PRIVATE_LABEL, LineEnding::LF, &json)
            .expect("PEM encodes")
    }

    /// Unseals a cosign private key file's text with `password`.
    pub fn from_encrypted_pem(text: &str, password: &[u8]) -> Result<Self, KeyError> {
        let (label, body) = p256::pkcs8::der::pem::decode_vec(text.trim().as_bytes())
            .map_err(|e| KeyError::Malformed(format!("not PEM ({e})")))?;
        if label != PRIVATE_LABEL && label != OLD_PRIVATE_LABEL {
            return Err(KeyError::Malformed(format!(
                "the PEM block is `{label}`, not `{PRIVATE_LABEL}`"
            )));
        }
        let sealed: Sealed = serde_json::from_slice(&body)
            .map_err(|e| KeyError::Malformed(format!("its body is not cosign's JSON ({e})")))?;
        if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
            return Err(KeyError::Malformed(format!(
                "sealed with {} and {}; only scrypt and nacl/secretbox are known",
                sealed.kdf.name, sealed.cipher.name
            )));
        }
        let decode = |what: &str, text: &str| {
            BASE64
                .decode(text)
                .map_err(|e| KeyError::Malformed(format!("{what}: {e}")))
        };
        let salt = decode("salt", &sealed.kdf.salt)?;
        let nonce = decode("nonce", &sealed.cipher.nonce)?;
        let ciphertext = decode("ciphertext", &sealed.ciphertext)?;
        let n = sealed.kdf.params.n;
        if !n.is_power_of_two() || n < 2 {
            return Err(KeyError::Malformed(format!(
                "scrypt N = {n} is not a power of two"
            )));
        }
        let key = derive(
            password,
            &salt,
            n.trailing_zeros() as u8,
            sealed.kdf.params.r,
            sealed.kdf.params.p,
        )
        .map_err(KeyError::Malformed)?;
        let nonce: [u8; 24] = nonce
            .try_into()
            .map_err(|_| KeyError::Malformed("the nonce is not 24 bytes".into()))?;
        let der = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
            .decrypt(&nonce.into(), ciphertext.as_slice())
            .map_err(|_| KeyError::WrongPassword)?;
        let secret = SigningKey::from_pkcs8_der(&der).map_err(|e| {
            KeyError::Malformed(format!("the sealed key is not an ECDSA P-256 key ({e})"))
        })?;
        Ok(Self { secret })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: *self.secret.verifying_key(),
        }
    }

    /// Signs `payload`: the base64 of the DER ECDSA signature.
    pub fn sign(&self, payload: &[u8]) -> String {
        let signature: Signature = self.secret.sign(payload);
        BASE64.encode(signature.to_der().as_bytes())
    }
}

fn derive(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<[u8; 32], String> {
    let params =
        scrypt::Params::new(log_n, r, p, 32).map_err(|e| format!("bad scrypt parameters ({e})"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut key).map_err(|e| format!("scrypt: {e}"))?;
    Ok(key)
}

/// A public key that verifies signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl PublicKey {
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        VerifyingKey::from_public_key_pem(text.trim())
            .map(|key| Self { key })
            .map_err(|e| {
                KeyError::BadPublic(format!(
                    "expected an ECDSA P-256 `PUBLIC KEY` PEM, as `spellhost keygen` and `cosign generate-key-pair` write ({e})"
                ))
            })
    }

    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 key encodes")
    }

    /// `SHA256:<hex>` of the key's SPKI DER, shortened: how the key is shown.
    pub fn fingerprint(&self) -> String {
        let der = self.key.to_public_key_der().expect("a P-256 key encodes");
        let hash = Sha256::digest(der.as_bytes());
        format!("SHA256:{}", &hex::encode(hash)[..16])
    }

    /// Whether `signature` (base64 DER, or raw 64-byte r||s) signs `payload`.
    pub fn verifies(&self, payload: &[u8], signature: &str) -> bool {
        let Ok(bytes) = BASE64.decode(signature.trim()) else {
            return false;
        };
        let signature = Signature::from_der(&bytes).or_else(|_| Signature::from_slice(&bytes));
        signature.is_ok_and(|s| self.key.verify(payload, &s).is_ok())
    }
}

/// The payload a cosign signature signs.
pub fn payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": manifest_digest },
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    }))
    .expect("serializes")
}

/// The manifest digest a payload vouches for, if it is a cosign payload.
pub fn payload_digest(payload: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let critical = json.get("critical")?;
    if critical.get("type")?.as_str()? != PAYLOAD_TYPE {
        return None;
    }
    Some(
        critical
            .get("image")?
            .get("docker-manifest-digest")?
            .as_str()?
            .to_owned(),
    )
}

/// One signature as stored: the payload and its base64 signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSignature {
    /// The payload, base64.
    pub payload: String,
    pub signature: String,
}

impl StoredSignature {
    pub fn payload_bytes(&self) -> Vec<u8> {
        BASE64.decode(&self.payload).unwrap_or_default()
    }

    pub fn new(payload: &[u8], signature: String) -> Self {
        Self {
            payload: BASE64.encode(payload),
            signature,
        }
    }
}

/// The first of `keys` that signed `digest` in one of `signatures`.
pub fn signer<'k>(
    signatures: &[StoredSignature],
    digest: &str,
    keys: &'k [(String, PublicKey)],
) -> Option<&'k (String, PublicKey)> {
    signatures.iter().find_map(|s| {
        let payload = s.payload_bytes();
        if payload_digest(&payload).as_deref() != Some(digest) {
            return None;
        }
        keys.iter()
            .find(|(_, key)| key.verifies(&payload, &s.signature))
    })
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn keys_seal_and_unseal_and_signatures_verify() {
        let pair = KeyPair::generate();
        let pem = pair.to_encrypted_pem(b"hunter2");
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
        assert!(matches!(
            KeyPair::from_encrypted_pem(&pem, b"wrong"),
            Err(KeyError::WrongPassword)
        ));
        let again = KeyPair::from_encrypted_pem(&pem, b"hunter2").unwrap();
        assert_eq!(again.public(), pair.public());

        let public = PublicKey::from_pem(&pair.public().to_pem()).unwrap();
        let payload = payload("127.0.0.1:5000/acme/hello", D);
        let signature = pair.sign(&payload);
        assert!(public.verifies(&payload, &signature));
        assert!(!public.verifies(b"other", &signature));
        assert!(!KeyPair::generate().public().verifies(&payload, &signature));
        assert_eq!(payload_digest(&payload).as_deref(), Some(D));

        let keys = vec![("acme".to_owned(), public)];
        let stored = vec![StoredSignature::new(&payload, signature)];
        assert_eq!(signer(&stored, D, &keys).unwrap().0, "acme");
        // A signature for another digest does not vouch for this one.
        let other = D.replace('e', "f");
        assert!(signer(&stored, &other, &keys).is_none());
    }

    #[test]
    fn the_signature_tag_is_cosigns() {
        assert_eq!(
            signature_tag(D),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.sig"
        );
    }

    #[test]
    fn malformed_keys_are_named() {
        assert!(matches!(
            KeyPair::from_encrypted_pem("nonsense", b""),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            PublicKey::from_pem("nonsense"),
            Err(KeyError::BadPublic(_))
        ));
    }
}
