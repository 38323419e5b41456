#!/usr/bin/env bash
# agentvm mcp with a real MCP client: the official TypeScript SDK
# (@modelcontextprotocol/sdk, Client + StdioClientTransport) spawns
# `agentvm mcp --isolation container`, lists the tools, runs commands, moves
# files, resets, and drives the browser when the image has one. The SDK is
# installed with npm into tests/e2e/mcp/node_modules (from package-lock.json);
# without node, npm or a reachable registry the test is skipped.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(git -C "$here" rev-parse --show-toplevel)"
export BUILD_DIR="${BUILD_DIR:-$top/build}"
export TOP="$top"
if [[ ! -x "$BUILD_DIR/agentvm" ]]; then
	echo "Bail out! $BUILD_DIR/agentvm is not built (make all)"
	exit 1
fi
for tool in node npm; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done
dir="$here/mcp"
# Install once; a lock file change installs again.
stamp="$dir/node_modules/.agentvm-lock-sha"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
	log="$(mktemp)"
	if ! (cd "$dir" && timeout 600 npm ci --no-audit --no-fund >"$log" 2>&1); then
		reason="$(grep -m1 -E 'ERR!|error' "$log" | cut -c1-160)"
		rm -f "$log"
		echo "1..0 # SKIP npm could not install @modelcontextprotocol/sdk: ${reason:-npm ci failed}"
		exit 0
	fi
	rm -f "$log"
	echo "$want" >"$stamp"
fi
cd "$dir" && exec node sdk_test.mjs
