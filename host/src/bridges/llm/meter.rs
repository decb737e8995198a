//! Per-run LLM accounting and budgets: every call's tokens (and cost, when
//! the model has a price), totals for `--stats`, and the `--max-llm-tokens`
//! / `--max-llm-cost` limits checked before each call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::provider::{LlmError, Usage};
use crate::settings::Price;

/// Limits on what a run may spend on LLMs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// Input plus output tokens, over all calls of the run.
    pub max_tokens: Option<u64>,
    /// US dollars, priced with the config file's `[prices]`.
    pub max_cost_usd: Option<f64>,
}

/// One finished call, as `--stats` reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CallRecord {
    pub model: String,
    /// `chat`, `stream` or `embed`.
    pub kind: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct UsageTotals {
    pub calls: u64,
    pub failures: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub per_call: Vec<CallRecord>,
}

/// What [`UsageMeter::admit_reserving`] granted a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// The most output tokens the call may generate.
    pub granted: u32,
    /// What is held back from other calls until it finishes.
    pub held: u32,
}

/// Output tokens held back for a call that sets no `max_tokens`.
pub const UNSIZED_RESERVATION: u32 = 4096;

/// The meter of one run; shared by every request the run makes.
#[derive(Debug, Default)]
pub struct UsageMeter {
    budget: Budget,
    prices: Arc<BTreeMap<String, Price>>,
    totals: Mutex<UsageTotals>,
    /// Output tokens granted to calls still in flight.
    reserved: Mutex<u64>,
}

