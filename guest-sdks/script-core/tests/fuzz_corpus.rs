//! Replays `fuzz/corpus/script_json` and `fuzz/regressions/script_json`
//! through the fuzz entry point, natively: every input libFuzzer kept, and
//! every crash it ever found, in the ordinary test run.

use std::path::Path;

#[test]
fn script_json_corpus_replays_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("script_json")) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome =
                std::panic::catch_unwind(|| spellhost_script::fuzzing::script_json(&data));
            assert!(outcome.is_ok(), "{} fails", path.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus under {}", root.display());
}
