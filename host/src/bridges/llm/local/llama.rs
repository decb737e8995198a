//! The llama-architecture transformer over a GGUF file's quantized weights:
//! loading, and one forward pass at a time over a key/value cache that
//! persists between generations.
//!
//! The cache is preallocated and grows by doubling: each new token writes
//! its keys and values in place, instead of concatenating (copying) the
//! whole cache per layer per token. Grouped-query attention folds the query
//! heads that share a key/value head into one batch, so the shared heads are
//! never copied either. A generation whose prompt starts with tokens already
//! in the cache (the same system prompt, a conversation that grew by a turn)
//! only computes the rest.

use anyhow::{Context as _, bail};
use candle_core::quantized::{QMatMul, gguf_file};
use candle_core::{DType, Device, Module as _, Tensor};

/// The shape of the network, from the GGUF metadata.
#[derive(Debug, Clone)]
struct Shape {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    rms_eps: f32,
    rope_base: f32,
    context_length: usize,
}

struct Layer {
    attn_norm: Tensor,
    q: QMatMul,
    k: QMatMul,
    v: QMatMul,
    out: QMatMul,
    ffn_norm: Tensor,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
    cache: KvCache,
}

/// Keys and values of the positions seen so far, for one layer: tensors of
/// `(1, kv_heads, capacity, head_dim)` of which the first `len` positions
/// are filled.
struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
}

/// Positions the cache holds before its first growth.
const INITIAL_CACHE: usize = 256;

impl KvCache {
    fn capacity(&self) -> usize {
        self.k.as_ref().map_or(0, |k| k.dims()[2])
    }

    /// Appends `k` and `v` (`(1, kv_heads, seq, head_dim)`, contiguous) and
    /// returns views of every cached position, in order.
    fn append(
        &mut self,
        k: &Tensor,
        v: &Tensor,
        max: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let seq = k.dims()[2];
        let needed = self.len + seq;
        if needed > self.capacity() {
            let capacity = needed
                .next_power_of_two()
                .max(INITIAL_CACHE)
                .min(max.max(needed));
            let (_, heads, _, dim) = k.dims4()?;
            let grow = |old: &Option<Tensor>| -> candle_core::Result<Tensor> {
                let new = Tensor::zeros((1, heads, capacity, dim), k.dtype(), k.device())?;
                if let Some(old) = old
                    && self.len > 0
                {
                    new.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                }
                Ok(new)
            };
            let (k, v) = (grow(&self.k)?, grow(&self.v)?);
            (self.k, self.v) = (Some(k), Some(v));
        }
        let (all_k, all_v) = (self.k.as_ref().unwrap(), self.v.as_ref().unwrap());
        all_k.slice_set(k, 2, self.len)?;
        all_v.slice_set(v, 2, self.len)?;
        self.len = needed;
        Ok((all_k.narrow(2, 0, needed)?, all_v.narrow(2, 0, needed)?))
    }
}

