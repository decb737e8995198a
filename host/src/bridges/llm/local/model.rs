//! One loaded GGUF model and its generation loop.

use std::path::Path;

use anyhow::Context as _;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::LogitsProcessor;
use candle_transformers::models::quantized_llama::ModelWeights;
use tokenizers::Tokenizer;

use super::super::provider::{ChatRequest, FinishReason, LlmError, Usage};

/// Output tokens when the request sets no limit.
pub const DEFAULT_MAX_TOKENS: u32 = 256;
/// Penalty on recently generated tokens; keeps small models from looping.
const REPEAT_PENALTY: f32 = 1.1;
const REPEAT_WINDOW: usize = 64;

/// How to generate.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub max_tokens: u32,
    /// `None` or `0.0`: greedy (reproducible).
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: u64,
    pub stop: Vec<String>,
}

impl GenerateParams {
    pub fn from_request(request: &ChatRequest) -> Result<Self, LlmError> {
        let options = &request.options;
        if request.messages.is_empty() {
            return Err(LlmError::InvalidRequest(
                "a chat request needs at least one message".into(),
            ));
        }
        Ok(Self {
            max_tokens: options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            temperature: options.temperature.map(f64::from).filter(|t| *t > 0.0),
            top_p: options.top_p.map(f64::from),
            seed: options.seed.unwrap_or(299_792_458),
            stop: options.stop.clone(),
        })
    }
}

/// How a generation ended.
pub struct Generated {
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

/// Weights, tokenizer and the ids that end an answer.
pub struct LocalModel {
    weights: ModelWeights,
    tokenizer: Tokenizer,
    eos: Vec<u32>,
    context_length: usize,
    device: Device,
}

impl LocalModel {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let device = Device::Cpu;
        let mut file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let content = gguf_file::Content::read(&mut file)
            .with_context(|| format!("{} is not a GGUF file", path.display()))?;
        let (tokenizer, vocab) = super::tokenizer::from_gguf(&content.metadata)?;
        let id_of = |token: &str| vocab.iter().position(|t| t == token).map(|i| i as u32);
        let mut eos: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>"]
            .into_iter()
            .filter_map(id_of)
            .collect();
        if let Some(id) = content
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok())
        {
            eos.push(id);
        }
        let context_length = content
            .metadata
            .get("llama.context_length")
            .and_then(|v| v.to_u32().ok())
            .map_or(2048, |n| n as usize);
        let weights = ModelWeights::from_gguf(content, &mut file, &device)
            .context("reading the model weights")?;
        Ok(Self {
            weights,
            tokenizer,
            eos,
            context_length,
            device,
        })
    }

    /// Generates an answer to `prompt` (already templated), calling
    /// `on_text` with each new piece of text; generation stops early when it
    /// returns `false`.
    pub fn generate(
        &mut self,
        prompt: &str,
        params: &GenerateParams,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<Generated, LlmError> {
        let fail = |e: &dyn std::fmt::Display| {
            LlmError::Provider(super::super::provider::ProviderError {
                status: None,
                message: format!("local model: {e}"),
            })
        };
        let encoding = self.tokenizer.encode(prompt, false).map_err(|e| fail(&e))?;
        let prompt_ids = encoding.get_ids().to_vec();
        if prompt_ids.len() >= self.context_length {
            return Err(LlmError::InvalidRequest(format!(
                "the prompt is {} tokens; the model's context holds {}",
                prompt_ids.len(),
                self.context_length
            )));
        }
        let mut sampler = LogitsProcessor::new(params.seed, params.temperature, params.top_p);
        self.weights.clear_kv_cache();
        let mut all = prompt_ids.clone();
        let mut generated: Vec<u32> = Vec::new();
        let mut text = String::new();
        let mut finish = FinishReason::Length;
        let mut input = Tensor::new(prompt_ids.as_slice(), &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(|e| fail(&e))?;
        let mut position = 0;
        while (generated.len() as u32) < params.max_tokens && all.len() < self.context_length {
            let logits = self
                .weights
                .forward(&input, position)
                .and_then(|l| l.squeeze(0))
                .map_err(|e| fail(&e))?;
            position = all.len();
            let start = all.len().saturating_sub(REPEAT_WINDOW);
            let logits = candle_transformers::utils::apply_repeat_penalty(
                &logits,
                REPEAT_PENALTY,
                &all[start..],
            )
            .map_err(|e| fail(&e))?;
            let next = sampler.sample(&logits).map_err(|e| fail(&e))?;
            if self.eos.contains(&next) {
                finish = FinishReason::Stop;
                break;
            }
            all.push(next);
            generated.push(next);
            // Decode everything so far and emit what is new: a character may
            // span several tokens, so wait until it is complete.
            let decoded = self
                .tokenizer
                .decode(&generated, true)
                .map_err(|e| fail(&e))?;
            if decoded.len() > text.len()
                && !decoded.ends_with('\u{FFFD}')
                && decoded.is_char_boundary(text.len())
            {
                let mut piece = decoded[text.len()..].to_owned();
                let stop_at = params
                    .stop
                    .iter()
                    .filter_map(|s| decoded.find(s.as_str()))
                    .min();
                if let Some(at) = stop_at {
                    piece = decoded[text.len()..at.max(text.len())].to_owned();
                }
                text.push_str(&piece);
                if !piece.is_empty() && !on_text(&piece) {
                    finish = FinishReason::Stop;
                    break;
                }
                if stop_at.is_some() {
                    finish = FinishReason::Stop;
                    break;
                }
            }
            input = Tensor::new(&[next], &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(|e| fail(&e))?;
        }
        Ok(Generated {
            finish_reason: finish,
            usage: Usage {
                input_tokens: prompt_ids.len() as u32,
                output_tokens: generated.len() as u32,
            },
        })
    }
}
