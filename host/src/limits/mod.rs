//! Resource limits of a run — fuel, memory (the guest's and the host's
//! work for it, [`RunMemory`]), wall clock, output size, resource handles,
//! log volume, event rate and state quotas — and the errors that say which
//! limit stopped a spell and how to raise it.

mod log;
mod memory;

use std::time::Duration;

pub use log::{LINE_OVERHEAD, LogBudget};
pub use memory::{Held, RunLimiter, RunMemory};

/// The limits applied to one run. Defaults suit untrusted code that talks to
/// LLMs: little CPU, modest memory, generous wall clock for slow models.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Fuel units (about one per WebAssembly instruction).
    pub fuel: u64,
    /// Maximum linear memory of the spell, in bytes (all memories together).
    pub memory_bytes: u64,
    /// Wall-clock time the whole run may take, LLM waits included.
    pub timeout: Duration,
    /// Largest output (`run`'s return value) the host accepts, in bytes.
    pub max_output_bytes: u64,
    /// LLM tokens (input + output) the run may use; `None`: unlimited.
    pub max_llm_tokens: Option<u64>,
    /// US dollars the run may spend on LLMs (needs `[prices]`); `None`: unlimited.
    pub max_llm_cost_usd: Option<f64>,
    /// Resource handles (timers, streams, pending calls, buckets, agents…)
    /// the spell may hold at once, on the guest's side and the host's.
    pub max_handles: u32,
    /// Bytes (keys + values) one state namespace may hold when this spell
    /// writes to it.
    pub state_bytes: u64,
    /// Keys one state namespace may hold when this spell writes to it.
    pub state_keys: u64,
    /// Bytes of log lines (`print` and `console.log` included) the run may
    /// write.
    pub max_log_bytes: u64,
    /// Events the run may publish per second (and at once, in a burst).
    pub max_event_rate: u32,
}

impl Limits {
    pub const DEFAULT_FUEL: u64 = 10_000_000_000;
    pub const DEFAULT_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
    pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 16 * 1024 * 1024;
    /// Tokens (input + output) a run may spend on LLMs unless told otherwise:
    /// enough for real work, a bound on what an untrusted spell can cost.
    pub const DEFAULT_MAX_LLM_TOKENS: u64 = 200_000;
    /// Enough for thousands of concurrent timers or calls; a spell that
    /// leaks handles stops here instead of growing the host.
    pub const DEFAULT_MAX_HANDLES: u32 = 10_000;
    pub const DEFAULT_STATE_BYTES: u64 = 64 * 1024 * 1024;
    pub const DEFAULT_STATE_KEYS: u64 = 100_000;
    /// Plenty for diagnostics; a spell that floods the log stops here
    /// instead of filling the disk the host logs to.
    pub const DEFAULT_MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;
    /// About a subscriber's buffer (1024 events) a second: a spell may
    /// publish a burst that size, and that many a second after it.
    pub const DEFAULT_MAX_EVENT_RATE: u32 = 1000;

    /// The state quota these limits give.
    pub fn state_quota(&self) -> StateQuota {
        StateQuota {
            bytes: self.state_bytes,
            keys: self.state_keys,
        }
    }
}

/// How much one state namespace may hold: a write that would take it past
/// either bound is refused (`quota-exceeded`); deletes and writes that
/// shrink it always succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateQuota {
    /// Bytes of keys and values together.
    pub bytes: u64,
    pub keys: u64,
}

impl StateQuota {
    /// No bound (host tools and tests that manage their own stores).
    pub const UNLIMITED: StateQuota = StateQuota {
        bytes: u64::MAX,
        keys: u64::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: Self::DEFAULT_FUEL,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
            max_llm_tokens: Some(Self::DEFAULT_MAX_LLM_TOKENS),
            max_llm_cost_usd: None,
            max_handles: Self::DEFAULT_MAX_HANDLES,
            state_bytes: Self::DEFAULT_STATE_BYTES,
            state_keys: Self::DEFAULT_STATE_KEYS,
            max_log_bytes: Self::DEFAULT_MAX_LOG_BYTES,
            max_event_rate: Self::DEFAULT_MAX_EVENT_RATE,
        }
    }
}

