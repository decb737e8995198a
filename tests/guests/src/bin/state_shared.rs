//! Writes `input` into the shared namespace `team` and reads it back; the
//! error text reaches the caller when the namespace is not granted.
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let team = spellhost_sdk::state::Bucket::shared("team")?;
    team.set("note", &input)?;
    let run = spellhost_sdk::state::Bucket::run()?;
    run.set("scratch", "x")?;
    Ok(format!(
        "{} / {:?}",
        team.get_string("note")?.unwrap_or_default(),
        team.keys("")?
    ))
}
spellhost_sdk::export_spell!(run);
