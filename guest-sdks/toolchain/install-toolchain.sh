#!/usr/bin/env bash
# Installs the wasm C toolchain the interpreter components (Lua, QuickJS)
# are built with: Debian's clang-22 / llvm-22 / lld-22 (bookworm-security)
# and wasi-libc's headers. Only needed to *rebuild* the interpreters;
# running spells uses the prebuilt components in host/prebuilt/.
set -euo pipefail

need() { ! command -v "$1" >/dev/null 2>&1; }
if ! need clang-22 && ! need llvm-ar-22 && [ -d /usr/include/wasm32-wasi ]; then
    exit 0
fi

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

# clang-22 is published in bookworm-security; add that suite if this
# machine's sources lack it — on Debian bookworm only.
if ! apt-cache policy clang-22 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    if ! grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; then
        echo "clang-22 is not available from this system's package sources." >&2
        echo "Install clang-22, llvm-22 (llvm-ar-22) and wasi-libc yourself, then rerun." >&2
        exit 1
    fi
    if ! grep -rqs 'bookworm-security' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb http://deb.debian.org/debian-security bookworm-security main" |
            $sudo tee /etc/apt/sources.list.d/spellhost-bookworm-security.list >/dev/null
    fi
    $sudo apt-get update -qq
fi
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    clang-22 llvm-22 lld-22 wasi-libc >/dev/null
clang-22 --version | head -1
