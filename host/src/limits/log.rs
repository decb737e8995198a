//! One run's log budget (`--max-log`): the bytes its log lines, `print`s
//! and WASI stdout/stderr may write to the host's log, shared by the run
//! and the spells it runs (workflow `spell` steps), so no path around it
//! writes for free.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::LimitExceeded;

/// What a log line costs besides its message: the host writes a time,
/// a level, the spell's name and the run's id with it, so a flood of empty
/// lines is a flood too.
pub const LINE_OVERHEAD: u64 = 64;

/// A run's log budget; clones share it.
#[derive(Debug, Clone)]
pub struct LogBudget(Arc<Budget>);

#[derive(Debug)]
struct Budget {
    limit: u64,
    written: AtomicU64,
}

impl LogBudget {
    pub fn new(limit: u64) -> Self {
        Self(Arc::new(Budget {
            limit,
            written: AtomicU64::new(0),
        }))
    }

    /// Counts `bytes` about to be written, or says the run is past its limit.
    pub fn spend(&self, bytes: u64) -> Result<(), LimitExceeded> {
        let written = self.0.written.fetch_add(bytes, Ordering::Relaxed);
        if written.saturating_add(bytes) > self.0.limit {
            return Err(LimitExceeded::Log {
                limit: self.0.limit,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_past_the_limit_is_the_log_limit() {
        let budget = LogBudget::new(100);
        let shared = budget.clone();
        budget.spend(60).unwrap();
        assert_eq!(
            shared.spend(41),
            Err(LimitExceeded::Log { limit: 100 }),
            "clones share one budget"
        );
        assert!(budget.spend(0).is_err(), "once past, it stays past");
    }
}
