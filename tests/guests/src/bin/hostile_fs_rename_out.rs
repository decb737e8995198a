//! Granted a writable directory (input), moves a file out of it with `..`
//! and an absolute path, to plant it elsewhere on the host.
fn main() {}
fn run(dir: String) -> spellhost_sdk::Result<String> {
    let dir = std::path::Path::new(dir.trim());
    let source = dir.join("payload.txt");
    let mut lines = Vec::new();
    for target in [
        dir.join("../planted.txt"),
        std::path::PathBuf::from("/tmp/planted.txt"),
    ] {
        std::fs::write(&source, "payload")?;
        lines.push(match std::fs::rename(&source, &target) {
            Ok(()) => format!("{}: MOVED", target.display()),
            Err(err) => format!("{}: blocked: {err}", target.display()),
        });
    }
    Ok(lines.join("\n"))
}
spellhost_sdk::export_spell!(run);
