//! Per-run LLM accounting and budgets: every call's tokens (and cost, when
//! the model catalog or `[prices]` knows the model's price), totals for
//! `--stats`, and the `--max-llm-tokens` / `--max-llm-cost` limits checked
//! before each call.
//!
//! Calls in flight hold back the output tokens they may still write (the
//! number their request carries, or the model's maximum when the API's
//! default applies), so concurrent calls cannot overspend. A call that
//! finds too little left while others are in flight waits for them to
//! settle rather than failing; with nothing in flight it gets what is left,
//! and with nothing left it fails with `budget-exceeded`.

use std::sync::{Arc, Mutex};

use super::catalog::ModelCatalog;
use super::provider::{LlmError, Usage};

/// Limits on what a run may spend on LLMs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// Input plus output tokens, over all calls of the run.
    pub max_tokens: Option<u64>,
    /// US dollars, priced from the model catalog (or `[prices]`).
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

/// Output tokens held back for a call to a model of unknown output limit
/// that sets no `max_tokens`.
pub const UNSIZED_RESERVATION: u32 = 4096;

/// A call that wants more than is left waits for calls in flight unless a
/// quarter of what it wants, and at least this much (or all it wants, if
/// less), is left for it: a smaller output limit would cut answers short.
pub const MIN_GRANT: u32 = 1024;

/// What [`UsageMeter::try_admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; `None`: the run has no token budget.
    Granted(Option<Reservation>),
    /// Too little is left while other calls are in flight: wait for one to
    /// finish and try again.
    Wait,
}

/// The meter of one run; shared by every request the run makes.
#[derive(Debug, Default)]
pub struct UsageMeter {
    budget: Budget,
    catalog: Arc<ModelCatalog>,
    totals: Mutex<UsageTotals>,
    /// Output tokens granted to calls still in flight.
    reserved: Mutex<u64>,
    /// Woken whenever a reservation is released.
    released: tokio::sync::Notify,
}

