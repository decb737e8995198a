//! Exports `run` correctly but imports an interface spellhost does not provide.
wit_bindgen::generate!({
    inline: "
        package test:unknown;
        interface raw-socket { open: func(host: string) -> u32; }
        world w {
            import raw-socket;
            export run: func(input: string) -> result<string, string>;
        }
    ",
});
struct Spell;
impl Guest for Spell {
    fn run(input: String) -> Result<String, String> {
        Ok(test::unknown::raw_socket::open(&input).to_string())
    }
}
export!(Spell);
fn main() {}