impl UsageMeter {
    pub fn new(budget: Budget, prices: Arc<BTreeMap<String, Price>>) -> Self {
        Self {
            budget,
            prices,
            totals: Mutex::default(),
            reserved: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UsageTotals> {
        self.totals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the budget before a call to `model`. Returns the most output
    /// tokens the call may generate (`None`: no token budget).
    /// Nothing is reserved.
    pub fn admit(&self, model: &str) -> Result<Option<u32>, LlmError> {
        let reservation = self.admit_reserving(model, None)?;
        if let Some(reservation) = reservation {
            self.release(reservation.held);
        }
        Ok(reservation.map(|r| r.granted))
    }

    /// Like [`admit`](Self::admit), and reserves the output tokens granted
    /// (at most `wanted`) until [`release`](Self::release), so calls in
    /// flight at the same time cannot each spend what is left.
    pub fn admit_reserving(
        &self,
        model: &str,
        wanted: Option<u32>,
    ) -> Result<Option<Reservation>, LlmError> {
        let totals = self.lock();
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(max_cost) = self.budget.max_cost_usd {
            if !self.prices.contains_key(model) {
                return Err(LlmError::BudgetExceeded(format!(
                    "this run has a cost limit (--max-llm-cost) but `{model}` has no price; \
                     add [prices.\"{model}\"] with input and output (USD per million tokens) to spellhost.toml"
                )));
            }
            if totals.cost_usd >= max_cost {
                return Err(LlmError::BudgetExceeded(format!(
                    "the run spent ${:.4} of its ${max_cost} LLM budget; raise it with --max-llm-cost",
                    totals.cost_usd
                )));
            }
        }
        match self.budget.max_tokens {
            None => Ok(None),
            Some(max) => {
                let used = totals.input_tokens + totals.output_tokens;
                if used + *reserved >= max {
                    let in_flight = if *reserved > 0 {
                        format!(" (and calls in flight hold {})", *reserved)
                    } else {
                        String::new()
                    };
                    return Err(LlmError::BudgetExceeded(format!(
                        "the run used {used} of its {max} LLM tokens{in_flight}; raise the limit with --max-llm-tokens"
                    )));
                }
                let left = (max - used - *reserved).min(u64::from(u32::MAX)) as u32;
                let grant = wanted.map_or(left, |w| w.min(left));
                // A call that names no max_tokens may use all that is left
                // but holds back only a share, so calls can still run side
                // by side; setting max_tokens makes the budget exact.
                let hold = if wanted.is_some() {
                    grant
                } else {
                    grant.min(UNSIZED_RESERVATION)
                };
                *reserved += u64::from(hold);
                Ok(Some(Reservation {
                    granted: grant,
                    held: hold,
                }))
            }
        }
    }

    /// Gives back what a reservation held ([`Reservation::held`]).
    pub fn release(&self, held: u32) {
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        *reserved = reserved.saturating_sub(u64::from(held));
    }

    /// Records a finished call.
    pub fn record(
        &self,
        model: &str,
        kind: &str,
        elapsed_ms: u64,
        outcome: Result<&Usage, &LlmError>,
    ) {
        let usage = outcome.ok().copied().unwrap_or(Usage {
            input_tokens: 0,
            output_tokens: 0,
        });
        let cost_usd = self.prices.get(model).map(|price| {
            (f64::from(usage.input_tokens) * price.input
                + f64::from(usage.output_tokens) * price.output)
                / 1e6
        });
        let mut totals = self.lock();
        totals.calls += 1;
        totals.failures += u64::from(outcome.is_err());
        totals.input_tokens += u64::from(usage.input_tokens);
        totals.output_tokens += u64::from(usage.output_tokens);
        totals.cost_usd += cost_usd.unwrap_or(0.0);
        totals.per_call.push(CallRecord {
            model: model.to_owned(),
            kind: kind.to_owned(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            elapsed_ms,
            cost_usd,
            error: outcome.err().map(LlmError::describe),
        });
    }

    pub fn totals(&self) -> UsageTotals {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u32, output: u32) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
        }
    }

    #[test]
    fn token_budget_caps_output_then_refuses() {
        let meter = UsageMeter::new(
            Budget {
                max_tokens: Some(100),
                max_cost_usd: None,
            },
            Arc::default(),
        );
        assert_eq!(meter.admit("p/m").unwrap(), Some(100));
        meter.record("p/m", "chat", 5, Ok(&usage(30, 40)));
        assert_eq!(meter.admit("p/m").unwrap(), Some(30));
        meter.record("p/m", "chat", 5, Ok(&usage(20, 10)));
        let err = meter.admit("p/m").unwrap_err();
        assert!(
            matches!(&err, LlmError::BudgetExceeded(m) if m.contains("100 of its 100") && m.contains("--max-llm-tokens"))
        );
        assert_eq!(meter.totals().per_call.len(), 2);
    }

    #[test]
    fn cost_budget_needs_prices_and_adds_them_up() {
        let prices = Arc::new(BTreeMap::from([(
            "p/m".to_owned(),
            Price {
                input: 1.0,
                output: 2.0,
            },
        )]));
        let meter = UsageMeter::new(
            Budget {
                max_tokens: None,
                max_cost_usd: Some(0.003),
            },
            prices,
        );
        assert!(
            matches!(meter.admit("p/unpriced"), Err(LlmError::BudgetExceeded(m)) if m.contains("[prices.\"p/unpriced\"]"))
        );
        meter.record("p/m", "chat", 1, Ok(&usage(1000, 1000)));
        assert!((meter.totals().cost_usd - 0.003).abs() < 1e-12);
        assert!(matches!(
            meter.admit("p/m"),
            Err(LlmError::BudgetExceeded(_))
        ));
    }

    #[test]
    fn failures_are_counted_without_tokens() {
        let meter = UsageMeter::default();
        meter.record("p/m", "chat", 1, Err(&LlmError::Timeout("slow".into())));
        let totals = meter.totals();
        assert_eq!(
            (totals.calls, totals.failures, totals.input_tokens),
            (1, 1, 0)
        );
        assert_eq!(totals.per_call[0].error.as_deref(), Some("timed out: slow"));
    }

    #[test]
    fn calls_in_flight_reserve_their_output_tokens() {
        let meter = UsageMeter::new(
            Budget {
                max_tokens: Some(100),
                max_cost_usd: None,
            },
            Arc::default(),
        );
        let sized = meter.admit_reserving("p/m", Some(60)).unwrap().unwrap();
        assert_eq!((sized.granted, sized.held), (60, 60));
        let unsized_ = meter.admit_reserving("p/m", None).unwrap().unwrap();
        assert_eq!((unsized_.granted, unsized_.held), (40, 40), "what is left");
        let err = meter.admit_reserving("p/m", Some(10)).unwrap_err();
        assert!(
            matches!(&err, LlmError::BudgetExceeded(m) if m.contains("in flight hold 100")),
            "{err:?}"
        );
        meter.record("p/m", "chat", 1, Ok(&usage(5, 20)));
        meter.release(60);
        let after = meter.admit_reserving("p/m", None).unwrap().unwrap();
        assert_eq!(after.granted, 35);
    }

    #[test]
    fn calls_without_max_tokens_hold_back_only_a_share() {
        let meter = UsageMeter::new(
            Budget {
                max_tokens: Some(100_000),
                max_cost_usd: None,
            },
            Arc::default(),
        );
        let first = meter.admit_reserving("p/m", None).unwrap().unwrap();
        assert_eq!((first.granted, first.held), (100_000, UNSIZED_RESERVATION));
        let second = meter.admit_reserving("p/m", None).unwrap().unwrap();
        assert_eq!(
            second.granted,
            100_000 - UNSIZED_RESERVATION,
            "calls still run side by side"
        );
    }
}
