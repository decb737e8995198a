"""{{name}}: answers the input with the model's help and counts its runs.

    spellhost build
    spellhost run {{name}}.wasm --input "What is Python?"
    spellhost test
"""

from spellhost import event, llm, spell, state


@spell
def run(input: str) -> str:
    question = input.strip() or "In one sentence: what is a spell?"

    # State is the spell's own, kept from one run to the next.
    runs = state.update("runs", lambda old: (old or 0) + 1)

    reply = llm.chat(
        question,
        system="You are a concise, friendly assistant.",
        max_tokens=200,
    )
    event.emit("{{name}}.answered", {"runs": runs, "model": reply.model})
    return reply.text
