//! One run's memory budget. The guest's linear memories and what the host
//! holds or computes for the run — finished tool results the spell has not
//! collected, `json_query`'s sandboxes — draw on one [`RunMemory`], so a
//! single `--memory` bounds what a spell can make the host process hold,
//! whether it allocates the bytes itself or asks the host to.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::LimitExceeded;

/// A run's memory budget, shared by every store and task of the run.
#[derive(Debug, Clone)]
pub struct RunMemory(Arc<Budget>);

#[derive(Debug)]
struct Budget {
    limit: u64,
    used: AtomicU64,
    peak: AtomicU64,
}

impl RunMemory {
    pub fn new(limit: u64) -> Self {
        Self(Arc::new(Budget {
            limit,
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }))
    }

    /// The bound, in bytes.
    pub fn limit(&self) -> u64 {
        self.0.limit
    }

    /// Bytes in use now, guest and host together.
    pub fn in_use(&self) -> u64 {
        self.0.used.load(Ordering::Relaxed)
    }

    /// The most ever in use at once.
    pub fn peak(&self) -> u64 {
        self.0.peak.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the budget, or says it would pass the limit.
    pub fn charge(&self, bytes: u64) -> Result<(), LimitExceeded> {
        let budget = &self.0;
        let mut used = budget.used.load(Ordering::Relaxed);
        loop {
            let total = used.saturating_add(bytes);
            if total > budget.limit {
                return Err(LimitExceeded::Memory {
                    limit: budget.limit,
                    requested: total,
                });
            }
            match budget.used.compare_exchange_weak(
                used,
                total,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    budget.peak.fetch_max(total, Ordering::Relaxed);
                    return Ok(());
                }
                Err(now) => used = now,
            }
        }
    }

    /// Gives back `bytes` taken by [`RunMemory::charge`].
    pub fn release(&self, bytes: u64) {
        debug_assert!(self.in_use() >= bytes, "released more than was charged");
        let _ = self
            .0
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// What a user reads when `what` has no room in the run's memory:
    /// the limit, what shares it, `advice`, and the flag that raises it.
    pub fn no_room(&self, what: &str, advice: &str) -> String {
        let limit = self.limit();
        format!(
            "{what} does not fit in what the run has left: the run's memory limit of {} holds \
             the spell's memory and what the host keeps for it, together; {advice}, or raise it \
             with --memory {}",
            super::human_size(limit),
            super::human_size(limit.saturating_mul(4))
        )
    }

    /// Takes `bytes` until the returned guard is dropped (a result the
    /// host keeps for the spell until it is collected).
    pub fn hold(&self, bytes: u64) -> Result<Held, LimitExceeded> {
        self.charge(bytes)?;
        Ok(Held {
            memory: self.clone(),
            bytes,
        })
    }
}

/// Bytes held against a [`RunMemory`] until dropped.
#[derive(Debug)]
pub struct Held {
    memory: RunMemory,
    bytes: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.memory.release(self.bytes);
    }
}

/// A store's resource limiter: its memories grow only within its own cap
/// and within the run's [`RunMemory`], and what they took goes back to the
/// run when the store is dropped. A trap it causes carries the
/// [`LimitExceeded`] that says which limit it was.
pub struct RunLimiter {
    /// This store's own bound (the run's for the spell itself, less for a
    /// sandbox the host starts for it).
    own_limit: u64,
    run: RunMemory,
    /// Bytes reserved by all memories of this store.
    memory_in_use: u64,
    /// Highest total memory of this store, for `--stats`.
    pub peak_memory: u64,
    /// Whether growth was refused by the run's budget rather than this
    /// store's own bound (to say which ran out).
    pub run_refused: bool,
    max_tables: usize,
    max_instances: usize,
}

impl RunLimiter {
    /// A limiter with a budget of its own.
    pub fn new(memory_limit: u64) -> Self {
        Self::within(memory_limit, RunMemory::new(memory_limit))
    }

    /// A store of `run`: at most `own_limit` for itself, and never past what
    /// the run has left.
    pub fn within(own_limit: u64, run: RunMemory) -> Self {
        Self {
            own_limit,
            run,
            memory_in_use: 0,
            peak_memory: 0,
            run_refused: false,
            max_tables: 1_000,
            max_instances: 1_000,
        }
    }
}

impl Drop for RunLimiter {
    fn drop(&mut self) {
        self.run.release(self.memory_in_use);
    }
}

impl wasmtime::ResourceLimiter for RunLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|maximum| desired > maximum) {
            // The module's own maximum refuses it: nothing to charge.
            return Ok(false);
        }
        let growth = desired.saturating_sub(current) as u64;
        let total = self.memory_in_use + growth;
        if total > self.own_limit {
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                limit: self.own_limit,
                requested: total,
            }));
        }
        if let Err(limit) = self.run.charge(growth) {
            self.run_refused = true;
            return Err(wasmtime::Error::new(limit));
        }
        self.memory_in_use = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 10_000_000)
    }

    fn instances(&self) -> usize {
        self.max_instances
    }

    fn tables(&self) -> usize {
        self.max_tables
    }

    fn memories(&self) -> usize {
        self.max_instances
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter as _;

    use super::*;

    #[test]
    fn limiter_refuses_growth_past_the_limit() {
        let mut limiter = RunLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 512 << 10, None).unwrap());
        let err = limiter
            .memory_growing(512 << 10, 2 << 20, None)
            .unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>(),
            Some(&LimitExceeded::Memory {
                limit: 1 << 20,
                requested: 2 << 20
            })
        );
        assert_eq!(limiter.peak_memory, 512 << 10);
    }

    #[test]
    fn the_guest_and_the_host_share_the_run_budget() {
        let run = RunMemory::new(4 << 20);
        let mut guest = RunLimiter::within(4 << 20, run.clone());
        assert!(guest.memory_growing(0, 2 << 20, None).unwrap());
        // A result the host keeps takes what the guest does not use...
        let held = run.hold(1 << 20).unwrap();
        // ...so neither the guest nor a sandbox may grow into it.
        let err = guest.memory_growing(2 << 20, 7 << 19, None).unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>(),
            Some(&LimitExceeded::Memory {
                limit: 4 << 20,
                requested: (3 << 20) + (3 << 19)
            })
        );
        let mut sandbox = RunLimiter::within(8 << 20, run.clone());
        assert!(sandbox.memory_growing(0, 2 << 20, None).is_err());
        assert!(sandbox.memory_growing(0, 1 << 20, None).unwrap());
        assert_eq!(run.in_use(), 4 << 20);
        assert!(run.hold(1).is_err());
        // What a dropped sandbox or a collected result took comes back.
        drop(sandbox);
        drop(held);
        assert_eq!(run.in_use(), 2 << 20);
        assert_eq!(run.peak(), 4 << 20);
        run.hold(2 << 20).unwrap();
    }
}
