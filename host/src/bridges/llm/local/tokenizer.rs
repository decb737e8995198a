//! A Hugging Face tokenizer rebuilt from a GGUF file's metadata (GPT-2
//! style byte-level BPE, as SmolLM2 and other llama-family models use), so
//! a model is one file with no `tokenizer.json` beside it.

use std::collections::HashMap;

use anyhow::{Context as _, bail};
use candle_core::quantized::gguf_file::Value;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

/// GGUF token types that are special (control and user-defined tokens).
const SPECIAL_TOKEN_TYPES: [i32; 2] = [3, 4];

fn strings(metadata: &HashMap<String, Value>, key: &str) -> anyhow::Result<Vec<String>> {
    let values = metadata
        .get(key)
        .with_context(|| format!("the GGUF file has no `{key}`"))?;
    values
        .to_vec()?
        .iter()
        .map(|v| Ok(v.to_string()?.clone()))
        .collect::<Result<_, candle_core::Error>>()
        .with_context(|| format!("`{key}` is not a list of strings"))
}

/// A tokenizer with what constrained decoding needs of its vocabulary.
pub struct Vocabulary {
    pub tokenizer: Tokenizer,
    /// Each token's text as written in the file (for id lookups).
    pub tokens: Vec<String>,
    /// Each token's bytes; `None` for special tokens, which are not text.
    pub bytes: Vec<Option<Vec<u8>>>,
}

/// Builds the tokenizer and its vocabulary.
pub fn from_gguf(metadata: &HashMap<String, Value>) -> anyhow::Result<Vocabulary> {
    let model = metadata
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str);
    if model != Some("gpt2") {
        bail!(
            "unsupported tokenizer `{}` (only byte-level BPE, `gpt2`, is supported)",
            model.unwrap_or("none")
        );
    }
    let tokens = strings(metadata, "tokenizer.ggml.tokens")?;
    let merges = strings(metadata, "tokenizer.ggml.merges")?;
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.clone(), id as u32))
        .collect();
    let merges = merges
        .iter()
        .map(|merge| {
            merge
                .split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .with_context(|| format!("bad merge `{merge}`"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| anyhow::anyhow!("building the BPE model: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    // SmolLM2's pre-tokenizer: digits one by one, then byte-level BPE.
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ])));
    tokenizer.with_decoder(Some(ByteLevel::new(false, true, true)));
    let types: Vec<i32> = match metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|t| t.to_i32())
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let is_special = |id: usize| {
        types
            .get(id)
            .is_some_and(|t| SPECIAL_TOKEN_TYPES.contains(t))
    };
    let special: Vec<AddedToken> = (0..tokens.len())
        .filter(|&id| is_special(id))
        .map(|id| AddedToken::from(tokens[id].clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| anyhow::anyhow!("registering special tokens: {e}"))?;
    let bytes = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| {
            if is_special(id) {
                None
            } else {
                token.chars().map(byte_level_byte).collect()
            }
        })
        .collect();
    Ok(Vocabulary {
        tokenizer,
        tokens,
        bytes,
    })
}

/// The byte a character of a byte-level BPE token stands for (GPT-2's
/// `bytes_to_unicode`, reversed): printable bytes are themselves, the
/// others were moved to U+0100 and up, in order.
fn byte_level_byte(c: char) -> Option<u8> {
    let printable = |b: u32| matches!(b, 33..=126 | 161..=172 | 174..=255);
    let code = c as u32;
    if code < 256 {
        return printable(code).then_some(code as u8);
    }
    let nth = usize::try_from(code - 256).ok()?;
    (0u32..256)
        .filter(|&b| !printable(b))
        .nth(nth)
        .map(|b| b as u8)
}

#[cfg(test)]
mod tests {
    use super::byte_level_byte;

    #[test]
    fn byte_level_characters_map_back_to_bytes() {
        let bytes = |s: &str| s.chars().map(byte_level_byte).collect::<Option<Vec<u8>>>();
        assert_eq!(bytes("Ġthe").as_deref(), Some(&b" the"[..]));
        assert_eq!(bytes("Ċ").as_deref(), Some(&b"\n"[..]));
        assert_eq!(bytes("{\"").as_deref(), Some(&b"{\""[..]));
        // "é" is two bytes, written as two characters.
        assert_eq!(bytes("Ã©").as_deref(), Some("é".as_bytes()));
        assert_eq!(byte_level_byte('\u{0100}'), Some(0));
        assert_eq!(byte_level_byte('\u{4e00}'), None);
    }
}
