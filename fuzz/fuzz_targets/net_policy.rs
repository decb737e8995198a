#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spellhost::fuzzing::net_policy(data));
