-- try: a spell that uses {{name}}, for its tests.
--
--   spellhost run try.lua --{{kind}} {{name}}.wasm --input "..."
{{try_body}}
