#!/usr/bin/env bash
# The browser end to end in a container sandbox: `agentvm mcp --policy FILE
# --image browser` driven with raw JSON-RPC (tests/e2e/mcp/browser_sandbox.py).
# Chromium runs inside the sandbox and reaches a page on the host's loopback
# only through the agent's proxy and the egress proxy, with the MCP policy's
# rules. The browser image is built (or found in the cache) first, with the
# agent of this build.
set -uo pipefail
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
export BUILD_DIR=${BUILD_DIR:-$top/build}
agentvm=$BUILD_DIR/agentvm
[ -x "$agentvm" ] || { echo "Bail out! $agentvm is not built (make all)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP the container isolation needs root"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
if [ ! -x /usr/lib/chromium/chromium ] && ! command -v chromium >/dev/null; then
	echo "1..0 # SKIP chromium is not installed on this host (the browser image installs it from the same sources)"
	exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Long the first time (debootstrap, apt), cached afterwards.
if ! dir=$(timeout 3000 "$top/images/browser/build.sh" --agent "$BUILD_DIR/agentvm-agent" 2>"$log" | tail -n 1) ||
	[ ! -d "$dir/rootfs" ]; then
	echo "Bail out! the browser image could not be built: $(tail -n 3 "$log" | tr '\n' ' ')"
	exit 1
fi
AGENTVM_BROWSER_IMAGE_DIR=$dir exec python3 "$top/tests/e2e/mcp/browser_sandbox.py"