/// A loaded model.
pub struct Llama {
    shape: Shape,
    embeddings: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    /// Rotary position tables, `(context_length, head_dim / 2)`.
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

impl Llama {
    /// Reads the weights `content` describes from `reader`.
    pub fn load<R: std::io::Read + std::io::Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> anyhow::Result<Self> {
        check_architecture(content)?;
        let meta = |key: &str| {
            content
                .metadata
                .get(&format!("llama.{key}"))
                .with_context(|| format!("the GGUF file has no `llama.{key}`"))
        };
        let uint = |key: &str| -> anyhow::Result<usize> {
            Ok(meta(key)?
                .to_u32()
                .with_context(|| format!("`llama.{key}` is not an integer"))?
                as usize)
        };
        let heads = uint("attention.head_count")?;
        let kv_heads = uint("attention.head_count_kv")?;
        let width = uint("embedding_length")?;
        let blocks = uint("block_count")?;
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || width % heads != 0 {
            bail!(
                "the GGUF file's attention heads ({heads}, {kv_heads} for keys) do not divide its width {width}"
            );
        }
        if uint("expert_count").unwrap_or(0) > 1 {
            bail!("mixture-of-experts models (`llama.expert_count`) are not supported");
        }
        let head_dim = width / heads;
        if let Ok(rope_dim) = uint("rope.dimension_count")
            && rope_dim != head_dim
        {
            bail!(
                "partial rotary embeddings (rope over {rope_dim} of {head_dim} dimensions) are not supported"
            );
        }
        let shape = Shape {
            heads,
            kv_heads,
            head_dim,
            rms_eps: meta("attention.layer_norm_rms_epsilon")
                .and_then(|v| Ok(v.to_f32()?))
                .unwrap_or(1e-5),
            rope_base: meta("rope.freq_base")
                .and_then(|v| Ok(v.to_f32()?))
                .unwrap_or(10_000.0),
            context_length: uint("context_length").unwrap_or(2048),
        };
        let mut tensor = |name: &str| {
            content
                .tensor(reader, name, device)
                .with_context(|| format!("reading tensor `{name}`"))
        };
        let embeddings_q = tensor("token_embd.weight")?;
        let embeddings = embeddings_q.dequantize(device)?;
        let norm = tensor("output_norm.weight")?.dequantize(device)?;
        // Small models tie the output projection to the embeddings.
        let output = match content.tensor_infos.contains_key("output.weight") {
            true => tensor("output.weight")?,
            false => embeddings_q,
        };
        let mut layers = Vec::with_capacity(blocks);
        for i in 0..blocks {
            let mut matmul = |part: &str| -> anyhow::Result<QMatMul> {
                Ok(QMatMul::from_qtensor(tensor(&format!(
                    "blk.{i}.{part}.weight"
                ))?)?)
            };
            layers.push(Layer {
                q: matmul("attn_q")?,
                k: matmul("attn_k")?,
                v: matmul("attn_v")?,
                out: matmul("attn_output")?,
                gate: matmul("ffn_gate")?,
                up: matmul("ffn_up")?,
                down: matmul("ffn_down")?,
                attn_norm: tensor(&format!("blk.{i}.attn_norm.weight"))?.dequantize(device)?,
                ffn_norm: tensor(&format!("blk.{i}.ffn_norm.weight"))?.dequantize(device)?,
                cache: KvCache {
                    k: None,
                    v: None,
                    len: 0,
                },
            });
        }
        let (cos, sin) = rope_tables(&shape, device)?;
        Ok(Self {
            shape,
            embeddings,
            layers,
            norm,
            output: QMatMul::from_qtensor(output)?,
            cos,
            sin,
            device: device.clone(),
        })
    }

    /// Positions the model attends over.
    pub fn context_length(&self) -> usize {
        self.shape.context_length
    }

    /// The next token's logits after `tokens`, which follow the first
    /// `position` tokens already in the cache (anything cached past them is
    /// dropped first).
    pub fn forward(&mut self, tokens: &[u32], position: usize) -> candle_core::Result<Vec<f32>> {
        let seq = tokens.len();
        if seq == 0 || position + seq > self.shape.context_length {
            candle_core::bail!(
                "{} tokens at position {position} do not fit the model's context of {}",
                seq,
                self.shape.context_length
            );
        }
        for layer in &mut self.layers {
            if position > layer.cache.len {
                candle_core::bail!("position {position} is past the cached {}", layer.cache.len);
            }
            layer.cache.len = position;
        }
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = self.embeddings.index_select(&ids, 0)?.unsqueeze(0)?;
        let cos = self.cos.narrow(0, position, seq)?;
        let sin = self.sin.narrow(0, position, seq)?;
        let mask = (seq > 1)
            .then(|| causal_mask(seq, position, &self.device))
            .transpose()?;
        let shape = &self.shape;
        for layer in &mut self.layers {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, shape.rms_eps)?;
            let attended = attention(shape, layer, &h, &cos, &sin, mask.as_ref())?;
            x = (x + attended)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, shape.rms_eps)?;
            let gated =
                (candle_nn::ops::silu(&layer.gate.forward(&h)?)? * layer.up.forward(&h)?)?;
            x = (x + layer.down.forward(&gated)?)?;
        }
        let last = x.narrow(1, seq - 1, 1)?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, shape.rms_eps)?;
        self.output
            .forward(&last)?
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1()
    }
}

/// Refuses a GGUF file of another architecture than llama, by its name.
fn check_architecture(content: &gguf_file::Content) -> anyhow::Result<()> {
    let arch = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .map_or("", String::as_str);
    if arch != "llama" {
        bail!(
            "this GGUF model's architecture is `{arch}`; local models run the llama architecture (SmolLM2 and other llama-architecture files with a byte-level BPE tokenizer)"
        );
    }
    Ok(())
}

