//! Settings passed with `spellhost run --var key=value`.

use crate::bindings::spellhost::spell::config as raw;

/// The value of `key`, if the user set it.
pub fn get(key: &str) -> Option<String> {
    raw::get(key)
}

/// Every setting, sorted by key.
pub fn all() -> Vec<(String, String)> {
    raw::get_all()
}
