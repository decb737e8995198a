//! Granted a writable directory (input), plants symlinks in it pointing
//! at `/` and at `..` (through the preopen's `symlink-at`), then reads
//! through them.
fn main() {}
fn run(dir: String) -> spellhost_sdk::Result<String> {
    let dir = std::path::Path::new(dir.trim());
    let preopens = wasip2::filesystem::preopens::get_directories();
    let Some((granted, _)) = preopens
        .iter()
        .find(|(_, path)| dir == std::path::Path::new(path))
    else {
        return Ok(format!("no preopen for {}", dir.display()));
    };
    let mut lines = Vec::new();
    for (name, target) in [("to-root", "/"), ("to-parent", "..")] {
        let link = dir.join(name);
        let made = granted
            .symlink_at(target, name)
            .map_err(|e| format!("{e:?}"));
        let read = std::fs::read_to_string(link.join("secret.txt"))
            .or_else(|_| std::fs::read_to_string(link.join("etc/hostname")));
        lines.push(match (made, read) {
            (_, Ok(text)) => format!("{name}: READ {text}"),
            (Err(err), _) => format!("{name}: blocked: {err}"),
            (Ok(()), Err(err)) => format!("{name}: blocked: {err}"),
        });
    }
    Ok(lines.join("\n"))
}
spellhost_sdk::export_spell!(run);
