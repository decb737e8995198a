//! `encode`: base64, base64url, hex and URL percent-encoding, both ways.
//! Decoded bytes must be UTF-8 text (binary results are refused with a
//! clear message, since the tool returns text).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};

use super::{obj, object_schema, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `encode` tool.
pub struct Encode;

/// RFC 3986 unreserved characters stay as they are.
const URL_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[async_trait::async_trait]
impl Tool for Encode {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "encode".into(),
            description:
                "Encode text to, or decode it from, base64, base64url, hex or URL percent-encoding \
                (encode_uri_component style)."
                    .into(),
            parameters: object_schema(
                json!({
                    "operation": {
                        "type": "string",
                        "enum": ["encode", "decode"],
                        "description": "Encode the text, or decode it back to text."
                    },
                    "encoding": {
                        "type": "string",
                        "enum": ["base64", "base64url", "hex", "url"],
                        "description": "The encoding."
                    },
                    "text": {
                        "type": "string",
                        "description": "The text to encode, or the encoded text to decode."
                    }
                }),
                &["operation", "encoding", "text"],
            ),
        }
    }

    async fn call(&self, _ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let op = req_str(&args, "operation")?;
        let encoding = req_str(&args, "encoding")?;
        let text = req_str(&args, "text")?;
        let out = match op {
            "encode" => match encoding {
                "base64" => STANDARD.encode(text),
                "base64url" => URL_SAFE_NO_PAD.encode(text),
                "hex" => hex::encode(text),
                "url" => utf8_percent_encode(text, URL_ESCAPE).to_string(),
                other => return Err(unknown(other)),
            },
            "decode" => {
                let bytes = decode_bytes(encoding, text)?;
                String::from_utf8(bytes).map_err(|e| {
                    ToolError::Failed(format!(
                        "the decoded data is not UTF-8 text (invalid byte at offset {}); it is binary",
                        e.utf8_error().valid_up_to()
                    ))
                })?
            }
            other => {
                return Err(ToolError::InvalidArguments(format!(
                    "unknown operation `{other}`"
                )));
            }
        };
        Ok(obj([("text", json!(out))]))
    }
}

fn unknown(encoding: &str) -> ToolError {
    ToolError::InvalidArguments(format!("unknown encoding `{encoding}`"))
}

/// Decodes `text` in `encoding` (base64 and base64url accept either alphabet
/// and optional padding; whitespace is ignored).
pub(crate) fn decode_bytes(encoding: &str, text: &str) -> Result<Vec<u8>, ToolError> {
    let bad = |e: String| ToolError::InvalidArguments(format!("invalid {encoding}: {e}"));
    match encoding {
        "base64" | "base64url" => {
            let cleaned: String = text
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '=')
                .map(|c| match c {
                    '-' => '+',
                    '_' => '/',
                    c => c,
                })
                .collect();
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(cleaned)
                .map_err(|e| bad(e.to_string()))
        }
        "hex" => {
            let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            hex::decode(cleaned).map_err(|e| bad(e.to_string()))
        }
        "url" => Ok(percent_decode_str(text).collect()),
        other => Err(unknown(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::testing::run;

    async fn enc(encoding: &str, text: &str) -> String {
        let out = run(
            &Encode,
            json!({"operation": "encode", "encoding": encoding, "text": text}),
        )
        .await
        .unwrap();
        out["text"].as_str().unwrap().to_string()
    }

    async fn dec(encoding: &str, text: &str) -> Result<String, ToolError> {
        let out = run(
            &Encode,
            json!({"operation": "decode", "encoding": encoding, "text": text}),
        )
        .await?;
        Ok(out["text"].as_str().unwrap().to_string())
    }

    #[tokio::test]
    async fn round_trips() {
        assert_eq!(enc("base64", "hi?>").await, "aGk/Pg==");
        assert_eq!(enc("base64url", "hi?>").await, "aGk_Pg");
        assert_eq!(enc("hex", "hi").await, "6869");
        assert_eq!(enc("url", "a b&c=d/é~").await, "a%20b%26c%3Dd%2F%C3%A9~");
        assert_eq!(dec("base64", "aGk/Pg==").await.unwrap(), "hi?>");
        assert_eq!(dec("base64url", "aGk_Pg").await.unwrap(), "hi?>");
        assert_eq!(dec("base64", "aGk_Pg").await.unwrap(), "hi?>");
        assert_eq!(dec("hex", "68 69").await.unwrap(), "hi");
        assert_eq!(
            dec("url", "a%20b%26c%3Dd%2F%C3%A9~").await.unwrap(),
            "a b&c=d/é~"
        );
    }

    #[tokio::test]
    async fn errors() {
        assert!(matches!(
            dec("hex", "xyz").await,
            Err(ToolError::InvalidArguments(_))
        ));
        assert!(matches!(
            dec("base64", "!!!").await,
            Err(ToolError::InvalidArguments(_))
        ));
        let err = dec("hex", "ff00").await.unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("not UTF-8")),
            "{err:?}"
        );
        let err = run(
            &Encode,
            json!({"operation": "encode", "encoding": "rot13", "text": "x"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
    }
}
