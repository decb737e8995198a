//! A run's event rate limit (`--max-event-rate`): a token bucket that holds
//! one second of events, shared by the run and the spells it runs. A spell
//! may publish that many at once, then that many a second; past it, `emit`
//! is refused with a `denied` error that names the limit, so the spell can
//! slow down or batch, and one spell cannot flood the bus every other
//! run's subscribers read.

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The bucket of one run; clones share it.
#[derive(Debug, Clone)]
pub struct EventRate(Arc<Mutex<Bucket>>);

#[derive(Debug)]
struct Bucket {
    per_second: u32,
    tokens: f64,
    last: Instant,
}

impl EventRate {
    pub fn new(per_second: u32) -> Self {
        Self(Arc::new(Mutex::new(Bucket {
            per_second,
            tokens: f64::from(per_second),
            last: Instant::now(),
        })))
    }

    /// Takes the token of one event published now.
    pub fn take(&self) -> Result<(), String> {
        let mut bucket = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bucket.take_at(Instant::now())
    }
}

impl Bucket {
    fn take_at(&mut self, now: Instant) -> Result<(), String> {
        let rate = f64::from(self.per_second);
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * rate;
        self.tokens = (self.tokens + refill).min(rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(format!(
            "the spell published events faster than its limit of {rate} a second \
             (the event rate limit); publish fewer (batch them into one payload), \
             or raise it with --max-event-rate {}",
            self.per_second.saturating_mul(4)
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_of_one_second_then_the_rate() {
        let rate = EventRate::new(10);
        let mut bucket = rate.0.lock().unwrap();
        let start = bucket.last;
        for _ in 0..10 {
            bucket.take_at(start).unwrap();
        }
        let refused = bucket.take_at(start).unwrap_err();
        assert!(refused.contains("--max-event-rate 40"), "{refused}");
        // A tenth of a second buys one event, not more.
        let later = start + Duration::from_millis(100);
        bucket.take_at(later).unwrap();
        assert!(bucket.take_at(later).is_err());
        // Idle time refills the bucket only up to one second's worth.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..10 {
            bucket.take_at(much_later).unwrap();
        }
        assert!(bucket.take_at(much_later).is_err());
    }
}