/// A limit a run hit. Each message names the limit and the flag that raises it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error(
        "the spell ran out of fuel (limit: {limit} units); raise it with --fuel {suggested}",
        suggested = limit.saturating_mul(10)
    )]
    Fuel { limit: u64 },
    #[error(
        "the spell tried to grow its memory to {requested} bytes, over the limit of {limit} bytes; raise it with --memory {suggested}",
        suggested = human_size(limit.saturating_mul(4))
    )]
    Memory { limit: u64, requested: u64 },
    #[error(
        "the spell did not finish within {} (wall clock); raise it with --timeout {}",
        humantime::format_duration(*limit),
        humantime::format_duration(*limit * 4)
    )]
    Timeout { limit: Duration },
    #[error(
        "the spell returned {size} bytes of output, over the limit of {limit} bytes; raise it with --max-output {suggested}",
        suggested = human_size(size.next_power_of_two())
    )]
    Output { limit: u64, size: u64 },
    #[error(
        "the spell overflowed its call stack (too deep recursion); this limit is fixed by the host"
    )]
    Stack,
    #[error(
        "the spell held more than {limit} resource handles at once (timers, streams, pending calls, buckets…); \
         release what it no longer needs, or raise it with --max-handles {suggested}",
        suggested = limit.saturating_mul(4)
    )]
    Handles { limit: u32 },
    #[error(
        "the spell logged more than {} (log lines, print, console.log and stdout included) — \
         log less; raise it with --max-log {}",
        human_size(*limit),
        human_size(limit.saturating_mul(4))
    )]
    Log { limit: u64 },
}

impl LimitExceeded {
    /// The limit's short name: `fuel`, `memory`, `timeout`, `output`,
    /// `stack`, `handles`, `log`.
    pub fn name(&self) -> &'static str {
        match self {
            LimitExceeded::Fuel { .. } => "fuel",
            LimitExceeded::Memory { .. } => "memory",
            LimitExceeded::Timeout { .. } => "timeout",
            LimitExceeded::Output { .. } => "output",
            LimitExceeded::Stack => "stack",
            LimitExceeded::Handles { .. } => "handles",
            LimitExceeded::Log { .. } => "log",
        }
    }

    /// What happened, without the command-line flag that raises it (for
    /// front ends that set limits another way).
    pub fn summary(&self) -> String {
        let message = self.to_string();
        match message.split_once("; raise it with") {
            Some((what, _)) => what.to_owned(),
            None => message,
        }
    }
}

/// Formats a byte count the way `--memory` accepts it.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// An LLM cost limit in US dollars: a finite amount, 0 or more.
pub fn check_cost(usd: f64) -> Result<f64, String> {
    if usd.is_finite() && usd >= 0.0 {
        Ok(usd)
    } else {
        Err(format!(
            "`{usd}` is not an amount of US dollars (0 or more)"
        ))
    }
}

/// Parses sizes such as `256MiB`, `1G`, `512k` or `1048576` (bytes).
/// Binary units throughout: `k`/`KiB` = 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{text}` is not a size; use e.g. 256MiB, 1GiB or 65536"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown size unit `{other}`; use KiB, MiB or GiB")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("65_536"), Ok(65536));
        assert!(parse_size("lots").is_err());
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
    }

    #[test]
    fn human_size_round_trips() {
        for bytes in [1 << 20, 3 << 30, 4096, 1000] {
            assert_eq!(parse_size(&human_size(bytes)), Ok(bytes));
        }
    }

    #[test]
    fn limit_messages_name_the_flag() {
        assert!(
            LimitExceeded::Fuel { limit: 5 }
                .to_string()
                .contains("--fuel 50")
        );
        let memory = LimitExceeded::Memory {
            limit: 1 << 20,
            requested: 2 << 20,
        };
        assert!(memory.to_string().contains("--memory 4MiB"), "{memory}");
        let timeout = LimitExceeded::Timeout {
            limit: Duration::from_secs(2),
        };
        assert!(timeout.to_string().contains("--timeout 8s"), "{timeout}");
    }
}
