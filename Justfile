# spellhost tasks. `just --list` shows them all.
#
# Guests (example spells and the test guests) are built by these recipes,
# not by build.rs: `cargo test` never runs a nested cargo, and the guests
# share the workspace's target directory.

set shell := ["bash", "-euo", "pipefail", "-c"]

spells := "hello summarize watch counter research mapreduce router wordtool"

# Build and run the demo spell (no API key, no network needed).
default: demo

# Make sure the wasm32-wasip2 target is installed (rust-toolchain.toml lists
# it too; this covers rustup setups that do not auto-install targets).
setup:
    @rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# Build the spellhost binary: target/release/spellhost.
build:
    cargo build --release -p spellhost

# Build every example spell to target/spells/<name>.wasm.
spells: setup
    cargo build --target wasm32-wasip2 --profile spell {{ prepend("-p ", spells) }}
    mkdir -p target/spells
    for s in {{ spells }}; do cp "target/wasm32-wasip2/spell/$s.wasm" target/spells/; done

# Build the guest components the scenario and CLI tests run.
test-guests: setup
    cargo build --target wasm32-wasip2 --profile spell -p spellhost-test-guests {{ prepend("-p ", spells) }}

# The demo: pull the offline model once, ask it a question (no key, no
# network at run time), then show state and events. The example spells
# compile alongside spellhost at the lowest CPU priority, so they take only
# the cycles its build leaves idle (its last crate's front end runs on one
# core): on 2 cores that saves their whole build time.
demo: setup
    #!/usr/bin/env bash
    set -euo pipefail
    log="$(mktemp -t spellhost-spells-build.XXXXXX)"
    set -m  # the background build gets its own process group, stopped with it
    nice -n 19 "{{ just_executable() }}" spells </dev/null >"$log" 2>&1 &
    spells=$!
    set +m
    trap 'kill -- -$spells 2>/dev/null || true' EXIT
    "{{ just_executable() }}" build
    echo "waiting for the example spells to finish building"
    wait $spells || { cat "$log"; echo "building the example spells failed (above)"; exit 1; }
    trap - EXIT
    rm -f "$log"
    target/release/spellhost models pull smollm2
    target/release/spellhost run target/spells/hello.wasm --input "What is WebAssembly? Answer in two sentences." --stats
    target/release/spellhost run spells/hello.lua --input "What is Lua? Answer in one sentence."
    target/release/spellhost run target/spells/counter.wasm --input "spellhost user" --events

# Run every test: bridge unit tests, scenario tests with real guests,
# provider tests against fake servers, CLI tests. The offline model is
# pulled first (with the test build's own binary) so its test runs too.
test: test-guests services python-tools
    cargo test -p spellhost -p spellhost-tools --no-run
    target/debug/spellhost models pull smollm2
    cargo test -p spellhost -p spellhost-tools
    cargo test -p spellhost-sdk --lib
    cargo test -p spellhost-script --lib --test fuzz_corpus
    just mcp-conformance

# componentize-py, which builds Python spells (from PyPI; the authoring
# tests build one).
python-tools:
    @componentize-py --version 2>/dev/null | grep -q '0.25.1' || pip install -q componentize-py==0.25.1