/// Self-attention of one layer over `x` (`(1, seq, width)`, normalized),
/// its keys and values added to the layer's cache.
fn attention(
    shape: &Shape,
    layer: &mut Layer,
    x: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    mask: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let seq = x.dims()[1];
    let (heads, kv_heads, dim) = (shape.heads, shape.kv_heads, shape.head_dim);
    let split = |m: &QMatMul, n: usize| -> candle_core::Result<Tensor> {
        m.forward(x)?
            .reshape((1, seq, n, dim))?
            .transpose(1, 2)?
            .contiguous()
    };
    // GGUF stores llama's query and key rows permuted for interleaved
    // rotation (pairs 2i, 2i+1), as llama.cpp applies it.
    let q = candle_nn::rotary_emb::rope_i(&split(&layer.q, heads)?, cos, sin)?;
    let k = candle_nn::rotary_emb::rope_i(&split(&layer.k, kv_heads)?, cos, sin)?;
    let v = split(&layer.v, kv_heads)?;
    let (k, v) = layer.cache.append(&k, &v, shape.context_length)?;
    let total = k.dims()[2];
    // The query heads sharing a key/value head, as one batch per kv head.
    let group = heads / kv_heads;
    let q = q.reshape((1, kv_heads, group * seq, dim))?;
    let scores = (q.matmul(&k.t()?)? * (1.0 / (dim as f64).sqrt()))?;
    let scores = match mask {
        Some(mask) => scores
            .reshape((1, kv_heads, group, seq, total))?
            .broadcast_add(mask)?
            .reshape((1, kv_heads, group * seq, total))?,
        None => scores,
    };
    let weights = candle_nn::ops::softmax_last_dim(&scores)?;
    let y = weights
        .matmul(&v)?
        .reshape((1, heads, seq, dim))?
        .transpose(1, 2)?
        .reshape((1, seq, heads * dim))?;
    layer.out.forward(&y)
}

/// `(seq, position + seq)`: 0 where query `i` (at `position + i`) may
/// attend, minus infinity over the positions after it.
fn causal_mask(seq: usize, position: usize, device: &Device) -> candle_core::Result<Tensor> {
    let total = position + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j > position + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Tensor::from_vec(mask, (seq, total), device)
}

/// Rotation angles `position * base^(-2i/head_dim)` for every position of
/// the context.
fn rope_tables(shape: &Shape, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let half = shape.head_dim / 2;
    let inverse: Vec<f32> = (0..half)
        .map(|i| 1.0 / shape.rope_base.powf((2 * i) as f32 / shape.head_dim as f32))
        .collect();
    let inverse = Tensor::from_vec(inverse, (1, half), device)?;
    let positions = Tensor::arange(0, shape.context_length as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((shape.context_length, 1))?;
    let angles = positions.broadcast_mul(&inverse)?;
    Ok((angles.cos()?, angles.sin()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file::Value;

    fn content(metadata: &[(&str, &Value)]) -> (gguf_file::Content, std::io::Cursor<Vec<u8>>) {
        let mut bytes = std::io::Cursor::new(Vec::new());
        gguf_file::write(&mut bytes, metadata, &[]).unwrap();
        bytes.set_position(0);
        (gguf_file::Content::read(&mut bytes).unwrap(), bytes)
    }

    fn load_error(metadata: &[(&str, &Value)]) -> String {
        let (content, mut reader) = content(metadata);
        match Llama::load(&content, &mut reader, &Device::Cpu) {
            Ok(_) => panic!("loaded"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn another_architecture_is_refused_by_name() {
        let arch = Value::String("qwen2".into());
        let message = load_error(&[("general.architecture", &arch)]);
        assert!(
            message.contains("architecture is `qwen2`") && message.contains("llama"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_shape_key_is_named() {
        let arch = Value::String("llama".into());
        let message = load_error(&[("general.architecture", &arch)]);
        assert!(message.contains("llama.attention.head_count"), "{message}");
    }

    #[test]
    fn the_causal_mask_lets_each_query_see_the_cache_and_itself() {
        let mask = causal_mask(2, 3, &Device::Cpu).unwrap();
        let rows: Vec<Vec<f32>> = mask.to_vec2().unwrap();
        let inf = f32::NEG_INFINITY;
        assert_eq!(rows, vec![vec![0.0, 0.0, 0.0, 0.0, inf], vec![0.0; 5]]);
    }
}