impl UsageMeter {
    pub fn new(budget: Budget, catalog: Arc<ModelCatalog>) -> Self {
        Self {
            budget,
            catalog,
            totals: Mutex::default(),
            reserved: Mutex::default(),
            released: tokio::sync::Notify::new(),
        }
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UsageTotals> {
        self.totals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the budget before a call to `model`. Returns the most output
    /// tokens the call may generate (`None`: no token budget).
    /// Nothing is reserved.
    pub fn admit(&self, model: &str) -> Result<Option<u32>, LlmError> {
        match self.try_admit(model, None)? {
            Admission::Granted(reservation) => {
                if let Some(reservation) = reservation {
                    self.release(reservation.held);
                }
                Ok(reservation.map(|r| r.granted))
            }
            Admission::Wait => Err(LlmError::BudgetExceeded(
                "calls in flight hold what is left of the run's LLM tokens".into(),
            )),
        }
    }

    /// Admits a call that wants at most `wanted` output tokens (`None`:
    /// unknown), waiting while calls in flight hold what it needs, and
    /// reserves what it is granted until [`release`](Self::release).
    pub async fn admit_reserving(
        &self,
        model: &str,
        wanted: Option<u32>,
    ) -> Result<Option<Reservation>, LlmError> {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before checking, so a release in between wakes us.
            released.as_mut().enable();
            match self.try_admit(model, wanted)? {
                Admission::Granted(reservation) => return Ok(reservation),
                Admission::Wait => released.await,
            }
        }
    }

    /// One admission attempt without waiting (see [`Admission`]).
    pub fn try_admit(&self, model: &str, wanted: Option<u32>) -> Result<Admission, LlmError> {
        let totals = self.lock();
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(max_cost) = self.budget.max_cost_usd {
            if self.catalog.price(model).is_none() {
                return Err(LlmError::BudgetExceeded(format!(
                    "this run has a cost limit (--max-llm-cost) but the model catalog has no price for `{model}`; \
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
        let Some(max) = self.budget.max_tokens else {
            return Ok(Admission::Granted(None));
        };
        let used = totals.input_tokens + totals.output_tokens;
        let left = max.saturating_sub(used + *reserved);
        let enough = u64::from(wanted.map_or(1, |w| (w / 4).max(MIN_GRANT).min(w).max(1)));
        if left < enough {
            if *reserved > 0 {
                return Ok(Admission::Wait);
            }
            if left == 0 {
                return Err(LlmError::BudgetExceeded(format!(
                    "the run used {used} of its {max} LLM tokens; raise the limit with --max-llm-tokens"
                )));
            }
        }
        let left = left.min(u64::from(u32::MAX)) as u32;
        let grant = wanted.map_or(left, |w| w.min(left));
        // A call whose output limit is unknown may use all that is left but
        // holds back only a share, so calls can still run side by side.
        let hold = if wanted.is_some() {
            grant
        } else {
            grant.min(UNSIZED_RESERVATION)
        };
        *reserved += u64::from(hold);
        Ok(Admission::Granted(Some(Reservation {
            granted: grant,
            held: hold,
        })))
    }

    /// Gives back what a reservation held ([`Reservation::held`]).
    pub fn release(&self, held: u32) {
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        *reserved = reserved.saturating_sub(u64::from(held));
        drop(reserved);
        self.released.notify_waiters();
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
        let cost_usd = self.catalog.price(model).map(|price| {
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::bridges::llm::catalog::ModelSpec;
    use crate::settings::Price;

    fn usage(input: u32, output: u32) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
        }
    }

    fn tokens(max: u64) -> UsageMeter {
        UsageMeter::new(
            Budget {
                max_tokens: Some(max),
                max_cost_usd: None,
            },
            Arc::default(),
        )
    }

    fn granted(admission: Admission) -> Reservation {
        match admission {
            Admission::Granted(Some(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn token_budget_caps_output_then_refuses() {
        let meter = tokens(100);
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
    fn cost_comes_from_the_catalog_and_a_budget_needs_a_price() {
        let catalog = ModelCatalog::from_entries(BTreeMap::from([(
            "p/m".to_owned(),
            ModelSpec {
                price: Some(Price {
                    input: 1.0,
                    output: 2.0,
                }),
                ..Default::default()
            },
        )]));
        let meter = UsageMeter::new(
            Budget {
                max_tokens: None,
                max_cost_usd: Some(0.003),
            },
            Arc::new(catalog),
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
    fn builtin_catalog_prices_known_models() {
        let meter = UsageMeter::new(Budget::default(), Arc::default());
        meter.record(
            "openai/gpt-4o-mini",
            "chat",
            1,
            Ok(&usage(1_000_000, 1_000_000)),
        );
        assert!(
            (meter.totals().cost_usd - 0.75).abs() < 1e-9,
            "{:?}",
            meter.totals()
        );
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

    #[tokio::test]
    async fn calls_in_flight_hold_their_output_and_later_calls_wait_for_them() {
        let meter = Arc::new(tokens(3000));
        let sized = granted(meter.try_admit("p/m", Some(2500)).unwrap());
        assert_eq!((sized.granted, sized.held), (2500, 2500));
        let second = granted(meter.try_admit("p/m", Some(500)).unwrap());
        assert_eq!(
            (second.granted, second.held),
            (500, 500),
            "all it wants is left"
        );
        assert_eq!(
            meter.try_admit("p/m", Some(2000)).unwrap(),
            Admission::Wait,
            "nothing left while calls are in flight"
        );
        let waiting = tokio::spawn({
            let meter = meter.clone();
            async move { meter.admit_reserving("p/m", Some(2000)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        meter.record("p/m", "chat", 1, Ok(&usage(100, 400)));
        meter.release(sized.held);
        let third = waiting.await.unwrap().unwrap().unwrap();
        assert_eq!(third.granted, 2000);
        meter.release(second.held);
        meter.release(third.held);
        let last = granted(meter.try_admit("p/m", Some(5000)).unwrap());
        assert_eq!(last.granted, 2500, "with nothing in flight, what is left");
    }

    #[test]
    fn a_call_waits_rather_than_take_a_sliver_while_others_are_in_flight() {
        let meter = tokens(10_000);
        let first = granted(meter.try_admit("p/m", Some(8500)).unwrap());
        assert_eq!(first.held, 8500);
        assert_eq!(
            meter.try_admit("p/m", Some(8000)).unwrap(),
            Admission::Wait,
            "1500 left is less than a quarter of 8000"
        );
        let small = granted(meter.try_admit("p/m", Some(4000)).unwrap());
        assert_eq!(small.granted, 1500, "a quarter of 4000 is left: go with it");
    }

    #[test]
    fn calls_of_unknown_output_limit_hold_back_only_a_share() {
        let meter = tokens(100_000);
        let first = granted(meter.try_admit("p/m", None).unwrap());
        assert_eq!((first.granted, first.held), (100_000, UNSIZED_RESERVATION));
        let second = granted(meter.try_admit("p/m", None).unwrap());
        assert_eq!(
            second.granted,
            100_000 - UNSIZED_RESERVATION,
            "calls still run side by side"
        );
    }
}
