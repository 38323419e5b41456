#!/usr/bin/env bash
# The guest agent end to end: settings from the kernel command line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export BUILD_DIR="${BUILD_DIR:-$(git -C "$here" rev-parse --show-toplevel)/build}"
if [[ ! -x "$BUILD_DIR/agentvm-agent" ]]; then
	echo "1..0 # SKIP $BUILD_DIR/agentvm-agent is not built"
	exit 0
fi
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$here/agent/cmdline_test.py"
