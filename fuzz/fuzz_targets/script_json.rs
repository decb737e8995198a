#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spellhost_script::fuzzing::script_json(data));
