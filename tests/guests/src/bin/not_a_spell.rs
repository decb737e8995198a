//! A plain WASI command: the wrong world for spellhost.
fn main() {
    println!("I am a command, not a spell");
}
