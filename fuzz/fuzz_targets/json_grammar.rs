#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spellhost::fuzzing::json_grammar(data));
