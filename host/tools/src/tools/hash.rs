//! `hash`: message digests of a text (or of bytes given as base64/hex):
//! SHA-256 (default), SHA-512, SHA-1 and MD5 (the last two for checksums
//! only, not security), output as hex or base64.

use base64::Engine as _;
use md5::Md5;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::encode::decode_bytes;
use super::{obj, object_schema, opt_str, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `hash` tool.
pub struct Hash;

#[async_trait::async_trait]
impl Tool for Hash {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "hash".into(),
            description:
                "Compute a cryptographic hash (digest) of a text: sha256 (default), sha512, \
                sha1 or md5, as hex (default) or base64. The text is hashed as UTF-8 unless \
                `input_encoding` says it is base64 or hex bytes."
                    .into(),
            parameters: object_schema(
                json!({
                    "text": {
                        "type": "string",
                        "description": "The data to hash."
                    },
                    "algorithm": {
                        "type": "string",
                        "enum": ["sha256", "sha512", "sha1", "md5"],
                        "description": "Hash algorithm (default sha256)."
                    },
                    "output": {
                        "type": "string",
                        "enum": ["hex", "base64"],
                        "description": "Digest encoding (default hex)."
                    },
                    "input_encoding": {
                        "type": "string",
                        "enum": ["utf8", "base64", "hex"],
                        "description": "How `text` encodes the bytes to hash (default utf8)."
                    }
                }),
                &["text"],
            ),
        }
    }

    async fn call(&self, _ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let text = req_str(&args, "text")?;
        let algorithm = opt_str(&args, "algorithm")?.unwrap_or("sha256");
        let output = opt_str(&args, "output")?.unwrap_or("hex");
        let bytes = match opt_str(&args, "input_encoding")?.unwrap_or("utf8") {
            "utf8" => text.as_bytes().to_vec(),
            enc => decode_bytes(enc, text)?,
        };
        let digest: Vec<u8> = match algorithm {
            "sha256" => Sha256::digest(&bytes).to_vec(),
            "sha512" => Sha512::digest(&bytes).to_vec(),
            "sha1" => Sha1::digest(&bytes).to_vec(),
            "md5" => Md5::digest(&bytes).to_vec(),
            other => {
                return Err(ToolError::InvalidArguments(format!(
                    "unknown algorithm `{other}`"
                )));
            }
        };
        let encoded = match output {
            "hex" => hex::encode(&digest),
            "base64" => base64::engine::general_purpose::STANDARD.encode(&digest),
            other => {
                return Err(ToolError::InvalidArguments(format!(
                    "unknown output encoding `{other}`"
                )));
            }
        };
        Ok(obj([
            ("algorithm", json!(algorithm)),
            ("digest", json!(encoded)),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::testing::run;

    #[tokio::test]
    async fn known_digests() {
        let out = run(&Hash, json!({"text": "abc"})).await.unwrap();
        assert_eq!(
            out["digest"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let out = run(&Hash, json!({"text": "abc", "algorithm": "md5"}))
            .await
            .unwrap();
        assert_eq!(out["digest"], "900150983cd24fb0d6963f7d28e17f72");
        let out = run(
            &Hash,
            json!({"text": "abc", "algorithm": "sha1", "output": "base64"}),
        )
        .await
        .unwrap();
        assert_eq!(out["digest"], "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
        let out = run(
            &Hash,
            json!({"text": "616263", "input_encoding": "hex", "algorithm": "sha512"}),
        )
        .await
        .unwrap();
        assert!(
            out["digest"]
                .as_str()
                .unwrap()
                .starts_with("ddaf35a193617aba")
        );
    }

    #[tokio::test]
    async fn errors() {
        let err = run(&Hash, json!({"text": "abc", "algorithm": "crc32"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
        let err = run(&Hash, json!({"text": "zz", "input_encoding": "hex"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
    }
}
