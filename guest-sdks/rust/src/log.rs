//! Logging to the host (shown on stderr, filtered by `--log-level`).
//!
//! ```ignore
//! spellhost_sdk::info!("summarised {} words", n);
//! ```

use crate::bindings::spellhost::spell::log::{self as raw, Level};

pub fn trace(message: impl AsRef<str>) {
    raw::log(Level::Trace, message.as_ref());
}

pub fn debug(message: impl AsRef<str>) {
    raw::log(Level::Debug, message.as_ref());
}

pub fn info(message: impl AsRef<str>) {
    raw::log(Level::Info, message.as_ref());
}

pub fn warn(message: impl AsRef<str>) {
    raw::log(Level::Warn, message.as_ref());
}

pub fn error(message: impl AsRef<str>) {
    raw::log(Level::Error, message.as_ref());
}

/// `info!("…", args)`: formats and logs at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(::std::format!($($arg)*)) };
}

/// `debug!("…", args)`: formats and logs at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(::std::format!($($arg)*)) };
}

/// `warn!("…", args)`: formats and logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(::std::format!($($arg)*)) };
}

/// `error!("…", args)`: formats and logs at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(::std::format!($($arg)*)) };
}
