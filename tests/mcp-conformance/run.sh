#!/usr/bin/env bash
# The official MCP conformance suite (npm @modelcontextprotocol/conformance,
# server mode, every scenario) against `spellhost mcp --transport http`
# serving the fixture spells in spells/. Fails on a scenario that fails and
# is not in expected-failures.yaml, and on one listed there that passes.
#
#   tests/mcp-conformance/run.sh [SPELLHOST]   (default: target/debug/spellhost)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
spellhost=$(realpath "${1:-$here/../../target/debug/spellhost}")
cd "$here"

# The suite and Node 22 (the suite needs it), pinned by package-lock.json.
npm ci --no-audit --no-fund --loglevel=error
export PATH="$here/node_modules/.bin:$PATH"

# An isolated home: no user config, data or keys.
home=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$home"
}
trap cleanup EXIT

mkfifo "$home/stderr"
env -u OPENAI_API_KEY -u SPELLHOST_MODEL \
    SPELLHOST_DATA_DIR="$home/data" SPELLHOST_CACHE_DIR="$home/cache" XDG_CONFIG_HOME="$home/config" \
    "$spellhost" mcp --transport http --listen 127.0.0.1:0 spells 2>"$home/stderr" &
server=$!
exec 3<"$home/stderr"
url=
while IFS= read -r line <&3; do
    echo "spellhost: $line" >&2
    case $line in
        *"listening on http://"*) url=$(grep -o 'http://[^ ]*/mcp' <<<"$line"); break ;;
    esac
done
if [ -z "$url" ]; then
    echo "spellhost mcp did not start (its log is above)" >&2
    exit 1
fi
# Keep reading its log so it never blocks on a full pipe.
cat <&3 >"$home/server.log" &

conformance server --url "$url" --suite all --expected-failures expected-failures.yaml
