#!/usr/bin/env bash
# Builds the interpreter components spellhost ships (host/prebuilt/*.wasm:
# Lua, JavaScript, and the jq evaluator behind `json_query`) from
# guest-sdks/, and records a stamp of their sources.
#
#   build-interpreters.sh          rebuild, copy into host/prebuilt/, restamp
#   build-interpreters.sh --check  fail unless host/prebuilt/SOURCES matches
#                                  the sources (no toolchain needed)
#   build-interpreters.sh --verify rebuild into target/ and fail unless the
#                                  bytes equal the shipped components
set -euo pipefail
cd "$(dirname "$0")/../.."

# name in host/prebuilt  cargo package
interpreters=("lua spellhost-lua" "js spellhost-js" "jq spellhost-jq")

# Everything a component is built from: our sources, the WIT, the build
# machinery, the exact dependency versions and the Rust toolchain.
stamp() {
    {
        git ls-files -z wit guest-sdks/script-core guest-sdks/lua guest-sdks/js guest-sdks/jq guest-sdks/toolchain ':!:*.md' ':!:*.d.ts' \
            | sort -z | xargs -0 sha256sum
        local pkgs=()
        for entry in "${interpreters[@]}"; do pkgs+=(-p "${entry#* }"); done
        # (without the checkout's own path, which cargo prints for local crates)
        cargo tree -q --locked --target wasm32-wasip2 -e normal,build --prefix none "${pkgs[@]}" \
            | sed -E 's# \(/[^)]*\)##' | sort -u
        grep -E '^(channel|targets)' rust-toolchain.toml
        profiles
    } | sha256sum | cut -d' ' -f1
}

# The guests' profiles: `interpreter` inherits `spell`, which inherits
# `release` with its per-package overrides.
profiles() {
    local text
    text="$(sed -n '/^\[profile\.release\]/,$p' Cargo.toml)"
    if [ -z "$text" ]; then
        echo "Cargo.toml has no [profile.release] line: the stamp would miss the guests' profiles" >&2
        exit 1
    fi
    printf '%s\n' "$text"
}

# Release's per-package overrides (build-time trims for the host) reach the
# guests through that inheritance: none of those crates may be built into
# a guest, or the interpreters would change bytes and the spells speed.
check_overrides() {
    local guests=() dir name overridden reached
    for entry in "${interpreters[@]}"; do guests+=(-p "${entry#* }"); done
    for dir in guest-sdks/rust guest-sdks/script-core spells/*/ tests/guests tests/http-hello; do
        name="$(sed -n 's/^name = "\(.*\)"$/\1/p' "$dir/Cargo.toml" | head -n1)"
        guests+=(-p "$name")
    done
    overridden="$(sed -n 's/^\[profile\.release\.package\.\([^]]*\)\]$/\1/p' Cargo.toml | sort -u)"
    reached="$(cargo tree -q --locked --target wasm32-wasip2 -e normal --prefix none "${guests[@]}" \
        | cut -d' ' -f1 | sort -u | comm -12 - <(printf '%s\n' "$overridden"))"
    if [ -n "$reached" ]; then
        echo "Cargo.toml overrides the release profile for crates a guest uses: ${reached//$'\n'/, }." >&2
        echo "The guest profiles inherit those overrides; take these crates off the list." >&2
        exit 1
    fi
}

build() {
    # The C parts are LLVM bitcode that Rust's linker optimizes: clang and
    # rustc must agree on the LLVM major version.
    local rust_llvm clang_llvm
    rust_llvm="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
    clang_llvm="$(clang-22 -dumpversion | cut -d. -f1)"
    if [ "$rust_llvm" != "$clang_llvm" ]; then
        echo "rustc uses LLVM $rust_llvm but the C compiler is clang $clang_llvm: the interpreters' link-time optimization needs both on one LLVM major version" >&2
        exit 1
    fi
    # shellcheck source=env.sh
    source guest-sdks/toolchain/env.sh
    for entry in "${interpreters[@]}"; do
        cargo build --locked --target wasm32-wasip2 --profile interpreter -p "${entry#* }"
    done
}

built() { # path of a freshly built component
    local pkg="${1#* }"
    echo "target/interpreters/wasm32-wasip2/interpreter/${pkg//-/_}.wasm"
}

case "${1:-}" in
--check)
    check_overrides
    want="$(stamp)"
    have="$(cat host/prebuilt/SOURCES 2>/dev/null || true)"
    if [ "$want" != "$have" ]; then
        echo "host/prebuilt/*.wasm are stale: their sources changed since they were built." >&2
        echo "Rebuild them with \`just interpreters\` and commit host/prebuilt/." >&2
        exit 1
    fi
    echo "prebuilt interpreters match their sources ($want)"
    ;;
--verify)
    build
    for entry in "${interpreters[@]}"; do
        name="${entry%% *}"
        if ! cmp -s "$(built "$entry")" "host/prebuilt/$name.wasm"; then
            echo "host/prebuilt/$name.wasm differs from a fresh build of its sources" >&2
            exit 1
        fi
        echo "host/prebuilt/$name.wasm: identical to a fresh build"
    done
    ;;
"")
    check_overrides
    build
    for entry in "${interpreters[@]}"; do
        name="${entry%% *}"
        cp "$(built "$entry")" "host/prebuilt/$name.wasm"
        echo "host/prebuilt/$name.wasm: $(wc -c <"host/prebuilt/$name.wasm") bytes"
    done
    stamp >host/prebuilt/SOURCES
    ;;
*)
    echo "usage: $0 [--check | --verify]" >&2
    exit 2
    ;;
esac
