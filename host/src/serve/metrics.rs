//! Server metrics in Prometheus' text format (`GET /metrics`): runs by
//! spell and outcome, a run-duration histogram, LLM tokens and cost, runs
//! in flight, and requests turned away.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Upper bounds of the run-duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
struct Durations {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counters {
    runs: BTreeMap<(String, String), u64>,
    durations: BTreeMap<String, Durations>,
    tokens: BTreeMap<(String, &'static str), u64>,
    cost: BTreeMap<String, f64>,
    rejected: BTreeMap<&'static str, u64>,
}

/// The server's metrics.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
    in_flight: AtomicI64,
}

/// Counts a run as in flight until dropped (a cancelled run included).
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn start_run(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub fn runs_in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Records a finished run.
    pub fn finished(
        &self,
        spell: &str,
        outcome: &str,
        seconds: f64,
        input_tokens: u64,
        output_tokens: u64,
        cost_usd: f64,
    ) {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *c.runs
            .entry((spell.to_owned(), outcome.to_owned()))
            .or_default() += 1;
        let d = c.durations.entry(spell.to_owned()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                d.counts[i] += 1;
            }
        }
        d.count += 1;
        d.sum += seconds;
        *c.tokens.entry((spell.to_owned(), "input")).or_default() += input_tokens;
        *c.tokens.entry((spell.to_owned(), "output")).or_default() += output_tokens;
        *c.cost.entry(spell.to_owned()).or_default() += cost_usd;
    }

    /// Records a request turned away (`busy`, `unauthorized`, …).
    pub fn rejected(&self, reason: &'static str) {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *c.rejected.entry(reason).or_default() += 1;
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let label = |v: &str| {
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        out.push_str("# HELP spellhost_runs_total Runs finished, by spell and outcome.\n# TYPE spellhost_runs_total counter\n");
        for ((spell, outcome), n) in &c.runs {
            let _ = writeln!(
                out,
                "spellhost_runs_total{{spell=\"{}\",outcome=\"{}\"}} {n}",
                label(spell),
                label(outcome)
            );
        }
        out.push_str("# HELP spellhost_run_duration_seconds Run duration.\n# TYPE spellhost_run_duration_seconds histogram\n");
        for (spell, d) in &c.durations {
            let spell = label(spell);
            for (bound, n) in BUCKETS.iter().zip(d.counts) {
                let _ = writeln!(
                    out,
                    "spellhost_run_duration_seconds_bucket{{spell=\"{spell}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "spellhost_run_duration_seconds_bucket{{spell=\"{spell}\",le=\"+Inf\"}} {}",
                d.count
            );
            let _ = writeln!(
                out,
                "spellhost_run_duration_seconds_sum{{spell=\"{spell}\"}} {}",
                d.sum
            );
            let _ = writeln!(
                out,
                "spellhost_run_duration_seconds_count{{spell=\"{spell}\"}} {}",
                d.count
            );
        }
        out.push_str("# HELP spellhost_llm_tokens_total LLM tokens, by spell and direction.\n# TYPE spellhost_llm_tokens_total counter\n");
        for ((spell, direction), n) in &c.tokens {
            let _ = writeln!(
                out,
                "spellhost_llm_tokens_total{{spell=\"{}\",direction=\"{direction}\"}} {n}",
                label(spell)
            );
        }
        out.push_str("# HELP spellhost_llm_cost_usd_total LLM cost in US dollars, by spell.\n# TYPE spellhost_llm_cost_usd_total counter\n");
        for (spell, cost) in &c.cost {
            let _ = writeln!(
                out,
                "spellhost_llm_cost_usd_total{{spell=\"{}\"}} {cost}",
                label(spell)
            );
        }
        out.push_str("# HELP spellhost_requests_rejected_total Requests turned away, by reason.\n# TYPE spellhost_requests_rejected_total counter\n");
        for (reason, n) in &c.rejected {
            let _ = writeln!(
                out,
                "spellhost_requests_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP spellhost_runs_in_flight Runs running now.\n# TYPE spellhost_runs_in_flight gauge\nspellhost_runs_in_flight {}",
            self.runs_in_flight()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        {
            let _run = m.start_run();
            assert_eq!(m.runs_in_flight(), 1);
        }
        m.finished("hello", "ok", 0.02, 11, 5, 0.001);
        m.finished("hello", "ok", 2.0, 0, 0, 0.0);
        m.rejected("busy");
        let text = m.render();
        assert!(
            text.contains("spellhost_runs_total{spell=\"hello\",outcome=\"ok\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("spellhost_run_duration_seconds_bucket{spell=\"hello\",le=\"0.025\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("spellhost_run_duration_seconds_bucket{spell=\"hello\",le=\"5\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("spellhost_llm_tokens_total{spell=\"hello\",direction=\"input\"} 11")
        );
        assert!(text.contains("spellhost_requests_rejected_total{reason=\"busy\"} 1"));
        assert!(text.contains("spellhost_runs_in_flight 0"));
    }
}
