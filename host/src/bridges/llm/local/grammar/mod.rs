//! Constrained decoding: a byte-level JSON recognizer, guided by a subset
//! of JSON Schema, tells whether a token's bytes keep the answer a prefix
//! of a value of the schema's shape, and [`mask`] keeps only the tokens
//! that do. With it a small local model's JSON answers and tool calls
//! always parse and fit their schema's shape (see [`shape`] for what a
//! schema constrains, [`recognizer`] for the limits on the text).

pub mod recognizer;
pub mod shape;

pub use recognizer::Recognizer;
pub use shape::{Property, Shape, Tag};

/// Most parts ([`Shape::parts`]) a shape may have: following one costs the
/// host work per byte for the declared keys alive, so a spell cannot make
/// each token cost seconds with a schema of a million keys or values.
pub const MAX_PARTS: usize = 4096;

/// How many of the likeliest tokens are tried before the whole vocabulary.
const LIKELIEST: usize = 64;

/// Keeps the logits of the tokens whose bytes `recognizer` accepts (the
/// end-of-text tokens `ends` only once the value is complete) and sets the
/// others to minus infinity. The likeliest tokens are tried first; only if
/// none of them fits is every token tried whose first byte fits (each byte
/// tried once, so the cost is the vocabulary's size, not its size times
/// the state's). `false` if no token fits.
pub fn mask(
    logits: &mut [f32],
    recognizer: &Recognizer,
    tokens: &[Option<Vec<u8>>],
    ends: &[u32],
) -> bool {
    let complete = recognizer.is_complete();
    let fits = |id: usize| {
        if ends.contains(&(id as u32)) {
            complete
        } else {
            tokens
                .get(id)
                .and_then(Option::as_deref)
                .is_some_and(|bytes| recognizer.accepts(bytes))
        }
    };
    let mut order: Vec<usize> = (0..logits.len()).collect();
    let likeliest = LIKELIEST.min(order.len());
    if likeliest == 0 {
        return false;
    }
    order.select_nth_unstable_by(likeliest - 1, |&a, &b| logits[b].total_cmp(&logits[a]));
    let mut keep: Vec<usize> = order[..likeliest]
        .iter()
        .copied()
        .filter(|&id| fits(id))
        .collect();
    if keep.is_empty() {
        let first_fits: Vec<bool> = (0..=255u8).map(|b| recognizer.accepts(&[b])).collect();
        keep = (0..logits.len())
            .filter(|&id| {
                let first = tokens
                    .get(id)
                    .and_then(Option::as_deref)
                    .and_then(<[u8]>::first);
                let plausible = match first {
                    Some(&byte) => first_fits[usize::from(byte)],
                    None => ends.contains(&(id as u32)),
                };
                plausible && fits(id)
            })
            .collect();
    }
    let kept: Vec<(usize, f32)> = keep.iter().map(|&id| (id, logits[id])).collect();
    logits.fill(f32::NEG_INFINITY);
    for (id, logit) in &kept {
        logits[*id] = *logit;
    }
    !kept.is_empty()
}

#[cfg(test)]
mod tests;
