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

/// Builds the tokenizer; returns it with the vocabulary for id lookups.
pub fn from_gguf(metadata: &HashMap<String, Value>) -> anyhow::Result<(Tokenizer, Vec<String>)> {
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
    let special: Vec<AddedToken> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| SPECIAL_TOKEN_TYPES.contains(t))
        .map(|(id, _)| AddedToken::from(tokens[id].clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| anyhow::anyhow!("registering special tokens: {e}"))?;
    Ok((tokenizer, tokens))
}
