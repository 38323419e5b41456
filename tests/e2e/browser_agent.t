#!/usr/bin/env bash
# The guest agent's browser.* ops end to end, with a real headless Chromium:
# a small site and a forwarding proxy on 127.0.0.1 (tests/e2e/browser/).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export BUILD_DIR="${BUILD_DIR:-$(git -C "$here" rev-parse --show-toplevel)/build}"
if [[ ! -x "$BUILD_DIR/agentvm-agent" ]]; then
	echo "1..0 # SKIP $BUILD_DIR/agentvm-agent is not built"
	exit 0
fi
if [[ -z "${AGENTVM_CHROMIUM:-}" ]] && [[ ! -x /usr/lib/chromium/chromium ]] &&
	[[ ! -x /usr/bin/chromium ]]; then
	echo "1..0 # SKIP chromium is not installed (apt-get install chromium)"
	exit 0
fi
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$here/browser/browser_test.py"