# The servers the tests start for themselves on 127.0.0.1 (each test its
# own, on a free port): Debian's redis-server, postgresql and
# docker-registry (CNCF distribution), and skopeo as an independent OCI
# client; installed if missing. Nothing is left running.
services:
    #!/usr/bin/env bash
    set -euo pipefail
    need=()
    command -v redis-server >/dev/null || test -x /usr/bin/redis-server || need+=(redis-server)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
    command -v setpriv >/dev/null || need+=(util-linux)
    command -v pkill >/dev/null || need+=(procps)
    test -x /usr/bin/docker-registry || need+=(docker-registry)
    command -v skopeo >/dev/null || need+=(skopeo)
    if [ ${#need[@]} -gt 0 ]; then
        sudo=$(test "$(id -u)" = 0 || echo sudo)
        $sudo apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    fi

# The official MCP conformance suite against `spellhost mcp --transport
# http` (Node 22 and the suite from npm; expected failures, each with its
# reason, in tests/mcp-conformance/expected-failures.yaml).
mcp-conformance:
    @# The test build's binary (a plain `cargo build` would compile again with other features).
    cargo test -p spellhost -p spellhost-tools --no-run
    tests/mcp-conformance/run.sh target/debug/spellhost

# Regenerate the built-in model catalog (host/catalog/models.json) from a
# LiteLLM model list, with the code `spellhost models refresh` runs.
catalog source="../shared/specs/models/model_prices_and_context_window.json" label="LiteLLM 1.110.2 model_prices_and_context_window_backup.json (MIT)":
    cargo run -q -p spellhost -- models refresh "{{ source }}" --output host/catalog/models.json --label "{{ label }}"

# Formatting and lints (warnings are errors).
lint: setup check-interpreters
    cargo fmt --all -- --check
    cargo clippy -p spellhost -p spellhost-tools -p spellhost-fuzz --all-targets -- -D warnings
    cargo clippy --target wasm32-wasip2 -p spellhost-sdk -p spellhost-script -p spellhost-test-guests -p spellhost-http-hello {{ prepend("-p ", spells) }} -- -D warnings

# Rebuild the interpreter components spellhost ships (host/prebuilt/) from
# guest-sdks/{script-core,lua,js}. Installs the wasm C toolchain first
# (Debian's clang-22 and wasi-libc); running script spells never needs it.
interpreters: setup
    guest-sdks/toolchain/install-toolchain.sh
    guest-sdks/toolchain/build-interpreters.sh
    source guest-sdks/toolchain/env.sh && cargo clippy --target wasm32-wasip2 -p spellhost-lua -p spellhost-js -- -D warnings

# Check that the shipped interpreters match their sources (no toolchain
# needed): the stamp of every build input in host/prebuilt/SOURCES.
check-interpreters:
    guest-sdks/toolchain/build-interpreters.sh --check

# Rebuild the interpreters from source (installing the toolchain) and fail
# unless the bytes equal the shipped ones: the builds are reproducible.
verify-interpreters: setup
    guest-sdks/toolchain/install-toolchain.sh
    guest-sdks/toolchain/build-interpreters.sh --verify

# Benchmarks: whole-process `spellhost run` time (components, Lua and JS
# spells, CPU-heavy Lua next to native lua5.4), memory, per-run overheads,
# `spellhost serve` next to `wasmtime serve` (wasmtime-cli 48.0.8, installed
# here the first time: ~15 minutes on 2 cores), and state, events and the
# run queue on Redis and PostgreSQL started here on 127.0.0.1 (scale), and
# publish/pull against docker-registry next to skopeo (market).
# `just bench scripts` runs one section (whole, scripts, in-process, llm,
# agent, local, serve, scale, market, soak; `SOAK_RUNS=1000 just bench soak`
# for a shorter soak).
bench *section: build spells test-guests services native-qjs llama-anchor
    command -v lua5.4 >/dev/null || $(test "$(id -u)" = 0 || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua5.4
    wasmtime --version 2>/dev/null | grep -q '^wasmtime 48.0.8' || cargo install wasmtime-cli --version 48.0.8 --locked --quiet
    cargo build --target wasm32-wasip2 --profile spell -p spellhost-http-hello
    cargo run --release -p spellhost --example bench -- target/release/spellhost {{section}}

# A native QuickJS of the JS interpreter's exact version (quickjs-ng, the
# sources rquickjs-sys vendors), for `just bench scripts` to compare
# against: target/native/qjs, built once (~35 s).
native-qjs:
    #!/usr/bin/env bash
    set -euo pipefail
    test -x target/native/qjs && exit 0
    manifest=$(cargo metadata --format-version 1 --locked | python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "rquickjs-sys"))')
    q="$(dirname "$manifest")/quickjs"
    mkdir -p target/native
    cc -O2 -D_GNU_SOURCE -DQJS_BUILD_LIBC -I"$q" -o target/native/qjs \
        "$q"/qjs.c "$q"/quickjs.c "$q"/libregexp.c "$q"/libunicode.c "$q"/dtoa.c \
        "$q"/quickjs-libc.c "$q"/gen/repl.c "$q"/gen/standalone.c -lm -lpthread -ldl

# llama.cpp's OpenAI-compatible server (llama-cpp-python, built here from
# its sources for this CPU: several minutes once), the anchor `just bench
# local` measures the local model against, on the same GGUF file.
llama-anchor:
    python3 -c 'import llama_cpp.server' 2>/dev/null || CMAKE_ARGS="-DGGML_NATIVE=ON" python3 -m pip install --quiet 'llama-cpp-python[server]==0.3.16' || echo "could not install llama-cpp-python: the local-model bench runs without its anchor"

# Sharing spells (docs/marketplace.md): a registry started here on
# 127.0.0.1, the example spells and the wordtool plugin packaged, published
# and signed by a publisher, then searched, verified, reviewed, pulled and
# run by a user who trusts the publisher's key. Nothing is left running.
share: build spells services
    #!/usr/bin/env bash
    set -euo pipefail
    bin=$PWD/target/release/spellhost
    work=$(mktemp -d)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\nhttp:\n  addr: 127.0.0.1:%s\n' "$work" "$port" > "$work/registry.yml"
    /usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
    registry=$!
    trap 'kill $registry 2>/dev/null || true; rm -rf "$work"' EXIT
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
    reg=127.0.0.1:$port
    export COSIGN_PASSWORD=demo
    echo "== the publisher: a key pair, packages, publish, sign =="
    mkdir -p "$work/publisher" "$work/user" && cd "$work/publisher"
    "$bin" keygen acme
    "$bin" publish {{justfile_directory()}}/target/spells/hello.wasm "$reg/examples/hello:1.0" --manifest {{justfile_directory()}}/spells/hello/hello.spell.toml --sign acme.key
    "$bin" publish {{justfile_directory()}}/target/spells/counter.wasm "$reg/examples/counter:1.0" --manifest {{justfile_directory()}}/spells/counter/counter.spell.toml --sign acme.key
    "$bin" publish {{justfile_directory()}}/target/spells/wordtool.wasm "$reg/examples/wordtool:1.0" --manifest {{justfile_directory()}}/spells/wordtool/wordtool.spell.toml --sign acme.key
    "$bin" publish {{justfile_directory()}}/spells/hello.lua "$reg/examples/hello-lua:1.0" --manifest {{justfile_directory()}}/spells/hello/hello-lua.spell.toml --sign acme.key
    echo "== the user: trusts acme.pub, searches, checks, runs =="
    cp acme.pub "$work/user/" && cd "$work/user"
    printf '[trust]\nkeys = ["acme.pub"]\n' > spellhost.toml
    "$bin" search --registry "$reg"
    "$bin" info "oci://$reg/examples/hello:1.0" | head -12
    "$bin" verify "oci://$reg/examples/wordtool:1.0"
    "$bin" run "oci://$reg/examples/hello:1.0" --input "What is an OCI registry? One sentence."
    "$bin" run "oci://$reg/examples/hello-lua:1.0" --input "What is a digital signature? One sentence."
    "$bin" run "oci://$reg/examples/counter:1.0" --input "registry user"
    "$bin" pull "$reg/examples/wordtool:1.0"
    echo "== spellhost.lock pins each tag; the registry stops, the runs go on =="
    cat spellhost.lock
    kill $registry
    "$bin" run "oci://$reg/examples/counter:1.0" --input "offline user"

# Fuzzing (`fuzz/`, cargo fuzz): every parser that reads untrusted input —
# manifests, network grants, server-sent events, each provider's answers
# and streams, the script bridge's JSON, the built-in tools' arguments, the
# local model's constrained JSON (schema and text) — for SECONDS each (default 60), or only the TARGETS named. What it learns
# joins fuzz/corpus/ (shrink it with `cargo fuzz cmin TARGET`); a crash
# stops it with the input in fuzz/artifacts/, which goes to
# fuzz/regressions/TARGET/ with the fix — `just test` replays both on
# stable. Uses nightly Rust when installed, else the pinned toolchain with
# RUSTC_BOOTSTRAP=1 (no sanitizer: the code under test is safe Rust).
fuzz seconds="60" *targets:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
    toolchain=()
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then toolchain=(+nightly); else export RUSTC_BOOTSTRAP=1; fi
    cd fuzz
    targets="{{ targets }}"
    [ -n "$targets" ] || targets=$(cargo "${toolchain[@]}" fuzz list)
    for target in $targets; do
        echo "== $target: {{ seconds }} s"
        cargo "${toolchain[@]}" fuzz run -s none "$target" -- \
            -max_total_time={{ seconds }} -rss_limit_mb=2048 -timeout=30 -print_final_stats=1
    done

# Everything CI checks.
ci: lint test
