"""hello.py: asks the model one question (the input, or a default one),
counts its runs in state and announces each answer as an event.

    componentize-py -d wit -w spell componentize \\
        -p guest-sdks/python -p spells hello -o hello.wasm
    spellhost run hello.wasm --input "What is Python?"
"""

from spellhost import event, llm, log, spell, state


@spell
def run(input: str) -> str:
    question = input.strip() or "In one sentence: what is WebAssembly?"
    reply = llm.chat(
        question,
        system="You are a concise, friendly assistant.",
        max_tokens=120,
    )
    runs = state.update("runs", lambda n: n + 1, default=0)
    log.info(f"answered by {reply.model} in {reply.usage.output_tokens} tokens (run {runs})")
    event.emit("hello.answered", {"question": question, "model": reply.model, "runs": runs})
    return reply.text
