//! Choosing the next token from the model's logits: a penalty on recent
//! tokens, then greedy choice, or sampling at a temperature (and top-p)
//! from a seeded generator, so that a seed reproduces an answer.

/// How the next token is chosen.
pub struct Sampler {
    temperature: Option<f64>,
    top_p: Option<f64>,
    rng: SplitMix64,
}

impl Sampler {
    /// `temperature` `None`: greedy.
    pub fn new(seed: u64, temperature: Option<f64>, top_p: Option<f64>) -> Self {
        Self {
            temperature: temperature.filter(|t| *t > 0.0),
            top_p: top_p.filter(|p| *p > 0.0 && *p < 1.0),
            rng: SplitMix64(seed),
        }
    }

    /// The next token. A NaN logit counts as minus infinity.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let Some(temperature) = self.temperature else {
            return argmax(logits);
        };
        // Probabilities at the temperature, largest first.
        let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut probs: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let weight = (f64::from(l - top) / temperature).exp();
                (i as u32, if weight.is_nan() { 0.0 } else { weight })
            })
            .collect();
        probs.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = probs.iter().map(|p| p.1).sum();
        // Nucleus: the fewest tokens whose probability reaches top-p.
        let keep = match self.top_p {
            Some(p) => {
                let mut sum = 0.0;
                probs
                    .iter()
                    .position(|(_, w)| {
                        sum += w / total;
                        sum >= p
                    })
                    .map_or(probs.len(), |i| i + 1)
            }
            None => probs.len(),
        };
        let kept = &probs[..keep];
        let mass: f64 = kept.iter().map(|p| p.1).sum();
        let mut target = self.rng.next_f64() * mass;
        for &(id, w) in kept {
            if target < w {
                return id;
            }
            target -= w;
        }
        kept.last().map_or(0, |p| p.0)
    }
}

/// Lowers the logits of the tokens in `recent` (each once): a positive one
/// divided by `penalty`, a negative one multiplied, so a small model does
/// not loop.
pub fn penalize_repeats(logits: &mut [f32], penalty: f32, recent: &[u32]) {
    let mut seen = std::collections::HashSet::with_capacity(recent.len());
    for &id in recent {
        if !seen.insert(id) {
            continue;
        }
        if let Some(logit) = logits.get_mut(id as usize) {
            *logit = if *logit >= 0.0 {
                *logit / penalty
            } else {
                *logit * penalty
            };
        }
    }
}

/// The id of the largest logit (the first of equals).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] || logits[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

/// A small seeded generator (SplitMix64): reproducible, not cryptographic.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest_logit() {
        let mut sampler = Sampler::new(1, None, None);
        assert_eq!(sampler.sample(&[0.1, 2.0, -1.0, 1.9]), 1);
    }

    #[test]
    fn a_seed_reproduces_samples_and_top_p_keeps_the_nucleus() {
        let logits = [3.0, 2.9, -5.0, -6.0, -7.0];
        let draw = |seed| {
            let mut sampler = Sampler::new(seed, Some(1.0), Some(0.9));
            (0..50).map(|_| sampler.sample(&logits)).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7), "the same seed, the same tokens");
        assert!(
            a.iter().all(|&id| id <= 1),
            "only the nucleus is drawn: {a:?}"
        );
        assert!(a.contains(&0) && a.contains(&1), "both likely tokens drawn");
    }

    #[test]
    fn a_zero_temperature_is_greedy_and_nan_is_never_drawn() {
        let mut zero = Sampler::new(1, Some(0.0), None);
        assert_eq!(zero.sample(&[0.1, 2.0, -1.0]), 1);
        let mut sampler = Sampler::new(1, Some(1.0), None);
        for _ in 0..20 {
            assert_ne!(sampler.sample(&[f32::NAN, 1.0, 0.5]), 0);
        }
    }

    #[test]
    fn repeats_are_penalized_once_each() {
        let mut logits = [2.0, -2.0, 1.0];
        penalize_repeats(&mut logits, 2.0, &[0, 1, 0]);
        assert_eq!(logits, [1.0, -4.0, 1.0]);
    }
}
