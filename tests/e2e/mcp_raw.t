#!/usr/bin/env bash
# agentvm mcp over raw JSON-RPC lines on stdio (python3): the handshake, ping,
# tools/list, JSON-RPC errors, a malformed line, the stateless form, the audit
# chain, signals, and a stdout that carries nothing but JSON-RPC.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export BUILD_DIR="${BUILD_DIR:-$(git -C "$here" rev-parse --show-toplevel)/build}"
if [[ ! -x "$BUILD_DIR/agentvm" ]]; then
	echo "Bail out! $BUILD_DIR/agentvm is not built (make all)"
	exit 1
fi
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$here/mcp/raw_test.py"
